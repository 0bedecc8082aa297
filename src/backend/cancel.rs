//! Stopping a running statement: Ctrl-C, and per-connection statement timeouts.
//!
//! In: a request to cancel (the SIGINT handler in `cli/interrupt.rs` calls [`request`]).
//! Out: [`requested`], which each backend polls while a statement runs (SQLite: its
//! progress handler) and then stops the statement on the server; the runner then returns
//! [`super::BackendError::Cancelled`] and the command line exits with 130.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every running statement to stop. Async-signal-safe (one atomic store).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a cancel was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
