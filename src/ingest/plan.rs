//! What a load does to its table, decided once for every target: the writer (`write.rs`)
//! carries a [`Plan`] out through each target's `Store` (transactions, MySQL's swap of a
//! table built under a temporary name, PostgreSQL's COPY, a lake's staged files).
//!
//! In: the table's columns if it exists (from the target), the input's [`Schema`], the
//! [`WriteMode`] and the target's [`Limits`]. Out: whether to create the table (dropping
//! the old one), which columns to create or add, and the name each input column is
//! written under. An input column matches an existing one whatever the ASCII case of
//! either (`ProcessId` appends to `processid`), on every target alike, and is then
//! written under the table's spelling.

use super::schema::Schema;
use super::write::WriteMode;
use super::IngestError;

/// What a target allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Columns per table.
    pub max_columns: usize,
    /// Bytes per identifier (names are refused, not silently truncated into each other).
    pub max_name_bytes: Option<usize>,
    /// The target's name, for messages.
    pub backend: &'static str,
}

/// What a load does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Create the table (after dropping the old one when `exists`).
    pub fresh: bool,
    /// The table existed before the load.
    pub exists: bool,
    /// Per input column: the name it is written under.
    pub names: Vec<String>,
    /// Input columns to create (every one when `fresh`) or to add to the table.
    pub added: Vec<usize>,
    /// Columns the table has after the load.
    pub columns: usize,
}

pub(crate) fn plan(
    table: &str,
    schema: &Schema,
    mode: WriteMode,
    existing: Option<Vec<String>>,
    limits: &Limits,
) -> Result<Plan, IngestError> {
    if let Some(max) = limits.max_name_bytes {
        if let Some(c) = schema.columns.iter().find(|c| c.name.len() > max) {
            return Err(IngestError::BadOptions(format!(
                "column name `{}` is longer than {} allows ({max} bytes)",
                c.name, limits.backend
            )));
        }
    }
    let exists = existing.is_some();
    let plan = match (mode, existing) {
        (WriteMode::Create, Some(_)) => {
            return Err(IngestError::TableExists {
                table: table.to_string(),
            })
        }
        (WriteMode::Append, Some(existing)) => {
            let by_lower: std::collections::HashMap<String, &String> = existing
                .iter()
                .map(|n| (n.to_ascii_lowercase(), n))
                .collect();
            let mut names = Vec::with_capacity(schema.len());
            let mut added = Vec::new();
            for (i, c) in schema.columns.iter().enumerate() {
                match by_lower.get(&c.name.to_ascii_lowercase()) {
                    Some(spelled) => names.push((*spelled).clone()),
                    None => {
                        names.push(c.name.clone());
                        added.push(i);
                    }
                }
            }
            Plan {
                fresh: false,
                exists,
                names,
                columns: existing.len() + added.len(),
                added,
            }
        }
        _ => {
            if schema.is_empty() {
                return Err(IngestError::BadOptions(format!(
                    "nothing to create table `{table}` from: no record in the input has a field"
                )));
            }
            Plan {
                fresh: true,
                exists,
                names: schema.columns.iter().map(|c| c.name.clone()).collect(),
                added: (0..schema.len()).collect(),
                columns: schema.len(),
            }
        }
    };
    if plan.columns > limits.max_columns {
        return Err(IngestError::TooManyColumns {
            count: plan.columns,
            limit: limits.max_columns,
            backend: limits.backend,
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::schema::{Column, ColumnType};

    const LIMITS: Limits = Limits {
        max_columns: 4,
        max_name_bytes: Some(10),
        backend: "Test",
    };

    fn schema(names: &[&str]) -> Schema {
        Schema {
            columns: names
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    ty: ColumnType::Text,
                    non_null: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn append_matches_columns_whatever_their_case_and_keeps_the_tables_spelling() {
        let p = plan(
            "t",
            &schema(&["processid", "Image", "new"]),
            WriteMode::Append,
            Some(vec!["ProcessId".into(), "image".into()]),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(p.names, ["ProcessId", "image", "new"]);
        assert_eq!(
            (p.fresh, p.added.as_slice(), p.columns),
            (false, &[2][..], 3)
        );
    }

    #[test]
    fn create_replace_and_the_limits() {
        let s = schema(&["a", "b"]);
        let p = plan("t", &s, WriteMode::Replace, Some(vec!["x".into()]), &LIMITS).unwrap();
        assert_eq!(
            (p.fresh, p.exists, p.added.as_slice()),
            (true, true, &[0, 1][..])
        );
        assert!(
            plan("t", &s, WriteMode::Append, None, &LIMITS)
                .unwrap()
                .fresh
        );
        assert!(matches!(
            plan("t", &s, WriteMode::Create, Some(vec![]), &LIMITS),
            Err(IngestError::TableExists { .. })
        ));
        assert!(matches!(
            plan("t", &schema(&[]), WriteMode::Create, None, &LIMITS),
            Err(IngestError::BadOptions(_))
        ));
        assert!(matches!(
            plan(
                "t",
                &s,
                WriteMode::Append,
                Some(vec!["c".into(), "d".into(), "e".into()]),
                &LIMITS
            ),
            Err(IngestError::TooManyColumns { count: 5, .. })
        ));
        assert!(matches!(
            plan("t", &schema(&["elevenbytes"]), WriteMode::Create, None, &LIMITS),
            Err(IngestError::BadOptions(m)) if m.contains("longer than Test")
        ));
    }
}
