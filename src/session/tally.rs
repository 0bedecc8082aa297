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

use std::sync::Arc;

use crate::ir::{AggFunc, Expr, Func, Literal, Plan, Program, RelId, Relation};
use crate::value::Value;

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

/// Hidden columns of a DISP counting with grouping sets (see [`sets_shape`]): the flag of
/// the set of whole identities, of the set of own ids, and each group's rows.
const ENTITY_SET_COL: &str = "\u{1}entities";
const OWN_SET_COL: &str = "\u{1}own ids";
const ROWS_COL: &str = "\u{1}rows";

/// The most rows (as the database's planner expects them) of a variable counted with
/// grouping sets. PostgreSQL groups by grouping sets in one process, sorting the rows
/// where they outgrow `work_mem`, without the parallel workers that scan the lake:
/// measured at 1,000,000 events, the GROUP hunt's variable (1,000,000 rows, 401,176
/// entities) took 2.5–2.8 s counted so, against 1.4 s for a query counting it again.
pub(super) const SETS_AT_MOST: usize = 250_000;

/// A DISP that a connection without a tally function can count on the way, where its
/// dialect has grouping sets: its DISTINCT becomes a GROUP BY with the entities of the
/// variable in grouping sets of their own, whose rows kestrel counts as they arrive
/// instead of showing them.
///
/// ```text
/// DISP w ATTR name, pid       SELECT name, pid, (u IS NOT NULL) AS e, COUNT(u IS NOT NULL) AS n
/// (w counted)           ──▶     FROM w GROUP BY GROUPING SETS ((name, pid), (u IS NOT NULL, u))
/// ```
///
/// A row whose `e` is NULL is shown; any other stands for the records `n` of one identity
/// (an entity when `e` is TRUE, none when the identity is not whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetsShape {
    /// DISTINCT over a variable's rows, projected or whole.
    Direct(RelId),
    /// DISTINCT over a GROUP `g` that shows all of its keys: its rows are `g`'s rows (the
    /// DISTINCT drops out), so they count `g`; the variable it groups, `v` (when it has an
    /// identity), is counted in `g`'s own grouping.
    Group { g: RelId, v: Option<RelId> },
}

/// How the DISP `plan` could count on the way with grouping sets, if it can.
pub(super) fn sets_shape(program: &Program, plan: &Plan) -> Option<SetsShape> {
    let (over, cols) = distinct_over(plan)?;
    let r = program.rel(over);
    let shown = |c: &str| match cols {
        Some(cols) => cols
            .iter()
            .any(|(_, e)| matches!(e, Expr::Col(k) if k == c)),
        None => r.columns.iter().flatten().any(|k| k == c),
    };
    let countable = |id: RelId| !program.rel(id).identity.is_empty();
    if let Plan::Aggregate { input, keys, .. } = &r.plan {
        if let Plan::Rel(v) = &**input {
            if keys.iter().all(|(k, _)| shown(k))
                && r.identity_alt.is_empty()
                && r.identity.iter().all(|c| shown(c))
            {
                return Some(SetsShape::Group {
                    g: over,
                    v: Some(*v).filter(|v| countable(*v)),
                });
            }
        }
    }
    countable(over).then_some(SetsShape::Direct(over))
}

/// The columns a DISP shows of a relation (None: all of them).
type Shown<'p> = Option<&'p [(String, Expr)]>;

/// The relation a DISP's DISTINCT reads, and the columns it shows of it.
fn distinct_over(plan: &Plan) -> Option<(RelId, Shown<'_>)> {
    let Plan::Distinct { input } = plan else {
        return None;
    };
    match &**input {
        Plan::Rel(v) => Some((*v, None)),
        Plan::Project { input, cols } => match &**input {
            Plan::Rel(v) => Some((*v, Some(cols))),
            _ => None,
        },
        _ => None,
    }
}

/// The grouping keys that put `r`'s entities in sets of their own: its whole identities
/// (the flag: the identity is whole), and, for a record without a whole identity, its own
/// id (the flag: the identity is not whole; a whole one is grouped as NULLs). With the
/// first set's flag, which is never NULL on a row.
fn entity_sets(r: &Relation) -> Option<(Vec<(String, Expr)>, Expr)> {
    if r.identity.is_empty() {
        return None;
    }
    let is_null = |c: &String, negated: bool| Expr::IsNull {
        expr: Box::new(Expr::col(c)),
        negated,
    };
    let whole = Expr::And(r.identity.iter().map(|c| is_null(c, true)).collect());
    let mut set = vec![whole.clone()];
    set.extend(r.identity.iter().map(Expr::col));
    let mut keys = vec![(
        ENTITY_SET_COL.to_string(),
        Expr::Func {
            func: Func::GroupingSet,
            args: set,
        },
    )];
    if !r.identity_alt.is_empty() {
        let not_whole = Expr::Or(r.identity.iter().map(|c| is_null(c, false)).collect());
        let mut set = vec![not_whole.clone()];
        set.extend(r.identity_alt.iter().map(|c| Expr::Case {
            whens: vec![(not_whole.clone(), Expr::col(c))].into(),
            otherwise: Arc::new(Expr::Lit(Literal::Null)),
        }));
        keys.push((
            OWN_SET_COL.to_string(),
            Expr::Func {
                func: Func::GroupingSet,
                args: set,
            },
        ));
    }
    Some((keys, whole))
}

/// `keys`, plus `r`'s entity sets, grouping `input` with `aggs` plus each group's rows.
fn grouped_with_sets(
    input: &Plan,
    mut keys: Vec<(String, Expr)>,
    mut aggs: Vec<(String, AggFunc, Expr)>,
    r: &Relation,
) -> Option<Plan> {
    let (sets, flag) = entity_sets(r)?;
    // The flag is never NULL: COUNT of it counts a group's rows.
    aggs.push((ROWS_COL.to_string(), AggFunc::Count, flag));
    keys.extend(sets);
    Some(Plan::Aggregate {
        input: Box::new(input.clone()),
        keys,
        aggs,
    })
}

/// A DISP counting with grouping sets (see [`with_sets`]).
pub(super) struct SetsPlan {
    /// The DISP's plan.
    pub plan: Plan,
    /// A GROUP's plan for this statement, when the DISP counts the variable it groups.
    pub group: Option<(RelId, Plan)>,
    /// What counts its rows.
    pub counts: SetCounts,
}

/// A DISP's plan counting with grouping sets, and `g`'s plan for that statement in the
/// [`SetsShape::Group`] shape when it counts `v` too; with what counts its rows.
pub(super) fn with_sets(program: &Program, plan: &Plan, shape: SetsShape) -> Option<SetsPlan> {
    let (over, cols) = distinct_over(plan)?;
    let r = program.rel(over);
    let mut cols: Vec<(String, Expr)> = match cols {
        Some(cols) => cols.to_vec(),
        None => r
            .columns
            .as_ref()?
            .iter()
            .map(|c| (c.clone(), Expr::col(c)))
            .collect(),
    };
    let shown = cols.len();
    match shape {
        SetsShape::Direct(_) => {
            let plan = grouped_with_sets(&Plan::Rel(over), cols, Vec::new(), r)?;
            Some(SetsPlan {
                plan,
                group: None,
                counts: SetCounts::new(shown, Some(r), None),
            })
        }
        SetsShape::Group { g, v } => {
            // g's identity, where the rows show it.
            let identity: Vec<usize> = r
                .identity
                .iter()
                .map(|c| {
                    cols.iter()
                        .position(|(_, e)| matches!(e, Expr::Col(k) if k == c))
                })
                .collect::<Option<_>>()?;
            let group = Some((g, identity));
            let Some(v) = v else {
                // The rows are g's: no DISTINCT.
                let plan = Plan::Rel(over).project(cols);
                return Some(SetsPlan {
                    plan,
                    group: None,
                    counts: SetCounts::new(shown, None, group),
                });
            };
            let Plan::Aggregate {
                input: grouped,
                keys,
                aggs,
            } = &r.plan
            else {
                return None;
            };
            let vr = program.rel(v);
            let g_plan = grouped_with_sets(grouped, keys.clone(), aggs.clone(), vr)?;
            let Plan::Aggregate { keys, aggs, .. } = &g_plan else {
                return None;
            };
            // The hidden columns carried through the projection.
            cols.extend(
                keys.iter()
                    .map(|(n, _)| n)
                    .chain(aggs.iter().map(|(n, _, _)| n))
                    .filter(|n| n.starts_with('\u{1}'))
                    .map(|n| (n.clone(), Expr::col(n))),
            );
            let plan = Plan::Rel(over).project(cols);
            Some(SetsPlan {
                plan,
                group: Some((g, g_plan)),
                counts: SetCounts::new(shown, Some(vr), group),
            })
        }
    }
}

/// What a DISP counting with grouping sets counts of its rows (see [`with_sets`]).
#[derive(Debug)]
pub(super) struct SetCounts {
    /// Columns shown: the hidden ones follow.
    shown: usize,
    /// Where the flags of the entity sets and the rows of a group are, when a
    /// variable is counted in grouping sets.
    set: Option<usize>,
    own: Option<usize>,
    rows: usize,
    /// The variable's records and entities.
    pub counted: (u64, u64),
    /// A GROUP counted by the rows shown: its relation, the positions of its identity,
    /// its records and entities.
    pub group: Option<(RelId, Vec<usize>, (u64, u64))>,
}

impl SetCounts {
    /// Counts of `shown` columns and, after them, `counted`'s entity sets (see
    /// [`entity_sets`]), if a variable is counted so; `group`, a GROUP counted by the
    /// rows shown, with the positions of its identity in them.
    fn new(
        shown: usize,
        counted: Option<&Relation>,
        group: Option<(RelId, Vec<usize>)>,
    ) -> SetCounts {
        let own = counted.is_some_and(|r| !r.identity_alt.is_empty());
        SetCounts {
            shown,
            set: counted.map(|_| shown),
            own: own.then_some(shown + 1),
            rows: shown + 1 + usize::from(own),
            counted: (0, 0),
            group: group.map(|(g, identity)| (g, identity, (0, 0))),
        }
    }

    /// Columns not shown.
    pub fn hidden(&self) -> usize {
        match self.set {
            Some(_) => self.rows + 1 - self.shown,
            None => 0,
        }
    }

    /// Counts `row`; true when it is a row to show.
    pub fn shows(&mut self, row: &[Value]) -> bool {
        let flag = |i: Option<usize>| i.and_then(|i| row.get(i)).filter(|v| !v.is_null());
        if let Some(whole) = flag(self.set) {
            if let Some(Value::Int(n)) = row.get(self.rows) {
                self.counted.0 += (*n).max(0) as u64;
            }
            self.counted.1 += u64::from(matches!(whole, Value::Bool(true)));
            return false;
        }
        if let Some(own) = flag(self.own) {
            self.counted.1 += u64::from(matches!(own, Value::Bool(true)));
            return false;
        }
        if let Some((_, identity, counts)) = &mut self.group {
            counts.0 += 1;
            if identity
                .iter()
                .all(|&i| row.get(i).is_some_and(|v| !v.is_null()))
            {
                counts.1 += 1;
            }
        }
        true
    }
}
