use super::*;
use crate::ir::{CmpOp, DataSource, Relation, SortKey};
use crate::model::EntityKind;
use crate::source::Span;

fn source() -> DataSource {
    DataSource {
        name: "events".into(),
        uri: "sqlite://events".into(),
        table: "events".into(),
        connection: None,
        timestamp: None,
        timestamp_format: "%Y".into(),
        mapping: "ecs".into(),
    }
}

fn rel(name: &str, plan: Plan) -> Relation {
    Relation {
        name: name.into(),
        var: name.into(),
        entity: "process".into(),
        kind: EntityKind::Entity,
        plan,
        columns: None,
        identity: vec![],
        identity_alt: vec![],
        source: Some(0),
        command: "get",
        depends_on: vec![],
        span: Span::new(0, 0),
    }
}

fn program(relations: Vec<Relation>) -> Program {
    Program {
        sources: vec![source()],
        relations,
        outputs: vec![],
    }
}

/// `Project name := #process.name, pid := #process.pid, …` over the events table.
fn processes() -> Plan {
    Plan::Scan { source: 0 }.project(
        [
            ("name", "process.name"),
            ("pid", "process.pid"),
            ("uid", "process.entity_id"),
            ("cmd_line", "process.command_line"),
        ]
        .iter()
        .map(|(n, c)| (n.to_string(), Expr::col(*c)))
        .collect(),
    )
}

fn project_names(plan: &Plan) -> Vec<&str> {
    match plan {
        Plan::Project { cols, .. } => cols.iter().map(|(n, _)| n.as_str()).collect(),
        Plan::Filter { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input } => project_names(input),
        other => panic!("no projection in {other:?}"),
    }
}

fn show(cols: &[&str]) -> Plan {
    Plan::Rel(RelId(0)).project(
        cols.iter()
            .map(|c| (c.to_string(), Expr::col(*c)))
            .collect(),
    )
}

#[test]
fn a_display_keeps_only_the_columns_it_shows() {
    let p = program(vec![rel("procs", processes())]);
    let pruned = prune_columns(&p, &show(&["pid", "name"]), Need::All);
    // Original order is kept, whatever order the consumer asked in.
    assert_eq!(project_names(&pruned.relations[&RelId(0)]), ["name", "pid"]);
}

#[test]
fn filters_and_sort_keys_keep_what_they_read() {
    let filtered = processes().filter(Expr::cmp(CmpOp::Eq, Expr::col("cmd_line"), Expr::str("x")));
    let sorted = Plan::Sort {
        input: Box::new(Plan::Rel(RelId(0))),
        keys: vec![SortKey {
            expr: Expr::col("uid"),
            desc: true,
        }],
    };
    let p = program(vec![rel("procs", filtered), rel("sorted", sorted)]);
    let shown = Plan::Rel(RelId(1)).project(vec![("pid".into(), Expr::col("pid"))]);
    let pruned = prune_columns(&p, &shown, Need::All);
    // The filter sits above the projection: it reads `cmd_line` of the projection.
    assert_eq!(
        project_names(&pruned.relations[&RelId(0)]),
        ["pid", "uid", "cmd_line"]
    );
}

#[test]
fn a_relation_read_twice_keeps_the_union_of_both_needs() {
    let semi = Plan::Rel(RelId(0)).filter(Expr::InRel {
        exprs: vec![Expr::col("pid")],
        rel: RelId(0),
        cols: vec!["uid".into()],
        negated: false,
    });
    let p = program(vec![rel("procs", processes()), rel("semi", semi)]);
    let shown = Plan::Rel(RelId(1)).project(vec![("name".into(), Expr::col("name"))]);
    let pruned = prune_columns(&p, &shown, Need::All);
    assert_eq!(
        project_names(&pruned.relations[&RelId(0)]),
        ["name", "pid", "uid"]
    );
}

#[test]
fn nothing_under_a_distinct_is_pruned() {
    let distinct = Plan::Distinct {
        input: Box::new(processes()),
    };
    let limited = Plan::Limit {
        input: Box::new(distinct),
        limit: Some(3),
        offset: 0,
    };
    let p = program(vec![rel("procs", limited)]);
    let pruned = prune_columns(&p, &show(&["name"]), Need::All);
    assert_eq!(
        project_names(&pruned.relations[&RelId(0)]),
        ["name", "pid", "uid", "cmd_line"]
    );
}

#[test]
fn a_limit_without_distinct_prunes_through() {
    let limited = Plan::Limit {
        input: Box::new(processes()),
        limit: Some(3),
        offset: 1,
    };
    let p = program(vec![rel("procs", limited)]);
    let pruned = prune_columns(&p, &show(&["uid"]), Need::All);
    assert_eq!(project_names(&pruned.relations[&RelId(0)]), ["uid"]);
}

#[test]
fn union_branches_are_pruned_alike_or_not_at_all() {
    let named = Plan::Union {
        inputs: vec![processes(), processes()],
    };
    let p = program(vec![rel("both", named)]);
    let pruned = prune_columns(&p, &show(&["pid"]), Need::All);
    let Plan::Union { inputs } = &pruned.relations[&RelId(0)] else {
        panic!("not a union")
    };
    for branch in inputs {
        assert_eq!(project_names(branch), ["pid"]);
    }

    // A branch without a projection contributes every column by position.
    let mixed = Plan::Union {
        inputs: vec![processes(), Plan::Rel(RelId(0))],
    };
    let p = program(vec![rel("procs", processes()), rel("both", mixed)]);
    let shown = Plan::Rel(RelId(1)).project(vec![("pid".into(), Expr::col("pid"))]);
    let pruned = prune_columns(&p, &shown, Need::All);
    let Plan::Union { inputs } = &pruned.relations[&RelId(1)] else {
        panic!("not a union")
    };
    assert_eq!(project_names(&inputs[0]).len(), 4);
    assert_eq!(project_names(&pruned.relations[&RelId(0)]).len(), 4);
}

#[test]
fn a_projection_keeps_one_column_when_none_is_needed() {
    let p = program(vec![rel("procs", processes())]);
    let pruned = prune_columns(&p, &Plan::Rel(RelId(0)), Need::Cols(vec![]));
    assert_eq!(project_names(&pruned.relations[&RelId(0)]), ["name"]);
}

#[test]
fn aggregates_read_their_keys_and_arguments() {
    let grouped = Plan::Aggregate {
        input: Box::new(Plan::Rel(RelId(0))),
        keys: vec![("name".into(), Expr::col("name"))],
        aggs: vec![(
            "n".into(),
            crate::ir::AggFunc::CountDistinct,
            Expr::col("pid"),
        )],
    };
    let p = program(vec![rel("procs", processes()), rel("g", grouped)]);
    let pruned = prune_columns(&p, &Plan::Rel(RelId(1)), Need::All);
    assert_eq!(project_names(&pruned.relations[&RelId(0)]), ["name", "pid"]);
}
