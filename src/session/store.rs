//! Keeping a computed variable: its rows go into a table once, and its plan becomes a read
//! of that table.
//!
//! In: a relation worth keeping (see [`Session::worth_keeping`]). Out: a temporary table
//! holding its rows (the attributes later statements read, and the timestamp of the
//! record each row came from, so TIMESTAMPED and time spans need not recompute it), a
//! data source for that table, and the relation's plan rewritten to read it:
//!
//! ```text
//! procs = GET process FROM events WHERE …      Project name, pid, …
//!   Project name := process.name, …       ──▶     Scan kestrel_0_procs   (temp table)
//!     Filter … Scan events
//! ```
//!
//! The table is made where the rows are, when that database can hold a temporary table
//! (`Backend::store`: `CREATE TEMP TABLE … AS SELECT …`, the rows never leave it);
//! otherwise in the session's cache, an embedded SQLite database, the rows streamed into
//! it in batches.

use crate::backend::{Backend, BackendError, RowSink};
use crate::diag::Diagnostic;
use crate::ir::{DataSource, Expr, Literal, Plan, RelId, SortKey};
use crate::lower::stamp::FIRST_OBSERVED;
use crate::sql::{self, LiteralMode};
use crate::value::Value;

use super::connections::dialect_of;
use super::{query_failed, sources_read, tally, Session};

/// The connection name of the session's cache (not a name a configuration can give).
pub(crate) const CACHE: &str = "\u{1}cache";

/// The most relations a kept relation's own query may combine.
const MAX_CHAIN: usize = crate::syntax::MAX_NESTING;

/// Rows copied into the cache per insert transaction.
const COPY_BATCH: usize = 2000;

/// Where a kept relation's rows are.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub connection: String,
    pub table: String,
    /// The data source standing for the table in the program.
    pub source: usize,
}

impl Stored {
    /// "temporary table `kestrel_0_procs` on connection `lake`"
    pub fn describe(&self) -> String {
        format!(
            "temporary table `{}` on {}",
            self.table,
            if self.connection == CACHE {
                "the session cache".to_string()
            } else {
                format!("connection `{}`", self.connection)
            }
        )
    }
}

/// A connection's name as messages show it.
pub(crate) fn connection_label(connection: &str) -> &str {
    if connection == CACHE {
        "session cache"
    } else {
        connection
    }
}

impl Session<'_> {
    /// Computes relation `id` into a table and makes its plan read that table. A relation
    /// whose columns or order a table cannot keep stays as it is.
    pub(super) fn store(&mut self, id: RelId) -> Result<(), Diagnostic> {
        let r = self.state.program.rel(id).clone();
        let Some(all) = r.columns.clone() else {
            return Ok(());
        };
        // Working out the timestamp and the order walks the chain recursively: a chain
        // of hundreds of relations computed in one query stays a CTE (no database takes
        // one that deep anyway).
        if self.state.program.dependency_order(&[id]).len() > MAX_CHAIN {
            return Ok(());
        }
        // The attributes later statements read (all of them when that is not known),
        // its identity (counts, FIND), and what its order is by.
        let need = self.rels.get(id.0).and_then(|s| s.need.clone());
        let order = self.state.order(&Plan::Rel(id));
        let mut keep: Vec<String> = all
            .iter()
            .filter(|c| {
                need.as_ref().is_none_or(|n| n.contains(c))
                    || r.identity.contains(c)
                    || r.identity_alt.contains(c)
                    || order.as_ref().is_some_and(|o| {
                        o.iter().any(|(e, _)| matches!(e, Expr::Col(k) if k == *c))
                    })
            })
            .cloned()
            .collect();
        if let Some(o) = &order {
            // Only an order by kept columns can be restored from the table.
            if !o
                .iter()
                .all(|(e, _)| matches!(e, Expr::Col(k) if keep.contains(k)))
            {
                return Ok(());
            }
        }
        // A GROUP of a variable counted on the way groups by its tally too, in this
        // statement only (a GROUP is never stamped: `plan` reads it as `Rel(id)`).
        let grouped = self.tallied_group(id);
        let project = |cols: &[String]| -> Vec<(String, Expr)> {
            cols.iter().map(|c| (c.clone(), Expr::col(c))).collect()
        };
        let mut plan = Plan::Rel(id).project(project(&keep));
        // The timestamp of each row's record, under the data source's own column name, so
        // that TIMESTAMPED and time spans read it as they would from the source.
        let ts = r
            .source
            .and_then(|s| self.state.program.sources[s].timestamp.clone());
        let mut stamped_ts = None;
        if let Some(ts) = &ts {
            if all.contains(ts) {
                if !keep.contains(ts) {
                    keep.push(ts.clone());
                    plan = Plan::Rel(id).project(project(&keep));
                }
                stamped_ts = Some(ts.clone());
            } else if !all.iter().any(|c| c == FIRST_OBSERVED) {
                if let Some(stamped) = self.state.stamped(&Plan::Rel(id), ts) {
                    let mut cols = project(&keep);
                    cols.push((ts.clone(), Expr::col(FIRST_OBSERVED)));
                    plan = stamped.project(cols);
                    keep.push(ts.clone());
                    stamped_ts = Some(ts.clone());
                }
            }
        }

        let table = self.new_table(&r.name, "");
        let (program, connection) =
            super::place(&self.state.program, &mut self.conns, &plan, r.span)?;
        let program = super::with_plan(program, grouped.as_ref().map(|(_, p)| (id, p)));
        let backend = self.conns.get(&connection, None)?;
        let mut dialect = dialect_of(backend.as_ref())?;
        dialect.tally_function = backend.tally_function().map(String::from);
        let stmt = sql::emit_plan(&program, &plan, &dialect, LiteralMode::Bind)
            .map_err(|d| crate::at(d, r.span))?;
        let where_ = sources_read(&program, &plan, &connection);
        let counted_var = grouped.map(|(v, _)| v);
        // What the statement counts on the way, from nothing.
        let forget = |backend: &mut dyn Backend| {
            if let Some(v) = counted_var {
                backend.forget_tally(tally::slot(v));
            }
        };
        forget(backend.as_mut());
        let spinner = crate::output::progress::Spinner::start(
            &format!("computing {}", r.var),
            crate::output::progress::enabled(),
        );
        // Where the rows pass through kestrel on their way into the table, the summary's
        // count of them is taken there (see `Backend::store_counted`).
        let count_here = self
            .rels
            .get(id.0)
            .is_some_and(|s| s.summarised && s.counts.is_none());
        let stored = if count_here {
            backend.store_counted(&table, &stmt, &r.identity, &r.identity_alt)
        } else {
            backend.store(&table, &stmt).map(|()| None)
        };
        if stored.is_err() {
            // Whatever it counted before it stopped is not the variable's count.
            forget(backend.as_mut());
        }
        let place = match stored {
            Ok(counted) => {
                if let (Some(counts), Some(s)) = (counted, self.rels.get_mut(id.0)) {
                    s.counts = Some(counts);
                }
                connection.clone()
            }
            // Too many rows for this connection to keep well: the relation stays a plan,
            // computed in each query that reads it.
            Err(BackendError::TooManyToKeep(most)) => {
                if let Some(s) = self.rels.get_mut(id.0) {
                    s.not_kept = Some(most);
                }
                // The summary's count computes it again: beside the statements to come.
                self.count_beside(id);
                return Ok(());
            }
            Err(e @ (BackendError::Cancelled | BackendError::Timeout(_))) => {
                return Err(query_failed(e, &where_, r.span));
            }
            // This database keeps no temporary tables for us (read-only, a replica):
            // the rows stream into the session's cache instead.
            Err(_) if connection != CACHE => {
                self.copy_to_cache(&connection, &stmt, &table, &keep)
                    .map_err(|e| query_failed(e, &where_, r.span))?;
                CACHE.to_string()
            }
            Err(e) => return Err(query_failed(e, &where_, r.span)),
        };
        drop(spinner);
        if let Some(v) = counted_var {
            let counted = self
                .conns
                .get(&connection, None)?
                .take_tally(tally::slot(v));
            self.record_tally(v, counted);
        }

        let src = self.add_table_source(&r, "kept", &table, &place, stamped_ts, keep.clone());
        // Columns no later statement reads are not kept: NULL stands in (pruned away).
        let cols: Vec<(String, Expr)> = all
            .iter()
            .map(|c| {
                if keep.contains(c) {
                    (c.clone(), Expr::col(c))
                } else {
                    (c.clone(), Expr::Lit(Literal::Null))
                }
            })
            .collect();
        let mut new_plan = Plan::Scan { source: src }.project(cols);
        if let Some(o) = order {
            new_plan = Plan::Sort {
                input: Box::new(new_plan),
                keys: o
                    .into_iter()
                    .map(|(expr, desc)| SortKey { expr, desc })
                    .collect(),
            };
        }
        self.state.program.relations[id.0].plan = new_plan;
        self.liveness.reads_its_table(&self.state.program, id, src);
        if let Some(s) = self.rels.get_mut(id.0) {
            s.stored = Some(Stored {
                connection: place,
                table,
                source: src,
            });
        }
        Ok(())
    }

    /// A name for a new table holding relation `name`'s rows: `kestrel_<n>_<name><suffix>`,
    /// letters, digits and `_` only.
    pub(super) fn new_table(&mut self, name: &str, suffix: &str) -> String {
        let clean: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.tables_made += 1;
        format!(
            "{}{}_{clean}{suffix}",
            crate::sql::table_name::MADE_PREFIX,
            self.tables_made - 1
        )
    }

    /// Registers `table` (on `connection`) as a data source holding `r`'s rows: `columns`,
    /// and `timestamp`, the source timestamp of each row's record, when kept.
    pub(super) fn add_table_source(
        &mut self,
        r: &crate::ir::Relation,
        label: &str,
        table: &str,
        connection: &str,
        timestamp: Option<String>,
        columns: Vec<String>,
    ) -> usize {
        let source = r.source.map(|s| &self.state.program.sources[s]);
        let ds = DataSource {
            name: format!("{} ({label})", r.var),
            uri: String::new(),
            table: table.to_string(),
            connection: Some(connection.to_string()),
            timestamp,
            timestamp_format: source
                .map(|s| s.timestamp_format.clone())
                .unwrap_or_default(),
            mapping: source.map(|s| s.mapping.clone()).unwrap_or_default(),
        };
        self.state.add_source(ds, columns)
    }

    /// Runs `stmt` on `connection` and streams its rows into a new table of the cache.
    fn copy_to_cache(
        &mut self,
        connection: &str,
        stmt: &sql::SqlStatement,
        table: &str,
        columns: &[String],
    ) -> Result<(), BackendError> {
        let mut cache = self
            .conns
            .take(CACHE)
            .map_err(|d| BackendError::Query(d.message))?;
        let result = (|| {
            cache.create_temp_table(table, columns, &[])?;
            let backend = self
                .conns
                .get(connection, None)
                .map_err(|d| BackendError::Query(d.message))?;
            let mut sink = CopySink {
                cache: cache.as_mut(),
                table,
                columns,
                rows: Vec::with_capacity(COPY_BATCH),
                failed: None,
            };
            backend.query(stmt, &mut sink)?;
            if let Some(e) = sink.failed.take() {
                return Err(e);
            }
            sink.flush()
        })();
        if result.is_err() {
            let _ = cache.drop_temp_table(table);
        }
        self.conns.put(CACHE, cache);
        result
    }
}

/// Receives a stored relation's rows and inserts them into the cache in batches.
struct CopySink<'a> {
    cache: &'a mut dyn Backend,
    table: &'a str,
    columns: &'a [String],
    rows: Vec<Vec<Literal>>,
    failed: Option<BackendError>,
}

impl CopySink<'_> {
    fn flush(&mut self) -> Result<(), BackendError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        self.cache.insert_rows(self.table, self.columns, &rows)
    }
}

impl RowSink for CopySink<'_> {
    fn columns(&mut self, _columns: &[String]) -> std::io::Result<()> {
        Ok(())
    }

    fn row(&mut self, row: &[Value]) -> std::io::Result<()> {
        self.rows
            .push(row.iter().cloned().map(Literal::from).collect());
        if self.rows.len() >= COPY_BATCH {
            if let Err(e) = self.flush() {
                let msg = e.to_string();
                self.failed = Some(e);
                return Err(std::io::Error::other(msg));
            }
        }
        Ok(())
    }
}
