//! The PostgreSQL and MySQL/MariaDB writers: a [`Schema`] and a row stream in, one table
//! out, all or nothing.
//!
//! PostgreSQL: one transaction around everything (its DDL is transactional), so any
//! error leaves the table as it was.
//!
//! MySQL/MariaDB commit DDL implicitly, so a new table is built under a temporary name
//! inside a transaction and swapped in with one atomic `RENAME TABLE` after the commit
//! (`--replace` drops the old table only after the swap); on any error the temporary
//! table is dropped. `--append` inserts in one transaction; columns it had to add are
//! dropped again if the load fails.
//!
//! `--table seeds.events` writes into schema (PostgreSQL) or database (MySQL) `seeds`,
//! split as a configuration's `table:` is. Identifiers are quoted by the target's rules;
//! values are always bound parameters.
//! Names longer than the server allows (63 bytes, 64 characters) are refused rather than
//! silently truncated into each other.

use std::collections::HashMap;

use super::read::Row;
use super::schema::{ColumnType, Schema};
use super::sqlite::{WriteMode, WriteSummary};
use super::IngestError;
use crate::backend::{self, OpenOptions};
use crate::ir::Literal;
use crate::value::Value;

fn server_err(context: impl Into<String>) -> impl FnOnce(String) -> IngestError {
    let context = context.into();
    move |message| IngestError::Server {
        context,
        message: crate::config::redact_url(&message),
    }
}

fn literal(v: &Value) -> Literal {
    match v {
        Value::Null => Literal::Null,
        Value::Bool(b) => Literal::Bool(*b),
        Value::Int(i) => Literal::Int(*i),
        Value::Float(f) => Literal::Float(*f),
        Value::Text(s) => Literal::Str(s.clone()),
    }
}

/// `table` as `(schema or database, name)`: `seeds.events`, or `"my.schema".events`
/// (see [`crate::sql::table_name`]), as a hunt's configuration names it.
fn qualified(table: &str, what: &str) -> Result<(Option<String>, String), IngestError> {
    crate::sql::table_name::schema_and_table(table, what).map_err(IngestError::Usage)
}

// ---------------------------------------------------------------- PostgreSQL

fn pg_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "BIGINT",
        ColumnType::Real => "DOUBLE PRECISION",
        ColumnType::Text => "TEXT",
        // 0/1 as on SQLite and MySQL, so a hunt shows the same values everywhere.
        ColumnType::Boolean => "SMALLINT",
    }
}

fn pg_quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// PostgreSQL's limits: 1,600 columns, 63-byte names.
const PG_LIMITS: super::plan::Limits = super::plan::Limits {
    max_columns: 1600,
    max_name_bytes: Some(63),
    backend: "PostgreSQL",
};

/// Writes `rows` into `table` on the PostgreSQL server at `url`, in one transaction.
pub fn write_postgres<I>(
    url: &str,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: I,
) -> Result<WriteSummary, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    let (space, name) = qualified(table, "schema")?;
    if name.len() > 63 {
        return Err(IngestError::BadOptions(format!(
            "table name `{name}` is longer than PostgreSQL allows (63 bytes)"
        )));
    }
    let opts = OpenOptions {
        allow_write: true,
        ..OpenOptions::default()
    };
    let mut backend = backend::postgres::PgBackend::open(url, &opts)
        .map_err(|e| server_err("connecting")(e.to_string()))?;
    let client = backend.client();
    let mut tx = client
        .transaction()
        .map_err(|e| server_err("starting a transaction")(backend::postgres::error_text(&e)))?;
    let qtable = match &space {
        Some(sp) => format!("{}.{}", pg_quote(sp), pg_quote(&name)),
        None => pg_quote(&name),
    };
    let existing: Vec<String> = tx
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 \
             ORDER BY ordinal_position",
            &[&space, &name],
        )
        .map_err(|e| {
            server_err(format!("looking for table `{table}`"))(backend::postgres::error_text(&e))
        })?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    let existing = (!existing.is_empty()).then_some(existing);
    let plan = super::plan::plan(table, schema, mode, existing, &PG_LIMITS)?;
    let pg_err = |what: String| {
        move |e: postgres::Error| server_err(what)(backend::postgres::error_text(&e))
    };
    if plan.fresh && plan.exists {
        tx.batch_execute(&format!("DROP TABLE {qtable}"))
            .map_err(pg_err(format!("dropping table `{table}`")))?;
    }
    let defs = plan.added.iter().map(|&i| {
        format!(
            "{} {}",
            pg_quote(&plan.names[i]),
            pg_type(schema.columns[i].ty)
        )
    });
    if plan.fresh {
        let defs: Vec<String> = defs.collect();
        tx.batch_execute(&format!("CREATE TABLE {qtable} ({})", defs.join(", ")))
            .map_err(pg_err(format!("creating table `{table}`")))?;
    } else {
        for (def, &i) in defs.zip(&plan.added) {
            tx.batch_execute(&format!("ALTER TABLE {qtable} ADD COLUMN {def}"))
                .map_err(pg_err(format!(
                    "adding column `{}` to `{table}`",
                    plan.names[i]
                )))?;
        }
    }
    let (columns, columns_added) = (plan.columns, plan.added.len());
    let names: Vec<String> = plan.names.iter().map(|n| pg_quote(n)).collect();
    let mut shapes: HashMap<Vec<usize>, postgres::Statement> = HashMap::new();
    let mut count = 0u64;
    let insert_err = || server_err(format!("inserting into table `{table}`"));
    for row in rows {
        let row = row?;
        if !shapes.contains_key(&row.columns) {
            let cols: Vec<&str> = row.columns.iter().map(|&i| names[i].as_str()).collect();
            let ph: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {qtable} ({}) VALUES ({})",
                cols.join(", "),
                ph.join(", ")
            );
            let stmt = tx
                .prepare(&sql)
                .map_err(|e| insert_err()(backend::postgres::error_text(&e)))?;
            shapes.insert(row.columns.clone(), stmt);
        }
        let stmt = shapes
            .get(&row.columns)
            .ok_or_else(|| IngestError::Internal("no insert statement".into()))?;
        let params = row
            .values
            .iter()
            .zip(stmt.params())
            .zip(&row.columns)
            .map(|((v, ty), &c)| {
                backend::postgres::param(&literal(v), ty).map_err(|m| {
                    format!(
                        "record {}, column `{}`: {m}",
                        count + 1,
                        schema.columns[c].name
                    )
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|m| insert_err()(m))?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        tx.execute(stmt, &refs)
            .map_err(|e| insert_err()(backend::postgres::error_text(&e)))?;
        count += 1;
    }
    tx.commit().map_err(|e| {
        server_err(format!("committing table `{table}`"))(backend::postgres::error_text(&e))
    })?;
    Ok(WriteSummary {
        rows: count,
        columns,
        columns_added,
    })
}

// ---------------------------------------------------------------- MySQL / MariaDB

fn my_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "BIGINT",
        ColumnType::Real => "DOUBLE",
        ColumnType::Text => "LONGTEXT",
        ColumnType::Boolean => "BOOLEAN",
    }
}

fn my_quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn my_value(v: &Value) -> mysql::Value {
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Bool(b) => mysql::Value::Int(i64::from(*b)),
        Value::Int(i) => mysql::Value::Int(*i),
        Value::Float(f) => mysql::Value::Double(*f),
        Value::Text(s) => mysql::Value::Bytes(s.clone().into_bytes()),
    }
}

/// InnoDB's limit on columns per table; 64-character names.
const MYSQL_LIMITS: super::plan::Limits = super::plan::Limits {
    max_columns: 1017,
    max_name_bytes: Some(64),
    backend: "MySQL/MariaDB (InnoDB)",
};

/// Writes `rows` into `table` on the MySQL/MariaDB server at `url`, all or nothing.
pub fn write_mysql<I>(
    url: &str,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: I,
) -> Result<WriteSummary, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    use mysql::prelude::Queryable;

    // The temporary name must fit too.
    let (space, name) = qualified(table, "database")?;
    if name.chars().count() > 48 {
        return Err(IngestError::BadOptions(format!(
            "table name `{name}` is too long for MySQL (at most 48 characters here)"
        )));
    }
    // `database`.`name` (or `name`), for a name in that database.
    let in_space = |n: &str| match &space {
        Some(sp) => format!("{}.{}", my_quote(sp), my_quote(n)),
        None => my_quote(n),
    };
    let opts = OpenOptions {
        allow_write: true,
        ..OpenOptions::default()
    };
    let mut backend = backend::mysql::MysqlBackend::open(url, &opts)
        .map_err(|e| server_err("connecting")(e.to_string()))?;
    let conn = backend.conn();
    let existing: Vec<String> = conn
        .exec(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
             ORDER BY ordinal_position",
            (&space, &name),
        )
        .map_err(|e| {
            server_err(format!("looking for table `{table}`"))(backend::mysql::error_text(&e))
        })?;
    let existing = (!existing.is_empty()).then_some(existing);
    let plan = super::plan::plan(table, schema, mode, existing, &MYSQL_LIMITS)?;
    let (exists, fresh) = (plan.exists, plan.fresh);
    let qtable = in_space(&name);
    let temp = format!("{name}__kestrel_load");
    let target = if fresh {
        in_space(&temp)
    } else {
        qtable.clone()
    };
    let mut added: Vec<String> = Vec::new();
    let defs = plan.added.iter().map(|&i| {
        format!(
            "{} {}",
            my_quote(&plan.names[i]),
            my_type(schema.columns[i].ty)
        )
    });
    if fresh {
        let defs: Vec<String> = defs.collect();
        conn.query_drop(format!("DROP TABLE IF EXISTS {target}"))
            .map_err(|e| {
                server_err("clearing an old temporary table")(backend::mysql::error_text(&e))
            })?;
        conn.query_drop(format!(
            "CREATE TABLE {target} ({}) DEFAULT CHARSET = utf8mb4",
            defs.join(", ")
        ))
        .map_err(|e| {
            server_err(format!("creating table `{table}`"))(backend::mysql::error_text(&e))
        })?;
    } else {
        // MySQL commits each ALTER at once: columns added before a failure are dropped.
        for (def, &i) in defs.zip(&plan.added) {
            let r = conn.query_drop(format!("ALTER TABLE {qtable} ADD COLUMN {def}"));
            if let Err(e) = r {
                undo_columns(conn, &qtable, &added);
                return Err(server_err(format!(
                    "adding column `{}` to `{table}`",
                    plan.names[i]
                ))(backend::mysql::error_text(&e)));
            }
            added.push(plan.names[i].clone());
        }
    }
    let (columns, columns_added) = (plan.columns, plan.added.len());
    let undo = |conn: &mut mysql::Conn| {
        if fresh {
            let drop = format!("DROP TABLE IF EXISTS {target}");
            // A failure may have broken the connection (a packet over the server's
            // max_allowed_packet does): clean up on a new one then.
            if conn.query_drop(&drop).is_err() {
                if let Ok(mut b) = backend::mysql::MysqlBackend::open(url, &opts) {
                    let _ = b.conn().query_drop(&drop);
                }
            }
        } else if !undo_columns(conn, &qtable, &added) {
            if let Ok(mut b) = backend::mysql::MysqlBackend::open(url, &opts) {
                undo_columns(b.conn(), &qtable, &added);
            }
        }
    };
    let loaded = (|| -> Result<u64, IngestError> {
        let names: Vec<String> = plan.names.iter().map(|n| my_quote(n)).collect();
        let insert_err = || server_err(format!("inserting into table `{table}`"));
        let mut tx = conn
            .start_transaction(mysql::TxOpts::default())
            .map_err(|e| server_err("starting a transaction")(backend::mysql::error_text(&e)))?;
        let mut count = 0u64;
        for row in rows {
            let row = row?;
            let cols: Vec<&str> = row.columns.iter().map(|&i| names[i].as_str()).collect();
            let ph = vec!["?"; cols.len()].join(", ");
            // The driver caches prepared statements by text: one per shape.
            let sql = format!("INSERT INTO {target} ({}) VALUES ({ph})", cols.join(", "));
            let params: Vec<mysql::Value> = row.values.iter().map(my_value).collect();
            tx.exec_drop(sql, mysql::Params::Positional(params))
                .map_err(|e| insert_err()(backend::mysql::error_text(&e)))?;
            count += 1;
        }
        tx.commit().map_err(|e| {
            server_err(format!("committing table `{table}`"))(backend::mysql::error_text(&e))
        })?;
        Ok(count)
    })();
    let count = match loaded {
        Ok(n) => n,
        Err(e) => {
            undo(conn);
            return Err(e);
        }
    };
    if fresh {
        // One atomic swap: readers see the old table or the new one, never neither.
        let swap = if exists {
            let old = in_space(&format!("{name}__kestrel_old"));
            let r = conn
                .query_drop(format!("DROP TABLE IF EXISTS {old}"))
                .and_then(|_| {
                    conn.query_drop(format!(
                        "RENAME TABLE {qtable} TO {old}, {target} TO {qtable}"
                    ))
                });
            if r.is_ok() {
                // The new table is in place; a leftover old one is dropped next time.
                let _ = conn.query_drop(format!("DROP TABLE {old}"));
            }
            r
        } else {
            conn.query_drop(format!("RENAME TABLE {target} TO {qtable}"))
        };
        if let Err(e) = swap {
            undo(conn);
            return Err(server_err(format!("putting table `{table}` in place"))(
                backend::mysql::error_text(&e),
            ));
        }
    }
    Ok(WriteSummary {
        rows: count,
        columns,
        columns_added,
    })
}

/// Drops the columns an append added; false when the connection failed.
fn undo_columns(conn: &mut mysql::Conn, qtable: &str, added: &[String]) -> bool {
    use mysql::prelude::Queryable;
    let mut ok = true;
    for name in added {
        ok &= conn
            .query_drop(format!(
                "ALTER TABLE {qtable} DROP COLUMN {}",
                my_quote(name)
            ))
            .is_ok();
    }
    ok
}
