//! Dialect-specific shapes no hunt in `tests/hunts` reaches without a database
//! catalog (timestamps) or that are worth pinning one by one.

use super::*;
use crate::diag::Code;
use crate::ir::{CmpOp, DataSource, Expr, Plan, Program, RelId, SortKey};
use crate::sql::Dialect;

fn program() -> Program {
    Program {
        sources: vec![DataSource {
            name: "events".into(),
            uri: "x://events".into(),
            table: "events".into(),
            connection: None,
            timestamp: Some("ts".into()),
            timestamp_format: "%Y".into(),
            mapping: "ecs".into(),
        }],
        relations: vec![],
        outputs: vec![],
    }
}

fn scan() -> Plan {
    Plan::Scan { source: 0 }
}

fn sql(dialect: &str, plan: &Plan) -> String {
    let d = Dialect::builtin(dialect).expect("dialect");
    let st = emit_plan(&program(), plan, &d, LiteralMode::Inline).expect("emits");
    let parser: Box<dyn sqlparser::dialect::Dialect> = match dialect {
        "postgres" => Box::new(sqlparser::dialect::PostgreSqlDialect {}),
        "mysql" => Box::new(sqlparser::dialect::MySqlDialect {}),
        "mssql" => Box::new(sqlparser::dialect::MsSqlDialect {}),
        "datafusion" => Box::new(sqlparser::dialect::GenericDialect {}),
        _ => Box::new(sqlparser::dialect::SQLiteDialect {}),
    };
    sqlparser::parser::Parser::parse_sql(parser.as_ref(), &st.sql)
        .unwrap_or_else(|e| panic!("{dialect}: {e}\n{}", st.sql));
    st.sql
}

#[test]
fn timestamps_are_typed_literals_per_dialect() {
    let t = crate::time::parse_iso("2021-05-06T07:08:09.5Z").unwrap();
    let plan = scan().filter(Expr::cmp(
        CmpOp::Ge,
        Expr::col("ts"),
        Expr::Lit(Literal::Timestamp(t)),
    ));
    assert!(sql("sqlite", &plan).contains(r#""ts" >= '2021-05-06 07:08:09.500000'"#));
    assert!(sql("postgres", &plan).contains(r#""ts" >= TIMESTAMP '2021-05-06 07:08:09.500000'"#));
    assert!(sql("mysql", &plan).contains("`ts` >= TIMESTAMP '2021-05-06 07:08:09.500000'"));
    assert!(sql("mssql", &plan).contains("[ts] >= CAST('2021-05-06 07:08:09.500000' AS DATETIME2)"));
}

#[test]
fn mssql_limits_are_top_or_offset_fetch() {
    let top = Plan::Limit {
        input: Box::new(scan()),
        limit: Some(5),
        offset: 0,
    };
    assert!(sql("mssql", &top).contains("SELECT TOP 5"));
    let page = Plan::Limit {
        input: Box::new(Plan::Sort {
            input: Box::new(scan()),
            keys: vec![SortKey {
                expr: Expr::col("pid"),
                desc: false,
            }],
        }),
        limit: None,
        offset: 7,
    };
    let s = sql("mssql", &page);
    assert!(s.contains("ORDER BY [pid] ASC OFFSET 7 ROWS"), "{s}");
    assert!(!s.contains("FETCH"), "{s}");
    assert!(sql("postgres", &page).ends_with("OFFSET 7"));
    assert!(sql("mysql", &page).contains("LIMIT 18446744073709551615 OFFSET 7"));
    assert!(sql("sqlite", &page).contains("LIMIT -1 OFFSET 7"));
}

#[test]
fn like_patterns_are_escaped_for_each_engine() {
    let plan = scan().filter(Expr::Like {
        expr: Box::new(Expr::col("p")),
        pattern: r"%\a![b]_%".into(),
        negated: false,
        escape: None,
    });
    assert!(sql("sqlite", &plan).contains(r#""p" LIKE '%\a![b]_%'"#));
    // ucs_basic: only ASCII letters have case (the database's collation folds é too).
    assert!(sql("postgres", &plan)
        .contains(r#"CAST("p" AS TEXT) ILIKE '%\a![b]_%' COLLATE ucs_basic ESCAPE ''"#));
    // MySQL string literals escape backslash: the server reads one. The general_ci
    // LIKE narrows, the regex (ASCII letters either case, nothing else folded) decides.
    assert!(sql("mysql", &plan).contains(
        r"(`p` LIKE '%\\a!![b]_%' COLLATE utf8mb4_general_ci ESCAPE '!' AND `p` REGEXP '(?-i)(?s)\\A.*\\\\[aA]!\\[[bB]\\]..*\\z')"
    ));
    assert!(sql("mssql", &plan)
        .contains(r"[p] LIKE '%\a!!![b]_%' COLLATE Latin1_General_100_CI_AS ESCAPE '!'"));
}

#[test]
fn mysql_compares_strings_and_reference_values_as_bytes() {
    let eq = scan().filter(Expr::cmp(
        CmpOp::Eq,
        Expr::col("n"),
        Expr::Lit(Literal::Str("a ".into())),
    ));
    // utf8mb4_bin would pad: 'a' = 'a ' there.
    assert!(sql("mysql", &eq).contains("`n` = CAST('a ' AS BINARY)"));
    assert!(sql("mssql", &eq).contains("[n] = 'a ' COLLATE Latin1_General_100_BIN2"));
    assert!(sql("postgres", &eq).contains(r#""n" = 'a '"#));
    // A reference: the values it compares with are cast (the column may not be text,
    // so no collation), the outer column stays bare for its index.
    let mut p = program();
    p.relations.push(crate::ir::Relation {
        name: "r".into(),
        var: "r".into(),
        entity: "process".into(),
        kind: crate::model::EntityKind::Entity,
        plan: scan(),
        columns: None,
        identity: vec![],
        identity_alt: vec![],
        source: Some(0),
        command: "get",
        depends_on: vec![],
        span: crate::source::Span { start: 0, end: 0 },
    });
    let refd = scan().filter(Expr::InRel {
        exprs: vec![Expr::col("n")],
        rel: RelId(0),
        cols: vec!["m".into()],
        negated: false,
    });
    let emit = |name: &str| {
        let d = Dialect::builtin(name).unwrap();
        emit_plan(&p, &refd, &d, LiteralMode::Inline).unwrap().sql
    };
    assert!(
        emit("mysql").contains("`n` IN (SELECT CAST(`m` AS BINARY) FROM `r`)"),
        "{}",
        emit("mysql")
    );
    assert!(emit("postgres").contains(r#""n" IN (SELECT "m" FROM "r")"#));
}

#[test]
fn matches_is_case_sensitive_unless_i_and_refused_on_mssql() {
    let re = |p: &str| {
        scan().filter(Expr::Regex {
            expr: Box::new(Expr::col("n")),
            pattern: p.into(),
            negated: true,
        })
    };
    assert!(sql("postgres", &re("^a")).contains(r#"CAST("n" AS TEXT) !~ '^a'"#));
    assert!(sql("mysql", &re("^a")).contains("`n` NOT REGEXP '(?-i)^a'"));
    assert!(sql("mysql", &re("(?i)^a")).contains("`n` NOT REGEXP '(?i)^a'"));
    let d = Dialect::builtin("mssql").unwrap();
    let err = emit_plan(&program(), &re("^a"), &d, LiteralMode::Inline).unwrap_err();
    assert_eq!(err.code, Code::Unsupported);
}

#[test]
fn mssql_drops_order_by_only_where_no_row_limit_needs_it() {
    let sorted = Plan::Sort {
        input: Box::new(scan()),
        keys: vec![SortKey {
            expr: Expr::col("pid"),
            desc: true,
        }],
    };
    // The statement's own ORDER BY stays.
    assert!(sql("mssql", &sorted).contains("ORDER BY [pid] DESC"));
    // In a CTE, T-SQL allows it only with TOP/OFFSET: dropped there, kept elsewhere.
    let mut p = program();
    p.relations.push(crate::ir::Relation {
        name: "s".into(),
        var: "s".into(),
        entity: "process".into(),
        kind: crate::model::EntityKind::Entity,
        plan: sorted,
        columns: None,
        identity: vec![],
        identity_alt: vec![],
        source: Some(0),
        command: "sort",
        depends_on: vec![],
        span: crate::source::Span { start: 0, end: 0 },
    });
    let out = Plan::Rel(RelId(0));
    let emit = |p: &Program, name: &str| {
        let d = Dialect::builtin(name).unwrap();
        emit_plan(p, &out, &d, LiteralMode::Inline).unwrap().sql
    };
    assert!(
        !emit(&p, "mssql").contains("ORDER BY"),
        "{}",
        emit(&p, "mssql")
    );
    assert!(emit(&p, "postgres").contains("ORDER BY"));
    let sorted = p.relations[0].plan.clone();
    p.relations[0].plan = Plan::Limit {
        input: Box::new(sorted),
        limit: Some(2),
        offset: 0,
    };
    let s = emit(&p, "mssql");
    assert!(
        s.contains("SELECT TOP 2") && s.contains("ORDER BY [pid] DESC"),
        "{s}"
    );
}

/// A grouping key that is a grouping set of its own (`Func::GroupingSet`, added by a
/// session counting on the way): its flag is selected, its expressions grouped in a set
/// beside the other keys'; a dialect without grouping sets never gets one.
#[test]
fn grouping_set_keys_are_sets_of_their_own() {
    let whole = Expr::IsNull {
        expr: Box::new(Expr::col("uid")),
        negated: true,
    };
    let plan = Plan::Aggregate {
        input: Box::new(scan()),
        keys: vec![
            ("name".into(), Expr::col("name")),
            (
                "e".into(),
                Expr::Func {
                    func: crate::ir::Func::GroupingSet,
                    args: vec![whole.clone(), Expr::col("uid")],
                },
            ),
        ],
        aggs: vec![("n".into(), crate::ir::AggFunc::Count, whole)],
    };
    let pg = sql("postgres", &plan);
    assert!(
        pg.contains(r#""uid" IS NOT NULL AS "e""#)
            && pg.contains(r#"COUNT("uid" IS NOT NULL) AS "n""#)
            && pg.contains(r#"GROUPING SETS (("name"), ("uid" IS NOT NULL, "uid"))"#),
        "{pg}"
    );
    let d = Dialect::builtin("sqlite").expect("dialect");
    let refused = emit_plan(&program(), &plan, &d, LiteralMode::Inline).unwrap_err();
    assert_eq!(refused.code, Code::Internal, "{}", refused.message);
}
