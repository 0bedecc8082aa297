//! Running a whole hunt: one [`Session`] for the run, each output printed as it
//! completes, then the summary of the variables.
//!
//! In: a hunt, the configuration, a [`Printer`]. Out: printed results and the summary rows,
//! or the first [`Diagnostic`] (a hunt error or a data source failure, both exit 1).

use std::io::Write;
use std::time::Instant;

use crate::config::Config;
use crate::diag::{Code, Diagnostic};
use crate::output::{Printer, SummaryRow};
use crate::session::{Session, SessionOptions};
use crate::source::SourceFile;

/// Settings for one run.
pub struct RunOptions {
    /// Print the summary block (after the results, to `summary_out`).
    pub summary: bool,
}

/// Runs a hunt, printing each output as it completes. Returns the summary rows (none when
/// `opts.summary` is false: counting is skipped).
pub fn run_hunt<W: Write>(
    src: &SourceFile,
    config: Option<&Config>,
    printer: &mut Printer<W>,
    summary_out: &mut dyn Write,
    opts: &RunOptions,
) -> Result<Vec<SummaryRow>, Diagnostic> {
    run_hunt_with(
        src,
        config,
        printer,
        summary_out,
        SessionOptions {
            summary: opts.summary,
            ..SessionOptions::default()
        },
    )
}

/// [`run_hunt`] with the session's options spelt out (`store: false` runs every
/// statement's chain from the data sources, for comparison).
pub fn run_hunt_with<W: Write>(
    src: &SourceFile,
    config: Option<&Config>,
    printer: &mut Printer<W>,
    summary_out: &mut dyn Write,
    opts: SessionOptions,
) -> Result<Vec<SummaryRow>, Diagnostic> {
    let started = Instant::now();
    let mut session = Session::new(config, opts);
    session.run_whole_hunt(src, printer)?;
    if !opts.summary {
        return Ok(Vec::new());
    }
    let rows = session.summary()?;
    crate::output::write_summary(&mut &mut *summary_out, &rows, started.elapsed())
        .map_err(|e| Diagnostic::error(Code::Internal, format!("cannot write the summary: {e}")))?;
    Ok(rows)
}
