//! The Parquet lake writer: `kestrel ingest --into datafusion:///dir --table T` writes the
//! rows as Parquet files under `dir/T/`, one directory per event day, hive style
//! (`dir/T/eventDay=20240708/part-….parquet`), which the DataFusion backend reads back as a
//! table with an `eventDay` text column.
//!
//! The day is the UTC date of the first column named like an event time (`@timestamp`,
//! `timestamp`, `time`, `UtcTime`, `EventTime`, `TimeCreated`; ISO text, or epoch seconds
//! or milliseconds as numbers); a row without one goes to `eventDay=unknown`, and an input
//! with no such column is written unpartitioned (`dir/T/part-….parquet`).
//!
//! The lake's part of the ingest writer (see `write.rs`). All or nothing: the files are
//! written in a staging directory beside the table (`dir/.T.kestrel-<pid>`) and moved in
//! place at the commit (`--replace` removes the old table first; `--append` adds files
//! next to the existing ones); a roll back removes the staging directory. A table's
//! columns are those of its files (struct fields by their dotted paths), so `--append`
//! writes an input column under the spelling the table has, as on every target; a
//! Parquet file carries its own columns, so adding one changes no existing file. Column
//! types follow the ingest schema (integers, floats, booleans, text).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::plan::Limits;
use super::read::Row;
use super::schema::{ColumnType, Schema};
use super::write::{Loader, Store};
use super::IngestError;
use crate::io::parquet::ParquetSink;
use crate::ir::ColumnKind;
use crate::value::Value;

/// Column names (ASCII case ignored) that hold the event time, in order of preference.
const TIME_COLUMNS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "UtcTime",
    "EventTime",
    "TimeCreated",
    "first_observed",
];

/// The partition column's name.
pub const DAY_COLUMN: &str = "eventDay";

/// No limits of its own.
const LIMITS: Limits = Limits {
    max_columns: usize::MAX,
    max_name_bytes: None,
    backend: "a Parquet lake",
};

/// A load into table `T` of the lake at `dir`: the directory `dir/T/`.
pub(crate) struct LakeStore {
    /// `dir/T`.
    target: PathBuf,
    /// `dir/.T.kestrel-<pid>`, where the files are written first.
    staging: PathBuf,
    /// Remove the old table at the commit.
    replacing: bool,
    /// The kinds of the existing files' columns, by lower-case name: an append writes
    /// each in its kind, since DataFusion reads the files as one table only when every
    /// file gives a column the same type.
    existing: std::collections::HashMap<String, ColumnKind>,
}

impl LakeStore {
    /// `table` is a plain name (see `Target::check_table`).
    pub(crate) fn open(dir: &Path, table: &str, schema: &Schema) -> Result<LakeStore, IngestError> {
        if schema
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(DAY_COLUMN))
        {
            return Err(IngestError::BadOptions(format!(
                "the input has a column `{DAY_COLUMN}`, the name of the lake's partition column"
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
        Ok(LakeStore {
            target: dir.join(table),
            staging: dir.join(format!(".{table}.kestrel-{}", std::process::id())),
            replacing: false,
            existing: Default::default(),
        })
    }
}

impl Store for LakeStore {
    fn limits(&self) -> Limits {
        LIMITS
    }

    /// The columns of the table's files, in first-seen order (ASCII case ignored).
    fn existing_columns(&mut self) -> Result<Option<Vec<String>>, IngestError> {
        if !self.target.exists() {
            return Ok(None);
        }
        let mut columns: Vec<String> = Vec::new();
        for file in table_files(&self.target, &self.target)? {
            let rows = crate::io::parquet::Rows::open(&file)
                .map_err(|e| IngestError::BadOptions(format!("reading the table: {}", e.0)))?;
            for (c, kind) in rows.columns.into_iter().zip(rows.kinds) {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    self.existing.entry(c.to_ascii_lowercase())
                {
                    v.insert(kind);
                    columns.push(c);
                }
            }
        }
        Ok(Some(columns))
    }

    fn create_table(
        &mut self,
        _columns: &[(&str, ColumnType)],
        replacing: bool,
    ) -> Result<(), IngestError> {
        self.replacing = replacing;
        Ok(())
    }

    fn add_column(&mut self, _name: &str, _ty: ColumnType) -> Result<(), IngestError> {
        Ok(())
    }

    fn loader<'s>(
        &'s mut self,
        names: &'s [String],
        schema: &'s Schema,
    ) -> Result<Box<dyn Loader + 's>, IngestError> {
        let _ = std::fs::remove_dir_all(&self.staging);
        std::fs::create_dir_all(&self.staging).map_err(|e| IngestError::io(&self.staging, e))?;
        let time_column = TIME_COLUMNS.iter().find_map(|t| {
            schema
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(t))
        });
        let replacing = self.replacing;
        let columns = names
            .iter()
            .zip(&schema.columns)
            .map(|(name, c)| {
                let kind = c.ty.kind();
                let kind = match self.existing.get(&name.to_ascii_lowercase()) {
                    Some(&old) if !replacing => appended_kind(name, old, kind)?,
                    _ => kind,
                };
                Ok((name.clone(), Some(kind)))
            })
            .collect::<Result<_, IngestError>>()?;
        Ok(Box::new(LakeLoader {
            staging: &self.staging,
            columns,
            time_column,
            // A unique file name, so that an append never overwrites a file.
            stamp: format!(
                "part-{}-{}.parquet",
                crate::time::now_micros(),
                std::process::id()
            ),
            sinks: BTreeMap::new(),
            full: vec![Value::Null; schema.columns.len()],
        }))
    }

    fn commit(&mut self) -> Result<(), IngestError> {
        move_in(&self.staging, &self.target, self.replacing)?;
        let _ = std::fs::remove_dir_all(&self.staging);
        Ok(())
    }

    fn roll_back(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

struct LakeLoader<'s> {
    staging: &'s Path,
    columns: Vec<(String, Option<crate::ir::ColumnKind>)>,
    time_column: Option<usize>,
    stamp: String,
    /// A file per day (`eventDay=…`, or `` unpartitioned).
    sinks: BTreeMap<String, ParquetSink>,
    /// The current row, every column.
    full: Vec<Value>,
}

impl Loader for LakeLoader<'_> {
    fn push(&mut self, row: Row) -> Result<(), IngestError> {
        self.full.iter_mut().for_each(|v| *v = Value::Null);
        for (&c, v) in row.columns.iter().zip(row.values) {
            if let Some(slot) = self.full.get_mut(c) {
                *slot = v;
            }
        }
        let day = match self.time_column {
            Some(t) => format!("{DAY_COLUMN}={}", day_of(&self.full[t])),
            None => String::new(),
        };
        if !self.sinks.contains_key(&day) {
            let d = self.staging.join(&day);
            std::fs::create_dir_all(&d).map_err(|e| IngestError::io(&d, e))?;
            let mut sink = ParquetSink::create(&d.join(&self.stamp))
                .map_err(|e| IngestError::Internal(e.0))?;
            sink.set_typed_columns(&self.columns);
            // OCSF's shape, as Security Lake writes it: `actor.process.name` is a
            // field of struct column `actor`.
            sink.set_nested(true);
            sink.set_for_scans(true);
            self.sinks.insert(day.clone(), sink);
        }
        if let Some(sink) = self.sinks.get_mut(&day) {
            sink.push(&self.full)
                .map_err(|e| IngestError::BadOptions(format!("writing Parquet: {}", e.0)))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), IngestError> {
        for (_, sink) in self.sinks {
            sink.finish()
                .map_err(|e| IngestError::BadOptions(format!("writing Parquet: {}", e.0)))?;
        }
        Ok(())
    }
}

/// The kind appended values of column `name` are written in, where the table's files
/// hold `old` and the input `new`: the files' kind when it holds the new values too
/// (integers as numbers, anything as text), else an error: files that disagree on a
/// column's type make a table no engine reads.
fn appended_kind(name: &str, old: ColumnKind, new: ColumnKind) -> Result<ColumnKind, IngestError> {
    use ColumnKind as K;
    match (old, new) {
        _ if old == new => Ok(old),
        (K::Text, _) | (K::Float, K::Integer) | (K::Integer, K::Boolean) => Ok(old),
        _ => {
            let what = |k: ColumnKind| match k {
                K::Integer => "integers",
                K::Float => "numbers",
                K::Boolean => "booleans",
                K::Text | K::Timestamp => "text",
            };
            Err(IngestError::BadOptions(format!(
                "column `{name}`: the table's files hold {} and this input {}; --append \
                 cannot mix them in one column (--replace writes the table anew)",
                what(old),
                what(new)
            )))
        }
    }
}

/// `YYYYMMDD` of an event time (ISO text, or epoch seconds / milliseconds), else
/// `unknown`.
fn day_of(v: &Value) -> String {
    let micros = match v {
        Value::Text(s) => crate::time::parse_iso(s),
        // Past 10^11 an epoch is in milliseconds (10^11 s is the year 5138).
        Value::Int(i) if i.abs() >= 100_000_000_000 => i.checked_mul(1000),
        Value::Int(i) => i.checked_mul(1_000_000),
        Value::Float(f) if f.is_finite() && f.abs() >= 1e11 => Some((f * 1000.0) as i64),
        Value::Float(f) if f.is_finite() => Some((f * 1e6) as i64),
        _ => None,
    };
    micros
        .and_then(|m| crate::time::format_strftime(m, "%Y%m%d").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Moves the staged files into the table's directory (after removing the old table when
/// replacing it).
fn move_in(staging: &Path, target: &Path, replace: bool) -> Result<(), IngestError> {
    if replace {
        std::fs::remove_dir_all(target).map_err(|e| IngestError::io(target, e))?;
    }
    if !target.exists() {
        return std::fs::rename(staging, target).map_err(|e| IngestError::io(target, e));
    }
    // Appending: each staged file into the same place under the table.
    for file in files_under(staging)? {
        let rel = file.strip_prefix(staging).unwrap_or(&file);
        let to = target.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| IngestError::io(parent, e))?;
        }
        std::fs::rename(&file, &to).map_err(|e| IngestError::io(&to, e))?;
    }
    Ok(())
}

/// The Parquet files of the lake table at `table`, checking that it is one: partition
/// directories (`key=value`), Parquet files, and hidden or `_`-prefixed metadata files
/// (Spark's `_SUCCESS`, `.crc`) only. Anything else (a symbolic link, a text file, a
/// directory of another kind) is an error, so that `--replace` or `SAVE … TO 'dir/'`
/// never removes a directory that is not a table.
fn table_files(table: &Path, dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))? {
        let e = e.map_err(|e| IngestError::io(dir, e))?;
        let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
        let kind = e.file_type().map_err(|err| IngestError::io(&path, err))?;
        if kind.is_dir() && name.contains('=') {
            out.extend(table_files(table, &path)?);
        } else if kind.is_file() && name.ends_with(".parquet") {
            out.push(path);
        } else if !(kind.is_file() && (name.starts_with('_') || name.starts_with('.'))) {
            return Err(IngestError::BadOptions(format!(
                "{} exists and is not a table of a Parquet lake (it holds {}); kestrel \
                 writes over lake tables only",
                table.display(),
                path.display()
            )));
        }
    }
    Ok(out)
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))? {
        let p = e.map_err(|e| IngestError::io(dir, e))?.path();
        if p.is_dir() {
            out.extend(files_under(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_day_comes_from_iso_text_or_epoch_numbers() {
        assert_eq!(
            day_of(&Value::Text("2024-07-08T23:59:59.5Z".into())),
            "20240708"
        );
        assert_eq!(
            day_of(&Value::Text("2024-07-08 01:00:00+02:00".into())),
            "20240707"
        );
        assert_eq!(day_of(&Value::Int(1_720_483_200)), "20240709");
        assert_eq!(day_of(&Value::Int(1_720_483_200_000)), "20240709");
        assert_eq!(day_of(&Value::Text("yesterday".into())), "unknown");
        assert_eq!(day_of(&Value::Null), "unknown");
    }
}
