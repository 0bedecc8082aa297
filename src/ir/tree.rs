//! One walker for plans and expressions (after DataFusion's `TreeNode`).
//!
//! In: a [`Plan`] (whose children are its inputs) or an [`Expr`] (whose children are its
//! operands). Out: visits in a fixed order, and rewrites in place. Every pass that walks or
//! rebuilds the IR goes through these few functions instead of its own `match`:
//!
//! - [`TreeNode::apply`] — read-only, parents first; [`Recursion::Jump`] skips a subtree,
//!   [`Recursion::Stop`] ends the walk;
//! - [`TreeNode::apply_up`] — read-only, children first (dependencies before users);
//! - [`TreeNode::transform_down`] / [`TreeNode::transform_up`] — in place, parents or
//!   children first;
//! - [`Plan::apply_expressions`] / [`Plan::map_expressions`] — the expressions an operator
//!   holds itself (predicates, projections, sort and grouping keys, aggregates);
//! - [`Plan::map_children`] — an operator rebuilt over new inputs (passes that rebuild a
//!   plan top-down with their own state: pruning, TIMESTAMPED).
//!
//! Walks recurse by the depth of one plan or expression, which lowering keeps shallow
//! (AND/OR are flat lists; relations refer to each other by id). Walks across relations —
//! as deep as a hunt is long — are iterative ([`Program::dependency_order`]).
//!
//! [`Program::dependency_order`]: super::Program::dependency_order

use std::sync::Arc;

use super::{Expr, Plan};

/// What a walk does after visiting a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recursion {
    /// Go on into the node's children, then its siblings.
    Continue,
    /// Skip the node's children (a pre-order visit only), go on with its siblings.
    Jump,
    /// End the walk.
    Stop,
}

/// A tree the walkers can traverse: its children, read and mutably.
pub trait TreeNode: Sized {
    /// Calls `f` on each child in order, until it returns [`Recursion::Stop`].
    fn apply_children<'n, F: FnMut(&'n Self) -> Recursion>(&'n self, f: F) -> Recursion;

    /// Calls `f` on each child in order, mutably, until it returns [`Recursion::Stop`].
    fn map_children_mut<F: FnMut(&mut Self) -> Recursion>(&mut self, f: F) -> Recursion;

    /// Visits this node and its descendants, parents first.
    fn apply<'n, F: FnMut(&'n Self) -> Recursion>(&'n self, mut f: F) -> Recursion {
        fn go<'n, N: TreeNode, F: FnMut(&'n N) -> Recursion>(n: &'n N, f: &mut F) -> Recursion {
            match f(n) {
                Recursion::Continue => n.apply_children(|c| go(c, f)),
                Recursion::Jump => Recursion::Continue,
                Recursion::Stop => Recursion::Stop,
            }
        }
        go(self, &mut f)
    }

    /// Visits this node and its descendants, children first (left to right).
    fn apply_up<'n, F: FnMut(&'n Self)>(&'n self, mut f: F) {
        fn go<'n, N: TreeNode, F: FnMut(&'n N)>(n: &'n N, f: &mut F) {
            n.apply_children(|c| {
                go(c, f);
                Recursion::Continue
            });
            f(n);
        }
        go(self, &mut f)
    }

    /// Rewrites this node and its descendants in place, parents first: `f` sees a node
    /// before its children, and [`Recursion::Jump`] leaves them as they are.
    fn transform_down<F: FnMut(&mut Self) -> Recursion>(&mut self, mut f: F) -> Recursion {
        fn go<N: TreeNode, F: FnMut(&mut N) -> Recursion>(n: &mut N, f: &mut F) -> Recursion {
            match f(n) {
                Recursion::Continue => n.map_children_mut(|c| go(c, f)),
                Recursion::Jump => Recursion::Continue,
                Recursion::Stop => Recursion::Stop,
            }
        }
        go(self, &mut f)
    }

    /// Rewrites this node and its descendants in place, children first.
    fn transform_up<F: FnMut(&mut Self)>(&mut self, mut f: F) {
        fn go<N: TreeNode, F: FnMut(&mut N)>(n: &mut N, f: &mut F) {
            n.map_children_mut(|c| {
                go(c, f);
                Recursion::Continue
            });
            f(n);
        }
        go(self, &mut f)
    }
}

/// Calls `f` on each of `items` until it says stop.
fn each<T, F: FnMut(T) -> Recursion>(items: impl IntoIterator<Item = T>, mut f: F) -> Recursion {
    for x in items {
        if f(x) == Recursion::Stop {
            return Recursion::Stop;
        }
    }
    Recursion::Continue
}

/// The children of a plan node, read (`iter`) or mutably (`iter_mut, mut`), through `f`.
macro_rules! plan_children {
    ($node:expr, $f:expr, $iter:ident $(, $m:tt)?) => {
        match $node {
            Plan::Scan { .. } | Plan::Rel(_) | Plan::Values { .. } => Recursion::Continue,
            Plan::Filter { input, .. }
            | Plan::Project { input, .. }
            | Plan::Distinct { input }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Aggregate { input, .. } => each([&$($m)? **input], $f),
            Plan::Union { inputs } => each(inputs.$iter(), $f),
            Plan::Join { left, right, .. } => each([&$($m)? **left, &$($m)? **right], $f),
        }
    };
}

/// The expressions a plan node holds itself, read or mutably, through `f`.
macro_rules! plan_expressions {
    ($node:expr, $f:expr, $iter:ident $(, $m:tt)?) => {
        match $node {
            Plan::Scan { .. }
            | Plan::Rel(_)
            | Plan::Values { .. }
            | Plan::Distinct { .. }
            | Plan::Limit { .. }
            | Plan::Union { .. }
            | Plan::Join { .. } => Recursion::Continue,
            Plan::Filter { pred, .. } => each([pred], $f),
            Plan::Project { cols, .. } => each(cols.$iter().map(|(_, e)| e), $f),
            Plan::Sort { keys, .. } => each(keys.$iter().map(|k| &$($m)? k.expr), $f),
            Plan::Aggregate { keys, aggs, .. } => each(
                keys.$iter()
                    .map(|(_, e)| e)
                    .chain(aggs.$iter().map(|(_, _, e)| e)),
                $f,
            ),
        }
    };
}

/// The operands of an expression, read or mutably, through `f`; a `CASE`'s by `$case`
/// (over its `$whens` and `$otherwise`).
macro_rules! expr_children {
    ($node:expr, $f:ident, $iter:ident $(, $m:tt)?; $whens:ident, $otherwise:ident => $case:expr) => {
        match $node {
            Expr::Col(_) | Expr::Lit(_) => Recursion::Continue,
            Expr::Cmp { left, right, .. } => each([&$($m)? **left, &$($m)? **right], $f),
            Expr::Like { expr, .. }
            | Expr::Regex { expr, .. }
            | Expr::InList { expr, .. }
            | Expr::IsNull { expr, .. }
            | Expr::Not(expr) => $f(expr),
            Expr::InRel { exprs: v, .. }
            | Expr::And(v)
            | Expr::Or(v)
            | Expr::Func { args: v, .. } => each(v.$iter(), $f),
            Expr::Case { whens: $whens, otherwise: $otherwise } => $case,
        }
    };
}

impl TreeNode for Plan {
    fn apply_children<'n, F: FnMut(&'n Self) -> Recursion>(&'n self, f: F) -> Recursion {
        plan_children!(self, f, iter)
    }

    fn map_children_mut<F: FnMut(&mut Self) -> Recursion>(&mut self, f: F) -> Recursion {
        plan_children!(self, f, iter_mut, mut)
    }
}

impl Plan {
    /// Calls `f` on each expression this operator holds itself (not its inputs'), in
    /// order: the predicate; the projected columns; the sort keys; the grouping keys,
    /// then the aggregates' arguments.
    pub fn apply_expressions<'n, F: FnMut(&'n Expr) -> Recursion>(&'n self, f: F) -> Recursion {
        plan_expressions!(self, f, iter)
    }

    /// Calls `f` on each expression this operator holds itself, mutably, in the order of
    /// [`Plan::apply_expressions`].
    pub fn map_expressions<F: FnMut(&mut Expr)>(&mut self, mut f: F) {
        let f = |e: &mut Expr| {
            f(e);
            Recursion::Continue
        };
        plan_expressions!(self, f, iter_mut, mut);
    }

    /// This operator over inputs rebuilt by `f` (its own fields copied); leaves are
    /// copied as they are. The first error `f` returns is the result.
    pub fn map_children<E>(&self, mut f: impl FnMut(&Plan) -> Result<Plan, E>) -> Result<Plan, E> {
        let mut one = |input: &Plan| f(input).map(Box::new);
        Ok(match self {
            Plan::Scan { .. } | Plan::Rel(_) | Plan::Values { .. } => self.clone(),
            Plan::Filter { input, pred } => Plan::Filter {
                input: one(input)?,
                pred: pred.clone(),
            },
            Plan::Project { input, cols } => Plan::Project {
                input: one(input)?,
                cols: cols.clone(),
            },
            Plan::Distinct { input } => Plan::Distinct { input: one(input)? },
            Plan::Sort { input, keys } => Plan::Sort {
                input: one(input)?,
                keys: keys.clone(),
            },
            Plan::Limit {
                input,
                limit,
                offset,
            } => Plan::Limit {
                input: one(input)?,
                limit: *limit,
                offset: *offset,
            },
            Plan::Aggregate { input, keys, aggs } => Plan::Aggregate {
                input: one(input)?,
                keys: keys.clone(),
                aggs: aggs.clone(),
            },
            Plan::Union { inputs } => Plan::Union {
                inputs: inputs.iter().map(&mut f).collect::<Result<_, E>>()?,
            },
            Plan::Join { left, right, on } => Plan::Join {
                left: one(left)?,
                right: one(right)?,
                on: on.clone(),
            },
        })
    }
}

impl TreeNode for Expr {
    fn apply_children<'n, F: FnMut(&'n Self) -> Recursion>(&'n self, mut f: F) -> Recursion {
        expr_children!(self, f, iter; whens, otherwise => each(
            whens.iter().flat_map(|(c, v)| [c, v]).chain([&**otherwise]),
            f,
        ))
    }

    /// A `CASE`'s branches are shared between copies of an expression (see [`Expr::Case`]):
    /// visiting them mutably copies them. Walks that rarely change a CASE return
    /// [`Recursion::Jump`] at one they leave alone.
    fn map_children_mut<F: FnMut(&mut Self) -> Recursion>(&mut self, mut f: F) -> Recursion {
        expr_children!(self, f, iter_mut, mut; whens, otherwise => {
            let mut owned = whens.to_vec();
            let r = each(owned.iter_mut().flat_map(|(c, v)| [c, v]), &mut f);
            *whens = owned.into();
            if r == Recursion::Stop {
                return r;
            }
            f(Arc::make_mut(otherwise))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{CmpOp, RelId, SortKey};

    fn sample() -> Plan {
        let semi = |rel| Expr::InRel {
            exprs: vec![Expr::col("pid")],
            rel: RelId(rel),
            cols: vec!["pid".into()],
            negated: false,
        };
        Plan::Union {
            inputs: vec![
                Plan::Rel(RelId(0)).filter(Expr::and(vec![
                    semi(1),
                    Expr::cmp(CmpOp::Eq, Expr::col("name"), Expr::str("x")),
                ])),
                Plan::Sort {
                    input: Box::new(Plan::Scan { source: 0 }.project(vec![(
                        "pid".into(),
                        Expr::case(vec![(semi(2), Expr::col("a"))], Expr::col("b")),
                    )])),
                    keys: vec![SortKey {
                        expr: Expr::col("pid"),
                        desc: false,
                    }],
                },
            ],
        }
    }

    #[test]
    fn walks_visit_parents_first_or_children_first() {
        let p = sample();
        let mut down = Vec::new();
        p.apply(|n| {
            down.push(std::mem::discriminant(n));
            Recursion::Continue
        });
        let mut up = Vec::new();
        p.apply_up(|n| up.push(std::mem::discriminant(n)));
        assert_eq!(down.len(), 6);
        assert_eq!(down[0], std::mem::discriminant(&p));
        assert_eq!(up.last(), Some(&down[0]));
        // First use order: the filter's input, then its predicate; the union's inputs in turn.
        let mut refs = Vec::new();
        p.rel_refs(&mut refs);
        assert_eq!(refs, vec![RelId(0), RelId(1), RelId(2)]);
    }

    #[test]
    fn jump_skips_a_subtree_and_stop_ends_the_walk() {
        let p = sample();
        let mut seen = 0;
        p.apply(|n| {
            seen += 1;
            if matches!(n, Plan::Filter { .. }) {
                Recursion::Jump
            } else {
                Recursion::Continue
            }
        });
        assert_eq!(seen, 5);
        let mut seen = 0;
        let r = p.apply(|n| {
            seen += 1;
            if matches!(n, Plan::Filter { .. }) {
                Recursion::Stop
            } else {
                Recursion::Continue
            }
        });
        assert_eq!((r, seen), (Recursion::Stop, 2));
    }

    #[test]
    fn rewrites_reach_semijoins_inside_cases_and_leave_other_cases_shared() {
        let mut p = sample();
        let shared = match &p {
            Plan::Union { inputs } => match &inputs[1] {
                Plan::Sort { input, .. } => match &**input {
                    Plan::Project { cols, .. } => cols[0].1.clone(),
                    _ => unreachable!(),
                },
                _ => unreachable!(),
            },
            _ => unreachable!(),
        };
        p.map_rel_refs(&|id| RelId(id.0 + 10));
        let mut refs = Vec::new();
        p.rel_refs(&mut refs);
        assert_eq!(refs, vec![RelId(10), RelId(11), RelId(12)]);
        // The copy kept before the rewrite still reads the old relation.
        let mut old = Vec::new();
        shared.rel_refs(&mut old);
        assert_eq!(old, vec![RelId(2)]);

        let plain = Expr::case(vec![(Expr::col("k"), Expr::col("a"))], Expr::col("b"));
        let mut copy = plain.clone();
        copy.map_rel_refs(&|id| id);
        let (Expr::Case { whens: a, .. }, Expr::Case { whens: b, .. }) = (&plain, &copy) else {
            unreachable!()
        };
        assert!(Arc::ptr_eq(a, b), "a CASE without semi-joins is not copied");
    }

    #[test]
    fn map_children_rebuilds_inputs_and_stops_at_the_first_error() {
        let p = sample();
        let scans_to_values = |p: &Plan| -> Result<Plan, ()> {
            let mut p = p.clone();
            p.transform_up(|n| {
                if matches!(n, Plan::Scan { .. }) {
                    *n = Plan::Values {
                        columns: vec![],
                        rows: vec![],
                    };
                }
            });
            Ok(p)
        };
        let q = p.map_children(scans_to_values).unwrap();
        let mut scans = Vec::new();
        q.scans(&mut scans);
        assert!(scans.is_empty());
        assert_eq!(p.map_children(|_| Err::<Plan, _>("no")), Err("no"));
    }
}
