//! `kestrel ingest` through the library API: files in temporary directories, loaded into
//! SQLite databases, checked with plain SQL; and what every target shares (the live
//! PostgreSQL and MariaDB of tests/backends.rs): `--append` matching columns whatever their
//! case, exit statuses, Ctrl-C rolling back.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use kestrel::ingest::{
    ingest, read_records, scan, ColumnType, IngestError, IngestOptions, InputFormat, Item,
    ReadOptions, Target, WriteMode,
};
use kestrel::value::Value;
use rusqlite::Connection;

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("kestrel-ingest-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn gz(&self, name: &str, content: &[u8]) -> PathBuf {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(content).unwrap();
        self.file(name, &enc.finish().unwrap())
    }

    fn db(&self) -> (PathBuf, String) {
        let path = self.0.join("lake.db");
        let url = format!("sqlite:///{}", path.display());
        (path, url)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(files: Vec<PathBuf>, url: &str, table: &str) -> IngestOptions {
    IngestOptions {
        files,
        into: url.to_string(),
        table: table.to_string(),
        ..Default::default()
    }
}

fn table_exists(db: &Path, table: &str) -> bool {
    if !db.exists() {
        return false;
    }
    let conn = Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

/// (name, declared type) of every column.
fn columns(db: &Path, table: &str) -> Vec<(String, String)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
        .unwrap();
    stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every value of a query as text (`NULL` for null), with its SQLite storage class.
fn query(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(x) => format!("int:{x}"),
                    rusqlite::types::ValueRef::Real(x) => format!("real:{x}"),
                    rusqlite::types::ValueRef::Text(t) => {
                        format!("text:{}", String::from_utf8_lossy(t))
                    }
                    rusqlite::types::ValueRef::Blob(_) => "blob".to_string(),
                })
                .collect())
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn names(cols: &[(String, String)]) -> Vec<&str> {
    cols.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn nested_objects_become_dotted_columns_and_arrays_json_text() {
    let dir = TempDir::new("nested");
    let f = dir.file(
        "a.jsonl",
        br#"{"process":{"pid":1,"parent":{"name":"cmd.exe"}},"tags":["x",{"y":2}],"event_data.Image":"C:\\a.exe"}
{"process":{"pid":2},"tags":[]}
"#,
    );
    let (db, url) = dir.db();
    let report = ingest(&options(vec![f], &url, "events")).unwrap();
    assert_eq!(report.rows_loaded, 2);
    assert_eq!(report.columns, 4);
    let cols = columns(&db, "events");
    assert_eq!(
        names(&cols),
        [
            "process.pid",
            "process.parent.name",
            "tags",
            "event_data.Image"
        ]
    );
    assert_eq!(
        query(
            &db,
            r#"SELECT "process.pid", "process.parent.name", tags, "event_data.Image" FROM events ORDER BY rowid"#
        ),
        vec![
            vec![
                "int:1",
                "text:cmd.exe",
                r#"text:["x",{"y":2}]"#,
                r"text:C:\a.exe"
            ],
            vec!["int:2", "NULL", "text:[]", "NULL"],
        ]
    );
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = TempDir::new("gzip");
    let lines = b"{\"a\":1}\n{\"a\":2}\n";
    let named_gz = dir.gz("one.jsonl.gz", lines);
    let unnamed_gz = dir.gz("two.jsonl", lines);
    let plain_named_gz = dir.file("three.jsonl.gz", lines);
    let (db, url) = dir.db();
    let report = ingest(&options(
        vec![named_gz, unnamed_gz, plain_named_gz],
        &url,
        "t",
    ))
    .unwrap();
    assert_eq!(report.rows_loaded, 6);
    assert_eq!(query(&db, "SELECT sum(a) FROM t"), vec![vec!["int:9"]]);
}

#[test]
fn csv_with_quoted_fields() {
    let dir = TempDir::new("csv");
    let f = dir.file(
        "p.csv",
        b"Image,CommandLine,ProcessId,Score,Note\r\n\
          C:\\Windows\\System32\\cmd.exe,\"cmd.exe /c \"\"echo a, b\"\"\",3108,0.5,\"two\nlines\"\r\n\
          x.exe,,007,1.50,\"\"\r\n",
    );
    let (db, url) = dir.db();
    let report = ingest(&options(vec![f], &url, "procs")).unwrap();
    assert_eq!((report.rows_loaded, report.rows_rejected), (2, 0));
    let cols = columns(&db, "procs");
    assert_eq!(
        cols,
        [
            ("Image", "TEXT"),
            ("CommandLine", "TEXT"),
            ("ProcessId", "TEXT"),
            ("Score", "TEXT"),
            ("Note", "TEXT")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(
        query(&db, "SELECT * FROM procs ORDER BY rowid"),
        vec![
            vec![
                r"text:C:\Windows\System32\cmd.exe",
                r#"text:cmd.exe /c "echo a, b""#,
                "text:3108",
                "text:0.5",
                "text:two\nlines"
            ],
            // `007` and `1.50` would not print back the same as numbers: the column is text.
            vec!["text:x.exe", "NULL", "text:007", "text:1.50", "text:"],
        ]
    );
}

#[test]
fn csv_numbers_are_inferred_when_exact() {
    let dir = TempDir::new("csvnum");
    let f = dir.file("n.csv", b"pid,score,name\n4,0.25,a\n-12,3,b\n,,c\n");
    let (db, url) = dir.db();
    ingest(&options(vec![f], &url, "n")).unwrap();
    let cols = columns(&db, "n");
    assert_eq!(cols[0].1, "INTEGER");
    assert_eq!(cols[1].1, "REAL");
    assert_eq!(cols[2].1, "TEXT");
    assert_eq!(
        query(&db, "SELECT pid, score FROM n WHERE name = 'b'"),
        vec![vec!["int:-12", "real:3"]]
    );
}

#[test]
fn column_types_are_inferred_over_all_rows() {
    let dir = TempDir::new("types");
    let f = dir.file(
        "t.jsonl",
        br#"{"i":1,"r":1,"t":"a","mixed":5,"b":true,"numtext":"3108","n":null,"bi":1}
{"i":-2,"r":2.5,"t":"b","mixed":"x","b":false,"numtext":"42","n":null,"bi":false}
{"i":null,"r":3,"mixed":1.5}
"#,
    );
    let (db, url) = dir.db();
    let report = ingest(&options(vec![f], &url, "t")).unwrap();
    let types: Vec<(&str, ColumnType)> = report
        .schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty))
        .collect();
    assert_eq!(
        types,
        [
            ("i", ColumnType::Integer),
            ("r", ColumnType::Real),
            ("t", ColumnType::Text),
            ("mixed", ColumnType::Text),
            ("b", ColumnType::Boolean),
            ("numtext", ColumnType::Text),
            ("n", ColumnType::Text),
            ("bi", ColumnType::Integer),
        ]
    );
    assert_eq!(report.schema.column("i").unwrap().non_null, 2);
    let declared: Vec<String> = columns(&db, "t").into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        declared,
        ["INTEGER", "REAL", "TEXT", "TEXT", "BOOLEAN", "TEXT", "TEXT", "INTEGER"]
    );
    assert_eq!(
        query(
            &db,
            "SELECT i, r, mixed, b, numtext, bi FROM t ORDER BY rowid"
        ),
        vec![
            vec!["int:1", "real:1", "text:5", "int:1", "text:3108", "int:1"],
            vec!["int:-2", "real:2.5", "text:x", "int:0", "text:42", "int:0"],
            vec!["NULL", "real:3", "text:1.5", "NULL", "NULL", "NULL"],
        ]
    );
}

#[test]
fn bad_lines_are_rejected_with_line_numbers() {
    let dir = TempDir::new("rejects");
    let f = dir.file(
        "r.jsonl",
        b"{\"a\":1}\n\n[1,2]\n{\"a\": tru}\n   \n\"text\"\n{\"a\":2}\n{\"a\":3,\"a\":4}\n",
    );
    let (db, url) = dir.db();
    let report = ingest(&options(vec![f.clone()], &url, "r")).unwrap();
    assert_eq!(report.rows_loaded, 2);
    assert_eq!(report.rows_rejected, 4);
    let lines: Vec<u64> = report.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 6, 8]);
    assert!(report.rejects.iter().all(|r| r.file == f));
    assert!(
        report.rejects[0].reason.contains("expected a JSON object"),
        "{}",
        report.rejects[0].reason
    );
    assert!(
        report.rejects[1].reason.starts_with("invalid JSON"),
        "{}",
        report.rejects[1].reason
    );
    assert!(
        report.rejects[3].reason.contains("`a` appears twice"),
        "{}",
        report.rejects[3].reason
    );
    let shown = report.to_string();
    assert!(
        shown.starts_with("loaded 2 rows (1 columns) into r; rejected 4"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("{}:4: invalid JSON", f.display())),
        "{shown}"
    );
    assert_eq!(
        query(&db, "SELECT a FROM r ORDER BY rowid"),
        vec![vec!["int:1"], vec!["int:2"]]
    );
}

#[test]
fn only_the_first_twenty_rejects_are_kept_but_all_are_counted() {
    let dir = TempDir::new("manyrejects");
    let mut text = String::from("{\"ok\":1}\n");
    for _ in 0..25 {
        text.push_str("nope\n");
    }
    let f = dir.file("m.jsonl", text.as_bytes());
    let (_db, url) = dir.db();
    let report = ingest(&options(vec![f], &url, "m")).unwrap();
    assert_eq!(
        (
            report.rows_loaded,
            report.rows_rejected,
            report.rejects.len()
        ),
        (1, 25, 20)
    );
    assert!(
        report.to_string().ends_with("… and 5 more rejected"),
        "{report}"
    );
}

#[test]
fn a_missing_second_file_leaves_no_table_and_no_database() {
    let dir = TempDir::new("missing");
    let good = dir.file("good.jsonl", b"{\"a\":1}\n");
    let missing = dir.0.join("missing.jsonl");
    let (db, url) = dir.db();
    let err = ingest(&options(vec![good, missing.clone()], &url, "t")).unwrap_err();
    assert!(
        matches!(&err, IngestError::Io { path, .. } if *path == missing),
        "{err}"
    );
    assert!(err.to_string().contains("missing.jsonl"), "{err}");
    assert!(!db.exists(), "the database file was created");
}

#[test]
fn a_failing_row_stream_rolls_back_everything() {
    let dir = TempDir::new("rollback");
    let f = dir.file("a.jsonl", b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n");
    let (db, url) = dir.db();
    // A database that exists already, with another table, keeps exactly that.
    ingest(&options(vec![f.clone()], &url, "other")).unwrap();

    let scanned = scan(
        &[f],
        &ReadOptions {
            fold_case: true,
            ..Default::default()
        },
    )
    .unwrap();
    let err = write_then_fail(&db, "t", &scanned, WriteMode::Create);
    assert!(err.to_string().contains("boom"));
    assert!(!table_exists(&db, "t"));
    assert!(table_exists(&db, "other"));

    // Appending: the rows inserted before the failure and the added column are gone too.
    let g = dir.file("g.jsonl", b"{\"a\":3,\"c\":true}\n{\"a\":4,\"c\":false}\n");
    let scanned = scan(
        &[g],
        &ReadOptions {
            fold_case: true,
            ..Default::default()
        },
    )
    .unwrap();
    let _ = write_then_fail(&db, "other", &scanned, WriteMode::Append);
    assert_eq!(names(&columns(&db, "other")), ["a", "b"]);
    assert_eq!(
        query(&db, "SELECT count(*) FROM other"),
        vec![vec!["int:2"]]
    );
}

#[test]
fn a_failing_row_stream_removes_a_database_it_created() {
    let dir = TempDir::new("rollbacknew");
    let f = dir.file("a.jsonl", b"{\"a\":1}\n{\"a\":2}\n");
    let (db, _) = dir.db();
    let scanned = scan(&[f], &ReadOptions::default()).unwrap();
    let _ = write_then_fail(&db, "t", &scanned, WriteMode::Create);
    assert!(!db.exists());
}

#[test]
fn an_existing_table_needs_replace_or_append() {
    let dir = TempDir::new("exists");
    let first = dir.file("1.jsonl", b"{\"a\":1,\"b\":\"x\"}\n");
    let second = dir.file("2.jsonl", b"{\"a\":\"two\",\"c\":2.5}\n{\"a\":3}\n");
    let (db, url) = dir.db();
    ingest(&options(vec![first.clone()], &url, "t")).unwrap();

    let err = ingest(&options(vec![second.clone()], &url, "T")).unwrap_err();
    assert!(
        matches!(&err, IngestError::TableExists { table } if table == "T"),
        "{err}"
    );
    assert!(err.to_string().contains("--replace"), "{err}");

    let both = IngestOptions {
        replace: true,
        append: true,
        ..options(vec![second.clone()], &url, "t")
    };
    assert!(matches!(ingest(&both), Err(e @ IngestError::Usage(_)) if e.is_usage()));

    let append = IngestOptions {
        append: true,
        ..options(vec![second.clone()], &url, "t")
    };
    let report = ingest(&append).unwrap();
    assert_eq!(
        (
            report.mode,
            report.rows_loaded,
            report.columns,
            report.columns_added
        ),
        (WriteMode::Append, 2, 3, 1)
    );
    assert!(
        report
            .to_string()
            .starts_with("appended 2 rows (3 columns) into t; rejected 0; added 1 columns"),
        "{report}"
    );
    assert_eq!(
        query(&db, "SELECT a, b, c FROM t ORDER BY rowid"),
        vec![
            vec!["int:1", "text:x", "NULL"],
            vec!["text:two", "NULL", "real:2.5"],
            vec!["int:3", "NULL", "NULL"]
        ]
    );

    let replace = IngestOptions {
        replace: true,
        ..options(vec![second], &url, "t")
    };
    let report = ingest(&replace).unwrap();
    assert_eq!((report.rows_loaded, report.columns), (2, 2));
    assert_eq!(
        columns(&db, "t"),
        [
            ("a".to_string(), "TEXT".to_string()),
            ("c".to_string(), "REAL".to_string())
        ]
    );
    assert_eq!(query(&db, "SELECT count(*) FROM t"), vec![vec!["int:2"]]);
}

#[test]
fn identifiers_with_quotes_are_escaped() {
    let dir = TempDir::new("quotes");
    let f = dir.file("q.jsonl", br#"{"we\"ird": 1, "sp ace;--": "x", "": 2}"#);
    let (db, url) = dir.db();
    ingest(&options(vec![f], &url, "odd\"table")).unwrap();
    assert_eq!(
        names(&columns(&db, "odd\"table")),
        ["we\"ird", "sp ace;--", ""]
    );
    assert_eq!(
        query(
            &db,
            r#"SELECT "we""ird", "sp ace;--", "" FROM "odd""table""#
        ),
        vec![vec!["int:1", "text:x", "int:2"]]
    );
}

#[test]
fn names_differing_only_in_case_are_one_sqlite_column() {
    let dir = TempDir::new("case");
    let f = dir.file(
        "c.jsonl",
        b"{\"ProcessId\":1}\n{\"ProcessID\":\"0x1a2c\"}\n{\"processid\":3,\"PROCESSID\":4}\n",
    );
    let (db, url) = dir.db();
    let report = ingest(&options(vec![f], &url, "c")).unwrap();
    assert_eq!((report.rows_loaded, report.rows_rejected), (2, 1));
    assert!(
        report.rejects[0].reason.contains("differing only in case"),
        "{}",
        report.rejects[0].reason
    );
    assert_eq!(
        columns(&db, "c"),
        [("ProcessId".to_string(), "TEXT".to_string())]
    );
    assert_eq!(
        query(&db, "SELECT ProcessId FROM c ORDER BY rowid"),
        vec![vec!["text:1"], vec!["text:0x1a2c"]]
    );
}

#[test]
fn format_comes_from_the_name_or_the_option() {
    assert_eq!(
        InputFormat::from_path(Path::new("a/b.JSONL.GZ")),
        Some(InputFormat::Jsonl)
    );
    assert_eq!(
        InputFormat::from_path(Path::new("b.ndjson")),
        Some(InputFormat::Jsonl)
    );
    assert_eq!(
        InputFormat::from_path(Path::new("b.json.gz")),
        Some(InputFormat::Jsonl)
    );
    assert_eq!(
        InputFormat::from_path(Path::new("b.csv.gz")),
        Some(InputFormat::Csv)
    );
    assert_eq!(InputFormat::from_path(Path::new("b.log")), None);
    assert_eq!(InputFormat::from_path(Path::new("gz")), None);

    let dir = TempDir::new("format");
    let f = dir.file("events.log", b"a,b\n1,2\n");
    let (db, url) = dir.db();
    let err = ingest(&options(vec![f.clone()], &url, "t")).unwrap_err();
    assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("--format"), "{err}");
    let report = ingest(&IngestOptions {
        format: Some(InputFormat::Csv),
        ..options(vec![f], &url, "t")
    })
    .unwrap();
    assert_eq!(report.rows_loaded, 1);
    assert_eq!(query(&db, "SELECT a + b FROM t"), vec![vec!["int:3"]]);
}

#[test]
fn bad_urls_are_refused_before_reading() {
    let dir = TempDir::new("urls");
    let f = dir.file("a.jsonl", b"{\"a\":1}\n");
    for url in [
        "sqlite://:memory:",
        "sqlite:///:memory:",
        "lake.db",
        "mssql://u:pw@h/db",
        "postgresql://u:pw@h:port/db",
    ] {
        let err = ingest(&options(vec![f.clone()], url, "t")).unwrap_err();
        assert!(matches!(err, IngestError::BadUrl { .. }), "{url}: {err}");
        assert!(!err.to_string().contains("pw@"), "{err}");
    }
}

#[test]
fn four_slashes_name_an_absolute_path() {
    let dir = TempDir::new("relative");
    let f = dir.file("a.jsonl", b"{\"a\":1}\n");
    // An absolute path written after three slashes is the same file as four slashes name.
    let abs = dir.0.join("abs.db");
    let url = format!("sqlite:///{}", abs.display());
    assert!(url.starts_with("sqlite:////"));
    ingest(&options(vec![f], &url, "t")).unwrap();
    assert!(table_exists(&abs, "t"));
}

#[test]
fn read_records_gives_self_describing_records() {
    let dir = TempDir::new("records");
    let f = dir.gz("r.jsonl.gz", b"{\"a\":{\"b\":1},\"c\":\"x\"}\noops\n");
    let items: Vec<Item> = read_records(&f, &ReadOptions::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(items.len(), 2);
    match &items[0] {
        Item::Record(r) => {
            assert_eq!(r.line, 1);
            assert_eq!(
                r.fields,
                vec![
                    ("a.b".to_string(), Value::Int(1)),
                    ("c".to_string(), Value::Text("x".into()))
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&items[1], Item::Reject(r) if r.line == 2));
}

/// The sample shipped in `examples/data`: every file loads, no line is rejected, and the
/// facts `examples/data/README.md` states hold.
#[test]
fn shipped_sample_loads_completely() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7);
    let dir = TempDir::new("sample");
    let (db, url) = dir.db();
    let report = ingest(&options(files, &url, "events")).unwrap();
    assert_eq!(
        (report.rows_loaded, report.rows_rejected, report.columns),
        (4140, 0, 291),
        "{report}"
    );
    // The whole-sample counts examples/data/README.md promises to hunt writers.
    let sysmon = "Channel = 'Microsoft-Windows-Sysmon/Operational'";
    let counts = [
        (format!("{sysmon} AND EventID = 1"), 14),
        (
            format!("{sysmon} AND EventID = 1 AND Image LIKE '%\\rundll32.exe'"),
            1,
        ),
        (
            format!("{sysmon} AND EventID = 1 AND ParentImage LIKE '%\\mshta.exe'"),
            1,
        ),
        ("Channel = 'Security' AND EventID = 4688".to_string(), 15),
        (
            format!("{sysmon} AND EventID = 10 AND TargetImage LIKE '%\\lsass.exe'"),
            4,
        ),
        (
            format!("{sysmon} AND EventID = 11 AND TargetFilename LIKE '%.dmp'"),
            2,
        ),
        (format!("{sysmon} AND EventID = 3"), 13),
        (
            "log_name = 'Microsoft-Windows-Sysmon/Operational' AND event_id = 3".to_string(),
            59,
        ),
        (
            "EventID IN (1, 4688) AND CommandLine LIKE '%GruntHTTP.dll%'".to_string(),
            4,
        ),
        (
            r#""event_data.TargetObject" LIKE '%WDigest\UseLogonCredential'"#.to_string(),
            1,
        ),
        (
            r#""event_data.DestinationIp" = '10.0.10.106'"#.to_string(),
            38,
        ),
        (
            format!(
                r#"{sysmon} AND EventID = 1 AND CommandLine = 'mshta  vbscript:Execute("CreateObject(""Wscript.Shell"").Run ""powershell -noexit -command Get-Service sysmon"":close")'"#
            ),
            1,
        ),
    ];
    for (condition, expected) in counts {
        let got = query(
            &db,
            &format!("SELECT count(*) FROM events WHERE {condition}"),
        );
        assert_eq!(got, vec![vec![format!("int:{expected}")]], "{condition}");
    }
    let types = query(
        &db,
        r#"SELECT name, type FROM pragma_table_info('events')
           WHERE name IN ('EventID', 'ProcessId', 'event_id', 'Keywords', 'ERROR_EVT_UNRESOLVED')
           ORDER BY name"#,
    );
    assert_eq!(
        types,
        vec![
            vec!["text:ERROR_EVT_UNRESOLVED", "text:BOOLEAN"],
            vec!["text:EventID", "text:INTEGER"],
            vec!["text:Keywords", "text:TEXT"],
            vec!["text:ProcessId", "text:TEXT"],
            vec!["text:event_id", "text:INTEGER"],
        ]
    );
}

/// Every file of the shared OTRF sample (`../shared/data/otrf`), when it is there.
/// `cargo test --release --test ingest -- --ignored --nocapture` prints the time.
#[test]
#[ignore]
fn shared_otrf_sample_loads_completely() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/otrf");
    let Ok(entries) = std::fs::read_dir(&data) else {
        eprintln!("{} not found; skipped", data.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    let dir = TempDir::new("otrf");
    let (db, url) = dir.db();
    let report = ingest(&options(files, &url, "events")).unwrap();
    eprintln!("{report}\n{} files in {:?}", report.files, report.elapsed);
    assert_eq!((report.rows_loaded, report.rows_rejected), (38304, 0));
    assert_eq!(report.columns, 389);
    assert_eq!(
        query(&db, "SELECT count(*) FROM events"),
        vec![vec!["int:38304"]]
    );
}

/// Load time of the shipped sample (`cargo test --release --test ingest -- --ignored`).
#[test]
#[ignore]
fn shipped_sample_load_time() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    let dir = TempDir::new("sampletime");
    let (_db, url) = dir.db();
    let report = ingest(&options(files, &url, "events")).unwrap();
    eprintln!("{report}\n{} files in {:?}", report.files, report.elapsed);
}

#[test]
fn new_databases_get_large_pages_existing_ones_keep_theirs() {
    let dir = TempDir::new("pages");
    let f = dir.file("a.jsonl", b"{\"a\":1}\n");
    let page_size = |db: &Path| -> i64 {
        Connection::open(db)
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    };
    let (db, url) = dir.db();
    ingest(&options(vec![f.clone()], &url, "t")).unwrap();
    assert_eq!(page_size(&db), 65536);

    let old = dir.0.join("old.db");
    Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA page_size = 4096; CREATE TABLE other (x)")
        .unwrap();
    let url = format!("sqlite:///{}", old.display());
    ingest(&options(vec![f], &url, "t")).unwrap();
    assert_eq!(page_size(&old), 4096);
    assert!(table_exists(&old, "other") && table_exists(&old, "t"));
}

/// Runs SQL on a server or SQLite database and returns the rows.
fn rows_of(url: &str, sql: &str) -> Vec<Vec<Value>> {
    let mut b = kestrel::backend::open(
        url,
        &kestrel::backend::OpenOptions {
            allow_write: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut c = kestrel::backend::Collect::default();
    b.query(
        &kestrel::sql::SqlStatement {
            sql: sql.into(),
            params: vec![],
        },
        &mut c,
    )
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.rows
}

/// `name` quoted for the target of `url`.
fn quoted(url: &str, name: &str) -> String {
    if url.starts_with("mysql") {
        format!("`{name}`")
    } else {
        format!("\"{name}\"")
    }
}

fn drop_table(url: &str, table: &str) {
    rows_of(url, &format!("DROP TABLE IF EXISTS {}", quoted(url, table)));
}

/// The column names of `table`, in order.
fn column_names(url: &str, table: &str) -> Vec<String> {
    let mut b = kestrel::backend::open(url, &Default::default()).unwrap();
    b.columns(table).unwrap().unwrap_or_default()
}

/// Every column of every Parquet file under `table` of a lake (in file order, each file's
/// columns once), and every row.
fn lake_table(table: &Path) -> (Vec<Vec<String>>, Vec<Vec<Value>>) {
    let (mut columns, mut rows) = (Vec::new(), Vec::new());
    for f in common::files_under(table) {
        kestrel::io::parquet::read(&f, |c| {
            match c {
                kestrel::io::parquet::Chunk::Columns(c) => columns.push(c.to_vec()),
                kestrel::io::parquet::Chunk::Rows(r) => rows.extend(r),
            }
            Ok(())
        })
        .unwrap();
    }
    (columns, rows)
}

/// `--append` with the input's columns spelled in another case: the same table on SQLite,
/// PostgreSQL, MariaDB and a Parquet lake (the table's spelling kept, one new column).
#[test]
fn append_matches_columns_whatever_their_case_on_every_target() {
    let dir = TempDir::new("append_case");
    let (_, sqlite) = dir.db();
    let first = dir.file("1.jsonl", b"{\"ProcessId\":1,\"Image\":\"a.exe\"}\n");
    let second = dir.file(
        "2.jsonl",
        b"{\"processid\":2,\"IMAGE\":\"b.exe\",\"New\":true}\n",
    );
    let table = format!("kin_case_{}", std::process::id());
    let lake = dir.0.join("lake");
    let lake_url = format!("datafusion://{}", lake.display());
    for url in [sqlite, common::pg_url(), common::my_url(), lake_url] {
        let is_lake = url.starts_with("datafusion");
        if !url.starts_with("sqlite") && !is_lake {
            drop_table(&url, &table);
        }
        ingest(&options(vec![first.clone()], &url, &table)).unwrap();
        let report = ingest(&IngestOptions {
            append: true,
            ..options(vec![second.clone()], &url, &table)
        })
        .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!((report.columns, report.columns_added), (3, 1), "{url}");
        if is_lake {
            let (columns, mut rows) = lake_table(&lake.join(&table));
            assert_eq!(
                columns,
                [
                    vec!["ProcessId", "Image"],
                    vec!["ProcessId", "Image", "New"]
                ]
            );
            rows.sort_by_key(|r| format!("{r:?}"));
            assert_eq!(
                rows,
                vec![
                    vec![Value::Int(1), Value::Text("a.exe".into())],
                    vec![
                        Value::Int(2),
                        Value::Text("b.exe".into()),
                        Value::Bool(true)
                    ],
                ]
            );
            continue;
        }
        assert_eq!(
            column_names(&url, &table),
            ["ProcessId", "Image", "New"],
            "{url}"
        );
        let got = rows_of(
            &url,
            &format!(
                "SELECT {}, {}, {} FROM {} ORDER BY 1",
                quoted(&url, "ProcessId"),
                quoted(&url, "Image"),
                quoted(&url, "New"),
                quoted(&url, &table)
            ),
        );
        assert_eq!(
            got,
            vec![
                vec![Value::Int(1), Value::Text("a.exe".into()), Value::Null],
                vec![Value::Int(2), Value::Text("b.exe".into()), Value::Int(1)]
            ],
            "{url}"
        );
        drop_table(&url, &table);
    }
}

/// Writes `scanned`'s first row into `table` of the SQLite database `db`, then fails
/// (the row stream's error): that error.
fn write_then_fail(
    db: &Path,
    table: &str,
    scanned: &kestrel::ingest::Scan,
    mode: WriteMode,
) -> IngestError {
    let failing = scanned
        .rows()
        .take(1)
        .chain(std::iter::once(Err(IngestError::Internal("boom".into()))));
    kestrel::ingest::write(
        &Target::Sqlite(db.to_path_buf()),
        table,
        &scanned.schema,
        mode,
        failing,
    )
    .unwrap_err()
}

/// Runs the `kestrel` binary.
fn kestrel_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn usage_errors_exit_2_and_failed_loads_exit_1() {
    let dir = TempDir::new("exit_codes");
    let (_, url) = dir.db();
    let file = dir.file("1.jsonl", b"{\"a\":1}\n");
    let odd = dir.file("1.txt", b"{\"a\":1}\n");
    let f = file.to_str().unwrap();
    let (pg, my) = (common::pg_url(), common::my_url());
    let lake = format!("datafusion://{}", dir.0.join("lake").display());
    let long = "x".repeat(64);
    for args in [
        vec![
            "ingest",
            f,
            "--into",
            &url,
            "--table",
            "t",
            "--replace",
            "--append",
        ],
        vec!["ingest", f, "--into", "lake.db", "--table", "t"],
        vec!["ingest", f, "--into", &url, "--table", ""],
        vec![
            "ingest",
            odd.to_str().unwrap(),
            "--into",
            &url,
            "--table",
            "t",
        ],
        vec!["ingest", f, "--table", "t"],
        vec![
            "ingest", f, "--into", &url, "--table", "t", "--format", "xml",
        ],
        vec!["ingest", f, "--into", &url, "--table", "t", "--bogus"],
        // Table names the target cannot have.
        vec!["ingest", f, "--into", &pg, "--table", &long],
        vec!["ingest", f, "--into", &pg, "--table", "a.b.c"],
        vec!["ingest", f, "--into", &my, "--table", &long[..49]],
        vec!["ingest", f, "--into", &lake, "--table", "a.b"],
        vec!["ingest", f, "--into", &lake, "--table", "../up"],
    ] {
        let out = kestrel_cli(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(kestrel_cli(&["ingest", f, "--into", &url, "--table", "t"])
        .status
        .success());
    // The table exists now: the input is fine, the load is refused.
    let out = kestrel_cli(&["ingest", f, "--into", &url, "--table", "t"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // Nothing was created by the refused names.
    assert!(!exists(&pg, &long) && !exists(&my, &long[..49]));
    assert!(!dir.0.join("lake").exists());
}

/// Whether `table` exists on the server or SQLite database of `url`.
fn exists(url: &str, table: &str) -> bool {
    let mut b = kestrel::backend::open(url, &Default::default()).unwrap();
    b.columns(table).unwrap().is_some()
}

/// Ctrl-C while rows are going in, on SQLite, PostgreSQL and MariaDB: the load is rolled
/// back and the exit status is 130. Into a new table: no table is left (nor, on SQLite, the
/// database file the load created). Appending: no row, and no column the load added (even
/// on MariaDB, where ALTER TABLE commits at once).
#[cfg(unix)]
#[test]
fn ctrl_c_during_a_load_rolls_back_and_exits_130() {
    use std::time::{Duration, Instant};
    let dir = TempDir::new("ctrl_c");
    let first = dir.file("1.csv", b"a\n1\n");
    // Enough rows that the load is still going when the signal comes.
    let mut big = String::from("a,b\n");
    for i in 0..600_000 {
        big.push_str(&format!("{i},row {i}\n"));
    }
    let big = dir.file("big.csv", big.as_bytes());
    let table = format!("kin_ctrlc_{}", std::process::id());
    let (old_db, old_sqlite) = dir.db();
    let new_db = dir.0.join("new.db");
    let new_sqlite = format!("sqlite:///{}", new_db.display());
    for (url, append) in [
        (new_sqlite.clone(), false),
        (old_sqlite.clone(), true),
        (common::pg_url(), false),
        (common::pg_url(), true),
        (common::my_url(), false),
        (common::my_url(), true),
    ] {
        let sqlite = url.starts_with("sqlite");
        if !sqlite {
            drop_table(&url, &table);
        }
        if append {
            ingest(&options(vec![first.clone()], &url, &table)).unwrap();
        }
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"));
        cmd.args(["ingest", big.to_str().unwrap(), "--table", &table])
            .args(["--into", &url]);
        if append {
            cmd.arg("--append");
        }
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the load is writing (the files have been scanned): SQLite has its
        // journal, PostgreSQL runs the COPY (its DDL stays invisible until the commit),
        // MariaDB shows the temporary table or the added column `b`.
        let writing = || {
            if sqlite {
                let db = if append { &old_db } else { &new_db };
                PathBuf::from(format!("{}-journal", db.display())).exists()
            } else if url.starts_with("postgres") {
                rows_of(
                    &url,
                    &format!(
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                         AND state = 'active' AND query LIKE 'COPY \"{table}\"%'"
                    ),
                ) != vec![vec![Value::Int(0)]]
            } else if append {
                column_names(&url, &table).len() == 2
            } else {
                exists(&url, &format!("{table}__kestrel_load"))
            }
        };
        let start = Instant::now();
        while !writing() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{url}: never started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let out = common::ctrl_c(child, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("rolled back"), "{url}: {stderr}");
        if !append {
            if sqlite {
                assert!(!new_db.exists(), "{url}: the new database is left");
            } else {
                assert!(!exists(&url, &table), "{url}: the table is left");
                assert!(
                    !exists(&url, &format!("{table}__kestrel_load")),
                    "{url}: the temporary table is left"
                );
            }
            continue;
        }
        assert_eq!(column_names(&url, &table), ["a"], "{url}");
        assert_eq!(
            rows_of(
                &url,
                &format!("SELECT COUNT(*) FROM {}", quoted(&url, &table))
            ),
            vec![vec![Value::Int(1)]],
            "{url}"
        );
        if !sqlite {
            drop_table(&url, &table);
        }
    }
}

/// `--table seeds.t` loads into schema (PostgreSQL) or database (MariaDB) `seeds`, named
/// as a hunt's configuration names it; create, append and replace all stay there.
#[test]
fn a_qualified_table_name_loads_into_that_schema_or_database() {
    let dir = TempDir::new("qualified");
    let one = dir.file("1.jsonl", b"{\"a\":1}\n");
    let two = dir.file("2.jsonl", b"{\"a\":2,\"b\":\"x\"}\n");
    let pid = std::process::id();
    let ns = format!("kin_ns_{pid}");
    for (url, create, drop) in [
        (
            common::pg_url(),
            format!("CREATE SCHEMA \"{ns}\""),
            format!("DROP SCHEMA IF EXISTS \"{ns}\" CASCADE"),
        ),
        (
            common::my_url(),
            format!("CREATE DATABASE `{ns}`"),
            format!("DROP DATABASE IF EXISTS `{ns}`"),
        ),
    ] {
        rows_of(&url, &drop);
        rows_of(&url, &create);
        let table = format!("{ns}.t");
        ingest(&options(vec![one.clone()], &url, &table)).unwrap_or_else(|e| panic!("{url}: {e}"));
        ingest(&IngestOptions {
            append: true,
            ..options(vec![two.clone()], &url, &table)
        })
        .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(column_names(&url, &table), ["a", "b"], "{url}");
        let count = format!(
            "SELECT COUNT(*) FROM {}.{}",
            quoted(&url, &ns),
            quoted(&url, "t")
        );
        assert_eq!(rows_of(&url, &count), vec![vec![Value::Int(2)]], "{url}");
        ingest(&IngestOptions {
            replace: true,
            ..options(vec![one.clone()], &url, &table)
        })
        .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(rows_of(&url, &count), vec![vec![Value::Int(1)]], "{url}");
        assert_eq!(column_names(&url, &table), ["a"], "{url}");
        rows_of(&url, &drop);
    }
}

/// `--into datafusion:///dir`: Parquet files under `dir/T/eventDay=YYYYMMDD/`, one per
/// day the rows' `@timestamp` falls on; the rows all there, in their types; an existing
/// table refused without --replace or --append, which add files or start over.
#[test]
fn ingest_into_a_parquet_lake_partitions_by_event_day() {
    let dir = TempDir::new("lake");
    let input = dir.file(
        "events.jsonl",
        b"{\"@timestamp\": \"2024-07-08T23:59:59Z\", \"process\": {\"pid\": 1, \"name\": \"a\"}}\n\
          {\"@timestamp\": \"2024-07-09T00:00:00Z\", \"process\": {\"pid\": 2, \"name\": \"b\"}}\n\
          {\"@timestamp\": \"2024-07-09T10:00:00Z\", \"process\": {\"pid\": 3}}\n\
          {\"process\": {\"pid\": 4, \"name\": \"d\"}}\n",
    );
    let lake = dir.0.join("lake");
    let url = format!("datafusion://{}", lake.display());
    let report = ingest(&options(vec![input.clone()], &url, "events")).unwrap();
    assert_eq!(report.rows_loaded, 4);
    // Every Parquet file under the table, by the day directory it is in, with its rows.
    let files = |table: &Path| -> Vec<(String, Vec<Vec<Value>>)> {
        let mut out = Vec::new();
        let mut days: Vec<PathBuf> = std::fs::read_dir(table)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        days.sort();
        for day in days {
            for f in std::fs::read_dir(&day).unwrap() {
                let f = f.unwrap().path();
                assert!(f.to_string_lossy().ends_with(".parquet"), "{}", f.display());
                let mut rows = Vec::new();
                let mut columns = Vec::new();
                kestrel::io::parquet::read(&f, |c| {
                    match c {
                        kestrel::io::parquet::Chunk::Columns(c) => columns = c.to_vec(),
                        kestrel::io::parquet::Chunk::Rows(r) => rows.extend(r),
                    }
                    Ok(())
                })
                .unwrap();
                assert_eq!(columns, ["@timestamp", "process.pid", "process.name"]);
                out.push((
                    day.file_name().unwrap().to_string_lossy().into_owned(),
                    rows,
                ));
            }
        }
        out
    };
    let got = files(&lake.join("events"));
    let text = |s: &str| Value::Text(s.to_string());
    assert_eq!(
        got,
        vec![
            (
                "eventDay=20240708".to_string(),
                vec![vec![text("2024-07-08T23:59:59Z"), Value::Int(1), text("a")]]
            ),
            (
                "eventDay=20240709".to_string(),
                vec![
                    vec![text("2024-07-09T00:00:00Z"), Value::Int(2), text("b")],
                    vec![text("2024-07-09T10:00:00Z"), Value::Int(3), Value::Null],
                ]
            ),
            (
                "eventDay=unknown".to_string(),
                vec![vec![Value::Null, Value::Int(4), text("d")]]
            ),
        ]
    );
    // No staging directory is left behind.
    let names: Vec<String> = std::fs::read_dir(&lake)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["events"]);
    // Again: refused, then appended (a second file per day), then replaced.
    let err = ingest(&options(vec![input.clone()], &url, "events")).unwrap_err();
    assert!(matches!(err, IngestError::TableExists { .. }), "{err}");
    let mut append = options(vec![input.clone()], &url, "events");
    append.append = true;
    ingest(&append).unwrap();
    let got = files(&lake.join("events"));
    assert_eq!(got.len(), 6, "{got:?}");
    let mut replace = options(vec![input], &url, "events");
    replace.replace = true;
    ingest(&replace).unwrap();
    assert_eq!(files(&lake.join("events")).len(), 3);
    // A table name that is not a plain name is refused before anything is written.
    let err = ingest(&options(vec![dir.0.join("events.jsonl")], &url, "../x")).unwrap_err();
    assert!(err.to_string().contains("plain name"), "{err}");
}

/// `--append` to a Parquet lake writes each existing column in the type its files hold
/// (integers into a text column as text), and refuses values the files' type cannot
/// hold, leaving the table as it was: files that disagree on a column's type make a
/// table DataFusion cannot read.
#[test]
fn lake_append_keeps_each_column_in_its_files_type() {
    let dir = TempDir::new("lake_append_types");
    let lake = dir.0.join("lake");
    let url = format!("datafusion://{}", lake.display());
    let first = dir.file("1.jsonl", b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n");
    let clash = dir.file("2.jsonl", b"{\"a\":\"three\",\"b\":\"z\"}\n");
    let fits = dir.file("3.jsonl", b"{\"a\":3,\"b\":7}\n");
    let load = |file: &Path, append: bool| {
        let mut args = vec![
            "ingest",
            file.to_str().unwrap(),
            "--into",
            &url,
            "--table",
            "t",
        ];
        if append {
            args.push("--append");
        }
        kestrel_cli(&args)
    };
    assert!(load(&first, false).status.success());
    let out = load(&clash, true);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column `a`: the table's files hold integers and this input text"),
        "{err}"
    );
    assert_eq!(lake_table(&lake.join("t")).1.len(), 2);
    let out = load(&fits, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, rows) = lake_table(&lake.join("t"));
    assert_eq!(rows.len(), 3);
    assert!(
        rows.contains(&vec![Value::Int(3), Value::Text("7".into())]),
        "{rows:?}"
    );
    // Every file gives each column the same type.
    let mut kinds = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(lake.join("t")).unwrap() {
        let rows = kestrel::io::parquet::Rows::open(&entry.unwrap().path()).unwrap();
        kinds.insert(format!("{:?} {:?}", rows.columns, rows.kinds));
    }
    assert_eq!(kinds.len(), 1, "{kinds:?}");
    // A directory that is not a lake table is never written over.
    std::fs::create_dir_all(lake.join("notes")).unwrap();
    std::fs::write(lake.join("notes").join("keep.txt"), "mine").unwrap();
    let f = first.to_str().unwrap();
    let out = kestrel_cli(&["ingest", f, "--into", &url, "--table", "notes", "--replace"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a table of a Parquet lake"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(lake.join("notes").join("keep.txt")).unwrap(),
        "mine"
    );
}
