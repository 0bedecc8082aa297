//! A spinner on a terminal while a query runs: what runs, for how long, rows so far.
//!
//! It draws on standard error, only when that is a terminal, only after a short delay (a
//! quick statement shows nothing), and never while results are being written to the same
//! terminal: [`Spinner::pause`] clears it for good before the first row is printed there.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Nothing is drawn for statements quicker than this.
const DELAY: Duration = Duration::from_millis(400);
const TICK: Duration = Duration::from_millis(100);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Set once by the command line: standard error is a terminal (spinners may draw), and
/// standard output is one too (spinners must stop before results are printed).
static ENABLED: AtomicBool = AtomicBool::new(false);
static SHARED_TERMINAL: AtomicBool = AtomicBool::new(false);

/// Turns spinners on for this process (off by default, as in tests and on pipes).
pub fn enable(stderr_is_terminal: bool, stdout_is_terminal: bool) {
    ENABLED.store(stderr_is_terminal, Ordering::Relaxed);
    SHARED_TERMINAL.store(stdout_is_terminal, Ordering::Relaxed);
}

/// Whether results printed to standard output share the spinner's terminal.
pub fn shares_terminal() -> bool {
    SHARED_TERMINAL.load(Ordering::Relaxed)
}

/// Whether spinners draw in this process.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A running spinner; dropping it stops and clears it.
pub struct Spinner {
    shared: Option<Arc<Shared>>,
    handle: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    rows: AtomicU64,
    /// Whether the line may be drawn; whether something is drawn now.
    state: Mutex<(bool, bool)>,
}

impl Spinner {
    /// Starts a spinner labelled `label` (`DISP procs`), or a silent one when `enabled`
    /// is false (standard error is not a terminal).
    pub fn start(label: &str, enabled: bool) -> Spinner {
        if !enabled {
            return Spinner {
                shared: None,
                handle: None,
            };
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            rows: AtomicU64::new(0),
            state: Mutex::new((true, false)),
        });
        let label: String = label.chars().take(60).collect();
        let s = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name("kestrel-progress".into())
            .spawn(move || draw_loop(&s, &label))
            .ok();
        Spinner {
            shared: Some(shared),
            handle,
        }
    }

    /// Counts one more row received.
    pub fn row(&self) {
        if let Some(s) = &self.shared {
            s.rows.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Clears the line and draws no more (results are about to share the terminal).
    pub fn pause(&self) {
        if let Some(s) = &self.shared {
            if let Ok(mut st) = s.state.lock() {
                if st.1 {
                    clear();
                }
                *st = (false, false);
            }
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(s) = &self.shared {
            s.stop.store(true, Ordering::Relaxed);
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn draw_loop(s: &Shared, label: &str) {
    let started = Instant::now();
    let mut frame = 0;
    while !s.stop.load(Ordering::Relaxed) {
        thread::sleep(TICK);
        if started.elapsed() < DELAY || s.stop.load(Ordering::Relaxed) {
            continue;
        }
        let Ok(mut st) = s.state.lock() else { return };
        if !st.0 {
            continue;
        }
        let rows = s.rows.load(Ordering::Relaxed);
        let line = format!(
            "{} {label}  {:.1} s  {} row{}",
            FRAMES[frame % FRAMES.len()],
            started.elapsed().as_secs_f64(),
            rows,
            if rows == 1 { "" } else { "s" }
        );
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        st.1 = true;
        frame += 1;
    }
    if let Ok(st) = s.state.lock() {
        if st.1 {
            clear();
        }
    }
}

fn clear() {
    let mut err = io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_spinner_starts_no_thread_and_counts_nothing() {
        let s = Spinner::start("DISP x", false);
        s.row();
        s.pause();
        assert!(s.handle.is_none() && s.shared.is_none());
    }

    #[test]
    fn an_enabled_spinner_counts_rows_and_stops_when_dropped() {
        let s = Spinner::start("DISP x", true);
        for _ in 0..3 {
            s.row();
        }
        let shared = Arc::clone(s.shared.as_ref().expect("enabled"));
        assert_eq!(shared.rows.load(Ordering::Relaxed), 3);
        s.pause();
        assert_eq!(*shared.state.lock().expect("lock"), (false, false));
        drop(s);
        assert!(shared.stop.load(Ordering::Relaxed));
    }
}
