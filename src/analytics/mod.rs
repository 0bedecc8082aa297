//! Analytics: programs outside kestrel that an `APPLY` hands variables to.
//!
//! In: a [`Job`] — one Parquet file per ON variable (`<dir>/input/0.parquet.gz`, `1…`),
//! the WITH parameters as strings, a time limit. Out: an [`Outcome`] — per input, the
//! Parquet file the analytic wrote in its place (or none: that variable is unchanged),
//! and at most one [`Display`]. The interfaces know files and processes, never the
//! language: one module per scheme behind one trait, as the original's
//! `kestrel_analytics_python` and `kestrel_analytics_docker` are.
//!
//! - `python://NAME` ([`python`]): a profile names a module file and a function; it runs
//!   in a Python subprocess that reads and writes the Parquet files with pandas.
//! - `docker://NAME` ([`docker`]): the image `kestrel-analytics-NAME`, the job directory
//!   mounted at `/data`, parameters as environment variables.

pub mod docker;
pub mod python;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::AnalyticsConfig;

/// One run of an analytic.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's directory: `input/`, `output/` and `display/` under it.
    pub dir: PathBuf,
    /// The input files, one per ON variable, in order.
    pub inputs: Vec<PathBuf>,
    /// WITH parameters, as written and in order, values already strings.
    pub params: Vec<(String, String)>,
    /// How long it may run.
    pub timeout: Option<Duration>,
}

impl Job {
    /// A job directory with `input/`, `output/` and `display/` made.
    pub fn create(dir: PathBuf, n_inputs: usize) -> std::io::Result<Job> {
        for sub in ["input", "output", "display"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let inputs = (0..n_inputs)
            .map(|i| dir.join("input").join(format!("{i}.parquet.gz")))
            .collect();
        Ok(Job {
            dir,
            inputs,
            params: Vec::new(),
            timeout: None,
        })
    }

    /// Where the analytic writes the rows replacing input `i`.
    pub fn output(&self, i: usize) -> PathBuf {
        self.dir.join("output").join(format!("{i}.parquet.gz"))
    }

    pub fn display_dir(&self) -> PathBuf {
        self.dir.join("display")
    }
}

/// A display an analytic returned (a plot, an HTML table, a map).
#[derive(Debug, Clone, PartialEq)]
pub struct Display {
    /// `text/html`, `image/svg+xml`, `image/png`, …
    pub mime: String,
    pub data: Vec<u8>,
}

impl Display {
    /// A display file by its extension.
    pub fn from_file(path: &Path) -> std::io::Result<Display> {
        let data = std::fs::read(path)?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mime = match ext.as_str() {
            "html" | "htm" => "text/html",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "json" => "application/json",
            _ => "text/plain",
        };
        Ok(Display {
            mime: mime.to_string(),
            data,
        })
    }

    /// The usual file extension of its type.
    pub fn extension(&self) -> &'static str {
        match self.mime.as_str() {
            "text/html" => "html",
            "image/svg+xml" => "svg",
            "image/png" => "png",
            "image/jpeg" => "jpg",
            "application/json" => "json",
            _ => "txt",
        }
    }
}

/// What an analytic gave back.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Per input: the file replacing its rows, or None (unchanged).
    pub outputs: Vec<Option<PathBuf>>,
    pub display: Option<Display>,
}

/// Why an analytic did not run to completion.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// No profile or image of that name.
    #[error("{message}")]
    NotFound { message: String, help: String },
    /// The analytic's module does not import.
    #[error("the analytic cannot be loaded: {message}")]
    Import {
        message: String,
        package: Option<String>,
    },
    /// The analytic raised an exception or exited with an error.
    #[error("the analytic failed: {message}")]
    Failed { message: String, details: String },
    /// It returned something kestrel cannot use.
    #[error("the analytic returned {0}")]
    WrongReturn(String),
    /// The interface itself cannot run (no interpreter, no docker daemon).
    #[error("{message}")]
    Unavailable { message: String, help: String },
    #[error("the analytic ran longer than `analytics_timeout` ({0} s) and was stopped")]
    Timeout(u64),
    #[error("the analytic was interrupted")]
    Cancelled,
    #[error("{0}")]
    Io(String),
}

/// One scheme's interface.
pub trait Interface {
    /// Runs analytic `name` on `job`'s inputs.
    fn run(&mut self, name: &str, job: &Job) -> Result<Outcome, AnalyticsError>;
    /// The analytics this interface can run (for completion and `kestrel analytics list`).
    fn list(&mut self) -> Result<Vec<String>, AnalyticsError>;
}

/// The interface for a scheme, or None when no interface has that scheme.
pub fn interface(
    scheme: &str,
    config: &AnalyticsConfig,
    config_dir: Option<&Path>,
) -> Option<Box<dyn Interface>> {
    match scheme {
        "python" => Some(Box::new(python::Python::new(config, config_dir))),
        "docker" => Some(Box::new(docker::Docker::from_env())),
        _ => None,
    }
}

/// Every analytic the configuration reaches, as `APPLY` takes it (`python://NAME`,
/// `docker://NAME`), and per scheme that cannot be listed, why (`kestrel analytics
/// list` and completion after `APPLY` both show this).
pub fn list_all(config: Option<&crate::config::Config>) -> (Vec<String>, Vec<(String, String)>) {
    let settings = config.map(|c| c.analytics.clone()).unwrap_or_default();
    let dir = config
        .and_then(|c| c.path.as_deref())
        .and_then(Path::parent);
    let (mut names, mut failures) = (Vec::new(), Vec::new());
    for scheme in SCHEMES {
        let Some(mut iface) = interface(scheme, &settings, dir) else {
            continue;
        };
        match iface.list() {
            Ok(found) => names.extend(found.into_iter().map(|n| format!("{scheme}://{n}"))),
            Err(e) => failures.push((scheme.to_string(), e.to_string())),
        }
    }
    (names, failures)
}

/// The schemes there are interfaces for.
pub const SCHEMES: &[&str] = &["python", "docker"];

/// Splits `scheme://name` (the default scheme when none is written).
pub fn split_uri<'a>(uri: &'a str, default_scheme: &'a str) -> (&'a str, &'a str) {
    match uri.split_once("://") {
        Some((s, n)) => (s, n),
        None => (default_scheme, uri),
    }
}

/// Waits for a check to say "done", stopping early on Ctrl-C or when `timeout` passes.
/// `poll` returns Some when finished; `stop` is called before giving up.
pub(crate) fn wait<T>(
    timeout: Option<Duration>,
    mut poll: impl FnMut() -> Result<Option<T>, AnalyticsError>,
    mut stop: impl FnMut(),
) -> Result<T, AnalyticsError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(t) = poll()? {
            return Ok(t);
        }
        if crate::backend::cancel::requested() {
            stop();
            return Err(AnalyticsError::Cancelled);
        }
        if let Some(limit) = timeout {
            if started.elapsed() >= limit {
                stop();
                return Err(AnalyticsError::Timeout(limit.as_secs()));
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
