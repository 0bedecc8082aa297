//! Large references on every backend, live: a million IOC rows from outside the lake's
//! connection — LOADed from a file, or a variable of a second data source (a SQLite
//! database) shipped to the lake — used in a reference (`name IN iocs.name`) and in a
//! JOIN, on SQLite, PostgreSQL and MariaDB, in read-only sessions (the configuration
//! grants no table creation). The rows travel as one JSON parameter read as a table
//! (`sql/query/rows.rs`), so neither placeholder limits nor temporary tables are
//! involved. Answers are checked against what the ECS fixture's own rows say; each run
//! prints its time per million shipped values.
//!
//! Servers: as `tests/backends.rs` (`KESTREL_TEST_PG_URL`, `KESTREL_TEST_MYSQL_URL`),
//! required.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kestrel::backend::{self, Collect, OpenOptions};
use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::sql::SqlStatement;

const N: usize = 1_000_000;

/// The fixture's processes: (name, pid), read from the CSV itself.
fn fixture_processes() -> Vec<(String, i64)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ecs_process_creation.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (name, pid) = (at("process.name"), at("process.pid"));
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "a plain CSV line: {l}");
            (cells[name].to_string(), cells[pid].parse().unwrap())
        })
        .collect()
}

/// The IOC rows: a million names no process has, then three that some do, each with an
/// integer id (NULL for `bash`: a JOIN carries it as NULL), and two that differ from a
/// process's name only in case or a trailing space.
fn iocs() -> Vec<(String, Option<i64>)> {
    let mut rows: Vec<(String, Option<i64>)> = (0..N)
        .map(|i| (format!("ioc-{i}.example.com"), Some(i as i64)))
        .collect();
    rows.push(("ping".into(), Some(7_000_001)));
    rows.push(("curl".into(), Some(7_000_002)));
    rows.push(("bash".into(), None));
    // Exact comparison, as the language says: neither a case-insensitive collation nor
    // trailing-space padding may match `cat` or `uname`.
    rows.push(("Cat".into(), Some(7_000_003)));
    rows.push(("uname ".into(), Some(7_000_004)));
    rows
}

/// What a hunt must show: the pids of processes named by an IOC (the reference), and
/// (pid, IOC id) for each (the JOIN), from the fixture and the IOC list alone.
fn expected() -> (Vec<i64>, Vec<(i64, Option<i64>)>) {
    let ids: BTreeMap<String, Option<i64>> = iocs().into_iter().collect();
    let mut hits: Vec<(i64, Option<i64>)> = fixture_processes()
        .into_iter()
        .filter_map(|(name, pid)| ids.get(&name).map(|id| (pid, *id)))
        .collect();
    hits.sort();
    (hits.iter().map(|(p, _)| *p).collect(), hits)
}

/// The hunt: the reference, then the JOIN, over `iocs` defined by `source`.
fn hunt(source: &str) -> String {
    format!(
        "iocs = {source}\n\
         hits = GET process FROM x://ecs WHERE name IN iocs.name\n\
         DISP hits ATTR pid, name SORT BY pid ASC\n\
         e = GET process FROM x://ecs WHERE pid > 0\n\
         j = JOIN e, iocs BY name, name\n\
         DISP j ATTR pid, x_ioc SORT BY pid ASC\n"
    )
}

/// (pids of the first DISP, (pid, x_ioc) of the second), from JSON lines.
fn answers(out: &str) -> (Vec<i64>, Vec<(i64, Option<i64>)>) {
    let mut first = Vec::new();
    let mut second = Vec::new();
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let pid = v["pid"].as_i64().unwrap_or_else(|| panic!("{line}"));
        // The first display has names; the second ids (absent or null when NULL).
        if v.get("name").is_some() {
            first.push(pid);
        } else {
            second.push((pid, v.get("x_ioc").and_then(|i| i.as_i64())));
        }
    }
    (first, second)
}

/// A lake holding the ECS fixture as table `ecs`, on one engine.
struct Lake {
    name: &'static str,
    url: String,
    table: String,
    _dir: PathBuf,
}

impl Lake {
    fn load(name: &'static str, dir: &Path) -> Lake {
        let url = match name {
            "sqlite" => format!("sqlite:///{}", dir.join("lake.db").display()),
            "postgres" => common::pg_url(),
            "mysql" => common::my_url(),
            other => panic!("no lake {other}"),
        };
        let table = format!("kbk_refs_ecs_{}", std::process::id());
        ingest(&IngestOptions {
            files: vec![Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/ecs_process_creation.csv")],
            into: url.clone(),
            table: table.clone(),
            replace: true,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("ingest into {name}: {e}"));
        Lake {
            name,
            url,
            table,
            _dir: dir.to_path_buf(),
        }
    }

    /// The lake (read-only: no `table_creation_permission`) and the IOC database.
    fn config(&self, ioc_db: &Path) -> Config {
        let yaml = format!(
            "connections:\n\
             \x20 lake:\n    url: '{}'\n\
             \x20 iocdb:\n    url: 'sqlite:///{}'\n\
             datasources:\n\
             \x20 ecs:\n    connection: lake\n    table: {}\n\
             \x20 iocs:\n    connection: iocdb\n    table: iocs\n",
            self.url,
            ioc_db.display(),
            self.table
        );
        Config::from_yaml_str(&yaml, None).expect("config")
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        if self.name == "sqlite" {
            return;
        }
        let quoted = if self.name == "postgres" {
            format!("\"{}\"", self.table)
        } else {
            format!("`{}`", self.table)
        };
        if let Ok(mut b) = backend::open(
            &self.url,
            &OpenOptions {
                allow_write: true,
                ..Default::default()
            },
        ) {
            let _ = b.query(
                &SqlStatement {
                    sql: format!("DROP TABLE IF EXISTS {quoted}"),
                    params: vec![],
                },
                &mut Collect::default(),
            );
        }
    }
}

/// The IOC rows as a JSON-lines file (for LOAD) and as table `iocs` of a SQLite
/// database (columns `process.name`, `process.pid`, `process.x_ioc`: the ECS layout's).
fn write_iocs(dir: &Path) -> (PathBuf, PathBuf) {
    let rows = iocs();
    let jsonl = dir.join("iocs.jsonl");
    let mut text = String::with_capacity(rows.len() * 48);
    for (name, id) in &rows {
        text.push_str(&serde_json::json!({"name": name, "x_ioc": id}).to_string());
        text.push('\n');
    }
    std::fs::write(&jsonl, text).unwrap();
    let db = dir.join("iocs.db");
    let csv = dir.join("iocs.csv");
    // A process is an entity by its pid: each IOC row has one of its own.
    let mut text = String::from("process.name,process.pid,process.x_ioc\n");
    for (i, (name, id)) in rows.iter().enumerate() {
        let id = id.map(|i| i.to_string()).unwrap_or_default();
        text.push_str(&format!("{name},{},{id}\n", i + 1));
    }
    std::fs::write(&csv, text).unwrap();
    ingest(&IngestOptions {
        files: vec![csv],
        into: format!("sqlite:///{}", db.display()),
        table: "iocs".into(),
        replace: true,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("ingest the IOC database: {e}"));
    (jsonl, db)
}

#[test]
fn a_million_shipped_values_work_in_a_reference_and_a_join_on_every_backend_read_only() {
    let dir = common::fresh_dir("large_refs", "million");
    let (jsonl, ioc_db) = write_iocs(&dir);
    let want = expected();
    assert_eq!(want.0, [1026, 1030, 1066, 5010], "the fixture changed");
    let sources = [
        ("LOAD", format!("LOAD {} AS process", jsonl.display())),
        (
            "a second data source",
            "GET process FROM x://iocs WHERE name IS NOT NULL".to_string(),
        ),
    ];
    let mut failures = Vec::new();
    for name in ["sqlite", "postgres", "mysql"] {
        let lake = Lake::load(name, &dir);
        let config = lake.config(&ioc_db);
        for (what, source) in &sources {
            let started = std::time::Instant::now();
            let out = common::run_jsonl_with_summary(&config, &hunt(source));
            eprintln!(
                "{name}, {} IOC rows from {what}: the hunt (two displays and the summary) took {:.2} s",
                N + 5,
                started.elapsed().as_secs_f64()
            );
            match out {
                Ok(out) if answers(&out) == want => {}
                Ok(out) => failures.push(format!(
                    "{name}, {what}: {:?}, expected {want:?}",
                    answers(&out)
                )),
                Err(e) => failures.push(format!("{name}, {what}: {e}")),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
