//! Counting a variable on the way: the summary's counts of a variable that one statement
//! reads, taken by that statement instead of by a query of their own.
//!
//! A variable that one statement reads and the summary counts is two reads: keeping it
//! costs a table written and read twice; not keeping it costs its chain computed twice
//! (once more for the count). Where the connection has a tally function
//! ([`Backend::tally_function`](crate::backend::Backend)) and the statement reads the
//! variable's rows whole and once, the variable is neither kept nor computed again: the
//! statement gets one more column (or grouping key), `kestrel_tally(slot, n, identity…,
//! own id…)`, evaluated once per row of the variable, and the counts are read from the
//! connection after it.
//!
//! ```text
//! w = GET process FROM lake WHERE …         SELECT DISTINCT name, pid, kestrel_tally(…)
//! DISP w ATTR name, pid                 ──▶   FROM w            (the last column dropped)
//! (summary: w's records and entities)
//! ```
//!
//! Where SQLite evaluates it exactly once per row is the point: a result column of the
//! SELECT that reads the variable, or a GROUP BY key of it (not a WHERE term: SQLite tests
//! the terms an index covers first). So only these statements count on the way: a DISP
//! of the variable's attributes without SORT BY or LIMIT, and a GROUP of it, in the
//! statement that keeps the GROUP or in such a DISP of the GROUP.

use crate::ir::{Expr, Func, Literal, Plan, RelId, Relation};

/// The extra column's name (no attribute has a control character).
pub(super) const TALLY_COL: &str = "\u{1}tally";

/// The slot a variable's tally counts in on its connection: its relation's number,
/// unique in the session.
pub(super) fn slot(v: RelId) -> i64 {
    v.0 as i64
}

/// The variable an output reads whole and once: DISP's projections and DISTINCT over it,
/// nothing that stops early (LIMIT) or groups (SORT BY is a GROUP BY with a sort key).
pub(super) fn output_reads_whole(plan: &Plan) -> Option<RelId> {
    match plan {
        Plan::Project { input, .. } | Plan::Distinct { input } => match &**input {
            Plan::Rel(id) => Some(*id),
            inner => output_reads_whole(inner),
        },
        _ => None,
    }
}

/// The variable a GROUP reads: `Aggregate` straight over it.
pub(super) fn aggregate_reads(plan: &Plan) -> Option<RelId> {
    match plan {
        Plan::Aggregate { input, .. } => match &**input {
            Plan::Rel(id) => Some(*id),
            _ => None,
        },
        _ => None,
    }
}

/// `kestrel_tally(slot, n, identity…, own id…)` over `r`'s columns: the entities the
/// summary's count query would count (distinct whole identities, then the own ids of the
/// records whose identity is not whole; distinct rows for a type without identity).
pub(super) fn tally_expr(r: &Relation, slot: i64) -> Option<Expr> {
    let mut args = vec![
        Expr::Lit(Literal::Int(slot)),
        Expr::Lit(Literal::Int(r.identity.len() as i64)),
    ];
    if r.identity.is_empty() {
        let cols = r.columns.as_ref().filter(|c| !c.is_empty())?;
        args.extend(cols.iter().map(Expr::col));
    } else {
        args.extend(r.identity.iter().chain(&r.identity_alt).map(Expr::col));
    }
    Some(Expr::Func {
        func: Func::Tally,
        args,
    })
}

/// `plan` (see [`output_reads_whole`]) with the tally as its last column: computed in the
/// projection over the variable (one is added where DISTINCT reads it directly) and
/// carried through the projections above.
pub(super) fn with_tally_column(plan: &Plan, r: &Relation, tally: Expr) -> Option<Plan> {
    match plan {
        Plan::Project { input, cols } => {
            let mut cols = cols.clone();
            let input = match &**input {
                Plan::Rel(_) => {
                    cols.push((TALLY_COL.to_string(), tally));
                    (**input).clone()
                }
                inner => {
                    cols.push((TALLY_COL.to_string(), Expr::col(TALLY_COL)));
                    with_tally_column(inner, r, tally)?
                }
            };
            Some(input.project(cols))
        }
        Plan::Distinct { input } => {
            let input = match &**input {
                Plan::Rel(_) => {
                    let mut cols: Vec<(String, Expr)> = r
                        .columns
                        .as_ref()?
                        .iter()
                        .map(|c| (c.clone(), Expr::col(c)))
                        .collect();
                    cols.push((TALLY_COL.to_string(), tally));
                    (**input).clone().project(cols)
                }
                inner => with_tally_column(inner, r, tally)?,
            };
            Some(Plan::Distinct {
                input: Box::new(input),
            })
        }
        _ => None,
    }
}

/// A GROUP's plan (see [`aggregate_reads`]) grouping by the tally too: one more key, 1 on
/// every row, so the groups stay the same.
pub(super) fn with_tally_key(plan: &Plan, tally: Expr) -> Option<Plan> {
    match plan {
        Plan::Aggregate { input, keys, aggs } => {
            let mut keys = keys.clone();
            keys.push((TALLY_COL.to_string(), tally));
            Some(Plan::Aggregate {
                input: input.clone(),
                keys,
                aggs: aggs.clone(),
            })
        }
        _ => None,
    }
}
