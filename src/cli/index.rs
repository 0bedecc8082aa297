//! `kestrel index URL --table T [--mapping M] [--dry-run]` (and the last step of `kestrel
//! ingest`): the indexes hunts need, from the table's mapping (see `ingest::index`).

use std::process::ExitCode;

use crate::backend::{self, OpenOptions};
use crate::config::redact_url;
use crate::ingest::index;
use crate::model::Mapping;

pub(super) fn index(
    url: &str,
    table: &str,
    mapping: &str,
    timestamp: Option<&str>,
    dry_run: bool,
) -> ExitCode {
    let mapping = match Mapping::load(mapping) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let model = match crate::model() {
        Ok(m) => m,
        Err(d) => {
            eprintln!("error: {}", d.message);
            return ExitCode::from(1);
        }
    };
    let opts = OpenOptions {
        allow_write: !dry_run,
        ..OpenOptions::default()
    };
    let mut backend = match backend::open(url, &opts) {
        Ok(b) => b,
        Err(backend::BackendError::Scheme(u)) => {
            eprintln!("error: unsupported connection URL `{u}`");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {}", redact_url(&e.to_string()));
            return ExitCode::from(1);
        }
    };
    match index::create(backend.as_mut(), table, &mapping, model, timestamp, dry_run) {
        Ok(report) if dry_run => {
            for d in &report.created {
                println!("{};", d.sql);
            }
            ExitCode::SUCCESS
        }
        Ok(report) => {
            let cols: Vec<&str> = report.created.iter().map(|d| d.column.as_str()).collect();
            eprintln!(
                "indexed {} column{} of {table} for mapping {}: {}",
                cols.len(),
                if cols.len() == 1 { "" } else { "s" },
                mapping.name,
                cols.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: indexing `{table}` failed: {}",
                redact_url(&e.to_string())
            );
            ExitCode::from(1)
        }
    }
}
