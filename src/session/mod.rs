//! A session: the variables of a hunt, what has been computed of them, and the
//! connections they live on. `kestrel run` holds one for a run; an interactive shell or a
//! notebook kernel holds one for its lifetime and feeds it one input at a time.
//!
//! In: hunt text (a whole hunt, or one input after another), the configuration, a
//! [`Frontend`] for results. Out: each DISP, INFO, DESCRIBE, EXPLAIN and SAVE as it runs,
//! the summary rows, or the first [`Diagnostic`].
//!
//! Each variable's chain reaches its data source at most once per session. The first
//! time a statement needs a variable that more than one query will read (a display and
//! the summary's count, a FIND from it, a DESCRIBE), the session computes it into a
//! *stored* table and rewrites the variable's plan to read that table; every later reader
//! (displays, counts, FIND, GET FROM, references, time spans) reads what was stored. A
//! variable read by a single query stays a CTE of that query (pushing the chain down
//! costs nothing extra); EXPLAIN shows which. A variable read by one statement and the
//! summary is not stored either where that statement can count it on the way (see
//! `tally.rs`); a connection may also decline to keep a variable too large to be worth
//! it (DataFusion past 250,000 rows; PostgreSQL when its planner expects more).
//!
//! Where stored rows live (see `store.rs`): a temporary table on the connection that
//! computed them when it can hold one (SQLite's temp schema, which works on a read-only
//! connection; PostgreSQL and MariaDB in a transaction of its own), so nothing leaves the
//! database; otherwise the session's cache (an embedded SQLite database spilling to a
//! temporary file), fed as the rows stream in. Rows are never held whole in memory.
//! Where the stored rows pass through kestrel (DataFusion and a Ballista cluster write a
//! Parquet file from the client), they are counted for the summary as they are written
//! (`Backend::store_counted`), and the summary reads nothing again.
//!
//! How many queries will read a variable: for a whole hunt the session compiles it first
//! (which also reports any error in the hunt before anything runs) and counts, per
//! variable, the later statements and the summary that read it, and which of its
//! attributes they read (only those are stored), as the hunt is written: the reuse pass
//! may make a variable a reference to an identical earlier one, but whether it can at
//! run time depends on that one not being stored or forgotten by then. An input of an
//! interactive session cannot see the future: a variable is stored, whole, when a
//! statement first reads it.
//!
//! A version that nothing can read any more is forgotten (see `forget.rs`): its table
//! dropped, its plan and state let go; an interactive session also renumbers what stays
//! (`Session::compact`), so only the text of its inputs grows with it.

mod apply;
mod beside;
pub mod connections;
mod forget;
mod store;
mod tally;

use std::io;

use crate::backend::{self, Backend, BackendError, Collect, EntityCounter, RowSink};
use crate::config::{redact_url, Config};
use crate::diag::{Code, Diagnostic};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::ir::{Expr, Output, OutputKind, Plan, Program, RelId};
use crate::lower::{Catalog, LowerOptions, LowerState};
use crate::opt::Need;
use crate::output::progress::{self, Spinner};
use crate::output::{Frontend, Printer, SummaryRow};
use crate::source::{SourceFile, Span};
use crate::sql::{self, LiteralMode, SqlStatement};
use crate::syntax::ast;
use crate::value::Value;

pub use connections::Connections;
use connections::{dialect_of, placement, source_error};

/// How a session works.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// The summary will count every variable (one more query reading each).
    pub summary: bool,
    /// Keep computed variables (off: every statement computes its chain from the data
    /// sources, as a stateless compiler does; for comparison and tests).
    pub store: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            summary: true,
            store: true,
        }
    }
}

/// What the session knows of one relation.
#[derive(Debug, Clone, Default)]
struct RelState {
    /// Where its rows were stored, once they were.
    stored: Option<store::Stored>,
    /// Records and entities, once counted.
    counts: Option<(u64, u64)>,
    /// How many queries will read it, when the whole hunt is known.
    uses: Option<usize>,
    /// The attributes they read (None: all).
    need: Option<Vec<String>>,
    /// Whether its chain reads a data source (see [`Session::reads_source`]).
    reads_source: Option<bool>,
    /// Its connection declined to keep it: more rows than this (see
    /// [`BackendError::TooManyToKeep`]).
    not_kept: Option<usize>,
    /// Read by one statement that can count it on the way, and by the summary: not
    /// kept, counted by that statement (see [`tally`]).
    tally_reader: bool,
    /// A DISP can count it on the way with grouping sets (see [`tally::sets_shape`]).
    sets_reader: bool,
    /// How its connection can count it on the way, if it can, once asked.
    way: Option<Option<Way>>,
    /// Its counts were taken on the way.
    tallied: bool,
    /// The summary counts it (the newest version of a variable of a whole hunt).
    summarised: bool,
}

/// How a statement counts a variable on the way (see [`tally`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// The connection's tally function.
    Tally,
    /// Grouping sets of the variable's entities, counted as their rows arrive.
    Sets,
}

/// One session. See the module documentation.
pub struct Session<'c> {
    config: Option<&'c Config>,
    conns: Connections<'c>,
    state: LowerState,
    reuse: crate::opt::Reuse,
    /// Every input so far, one after another; spans are offsets into it.
    src: SourceFile,
    opts: SessionOptions,
    rels: Vec<RelState>,
    /// Outputs of `state.program` already run.
    outputs_run: usize,
    /// Names of stored tables made so far (each new one is `kestrel_<n>_<var>`).
    tables_made: usize,
    now: i64,
    /// Attributes analytics added (APPLY), which INFO lists as customized attributes.
    added: Vec<String>,
    /// Where the newest input starts in `src`.
    input_start: usize,
    /// Counts running on second connections (see [`beside`]).
    beside: beside::Beside,
    /// Which relations can still be read (see [`forget`]).
    liveness: forget::Liveness,
    /// A whole hunt planned before it ran (see [`Session::run_hunt`]).
    planned: bool,
}

impl<'c> Session<'c> {
    pub fn new(config: Option<&'c Config>, opts: SessionOptions) -> Session<'c> {
        Session {
            config,
            conns: Connections::new(config),
            state: LowerState::default(),
            reuse: crate::opt::Reuse::default(),
            src: SourceFile::new("<input>", ""),
            opts,
            rels: Vec::new(),
            outputs_run: 0,
            tables_made: 0,
            now: crate::lower::time::now_micros(),
            added: Vec::new(),
            input_start: 0,
            beside: beside::Beside::default(),
            liveness: forget::Liveness::default(),
            planned: false,
        }
    }

    /// How the session works.
    pub fn options(&self) -> SessionOptions {
        self.opts
    }

    /// Everything the session was given, for rendering its diagnostics.
    pub fn source(&self) -> &SourceFile {
        &self.src
    }

    /// A diagnostic as a REPL or a notebook shows it: lines counted from the start of the
    /// newest input when it points there (an input is read as a file of its own), else
    /// from the start of the sitting.
    pub fn render(&self, d: &Diagnostic) -> String {
        match d.span {
            Some(span) if span.start >= self.input_start => {
                let input =
                    SourceFile::new(self.src.name.clone(), &self.src.text[self.input_start..]);
                let mut d = d.clone();
                d.span = Some(Span::new(
                    span.start - self.input_start,
                    span.end - self.input_start,
                ));
                d.render(&input)
            }
            _ => d.render(&self.src),
        }
    }

    /// The program so far.
    pub fn program(&self) -> &Program {
        &self.state.program
    }

    /// The session's connections (tests put a watched backend in place of one).
    pub fn connections(&mut self) -> &mut Connections<'c> {
        &mut self.conns
    }

    /// Runs a whole hunt in a new session: compiled in full first (so an error anywhere
    /// in it is reported before anything runs, and the session knows how often each
    /// variable will be read), then run statement by statement.
    pub fn run_hunt(&mut self, src: &SourceFile, out: &mut dyn Frontend) -> Result<(), Diagnostic> {
        self.run_hunt_as(src, out, false)
    }

    /// [`Session::run_hunt`] for a session that runs nothing after it (`kestrel run`): a
    /// variable none of the hunt's statements reads is computed without the columns
    /// only a reader would see (see [`LowerState::whole_hunt`]); the summary's counts
    /// are the same.
    pub fn run_whole_hunt(
        &mut self,
        src: &SourceFile,
        out: &mut dyn Frontend,
    ) -> Result<(), Diagnostic> {
        self.run_hunt_as(src, out, true)
    }

    fn run_hunt_as(
        &mut self,
        src: &SourceFile,
        out: &mut dyn Frontend,
        whole: bool,
    ) -> Result<(), Diagnostic> {
        if !self.state.program.relations.is_empty() || !self.src.text.is_empty() {
            return self.execute(&src.text, out).map(|_| ());
        }
        self.src = src.clone();
        self.planned = true;
        let hunt = crate::syntax::parse(&self.src)?;
        if whole {
            self.state.whole_hunt(&hunt.stmts);
        }
        self.plan_uses_until_apply(&hunt)?;
        self.run_statements(&hunt.stmts, out)
    }

    /// Runs one more input (a REPL line, a notebook cell) after the earlier ones, whose
    /// variables it may use. Returns the variables it defined, by relation, in order:
    /// the numbers hold until the next input, which may number relations again.
    pub fn execute(
        &mut self,
        text: &str,
        out: &mut dyn Frontend,
    ) -> Result<Vec<RelId>, Diagnostic> {
        self.compact();
        let offset = self.src.append_line(text);
        self.input_start = offset;
        let hunt = crate::syntax::parse_from(&self.src, offset)?;
        let first = self.state.program.relations.len();
        self.run_statements(&hunt.stmts, out)?;
        Ok(self.defined_since(first))
    }

    /// The newest relation of each variable defined from relation `first` on, in order
    /// of definition (helper relations such as `TIMESTAMPED(v)` are not variables).
    fn defined_since(&self, first: usize) -> Vec<RelId> {
        newest_versions(&self.state.program, first)
    }

    fn run_statements(
        &mut self,
        stmts: &[ast::Stmt],
        out: &mut dyn Frontend,
    ) -> Result<(), Diagnostic> {
        for stmt in stmts {
            if backend::cancel::requested() {
                return Err(source_error(None, BackendError::Cancelled).at(stmt.span));
            }
            // The variables it reads that several queries read are computed and kept
            // first, so the statement (and the time span lowering measures) reads them.
            for v in stmt.reads() {
                if let Some(id) = self.state.var(&v.name) {
                    self.keep_if_worth(id)?;
                }
            }
            if let ast::StmtKind::Apply { .. } = stmt.kind {
                self.apply(stmt, out)?;
                continue;
            }
            let rels = self.state.program.relations.len();
            let outs = self.state.program.outputs.len();
            let model = crate::model()?;
            crate::lower::lower_more(
                std::slice::from_ref(stmt),
                &self.src,
                model,
                LowerOptions {
                    config: self.config,
                    catalog: Some(&mut self.conns),
                    now: self.now,
                },
                &mut self.state,
            )?;
            crate::opt::fold_new(&mut self.state.program, rels, outs);
            self.reuse.extend(&mut self.state.program, outs);
            // Planned relations (a whole hunt) are known already; inputs add theirs.
            self.track_relations();
            while self.outputs_run < self.state.program.outputs.len() {
                let o = self.state.program.outputs[self.outputs_run].clone();
                self.outputs_run += 1;
                self.run_output(&o, out)?;
            }
            self.forget_unreachable();
        }
        Ok(())
    }

    /// Forgets what no statement can read any more (see [`forget`]): the versions of
    /// variables assigned again that nothing still readable reads. Their kept tables are
    /// dropped, and their plans and states let go, as are the outputs that ran, so a
    /// long session (a REPL, a notebook) holds its live variables and the text of its
    /// inputs, not all it ever computed.
    fn forget_unreachable(&mut self) {
        self.state.program.outputs.clear();
        self.outputs_run = 0;
        let state = &self.state;
        let newest = |i: usize| state.var(&state.program.relations[i].var) == Some(RelId(i));
        let forgotten = self.liveness.unreadable(&state.program, &newest);
        if forgotten.is_empty() {
            return;
        }
        let mut sources = Vec::new();
        for &i in &forgotten {
            let Some(s) = self.rels.get_mut(i) else {
                continue;
            };
            if let Some(stored) = s.stored.take() {
                // Best effort: a table left behind goes with the connection anyway.
                if let Ok(backend) = self.conns.get(&stored.connection, None) {
                    let _ = backend.drop_temp_table(&stored.table);
                }
                self.liveness.dropped(stored.source);
                sources.push(stored.source);
            }
            *s = RelState::default();
        }
        let ids: Vec<RelId> = forgotten.iter().copied().map(RelId).collect();
        self.reuse.forget(&ids);
        self.state.forget(&ids, &sources);
    }

    /// Gives up the slots of forgotten relations and of their tables' data sources once
    /// they outnumber the relations that can still be read, numbering those again (see
    /// [`LowerState::compact`]), so a session of any length holds a number of slots in
    /// proportion to its live variables. Not in a planned whole hunt, whose relations
    /// keep the numbers the plan gave them (its length bounds it).
    fn compact(&mut self) {
        let (looked_at, live) = self.liveness.looked_at_and_live();
        if self.planned || looked_at < 64 || looked_at < 2 * live {
            return;
        }
        let n = self.state.program.relations.len();
        let mut rels = vec![true; n];
        for (i, stays) in rels.iter_mut().enumerate().take(looked_at) {
            *stays = self.liveness.is_live(i);
        }
        let (rel_at, source_at) = self.state.compact(rels);
        let mut i = 0;
        self.rels.retain(|_| {
            i += 1;
            rel_at.get(i - 1).is_none_or(Option::is_some)
        });
        for s in &mut self.rels {
            if let Some(stored) = &mut s.stored {
                if let Some(&Some(at)) = source_at.get(stored.source) {
                    stored.source = at;
                }
            }
        }
        self.liveness.renumber(&rel_at, &source_at);
        self.reuse.renumber(&rel_at);
    }

    /// The whole hunt lowered: FIND reading the records in hand of the GETs `in_hand`
    /// names (or wherever it may), and the GETs `apart` names keeping their records
    /// apart (see `LowerState::records_apart`).
    fn lower_whole(
        &mut self,
        hunt: &ast::Hunt,
        in_hand: Option<FxHashSet<usize>>,
        apart: Option<FxHashMap<usize, Option<Expr>>>,
    ) -> Result<Whole, Diagnostic> {
        let mut catalog = NoSpans(&mut self.conns, Vec::new());
        let mut state = LowerState::default();
        state.same_hunt(&self.state);
        if let Some(gets) = in_hand {
            state.limit_in_hand(gets);
        }
        if let Some(gets) = apart {
            state.records_apart(gets);
        }
        crate::lower::lower_more(
            &hunt.stmts,
            &self.src,
            crate::model()?,
            LowerOptions {
                config: self.config,
                catalog: Some(&mut catalog),
                now: self.now,
            },
            &mut state,
        )?;
        Ok(Whole {
            read_in_hand: state.read_in_hand().clone(),
            records: state.records_filters(),
            program: state.program,
            spans: catalog.1,
        })
    }

    /// Counts, from the whole hunt compiled once, how many queries will read each
    /// relation and which of its attributes they read.
    fn plan_uses(&mut self, hunt: &ast::Hunt) -> Result<(), Diagnostic> {
        let Whole {
            mut program,
            mut spans,
            read_in_hand: in_hand,
            ..
        } = self.lower_whole(hunt, None, None)?;
        // A FIND that reads the records a GET selects saves the semi-join on the GET's
        // variable, but not the variable itself where something else reads it too (the
        // summary's count, a display): reading the table once more for that costs a
        // second scan. So such a GET keeps the records it selects apart, in a hidden
        // relation that both it and the FIND read: kept, it is the one read of the table
        // (see `LowerState::records_apart`). Where nothing else reads the variable, the
        // FIND reads the table itself, once.
        if !in_hand.is_empty() {
            let readers = program.relations.iter().map(|r| &r.plan).chain(
                (program.outputs.iter())
                    .filter(|o| o.kind != OutputKind::Explain)
                    .map(|o| &o.plan),
            );
            let mut refs = Vec::new();
            for plan in readers {
                plan.rel_refs(&mut refs);
            }
            let read: FxHashSet<usize> = refs.into_iter().map(|id| id.0).collect();
            let also_read = |v: &usize| self.opts.summary || read.contains(v);
            if self.opts.store {
                let apart: FxHashMap<usize, Option<Expr>> =
                    (in_hand.iter().filter(|v| also_read(v)))
                        .map(|&v| (program.relations[v].span.start, None))
                        .collect();
                if !apart.is_empty() {
                    let whole = self.lower_whole(hunt, None, Some(apart))?;
                    (program, spans) = (whole.program, whole.spans);
                    // The statements run lowered one at a time, some after a variable
                    // was kept: the records start with what the whole hunt reads of them.
                    self.state.records_apart(whole.records);
                }
            } else if self.opts.summary {
                // Nothing is kept: the FIND's own statement computes the variable once
                // for both (counting it on the way) where nothing else reads it, which
                // the semi-join probing an index beats. So FIND reads the records in
                // hand of a variable that another statement reads anyway.
                if in_hand.iter().any(|v| !read.contains(v)) {
                    let whole = self.lower_whole(hunt, Some(read.clone()), None)?;
                    (program, spans) = (whole.program, whole.spans);
                }
                self.state.limit_in_hand(read);
            }
        }
        // Reads are counted as written. The reuse pass would make a relation computed as
        // an earlier one a reference to it, but at run time the earlier one may be kept
        // already (its plan then reads its table) or forgotten, and the later one is
        // computed from its own plan: it is kept or not on its own readers.
        let program = crate::opt::fold_program(program);
        let n = program.relations.len();
        let mut uses = vec![0usize; n];
        let mut needs: Vec<Option<Need>> = vec![None; n];
        let add_need =
            |needs: &mut Vec<Option<Need>>, id: RelId, need: &Need| match &mut needs[id.0] {
                Some(n) => n.add(need),
                slot => *slot = Some(need.clone()),
            };
        let mut newest: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, r) in program.relations.iter().enumerate() {
            let mut refs = Vec::new();
            r.plan.rel_refs(&mut refs);
            for id in refs {
                uses[id.0] += 1;
            }
            // TIMESTAMPED(v) copies v's plan, and the plans it reads, instead of reading
            // v: it reads all of each of them once more.
            if r.command == "timestamped" {
                if let Some(&base) = r.depends_on.first().and_then(|v| newest.get(v.as_str())) {
                    for dep in program.dependency_order(&[RelId(base)]) {
                        uses[dep.0] += 1;
                        needs[dep.0] = Some(Need::All);
                    }
                }
            }
            newest.insert(&r.var, i);
        }
        let counted = |r: &crate::ir::Relation| {
            if r.identity.is_empty() {
                Need::All
            } else {
                Need::cols(r.identity.iter().chain(&r.identity_alt).cloned())
            }
        };
        for o in &program.outputs {
            let (times, need) = match &o.kind {
                OutputKind::Explain => continue,
                OutputKind::Disp | OutputKind::Save { .. } => (1, Need::All),
                OutputKind::Info => (1, counted(program.rel(o.rel))),
                OutputKind::Describe { attr } => (3, Need::cols([attr.clone()])),
            };
            let mut refs = Vec::new();
            o.plan.rel_refs(&mut refs);
            for id in refs {
                uses[id.0] += times;
            }
            for (id, need) in crate::opt::relation_needs(&program, &o.plan, need) {
                add_need(&mut needs, id, &need);
            }
        }
        // A reference without START/STOP measures its variable's time span first (from
        // the records' source timestamps, which a kept variable keeps).
        for id in spans.into_iter().filter(|id| id.0 < n) {
            uses[id.0] += 1;
            let need = counted(program.rel(id));
            for (dep, need) in crate::opt::relation_needs(&program, &Plan::Rel(id), need) {
                add_need(&mut needs, dep, &need);
            }
        }
        let mut summarised = vec![false; n];
        if self.opts.summary {
            for id in newest_versions(&program, 0) {
                summarised[id.0] = true;
                uses[id.0] += 1;
                let need = counted(program.rel(id));
                for (dep, need) in crate::opt::relation_needs(&program, &Plan::Rel(id), need) {
                    add_need(&mut needs, dep, &need);
                }
            }
        }
        // The statements that can count what they read on the way: a DISP of it, a GROUP
        // of it that is kept (read by two statements or more).
        let mut whole_reader = vec![false; n];
        for o in &program.outputs {
            if let (OutputKind::Disp, Some(v)) = (&o.kind, tally::output_reads_whole(&o.plan)) {
                whole_reader[v.0] = true;
            }
        }
        for (i, r) in program.relations.iter().enumerate() {
            if let Some(v) = tally::aggregate_reads(&r.plan).filter(|_| uses[i] >= 2) {
                whole_reader[v.0] = true;
            }
        }
        let tally_reader = |i: usize| summarised[i] && uses[i] == 2 && whole_reader[i];
        // The DISPs that can count with grouping sets; the variable a GROUP groups only
        // when the GROUP is counted on the way too (else it is kept, where the rows
        // never reach kestrel).
        let mut sets_reader = vec![false; n];
        for o in &program.outputs {
            match (&o.kind, tally::sets_shape(&program, &o.plan)) {
                (OutputKind::Disp, Some(tally::SetsShape::Direct(v))) => sets_reader[v.0] = true,
                (OutputKind::Disp, Some(tally::SetsShape::Group { g, v })) => {
                    sets_reader[g.0] = true;
                    if let Some(v) = v.filter(|_| tally_reader(g.0)) {
                        sets_reader[v.0] = true;
                    }
                }
                _ => {}
            }
        }
        // Where the run does make it a reference, it reads the earlier one: that one
        // keeps what the later one's readers need.
        let reused = crate::opt::reuse_subplans(program);
        for (i, r) in reused.relations.iter().enumerate() {
            if let (Plan::Rel(j), Some(need)) = (&r.plan, needs[i].clone()) {
                add_need(&mut needs, *j, &need);
            }
        }
        self.rels = (0..n)
            .map(|i| RelState {
                tally_reader: tally_reader(i),
                sets_reader: sets_reader[i],
                uses: Some(uses[i]),
                summarised: summarised[i],
                need: match &needs[i] {
                    Some(Need::Cols(c)) => Some(c.clone()),
                    _ => None,
                },
                ..RelState::default()
            })
            .collect();
        Ok(())
    }

    /// Whether computing `id` once and keeping it beats computing it in each query that
    /// reads it: it reads a data source and more than one query will read it (unknown
    /// in an interactive session: yes).
    fn worth_keeping(&mut self, id: RelId) -> bool {
        if !self.opts.store {
            return false;
        }
        let r = self.state.program.rel(id);
        // Helper relations (TIMESTAMPED(v)) are part of the statement that made them,
        // but for the records a GET keeps apart for a FIND.
        if r.var.contains('(') && r.command != "records" {
            return false;
        }
        if self
            .rels
            .get(id.0)
            .is_some_and(|s| s.stored.is_some() || s.not_kept.is_some())
        {
            return false;
        }
        // A relation that reads no data source is rows inside the statement already.
        if !self.reads_source(id) {
            return false;
        }
        // Read once, by a statement that counts it for the summary on the way.
        if self.counted_on_the_way(id) {
            return false;
        }
        self.rels
            .get(id.0)
            .and_then(|s| s.uses)
            .is_none_or(|n| n >= 2)
    }

    /// Whether `id` is read whole by one statement and the summary, and that statement's
    /// connection can count it on the way (see [`tally`]); it is then not kept.
    fn counted_on_the_way(&mut self, id: RelId) -> bool {
        match self.rels.get(id.0) {
            Some(s) if s.tallied => true,
            Some(_) => self.way(id).is_some(),
            None => false,
        }
    }

    /// How `id`'s connection can count it on the way, when one statement reads it whole
    /// and the summary counts it: its tally function, or else grouping sets where its
    /// dialect has them and the statement is a DISP of the shape they serve.
    fn way(&mut self, id: RelId) -> Option<Way> {
        let s = self.rels.get(id.0)?;
        if !s.tally_reader || !self.opts.store || s.counts.is_some() || s.stored.is_some() {
            return None;
        }
        if let Some(known) = s.way {
            return known;
        }
        let sets_reader = s.sets_reader;
        let span = self.state.program.rel(id).span;
        let way = (|| {
            let (program, connection) =
                place(&self.state.program, &mut self.conns, &Plan::Rel(id), span).ok()?;
            let b = self.conns.get(&connection, None).ok()?;
            if b.tally_function().is_some() {
                return Some(Way::Tally);
            }
            let dialect = dialect_of(b.as_ref()).ok()?;
            if !sets_reader || !dialect.grouping_sets {
                return None;
            }
            // Grouping sets group the variable's rows in one process, without the
            // parallel workers the lake's scan has (PostgreSQL): for a variable expected
            // to be large, computing it again for the count costs less.
            let stmt =
                sql::emit_plan(&program, &Plan::Rel(id), &dialect, LiteralMode::Bind).ok()?;
            match b.estimated_rows(&stmt) {
                Some(rows) if rows > tally::SETS_AT_MOST as f64 => None,
                _ => Some(Way::Sets),
            }
        })();
        self.rels[id.0].way = Some(way);
        way
    }

    /// `plan` reading `v` with a tally of it as its last column (see [`tally`]), when
    /// `v` is to be counted on the way and `plan` reads it whole.
    fn tallied_output(&mut self, plan: &Plan) -> Option<(RelId, Plan)> {
        let v = tally::output_reads_whole(plan)?;
        if self.way(v) != Some(Way::Tally) {
            return None;
        }
        let r = self.state.program.rel(v);
        let expr = tally::tally_expr(r, tally::slot(v))?;
        Some((v, tally::with_tally_column(plan, r, expr)?))
    }

    /// For a GROUP `g` of a variable to be counted on the way: the variable, and `g`'s
    /// plan with the tally as one more grouping key (for the one statement that computes
    /// `g`: its store, or the DISP that reads it whole).
    fn tallied_group(&mut self, g: RelId) -> Option<(RelId, Plan)> {
        let v = tally::aggregate_reads(&self.state.program.rel(g).plan)?;
        if self.way(v) != Some(Way::Tally) {
            return None;
        }
        let expr = tally::tally_expr(self.state.program.rel(v), tally::slot(v))?;
        let plan = tally::with_tally_key(&self.state.program.rel(g).plan, expr)?;
        Some((v, plan))
    }

    /// A DISP's plan counting on the way with grouping sets (see [`tally::sets_shape`]),
    /// the GROUP's plan for it where it counts the variable a GROUP groups, what counts
    /// its rows, and the variable they count (None: only a GROUP's rows are counted).
    fn sets_output(&mut self, plan: &Plan) -> Option<SetsOutput> {
        let shape = match tally::sets_shape(&self.state.program, plan)? {
            tally::SetsShape::Direct(v) => {
                (self.way(v) == Some(Way::Sets)).then_some(tally::SetsShape::Direct(v))?
            }
            tally::SetsShape::Group { g, v } => {
                if self.way(g) != Some(Way::Sets) {
                    return None;
                }
                let v = v.filter(|&v| self.way(v) == Some(Way::Sets));
                tally::SetsShape::Group { g, v }
            }
        };
        let counted = match shape {
            tally::SetsShape::Direct(v) => Some(v),
            tally::SetsShape::Group { v, .. } => v,
        };
        let tally::SetsPlan {
            plan,
            group,
            counts,
        } = tally::with_sets(&self.state.program, plan, shape)?;
        Some(SetsOutput {
            plan,
            group,
            counts,
            counted,
        })
    }

    /// Records what a statement counted of `v` on the way (None: the tally could not
    /// count, its spill files failed; the summary then counts it with a query).
    fn record_tally(&mut self, v: RelId, counts: Option<(u64, u64)>) {
        if let (Some(counts), Some(s)) = (counts, self.rels.get_mut(v.0)) {
            s.counts = Some(counts);
            s.tallied = true;
        }
    }

    /// Gives every relation of the program its [`RelState`] (lowering adds relations).
    fn track_relations(&mut self) {
        let n = self.state.program.relations.len();
        if self.rels.len() < n {
            self.rels.resize(n, RelState::default());
        }
    }

    /// Whether `id`'s chain reads a data source, remembered per relation (a plan is only
    /// ever rewritten to read a kept table, which is a data source too), so asking for
    /// every relation of a long session stays linear.
    fn reads_source(&mut self, id: RelId) -> bool {
        self.track_relations();
        if let Some(known) = self.rels[id.0].reads_source {
            return known;
        }
        // Post-order over the relations not yet known.
        let mut stack = vec![(id, false)];
        while let Some((at, expanded)) = stack.pop() {
            if self.rels[at.0].reads_source.is_some() {
                continue;
            }
            let plan = &self.state.program.rel(at).plan;
            let mut refs = Vec::new();
            plan.rel_refs(&mut refs);
            if expanded {
                let mut scans = Vec::new();
                plan.scans(&mut scans);
                let reads = !scans.is_empty()
                    || refs
                        .iter()
                        .any(|r| self.rels[r.0].reads_source == Some(true));
                self.rels[at.0].reads_source = Some(reads);
            } else {
                stack.push((at, true));
                stack.extend(
                    refs.into_iter()
                        .filter(|r| self.rels[r.0].reads_source.is_none())
                        .map(|r| (r, false)),
                );
            }
        }
        self.rels[id.0].reads_source == Some(true)
    }

    /// Computes and stores `id` (and, first, what it reads that is worth keeping) when
    /// it is worth keeping.
    fn keep_if_worth(&mut self, id: RelId) -> Result<(), Diagnostic> {
        if !self.worth_keeping(id) {
            return Ok(());
        }
        for dep in self.state.program.dependency_order(&[id]) {
            if self.worth_keeping(dep) {
                self.store(dep)?;
            }
        }
        Ok(())
    }

    /// Prepares what an output reads: each relation worth keeping is stored first.
    fn prepare(&mut self, plan: &Plan) -> Result<(), Diagnostic> {
        let mut roots = Vec::new();
        plan.rel_refs(&mut roots);
        for id in self.state.program.dependency_order(&roots) {
            if self.worth_keeping(id) {
                self.store(id)?;
            }
        }
        Ok(())
    }

    fn run_output(&mut self, o: &Output, out: &mut dyn Frontend) -> Result<(), Diagnostic> {
        if backend::cancel::requested() {
            return Err(source_error(None, BackendError::Cancelled).at(o.span));
        }
        if !matches!(o.kind, OutputKind::Explain) {
            self.prepare(&o.plan)?;
        }
        if let OutputKind::Info = o.kind {
            return self.info(o, out);
        }
        // EXPLAIN says whether its variable will be kept.
        let worth = matches!(o.kind, OutputKind::Explain) && self.worth_keeping(o.rel);
        let on_the_way = matches!(o.kind, OutputKind::Explain) && self.counted_on_the_way(o.rel);
        let tallied = match o.kind {
            OutputKind::Disp => self.tallied_output(&o.plan),
            _ => None,
        };
        // Or, on a connection without a tally function, with grouping sets.
        let mut sets = match o.kind {
            OutputKind::Disp if tallied.is_none() => self.sets_output(&o.plan),
            _ => None,
        };
        // A DISP of a GROUP that it counts on the way, of a variable counted on the way:
        // the GROUP's plan in this statement groups by the variable's tally too.
        let grouped = tallied
            .as_ref()
            .and_then(|(g, _)| Some((*g, self.tallied_group(*g)?)));
        let (program, connection) = place(&self.state.program, &mut self.conns, &o.plan, o.span)?;
        let program = with_plan(
            program,
            grouped
                .as_ref()
                .map(|(g, (_, p))| (*g, p))
                .or_else(|| sets.as_ref()?.group.as_ref().map(|(g, p)| (*g, p))),
        );
        let program = &*program;
        let backend = self.conns.get(&connection, None)?;
        let mut dialect = dialect_of(backend.as_ref())?;
        dialect.tally_function = backend.tally_function().map(String::from);
        // Every variable the statement counts on the way (`counted_on_the_way` made sure
        // the connection can).
        let counted_vars: Vec<RelId> = tallied
            .iter()
            .map(|(v, _)| *v)
            .chain(grouped.iter().map(|(_, (v, _))| *v))
            .collect();
        let where_ = sources_read(program, &o.plan, &connection);
        let fail = |e: BackendError| query_failed(e, &where_, o.span);
        let io_fail =
            |e: io::Error| Diagnostic::error(Code::Internal, format!("cannot write output: {e}"));
        let spinner = spinner_for(o);
        match &o.kind {
            OutputKind::Disp => {
                let plan = match (&tallied, &sets) {
                    (Some((_, p)), _) => p,
                    (None, Some(s)) => &s.plan,
                    (None, None) => &o.plan,
                };
                let stmt = sql::emit_plan(program, plan, &dialect, LiteralMode::Bind)
                    .map_err(|d| crate::at(d, o.span))?;
                let hidden = match &sets {
                    Some(s) => s.counts.hidden(),
                    None => usize::from(tallied.is_some()),
                };
                let mut sink = PrintSink {
                    out,
                    spinner: &spinner,
                    to_stdout: true,
                    hidden,
                    sets: sets.as_mut().map(|s| &mut s.counts),
                };
                for &v in &counted_vars {
                    backend.forget_tally(tally::slot(v));
                }
                let ran = backend.query(&stmt, &mut sink);
                // What a failed statement counted is no count: forgotten, not counted.
                if ran.is_err() {
                    for &v in &counted_vars {
                        backend.forget_tally(tally::slot(v));
                    }
                }
                ran.map_err(fail)?;
                let counted: Vec<_> = counted_vars
                    .iter()
                    .map(|&v| (v, backend.take_tally(tally::slot(v))))
                    .collect();
                for (v, counts) in counted {
                    self.record_tally(v, counts);
                }
                if let Some(s) = sets {
                    if let Some(v) = s.counted {
                        self.record_tally(v, Some(s.counts.counted));
                    }
                    if let Some((g, _, counts)) = s.counts.group {
                        self.record_tally(g, Some(counts));
                    }
                }
                spinner.pause();
                out.end().map_err(io_fail)?;
            }
            OutputKind::Save { path } => {
                let stmt = sql::emit_plan(program, &o.plan, &dialect, LiteralMode::Bind)
                    .map_err(|d| crate::at(d, o.span))?;
                save(backend.as_mut(), &stmt, path, o.span)?;
            }
            OutputKind::Explain => {
                let stmt = sql::emit_plan(program, &o.plan, &dialect, LiteralMode::Inline)
                    .map_err(|d| crate::at(d, o.span))?;
                let r = program.rel(o.rel);
                let place = if connection.is_empty() {
                    "the in-memory cache".to_string()
                } else {
                    format!("connection `{}`", store::connection_label(&connection))
                };
                let state = self.rels.get(o.rel.0);
                let kept = match state.and_then(|s| s.stored.as_ref()) {
                    Some(s) => format!(
                        "-- {} was computed once and is kept in {}\n",
                        r.var,
                        s.describe()
                    ),
                    None if let Some(most) = state.and_then(|s| s.not_kept) => format!(
                        "-- {} is not kept (more than {most} rows, which this connection \
                         reads again faster than it keeps them): each query that reads it \
                         computes it{}\n",
                        r.var,
                        if !self.beside.was_asked(o.rel) {
                            String::new()
                        } else {
                            format!(
                                "; the summary's count of it runs on a second connection, \
                                 beside the hunt's statements{}",
                                if self.beside.streams(o.rel) {
                                    ", which sends its rows to be counted as they arrive \
                                     (more entities than the server's memory for a count holds)"
                                } else {
                                    ""
                                }
                            )
                        }
                    ),
                    None if on_the_way => format!(
                        "-- {} is not kept: one statement reads it, and counts its records \
                         and entities for the summary on the way\n",
                        r.var
                    ),
                    None if worth => format!(
                        "-- {} will be computed once and kept when a statement first reads it\n",
                        r.var
                    ),
                    None => String::new(),
                };
                let text = format!(
                    "{kept}-- {} runs on {place} ({})\n{};\n",
                    r.var, dialect.name, stmt.sql
                );
                out.text_block(&text).map_err(io_fail)?;
            }
            OutputKind::Describe { attr } => {
                let sql::DescribeSql { stats, mean, top } =
                    sql::emit_describe(program, &o.plan, attr, &dialect, LiteralMode::Bind)
                        .map_err(|d| crate::at(d, o.span))?;
                let mut s = Collect::default();
                backend.query(&stats, &mut s).map_err(fail)?;
                let row = s.rows.first().cloned().unwrap_or_default();
                let get = |i: usize| row.get(i).cloned().unwrap_or(Value::Null);
                let numeric = matches!(get(2), Value::Int(_) | Value::Float(_))
                    && matches!(get(3), Value::Int(_) | Value::Float(_));
                let (cols, vals): (Vec<&str>, Vec<Value>) = if numeric {
                    let mut m = Collect::default();
                    backend.query(&mean, &mut m).map_err(fail)?;
                    spinner.pause();
                    let mean = m
                        .rows
                        .first()
                        .and_then(|r| r.first())
                        .cloned()
                        .unwrap_or(Value::Null);
                    (
                        vec!["count", "mean", "min", "max"],
                        vec![get(0), mean, get(2), get(3)],
                    )
                } else {
                    let mut t = Collect::default();
                    backend.query(&top, &mut t).map_err(fail)?;
                    spinner.pause();
                    let top_row = t.rows.first().cloned().unwrap_or_default();
                    (
                        vec!["count", "unique", "top", "freq"],
                        vec![
                            get(0),
                            get(1),
                            top_row.first().cloned().unwrap_or(Value::Null),
                            top_row.get(1).cloned().unwrap_or(Value::Null),
                        ],
                    )
                };
                let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
                out.begin(&cols).map_err(io_fail)?;
                out.row(&vals).map_err(io_fail)?;
                out.end().map_err(io_fail)?;
            }
            OutputKind::Info => {}
        }
        Ok(())
    }

    fn info(&mut self, o: &Output, out: &mut dyn Frontend) -> Result<(), Diagnostic> {
        let spinner = spinner_for(o);
        let (records, entities) = self.counts(o.rel, o.span)?;
        spinner.pause();
        let r = self.state.program.rel(o.rel);
        let source = r
            .source
            .map(|s| self.state.program.sources[s].uri.clone())
            .unwrap_or_default();
        // As the original's INFO: attributes an analytic added are listed apart.
        let (custom, attrs): (Vec<String>, Vec<String>) = r
            .columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .partition(|c| self.added.contains(c));
        let fields: Vec<(&str, String)> = vec![
            ("Entity Type", r.entity.clone()),
            ("Number of Entities", entities.to_string()),
            ("Number of Records", records.to_string()),
            ("Entity Attributes", attrs.join(", ")),
            ("Customized Attributes", custom.join(", ")),
            ("Associated Datasource", source),
            ("Birth Command", r.command.to_string()),
            ("Dependent Variables", r.depends_on.join(", ")),
        ];
        let io_fail =
            |e: io::Error| Diagnostic::error(Code::Internal, format!("cannot write output: {e}"));
        out.begin(&["field".to_string(), "value".to_string()])
            .map_err(io_fail)?;
        for (k, v) in fields {
            out.row(&[Value::Text(k.to_string()), Value::Text(v)])
                .map_err(io_fail)?;
        }
        out.end().map_err(io_fail)
    }

    /// Starts the summary's count of `id` on a second connection (see [`beside`]): when
    /// the summary will count it with a query of its own (it is not kept, and nothing
    /// counted it on the way), that query reads only the lake (no table kestrel made on
    /// this connection), and the connection is one where a second runs beside the first.
    fn count_beside(&mut self, id: RelId) {
        if self.beside.was_asked(id) {
            return;
        }
        // Only a relation the summary counts (so only with the summary on) and has not.
        match self.rels.get(id.0) {
            Some(s) if s.summarised && s.counts.is_none() => {}
            _ => return,
        }
        // Only a count that reads the lake on one connection: a table the session made
        // (a kept variable: a source without a URI) lives on this connection alone, and
        // rows from another connection would be shipped here and again for the summary.
        let program = &self.state.program;
        let plan = Plan::Rel(id);
        let sources = program.scans_through(&plan);
        let Some(connection) = sources
            .first()
            .and_then(|&s| program.sources[s].connection.clone())
        else {
            return;
        };
        if sources.iter().any(|&s| {
            let source = &program.sources[s];
            source.uri.is_empty() || source.connection.as_deref() != Some(connection.as_str())
        }) {
            return;
        }
        let span = program.rel(id).span;
        // Nothing shipped or spilled into a table for it (the program is the session's).
        let Ok((std::borrow::Cow::Borrowed(program), connection)) =
            place(&self.state.program, &mut self.conns, &plan, span)
        else {
            return;
        };
        let Ok(backend) = self.conns.get(&connection, None) else {
            return;
        };
        if !backend.counts_beside() || backend.distinct_count_function().is_some() {
            return;
        }
        let Ok(dialect) = dialect_of(backend.as_ref()) else {
            return;
        };
        let streamed = streamed_count(backend.as_mut(), program, id, &dialect);
        let (Ok(count), Some((url, opts))) = (
            sql::emit_counts(program, id, &dialect, LiteralMode::Bind),
            self.conns.how_to_open(&connection),
        ) else {
            return;
        };
        self.beside
            .ask(id, &connection, &url, opts, count, streamed);
    }

    /// How many of the summary's counts second connections answered (see [`beside`]).
    pub fn counted_beside(&self) -> usize {
        self.beside.answered()
    }

    /// Records and entities of a relation, counted once.
    fn counts(&mut self, id: RelId, span: Span) -> Result<(u64, u64), Diagnostic> {
        if let Some(c) = self.rels.get(id.0).and_then(|s| s.counts) {
            return Ok(c);
        }
        self.prepare(&Plan::Rel(id))?;
        let (program, connection) =
            place(&self.state.program, &mut self.conns, &Plan::Rel(id), span)?;
        let row = match self.beside.answer(id) {
            Some(Ok(row)) => row,
            // Counted again here it would run as long again, or be stopped again.
            Some(Err(e)) if stands(&e) => {
                let where_ = sources_read(&program, &Plan::Rel(id), &connection);
                return Err(query_failed(e, &where_, span));
            }
            // Nothing asked beside, or the second connection failed (it could not open,
            // Ctrl-C stopped it in an interactive session that goes on): counted here.
            _ => count_on(&mut self.conns, &program, &connection, id, span)?,
        };
        let n = |v: Option<&Value>| match v {
            Some(Value::Int(i)) => (*i).max(0) as u64,
            _ => 0,
        };
        let counts = (n(row.first()), n(row.get(1)));
        if let Some(s) = self.rels.get_mut(id.0) {
            s.counts = Some(counts);
        }
        Ok(counts)
    }

    /// One summary row per variable the whole session defined (its newest version), in
    /// the order they were defined.
    pub fn summary(&mut self) -> Result<Vec<SummaryRow>, Diagnostic> {
        let ids = self.defined_since(0);
        self.summary_of(&ids)
    }

    /// Summary rows of these relations.
    pub fn summary_of(&mut self, ids: &[RelId]) -> Result<Vec<SummaryRow>, Diagnostic> {
        let spinner = Spinner::start("counting entities and records", progress::enabled());
        let mut rows = Vec::new();
        for &id in ids {
            let span = self.state.program.rel(id).span;
            let (records, entities) = self.counts(id, span).map_err(|d| {
                let var = &self.state.program.rel(id).var;
                Diagnostic::error(
                    Code::DataSource,
                    format!("counting `{var}` failed: {}", d.message),
                )
                .at(span)
            })?;
            let r = self.state.program.rel(id);
            let display_type = crate::model()
                .ok()
                .and_then(|m| m.entity(&r.entity))
                // The STIX spelling hunters know (network-traffic, x-oca-asset), if any.
                .and_then(|d| d.aliases.iter().find(|a| a.contains('-')).cloned())
                .unwrap_or_else(|| r.entity.clone());
            rows.push(SummaryRow {
                variable: r.var.clone(),
                entity_type: display_type,
                entities,
                records,
            });
        }
        drop(spinner);
        Ok(rows)
    }
}

/// The counts row of `id` (records, entities), counted by a query on `connection`.
fn count_on(
    conns: &mut Connections<'_>,
    program: &Program,
    connection: &str,
    id: RelId,
    span: Span,
) -> Result<Vec<Value>, Diagnostic> {
    let backend = conns.get(connection, None)?;
    let mut dialect = dialect_of(backend.as_ref())?;
    // The connection's own distinct count where it has one; where that cannot count
    // (a NULL: its spill files could not be written) the database's `COUNT(DISTINCT …)`.
    dialect.distinct_count_function = backend.distinct_count_function().map(String::from);
    // Or the variable's rows counted as they arrive, where the server would spill; its
    // count query where their spill files could not be written.
    if dialect.distinct_count_function.is_none() {
        if let Some((stmt, n)) = streamed_count(backend.as_mut(), program, id, &dialect) {
            let counted = EntityCounter::count(backend.as_mut(), &stmt, n).map_err(|e| {
                let where_ = sources_read(program, &Plan::Rel(id), connection);
                query_failed(e, &where_, span)
            })?;
            if let Some(row) = counted {
                return Ok(row);
            }
        }
    }
    loop {
        let stmt = sql::emit_counts(program, id, &dialect, LiteralMode::Bind)
            .map_err(|d| crate::at(d, span))?;
        let mut c = Collect::default();
        backend.query(&stmt, &mut c).map_err(|e| {
            let where_ = sources_read(program, &Plan::Rel(id), connection);
            query_failed(e, &where_, span)
        })?;
        let row = c.rows.first().cloned().unwrap_or_default();
        if matches!(row.get(1), Some(Value::Null)) && dialect.distinct_count_function.is_some() {
            dialect.distinct_count_function = None;
            continue;
        }
        return Ok(row);
    }
}

/// The statement of `id`'s identities (and the identity's length), where the server
/// would count the entities itself in more memory than its planner may use (see
/// [`Backend::distinct_fits`]): the rows stream to kestrel and are counted as they arrive
/// ([`EntityCounter`]). Sending each row costs less than the server's spilled hash table
/// (hundreds of thousands of processes in a million records), and more than one that
/// fits. None where the server counts.
fn streamed_count(
    backend: &mut dyn Backend,
    program: &Program,
    id: RelId,
    dialect: &crate::sql::Dialect,
) -> Option<(SqlStatement, usize)> {
    let (distinct, _) =
        sql::emit_entity_rows(program, id, dialect, LiteralMode::Bind, true).ok()?;
    if backend.distinct_fits(&distinct)? {
        return None;
    }
    sql::emit_entity_rows(program, id, dialect, LiteralMode::Bind, false).ok()
}

/// Whether a count that failed on a second connection fails the summary: it ran past
/// the time limit, or Ctrl-C stopped it and the cancel stands.
fn stands(e: &BackendError) -> bool {
    match e {
        BackendError::Timeout(_) => true,
        BackendError::Cancelled => backend::cancel::requested(),
        _ => false,
    }
}

/// The program as a statement running `plan` sees it (copied only when rows travel
/// between connections or into temporary tables), and the connection it runs on.
fn place<'p>(
    program: &'p Program,
    conns: &mut Connections<'_>,
    plan: &Plan,
    span: Span,
) -> Result<(std::borrow::Cow<'p, Program>, String), Diagnostic> {
    use std::borrow::Cow;
    match crate::ship::ship_for(program, plan, conns)? {
        Cow::Borrowed(p) => {
            let connection = placement(p, plan, span)?;
            let local = crate::ship::localise(p, plan, &connection, conns)?;
            Ok((local, connection))
        }
        Cow::Owned(p) => {
            let connection = placement(&p, plan, span)?;
            // Nothing spilled into a temporary table: the shipped copy is the program.
            let spilled = match crate::ship::localise(&p, plan, &connection, conns)? {
                Cow::Owned(local) => Some(local),
                Cow::Borrowed(_) => None,
            };
            Ok((Cow::Owned(spilled.unwrap_or(p)), connection))
        }
    }
}

/// `program` with relation `g`'s plan replaced, for one statement (a GROUP that groups
/// by a tally too; see [`Session::tallied_group`]): copied only then.
fn with_plan<'p>(
    program: std::borrow::Cow<'p, Program>,
    replace: Option<(RelId, &Plan)>,
) -> std::borrow::Cow<'p, Program> {
    match replace {
        Some((g, plan)) => {
            let mut p = program.into_owned();
            p.relations[g.0].plan = plan.clone();
            std::borrow::Cow::Owned(p)
        }
        None => program,
    }
}

/// The newest version of every variable defined from relation `first` on, in the order
/// of their last definition (helper relations such as `TIMESTAMPED(v)` are not variables).
fn newest_versions(program: &Program, first: usize) -> Vec<RelId> {
    let mut newest: Vec<RelId> = Vec::new();
    let mut at: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, r) in program.relations.iter().enumerate().skip(first) {
        if r.var.contains('(') {
            continue;
        }
        if let Some(&pos) = at.get(r.var.as_str()) {
            newest[pos] = RelId(usize::MAX);
        }
        at.insert(&r.var, newest.len());
        newest.push(RelId(i));
    }
    newest.retain(|id| id.0 != usize::MAX);
    newest
}

/// A whole hunt lowered before it runs (see [`Session::lower_whole`]).
struct Whole {
    program: Program,
    /// The variables whose time spans lowering measured.
    spans: Vec<RelId>,
    /// The GETs whose records a FIND read in hand.
    read_in_hand: FxHashSet<usize>,
    /// The filters of the records GETs keep apart (see `LowerState::records_apart`).
    records: FxHashMap<usize, Option<Expr>>,
}

/// The catalog for compiling a whole hunt before it runs: the tables' columns, but no
/// time spans (measuring them would run queries).
/// The catalog of the whole-hunt pre-compile: columns from the connections, no time
/// spans measured, but the relations whose span would be measured noted (each is read
/// once more when the hunt runs).
struct NoSpans<'a, 'c>(&'a mut Connections<'c>, Vec<RelId>);

impl Catalog for NoSpans<'_, '_> {
    fn time_span(
        &mut self,
        _sources: &[crate::ir::DataSource],
        _relations: &[crate::ir::Relation],
        _plan: &Plan,
        of: RelId,
    ) -> Result<Option<(crate::value::Value, crate::value::Value)>, Diagnostic> {
        self.1.push(of);
        Ok(None)
    }

    fn columns(
        &mut self,
        source: &crate::ir::DataSource,
    ) -> Result<Option<Vec<String>>, Diagnostic> {
        self.0.columns(source)
    }

    fn column_kind(
        &mut self,
        source: &crate::ir::DataSource,
        column: &str,
    ) -> Option<crate::ir::ColumnKind> {
        self.0.column_kind(source, column)
    }
}

fn query_failed(e: BackendError, where_: &str, span: Span) -> Diagnostic {
    let help = match e {
        BackendError::Timeout(_) => {
            "raise `statement_timeout` of the connection, or narrow the hunt (a time range, LIMIT)"
        }
        _ => "EXPLAIN shows the SQL this statement runs",
    };
    Diagnostic::error(
        Code::DataSource,
        format!(
            "the query failed ({where_}): {}",
            redact_url(&e.to_string())
        ),
    )
    .at(span)
    .help(help)
}

struct PrintSink<'p> {
    out: &'p mut dyn Frontend,
    spinner: &'p Spinner,
    /// Rows go to standard output (the spinner must get out of their way there).
    to_stdout: bool,
    /// Columns at the end not shown (a tally's, or grouping sets').
    hidden: usize,
    /// What counts the rows of a DISP with grouping sets: the rows of the entity sets are
    /// counted, not shown.
    sets: Option<&'p mut tally::SetCounts>,
}

/// A DISP counting on the way with grouping sets (see [`Session::sets_output`]).
struct SetsOutput {
    plan: Plan,
    group: Option<(RelId, Plan)>,
    counts: tally::SetCounts,
    counted: Option<RelId>,
}

impl RowSink for PrintSink<'_> {
    fn columns(&mut self, columns: &[String]) -> io::Result<()> {
        self.out
            .begin(&columns[..columns.len().saturating_sub(self.hidden)])
    }
    fn row(&mut self, row: &[Value]) -> io::Result<()> {
        if let Some(sets) = &mut self.sets {
            if !sets.shows(row) {
                return Ok(());
            }
        }
        self.spinner.row();
        if self.to_stdout && progress::shares_terminal() {
            self.spinner.pause();
        }
        self.out.row(&row[..row.len().saturating_sub(self.hidden)])
    }
}

/// A spinner for a statement, when standard error is a terminal.
fn spinner_for(o: &Output) -> Spinner {
    let first_line = o.text.lines().next().unwrap_or("").trim();
    Spinner::start(first_line, progress::enabled())
}

/// "data source `a`, `b` on connection `lake`", naming what a failing statement read.
fn sources_read(program: &Program, plan: &Plan, connection: &str) -> String {
    let names: std::collections::BTreeSet<String> = program
        .scans_through(plan)
        .iter()
        .map(|s| format!("`{}`", program.sources[*s].name))
        .collect();
    let place = if connection.is_empty() {
        "the in-memory cache".to_string()
    } else {
        format!("connection `{}`", store::connection_label(connection))
    };
    match names.len() {
        0 => place,
        1 => format!(
            "data source {} on {place}",
            names.into_iter().collect::<String>()
        ),
        _ => format!(
            "data sources {} on {place}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Runs `stmt` into `path` (its layout from the name) through a temporary file beside
/// it, renamed into place only when every row is written: a failure leaves no file.
fn save(
    backend: &mut dyn backend::Backend,
    stmt: &sql::SqlStatement,
    path: &str,
    span: Span,
) -> Result<(), Diagnostic> {
    use std::io::Write;
    if crate::io::is_parquet(path) {
        return apply::save_parquet(backend, stmt, path, span);
    }
    if crate::io::is_lake_table(path) {
        return apply::save_lake(backend, stmt, path, span);
    }
    let format = crate::io::save_format(path).map_err(|e| {
        Diagnostic::error(Code::BadValue, e.to_string())
            .at(span)
            .help("SAVE writes .csv, .json, .jsonl or .parquet files, or a Parquet lake table (`lake/table/`)")
    })?;
    let target = std::path::Path::new(path);
    let tmp = crate::io::temp_path(target);
    let write_fail = apply::cannot_write(path, span);
    // Renaming onto a device or a directory would replace it (`SAVE v TO /dev/null` run
    // as root would leave a regular file where the device was).
    if std::fs::metadata(target).is_ok_and(|m| !m.is_file()) {
        return Err(write_fail(&"it exists and is not a regular file"));
    }
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| write_fail(&e))?;
        let mut printer = Printer::new(std::io::BufWriter::new(file), format);
        let spinner = Spinner::start(&format!("SAVE to {path}"), progress::enabled());
        let mut sink = PrintSink {
            out: &mut printer,
            spinner: &spinner,
            to_stdout: false,
            hidden: 0,
            sets: None,
        };
        backend.query(stmt, &mut sink).map_err(|e| match e {
            // The file failed (a full disk), not the query.
            BackendError::Output(io) => write_fail(&io),
            e => Diagnostic::error(
                Code::DataSource,
                format!("the query failed: {}", redact_url(&e.to_string())),
            )
            .at(span),
        })?;
        printer.end().map_err(|e| write_fail(&e))?;
        let mut w = printer.into_inner();
        w.flush().map_err(|e| write_fail(&e))?;
        w.get_ref().sync_all().map_err(|e| write_fail(&e))?;
        drop(w);
        std::fs::rename(&tmp, target).map_err(|e| write_fail(&e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
