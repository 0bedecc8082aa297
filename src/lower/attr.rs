//! Attribute names: from what the hunt wrote to a column expression.
//!
//! Over rows of a table (or an event variable), an attribute is looked up in order:
//! 1. as an attribute of the entity being read, at its slot in the event
//!    (`name` of a process → OCSF `process.name` → ECS column `process.name`), after STIX
//!    spellings become OCSF (`parent_ref.name` → `parent_process.name`);
//! 2. as an event-level context attribute (`endpoint.hostname` → `device.hostname`);
//! 3. as an OCSF path from the event's root (`device.hostname`);
//! 4. where no mapping entry names the path: as the column the layout gives the entity's
//!    own path (`object_columns`: ECS `process.x_ttp_tags` for `process:x_ttp_tags`);
//! 5. as a native column of that name (`os.name`, `x_ttp_tags`).
//!
//! Events also have OCSF's classification (`class_uid`, `type_uid`, …), derived from the
//! mapping's `classification` rules as (condition, value) pairs over the table's columns
//! (`classification_cases`): a value is a CASE over them, a test (in `pattern.rs`) the
//! conditions of the values that pass.
//!
//! Over an entity variable, attributes are its columns (model names); over a variable of
//! whole events, what the mapping says first, then a column of that name.
//!
//! A column the catalog says is missing does not resolve; an attribute that resolves
//! nowhere is an error naming the data source and the columns looked for.

use crate::fxhash::{FxHashMap, FxHashSet};
use std::cell::RefCell;
use std::rc::Rc;

use crate::diag::{suggest, Code, Diagnostic};
use crate::ir::{Expr, Func, Literal, RelId};
use crate::model::{
    ClassRule, ClassificationRule, Classified, EntityKind, NativeRef, ScalarValue, Transform,
    CLASSIFICATION_ATTRIBUTES, EVENT_SLOT,
};
use crate::syntax::ast::AttrPath;

use super::Lowerer;

/// Where attribute names are resolved.
#[derive(Debug, Clone)]
pub(super) enum Ctx {
    /// Rows with native columns of a data source, looking at `entity` in `slot`, in rows
    /// of `class` (None: any class).
    Rows {
        source: usize,
        entity: String,
        slot: String,
        class: Option<String>,
    },
    /// Rows of a variable: columns are attribute names.
    Var(RelId),
}

impl Lowerer<'_> {
    fn has_column(&self, source: usize, column: &str) -> bool {
        match &self.source_column_sets[source] {
            Some(cols) => cols.contains(column),
            None => true,
        }
    }

    /// The first of `columns` the source has that is not NULL in a row (a CASE, which
    /// every dialect writes alike); None when the source has none of them.
    fn first_present<'a>(
        &self,
        source: usize,
        columns: impl IntoIterator<Item = &'a str>,
    ) -> Option<Expr> {
        self.first_present_as(source, columns, |e| e)
    }

    /// [`Self::first_present`], with `f` applied to each column's value.
    fn first_present_as<'a>(
        &self,
        source: usize,
        columns: impl IntoIterator<Item = &'a str>,
        f: impl Fn(Expr) -> Expr,
    ) -> Option<Expr> {
        let present: Vec<&str> = columns
            .into_iter()
            .filter(|c| self.has_column(source, c))
            .collect();
        let (last, rest) = present.split_last()?;
        if rest.is_empty() {
            return Some(f(Expr::col(*last)));
        }
        let whens = rest
            .iter()
            .map(|c| {
                (
                    Expr::IsNull {
                        expr: Box::new(Expr::col(*c)),
                        negated: true,
                    },
                    f(Expr::col(*c)),
                )
            })
            .collect();
        Some(Expr::case(whens, f(Expr::col(*last))))
    }

    /// The value a class rule's key (`EventID`, `Channel|log_name`) reads.
    fn rule_key(&self, source: usize, key: &str) -> Expr {
        self.first_present(source, crate::model::rule_key_columns(key))
            .unwrap_or(Expr::Lit(Literal::Null))
    }

    fn has_rule_key(&self, source: usize, key: &str) -> bool {
        crate::model::rule_key_columns(key).any(|c| self.has_column(source, c))
    }

    /// The expression for a native reference, if one of its columns exists.
    fn native(&self, source: usize, n: &NativeRef) -> Option<Expr> {
        let columns = || n.columns().iter().map(String::as_str);
        if let Some(Transform::Integer) = n.transform() {
            // Per column: one may hold numbers and another text (NXLog's `RecordNumber`,
            // Winlogbeat's `record_number`), which one CASE cannot merge on PostgreSQL.
            return self.first_present_as(source, columns(), |c| Expr::Func {
                func: Func::Integer,
                args: vec![c],
            });
        }
        let col = self.first_present(source, columns())?;
        Some(match n.transform() {
            None => col,
            Some(Transform::Basename) => Expr::Func {
                func: Func::Basename,
                args: vec![col],
            },
            Some(Transform::Dirname) => Expr::Func {
                func: Func::Dirname,
                args: vec![col],
            },
            Some(Transform::Integer) => Expr::Func {
                func: Func::Integer,
                args: vec![col],
            },
        })
    }

    /// An OCSF event path in rows of `class`, through the source's mapping. Where the
    /// mapping differs by class and no class is fixed, a CASE picks per row.
    pub(super) fn event_path(
        &self,
        source: usize,
        path: &str,
        class: Option<&str>,
    ) -> Option<Expr> {
        let mapping = self.mappings.get(&self.sources[source].mapping)?;
        if let Some(c) = class {
            return mapping
                .resolve(path, Some(c))
                .and_then(|n| self.native(source, n));
        }
        let general = mapping
            .attributes
            .get(path)
            .and_then(|n| self.native(source, n));
        let overrides: Vec<(&str, Option<Expr>)> = mapping
            .classes_overriding(path)
            .map(|c| {
                (
                    c,
                    mapping
                        .resolve(path, Some(c))
                        .and_then(|n| self.native(source, n)),
                )
            })
            .collect();
        self.per_class(source, general, overrides)
    }

    /// The column an OCSF event path that no mapping entry names reads, by the mapping's
    /// `object_columns` (ECS `process.x_ttp_tags`), in rows of `class` (None: a CASE
    /// where classes differ). None when the table has no such column.
    fn object_path(&self, source: usize, path: &str, class: Option<&str>) -> Option<Expr> {
        let mapping = self.mappings.get(&self.sources[source].mapping)?;
        let column = |c: Option<&str>| {
            mapping
                .object_column(path, c)
                .filter(|col| self.has_column(source, col))
                .map(Expr::col)
        };
        if class.is_some() {
            return column(class);
        }
        let overrides: Vec<(&str, Option<Expr>)> = mapping
            .classes_overriding_objects(path)
            .map(|c| (c, column(Some(c))))
            .collect();
        self.per_class(source, column(None), overrides)
    }

    /// A value read one way in general and other ways in some classes, as one expression:
    /// the general one where no class differs, else a CASE over the classes.
    fn per_class(
        &self,
        source: usize,
        general: Option<Expr>,
        overrides: Vec<(&str, Option<Expr>)>,
    ) -> Option<Expr> {
        if overrides.is_empty() {
            return general;
        }
        // Classes that read the attribute from the same column share one branch, and
        // classes that read it where every other row does need none: a row is of one
        // class only, so the branches' order does not matter.
        let otherwise = general.unwrap_or(Expr::Lit(Literal::Null));
        let mut whens: Vec<(Vec<&str>, Expr)> = Vec::new();
        for (c, value) in overrides {
            let value = value.unwrap_or(Expr::Lit(Literal::Null));
            if value == otherwise {
                continue;
            }
            match whens.iter_mut().find(|(_, v)| *v == value) {
                Some((classes, _)) => classes.push(c),
                None => whens.push((vec![c], value)),
            }
        }
        let whens = whens
            .into_iter()
            .map(|(classes, v)| {
                let pred = match classes[..] {
                    [c] => self.class_pred(source, c),
                    _ => crate::opt::fold::fold(Expr::or(
                        classes.iter().map(|c| self.class_pred(source, c)).collect(),
                    )),
                };
                (pred, v)
            })
            .collect();
        let expr = Expr::case(whens, otherwise);
        (expr != Expr::Lit(Literal::Null)).then_some(expr)
    }

    /// A predicate true for rows of event class `class` in a source: the first matching
    /// rule of the mapping decides; rows no rule places are the default class. Rules whose
    /// columns the table lacks never match.
    pub(super) fn class_pred(&self, source: usize, class: &str) -> Expr {
        // Folded once here: it is copied into every per-class CASE and filter.
        memoized(&self.memo.class_preds, (source, class.to_string()), || {
            crate::opt::fold::fold(self.class_pred_uncached(source, class))
        })
    }

    fn class_pred_uncached(&self, source: usize, class: &str) -> Expr {
        let Some(mapping) = self.mappings.get(&self.sources[source].mapping) else {
            return crate::ir::TRUE;
        };
        let rules: Vec<_> = mapping
            .classes
            .iter()
            .filter(|r| r.matches.keys().all(|c| self.has_rule_key(source, c)))
            .collect();
        let matches = |r: &ClassRule| {
            Expr::and(
                r.matches
                    .iter()
                    .map(|(col, vals)| in_values(self.rule_key(source, col), vals, false))
                    .collect(),
            )
        };
        // NULL-safe "`rule` does not match" for rows that match `given` (if any): a NULL
        // column matches no rule, and a column `given` pins to values of `rule` cannot
        // be what makes `rule` fail.
        let not_matches = |rule: &ClassRule, given: Option<&ClassRule>| {
            Expr::or(
                rule.matches
                    .iter()
                    .filter(|(col, vals)| {
                        !given
                            .and_then(|g| g.matches.get(*col))
                            .is_some_and(|pinned| pinned.iter().all(|v| vals.contains(v)))
                    })
                    .map(|(col, vals)| {
                        Expr::or(vec![
                            Expr::IsNull {
                                expr: Box::new(self.rule_key(source, col)),
                                negated: false,
                            },
                            in_values(self.rule_key(source, col), vals, true),
                        ])
                    })
                    .collect(),
            )
        };
        // Rules that require different values of a shared column cannot both match, so
        // "not an earlier rule" is implied and left out.
        let disjoint = |a: &ClassRule, b: &ClassRule| {
            a.matches.iter().any(|(col, vals)| {
                b.matches
                    .get(col)
                    .is_some_and(|other| vals.iter().all(|v| !other.contains(v)))
            })
        };
        let mut alternatives = Vec::new();
        // The default class: rows no other class's rule matches (rows matching a rule of
        // this class are in already). A rule implied by a more general one (a refinement
        // `file` + `creation` of `file`) adds nothing to "matches none".
        let mut default_rules: Vec<&ClassRule> = Vec::new();
        let mut by_column: indexmap::IndexMap<&str, Vec<ScalarValue>> = indexmap::IndexMap::new();
        let is_default = mapping.default_class.as_deref() == Some(class);
        if is_default {
            let others: Vec<&ClassRule> =
                rules.iter().copied().filter(|r| r.class != class).collect();
            let general = others.iter().enumerate().filter(|(i, r)| {
                !others
                    .iter()
                    .enumerate()
                    .any(|(j, s)| j != *i && subsumes(s, r) && (!subsumes(r, s) || j < *i))
            });
            // Rules on one column fold into one `col IS NULL OR col NOT IN (…)`.
            for (_, r) in general {
                match r.matches.iter().next() {
                    Some((col, vals)) if r.matches.len() == 1 => {
                        let all = by_column.entry(col.as_str()).or_default();
                        for v in vals {
                            if !all.contains(v) {
                                all.push(v.clone());
                            }
                        }
                    }
                    _ => default_rules.push(r),
                }
            }
        }
        for (i, r) in rules.iter().enumerate() {
            if r.class != class {
                continue;
            }
            // A rule whose rows match no other class's rule is covered by the default.
            // (Rules of other classes listed before it are denied in its alternative, as
            // in the default's, so they do not stop it being covered.)
            let covered = is_default
                && default_rules.iter().all(|m| {
                    disjoint(r, m)
                        || rules[..i]
                            .iter()
                            .any(|e| std::ptr::eq(*e, *m) && e.class != class)
                })
                && by_column.iter().all(|(col, vals)| {
                    r.matches
                        .get(*col)
                        .is_some_and(|own| own.iter().all(|v| !vals.contains(v)))
                });
            if covered {
                continue;
            }
            let mut parts = vec![matches(r)];
            for earlier in &rules[..i] {
                if earlier.class != class && !disjoint(r, earlier) {
                    parts.push(not_matches(earlier, Some(r)));
                }
            }
            alternatives.push(Expr::and(parts));
        }
        if is_default {
            let merged = merge_rules(&default_rules);
            let mut parts: Vec<Expr> = merged.iter().map(|r| not_matches(r, None)).collect();
            for (col, vals) in by_column {
                parts.push(Expr::or(vec![
                    Expr::IsNull {
                        expr: Box::new(self.rule_key(source, col)),
                        negated: false,
                    },
                    in_values(self.rule_key(source, col), &vals, true),
                ]));
            }
            alternatives.push(Expr::and(parts));
        }
        Expr::or(alternatives)
    }

    /// The event classes a type that is an event class stands for: `class` and its
    /// refinements (`file_activity` takes `file_activity.create`, …) that the source's
    /// mapping can place rows in. Empty when the mapping has no such class or the table
    /// lacks the columns that tell it (the type then reads every row: a table of flows
    /// without `event.category` is still a table of flows).
    pub(super) fn type_classes(&self, source: usize, class: &str) -> Vec<&str> {
        let Some(mapping) = self.mappings.get(&self.sources[source].mapping) else {
            return Vec::new();
        };
        let refinement = format!("{class}.");
        let mut classes: Vec<&str> = Vec::new();
        let names = mapping
            .classes
            .iter()
            .map(|r| r.class.as_str())
            .chain(mapping.default_class.as_deref());
        for c in names {
            if (c == class || c.starts_with(&refinement))
                && !classes.contains(&c)
                && self.mapping_knows_class(source, c)
            {
                classes.push(c);
            }
        }
        classes
    }

    /// Whether a source's mapping can place rows in `class` (a rule whose columns exist,
    /// or the default class).
    pub(super) fn mapping_knows_class(&self, source: usize, class: &str) -> bool {
        let Some(mapping) = self.mappings.get(&self.sources[source].mapping) else {
            return false;
        };
        mapping.default_class.as_deref() == Some(class)
            || mapping
                .classes
                .iter()
                .any(|r| r.class == class && r.matches.keys().all(|c| self.has_rule_key(source, c)))
    }

    /// Resolves an attribute in a context to a column expression.
    pub(super) fn attr(&mut self, ctx: &Ctx, a: &AttrPath) -> Result<Expr, Diagnostic> {
        match ctx {
            Ctx::Var(rel) => self.var_attr(*rel, a),
            Ctx::Rows {
                source,
                entity,
                slot,
                class,
            } => self.rows_attr(*source, entity, slot, class.as_deref(), a),
        }
    }

    fn rows_attr(
        &mut self,
        source: usize,
        entity: &str,
        slot: &str,
        class: Option<&str>,
        a: &AttrPath,
    ) -> Result<Expr, Diagnostic> {
        // An IOC list written as an OR chain reads one attribute once per value. The key:
        // the entity, slot, class, `entity:` prefix and path, apart by a control character.
        let mut key = String::with_capacity(64);
        for part in [
            entity,
            slot,
            class.unwrap_or("\u{1}"),
            a.entity.as_ref().map_or("\u{1}", |e| e.name.as_str()),
            &a.path,
        ] {
            key.push_str(part);
            key.push('\u{0}');
        }
        if let Some(e) = self
            .memo
            .rows_attrs
            .borrow()
            .get(&source)
            .and_then(|m| m.get(&key))
        {
            return Ok(e.clone());
        }
        let e = self.rows_attr_uncached(source, entity, slot, class, a)?;
        self.memo
            .rows_attrs
            .borrow_mut()
            .entry(source)
            .or_default()
            .insert(key, e.clone());
        Ok(e)
    }

    fn rows_attr_uncached(
        &mut self,
        source: usize,
        entity: &str,
        slot: &str,
        class: Option<&str>,
        a: &AttrPath,
    ) -> Result<Expr, Diagnostic> {
        let ctx = Ctx::Rows {
            source,
            entity: entity.to_string(),
            slot: slot.to_string(),
            class: class.map(str::to_string),
        };
        if let Some((source, class, name)) = self.classification_attr(&ctx, a) {
            if let Some(e) = self.classification_value(source, class.as_deref(), name) {
                return Ok(e);
            }
        }
        let (target, base_slot) = match &a.entity {
            Some(e) => {
                let t = self.entity_name(e)?;
                if t == entity {
                    (t, slot.to_string())
                } else {
                    let s = self
                        .model
                        .entity(&t)
                        .and_then(|d| d.slots.first().cloned())
                        .unwrap_or_else(|| EVENT_SLOT.to_string());
                    (t, s)
                }
            }
            None => (entity.to_string(), slot.to_string()),
        };
        let rel = self.model.canonical_attr(&target, &a.path);
        let mut candidates = Vec::new();
        let model = self.model;
        let def = model.entity(&target);
        let is_event = def.as_ref().is_some_and(|d| d.kind == EntityKind::Event);
        if base_slot == EVENT_SLOT {
            candidates.push(rel.clone());
        } else {
            candidates.push(format!("{base_slot}.{rel}"));
        }
        if let Some(def) = &def {
            for (cprefix, eprefix) in &def.context {
                if let Some(rest) = rel.strip_prefix(&format!("{cprefix}.")) {
                    candidates.push(format!("{eprefix}.{rest}"));
                }
            }
        }
        if a.entity.is_none() && !is_event {
            candidates.push(a.path.clone());
        }
        for c in &candidates {
            if let Some(e) = self.event_path(source, c, class) {
                return Ok(e);
            }
        }
        let mapping = self.mappings.get(&self.sources[source].mapping);
        let strict = mapping.is_some_and(|m| m.strict);
        // An attribute no entry names (a STIX custom `x_…` property, any other): the
        // column the layout gives the entity's own path, then a column of that name.
        let own = &candidates[0];
        let unnamed = mapping.is_some_and(|m| !m.names(own));
        if !strict && unnamed {
            if let Some(e) = self.object_path(source, own, class) {
                return Ok(e);
            }
        }
        if !strict && self.has_column(source, &a.path) {
            return Ok(Expr::col(&a.path));
        }
        let ds = &self.sources[source];
        let mut looked: Vec<String> = Vec::new();
        if let Some(m) = mapping {
            for c in &candidates {
                for n in [m.resolve(c, class)].into_iter().flatten() {
                    for col in n.columns() {
                        if !looked.contains(col) {
                            looked.push(col.clone());
                        }
                    }
                }
            }
        }
        if let (Some(m), false) = (mapping, strict) {
            if unnamed {
                let classes: Vec<Option<&str>> = match class {
                    Some(c) => vec![Some(c)],
                    None => std::iter::once(None)
                        .chain(m.class_object_columns.keys().map(|c| Some(c.as_str())))
                        .collect(),
                };
                for c in classes {
                    if let Some(col) = m.object_column(own, c) {
                        if !looked.contains(&col) {
                            looked.push(col);
                        }
                    }
                }
            }
            if !looked.contains(&a.path) {
                looked.push(a.path.clone());
            }
        }
        let mut d = Diagnostic::error(
            Code::UnknownAttribute,
            format!(
                "unknown attribute `{}` in data source `{}`",
                a.path, ds.name
            ),
        )
        .at(a.span)
        .label(format!("table `{}` has no such column", ds.table))
        .note(format!(
            "looked for column{} {} (mapping `{}`)",
            if looked.len() == 1 { "" } else { "s" },
            looked
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            ds.mapping
        ));
        if let Some(cols) = &self.source_columns[source] {
            if let Some(s) = suggest(&a.path, cols.iter().map(String::as_str)) {
                d = d.help(format!("the table has a column `{s}`"));
            }
        }
        Err(d)
    }

    /// An attribute of a variable's rows.
    pub(super) fn var_attr(&mut self, rel: RelId, a: &AttrPath) -> Result<Expr, Diagnostic> {
        // Borrow the relation only for the checks; resolving through a source needs
        // `&mut self`.
        let r = &self.relations[rel.0];
        let (entity, kind, source) = (r.entity.clone(), r.kind, r.source);
        if let Some(e) = &a.entity {
            let t = self.entity_name(e)?;
            let r = &self.relations[rel.0];
            if t != r.entity && r.kind != EntityKind::Event {
                return Err(Diagnostic::error(
                    Code::TypeMismatch,
                    format!("`{}` holds {}, not {t}", r.var, r.entity),
                )
                .at(e.span)
                .help(format!("write `{}:{}`", r.entity, a.path)));
            }
        }
        // What the checks below need of the relation's columns, read without copying them.
        let (whole, has_path) = {
            let Some(columns) = &self.relations[rel.0].columns else {
                // Event records keep native columns: resolve through the source's mapping.
                return match source {
                    Some(source) => self.rows_attr(source, &entity, EVENT_SLOT, None, a),
                    None => Ok(Expr::col(&a.path)),
                };
            };
            let whole = kind == EntityKind::Event
                && source.is_some_and(|s| {
                    self.source_columns[s]
                        .as_ref()
                        .is_some_and(|native| native.iter().all(|c| columns.contains(c)))
                });
            (whole, columns.contains(&a.path))
        };
        if kind == EntityKind::Event {
            // Whole records: a name means what the mapping says, before a table column of
            // that spelling (ECS's own `process.pid` column is the source of a process
            // access; the mapping's `process.pid` is its target).
            if let (Some(source), true) = (source, whole) {
                if let Ok(e) = self.rows_attr(source, &entity, EVENT_SLOT, None, a) {
                    return Ok(e);
                }
            }
            if has_path {
                return Ok(Expr::col(&a.path));
            }
            if let Some(source) = source {
                return self.rows_attr(source, &entity, EVENT_SLOT, None, a);
            }
        }
        let columns: &[String] = self.relations[rel.0].columns.as_deref().unwrap_or_default();
        let canonical = self.model.canonical_attr(&entity, &a.path);
        for name in [&canonical, &a.path] {
            if columns.iter().any(|c| c == name) {
                return Ok(Expr::col(name));
            }
        }
        // Context attributes keep their entity-relative names (`endpoint.hostname`).
        let r = &self.relations[rel.0];
        let mut d = Diagnostic::error(
            Code::UnknownAttribute,
            format!("`{}` has no attribute `{}`", r.var, a.path),
        )
        .at(a.span)
        .label(format!("not an attribute of this {}", r.entity));
        if let Some(s) = suggest(&canonical, columns.iter().map(String::as_str)) {
            d = d.help(format!("did you mean `{s}`?"));
        } else if !columns.is_empty() {
            let shown: Vec<&str> = columns.iter().take(12).map(String::as_str).collect();
            d = d.help(format!(
                "its attributes: {}{}",
                shown.join(", "),
                if columns.len() > 12 { ", …" } else { "" }
            ));
        }
        Err(d)
    }

    /// The columns of event records read from rows of a source (of `class`, None: any):
    /// the table's own columns, plus the OCSF classification the mapping derives
    /// (`class_uid`, `type_uid`, …), unless `derive` is false (records nothing reads). None
    /// when the catalog does not know the columns (the records are then the rows as they
    /// are).
    pub(super) fn event_columns(
        &self,
        source: usize,
        class: Option<&str>,
        derive: bool,
    ) -> Option<Vec<(String, Expr)>> {
        let native = self.source_columns[source].as_ref()?;
        if !derive {
            return Some(native.iter().map(|c| (c.clone(), Expr::col(c))).collect());
        }
        let derived = self.classification_columns(source, class);
        if derived.is_empty() {
            return None;
        }
        // The classification takes the place of a table column of the same name
        // (Winlogbeat's `activity_id` is an event-correlation GUID, not OCSF's).
        let mut out: Vec<(String, Expr)> = native
            .iter()
            .filter(|c| !derived.iter().any(|(n, _)| n == *c))
            .map(|c| (c.clone(), Expr::col(c)))
            .collect();
        out.extend(derived);
        Some(out)
    }

    /// The columns of an entity read from `slot` of rows in a source: every mapped
    /// attribute whose column exists, usual attributes first.
    pub(super) fn entity_columns(
        &self,
        source: usize,
        entity: &str,
        slot: &str,
        class: Option<&str>,
    ) -> Result<Vec<(String, Expr)>, Diagnostic> {
        let key = (
            source,
            entity.to_string(),
            slot.to_string(),
            class.map(str::to_string),
        );
        if let Some(cols) = self.memo.entity_columns.borrow().get(&key) {
            return Ok(cols.clone());
        }
        let cols = self.entity_columns_uncached(source, entity, slot, class)?;
        self.memo
            .entity_columns
            .borrow_mut()
            .insert(key, cols.clone());
        Ok(cols)
    }

    fn entity_columns_uncached(
        &self,
        source: usize,
        entity: &str,
        slot: &str,
        class: Option<&str>,
    ) -> Result<Vec<(String, Expr)>, Diagnostic> {
        let Some(mapping) = self.mappings.get(&self.sources[source].mapping) else {
            return Err(Diagnostic::internal("mapping not loaded"));
        };
        let Some(def) = self.model.entity(entity) else {
            return Err(Diagnostic::internal("entity without definition"));
        };
        // (attribute name, event path)
        let mut attrs: Vec<(String, String)> = Vec::new();
        let mut seen: FxHashSet<String> = FxHashSet::default();
        let mut push = |name: String, path: String| {
            if !seen.contains(&name) {
                seen.insert(name.clone());
                attrs.push((name, path));
            }
        };
        let path_of = |rel: &str| {
            if slot == EVENT_SLOT {
                rel.to_string()
            } else {
                dotted(slot, rel)
            }
        };
        if slot == EVENT_SLOT {
            // An event-like entity (network traffic): its listed attributes and
            // everything under its child objects.
            let all = mapping.slot_attributes(EVENT_SLOT, class);
            for a in &def.attributes {
                push(a.clone(), a.clone());
            }
            for child in def.children.keys() {
                let prefix = format!("{child}.");
                for a in all.iter().filter(|a| a.starts_with(&prefix)) {
                    push(a.clone(), a.clone());
                }
            }
        } else {
            let under = mapping.slot_attributes(slot, class);
            for a in &def.attributes {
                if under.contains(a) {
                    push(a.clone(), path_of(a));
                }
            }
            for a in under.iter() {
                push(a.clone(), path_of(a));
            }
        }
        for (cprefix, eprefix) in &def.context {
            for a in mapping.slot_attributes(eprefix, class).iter() {
                push(dotted(cprefix, a), dotted(eprefix, a));
            }
        }
        // Display order: the type's usual attributes first, then mapping order.
        let rank = |n: &str| {
            def.attributes
                .iter()
                .position(|a| a == n)
                .unwrap_or(usize::MAX)
        };
        let mut attrs: Vec<(usize, usize, String, String)> = attrs
            .into_iter()
            .enumerate()
            .map(|(i, (n, p))| (rank(&n), i, n, p))
            .collect();
        attrs.sort();
        let mut out = Vec::new();
        for (_, _, name, path) in attrs {
            if let Some(e) = self.event_path(source, &path, class) {
                out.push((name, e));
            }
        }
        // Custom attributes: columns the table has under the object's own prefix (ECS
        // `process.x_ttp_tags`) that no entry reads, one component deep.
        if slot != EVENT_SLOT && !mapping.strict {
            if let (Some(cols), Some(prefix)) = (
                &self.source_columns[source],
                mapping
                    .object_column(&format!("{slot}.x"), class)
                    .and_then(|c| c.strip_suffix(".x").map(str::to_string)),
            ) {
                for col in cols {
                    let Some(rest) = col
                        .strip_prefix(prefix.as_str())
                        .and_then(|r| r.strip_prefix('.'))
                    else {
                        continue;
                    };
                    if rest.is_empty()
                        || rest.contains('.')
                        || mapping.is_native_column(col)
                        || out.iter().any(|(n, _)| n == rest)
                        || mapping.names(&format!("{slot}.{rest}"))
                    {
                        continue;
                    }
                    if let Some(e) = self.object_path(source, &format!("{slot}.{rest}"), class) {
                        out.push((rest.to_string(), e));
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Lowerer<'_> {
    /// The OCSF classification of rows of a source (of `class` only, when given): pairs of
    /// a predicate and the classification of the rows it holds. No row satisfies two
    /// predicates; rows no rule classifies satisfy none. Each predicate is a condition on
    /// the table's own columns (the class's rule columns and the rule's), so a test of
    /// `type_uid` becomes the predicates of the classifications that pass it.
    pub(super) fn classification_cases(
        &self,
        source: usize,
        class: Option<&str>,
    ) -> Rc<[(Expr, Classified)]> {
        let key = (source, class.map(str::to_string));
        memoized(&self.memo.classification_cases, key, || {
            self.classification_cases_uncached(source, class).into()
        })
    }

    fn classification_cases_uncached(
        &self,
        source: usize,
        class: Option<&str>,
    ) -> Vec<(Expr, Classified)> {
        let Some(mapping) = self.mappings.get(&self.sources[source].mapping) else {
            return Vec::new();
        };
        let applies = |r: &ClassificationRule| {
            self.mapping_knows_class(source, &r.class)
                && r.matches.keys().all(|k| self.has_rule_key(source, k))
        };
        let mut out: Vec<(Expr, Classified)> = Vec::new();
        for (i, r) in mapping.classification.iter().enumerate() {
            if class.is_some_and(|c| c != r.class) || !applies(r) {
                continue;
            }
            let Some(cl) = self.model.classify(r) else {
                continue;
            };
            let mut parts = Vec::new();
            if class.is_none() {
                parts.push(self.class_pred(source, &r.class));
            }
            for (col, vals) in &r.matches {
                parts.push(in_values(self.rule_key(source, col), vals, false));
            }
            // The first rule of the class that matches decides: rows an earlier rule with
            // another classification takes are not this rule's.
            let mut shadowed = false;
            for e in &mapping.classification[..i] {
                // Rules that pin a column to different values cannot both match.
                let disjoint = e.matches.iter().any(|(col, vals)| {
                    r.matches
                        .get(col)
                        .is_some_and(|own| own.iter().all(|v| !vals.contains(v)))
                });
                if e.class != r.class
                    || !applies(e)
                    || disjoint
                    || self.model.classify(e).as_ref() == Some(&cl)
                {
                    continue;
                }
                if e.matches.is_empty() {
                    shadowed = true;
                    break;
                }
                parts.push(Expr::or(
                    e.matches
                        .iter()
                        .map(|(col, vals)| {
                            Expr::or(vec![
                                Expr::IsNull {
                                    expr: Box::new(self.rule_key(source, col)),
                                    negated: false,
                                },
                                in_values(self.rule_key(source, col), vals, true),
                            ])
                        })
                        .collect(),
                ));
            }
            if shadowed {
                continue;
            }
            let pred = Expr::and(parts);
            match out.iter_mut().find(|(_, c)| *c == cl) {
                Some((p, _)) => *p = Expr::or(vec![p.clone(), pred]),
                None => out.push((pred, cl)),
            }
        }
        out.into_iter()
            .map(|(p, c)| (crate::opt::fold::fold(p), c))
            .collect()
    }

    /// One classification attribute (`type_uid`, …) of rows of a source, as (predicate,
    /// value) pairs grouped by value. None when the source's mapping classifies nothing.
    pub(super) fn classification_table(
        &self,
        source: usize,
        class: Option<&str>,
        attr: &str,
    ) -> Option<Vec<(Expr, Literal)>> {
        let key = (source, class.map(str::to_string), attr.to_string());
        memoized(&self.memo.classification_tables, key, || {
            self.classification_table_uncached(source, class, attr)
        })
    }

    fn classification_table_uncached(
        &self,
        source: usize,
        class: Option<&str>,
        attr: &str,
    ) -> Option<Vec<(Expr, Literal)>> {
        let cases = self.classification_cases(source, class);
        if cases.is_empty() {
            return None;
        }
        // The cases of each value, by their places in `cases`.
        let mut table: Vec<(Vec<usize>, Literal)> = Vec::new();
        for (i, (_, cl)) in cases.iter().enumerate() {
            let value = scalar_literal(&cl.value(attr)?);
            match table.iter_mut().find(|(_, v)| *v == value) {
                Some((group, _)) => group.push(i),
                None => table.push((vec![i], value)),
            }
        }
        Some(
            table
                .into_iter()
                .map(|(group, v)| (self.classification_group(source, class, &cases, group), v))
                .collect(),
        )
    }

    /// The predicate of the rows of some of `cases` (by their places): one case's own,
    /// folded already; several, their OR folded. The attributes come in pairs that group
    /// the cases alike (`class_uid` and `class_name`, …), so the fold of a group is kept.
    fn classification_group(
        &self,
        source: usize,
        class: Option<&str>,
        cases: &[(Expr, Classified)],
        group: Vec<usize>,
    ) -> Expr {
        if let [only] = group[..] {
            let pred = cases[only].0.clone();
            debug_assert_eq!(crate::opt::fold::fold(pred.clone()), pred, "folded once");
            return pred;
        }
        let parts = || group.iter().map(|&i| cases[i].0.clone()).collect();
        let key = (source, class.map(str::to_string), group.clone());
        memoized(&self.memo.classification_groups, key, || {
            let pred = crate::opt::fold::fold_or_of_folded(parts());
            debug_assert_eq!(
                pred,
                crate::opt::fold::fold(Expr::or(parts())),
                "the same as folding the cases again"
            );
            pred
        })
    }

    /// A classification attribute's value per row: a CASE over the table's predicates
    /// (the literal itself where one classification covers every row).
    pub(super) fn classification_value(
        &self,
        source: usize,
        class: Option<&str>,
        attr: &str,
    ) -> Option<Expr> {
        let table = self.classification_table(source, class, attr)?;
        if let [(pred, v)] = &table[..] {
            if *pred == crate::ir::TRUE {
                return Some(Expr::Lit(v.clone()));
            }
        }
        Some(Expr::case(
            table.into_iter().map(|(p, v)| (p, Expr::Lit(v))).collect(),
            Expr::Lit(Literal::Null),
        ))
    }

    /// When `a` names a classification attribute of events read from rows of a source:
    /// the source, the class the rows are of (if one) and the attribute.
    pub(super) fn classification_attr(
        &self,
        ctx: &Ctx,
        a: &AttrPath,
    ) -> Option<(usize, Option<String>, &'static str)> {
        let Ctx::Rows {
            source,
            entity,
            slot,
            class,
        } = ctx
        else {
            return None;
        };
        let is_event = self
            .model
            .entity(entity)
            .is_some_and(|d| d.kind == EntityKind::Event);
        let entity_ok = match &a.entity {
            None => true,
            Some(e) => self
                .model
                .entity_name(&e.name)
                .and_then(|t| self.model.entity(t))
                .is_some_and(|d| d.kind == EntityKind::Event),
        };
        if !(is_event && slot == EVENT_SLOT && entity_ok) {
            return None;
        }
        let name = CLASSIFICATION_ATTRIBUTES
            .iter()
            .find(|n| **n == a.path.as_str())?;
        let mapping = self.mappings.get(&self.sources[*source].mapping)?;
        if mapping.classification.is_empty() {
            return None;
        }
        Some((*source, class.clone(), name))
    }

    /// The classification attributes of rows of `class` (None: any), as the mapping
    /// derives them; none when it classifies nothing.
    pub(super) fn classification_columns(
        &self,
        source: usize,
        class: Option<&str>,
    ) -> Vec<(String, Expr)> {
        CLASSIFICATION_ATTRIBUTES
            .iter()
            .filter_map(|a| {
                self.classification_value(source, class, a)
                    .map(|e| (a.to_string(), e))
            })
            .collect()
    }
}

/// `a.b`: a path under an object (without `format!`, which a hunt's lowering called for
/// every attribute of every entity it reads).
fn dotted(a: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + 1 + b.len());
    s.push_str(a);
    s.push('.');
    s.push_str(b);
    s
}

/// Rules that test the same columns and differ in the values of one only, as one rule
/// accepting either's values (`category = process AND code = 10`, `… code = 8` →
/// `category = process AND code IN (10, 8)`): "matches neither" then denies one `IN`.
fn merge_rules(rules: &[&ClassRule]) -> Vec<ClassRule> {
    let mut out: Vec<ClassRule> = Vec::with_capacity(rules.len());
    let same = |a: &[ScalarValue], b: &[ScalarValue]| {
        a.len() == b.len() && a.iter().all(|v| b.contains(v))
    };
    for r in rules {
        let target = out.iter_mut().find(|m| {
            m.matches.len() == r.matches.len()
                && m.matches.keys().all(|k| r.matches.contains_key(k))
                && m.matches
                    .iter()
                    .filter(|(k, vals)| !same(vals, &r.matches[k.as_str()]))
                    .count()
                    <= 1
        });
        match target {
            Some(m) => {
                for (k, vals) in m.matches.iter_mut() {
                    for v in &r.matches[k.as_str()] {
                        if !vals.contains(v) {
                            vals.push(v.clone());
                        }
                    }
                }
            }
            None => out.push((*r).clone()),
        }
    }
    out
}

/// Answers [`Lowerer::entity_columns`], [`Lowerer::class_pred`],
/// [`Lowerer::classification_cases`], [`Lowerer::classification_table`] and
/// `Lowerer::rows_attr` (when it found the attribute) gave, by their arguments. Each
/// depends only on the source (its mapping and catalog columns, fixed once the source is
/// registered) and the arguments. The classification is asked for again by
/// every FIND over events and every read of an event's classification attribute; worked
/// out each time, it was most of a typical hunt's lowering (each of its predicates folded).
#[derive(Default)]
#[allow(clippy::type_complexity)]
pub(super) struct Memo {
    entity_columns:
        RefCell<FxHashMap<(usize, String, String, Option<String>), Vec<(String, Expr)>>>,
    class_preds: RefCell<FxHashMap<(usize, String), Expr>>,
    classification_cases: RefCell<FxHashMap<(usize, Option<String>), Rc<[(Expr, Classified)]>>>,
    classification_tables:
        RefCell<FxHashMap<(usize, Option<String>, String), Option<Vec<(Expr, Literal)>>>>,
    classification_groups: RefCell<FxHashMap<(usize, Option<String>, Vec<usize>), Expr>>,
    /// By source, then by entity, slot, class, the attribute's `entity:` prefix and its
    /// path (see [`Lowerer::rows_attr`]).
    rows_attrs: RefCell<FxHashMap<usize, FxHashMap<String, Expr>>>,
}

impl Memo {
    /// Drops the answers about data source `source`, which nothing reads any more.
    pub(super) fn forget_source(&mut self, source: usize) {
        self.entity_columns.get_mut().retain(|k, _| k.0 != source);
        self.class_preds.get_mut().retain(|k, _| k.0 != source);
        self.classification_cases
            .get_mut()
            .retain(|k, _| k.0 != source);
        self.classification_tables
            .get_mut()
            .retain(|k, _| k.0 != source);
        self.classification_groups
            .get_mut()
            .retain(|k, _| k.0 != source);
        self.rows_attrs.get_mut().remove(&source);
    }

    /// Files the answers under the data sources' new numbers (`at[old]`), dropping
    /// those about data sources that are gone.
    pub(super) fn renumber_sources(&mut self, at: &[Option<usize>]) {
        let new = |s: usize| at.get(s).copied().flatten();
        rekey(&mut self.entity_columns, |(s, a, b, c)| {
            Some((new(s)?, a, b, c))
        });
        rekey(&mut self.class_preds, |(s, a)| Some((new(s)?, a)));
        rekey(&mut self.classification_cases, |(s, c)| Some((new(s)?, c)));
        rekey(&mut self.classification_tables, |(s, c, a)| {
            Some((new(s)?, c, a))
        });
        rekey(&mut self.classification_groups, |(s, c, g)| {
            Some((new(s)?, c, g))
        });
        rekey(&mut self.rows_attrs, new);
    }
}

/// `map`'s answer for `key`, worked out by `compute` the first time it is asked for.
fn memoized<K: std::hash::Hash + Eq, V: Clone>(
    map: &RefCell<FxHashMap<K, V>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V {
    if let Some(v) = map.borrow().get(&key) {
        return v.clone();
    }
    let v = compute();
    map.borrow_mut().insert(key, v.clone());
    v
}

/// `map`'s answers filed under the keys `f` gives, dropping those it gives none for.
fn rekey<K: std::hash::Hash + Eq, V>(
    map: &mut RefCell<FxHashMap<K, V>>,
    f: impl Fn(K) -> Option<K>,
) {
    let old = std::mem::take(map.get_mut());
    *map.get_mut() = old
        .into_iter()
        .filter_map(|(k, v)| Some((f(k)?, v)))
        .collect();
}

/// Whether every row `specific` matches is matched by `general` too.
fn subsumes(general: &ClassRule, specific: &ClassRule) -> bool {
    general.matches.iter().all(|(col, vals)| {
        specific
            .matches
            .get(col)
            .is_some_and(|s| s.iter().all(|v| vals.contains(v)))
    })
}

/// `expr [NOT] IN (values)`, or `=`/`!=` for one value.
pub(super) fn in_values(expr: Expr, vals: &[ScalarValue], negated: bool) -> Expr {
    let lits: Vec<Literal> = vals.iter().map(scalar_literal).collect();
    if lits.len() == 1 {
        let op = if negated {
            crate::ir::CmpOp::Ne
        } else {
            crate::ir::CmpOp::Eq
        };
        return Expr::cmp(op, expr, Expr::Lit(lits[0].clone()));
    }
    Expr::InList {
        expr: Box::new(expr),
        list: lits,
        negated,
    }
}

pub(super) fn scalar_literal(v: &ScalarValue) -> Literal {
    match v {
        ScalarValue::Int(i) => Literal::Int(*i),
        ScalarValue::Float(f) => Literal::Float(*f),
        ScalarValue::Bool(b) => Literal::Bool(*b),
        ScalarValue::Text(s) => Literal::Str(s.clone()),
    }
}
