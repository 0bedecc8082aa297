//! APPLY: hands variables to an analytic and replaces their rows with what it returns.
//!
//! In: `APPLY [scheme://]NAME ON v1, v2 … [WITH k=v, …]`. Out: each ON variable whose
//! analytic wrote rows back reads them from then on — a new table in the session's cache,
//! its relation's plan rewritten to `Project(Scan(table))` and its `columns` the returned
//! ones (columns the analytic added are attributes for every later statement) — and the
//! analytic's display, handed to the [`Frontend`].
//!
//! ```text
//! APPLY python://score ON procs      procs: Project … Scan kestrel_0_procs
//!                               ──▶  procs: Project …, x_suspicious_score
//!                                              Scan kestrel_1_procs_applied (cache)
//! ```
//!
//! Each variable's rows stream into a Parquet file (never held whole), the analytic runs
//! (see `crate::analytics`), its files stream back into the cache. Nothing changes until
//! every returned file is loaded: a failure leaves the variables as they were.
//!
//! WITH values reach the analytic as strings: a list is flattened and comma-joined,
//! `x=(a, b)` is `"a,b"`, and a reference `v.attr` is every value of that attribute of
//! `v`, comma-joined (a reference to no variable is the text as written, so
//! `XPARAM=src_ref.value` names an attribute).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::analytics::{self, AnalyticsError, Job};
use crate::backend::{BackendError, Collect};
use crate::diag::{Code, Diagnostic};
use crate::fxhash::FxHashMap;
use crate::io::parquet::{self, ParquetSink};
use crate::ir::{Expr, Literal, OutputKind, Plan, RelId};
use crate::output::Frontend;
use crate::source::Span;
use crate::sql::{self, LiteralMode};
use crate::syntax::ast;
use crate::value::Value;

use super::connections::dialect_of;
use super::store::{Stored, CACHE};
use super::{query_failed, sources_read, Session};

/// Rows inserted into the cache per statement.
const LOAD_BATCH: usize = 2000;

/// Job directories made by this process (their names stay unique).
static JOBS: AtomicUsize = AtomicUsize::new(0);

impl Session<'_> {
    /// [`Session::plan_uses`] for a hunt that may APPLY: what an analytic adds is known
    /// only once it has run, so only the statements before the first APPLY are compiled
    /// ahead, and, as in an interactive session, every variable is then kept whole when
    /// a statement first reads it (a later statement may read any attribute of any
    /// earlier variable).
    pub(super) fn plan_uses_until_apply(&mut self, hunt: &ast::Hunt) -> Result<(), Diagnostic> {
        let Some(first) = hunt
            .stmts
            .iter()
            .position(|s| matches!(s.kind, ast::StmtKind::Apply { .. }))
        else {
            return self.plan_uses(hunt);
        };
        let mut prefix = hunt.clone();
        prefix.stmts.truncate(first);
        self.plan_uses(&prefix)?;
        for s in &mut self.rels {
            s.uses = None;
            s.need = None;
            s.tally_reader = false;
        }
        Ok(())
    }
}

/// A job directory, removed when dropped.
struct JobDir(PathBuf);

impl Drop for JobDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What was written for one ON variable.
struct Input {
    /// Its columns as the analytic receives them, without the copies below.
    columns: Vec<String>,
    /// Copies added for analytics written for the original (STIX spellings, `id`,
    /// `type`), dropped from what comes back.
    aliases: Vec<String>,
    /// The identity columns `id` stands for, and each `id` kestrel gave with their values.
    id_columns: Vec<String>,
    ids: FxHashMap<String, Vec<Value>>,
}

/// Adds the original's `id` (`TYPE--UUID`, the same for the same entity, as its STIX
/// identifiers were) and `type` columns to the rows an analytic receives, unless the
/// variable has columns of those names.
struct StixIds<'a> {
    inner: &'a mut ParquetSink,
    entity: &'a str,
    identity: &'a [String],
    /// Positions of the identity columns among the rows' columns.
    at: Vec<usize>,
    added: Vec<&'static str>,
    started: bool,
    rows: u64,
    ids: FxHashMap<String, Vec<Value>>,
}

impl<'a> StixIds<'a> {
    fn new(inner: &'a mut ParquetSink, entity: &'a str, identity: &'a [String]) -> StixIds<'a> {
        StixIds {
            inner,
            entity,
            identity,
            at: Vec::new(),
            added: Vec::new(),
            started: false,
            rows: 0,
            ids: FxHashMap::default(),
        }
    }

    fn id_columns(&self) -> Vec<String> {
        self.at
            .iter()
            .map(|&i| self.inner.column_names()[i].clone())
            .collect()
    }
}

impl crate::backend::RowSink for StixIds<'_> {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.at = self
            .identity
            .iter()
            .filter_map(|c| columns.iter().position(|k| k == c))
            .collect();
        self.added = ["id", "type"]
            .into_iter()
            .filter(|a| !columns.iter().any(|c| c.eq_ignore_ascii_case(a)))
            .collect();
        let mut all = columns.to_vec();
        all.extend(self.added.iter().map(|a| a.to_string()));
        self.started = true;
        self.inner.columns(&all)
    }

    fn row(&mut self, row: &[Value]) -> std::io::Result<()> {
        if self.added.is_empty() {
            return self.inner.row(row);
        }
        self.rows += 1;
        let mut full = row.to_vec();
        if self.added.contains(&"id") {
            let values: Vec<Value> = self.at.iter().map(|&i| row[i].clone()).collect();
            let id = if values.is_empty() || values.iter().all(Value::is_null) {
                stix_id(self.entity, &[Value::Int(-(self.rows as i64))])
            } else {
                let id = stix_id(self.entity, &values);
                self.ids.insert(id.clone(), values);
                id
            };
            full.push(Value::Text(id));
        }
        if self.added.contains(&"type") {
            full.push(Value::Text(self.entity.to_string()));
        }
        self.inner.row(&full)
    }
}

/// `TYPE--` and a UUID (version 8, from SHA-256) of the identity values.
fn stix_id(entity: &str, values: &[Value]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(entity.as_bytes());
    for v in values {
        h.update([0u8]);
        h.update(format!("{v:?}").as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{entity}--{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Rows an analytic returned for one variable, loaded into the cache.
struct Loaded {
    id: RelId,
    table: String,
    columns: Vec<String>,
}

impl Session<'_> {
    /// Runs an APPLY statement.
    pub(super) fn apply(
        &mut self,
        stmt: &ast::Stmt,
        out: &mut dyn Frontend,
    ) -> Result<(), Diagnostic> {
        let ast::StmtKind::Apply {
            analytic,
            args,
            params,
        } = &stmt.kind
        else {
            return Ok(());
        };
        let mut ids = Vec::new();
        for a in args {
            let id = self.state.var(&a.name).ok_or_else(|| {
                Diagnostic::error(
                    Code::UnknownVariable,
                    format!("unknown variable `{}`", a.name),
                )
                .at(a.span)
                .label("not defined before this line")
            })?;
            ids.push(id);
        }
        let settings = self.config.map(|c| c.analytics.clone()).unwrap_or_default();
        let config_dir = self
            .config
            .and_then(|c| c.path.as_deref())
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let (scheme, name) = analytics::split_uri(&analytic.name, &settings.default_scheme);
        let Some(mut interface) = analytics::interface(scheme, &settings, config_dir.as_deref())
        else {
            return Err(Diagnostic::error(
                Code::NotAvailable,
                format!("no analytics interface `{scheme}://`"),
            )
            .at(analytic.span)
            .help(format!(
                "kestrel runs {}",
                analytics::SCHEMES
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )));
        };
        let mut values = Vec::new();
        for (key, vals) in params {
            let mut parts = Vec::new();
            for v in vals {
                self.param_value(v, &mut parts)?;
            }
            values.push((key.name.clone(), parts.join(",")));
        }

        let dir = std::env::temp_dir().join(format!(
            "kestrel-apply-{}-{}",
            std::process::id(),
            JOBS.fetch_add(1, Ordering::Relaxed)
        ));
        let _cleanup = JobDir(dir.clone());
        let io_fail = |e: std::io::Error| {
            Diagnostic::error(
                Code::Analytic,
                format!("cannot prepare the analytic's files: {e}"),
            )
            .at(stmt.span)
        };
        let mut job = Job::create(dir, ids.len()).map_err(io_fail)?;
        job.params = values;
        job.timeout = (settings.analytics_timeout > 0)
            .then(|| Duration::from_secs(settings.analytics_timeout));

        let mut inputs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            inputs.push(self.write_input(*id, &job.inputs[i], args[i].span)?);
        }
        let spinner = crate::output::progress::Spinner::start(
            &format!("APPLY {}", analytic.name),
            crate::output::progress::enabled(),
        );
        let outcome = interface.run(name, &job);
        drop(spinner);
        let outcome = outcome.map_err(|e| analytic_failed(e, &analytic.name, analytic.span))?;

        // Load every returned file before changing anything.
        let mut loaded: Vec<Loaded> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let Some(path) = outcome.outputs.get(i).cloned().flatten() else {
                continue;
            };
            match self.load_output(*id, &path, &inputs[i], &analytic.name) {
                Ok(l) => loaded.push(l),
                Err(d) => {
                    self.drop_loaded(&loaded);
                    return Err(d.at(analytic.span));
                }
            }
        }
        // Variables computed from these before the APPLY keep the rows they had (as in
        // the original, where every variable is computed when it is assigned): each that
        // still reads one of them through its plan is kept now.
        let replaced: Vec<RelId> = loaded.iter().map(|l| l.id).collect();
        if let Err(d) = self.keep_readers(&replaced) {
            self.drop_loaded(&loaded);
            return Err(crate::at(d, stmt.span));
        }
        for l in loaded {
            let i = ids.iter().position(|id| *id == l.id).unwrap_or_default();
            for c in &l.columns {
                if !inputs[i].columns.contains(c) && !self.added.contains(c) {
                    self.added.push(c.clone());
                }
            }
            self.replace_rows(l);
        }
        if let Some(d) = outcome.display {
            let line = self.src.line_col(stmt.span.start).0;
            let name = format!("line{line}-{}", sanitize(name));
            out.display(&d.mime, &d.data, &name).map_err(|e| {
                Diagnostic::error(Code::Internal, format!("cannot write the display: {e}"))
                    .at(stmt.span)
            })?;
        }
        Ok(())
    }

    /// A WITH value as strings (a list flattened, a reference expanded).
    fn param_value(&mut self, v: &ast::Value, out: &mut Vec<String>) -> Result<(), Diagnostic> {
        match v {
            ast::Value::Lit(ast::Literal::Str(s), _) => out.push(s.clone()),
            ast::Value::Lit(_, span) => out.push(self.src.slice(*span).to_string()),
            ast::Value::Word(w) => out.push(w.name.clone()),
            ast::Value::List(items, _) => {
                for item in items {
                    self.param_value(item, out)?;
                }
            }
            ast::Value::Object(_, span) => {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    "an analytic's parameter cannot be an object",
                )
                .at(*span))
            }
            ast::Value::Ref { var, attr, span } => {
                if self.state.var(&var.name).is_none() {
                    out.push(format!("{}.{attr}", var.name));
                    return Ok(());
                }
                out.extend(self.attribute_values(var, attr, *span)?);
            }
        }
        Ok(())
    }

    /// Every distinct value of `var.attr`, as text (lowered as `DISP var ATTR attr`, so
    /// attribute names resolve as everywhere else).
    fn attribute_values(
        &mut self,
        var: &ast::Ident,
        attr: &str,
        span: Span,
    ) -> Result<Vec<String>, Diagnostic> {
        let disp = ast::Stmt {
            kind: ast::StmtKind::Disp(ast::Expression {
                var: var.clone(),
                timestamped: false,
                pattern: None,
                attrs: vec![ast::AttrPath {
                    entity: None,
                    path: attr.to_string(),
                    span,
                }],
                sort: None,
                limit: None,
                offset: None,
                span,
            }),
            span,
        };
        let outs = self.state.program.outputs.len();
        let model = crate::model()?;
        crate::lower::lower_more(
            std::slice::from_ref(&disp),
            &self.src,
            model,
            crate::lower::LowerOptions {
                config: self.config,
                catalog: Some(&mut self.conns),
                now: self.now,
            },
            &mut self.state,
        )?;
        self.track_relations();
        // The output is this statement's own, not one to print.
        let Some(o) = self.state.program.outputs.drain(outs..).next() else {
            return Ok(Vec::new());
        };
        debug_assert!(matches!(o.kind, OutputKind::Disp));
        self.prepare(&o.plan)?;
        let (program, connection) =
            super::place(&self.state.program, &mut self.conns, &o.plan, span)?;
        let backend = self.conns.get(&connection, None)?;
        let dialect = dialect_of(backend.as_ref())?;
        let stmt = sql::emit_plan(&program, &o.plan, &dialect, LiteralMode::Bind)
            .map_err(|d| crate::at(d, span))?;
        let mut rows = Collect::default();
        backend
            .query(&stmt, &mut rows)
            .map_err(|e| query_failed(e, &sources_read(&program, &o.plan, &connection), span))?;
        Ok(rows
            .rows
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .filter(|v| !v.is_null())
            .map(|v| v.to_string())
            .collect())
    }

    /// Streams a variable's rows into a Parquet file. Returns its columns and the STIX
    /// spellings added beside them (`command_line` beside `cmd_line`, `src_byte_count`
    /// beside `traffic.bytes_out`, and the original's `id` and `type`), so analytics
    /// written for the original find the columns they read; those copies are dropped
    /// from what comes back.
    fn write_input(&mut self, id: RelId, path: &Path, span: Span) -> Result<Input, Diagnostic> {
        let r = self.state.program.rel(id);
        let (r_entity, r_identity) = (r.entity.clone(), r.identity.clone());
        let mut aliases: Vec<String> = Vec::new();
        let plan = match &r.columns {
            Some(cols) => {
                let mut proj: Vec<(String, Expr)> =
                    cols.iter().map(|c| (c.clone(), Expr::col(c))).collect();
                if let Some(def) = crate::model().ok().and_then(|m| m.entity(&r.entity)) {
                    for (stix, ocsf) in &def.stix {
                        if cols.contains(ocsf) && !cols.contains(stix) && !aliases.contains(stix) {
                            proj.push((stix.clone(), Expr::col(ocsf)));
                            aliases.push(stix.clone());
                        }
                    }
                }
                Plan::Rel(id).project(proj)
            }
            None => Plan::Rel(id),
        };
        let declared = r.columns.clone().unwrap_or_default();
        self.prepare(&plan)?;
        let (program, connection) =
            super::place(&self.state.program, &mut self.conns, &plan, span)?;
        let backend = self.conns.get(&connection, None)?;
        let dialect = dialect_of(backend.as_ref())?;
        let stmt = sql::emit_plan(&program, &plan, &dialect, LiteralMode::Bind)
            .map_err(|d| crate::at(d, span))?;
        let write_fail = |e: &dyn std::fmt::Display| {
            Diagnostic::error(
                Code::Analytic,
                format!("cannot write the analytic's input: {e}"),
            )
            .at(span)
        };
        let mut sink = ParquetSink::create(path).map_err(|e| write_fail(&e))?;
        let mut stix = StixIds::new(&mut sink, &r_entity, &r_identity);
        backend.query(&stmt, &mut stix).map_err(|e| match e {
            BackendError::Output(io) => write_fail(&io),
            e => query_failed(e, &sources_read(&program, &plan, &connection), span),
        })?;
        if !stix.started {
            let mut all = declared.clone();
            all.extend(aliases.iter().cloned());
            crate::backend::RowSink::columns(&mut stix, &all).map_err(|e| write_fail(&e))?;
        }
        let ids = std::mem::take(&mut stix.ids);
        let id_columns = stix.id_columns();
        aliases.extend(stix.added.iter().map(|s| s.to_string()));
        let columns: Vec<String> = sink
            .column_names()
            .iter()
            .filter(|c| !aliases.contains(c))
            .cloned()
            .collect();
        sink.finish().map_err(|e| write_fail(&e))?;
        Ok(Input {
            columns,
            aliases,
            id_columns,
            ids,
        })
    }

    /// Loads the file an analytic returned for `id` into a new table of the cache.
    fn load_output(
        &mut self,
        id: RelId,
        path: &Path,
        input: &Input,
        analytic: &str,
    ) -> Result<Loaded, Diagnostic> {
        let r = self.state.program.rel(id).clone();
        let bad =
            |msg: String| Diagnostic::error(Code::Analytic, format!("`{analytic}` returned {msg}"));
        let table = self.new_table(&r.name, "_applied");
        let mut cache = self.conns.take(CACHE)?;
        let mut columns: Vec<String> = Vec::new();
        let mut keep: Vec<usize> = Vec::new();
        // Where the `id` and `type` kestrel added came back, and the identity columns
        // to restore from `id` (an analytic written for the original may keep only it).
        let (mut id_at, mut type_at) = (None, None);
        let mut restore: Vec<usize> = Vec::new();
        let mut failure: Option<Diagnostic> = None;
        let mut created = false;
        let result = parquet::read(path, |chunk| match chunk {
            parquet::Chunk::Columns(cols) => {
                for (i, c) in cols.iter().enumerate() {
                    if input.aliases.contains(c) {
                        match c.as_str() {
                            "id" => id_at = Some(i),
                            "type" => type_at = Some(i),
                            _ => {}
                        }
                        continue;
                    }
                    // pandas' index, written when an analytic forgets `index=False`.
                    if c.starts_with("__index_level_") {
                        continue;
                    }
                    if c.is_empty() || columns.iter().any(|k: &String| k.eq_ignore_ascii_case(c)) {
                        failure = Some(bad(format!(
                            "a column named `{c}` twice (or with no name) for `{}`",
                            r.var
                        )));
                        return Err(parquet::ParquetError(String::new()));
                    }
                    columns.push(c.clone());
                    keep.push(i);
                }
                let lost: Vec<&String> = r
                    .identity
                    .iter()
                    .filter(|c| input.columns.contains(c) && !columns.contains(c))
                    .collect();
                let restorable = id_at.is_some()
                    && lost.iter().all(|c| input.id_columns.contains(c))
                    && !input.ids.is_empty();
                if !lost.is_empty() && restorable {
                    for c in lost {
                        restore.extend(input.id_columns.iter().position(|k| k == c));
                        columns.push(c.clone());
                    }
                } else if !lost.is_empty() {
                    failure = Some(bad(format!(
                        "`{}` without its identity column{} {} (an analytic must keep the \
                         columns that identify each entity, or the `id` column it was given)",
                        r.var,
                        if lost.len() == 1 { "" } else { "s" },
                        lost.iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                    return Err(parquet::ParquetError(String::new()));
                }
                cache
                    .create_temp_table(&table, &columns, &[])
                    .map_err(|e| parquet::ParquetError(e.to_string()))?;
                created = true;
                Ok(())
            }
            parquet::Chunk::Rows(rows) => {
                for chunk in rows.chunks(LOAD_BATCH) {
                    let mut lits: Vec<Vec<Literal>> = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        if let Some(t) = type_at {
                            let ty = row.get(t).cloned().unwrap_or(Value::Null);
                            if !matches!(&ty, Value::Text(t) if *t == r.entity) {
                                failure = Some(bad(format!(
                                    "a record of `{}` whose `type` is {ty} instead of `{}` \
                                     (an analytic may not change an entity's type)",
                                    r.var, r.entity
                                )));
                                return Err(parquet::ParquetError(String::new()));
                            }
                        }
                        let mut lit: Vec<Literal> = keep
                            .iter()
                            .map(|&i| Literal::from(row.get(i).cloned().unwrap_or(Value::Null)))
                            .collect();
                        if !restore.is_empty() {
                            let given = id_at.and_then(|i| row.get(i));
                            let Some(values) = given
                                .and_then(|v| match v {
                                    Value::Text(t) => Some(t),
                                    _ => None,
                                })
                                .and_then(|t| input.ids.get(t.as_str()))
                            else {
                                failure = Some(bad(format!(
                                    "a record of `{}` whose `id` ({}) is none kestrel gave it",
                                    r.var,
                                    given.cloned().unwrap_or(Value::Null)
                                )));
                                return Err(parquet::ParquetError(String::new()));
                            };
                            lit.extend(restore.iter().map(|&k| Literal::from(values[k].clone())));
                        }
                        lits.push(lit);
                    }
                    cache
                        .insert_rows(&table, &columns, &lits)
                        .map_err(|e| parquet::ParquetError(e.to_string()))?;
                }
                if crate::backend::cancel::requested() {
                    return Err(parquet::ParquetError("interrupted".into()));
                }
                Ok(())
            }
        });
        if result.is_err() && created {
            let _ = cache.drop_temp_table(&table);
        }
        self.conns.put(CACHE, cache);
        if let Some(d) = failure {
            return Err(d);
        }
        result.map_err(|e| bad(format!("rows kestrel cannot read for `{}`: {e}", r.var)))?;
        let type_kept = if input.aliases.iter().any(|c| c == "type") {
            type_at.is_some()
        } else {
            !input.columns.iter().any(|c| c == "type") || columns.iter().any(|c| c == "type")
        };
        if !type_kept {
            self.drop_loaded(&[Loaded {
                id,
                table,
                columns: Vec::new(),
            }]);
            return Err(bad(format!("`{}` without its `type` column", r.var)));
        }
        Ok(Loaded { id, table, columns })
    }

    fn drop_loaded(&mut self, loaded: &[Loaded]) {
        if let Ok(mut cache) = self.conns.take(CACHE) {
            for l in loaded {
                let _ = cache.drop_temp_table(&l.table);
            }
            self.conns.put(CACHE, cache);
        }
    }

    /// Stores every variable that reads one of `ids` directly and is not stored yet.
    fn keep_readers(&mut self, ids: &[RelId]) -> Result<(), Diagnostic> {
        let readers: Vec<RelId> = (0..self.state.program.relations.len())
            .map(RelId)
            .filter(|j| !ids.contains(j))
            .filter(|j| {
                let r = self.state.program.rel(*j);
                if r.var.contains('(') || self.rels.get(j.0).is_some_and(|s| s.stored.is_some()) {
                    return false;
                }
                let mut refs = Vec::new();
                r.plan.rel_refs(&mut refs);
                refs.iter().any(|id| ids.contains(id))
            })
            .collect();
        for j in readers {
            // All of its attributes: what later statements read of it is not known here.
            if let Some(s) = self.rels.get_mut(j.0) {
                s.need = None;
            }
            self.store(j)?;
        }
        Ok(())
    }

    /// Makes a variable read the rows an analytic returned.
    fn replace_rows(&mut self, l: Loaded) {
        let Loaded { id, table, columns } = l;
        let r = self.state.program.rel(id).clone();
        let timestamp = r
            .source
            .and_then(|s| self.state.program.sources[s].timestamp.clone())
            .filter(|t| columns.contains(t));
        let src = self.add_table_source(&r, "applied", &table, CACHE, timestamp, columns.clone());
        let plan = Plan::Scan { source: src }
            .project(columns.iter().map(|c| (c.clone(), Expr::col(c))).collect());
        let rel = &mut self.state.program.relations[id.0];
        rel.plan = plan;
        rel.columns = Some(columns);
        self.liveness.reads_its_table(&self.state.program, id, src);
        self.track_relations();
        let s = &mut self.rels[id.0];
        s.stored = Some(Stored {
            connection: CACHE.to_string(),
            table,
            source: src,
        });
        s.counts = None;
        s.need = None;
    }
}

/// The error of a SAVE that could not write `path`, at `span`.
pub(super) fn cannot_write(
    path: &str,
    span: Span,
) -> impl Fn(&dyn std::fmt::Display) -> Diagnostic + '_ {
    move |e| Diagnostic::error(Code::DataSource, format!("cannot write `{path}`: {e}")).at(span)
}

/// `SAVE v TO lake/table/`: the rows as table `table` of the Parquet lake `lake`, as
/// `kestrel ingest --into datafusion:///lake --table table` writes it (a directory per
/// event day, dotted names as nested structs), replacing what was there, all or nothing.
/// The rows go first into a Parquet file of their own (hidden, beside the table), which
/// tells each column's type before the lake's writer starts, then into the lake.
pub(super) fn save_lake(
    backend: &mut dyn crate::backend::Backend,
    stmt: &sql::SqlStatement,
    path: &str,
    span: Span,
) -> Result<(), Diagnostic> {
    use crate::ingest::{self, Column, ColumnType, IngestError, Row, Schema, Target, WriteMode};
    let write_fail = cannot_write(path, span);
    let dir = Path::new(path.trim_end_matches('/'));
    let (Some(lake), Some(table)) = (dir.parent(), dir.file_name()) else {
        return Err(write_fail(
            &"a lake table is a directory under the lake's: `lake/table/`",
        ));
    };
    let lake = if lake.as_os_str().is_empty() {
        Path::new(".")
    } else {
        lake
    };
    let table = table.to_string_lossy().into_owned();
    let target = Target::Lake(lake.to_path_buf());
    target.check_table(&table).map_err(|e| write_fail(&e))?;
    std::fs::create_dir_all(lake).map_err(|e| write_fail(&e))?;
    let rows_file = lake.join(format!(
        ".{table}.kestrel-save-{}.parquet",
        std::process::id()
    ));
    let result = (|| {
        save_parquet(backend, stmt, &rows_file.display().to_string(), span)?;
        // Each column's type: the file's, which its writer took from the rows and held
        // every value to.
        let mut rows = parquet::Rows::open(&rows_file).map_err(|e| write_fail(&e))?;
        let schema = Schema {
            columns: rows
                .columns
                .iter()
                .zip(&rows.kinds)
                .map(|(name, &kind)| Column {
                    name: name.clone(),
                    ty: ColumnType::of_kind(kind),
                    // Not counted here: the writer does not read it.
                    non_null: 0,
                })
                .collect(),
        };
        let width = schema.columns.len();
        let batches = std::iter::from_fn(move || match rows.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => None,
            Err(e) => Some(Err(IngestError::BadOptions(e.to_string()))),
        });
        let rows = batches.flat_map(|batch| -> Vec<Result<Row, IngestError>> {
            match batch {
                Ok(batch) => batch
                    .into_iter()
                    .map(|values| {
                        Ok(Row {
                            columns: (0..width).collect(),
                            values,
                        })
                    })
                    .collect(),
                Err(e) => vec![Err(e)],
            }
        });
        ingest::write(&target, &table, &schema, WriteMode::Replace, rows)
            .map_err(|e| write_fail(&e))?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&rows_file);
    result
}

/// `SAVE v TO x.parquet`: the rows streamed into a Parquet file through a temporary file
/// beside it, renamed into place only when complete (a failure leaves no file).
pub(super) fn save_parquet(
    backend: &mut dyn crate::backend::Backend,
    stmt: &sql::SqlStatement,
    path: &str,
    span: Span,
) -> Result<(), Diagnostic> {
    let target = Path::new(path);
    let write_fail = cannot_write(path, span);
    if std::fs::metadata(target).is_ok_and(|m| !m.is_file()) {
        return Err(write_fail(&"it exists and is not a regular file"));
    }
    let tmp = crate::io::temp_path(target);
    let result = (|| {
        let mut sink = ParquetSink::create(&tmp).map_err(|e| write_fail(&e))?;
        backend.query(stmt, &mut sink).map_err(|e| match e {
            BackendError::Output(io) => write_fail(&io),
            e => Diagnostic::error(
                Code::DataSource,
                format!(
                    "the query failed: {}",
                    crate::config::redact_url(&e.to_string())
                ),
            )
            .at(span),
        })?;
        sink.finish().map_err(|e| write_fail(&e))?;
        std::fs::rename(&tmp, target).map_err(|e| write_fail(&e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An analytic's failure as a diagnostic at the APPLY's analytic.
fn analytic_failed(e: AnalyticsError, name: &str, span: Span) -> Diagnostic {
    match e {
        AnalyticsError::NotFound { message, help } => {
            Diagnostic::error(Code::NotAvailable, message)
                .at(span)
                .help(help)
        }
        AnalyticsError::Unavailable { message, help } => {
            Diagnostic::error(Code::NotAvailable, message)
                .at(span)
                .help(help)
        }
        AnalyticsError::Import { message, package } => {
            let d = Diagnostic::error(
                Code::Analytic,
                format!("`{name}` cannot be loaded: {message}"),
            )
            .at(span);
            match package {
                Some(p) => d.help(format!(
                    "install the Python package that provides `{p}` in the analytics interpreter \
                     (`python3 -m pip install {p}`, or set `analytics: {{python: …}}` to a \
                     virtualenv's python that has it)"
                )),
                None => d,
            }
        }
        AnalyticsError::Failed { message, details } => {
            let d =
                Diagnostic::error(Code::Analytic, format!("`{name}` failed: {message}")).at(span);
            if details.trim().is_empty() {
                d
            } else {
                d.note(details.trim_end().to_string())
            }
        }
        AnalyticsError::WrongReturn(m) => {
            Diagnostic::error(Code::Analytic, format!("`{name}` returned {m}"))
                .at(span)
                .help("return one DataFrame per ON variable, and at most one display")
        }
        AnalyticsError::Timeout(secs) => Diagnostic::error(
            Code::Analytic,
            format!("`{name}` ran longer than `analytics_timeout` ({secs} s) and was stopped"),
        )
        .at(span)
        .help("raise `analytics: {analytics_timeout: …}` in the kestrel configuration"),
        AnalyticsError::Cancelled => {
            super::connections::source_error(None, BackendError::Cancelled).at(span)
        }
        AnalyticsError::Io(m) => Diagnostic::error(Code::Analytic, m).at(span),
    }
}
