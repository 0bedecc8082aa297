//! Running a hunt: compile against the real tables, run each output's SQL where its data
//! lives, print as it completes, then summarise the variables.
//!
//! In: a hunt, the configuration, a [`Printer`]. Out: printed results and the summary rows,
//! or the first [`Diagnostic`] (a hunt error or a data source failure, both exit 1).
//!
//! Where a statement runs: the connection of every data source it reads. Variables made
//! by NEW have no data source; they travel inside the statement as VALUES, and a statement
//! that reads only such variables runs on an in-memory SQLite database.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::time::Instant;

use crate::at;
use crate::backend::{self, sqlite::SqliteBackend, Backend, BackendError, Collect, RowSink};
use crate::config::{redact_url, Config};
use crate::diag::{Code, Diagnostic};
use crate::ir::{ColumnKind, DataSource, Output, OutputKind, Plan, Program, RelId};
use crate::lower::{Catalog, LowerOptions};
use crate::output::progress::{self, Spinner};
use crate::output::{Printer, SummaryRow};
use crate::source::{SourceFile, Span};
use crate::sql::{self, Dialect, LiteralMode};
use crate::value::Value;

/// A table's columns and what each holds, as the database says.
type TableColumns = Vec<(String, Option<ColumnKind>)>;

/// Open connections, by connection name; `""` is the in-memory cache.
#[derive(Default)]
pub struct Connections<'a> {
    config: Option<&'a Config>,
    open: HashMap<String, Box<dyn Backend>>,
    /// Temporary tables made on each connection (see `ship::localise`).
    temp_tables: HashSet<(String, String)>,
    /// Columns and what they hold, per (connection, table), read once.
    kinds: HashMap<(String, String), TableColumns>,
}

impl<'a> Connections<'a> {
    pub fn new(config: Option<&'a Config>) -> Connections<'a> {
        Connections {
            config,
            open: HashMap::new(),
            temp_tables: HashSet::new(),
            kinds: HashMap::new(),
        }
    }

    pub(crate) fn has_temp_table(&self, connection: &str, table: &str) -> bool {
        self.temp_tables
            .contains(&(connection.to_string(), table.to_string()))
    }

    pub(crate) fn remember_temp_table(&mut self, connection: &str, table: &str) {
        self.temp_tables
            .insert((connection.to_string(), table.to_string()));
    }

    /// The open connection of that name (`""`: the in-memory cache), opened on first use.
    pub(crate) fn open(&mut self, connection: &str) -> Result<&mut Box<dyn Backend>, Diagnostic> {
        self.get(connection, None)
    }

    fn get(
        &mut self,
        connection: &str,
        ds: Option<&DataSource>,
    ) -> Result<&mut Box<dyn Backend>, Diagnostic> {
        if !self.open.contains_key(connection) {
            let backend: Box<dyn Backend> = if connection.is_empty() {
                Box::new(SqliteBackend::memory().map_err(|e| source_error(None, e))?)
            } else {
                let conn = self
                    .config
                    .and_then(|c| c.connections.get(connection))
                    .ok_or_else(|| {
                        Diagnostic::internal(format!("connection `{connection}` vanished"))
                    })?;
                let opts = backend::OpenOptions {
                    allow_write: conn.table_creation_permission,
                    statement_timeout: conn.statement_timeout,
                    connect_timeout: conn.connect_timeout,
                };
                let mut b = backend::open(&conn.url, &opts).map_err(|e| source_error(ds, e))?;
                // SQLite enforces it in the engine (progress handler); servers in-session.
                b.set_statement_timeout(conn.statement_timeout.map(std::time::Duration::from_secs));
                b
            };
            self.open.insert(connection.to_string(), backend);
        }
        self.open
            .get_mut(connection)
            .ok_or_else(|| Diagnostic::internal("connection not open"))
    }
}

fn source_error(ds: Option<&DataSource>, e: BackendError) -> Diagnostic {
    let msg = redact_url(&e.to_string());
    match ds {
        Some(ds) => Diagnostic::error(
            Code::DataSource,
            format!("data source `{}` (table `{}`): {msg}", ds.name, ds.table),
        ),
        None => Diagnostic::error(Code::DataSource, msg),
    }
}

impl Catalog for Connections<'_> {
    fn columns(&mut self, ds: &DataSource) -> Result<Option<Vec<String>>, Diagnostic> {
        let Some(connection) = ds.connection.clone() else {
            return Err(Diagnostic::error(
                Code::UnknownDataSource,
                format!("no configuration, so data source `{}` cannot be reached", ds.name),
            )
            .label("needs a configured data source")
            .help("write a config (see README: Configuration) and pass --config, or set KESTREL_CONFIG"));
        };
        let key = (connection.clone(), ds.table.clone());
        if !self.kinds.contains_key(&key) {
            let backend = self.get(&connection, Some(ds))?;
            let cols = backend
                .column_kinds(&ds.table)
                .map_err(|e| source_error(Some(ds), e))?;
            self.kinds.insert(key.clone(), cols);
        }
        let cols: Vec<String> = self
            .kinds
            .get(&key)
            .map(|c| c.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        match (!cols.is_empty()).then_some(cols) {
            Some(c) => Ok(Some(c)),
            None => Err(Diagnostic::error(
                Code::DataSource,
                format!(
                    "data source `{}`: table `{}` does not exist",
                    ds.name, ds.table
                ),
            )
            .label("its table is missing")
            .help("check `table:` in the configuration, or load logs with `kestrel ingest`")),
        }
    }

    fn column_kind(&mut self, ds: &DataSource, column: &str) -> Option<ColumnKind> {
        let key = (ds.connection.clone()?, ds.table.clone());
        self.kinds
            .get(&key)?
            .iter()
            .find(|(n, _)| n == column)
            .and_then(|(_, k)| *k)
    }

    fn time_span(
        &mut self,
        program: Program,
        plan: &Plan,
    ) -> Result<Option<(Value, Value)>, Diagnostic> {
        self.first_row(program, plan)
    }
}

impl Connections<'_> {
    /// Runs a one-row query over a program still being lowered (see
    /// [`Catalog::time_span`]), shipping what it reads between connections first.
    fn first_row(
        &mut self,
        program: Program,
        plan: &Plan,
    ) -> Result<Option<(Value, Value)>, Diagnostic> {
        let mut program = program;
        program.outputs.push(Output {
            kind: OutputKind::Disp,
            rel: RelId(0),
            plan: plan.clone(),
            columns: None,
            span: Span::new(0, 0),
            line: 0,
            text: String::new(),
        });
        let program = crate::ship::ship(program, self)?;
        let connection = placement(&program, plan, Span::new(0, 0))?;
        let program = crate::ship::localise(&program, plan, &connection, self)?;
        let backend = self.get(&connection, None)?;
        let dialect = dialect_of(backend.as_ref())?;
        let stmt = sql::emit_plan(&program, plan, &dialect, LiteralMode::Bind)?;
        let mut rows = Collect::default();
        backend
            .query(&stmt, &mut rows)
            .map_err(|e| source_error(None, e))?;
        Ok(rows.rows.into_iter().next().and_then(|r| {
            let mut it = r.into_iter();
            Some((it.next()?, it.next()?))
        }))
    }
}

/// Settings for one run.
pub struct RunOptions {
    /// Print the summary block (after the results, to `summary_out`).
    pub summary: bool,
}

/// Runs a hunt, printing each output as it completes. Returns the summary rows (none when
/// `opts.summary` is false: counting is skipped).
pub fn run_hunt<W: Write>(
    src: &SourceFile,
    config: Option<&Config>,
    printer: &mut Printer<W>,
    summary_out: &mut dyn Write,
    opts: &RunOptions,
) -> Result<Vec<SummaryRow>, Diagnostic> {
    let started = Instant::now();
    let mut conns = Connections::new(config);
    let program = crate::compile_program(
        src,
        LowerOptions {
            config,
            catalog: Some(&mut conns),
            now: crate::lower::time::now_micros(),
        },
    )?;
    let program = crate::ship::ship(program, &mut conns)?;
    for output in &program.outputs {
        if backend::cancel::requested() {
            return Err(source_error(None, BackendError::Cancelled).at(output.span));
        }
        run_output(&program, output, &mut conns, printer)?;
    }
    // Counting every variable costs a query each: only when the summary is wanted.
    let rows = if opts.summary {
        summary(&program, &mut conns)?
    } else {
        Vec::new()
    };
    if opts.summary {
        crate::output::write_summary(&mut &mut *summary_out, &rows, started.elapsed()).map_err(
            |e| Diagnostic::error(Code::Internal, format!("cannot write the summary: {e}")),
        )?;
    }
    Ok(rows)
}

/// Where a plan's data lives: the connection of every source it reads.
fn placement(program: &Program, plan: &Plan, span: Span) -> Result<String, Diagnostic> {
    let mut conns = BTreeSet::new();
    for s in program.scans_through(plan) {
        conns.insert(program.sources[s].connection.clone().unwrap_or_default());
    }
    match conns.len() {
        0 => Ok(String::new()),
        1 => Ok(conns.into_iter().next().unwrap_or_default()),
        // `ship` moved every variable a statement needs to one connection.
        _ => Err(Diagnostic::internal(format!(
            "a statement still reads several connections ({})",
            conns.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .at(span)),
    }
}

fn dialect_of(backend: &dyn Backend) -> Result<Dialect, Diagnostic> {
    Dialect::builtin(backend.dialect())
        .ok_or_else(|| Diagnostic::internal(format!("no dialect {}", backend.dialect())))
}

struct PrintSink<'p, W: Write> {
    printer: &'p mut Printer<W>,
    spinner: &'p Spinner,
    /// Rows go to standard output (the spinner must get out of their way there).
    to_stdout: bool,
}

impl<W: Write> RowSink for PrintSink<'_, W> {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.printer.begin(columns)
    }
    fn row(&mut self, row: &[Value]) -> std::io::Result<()> {
        self.spinner.row();
        if self.to_stdout && progress::shares_terminal() {
            self.spinner.pause();
        }
        self.printer.row(row)
    }
}

/// A spinner for a statement, when standard error is a terminal.
fn spinner_for(o: &Output) -> Spinner {
    let first_line = o.text.lines().next().unwrap_or("").trim();
    Spinner::start(first_line, progress::enabled())
}

fn run_output<W: Write>(
    program: &Program,
    o: &Output,
    conns: &mut Connections<'_>,
    printer: &mut Printer<W>,
) -> Result<(), Diagnostic> {
    let connection = placement(program, &o.plan, o.span)?;
    let local = crate::ship::localise(program, &o.plan, &connection, conns)?;
    let program = &*local;
    let backend = conns.get(&connection, None)?;
    let dialect = dialect_of(backend.as_ref())?;
    let where_ = sources_read(program, &o.plan, &connection);
    let fail = |e: BackendError| {
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
        .at(o.span)
        .help(help)
    };
    let io_fail =
        |e: std::io::Error| Diagnostic::error(Code::Internal, format!("cannot write output: {e}"));
    let spinner = spinner_for(o);
    match &o.kind {
        OutputKind::Disp => {
            let stmt = sql::emit_plan(program, &o.plan, &dialect, LiteralMode::Bind)
                .map_err(|d| at(d, o.span))?;
            let mut sink = PrintSink {
                printer,
                spinner: &spinner,
                to_stdout: true,
            };
            backend.query(&stmt, &mut sink).map_err(fail)?;
            spinner.pause();
            printer.end().map_err(io_fail)?;
        }
        OutputKind::Save { path } => {
            let stmt = sql::emit_plan(program, &o.plan, &dialect, LiteralMode::Bind)
                .map_err(|d| at(d, o.span))?;
            save(backend.as_mut(), &stmt, path, o.span)?;
        }
        OutputKind::Explain => {
            let stmt = sql::emit_plan(program, &o.plan, &dialect, LiteralMode::Inline)
                .map_err(|d| at(d, o.span))?;
            let r = program.rel(o.rel);
            let place = if connection.is_empty() {
                "the in-memory cache".to_string()
            } else {
                format!("connection `{connection}`")
            };
            let text = format!(
                "-- {} runs on {place} ({})\n{};\n",
                r.var, dialect.name, stmt.sql
            );
            printer.text_block(&text).map_err(io_fail)?;
        }
        OutputKind::Info => {
            let (records, entities) =
                counts(program, o.rel, backend.as_mut(), &dialect).map_err(fail)?;
            spinner.pause();
            let r = program.rel(o.rel);
            let source = r
                .source
                .map(|s| program.sources[s].uri.clone())
                .unwrap_or_default();
            let attrs = r.columns.clone().unwrap_or_default().join(", ");
            let fields: Vec<(&str, String)> = vec![
                ("Entity Type", r.entity.clone()),
                ("Number of Entities", entities.to_string()),
                ("Number of Records", records.to_string()),
                ("Entity Attributes", attrs),
                ("Associated Datasource", source),
                ("Birth Command", r.command.to_string()),
                ("Dependent Variables", r.depends_on.join(", ")),
            ];
            printer
                .begin(&["field".to_string(), "value".to_string()])
                .map_err(io_fail)?;
            for (k, v) in fields {
                printer
                    .row(&[Value::Text(k.to_string()), Value::Text(v)])
                    .map_err(io_fail)?;
            }
            printer.end().map_err(io_fail)?;
        }
        OutputKind::Describe { attr } => {
            let sql::DescribeSql { stats, mean, top } =
                sql::emit_describe(program, &o.plan, attr, &dialect, LiteralMode::Bind)
                    .map_err(|d| at(d, o.span))?;
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
            printer.begin(&cols).map_err(io_fail)?;
            printer.row(&vals).map_err(io_fail)?;
            printer.end().map_err(io_fail)?;
        }
    }
    Ok(())
}

/// "data source `a`, `b` on connection `lake`", naming what a failing statement read.
fn sources_read(program: &Program, plan: &Plan, connection: &str) -> String {
    let names: BTreeSet<String> = program
        .scans_through(plan)
        .iter()
        .map(|s| format!("`{}`", program.sources[*s].name))
        .collect();
    let place = if connection.is_empty() {
        "the in-memory cache".to_string()
    } else {
        format!("connection `{connection}`")
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
    backend: &mut dyn Backend,
    stmt: &sql::SqlStatement,
    path: &str,
    span: Span,
) -> Result<(), Diagnostic> {
    let format = crate::io::save_format(path).map_err(|e| {
        Diagnostic::error(Code::BadValue, e.to_string())
            .at(span)
            .help("SAVE writes .csv, .json or .jsonl")
    })?;
    let target = std::path::Path::new(path);
    let tmp = crate::io::temp_path(target);
    let write_fail = |e: &dyn std::fmt::Display| {
        Diagnostic::error(Code::DataSource, format!("cannot write `{path}`: {e}")).at(span)
    };
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
            printer: &mut printer,
            spinner: &spinner,
            to_stdout: false,
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

/// Records and entities of a relation.
fn counts(
    program: &Program,
    rel: RelId,
    backend: &mut dyn Backend,
    dialect: &Dialect,
) -> Result<(u64, u64), BackendError> {
    let stmt = sql::emit_counts(program, rel, dialect, LiteralMode::Bind)
        .map_err(|d| BackendError::Query(d.message))?;
    let mut c = Collect::default();
    backend.query(&stmt, &mut c)?;
    let row = c.rows.first().cloned().unwrap_or_default();
    let n = |v: Option<&Value>| match v {
        Some(Value::Int(i)) => (*i).max(0) as u64,
        _ => 0,
    };
    Ok((n(row.first()), n(row.get(1))))
}

/// One summary row per variable (its newest version), in the order they were defined.
fn summary(program: &Program, conns: &mut Connections<'_>) -> Result<Vec<SummaryRow>, Diagnostic> {
    let mut newest: Vec<RelId> = Vec::new();
    for (i, r) in program.relations.iter().enumerate() {
        // Helper relations (`TIMESTAMPED(v)` in an expression) are not variables.
        if r.var.contains('(') {
            continue;
        }
        if let Some(pos) = newest.iter().position(|id| program.rel(*id).var == r.var) {
            newest.remove(pos);
        }
        newest.push(RelId(i));
    }
    let spinner = Spinner::start("counting entities and records", progress::enabled());
    let mut rows = Vec::new();
    for id in newest {
        let r = program.rel(id);
        let connection = placement(program, &Plan::Rel(id), r.span)?;
        let local = crate::ship::localise(program, &Plan::Rel(id), &connection, conns)?;
        let backend = conns.get(&connection, None)?;
        let dialect = dialect_of(backend.as_ref())?;
        let (records, entities) = counts(&local, id, backend.as_mut(), &dialect).map_err(|e| {
            Diagnostic::error(
                Code::DataSource,
                format!("counting `{}` failed: {e}", r.var),
            )
            .at(r.span)
        })?;
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
