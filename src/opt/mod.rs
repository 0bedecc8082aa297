//! Optimiser passes over the IR.
//!
//! In: a lowered [`Program`](crate::ir::Program). Out: plans that compute the same rows
//! with less work. Each pass is a small, separately tested function; emission applies
//! them per output statement (an output needs only some columns of the relations it
//! reads), and `kestrel compile --no-opt` shows the plans as lowered.
//!
//! Passes, in the order they run:
//! 1. [`prune`] — projection pruning: every relation a statement reads selects only the
//!    columns something downstream uses (the original Kestrel projects every mapped
//!    column of every variable).

pub mod prune;

pub use prune::{prune_columns, Need, Pruned};
