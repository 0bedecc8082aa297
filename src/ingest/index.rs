//! The indexes hunts need on a table of events, worked out from its mapping.
//!
//! In: an open connection, a table, the mapping hunts read it with. Out: one single-column
//! index per column that hunts select rows by, created if missing (or the DDL, for
//! `--dry-run`):
//! - the columns that place rows in event classes (`event.category`, `EventID`, …): every
//!   GET of a type and every FIND tests them;
//! - each entity's identity as every relation slot reads it (`process.entity_id`,
//!   `process.parent.entity_id`, …): FIND and references probe them with `IN`;
//! - the timestamp: time ranges and the spans of referenced variables.
//!
//! Hunts stay correct without any of them; they only run faster.

use super::write::{backquote, double_quote};
use crate::backend::{Backend, BackendError, Collect};
use crate::ir::ColumnKind;
use crate::model::{rule_key_columns, Mapping, Model};
use crate::sql::SqlStatement;

/// One index: the column it covers and the statement that creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDdl {
    pub column: String,
    pub name: String,
    pub sql: String,
}

/// The columns of `table_columns` that hunts over `mapping` select rows by, in a stable
/// order (class columns, identities by relation slot, then the timestamp).
pub fn wanted_columns(
    mapping: &Mapping,
    model: &Model,
    table_columns: &[String],
    timestamp: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |c: &str| {
        if table_columns.iter().any(|t| t == c) && !out.iter().any(|o| o == c) {
            out.push(c.to_string());
        }
    };
    for rule in &mapping.classes {
        for key in rule.matches.keys() {
            rule_key_columns(key).for_each(&mut add);
        }
    }
    // Every slot a relation reads, with the identity of its entity type (the mapping's
    // own identity sets first, as FIND uses them).
    let mut slots: Vec<(String, String)> = Vec::new();
    for r in &model.relations {
        for (slot, entity) in [(&r.subject_slot, &r.subject), (&r.object_slot, &r.object)] {
            if !slots.iter().any(|(s, e)| s == slot && e == entity) {
                slots.push((slot.clone(), entity.clone()));
            }
        }
    }
    let classes: Vec<Option<&str>> = std::iter::once(None)
        .chain(mapping.class_attributes.keys().map(|c| Some(c.as_str())))
        .collect();
    for (slot, entity) in &slots {
        let sets = mapping
            .identity
            .get(entity.as_str())
            .or_else(|| model.entity(entity).map(|d| &d.identity));
        let Some(first) = sets.and_then(|s| s.first()) else {
            continue;
        };
        // The first attribute of the set narrows a lookup; the others ride along.
        let Some(attr) = first.first() else {
            continue;
        };
        let path = format!("{slot}.{attr}");
        for class in &classes {
            if let Some(native) = mapping.resolve(&path, *class) {
                native.columns().iter().for_each(|c| add(c));
            }
        }
    }
    if let Some(ts) = timestamp.or(mapping.timestamp.as_deref()) {
        add(ts);
    }
    out
}

/// `kx_<table>_<column>`, made of letters, digits and `_`, at most 60 characters (a hash
/// of the full name keeps long ones apart).
pub fn index_name(table: &str, column: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    let name = format!("kx_{}_{}", clean(table), clean(column));
    if name.len() <= 60 {
        return name;
    }
    let mut h = crate::fxhash::FxHasher::default();
    std::hash::Hasher::write(&mut h, table.as_bytes());
    std::hash::Hasher::write(&mut h, b"\0");
    std::hash::Hasher::write(&mut h, column.as_bytes());
    let hash = std::hash::Hasher::finish(&h);
    format!("{}_{hash:016x}", &name[..43])
}

/// The statements that create the indexes on `columns` of `table` for a backend's
/// dialect; `kinds` says which columns hold text (MySQL indexes a prefix of those).
pub fn ddl(dialect: &str, table: &str, columns: &[(String, Option<ColumnKind>)]) -> Vec<IndexDdl> {
    let dq = double_quote;
    let bq = backquote;
    // The index is named after the table's own name (`events` of `seeds.events`).
    let parts = crate::sql::table_name::parts(table);
    let own = parts.last().cloned().unwrap_or_else(|| table.to_string());
    let qualified = |q: &dyn Fn(&str) -> String| quoted_table(table, q);
    columns
        .iter()
        .map(|(col, kind)| {
            let name = index_name(&own, col);
            let sql = match dialect {
                "mysql" => {
                    // TEXT columns can only be indexed by a prefix; 191 characters of
                    // utf8mb4 fit every row format's key limit.
                    let prefix = if matches!(
                        kind,
                        Some(
                            ColumnKind::Integer
                                | ColumnKind::Float
                                | ColumnKind::Boolean
                                | ColumnKind::Timestamp
                        )
                    ) {
                        String::new()
                    } else {
                        "(191)".to_string()
                    };
                    format!(
                        "CREATE INDEX {} ON {} ({}{prefix})",
                        bq(&name),
                        qualified(&bq),
                        bq(col)
                    )
                }
                _ => format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                    dq(&name),
                    qualified(&dq),
                    dq(col)
                ),
            };
            IndexDdl {
                column: col.clone(),
                name,
                sql,
            }
        })
        .collect()
}

/// `schema.table` quoted part by part (see `sql::table_name`).
fn quoted_table(table: &str, quote: &dyn Fn(&str) -> String) -> String {
    crate::sql::table_name::parts(table)
        .iter()
        .map(|p| quote(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// What [`create`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexReport {
    pub created: Vec<IndexDdl>,
    /// Indexes that were there already.
    pub existing: Vec<IndexDdl>,
}

/// Creates the indexes hunts need on `table` (the connection must allow writing); with
/// `dry_run`, only works out their DDL.
pub fn create(
    backend: &mut dyn Backend,
    table: &str,
    mapping: &Mapping,
    model: &Model,
    timestamp: Option<&str>,
    dry_run: bool,
) -> Result<IndexReport, BackendError> {
    let kinds = backend.column_kinds(table)?;
    if kinds.is_empty() {
        return Err(BackendError::Query(format!(
            "table `{table}` does not exist"
        )));
    }
    let names: Vec<String> = kinds.iter().map(|(n, _)| n.clone()).collect();
    let wanted = wanted_columns(mapping, model, &names, timestamp);
    let cols: Vec<(String, Option<ColumnKind>)> = wanted
        .iter()
        .filter_map(|c| kinds.iter().find(|(n, _)| n == c).cloned())
        .collect();
    let dialect = backend.dialect();
    let mut report = IndexReport::default();
    for d in ddl(dialect, table, &cols) {
        if dry_run {
            report.created.push(d);
            continue;
        }
        let stmt = SqlStatement {
            sql: d.sql.clone(),
            params: Vec::new(),
        };
        match backend.query(&stmt, &mut Collect::default()) {
            Ok(()) => report.created.push(d),
            // MySQL has no CREATE INDEX IF NOT EXISTS: "Duplicate key name".
            Err(BackendError::Query(m))
                if dialect == "mysql" && m.contains("Duplicate key name") =>
            {
                report.existing.push(d)
            }
            Err(e) => return Err(e),
        }
    }
    // Statistics, so the planner knows what the new indexes select.
    if !dry_run && !report.created.is_empty() {
        let analyze = match dialect {
            "mysql" => format!("ANALYZE TABLE {}", quoted_table(table, &backquote)),
            _ => format!("ANALYZE {}", quoted_table(table, &double_quote)),
        };
        let stmt = SqlStatement {
            sql: analyze,
            params: Vec::new(),
        };
        backend.query(&stmt, &mut Collect::default())?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecs_columns() -> Vec<String> {
        [
            "@timestamp",
            "event.category",
            "event.type",
            "event.code",
            "network.protocol",
            "process.entity_id",
            "process.parent.entity_id",
            "process.name",
            "host.name",
            "file.path",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn ecs_tables_get_class_identity_and_time_indexes() {
        let model = crate::model().unwrap();
        let m = Mapping::builtin("ecs").unwrap();
        let cols = wanted_columns(&m, model, &ecs_columns(), None);
        for c in [
            "event.category",
            "event.type",
            "process.entity_id",
            "process.parent.entity_id",
            "@timestamp",
        ] {
            assert!(cols.iter().any(|x| x == c), "{c} missing from {cols:?}");
        }
        // What hunts only display is not indexed.
        assert!(!cols.iter().any(|x| x == "process.name" || x == "host.name"));
        // Only columns the table has.
        assert!(cols.iter().all(|c| ecs_columns().contains(c)));
    }

    #[test]
    fn raw_windows_tables_get_their_own_columns() {
        let model = crate::model().unwrap();
        let m = Mapping::builtin("winevent").unwrap();
        let table: Vec<String> = [
            "EventID",
            "Channel",
            "ProcessGuid",
            "ParentProcessGuid",
            "@timestamp",
            "Image",
        ]
        .map(String::from)
        .to_vec();
        let cols = wanted_columns(&m, model, &table, None);
        for c in [
            "EventID",
            "Channel",
            "ProcessGuid",
            "ParentProcessGuid",
            "@timestamp",
        ] {
            assert!(cols.iter().any(|x| x == c), "{c} missing from {cols:?}");
        }
        assert!(!cols.iter().any(|x| x == "CommandLine"));
    }

    #[test]
    fn names_are_short_safe_and_distinct() {
        let a = index_name("events", "process.parent.entity_id");
        assert_eq!(a, "kx_events_process_parent_entity_id");
        let long1 = index_name("t", &"x".repeat(100));
        let long2 = index_name("t", &format!("{}y", "x".repeat(99)));
        assert!(long1.len() <= 60 && long2.len() <= 60);
        assert_ne!(long1, long2);
        let d = ddl(
            "mysql",
            "ev`s",
            &[
                ("a".into(), Some(ColumnKind::Text)),
                ("b".into(), Some(ColumnKind::Integer)),
            ],
        );
        assert_eq!(d[0].sql, "CREATE INDEX `kx_ev_s_a` ON `ev``s` (`a`(191))");
        assert_eq!(d[1].sql, "CREATE INDEX `kx_ev_s_b` ON `ev``s` (`b`)");
        let d = ddl("sqlite", "ev\"s", &[("a".into(), None)]);
        assert_eq!(
            d[0].sql,
            "CREATE INDEX IF NOT EXISTS \"kx_ev_s_a\" ON \"ev\"\"s\" (\"a\")"
        );
    }
}
