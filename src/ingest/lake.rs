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
//! All or nothing: the files are written in a staging directory beside the table
//! (`dir/.T.kestrel-<pid>`) and moved in place at the end (`--replace` removes the old
//! table first; `--append` adds files next to the existing ones). Column types follow the
//! ingest schema (integers, floats, booleans, text).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::read::Row;
use super::schema::{ColumnType, Schema};
use super::sqlite::{WriteMode, WriteSummary};
use super::IngestError;
use crate::io::parquet::ParquetSink;
use crate::value::Value;

/// Column names (ASCII case ignored) that hold the event time, in order of preference.
const TIME_COLUMNS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "UtcTime",
    "EventTime",
    "TimeCreated",
];

/// The partition column's name.
pub const DAY_COLUMN: &str = "eventDay";

/// Writes `rows` (shaped by `schema`) as table `table` of the lake at `dir`.
pub fn write_lake<I>(
    dir: &Path,
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    rows: I,
) -> Result<WriteSummary, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    if table.is_empty()
        || table.starts_with('.')
        || table.contains(['/', '\\', '\0'])
        || table.contains(['.', '"', '`', '[', ']'])
    {
        return Err(IngestError::BadOptions(format!(
            "{table:?} cannot be a table of a Parquet lake: use a plain name (letters, digits, `_`, `-`)"
        )));
    }
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
    let target = dir.join(table);
    let exists = target.exists();
    if exists && mode == WriteMode::Create {
        return Err(IngestError::TableExists {
            table: table.to_string(),
        });
    }
    let staging = dir.join(format!(".{table}.kestrel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| IngestError::io(&staging, e))?;
    let result = write_files(&staging, schema, rows).and_then(|rows| {
        move_in(&staging, &target, exists && mode == WriteMode::Replace)?;
        Ok(rows)
    });
    let _ = std::fs::remove_dir_all(&staging);
    let rows = result?;
    Ok(WriteSummary {
        rows,
        columns: schema.columns.len(),
        columns_added: if exists && mode == WriteMode::Append {
            0
        } else {
            schema.columns.len()
        },
    })
}

/// Writes every row into `staging`, a file per day; the number of rows.
fn write_files<I>(staging: &Path, schema: &Schema, rows: I) -> Result<u64, IngestError>
where
    I: IntoIterator<Item = Result<Row, IngestError>>,
{
    let time_column = TIME_COLUMNS.iter().find_map(|t| {
        schema
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(t))
    });
    let columns: Vec<(String, Option<crate::ir::ColumnKind>)> = schema
        .columns
        .iter()
        .map(|c| {
            use crate::ir::ColumnKind as K;
            let kind = match c.ty {
                ColumnType::Integer => K::Integer,
                ColumnType::Real => K::Float,
                ColumnType::Text => K::Text,
                ColumnType::Boolean => K::Boolean,
            };
            (c.name.clone(), Some(kind))
        })
        .collect();
    // A unique file name, so that an append never overwrites a file.
    let stamp = format!(
        "part-{}-{}.parquet",
        crate::time::now_micros(),
        std::process::id()
    );
    let mut sinks: BTreeMap<String, ParquetSink> = BTreeMap::new();
    let mut full = vec![Value::Null; schema.columns.len()];
    let mut count = 0u64;
    for row in rows {
        let row = row?;
        full.iter_mut().for_each(|v| *v = Value::Null);
        for (&c, v) in row.columns.iter().zip(row.values) {
            if let Some(slot) = full.get_mut(c) {
                *slot = v;
            }
        }
        let day = match time_column {
            Some(t) => format!("{DAY_COLUMN}={}", day_of(&full[t])),
            None => String::new(),
        };
        if !sinks.contains_key(&day) {
            let d = staging.join(&day);
            std::fs::create_dir_all(&d).map_err(|e| IngestError::io(&d, e))?;
            let mut sink =
                ParquetSink::create(&d.join(&stamp)).map_err(|e| IngestError::Internal(e.0))?;
            sink.set_typed_columns(&columns);
            // OCSF's shape, as Security Lake writes it: `actor.process.name` is a
            // field of struct column `actor`.
            sink.set_nested(true);
            sinks.insert(day.clone(), sink);
        }
        if let Some(sink) = sinks.get_mut(&day) {
            sink.push(&full)
                .map_err(|e| IngestError::BadOptions(format!("writing Parquet: {}", e.0)))?;
        }
        count += 1;
    }
    for (_, sink) in sinks {
        sink.finish()
            .map_err(|e| IngestError::BadOptions(format!("writing Parquet: {}", e.0)))?;
    }
    Ok(count)
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
