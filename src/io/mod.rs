//! Files a hunt reads and writes: `LOAD path` and `SAVE v TO path`.
//!
//! In: a path whose extension names the layout — `.csv`, `.json` (a JSON array of objects,
//! or JSON lines), `.jsonl`/`.ndjson`, each optionally `.gz` for LOAD. Out: for LOAD, column
//! names and rows of literals (nested objects flattened to dotted names, types inferred
//! as `kestrel ingest` infers them); for SAVE, the [`Format`] a file is written in.
//! `.parquet` (and `.parquet.gz`) files are read and written through [`parquet`].

pub mod parquet;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::ingest::{self, InputFormat, ReadOptions};
use crate::ir::Literal;
use crate::output::Format;

/// A table read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Literal>>,
}

/// Why a file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A Parquet path where a text layout was asked for (SAVE writes Parquet itself).
    #[error("`{0}` is a Parquet file, not a text layout")]
    Parquet(String),
    #[error("cannot tell the layout of `{0}` from its name")]
    UnknownLayout(String),
    #[error("{0}")]
    Read(String),
}

/// Whether a path names a Parquet file (`.parquet`, `.parquet.gz`).
/// `lake/table/`: a table of a Parquet lake (a directory per event day), as SAVE's target.
pub fn is_lake_table(path: &str) -> bool {
    path.ends_with('/') && !path.trim_end_matches('/').is_empty()
}

pub fn is_parquet(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".parquet") || lower.ends_with(".parquet.gz")
}

fn load_parquet(path: &Path) -> Result<Table, FileError> {
    let mut table = Table {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    parquet::read(path, |chunk| {
        match chunk {
            parquet::Chunk::Columns(c) => table.columns = c.to_vec(),
            parquet::Chunk::Rows(rows) => table.rows.extend(
                rows.into_iter()
                    .map(|r| r.into_iter().map(Literal::from).collect()),
            ),
        }
        Ok(())
    })
    .map_err(|e| FileError::Read(e.to_string()))?;
    Ok(table)
}

/// The layout a SAVE writes, from the file name.
pub fn save_format(path: &str) -> Result<Format, FileError> {
    let lower = path.to_ascii_lowercase();
    if is_parquet(path) {
        return Err(FileError::Parquet(path.to_string()));
    }
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "csv" => Ok(Format::Csv),
        "json" => Ok(Format::Json),
        "jsonl" | "ndjson" => Ok(Format::Jsonl),
        _ => Err(FileError::UnknownLayout(path.to_string())),
    }
}

/// Reads a CSV or JSON file into rows.
pub fn load(path: &str) -> Result<Table, FileError> {
    if is_parquet(path) {
        return load_parquet(Path::new(path));
    }
    let p = PathBuf::from(path);
    let format = InputFormat::from_path(&p).ok_or(FileError::UnknownLayout(path.to_string()))?;
    if format == InputFormat::Jsonl && starts_with_array(&p)? {
        return load_json_array(&p);
    }
    let scan = ingest::scan(
        std::slice::from_ref(&p),
        &ReadOptions {
            format: Some(format),
            fold_case: false,
        },
    )
    .map_err(|e| FileError::Read(e.to_string()))?;
    if let Some(r) = scan.rejects.first() {
        return Err(FileError::Read(format!(
            "{r}{}",
            if scan.rows_rejected > 1 {
                format!(" (and {} more bad records)", scan.rows_rejected - 1)
            } else {
                String::new()
            }
        )));
    }
    let columns: Vec<String> = scan.schema.columns.iter().map(|c| c.name.clone()).collect();
    let mut rows = Vec::new();
    for row in scan.rows() {
        let row = row.map_err(|e| FileError::Read(e.to_string()))?;
        let mut out = vec![Literal::Null; columns.len()];
        for (i, v) in row.columns.iter().zip(row.values) {
            if let Some(slot) = out.get_mut(*i) {
                *slot = Literal::from(v);
            }
        }
        rows.push(out);
    }
    Ok(Table { columns, rows })
}

/// Whether a (possibly gzipped) file's first non-blank byte opens a JSON array.
fn starts_with_array(path: &Path) -> Result<bool, FileError> {
    let mut text = Vec::new();
    open(path)?
        .take(4096)
        .read_to_end(&mut text)
        .map_err(|e| FileError::Read(format!("{}: {e}", path.display())))?;
    Ok(text
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'['))
}

fn open(path: &Path) -> Result<Box<dyn Read>, FileError> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| FileError::Read(format!("{}: {e}", path.display())))?;
    let mut magic = [0u8; 2];
    let n = file
        .read(&mut magic)
        .map_err(|e| FileError::Read(format!("{}: {e}", path.display())))?;
    let file = std::fs::File::open(path)
        .map_err(|e| FileError::Read(format!("{}: {e}", path.display())))?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(std::io::BufReader::new(file))
    })
}

/// `[ {…}, {…} ]`: what `SAVE v TO x.json` writes.
fn load_json_array(path: &Path) -> Result<Table, FileError> {
    let value: serde_json::Value = serde_json::from_reader(open(path)?)
        .map_err(|e| FileError::Read(format!("{}: {e}", path.display())))?;
    let serde_json::Value::Array(items) = value else {
        return Err(FileError::Read(format!(
            "{}: expected an array of objects",
            path.display()
        )));
    };
    let mut columns: Vec<String> = Vec::new();
    let mut flat_rows = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let serde_json::Value::Object(members) = item else {
            return Err(FileError::Read(format!(
                "{}: element {} is not an object",
                path.display(),
                i + 1
            )));
        };
        let mut flat = Vec::new();
        flatten(members, "", &mut flat);
        for (k, _) in &flat {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
        flat_rows.push(flat);
    }
    let rows = flat_rows
        .into_iter()
        .map(|flat| {
            let mut row = vec![Literal::Null; columns.len()];
            for (k, v) in flat {
                if let Some(i) = columns.iter().position(|c| *c == k) {
                    row[i] = v;
                }
            }
            row
        })
        .collect();
    Ok(Table { columns, rows })
}

fn flatten(
    members: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    out: &mut Vec<(String, Literal)>,
) {
    for (k, v) in members {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let lit = match v {
            serde_json::Value::Object(inner) => {
                flatten(inner, &key, out);
                continue;
            }
            serde_json::Value::Null => Literal::Null,
            serde_json::Value::Bool(b) => Literal::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Literal::Int(i),
                None => Literal::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Literal::Str(s.clone()),
            serde_json::Value::Array(_) => Literal::Str(v.to_string()),
        };
        out.push((key, lit));
    }
}

/// A temporary file beside `path`: written first, renamed over `path` when complete.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kestrel".to_string());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(save_format("a/b.csv").unwrap(), Format::Csv);
        assert_eq!(save_format("x.JSON").unwrap(), Format::Json);
        assert_eq!(save_format("x.ndjson").unwrap(), Format::Jsonl);
        assert!(matches!(
            save_format("x.parquet"),
            Err(FileError::Parquet(_))
        ));
        assert!(is_parquet("a/B.PARQUET.gz") && !is_parquet("a.csv"));
        assert!(matches!(
            save_format("x.txt"),
            Err(FileError::UnknownLayout(_))
        ));
    }

    #[test]
    fn json_array_flattens_nested_objects() {
        let dir = std::env::temp_dir().join(format!("kestrel-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        std::fs::write(
            &p,
            r#"[{"name": "a", "parent": {"pid": 4}}, {"name": "b", "x": [1]}]"#,
        )
        .unwrap();
        let t = load(p.to_str().unwrap()).unwrap();
        assert_eq!(t.columns, ["name", "parent.pid", "x"]);
        assert_eq!(
            t.rows[1],
            [
                Literal::Str("b".into()),
                Literal::Null,
                Literal::Str("[1]".into())
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
