//! TIMESTAMPED(v): v's records with `first_observed`, the timestamp of the data-source
//! record each came from.
//!
//! A variable read from a data source is a projection of the source's rows (GET, FIND, or
//! expressions over them); TIMESTAMPED rebuilds its plan with the source's timestamp
//! column added to that projection, inlining the variables it was computed from:
//!
//! ```text
//! t = TIMESTAMPED(procs)               procs = GET process FROM …
//! Project name, pid, first_observed := @timestamp
//!   Filter …
//!     Scan events
//! ```
//!
//! Variables without records of a data source (NEW, LOAD, GROUP) have no timestamps.

use crate::diag::{Code, Diagnostic};
use crate::ir::{Expr, Plan, RelId, Relation};
use crate::model::EntityKind;

use super::Lowerer;

/// The attribute TIMESTAMPED adds.
pub const FIRST_OBSERVED: &str = "first_observed";

impl Lowerer<'_> {
    /// The plan and columns of `TIMESTAMPED(rel)`.
    pub(super) fn timestamped(
        &mut self,
        rel: RelId,
        var: &crate::syntax::ast::Ident,
    ) -> Result<(Plan, Vec<String>), Diagnostic> {
        let r = self.rel(rel).clone();
        let no_stamps = |why: String| {
            Diagnostic::error(
                Code::BadTime,
                format!("`{}` has no timestamps: {why}", var.name),
            )
            .at(var.span)
            .help("TIMESTAMPED takes a variable read from a data source with a `timestamp:` column")
        };
        let Some(source) = r.source else {
            return Err(no_stamps("it did not come from a data source".into()));
        };
        let ts = self.sources[source]
            .timestamp
            .clone()
            .filter(|c| {
                self.source_columns[source]
                    .as_ref()
                    .is_none_or(|cols| cols.contains(c))
            })
            .ok_or_else(|| {
                no_stamps(format!(
                    "data source `{}` has no timestamp column",
                    self.sources[source].name
                ))
            })?;
        let Some(columns) = r.columns.clone() else {
            return Err(no_stamps(
                "its attributes are not known before it runs (run the hunt, or pass --config)"
                    .into(),
            ));
        };
        if columns.iter().any(|c| c == FIRST_OBSERVED) {
            return Ok((Plan::Rel(rel), columns));
        }
        let plan = self
            .stamp(&Plan::Rel(rel), &ts)
            .ok_or_else(|| no_stamps("its records are not records of the data source".into()))?;
        let mut out = columns;
        out.push(FIRST_OBSERVED.to_string());
        Ok((plan, out))
    }

    fn stamp(&self, plan: &Plan, ts: &str) -> Option<Plan> {
        stamp_plan(&self.relations, plan, ts)
    }
}

/// `plan` with a `first_observed` column, when its rows come from source rows.
pub(crate) fn stamp_plan(rels: &[Relation], plan: &Plan, ts: &str) -> Option<Plan> {
    match plan {
        Plan::Project { input, cols } => {
            let mut cols = cols.clone();
            if native_rows(rels, input, ts) {
                cols.push((FIRST_OBSERVED.to_string(), Expr::col(ts)));
                Some(Plan::Project {
                    input: input.clone(),
                    cols,
                })
            } else {
                let inner = stamp_plan(rels, input, ts)?;
                cols.push((FIRST_OBSERVED.to_string(), Expr::col(FIRST_OBSERVED)));
                Some(inner.project(cols))
            }
        }
        // Row-wise operators keep the column their inputs gain.
        Plan::Filter { .. }
        | Plan::Sort { .. }
        | Plan::Limit { .. }
        | Plan::Distinct { .. }
        | Plan::Union { .. } => plan
            .map_children(|input| stamp_plan(rels, input, ts).ok_or(()))
            .ok(),
        Plan::Rel(id) => {
            let r = &rels[id.0];
            if r.kind == EntityKind::Event && native_rows(rels, plan, ts) {
                // Event records with native columns: add the timestamp beside them.
                let cols = r.columns.clone()?;
                let mut proj: Vec<(String, Expr)> =
                    cols.iter().map(|c| (c.clone(), Expr::col(c))).collect();
                proj.push((FIRST_OBSERVED.to_string(), Expr::col(ts)));
                Some(Plan::Rel(*id).project(proj))
            } else {
                stamp_plan(rels, &r.plan, ts)
            }
        }
        Plan::Scan { .. } | Plan::Values { .. } | Plan::Aggregate { .. } | Plan::Join { .. } => {
            None
        }
    }
}

/// Whether `plan`'s rows are a data source's rows with its native columns.
fn native_rows(rels: &[Relation], plan: &Plan, ts: &str) -> bool {
    match plan {
        Plan::Scan { .. } => true,
        Plan::Filter { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input } => native_rows(rels, input, ts),
        Plan::Rel(id) => {
            let r = &rels[id.0];
            r.kind == EntityKind::Event
                && r.source.is_some()
                && r.columns.as_ref().is_none_or(|c| c.iter().any(|x| x == ts))
                && rel_native(rels, &r.plan)
        }
        _ => false,
    }
}

/// An event variable's plan keeps native columns unless it projects them.
fn rel_native(rels: &[Relation], plan: &Plan) -> bool {
    match plan {
        Plan::Scan { .. } => true,
        Plan::Filter { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input } => rel_native(rels, input),
        Plan::Rel(id) => rel_native(rels, &rels[id.0].plan),
        Plan::Union { inputs } => inputs.iter().all(|p| rel_native(rels, p)),
        _ => false,
    }
}
