//! The one ingest writer: a [`Schema`] and a row stream in, one table out, all or
//! nothing, on every [`Target`].
//!
//! ```text
//! open ─▶ existing columns ─▶ plan (plan.rs) ─▶ create table | add columns ─▶ rows ─▶ commit
//!   any error, or Ctrl-C between two rows ─▶ roll back: no table, no added column, no row
//! ```
//!
//! The algorithm is here, once; a [`Store`] is what one target does differently: how it
//! starts a transaction, finds a table's columns, creates or alters a table, takes rows
//! and makes them visible or undoes them. `sqlite.rs` (one transaction; a database file
//! the load created is removed again), `postgres.rs` (one transaction, rows through `COPY
//! FROM STDIN`), `mysql.rs` (DDL commits at once there: a new table is built under a
//! temporary name and swapped in, an append drops the columns it added if the load fails)
//! and `lake.rs` (Parquet files staged beside the table and moved in).
//!
//! Which columns a load adds and the name each input column is written under come from
//! [`plan`](super::plan::plan) for every target alike, so `--append` matches the input's
//! columns with the table's whatever their case everywhere.

use super::plan::{self, Limits};
use super::read::Row;
use super::schema::{ColumnType, Schema};
use super::{IngestError, Target};

/// How a SQL target spells the writer's DDL: names quoted its way, column types by its
/// names. Only identifiers pass through here; values are always bound.
pub(crate) struct Ddl {
    pub(crate) quote: fn(&str) -> String,
    pub(crate) type_name: fn(ColumnType) -> &'static str,
}

impl Ddl {
    /// `space.name`, or `name`, each part quoted.
    pub(crate) fn qualified(&self, space: Option<&str>, name: &str) -> String {
        match space {
            Some(sp) => format!("{}.{}", (self.quote)(sp), (self.quote)(name)),
            None => (self.quote)(name),
        }
    }

    /// `CREATE TABLE qtable (name type, …)`.
    pub(crate) fn create_table(&self, qtable: &str, columns: &[(&str, ColumnType)]) -> String {
        let defs: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("{} {}", (self.quote)(name), (self.type_name)(*ty)))
            .collect();
        format!("CREATE TABLE {qtable} ({})", defs.join(", "))
    }

    /// `ALTER TABLE qtable ADD COLUMN name type`.
    pub(crate) fn add_column(&self, qtable: &str, name: &str, ty: ColumnType) -> String {
        format!(
            "ALTER TABLE {qtable} ADD COLUMN {} {}",
            (self.quote)(name),
            (self.type_name)(ty)
        )
    }
}

/// How a server store connects: allowed to write.
pub(crate) fn write_options() -> crate::backend::OpenOptions {
    crate::backend::OpenOptions {
        allow_write: true,
        ..Default::default()
    }
}

/// A server's failure while `context`, its message with any password masked.
pub(crate) fn server_err(context: impl Into<String>) -> impl FnOnce(String) -> IngestError {
    let context = context.into();
    move |message| IngestError::Server {
        context,
        message: crate::config::redact_url(&message),
    }
}

/// A name in double quotes, inner ones doubled (SQLite, PostgreSQL, the SQL standard).
pub(crate) fn double_quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A name in backquotes, inner ones doubled (MySQL, MariaDB).
pub(crate) fn backquote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// What to do when the table already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail if it exists.
    Create,
    /// Drop it and create it anew (only once the new rows are all in).
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

/// What one target does its own way. A store is opened for one table; the writer calls
/// [`Store::roll_back`] after any error from any method (or from the rows), and nothing
/// else after it.
pub(crate) trait Store {
    /// Columns per table and bytes per name.
    fn limits(&self) -> Limits;
    /// The table's columns, `None` when there is no such table.
    fn existing_columns(&mut self) -> Result<Option<Vec<String>>, IngestError>;
    /// Creates the table with `columns`, in place of the existing one when `replacing`.
    fn create_table(
        &mut self,
        columns: &[(&str, ColumnType)],
        replacing: bool,
    ) -> Result<(), IngestError>;
    /// Adds a column to the existing table.
    fn add_column(&mut self, name: &str, ty: ColumnType) -> Result<(), IngestError>;
    /// Where the rows go: input column `i` is written as `names[i]` of type
    /// `schema.columns[i].ty`.
    fn loader<'s>(
        &'s mut self,
        names: &'s [String],
        schema: &'s Schema,
    ) -> Result<Box<dyn Loader + 's>, IngestError>;
    /// Makes the whole load visible at once.
    fn commit(&mut self) -> Result<(), IngestError>;
    /// Undoes everything the load did; best effort, as it runs after a failure.
    fn roll_back(&mut self);
}

/// Takes a load's rows.
pub(crate) trait Loader {
    fn push(&mut self, row: Row) -> Result<(), IngestError>;
    /// After the last row: everything is written (but not yet committed).
    fn finish(self: Box<Self>) -> Result<(), IngestError>;
}

/// Writes `rows` (shaped by `schema`) into `table` of `target`, all or nothing: an error
/// from the target or the rows, or Ctrl-C ([`IngestError::Cancelled`]), leaves the table
/// as it was (absent, or with its old rows and columns).
pub fn write<I>(
    target: &Target,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: I,
) -> Result<WriteSummary, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    target.check_table(table)?;
    let mut rows = rows.into_iter();
    let mut store: Box<dyn Store> = match target {
        Target::Sqlite(path) => Box::new(super::sqlite::SqliteStore::open(path, table)?),
        Target::Postgres(url) => Box::new(super::postgres::PgStore::open(url, table)?),
        Target::Mysql(url) => Box::new(super::mysql::MysqlStore::open(url, table)?),
        Target::Lake(dir) => Box::new(super::lake::LakeStore::open(dir, table, schema)?),
    };
    match load(store.as_mut(), table, schema, mode, &mut rows) {
        Ok(summary) => Ok(summary),
        Err(e) => {
            store.roll_back();
            Err(e)
        }
    }
}

fn load(
    store: &mut dyn Store,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: &mut dyn Iterator<Item = Result<Row, IngestError>>,
) -> Result<WriteSummary, IngestError> {
    let existing = store.existing_columns()?;
    let plan = plan::plan(table, schema, mode, existing, &store.limits())?;
    let added: Vec<(&str, ColumnType)> = plan
        .added
        .iter()
        .map(|&i| (plan.names[i].as_str(), schema.columns[i].ty))
        .collect();
    if plan.fresh {
        store.create_table(&added, plan.exists)?;
    } else {
        for &(name, ty) in &added {
            stop_on_ctrl_c()?;
            store.add_column(name, ty)?;
        }
    }
    let mut count = 0u64;
    let mut loader = store.loader(&plan.names, schema)?;
    for row in rows {
        stop_on_ctrl_c()?;
        loader.push(row?)?;
        count += 1;
    }
    loader.finish()?;
    // The last moment the load can still be undone.
    stop_on_ctrl_c()?;
    store.commit()?;
    Ok(WriteSummary {
        rows: count,
        columns: plan.columns,
        columns_added: plan.added.len(),
    })
}

fn stop_on_ctrl_c() -> Result<(), IngestError> {
    if crate::backend::cancel::requested() {
        Err(IngestError::Cancelled)
    } else {
        Ok(())
    }
}
