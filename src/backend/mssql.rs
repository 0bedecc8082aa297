//! Microsoft SQL Server through `tiberius` (TDS 7.3, SQL logins, no TLS), driven by a
//! single-threaded tokio runtime so the [`Backend`] stays synchronous.
//!
//! In: `mssql://user:password@host:port/database` (also `mssql+pyodbc://`,
//! `mssql+pymssql://`; `?driver=…` and other ODBC parameters are ignored). Out: rows
//! streamed one at a time.
//!
//! SQL Server has no read-only session: a connection that may not write asks for
//! `ApplicationIntent=ReadOnly` (honoured by readable secondaries) and kestrel itself
//! only reads. The statement timeout is enforced on the client (SQL Server has no
//! session-level one): past it, the query fails. Encryption: this build has no TLS, so a
//! server that forces encryption refuses the login.

use std::borrow::Cow;
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

pub struct MssqlBackend {
    rt: Runtime,
    client: Client<Compat<TcpStream>>,
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

impl MssqlBackend {
    pub fn open(url: &str, opts: &OpenOptions) -> Result<MssqlBackend, BackendError> {
        let u = ServerUrl::parse(url).map_err(|m| open_error(url, m))?;
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
        config.encryption(EncryptionLevel::NotSupported);
        config.application_name("kestrel");
        config.readonly(!opts.allow_write);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| open_error(url, e))?;
        // The TCP connect, the pre-login and the login, all within connect_timeout.
        let connect = async {
            let tcp = TcpStream::connect(config.get_addr())
                .await
                .map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            Client::connect(config, tcp.compat_write())
                .await
                .map_err(|e| e.to_string())
        };
        let limit = opts.connect_limit();
        let client = rt
            .block_on(async {
                match limit {
                    Some(t) => tokio::time::timeout(t, connect)
                        .await
                        .map_err(|_| BackendError::ConnectTimeout(t.as_secs()).to_string())?,
                    None => connect.await,
                }
            })
            .map_err(|m| open_error(url, m))?;
        Ok(MssqlBackend {
            rt,
            client,
            timeout: opts.statement_timeout.map(Duration::from_secs),
        })
    }

    /// Runs `sql` and hands each row's cells to `each`, within the statement timeout.
    fn run(
        &mut self,
        sql: &str,
        params: &[Param],
        mut on_columns: impl FnMut(Vec<String>) -> Result<(), BackendError>,
        mut each: impl FnMut(Vec<Value>) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let client = &mut self.client;
        self.rt.block_on(async {
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
            match deadline {
                Some(d) => tokio::time::timeout_at(d, work)
                    .await
                    .map_err(|_| BackendError::Query("the statement timeout was reached".into()))?,
                None => work.await,
            }
        })
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
        let mut out = Vec::new();
        self.run(
            "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS \
             WHERE TABLE_SCHEMA = SCHEMA_NAME() AND TABLE_NAME = @P1 ORDER BY ORDINAL_POSITION",
            &[Param::Text(table.to_string())],
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
    //! The date arithmetic of the TDS types, checked without a server.

    use super::*;

    #[test]
    fn instants_round_trip_through_datetime2() {
        let t = crate::lower::time::parse_iso("2021-05-06T07:08:09.5Z").unwrap();
        let Param::Time(dt) = param(&Literal::Timestamp(t)) else {
            panic!("not a DATETIME2");
        };
        assert_eq!(
            cell(&ColumnData::DateTime2(Some(dt))),
            Value::Text("2021-05-06 07:08:09.500000".into())
        );
        let before_1970 = crate::lower::time::parse_iso("1900-01-01T00:00:00Z").unwrap();
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
