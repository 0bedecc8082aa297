//! Ingest: JSON-lines / CSV log files in, one SQL table out (`kestrel ingest`).
//!
//! ```text
//! files ──input (gzip by magic bytes)──▶ lines / CSV records ──flatten──▶ (column, leaf) fields
//!   pass 1: scan   fields ──▶ Schema (columns in first-seen order, inferred types) + rejects
//!   pass 2: rows   fields ──▶ Row stream (values converted to the column types)
//!   Row stream ──writer (sqlite | postgres | mysql | Parquet lake; all or nothing)──▶ table
//! ```
//!
//! The reader half ([`scan`], [`Scan::rows`], [`read_records`]) knows nothing about any
//! database; the writer ([`write()`], `write.rs`) takes a [`Schema`] and a row stream and
//! holds the algorithm once (create, replace or append; add columns; insert every row; all
//! or nothing), with one small `Store` per target for what really differs (`sqlite.rs`,
//! `postgres.rs`, `mysql.rs`, `lake.rs`). What a load does to the table (which columns to
//! add; the name each input column is written under, matched whatever its case) is
//! decided in `plan.rs`, for every target alike. Ctrl-C (see `cli/interrupt.rs`) stops
//! the scan, or the writer between two rows, with [`IngestError::Cancelled`], and the
//! writer rolls back.
//!
//! Why two passes over the files rather than a spool: a column's type is known only after
//! its last value, and the files are already on disk, so reading them again costs CPU
//! (decompress and parse again) but no memory and no temporary disk space. The first pass
//! parses without building any JSON tree (it only looks at keys and value kinds) and runs
//! one thread per file, so it is the cheaper of the two; the second pass reads and parses
//! on one thread while the writer inserts on another. Both passes see the same records:
//! the second pass checks every file yields exactly the records the first pass counted
//! and no column the first pass did not see, and fails (rolling everything back) if a
//! file changed in between. Input must therefore be re-readable files, not pipes.
//!
//! Names and types: nested objects flatten to dotted names (`process.pid`), arrays stay
//! JSON text, and column types are inferred from every value (see [`ColumnType`]). For a
//! target whose identifiers ignore case (SQLite) `ProcessId` and `ProcessID` are one
//! column, named by the spelling most records use. On the 17 OTRF files (38,304 events,
//! 122 MB of JSON) a release build loads everything in about 1.1–1.7 s on two shared
//! cores; most of it is SQLite writing the 120 MB table.
//!
//! ```no_run
//! # fn main() -> Result<(), kestrel::ingest::IngestError> {
//! use kestrel::ingest::{ingest, IngestOptions};
//! let report = ingest(&IngestOptions {
//!     files: vec!["examples/data/psh_lsass_memory_dump_comsvcs.jsonl.gz".into()],
//!     into: "sqlite:///lake.db".into(),
//!     table: "events".into(),
//!     ..Default::default()
//! })?;
//! println!("{report}"); // loaded 184 rows (88 columns) into events; rejected 0
//! # Ok(())
//! # }
//! ```

mod csv;
pub mod index;
mod input;
mod json;
mod keys;
mod lake;
mod mysql;
mod parquet;
mod plan;
mod postgres;
mod progress;
mod read;
mod schema;
mod sqlite;
mod target;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use read::{read_records, scan, FileScan, Item, ReadOptions, Record, Records, Row, Rows, Scan};
pub use schema::{Column, ColumnType, Schema};
pub use target::Target;
pub use write::{write, WriteMode, WriteSummary};

/// How many rejected lines a report keeps (the count is always complete).
pub const MAX_REJECTS_KEPT: usize = 20;

/// The layout of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`).
    #[value(alias = "json", alias = "ndjson")]
    Jsonl,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
}

impl InputFormat {
    /// The format a file name implies: `.jsonl`, `.json`, `.ndjson` or `.csv`, optionally
    /// followed by `.gz` (compression itself is detected from the content, not the name).
    pub fn from_path(path: &Path) -> Option<InputFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let (_, ext) = name.rsplit_once('.')?;
        match ext {
            // Parquet is read as JSON lines (see `parquet.rs`).
            "jsonl" | "json" | "ndjson" | "parquet" => Some(InputFormat::Jsonl),
            "csv" => Some(InputFormat::Csv),
            _ => None,
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFormat::Jsonl => "jsonl",
            InputFormat::Csv => "csv",
        })
    }
}

/// What `kestrel ingest` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Input files, loaded in this order (row order follows).
    pub files: Vec<PathBuf>,
    /// Target database URL, e.g. `sqlite:///lake.db`, `sqlite:////var/hunt/lake.db`,
    /// `postgresql://user@host/db`, `mysql://user@host/db`.
    pub into: String,
    /// Table to create (or replace, or append to).
    pub table: String,
    /// Input format for every file; `None`: from each file's name.
    pub format: Option<InputFormat>,
    /// Drop an existing table of that name and create it anew (in the same transaction).
    pub replace: bool,
    /// Add rows to an existing table, adding any new columns.
    pub append: bool,
    /// Show a progress line on stderr (only ever when stderr is a terminal).
    pub progress: bool,
}

/// A line (or CSV record) that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub file: PathBuf,
    /// 1-based line number (for a CSV record spanning lines: where it starts).
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// What an ingest did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub table: String,
    /// The database written to (the URL as given, any password masked).
    pub target: String,
    pub mode: WriteMode,
    pub files: usize,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// The first [`MAX_REJECTS_KEPT`] rejected lines, in input order.
    pub rejects: Vec<Reject>,
    /// Columns the table has now.
    pub columns: usize,
    /// Columns this load created (all of them for a new table; the new ones on append).
    pub columns_added: usize,
    /// The columns and types inferred from the input.
    pub schema: Schema,
    pub elapsed: Duration,
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.mode {
            WriteMode::Append => "appended",
            WriteMode::Create | WriteMode::Replace => "loaded",
        };
        write!(
            f,
            "{verb} {} rows ({} columns) into {}; rejected {}",
            self.rows_loaded, self.columns, self.table, self.rows_rejected
        )?;
        if self.mode == WriteMode::Append && self.columns_added > 0 {
            write!(f, "; added {} columns", self.columns_added)?;
        }
        for r in &self.rejects {
            write!(f, "\n  {r}")?;
        }
        let unlisted = self.rows_rejected.saturating_sub(self.rejects.len() as u64);
        if unlisted > 0 {
            write!(f, "\n  … and {unlisted} more rejected")?;
        }
        Ok(())
    }
}

/// Everything that stops an ingest. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad database URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{0}")]
    BadOptions(String),
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Ctrl-C: the load was rolled back.
    #[error("interrupted (Ctrl-C): the load was rolled back, nothing was written")]
    Cancelled,
    #[error("cannot tell the format of {}: name it .jsonl, .json, .ndjson or .csv (optionally .gz), or pass --format", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{}: bad CSV header: {reason}", path.display())]
    BadHeader { path: PathBuf, reason: String },
    #[error("{}: changed while it was being loaded ({what}); nothing was written", path.display())]
    InputChanged { path: PathBuf, what: String },
    #[error(
        "table `{table}` already exists; use --replace to overwrite it or --append to add rows"
    )]
    TableExists { table: String },
    #[error("the input has {count} columns, more than {backend} allows in one table ({limit})")]
    TooManyColumns {
        count: usize,
        limit: usize,
        backend: &'static str,
    },
    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{context}: {message}")]
    Server { context: String, message: String },
    #[error("internal error, please report: {0}")]
    Internal(String),
}

impl IngestError {
    /// Whether the command line itself was wrong (the exit status is then 2): options
    /// that cannot go together or are missing, a URL that is not one, an input whose
    /// format cannot be told.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            IngestError::Usage(_) | IngestError::BadUrl { .. } | IngestError::UnknownFormat { .. }
        )
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> IngestError {
        IngestError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Loads `opts.files` into `opts.table` of the database `opts.into`, all or nothing.
pub fn ingest(opts: &IngestOptions) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let mode = match (opts.replace, opts.append) {
        (true, true) => {
            return Err(IngestError::Usage(
                "--replace and --append cannot be used together".into(),
            ))
        }
        (true, false) => WriteMode::Replace,
        (false, true) => WriteMode::Append,
        (false, false) => WriteMode::Create,
    };
    if opts.files.is_empty() {
        return Err(IngestError::Usage("no input files given".into()));
    }
    let target = Target::parse(&opts.into)?;
    target.check_table(&opts.table)?;
    let read_opts = ReadOptions {
        format: opts.format,
        fold_case: target.folds_identifier_case(),
    };

    let progress = progress::Progress::start(opts.progress);
    let scanned = read::scan_counted(&opts.files, &read_opts, &progress.counter())?;
    if crate::backend::cancel::requested() {
        return Err(IngestError::Cancelled);
    }
    progress.next_phase();

    let summary = pipeline(&scanned, &progress, |rows| {
        write(&target, &opts.table, &scanned.schema, mode, rows)
    })?;
    progress.finish();

    Ok(IngestReport {
        table: opts.table.clone(),
        target: target::redact(&opts.into),
        mode,
        files: opts.files.len(),
        rows_loaded: summary.rows,
        rows_rejected: scanned.rows_rejected,
        rejects: scanned.rejects,
        columns: summary.columns,
        columns_added: summary.columns_added,
        schema: scanned.schema,
        elapsed: started.elapsed(),
    })
}

/// Runs pass 2 on its own thread and hands its rows to `write` on this one, so parsing and
/// inserting overlap. A writer that stops early drops the receiver, which stops the reader.
fn pipeline<W>(
    scanned: &Scan,
    progress: &progress::Progress,
    write: W,
) -> Result<WriteSummary, IngestError>
where
    W: FnOnce(
        &mut dyn Iterator<Item = Result<Row, IngestError>>,
    ) -> Result<WriteSummary, IngestError>,
{
    const BATCH: usize = 512;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Row>, IngestError>>(8);
        s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for row in scanned.rows_counted(progress.counter()) {
                match row {
                    Ok(row) => {
                        batch.push(row);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            if tx.send(Ok(full)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(Ok(batch));
            }
        });
        write(&mut Unbatch {
            batches: rx.into_iter(),
            current: Vec::new().into_iter(),
            progress: progress.counter(),
        })
    })
}

/// The rows of a stream of batches, one at a time, counted as the writer takes them.
struct Unbatch<B> {
    batches: B,
    current: std::vec::IntoIter<Row>,
    progress: progress::Counter,
}

impl<B: Iterator<Item = Result<Vec<Row>, IngestError>>> Iterator for Unbatch<B> {
    type Item = Result<Row, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.current.next() {
                self.progress.add_row();
                return Some(Ok(row));
            }
            match self.batches.next()? {
                Ok(batch) => self.current = batch.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
