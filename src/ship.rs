//! Shipping rows between connections: a variable read from one database and used in a
//! statement on another (a reference `name IN a.name`, a JOIN, a merge) travels there as
//! inline rows.
//!
//! In: a lowered [`Program`] whose relations may read data sources on several
//! connections. Out: the same program where every relation and output reads at most one
//! connection: each relation that another connection needs is run where it lives, and
//! its plan is replaced by `Values` of its rows (bound parameters when it runs again).
//! Relations are visited in definition order, which is dependency order.
//!
//! Rows travel as bound parameters. Many rows are one JSON parameter the statement reads
//! as a table (`sql/query/rows.rs`, where the dialect has a `rows_parameter_style`: no
//! placeholder limit, no temporary table, so a read-only session works). Where the
//! dialect has none, [`localise`] puts inline rows larger than [`SPILL_VALUES`] into a
//! temporary table of the connection the statement runs on, and it reads that table.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::backend::Collect;
use crate::diag::{Code, Diagnostic};
use crate::ir::{DataSource, Literal, Plan, Program, RelId};
use crate::session::Connections;
use crate::sql::dialect::RowsParameterStyle;
use crate::sql::{self, Dialect, LiteralMode};

/// `program` as a statement running `plan` sees it: every relation the statement reads
/// lives on one connection, those living elsewhere replaced by their rows. The program
/// is copied only when something travels.
pub fn ship_for<'p>(
    program: &'p Program,
    plan: &Plan,
    conns: &mut Connections<'_>,
) -> Result<Cow<'p, Program>, Diagnostic> {
    let places: BTreeSet<String> = program
        .scans_through(plan)
        .into_iter()
        .map(|s| program.sources[s].connection.clone().unwrap_or_default())
        .collect();
    if places.len() <= 1 {
        return Ok(Cow::Borrowed(program));
    }
    let mut roots = Vec::new();
    plan.rel_refs(&mut roots);
    let order = program.dependency_order(&roots);
    let mut shipped = program.clone();
    let mut place = vec![String::new(); shipped.relations.len()];
    for id in order {
        let rel_plan = shipped.relations[id.0].plan.clone();
        place[id.0] = settle(&mut shipped, &rel_plan, &mut place, conns)?;
    }
    settle(&mut shipped, plan, &mut place, conns)?;
    Ok(Cow::Owned(shipped))
}

/// Makes every relation `plan` reads live on one connection; returns that connection.
fn settle(
    program: &mut Program,
    plan: &Plan,
    place: &mut [String],
    conns: &mut Connections<'_>,
) -> Result<String, Diagnostic> {
    let mut own = Vec::new();
    plan.scans(&mut own);
    let own: BTreeSet<String> = own
        .into_iter()
        .map(|s| program.sources[s].connection.clone().unwrap_or_default())
        .collect();
    let mut refs = Vec::new();
    plan.rel_refs(&mut refs);
    let mut all: BTreeSet<String> = own.clone();
    for r in &refs {
        if !place[r.0].is_empty() {
            all.insert(place[r.0].clone());
        }
    }
    if all.len() <= 1 {
        return Ok(all.into_iter().next().unwrap_or_default());
    }
    // Run where the statement's own tables are; else where its first input lives.
    let target = own
        .iter()
        .next()
        .cloned()
        .or_else(|| {
            refs.iter()
                .map(|r| place[r.0].clone())
                .find(|p| !p.is_empty())
        })
        .unwrap_or_default();
    for r in refs {
        if !place[r.0].is_empty() && place[r.0] != target {
            materialise(program, r, &place[r.0].clone(), conns)?;
            place[r.0] = String::new();
        }
    }
    Ok(target)
}

/// Runs relation `id` on `connection` and replaces its plan with the rows.
fn materialise(
    program: &mut Program,
    id: RelId,
    connection: &str,
    conns: &mut Connections<'_>,
) -> Result<(), Diagnostic> {
    let r = program.rel(id).clone();
    let local = localise(program, &Plan::Rel(id), connection, conns)?.into_owned();
    let backend = conns.open(connection)?;
    let dialect = Dialect::builtin(backend.dialect())
        .ok_or_else(|| Diagnostic::internal(format!("no dialect {}", backend.dialect())))?;
    let plan = match &r.columns {
        Some(cols) => Plan::Rel(id).project(
            cols.iter()
                .map(|c| (c.clone(), crate::ir::Expr::col(c)))
                .collect(),
        ),
        None => Plan::Rel(id),
    };
    let stmt = sql::emit_plan(&local, &plan, &dialect, LiteralMode::Bind)
        .map_err(|d| crate::at(d, r.span))?;
    let mut rows = Collect::default();
    backend.query(&stmt, &mut rows).map_err(|e| {
        Diagnostic::error(
            Code::DataSource,
            format!(
                "reading `{}` to use it on another connection failed: {}",
                r.var,
                crate::config::redact_url(&e.to_string())
            ),
        )
        .at(r.span)
    })?;
    let values = rows
        .rows
        .into_iter()
        .map(|row| row.into_iter().map(Literal::from).collect())
        .collect();
    let rel = &mut program.relations[id.0];
    rel.columns = Some(rows.columns.clone());
    rel.plan = Plan::Values {
        columns: rows.columns,
        rows: values,
    };
    Ok(())
}

/// Inline rows with more values than this (rows × columns) go to a temporary table where
/// the dialect cannot read them from one JSON parameter.
pub const SPILL_VALUES: usize = 2000;

/// `program` as a statement running `plan` on `connection` should see it: every large
/// inline relation it reads is a temporary table on that connection (made once).
pub fn localise<'p>(
    program: &'p Program,
    plan: &Plan,
    connection: &str,
    conns: &mut Connections<'_>,
) -> Result<Cow<'p, Program>, Diagnostic> {
    let mut roots = Vec::new();
    plan.rel_refs(&mut roots);
    let big: Vec<RelId> = program
        .dependency_order(&roots)
        .into_iter()
        .filter(|id| match &program.rel(*id).plan {
            Plan::Values { columns, rows } => columns.len() * rows.len() > SPILL_VALUES,
            _ => false,
        })
        .collect();
    if big.is_empty() {
        return Ok(Cow::Borrowed(program));
    }
    let name = conns.open(connection)?.dialect();
    let dialect =
        Dialect::builtin(name).ok_or_else(|| Diagnostic::internal(format!("no dialect {name}")))?;
    if dialect.rows_parameter_style != RowsParameterStyle::Inline {
        return Ok(Cow::Borrowed(program));
    }
    let mut local = program.clone();
    for id in big {
        let r = local.rel(id).clone();
        let Plan::Values { columns, rows } = &r.plan else {
            continue;
        };
        let table = format!("{}rows_{}", crate::sql::table_name::MADE_PREFIX, r.name);
        if !conns.has_temp_table(connection, &table) {
            let backend = conns.open(connection)?;
            match backend.create_temp_table(&table, columns, rows) {
                Ok(()) => conns.remember_temp_table(connection, &table),
                // The rows stay inline; a statement too large fails with the database's
                // own message.
                Err(_) => continue,
            }
        }
        local.sources.push(DataSource {
            name: table.clone(),
            uri: String::new(),
            table,
            connection: (!connection.is_empty()).then(|| connection.to_string()),
            timestamp: None,
            timestamp_format: String::new(),
            mapping: String::new(),
        });
        local.relations[id.0].plan = Plan::Scan {
            source: local.sources.len() - 1,
        };
    }
    Ok(Cow::Owned(local))
}
