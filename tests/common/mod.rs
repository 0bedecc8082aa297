//! Helpers shared by the integration test suites: where snapshots live, the fixed clock,
//! the hunt files of a folder, and sqlparser's dialect for each of ours.
//!
//! In: a suite name, a folder under `tests/`, a dialect name. Out: insta settings that
//! write `snapshots/<suite>/<name>.snap`, the sorted `(stem, SourceFile)` pairs, and the
//! sqlparser dialect every emitted statement must parse back with.

// Each suite uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kestrel::source::SourceFile;

/// insta settings for the top-level `snapshots/<suite>/`, without the test module's name
/// in front of the snapshot name (insta has no config key for either).
pub fn snapshot_settings(suite: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("snapshots")
            .join(suite),
    );
    s.set_prepend_module_to_snapshot(false);
    s
}

/// "Now" for `LAST n <unit>` in every test: 2021-05-06T12:00:00Z, in microseconds.
pub const FIXED_NOW: i64 = 1_620_302_400_000_000;

/// `tests/<dir>`.
pub fn tests_dir(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir)
}

/// Every `*.hf` file in `tests/<dir>`, sorted by name, as (file stem, source). The source
/// is named by its file name so diagnostics print `--> name.hf:line:col`.
pub fn hunt_files(dir: &str) -> Vec<(String, SourceFile)> {
    let dir = tests_dir(dir);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut out: Vec<(String, SourceFile)> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "hf"))
        .map(|p| {
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("hunt file names are UTF-8")
                .to_string();
            let name = p
                .file_name()
                .and_then(|s| s.to_str())
                .expect("hunt file names are UTF-8")
                .to_string();
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (stem, SourceFile::new(name, text))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no .hf files in {}", dir.display());
    out
}

/// The sqlparser dialect that must accept what we emit for dialect `name`. A dialect
/// without an entry here fails the test: map it rather than fall back to a generic one.
/// Parses emitted SQL back with sqlparser's dialect for ours.
///
/// sqlparser reads `WITH x AS MATERIALIZED (…)` only in its PostgreSQL dialect, though
/// SQLite has it since 3.35 (the bundled engine runs it in the end-to-end tests): for
/// SQLite the keyword is dropped before parsing.
pub fn parse_back(
    dialect: &str,
    sql: &str,
) -> Result<Vec<sqlparser::ast::Statement>, sqlparser::parser::ParserError> {
    let sql = if dialect == "sqlite" {
        sql.replace(" AS MATERIALIZED (", " AS (")
    } else {
        sql.to_string()
    };
    sqlparser::parser::Parser::parse_sql(sqlparser_dialect(dialect).as_ref(), &sql)
}

pub fn sqlparser_dialect(name: &str) -> Box<dyn sqlparser::dialect::Dialect> {
    use sqlparser::dialect::{MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
    match name {
        "sqlite" => Box::new(SQLiteDialect {}),
        "postgres" => Box::new(PostgreSqlDialect {}),
        "mssql" => Box::new(MsSqlDialect {}),
        "mysql" => Box::new(MySqlDialect {}),
        // DataFusion's own SQL parser is sqlparser with its generic dialect.
        "datafusion" => Box::new(sqlparser::dialect::GenericDialect {}),
        other => {
            panic!("dialect `{other}` has no sqlparser dialect in tests/common/mod.rs: add one")
        }
    }
}

/// Runs every check in `cases`, catching panics (insta's mismatches included), so one run
/// reports every failing case instead of stopping at the first.
pub fn run_all<T>(cases: impl IntoIterator<Item = (String, T)>, mut check: impl FnMut(&str, T)) {
    let mut failed = Vec::new();
    for (name, case) in cases {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&name, case)));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let shown: Vec<&str> = msg.lines().take(40).collect();
            failed.push(format!("{name}: {}", shown.join("\n    ")));
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n  {}",
        failed.len(),
        failed.join("\n  ")
    );
}

/// A test's scratch directory, removed with everything in it when dropped (also when the
/// test fails and unwinds). Reads as the path it holds.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

/// [`fresh_dir`], removed when dropped.
pub fn scratch_dir(suite: &str, name: &str) -> Scratch {
    Scratch(fresh_dir(suite, name))
}

/// A fresh, empty temporary directory for one test (`kestrel-<suite>-<name>-<pid>`).
pub fn fresh_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kestrel-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loads the nine ECS process events (`tests/fixtures/ecs_process_creation.csv`) into
/// table `events` of a new SQLite database at `db`.
pub fn ingest_ecs_fixture(db: &Path) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ecs_process_creation.csv");
    kestrel::ingest::ingest(&kestrel::ingest::IngestOptions {
        files: vec![fixture],
        into: format!("sqlite:///{}", db.display()),
        table: "events".into(),
        ..Default::default()
    })
    .expect("ingest the fixture");
}

/// The live PostgreSQL the server tests use (`KESTREL_TEST_PG_URL`).
pub fn pg_url() -> String {
    std::env::var("KESTREL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into())
}

/// The live MySQL/MariaDB the server tests use (`KESTREL_TEST_MYSQL_URL`).
pub fn my_url() -> String {
    std::env::var("KESTREL_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The Python of the test virtualenv (`KESTREL_TEST_PYTHON`, else the repository's
/// `.venv`, which `.ci/run` creates from `requirements-dev.txt`); fails, never skips,
/// when it is missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("KESTREL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no Python for the tests at {}: create the virtualenv with \
         `python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt` \
         (or run .ci/run), or set KESTREL_TEST_PYTHON",
        p.display()
    );
    p
}

/// Writes table `table` of the SQLite database at `url` as `dir/part-0.parquet`: the
/// columns' declared types, timestamps as the ISO text ingest stored.
pub fn sqlite_to_parquet(url: &str, table: &str, dir: &Path) {
    struct ToParquet(Option<kestrel::io::parquet::ParquetSink>);
    impl kestrel::backend::RowSink for ToParquet {
        fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
            assert_eq!(self.0.as_ref().unwrap().column_names(), columns);
            Ok(())
        }
        fn row(&mut self, row: &[kestrel::value::Value]) -> std::io::Result<()> {
            self.0
                .as_mut()
                .unwrap()
                .push(row)
                .map_err(|e| std::io::Error::other(e.0))
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut sink = kestrel::io::parquet::ParquetSink::create(&dir.join("part-0.parquet")).unwrap();
    let mut b = kestrel::backend::open(url, &kestrel::backend::OpenOptions::default())
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    // The declared types (a column of nulls first is still an integer column).
    sink.set_typed_columns(&b.column_kinds(table).unwrap());
    let mut out = ToParquet(Some(sink));
    b.query(
        &kestrel::sql::SqlStatement {
            sql: format!("SELECT * FROM \"{table}\""),
            params: vec![],
        },
        &mut out,
    )
    .unwrap();
    out.0.take().unwrap().finish().unwrap();
}

/// A PostgreSQL view `name` of ten process rows that takes a minute to produce any
/// (`pg_sleep(60)`): a statement reading it runs until it is stopped.
pub fn pg_sleeping_view(admin: &mut postgres::Client, name: &str) {
    admin
        .batch_execute(&format!(
            "DROP VIEW IF EXISTS \"{name}\"; CREATE VIEW \"{name}\" AS \
             SELECT '2024-07-08T00:00:01.000000Z'::text AS \"@timestamp\", s AS \"process.pid\", \
             'x'::text AS \"process.name\" FROM generate_series(1, 10) s, pg_sleep(60) z"
        ))
        .expect("create the sleeping view");
}

/// Presses Ctrl-C for a child `kestrel` (SIGINT) and waits for it: it must exit with 130
/// within `limit`. Returns what it printed.
#[cfg(unix)]
pub fn ctrl_c(child: std::process::Child, limit: std::time::Duration) -> std::process::Output {
    // SAFETY: sends SIGINT to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let started = std::time::Instant::now();
    let out = child.wait_with_output().expect("wait for kestrel");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < limit,
        "stopped after {:?}",
        started.elapsed()
    );
    out
}

/// Every file under `dir`, at any depth, in path order (none when `dir` is missing).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// A Parquet table `big` under `dir` (`dir/big/part-0.parquet`): `rows` processes, pids
/// 0 to `rows` - 1, all named `x` (a self-JOIN is rows² rows: long enough to be stopped).
#[cfg(feature = "datafusion")]
pub fn big_parquet_table(dir: &Path, rows: i64) {
    use kestrel::value::Value;
    std::fs::create_dir_all(dir.join("big")).unwrap();
    let mut sink =
        kestrel::io::parquet::ParquetSink::create(&dir.join("big/part-0.parquet")).unwrap();
    sink.set_columns(&[
        "@timestamp".to_string(),
        "process.pid".to_string(),
        "process.name".to_string(),
    ]);
    for i in 0..rows {
        sink.push(&[
            Value::Text("2024-07-08T00:00:01.000000Z".into()),
            Value::Int(i),
            Value::Text("x".into()),
        ])
        .unwrap();
    }
    sink.finish().unwrap();
}

/// The top-level column names of a Parquet file.
#[cfg(feature = "datafusion")]
pub fn parquet_top_level_columns(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[cfg(feature = "ballista")]
pub mod cluster;
#[cfg(feature = "datafusion")]
pub mod s3;

/// Runs `hunt` as `kestrel run` does (summary on): every DISP/DESCRIBE result as JSON
/// lines, then one `# variable type entities records` line per summary row, so answers
/// and counts compare across engines.
pub fn run_jsonl_with_summary(
    config: &kestrel::config::Config,
    hunt: &str,
) -> Result<String, String> {
    use kestrel::output::{Format, Printer};
    let src = SourceFile::new("hunt.hf", hunt);
    let mut printer = Printer::new(Vec::new(), Format::Jsonl);
    let rows = kestrel::run::run_hunt(
        &src,
        Some(config),
        &mut printer,
        // The printed block goes nowhere; its rows are returned and compared.
        &mut Vec::new(),
        &kestrel::run::RunOptions { summary: true },
    )
    .map_err(|d| d.render(&src))?;
    let mut out = String::from_utf8(printer.into_inner()).unwrap();
    for r in rows {
        out.push_str(&format!(
            "# {} {} {} {}\n",
            r.variable, r.entity_type, r.entities, r.records
        ));
    }
    Ok(out)
}
