//! Projection pruning.
//!
//! Walks from what a statement shows down to the scans: each operator asks its input for
//! the columns it and its consumers use, and each `Project` keeps only those. A relation
//! read by several consumers keeps the union of what they need. Row counts never change:
//! under a `Distinct` every column is kept, since dropping one could merge rows.

use crate::fxhash::FxHashMap;

use crate::ir::{Expr, Plan, Program, Recursion, RelId};

/// The columns a consumer reads from a plan's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    All,
    Cols(Vec<String>),
}

impl Need {
    pub fn cols<I: IntoIterator<Item = String>>(cols: I) -> Need {
        let mut v = Vec::new();
        for c in cols {
            if !v.contains(&c) {
                v.push(c);
            }
        }
        Need::Cols(v)
    }

    fn wants(&self, col: &str) -> bool {
        match self {
            Need::All => true,
            Need::Cols(v) => v.iter().any(|c| c == col),
        }
    }

    pub fn add(&mut self, other: &Need) {
        match (&mut *self, other) {
            (Need::All, _) => {}
            (_, Need::All) => *self = Need::All,
            (Need::Cols(v), Need::Cols(w)) => {
                for c in w {
                    if !v.contains(c) {
                        v.push(c.clone());
                    }
                }
            }
        }
    }

    /// Adds the columns `e` reads.
    fn read(&mut self, e: &Expr) {
        if let Need::Cols(v) = self {
            e.columns(v);
        }
    }
}

/// The plans of one statement after pruning: the statement's own plan, and a pruned plan
/// for every relation it reads (directly or through other relations).
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub plan: Option<Plan>,
    pub relations: FxHashMap<RelId, Plan>,
}

/// Prunes `plan` (needing `need` of its output) and every relation it depends on.
pub fn prune_columns(program: &Program, plan: &Plan, need: Need) -> Pruned {
    let mut needs: FxHashMap<RelId, Need> = FxHashMap::default();
    let top = prune(plan, &need, &mut needs);
    let mut roots = Vec::new();
    plan.rel_refs(&mut roots);
    let mut relations = FxHashMap::default();
    // Consumers before producers: a relation's need is complete when it is reached.
    for id in program.dependency_order(&roots).into_iter().rev() {
        let need = needs.remove(&id).unwrap_or(Need::All);
        // Inline rows prune to themselves, and may be a million of them: no copy (the
        // emitter reads a relation missing here from the program).
        if matches!(program.rel(id).plan, Plan::Values { .. }) {
            continue;
        }
        let pruned = prune(&program.rel(id).plan, &need, &mut needs);
        relations.insert(id, pruned);
    }
    Pruned {
        plan: Some(top),
        relations,
    }
}

/// What a statement showing `plan` (needing `need` of it) reads of each relation it
/// depends on, directly or through others.
pub fn relation_needs(program: &Program, plan: &Plan, need: Need) -> FxHashMap<RelId, Need> {
    let mut needs: FxHashMap<RelId, Need> = FxHashMap::default();
    prune(plan, &need, &mut needs);
    let mut roots = Vec::new();
    plan.rel_refs(&mut roots);
    let mut out = FxHashMap::default();
    for id in program.dependency_order(&roots).into_iter().rev() {
        let need = needs.remove(&id).unwrap_or(Need::All);
        prune(&program.rel(id).plan, &need, &mut needs);
        out.insert(id, need);
    }
    out
}

fn note(needs: &mut FxHashMap<RelId, Need>, id: RelId, need: &Need) {
    match needs.get_mut(&id) {
        Some(n) => n.add(need),
        None => {
            needs.insert(id, need.clone());
        }
    }
}

/// Records the columns semi-joins in `e` read from other relations.
fn note_subqueries(e: &Expr, needs: &mut FxHashMap<RelId, Need>) {
    e.walk(&mut |x| {
        if let Expr::InRel { rel, cols, .. } = x {
            note(needs, *rel, &Need::cols(cols.iter().cloned()));
        }
    });
}

fn prune(plan: &Plan, need: &Need, needs: &mut FxHashMap<RelId, Need>) -> Plan {
    let mut child = match plan {
        Plan::Scan { .. } | Plan::Values { .. } => return plan.clone(),
        Plan::Rel(id) => {
            note(needs, *id, need);
            return plan.clone();
        }
        Plan::Project { input, cols } => {
            let mut kept: Vec<(String, Expr)> = cols
                .iter()
                .filter(|(name, _)| need.wants(name))
                .cloned()
                .collect();
            if kept.is_empty() {
                // A SELECT needs at least one column; keep the cheapest to compute.
                if let Some(first) = cols.first() {
                    kept.push(first.clone());
                }
            }
            let mut child = Need::Cols(Vec::new());
            for (_, e) in &kept {
                note_subqueries(e, needs);
                child.read(e);
            }
            return Plan::Project {
                input: Box::new(prune(input, &child, needs)),
                cols: kept,
            };
        }
        // Every column decides which rows are distinct.
        Plan::Distinct { .. } => Need::All,
        // Columns line up by position: prune only when every branch names its columns.
        Plan::Union { inputs } if !inputs.iter().all(|p| matches!(p, Plan::Project { .. })) => {
            Need::All
        }
        // Which side supplies a column is decided when the join is emitted: keep both whole.
        Plan::Join { .. } => Need::All,
        // Groups read only their keys and the aggregates' arguments.
        Plan::Aggregate { .. } => Need::Cols(Vec::new()),
        Plan::Filter { .. } | Plan::Sort { .. } | Plan::Limit { .. } | Plan::Union { .. } => {
            need.clone()
        }
    };
    // The operator's own expressions: what they read of the input, and of other relations.
    plan.apply_expressions(|e| {
        note_subqueries(e, needs);
        child.read(e);
        Recursion::Continue
    });
    plan.map_children(|input| Ok::<_, std::convert::Infallible>(prune(input, &child, needs)))
        .unwrap_or_else(|never| match never {})
}

#[cfg(test)]
mod tests;
