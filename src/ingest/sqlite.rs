//! SQLite's part of the ingest writer (see `write.rs`): one transaction around everything.
//!
//! `BEGIN IMMEDIATE`, then create (or drop and create, or alter) the table, insert every
//! row, `COMMIT`; a roll back leaves the table as it was, and removes a database file the
//! load created.
//!
//! Identifiers are double-quoted (`"` doubled); values are always bound parameters. One
//! prepared statement per distinct set of columns (records of one event type share one),
//! so a row binds only the fields it has instead of hundreds of NULLs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Statement};

use super::plan::Limits;
use super::read::Row;
use super::schema::{ColumnType, Schema};
use super::write::{Ddl, Loader, Store};
use super::IngestError;
use crate::value::Value;

/// SQLite's default SQLITE_MAX_COLUMN; names have no length limit.
const LIMITS: Limits = Limits {
    max_columns: 2000,
    max_name_bytes: None,
    backend: "SQLite",
};
/// Distinct column sets that get their own statement; rows of further shapes use one
/// statement naming every column.
const MAX_SHAPES: usize = 512;

static NULL: Value = Value::Null;

fn sql_err(context: String) -> impl FnOnce(rusqlite::Error) -> IngestError {
    move |source| IngestError::Sqlite { context, source }
}

/// A load into one table of a SQLite database file.
pub(crate) struct SqliteStore {
    /// `None` once rolled back.
    conn: Option<Connection>,
    path: PathBuf,
    /// The file did not exist before the load.
    created: bool,
    table: String,
    qtable: String,
}

impl SqliteStore {
    /// Opens (or creates) the database and starts the load's transaction.
    pub(crate) fn open(path: &Path, table: &str) -> Result<SqliteStore, IngestError> {
        let mut store = SqliteStore {
            conn: None,
            path: path.to_path_buf(),
            created: !path.exists(),
            table: table.to_string(),
            qtable: quote(table),
        };
        match connect(path) {
            Ok(conn) => {
                store.conn = Some(conn);
                Ok(store)
            }
            Err(e) => {
                store.roll_back();
                Err(e)
            }
        }
    }

    fn conn(&self) -> Result<&Connection, IngestError> {
        self.conn
            .as_ref()
            .ok_or_else(|| IngestError::Internal("the SQLite connection is closed".into()))
    }

    fn execute(&self, sql: &str, context: impl FnOnce() -> String) -> Result<(), IngestError> {
        self.conn()?
            .execute_batch(sql)
            .map_err(|e| sql_err(context())(e))
    }
}

fn connect(path: &Path) -> Result<Connection, IngestError> {
    let opening = || format!("opening database {}", path.display());
    let conn = Connection::open(path).map_err(sql_err(opening()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(sql_err(opening()))?;
    // Only an empty (new) database takes a page size; an existing one keeps its own.
    // Log events average a few KB, and with SQLite's default 4 KB pages many spill into
    // overflow pages: 64 KB pages made the full OTRF sample 20% smaller and faster to
    // write. The larger cache keeps a big load from spilling pages before the commit.
    conn.execute_batch("PRAGMA page_size = 65536; PRAGMA cache_size = -65536")
        .map_err(sql_err(opening()))?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(sql_err(format!(
            "starting a transaction on {}",
            path.display()
        )))?;
    Ok(conn)
}

impl Store for SqliteStore {
    fn limits(&self) -> Limits {
        LIMITS
    }

    /// Table names ignore case in SQLite.
    fn existing_columns(&mut self) -> Result<Option<Vec<String>>, IngestError> {
        let table = self.table.as_str();
        let err = |source| IngestError::Sqlite {
            context: format!("looking for table `{table}`"),
            source,
        };
        let conn = self.conn()?;
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

    fn create_table(
        &mut self,
        columns: &[(&str, ColumnType)],
        replacing: bool,
    ) -> Result<(), IngestError> {
        let (table, qtable) = (&self.table, &self.qtable);
        if replacing {
            self.execute(&format!("DROP TABLE IF EXISTS {qtable}"), || {
                format!("dropping table `{table}`")
            })?;
        }
        self.execute(&DDL.create_table(qtable, columns), || {
            format!("creating table `{table}`")
        })
    }

    fn add_column(&mut self, name: &str, ty: ColumnType) -> Result<(), IngestError> {
        let (table, qtable) = (&self.table, &self.qtable);
        self.execute(&DDL.add_column(qtable, name, ty), || {
            format!("adding column `{name}` to table `{table}`")
        })
    }

    fn loader<'s>(
        &'s mut self,
        names: &'s [String],
        _schema: &'s Schema,
    ) -> Result<Box<dyn Loader + 's>, IngestError> {
        Ok(Box::new(SqliteLoader {
            conn: self.conn()?,
            table: &self.table,
            qtable: &self.qtable,
            names: names.iter().map(|n| quote(n)).collect(),
            shapes: HashMap::new(),
            wide: None,
        }))
    }

    fn commit(&mut self) -> Result<(), IngestError> {
        let (table, path) = (&self.table, self.path.display());
        self.execute("COMMIT", || format!("committing table `{table}` to {path}"))
    }

    fn roll_back(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if self.created {
            // The connection is closed by now; the file holds nothing worth keeping.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

struct SqliteLoader<'s> {
    conn: &'s Connection,
    table: &'s str,
    qtable: &'s str,
    /// Per input column, its quoted name.
    names: Vec<String>,
    shapes: HashMap<Vec<usize>, Statement<'s>>,
    /// The statement naming every column, once there are too many shapes.
    wide: Option<Statement<'s>>,
}

impl Loader for SqliteLoader<'_> {
    fn push(&mut self, row: Row) -> Result<(), IngestError> {
        let table = self.table;
        let err = || sql_err(format!("inserting into table `{table}`"));
        if let Some(stmt) = self.shapes.get_mut(row.columns.as_slice()) {
            return bind_all(stmt, row.values.iter()).map_err(err());
        }
        if self.shapes.len() < MAX_SHAPES {
            let cols: Vec<&str> = row
                .columns
                .iter()
                .map(|&i| self.names[i].as_str())
                .collect();
            let mut stmt = self
                .conn
                .prepare(&insert_sql(self.qtable, &cols))
                .map_err(err())?;
            bind_all(&mut stmt, row.values.iter()).map_err(err())?;
            self.shapes.insert(row.columns, stmt);
            return Ok(());
        }
        let stmt = match &mut self.wide {
            Some(stmt) => stmt,
            wide => {
                let cols: Vec<&str> = self.names.iter().map(String::as_str).collect();
                wide.insert(
                    self.conn
                        .prepare(&insert_sql(self.qtable, &cols))
                        .map_err(err())?,
                )
            }
        };
        let mut values: Vec<&Value> = vec![&NULL; self.names.len()];
        for (&i, v) in row.columns.iter().zip(&row.values) {
            values[i] = v;
        }
        bind_all(stmt, values.into_iter()).map_err(err())
    }

    fn finish(self: Box<Self>) -> Result<(), IngestError> {
        Ok(())
    }
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

/// A SQLite identifier: double-quoted, inner quotes doubled.
pub(crate) use super::write::double_quote as quote;

/// SQLite's DDL: the portable type names, which its type affinity reads.
const DDL: Ddl = Ddl {
    quote,
    type_name: ColumnType::sql_name,
};
