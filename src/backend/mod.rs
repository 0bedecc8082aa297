//! Backends: where SQL runs. One trait, one implementation per database engine.
//!
//! In: a connection URL from the configuration and [`SqlStatement`]s. Out: column names and
//! rows, streamed to a [`RowSink`] one at a time so memory stays flat.
//!
//! - `sqlite.rs` — rusqlite, bundled (`sqlite:///path`);
//! - `postgres.rs` — the `postgres` crate (`postgresql://`, `postgres://`);
//! - `mysql.rs` — the `mysql` crate, for MySQL and MariaDB (`mysql://`, `mariadb://`);
//! - `mssql.rs` — `tiberius` over tokio (`mssql://`);
//! - `datafusion.rs` — Apache DataFusion embedded, over Parquet/CSV/JSON-lines files
//!   (`datafusion:///dir`; the `datafusion` cargo feature);
//! - `ballista.rs` — the same over an Apache Ballista cluster (`ballista://host:port/dir`;
//!   the `ballista` cargo feature);
//! - `url.rs` — server URLs as SQLAlchemy writes them (`+driver` ignored), parameters;
//! - `tls.rs` — rustls, with libpq's `sslmode` meanings.

#[cfg(feature = "ballista")]
pub mod ballista;
pub mod cancel;
#[cfg(feature = "datafusion")]
pub mod datafusion;
pub mod like;
pub mod mssql;
pub mod mysql;
pub mod postgres;
pub mod sqlite;
mod tally;
pub use tally::EntityCounter;
pub mod tls;
pub mod url;

use std::io;
use std::time::Duration;

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
    /// The server did not answer while connecting (seconds waited).
    #[error("no answer from the server within {0} s (connect_timeout)")]
    ConnectTimeout(u64),
    /// `store` stopped: the rows are more than this connection keeps (the most it keeps);
    /// the variable is computed in each query that reads it instead.
    #[error("more than {0} rows: not kept")]
    TooManyToKeep(usize),
}

/// How long opening a server connection may take when the connection does not say
/// (`connect_timeout`), in seconds.
pub const DEFAULT_CONNECT_TIMEOUT: u64 = 10;

/// How a connection is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Whether the session may write (otherwise read-only where the server has it).
    pub allow_write: bool,
    /// Per-statement timeout in seconds.
    pub statement_timeout: Option<u64>,
    /// Seconds that reaching a server and logging in may take (None:
    /// [`DEFAULT_CONNECT_TIMEOUT`]; 0: no limit).
    pub connect_timeout: Option<u64>,
}

impl OpenOptions {
    /// These options with the URL's `connect_timeout` parameter (libpq's and MySQL's
    /// spelling) where the configuration gives none; an error names a bad value.
    pub(crate) fn with_url_connect_timeout(
        &self,
        u: &url::ServerUrl,
    ) -> Result<OpenOptions, String> {
        let connect_timeout = match (self.connect_timeout, u.param("connect_timeout")) {
            (Some(t), _) => Some(t),
            (None, Some(t)) => Some(
                t.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("`connect_timeout={t}` is not a number of seconds"))?,
            ),
            (None, None) => None,
        };
        Ok(OpenOptions {
            connect_timeout,
            ..*self
        })
    }

    /// The limit on opening a connection, if any.
    pub fn connect_limit(&self) -> Option<Duration> {
        match self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT) {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        }
    }
}

/// A failure while opening `url`: Ctrl-C stays itself, anything else names the URL
/// (password masked).
pub(crate) fn open_failed(url: &str, e: BackendError) -> BackendError {
    match e {
        BackendError::Cancelled => BackendError::Cancelled,
        other => BackendError::Open {
            url: crate::config::redact_url(url),
            message: crate::config::redact_url(&other.to_string()),
        },
    }
}

/// Runs `connect` (a blocking client's connect and login, which has no overall limit of
/// its own) on a thread and waits at most `limit` for it; Ctrl-C stops the wait too.
/// Past the limit the attempt is abandoned: its thread ends when the server answers or
/// drops the connection, and its result is thrown away.
pub(crate) fn within<T: Send + 'static>(
    limit: Option<Duration>,
    connect: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BackendError> {
    let Some(limit) = limit else {
        return Ok(connect());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("kestrel-connect".into())
        .spawn(move || {
            let _ = tx.send(connect());
        })
        .map_err(|e| BackendError::Query(format!("cannot start a thread: {e}")))?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(BackendError::ConnectTimeout(limit.as_secs()));
        }
        match rx.recv_timeout(left.min(Duration::from_millis(50))) {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if cancel::requested() => {
                return Err(BackendError::Cancelled)
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(BackendError::Query(
                    "internal error, please report: the connecting thread ended".into(),
                ))
            }
        }
    }
}

/// What a backend without temporary tables answers (the caller keeps rows elsewhere).
fn no_temp_tables() -> BackendError {
    BackendError::Query("temporary tables are not available on this backend".into())
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
        Err(no_temp_tables())
    }

    /// Appends `rows` to a temporary table made by [`Backend::create_temp_table`].
    fn insert_rows(
        &mut self,
        _name: &str,
        _columns: &[String],
        _rows: &[Vec<crate::ir::Literal>],
    ) -> Result<(), BackendError> {
        Err(no_temp_tables())
    }

    /// Keeps the rows of `stmt` (a query) in a new temporary table `name` of this
    /// connection, gone when it closes; the rows never leave the database. An error when
    /// the connection cannot hold temporary tables (the caller keeps the rows elsewhere).
    fn store(&mut self, _name: &str, _stmt: &SqlStatement) -> Result<(), BackendError> {
        Err(no_temp_tables())
    }

    /// [`Backend::store`], counting the rows on their way into the table where they pass
    /// through kestrel (DataFusion writes the table's file itself, also for a cluster):
    /// the records, and the entities of `identity` (columns of the statement; a record
    /// whose identity is not whole counts by its `own` id columns, as the summary's count
    /// query does). None where the rows never leave the database, or the count could not
    /// be taken: the summary then counts the table.
    fn store_counted(
        &mut self,
        name: &str,
        stmt: &SqlStatement,
        _identity: &[String],
        _own: &[String],
    ) -> Result<Option<(u64, u64)>, BackendError> {
        self.store(name, stmt).map(|()| None)
    }

    /// Drops a temporary table this connection made, if it exists.
    fn drop_temp_table(&mut self, _name: &str) -> Result<(), BackendError> {
        Ok(())
    }

    /// The name of this connection's aggregate `f(keep, c1, …)` that counts distinct
    /// tuples faster than the database's `COUNT(DISTINCT …)`, returning NULL if it cannot
    /// count (SQLite's, when its spill files cannot be written; see
    /// [`Dialect::distinct_count_function`](crate::sql::Dialect)).
    fn distinct_count_function(&self) -> Option<&'static str> {
        None
    }

    /// The name of this connection's scalar `f(slot, n, identity…, own id…)` that counts
    /// the rows and distinct entities of a variable while a statement reads it (returning
    /// 1), if it has one. See `kestrel_tally` in the SQLite backend.
    fn tally_function(&self) -> Option<&'static str> {
        None
    }

    /// What the tally counted in `slot` (records, distinct tuples), forgetting it; None
    /// when it could not count (its spill files failed, or the connection has no tally).
    fn take_tally(&mut self, _slot: i64) -> Option<(u64, u64)> {
        None
    }

    /// Forgets what the tally counted in `slot` without counting it (a spilled slot's
    /// files are closed, not read).
    fn forget_tally(&mut self, _slot: i64) {}

    /// The planner's estimate of how many rows `stmt` gives, where the database has one
    /// to ask (PostgreSQL's `EXPLAIN`); None elsewhere, or when asking failed.
    fn estimated_rows(&mut self, _stmt: &SqlStatement) -> Option<f64> {
        None
    }

    /// Whether a query on a second connection to this database runs beside this one's
    /// (a server with a process per connection), so that a count the summary needs can
    /// run there while the hunt's statements run here.
    fn counts_beside(&self) -> bool {
        false
    }

    /// [`Backend::query`] for a statement of many rows that nothing shows: fetched a
    /// batch at a time where that costs less a row (PostgreSQL's portal).
    fn query_batched(
        &mut self,
        stmt: &SqlStatement,
        sink: &mut dyn RowSink,
    ) -> Result<(), BackendError> {
        self.query(stmt, sink)
    }

    /// Whether this database would hold the distinct rows of `distinct` (a `SELECT
    /// DISTINCT`) in memory while it counts them, as its planner expects them: Some(false)
    /// where they would spill to disk (PostgreSQL's hash table past `work_mem` ×
    /// `hash_mem_multiplier`), None where it cannot tell.
    fn distinct_fits(&mut self, _distinct: &SqlStatement) -> Option<bool> {
        None
    }
}

/// Opens a connection URL (`sqlite:///relative.db`, `sqlite:////abs.db`,
/// `postgresql://user@host/db`, `mysql://user@host/db`, `mssql://user:pw@host/db`).
pub fn open(url: &str, opts: &OpenOptions) -> Result<Box<dyn Backend>, BackendError> {
    tls::install_default_provider();
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
        #[cfg(feature = "datafusion")]
        "datafusion" => Ok(Box::new(datafusion::DataFusionBackend::open_url(url)?)),
        #[cfg(not(feature = "datafusion"))]
        "datafusion" => Err(BackendError::Open {
            url: crate::config::redact_url(url),
            message: "this kestrel was built without DataFusion (cargo feature `datafusion`)"
                .into(),
        }),
        #[cfg(feature = "ballista")]
        "ballista" => Ok(Box::new(ballista::open_url(url, opts)?)),
        #[cfg(not(feature = "ballista"))]
        "ballista" => Err(BackendError::Open {
            url: crate::config::redact_url(url),
            message: "this kestrel was built without Ballista (cargo feature `ballista`)".into(),
        }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connecting_is_bounded_by_default_and_zero_means_no_limit() {
        let limit = |t| {
            OpenOptions {
                connect_timeout: t,
                ..OpenOptions::default()
            }
            .connect_limit()
        };
        assert_eq!(
            limit(None),
            Some(Duration::from_secs(DEFAULT_CONNECT_TIMEOUT))
        );
        assert_eq!(limit(Some(3)), Some(Duration::from_secs(3)));
        assert_eq!(limit(Some(0)), None);
    }

    #[test]
    fn a_connect_that_does_not_return_in_time_is_abandoned() {
        let start = std::time::Instant::now();
        let r = within(Some(Duration::from_millis(200)), || {
            std::thread::sleep(Duration::from_secs(5));
        });
        assert!(matches!(r, Err(BackendError::ConnectTimeout(0))), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(within(Some(Duration::from_secs(5)), || 7).unwrap(), 7);
        assert_eq!(within(None, || 8).unwrap(), 8);
    }
}
