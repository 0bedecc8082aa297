//! The time range of a statement that gives none but references other variables:
//! `b = GET process FROM x WHERE pid = a.pid` searches from the earliest to the latest
//! time of `a`'s records, widened by `language.timerange_start_offset` and
//! `timerange_stop_offset` (seconds; -300 and +300 unless configured), as the original
//! Kestrel does.
//!
//! The span is a fact about the data, so it is measured while the hunt runs (the
//! [`Catalog`](super::Catalog) runs `MIN`/`MAX` of the referenced records' timestamps);
//! `compile` has no data and leaves such statements without a time bound.

use crate::diag::Diagnostic;
use crate::ir::{AggFunc, Expr, Plan};
use crate::syntax::ast::{self, Pattern};
use crate::value::Value;

use super::stamp::FIRST_OBSERVED;
use super::{time, Lowerer};

impl Lowerer<'_> {
    /// Start and stop (microseconds; stop exclusive) covering the records of every
    /// variable `pattern` references, widened by the configured offsets. None when
    /// nothing is referenced, nothing can be measured, or the records have no times.
    pub(super) fn reference_span(
        &mut self,
        pattern: &Pattern,
    ) -> Result<Option<(i64, i64)>, Diagnostic> {
        if self.catalog.is_none() {
            return Ok(None);
        }
        let mut vars = Vec::new();
        referenced(pattern, &mut vars);
        let mut span: Option<(i64, i64)> = None;
        for v in vars {
            let rel = self.var(v)?;
            // Variables without timestamps (NEW, LOAD, GROUP) do not narrow the search.
            let Ok((plan, _)) = self.timestamped(rel, v) else {
                continue;
            };
            let Some(source) = self.rel(rel).source else {
                continue;
            };
            let format = self.sources[source].timestamp_format.clone();
            let minmax = Plan::Aggregate {
                input: Box::new(plan),
                keys: Vec::new(),
                aggs: vec![
                    ("start".into(), AggFunc::Min, Expr::col(FIRST_OBSERVED)),
                    ("stop".into(), AggFunc::Max, Expr::col(FIRST_OBSERVED)),
                ],
            };
            let Some(catalog) = self.catalog.as_deref_mut() else {
                return Ok(None);
            };
            let Some((lo, hi)) = catalog.time_span(&self.sources, &self.relations, &minmax, rel)?
            else {
                continue;
            };
            let (Some(lo), Some(hi)) = (instant(&lo, &format), instant(&hi, &format)) else {
                continue;
            };
            span = Some(match span {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        let offsets = self.config.map(|c| c.language).unwrap_or_default();
        Ok(span.map(|(lo, hi)| {
            (
                lo.saturating_add(offsets.timerange_start_offset.saturating_mul(1_000_000)),
                // The latest record itself is inside: stop is exclusive.
                hi.saturating_add(offsets.timerange_stop_offset.saturating_mul(1_000_000))
                    .saturating_add(1),
            )
        }))
    }
}

/// A timestamp value as the database returned it, in microseconds since the epoch.
fn instant(v: &Value, format: &str) -> Option<i64> {
    match v {
        Value::Text(s) => time::parse_iso(s),
        Value::Int(secs) if format == "%s" => secs.checked_mul(1_000_000),
        Value::Float(secs) if format == "%s" => Some((secs * 1e6) as i64),
        _ => None,
    }
}

/// The variables a pattern references (`x IN v.attr`), each once, in order.
fn referenced<'p>(p: &'p Pattern, out: &mut Vec<&'p ast::Ident>) {
    match p {
        Pattern::And(a, b) | Pattern::Or(a, b) => {
            // Long chains are left-deep: walk the spine without recursing on it.
            let mut stack = vec![&**b, &**a];
            while let Some(q) = stack.pop() {
                match q {
                    Pattern::And(x, y) | Pattern::Or(x, y) => {
                        stack.push(y);
                        stack.push(x);
                    }
                    other => referenced(other, out),
                }
            }
        }
        Pattern::Not(inner, _) => referenced(inner, out),
        // A Sigma rule compares attributes with its own values only; EVENTS names types.
        Pattern::Sigma { .. } | Pattern::Events { .. } => {}
        Pattern::Cmp(c) => {
            if let Some(ast::Value::Ref { var, .. }) = &c.value {
                if !out.iter().any(|v| v.name == var.name) {
                    out.push(var);
                }
            }
        }
    }
}
