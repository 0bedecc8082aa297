//! Ctrl-C while a hunt runs: the first stops the running statement on its database (see
//! `backend::cancel`) and the command exits with 130 once the backend has let go; a
//! second Ctrl-C exits at once, also with 130.
//!
//! In: SIGINT. Out: [`crate::backend::cancel::request`]; [`exit_code`] for the command.

use std::process::ExitCode;

/// The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Installs the handler (Unix; elsewhere Ctrl-C keeps its default, immediate exit).
pub fn install() {
    #[cfg(unix)]
    unix::install();
}

/// Installs the handler for an interactive session (the REPL, a notebook kernel): every
/// Ctrl-C (SIGINT) stops the running statement and nothing else; the session goes on and
/// calls [`crate::backend::cancel::clear`] once the statement has stopped.
pub fn install_interactive() {
    #[cfg(unix)]
    unix::install_interactive();
}

/// 130 when a cancel was requested, so a hunt stopped by Ctrl-C says so in its status.
pub fn exit_code() -> Option<ExitCode> {
    crate::backend::cancel::requested().then_some(ExitCode::from(EXIT_INTERRUPTED))
}

#[cfg(unix)]
mod unix {
    use std::sync::atomic::{AtomicBool, Ordering};

    static SEEN: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_sigint(_: libc::c_int) {
        // Only async-signal-safe work here: atomics and _exit.
        if SEEN.swap(true, Ordering::SeqCst) {
            // SAFETY: _exit is async-signal-safe and ends the process.
            unsafe { libc::_exit(super::EXIT_INTERRUPTED as libc::c_int) };
        }
        crate::backend::cancel::request();
    }

    extern "C" fn on_sigint_interactive(_: libc::c_int) {
        crate::backend::cancel::request();
    }

    pub fn install_interactive() {
        let handler: extern "C" fn(libc::c_int) = on_sigint_interactive;
        // SAFETY: installs a handler that only stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        }
        crate::backend::cancel::arm();
    }

    pub fn install() {
        let handler: extern "C" fn(libc::c_int) = on_sigint;
        // SAFETY: installs a handler that only touches atomics and calls _exit.
        unsafe {
            libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        }
        crate::backend::cancel::arm();
    }
}
