//! Predicate folding: the comparisons a hunter spells out one by one become the set tests
//! a database indexes best.
//!
//! - `c = 'a' OR c = 'b' OR c IN ('d')` → `c IN ('a', 'b', 'd')`
//! - `c != 'a' AND c != 'b' AND c NOT IN ('d')` → `c NOT IN ('a', 'b', 'd')`
//! - an `IN` of one value → `=` (and `NOT IN` → `!=`); repeated values are dropped where
//!   lists merge (lowering drops those of each list it makes).
//!
//! - a comparison of two numbers is decided: `0 = 1` → FALSE, `1 = 1` → TRUE.
//!
//! - a test of a per-class `CASE` (an attribute mapped differently in some event classes)
//!   in a filter becomes one alternative per branch, each testing a plain column an index
//!   can serve: `CASE WHEN k THEN a ELSE b END = v` → `(k AND a = v) OR (k̸ AND b = v)`,
//!   where k̸ holds when k is false or unknown. Only where the test's truth is what counts
//!   (a filter's conjuncts and disjuncts, not under NOT).
//!
//! Each rewrite keeps SQL's three-valued meaning: with `c` NULL both sides are NULL.

use crate::ir::{CmpOp, Expr, Literal, Plan, Program, Recursion, TreeNode};
use std::sync::Arc;

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

/// Folds what a session added to `program`: relations from index `relations` on and
/// outputs from `outputs` on.
pub fn fold_new(program: &mut Program, relations: usize, outputs: usize) {
    for r in program.relations.iter_mut().skip(relations) {
        fold_plan(&mut r.plan);
    }
    for o in program.outputs.iter_mut().skip(outputs) {
        fold_plan(&mut o.plan);
    }
}

/// Folds every filter's predicate. Projections are the mapping's column expressions,
/// folded as lowering builds them (class predicates, per-class CASEs): folding every
/// mapped column of every relation again, most of them pruned later, would cost a tenth
/// of a compile.
fn fold_plan(plan: &mut Plan) {
    plan.transform_down(|p| {
        if let Plan::Filter { pred, .. } = p {
            *pred = fold(split_cases(fold(std::mem::replace(pred, crate::ir::TRUE))));
        }
        Recursion::Continue
    });
}

/// Folds one expression, bottom-up.
pub fn fold(e: Expr) -> Expr {
    match e {
        Expr::Or(parts) => factor(merge(
            distinct(join_memberships(parts, false), false),
            false,
        )),
        Expr::And(parts) => merge(distinct(join_memberships(parts, true), true), true),
        Expr::Not(inner) => Expr::not(fold(*inner)),
        // Lowering drops a list's repeats, and `merge` those of lists it joins: a list of a
        // million is not hashed again at every fold. One value (however often) is `=`.
        Expr::InList {
            expr,
            mut list,
            negated,
        } if !list.is_empty() && list.iter().all(|l| *l == list[0]) => {
            let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
            Expr::cmp(op, fold(*expr), Expr::Lit(list.remove(0)))
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: Box::new(fold(*expr)),
            list,
            negated,
        },
        // `NULL IS NULL` (a split CASE branch where the class lacks the attribute).
        Expr::IsNull { expr, negated } => match fold(*expr) {
            Expr::Lit(l) => Expr::Lit(Literal::Bool((l == Literal::Null) != negated)),
            expr => Expr::IsNull {
                expr: Box::new(expr),
                negated,
            },
        },
        Expr::Case { whens, otherwise } => Expr::case(
            whens
                .iter()
                .map(|(c, v)| (fold(c.clone()), fold(v.clone())))
                .collect(),
            fold((*otherwise).clone()),
        ),
        // The subjects of tests may be per-class CASEs, whose conditions fold too.
        Expr::Cmp { op, left, right } => match (fold(*left), fold(*right)) {
            // Two numbers: a split `CASE WHEN e THEN 0 ELSE 1 END = 1` (a negated
            // EVENTS) leaves `0 = 1` in one branch and `1 = 1` in the other.
            (Expr::Lit(Literal::Int(a)), Expr::Lit(Literal::Int(b))) => {
                Expr::Lit(Literal::Bool(match op {
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                    CmpOp::Lt => a < b,
                    CmpOp::Le => a <= b,
                    CmpOp::Gt => a > b,
                    CmpOp::Ge => a >= b,
                }))
            }
            (l, r) => Expr::cmp(op, l, r),
        },
        Expr::Like {
            expr,
            pattern,
            negated,
            escape,
        } => Expr::Like {
            expr: Box::new(fold(*expr)),
            pattern,
            negated,
            escape,
        },
        Expr::Regex {
            expr,
            pattern,
            negated,
        } => Expr::Regex {
            expr: Box::new(fold(*expr)),
            pattern,
            negated,
        },
        other => other,
    }
}

/// `c IN (list)` with repeats dropped; one value is a comparison.
fn in_list(expr: Expr, list: Vec<Literal>, negated: bool) -> Expr {
    let mut uniq = crate::ir::dedup_literals(list);
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
fn membership(e: &Expr, negated: bool) -> Option<(&Expr, &[Literal])> {
    // A column, or an expression over columns (a per-class CASE, a basename).
    tested(e, negated).filter(|(c, _)| !matches!(c, Expr::Lit(_)) && !c.has_rel_ref())
}

/// The subject and values of a term of the shape [`membership`] accepts, its subject not
/// checked (a walk, for an expression).
fn tested(e: &Expr, negated: bool) -> Option<(&Expr, &[Literal])> {
    let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
    match e {
        Expr::Cmp { op: o, left, right } if *o == op => match (&**left, &**right) {
            (c, Expr::Lit(l)) | (Expr::Lit(l), c) if *l != Literal::Null => {
                Some((c, std::slice::from_ref(l)))
            }
            _ => None,
        },
        Expr::InList {
            expr,
            list,
            negated: n,
        } if *n == negated => Some((expr, list)),
        _ => None,
    }
}

/// Runs of consecutive membership tests of one subject (`x = 'a' OR x = 'b' OR …`, an
/// IOC list written as an OR chain; `!=` tests under AND) joined into one list before the
/// parts are folded, so that the subject (a per-class CASE of hundreds of nodes) is folded
/// and hashed once, not once per value. [`merge`] joins them too, after folding each:
/// the result is the same.
fn join_memberships(parts: Vec<Expr>, conj: bool) -> Vec<Expr> {
    // Copies of one mapped attribute share their CASE's branches: compared by address first.
    fn same(a: &Expr, b: &Expr) -> bool {
        match (a, b) {
            (
                Expr::Case {
                    whens: w1,
                    otherwise: o1,
                },
                Expr::Case {
                    whens: w2,
                    otherwise: o2,
                },
            ) if Arc::ptr_eq(w1, w2) && Arc::ptr_eq(o1, o2) => true,
            _ => a == b,
        }
    }
    // A test's subject and values, taken apart (the sides `tested` reads).
    fn split(e: Expr) -> (Expr, Vec<Literal>) {
        match e {
            Expr::Cmp { left, right, .. } => match (*left, *right) {
                (c, Expr::Lit(l)) | (Expr::Lit(l), c) if l != Literal::Null => (c, vec![l]),
                (l, _) => (l, Vec::new()),
            },
            Expr::InList { expr, list, .. } => (*expr, list),
            other => (other, Vec::new()),
        }
    }
    if parts.len() < 2 {
        return parts;
    }
    let mut out = Vec::with_capacity(parts.len());
    // Consecutive tests of one subject, joined when the run ends if `membership` accepts
    // them (its check of the subject is a walk: once a run, not once a part).
    let mut run: Vec<Expr> = Vec::new();
    let flush = |run: &mut Vec<Expr>, out: &mut Vec<Expr>| {
        if run.len() > 1 && membership(&run[0], conj).is_some() {
            let mut tests = run.drain(..).map(split);
            let Some((subject, mut values)) = tests.next() else {
                return;
            };
            for (_, more) in tests {
                values.extend(more);
            }
            out.push(in_list(subject, values, conj));
        } else {
            out.append(run);
        }
    };
    for p in parts {
        let Some((subject, _)) = tested(&p, conj) else {
            flush(&mut run, &mut out);
            out.push(p);
            continue;
        };
        let continues = run
            .first()
            .and_then(|first| tested(first, conj))
            .is_some_and(|(a, _)| same(a, subject));
        if !continues {
            flush(&mut run, &mut out);
        }
        run.push(p);
    }
    flush(&mut run, &mut out);
    out
}

/// `fold(Expr::or(parts))` for parts that are folded already (folding is idempotent):
/// the parts are not folded again, only their OR.
pub fn fold_or_of_folded(parts: Vec<Expr>) -> Expr {
    match Expr::or(parts) {
        Expr::Or(parts) => factor(merge(distinct_of(parts, false, |p| p), false)),
        one => one,
    }
}

/// The folded parts of an AND (`conj`) or OR, nested ones of the same kind flattened,
/// each once (`a AND a` is `a` in three-valued logic too).
fn distinct(parts: Vec<Expr>, conj: bool) -> Vec<Expr> {
    distinct_of(parts, conj, fold)
}

/// [`distinct`], each part made ready by `ready` (folded, or as it is).
fn distinct_of(parts: Vec<Expr>, conj: bool, ready: impl Fn(Expr) -> Expr) -> Vec<Expr> {
    let mut out: Vec<Expr> = Vec::with_capacity(parts.len());
    // Parts by hash, so that a chain of thousands of terms stays linear.
    let mut seen: crate::fxhash::FxHashMap<u64, Vec<usize>> = Default::default();
    let mut push = |p: Expr, out: &mut Vec<Expr>| {
        let h = part_hash(&p);
        let same = seen.entry(h).or_default();
        if !same.iter().any(|&i| out[i] == p) {
            same.push(out.len());
            out.push(p);
        }
    };
    for p in parts {
        match (ready(p), conj) {
            (Expr::And(inner), true) | (Expr::Or(inner), false) => {
                inner.into_iter().for_each(|q| push(q, &mut out))
            }
            (p, _) => push(p, &mut out),
        }
    }
    out
}

/// A hash of `e` consistent with `==`: an IN list's values count by their number and
/// ends only, so that a list of a million is not read whole for it.
fn part_hash(e: &Expr) -> u64 {
    use std::hash::BuildHasher;
    let h = crate::fxhash::FxBuild::default();
    let parts =
        |tag: u8, ps: &[Expr]| h.hash_one((tag, ps.iter().map(part_hash).collect::<Vec<_>>()));
    match e {
        Expr::InList {
            expr,
            list,
            negated,
        } => h.hash_one((expr, negated, list.len(), list.first(), list.last())),
        Expr::And(ps) => parts(0, ps),
        Expr::Or(ps) => parts(1, ps),
        Expr::Not(x) => h.hash_one((2u8, part_hash(x))),
        e => h.hash_one(e),
    }
}

/// Conjuncts every alternative of an OR shares, taken out of it:
/// `(a AND b) OR (a AND c)` → `a AND (b OR c)`, and `a OR (a AND b)` → `a` (both laws
/// hold in three-valued logic). What remains of the alternatives folds again, so
/// `(k = 1 AND c = 10) OR (k = 1 AND c = 8)` becomes `k = 1 AND c IN (10, 8)`.
fn factor(e: Expr) -> Expr {
    let Expr::Or(parts) = e else { return e };
    fn conjuncts(p: &Expr) -> &[Expr] {
        match p {
            Expr::And(inner) => inner,
            p => std::slice::from_ref(p),
        }
    }
    let mut parts = absorb(parts);
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let Some(first) = parts.first() else {
        return Expr::Or(parts);
    };
    // Found by reference: most ORs share nothing and are left as they are, uncopied.
    let common: Vec<Expr> = conjuncts(first)
        .iter()
        .filter(|c| parts[1..].iter().all(|p| conjuncts(p).contains(c)))
        .cloned()
        .collect();
    if common.is_empty() {
        return Expr::Or(parts);
    }
    let mut rests = Vec::with_capacity(parts.len());
    for p in parts {
        let rest: Vec<Expr> = match p {
            Expr::And(inner) => inner.into_iter().filter(|c| !common.contains(c)).collect(),
            p if common.contains(&p) => Vec::new(),
            p => vec![p],
        };
        if rest.is_empty() {
            // One alternative is the common part alone: it absorbs the others.
            return Expr::and(common);
        }
        rests.push(Expr::and(rest));
    }
    let mut out = common;
    out.push(fold(Expr::Or(rests)));
    Expr::and(out)
}

/// An OR's alternatives without those that another alternative absorbs: `x OR (x AND
/// y)` is `x`, where `x` is an alternative on its own. Alternatives are found by hash, so
/// that a chain of thousands stays linear; an OR with no AND among its alternatives, or
/// nothing but ANDs, is returned as it is.
fn absorb(parts: Vec<Expr>) -> Vec<Expr> {
    let is_and = |p: &Expr| matches!(p, Expr::And(_));
    if parts.iter().all(is_and) || !parts.iter().any(is_and) {
        return parts;
    }
    let mut singles: crate::fxhash::FxHashMap<u64, Vec<usize>> = Default::default();
    for (i, p) in parts.iter().enumerate().filter(|(_, p)| !is_and(p)) {
        singles.entry(part_hash(p)).or_default().push(i);
    }
    let single = |q: &Expr| {
        singles
            .get(&part_hash(q))
            .is_some_and(|at| at.iter().any(|&i| parts[i] == *q))
    };
    let gone: Vec<bool> = (parts.iter())
        .map(|p| match p {
            Expr::And(conjuncts) => conjuncts.iter().any(single),
            _ => false,
        })
        .collect();
    parts
        .into_iter()
        .zip(gone)
        .filter(|(_, gone)| !gone)
        .map(|(p, _)| p)
        .collect()
}

/// Merges OR-ed equalities (or AND-ed inequalities when `conj`) on the same column.
fn merge(parts: Vec<Expr>, conj: bool) -> Expr {
    // Membership tests by subject: (position of the first, positions of all).
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let Some((col, _)) = membership(p, conj) else {
            continue;
        };
        let same = |g: &&mut (usize, Vec<usize>)| {
            membership(&parts[g.0], conj).is_some_and(|(c, _)| c == col)
        };
        match groups.iter_mut().find(same) {
            Some((_, all)) => all.push(i),
            None => groups.push((i, vec![i])),
        }
    }
    // A subject tested once keeps its test as it is (an IN list of a million values is
    // neither copied nor deduplicated again); tests of one subject become one.
    let mut merged: Vec<Option<Expr>> = vec![None; parts.len()];
    let mut absorbed = vec![false; parts.len()];
    for (first, all) in groups.iter().filter(|(_, all)| all.len() > 1) {
        let mut col = None;
        let mut vals = Vec::new();
        for &i in all {
            if let Some((c, v)) = membership(&parts[i], conj) {
                col.get_or_insert_with(|| c.clone());
                vals.extend_from_slice(v);
            }
            absorbed[i] = i != *first;
        }
        if let Some(col) = col {
            merged[*first] = Some(in_list(col, vals, conj));
        }
    }
    let out: Vec<Expr> = parts
        .into_iter()
        .zip(merged)
        .zip(absorbed)
        .filter(|(_, gone)| !gone)
        .map(|((p, m), _)| m.unwrap_or(p))
        .collect();
    if conj {
        Expr::and(out)
    } else {
        Expr::or(out)
    }
}

/// Distributes tests of a `CASE` over its branches, in positions where only a TRUE result
/// selects a row (through AND and OR; not under NOT, where NULL and FALSE differ).
pub fn split_cases(e: Expr) -> Expr {
    match e {
        Expr::And(parts) => Expr::and(parts.into_iter().map(split_cases).collect()),
        Expr::Or(parts) => Expr::or(parts.into_iter().map(split_cases).collect()),
        e => match subject_case(&e) {
            Some((whens, otherwise)) => {
                let whens = whens.to_vec();
                let otherwise = (*otherwise).clone();
                let mut alternatives = Vec::new();
                let mut earlier: Vec<Expr> = Vec::new();
                for (cond, value) in whens {
                    // Conditions test per-class CASEs too (a rule key read from one of
                    // several columns): split them first, so their denials stay plain.
                    let cond = split_cases(cond);
                    let test = with_subject(&e, value);
                    // A branch whose value is NULL (the class has no such attribute)
                    // cannot make the test true: no alternative for it.
                    if !never_true(&test) {
                        // The condition before the denials: it pins the class, so it
                        // turns most rows away, where a denial mostly holds. An earlier
                        // condition that cannot hold with this one need not be denied.
                        let mut guards = vec![cond.clone()];
                        guards.extend(
                            (earlier.iter())
                                .filter(|c| !exclusive(c, &cond))
                                .map(not_true),
                        );
                        alternatives.push(alternative(test, guards, false));
                    }
                    earlier.push(cond);
                }
                let test = with_subject(&e, otherwise);
                if !never_true(&test) {
                    // First: most rows are of no class a condition names, and a row
                    // that one alternative selects skips those after it.
                    let parts: Vec<Expr> = earlier.iter().map(not_true).collect();
                    alternatives.insert(0, alternative(test, parts, true));
                }
                Expr::or(alternatives)
            }
            None => e,
        },
    }
}

/// One alternative of a split test: the branch's `test` and its `guards` (the branch's
/// condition, the earlier ones denied; `otherwise`: the `ELSE` branch's denials alone).
/// SQLite evaluates a conjunction in the order written and stops at its first false
/// part (PostgreSQL sorts one by cost alone), and most rows fail some part. A test that
/// is cheap and seldom true (a column equal to a value, or in a list) goes first and
/// turns them away before any guard is read. So does any test of a plain column in the
/// `ELSE` branch: its denials hold for most rows (those of no class a condition names),
/// so they turn few away. Any other test (a derived value's function calls, a range or
/// pattern most rows of a named class would reach, an identity's `IS NOT NULL` that
/// most rows pass) goes last, where only the rows of its class reach it. On a lake with
/// Sysmon's columns, a one-day `name = 'cmd.exe'` hunt runs 27 % fewer instructions,
/// and a `cmd_line LIKE` statement as few as one without the guards (BENCHMARKS.md).
fn alternative(test: Expr, mut guards: Vec<Expr>, otherwise: bool) -> Expr {
    let col = |e: &Expr| matches!(e, Expr::Col(_));
    let lit = |e: &Expr| matches!(e, Expr::Lit(_));
    let first = match &test {
        Expr::Cmp { op, left, right } => {
            ((col(left) && lit(right)) || (lit(left) && col(right)))
                && (otherwise || *op == CmpOp::Eq)
        }
        Expr::InList { expr, negated, .. } => col(expr) && (otherwise || !negated),
        Expr::Like { expr, .. } | Expr::Regex { expr, .. } => otherwise && col(expr),
        _ => false,
    };
    if first {
        guards.insert(0, test);
    } else {
        guards.push(test);
    }
    Expr::and(guards)
}

/// A test of a NULL literal: a comparison, LIKE, MATCHES or IN whose subject is NULL is
/// NULL whatever the row, so it never selects one (`IS [NOT] NULL` is not such a test).
fn never_true(test: &Expr) -> bool {
    let null = |e: &Expr| matches!(e, Expr::Lit(Literal::Null));
    match test {
        Expr::Cmp { left, right, .. } => null(left) || null(right),
        Expr::Like { expr, .. } | Expr::Regex { expr, .. } | Expr::InList { expr, .. } => {
            null(expr)
        }
        Expr::IsNull {
            expr,
            negated: true,
        } => null(expr),
        _ => false,
    }
}

/// `col = literal` conjuncts of a condition.
fn pins(e: &Expr) -> Vec<(&Expr, &Expr)> {
    match e {
        Expr::And(parts) => parts.iter().flat_map(pins).collect(),
        Expr::Cmp {
            op: CmpOp::Eq,
            left,
            right,
        } if matches!(**left, Expr::Col(_)) && matches!(**right, Expr::Lit(_)) => {
            vec![(&**left, &**right)]
        }
        _ => Vec::new(),
    }
}

/// Whether two conditions pin one column to different values (both cannot be true).
fn exclusive(a: &Expr, b: &Expr) -> bool {
    let pb = pins(b);
    pins(a)
        .iter()
        .any(|(c, v)| pb.iter().any(|(c2, v2)| c == c2 && v != v2))
}

/// The CASE a single test applies to (`CASE … = v`, `CASE … LIKE p`, `CASE … IN (…)`).
fn subject_case(e: &Expr) -> Option<(&[(Expr, Expr)], &Expr)> {
    let subject = match e {
        Expr::Cmp { left, right, .. } => match (&**left, &**right) {
            (c @ Expr::Case { .. }, Expr::Lit(_)) | (Expr::Lit(_), c @ Expr::Case { .. }) => c,
            _ => return None,
        },
        Expr::Like { expr, .. }
        | Expr::Regex { expr, .. }
        | Expr::InList { expr, .. }
        | Expr::IsNull { expr, .. } => expr,
        _ => return None,
    };
    match subject {
        Expr::Case { whens, otherwise } => Some((whens, otherwise)),
        _ => None,
    }
}

/// The same test of another subject.
fn with_subject(e: &Expr, subject: Expr) -> Expr {
    let b = Box::new(subject);
    match e.clone() {
        Expr::Cmp { op, left, right } => {
            if matches!(*left, Expr::Case { .. }) {
                Expr::Cmp { op, left: b, right }
            } else {
                Expr::Cmp { op, left, right: b }
            }
        }
        Expr::Like {
            pattern,
            negated,
            escape,
            ..
        } => Expr::Like {
            expr: b,
            pattern,
            negated,
            escape,
        },
        Expr::Regex {
            pattern, negated, ..
        } => Expr::Regex {
            expr: b,
            pattern,
            negated,
        },
        Expr::InList { list, negated, .. } => Expr::InList {
            expr: b,
            list,
            negated,
        },
        Expr::IsNull { negated, .. } => Expr::IsNull { expr: b, negated },
        other => other,
    }
}

/// TRUE exactly when `e` is FALSE or NULL (a CASE takes a later branch then).
fn not_true(e: &Expr) -> Expr {
    let null = |x: &Expr| Expr::IsNull {
        expr: Box::new(x.clone()),
        negated: false,
    };
    match e {
        Expr::Lit(crate::ir::Literal::Bool(b)) => Expr::Lit(crate::ir::Literal::Bool(!b)),
        // Each part's test of NULL after every part's own denial: a value is seldom NULL,
        // so the first denial that holds ends the test.
        Expr::And(parts) => {
            let denials = Expr::or(parts.iter().map(not_true).collect());
            let Expr::Or(mut alts) = denials else {
                return denials;
            };
            alts.sort_by_key(|a| matches!(a, Expr::IsNull { negated: false, .. }));
            Expr::Or(alts)
        }
        Expr::Or(parts) => Expr::and(parts.iter().map(not_true).collect()),
        Expr::Cmp { op, left, right }
            if matches!(**left, Expr::Col(_)) && matches!(**right, Expr::Lit(_)) =>
        {
            let neg = match op {
                CmpOp::Eq => CmpOp::Ne,
                CmpOp::Ne => CmpOp::Eq,
                CmpOp::Lt => CmpOp::Ge,
                CmpOp::Le => CmpOp::Gt,
                CmpOp::Gt => CmpOp::Le,
                CmpOp::Ge => CmpOp::Lt,
            };
            Expr::or(vec![
                Expr::cmp(neg, (**left).clone(), (**right).clone()),
                null(left),
            ])
        }
        Expr::InList {
            expr,
            list,
            negated,
        } if matches!(**expr, Expr::Col(_)) => Expr::or(vec![
            Expr::InList {
                expr: expr.clone(),
                list: list.clone(),
                negated: !negated,
            },
            null(expr),
        ]),
        Expr::IsNull { expr, negated } => Expr::IsNull {
            expr: expr.clone(),
            negated: !negated,
        },
        // Anything else: CASE WHEN e THEN FALSE ELSE TRUE END.
        e => Expr::Case {
            whens: vec![(e.clone(), crate::ir::FALSE)].into(),
            otherwise: std::sync::Arc::new(crate::ir::TRUE),
        },
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

    /// An OR of parts each folded already folds as folding the whole would: shared
    /// conjuncts factored out, equalities merged, nested ORs flattened, repeats dropped.
    #[test]
    fn an_or_of_folded_parts_folds_as_the_whole() {
        let parts = vec![
            Expr::and(vec![eq("k", "1"), eq("c", "10")]),
            Expr::and(vec![eq("k", "1"), list("c", &["8", "9"], false)]),
            Expr::or(vec![eq("n", "a"), eq("m", "x")]),
            eq("n", "b"),
            eq("n", "b"),
        ];
        let folded: Vec<Expr> = parts.iter().cloned().map(fold).collect();
        let whole = fold(Expr::or(parts));
        assert_eq!(fold_or_of_folded(folded.clone()), whole);
        assert_ne!(
            whole,
            Expr::or(folded),
            "the test's OR has something to fold"
        );
        assert_eq!(fold_or_of_folded(vec![eq("n", "a")]), eq("n", "a"));
        assert_eq!(fold_or_of_folded(vec![]), crate::ir::FALSE);
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

    /// Tests of one subject joined before folding (an OR chain of IOCs) give what folding
    /// each test and merging them after gives: with a per-class CASE shared by its copies
    /// or built twice, runs broken by other tests, lists, repeats, a value on the left,
    /// NULL, and `!=` under AND.
    #[test]
    fn chains_joined_before_folding_fold_as_merged_after() {
        let case = || Expr::Case {
            whens: vec![(eq("cat", "process"), Expr::col("target"))].into(),
            otherwise: Arc::new(Expr::col("name")),
        };
        let shared = case();
        let test =
            |subject: &Expr, op: CmpOp, v: &str| Expr::cmp(op, subject.clone(), Expr::str(v));
        let chain = |op: CmpOp| {
            let negated = op == CmpOp::Ne;
            vec![
                test(&shared, op, "a"),
                test(&shared, op, "b"),
                test(&case(), op, "c"),
                test(&shared, op, "a"),
                Expr::cmp(op, Expr::str("d"), shared.clone()),
                test(&Expr::col("m"), op, "x"),
                test(&shared, op, "e"),
                Expr::InList {
                    expr: Box::new(shared.clone()),
                    list: vec![Literal::Str("f".into()), Literal::Str("a".into())],
                    negated,
                },
                Expr::cmp(op, shared.clone(), Expr::Lit(Literal::Null)),
                test(&Expr::col("m"), op, "y"),
                test(&Expr::col("m"), op, "y"),
            ]
        };
        for (op, conj) in [(CmpOp::Eq, false), (CmpOp::Ne, true)] {
            let parts = chain(op);
            let merged_after = merge(distinct(parts.clone(), conj), conj);
            let (whole, merged_after) = if conj {
                (fold(Expr::And(parts)), merged_after)
            } else {
                (fold(Expr::Or(parts)), factor(merged_after))
            };
            assert_eq!(whole, merged_after);
            // The CASE's eight tests are one list of its six values.
            let lists = |e: &Expr| {
                let mut n = Vec::new();
                e.apply(|x| {
                    if let Expr::InList { list, .. } = x {
                        n.push(list.len());
                    }
                    Recursion::Continue
                });
                n
            };
            assert!(lists(&whole).contains(&6), "{whole:?}");
        }
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

    #[test]
    fn a_test_of_a_per_class_case_becomes_one_alternative_per_branch() {
        let k = eq("cat", "process");
        let case = Expr::Case {
            whens: vec![(k.clone(), Expr::col("target"))].into(),
            otherwise: std::sync::Arc::new(Expr::col("name")),
        };
        let e = Expr::And(vec![
            Expr::cmp(CmpOp::Eq, case.clone(), Expr::str("x")),
            eq("m", "y"),
        ]);
        let not_k = Expr::Or(vec![
            ne("cat", "process"),
            Expr::IsNull {
                expr: Box::new(Expr::col("cat")),
                negated: false,
            },
        ]);
        assert_eq!(
            split_cases(e),
            Expr::And(vec![
                // The branch of no class first; an equality before its guards.
                Expr::Or(vec![
                    Expr::And(vec![eq("name", "x"), not_k]),
                    Expr::And(vec![eq("target", "x"), k]),
                ]),
                eq("m", "y"),
            ])
        );
        // Under NOT, NULL and FALSE differ: left alone.
        let negated = Expr::Not(Box::new(Expr::cmp(CmpOp::Eq, case, Expr::str("x"))));
        assert_eq!(split_cases(negated.clone()), negated);
    }

    #[test]
    fn each_alternative_reads_its_cheapest_part_first() {
        let (k1, k2) = (eq("cat", "process"), eq("code", "8"));
        let case = Expr::Case {
            whens: vec![(k1.clone(), Expr::col("a")), (k2.clone(), Expr::col("b"))].into(),
            otherwise: std::sync::Arc::new(Expr::col("c")),
        };
        let denied = |c: &str, v: &str| {
            Expr::Or(vec![
                ne(c, v),
                Expr::IsNull {
                    expr: Box::new(Expr::col(c)),
                    negated: false,
                },
            ])
        };
        let over = |c: &str| Expr::cmp(CmpOp::Gt, Expr::col(c), Expr::str("5"));
        // A range: after a named branch's guards, and that branch's condition before the
        // denials of those before it; in the ELSE branch, before its denials.
        assert_eq!(
            split_cases(Expr::cmp(CmpOp::Gt, case.clone(), Expr::str("5"))),
            Expr::Or(vec![
                Expr::And(vec![
                    over("c"),
                    denied("cat", "process"),
                    denied("code", "8")
                ]),
                Expr::And(vec![k1.clone(), over("a")]),
                Expr::And(vec![k2.clone(), denied("cat", "process"), over("b")]),
            ])
        );
        // An identity's IS NOT NULL, which most rows pass: after the denials everywhere.
        let known = |c: &str| Expr::IsNull {
            expr: Box::new(Expr::col(c)),
            negated: true,
        };
        assert_eq!(
            split_cases(Expr::IsNull {
                expr: Box::new(case.clone()),
                negated: true,
            }),
            Expr::Or(vec![
                Expr::And(vec![
                    denied("cat", "process"),
                    denied("code", "8"),
                    known("c")
                ]),
                Expr::And(vec![k1.clone(), known("a")]),
                Expr::And(vec![k2.clone(), denied("cat", "process"), known("b")]),
            ])
        );
        // An IN list of a column: before them.
        let listed = |c: &str| list(c, &["x", "y"], false);
        assert_eq!(
            split_cases(Expr::InList {
                expr: Box::new(case),
                list: vec![Literal::Str("x".into()), Literal::Str("y".into())],
                negated: false,
            }),
            Expr::Or(vec![
                Expr::And(vec![
                    listed("c"),
                    denied("cat", "process"),
                    denied("code", "8")
                ]),
                Expr::And(vec![listed("a"), k1.clone()]),
                Expr::And(vec![listed("b"), k2, denied("cat", "process")]),
            ])
        );
        // A denial of several parts: each part's own denial, then their NULL tests.
        assert_eq!(
            not_true(&Expr::And(vec![k1, eq("code", "10")])),
            Expr::Or(vec![
                ne("cat", "process"),
                ne("code", "10"),
                Expr::IsNull {
                    expr: Box::new(Expr::col("cat")),
                    negated: false,
                },
                Expr::IsNull {
                    expr: Box::new(Expr::col("code")),
                    negated: false,
                },
            ])
        );
    }

    #[test]
    fn a_branch_without_the_attribute_gives_no_alternative() {
        let k = eq("cat", "process");
        let case = Expr::Case {
            whens: vec![(k.clone(), Expr::Lit(Literal::Null))].into(),
            otherwise: std::sync::Arc::new(Expr::col("name")),
        };
        let not_k = Expr::Or(vec![
            ne("cat", "process"),
            Expr::IsNull {
                expr: Box::new(Expr::col("cat")),
                negated: false,
            },
        ]);
        let like = Expr::Like {
            expr: Box::new(case.clone()),
            pattern: "%x%".into(),
            negated: false,
            escape: None,
        };
        // A pattern of a plain column in the ELSE branch: before its denials.
        assert_eq!(
            split_cases(like),
            Expr::And(vec![
                Expr::Like {
                    expr: Box::new(Expr::col("name")),
                    pattern: "%x%".into(),
                    negated: false,
                    escape: None,
                },
                not_k.clone(),
            ])
        );
        // IS NULL of the NULL branch is true there: that alternative stays.
        let is_null = Expr::IsNull {
            expr: Box::new(case),
            negated: false,
        };
        assert_eq!(
            split_cases(is_null),
            Expr::Or(vec![
                Expr::And(vec![
                    not_k,
                    Expr::IsNull {
                        expr: Box::new(Expr::col("name")),
                        negated: false,
                    }
                ]),
                Expr::And(vec![
                    k,
                    Expr::IsNull {
                        expr: Box::new(Expr::Lit(Literal::Null)),
                        negated: false,
                    }
                ]),
            ])
        );
    }

    #[test]
    fn shared_conjuncts_are_taken_out_of_alternatives() {
        let e = Expr::Or(vec![
            Expr::And(vec![eq("k", "1"), eq("c", "10")]),
            Expr::And(vec![eq("k", "1"), eq("c", "8")]),
        ]);
        assert_eq!(
            fold(e),
            Expr::And(vec![eq("k", "1"), list("c", &["10", "8"], false)])
        );
        // An alternative that is only the shared part absorbs the rest.
        let e = Expr::Or(vec![
            Expr::And(vec![eq("k", "1"), eq("c", "10")]),
            eq("k", "1"),
        ]);
        assert_eq!(fold(e), eq("k", "1"));
        // Nothing shared: left as it is.
        let e = Expr::Or(vec![
            Expr::And(vec![eq("k", "1"), eq("c", "10")]),
            Expr::And(vec![eq("k", "2"), eq("d", "8")]),
        ]);
        assert_eq!(fold(e.clone()), e);
        // Not shared by all, but an alternative on its own absorbs those that have it.
        let e = Expr::Or(vec![
            eq("k", "1"),
            Expr::And(vec![eq("d", "8"), eq("k", "1")]),
            eq("m", "2"),
        ]);
        assert_eq!(fold(e), Expr::Or(vec![eq("k", "1"), eq("m", "2")]));
    }

    #[test]
    fn comparisons_of_two_numbers_are_decided() {
        let n = |i: i64| Expr::Lit(Literal::Int(i));
        let e = Expr::Or(vec![
            Expr::And(vec![eq("k", "1"), Expr::cmp(CmpOp::Eq, n(0), n(1))]),
            Expr::And(vec![eq("c", "8"), Expr::cmp(CmpOp::Eq, n(1), n(1))]),
        ]);
        assert_eq!(fold(e), eq("c", "8"));
        assert_eq!(fold(Expr::cmp(CmpOp::Lt, n(2), n(1))), crate::ir::FALSE);
    }

    #[test]
    fn repeated_conjuncts_and_nested_chains_collapse() {
        let e = Expr::And(vec![
            eq("a", "1"),
            Expr::And(vec![eq("b", "2"), eq("a", "1")]),
        ]);
        assert_eq!(fold(e), Expr::And(vec![eq("a", "1"), eq("b", "2")]));
    }
}
