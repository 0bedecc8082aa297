//! GROUP: `g = GROUP v BY a, BIN(ts, 5m) [WITH COUNT(x) AS n, …]` to an Aggregate.
//!
//! Keys keep the variable's attribute names (a BIN key is named after its attribute and
//! holds the start of each bucket). Without WITH every other attribute of `v` becomes
//! `unique_<attr>` (its number of distinct values); an aggregate without AS is named
//! `<func>_<attr>` in lower case.
//!
//! ```text
//! g = GROUP procs BY name WITH COUNT(pid) AS n
//! Aggregate by [name := name] with [n := Count(pid)]
//!   Rel procs
//! ```

use crate::diag::{Code, Diagnostic};
use crate::ir::{AggFunc, Expr, Func, Literal, Plan, RelId};
use crate::source::Span;
use crate::syntax::ast::{self, Aggregate, GroupKey, Ident};

use super::{Lowerer, NewRelation};

impl Lowerer<'_> {
    pub(super) fn group(
        &mut self,
        var: &Ident,
        by: &[GroupKey],
        aggs: &[Aggregate],
    ) -> Result<NewRelation, Diagnostic> {
        let rel = self.var(var)?;
        let mut keys: Vec<(String, Expr)> = Vec::new();
        for k in by {
            let (name, expr) = self.group_key(rel, k)?;
            if keys.iter().any(|(n, _)| *n == name) {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    format!("`{name}` is grouped by twice"),
                )
                .at(key_span(k)));
            }
            keys.push((name, expr));
        }
        let mut out: Vec<(String, AggFunc, Expr)> = Vec::new();
        if aggs.is_empty() {
            let r = self.rel(rel);
            let key_cols: Vec<&Expr> = keys.iter().map(|(_, e)| e).collect();
            let others: Vec<String> = r
                .columns
                .iter()
                .flatten()
                .filter(|c| !key_cols.iter().any(|k| **k == Expr::col(c.as_str())))
                .cloned()
                .collect();
            for c in others {
                out.push((format!("unique_{c}"), AggFunc::CountDistinct, Expr::col(c)));
            }
        }
        for a in aggs {
            let func = agg_func(&a.func)?;
            let expr = self.var_attr(rel, &a.attr)?;
            let name = match &a.alias {
                Some(alias) => alias.name.clone(),
                None => format!(
                    "{}_{}",
                    a.func.name.to_ascii_lowercase(),
                    column_name(&expr, &a.attr)
                ),
            };
            if keys.iter().any(|(n, _)| *n == name) || out.iter().any(|(n, _, _)| *n == name) {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    format!("two columns of the result would be called `{name}`"),
                )
                .at(a.alias.as_ref().map_or(a.span, |x| x.span))
                .help("give this aggregate another name with AS"));
            }
            out.push((name, func, expr));
        }
        let columns: Vec<String> = keys
            .iter()
            .map(|(n, _)| n.clone())
            .chain(out.iter().map(|(n, _, _)| n.clone()))
            .collect();
        let r = self.rel(rel);
        Ok(NewRelation {
            entity: r.entity.clone(),
            kind: r.kind,
            plan: Plan::Aggregate {
                input: Box::new(Plan::Rel(rel)),
                keys,
                aggs: out,
            },
            columns: Some(columns),
            // Groups are summaries, not records of a data source.
            source: None,
            command: "group",
            depends_on: vec![r.var.clone()],
        })
    }

    fn group_key(&mut self, rel: RelId, k: &GroupKey) -> Result<(String, Expr), Diagnostic> {
        match k {
            GroupKey::Attr(a) => {
                let e = self.var_attr(rel, a)?;
                Ok((column_name(&e, a), e))
            }
            GroupKey::Bin {
                attr,
                size,
                unit,
                span,
            } => {
                let e = self.var_attr(rel, attr)?;
                if *size <= 0 {
                    return Err(
                        Diagnostic::error(Code::BadValue, "BIN needs a positive size")
                            .at(*span)
                            .help("e.g. BIN(pid, 100) or BIN(first_observed, 5m)"),
                    );
                }
                let (func, n) = match unit {
                    None => (Func::BinNumber, *size),
                    Some(u) => {
                        let secs = unit_seconds(u)?;
                        let n = size.checked_mul(secs).ok_or_else(|| {
                            Diagnostic::error(Code::BadValue, "BIN size too large").at(*span)
                        })?;
                        // Times kept as epoch seconds (`timestamp_format: "%s"`) are numbers.
                        if self.epoch_seconds(rel, &e) {
                            (Func::BinNumber, n)
                        } else {
                            (Func::BinTime, n)
                        }
                    }
                };
                Ok((
                    column_name(&e, attr),
                    Expr::Func {
                        func,
                        args: vec![e, Expr::Lit(Literal::Int(n))],
                    },
                ))
            }
        }
    }
}

impl Lowerer<'_> {
    /// Whether `e` over `rel` is a data source timestamp kept as epoch seconds.
    fn epoch_seconds(&self, rel: RelId, e: &Expr) -> bool {
        let r = self.rel(rel);
        let Some(ds) = r.source.map(|s| &self.sources[s]) else {
            return false;
        };
        let Expr::Col(c) = e else {
            return false;
        };
        ds.timestamp_format == "%s"
            && (c == super::stamp::FIRST_OBSERVED || ds.timestamp.as_deref() == Some(c.as_str()))
    }
}

fn key_span(k: &GroupKey) -> Span {
    match k {
        GroupKey::Attr(a) => a.span,
        GroupKey::Bin { span, .. } => *span,
    }
}

/// The name a column of the result gets: the variable's attribute name where it is a
/// plain attribute, else the attribute as written.
fn column_name(e: &Expr, a: &ast::AttrPath) -> String {
    match e {
        Expr::Col(c) => c.clone(),
        _ => a.path.clone(),
    }
}

fn unit_seconds(u: &Ident) -> Result<i64, Diagnostic> {
    match u.name.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => Ok(86_400),
        "h" | "hour" | "hours" => Ok(3_600),
        "m" | "min" | "minute" | "minutes" => Ok(60),
        "s" | "sec" | "second" | "seconds" => Ok(1),
        _ => Err(Diagnostic::error(
            Code::BadValue,
            format!("`{}` is not a unit of time", u.name),
        )
        .at(u.span)
        .help("BIN takes d, h, m or s: BIN(first_observed, 5m)")),
    }
}

fn agg_func(f: &Ident) -> Result<AggFunc, Diagnostic> {
    Ok(match f.name.to_ascii_uppercase().as_str() {
        "COUNT" => AggFunc::Count,
        "NUNIQUE" => AggFunc::CountDistinct,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        "SUM" => AggFunc::Sum,
        "AVG" | "MEAN" => AggFunc::Avg,
        _ => {
            return Err(Diagnostic::error(
                Code::BadValue,
                format!("`{}` is not an aggregate function", f.name),
            )
            .at(f.span)
            .help("GROUP … WITH takes COUNT, NUNIQUE, MIN, MAX, SUM or AVG"))
        }
    })
}
