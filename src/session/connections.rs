//! The connections a session holds open, by connection name, and the catalog of the tables
//! they hold. `""` is the session's own cache: an embedded SQLite database (in memory,
//! spilling to a temporary file past its page-cache budget) that holds rows made by NEW
//! and LOAD and computed variables when their own database cannot keep them.
//!
//! In: the configuration. Out: open [`Backend`]s, the columns of each table (read once),
//! and the first row of a plan for lowering's time spans.

use std::collections::{HashMap, HashSet};

use crate::backend::{self, sqlite::SqliteBackend, Backend, BackendError, Collect};
use crate::config::{redact_url, Config};
use crate::diag::{Code, Diagnostic};
use crate::ir::{ColumnKind, DataSource, Output, OutputKind, Plan, Program, RelId};
use crate::lower::Catalog;
use crate::source::Span;
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

    pub(crate) fn get(
        &mut self,
        connection: &str,
        ds: Option<&DataSource>,
    ) -> Result<&mut Box<dyn Backend>, Diagnostic> {
        if !self.open.contains_key(connection) {
            let backend: Box<dyn Backend> =
                if connection.is_empty() || connection == super::store::CACHE {
                    Box::new(SqliteBackend::cache().map_err(|e| source_error(None, e))?)
                } else {
                    let (url, opts) = self.how_to_open(connection).ok_or_else(|| {
                        Diagnostic::internal(format!("connection `{connection}` vanished"))
                    })?;
                    open_with(&url, &opts).map_err(|e| source_error(ds, e))?
                };
            self.open.insert(connection.to_string(), backend);
        }
        self.open
            .get_mut(connection)
            .ok_or_else(|| Diagnostic::internal("connection not open"))
    }

    /// The URL and options a configured connection is opened with.
    pub(crate) fn how_to_open(&self, connection: &str) -> Option<(String, backend::OpenOptions)> {
        let conn = self.config?.connections.get(connection)?;
        let opts = backend::OpenOptions {
            allow_write: conn.table_creation_permission,
            statement_timeout: conn.statement_timeout,
            connect_timeout: conn.connect_timeout,
        };
        Some((conn.url.clone(), opts))
    }
}

/// A connection opened as the session opens it: with its statement timeout, which SQLite
/// enforces in the engine (progress handler) and servers in-session.
pub(crate) fn open_with(
    url: &str,
    opts: &backend::OpenOptions,
) -> Result<Box<dyn Backend>, BackendError> {
    let mut b = backend::open(url, opts)?;
    b.set_statement_timeout(opts.statement_timeout.map(std::time::Duration::from_secs));
    Ok(b)
}

pub(crate) fn source_error(ds: Option<&DataSource>, e: BackendError) -> Diagnostic {
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
        sources: &[crate::ir::DataSource],
        relations: &[crate::ir::Relation],
        plan: &Plan,
        _of: RelId,
    ) -> Result<Option<(Value, Value)>, Diagnostic> {
        let program = Program {
            sources: sources.to_vec(),
            relations: relations.to_vec(),
            outputs: Vec::new(),
        };
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
        let program = crate::ship::ship_for(&program, plan, self)?;
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

impl Connections<'_> {
    /// Uses `backend` for connection `name` instead of opening it from the configuration
    /// (tests wrap a real backend to watch what it receives).
    pub fn insert(&mut self, name: &str, backend: Box<dyn Backend>) {
        self.open.insert(name.to_string(), backend);
    }

    /// Takes an open connection out (to use it beside another one); [`Connections::put`]
    /// gives it back.
    pub(crate) fn take(&mut self, name: &str) -> Result<Box<dyn Backend>, Diagnostic> {
        self.get(name, None)?;
        self.open
            .remove(name)
            .ok_or_else(|| Diagnostic::internal("connection not open"))
    }

    pub(crate) fn put(&mut self, name: &str, backend: Box<dyn Backend>) {
        self.open.insert(name.to_string(), backend);
    }
}

/// Where a plan's data lives: the connection of every source it reads.
pub(crate) fn placement(program: &Program, plan: &Plan, span: Span) -> Result<String, Diagnostic> {
    let mut conns = std::collections::BTreeSet::new();
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

pub(crate) fn dialect_of(backend: &dyn Backend) -> Result<Dialect, Diagnostic> {
    Dialect::builtin(backend.dialect())
        .ok_or_else(|| Diagnostic::internal(format!("no dialect {}", backend.dialect())))
}
