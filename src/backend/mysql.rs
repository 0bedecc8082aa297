//! MySQL 8 and MariaDB through the `mysql` crate (a Rust driver; TLS by rustls, no OpenSSL).
//!
//! In: `mysql://user:password@host:port/database` (also `mysql+pymysql://`,
//! `mariadb://`). Out: rows streamed from the server one at a time (binary protocol).
//!
//! The session uses utf8mb4 (the dialect's collations name it), is read-only (`SET
//! SESSION TRANSACTION READ ONLY`) unless the connection allows table creation, and has
//! an optional statement timeout (`max_statement_time` on MariaDB,
//! `max_execution_time` on MySQL).

use mysql::consts::ColumnType as MyType;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Params, Value as MyValue};

use super::url::ServerUrl;
use super::{Backend, BackendError, OpenOptions, RowSink};
use crate::ir::{ColumnKind, Literal};
use crate::sql::SqlStatement;
use crate::value::Value;

pub struct MysqlBackend {
    conn: Conn,
    /// MariaDB (not MySQL, which cannot read a temporary table twice in one statement).
    mariadb: bool,
    /// How to reach the server again: Ctrl-C sends `KILL QUERY` from a second session.
    opts: Opts,
}

fn open_error(url: &str, message: impl ToString) -> BackendError {
    BackendError::Open {
        url: crate::config::redact_url(url),
        message: crate::config::redact_url(&message.to_string()),
    }
}

fn query_error(e: mysql::Error) -> BackendError {
    BackendError::Query(error_text(&e))
}

/// The server's message as it writes it (`ERROR 1146 (42S02): Table … doesn't exist`),
/// without the driver's `MySqlError { … }` wrapping.
pub(crate) fn error_text(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(my) => my.to_string(),
        other => other.to_string(),
    }
}

impl MysqlBackend {
    /// Opens a session. Of the URL's parameters it honours MySQL's TLS ones (`ssl-mode`,
    /// `ssl-ca`, `ssl-cert`, `ssl-key`, also written with `_`), `connect_timeout`
    /// (seconds, when the connection's own setting does not say) and `charset` (utf8mb4
    /// or utf8 only: kestrel reads text as UTF-8); any other parameter is a warning.
    pub fn open(url: &str, opts: &OpenOptions) -> Result<MysqlBackend, BackendError> {
        let u = ServerUrl::parse(url).map_err(|m| open_error(url, m))?;
        super::url::warn_unknown(
            url,
            &u.unknown_params(
                &[
                    "ssl-mode",
                    "ssl-ca",
                    "ssl-cert",
                    "ssl-key",
                    "connect_timeout",
                    "charset",
                ],
                &["driver"],
            ),
        );
        if let Some(cs) = u.param("charset") {
            if !matches!(
                cs.to_ascii_lowercase().as_str(),
                "utf8mb4" | "utf8" | "utf8mb3"
            ) {
                return Err(open_error(
                    url,
                    format!("`charset={cs}`: kestrel talks utf8mb4 (leave charset out)"),
                ));
            }
        }
        let opts = &opts
            .with_url_connect_timeout(&u)
            .map_err(|m| open_error(url, m))?;
        let tls = super::tls::Settings::from_mysql_url(&u).map_err(|m| open_error(url, m))?;
        let builder = OptsBuilder::new()
            .ip_or_hostname(Some(u.host.clone()))
            .tcp_port(u.port.unwrap_or(3306))
            .user(Some(u.user.clone().unwrap_or_else(|| "root".into())))
            .pass(u.password.clone())
            .db_name(u.database.clone())
            .prefer_socket(false)
            .tcp_connect_timeout(opts.connect_limit());
        let plain = Opts::from(builder.clone());
        let server = match ssl_opts(&tls) {
            Some(ssl) => Opts::from(builder.ssl_opts(ssl)),
            None => plain.clone(),
        };
        // The driver's limit covers the TCP connect only (a read timeout would also cut
        // off long statements): `within` bounds the greeting and the login.
        let connecting = server.clone();
        let (mut conn, server) =
            match super::within(opts.connect_limit(), move || Conn::new(connecting))
                .map_err(|e| super::open_failed(url, e))?
            {
                Ok(conn) => (conn, server),
                // PREFERRED: plain text when the server offers no TLS.
                Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported))
                    if !tls.mode.needs_tls() =>
                {
                    let connecting = plain.clone();
                    let conn = super::within(opts.connect_limit(), move || Conn::new(connecting))
                        .map_err(|e| super::open_failed(url, e))?
                        .map_err(|e| open_error(url, error_text(&e)))?;
                    (conn, plain)
                }
                Err(e) => {
                    let text = error_text(&e);
                    return Err(open_error(
                        url,
                        super::tls::explain_tls(&text, &u.host).unwrap_or(text),
                    ));
                }
            };
        let version: String = conn
            .query_first("SELECT VERSION()")
            .map_err(|e| open_error(url, e))?
            .unwrap_or_default();
        // UTC, as kestrel's timestamps are (time buckets, FROM_UNIXTIME).
        let mut setup = vec![
            "SET NAMES utf8mb4".to_string(),
            "SET time_zone = '+00:00'".to_string(),
        ];
        if !opts.allow_write {
            setup.push("SET SESSION TRANSACTION READ ONLY".into());
        }
        if let Some(secs) = opts.statement_timeout {
            setup.push(if version.contains("MariaDB") {
                format!("SET SESSION max_statement_time = {secs}")
            } else {
                format!(
                    "SET SESSION max_execution_time = {}",
                    secs.saturating_mul(1000)
                )
            });
        }
        for s in setup {
            conn.query_drop(s).map_err(|e| open_error(url, e))?;
        }
        Ok(MysqlBackend {
            conn,
            mariadb: version.contains("MariaDB"),
            opts: server,
        })
    }

    /// The underlying connection (ingest writes through it).
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl MysqlBackend {
    /// Runs `f` in a transaction that may write (a session is read-only; kestrel writes
    /// only its own temporary tables there): committed when `f` succeeds, rolled back
    /// otherwise.
    fn writing<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        self.conn
            .query_drop("START TRANSACTION READ WRITE")
            .map_err(query_error)?;
        match f(self) {
            Ok(v) => {
                self.conn.query_drop("COMMIT").map_err(query_error)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.query_drop("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Creates temporary table `name` with column definitions `defs` and inserts `rows`
    /// in chunks of bound values.
    fn fill_temp_table(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Literal>],
        defs: &[String],
    ) -> Result<(), BackendError> {
        self.conn
            .query_drop(format!(
                "CREATE TEMPORARY TABLE {} ({}) DEFAULT CHARSET = utf8mb4",
                quote(name),
                defs.join(", ")
            ))
            .map_err(query_error)?;
        if columns.is_empty() {
            return Ok(());
        }
        let tuple = format!("({})", vec!["?"; columns.len()].join(", "));
        let per = (TEMP_CHUNK_VALUES / columns.len()).max(1);
        for chunk in rows.chunks(per) {
            let sql = format!(
                "INSERT INTO {} VALUES {}",
                quote(name),
                vec![tuple.as_str(); chunk.len()].join(", ")
            );
            let params: Vec<MyValue> = chunk
                .iter()
                .flat_map(|r| (0..columns.len()).map(move |i| r.get(i)))
                .map(|l| l.map_or(MyValue::NULL, to_mysql))
                .collect();
            self.conn
                .exec_drop(sql, Params::Positional(params))
                .map_err(query_error)?;
        }
        Ok(())
    }
}

/// `` `name` `` with `` ` `` doubled.
fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The driver's TLS options for `tls` (None: plain text).
fn ssl_opts(tls: &super::tls::Settings) -> Option<mysql::SslOpts> {
    use super::tls::SslMode;
    if tls.mode == SslMode::Disable {
        return None;
    }
    let mut ssl = mysql::SslOpts::default();
    if let Some(ca) = &tls.root_cert {
        ssl = ssl.with_root_cert_path(Some(ca.clone()));
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        ssl = ssl.with_client_identity(Some(mysql::ClientIdentity::new(cert.clone(), key.clone())));
    }
    let (chain, name) = match tls.mode {
        SslMode::VerifyFull => (true, true),
        SslMode::VerifyCa => (true, false),
        // As libpq: a named CA is checked under REQUIRED and PREFERRED too.
        _ => (tls.root_named, false),
    };
    Some(
        ssl.with_danger_accept_invalid_certs(!chain)
            .with_danger_skip_domain_validation(!name),
    )
}

fn to_mysql(l: &Literal) -> MyValue {
    match l {
        Literal::Null => MyValue::NULL,
        Literal::Bool(b) => MyValue::Int(i64::from(*b)),
        Literal::Int(i) => MyValue::Int(*i),
        Literal::Float(f) => MyValue::Double(*f),
        Literal::Str(s) => MyValue::Bytes(s.clone().into_bytes()),
        Literal::Timestamp(t) => {
            let micros = t.rem_euclid(1_000_000) as u32;
            let text = crate::ir::timestamp_text(*t);
            let num = |r: std::ops::Range<usize>| {
                text.get(r).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0)
            };
            MyValue::Date(
                num(0..4) as u16,
                num(5..7) as u8,
                num(8..10) as u8,
                num(11..13) as u8,
                num(14..16) as u8,
                num(17..19) as u8,
                micros,
            )
        }
    }
}

fn from_mysql(v: &MyValue, ty: MyType) -> Value {
    match v {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) => Value::Int(*i),
        MyValue::UInt(u) => i64::try_from(*u)
            .map(Value::Int)
            .unwrap_or(Value::Float(*u as f64)),
        MyValue::Float(f) => Value::Float(f64::from(*f)),
        MyValue::Double(f) => Value::Float(*f),
        MyValue::Bytes(b) => {
            let text = String::from_utf8_lossy(b).into_owned();
            match ty {
                // AVG and SUM give DECIMAL, sent as text.
                MyType::MYSQL_TYPE_DECIMAL | MyType::MYSQL_TYPE_NEWDECIMAL => text
                    .parse::<f64>()
                    .map(Value::Float)
                    .unwrap_or(Value::Text(text)),
                _ => Value::Text(text),
            }
        }
        MyValue::Date(y, mo, d, h, mi, s, us) => {
            if ty == MyType::MYSQL_TYPE_DATE {
                Value::Text(format!("{y:04}-{mo:02}-{d:02}"))
            } else {
                Value::Text(format!(
                    "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"
                ))
            }
        }
        MyValue::Time(neg, days, h, mi, s, us) => {
            let sign = if *neg { "-" } else { "" };
            let h = u32::from(*h) + days * 24;
            Value::Text(format!("{sign}{h:02}:{mi:02}:{s:02}.{us:06}"))
        }
    }
}

/// Bound values per INSERT when filling a temporary table (the protocol allows 65,535).
const TEMP_CHUNK_VALUES: usize = 20_000;

/// The SQL type a shipped column takes: the one its values share, text otherwise.
fn temp_column_type(rows: &[Vec<Literal>], col: usize) -> &'static str {
    let (mut ints, mut floats, mut other) = (false, false, false);
    for row in rows {
        match row.get(col) {
            Some(Literal::Int(_) | Literal::Bool(_)) => ints = true,
            Some(Literal::Float(_)) => floats = true,
            Some(Literal::Null) | None => {}
            Some(_) => other = true,
        }
    }
    match (ints, floats, other) {
        (_, _, true) | (false, false, false) => "LONGTEXT",
        (true, false, false) => "BIGINT",
        (_, true, false) => "DOUBLE",
    }
}

impl Backend for MysqlBackend {
    fn dialect(&self) -> &'static str {
        "mysql"
    }

    /// A session-private `TEMPORARY` table, filled by multi-row INSERTs of bound values
    /// (20,000 per statement). The session is read-only: this one transaction is `READ
    /// WRITE` (MySQL and MariaDB refuse even temporary tables in a read-only one), and
    /// the session stays read-only for everything else.
    fn create_temp_table(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Literal>],
    ) -> Result<(), BackendError> {
        let defs: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} {}", quote(c), temp_column_type(rows, i)))
            .collect();
        self.writing(|b| {
            let filled = b.fill_temp_table(name, columns, rows, &defs);
            if filled.is_err() {
                // A temporary table is not transactional: drop what was made, while the
                // transaction still may.
                let _ = b
                    .conn
                    .query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {}", quote(name)));
            }
            filled
        })
    }

    fn column_kinds(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, Option<ColumnKind>)>, BackendError> {
        let (database, table) = crate::sql::table_name::schema_and_table(table, "database")
            .map_err(BackendError::Query)?;
        let rows: Vec<(String, String)> = self
            .conn
            .exec(
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR) \
                 FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                 ORDER BY ordinal_position",
                (database, table),
            )
            .map_err(query_error)?;
        Ok(rows
            .into_iter()
            .map(|(name, ty)| {
                let kind = match ty.to_ascii_lowercase().as_str() {
                    "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => {
                        Some(ColumnKind::Integer)
                    }
                    "float" | "double" | "decimal" => Some(ColumnKind::Float),
                    "datetime" | "timestamp" => Some(ColumnKind::Timestamp),
                    "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
                        Some(ColumnKind::Text)
                    }
                    _ => None,
                };
                (name, kind)
            })
            .collect())
    }

    fn store(&mut self, name: &str, stmt: &SqlStatement) -> Result<(), BackendError> {
        if !self.mariadb {
            // MySQL refuses a temporary table read twice in one statement ("Can't reopen
            // table"), which a FIND from a kept variable does.
            return Err(BackendError::Query(
                "MySQL temporary tables cannot be read twice in one statement".into(),
            ));
        }
        // Sessions are read-only; a temporary table needs a transaction that may write
        // (it writes nothing but the session's own temporary table).
        let create = SqlStatement {
            sql: format!("CREATE TEMPORARY TABLE {} AS {}", quote(name), stmt.sql),
            params: stmt.params.clone(),
        };
        self.writing(|b| b.query(&create, &mut super::Collect::default()))
    }

    fn drop_temp_table(&mut self, name: &str) -> Result<(), BackendError> {
        self.writing(|b| {
            b.conn
                .query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {}", quote(name)))
                .map_err(query_error)
        })
    }

    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        let params: Vec<MyValue> = stmt.params.iter().map(to_mysql).collect();
        let params = if params.is_empty() {
            Params::Empty
        } else {
            Params::Positional(params)
        };
        // Ctrl-C (super::cancel) stops the statement on the server: `KILL QUERY` from a
        // second session, while the rows stream.
        let id = self.conn.connection_id();
        let opts = self.opts.clone();
        let watch = super::cancel::watch(move || {
            if let Ok(mut killer) = Conn::new(opts) {
                let _ = killer.query_drop(format!("KILL QUERY {id}"));
            }
        });
        let result = (|| {
            let mut result = self
                .conn
                .exec_iter(stmt.sql.as_str(), params)
                .map_err(query_error)?;
            let (names, types): (Vec<String>, Vec<MyType>) = result
                .columns()
                .as_ref()
                .iter()
                .map(|c| (c.name_str().into_owned(), c.column_type()))
                .unzip();
            sink.columns(&names)?;
            let mut buf: Vec<Value> = Vec::with_capacity(names.len());
            for row in result.by_ref() {
                let row = row.map_err(query_error)?;
                buf.clear();
                for (i, ty) in types.iter().enumerate() {
                    buf.push(row.as_ref(i).map_or(Value::Null, |v| from_mysql(v, *ty)));
                }
                sink.row(&buf)?;
            }
            Ok(())
        })();
        watch.finish(result)
    }
}
