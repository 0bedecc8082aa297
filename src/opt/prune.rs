//! Projection pruning.
//!
//! Walks from what a statement shows down to the scans: each operator asks its input for
//! the columns it and its consumers use, and each `Project` keeps only those. A relation
//! read by several consumers keeps the union of what they need. Row counts never change:
//! under a `Distinct` every column is kept, since dropping one could merge rows.

use crate::fxhash::FxHashMap;

use crate::ir::{Expr, Plan, Program, RelId};

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

    /// This need plus the columns `e` reads.
    fn with_expr(&self, e: &Expr) -> Need {
        let mut out = self.clone();
        out.read(e);
        out
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
    match plan {
        Plan::Scan { .. } | Plan::Values { .. } => plan.clone(),
        Plan::Rel(id) => {
            note(needs, *id, need);
            plan.clone()
        }
        Plan::Filter { input, pred } => {
            note_subqueries(pred, needs);
            Plan::Filter {
                input: Box::new(prune(input, &need.with_expr(pred), needs)),
                pred: pred.clone(),
            }
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
            Plan::Project {
                input: Box::new(prune(input, &child, needs)),
                cols: kept,
            }
        }
        // Every column decides which rows are distinct.
        Plan::Distinct { input } => Plan::Distinct {
            input: Box::new(prune(input, &Need::All, needs)),
        },
        Plan::Sort { input, keys } => {
            let mut child = need.clone();
            for k in keys {
                note_subqueries(&k.expr, needs);
                child.read(&k.expr);
            }
            Plan::Sort {
                input: Box::new(prune(input, &child, needs)),
                keys: keys.clone(),
            }
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => Plan::Limit {
            input: Box::new(prune(input, need, needs)),
            limit: *limit,
            offset: *offset,
        },
        Plan::Union { inputs } => {
            // Columns line up by position: prune only when every branch names its columns.
            let by_name = inputs.iter().all(|p| matches!(p, Plan::Project { .. }));
            let branch_need = if by_name { need.clone() } else { Need::All };
            Plan::Union {
                inputs: inputs
                    .iter()
                    .map(|p| prune(p, &branch_need, needs))
                    .collect(),
            }
        }
        // Which side supplies a column is decided when the join is emitted: keep both whole.
        Plan::Join { left, right, on } => Plan::Join {
            left: Box::new(prune(left, &Need::All, needs)),
            right: Box::new(prune(right, &Need::All, needs)),
            on: on.clone(),
        },
        Plan::Aggregate { input, keys, aggs } => {
            let mut child = Need::Cols(Vec::new());
            for (_, e) in keys {
                note_subqueries(e, needs);
                child.read(e);
            }
            for (_, _, e) in aggs {
                note_subqueries(e, needs);
                child.read(e);
            }
            Plan::Aggregate {
                input: Box::new(prune(input, &child, needs)),
                keys: keys.clone(),
                aggs: aggs.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
