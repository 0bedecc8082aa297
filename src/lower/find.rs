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

use std::sync::Arc;

use crate::diag::{Code, Diagnostic};
use crate::ir::{Expr, Func, Plan, RelId};
use crate::model::{EntityDef, EntityKind, RelationDef, EVENT_SLOT};
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
        let in_hand = self.in_hand(rel, source);
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
            let mut linked = None;
            let mut rows = if their_slot == EVENT_SLOT && their.kind == EntityKind::Event {
                // The related events are v's own records.
                Plan::Rel(rel)
            } else {
                linked = Some(preds.len());
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
            if let (Some(at), Some(hand), Some(c)) = (linked, &in_hand, &class) {
                if hand.classes.contains(c) && hand.get.slot == their_slot {
                    let read =
                        self.read_in_hand(hand, source, &their.entity, c, &preds[at], &preds);
                    if let Some(read) = read {
                        // First: the GET's own conditions are what selects few records
                        // (SQLite tests conditions in the order written, and the class
                        // conditions are long).
                        preds.remove(at);
                        preds.insert(0, read);
                        self.read_in_hand.insert(rel.0);
                        if let Some(records) = hand.get.records {
                            if self.widen_records(records, &preds) {
                                rows = Plan::Rel(records);
                            }
                        }
                    }
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
                let cols = self.event_columns(source, class.as_deref(), self.derive);
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

    /// Whether FIND may read the records v's GET selects instead of semi-joining on v
    /// (see [`InHand`]): v is a GET from `source` that FIND can repeat, and the table's
    /// records are whole in some classes (its mapping's `whole_records`, unless its
    /// configuration says `whole_records: false`).
    fn in_hand(&self, rel: RelId, source: usize) -> Option<InHand> {
        let get = self.gets.get(&rel.0)?;
        if self
            .in_hand
            .as_ref()
            .is_some_and(|gets| !gets.contains(&rel.0))
        {
            return None;
        }
        let ds = &self.sources[source];
        let configured = self
            .config
            .and_then(|c| c.datasources.get(&ds.name))
            .and_then(|d| d.whole_records);
        let mapping = self.mappings.get(&ds.mapping)?;
        if configured == Some(false) || mapping.whole_records.is_empty() {
            return None;
        }
        // The entity's own fields: the columns under its object's prefix (ECS
        // `process.*`; not `user.*`, which some events fill with another user).
        let prefix = match mapping.object_columns.get(&get.slot)?.as_str() {
            "." => format!("{}.", get.slot),
            p => format!("{p}."),
        };
        Some(InHand {
            classes: mapping.whole_records.clone(),
            prefix,
            get: get.clone(),
        })
    }

    /// What replaces `link`, the semi-join on v in a FIND branch that reads records of
    /// `class` filtered by `preds`, to read the records in hand: v's pattern as records of
    /// that class hold it, and the identity the semi-join compares present. None where
    /// that might not give the semi-join's rows.
    fn read_in_hand(
        &mut self,
        hand: &InHand,
        source: usize,
        entity: &str,
        class: &str,
        link: &Expr,
        preds: &[Expr],
    ) -> Option<Expr> {
        let Expr::InRel {
            exprs,
            negated: false,
            ..
        } = link
        else {
            return None;
        };
        let theirs = Expr::and(preds.to_vec());
        let theirs = match &theirs {
            Expr::And(parts) => &parts[..],
            one => std::slice::from_ref(one),
        };
        // v's time range must be the FIND's too: records of one entity differ in time.
        if let Some(t) = &hand.get.time {
            match self.time_filter(source, t).ok()? {
                Expr::And(parts) if parts.iter().all(|p| theirs.contains(p)) => {}
                one if theirs.contains(&one) => {}
                _ => return None,
            }
        }
        let cond = match &hand.get.pattern {
            Some(p) => {
                let ctx = Ctx::Rows {
                    source,
                    entity: entity.to_string(),
                    slot: hand.get.slot.clone(),
                    class: Some(class.to_string()),
                };
                self.pattern(&ctx, p).ok()?
            }
            None => crate::ir::TRUE,
        };
        let mut read = Vec::new();
        cond.columns(&mut read);
        let mut unknown = false;
        cond.walk(&mut |e| unknown |= matches!(e, Expr::Lit(crate::ir::Literal::Null)));
        if unknown || !monotone(&cond, true) || !read.iter().all(|c| c.starts_with(&hand.prefix)) {
            return None;
        }
        let present = exprs.iter().map(|e| Expr::IsNull {
            expr: Box::new(e.clone()),
            negated: true,
        });
        Some(Expr::and([cond].into_iter().chain(present).collect()))
    }

    /// Makes the hidden relation `records` (`Scan → Filter(f)`, see
    /// [`super::LowerState::records_apart`]) hold the records a FIND branch filtered by
    /// `preds` reads too: `f OR preds`, their common conditions taken out, which is `f`
    /// itself where `preds` has all of f's (the usual case: the branch reads the GET's
    /// records of one class). Its GET filters it by `f` again, so it keeps its rows.
    /// False where it cannot: kept already, with a filter that lacks them.
    fn widen_records(&mut self, records: RelId, preds: &[Expr]) -> bool {
        let theirs = Expr::and(preds.to_vec());
        let r = &self.relations[records.0];
        match &r.plan {
            Plan::Filter { input, pred } if matches!(**input, Plan::Scan { .. }) => {
                let widened = either(pred, &theirs);
                if widened != *pred {
                    let plan = (**input).clone().filter(widened);
                    self.relations[records.0].plan = plan;
                }
                true
            }
            // Kept: with the filter the whole hunt's lowering gave it.
            _ => match self.records_of.get(&r.span.start) {
                Some(Some(f)) => either(f, &theirs) == *f,
                _ => false,
            },
        }
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

/// A GET from a data source, as FIND needs it to read the records the GET selects: the
/// entity's one slot, the GET's pattern and its time range. Only for a GET that reads its
/// table once: an entity of one slot and no event class, no LIMIT, no span of referenced
/// records.
#[derive(Debug, Clone)]
pub(super) struct GetSpec {
    slot: String,
    pattern: Option<Arc<ast::Pattern>>,
    time: Option<ast::TimeRange>,
    /// The hidden relation of the records the GET selects, where it keeps them apart
    /// (see [`super::LowerState::records_apart`]).
    pub(super) records: Option<RelId>,
}

impl GetSpec {
    /// The spec of a GET, if FIND could repeat it (its type standing for no event class
    /// is the caller's to check).
    pub(super) fn of(
        def: &EntityDef,
        pattern: Option<&Arc<ast::Pattern>>,
        time: Option<&ast::TimeRange>,
        span: Option<(i64, i64)>,
        limit: Option<(u64, Span)>,
    ) -> Option<GetSpec> {
        let [slot] = &def.slots[..] else {
            return None;
        };
        (def.kind == EntityKind::Entity && span.is_none() && limit.is_none()).then(|| GetSpec {
            slot: slot.clone(),
            pattern: pattern.cloned(),
            time: time.cloned(),
            records: None,
        })
    }
}

/// FIND from the records in hand. v = `GET e FROM t WHERE p` holds the records of t whose
/// e satisfies p. FIND semi-joins: the records of class c whose e is an entity of v. Where
/// t's records of class c are whole (one that names e's related entity carries every
/// field of e's own object that any record of e carries, with the same value), such a
/// record satisfies p as a record of class c reads it (p_c), since another record of its
/// entity satisfied p; and a record of class c that satisfies p_c, with e's identity
/// present, is itself one of v's records. So FIND selects the records with p_c instead
/// of the semi-join: one read of the table, and v need not be computed for it.
///
/// p_c must give TRUE on a record that carries more of e than one on which it gave TRUE:
/// comparisons, LIKE, IN and their negations give NULL on a missing value, and so never
/// change their mind when it is there; `IS NULL` does, and a pattern with one keeps the
/// semi-join ([`monotone`]). p_c may read only e's own fields, and v's time range must be
/// the FIND's too (records of one entity differ in time).
struct InHand {
    /// The event classes whose records are whole.
    classes: Vec<String>,
    /// The prefix of e's own fields' columns.
    prefix: String,
    get: GetSpec,
}

/// `a OR b`, folded as an OR (see [`crate::opt::fold::fold_or_of_folded`]): the
/// conditions both have taken out, `c AND (a' OR b')`, and just `c` where all of a's (or
/// of b's) conditions are common or one side's rest absorbs the other's.
fn either(a: &Expr, b: &Expr) -> Expr {
    crate::opt::fold::fold_or_of_folded(vec![a.clone(), b.clone()])
}

/// Whether `e`, TRUE on a record, stays TRUE on a record that has the same values and
/// more of them (`positive`: `e` is not under an odd number of NOTs).
fn monotone(e: &Expr, positive: bool) -> bool {
    match e {
        Expr::Col(_) | Expr::Lit(_) => true,
        Expr::Cmp { left, right, .. } => monotone(left, positive) && monotone(right, positive),
        Expr::Like { expr, .. } | Expr::Regex { expr, .. } | Expr::InList { expr, .. } => {
            monotone(expr, positive)
        }
        Expr::InRel { exprs, .. } => exprs.iter().all(|e| monotone(e, positive)),
        // `x IS NOT NULL` turns TRUE when x arrives; `x IS NULL` turns FALSE.
        Expr::IsNull { expr, negated } => *negated == positive && monotone(expr, positive),
        Expr::And(parts) | Expr::Or(parts) => parts.iter().all(|p| monotone(p, positive)),
        Expr::Not(inner) => monotone(inner, !positive),
        Expr::Func { func, args } => {
            matches!(
                func,
                Func::Basename | Func::Dirname | Func::Integer | Func::BinNumber | Func::BinTime
            ) && args.iter().all(|a| monotone(a, positive))
        }
        // A CASE may read a missing value as a choice of branch.
        Expr::Case { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::either;
    use crate::ir::Expr;

    fn present(c: &str) -> Expr {
        Expr::IsNull {
            expr: Box::new(Expr::col(c)),
            negated: true,
        }
    }

    #[test]
    fn either_takes_out_the_common_conditions_and_absorbs_the_narrower_side() {
        let (a, b, c, x, y) = (
            present("a"),
            present("b"),
            present("c"),
            present("x"),
            present("y"),
        );
        // The FIND's branch has all of the records' conditions: the records' filter.
        let f = Expr::and(vec![a.clone(), b.clone()]);
        assert_eq!(
            either(&f, &Expr::and(vec![a.clone(), b.clone(), c.clone()])),
            f
        );
        // Neither has all of the other's: the common part, then either rest.
        assert_eq!(
            either(&f, &Expr::and(vec![a.clone(), c.clone()])),
            Expr::and(vec![a.clone(), Expr::or(vec![b.clone(), c.clone()])])
        );
        // x OR y OR (x AND z) is x OR y: an identity present in the records' own terms.
        let f = Expr::and(vec![a.clone(), Expr::or(vec![x.clone(), y.clone()])]);
        let theirs = Expr::and(vec![a.clone(), x.clone(), c.clone()]);
        assert_eq!(either(&f, &theirs), f);
        // And the other way round.
        assert_eq!(either(&theirs, &f), f);
    }
}
