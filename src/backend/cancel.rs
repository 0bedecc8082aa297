//! Stopping a running statement: Ctrl-C, and per-connection statement timeouts.
//!
//! In: a request to cancel (the SIGINT handler in `cli/interrupt.rs` calls [`request`]).
//! Out: [`requested`], which each backend polls while a statement runs (SQLite: its
//! progress handler) and then stops the statement on the server; the runner then returns
//! [`super::BackendError::Cancelled`] and the command line exits with 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Whether anything can request a cancel (the command line's Ctrl-C handler is in).
static ARMED: AtomicBool = AtomicBool::new(false);

/// Says that cancels may come (the SIGINT handler is installed): server backends then
/// [`watch`] their statements.
pub fn arm() {
    ARMED.store(true, Ordering::SeqCst);
}

/// Asks every running statement to stop. Async-signal-safe (one atomic store).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Forgets a cancel once it has been dealt with: an interactive session (the REPL, a
/// notebook kernel) goes on after a stopped statement.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Whether a cancel was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Runs `stop` once (on its own thread) if a cancel is requested while the returned guard
/// lives: how a server backend stops a statement it is blocked on (PostgreSQL's cancel
/// request, MySQL's `KILL QUERY`). Nothing runs unless [`arm`] was called.
pub fn watch(stop: impl FnOnce() + Send + 'static) -> Watch {
    if !ARMED.load(Ordering::SeqCst) {
        return Watch(None);
    }
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let handle = std::thread::Builder::new()
        .name("kestrel-cancel".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if requested() {
                    stop();
                    return;
                }
                // Woken at once when the watch ends (see `Drop`), so a statement's end
                // does not wait out the poll.
                std::thread::park_timeout(Duration::from_millis(50));
            }
        })
        .ok();
    Watch(handle.map(|h| (done, h)))
}

/// Stops watching when dropped.
pub struct Watch(Option<(Arc<AtomicBool>, JoinHandle<()>)>);

impl Watch {
    /// Ends the watch over a statement's `result`: a query that failed because a cancel
    /// stopped it is [`BackendError::Cancelled`](super::BackendError::Cancelled).
    pub fn finish<T>(
        self,
        result: Result<T, super::BackendError>,
    ) -> Result<T, super::BackendError> {
        drop(self);
        match result {
            Err(super::BackendError::Query(_)) if requested() => {
                Err(super::BackendError::Cancelled)
            }
            other => other,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((done, handle)) = self.0.take() {
            done.store(true, Ordering::Relaxed);
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}
