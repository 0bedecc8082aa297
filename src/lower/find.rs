//! FIND: entities related to a variable's, read from the events that relate them.
//!
//! `x = FIND T REL v` — x are subjects of type T of relation REL whose objects are in v;
//! `x = FIND T REL BY v` — x are objects of type T whose subjects are in v.
//! A relation (from `relations.yaml`) says in which event classes and at which slots the
//! two sides sit. The events are the rows of v's data source whose other-side identity is
//! in v (a semi-join); x is projected from this side's slot:
//!
//! ```text
//! kids = FIND process CREATED BY procs        (process_activity: actor.process → process)
//! Project process.* AS kid attributes
//!   Filter class = process_activity AND actor.process.uid IN (SELECT uid FROM procs)
//!     Scan events
//! ```

use crate::diag::{Code, Diagnostic};
use crate::ir::{Expr, Plan, RelId};
use crate::model::{EntityKind, RelationDef, EVENT_SLOT};
use crate::source::Span;
use crate::syntax::ast::{self, Ident};

use super::attr::Ctx;
use super::{Lowerer, NewRelation};

impl Lowerer<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn find(
        &mut self,
        entity: &Ident,
        relation: &Ident,
        by: bool,
        var: &Ident,
        pattern: Option<&ast::Pattern>,
        time: Option<&ast::TimeRange>,
        limit: Option<(u64, Span)>,
    ) -> Result<NewRelation, Diagnostic> {
        let target = self.entity_name(entity)?;
        let rel = self.var(var)?;
        let their = self.info(rel);
        // A relation's type `event` stands for any event type on the variable's side
        // (`FIND process ORIGINATED regvals`, regvals holding registry_value_activity).
        let their_is_event = self
            .model
            .entity(&their.entity)
            .is_some_and(|d| d.kind == EntityKind::Event);
        let theirs = |t: &str| t == their.entity || (t == "event" && their_is_event);
        let candidates: Vec<RelationDef> = self
            .model
            .relations_named(&relation.name)
            .filter(|r| {
                if by {
                    theirs(&r.subject) && r.object == target
                } else {
                    r.subject == target && theirs(&r.object)
                }
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            return Err(self.no_relation(&target, relation, by, var, &their.entity));
        }
        let Some(source) = their.source else {
            return Err(Diagnostic::error(
                Code::UnknownDataSource,
                format!(
                    "`{}` did not come from a data source, so FIND has nowhere to look",
                    var.name
                ),
            )
            .at(var.span)
            .help("FIND reads the data source the variable's entities were retrieved from"));
        };
        let model = self.model;
        let def = model
            .entity(&target)
            .ok_or_else(|| Diagnostic::internal("entity without definition"))?;
        let mut branches = Vec::new();
        let mut columns: Option<Vec<String>> = None;
        // One branch per (relation, event class the mapping knows): with the class fixed,
        // every attribute maps to one column and needs no per-row CASE.
        let mut reads: Vec<(&RelationDef, Option<String>)> = Vec::new();
        for r in &candidates {
            if r.classes.is_empty() {
                reads.push((r, None));
            } else {
                for c in &r.classes {
                    if self.mapping_knows_class(source, c) {
                        reads.push((r, Some(c.clone())));
                    }
                }
            }
        }
        if reads.is_empty() {
            let classes: Vec<String> = candidates.iter().flat_map(|r| r.classes.clone()).collect();
            return Err(Diagnostic::error(
                Code::UnknownRelation,
                format!(
                    "data source `{}` has no events that relate {} and {}",
                    self.sources[source].name, their.entity, target
                ),
            )
            .at(relation.span)
            .help(format!(
                "mapping `{}` knows none of the event classes {}",
                self.sources[source].mapping,
                classes.join(", ")
            )));
        }
        let span = self.span_of_references(pattern, time)?;
        // Per branch: the rows, their filters, and what to project (None: the rows whole).
        let mut pending: Vec<(Plan, Vec<Expr>, Option<super::Columns>)> = Vec::new();
        for (r, class) in reads {
            let (my_slot, their_slot) = if by {
                (r.object_slot.as_str(), r.subject_slot.as_str())
            } else {
                (r.subject_slot.as_str(), r.object_slot.as_str())
            };
            let mut preds = Vec::new();
            if let Some(c) = &class {
                preds.push(self.class_pred(source, c));
            }
            let rows = if their_slot == EVENT_SLOT && their.kind == EntityKind::Event {
                // The related events are v's own records.
                Plan::Rel(rel)
            } else {
                preds.push(self.link(
                    source,
                    rel,
                    &their.entity,
                    their_slot,
                    class.as_deref(),
                    var,
                )?);
                Plan::Scan { source }
            };
            let ctx = Ctx::Rows {
                source,
                entity: target.clone(),
                slot: my_slot.to_string(),
                class: class.clone(),
            };
            if let Some(p) = pattern {
                preds.push(self.pattern(&ctx, p)?);
            }
            if let Some(t) = time {
                preds.push(self.time_filter(source, t)?);
            } else if let Some((start, stop)) = span {
                if let Ok(f) = self.bounds_filter(source, start, stop, relation.span) {
                    preds.push(f);
                }
            }
            if def.kind == EntityKind::Entity {
                let cols = self.entity_columns(source, &target, my_slot, class.as_deref())?;
                let names: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
                columns = Some(match columns {
                    None => names,
                    Some(prev) => prev.into_iter().filter(|c| names.contains(c)).collect(),
                });
                pending.push((rows, preds, Some(cols)));
            } else {
                let cols = self.event_columns(source, class.as_deref());
                columns = cols
                    .as_ref()
                    .map(|cs| cs.iter().map(|(n, _)| n.clone()).collect());
                pending.push((rows, preds, cols));
            }
        }
        // A record whose slot holds no entity (every identity attribute NULL) gives none.
        for (rows, mut preds, cols) in pending {
            if let (Some(cols), Some(columns)) = (&cols, &columns) {
                if def.kind == EntityKind::Entity {
                    if let Some(p) =
                        self.identity_present(&target, Some(source), columns, cols, &preds)
                    {
                        preds.push(p);
                    }
                }
            }
            let plan = rows.filter(Expr::and(preds));
            branches.push(match cols {
                Some(cols) => plan.project(cols),
                None => plan,
            });
        }
        let plan = super::union_limited(branches, columns.as_deref(), limit);
        Ok(NewRelation {
            entity: target,
            kind: def.kind,
            plan,
            columns,
            source: Some(source),
            command: "find",
            depends_on: vec![their.var.clone()],
        })
    }

    /// `identity(their slot) IN (SELECT identity FROM v)`, with the first identity set of
    /// the type that both v and the events have. Where their slot is the event itself (a
    /// connection), each set both have that shares no attribute with a better one is an
    /// alternative (`4-tuple IN (…) OR (record id, host) IN (…)`): a record that lacks
    /// part of its 4-tuple is related by its own id, which names only that record.
    fn link(
        &self,
        source: usize,
        rel: RelId,
        entity: &str,
        slot: &str,
        class: Option<&str>,
        var: &Ident,
    ) -> Result<Expr, Diagnostic> {
        let r = &self.relations[rel.0];
        let def = self
            .model
            .entity(entity)
            .ok_or_else(|| Diagnostic::internal("entity without definition"))?;
        let columns = r.columns.clone().unwrap_or_default();
        let context = |attr: &str| -> Option<String> {
            def.context.iter().find_map(|(c, e)| {
                attr.strip_prefix(&format!("{c}."))
                    .map(|rest| format!("{e}.{rest}"))
            })
        };
        let sets = self.identity_sets(entity, Some(source));
        let mut links: Vec<Expr> = Vec::new();
        let mut linked: Vec<&String> = Vec::new();
        for set in sets {
            if !set.iter().all(|a| columns.contains(a)) {
                continue;
            }
            if set.iter().any(|a| linked.contains(&a)) {
                continue;
            }
            let exprs: Option<Vec<Expr>> = set
                .iter()
                .map(|a| {
                    let path = if slot == EVENT_SLOT {
                        a.clone()
                    } else {
                        format!("{slot}.{a}")
                    };
                    self.event_path(source, &path, class)
                        .or_else(|| context(a).and_then(|p| self.event_path(source, &p, class)))
                })
                .collect();
            if let Some(exprs) = exprs {
                links.push(Expr::InRel {
                    exprs,
                    rel,
                    cols: set.clone(),
                    negated: false,
                });
                if slot != EVENT_SLOT {
                    break;
                }
                linked.extend(set);
            }
        }
        if !links.is_empty() {
            return Ok(Expr::or(links));
        }
        let sets: Vec<String> = sets.iter().map(|s| s.join(" + ")).collect();
        Err(Diagnostic::error(
            Code::UnknownAttribute,
            format!(
                "cannot tell which events relate to the {entity} entities in `{}`",
                var.name
            ),
        )
        .at(var.span)
        .label("no identity attribute in common")
        .note(format!(
            "a {entity} is identified by {}; `{}` has {}",
            if sets.is_empty() {
                "nothing".to_string()
            } else {
                sets.join(", or ")
            },
            var.name,
            if columns.is_empty() {
                "no attributes".to_string()
            } else {
                columns.join(", ")
            }
        ))
        .help(format!(
            "data source `{}` must map those attributes at `{slot}`",
            self.sources[source].name
        )))
    }

    fn no_relation(
        &self,
        target: &str,
        relation: &Ident,
        by: bool,
        var: &Ident,
        their: &str,
    ) -> Diagnostic {
        // Every form FIND could take with these types, then every relation there is.
        let mut forms: Vec<String> = Vec::new();
        for r in &self.model.relations {
            if r.subject == target && r.object == their {
                forms.push(format!("FIND {target} {} {}", r.relation, var.name));
            }
            if r.object == target && r.subject == their {
                forms.push(format!("FIND {target} {} BY {}", r.relation, var.name));
            }
        }
        forms.dedup();
        let known = self
            .model
            .relations
            .iter()
            .any(|r| r.relation.eq_ignore_ascii_case(&relation.name));
        let written = format!(
            "{target} {}{} {their}",
            relation.name.to_uppercase(),
            if by { " BY" } else { "" }
        );
        let mut d = Diagnostic::error(
            Code::UnknownRelation,
            if known {
                format!("unsupported relation: {written}")
            } else {
                format!("unknown relation `{}`", relation.name)
            },
        )
        .at(relation.span)
        .label(format!("no such relation between {target} and {their}"));
        d = if forms.is_empty() {
            let mut all: Vec<String> = self
                .model
                .relations
                .iter()
                .map(|r| format!("{} {} {}", r.subject, r.relation, r.object))
                .collect();
            all.dedup();
            d.help(format!("relations that exist: {}", all.join("; ")))
        } else {
            d.help(format!("possible here: {}", forms.join("; ")))
        };
        d
    }
}
