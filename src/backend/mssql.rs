//! Microsoft SQL Server through `tiberius` (TDS 7.3, SQL logins, TLS with rustls), driven
//! by a single-threaded tokio runtime so the [`Backend`] stays synchronous.
//!
//! In: `mssql://user:password@host:port/database` (also `mssql+pyodbc://`,
//! `mssql+pymssql://`; `?driver=…` and other ODBC parameters are ignored). Out: rows
//! streamed one at a time.
//!
//! SQL Server has no read-only session: a connection that may not write asks for
//! `ApplicationIntent=ReadOnly` (honoured by readable secondaries) and kestrel itself
//! only reads.
//!
//! Encryption follows ODBC Driver 18's connection-string keywords, as URL parameters:
//!
//! | `encrypt` | session | certificate checked |
//! |---|---|---|
//! | absent, `true`, `yes`, `mandatory` | encrypted, or no connection | yes, unless `trustServerCertificate=true` |
//! | `strict` (TDS 8.0) | TLS before the first TDS packet | always (`trustServerCertificate` is ignored, as in ODBC) |
//! | `false`, `no`, `optional` | the login encrypted, then plain (encrypted throughout if the server forces it) | no |
//!
//! The certificate chain leads to the system's roots, or to the CA in `ServerCertificate`
//! (a PEM or DER file; ODBC pins that exact certificate instead, which a self-signed
//! server certificate given here also satisfies); its name is the host's, or
//! `hostNameInCertificate`. One difference from ODBC 18: under `encrypt=optional` a server
//! that forces encryption gets a session whose certificate is not checked (ODBC checks it
//! then; tiberius decides before it knows) — ask for `encrypt=true` to have it checked.
//!
//! Stopping a statement (Ctrl-C, or the connection's `statement_timeout`, which SQL
//! Server has no session setting for): tiberius cannot send TDS's attention message, so
//! kestrel stops waiting, sends `KILL <spid>` for its session (`@@SPID`, read at login)
//! from a second connection, and then closes its own; the server ends a killed session's
//! work at once (a login without permission to KILL, `ALTER ANY CONNECTION`, relies on the
//! closed connection, which the server notices when it next writes to it). The next
//! statement logs in again.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, ToSql};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::url::ServerUrl;
use super::{Backend, BackendError, OpenOptions, RowSink};
use crate::ir::{ColumnKind, Literal};
use crate::sql::SqlStatement;
use crate::value::Value;

type MsClient = Client<Compat<TcpStream>>;

pub struct MssqlBackend {
    rt: Runtime,
    /// None once a stopped statement's session was killed: the next statement logs in again.
    client: Option<MsClient>,
    /// The server's id of the session `client` holds (`@@SPID`), for `KILL`.
    spid: Option<i16>,
    /// How to log in again (holds the password: never printed).
    config: Config,
    /// The URL with its password masked, for messages.
    shown_url: String,
    connect_limit: Option<Duration>,
    timeout: Option<Duration>,
}

fn open_error(url: &str, message: impl ToString) -> BackendError {
    BackendError::Open {
        url: crate::config::redact_url(url),
        message: crate::config::redact_url(&message.to_string()),
    }
}

fn query_error(e: tiberius::error::Error) -> BackendError {
    BackendError::Query(e.to_string())
}

/// Connects and logs in within `limit`, and reads the session's id.
async fn connect(
    config: Config,
    limit: Option<Duration>,
) -> Result<(MsClient, Option<i16>), String> {
    // The TCP connect, the pre-login and the login, all within connect_timeout.
    let login = async {
        let tcp = TcpStream::connect(config.get_addr())
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut client = Client::connect(config, tcp.compat_write())
            .await
            .map_err(|e| e.to_string())?;
        let spid = client
            .simple_query("SELECT @@SPID")
            .await
            .map_err(|e| e.to_string())?
            .into_row()
            .await
            .map_err(|e| e.to_string())?
            .and_then(|row| row.try_get::<i16, _>(0).ok().flatten());
        Ok((client, spid))
    };
    match limit {
        Some(t) => tokio::time::timeout(t, login)
            .await
            .map_err(|_| BackendError::ConnectTimeout(t.as_secs()).to_string())?,
        None => login.await,
    }
}

/// `KILL <spid>` for a session id the server gave (never for a value from elsewhere; ids
/// of user sessions are positive).
fn kill_statement(spid: i16) -> Option<String> {
    (spid > 0).then(|| format!("KILL {spid}"))
}

/// How waiting for a statement ended.
#[derive(Debug, PartialEq)]
enum Waited<T> {
    Done(T),
    /// Ctrl-C.
    Cancelled,
    /// The statement timeout passed.
    TimedOut,
}

/// Drives `work` until it finishes, `requested()` turns true (polled every 50 ms) or the
/// deadline passes; in the last two cases `work` is dropped unfinished.
async fn until_stopped<T>(
    work: impl Future<Output = T>,
    deadline: Option<tokio::time::Instant>,
    requested: impl Fn() -> bool,
) -> Waited<T> {
    let watch = async {
        loop {
            if requested() {
                return Waited::Cancelled;
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Waited::TimedOut;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let work = std::pin::pin!(work);
    let watch = std::pin::pin!(watch);
    match futures_util::future::select(work, watch).await {
        futures_util::future::Either::Left((done, _)) => Waited::Done(done),
        futures_util::future::Either::Right((stopped, _)) => stopped,
    }
}

impl MssqlBackend {
    /// Opens a session. Of the URL's parameters it honours `encrypt`,
    /// `trustServerCertificate`, `hostNameInCertificate` and `ServerCertificate` (module
    /// docs); ODBC's `driver` is accepted and means nothing here; any other parameter is a
    /// warning.
    pub fn open(url: &str, opts: &OpenOptions) -> Result<MssqlBackend, BackendError> {
        let u = ServerUrl::parse(url).map_err(|m| open_error(url, m))?;
        super::url::warn_unknown(
            url,
            &u.unknown_params(Encryption::PARAMS, &["driver", "odbc_connect"]),
        );
        let encryption = Encryption::from_url(&u).map_err(|m| open_error(url, m))?;
        let mut config = Config::new();
        config.host(&u.host);
        config.port(u.port.unwrap_or(1433));
        if let Some(db) = &u.database {
            config.database(db);
        }
        config.authentication(AuthMethod::sql_server(
            u.user.as_deref().unwrap_or("sa"),
            u.password.as_deref().unwrap_or(""),
        ));
        encryption.apply(&mut config);
        config.application_name("kestrel");
        config.readonly(!opts.allow_write);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| open_error(url, e))?;
        let limit = opts.connect_limit();
        let (client, spid) = rt
            .block_on(connect(config.clone(), limit))
            .map_err(|m| open_error(url, m))?;
        Ok(MssqlBackend {
            rt,
            client: Some(client),
            spid,
            config,
            shown_url: crate::config::redact_url(url),
            connect_limit: limit,
            timeout: opts.statement_timeout.map(Duration::from_secs),
        })
    }

    /// Ends the session of a statement that was stopped: `KILL` from a second connection
    /// (while this one still holds the id, so no other session can have it), then closes
    /// this connection.
    fn end_session(&mut self) {
        if let Some(kill) = self.spid.and_then(kill_statement) {
            let (config, limit) = (self.config.clone(), self.connect_limit);
            self.rt.block_on(async {
                if let Ok((mut killer, _)) = connect(config, limit).await {
                    if let Ok(stream) = killer.simple_query(kill).await {
                        let _ = stream.into_results().await;
                    }
                }
            });
        }
        self.client = None;
        self.spid = None;
    }

    /// Runs `sql` and hands each row's cells to `each`, within the statement timeout;
    /// Ctrl-C or the timeout end the session (see the module's notes).
    fn run(
        &mut self,
        sql: &str,
        params: &[Param],
        mut on_columns: impl FnMut(Vec<String>) -> Result<(), BackendError>,
        mut each: impl FnMut(Vec<Value>) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        if self.client.is_none() {
            let (client, spid) = self
                .rt
                .block_on(connect(self.config.clone(), self.connect_limit))
                .map_err(|m| BackendError::Open {
                    url: self.shown_url.clone(),
                    message: crate::config::redact_url(&m),
                })?;
            self.client = Some(client);
            self.spid = spid;
        }
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| BackendError::Query("internal error: no connection".into()))?;
        let waited = self.rt.block_on(async {
            let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
            let work = async {
                let mut stream = client.query(sql, &refs).await.map_err(query_error)?;
                let names = stream
                    .columns()
                    .await
                    .map_err(query_error)?
                    .map(|cols| cols.iter().map(|c| c.name().to_string()).collect())
                    .unwrap_or_default();
                on_columns(names)?;
                let mut rows = stream.into_row_stream();
                while let Some(row) = rows.next().await {
                    let row = row.map_err(query_error)?;
                    each(row.cells().map(|(_, d)| cell(d)).collect())?;
                }
                Ok(())
            };
            until_stopped(work, deadline, super::cancel::requested).await
        });
        match waited {
            Waited::Done(result) => result,
            Waited::Cancelled => {
                self.end_session();
                Err(BackendError::Cancelled)
            }
            Waited::TimedOut => {
                self.end_session();
                Err(BackendError::Timeout(
                    self.timeout.map_or(0, |t| t.as_secs()),
                ))
            }
        }
    }
}

/// How a URL asks for encryption (module docs), before it becomes tiberius's `Config`
/// (which has no getters to test).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Encryption {
    level: EncryptionLevel,
    /// Accept any certificate (`trustServerCertificate=true`, not under `strict`).
    trust_server_certificate: bool,
    /// The CA (or the server's own self-signed certificate) the chain must lead to.
    ca: Option<std::path::PathBuf>,
    /// The name the certificate must carry, when it is not the host's.
    host_name_in_certificate: Option<String>,
}

impl Encryption {
    /// The URL parameters this reads.
    const PARAMS: &'static [&'static str] = &[
        "encrypt",
        "trustServerCertificate",
        "hostNameInCertificate",
        "ServerCertificate",
    ];

    fn from_url(u: &ServerUrl) -> Result<Encryption, String> {
        let level = match u.param("encrypt").map(str::to_ascii_lowercase).as_deref() {
            // ODBC Driver 18 encrypts unless told otherwise.
            None | Some("true" | "yes" | "mandatory" | "1") => EncryptionLevel::Required,
            Some("strict") => EncryptionLevel::Strict,
            // The login is encrypted whatever the setting (ODBC too), without a check.
            Some("false" | "no" | "optional" | "0") => EncryptionLevel::Off,
            Some(_) => {
                return Err(format!(
                    "`encrypt={}`: expected true, false, mandatory, optional or strict",
                    u.param("encrypt").unwrap_or_default()
                ))
            }
        };
        let trust = u.flag("trustServerCertificate")?.unwrap_or(false);
        let ca = u.param("ServerCertificate").map(std::path::PathBuf::from);
        if let Some(path) = &ca {
            std::fs::metadata(path)
                .map_err(|e| format!("`ServerCertificate={}`: {e}", path.display()))?;
        }
        let trust_server_certificate = match level {
            EncryptionLevel::Strict => false,
            EncryptionLevel::Off => true,
            _ => trust,
        };
        if trust_server_certificate && trust && ca.is_some() {
            return Err(
                "`trustServerCertificate=true` accepts any certificate: leave out `ServerCertificate`, or set it to false"
                    .into(),
            );
        }
        Ok(Encryption {
            level,
            trust_server_certificate,
            // Nothing is checked under `optional`: a CA would mean nothing.
            ca: ca.filter(|_| !trust_server_certificate),
            host_name_in_certificate: u.param("hostNameInCertificate").map(str::to_string),
        })
    }

    fn apply(&self, config: &mut Config) {
        config.encryption(self.level);
        // tiberius refuses `trust_cert` after a CA (a panic): `from_url` never has both.
        if self.trust_server_certificate {
            config.trust_cert();
        } else if let Some(ca) = &self.ca {
            config.trust_cert_ca(ca.display());
        }
        if let Some(name) = &self.host_name_in_certificate {
            config.hostname_in_certificate(name);
        }
    }
}

/// A bound value.
#[derive(Debug)]
enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// An instant, sent as DATETIME2 (compares with DATETIME, DATETIME2 and
    /// DATETIMEOFFSET columns; text with six fractional digits would not convert to
    /// DATETIME).
    Time(tiberius::time::DateTime2),
}

impl ToSql for Param {
    fn to_sql(&self) -> ColumnData<'_> {
        match self {
            Param::Null => ColumnData::String(None),
            Param::Bool(b) => ColumnData::Bit(Some(*b)),
            Param::Int(i) => ColumnData::I64(Some(*i)),
            Param::Float(f) => ColumnData::F64(Some(*f)),
            Param::Text(s) => ColumnData::String(Some(Cow::Borrowed(s.as_str()))),
            Param::Time(t) => ColumnData::DateTime2(Some(*t)),
        }
    }
}

fn param(l: &Literal) -> Param {
    match l {
        Literal::Null => Param::Null,
        Literal::Bool(b) => Param::Bool(*b),
        Literal::Int(i) => Param::Int(*i),
        Literal::Float(f) => Param::Float(*f),
        Literal::Str(s) => Param::Text(s.clone()),
        Literal::Timestamp(t) => {
            let days = t.div_euclid(86_400_000_000);
            let micros = t.rem_euclid(86_400_000_000);
            match u32::try_from(days + 719_162) {
                Ok(d) => Param::Time(tiberius::time::DateTime2::new(
                    tiberius::time::Date::new(d),
                    // 100 ns increments at scale 7.
                    tiberius::time::Time::new(micros as u64 * 10, 7),
                )),
                Err(_) => Param::Text(crate::ir::timestamp_text(*t)),
            }
        }
    }
}

/// Days since 0001-01-01 to a date text.
fn date_text(days_since_year_1: i64) -> String {
    // 0001-01-01 is 719162 days before 1970-01-01.
    let micros = (days_since_year_1 - 719_162) * 86_400_000_000;
    crate::ir::timestamp_text(micros)[..10].to_string()
}

fn time_of(increments: u64, scale: u8) -> i64 {
    let per_sec = 10u64.pow(u32::from(scale));
    let micros = increments as u128 * 1_000_000 / u128::from(per_sec.max(1));
    micros as i64
}

fn cell(d: &ColumnData<'_>) -> Value {
    match d {
        ColumnData::U8(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        ColumnData::I16(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        ColumnData::I32(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::Int),
        ColumnData::F32(v) => v.map_or(Value::Null, |x| Value::Float(x.into())),
        ColumnData::F64(v) => v.map_or(Value::Null, Value::Float),
        ColumnData::Bit(v) => v.map_or(Value::Null, Value::Bool),
        ColumnData::String(v) => v
            .as_ref()
            .map_or(Value::Null, |s| Value::Text(s.to_string())),
        ColumnData::Guid(v) => v.map_or(Value::Null, |g| Value::Text(g.to_string())),
        ColumnData::Binary(v) => v.as_ref().map_or(Value::Null, |b| {
            Value::Text(String::from_utf8_lossy(b).into_owned())
        }),
        ColumnData::Numeric(v) => v.map_or(Value::Null, |n| {
            Value::Float(n.value() as f64 / 10f64.powi(i32::from(n.scale())))
        }),
        ColumnData::Xml(v) => v
            .as_ref()
            .map_or(Value::Null, |x| Value::Text(x.to_string())),
        ColumnData::DateTime(v) => v.map_or(Value::Null, |dt| {
            // Days since 1900-01-01 and 1/300 s.
            let days = i64::from(dt.days()) + 693_595;
            let micros = i64::from(dt.seconds_fragments()) * 10_000 / 3;
            Value::Text(crate::ir::timestamp_text(
                (days - 719_162) * 86_400_000_000 + micros,
            ))
        }),
        ColumnData::SmallDateTime(v) => v.map_or(Value::Null, |dt| {
            let days = i64::from(dt.days()) + 693_595;
            let micros = i64::from(dt.seconds_fragments()) * 60_000_000;
            Value::Text(crate::ir::timestamp_text(
                (days - 719_162) * 86_400_000_000 + micros,
            ))
        }),
        ColumnData::Date(v) => v.map_or(Value::Null, |d| Value::Text(date_text(d.days().into()))),
        ColumnData::Time(v) => v.map_or(Value::Null, |t| {
            let micros = time_of(t.increments(), t.scale());
            Value::Text(crate::ir::timestamp_text(micros)[11..].to_string())
        }),
        ColumnData::DateTime2(v) => v.map_or(Value::Null, |dt| {
            let days = i64::from(dt.date().days());
            let micros = time_of(dt.time().increments(), dt.time().scale());
            Value::Text(crate::ir::timestamp_text(
                (days - 719_162) * 86_400_000_000 + micros,
            ))
        }),
        ColumnData::DateTimeOffset(v) => v.map_or(Value::Null, |dto| {
            let dt = dto.datetime2();
            let days = i64::from(dt.date().days());
            let micros = time_of(dt.time().increments(), dt.time().scale());
            // Stored as UTC.
            Value::Text(crate::ir::timestamp_text(
                (days - 719_162) * 86_400_000_000 + micros,
            ))
        }),
    }
}

impl Backend for MssqlBackend {
    fn dialect(&self) -> &'static str {
        "mssql"
    }

    fn column_kinds(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, Option<ColumnKind>)>, BackendError> {
        let (schema, table) = crate::sql::table_name::schema_and_table(table, "schema")
            .map_err(BackendError::Query)?;
        let mut out = Vec::new();
        self.run(
            "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS \
             WHERE TABLE_SCHEMA = COALESCE(NULLIF(@P1, N''), SCHEMA_NAME()) AND TABLE_NAME = @P2 \
             ORDER BY ORDINAL_POSITION",
            // The schema as text even when absent: an untyped NULL would not say its type.
            &[Param::Text(schema.unwrap_or_default()), Param::Text(table)],
            |_| Ok(()),
            |row| {
                let text = |v: Option<&Value>| match v {
                    Some(Value::Text(s)) => s.clone(),
                    _ => String::new(),
                };
                let name = text(row.first());
                let kind = match text(row.get(1)).to_ascii_lowercase().as_str() {
                    "tinyint" | "smallint" | "int" | "bigint" => Some(ColumnKind::Integer),
                    "real" | "float" | "decimal" | "numeric" => Some(ColumnKind::Float),
                    "bit" => Some(ColumnKind::Boolean),
                    "datetime" | "datetime2" | "smalldatetime" | "datetimeoffset" => {
                        Some(ColumnKind::Timestamp)
                    }
                    "char" | "varchar" | "nchar" | "nvarchar" | "text" | "ntext" => {
                        Some(ColumnKind::Text)
                    }
                    _ => None,
                };
                out.push((name, kind));
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        let params: Vec<Param> = stmt.params.iter().map(param).collect();
        let sink = std::cell::RefCell::new(sink);
        self.run(
            &stmt.sql,
            &params,
            |names| Ok(sink.borrow_mut().columns(&names)?),
            |row| Ok(sink.borrow_mut().row(&row)?),
        )
    }
}

#[cfg(test)]
mod tests {
    //! What can be checked without a server: the date arithmetic of the TDS types, and
    //! how a statement is stopped (the wait, the KILL it sends).

    use super::*;

    fn encryption(query: &str) -> Result<Encryption, String> {
        Encryption::from_url(
            &ServerUrl::parse(&format!("mssql://sa:pw@db.example/hunts{query}")).unwrap(),
        )
    }

    fn expect(level: EncryptionLevel, trust: bool) -> Encryption {
        Encryption {
            level,
            trust_server_certificate: trust,
            ca: None,
            host_name_in_certificate: None,
        }
    }

    #[test]
    fn encrypt_follows_odbc_driver_18_and_defaults_to_encrypted_and_checked() {
        use EncryptionLevel::{Off, Required, Strict};
        for (query, want) in [
            ("", expect(Required, false)),
            ("?encrypt=true", expect(Required, false)),
            ("?Encrypt=yes", expect(Required, false)),
            ("?encrypt=Mandatory", expect(Required, false)),
            (
                "?encrypt=yes&trustServerCertificate=true",
                expect(Required, true),
            ),
            ("?TrustServerCertificate=yes", expect(Required, true)),
            (
                "?encrypt=true&trustServerCertificate=false",
                expect(Required, false),
            ),
            // strict (TDS 8.0) always checks: ODBC ignores trustServerCertificate there.
            ("?encrypt=strict", expect(Strict, false)),
            (
                "?encrypt=strict&trustServerCertificate=true",
                expect(Strict, false),
            ),
            // Only the login is encrypted, unchecked, as ODBC does for such a server.
            ("?encrypt=false", expect(Off, true)),
            ("?encrypt=no", expect(Off, true)),
            (
                "?encrypt=optional&trustServerCertificate=false",
                expect(Off, true),
            ),
        ] {
            assert_eq!(encryption(query), Ok(want), "{query}");
        }
    }

    #[test]
    fn a_ca_file_and_a_certificate_name_reach_the_config() {
        let dir = std::env::temp_dir().join(format!("kestrel-mssql-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let got = encryption(&format!(
            "?ServerCertificate={}&hostNameInCertificate=sql.internal",
            ca.display()
        ))
        .unwrap();
        assert_eq!(
            got,
            Encryption {
                level: EncryptionLevel::Required,
                trust_server_certificate: false,
                ca: Some(ca.clone()),
                host_name_in_certificate: Some("sql.internal".into()),
            }
        );
        // tiberius panics on a CA after trust_cert: never both.
        let mut config = Config::new();
        got.apply(&mut config);
        let e = encryption(&format!(
            "?trustServerCertificate=true&ServerCertificate={}",
            ca.display()
        ))
        .unwrap_err();
        assert!(e.contains("trustServerCertificate=true"), "{e}");
        // Under strict the CA is what checks.
        let strict = encryption(&format!(
            "?encrypt=strict&trustServerCertificate=true&ServerCertificate={}",
            ca.display()
        ))
        .unwrap();
        assert_eq!(strict.ca, Some(ca.clone()));
        assert!(!strict.trust_server_certificate);
        let _ = std::fs::remove_dir_all(&dir);
        let missing = encryption("?ServerCertificate=/nonexistent/ca.pem").unwrap_err();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
    }

    #[test]
    fn a_bad_encrypt_value_is_an_error_naming_it() {
        let e = encryption("?encrypt=maybe").unwrap_err();
        assert!(e.contains("encrypt=maybe") && e.contains("strict"), "{e}");
        let e = encryption("?trustServerCertificate=perhaps").unwrap_err();
        assert!(e.contains("trustServerCertificate"), "{e}");
    }

    #[test]
    fn the_encryption_parameters_are_known_and_others_are_not() {
        let u = ServerUrl::parse(
            "mssql://h/d?Encrypt=yes&TrustServerCertificate=no&HostNameInCertificate=x&servercertificate=/c&driver=ODBC&Pooling=true",
        )
        .unwrap();
        assert_eq!(
            u.unknown_params(Encryption::PARAMS, &["driver", "odbc_connect"]),
            ["Pooling"]
        );
    }

    #[test]
    fn kill_names_only_a_session_the_server_gave() {
        assert_eq!(kill_statement(57).as_deref(), Some("KILL 57"));
        assert_eq!(kill_statement(0), None);
        assert_eq!(kill_statement(-3), None);
    }

    #[test]
    fn a_statement_wait_ends_on_ctrl_c_or_the_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let never = std::future::pending::<()>;
        let start = std::time::Instant::now();
        assert_eq!(
            rt.block_on(until_stopped(never(), None, || true)),
            Waited::Cancelled
        );
        // Ctrl-C after 120 ms, as the signal handler would set it.
        let asked = std::sync::atomic::AtomicBool::new(false);
        let t0 = std::time::Instant::now();
        let flag = || {
            if t0.elapsed() > Duration::from_millis(120) {
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            asked.load(std::sync::atomic::Ordering::SeqCst)
        };
        assert_eq!(
            rt.block_on(until_stopped(never(), None, flag)),
            Waited::Cancelled
        );
        let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
        assert_eq!(
            rt.block_on(until_stopped(never(), Some(deadline), || false)),
            Waited::TimedOut
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            rt.block_on(until_stopped(async { 7 }, Some(deadline), || true)),
            Waited::Done(7),
            "a finished statement wins over a stop seen at the same time"
        );
    }

    #[test]
    fn instants_round_trip_through_datetime2() {
        let t = crate::time::parse_iso("2021-05-06T07:08:09.5Z").unwrap();
        let Param::Time(dt) = param(&Literal::Timestamp(t)) else {
            panic!("not a DATETIME2");
        };
        assert_eq!(
            cell(&ColumnData::DateTime2(Some(dt))),
            Value::Text("2021-05-06 07:08:09.500000".into())
        );
        let before_1970 = crate::time::parse_iso("1900-01-01T00:00:00Z").unwrap();
        let Param::Time(dt) = param(&Literal::Timestamp(before_1970)) else {
            panic!("not a DATETIME2");
        };
        assert_eq!(dt.date().days(), 693_595);
    }

    #[test]
    fn legacy_and_other_types_read_as_text_or_numbers() {
        use tiberius::time::{Date, DateTime, SmallDateTime};
        // DATETIME: days since 1900-01-01 and 1/300 s.
        assert_eq!(
            cell(&ColumnData::DateTime(Some(DateTime::new(
                44_320,
                300 * 3_661
            )))),
            Value::Text("2021-05-06 01:01:01.000000".into())
        );
        assert_eq!(
            cell(&ColumnData::SmallDateTime(Some(SmallDateTime::new(0, 61)))),
            Value::Text("1900-01-01 01:01:00.000000".into())
        );
        assert_eq!(
            cell(&ColumnData::Date(Some(Date::new(738_280)))),
            Value::Text("2022-05-06".into())
        );
        assert_eq!(
            cell(&ColumnData::Numeric(Some(
                tiberius::numeric::Numeric::new_with_scale(12_345, 2)
            ))),
            Value::Float(123.45)
        );
        assert_eq!(cell(&ColumnData::I32(None)), Value::Null);
        assert_eq!(cell(&ColumnData::Bit(Some(true))), Value::Bool(true));
    }
}
