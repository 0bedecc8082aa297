//! Unit tests of the pieces `tests/ingest.rs` cannot reach: the second pass noticing a
//! changed file, statements for rows of many shapes, the report text.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::value::Value;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "kestrel-ingest-unit-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fold() -> ReadOptions {
    ReadOptions {
        format: None,
        fold_case: true,
    }
}

#[test]
fn pass_two_notices_more_records() {
    let dir = TempDir::new("more");
    let f = dir.file("a.jsonl", b"{\"a\":1}\n");
    let scanned = scan(std::slice::from_ref(&f), &fold()).unwrap();
    std::fs::write(&f, b"{\"a\":1}\n{\"a\":2}\n").unwrap();
    let rows: Vec<_> = scanned.rows().collect();
    assert_eq!(rows.len(), 3);
    assert!(
        matches!(&rows[2], Err(IngestError::InputChanged { .. })),
        "{:?}",
        rows[2]
    );
}

#[test]
fn pass_two_notices_a_new_column() {
    let dir = TempDir::new("newcol");
    let f = dir.file("a.jsonl", b"{\"a\":1}\n");
    let scanned = scan(std::slice::from_ref(&f), &fold()).unwrap();
    std::fs::write(&f, b"{\"a\":1,\"b\":2}\n").unwrap();
    let rows: Vec<_> = scanned.rows().collect();
    assert_eq!(rows.len(), 1);
    let err = rows[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("column `b`"), "{err}");
}

#[test]
fn rows_carry_schema_indices_in_ascending_order() {
    let dir = TempDir::new("order");
    let f = dir.file(
        "a.jsonl",
        b"{\"b\":1,\"a\":\"x\"}\n{\"a\":\"y\",\"c\":true}\n{\"c\":false,\"b\":2}\n",
    );
    let scanned = scan(&[f], &fold()).unwrap();
    let names: Vec<&str> = scanned
        .schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["b", "a", "c"]);
    let rows: Vec<Row> = scanned.rows().map(Result::unwrap).collect();
    assert_eq!(
        rows[0],
        Row {
            columns: vec![0, 1],
            values: vec![Value::Int(1), Value::Text("x".into())]
        }
    );
    assert_eq!(
        rows[1],
        Row {
            columns: vec![1, 2],
            values: vec![Value::Text("y".into()), Value::Bool(true)]
        }
    );
    assert_eq!(
        rows[2],
        Row {
            columns: vec![0, 2],
            values: vec![Value::Int(2), Value::Bool(false)]
        }
    );
}

#[test]
fn columns_of_rejected_lines_only_are_not_created() {
    let dir = TempDir::new("rejcols");
    let f = dir.file("a.jsonl", b"{\"a\":1}\n{\"ghost\":1,\"ghost\":2}\n");
    let scanned = scan(&[f], &fold()).unwrap();
    assert_eq!(scanned.schema.len(), 1);
    assert_eq!(scanned.rows_rejected, 1);
    // Pass 2 rejects the same line instead of taking `ghost` for a change in the file.
    let rows: Vec<Row> = scanned.rows().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
}

#[test]
fn csv_header_columns_exist_without_rows() {
    let dir = TempDir::new("header");
    let f = dir.file("h.csv", b"a,b\n");
    let scanned = scan(&[f], &fold()).unwrap();
    assert_eq!(scanned.schema.len(), 2);
    assert_eq!(scanned.rows, 0);
    let dup = dir.file("d.csv", b"Image,image\n1,2\n");
    assert!(matches!(
        scan(&[dup], &fold()),
        Err(IngestError::BadHeader { .. })
    ));
}

#[test]
fn many_row_shapes_fall_back_to_one_wide_statement() {
    let dir = TempDir::new("shapes");
    let mut text = String::new();
    for i in 0..600 {
        text.push_str(&format!("{{\"a\":{i},\"k{i}\":{i}}}\n"));
    }
    let f = dir.file("s.jsonl", text.as_bytes());
    let db = dir.0.join("s.db");
    let opts = IngestOptions {
        files: vec![f],
        into: format!("sqlite:///{}", db.display()),
        table: "s".into(),
        ..Default::default()
    };
    let report = ingest(&opts).unwrap();
    assert_eq!((report.rows_loaded, report.columns), (600, 601));
    let conn = rusqlite::Connection::open(&db).unwrap();
    // Rows after the 512th shape went through the wide statement.
    for i in [0, 511, 512, 599] {
        let sql = format!(r#"SELECT "k{i}", count(*) FROM s WHERE "k{i}" IS NOT NULL"#);
        let got: (i64, i64) = conn
            .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(got, (i, 1));
    }
}

#[test]
fn an_empty_input_cannot_create_a_table() {
    let dir = TempDir::new("empty");
    let f = dir.file("e.jsonl", b"\n\n");
    let db = dir.0.join("e.db");
    let opts = IngestOptions {
        files: vec![f],
        into: format!("sqlite:///{}", db.display()),
        table: "e".into(),
        ..Default::default()
    };
    let err = ingest(&opts).unwrap_err();
    assert!(
        err.to_string().contains("nothing to create table `e`"),
        "{err}"
    );
    assert!(!db.exists());
}

#[test]
fn quote_doubles_inner_quotes() {
    assert_eq!(sqlite::quote("a\"b"), "\"a\"\"b\"");
    assert_eq!(sqlite::quote(""), "\"\"");
}

fn sqlite_options(dir: &TempDir, files: Vec<PathBuf>, table: &str) -> (PathBuf, IngestOptions) {
    let db = dir.0.join("t.db");
    let opts = IngestOptions {
        files,
        into: format!("sqlite:///{}", db.display()),
        table: table.into(),
        ..Default::default()
    };
    (db, opts)
}

#[test]
fn a_key_with_a_nul_character_rejects_its_line() {
    let dir = TempDir::new("nul");
    let f = dir.file("n.jsonl", b"{\"a\\u0000b\":1}\n{\"a\":2}\n");
    let (_, opts) = sqlite_options(&dir, vec![f], "n");
    let report = ingest(&opts).unwrap();
    assert_eq!((report.rows_loaded, report.rows_rejected), (1, 1));
    assert!(
        report.rejects[0].reason.contains("NUL"),
        "{}",
        report.rejects[0].reason
    );
}

#[test]
fn appending_matches_existing_columns_ignoring_case() {
    let dir = TempDir::new("appendcase");
    let first = dir.file("1.jsonl", b"{\"Image\":\"a.exe\"}\n");
    let second = dir.file("2.jsonl", b"{\"image\":\"b.exe\",\"pid\":7}\n");
    let (db, opts) = sqlite_options(&dir, vec![first], "t");
    ingest(&opts).unwrap();
    let append = IngestOptions {
        files: vec![second],
        append: true,
        ..opts
    };
    let report = ingest(&append).unwrap();
    assert_eq!((report.columns, report.columns_added), (2, 1));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let images: Vec<String> = conn
        .prepare("SELECT Image FROM t ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(images, ["a.exe", "b.exe"]);
}

#[test]
fn a_view_is_not_replaced() {
    let dir = TempDir::new("view");
    let f = dir.file("v.jsonl", b"{\"a\":1}\n");
    let (db, opts) = sqlite_options(&dir, vec![f], "v");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE VIEW v AS SELECT 1 AS a")
        .unwrap();
    let err = ingest(&IngestOptions {
        replace: true,
        ..opts
    })
    .unwrap_err();
    assert!(err.to_string().contains("is a view"), "{err}");
}
