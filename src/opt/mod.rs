//! Optimiser passes over the IR.
//!
//! In: a lowered [`Program`](crate::ir::Program). Out: plans that compute the same rows
//! with less work. Each pass is a small, separately tested function; emission applies
//! them per output statement (an output needs only some columns of the relations it
//! reads), and `kestrel compile --no-opt` shows the plans as lowered.
//!
//! Passes, in the order they run:
//! 1. [`fold`] (on the whole program, after lowering) — `c = a OR c = b` → `c IN (a, b)`,
//!    `c != a AND c != b` → `c NOT IN (a, b)`, one-value `IN` → `=`.
//! 2. [`reuse`] (on the whole program, after folding) — a relation computed exactly as an
//!    earlier one becomes a reference to it, and its readers read the earlier one.
//! 3. [`prune`] (per statement, at emission) — projection pruning: every relation a
//!    statement reads selects only the columns something downstream uses (the original
//!    Kestrel projects every mapped column of every variable).
//!
//! Filters reach the scans without a pass of their own: emission folds a filter over a
//! projection into the projection's WHERE (see `sql::query`), and a semi-join's CTE is
//! materialised where the dialect says so (`materialize_semijoin_ctes`).

pub mod fold;
pub mod prune;
pub mod reuse;

pub use fold::{fold_new, fold_program};
pub use prune::{prune_columns, relation_needs, Need, Pruned};
pub use reuse::{reuse_subplans, Reuse};
