//! The SQLite writer: a [`Schema`] and a row stream in, one table out, in one transaction.
//!
//! `BEGIN IMMEDIATE`, then create (or drop and create, or alter) the table, insert every
//! row, `COMMIT`. Any error — from the database or from the row stream — rolls back, so
//! the table is as it was before (absent, or with its old rows and columns), and a
//! database file this call created is removed again.
//!
//! Identifiers are double-quoted (`"` doubled); values are always bound parameters. One
//! prepared statement per distinct set of columns (records of one event type share one),
//! so a row binds only the fields it has instead of hundreds of NULLs.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Statement};

use super::read::Row;
use super::schema::Schema;
use super::IngestError;
use crate::value::Value;

/// SQLite's default SQLITE_MAX_COLUMN; names have no length limit.
const LIMITS: super::plan::Limits = super::plan::Limits {
    max_columns: 2000,
    max_name_bytes: None,
    backend: "SQLite",
};
/// Distinct column sets that get their own statement; rows of further shapes use one
/// statement naming every column.
const MAX_SHAPES: usize = 512;

static NULL: Value = Value::Null;

/// What to do when the table already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail if it exists.
    Create,
    /// Drop it and create it anew (inside the same transaction).
    Replace,
    /// Insert into it, adding columns it lacks; create it if missing.
    Append,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    pub rows: u64,
    /// Columns the table has now.
    pub columns: usize,
    /// Columns this write created.
    pub columns_added: usize,
}

/// Writes `rows` (shaped by `schema`) into `table` of the SQLite database at `path`,
/// all or nothing.
pub fn write_sqlite<I>(
    path: &Path,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: I,
) -> Result<WriteSummary, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    if table.is_empty() || table.contains('\0') {
        return Err(IngestError::BadOptions(format!(
            "{table:?} cannot be a table name"
        )));
    }
    let existed = path.exists();
    let result = open_and_write(path, table, schema, mode, rows);
    if result.is_err() && !existed {
        // The connection is closed by now; the file holds nothing worth keeping.
        let _ = std::fs::remove_file(path);
    }
    result
}

fn open_and_write<I>(
    path: &Path,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: I,
) -> Result<WriteSummary, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    let ctx = |what: &str| {
        let what = what.to_string();
        move |source| IngestError::Sqlite {
            context: what,
            source,
        }
    };
    let db = path.display();
    let conn = Connection::open(path).map_err(ctx(&format!("opening database {db}")))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(ctx(&format!("opening database {db}")))?;
    // Only an empty (new) database takes a page size; an existing one keeps its own.
    // Log events average a few KB, and with SQLite's default 4 KB pages many spill into
    // overflow pages: 64 KB pages made the full OTRF sample 20% smaller and faster to
    // write. The larger cache keeps a big load from spilling pages before the commit.
    conn.execute_batch("PRAGMA page_size = 65536; PRAGMA cache_size = -65536")
        .map_err(ctx(&format!("opening database {db}")))?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(ctx(&format!("starting a transaction on {db}")))?;
    let result = write_in_transaction(&conn, table, schema, mode, rows);
    match result {
        Ok(summary) => {
            conn.execute_batch("COMMIT")
                .map_err(ctx(&format!("committing table `{table}` to {db}")))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn write_in_transaction<I>(
    conn: &Connection,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: I,
) -> Result<WriteSummary, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    let sql_err = |context: String| move |source| IngestError::Sqlite { context, source };
    let qtable = quote(table);
    let existing = existing_columns(conn, table)?;
    let plan = super::plan::plan(table, schema, mode, existing, &LIMITS)?;
    if plan.fresh && plan.exists {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {qtable}"))
            .map_err(sql_err(format!("dropping table `{table}`")))?;
    }
    let defs = plan.added.iter().map(|&i| {
        let c = &schema.columns[i];
        format!("{} {}", quote(&plan.names[i]), c.ty.sql_name())
    });
    if plan.fresh {
        let defs: Vec<String> = defs.collect();
        conn.execute_batch(&format!("CREATE TABLE {qtable} ({})", defs.join(", ")))
            .map_err(sql_err(format!("creating table `{table}`")))?;
    } else {
        for (def, &i) in defs.zip(&plan.added) {
            conn.execute_batch(&format!("ALTER TABLE {qtable} ADD COLUMN {def}"))
                .map_err(sql_err(format!(
                    "adding column `{}` to table `{table}`",
                    plan.names[i]
                )))?;
        }
    }
    let (columns, columns_added) = (plan.columns, plan.added.len());

    let names: Vec<String> = plan.names.iter().map(|n| quote(n)).collect();
    let insert_ctx = || format!("inserting into table `{table}`");
    let mut shapes: HashMap<Vec<usize>, Statement<'_>> = HashMap::new();
    let mut wide: Option<Statement<'_>> = None;
    let mut count = 0u64;
    for row in rows {
        let row = row?;
        if let Some(stmt) = shapes.get_mut(row.columns.as_slice()) {
            bind_all(stmt, row.values.iter()).map_err(sql_err(insert_ctx()))?;
        } else if shapes.len() < MAX_SHAPES {
            let cols: Vec<&str> = row.columns.iter().map(|&i| names[i].as_str()).collect();
            let sql = insert_sql(&qtable, &cols);
            let mut stmt = conn.prepare(&sql).map_err(sql_err(insert_ctx()))?;
            bind_all(&mut stmt, row.values.iter()).map_err(sql_err(insert_ctx()))?;
            shapes.insert(row.columns, stmt);
        } else {
            if wide.is_none() {
                let cols: Vec<&str> = names.iter().map(String::as_str).collect();
                wide = Some(
                    conn.prepare(&insert_sql(&qtable, &cols))
                        .map_err(sql_err(insert_ctx()))?,
                );
            }
            let stmt = wide
                .as_mut()
                .ok_or_else(|| IngestError::Internal("no insert statement".into()))?;
            let mut wide_values: Vec<Option<&Value>> = vec![None; names.len()];
            for (&i, v) in row.columns.iter().zip(&row.values) {
                wide_values[i] = Some(v);
            }
            bind_all(stmt, wide_values.iter().map(|v| v.unwrap_or(&NULL)))
                .map_err(sql_err(insert_ctx()))?;
        }
        count += 1;
    }
    Ok(WriteSummary {
        rows: count,
        columns,
        columns_added,
    })
}

/// Binds the values in order and runs the statement.
fn bind_all<'v>(
    stmt: &mut Statement<'_>,
    values: impl Iterator<Item = &'v Value>,
) -> rusqlite::Result<()> {
    for (i, v) in values.enumerate() {
        let at = i + 1;
        match v {
            Value::Null => stmt.raw_bind_parameter(at, rusqlite::types::Null)?,
            Value::Bool(b) => stmt.raw_bind_parameter(at, i64::from(*b))?,
            Value::Int(x) => stmt.raw_bind_parameter(at, *x)?,
            Value::Float(x) => stmt.raw_bind_parameter(at, *x)?,
            Value::Text(s) => stmt.raw_bind_parameter(at, s.as_str())?,
        }
    }
    stmt.raw_execute()?;
    Ok(())
}

fn insert_sql(qtable: &str, quoted_columns: &[&str]) -> String {
    let params: Vec<String> = (1..=quoted_columns.len())
        .map(|i| format!("?{i}"))
        .collect();
    format!(
        "INSERT INTO {qtable} ({}) VALUES ({})",
        quoted_columns.join(", "),
        params.join(", ")
    )
}

/// The columns of `table` if a table of that name exists (names ignore case in SQLite).
fn existing_columns(conn: &Connection, table: &str) -> Result<Option<Vec<String>>, IngestError> {
    let err = |source| IngestError::Sqlite {
        context: format!("looking for table `{table}`"),
        source,
    };
    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE AND type IN ('table', 'view')",
            [table],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    match kind.as_deref() {
        None => Ok(None),
        Some("view") => Err(IngestError::BadOptions(format!(
            "`{table}` is a view, not a table"
        ))),
        Some(_) => {
            let mut stmt = conn
                .prepare("SELECT name FROM pragma_table_info(?1)")
                .map_err(err)?;
            let names = stmt.query_map([table], |r| r.get(0)).map_err(err)?;
            Ok(Some(
                names.collect::<Result<Vec<String>, _>>().map_err(err)?,
            ))
        }
    }
}

/// A SQLite identifier: double-quoted, inner quotes doubled.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
