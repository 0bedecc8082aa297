//! AST to IR: resolve every name the hunt wrote and build one relation per variable version.
//!
//! In: an [`ast::Hunt`], the [`Model`], the configuration (data sources) and optionally a
//! [`Catalog`] of the columns each table really has. Out: a [`Program`] or the first
//! [`Diagnostic`].
//!
//! - variables: each assignment makes a new relation; a re-assigned name is a new version
//!   (`procs`, then `procs_2`), and later statements see the newest;
//! - entity and attribute names: OCSF, STIX and native spellings (see `attr.rs`);
//! - FIND: relations from `mappings/relations.yaml` as semi-joins (see `find.rs`);
//! - entities: GET and FIND keep only records whose slot holds an entity, some identity
//!   set of its type wholly recorded (`identity_present`): an empty parent is no parent;
//! - data sources: by name through the configuration, or a table of that name;
//! - time: START/STOP and LAST n <unit> become bounds on the timestamp column.

mod attr;
mod events;
mod files;
mod find;
mod group;
mod join;
mod pattern;
mod span;
pub(crate) mod stamp;
pub mod time;

use crate::fxhash::{FxHashMap, FxHashSet};
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::Config;
use crate::diag::{suggest, Code, Diagnostic};
use crate::ir::{
    AggFunc, DataSource, Expr, Literal, Output, OutputKind, Plan, Program, RelId, Relation, SortKey,
};
use crate::model::{EntityDef, EntityKind, Mapping, Model};
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{self, Ident, Rhs, StmtKind};

/// The columns tables really have. The runner asks the database; `compile` without a
/// database has none and assumes every mapped column exists.
pub trait Catalog {
    /// Column names of a data source's table, or None when unknown.
    fn columns(&mut self, source: &DataSource) -> Result<Option<Vec<String>>, Diagnostic>;

    /// The first row of `plan` (two values: the earliest and latest time of the records
    /// of relation `of`), run against the data. None when nothing can be run (compiling
    /// only).
    ///
    /// The program so far is lent as its parts (`sources`, `relations`): a catalog that
    /// measures nothing copies nothing, so a hunt's compile stays linear in its size.
    fn time_span(
        &mut self,
        _sources: &[DataSource],
        _relations: &[crate::ir::Relation],
        _plan: &Plan,
        _of: crate::ir::RelId,
    ) -> Result<Option<(crate::value::Value, crate::value::Value)>, Diagnostic> {
        Ok(None)
    }

    /// What a column of a data source's table holds, when the database says; literals
    /// compared with it are converted to that kind.
    fn column_kind(
        &mut self,
        _source: &DataSource,
        _column: &str,
    ) -> Option<crate::ir::ColumnKind> {
        None
    }
}

/// Settings for one compilation.
pub struct LowerOptions<'a> {
    pub config: Option<&'a Config>,
    pub catalog: Option<&'a mut dyn Catalog>,
    /// "Now" for `LAST n <unit>`, in microseconds since the epoch (fixed in tests).
    pub now: i64,
}

impl Default for LowerOptions<'_> {
    fn default() -> Self {
        LowerOptions {
            config: None,
            catalog: None,
            now: time::now_micros(),
        }
    }
}

/// The timestamp format assumed when neither the data source nor its mapping gives one.
pub const DEFAULT_TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%fZ";
/// The mapping of a data source that does not name one.
pub const DEFAULT_MAPPING: &str = "ecs";

/// Lowers a parsed hunt.
pub fn lower<'a>(
    hunt: &ast::Hunt,
    src: &'a SourceFile,
    model: &'a Model,
    opts: LowerOptions<'a>,
) -> Result<Program, Diagnostic> {
    let mut state = LowerState::default();
    state.whole_hunt(&hunt.stmts);
    lower_more(&hunt.stmts, src, model, opts, &mut state)?;
    Ok(state.program)
}

/// The variables a whole hunt assigns that none of its statements reads (EXPLAIN
/// included).
fn unread_variables(stmts: &[ast::Stmt]) -> FxHashSet<String> {
    let mut read: FxHashSet<&str> = FxHashSet::default();
    for stmt in stmts {
        read.extend(stmt.reads().into_iter().map(|v| v.name.as_str()));
        if let StmtKind::Explain(v) = &stmt.kind {
            read.insert(&v.name);
        }
    }
    stmts
        .iter()
        .filter_map(ast::Stmt::defines)
        .filter(|v| !read.contains(v.name.as_str()))
        .map(|v| v.name.clone())
        .collect()
}

/// What lowering knows between statements: the program so far (its data sources,
/// relations and outputs) and the names in scope. A session keeps one and lowers each
/// input into it, so later inputs see earlier variables.
#[derive(Default)]
pub struct LowerState {
    pub program: Program,
    mappings: FxHashMap<String, Arc<Mapping>>,
    source_columns: Vec<Option<Vec<String>>>,
    source_column_sets: Vec<Option<FxHashSet<String>>>,
    vars: FxHashMap<String, (RelId, usize)>,
    last_source: Option<usize>,
    memo: attr::Memo,
    names: FxHashSet<String>,
    versions: FxHashMap<String, usize>,
    gets: FxHashMap<usize, find::GetSpec>,
    in_hand: Option<FxHashSet<usize>>,
    read_in_hand: FxHashSet<usize>,
    records_of: FxHashMap<usize, Option<Expr>>,
    /// Data sources forgotten since the last [`LowerState::compact`].
    forgotten_sources: Vec<usize>,
    /// When the statements lowered are a whole hunt ([`lower`]): the variables none of
    /// them reads. None where later inputs may read any variable (a session).
    unread: Option<FxHashSet<String>>,
}

impl LowerState {
    /// Says that `stmts` are the whole hunt: no input after them reads its variables. A
    /// variable none of them reads (EXPLAIN included) is then lowered without the columns
    /// its records would derive rather than read (an event's OCSF classification): only
    /// a reader would see them, and an unread `FIND event` spent most of a hunt's
    /// lowering building them. Its rows, and so its counts, are the same.
    pub fn whole_hunt(&mut self, stmts: &[ast::Stmt]) {
        self.unread = Some(unread_variables(stmts));
    }

    /// Lowers for the same whole hunt as `other` (see [`LowerState::whole_hunt`]).
    pub fn same_hunt(&mut self, other: &LowerState) {
        self.unread.clone_from(&other.unread);
    }

    /// The GETs (by relation index) whose records some FIND read in hand.
    pub fn read_in_hand(&self) -> &FxHashSet<usize> {
        &self.read_in_hand
    }

    /// FIND reads the records in hand only of the GETs in `gets` (by relation index);
    /// elsewhere it semi-joins. Unset: wherever it gives the same answer.
    pub fn limit_in_hand(&mut self, gets: FxHashSet<usize>) {
        self.in_hand = Some(gets);
    }

    /// The GETs from a data source whose records a FIND may read in hand that keep
    /// those records apart, by their statements' start in the source: each such GET
    /// `v` gets a hidden relation `RECORDS(v)`, the table's records it selects, and
    /// reads it, as does a FIND reading its records in hand. Kept once, it serves both:
    /// v's count (or its display) and the FIND read the table once between them, where
    /// v read again by a semi-join would read it twice.
    ///
    /// Each FIND widens the records' filter to what it reads, where that is more; with
    /// `Some(filter)`, the relation starts with the filter a lowering of the whole hunt
    /// gave it, so that a FIND after it was kept reads it as it was kept.
    pub fn records_apart(&mut self, gets: FxHashMap<usize, Option<Expr>>) {
        self.records_of = gets;
    }

    /// The filter of each `RECORDS(v)` of the program (see [`LowerState::records_apart`]),
    /// by its GET's statement.
    pub fn records_filters(&self) -> FxHashMap<usize, Option<Expr>> {
        (self.program.relations.iter())
            .filter(|r| r.command == "records")
            .filter_map(|r| match &r.plan {
                Plan::Filter { pred, .. } => Some((r.span.start, Some(pred.clone()))),
                _ => None,
            })
            .collect()
    }

    /// The relation a variable name refers to now.
    pub fn var(&self, name: &str) -> Option<RelId> {
        self.vars.get(name).map(|(id, _)| *id)
    }

    /// The newest relation of every variable.
    pub fn current(&self) -> impl Iterator<Item = RelId> + '_ {
        self.vars.values().map(|(id, _)| *id)
    }

    /// Lets go of what lowering holds for relations and data sources nothing can read
    /// any more (versions a session forgot): their plans, columns and names, and the
    /// column lists of those data sources (tables of computed rows). Their indexes stay
    /// valid; they are never read again.
    pub fn forget(&mut self, relations: &[RelId], sources: &[usize]) {
        for id in relations {
            self.gets.remove(&id.0);
            self.read_in_hand.remove(&id.0);
            let r = &mut self.program.relations[id.0];
            // The name may be given again: no query can name both.
            self.names.remove(&r.name);
            r.plan = Plan::Values {
                columns: Vec::new(),
                rows: Vec::new(),
            };
            r.columns = Some(Vec::new());
            r.name = String::new();
            r.entity = String::new();
            r.identity = Vec::new();
            r.identity_alt = Vec::new();
            r.depends_on = Vec::new();
        }
        // A GET whose kept records are forgotten reads the table again for a FIND.
        for get in self.gets.values_mut() {
            if get.records.is_some_and(|r| relations.contains(&r)) {
                get.records = None;
            }
        }
        for &s in sources {
            self.source_columns[s] = Some(Vec::new());
            self.source_column_sets[s] = Some(FxHashSet::default());
            self.memo.forget_source(s);
            let source = &mut self.program.sources[s];
            for text in [
                &mut source.name,
                &mut source.table,
                &mut source.timestamp_format,
                &mut source.mapping,
            ] {
                *text = String::new();
            }
            source.connection = None;
            source.timestamp = None;
        }
        self.forgotten_sources.extend_from_slice(sources);
    }

    /// Gives up the slots of relations and data sources that were forgotten (see
    /// [`LowerState::forget`]): the relations that stay (`rels[i]`, and whatever they
    /// read, which stays too) and the data sources not forgotten are numbered again from
    /// 0 in their order. Returns the new number of each old relation and data source,
    /// None for those gone. Nothing else may hold their old numbers.
    pub fn compact(&mut self, mut rels: Vec<bool>) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
        let program = &mut self.program;
        rels.resize(program.relations.len(), true);
        let mut sources = vec![true; program.sources.len()];
        for s in self.forgotten_sources.drain(..) {
            if let Some(stays) = sources.get_mut(s) {
                *stays = false;
            }
        }
        // Relations read only earlier ones: from the last, what one that stays reads
        // stays too.
        for i in (0..rels.len()).rev() {
            if !rels[i] {
                continue;
            }
            let r = &program.relations[i];
            let mut read = Vec::new();
            r.plan.rel_refs(&mut read);
            for id in read {
                rels[id.0] = true;
            }
            let mut scans = Vec::new();
            r.plan.scans(&mut scans);
            for s in scans.into_iter().chain(r.source) {
                sources[s] = true;
            }
        }
        for o in &program.outputs {
            let mut read = vec![o.rel];
            o.plan.rel_refs(&mut read);
            for id in read {
                rels[id.0] = true;
            }
        }
        if let Some(s) = self.last_source {
            sources[s] = true;
        }
        let renumber = |stays: &[bool]| {
            let mut next = 0;
            (stays.iter())
                .map(|&s| {
                    next += usize::from(s);
                    s.then(|| next - 1)
                })
                .collect::<Vec<_>>()
        };
        let (rel_at, source_at) = (renumber(&rels), renumber(&sources));
        // Every number asked for below is of one that stays.
        let rel = |id: RelId| RelId(rel_at.get(id.0).copied().flatten().unwrap_or(id.0));
        let source = |s: usize| source_at.get(s).copied().flatten().unwrap_or(s);
        retain_where(&mut program.relations, &rels);
        retain_where(&mut program.sources, &sources);
        retain_where(&mut self.source_columns, &sources);
        retain_where(&mut self.source_column_sets, &sources);
        for r in &mut program.relations {
            r.plan.map_rel_refs(&rel);
            r.plan.map_scans(&source);
            r.source = r.source.map(source);
        }
        for o in &mut program.outputs {
            o.rel = rel(o.rel);
            o.plan.map_rel_refs(&rel);
            o.plan.map_scans(&source);
        }
        for (id, _) in self.vars.values_mut() {
            *id = rel(*id);
        }
        self.last_source = self.last_source.map(source);
        self.memo.renumber_sources(&source_at);
        let at = |i: usize| rel_at.get(i).copied().flatten();
        let moved = |set: &mut FxHashSet<usize>| {
            *set = set.iter().filter_map(|&i| at(i)).collect();
        };
        moved(&mut self.read_in_hand);
        if let Some(set) = &mut self.in_hand {
            moved(set);
        }
        self.gets = std::mem::take(&mut self.gets)
            .into_iter()
            .filter_map(|(i, mut get)| {
                get.records = get.records.and_then(|r| at(r.0)).map(RelId);
                Some((at(i)?, get))
            })
            .collect();
        (rel_at, source_at)
    }

    /// Adds a data source that lowering did not resolve (a table holding computed
    /// rows); its columns are as given.
    pub fn add_source(&mut self, source: DataSource, columns: Vec<String>) -> usize {
        self.program.sources.push(source);
        self.source_column_sets
            .push(Some(columns.iter().cloned().collect()));
        self.source_columns.push(Some(columns));
        self.program.sources.len() - 1
    }

    /// The order `plan`'s rows come in (SORT, SORT BY), as keys over its columns.
    pub fn order(&self, plan: &Plan) -> Option<Vec<(Expr, bool)>> {
        plan_order(&self.program.relations, plan)
    }

    /// `plan` with a `first_observed` column holding the timestamp column `ts` of the
    /// data-source record each row came from, when its rows come from such records.
    pub fn stamped(&self, plan: &Plan, ts: &str) -> Option<Plan> {
        stamp::stamp_plan(&self.program.relations, plan, ts)
    }
}

/// Lowers more statements into `state` (see [`LowerState`]). On an error, what the
/// statements before the failing one defined stays in `state`.
pub fn lower_more<'a>(
    stmts: &[ast::Stmt],
    src: &'a SourceFile,
    model: &'a Model,
    opts: LowerOptions<'a>,
    state: &mut LowerState,
) -> Result<(), Diagnostic> {
    let program = std::mem::take(&mut state.program);
    let mut l = Lowerer {
        src,
        model,
        config: opts.config,
        catalog: opts.catalog,
        now: opts.now,
        mappings: std::mem::take(&mut state.mappings),
        sources: program.sources,
        source_columns: std::mem::take(&mut state.source_columns),
        source_column_sets: std::mem::take(&mut state.source_column_sets),
        relations: program.relations,
        outputs: program.outputs,
        vars: std::mem::take(&mut state.vars),
        last_source: state.last_source,
        memo: std::mem::take(&mut state.memo),
        names: std::mem::take(&mut state.names),
        versions: std::mem::take(&mut state.versions),
        gets: std::mem::take(&mut state.gets),
        last_get: None,
        in_hand: state.in_hand.take(),
        read_in_hand: std::mem::take(&mut state.read_in_hand),
        records_of: std::mem::take(&mut state.records_of),
        stmt_span: Span::new(0, 0),
        stmt_target: Span::new(0, 0),
        unread: state.unread.take(),
        derive: true,
    };
    let mut result = Ok(());
    for stmt in stmts {
        // An error that knows no better place points at its statement.
        if let Err(d) = l.statement(stmt) {
            result = Err(crate::at(d, stmt.span));
            break;
        }
    }
    *state = LowerState {
        program: Program {
            sources: l.sources,
            relations: l.relations,
            outputs: l.outputs,
        },
        mappings: l.mappings,
        source_columns: l.source_columns,
        source_column_sets: l.source_column_sets,
        vars: l.vars,
        last_source: l.last_source,
        memo: l.memo,
        names: l.names,
        versions: l.versions,
        gets: l.gets,
        in_hand: l.in_hand,
        read_in_hand: l.read_in_hand,
        records_of: l.records_of,
        forgotten_sources: std::mem::take(&mut state.forgotten_sources),
        unread: l.unread,
    };
    result
}

struct Lowerer<'a> {
    src: &'a SourceFile,
    model: &'a Model,
    config: Option<&'a Config>,
    catalog: Option<&'a mut dyn Catalog>,
    now: i64,
    mappings: FxHashMap<String, Arc<Mapping>>,
    sources: Vec<DataSource>,
    /// Per source: the table's columns, when a catalog knows them.
    source_columns: Vec<Option<Vec<String>>>,
    /// The same columns as a set, for lookups (a wide table has hundreds).
    source_column_sets: Vec<Option<FxHashSet<String>>>,
    relations: Vec<Relation>,
    outputs: Vec<Output>,
    /// Variable name → newest relation and the line it was defined on.
    vars: FxHashMap<String, (RelId, usize)>,
    /// The data source GET uses when it names none.
    last_source: Option<usize>,
    /// Memo of `entity_columns` and `class_pred`: hunts ask for the same few again and
    /// again, and each answer walks the whole mapping.
    memo: attr::Memo,
    /// Relation names taken so far, and the last version number given to each base name.
    names: FxHashSet<String>,
    versions: FxHashMap<String, usize>,
    /// The GETs from a data source that FIND may read the records of (by relation
    /// index), and the one the statement being lowered made.
    gets: FxHashMap<usize, find::GetSpec>,
    last_get: Option<find::GetSpec>,
    /// See [`LowerState::limit_in_hand`] and [`LowerState::read_in_hand`].
    in_hand: Option<FxHashSet<usize>>,
    read_in_hand: FxHashSet<usize>,
    /// See [`LowerState::records_apart`].
    records_of: FxHashMap<usize, Option<Expr>>,
    /// The assignment being lowered: its statement and its variable's name.
    stmt_span: Span,
    stmt_target: Span,
    /// See [`LowerState::unread`].
    unread: Option<FxHashSet<String>>,
    /// Whether the statement being lowered builds the columns its records derive (an
    /// event's OCSF classification): not for a variable no statement of the hunt reads.
    derive: bool,
}

/// The parts of a [`Relation`] a later statement consults (see [`Lowerer::info`]).
pub(crate) struct RelInfo {
    pub var: String,
    pub entity: String,
    pub kind: EntityKind,
    pub columns: Option<Vec<String>>,
    pub source: Option<usize>,
}

/// Named column expressions a plan projects.
type Columns = Vec<(String, Expr)>;

/// What a new relation is, before it gets its id.
struct NewRelation {
    entity: String,
    kind: EntityKind,
    plan: Plan,
    columns: Option<Vec<String>>,
    source: Option<usize>,
    command: &'static str,
    depends_on: Vec<String>,
}

impl<'a> Lowerer<'a> {
    fn line(&self, span: Span) -> usize {
        self.src.line_col(span.start).0
    }

    fn statement(&mut self, stmt: &ast::Stmt) -> Result<(), Diagnostic> {
        match &stmt.kind {
            StmtKind::Assign { target, value } => {
                self.last_get = None;
                self.stmt_span = stmt.span;
                self.stmt_target = target.span;
                self.derive = !self
                    .unread
                    .as_ref()
                    .is_some_and(|u| u.contains(&target.name));
                let new = self.rhs(value, stmt.span);
                self.derive = true;
                self.define(target, new?, stmt.span);
                Ok(())
            }
            StmtKind::Disp(e) => {
                let (rel, plan, columns) = self.display(e)?;
                self.output(OutputKind::Disp, rel, plan, columns, stmt.span);
                Ok(())
            }
            StmtKind::Info(v) => {
                let rel = self.var(v)?;
                self.output(OutputKind::Info, rel, Plan::Rel(rel), None, stmt.span);
                Ok(())
            }
            StmtKind::Explain(v) => {
                let rel = self.var(v)?;
                self.output(OutputKind::Explain, rel, Plan::Rel(rel), None, stmt.span);
                Ok(())
            }
            StmtKind::Describe { var, attr } => {
                let rel = self.var(var)?;
                let expr = self.var_attr(rel, attr)?;
                let plan = Plan::Rel(rel).project(vec![(attr.path.clone(), expr)]);
                self.output(
                    OutputKind::Describe {
                        attr: attr.path.clone(),
                    },
                    rel,
                    plan,
                    Some(vec![attr.path.clone()]),
                    stmt.span,
                );
                Ok(())
            }
            StmtKind::Save { var, path } => self.save(var, path, stmt.span),
            // A session runs APPLY itself (src/session/apply.rs); compiling alone cannot
            // know what an analytic will add.
            StmtKind::Apply { analytic, .. } => Err(Diagnostic::error(
                Code::NotAvailable,
                "APPLY runs an analytic, which compiling alone cannot do",
            )
            .at(analytic.span)
            .label("runs when the hunt runs")
            .help(
                "`kestrel run` runs the analytic; compile the statements before it on their own to see their SQL",
            )),
        }
    }

    fn output(
        &mut self,
        kind: OutputKind,
        rel: RelId,
        plan: Plan,
        columns: Option<Vec<String>>,
        span: Span,
    ) {
        self.outputs.push(Output {
            kind,
            rel,
            plan,
            columns,
            span,
            line: self.line(span),
            text: self.src.slice(span).to_string(),
        });
    }

    /// Adds a relation for `target`, as a new version if the name exists.
    fn define(&mut self, target: &Ident, new: NewRelation, span: Span) {
        let name = self.fresh_name(&target.name);
        let identity = self.identity_of(&new.entity, new.source, new.columns.as_deref());
        let identity_alt =
            self.identity_alt_of(&new.entity, new.source, new.columns.as_deref(), &identity);
        let id = RelId(self.relations.len());
        if let Some(get) = self.last_get.take() {
            self.gets.insert(id.0, get);
        }
        self.relations.push(Relation {
            name,
            var: target.name.clone(),
            entity: new.entity,
            kind: new.kind,
            plan: new.plan,
            columns: new.columns,
            identity,
            identity_alt,
            source: new.source,
            command: new.command,
            depends_on: new.depends_on,
            span,
        });
        let line = self.line(span);
        self.vars.insert(target.name.clone(), (id, line));
    }

    /// `base`, or `base_2`, `base_3`, … : the first relation name not taken. Constant time
    /// per call (a hunt may re-assign one name thousands of times).
    fn fresh_name(&mut self, base: &str) -> String {
        let mut n = self.versions.get(base).copied().unwrap_or(0);
        loop {
            n += 1;
            let name = if n == 1 {
                base.to_string()
            } else {
                format!("{base}_{n}")
            };
            if self.names.insert(name.clone()) {
                self.versions.insert(base.to_string(), n);
                return name;
            }
        }
    }

    /// The first identity set of the type whose attributes are all present.
    fn identity_of(
        &self,
        entity: &str,
        source: Option<usize>,
        columns: Option<&[String]>,
    ) -> Vec<String> {
        let Some(cols) = columns else {
            return Vec::new();
        };
        self.identity_sets(entity, source)
            .iter()
            .find(|set| set.iter().all(|a| cols.contains(a)))
            .cloned()
            .unwrap_or_default()
    }

    /// For an entity that is the record itself (slot `.`: a connection), the first identity
    /// set after `identity` whose attributes are all present and none of them in
    /// `identity`: what identifies a record whose `identity` is not whole. Empty otherwise.
    fn identity_alt_of(
        &self,
        entity: &str,
        source: Option<usize>,
        columns: Option<&[String]>,
        identity: &[String],
    ) -> Vec<String> {
        let is_record = self.model.entity(entity).is_some_and(|d| {
            d.kind == EntityKind::Entity && d.slots.iter().all(|s| s == crate::model::EVENT_SLOT)
        });
        let Some(cols) = columns.filter(|_| is_record && !identity.is_empty()) else {
            return Vec::new();
        };
        self.identity_sets(entity, source)
            .iter()
            .find(|set| {
                set.iter()
                    .all(|a| cols.contains(a) && !identity.contains(a))
            })
            .cloned()
            .unwrap_or_default()
    }

    /// The identity attribute sets of `entity`, best first: the source mapping's, where it
    /// gives them, else the type's.
    fn identity_sets(&self, entity: &str, source: Option<usize>) -> &[Vec<String>] {
        let mapped = source
            .and_then(|s| self.mappings.get(&self.sources[s].mapping))
            .and_then(|m| m.identity.get(entity));
        match (mapped, self.model.entity(entity)) {
            (Some(sets), _) => sets,
            (None, Some(def)) => &def.identity,
            (None, None) => &[],
        }
    }

    /// True for the rows that hold an entity at all: rows where some identity set of
    /// `entity` (among those whose attributes are all in `columns`) has no NULL attribute.
    /// `cols` gives each attribute's expression in the rows read. None when nothing needs
    /// testing (the type has no identity sets, or the pattern already tests one whole);
    /// FALSE when the rows supply none of the type's identity sets.
    fn identity_present(
        &self,
        entity: &str,
        source: Option<usize>,
        columns: &[String],
        cols: &[(String, Expr)],
        preds: &[Expr],
    ) -> Option<Expr> {
        let expr_of = |a: &String| cols.iter().find(|(n, _)| n == a).map(|(_, e)| recorded(e));
        let all = self.identity_sets(entity, source);
        let sets: Vec<&Vec<String>> = all
            .iter()
            .filter(|set| !set.is_empty() && set.iter().all(|a| columns.contains(a)))
            .collect();
        if sets.is_empty() && all.iter().any(|set| !set.is_empty()) {
            // The rows supply no identity of the type at all (a table without file columns
            // read for files): no row holds such an entity.
            return Some(crate::ir::FALSE);
        }
        // A set that holds a smaller one adds nothing: where it is whole, so is the smaller.
        let minimal = sets.iter().filter(|set| {
            !sets
                .iter()
                .any(|other| other.len() < set.len() && other.iter().all(|a| set.contains(a)))
        });
        let minimal: Vec<&&Vec<String>> = minimal.collect();
        // A pattern that already tests every attribute of a set (`ip = '10.0.0.1'`) lets
        // no row without them through: nothing to add.
        let mut tested: Vec<Expr> = Vec::new();
        for p in preds {
            null_rejected(p, &mut tested);
        }
        if minimal.iter().any(|set| {
            set.iter()
                .all(|a| expr_of(a).is_some_and(|e| tested.contains(&e)))
        }) {
            return None;
        }
        let alternatives: Vec<Expr> = minimal
            .into_iter()
            .filter_map(|set| {
                set.iter()
                    .map(|a| {
                        expr_of(a).map(|e| Expr::IsNull {
                            expr: Box::new(e),
                            negated: true,
                        })
                    })
                    .collect::<Option<Vec<Expr>>>()
                    .map(Expr::and)
            })
            .collect();
        (!alternatives.is_empty()).then(|| crate::opt::fold::fold(Expr::or(alternatives)))
    }

    fn var(&self, v: &Ident) -> Result<RelId, Diagnostic> {
        if let Some((id, _)) = self.vars.get(&v.name) {
            return Ok(*id);
        }
        let mut d = Diagnostic::error(
            Code::UnknownVariable,
            format!("unknown variable `{}`", v.name),
        )
        .at(v.span)
        .label("not defined before this line");
        if let Some(s) = suggest(&v.name, self.vars.keys().map(String::as_str)) {
            let line = self.vars[s].1;
            d = d.help(format!("did you mean `{s}` (line {line})?"));
        } else if self.vars.is_empty() {
            d = d.help(
                "a variable is defined by an assignment such as `procs = GET process FROM …`",
            );
        }
        Err(d)
    }

    fn entity_name(&self, written: &Ident) -> Result<String, Diagnostic> {
        if let Some(name) = self.model.entity_name(&written.name) {
            return Ok(name.to_string());
        }
        let mut d = Diagnostic::error(
            Code::UnknownEntity,
            format!("unknown entity type `{}`", written.name),
        )
        .at(written.span)
        .label("not an entity type");
        if let Some(s) = suggest(&written.name, self.model.all_entity_names()) {
            d = d.help(format!("did you mean `{s}`?"));
        } else {
            let known: Vec<&str> = self.model.entities.keys().map(String::as_str).collect();
            d = d.help(format!("entity types: {}", known.join(", ")));
        }
        Err(d)
    }

    fn rhs(&mut self, rhs: &Rhs, span: Span) -> Result<NewRelation, Diagnostic> {
        match rhs {
            Rhs::Get {
                entity,
                from,
                pattern,
                time,
                limit,
            } => self.get(
                entity,
                from.as_ref(),
                pattern.as_ref(),
                time.as_ref(),
                *limit,
                span,
            ),
            Rhs::Find {
                entity,
                relation,
                by,
                var,
                pattern,
                time,
                limit,
            } => self.find(
                entity,
                relation,
                *by,
                var,
                pattern.as_ref(),
                time.as_ref(),
                *limit,
            ),
            Rhs::New { entity, data, span } => self.new_values(entity.as_ref(), data, *span),
            Rhs::Expr(e) => {
                let rel = self.var(&e.var)?;
                let (plan, columns) = self.expression(rel, e, false)?;
                let r = self.rel(rel);
                Ok(NewRelation {
                    entity: r.entity.clone(),
                    kind: r.kind,
                    plan,
                    columns,
                    source: r.source,
                    command: if e.timestamped {
                        "timestamped"
                    } else {
                        "assign"
                    },
                    depends_on: vec![r.var.clone()],
                })
            }
            Rhs::Sort { var, attr, desc } => {
                let rel = self.var(var)?;
                let key = self.var_attr(rel, attr)?;
                let r = self.rel(rel);
                Ok(NewRelation {
                    entity: r.entity.clone(),
                    kind: r.kind,
                    plan: Plan::Sort {
                        input: Box::new(Plan::Rel(rel)),
                        keys: vec![SortKey {
                            expr: key,
                            desc: *desc,
                        }],
                    },
                    columns: r.columns.clone(),
                    source: r.source,
                    command: "sort",
                    depends_on: vec![r.var.clone()],
                })
            }
            Rhs::Merge(vars) => self.merge(vars),
            Rhs::Group { var, by, aggs } => self.group(var, by, aggs),
            Rhs::Join { left, right, by } => self.join(left, right, by.as_ref()),
            Rhs::Load { path, entity } => self.load(path, entity.as_ref()),
        }
    }

    fn rel(&self, id: RelId) -> &Relation {
        &self.relations[id.0]
    }

    /// What a statement reads of an earlier relation, without copying its plan.
    fn info(&self, id: RelId) -> RelInfo {
        let r = &self.relations[id.0];
        RelInfo {
            var: r.var.clone(),
            entity: r.entity.clone(),
            kind: r.kind,
            columns: r.columns.clone(),
            source: r.source,
        }
    }

    /// `v = a + b + c`: a union of variables of one type.
    fn merge(&mut self, vars: &[Ident]) -> Result<NewRelation, Diagnostic> {
        let ids = vars
            .iter()
            .map(|v| self.var(v))
            .collect::<Result<Vec<_>, _>>()?;
        let first = self.rel(ids[0]).clone();
        for (v, id) in vars.iter().zip(&ids).skip(1) {
            let r = self.rel(*id);
            if r.entity != first.entity {
                return Err(Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "cannot merge `{}` ({}) with `{}` ({})",
                        vars[0].name, first.entity, v.name, r.entity
                    ),
                )
                .at(v.span)
                .label(format!("this holds {}", r.entity))
                .help("merge variables of the same entity type"));
            }
        }
        // Columns every input has, in the first input's order.
        let columns = ids
            .iter()
            .map(|id| self.rel(*id).columns.clone())
            .collect::<Option<Vec<_>>>()
            .map(|all| {
                all[0]
                    .iter()
                    .filter(|c| all.iter().all(|cols| cols.contains(c)))
                    .cloned()
                    .collect::<Vec<_>>()
            });
        if columns.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(Diagnostic::error(
                Code::TypeMismatch,
                format!(
                    "`{}` and the variables merged with it have no attribute in common",
                    vars[0].name
                ),
            )
            .at(vars[0].span.to(vars[vars.len() - 1].span))
            .help("merge variables that share attributes (INFO shows a variable's attributes)"));
        }
        let inputs =
            ids.iter()
                .map(|id| match &columns {
                    Some(cols) => Plan::Rel(*id)
                        .project(cols.iter().map(|c| (c.clone(), Expr::col(c))).collect()),
                    None => Plan::Rel(*id),
                })
                .collect();
        let sources: Vec<Option<usize>> = ids.iter().map(|id| self.rel(*id).source).collect();
        let source = if sources.iter().all(|s| *s == sources[0]) {
            sources[0]
        } else {
            None
        };
        Ok(NewRelation {
            entity: first.entity.clone(),
            kind: first.kind,
            plan: Plan::Union { inputs },
            columns,
            source,
            command: "merge",
            depends_on: vars.iter().map(|v| v.name.clone()).collect(),
        })
    }

    /// `v = NEW [type] [ "a", … ]` or `[ {json}, … ]`.
    fn new_values(
        &mut self,
        entity: Option<&Ident>,
        data: &[ast::Value],
        span: Span,
    ) -> Result<NewRelation, Diagnostic> {
        let mut entity_name = entity.map(|e| self.entity_name(e)).transpose()?;
        let mut columns: Vec<String> = Vec::new();
        let mut rows: Vec<Vec<(String, Literal)>> = Vec::new();
        for item in data {
            match item {
                ast::Value::Lit(ast::Literal::Str(s), lspan) => {
                    let Some(ent) = &entity_name else {
                        return Err(Diagnostic::error(
                            Code::UnknownEntity,
                            "NEW with a list of strings needs an entity type",
                        )
                        .at(*lspan)
                        .help("write the type first: `NEW process [\"cmd.exe\"]`"));
                    };
                    let col = self.main_attribute(ent);
                    rows.push(vec![(col, Literal::Str(s.clone()))]);
                }
                ast::Value::Object(members, ospan) => {
                    let mut row = Vec::new();
                    let mut flat = Vec::new();
                    flatten_object(members, "", &mut flat);
                    for (key, value) in flat {
                        if key == "type" {
                            if let Literal::Str(t) = &value {
                                let ident = Ident {
                                    name: t.clone(),
                                    span: *ospan,
                                };
                                let t = self.entity_name(&ident)?;
                                match &entity_name {
                                    Some(e) if *e != t => {
                                        return Err(Diagnostic::error(
                                            Code::TypeMismatch,
                                            format!("this entity is a {t}, the others are {e}"),
                                        )
                                        .at(*ospan)
                                        .help("NEW makes entities of one type"))
                                    }
                                    _ => entity_name = Some(t),
                                }
                                continue;
                            }
                        }
                        row.push((key, value));
                    }
                    rows.push(row);
                }
                other => {
                    return Err(Diagnostic::error(
                        Code::BadValue,
                        "NEW takes strings or JSON objects",
                    )
                    .at(other.span())
                    .help("e.g. `NEW process [ {\"name\": \"cmd.exe\", \"pid\": 123} ]`"))
                }
            }
        }
        let Some(entity) = entity_name else {
            return Err(
                Diagnostic::error(Code::UnknownEntity, "NEW needs an entity type")
                    .at(span)
                    .help("give a type (`NEW process [...]`) or a \"type\" key in each object"),
            );
        };
        // Canonical (OCSF) attribute names, in first-seen order.
        let rows: Vec<Vec<(String, Literal)>> = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|(k, v)| (self.model.canonical_attr(&entity, &k), v))
                    .collect()
            })
            .collect();
        for row in &rows {
            for (k, _) in row {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
        if columns.is_empty() {
            // Rows without a single attribute: there is nothing to select.
            return Err(Diagnostic::error(
                Code::BadValue,
                "NEW needs at least one attribute with a value",
            )
            .at(span)
            .help("e.g. `NEW process [\"cmd.exe\"]` or `NEW [ {\"type\": \"process\", \"name\": \"cmd.exe\"} ]`"));
        }
        let values = rows
            .into_iter()
            .map(|row| {
                columns
                    .iter()
                    .map(|c| {
                        row.iter()
                            .find(|(k, _)| k == c)
                            .map(|(_, v)| v.clone())
                            .unwrap_or(Literal::Null)
                    })
                    .collect()
            })
            .collect();
        Ok(self.values_relation(entity, columns, values, "new"))
    }

    /// A relation of rows given in the hunt or a file (NEW, LOAD).
    fn values_relation(
        &self,
        entity: String,
        columns: Vec<String>,
        rows: Vec<Vec<Literal>>,
        command: &'static str,
    ) -> NewRelation {
        let kind = self
            .model
            .entity(&entity)
            .map(|d| d.kind)
            .unwrap_or_default();
        NewRelation {
            entity,
            kind,
            plan: Plan::Values {
                columns: columns.clone(),
                rows,
            },
            columns: Some(columns),
            source: None,
            command,
            depends_on: Vec::new(),
        }
    }

    /// The attribute a bare string in NEW fills: `name`, else `ip`, `hostname`, `path`.
    fn main_attribute(&self, entity: &str) -> String {
        let attrs = self
            .model
            .entity(entity)
            .map(|d| d.attributes.clone())
            .unwrap_or_default();
        ["name", "ip", "hostname", "path", "value"]
            .iter()
            .find(|a| attrs.iter().any(|x| x == *a))
            .map(|a| a.to_string())
            .unwrap_or_else(|| "name".to_string())
    }

    /// `GET type [FROM source] [WHERE …] [time] [LIMIT n]`
    fn get(
        &mut self,
        entity: &Ident,
        from: Option<&ast::Source>,
        shared: Option<&Arc<ast::Pattern>>,
        time: Option<&ast::TimeRange>,
        limit: Option<(u64, Span)>,
        span: Span,
    ) -> Result<NewRelation, Diagnostic> {
        let pattern = shared.map(|p| &**p);
        let entity_name = self.entity_name(entity)?;
        let model = self.model;
        let def = model
            .entity(&entity_name)
            .ok_or_else(|| Diagnostic::internal("entity without definition"))?;
        match from {
            Some(ast::Source::Var(v)) => {
                let rel = self.var(v)?;
                let r = self.info(rel);
                if r.kind == EntityKind::Event && def.kind == EntityKind::Entity {
                    // Entities inside event records: read them with the source's mapping.
                    let source = r.source.ok_or_else(|| {
                        Diagnostic::error(
                            Code::UnknownDataSource,
                            "these events have no data source",
                        )
                        .at(v.span)
                    })?;
                    return self.get_from_rows(
                        &entity_name,
                        Plan::Rel(rel),
                        source,
                        pattern,
                        time,
                        None,
                        limit,
                        vec![r.var.clone()],
                    );
                }
                if r.entity != entity_name {
                    return Err(Diagnostic::error(
                        Code::TypeMismatch,
                        format!("`{}` holds {}, not {}", v.name, r.entity, entity_name),
                    )
                    .at(entity.span)
                    .help(format!("write `GET {} FROM {}`", r.entity, v.name)));
                }
                let mut plan = Plan::Rel(rel);
                if let Some(p) = pattern {
                    let pred = self.pattern(&attr::Ctx::Var(rel), p)?;
                    plan = plan.filter(pred);
                }
                if let Some(t) = time {
                    let pred = self.var_time_filter(rel, t)?;
                    plan = plan.filter(pred);
                }
                if let Some((n, _)) = limit {
                    // The first n in the variable's order, when it was sorted.
                    if let Some(keys) = self.plan_order(&Plan::Rel(rel)) {
                        plan = Plan::Sort {
                            input: Box::new(plan),
                            keys: keys
                                .into_iter()
                                .map(|(expr, desc)| SortKey { expr, desc })
                                .collect(),
                        };
                    }
                    plan = Plan::Limit {
                        input: Box::new(plan),
                        limit: Some(n),
                        offset: 0,
                    };
                }
                Ok(NewRelation {
                    entity: entity_name,
                    kind: r.kind,
                    plan,
                    columns: r.columns.clone(),
                    source: r.source,
                    command: "get",
                    depends_on: vec![r.var.clone()],
                })
            }
            Some(ast::Source::Uri(uri)) => {
                let source = self.data_source(uri)?;
                self.last_source = Some(source);
                self.get_from_table(&entity_name, def, source, shared, time, limit)
            }
            None => {
                let Some(source) = self.last_source else {
                    return Err(Diagnostic::error(
                        Code::UnknownDataSource,
                        "GET without FROM, and no data source used before",
                    )
                    .at(span)
                    .label("where should this GET look?")
                    .help("add `FROM <scheme>://<datasource>` (later GETs may then omit it)"));
                };
                self.get_from_table(&entity_name, def, source, shared, time, limit)
            }
        }
    }

    /// GET from a data source's table; remembers the GET for a FIND that may read the
    /// records it selects (`find::GetSpec`).
    fn get_from_table(
        &mut self,
        entity: &str,
        def: &EntityDef,
        source: usize,
        shared: Option<&Arc<ast::Pattern>>,
        time: Option<&ast::TimeRange>,
        limit: Option<(u64, Span)>,
    ) -> Result<NewRelation, Diagnostic> {
        let pattern = shared.map(|p| &**p);
        let span = self.span_of_references(pattern, time)?;
        let mut new = self.get_from_rows(
            entity,
            Plan::Scan { source },
            source,
            pattern,
            time,
            span,
            limit,
            Vec::new(),
        )?;
        let get = find::GetSpec::of(def, shared, time, span, limit)
            .filter(|_| self.type_classes(source, entity).is_empty());
        self.last_get = match get {
            Some(mut get) if self.records_of.contains_key(&self.stmt_span.start) => {
                let (plan, records) = self.split_records(new.plan, source);
                new.plan = plan;
                get.records = records;
                Some(get)
            }
            get => get,
        };
        Ok(new)
    }

    /// A GET's plan `Scan → Filter(f) → Project` as `RECORDS → Filter(f) → Project`,
    /// where `RECORDS(v)` is a hidden relation of the records it selects, `Scan →
    /// Filter(f)`: a FIND that reads these records in hand reads them from it (see
    /// [`LowerState::records_apart`]). Any other plan stays as it is.
    fn split_records(&mut self, plan: Plan, source: usize) -> (Plan, Option<RelId>) {
        let Plan::Project { input, cols } = &plan else {
            return (plan, None);
        };
        let Plan::Filter { input: rows, pred } = &**input else {
            return (plan, None);
        };
        if **rows != (Plan::Scan { source }) {
            return (plan, None);
        }
        let (pred, cols) = (pred.clone(), cols.clone());
        let id = RelId(self.relations.len());
        let var = self.src.slice(self.stmt_target).to_string();
        let name = self.fresh_name(&format!("{var}_records"));
        // The table's columns, where the catalog knows them (a table of unknown columns
        // cannot be kept: the relation is then part of the statements that read it).
        let columns = self.source_columns[source].clone();
        let identity = self.identity_of("event", Some(source), columns.as_deref());
        let identity_alt =
            self.identity_alt_of("event", Some(source), columns.as_deref(), &identity);
        self.relations.push(Relation {
            name,
            // A helper, not a variable: named as written, which no variable can be.
            var: format!("RECORDS({var})"),
            entity: "event".to_string(),
            kind: EntityKind::Event,
            plan: Plan::Scan { source }.filter(match self.records_of.get(&self.stmt_span.start) {
                Some(Some(whole)) => whole.clone(),
                _ => pred.clone(),
            }),
            columns,
            identity,
            identity_alt,
            source: Some(source),
            command: "records",
            depends_on: Vec::new(),
            span: self.stmt_span,
        });
        let plan = Plan::Rel(id).filter(pred).project(cols);
        (plan, Some(id))
    }

    /// GET over rows with native columns (a table, or an event variable's records).
    #[allow(clippy::too_many_arguments)]
    fn get_from_rows(
        &mut self,
        entity: &str,
        rows: Plan,
        source: usize,
        pattern: Option<&ast::Pattern>,
        time: Option<&ast::TimeRange>,
        reference_span: Option<(i64, i64)>,
        limit: Option<(u64, Span)>,
        depends_on: Vec<String>,
    ) -> Result<NewRelation, Diagnostic> {
        let model = self.model;
        let def = model
            .entity(entity)
            .ok_or_else(|| Diagnostic::internal("entity without definition"))?;
        let mut branches = Vec::new();
        let mut columns: Option<Vec<String>> = None;
        // A type that is an event class (network_activity, file_activity, …) stands for
        // the rows of that class and its refinements, where the mapping tells classes apart.
        let classes: Vec<String> = self
            .type_classes(source, entity)
            .into_iter()
            .map(str::to_string)
            .collect();
        let class_filter = (!classes.is_empty())
            .then(|| Expr::or(classes.iter().map(|c| self.class_pred(source, c)).collect()));
        // Rows of one class read their attributes the way the mapping says for that class,
        // not through a per-class CASE.
        let class: Option<String> = match &classes[..] {
            [c] => Some(c.clone()),
            _ => None,
        };
        // Per slot: its filters, and what to project (None: the rows whole).
        let mut pending: Vec<(Vec<Expr>, Option<Columns>)> = Vec::new();
        for slot in &def.slots {
            let ctx = attr::Ctx::Rows {
                source,
                entity: entity.to_string(),
                slot: slot.clone(),
                class: class.clone(),
            };
            let mut preds = Vec::new();
            if let Some(c) = &class_filter {
                preds.push(c.clone());
            }
            if let Some(p) = pattern {
                preds.push(self.pattern(&ctx, p)?);
            }
            if let Some(t) = time {
                preds.push(self.time_filter(source, t)?);
            } else if let Some((start, stop)) = reference_span {
                // Only where the source has timestamps; otherwise the search is unbounded.
                if let Ok(f) = self.bounds_filter(source, start, stop, Span::new(0, 0)) {
                    preds.push(f);
                }
            }
            if def.kind == EntityKind::Entity {
                let cols = self.entity_columns(source, entity, slot, class.as_deref())?;
                if cols.is_empty() {
                    return Err(Diagnostic::error(
                        Code::UnknownAttribute,
                        format!(
                            "data source `{}` has no column for any attribute of {entity}",
                            self.sources[source].name
                        ),
                    )
                    .help(format!(
                        "mapping `{}` was used",
                        self.sources[source].mapping
                    )));
                }
                let names: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
                // With several slots (an address is a source or a destination), every
                // branch must have the same columns.
                match &columns {
                    None => columns = Some(names),
                    Some(prev) if *prev == names => {}
                    Some(prev) => {
                        let keep: Vec<String> =
                            prev.iter().filter(|c| names.contains(c)).cloned().collect();
                        columns = Some(keep);
                    }
                }
                pending.push((preds, Some(cols)));
            } else {
                let cols = self.event_columns(source, class.as_deref(), self.derive);
                columns = cols
                    .as_ref()
                    .map(|cs| cs.iter().map(|(n, _)| n.clone()).collect());
                pending.push((preds, cols));
            }
        }
        // A record whose slot holds no entity (every identity attribute NULL) gives none.
        for (mut preds, cols) in pending {
            if let (Some(cols), Some(columns)) = (&cols, &columns) {
                if def.kind == EntityKind::Entity {
                    if let Some(p) =
                        self.identity_present(entity, Some(source), columns, cols, &preds)
                    {
                        preds.push(p);
                    }
                }
            }
            let plan = rows.clone().filter(Expr::and(preds));
            branches.push(match cols {
                Some(cols) => plan.project(cols),
                None => plan,
            });
        }
        let plan = union_limited(branches, columns.as_deref(), limit);
        Ok(NewRelation {
            entity: entity.to_string(),
            kind: def.kind,
            plan,
            columns,
            source: Some(source),
            command: "get",
            depends_on,
        })
    }

    /// With no time range of its own, a pattern referencing variables searches their
    /// records' time span (see `span.rs`).
    pub(super) fn span_of_references(
        &mut self,
        pattern: Option<&ast::Pattern>,
        time: Option<&ast::TimeRange>,
    ) -> Result<Option<(i64, i64)>, Diagnostic> {
        match (pattern, time) {
            (Some(p), None) => self.reference_span(p),
            _ => Ok(None),
        }
    }

    /// Resolves a data source URI (`scheme://name`) to a source index.
    fn data_source(&mut self, uri: &Ident) -> Result<usize, Diagnostic> {
        let name = uri
            .name
            .split_once("://")
            .map(|(_, n)| n)
            .unwrap_or(&uri.name)
            .trim_end_matches('/')
            .to_string();
        if let Some(i) = self.sources.iter().position(|s| s.name == name) {
            return Ok(i);
        }
        let (mut ds, named_timestamp) = match self.config {
            Some(config) => {
                let Some((ds_name, ds)) = config.resolve_datasource(&uri.name) else {
                    let names: Vec<&str> = config.datasources.keys().map(String::as_str).collect();
                    let mut d = Diagnostic::error(
                        Code::UnknownDataSource,
                        format!("unknown data source `{name}`"),
                    )
                    .at(uri.span)
                    .label("not in the configuration");
                    d = match suggest(&name, names.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None if names.is_empty() => {
                            d.help("the configuration defines no data sources")
                        }
                        None => d.help(format!("configured data sources: {}", names.join(", "))),
                    };
                    return Err(d);
                };
                let mapping_name = ds
                    .data_model_map
                    .clone()
                    .unwrap_or_else(|| DEFAULT_MAPPING.to_string());
                let named = ds.timestamp.is_some();
                let mapping = self.mapping(&mapping_name, uri.span)?;
                let ds = DataSource {
                    name: ds_name.to_string(),
                    uri: uri.name.clone(),
                    table: ds.table.clone(),
                    connection: Some(ds.connection.clone()),
                    timestamp: ds.timestamp.clone().or_else(|| mapping.timestamp.clone()),
                    timestamp_format: ds
                        .timestamp_format
                        .clone()
                        .or_else(|| mapping.timestamp_format.clone())
                        .unwrap_or_else(|| DEFAULT_TIMESTAMP_FORMAT.to_string()),
                    mapping: mapping_name,
                };
                (ds, named)
            }
            None => {
                let mapping = self.mapping(DEFAULT_MAPPING, uri.span)?;
                let ds = DataSource {
                    name: name.clone(),
                    uri: uri.name.clone(),
                    // Without a configuration the name is one table, dots and all.
                    table: crate::sql::table_name::single(&name),
                    connection: None,
                    timestamp: mapping.timestamp.clone(),
                    timestamp_format: mapping
                        .timestamp_format
                        .clone()
                        .unwrap_or_else(|| DEFAULT_TIMESTAMP_FORMAT.to_string()),
                    mapping: DEFAULT_MAPPING.to_string(),
                };
                (ds, false)
            }
        };
        let columns = match self.catalog.as_deref_mut() {
            Some(c) => c.columns(&ds).map_err(|d| match d.span {
                Some(_) => d,
                None => d.at(uri.span),
            })?,
            None => None,
        };
        // The mapping's timestamp column (ECS `@timestamp`) where the table has no such
        // column is no timestamp at all: nothing may read it (a kept variable's stamp,
        // START/STOP). One the configuration names stays, and is reported where read.
        if let (Some(cols), Some(ts)) = (&columns, &ds.timestamp) {
            if !named_timestamp && !cols.contains(ts) {
                ds.timestamp = None;
            }
        }
        self.sources.push(ds);
        self.source_column_sets
            .push(columns.as_ref().map(|c| c.iter().cloned().collect()));
        self.source_columns.push(columns);
        Ok(self.sources.len() - 1)
    }

    fn mapping(&mut self, name: &str, span: Span) -> Result<&Mapping, Diagnostic> {
        if !self.mappings.contains_key(name) {
            let m = load_mapping(name)
                .and_then(|m| {
                    self.model.check_classification(&m, name)?;
                    Ok(m)
                })
                .map_err(|e| {
                    Diagnostic::error(Code::UnknownDataSource, e.to_string())
                        .at(span)
                        .label("the data source's mapping cannot be loaded")
                })?;
            self.mappings.insert(name.to_string(), m);
        }
        self.mappings
            .get(name)
            .map(|m| &**m)
            .ok_or_else(|| Diagnostic::internal("mapping vanished"))
    }

    /// DISP: the expression's rows, deduplicated, under the names written in ATTR.
    fn display(
        &mut self,
        e: &ast::Expression,
    ) -> Result<(RelId, Plan, Option<Vec<String>>), Diagnostic> {
        let rel = self.var(&e.var)?;
        let (plan, columns) = self.expression(rel, e, true)?;
        Ok((rel, plan, columns))
    }

    /// `v [WHERE …] [ATTR …] [SORT BY …] [LIMIT n [OFFSET m]]` over a variable (or over
    /// `TIMESTAMPED(v)`). Without SORT BY, rows keep the order the variable was sorted in.
    fn expression(
        &mut self,
        rel: RelId,
        e: &ast::Expression,
        display: bool,
    ) -> Result<(Plan, Option<Vec<String>>), Diagnostic> {
        let rel = if e.timestamped {
            self.stamped_rel(rel, &e.var)?
        } else {
            rel
        };
        let mut plan = Plan::Rel(rel);
        if let Some(p) = &e.pattern {
            let pred = self.pattern(&attr::Ctx::Var(rel), p)?;
            plan = plan.filter(pred);
        }
        let sort_key: Option<(Expr, bool)> = match &e.sort {
            Some((a, desc)) => Some((self.var_attr(rel, a)?, *desc)),
            // A display shows a sorted variable in its order, and LIMIT/OFFSET take the
            // first rows in that order.
            None if display || e.limit.is_some() || e.offset.is_some() => self
                .plan_order(&Plan::Rel(rel))
                .and_then(|keys| keys.into_iter().next()),
            None => None,
        };
        let r_columns = self.rel(rel).columns.clone();
        let mut columns = r_columns.clone();
        let mut cols: Option<Vec<(String, Expr)>> = None;
        if !e.attrs.is_empty() {
            let mut out = Vec::new();
            for a in &e.attrs {
                let expr = self.var_attr(rel, a)?;
                // A display keeps the names as written; a variable keeps model names.
                let name = if display {
                    a.path.clone()
                } else {
                    match &expr {
                        Expr::Col(c) => c.clone(),
                        _ => a.path.clone(),
                    }
                };
                out.push((name, expr));
            }
            columns = Some(out.iter().map(|(n, _)| n.clone()).collect());
            cols = Some(out);
        } else if display {
            cols = r_columns
                .as_ref()
                .map(|cs| cs.iter().map(|c| (c.clone(), Expr::col(c))).collect());
        }
        if display {
            plan = display_rows(plan, cols, sort_key);
        } else {
            // Sort before projecting so the key is still there.
            if let Some((key, desc)) = sort_key {
                plan = Plan::Sort {
                    input: Box::new(plan),
                    keys: vec![SortKey { expr: key, desc }],
                };
            }
            if let Some(cols) = cols {
                plan = plan.project(cols);
            }
        }
        if e.limit.is_some() || e.offset.is_some() {
            plan = Plan::Limit {
                input: Box::new(plan),
                limit: e.limit.map(|(n, _)| n),
                offset: e.offset.map(|(n, _)| n).unwrap_or(0),
            };
        }
        Ok((plan, columns))
    }

    /// A hidden relation holding `TIMESTAMPED(rel)`, for the clauses after it.
    fn stamped_rel(&mut self, rel: RelId, var: &Ident) -> Result<RelId, Diagnostic> {
        let (plan, columns) = self.timestamped(rel, var)?;
        if plan == Plan::Rel(rel) {
            return Ok(rel);
        }
        let r = self.rel(rel).clone();
        let name = self.fresh_name(&format!("{}_timestamped", r.var));
        let identity = self.identity_of(&r.entity, r.source, Some(&columns));
        let identity_alt = self.identity_alt_of(&r.entity, r.source, Some(&columns), &identity);
        self.relations.push(Relation {
            name,
            // A helper, not a variable: named as written, which no variable can be.
            var: format!("TIMESTAMPED({})", r.var),
            entity: r.entity.clone(),
            kind: r.kind,
            plan,
            columns: Some(columns),
            identity,
            identity_alt,
            source: r.source,
            command: "timestamped",
            depends_on: vec![r.var.clone()],
            span: var.span,
        });
        Ok(RelId(self.relations.len() - 1))
    }

    fn plan_order(&self, plan: &Plan) -> Option<Vec<(Expr, bool)>> {
        plan_order(&self.relations, plan)
    }
}

/// The order a plan's rows were sorted in (SORT, or an expression's SORT BY), as keys
/// over its output columns, when it still holds.
pub(crate) fn plan_order(rels: &[Relation], plan: &Plan) -> Option<Vec<(Expr, bool)>> {
    match plan {
        Plan::Sort { keys, .. } => Some(keys.iter().map(|k| (k.expr.clone(), k.desc)).collect()),
        Plan::Filter { input, .. } | Plan::Limit { input, .. } | Plan::Distinct { input } => {
            plan_order(rels, input)
        }
        Plan::Rel(id) => plan_order(rels, &rels[id.0].plan),
        Plan::Project { input, cols } => plan_order(rels, input)?
            .into_iter()
            .map(|(key, desc)| {
                cols.iter()
                    .find(|(_, e)| *e == key)
                    .map(|(n, _)| (Expr::col(n), desc))
            })
            .collect(),
        _ => None,
    }
}

/// What a row records for an attribute, for telling whether it holds a value: a path's
/// basename or dirname is NULL exactly when the path is, and a process id is recorded when
/// its column holds one (`integer` reads the text; any value there counts as recorded).
fn recorded(e: &Expr) -> Expr {
    match e {
        Expr::Func {
            func: crate::ir::Func::Basename | crate::ir::Func::Dirname | crate::ir::Func::Integer,
            args,
        } if args.len() == 1 => recorded(&args[0]),
        Expr::Case { whens, otherwise } => Expr::case(
            whens
                .iter()
                .map(|(c, v)| (c.clone(), recorded(v)))
                .collect(),
            recorded(otherwise),
        ),
        e => e.clone(),
    }
}

/// The expressions a predicate's top-level conjuncts compare (a comparison, LIKE, MATCHES
/// or IN is never true where its subject is NULL), with a path's basename or dirname
/// counted as the path.
fn null_rejected(e: &Expr, out: &mut Vec<Expr>) {
    let mut push = |x: &Expr| {
        out.push(x.clone());
        if let Expr::Func {
            func: crate::ir::Func::Basename | crate::ir::Func::Dirname,
            args,
        } = x
        {
            if let [arg] = &args[..] {
                out.push(arg.clone());
            }
        }
    };
    match e {
        Expr::And(parts) => {
            for p in parts.iter() {
                null_rejected(p, out);
            }
        }
        Expr::Cmp { left, right, .. } => {
            if matches!(**right, Expr::Lit(_)) {
                push(left);
            }
        }
        Expr::Like { expr, .. } | Expr::Regex { expr, .. } | Expr::InList { expr, .. } => {
            push(expr)
        }
        Expr::IsNull {
            expr,
            negated: true,
        } => push(expr),
        _ => {}
    }
}

/// Hidden column a display sorts by when the sort key is not shown.
const SORT_COLUMN: &str = "__sort_key";

/// The rows a display shows: `cols` (all columns when None), deduplicated, ordered by
/// `sort`. A key that is not shown still orders the rows: each shown row sorts by the
/// smallest (ASC) or largest (DESC) key among the records it stands for.
fn display_rows(plan: Plan, cols: Option<Vec<(String, Expr)>>, sort: Option<(Expr, bool)>) -> Plan {
    let sort_by = |input: Plan, expr: Expr, desc: bool| Plan::Sort {
        input: Box::new(input),
        keys: vec![SortKey { expr, desc }],
    };
    let distinct = |input: Plan| Plan::Distinct {
        input: Box::new(input),
    };
    match (cols, sort) {
        (None, None) => distinct(plan),
        (None, Some((key, desc))) => sort_by(distinct(plan), key, desc),
        (Some(cols), None) => distinct(plan.project(cols)),
        (Some(cols), Some((key, desc))) => {
            if let Some((name, _)) = cols.iter().find(|(_, e)| *e == key) {
                let name = name.clone();
                return sort_by(distinct(plan.project(cols)), Expr::col(name), desc);
            }
            let names: Vec<(String, Expr)> = cols
                .iter()
                .map(|(n, _)| (n.clone(), Expr::col(n)))
                .collect();
            let func = if desc { AggFunc::Max } else { AggFunc::Min };
            let grouped = Plan::Aggregate {
                input: Box::new(plan),
                keys: cols,
                aggs: vec![(SORT_COLUMN.to_string(), func, key)],
            };
            sort_by(grouped, Expr::col(SORT_COLUMN), desc).project(names)
        }
    }
}

/// The branches of a GET or FIND (one per slot or event class) as one plan: a single
/// branch as is, several as a UNION ALL over the columns they all have; then LIMIT.
pub(super) fn union_limited(
    mut branches: Vec<Plan>,
    columns: Option<&[String]>,
    limit: Option<(u64, Span)>,
) -> Plan {
    let plan = if branches.len() == 1 {
        branches.remove(0)
    } else {
        match columns {
            // Columns unknown (events of a table the catalog has not read: every branch
            // reads the same table) or none in common: the branches as they are, rather
            // than a SELECT of no columns.
            None | Some([]) => Plan::Union { inputs: branches },
            Some(keep) => Plan::Union {
                inputs: branches
                    .into_iter()
                    .map(|p| p.project(keep.iter().map(|c| (c.clone(), Expr::col(c))).collect()))
                    .collect(),
            },
        }
    };
    match limit {
        Some((n, _)) => Plan::Limit {
            input: Box::new(plan),
            limit: Some(n),
            offset: 0,
        },
        None => plan,
    }
}

/// Flattens `{"a": {"b": 1}}` to `a.b = 1`; lists become JSON text.
fn flatten_object(
    members: &[(String, ast::Value)],
    prefix: &str,
    out: &mut Vec<(String, Literal)>,
) {
    for (k, v) in members {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            ast::Value::Object(inner, _) => flatten_object(inner, &key, out),
            other => out.push((key, value_literal(other))),
        }
    }
}

/// A NEW value as a literal (lists as JSON text).
fn value_literal(v: &ast::Value) -> Literal {
    match v {
        ast::Value::Lit(l, _) => ast_literal(l),
        other => Literal::Str(value_json(other).to_string()),
    }
}

fn value_json(v: &ast::Value) -> serde_json::Value {
    match v {
        ast::Value::Lit(l, _) => match ast_literal(l) {
            Literal::Null => serde_json::Value::Null,
            Literal::Bool(b) => b.into(),
            Literal::Int(i) => i.into(),
            Literal::Float(f) => serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Literal::Str(s) => s.into(),
            Literal::Timestamp(t) => crate::ir::timestamp_text(t).into(),
        },
        ast::Value::List(items, _) => items.iter().map(value_json).collect(),
        ast::Value::Object(m, _) => m
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        ast::Value::Ref { var, attr, .. } => format!("{}.{attr}", var.name).into(),
        ast::Value::Word(w) => w.name.clone().into(),
    }
}

pub(crate) fn ast_literal(l: &ast::Literal) -> Literal {
    match l {
        ast::Literal::Str(s) | ast::Literal::Timestamp(s) => Literal::Str(s.clone()),
        ast::Literal::Int(i) => Literal::Int(*i),
        ast::Literal::Float(f) => Literal::Float(*f),
        ast::Literal::Bool(b) => Literal::Bool(*b),
        ast::Literal::Null => Literal::Null,
    }
}

/// Mappings are parsed once per process: a hunt compiles in microseconds, a YAML parse
/// takes milliseconds. Files given by path are cached too (a run reads them once).
fn load_mapping(name: &str) -> Result<Arc<Mapping>, crate::model::ModelError> {
    static CACHE: OnceLock<Mutex<FxHashMap<String, Arc<Mapping>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(FxHashMap::default()));
    if let Some(m) = cache.lock().ok().and_then(|c| c.get(name).cloned()) {
        return Ok(m);
    }
    let m = Arc::new(Mapping::load(name)?);
    if let Ok(mut c) = cache.lock() {
        c.insert(name.to_string(), m.clone());
    }
    Ok(m)
}

/// Whether `cidr` is an IPv4 network `ISSUBSET` accepts (`10.0.0.0/8`, `1.2.3.4`).
pub fn cidr_valid(cidr: &str) -> bool {
    pattern::cidr_match(Expr::col("x"), cidr).is_some()
}

/// Keeps the items of `v` whose `stays` is true, in order.
fn retain_where<T>(v: &mut Vec<T>, stays: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        stays.get(i - 1).copied().unwrap_or(true)
    });
}
