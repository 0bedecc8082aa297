//! Predicate folding: the comparisons a hunter spells out one by one become the set tests
//! a database indexes best.
//!
//! - `c = 'a' OR c = 'b' OR c IN ('d')` → `c IN ('a', 'b', 'd')`
//! - `c != 'a' AND c != 'b' AND c NOT IN ('d')` → `c NOT IN ('a', 'b', 'd')`
//! - an `IN` of one value → `=` (and `NOT IN` → `!=`); repeated values are dropped.
//!
//! Each rewrite keeps SQL's three-valued meaning: with `c` NULL both sides are NULL.

use crate::ir::{CmpOp, Expr, Literal, Plan, Program};

/// Folds every predicate and projected expression of the program's plans.
pub fn fold_program(mut program: Program) -> Program {
    for r in &mut program.relations {
        fold_plan(&mut r.plan);
    }
    for o in &mut program.outputs {
        fold_plan(&mut o.plan);
    }
    program
}

fn fold_plan(plan: &mut Plan) {
    match plan {
        Plan::Scan { .. } | Plan::Rel(_) | Plan::Values { .. } => {}
        Plan::Filter { input, pred } => {
            *pred = fold(std::mem::replace(pred, crate::ir::TRUE));
            fold_plan(input);
        }
        Plan::Project { input, cols } => {
            for (_, e) in cols.iter_mut() {
                *e = fold(std::mem::replace(e, crate::ir::TRUE));
            }
            fold_plan(input);
        }
        Plan::Distinct { input }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Aggregate { input, .. } => fold_plan(input),
        Plan::Union { inputs } => inputs.iter_mut().for_each(fold_plan),
        Plan::Join { left, right, .. } => {
            fold_plan(left);
            fold_plan(right);
        }
    }
}

/// Folds one expression, bottom-up.
pub fn fold(e: Expr) -> Expr {
    match e {
        Expr::Or(parts) => merge(parts.into_iter().map(fold).collect(), false),
        Expr::And(parts) => merge(parts.into_iter().map(fold).collect(), true),
        Expr::Not(inner) => Expr::not(fold(*inner)),
        Expr::InList {
            expr,
            list,
            negated,
        } => in_list(*expr, list, negated),
        Expr::Case { whens, otherwise } => Expr::case(
            whens.into_iter().map(|(c, v)| (fold(c), fold(v))).collect(),
            fold(*otherwise),
        ),
        other => other,
    }
}

/// `c IN (list)` with repeats dropped; one value is a comparison.
fn in_list(expr: Expr, list: Vec<Literal>, negated: bool) -> Expr {
    let mut uniq: Vec<Literal> = Vec::with_capacity(list.len());
    for l in list {
        if !uniq.contains(&l) {
            uniq.push(l);
        }
    }
    if uniq.len() == 1 {
        let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
        return Expr::cmp(op, expr, Expr::Lit(uniq.remove(0)));
    }
    Expr::InList {
        expr: Box::new(expr),
        list: uniq,
        negated,
    }
}

/// The column and values of a term that tests membership: `c = v` / `c IN (…)` (for OR),
/// `c != v` / `c NOT IN (…)` (for AND).
fn membership(e: &Expr, negated: bool) -> Option<(&Expr, Vec<Literal>)> {
    let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
    match e {
        Expr::Cmp { op: o, left, right } if *o == op => match (&**left, &**right) {
            (c @ Expr::Col(_), Expr::Lit(l)) | (Expr::Lit(l), c @ Expr::Col(_))
                if *l != Literal::Null =>
            {
                Some((c, vec![l.clone()]))
            }
            _ => None,
        },
        Expr::InList {
            expr,
            list,
            negated: n,
        } if *n == negated && matches!(**expr, Expr::Col(_)) => Some((expr, list.clone())),
        _ => None,
    }
}

/// Merges OR-ed equalities (or AND-ed inequalities when `conj`) on the same column.
fn merge(parts: Vec<Expr>, conj: bool) -> Expr {
    let mut out: Vec<Expr> = Vec::with_capacity(parts.len());
    // (column, values, index in `out` of its merged term)
    let mut groups: Vec<(Expr, Vec<Literal>, usize)> = Vec::new();
    for p in parts {
        let Some((col, vals)) = membership(&p, conj) else {
            out.push(p);
            continue;
        };
        match groups.iter_mut().find(|(c, _, _)| *c == *col) {
            Some((_, all, _)) => all.extend(vals),
            None => {
                let col = col.clone();
                groups.push((col, vals, out.len()));
                out.push(p);
            }
        }
    }
    for (col, vals, at) in groups {
        out[at] = in_list(col, vals, conj);
    }
    if conj {
        Expr::and(out)
    } else {
        Expr::or(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(c: &str, v: &str) -> Expr {
        Expr::cmp(CmpOp::Eq, Expr::col(c), Expr::str(v))
    }
    fn ne(c: &str, v: &str) -> Expr {
        Expr::cmp(CmpOp::Ne, Expr::col(c), Expr::str(v))
    }
    fn list(c: &str, vs: &[&str], negated: bool) -> Expr {
        Expr::InList {
            expr: Box::new(Expr::col(c)),
            list: vs.iter().map(|v| Literal::Str(v.to_string())).collect(),
            negated,
        }
    }

    #[test]
    fn or_chains_of_equalities_become_one_in() {
        let e = Expr::Or(vec![
            eq("n", "a"),
            eq("m", "x"),
            eq("n", "b"),
            list("n", &["c", "a"], false),
        ]);
        assert_eq!(
            fold(e),
            Expr::Or(vec![list("n", &["a", "b", "c"], false), eq("m", "x")])
        );
    }

    #[test]
    fn and_chains_of_inequalities_become_one_not_in() {
        let e = Expr::And(vec![ne("n", "a"), eq("m", "x"), ne("n", "b")]);
        assert_eq!(
            fold(e),
            Expr::And(vec![list("n", &["a", "b"], true), eq("m", "x")])
        );
    }

    #[test]
    fn an_in_of_one_value_is_a_comparison() {
        assert_eq!(fold(list("n", &["a", "a"], false)), eq("n", "a"));
        assert_eq!(fold(list("n", &["a"], true)), ne("n", "a"));
    }

    #[test]
    fn equalities_under_and_are_left_alone() {
        // `n = a AND n = b` is not `n IN (a, b)`.
        let e = Expr::And(vec![eq("n", "a"), eq("n", "b")]);
        assert_eq!(fold(e.clone()), e);
        // Nor are comparisons with NULL or between columns.
        let e = Expr::Or(vec![
            Expr::cmp(CmpOp::Eq, Expr::col("n"), Expr::Lit(Literal::Null)),
            Expr::cmp(CmpOp::Eq, Expr::col("n"), Expr::col("m")),
        ]);
        assert_eq!(fold(e.clone()), e);
    }

    #[test]
    fn nested_chains_fold_bottom_up() {
        let e = Expr::And(vec![
            Expr::Or(vec![eq("n", "a"), eq("n", "b")]),
            Expr::Not(Box::new(Expr::Or(vec![eq("m", "x"), eq("m", "y")]))),
        ]);
        assert_eq!(
            fold(e),
            Expr::And(vec![
                list("n", &["a", "b"], false),
                Expr::Not(Box::new(list("m", &["x", "y"], false))),
            ])
        );
    }
}
