//! `kestrel ingest` creates the indexes hunts need, `--no-index` none, and `kestrel index`
//! adds them to an existing table (or prints their DDL), on SQLite and PostgreSQL.

mod common;

use std::path::Path;
use std::process::Command;

/// Runs `kestrel` with these arguments.
fn kestrel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .output()
        .unwrap()
}

/// `kestrel ingest` of the ECS fixture into `url`, table `table`, with `more` options.
fn ingest(url: &str, table: &str, more: &[&str]) -> std::process::Output {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ecs_process_creation.csv");
    let fixture = fixture.display().to_string();
    let mut args = vec!["ingest", fixture.as_str(), "--into", url, "--table", table];
    args.extend_from_slice(more);
    kestrel(&args)
}

/// Index name → indexed column, for a SQLite table.
fn sqlite_indexes(db: &Path, table: &str) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare(
            "SELECT il.name, ii.name FROM pragma_index_list(?1) il, pragma_index_info(il.name) ii ORDER BY il.name",
        )
        .unwrap();
    st.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn ingest_indexes_what_hunts_select_by() {
    let dir = common::fresh_dir("index", "ingest");
    let db = dir.join("lake.db");
    let url = format!("sqlite:///{}", db.display());
    let out = ingest(&url, "events", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cols: Vec<String> = sqlite_indexes(&db, "events")
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    for c in [
        "process.entity_id",
        "process.parent.entity_id",
        "@timestamp",
    ] {
        assert!(cols.iter().any(|x| x == c), "{c} not indexed: {cols:?}");
    }
    // Displayed-only columns are not indexed.
    assert!(
        !cols.iter().any(|x| x == "process.command_line"),
        "{cols:?}"
    );

    // Again with --no-index: none.
    let out = ingest(&url, "bare", &["--no-index"]);
    assert!(out.status.success());
    assert!(sqlite_indexes(&db, "bare").is_empty());

    // `kestrel index --dry-run` prints what it would create and creates nothing.
    let out = kestrel(&["index", &url, "--table", "bare", "--dry-run"]);
    assert!(out.status.success());
    let ddl = String::from_utf8(out.stdout).unwrap();
    assert!(
        ddl.contains(r#"CREATE INDEX IF NOT EXISTS "kx_bare_process_parent_entity_id" ON "bare" ("process.parent.entity_id");"#),
        "{ddl}"
    );
    assert!(sqlite_indexes(&db, "bare").is_empty());

    // Then for real, twice (the second finds them there).
    for _ in 0..2 {
        let out = kestrel(&["index", &url, "--table", "bare"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        sqlite_indexes(&db, "bare").len(),
        sqlite_indexes(&db, "events").len()
    );

    // Usage errors: an unknown layout is exit 2 and writes nothing.
    let out = ingest(&url, "never", &["--mapping", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'never'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    let out = kestrel(&["index", &url, "--table", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_tables_get_the_same_indexes() {
    let url = common::pg_url();
    let table = format!("i16_index_{}", std::process::id());
    let out = ingest(&url, &table, &["--replace"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1",
            &[&table],
        )
        .unwrap();
    let defs: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    client
        .batch_execute(&format!("DROP TABLE \"{table}\""))
        .unwrap();
    assert!(
        defs.iter()
            .any(|d| d.contains("\"process.parent.entity_id\"")),
        "{defs:?}"
    );
    assert!(
        defs.iter().any(|d| d.contains("\"@timestamp\"")),
        "{defs:?}"
    );
}
