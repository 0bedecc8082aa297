//! JSON row objects, shared by the `json` and `jsonl` formats: column names and a row of
//! values in, one `{"col": value, …}` object out, keys in column order.
//!
//! Values serialise as [`Value::to_json`] does (NULL is `null`, numbers stay numbers, a
//! NaN or infinite float is `null`), but straight from the borrowed cell, without building
//! a `serde_json::Value` per cell.

use std::collections::HashSet;
use std::io::{self, Write};

use serde::{Serialize, Serializer};

use crate::value::Value;

/// A borrowed cell that serialises like [`Value::to_json`].
struct Cell<'a>(&'a Value);

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) if x.is_finite() => s.serialize_f64(*x),
            Value::Float(_) => s.serialize_unit(),
            Value::Text(t) => s.serialize_str(t),
        }
    }
}

/// Object keys for these columns. A JSON object cannot hold a key twice (parsers keep
/// only the last), so a repeated column name gets a `_2`, `_3`, … suffix that no other
/// column already uses.
pub(super) fn unique_keys(columns: &[String]) -> Vec<String> {
    let original: HashSet<&str> = columns.iter().map(String::as_str).collect();
    let mut taken: HashSet<String> = HashSet::with_capacity(columns.len());
    let mut keys = Vec::with_capacity(columns.len());
    for column in columns {
        let key = if taken.contains(column) {
            (2u64..)
                .map(|n| format!("{column}_{n}"))
                .find(|k| !original.contains(k.as_str()) && !taken.contains(k))
                // Unreachable: the candidates never run out.
                .unwrap_or_else(|| column.clone())
        } else {
            column.clone()
        };
        taken.insert(key.clone());
        keys.push(key);
    }
    keys
}

/// The keys of [`unique_keys`] as [`write_object`] writes them, each encoded once per
/// display: `"key":`.
pub(super) fn object_keys(columns: &[String]) -> io::Result<Vec<String>> {
    unique_keys(columns)
        .iter()
        .map(|k| Ok(serde_json::to_string(k)? + ":"))
        .collect()
}

/// Writes `{"key": value, …}` with no trailing newline. `keys` come from [`object_keys`]
/// and have the row's length (the printer checks).
pub(super) fn write_object<W: Write>(
    out: &mut W,
    keys: &[String],
    row: &[Value],
) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, (key, value)) in keys.iter().zip(row).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(key.as_bytes())?;
        serde_json::to_writer(&mut *out, &Cell(value))?;
    }
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::{render, sample};
    use crate::output::Format;

    /// What serde_json should read back for the sample display.
    fn expected_objects() -> Vec<serde_json::Value> {
        let (columns, rows) = sample();
        rows.iter()
            .map(|row| {
                let map: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .cloned()
                    .zip(row.iter().map(Value::to_json))
                    .collect();
                serde_json::Value::Object(map)
            })
            .collect()
    }

    #[test]
    fn json_is_one_line_per_display_and_parses_back() {
        let out = render(Format::Json, &[sample(), sample()]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(out.ends_with("]\n"));
        for line in lines {
            let parsed: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            assert_eq!(parsed, serde_json::Value::Array(expected_objects()));
        }
    }

    #[test]
    fn json_keeps_column_order_and_types() {
        let out = render(Format::Json, &[sample()]);
        assert_eq!(
            out,
            "[{\"name\":\"cmd.exe\",\"pid\":123,\"score\":0.5},\
             {\"name\":null,\"pid\":-7,\"score\":null},\
             {\"name\":\"a, \\\"b\\\"\\nc\",\"pid\":null,\"score\":2.25}]\n"
        );
    }

    #[test]
    fn jsonl_is_one_object_per_row() {
        let out = render(Format::Jsonl, &[sample()]);
        let parsed: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("valid JSON line"))
            .collect();
        assert_eq!(parsed, expected_objects());
        assert!(out.ends_with("}\n"));
    }

    #[test]
    fn empty_displays() {
        let (columns, _) = sample();
        assert_eq!(render(Format::Json, &[(columns.clone(), vec![])]), "[]\n");
        assert_eq!(render(Format::Jsonl, &[(columns, vec![])]), "");
    }

    #[test]
    fn cells_serialise_like_to_json() {
        for v in [
            Value::Null,
            Value::Bool(false),
            Value::Int(i64::MIN),
            Value::Float(1.0),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Text("é\u{1}".into()),
        ] {
            let ours = serde_json::to_string(&Cell(&v)).expect("serialise");
            let theirs = serde_json::to_string(&v.to_json()).expect("serialise");
            assert_eq!(ours, theirs, "{v:?}");
        }
    }

    #[test]
    fn repeated_columns_get_distinct_keys() {
        let columns: Vec<String> = ["pid", "pid", "pid_2", "pid"].map(String::from).to_vec();
        assert_eq!(unique_keys(&columns), ["pid", "pid_3", "pid_2", "pid_4"]);
    }

    /// Keys are encoded once per display, escaped as JSON strings, and read back whole.
    #[test]
    fn keys_needing_escapes_read_back() {
        let columns: Vec<String> = ["a\"b\\c", "tab\there", "a\"b\\c"]
            .map(String::from)
            .to_vec();
        let keys = object_keys(&columns).expect("keys");
        let mut out = Vec::new();
        let row = [Value::Int(1), Value::Null, Value::Text("x".into())];
        write_object(&mut out, &keys, &row).expect("written");
        let parsed: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            parsed,
            serde_json::json!({"a\"b\\c": 1, "tab\there": null, "a\"b\\c_2": "x"})
        );
    }
}
