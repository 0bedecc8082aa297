//! `EVENTS 'Process Activity: Launch'` (or `EVENTS 100701`, or a list of types): the record
//! is an event of one of these OCSF types, as its data source classifies rows.
//!
//! In: the term's types as written (OCSF `type_name` or `type_uid`) and the rows being
//! read. Out: a predicate on the table's own columns, the way a test of `type_uid` lowers
//! (no value computed per row):
//!
//! ```text
//! winevent  EVENTS 'Process Activity: Launch'
//!   ──▶ (Channel = 'Microsoft-Windows-Sysmon/Operational' AND EventID = 1)
//!       OR (Channel IN ('Security', 'security') AND EventID = 4688)
//! ocsf      EVENTS 100701  ──▶  type_uid = 100701
//! ```
//!
//! Per type, where the layout classifies rows (`classification:`): the rows it gives that
//! type; where the table can give no row that type but records the class and not the
//! activity (ECS without `event.type`), the class's rows of unknown activity, which may be
//! such events; otherwise none. Where the layout classifies nothing, the table's own
//! `type_uid` column (OCSF tables), else its `class_uid` and `activity_id`; a table with
//! none of these cannot tell events apart and holds one kind of event: every row passes.
//! On a variable (rows already read) the term is an error: its records' types are its
//! `type_uid` attribute where it has one.

use crate::diag::{suggest, Code, Diagnostic};
use crate::ir::{CmpOp as IrCmp, Expr, Literal};
use crate::model::{Classified, EVENT_SLOT};
use crate::source::Span;
use crate::syntax::ast::EventType;

use super::attr::Ctx;
use super::Lowerer;

impl Lowerer<'_> {
    /// The predicate of `EVENTS types` over the rows of `ctx`.
    pub(super) fn events(
        &mut self,
        ctx: &Ctx,
        types: &[EventType],
        span: Span,
    ) -> Result<Expr, Diagnostic> {
        let types = types
            .iter()
            .map(|t| self.event_type(t))
            .collect::<Result<Vec<_>, _>>()?;
        let source = match ctx {
            Ctx::Rows { source, .. } => *source,
            Ctx::Var(rel) => {
                let info = self.info(*rel);
                return Err(Diagnostic::error(
                    Code::BadValue,
                    format!(
                        "EVENTS tests records as a data source classifies them, and `{}` is a \
                         variable ({} records read already)",
                        info.var, info.entity
                    ),
                )
                .at(span)
                .label("not on a variable's records")
                .help(
                    "use EVENTS in a GET from a data source; a variable of events has \
                     `type_uid` to compare",
                ));
            }
        };
        Ok(self.events_of(source, &types))
    }

    /// The OCSF event type a hunt names, or an error at it.
    fn event_type(&self, t: &EventType) -> Result<Classified, Diagnostic> {
        let found = match t {
            EventType::Name(n, _) => self.model.event_type_named(n),
            EventType::Uid(u, _) => self.model.event_type_uid(*u),
        };
        if let Some(c) = found {
            return Ok(c);
        }
        let names: Vec<String> = self.model.event_types().map(|c| c.type_name()).collect();
        let (what, help) = match t {
            EventType::Name(n, _) => (
                format!("`{n}`"),
                suggest(n, names.iter().map(String::as_str))
                    .or_else(|| {
                        // 'Process Launch': the one type whose name has every word written.
                        let words = |t: &str| -> Vec<String> {
                            t.split(|c: char| c.is_whitespace() || c == ':')
                                .filter(|w| !w.is_empty())
                                .map(str::to_ascii_lowercase)
                                .collect()
                        };
                        let written = words(n);
                        let mut all = names.iter().filter(|t| {
                            let have = words(t);
                            !written.is_empty() && written.iter().all(|w| have.contains(w))
                        });
                        match (all.next(), all.next()) {
                            (Some(one), None) => Some(one.as_str()),
                            _ => None,
                        }
                    })
                    .map(|s| format!("did you mean '{s}'?")),
            ),
            EventType::Uid(u, _) => {
                // A known class with an activity OCSF does not define: its activities.
                let of_class: Vec<String> = self
                    .model
                    .event_types()
                    .filter(|c| c.class_uid == u / 100)
                    .map(|c| format!("{} {}", c.type_uid(), c.activity_name))
                    .collect();
                let class = self
                    .model
                    .event_types()
                    .find(|c| c.class_uid == u / 100 && *u >= 100)
                    .map(|c| c.class_name);
                (
                    u.to_string(),
                    class.map(|c| format!("the types of {c}: {}", of_class.join(", "))),
                )
            }
        };
        let d = Diagnostic::error(Code::BadValue, format!("unknown OCSF event type {what}"))
            .at(t.span())
            .label("not a type_name or type_uid of the classes Kestrel knows");
        Err(d.help(help.unwrap_or_else(|| {
            "name a type as OCSF does, 'Class: Activity' ('Process Activity: Launch'), or its \
             type_uid (100701); mappings/classification.yaml lists the classes and their \
             activities"
                .to_string()
        })))
    }

    /// Rows of a source that are events of one of `types` (see the module's comment).
    fn events_of(&mut self, source: usize, types: &[Classified]) -> Expr {
        let cases = self.classification_cases(source, None);
        if !cases.is_empty() {
            let mut preds = Vec::new();
            for t in types {
                let pick = |keep: &dyn Fn(&Classified) -> bool| -> Vec<Expr> {
                    cases
                        .iter()
                        .filter(|(_, c)| keep(c))
                        .map(|(p, _)| p.clone())
                        .collect()
                };
                let mut exact = pick(&|c| c.type_uid() == t.type_uid());
                if exact.is_empty() {
                    exact = pick(&|c| c.class_uid == t.class_uid && c.activity_id == 0);
                }
                preds.extend(exact);
            }
            return crate::opt::fold::fold(Expr::or(preds));
        }
        // A layout without classification rules: the table's own OCSF columns.
        let event = Ctx::Rows {
            source,
            entity: "event".into(),
            slot: EVENT_SLOT.into(),
            class: None,
        };
        let column = |this: &mut Self, name: &str| {
            let a = crate::syntax::ast::AttrPath {
                entity: None,
                path: name.into(),
                span: Span::default(),
            };
            this.attr(&event, &a).ok()
        };
        // Numbers as the column holds them (an OCSF table written as text has '100701').
        let typed =
            |this: &mut Self, col: &Expr, n: i64| this.typed_literal(&event, col, Literal::Int(n));
        if let Some(col) = column(self, "type_uid") {
            let list = types
                .iter()
                .map(|t| typed(self, &col, t.type_uid()))
                .collect();
            return crate::opt::fold::fold(Expr::InList {
                expr: Box::new(col),
                list,
                negated: false,
            });
        }
        if let (Some(class), Some(activity)) =
            (column(self, "class_uid"), column(self, "activity_id"))
        {
            let mut alternatives = Vec::new();
            for t in types {
                let c = Expr::Lit(typed(self, &class, t.class_uid));
                let a = Expr::Lit(typed(self, &activity, t.activity_id));
                alternatives.push(Expr::and(vec![
                    Expr::cmp(IrCmp::Eq, class.clone(), c),
                    Expr::cmp(IrCmp::Eq, activity.clone(), a),
                ]));
            }
            return crate::opt::fold::fold(Expr::or(alternatives));
        }
        crate::ir::TRUE
    }
}
