//! MySQL/MariaDB's part of the ingest writer (see `write.rs`).
//!
//! MySQL commits DDL implicitly, so the load's undo is done by hand: a new (or replacing)
//! table is built under a temporary name, its rows inserted in one transaction, and swapped
//! in with one atomic `RENAME TABLE` after the commit (the old table is dropped only after
//! the swap); a roll back drops the temporary table. An `--append` inserts in one
//! transaction, and a roll back drops the columns it added. A failure that broke the
//! connection (a packet over the server's max_allowed_packet does) is cleaned up on a new
//! one.
//!
//! `--table seeds.events` writes into database `seeds`, split as a configuration's
//! `table:` is. Identifiers are backtick-quoted; values are always bound parameters, one
//! prepared statement per distinct set of columns (the driver caches them by text).

use std::collections::HashMap;

use mysql::prelude::Queryable;

use super::plan::Limits;
use super::read::Row;
use super::schema::{ColumnType, Schema};
use super::write::{backquote, server_err, write_options, Ddl, Loader, Store};
use super::{IngestError, Target};
use crate::backend::mysql::{error_text, MysqlBackend};
use crate::value::Value;

/// InnoDB's limit on columns per table; 64-character names.
const LIMITS: Limits = Limits {
    max_columns: 1017,
    max_name_bytes: Some(64),
    backend: "MySQL/MariaDB (InnoDB)",
};

/// The suffix of the name a new table is built under (a table name may have at most 64
/// characters, so the name itself at most 48: see `Target::check_table`).
const LOADING: &str = "__kestrel_load";
const OLD: &str = "__kestrel_old";

fn my_err(context: impl Into<String>) -> impl FnOnce(mysql::Error) -> IngestError {
    let context = context.into();
    move |e| server_err(context)(error_text(&e))
}

fn my_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "BIGINT",
        ColumnType::Real => "DOUBLE",
        ColumnType::Text => "LONGTEXT",
        ColumnType::Boolean => "BOOLEAN",
    }
}

const DDL: Ddl = Ddl {
    quote: backquote,
    type_name: my_type,
};

fn my_value(v: Value) -> mysql::Value {
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Bool(b) => mysql::Value::Int(i64::from(b)),
        Value::Int(i) => mysql::Value::Int(i),
        Value::Float(f) => mysql::Value::Double(f),
        Value::Text(s) => mysql::Value::Bytes(s.into_bytes()),
    }
}

/// A load into one table on a MySQL or MariaDB server.
pub(crate) struct MysqlStore {
    backend: MysqlBackend,
    url: String,
    table: String,
    space: Option<String>,
    name: String,
    /// Where the rows go: the table, or the temporary one a new table is built as.
    into: String,
    /// A new table is being built under a temporary name (replacing an existing one).
    fresh: Option<bool>,
    /// Columns added to the existing table.
    added: Vec<String>,
}

impl MysqlStore {
    pub(crate) fn open(url: &str, table: &str) -> Result<MysqlStore, IngestError> {
        let (space, name) = Target::split_table(table, "database")?;
        let backend = MysqlBackend::open(url, &write_options())
            .map_err(|e| server_err("connecting")(e.to_string()))?;
        let mut store = MysqlStore {
            backend,
            url: url.to_string(),
            table: table.to_string(),
            space,
            name,
            into: String::new(),
            fresh: None,
            added: Vec::new(),
        };
        store.into = store.in_space(&store.name);
        Ok(store)
    }

    /// `database`.`n` (or `n`), for a name in the table's database.
    fn in_space(&self, n: &str) -> String {
        DDL.qualified(self.space.as_deref(), n)
    }

    fn execute(&mut self, sql: &str, context: String) -> Result<(), IngestError> {
        self.backend.conn().query_drop(sql).map_err(my_err(context))
    }

    /// The statements that undo the load so far, in order.
    fn undo_statements(&self) -> Vec<String> {
        match self.fresh {
            Some(_) => vec![format!("DROP TABLE IF EXISTS {}", self.into)],
            None => self
                .added
                .iter()
                .map(|c| format!("ALTER TABLE {} DROP COLUMN {}", self.into, backquote(c)))
                .collect(),
        }
    }
}

impl Store for MysqlStore {
    fn limits(&self) -> Limits {
        LIMITS
    }

    fn existing_columns(&mut self) -> Result<Option<Vec<String>>, IngestError> {
        let context = format!("looking for table `{}`", self.table);
        let (space, name) = (self.space.clone(), self.name.clone());
        let names: Vec<String> = self
            .backend
            .conn()
            .exec(
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                 ORDER BY ordinal_position",
                (space, name),
            )
            .map_err(my_err(context))?;
        Ok((!names.is_empty()).then_some(names))
    }

    fn create_table(
        &mut self,
        columns: &[(&str, ColumnType)],
        replacing: bool,
    ) -> Result<(), IngestError> {
        let temp = self.in_space(&format!("{}{LOADING}", self.name));
        self.execute(
            &format!("DROP TABLE IF EXISTS {temp}"),
            "clearing an old temporary table".into(),
        )?;
        self.into = temp;
        self.fresh = Some(replacing);
        let sql = format!(
            "{} DEFAULT CHARSET = utf8mb4",
            DDL.create_table(&self.into, columns)
        );
        let context = format!("creating table `{}`", self.table);
        self.execute(&sql, context)
    }

    fn add_column(&mut self, name: &str, ty: ColumnType) -> Result<(), IngestError> {
        let sql = DDL.add_column(&self.into, name, ty);
        let context = format!("adding column `{name}` to `{}`", self.table);
        self.execute(&sql, context)?;
        // Committed at once: a roll back drops it again.
        self.added.push(name.to_string());
        Ok(())
    }

    fn loader<'s>(
        &'s mut self,
        names: &'s [String],
        _schema: &'s Schema,
    ) -> Result<Box<dyn Loader + 's>, IngestError> {
        // After the DDL, which would commit the transaction implicitly.
        self.execute("START TRANSACTION", "starting a transaction".into())?;
        Ok(Box::new(MysqlLoader {
            conn: self.backend.conn(),
            into: &self.into,
            names: names.iter().map(|n| backquote(n)).collect(),
            shapes: HashMap::new(),
            context: format!("inserting into table `{}`", self.table),
        }))
    }

    fn commit(&mut self) -> Result<(), IngestError> {
        let context = format!("committing table `{}`", self.table);
        self.execute("COMMIT", context)?;
        let Some(replacing) = self.fresh else {
            return Ok(());
        };
        // One atomic swap: readers see the old table or the new one, never neither.
        let qtable = self.in_space(&self.name);
        let context = format!("putting table `{}` in place", self.table);
        if !replacing {
            return self.execute(&format!("RENAME TABLE {} TO {qtable}", self.into), context);
        }
        let old = self.in_space(&format!("{}{OLD}", self.name));
        self.execute(&format!("DROP TABLE IF EXISTS {old}"), context.clone())?;
        self.execute(
            &format!("RENAME TABLE {qtable} TO {old}, {} TO {qtable}", self.into),
            context,
        )?;
        // The new table is in place; a leftover old one is dropped next time.
        let _ = self.backend.conn().query_drop(format!("DROP TABLE {old}"));
        Ok(())
    }

    fn roll_back(&mut self) {
        let undo = self.undo_statements();
        let conn = self.backend.conn();
        let _ = conn.query_drop("ROLLBACK");
        let mut left = undo.iter().skip_while(|sql| conn.query_drop(sql).is_ok());
        let Some(first) = left.next() else {
            return;
        };
        // The connection may be broken: finish on a new one.
        if let Ok(mut b) = MysqlBackend::open(&self.url, &write_options()) {
            for sql in std::iter::once(first).chain(left) {
                let _ = b.conn().query_drop(sql);
            }
        }
    }
}

struct MysqlLoader<'s> {
    conn: &'s mut mysql::Conn,
    into: &'s str,
    /// Per input column, its quoted name.
    names: Vec<String>,
    /// The INSERT statement for each set of columns seen.
    shapes: HashMap<Vec<usize>, String>,
    context: String,
}

impl Loader for MysqlLoader<'_> {
    fn push(&mut self, row: Row) -> Result<(), IngestError> {
        if !self.shapes.contains_key(&row.columns) {
            let cols: Vec<&str> = row
                .columns
                .iter()
                .map(|&i| self.names[i].as_str())
                .collect();
            let ph = vec!["?"; cols.len()].join(", ");
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({ph})",
                self.into,
                cols.join(", ")
            );
            self.shapes.insert(row.columns.clone(), sql);
        }
        let sql = self
            .shapes
            .get(&row.columns)
            .ok_or_else(|| IngestError::Internal("no insert statement".into()))?;
        let params: Vec<mysql::Value> = row.values.into_iter().map(my_value).collect();
        self.conn
            .exec_drop(sql.as_str(), mysql::Params::Positional(params))
            .map_err(my_err(self.context.clone()))
    }

    fn finish(self: Box<Self>) -> Result<(), IngestError> {
        Ok(())
    }
}
