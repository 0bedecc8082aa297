//! Backends: where SQL runs. One trait, one implementation per database engine.
//!
//! In: a connection URL from the configuration and [`SqlStatement`]s. Out: column names and
//! rows, streamed to a [`RowSink`] one at a time so memory stays flat.
//!
//! - `sqlite.rs` — rusqlite, bundled (`sqlite:///path`);
//! - `postgres.rs` — the `postgres` crate (`postgresql://`, `postgres://`);
//! - `mysql.rs` — the `mysql` crate, for MySQL and MariaDB (`mysql://`, `mariadb://`);
//! - `mssql.rs` — `tiberius` over tokio (`mssql://`);
//! - `url.rs` — server URLs as SQLAlchemy writes them (`+driver` ignored).

pub mod cancel;
pub mod like;
pub mod mssql;
pub mod mysql;
pub mod postgres;
pub mod sqlite;
pub mod url;

use std::io;

use crate::sql::SqlStatement;
use crate::value::Value;

/// Receives a result as it streams in.
pub trait RowSink {
    fn columns(&mut self, columns: &[String]) -> io::Result<()>;
    fn row(&mut self, row: &[Value]) -> io::Result<()>;
}

/// A failure of the database (not of the hunt's text).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot open {url}: {message}")]
    Open { url: String, message: String },
    #[error("{0}")]
    Query(String),
    #[error("writing the result failed: {0}")]
    Output(#[from] io::Error),
    #[error("unsupported connection URL `{0}`; supported: sqlite:///path, postgresql://…, mysql://…, mssql://…")]
    Scheme(String),
    /// The statement ran longer than the connection's `statement_timeout` and was stopped.
    #[error("the statement ran longer than statement_timeout ({0} s) and was cancelled")]
    Timeout(u64),
    /// Ctrl-C: the statement was stopped.
    #[error("interrupted (Ctrl-C): the statement was cancelled")]
    Cancelled,
}

/// How a connection is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Whether the session may write (otherwise read-only where the server has it).
    pub allow_write: bool,
    /// Per-statement timeout in seconds.
    pub statement_timeout: Option<u64>,
}

/// One open connection.
pub trait Backend {
    /// The SQL dialect this backend speaks (a name in `dialects/`).
    fn dialect(&self) -> &'static str;
    /// Column names of a table with what they hold, where the type says (empty when
    /// there is no such table).
    fn column_kinds(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, Option<crate::ir::ColumnKind>)>, BackendError>;
    /// Column names of a table, or None when there is no such table.
    fn columns(&mut self, table: &str) -> Result<Option<Vec<String>>, BackendError> {
        let cols: Vec<String> = self
            .column_kinds(table)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        Ok((!cols.is_empty()).then_some(cols))
    }
    /// Stops any statement that runs longer than `timeout` (None: no limit). A backend
    /// without a way to do so ignores it.
    fn set_statement_timeout(&mut self, _timeout: Option<std::time::Duration>) {}
    /// Runs a statement, streaming its result into `sink`; stops it on the server when
    /// [`cancel::requested`] turns true or the statement timeout passes.
    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError>;

    /// Holds `rows` in a temporary table `name` (visible to this connection only, gone
    /// when it closes), for rows too many to travel inside one statement. Backends that
    /// cannot say so, and the rows then travel inline.
    fn create_temp_table(
        &mut self,
        _name: &str,
        _columns: &[String],
        _rows: &[Vec<crate::ir::Literal>],
    ) -> Result<(), BackendError> {
        Err(BackendError::Query(
            "temporary tables are not available on this backend".into(),
        ))
    }
}

/// Opens a connection URL (`sqlite:///relative.db`, `sqlite:////abs.db`,
/// `postgresql://user@host/db`, `mysql://user@host/db`, `mssql://user:pw@host/db`).
pub fn open(url: &str, opts: &OpenOptions) -> Result<Box<dyn Backend>, BackendError> {
    let scheme = url.split("://").next().unwrap_or("");
    let base = scheme.split('+').next().unwrap_or("").to_ascii_lowercase();
    match base.as_str() {
        "sqlite" => Ok(Box::new(sqlite::SqliteBackend::open_url(
            url,
            opts.allow_write,
        )?)),
        "postgresql" | "postgres" => Ok(Box::new(postgres::PgBackend::open(url, opts)?)),
        "mysql" | "mariadb" => Ok(Box::new(mysql::MysqlBackend::open(url, opts)?)),
        "mssql" => Ok(Box::new(mssql::MssqlBackend::open(url, opts)?)),
        _ => Err(BackendError::Scheme(crate::config::redact_url(url))),
    }
}

/// Collects a whole (small) result: counts, statistics, catalogs.
#[derive(Debug, Default)]
pub struct Collect {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl RowSink for Collect {
    fn columns(&mut self, columns: &[String]) -> io::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }
    fn row(&mut self, row: &[Value]) -> io::Result<()> {
        self.rows.push(row.to_vec());
        Ok(())
    }
}
