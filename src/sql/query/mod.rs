//! IR plans to SQL statements.
//!
//! In: a [`Program`](crate::ir::Program), the plan to show, a
//! [`Dialect`](crate::sql::Dialect) and whether literals are bound or inlined. Out:
//! [`SqlStatement`]s — SQL text rendered from a sqlparser AST, plus the bound parameters
//! in placeholder order.
//!
//! Every relation a statement reads becomes a CTE named after its variable; the operator
//! tree of a plan folds into as few SELECT blocks as SQL allows (a filter after a
//! projection is substituted into the projection's source columns, a LIMIT under anything
//! else becomes a derived table).
//!
//! What differs between engines is asked of the `Dialect`, never by name: limits
//! (`LIMIT/OFFSET`, `TOP`, `OFFSET … FETCH`), LIKE (ILIKE, ESCAPE, collations), MATCHES
//! (`REGEXP`, `~`, or an error), collations that make `=` exact, tuple IN or an
//! `EXISTS` rewrite, inline rows, basename/dirname, timestamp literals, placeholders.
//!
//! - `statements.rs` — the statements a hunt runs: rows, counts, DESCRIBE;
//! - `emitter.rs` — one statement: its CTEs, and SELECT blocks as sqlparser queries;
//! - `block.rs` — an operator tree folded into SELECT blocks;
//! - `expr.rs` — expressions and literals, as the dialect writes them;
//! - `rows.rs` — many inline rows as one JSON parameter read as a table;
//! - `semijoin.rs` — semi-joins: the `EXISTS` rewrite of a tuple IN, materialised CTEs;
//! - `limit.rs` — LIMIT/OFFSET, TOP, OFFSET … FETCH.

mod block;
mod emitter;
mod expr;
mod limit;
mod rows;
mod semijoin;
mod statements;

use crate::ir::Literal;

pub use statements::{
    emit_counts, emit_counts_with, emit_describe, emit_describe_with, emit_entity_rows, emit_plan,
    emit_plan_with, DescribeSql,
};

/// How literals reach the SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralMode {
    /// Placeholders, with the values in [`SqlStatement::params`] (for execution).
    Bind,
    /// Escaped literals in the text (for `compile` and EXPLAIN previews).
    Inline,
}

/// One statement, ready to run or show.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    pub sql: String,
    pub params: Vec<Literal>,
}

#[cfg(test)]
mod tests;
