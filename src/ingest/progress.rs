//! A one-line progress display on stderr (`\r  scan  12345 rows  3.2 MB/s`), redrawn by a
//! thread of its own at most ten times a second, and only when stderr is a terminal:
//! nothing at all on a pipe or a file. Readers only bump two counters.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Counters {
    counter: Counter,
    phase: AtomicU8,
    stop: AtomicBool,
}

/// What readers count: a cheap handle, cloned into every reader.
#[derive(Clone, Default)]
pub(crate) struct Counter {
    rows: Arc<AtomicU64>,
    /// Bytes read from disk (compressed bytes for gzip input).
    bytes: Arc<AtomicU64>,
}

impl Counter {
    pub(crate) fn bytes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes)
    }

    pub(crate) fn add_row(&self) {
        self.rows.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) struct Progress {
    counters: Arc<Counters>,
    printer: Option<JoinHandle<()>>,
}

impl Progress {
    /// Counters only, nothing drawn.
    pub(crate) fn disabled() -> Progress {
        Progress {
            counters: Arc::default(),
            printer: None,
        }
    }

    /// Draws when `wanted` and stderr is a terminal.
    pub(crate) fn start(wanted: bool) -> Progress {
        if !(wanted && std::io::stderr().is_terminal()) {
            return Progress::disabled();
        }
        let counters: Arc<Counters> = Arc::default();
        let shared = Arc::clone(&counters);
        let printer = std::thread::spawn(move || draw_until_stopped(&shared));
        Progress {
            counters,
            printer: Some(printer),
        }
    }

    pub(crate) fn counter(&self) -> Counter {
        self.counters.counter.clone()
    }

    /// From scanning (pass 1) to loading (pass 2): counters start again.
    pub(crate) fn next_phase(&self) {
        self.counters.phase.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops drawing and clears the line.
    pub(crate) fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.counters.stop.store(true, Ordering::Relaxed);
        if let Some(printer) = self.printer.take() {
            printer.thread().unpark();
            let _ = printer.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

fn draw_until_stopped(c: &Counters) {
    let mut phase = c.phase.load(Ordering::Relaxed);
    let mut since = Instant::now();
    let (mut rows0, mut bytes0) = (0, 0);
    let mut stderr = std::io::stderr();
    let mut width = 0;
    while !c.stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(REDRAW);
        if c.stop.load(Ordering::Relaxed) {
            break;
        }
        let now_phase = c.phase.load(Ordering::Relaxed);
        let rows = c.counter.rows.load(Ordering::Relaxed);
        let bytes = c.counter.bytes.load(Ordering::Relaxed);
        if now_phase != phase {
            phase = now_phase;
            since = Instant::now();
            (rows0, bytes0) = (rows, bytes);
        }
        let secs = since.elapsed().as_secs_f64().max(1e-3);
        let rate = (bytes - bytes0) as f64 / secs / 1e6;
        let label = if phase == 0 { "scan" } else { "load" };
        let line = format!("\r  {label}  {} rows  {rate:.1} MB/s", rows - rows0);
        width = width.max(line.len());
        let _ = write!(stderr, "{line:<width$}");
        let _ = stderr.flush();
    }
    if width > 0 {
        let _ = write!(stderr, "\r{:width$}\r", "");
        let _ = stderr.flush();
    }
}
