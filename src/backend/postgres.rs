//! PostgreSQL through the `postgres` crate, TLS by rustls (`tls.rs`).
//!
//! In: `postgresql://user:password@host:port/database` (also `postgres://`,
//! `postgresql+psycopg2://`). Out: rows streamed from the server one at a time.
//!
//! The session is read-only (`default_transaction_read_only`) unless the connection
//! allows table creation, with an optional `statement_timeout`. Bound values follow the
//! types the server infers for their placeholders: `pid = '201'` against an integer
//! column binds the integer 201, a START/STOP bound against a `timestamp` column binds
//! a timestamp.

use std::error::Error as StdError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::Client;

use super::url::ServerUrl;
use super::{Backend, BackendError, OpenOptions, RowSink};
use crate::ir::{ColumnKind, Literal};
use crate::sql::SqlStatement;
use crate::value::Value;

pub struct PgBackend {
    client: Client,
    /// The connection's `statement_timeout` (seconds), which the server enforces.
    timeout: Option<u64>,
    /// How the session is encrypted (a cancel request travels the same way).
    tls: super::tls::PgTls,
    /// The bytes a hash table may take (`work_mem` × `hash_mem_multiplier`), once asked:
    /// the session sets neither.
    hash_budget: Option<f64>,
}

type BoxError = Box<dyn StdError + Sync + Send>;

fn open_error(url: &str, message: impl ToString) -> BackendError {
    BackendError::Open {
        url: crate::config::redact_url(url),
        message: crate::config::redact_url(&message.to_string()),
    }
}

/// `"name"` with `"` doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn query_error(e: postgres::Error) -> BackendError {
    BackendError::Query(error_text(&e))
}

/// The server's own message (and its detail), which says more than the driver's summary
/// ("db error").
pub(crate) fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{}: {d}", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// libpq's URI parameters kestrel honours (see [`PgBackend::open`]).
const PG_PARAMS: &[&str] = &[
    "host",
    "port",
    "dbname",
    "user",
    "password",
    "options",
    "application_name",
    "connect_timeout",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "target_session_attrs",
];
/// Parameters of Python drivers and SQLAlchemy that mean nothing here.
const PG_ACCEPTED: &[&str] = &["driver", "client_encoding"];

/// libpq's `options` (`-c search_path=seeds -c work_mem=64MB`, also `-csearch_path=…`
/// and `--search_path=…`) as setting/value pairs; `\ ` is a space inside a value.
pub(crate) fn parse_options(options: &str) -> Result<Vec<(String, String)>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut out = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let setting = if w == "-c" {
            words
                .next()
                .ok_or_else(|| "`options`: `-c` without a setting".to_string())?
        } else if let Some(rest) = w.strip_prefix("--").or_else(|| w.strip_prefix("-c")) {
            rest.to_string()
        } else {
            return Err(format!(
                "`options`: `{w}` is not `-c name=value` (the only form kestrel reads)"
            ));
        };
        let (k, v) = setting
            .split_once('=')
            .ok_or_else(|| format!("`options`: `{setting}` has no `=value`"))?;
        out.push((k.replace('-', "_"), v.to_string()));
    }
    Ok(out)
}

/// Setting/value pairs as one startup `options` string (spaces and backslashes escaped).
fn options_text(settings: &[(String, String)]) -> String {
    settings
        .iter()
        .map(|(k, v)| {
            let esc = |s: &str| s.replace('\\', "\\\\").replace(' ', "\\ ");
            format!("-c {}={}", esc(k), esc(v))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl PgBackend {
    /// Opens a session. Of libpq's URI parameters it honours `host`, `port`, `dbname`,
    /// `user`, `password` (over the URL's own parts), `options` (`-c name=value`
    /// settings, e.g. `-c search_path=seeds`), `application_name` (default `kestrel`),
    /// `connect_timeout` (seconds, when the connection's own setting does not say),
    /// `target_session_attrs` and the TLS ones (`sslmode`, `sslrootcert`, `sslcert`,
    /// `sslkey`); any other parameter is a warning.
    pub fn open(url: &str, opts: &OpenOptions) -> Result<PgBackend, BackendError> {
        let u = ServerUrl::parse(url).map_err(|m| open_error(url, m))?;
        super::url::warn_unknown(url, &u.unknown_params(PG_PARAMS, PG_ACCEPTED));
        let mut config = postgres::Config::new();
        config.host(u.param("host").unwrap_or(&u.host));
        let port = match u.param("port") {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| open_error(url, format!("`port={p}` is not a port number")))?,
            None => u.port.unwrap_or(5432),
        };
        config.port(port);
        config.user(u.param("user").or(u.user.as_deref()).unwrap_or("postgres"));
        if let Some(pw) = u.param("password").or(u.password.as_deref()) {
            config.password(pw);
        }
        if let Some(db) = u.param("dbname").or(u.database.as_deref()) {
            config.dbname(db);
        }
        config.application_name(u.param("application_name").unwrap_or("kestrel"));
        match u.param("target_session_attrs") {
            None | Some("any") => {}
            Some("read-write") => {
                config.target_session_attrs(postgres::config::TargetSessionAttrs::ReadWrite);
            }
            Some(other) => {
                return Err(open_error(
                    url,
                    format!("`target_session_attrs={other}`: kestrel knows `any` and `read-write`"),
                ))
            }
        }
        let opts = &opts
            .with_url_connect_timeout(&u)
            .map_err(|m| open_error(url, m))?;
        let tls = super::tls::PgTls::from_url(&u).map_err(|m| open_error(url, m))?;
        // The driver's connect_timeout covers the TCP connect only; a server that accepts
        // and then says nothing would hold the login forever: `within` bounds it all.
        let limit = opts.connect_limit();
        if let Some(t) = limit {
            config.connect_timeout(t);
        }
        // Session settings travel with the login (no round trip of their own); a server
        // or pooler that refuses startup options gets them through set_config instead.
        // The URL's own `options` come first, so kestrel's read-only setting wins.
        let mut settings: Vec<(String, String)> = match u.param("options") {
            Some(o) => parse_options(o).map_err(|m| open_error(url, m))?,
            None => Vec::new(),
        };
        if !opts.allow_write {
            settings.push(("default_transaction_read_only".into(), "on".into()));
        }
        if let Some(secs) = opts.statement_timeout {
            settings.push((
                "statement_timeout".into(),
                secs.saturating_mul(1000).to_string(),
            ));
        }
        let connect = |config: postgres::Config| {
            let tls = tls.clone();
            super::within(limit, move || tls.connect(&config))
                .map_err(|e| super::open_failed(url, e))
        };
        let mut with_options = config.clone();
        if !settings.is_empty() {
            with_options.options(&options_text(&settings));
        }
        let client = match connect(with_options)? {
            Ok(client) => client,
            Err(e) if !settings.is_empty() && refuses_options(&e) => {
                let mut client = connect(config)?.map_err(|e| open_error(url, error_text(&e)))?;
                for (k, v) in &settings {
                    client
                        .execute("SELECT set_config($1, $2, false)", &[k, v])
                        .map_err(|e| open_error(url, error_text(&e)))?;
                }
                client
            }
            Err(e) => return Err(open_error(url, super::tls::explain_pg(&e, &u))),
        };
        Ok(PgBackend {
            client,
            tls,
            timeout: opts.statement_timeout,
            hash_budget: None,
        })
    }

    /// The underlying client (ingest writes through it).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// A login refused over its startup options (PgBouncer: "unsupported startup parameter:
/// options").
fn refuses_options(e: &postgres::Error) -> bool {
    let text = error_text(e).to_ascii_lowercase();
    text.contains("startup parameter") || text.contains("options")
}

/// Rows per INSERT when filling a temporary table (one array parameter per column).
const TEMP_CHUNK_ROWS: usize = 100_000;

/// The SQL type a shipped column takes: the one its values share, text otherwise.
fn temp_column_type(rows: &[Vec<Literal>], col: usize) -> &'static str {
    let (mut ints, mut floats, mut bools, mut other) = (false, false, false, false);
    for row in rows {
        match row.get(col) {
            Some(Literal::Int(_)) => ints = true,
            Some(Literal::Float(_)) => floats = true,
            Some(Literal::Bool(_)) => bools = true,
            Some(Literal::Null) | None => {}
            Some(_) => other = true,
        }
    }
    match (ints, floats, bools, other) {
        (true, false, false, false) => "bigint",
        (_, true, false, false) => "double precision",
        (false, false, true, false) => "boolean",
        _ => "text",
    }
}

/// One column of a chunk of shipped rows, as an array parameter of `ty`.
fn temp_column(
    rows: &[Vec<Literal>],
    col: usize,
    ty: &str,
) -> Result<Box<dyn ToSql + Sync>, String> {
    let cell = |r: &Vec<Literal>| r.get(col).cloned().unwrap_or(Literal::Null);
    Ok(match ty {
        "bigint" => Box::new(
            rows.iter()
                .map(|r| match cell(r) {
                    Literal::Int(i) => Some(i),
                    _ => None,
                })
                .collect::<Vec<Option<i64>>>(),
        ),
        "double precision" => Box::new(
            rows.iter()
                .map(|r| match cell(r) {
                    Literal::Int(i) => Some(i as f64),
                    Literal::Float(f) => Some(f),
                    _ => None,
                })
                .collect::<Vec<Option<f64>>>(),
        ),
        "boolean" => Box::new(
            rows.iter()
                .map(|r| match cell(r) {
                    Literal::Bool(b) => Some(b),
                    _ => None,
                })
                .collect::<Vec<Option<bool>>>(),
        ),
        _ => Box::new(
            rows.iter()
                .map(|r| match cell(r) {
                    Literal::Null => Ok(None),
                    l => {
                        let t = text_of(&l);
                        if t.contains('\0') {
                            Err(NUL_IN_TEXT.to_string())
                        } else {
                            Ok(Some(t))
                        }
                    }
                })
                .collect::<Result<Vec<Option<String>>, String>>()?,
        ),
    })
}

/// The most rows (by the planner's estimate) a kept variable may have on PostgreSQL, as
/// on DataFusion. Measured at 1,000,000 events: keeping the 894,513 rows of the *wide*
/// hunt's variable took 1.0–1.1 s, against 0.3–0.5 s for a statement that reads them
/// from the lake again on two workers.
pub const KEEP_AT_MOST: usize = 250_000;

impl PgBackend {
    /// The planner's estimate of how many rows `stmt` gives (0 when it has none).
    fn planned_rows(&mut self, stmt: &SqlStatement) -> Result<f64, BackendError> {
        Ok(self.planned(stmt)?["Plan Rows"].as_f64().unwrap_or(0.0))
    }

    /// The top node of the planner's plan for `stmt` (`EXPLAIN (FORMAT JSON)`); null
    /// where the answer is not one.
    fn planned(&mut self, stmt: &SqlStatement) -> Result<serde_json::Value, BackendError> {
        let explain = SqlStatement {
            sql: format!("EXPLAIN (FORMAT JSON) {}", stmt.sql),
            params: stmt.params.clone(),
        };
        let mut plan = super::Collect::default();
        self.query(&explain, &mut plan)?;
        let text = match plan.rows.first().and_then(|r| r.first()) {
            Some(Value::Text(t)) => t.as_str(),
            _ => return Ok(serde_json::Value::Null),
        };
        let mut json: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        Ok(json[0]["Plan"].take())
    }
}

impl Backend for PgBackend {
    fn dialect(&self) -> &'static str {
        "postgres"
    }

    /// A session-private table (`pg_temp`), filled with one `INSERT … SELECT FROM
    /// unnest($1::T[], …)` per 100,000 rows: a few round trips for a million values, no
    /// statement text that grows with them. The session is read-only by default: this one
    /// transaction is `READ WRITE` (temporary tables only; kestrel's own fixed
    /// statements). On a read-only server (a hot standby) it fails, and the rows stay
    /// inline.
    fn create_temp_table(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Literal>],
    ) -> Result<(), BackendError> {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let types: Vec<&str> = (0..columns.len())
            .map(|i| temp_column_type(rows, i))
            .collect();
        let defs: Vec<String> = columns
            .iter()
            .zip(&types)
            .map(|(c, t)| format!("{} {t}", q(c)))
            .collect();
        let unnest: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("${}::{t}[]", i + 1))
            .collect();
        let mut tx = self
            .client
            .build_transaction()
            .read_only(false)
            .start()
            .map_err(query_error)?;
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE {} ({})",
            q(name),
            defs.join(", ")
        ))
        .map_err(query_error)?;
        if !columns.is_empty() {
            let insert = tx
                .prepare(&format!(
                    "INSERT INTO {} SELECT * FROM unnest({})",
                    q(name),
                    unnest.join(", ")
                ))
                .map_err(query_error)?;
            for chunk in rows.chunks(TEMP_CHUNK_ROWS) {
                let params = (0..columns.len())
                    .map(|i| temp_column(chunk, i, types[i]))
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(BackendError::Query)?;
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p).collect();
                tx.execute(&insert, &refs).map_err(query_error)?;
            }
        }
        // Temporary tables get no statistics of their own (autovacuum skips them).
        tx.batch_execute(&format!("ANALYZE {}", q(name)))
            .map_err(query_error)?;
        tx.commit().map_err(query_error)
    }

    fn column_kinds(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, Option<ColumnKind>)>, BackendError> {
        let (schema, table) = crate::sql::table_name::schema_and_table(table, "schema")
            .map_err(BackendError::Query)?;
        // One round trip: the parameters' types are given, so nothing is prepared first.
        // An unqualified name is looked up along the search_path, as the query will.
        let rows = self
            .client
            .query_typed(
                // pg_catalog directly: information_schema.columns costs milliseconds.
                "SELECT a.attname::text, t.typname::text \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = to_regclass(COALESCE(quote_ident($1) || '.', '') || quote_ident($2)) \
                   AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[(&schema, Type::TEXT), (&table, Type::TEXT)],
            )
            .map_err(query_error)?;
        let mut out = Vec::new();
        for r in rows {
            let name: String = r.try_get(0).map_err(query_error)?;
            let ty: String = r.try_get(1).map_err(query_error)?;
            let kind = match ty.as_str() {
                "int2" | "int4" | "int8" => Some(ColumnKind::Integer),
                "float4" | "float8" | "numeric" => Some(ColumnKind::Float),
                "bool" => Some(ColumnKind::Boolean),
                "timestamp" | "timestamptz" => Some(ColumnKind::Timestamp),
                "text" | "varchar" | "bpchar" | "name" => Some(ColumnKind::Text),
                _ => None,
            };
            out.push((name, kind));
        }
        Ok(out)
    }

    fn store(&mut self, name: &str, stmt: &SqlStatement) -> Result<(), BackendError> {
        // A variable the planner expects to be large is not kept: parallel workers cannot
        // read a temporary table, and writing one costs about a second a million rows,
        // more than the lake costs to read again (see [`KEEP_AT_MOST`]).
        if self.planned_rows(stmt)? > KEEP_AT_MOST as f64 {
            return Err(BackendError::TooManyToKeep(KEEP_AT_MOST));
        }
        // `CREATE TABLE AS`, whose query may run on parallel workers (an `INSERT … SELECT`
        // runs on one: at 1M events the LSASS hunt's variable took 280–370 ms that way,
        // 160–220 ms this way). It takes no bound values, so the query is prepared on the
        // server (`PREPARE`, with the types the server gives its placeholders) and the
        // table made from its `EXECUTE`, whose arguments read the values from settings of
        // this transaction that a `set_config` with the bound values made: the values are
        // never written into a statement, and the plan is made for them (a placeholder
        // read in the query itself would be planned blind, and at 1M events that chose an
        // index range scan taking 0.6 s over a 0.35 s scan).
        let types: Vec<Type> = if stmt.params.is_empty() {
            Vec::new()
        } else {
            self.client
                .prepare(&stmt.sql)
                .map_err(query_error)?
                .params()
                .to_vec()
        };
        // One at a time on a connection, and deallocated when done.
        let prepared = "kestrel_keep";
        // Sessions are read-only; a temporary table needs a transaction that may write
        // (it writes nothing but the session's own temporary table). Numbers turn into
        // text and back exactly (`extra_float_digits`, for servers before 12).
        self.client
            .batch_execute("BEGIN READ WRITE; SET LOCAL extra_float_digits = 3")
            .map_err(query_error)?;
        let result = (|| {
            let select = if types.is_empty() {
                stmt.sql.clone()
            } else {
                let type_names: Vec<&str> = types.iter().map(column_type).collect();
                let set: Vec<String> = type_names
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        format!(
                            "set_config('{SETTING}{}', ${}::{t}::text, true)",
                            i + 1,
                            i + 1
                        )
                    })
                    .collect();
                let values = SqlStatement {
                    sql: format!("SELECT {}", set.join(", ")),
                    params: stmt.params.clone(),
                };
                self.query(&values, &mut super::Collect::default())?;
                self.client
                    .batch_execute(&format!(
                        "PREPARE {prepared} ({}) AS {}",
                        type_names.join(", "),
                        stmt.sql
                    ))
                    .map_err(query_error)?;
                let args: Vec<String> = type_names
                    .iter()
                    .zip(&stmt.params)
                    .enumerate()
                    .map(|(i, (t, l))| match l {
                        Literal::Null => format!("NULL::{t}"),
                        _ => format!("current_setting('{SETTING}{}')::{t}", i + 1),
                    })
                    .collect();
                format!("EXECUTE {prepared} ({})", args.join(", "))
            };
            // Not analysed: measured at 1M events, ANALYZE of the kept tables made the
            // three-FIND chain 2.6x slower (PostgreSQL already sees a fresh table's size).
            let create = SqlStatement {
                sql: format!("CREATE TEMP TABLE {} AS {select}", quote(name)),
                params: Vec::new(),
            };
            self.query(&create, &mut super::Collect::default())
        })();
        let ended = match result {
            Ok(()) => self.client.batch_execute("COMMIT").map_err(query_error),
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK");
                Err(e)
            }
        };
        // A prepared statement outlives its transaction, even one rolled back.
        if !types.is_empty() {
            let _ = self.client.batch_execute(&format!("DEALLOCATE {prepared}"));
        }
        ended
    }

    fn estimated_rows(&mut self, stmt: &SqlStatement) -> Option<f64> {
        self.planned_rows(stmt).ok()
    }

    fn counts_beside(&self) -> bool {
        true
    }

    /// The planner's rows and width for the distinct rows, each with the hash table's
    /// own bytes for a group ([`GROUP_BYTES`]), against `work_mem` × `hash_mem_multiplier`
    /// (a server before PostgreSQL 13 has no multiplier: 1).
    fn distinct_fits(&mut self, distinct: &SqlStatement) -> Option<bool> {
        let plan = self.planned(distinct).ok()?;
        let rows = plan["Plan Rows"].as_f64()?;
        let width = plan["Plan Width"].as_f64().unwrap_or(0.0);
        let bytes = match self.hash_budget {
            Some(bytes) => bytes,
            None => {
                let budget = SqlStatement {
                    sql: "SELECT pg_size_bytes(current_setting('work_mem'))::float8 \
                          * COALESCE(current_setting('hash_mem_multiplier', true)::float8, 1)"
                        .to_string(),
                    params: Vec::new(),
                };
                let mut memory = super::Collect::default();
                self.query(&budget, &mut memory).ok()?;
                let Some(Value::Float(bytes)) = memory.rows.first().and_then(|r| r.first()) else {
                    return None;
                };
                *self.hash_budget.insert(*bytes)
            }
        };
        Some(rows * (width + GROUP_BYTES) <= bytes)
    }

    fn drop_temp_table(&mut self, name: &str) -> Result<(), BackendError> {
        self.client
            .batch_execute(&format!(
                "BEGIN READ WRITE; DROP TABLE IF EXISTS pg_temp.{}; COMMIT",
                quote(name)
            ))
            .map_err(query_error)
    }

    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        self.rows(stmt, sink, None)
    }

    /// The rows a round trip at a time, from a portal of a transaction of their own:
    /// without one wait on the connection per row, which is most of the time a million
    /// rows take to arrive. A statement read so may be suspended, so the server plans it
    /// without parallel workers.
    fn query_batched(
        &mut self,
        stmt: &SqlStatement,
        sink: &mut dyn RowSink,
    ) -> Result<(), BackendError> {
        self.rows(stmt, sink, Some(PORTAL_ROWS))
    }
}

/// Rows a round trip of [`Backend::query_batched`] fetches.
const PORTAL_ROWS: i32 = 8192;

impl PgBackend {
    /// Runs `stmt`, its rows into `sink`: as they arrive, or (`batch`) that many at a time
    /// from a portal.
    fn rows(
        &mut self,
        stmt: &SqlStatement,
        sink: &mut dyn RowSink,
        batch: Option<i32>,
    ) -> Result<(), BackendError> {
        let prepared = self.client.prepare(&stmt.sql).map_err(query_error)?;
        let names: Vec<String> = prepared
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let types = prepared.params();
        if types.len() != stmt.params.len() {
            return Err(BackendError::Query(format!(
                "internal error: {} values for {} placeholders",
                stmt.params.len(),
                types.len()
            )));
        }
        let params = stmt
            .params
            .iter()
            .zip(types)
            .enumerate()
            .map(|(i, (l, ty))| {
                param(l, ty).map_err(|m| BackendError::Query(format!("value {}: {m}", i + 1)))
            })
            .collect::<Result<Vec<Param>, _>>()?;
        sink.columns(&names)?;
        // Ctrl-C (super::cancel) stops the statement on the server: PostgreSQL's cancel
        // request, sent while the rows stream.
        let token = self.client.cancel_token();
        let tls = self.tls.clone();
        let watch = super::cancel::watch(move || tls.cancel(&token));
        // The server stops a statement past `statement_timeout` with SQLSTATE 57014
        // (also Ctrl-C's code, which `watch` reports as such).
        let timeout = self.timeout;
        let stopped = move |e: postgres::Error| match timeout {
            Some(secs)
                if e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED)
                    && !super::cancel::requested() =>
            {
                BackendError::Timeout(secs)
            }
            _ => query_error(e),
        };
        let width = names.len();
        let mut buf: Vec<Value> = Vec::with_capacity(width);
        let mut put = |row: &postgres::Row| -> Result<(), BackendError> {
            buf.clear();
            for i in 0..width {
                let Cell(v) = row.try_get(i).map_err(query_error)?;
                buf.push(v);
            }
            Ok(sink.row(&buf)?)
        };
        let client = &mut self.client;
        let result = (|| {
            let Some(batch) = batch else {
                let mut rows = client
                    .query_raw(&prepared, params.iter())
                    .map_err(stopped)?;
                while let Some(row) = rows.next().map_err(stopped)? {
                    put(&row)?;
                }
                return Ok(());
            };
            let mut tx = client.transaction().map_err(stopped)?;
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            let portal = tx.bind(&prepared, &refs).map_err(stopped)?;
            loop {
                let rows = tx.query_portal(&portal, batch).map_err(stopped)?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    put(row)?;
                }
            }
            // It only read: ended either way.
            tx.commit().map_err(stopped)
        })();
        watch.finish(result)
    }
}

/// A group's bytes in PostgreSQL's hash table besides its key: the entry, the tuple's
/// header and the aggregate's state, about as its planner counts them.
const GROUP_BYTES: f64 = 64.0;

/// The prefix of the settings that carry a kept variable's values to its `EXECUTE`
/// ([`Backend::store`]); they last until the end of its transaction.
const SETTING: &str = "kestrel.keep_";

/// The type a value the server expects as `ty` is declared with: its name where that is a
/// plain built-in name, else text (a placeholder whose type nothing decides is text).
fn column_type(ty: &Type) -> &str {
    let name = ty.name();
    if !name.is_empty()
        && name != "unknown"
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        name
    } else {
        "text"
    }
}

/// A bound value, converted to the type the server expects for its placeholder.
#[derive(Debug)]
pub(crate) enum Param {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Time(SystemTime),
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut bytes_mut::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Bool(v) => v.to_sql(ty, out),
            Param::I16(v) => v.to_sql(ty, out),
            Param::I32(v) => v.to_sql(ty, out),
            Param::I64(v) => v.to_sql(ty, out),
            Param::F32(v) => v.to_sql(ty, out),
            Param::F64(v) => v.to_sql(ty, out),
            Param::Text(v) => v.as_str().to_sql(ty, out),
            Param::Time(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

mod bytes_mut {
    pub use postgres::types::private::BytesMut;
}

fn micros_to_system_time(t: i64) -> SystemTime {
    if t >= 0 {
        UNIX_EPOCH + Duration::from_micros(t as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(t.unsigned_abs())
    }
}

fn text_of(l: &Literal) -> String {
    match l {
        Literal::Null => String::new(),
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => f.to_string(),
        Literal::Str(s) => s.clone(),
        Literal::Timestamp(t) => crate::ir::timestamp_text(*t),
    }
}

/// Why a value holding U+0000 cannot be bound (the server would say "invalid byte
/// sequence for encoding UTF8: 0x00").
pub(crate) const NUL_IN_TEXT: &str = "PostgreSQL text cannot hold the NUL character (\\0, U+0000)";

/// Whether JSON text holds an escaped NUL (`\u0000`), which becomes text PostgreSQL
/// cannot hold when the array's elements are read.
fn json_has_nul(json: &str) -> bool {
    let b = json.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b[i + 1..].starts_with(b"u0000") {
                return true;
            }
            // The escaped character, whatever it is, is not the start of an escape.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// `l` as a value of `ty`: a literal compared with a column takes the column's type.
pub(crate) fn param(l: &Literal, ty: &Type) -> Result<Param, String> {
    if *l == Literal::Null {
        return Ok(Param::Null);
    }
    let int = || -> Result<i64, String> {
        match l {
            Literal::Int(i) => Ok(*i),
            Literal::Bool(b) => Ok(i64::from(*b)),
            Literal::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(*f as i64),
            Literal::Str(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("'{s}' is compared with an integer column but is no integer")),
            other => Err(format!("{other} is compared with an integer column")),
        }
    };
    let float = || -> Result<f64, String> {
        match l {
            Literal::Int(i) => Ok(*i as f64),
            Literal::Float(f) => Ok(*f),
            Literal::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("'{s}' is compared with a numeric column but is no number")),
            other => Err(format!("{other} is compared with a numeric column")),
        }
    };
    Ok(match *ty {
        Type::BOOL => Param::Bool(match l {
            Literal::Bool(b) => *b,
            Literal::Int(i) => *i != 0,
            Literal::Str(s) if s.eq_ignore_ascii_case("true") => true,
            Literal::Str(s) if s.eq_ignore_ascii_case("false") => false,
            other => return Err(format!("{other} is compared with a boolean column")),
        }),
        Type::INT2 => Param::I16(
            i16::try_from(int()?).map_err(|_| "out of range for a smallint column".to_string())?,
        ),
        Type::INT4 => Param::I32(
            i32::try_from(int()?).map_err(|_| "out of range for an integer column".to_string())?,
        ),
        Type::INT8 => Param::I64(int()?),
        Type::FLOAT4 => Param::F32(float()? as f32),
        Type::FLOAT8 => Param::F64(float()?),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => Param::Time(micros_to_system_time(match l {
            Literal::Timestamp(t) => *t,
            Literal::Str(s) => crate::time::parse_iso(s)
                .ok_or_else(|| format!("'{s}' is compared with a timestamp column but is no ISO timestamp"))?,
            other => return Err(format!("{other} is compared with a timestamp column")),
        })),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            let text = text_of(l);
            if text.contains('\0') {
                return Err(NUL_IN_TEXT.into());
            }
            Param::Text(text)
        }
        // A long IN list, as one JSON array of its values (`sql::dialect::LONG_LIST`).
        Type::JSON => match l {
            Literal::Str(s) if json_has_nul(s) => return Err(NUL_IN_TEXT.into()),
            l => Param::Text(text_of(l)),
        },
        ref other => {
            return Err(format!(
                "cannot bind a value to a placeholder of type {other}; compare columns of text, number, boolean or timestamp types"
            ))
        }
    })
}

/// One cell of any type, decoded from PostgreSQL's binary format.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Cell(match *ty {
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => Value::Float(numeric(raw)?),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let t = SystemTime::from_sql(ty, raw)?;
                let micros = match t.duration_since(UNIX_EPOCH) {
                    Ok(d) => d.as_micros() as i64,
                    Err(e) => -(e.duration().as_micros() as i64),
                };
                Value::Text(crate::ir::timestamp_text(micros))
            }
            Type::DATE => {
                let days = i32::from_sql(ty, raw)?;
                // Days since 2000-01-01.
                let micros = (i64::from(days) + 10_957) * 86_400_000_000;
                Value::Text(crate::ir::timestamp_text(micros)[..10].to_string())
            }
            Type::JSONB => {
                Value::Text(String::from_utf8_lossy(raw.get(1..).unwrap_or(&[])).into_owned())
            }
            Type::UUID if raw.len() == 16 => {
                let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                Value::Text(format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                ))
            }
            Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::XML => Value::Text(String::from_utf8_lossy(raw).into_owned()),
            ref other => {
                return Err(format!(
                    "a column of type {other} cannot be shown; cast it to text in a view"
                )
                .into())
            }
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// NUMERIC's binary form: digit count, weight, sign, scale, then base-10000 digits;
/// rebuilt as decimal text and parsed, so the float is the one nearest the exact value.
fn numeric(raw: &[u8]) -> Result<f64, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short numeric".into())
    };
    let ndigits = word(0)? as usize;
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    if sign == 0xC000 {
        return Ok(f64::NAN);
    }
    let mut digits = String::new();
    for i in 0..ndigits {
        digits.push_str(&format!("{:04}", word(4 + i)?));
    }
    // The value is 0.digits × 10000^(weight + 1).
    let exp = (weight + 1) * 4;
    let text = format!(
        "{}0.{}e{exp}",
        if sign == 0x4000 { "-" } else { "" },
        if digits.is_empty() { "0" } else { &digits }
    );
    Ok(text.parse::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ndigits: u16, weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight as u16, sign, scale].iter().chain(digits) {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_decodes_to_the_nearest_float() {
        let avg = raw(5, 0, 0, 16, &[2494, 2222, 2222, 2222, 2222]);
        assert_eq!(numeric(&avg).unwrap(), 22448.0 / 9.0);
        assert_eq!(numeric(&raw(1, -1, 0x4000, 4, &[5])).unwrap(), -0.0005);
        assert_eq!(numeric(&raw(2, 1, 0, 0, &[12, 3400])).unwrap(), 123_400.0);
        assert_eq!(numeric(&raw(0, 0, 0, 0, &[])).unwrap(), 0.0);
        assert!(numeric(&[0, 1]).is_err());
    }

    #[test]
    fn a_kept_variables_values_take_their_placeholders_types() {
        assert_eq!(column_type(&Type::INT8), "int8");
        assert_eq!(column_type(&Type::TIMESTAMPTZ), "timestamptz");
        assert_eq!(column_type(&Type::UNKNOWN), "text");
        assert_eq!(column_type(&Type::TEXT), "text");
    }

    #[test]
    fn literals_take_the_placeholder_type() {
        assert!(matches!(
            param(&Literal::Str("201".into()), &Type::INT4),
            Ok(Param::I32(201))
        ));
        assert!(param(&Literal::Str("abc".into()), &Type::INT8).is_err());
        assert!(matches!(param(&Literal::Int(80), &Type::TEXT), Ok(Param::Text(t)) if t == "80"));
        assert!(matches!(
            param(
                &Literal::Str("2021-05-06T00:00:00Z".into()),
                &Type::TIMESTAMP
            ),
            Ok(Param::Time(_))
        ));
        assert!(matches!(
            param(&Literal::Null, &Type::INT4),
            Ok(Param::Null)
        ));
        assert!(param(&Literal::Str("x".into()), &Type::INET).is_err());
        assert_eq!(
            param(&Literal::Str("a\0b".into()), &Type::TEXT).unwrap_err(),
            NUL_IN_TEXT
        );
    }

    #[test]
    fn a_json_list_is_text_unless_an_element_holds_nul() {
        let json = |s: &str| param(&Literal::Str(s.into()), &Type::JSON);
        assert!(matches!(json(r#"["a","b\\u0000"]"#), Ok(Param::Text(t)) if t.len() == 16));
        assert_eq!(json(r#"["a","b\u0000"]"#).unwrap_err(), NUL_IN_TEXT);
        assert_eq!(json(r#"["\\\u0000"]"#).unwrap_err(), NUL_IN_TEXT);
    }
}
