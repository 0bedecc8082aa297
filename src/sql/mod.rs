//! IR to SQL text, through sqlparser's AST.
//!
//! - `dialect.rs` — what differs between SQL dialects, loaded from `dialects/*.yaml`;
//! - `builders.rs` — the only place that constructs sqlparser structs;
//! - `query/` — plans folded into SELECT blocks with CTEs, literals bound or inlined
//!   (statements, blocks, expressions, semi-joins, limits: one file each);
//! - `like_regex.rs` — a LIKE pattern as an exact regular expression (MySQL's LIKE);
//! - `table_name.rs` — a configured `table:` split into its parts (`schema.table`).

pub mod builders;
pub mod dialect;
pub mod like_regex;
pub mod query;
pub mod table_name;

pub use dialect::{Dialect, LONG_LIST};
pub use query::{
    emit_counts, emit_counts_with, emit_describe, emit_describe_with, emit_entity_rows, emit_plan,
    emit_plan_with, DescribeSql, LiteralMode, SqlStatement,
};
