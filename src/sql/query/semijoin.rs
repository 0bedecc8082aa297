//! Semi-joins (`… IN (SELECT … FROM rel)`): the `EXISTS` rewrite of a tuple IN where the
//! dialect has none, and the relations worth materialising as CTEs.

use crate::fxhash::FxHashSet;
use sqlparser::ast::{self as sa, BinaryOperator, SetExpr};

use crate::diag::Diagnostic;
use crate::ir::{Expr, Plan, RelId};

use super::super::builders as b;
use super::block::Block;
use super::emitter::Emitter;
use super::expr::and_all;

impl Emitter<'_> {
    /// `(a, b) [NOT] IN (SELECT c, d FROM rel)` where the dialect has no tuple IN:
    /// `[NOT] EXISTS (SELECT 1 FROM rel AS k WHERE k.c = o.a AND k.d = o.b)`, with
    /// `a`, `b` not NULL under NOT (as NOT IN is never true for a NULL).
    pub(super) fn exists_rewrite(
        &mut self,
        exprs: &[Expr],
        rel: RelId,
        cols: &[String],
        negated: bool,
    ) -> Result<sa::Expr, Diagnostic> {
        let d = self.dialect;
        let outer = self
            .outer_alias
            .clone()
            .ok_or_else(|| Diagnostic::internal("a tuple IN outside a block with rows"))?;
        let inner = self.alias();
        let name = self.rel_name(rel);
        let saved = self.qualify.replace(outer);
        let mut outer_exprs = Vec::new();
        let mut err = None;
        for x in exprs {
            match self.operand(x) {
                Ok(e) => outer_exprs.push(e),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        self.qualify = saved;
        if let Some(e) = err {
            return Err(e);
        }
        let mut conds = Vec::new();
        for (c, o) in cols.iter().zip(outer_exprs.iter()) {
            let k = self.compared_value(b::qualified(&inner, b::ident(d, c)));
            conds.push(b::binary(k, BinaryOperator::Eq, o.clone()));
        }
        let sub = b::query(SetExpr::Select(Box::new(b::select(
            vec![b::select_item(b::number(1), None)],
            Some(b::table_as(d, &name, Some(inner))),
            Some(and_all(conds)),
            false,
            vec![],
        ))));
        let ex = b::exists(sub, negated);
        if !negated {
            return Ok(ex);
        }
        let mut parts = vec![ex];
        parts.extend(
            outer_exprs
                .into_iter()
                .map(|o| sa::Expr::IsNotNull(Box::new(o))),
        );
        Ok(b::nested(and_all(parts)))
    }
}

/// Whether a block's expressions hold an IN over several columns.
pub(super) fn blk_has_tuple_in(blk: &Block<'_>) -> bool {
    let mut found = false;
    let mut check = |e: &Expr| {
        e.walk(&mut |x| {
            if let Expr::InRel { exprs, .. } = x {
                found |= exprs.len() > 1;
            }
        })
    };
    blk.filter.iter().for_each(&mut check);
    if let Some(cols) = &blk.project {
        cols.iter().for_each(|(_, e)| check(e));
    }
    blk.order.iter().for_each(|(e, _)| check(e));
    found
}

/// Relations `plan` probes with `… IN (SELECT … FROM rel)`.
/// Relations a tuple semi-join (`(a, b) IN (SELECT …)`) probes. SQLite evaluates such a
/// subquery twice (once to drive an index on the first column, once to check the tuple),
/// so a chain of them costs 2^depth unless each step is materialised; a one-column `IN`
/// is evaluated once, and materialising it would only copy the rows.
pub(super) fn semijoin_targets(plan: &Plan, out: &mut FxHashSet<RelId>) {
    plan.for_each_expr(&mut |e| {
        e.walk(&mut |x| {
            if let Expr::InRel { rel, exprs, .. } = x {
                if exprs.len() > 1 {
                    out.insert(*rel);
                }
            }
        })
    });
}
