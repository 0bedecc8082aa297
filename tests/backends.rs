//! Live tests on real servers: the same hunts over the same data loaded into SQLite,
//! PostgreSQL and MariaDB/MySQL give the same answers, and each server keeps the meaning
//! DESIGN.md states (exact `=`, ASCII case-insensitive LIKE with a literal backslash,
//! case-sensitive MATCHES unless `(?i)`, literals in the column's type, native
//! timestamps with START/STOP, read-only sessions, statement timeouts).
//!
//! Servers: `KESTREL_TEST_PG_URL` (default `postgresql://postgres@127.0.0.1:5432/test`)
//! and `KESTREL_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`). They are
//! required: an unreachable server fails these tests. MS SQL Server is opt-in: its tests
//! run only when `KESTREL_TEST_MSSQL_URL` is set at build time (e.g.
//! `mssql://sa:Passw0rd!@127.0.0.1/test?trustServerCertificate=true`: connections are
//! encrypted by default, as with ODBC Driver 18) and are listed as ignored otherwise.
//!
//! Tables are named `kbk_<what>_<pid>` so runs in parallel do not collide, and dropped
//! at the end.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kestrel::backend::{self, Backend, Collect, OpenOptions};
use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::ir::Literal;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use kestrel::sql::SqlStatement;
use kestrel::value::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn open_rw(url: &str) -> Box<dyn Backend> {
    backend::open(
        url,
        &OpenOptions {
            allow_write: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("the test server at {url} must be reachable: {e}"))
}

/// Runs SQL text without parameters (setup and teardown).
fn exec(b: &mut dyn Backend, sql: &str) {
    b.query(
        &SqlStatement {
            sql: sql.into(),
            params: vec![],
        },
        &mut Collect::default(),
    )
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One engine holding the test data: where it lives and the config that reaches it.
struct Lake {
    name: &'static str,
    /// The URL the hunts' configuration names.
    url: String,
    /// The tables as the configuration names them (perhaps `schema.table`).
    tables: Vec<String>,
    /// A schema (PostgreSQL) or database (MariaDB) made for this lake, dropped with it.
    namespace: Option<String>,
    _dir: Option<common::Scratch>,
}

/// `base` with a query parameter added.
fn with_param(base: &str, param: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{param}")
}

impl Lake {
    /// Loads the ECS fixture as `ecs` and the bundled OTRF Windows sample as `win`.
    ///
    /// `name` is the engine, and for the servers where the tables live: `postgres`,
    /// `mysql` (the default schema or database), `postgres-schema` (a schema of its
    /// own, named `schema.table` in the configuration), `postgres-search-path` (that
    /// schema reached through `?options=-c search_path=…` in the URL) and
    /// `mysql-database` (another database, named `database.table`).
    fn load(name: &'static str, tag: &str) -> Lake {
        let pid = std::process::id();
        let namespace = (name.contains('-') && !name.starts_with("datafusion"))
            .then(|| format!("kbk_{tag}_{}_{pid}", name.replace('-', "_")));
        // Where ingest writes (`url`) and what the hunts' configuration names (`hunt_url`).
        let (url, hunt_url, dir) = match name {
            // DataFusion: the same rows, ingested into SQLite and written out as Parquet
            // (a directory of files per table, see `common::sqlite_to_parquet`).
            "sqlite" | "datafusion" | "datafusion-lake" => {
                let dir = std::env::temp_dir().join(format!("kestrel-backends-{name}-{tag}-{pid}"));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                let url = if name == "datafusion-lake" {
                    // `kestrel ingest --into datafusion://…`: Parquet by event day.
                    format!("datafusion://{}", dir.display())
                } else {
                    format!("sqlite:///{}", dir.join("lake.db").display())
                };
                (url.clone(), url, Some(common::Scratch(dir)))
            }
            "postgres" => (common::pg_url(), common::pg_url(), None),
            "mysql" => (common::my_url(), common::my_url(), None),
            "postgres-schema" | "postgres-search-path" => {
                let ns = namespace.as_deref().unwrap();
                let mut b = open_rw(&common::pg_url());
                exec(
                    b.as_mut(),
                    &format!("DROP SCHEMA IF EXISTS \"{ns}\" CASCADE"),
                );
                exec(b.as_mut(), &format!("CREATE SCHEMA \"{ns}\""));
                let in_schema = with_param(
                    &common::pg_url(),
                    &format!("options=-c%20search_path%3D{ns}"),
                );
                let hunt_url = if name == "postgres-schema" {
                    common::pg_url()
                } else {
                    in_schema.clone()
                };
                (in_schema, hunt_url, None)
            }
            "mysql-database" => {
                let ns = namespace.as_deref().unwrap();
                let mut b = open_rw(&common::my_url());
                exec(b.as_mut(), &format!("DROP DATABASE IF EXISTS `{ns}`"));
                exec(b.as_mut(), &format!("CREATE DATABASE `{ns}`"));
                let base = common::my_url();
                let (server, _db) = base.rsplit_once('/').unwrap();
                (format!("{server}/{ns}"), base, None)
            }
            other => panic!("no lake `{other}`"),
        };
        // Names of their own, so that the default schema holds none of them.
        let ns = if namespace.is_some() { "_ns" } else { "" };
        let ecs = format!("kbk_{tag}_ecs{ns}_{pid}");
        let win = format!("kbk_{tag}_win{ns}_{pid}");
        let mut win_files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
            .collect();
        win_files.sort();
        for (table, files) in [
            (
                &ecs,
                vec![root().join("tests/fixtures/ecs_process_creation.csv")],
            ),
            (&win, win_files),
        ] {
            ingest(&IngestOptions {
                files,
                into: url.clone(),
                table: table.clone(),
                replace: true,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("ingest into {name} ({url}): {e}"));
        }
        let hunt_url = if name == "datafusion" {
            let dir = dir.as_ref().unwrap().0.clone();
            for table in [&ecs, &win] {
                common::sqlite_to_parquet(&url, table, &dir.join(table));
            }
            format!("datafusion://{}", dir.display())
        } else {
            hunt_url
        };
        let qualified = matches!(name, "postgres-schema" | "mysql-database");
        let tables = [ecs, win]
            .into_iter()
            .map(|t| match (&namespace, qualified) {
                (Some(ns), true) => format!("{ns}.{t}"),
                _ => t,
            })
            .collect();
        Lake {
            name,
            url: hunt_url,
            tables,
            namespace,
            _dir: dir,
        }
    }

    fn config(&self) -> Config {
        let yaml = format!(
            "connections:\n  lake:\n    url: '{}'\n\
             datasources:\n\
             \x20 ecs:\n    connection: lake\n    table: {}\n    timestamp: '@timestamp'\n    timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'\n\
             \x20 win:\n    connection: lake\n    table: {}\n    timestamp: '@timestamp'\n    timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'\n    data_model_map: winevent\n",
            self.url, self.tables[0], self.tables[1]
        );
        Config::from_yaml_str(&yaml, None).expect("config")
    }

    /// Runs a hunt: every DISP/DESCRIBE result as JSON lines, then the summary.
    fn run(&self, hunt: &str) -> Result<String, String> {
        common::run_jsonl_with_summary(&self.config(), hunt)
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        if matches!(
            self.name,
            "sqlite"
                | "datafusion"
                | "datafusion-lake"
                | "ballista"
                | "datafusion-s3"
                | "ballista-s3"
                | "datafusion-s3-scratch"
                | "ballista-s3-scratch"
        ) {
            return;
        }
        if let Some(ns) = &self.namespace {
            let (url, q) = if self.name.starts_with("postgres") {
                (
                    common::pg_url(),
                    format!("DROP SCHEMA IF EXISTS \"{ns}\" CASCADE"),
                )
            } else {
                (common::my_url(), format!("DROP DATABASE IF EXISTS `{ns}`"))
            };
            if let Ok(mut b) = backend::open(
                &url,
                &OpenOptions {
                    allow_write: true,
                    ..Default::default()
                },
            ) {
                let _ = b.query(
                    &SqlStatement {
                        sql: q,
                        params: vec![],
                    },
                    &mut Collect::default(),
                );
            }
            return;
        }
        if let Ok(mut b) = backend::open(
            &self.url,
            &OpenOptions {
                allow_write: true,
                ..Default::default()
            },
        ) {
            for t in &self.tables {
                let q = if self.name == "postgres" {
                    format!("DROP TABLE IF EXISTS \"{t}\"")
                } else {
                    format!("DROP TABLE IF EXISTS `{t}`")
                };
                let _ = b.query(
                    &SqlStatement {
                        sql: q,
                        params: vec![],
                    },
                    &mut Collect::default(),
                );
            }
        }
    }
}

/// The rows of a JSON-lines result as a sorted list (for hunts whose order is not set).
fn as_set(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn pids(out: &str) -> Vec<i64> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["pid"].as_i64())
        .collect()
}

/// Hunts over the ECS fixture, each with the pids it must show (derived from the nine
/// rows of `tests/fixtures/ecs_process_creation.csv`), or None where only agreement
/// between the engines is checked.
fn ecs_hunts() -> Vec<(&'static str, String, Option<Vec<i64>>)> {
    let get = |pattern: &str| {
        format!("p = GET process FROM sqlalchemy://ecs WHERE {pattern}\nDISP p ATTR pid SORT BY pid ASC\n")
    };
    vec![
        ("eq_is_case_sensitive", get("name = 'PING'"), Some(vec![])),
        ("eq_exact", get("name = 'ping'"), Some(vec![1030, 5010])),
        ("like_folds_ascii_case", get("name LIKE 'PING'"), Some(vec![1030, 5010])),
        ("like_underscore_is_one_char", get("name LIKE 'p_ng'"), Some(vec![1030, 5010])),
        (
            "like_backslash_is_literal",
            get(r"file.path LIKE '%\\system32\\PING.exe'"),
            Some(vec![5010]),
        ),
        (
            "like_percent_in_the_middle",
            get(r"parent_process.cmd_line LIKE '%c:\\temp\\hello%'"),
            Some(vec![1235, 5010, 5018, 6008]),
        ),
        ("not_like", get("name NOT LIKE '%ping%' AND pid > 5000"), Some(vec![6008])),
        ("matches_is_case_sensitive", get("name MATCHES '^PING$'"), Some(vec![])),
        ("matches_with_i_flag", get("name MATCHES '(?i)^PING$'"), Some(vec![1030, 5010])),
        ("matches_search", get("name MATCHES 'p.*ing'"), Some(vec![1030, 5010, 5018])),
        ("string_literal_for_integer_column", get("pid = '1026'"), Some(vec![1026])),
        ("in_mixed_literals", get("pid IN ('1027', 1028)"), Some(vec![1027, 1028])),
        ("in_strings_exact", get("name IN ('BASH', 'curl')"), Some(vec![1066])),
        (
            "ne_keeps_no_null",
            get("parent_process.name != 'bash'"),
            Some(vec![1026, 1235, 5010, 5018, 6008]),
        ),
        (
            "time_range_on_text_timestamps",
            "p = GET process FROM sqlalchemy://ecs WHERE name LIKE '%' START t'2024-07-08T00:00:02Z' STOP t'2024-07-08T00:04:12Z'\nDISP p ATTR pid SORT BY pid ASC\n"
                .into(),
            Some(vec![1027, 1028, 1030]),
        ),
        (
            "find_children",
            "parents = GET process FROM sqlalchemy://ecs WHERE name = 'bash'\n\
             kids = FIND process CREATED BY parents\n\
             DISP kids ATTR pid SORT BY pid ASC\n"
                .into(),
            Some(vec![1027, 1028, 1030, 1066]),
        ),
        (
            "find_parent",
            "kids = GET process FROM sqlalchemy://ecs WHERE name = 'uname'\n\
             parents = FIND process CREATED kids\n\
             DISP parents ATTR pid SORT BY pid ASC\n"
                .into(),
            Some(vec![1026]),
        ),
        (
            "sort_limit_offset",
            "p = GET process FROM sqlalchemy://ecs WHERE os.name = 'Windows'\n\
             DISP p ATTR pid SORT BY pid ASC LIMIT 2 OFFSET 1\n"
                .into(),
            Some(vec![5010, 5018]),
        ),
        (
            "new_and_reference",
            "n = NEW process ['bash', 'curl']\n\
             p = GET process FROM sqlalchemy://ecs WHERE name IN n.name\n\
             DISP p ATTR pid SORT BY pid ASC\n"
                .into(),
            Some(vec![1026, 1066]),
        ),
        (
            "new_numbers_against_an_integer_column",
            "n = NEW process [{\"name\": \"x\", \"pid\": 1026, \"score\": 1.5, \"ok\": true}, {\"name\": \"y\", \"pid\": 1235, \"score\": 2, \"ok\": false}]\n\
             p = GET process FROM sqlalchemy://ecs WHERE pid IN n.pid\n\
             DISP p ATTR pid SORT BY pid ASC\nDISP n ATTR name, pid, score, ok SORT BY pid ASC\n"
                .into(),
            Some(vec![1026, 1235, 1026, 1235]),
        ),
        (
            "merge",
            "a = GET process FROM sqlalchemy://ecs WHERE name = 'bash'\n\
             b = GET process FROM sqlalchemy://ecs WHERE name = 'curl'\n\
             c = a + b\n\
             DISP c ATTR pid SORT BY pid ASC\n"
                .into(),
            Some(vec![1026, 1066]),
        ),
        // The rest of the language: agreement between the engines (the answers are checked
        // on SQLite in tests/language.rs).
        (
            "group_with_aggregates",
            "p = GET process FROM sqlalchemy://ecs WHERE pid > 0\n\
             g = GROUP p BY name WITH COUNT(pid) AS n, MIN(pid) AS lo, MAX(pid), NUNIQUE(pid)\n\
             DISP g ATTR name, n, lo, max_pid, nunique_pid\n"
                .into(),
            None,
        ),
        (
            "group_without_with_and_bin_number",
            "p = GET process FROM sqlalchemy://ecs WHERE pid > 0\n\
             g = GROUP p BY BIN(pid, 1000)\nDISP g ATTR pid, unique_name\n\
             h = GROUP p BY name\nDISP h ATTR name, unique_pid\n"
                .into(),
            None,
        ),
        (
            "group_by_time_bins",
            "p = GET process FROM sqlalchemy://ecs WHERE pid > 0\n\
             t = TIMESTAMPED(p)\n\
             g = GROUP t BY BIN(first_observed, 1h) WITH COUNT(pid) AS n\n\
             DISP g ATTR first_observed, n SORT BY first_observed ASC\n\
             d = GROUP t BY BIN(first_observed, 1d)\nDISP d ATTR first_observed, unique_pid SORT BY first_observed\n"
                .into(),
            None,
        ),
        (
            "join_sort_merge_timestamped",
            "a = GET process FROM sqlalchemy://ecs WHERE pid > 0\n\
             b = GET process FROM sqlalchemy://ecs WHERE name = 'ping'\n\
             j = JOIN a, b BY name, name\nDISP j ATTR pid SORT BY pid ASC\n\
             s = SORT a BY pid ASC\nDISP s ATTR pid LIMIT 3\n\
             m = a + b\nDISP m ATTR pid SORT BY pid ASC\n\
             t = TIMESTAMPED(b)\nDISP t ATTR pid, first_observed SORT BY pid ASC\n"
                .into(),
            None,
        ),
        (
            "describe_and_disp_unsorted",
            "p = GET process FROM sqlalchemy://ecs WHERE pid > 0\n\
             DESCRIBE p.pid\nDESCRIBE p.name\nDISP p ATTR name, file.name, file.parent_folder\n"
                .into(),
            None,
        ),
    ]
}

/// Hunts over the OTRF Windows sample (3,909 events): the bundled examples and a few
/// more, checked for agreement.
fn win_hunts() -> Vec<(&'static str, String)> {
    let example = |f: &str| {
        std::fs::read_to_string(root().join("examples/hunts").join(f))
            .unwrap()
            .replace("stixshifter://winlogs", "sqlalchemy://win")
    };
    // Hunts of tests/hunts_windows whose answers tests/windows_hunts.rs checks on SQLite.
    let windows = |f: &str| {
        std::fs::read_to_string(root().join("tests/hunts_windows").join(f))
            .unwrap()
            .replace("stixshifter://winlogs", "sqlalchemy://win")
    };
    vec![
        ("parents_of_powershell", windows("21_parents_of_powershell.hf")),
        ("custom_attribute", windows("22_custom_attribute.hf")),
        ("ocsf_network_open", windows("23_ocsf_network_open.hf")),
        ("one_pid_either_channel", windows("24_one_pid_either_channel.hf")),
        ("originated_by_actor", windows("25_originated_by_actor.hf")),
        ("lsass_dump", example("lsass_dump.hf")),
        ("mshta_children", example("mshta_children.hf")),
        (
            "powershell_like_regex",
            "p = GET process FROM sqlalchemy://win WHERE cmd_line LIKE '%\\\\windowspowershell\\\\%' AND name MATCHES '(?i)^powershell'\n\
             DISP p ATTR name, pid, cmd_line\nDESCRIBE p.pid\n"
                .into(),
        ),
        (
            "network_and_sorted",
            "c = GET network-traffic FROM sqlalchemy://win WHERE dst_port IN (443, 80, 445) OR dst_ref.value ISSUBSET '10.0.0.0/8'\n\
             DISP c ATTR dst_ref.value, dst_port SORT BY dst_ref.value ASC LIMIT 20\n"
                .into(),
        ),
    ]
}

/// Every engine, and the servers again with their tables in another schema or database.
const ALL_LAKES: &[&str] = &[
    "sqlite",
    "postgres",
    "mysql",
    "postgres-schema",
    "postgres-search-path",
    "mysql-database",
];

fn lakes(tag: &str, names: &[&'static str]) -> Vec<Lake> {
    names.iter().copied().map(|n| Lake::load(n, tag)).collect()
}

#[test]
fn the_same_hunts_give_the_same_answers_on_sqlite_postgres_and_mariadb_in_any_schema() {
    let lakes = lakes("conf", ALL_LAKES);
    same_answers_as_sqlite(&lakes);
}

/// DataFusion, embedded, over Parquet files holding the same rows: one file per table
/// written from SQLite, and the lake `kestrel ingest --into datafusion://…` writes
/// (partitioned by event day).
#[cfg(feature = "datafusion")]
#[test]
fn the_same_hunts_give_the_same_answers_on_datafusion_over_parquet() {
    let mut lakes = lakes("df", &["sqlite", "datafusion", "datafusion-lake"]);
    same_answers_as_sqlite(&lakes);
    for lake in &lakes[1..] {
        kept_on_the_lake(lake);
    }
    // A variable that one DISP reads is counted by that DISP on the way, embedded as on
    // SQLite: not kept, and the same counts.
    let on_sqlite = counted_on_the_way(&lakes[0]);
    assert!(on_sqlite.starts_with("# p process "), "{on_sqlite}");
    assert_eq!(counted_on_the_way(&lakes[1]), on_sqlite);
    // Where the scratch directory cannot be made, the session's cache keeps the rows,
    // with the same answers.
    let kept = lakes[1].run(KEEP_HUNT).unwrap();
    lakes[1].url.push_str("?scratch=/proc/kestrel-nowhere");
    let cached = lakes[1].run(KEEP_HUNT).unwrap();
    assert!(says_p_is_kept(&cached, "on the session cache"), "{cached}");
    assert_eq!(pids(&cached), pids(&kept));
}

/// Runs a hunt whose variable one DISP reads, on `lake`: EXPLAIN must say that the DISP
/// counts it on the way (a tally where the engine has one, else grouping sets), not
/// kept; answers the summary's lines.
#[cfg(feature = "datafusion")]
fn counted_on_the_way(lake: &Lake) -> String {
    let hunt = "p = GET process FROM sqlalchemy://ecs WHERE pid > 0\n\
                DISP p ATTR name, pid\n\
                EXPLAIN p\n";
    let out = lake
        .run(hunt)
        .unwrap_or_else(|e| panic!("{}: {e}", lake.name));
    let explain = "-- p is not kept: one statement reads it, and counts its records and \
                   entities for the summary on the way";
    assert!(out.contains(explain), "{}: {out}", lake.name);
    out.lines().filter(|l| l.starts_with("# ")).collect()
}

/// A Ballista cluster (a scheduler and two executors, separate processes) over the
/// same Parquet files as the DataFusion lake: the same answers as SQLite.
#[cfg(feature = "ballista")]
#[test]
fn the_same_hunts_give_the_same_answers_on_a_ballista_cluster() {
    let cluster = common::cluster::Cluster::start("conformance", 2, 2);
    let mut lakes = lakes("bal", &["sqlite", "datafusion"]);
    let dir = lakes[1]
        ._dir
        .as_ref()
        .expect("the Parquet directory")
        .0
        .clone();
    lakes[1].name = "ballista";
    lakes[1].url = cluster.url(&dir);
    let answers = std::panic::catch_unwind(|| {
        same_answers_as_sqlite(&lakes);
        kept_on_the_lake(&lakes[1]);
        // The executors have no tally: the DISP counts with grouping sets, in its one
        // job, with the same counts as on SQLite.
        assert_eq!(counted_on_the_way(&lakes[1]), counted_on_the_way(&lakes[0]));
        // Each session's scratch directory went with it.
        let scratch = dir.join(".kestrel-scratch");
        let left: Vec<_> = std::fs::read_dir(&scratch)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {}: {left:?}", scratch.display());
    });
    if let Err(e) = answers {
        eprintln!("the cluster's logs:\n{}", cluster.logs());
        std::panic::resume_unwind(e);
    }
}

/// Object stores: the lake `kestrel ingest --into datafusion://…` writes (Parquet by
/// event day), copied into a local S3-compatible server (moto), hunted through
/// `datafusion+s3://bucket/prefix` (and `ballista+s3://…` on a cluster whose executors
/// read S3 themselves): the same answers as SQLite.
#[cfg(feature = "datafusion")]
#[test]
fn the_same_hunts_give_the_same_answers_over_s3() {
    let s3 = common::s3::S3Server::start();
    let mut lakes = lakes("s3", &["sqlite", "datafusion-lake"]);
    let dir = lakes[1]
        ._dir
        .as_ref()
        .expect("the lake's directory")
        .0
        .clone();
    s3.upload(&dir, "lake", "security-lake");
    lakes[1].name = "datafusion-s3";
    lakes[1].url = format!("datafusion+s3://lake/security-lake?{}", s3.params());
    #[cfg(feature = "ballista")]
    let cluster = common::cluster::Cluster::start("s3", 2, 2);
    #[cfg(feature = "ballista")]
    lakes.push(Lake {
        name: "ballista-s3",
        url: format!(
            "ballista+s3://127.0.0.1:{}/lake/security-lake?{}",
            cluster.port,
            s3.params()
        ),
        tables: lakes[1].tables.clone(),
        namespace: None,
        _dir: None,
    });
    same_answers_as_sqlite(&lakes);
    for lake in &lakes[1..] {
        kept_on_the_lake(lake);
    }
    // Kept variables in S3: a cluster's under the lake's root, embedded DataFusion's
    // where `scratch=` says. Written while the session runs, removed when it ends.
    let mut scratch = Lake {
        name: "datafusion-s3-scratch",
        url: format!("{}&scratch=s3://lake/kestrel-scratch-test", lakes[1].url),
        tables: lakes[1].tables.clone(),
        namespace: None,
        _dir: None,
    };
    kept_on_the_lake(&scratch);
    assert_eq!(
        s3.keys("lake", "kestrel-scratch-test"),
        Vec::<String>::new()
    );
    #[cfg(feature = "ballista")]
    {
        assert_eq!(
            s3.keys("lake", "security-lake/.kestrel-scratch"),
            Vec::<String>::new()
        );
        scratch.name = "ballista-s3-scratch";
        scratch.url = format!("{}&scratch=s3://lake/kestrel-scratch-test", lakes[2].url);
        kept_on_the_lake(&scratch);
        assert_eq!(
            s3.keys("lake", "kestrel-scratch-test"),
            Vec::<String>::new()
        );
    }
    // While a session runs, its kept variable is there.
    let config = scratch.config();
    let mut session = kestrel::session::Session::new(Some(&config), Default::default());
    session
        .run_hunt(
            &SourceFile::new("hunt.hf", KEEP_HUNT),
            &mut Printer::new(Vec::new(), Format::Csv),
        )
        .unwrap();
    assert!(
        !s3.keys("lake", "kestrel-scratch-test").is_empty(),
        "nothing kept in s3://lake/kestrel-scratch-test while the session runs"
    );
    drop(session);
    assert_eq!(
        s3.keys("lake", "kestrel-scratch-test"),
        Vec::<String>::new()
    );
}

/// A variable read by two statements (and shown by EXPLAIN).
#[cfg(feature = "datafusion")]
const KEEP_HUNT: &str = "p = GET process FROM sqlalchemy://ecs WHERE pid > 0\n\
                         DISP p ATTR pid SORT BY pid ASC\n\
                         c = FIND process CREATED p\n\
                         DISP c ATTR pid SORT BY pid ASC\n\
                         EXPLAIN p\n";

/// A variable read by two statements is computed once and kept where its lake is (a
/// Parquet file in the connection's scratch directory, which a cluster's executors read),
/// not copied into the session's cache: the statements after it read it there, with the
/// same answer as on SQLite.
#[cfg(feature = "datafusion")]
fn kept_on_the_lake(lake: &Lake) {
    let out = lake
        .run(KEEP_HUNT)
        .unwrap_or_else(|e| panic!("{}: {e}", lake.name));
    // (`kestrel_<relation>_p`: p's records, which c reads in hand, are kept too.)
    assert!(
        says_p_is_kept(&out, "on connection `lake`"),
        "{}: {out}",
        lake.name
    );
    assert!(pids(&out).len() > 1, "{}: {out}", lake.name);
}

/// Whether EXPLAIN says p is kept in a table of its own (`kestrel_<relation>_p`) `where_`.
#[cfg(feature = "datafusion")]
fn says_p_is_kept(out: &str, where_: &str) -> bool {
    let said = "-- p was computed once and is kept in temporary table `kestrel_";
    let rest = out
        .split_once(said)
        .map(|(_, rest)| rest.trim_start_matches(char::is_numeric));
    rest.is_some_and(|r| r.starts_with(&format!("_p` {where_}")))
}

/// Runs every conformance hunt on each lake: the same answers as on SQLite (and the
/// pids each hunt must show there).
fn same_answers_as_sqlite(lakes: &[Lake]) {
    let mut failures = Vec::new();
    // The tables really are elsewhere: unqualified, on the default path, they are not found.
    for lake in lakes.iter().filter(|l| l.tables[0].contains('.')) {
        let (_, bare) = lake.tables[0].split_once('.').unwrap();
        let config = lake_config(&lake.url, "ecs", bare);
        let err = run_with(
            &config,
            "p = GET process FROM x://ecs WHERE pid > 0\nDISP p",
        )
        .expect_err("an unqualified name outside the default schema is not found");
        assert!(err.contains("does not exist"), "{}: {err}", lake.name);
    }
    let hunts: Vec<(String, String, Option<Vec<i64>>, bool)> = ecs_hunts()
        .into_iter()
        .map(|(n, h, want)| (n.to_string(), h, want, true))
        .chain(
            win_hunts()
                .into_iter()
                .map(|(n, h)| (n.to_string(), h, None, false)),
        )
        .collect();
    for (name, hunt, want, _) in &hunts {
        let mut answers: BTreeMap<&str, String> = BTreeMap::new();
        for lake in lakes {
            match lake.run(hunt) {
                Ok(out) => {
                    answers.insert(lake.name, out);
                }
                Err(e) => failures.push(format!("{name} on {}: {e}", lake.name)),
            }
        }
        let Some(reference) = answers.get("sqlite").cloned() else {
            continue;
        };
        assert!(
            !reference.trim().is_empty(),
            "{name}: shows nothing at all on sqlite"
        );
        if let Some(want) = want {
            let got = pids(&reference);
            if &got != want {
                failures.push(format!("{name} on sqlite: pids {got:?}, want {want:?}"));
            }
        }
        // Hunts with SORT BY (every DISP of theirs sorted) compare as sequences, the rest
        // as sets of rows.
        let sorted = hunt.contains("SORT BY");
        for (engine, out) in &answers {
            let same = if sorted {
                *out == reference
            } else {
                as_set(out) == as_set(&reference)
            };
            if !same {
                failures.push(format!(
                    "{name}: {engine} differs from sqlite\n--- sqlite\n{reference}--- {engine}\n{out}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_windows_sample_loads_whole_and_finds_the_known_answers() {
    for lake in lakes("win", &["sqlite", "postgres", "mysql"]) {
        let out = lake
            .run(
                "m = GET process FROM sqlalchemy://win WHERE name = 'mshta.exe'\n\
                 kids = FIND process CREATED BY m\nDISP kids ATTR name, parent_process.name\n",
            )
            .unwrap_or_else(|e| panic!("{}: {e}", lake.name));
        // From the data: mshta.exe started one powershell.exe (OTRF
        // cmd_mshta_vbscript_execute_psh), and the sample has 4,140 records
        // (examples/data/README.md).
        assert!(
            out.contains(r#""name":"powershell.exe","parent_process.name":"mshta.exe""#),
            "{}: {out}",
            lake.name
        );
        let mut b = open_rw(&lake.url);
        let q = if lake.name == "postgres" {
            format!("SELECT COUNT(*) FROM \"{}\"", lake.tables[1])
        } else if lake.name == "mysql" {
            format!("SELECT COUNT(*) FROM `{}`", lake.tables[1])
        } else {
            format!("SELECT COUNT(*) FROM \"{}\"", lake.tables[1])
        };
        let mut c = Collect::default();
        b.query(
            &SqlStatement {
                sql: q,
                params: vec![],
            },
            &mut c,
        )
        .unwrap();
        assert_eq!(c.rows, vec![vec![Value::Int(4140)]], "{}", lake.name);
    }
}

/// A table with native types, made by hand: (id integer, name text, ts timestamp).
fn typed_table(url: &str, kind: &str, table: &str) {
    let mut b = open_rw(url);
    let (create, ts_type) = match kind {
        "postgres" => (format!("CREATE TABLE \"{table}\" (\"process.pid\" INTEGER, \"process.name\" TEXT, \"@timestamp\" {{}})"), "TIMESTAMP"),
        _ => (format!("CREATE TABLE `{table}` (`process.pid` INT, `process.name` VARCHAR(100), `@timestamp` {{}}) DEFAULT CHARSET = utf8mb4"), "DATETIME(6)"),
    };
    let q = |s: &str| {
        if kind == "postgres" {
            format!("\"{s}\"")
        } else {
            format!("`{s}`")
        }
    };
    exec(b.as_mut(), &format!("DROP TABLE IF EXISTS {}", q(table)));
    exec(b.as_mut(), &create.replace("{}", ts_type));
    exec(
        b.as_mut(),
        &format!(
            "INSERT INTO {} VALUES (201, 'Cmd.exe', '2021-05-06 10:00:00'), (202, 'cmd.exe', '2021-05-06 11:30:00'), (203, 'cmd.exe', '2021-05-07 09:00:00'), (204, 'a!b[c]_d%e', '2020-01-01 00:00:00')",
            q(table)
        ),
    );
}

fn typed_config(url: &str, table: &str) -> Config {
    // A timestamp_format that does not match how the server shows the column: with a
    // native column, bounds are instants, not text in this format.
    let yaml = format!(
        "connections:\n  db:\n    url: '{url}'\ndatasources:\n  t:\n    connection: db\n    table: {table}\n    timestamp: '@timestamp'\n    timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'\n"
    );
    Config::from_yaml_str(&yaml, None).unwrap()
}

/// A schema or database whose name holds a dot is written quoted in `table:`.
#[test]
fn a_namespace_with_a_dot_in_its_name_is_quoted_in_the_table_name() {
    let pid = std::process::id();
    for (kind, url) in [("postgres", common::pg_url()), ("mysql", common::my_url())] {
        let ns = format!("kbk.dot_{pid}");
        let mut b = open_rw(&url);
        let (drop, create, table) = if kind == "postgres" {
            (
                format!("DROP SCHEMA IF EXISTS \"{ns}\" CASCADE"),
                format!("CREATE SCHEMA \"{ns}\""),
                format!("{ns}\".\"t"),
            )
        } else {
            (
                format!("DROP DATABASE IF EXISTS `{ns}`"),
                format!("CREATE DATABASE `{ns}`"),
                format!("{ns}`.`t"),
            )
        };
        exec(b.as_mut(), &drop);
        exec(b.as_mut(), &create);
        // typed_table quotes its name whole: the dotted schema and `t` inside it.
        typed_table(&url, kind, &table);
        let config = typed_config(&url, &format!("'\"{ns}\".t'"));
        let got = run_with(
            &config,
            "p = GET process FROM x://t WHERE name = 'Cmd.exe'\nDISP p ATTR pid",
        );
        exec(b.as_mut(), &drop);
        assert_eq!(got.as_deref(), Ok("pid\n201\n"), "{kind}");
    }
}

fn run_with(config: &Config, hunt: &str) -> Result<String, String> {
    let src = SourceFile::new("hunt.hf", hunt);
    let mut printer = Printer::new(Vec::new(), Format::Csv);
    run_hunt(
        &src,
        Some(config),
        &mut printer,
        &mut Vec::new(),
        &RunOptions { summary: false },
    )
    .map_err(|d| d.render(&src))?;
    Ok(String::from_utf8(printer.into_inner()).unwrap())
}

#[test]
fn native_types_follow_the_column_on_postgres_and_mariadb() {
    let pid = std::process::id();
    for (kind, url) in [("postgres", common::pg_url()), ("mysql", common::my_url())] {
        let table = format!("kbk_typed_{kind}_{pid}");
        typed_table(&url, kind, &table);
        let config = typed_config(&url, &table);
        let cases = [
            // A string literal against an integer column is that integer.
            ("p = GET process FROM x://t WHERE pid = '201'\nDISP p ATTR pid", "pid\n201\n"),
            // START/STOP against a native timestamp column.
            (
                "p = GET process FROM x://t WHERE pid > 0 START t'2021-05-06T10:30:00Z' STOP t'2021-05-07T00:00:00Z'\nDISP p ATTR pid",
                "pid\n202\n",
            ),
            (
                "p = GET process FROM x://t WHERE pid > 0 LAST 1 DAYS\nDISP p ATTR pid",
                "pid\n",
            ),
            // = is exact even where the column's collation ignores case.
            ("p = GET process FROM x://t WHERE name = 'Cmd.exe'\nDISP p ATTR pid", "pid\n201\n"),
            (
                "p = GET process FROM x://t WHERE name IN ('CMD.EXE', 'cmd.exe')\nDISP p ATTR pid SORT BY pid ASC",
                "pid\n202\n203\n",
            ),
            (
                "p = GET process FROM x://t WHERE name LIKE 'CMD.%'\nDISP p ATTR pid SORT BY pid ASC",
                "pid\n201\n202\n203\n",
            ),
            (
                "p = GET process FROM x://t WHERE name MATCHES '^c'\nDISP p ATTR pid SORT BY pid ASC",
                "pid\n202\n203\n",
            ),
            // `!` (MySQL's chosen escape) and `[` are literal; `_` and `%` are wildcards.
            ("p = GET process FROM x://t WHERE name LIKE 'A!B[C]_D%'\nDISP p ATTR pid", "pid\n204\n"),
            ("p = GET process FROM x://t WHERE name LIKE '%!!%'\nDISP p ATTR pid", "pid\n"),
        ];
        for (hunt, want) in cases {
            let got = run_with(&config, hunt).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(got, want, "{kind}: {hunt}");
        }
        let mut b = open_rw(&url);
        let q = if kind == "postgres" {
            format!("DROP TABLE \"{table}\"")
        } else {
            format!("DROP TABLE `{table}`")
        };
        exec(b.as_mut(), &q);
    }
}

#[test]
fn sessions_are_read_only_unless_allowed_and_time_out() {
    for (kind, url) in [("postgres", common::pg_url()), ("mysql", common::my_url())] {
        let table = format!("kbk_ro_{kind}_{}", std::process::id());
        let mut ro = backend::open(
            &url,
            &OpenOptions {
                allow_write: false,
                statement_timeout: Some(1),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{kind} must be reachable: {e}"));
        let create = SqlStatement {
            sql: format!("CREATE TABLE {table} (a INTEGER)"),
            params: vec![],
        };
        let err = ro
            .query(&create, &mut Collect::default())
            .expect_err("a read-only session refuses to create tables");
        assert!(
            err.to_string().to_ascii_lowercase().contains("read")
                || err.to_string().contains("READ"),
            "{kind}: {err}"
        );
        let sleep = if kind == "postgres" {
            "SELECT pg_sleep(3)"
        } else {
            "SELECT SLEEP(3) FROM (SELECT 1) AS t"
        };
        let started = std::time::Instant::now();
        let r = ro.query(
            &SqlStatement {
                sql: sleep.into(),
                params: vec![],
            },
            &mut Collect::default(),
        );
        // PostgreSQL cancels with an error; MariaDB's max_statement_time does too, while
        // MySQL's SLEEP returns 1 when interrupted: either way it stops at the timeout.
        assert!(
            started.elapsed() < std::time::Duration::from_millis(2500),
            "{kind}: ran {:?} ({r:?})",
            started.elapsed()
        );
        if kind == "postgres" {
            // Reported as the timeout (its diagnostic says which setting to raise).
            assert!(
                matches!(r, Err(kestrel::backend::BackendError::Timeout(1))),
                "{r:?}"
            );
        }
    }
}

#[test]
fn bound_parameters_carry_quotes_and_backslashes_verbatim() {
    for url in [common::pg_url(), common::my_url()] {
        let mut b = backend::open(&url, &OpenOptions::default()).unwrap();
        let dialect = kestrel::sql::Dialect::builtin(b.dialect()).unwrap();
        let text = r"it's a \ back\\slash 'quoted' %_";
        let mut c = Collect::default();
        b.query(
            &SqlStatement {
                sql: format!("SELECT {} AS v", dialect.placeholder(1)),
                params: vec![Literal::Str(text.into())],
            },
            &mut c,
        )
        .unwrap();
        assert_eq!(c.rows, vec![vec![Value::Text(text.into())]], "{url}");
    }
}

/// MS SQL Server, when `KESTREL_TEST_MSSQL_URL` names one: a hand-made table, the same
/// meaning of `=`, LIKE (with `[` and `\` literal), TOP/OFFSET, EXISTS for FIND, and
/// MATCHES refused with a diagnostic.
#[test]
#[cfg_attr(
    not(kestrel_mssql),
    ignore = "no MS SQL Server: set KESTREL_TEST_MSSQL_URL to run it"
)]
fn mssql_when_configured() {
    let url = mssql_url();
    let table = format!("kbk_mssql_{}", std::process::id());
    let mut b = open_rw(&url);
    exec(
        b.as_mut(),
        &format!("IF OBJECT_ID('{table}') IS NOT NULL DROP TABLE [{table}]"),
    );
    exec(
        b.as_mut(),
        &format!(
            "CREATE TABLE [{table}] ([process.pid] INT, [process.name] NVARCHAR(100), [process.executable] NVARCHAR(200), [process.entity_id] NVARCHAR(50), [process.parent.entity_id] NVARCHAR(50), [host.id] NVARCHAR(50), [@timestamp] DATETIME2)"
        ),
    );
    exec(
        b.as_mut(),
        &format!(
            "INSERT INTO [{table}] VALUES \
             (201, N'Cmd.exe', N'C:\\Windows\\System32\\Cmd.exe', N'p1', NULL, N'h', '2021-05-06 10:00:00'), \
             (202, N'cmd.exe', N'C:\\Windows\\[x]\\cmd.exe', N'p2', N'p1', N'h', '2021-05-06 11:30:00'), \
             (203, N'ping.exe', N'C:\\Windows\\System32\\ping.exe', N'p3', N'p2', N'h', '2021-05-07 09:00:00')"
        ),
    );
    let config = typed_config(&url, &table);
    let cases = [
        ("p = GET process FROM x://t WHERE name = 'Cmd.exe'\nDISP p ATTR pid", "pid\n201\n"),
        ("p = GET process FROM x://t WHERE pid = '203'\nDISP p ATTR pid", "pid\n203\n"),
        (
            "p = GET process FROM x://t WHERE file.path LIKE '%\\\\system32\\\\%'\nDISP p ATTR pid SORT BY pid ASC",
            "pid\n201\n203\n",
        ),
        (
            "p = GET process FROM x://t WHERE file.path LIKE '%[x]%'\nDISP p ATTR pid",
            "pid\n202\n",
        ),
        (
            "p = GET process FROM x://t WHERE pid > 0 START t'2021-05-06T10:30:00Z' STOP t'2021-05-07T00:00:00Z'\nDISP p ATTR pid",
            "pid\n202\n",
        ),
        (
            "p = GET process FROM x://t WHERE pid > 0\nDISP p ATTR pid SORT BY pid ASC LIMIT 1 OFFSET 1",
            "pid\n202\n",
        ),
        (
            "p = GET process FROM x://t WHERE name = 'Cmd.exe'\nk = FIND process CREATED BY p\nDISP k ATTR pid",
            "pid\n202\n",
        ),
        (
            "p = GET process FROM x://t WHERE pid = 203\nDISP p ATTR file.name, file.parent_folder",
            "file.name,file.parent_folder\nping.exe,C:\\Windows\\System32\n",
        ),
    ];
    let mut failures = Vec::new();
    for (hunt, want) in cases {
        match run_with(&config, hunt) {
            Ok(got) if got == want => {}
            other => failures.push(format!("{hunt}: {other:?}")),
        }
    }
    // A reference to more values than SQL Server takes parameters (2,100): LOADed rows
    // shipped as one JSON parameter read by OPENJSON … WITH, in a reference and a JOIN.
    let dir = common::fresh_dir("backends", "mssql_iocs");
    let iocs = dir.join("iocs.csv");
    let mut text = String::from("name,x_ioc\n");
    for i in 0..5000 {
        text.push_str(&format!("ioc-{i}.exe,{i}\n"));
    }
    text.push_str("ping.exe,9999\n");
    std::fs::write(&iocs, text).unwrap();
    let shipped = [
        (
            format!(
                "iocs = LOAD {} AS process\np = GET process FROM x://t WHERE name IN iocs.name\nDISP p ATTR pid",
                iocs.display()
            ),
            "pid\n203\n",
        ),
        (
            format!(
                "iocs = LOAD {} AS process\np = GET process FROM x://t WHERE pid > 0\nj = JOIN p, iocs BY name, name\nDISP j ATTR pid, x_ioc",
                iocs.display()
            ),
            "pid,x_ioc\n203,9999\n",
        ),
    ];
    for (hunt, want) in shipped {
        match run_with(&config, &hunt) {
            Ok(got) if got == want => {}
            other => failures.push(format!("{hunt}: {other:?}")),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let err = run_with(
        &config,
        "p = GET process FROM x://t WHERE name MATCHES 'c'\nDISP p ATTR pid",
    )
    .expect_err("MATCHES is refused on mssql");
    assert!(err.contains("MATCHES is not available on mssql"), "{err}");
    exec(b.as_mut(), &format!("DROP TABLE [{table}]"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The MS SQL Server the `kestrel_mssql` tests use (set when they were built).
fn mssql_url() -> String {
    std::env::var("KESTREL_TEST_MSSQL_URL")
        .expect("KESTREL_TEST_MSSQL_URL names the MS SQL Server for this test")
}

fn count_and_columns(url: &str, kind: &str, table: &str) -> (i64, Vec<String>) {
    let mut b = open_rw(url);
    let cols = b.columns(table).unwrap().unwrap_or_default();
    let q = if kind == "postgres" {
        format!("SELECT COUNT(*) FROM \"{table}\"")
    } else {
        format!("SELECT COUNT(*) FROM `{table}`")
    };
    let mut c = Collect::default();
    b.query(
        &SqlStatement {
            sql: q,
            params: vec![],
        },
        &mut c,
    )
    .unwrap();
    let n = match c.rows.first().and_then(|r| r.first()) {
        Some(Value::Int(n)) => *n,
        other => panic!("{other:?}"),
    };
    (n, cols)
}

/// `kestrel ingest` into a server is all or nothing: a failing load leaves no new table,
/// an old table as it was, and no half-added columns.
#[test]
fn failed_ingest_into_servers_leaves_nothing_half_written() {
    let pid = std::process::id();
    let dir = common::scratch_dir("backends", "ingest");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = write("good.jsonl", "{\"a\": 1}\n{\"a\": 2}\n");
    // A mixed column (text) that cannot go into the BIGINT column of the first load.
    let clash = write(
        "clash.jsonl",
        "{\"a\": 3, \"b\": 1}\n{\"a\": \"x\", \"b\": 2}\n",
    );
    // PostgreSQL text cannot hold NUL.
    let nul = write(
        "nul.jsonl",
        "{\"a\": 5, \"s\": \"ok\"}\n{\"a\": 6, \"s\": \"bad\\u0000\"}\n",
    );
    for (kind, url) in [("postgres", common::pg_url()), ("mysql", common::my_url())] {
        let table = format!("kbk_ingest_{kind}_{pid}");
        let run = |files: Vec<PathBuf>, replace: bool, append: bool| {
            ingest(&IngestOptions {
                files,
                into: url.clone(),
                table: table.clone(),
                replace,
                append,
                ..Default::default()
            })
        };
        run(vec![good.clone()], true, false).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(
            count_and_columns(&url, kind, &table),
            (2, vec!["a".to_string()])
        );

        let err = run(vec![clash.clone()], false, true).expect_err("the clash fails");
        assert_eq!(
            count_and_columns(&url, kind, &table),
            (2, vec!["a".to_string()]),
            "{kind}: after {err}"
        );
        let err = run(vec![clash.clone()], true, false);
        // Replacing with the mixed column works (it is TEXT now); replacing with a
        // failing load keeps the old table.
        err.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(count_and_columns(&url, kind, &table).0, 2);
        if kind == "postgres" {
            run(vec![nul.clone()], true, false).expect_err("NUL fails on PostgreSQL");
            assert_eq!(
                count_and_columns(&url, kind, &table),
                (2, vec!["a".to_string(), "b".to_string()]),
                "the replaced table is untouched"
            );
            let fresh = format!("{table}_new");
            ingest(&IngestOptions {
                files: vec![nul.clone()],
                into: url.clone(),
                table: fresh.clone(),
                ..Default::default()
            })
            .expect_err("NUL fails on PostgreSQL");
            assert_eq!(
                open_rw(&url).columns(&fresh).unwrap(),
                None,
                "no table left"
            );
        }
        let mut b = open_rw(&url);
        let q = if kind == "postgres" {
            format!("DROP TABLE \"{table}\"")
        } else {
            format!("DROP TABLE `{table}`")
        };
        exec(b.as_mut(), &q);
    }
}

/// A server that is not there is an error naming the URL without its password (no
/// panic, no hang): nothing listens on port 1.
#[test]
fn unreachable_servers_fail_cleanly_without_the_password() {
    for url in [
        "postgresql+psycopg2://hunter:s3cr%40t@127.0.0.1:1/lake",
        "mysql+pymysql://hunter:s3cr%40t@127.0.0.1:1/lake",
        "mssql+pyodbc://hunter:s3cr%40t@127.0.0.1:1/lake?driver=ODBC+Driver+18",
    ] {
        let err = match backend::open(url, &OpenOptions::default()) {
            Ok(_) => panic!("{url}: connected to nothing"),
            Err(e) => e.to_string(),
        };
        assert!(!err.contains("s3cr"), "{url}: {err}");
        assert!(err.contains("hunter:***@127.0.0.1:1"), "{url}: {err}");
    }
}

/// Each server's URL parameters: libpq's `application_name` and `options` on PostgreSQL,
/// MySQL's `charset`; a bad value is an error naming it (never the password), and a
/// parameter no one knows is a warning naming it.
#[test]
fn url_parameters_are_honoured_and_unknown_ones_are_warned_about() {
    let pid = std::process::id();
    let app = format!("kbk_app_{pid}");
    let mut b = backend::open(
        &with_param(
            &common::pg_url(),
            &format!("application_name={app}&options=-c%20work_mem%3D7MB&driver=psycopg2"),
        ),
        &OpenOptions::default(),
    )
    .unwrap();
    let mut c = Collect::default();
    b.query(
        &SqlStatement {
            sql: "SELECT current_setting('application_name'), current_setting('work_mem'), \
                  current_setting('default_transaction_read_only')"
                .into(),
            params: vec![],
        },
        &mut c,
    )
    .unwrap();
    // The URL's options come with kestrel's own read-only setting, which still holds.
    assert_eq!(
        c.rows,
        vec![vec![
            Value::Text(app.clone()),
            Value::Text("7MB".into()),
            Value::Text("on".into())
        ]]
    );
    let mut my = backend::open(
        &with_param(&common::my_url(), "charset=utf8mb4"),
        &OpenOptions::default(),
    )
    .unwrap();
    my.query(
        &SqlStatement {
            sql: "SELECT 1".into(),
            params: vec![],
        },
        &mut Collect::default(),
    )
    .unwrap();
    for (url, want) in [
        (
            with_param(&common::pg_url(), "sslmode=sometimes"),
            "`sometimes` is not an sslmode",
        ),
        (
            with_param(&common::pg_url(), "options=-c%20nonsense"),
            "`nonsense` has no `=value`",
        ),
        (
            with_param(&common::pg_url(), "connect_timeout=soon"),
            "`connect_timeout=soon` is not a number of seconds",
        ),
        (
            with_param(&common::my_url(), "charset=latin1"),
            "`charset=latin1`",
        ),
        (
            with_param(&common::my_url(), "ssl-mode=SOMETIMES"),
            "`ssl-mode=SOMETIMES`",
        ),
        (
            "mssql://sa:s3cr3t@127.0.0.1:1/x?encrypt=perhaps".to_string(),
            "`encrypt=perhaps`",
        ),
    ] {
        let err = match backend::open(&url, &OpenOptions::default()) {
            Ok(_) => panic!("{url}: opened"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{url}: {err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
    // The warning, as a user sees it from the command line (and the load still happens).
    let dir = common::fresh_dir("backends", "url_params");
    let csv = dir.join("t.csv");
    std::fs::write(&csv, "a,b\n1,x\n").unwrap();
    let table = format!("kbk_params_{pid}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args([
            "ingest",
            csv.to_str().unwrap(),
            "--replace",
            "--table",
            &table,
        ])
        .arg("--into")
        .arg(with_param(&common::pg_url(), "frobnicate=1&sslmode=prefer"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("parameter `frobnicate` is not known here and is ignored"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("is not known here").count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    exec(
        open_rw(&common::pg_url()).as_mut(),
        &format!("DROP TABLE \"{table}\""),
    );
}

/// A million shipped values (an IOC list) on each engine, in a read-only session: held
/// in a temporary table (filled in a few statements), the session still refuses to
/// create a real table, and a hunt using them in `IN` finds what it should. Prints the
/// time per million values.
#[test]
fn a_million_shipped_values_work_on_every_backend_in_a_read_only_session() {
    const N: usize = 1_000_000;
    let rows: Vec<Vec<Literal>> = (0..N)
        .map(|i| {
            vec![
                Literal::Str(format!("ioc-{i}.example.com")),
                Literal::Int(i as i64),
            ]
        })
        .collect();
    let pid = std::process::id();
    let lakes = lakes("million", &["sqlite", "postgres", "mysql"]);
    for lake in &lakes {
        let mut b = backend::open(&lake.url, &OpenOptions::default()).unwrap();
        let name = format!("kbk_million_{pid}");
        let start = std::time::Instant::now();
        b.create_temp_table(&name, &["name".into(), "n".into()], &rows)
            .unwrap_or_else(|e| panic!("{}: {e}", lake.name));
        let took = start.elapsed();
        eprintln!(
            "{}: {N} rows x 2 columns into a temporary table in {:.2} s ({:.2} s per million values)",
            lake.name,
            took.as_secs_f64(),
            took.as_secs_f64() / (2 * N) as f64 * 1e6
        );
        let q = |s: &str| {
            if lake.name == "mysql" {
                format!("`{s}`")
            } else {
                format!("\"{s}\"")
            }
        };
        let mut c = Collect::default();
        b.query(
            &SqlStatement {
                sql: format!("SELECT COUNT(*), SUM({}) FROM {}", q("n"), q(&name)),
                params: vec![],
            },
            &mut c,
        )
        .unwrap();
        let sum = (N as i64 - 1) * N as i64 / 2;
        assert!(
            matches!(&c.rows[0][..], [Value::Int(n), s] if *n == N as i64
                && matches!(s, Value::Int(x) if *x == sum) || matches!(s, Value::Float(x) if *x == sum as f64)),
            "{}: {:?}",
            lake.name,
            c.rows
        );
        if lake.name != "sqlite" {
            let refused = b.query(
                &SqlStatement {
                    sql: format!("CREATE TABLE {} (a INT)", q(&format!("kbk_rw_{pid}"))),
                    params: vec![],
                },
                &mut Collect::default(),
            );
            assert!(
                refused.is_err(),
                "{}: the session is no longer read-only",
                lake.name
            );
        }
    }
    // Through a hunt: LOAD a file of a million names, and GET the events whose process
    // name is one of them.
    let dir = common::fresh_dir("backends", "iocs");
    let csv = dir.join("iocs.csv");
    let mut text = String::with_capacity(N * 24);
    text.push_str("name\n");
    for i in 0..N {
        text.push_str(&format!("ioc-{i}.example.com\n"));
    }
    text.push_str("ping\ncurl\n");
    std::fs::write(&csv, text).unwrap();
    let hunt = format!(
        "iocs = LOAD {} AS process\nhits = GET process FROM x://ecs WHERE name IN iocs.name\n\
         DISP hits ATTR name, pid SORT BY pid ASC\n",
        csv.display()
    );
    for lake in &lakes {
        let start = std::time::Instant::now();
        let out = lake
            .run(&hunt)
            .unwrap_or_else(|e| panic!("{}: {e}", lake.name));
        eprintln!(
            "{}: hunt with {N} loaded values in IN: {:.2} s",
            lake.name,
            start.elapsed().as_secs_f64()
        );
        assert_eq!(pids(&out), [1030, 1066, 5010], "{}: {out}", lake.name);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hunt with a million values written into an IN list (an IOC list pasted into the
/// hunt), in a read-only session on each engine: the list is bound as one JSON parameter
/// (`sql::dialect::LONG_LIST`), so neither the servers' parameter limits nor their
/// packet sizes stop it, and IN and NOT IN find what they should. Prints the time per
/// million values.
#[test]
fn a_million_value_in_list_runs_on_every_backend_in_a_read_only_session() {
    const N: usize = 1_000_000;
    let mut list = String::with_capacity(N * 26);
    for i in 0..N {
        list.push_str(&format!("'ioc-{i}.example.com', "));
    }
    list.push_str("'ping', 'curl'");
    let hunt = format!(
        "hits = GET process FROM x://ecs WHERE name IN ({list})\n\
         DISP hits ATTR name, pid SORT BY pid ASC\n\
         rest = GET process FROM x://ecs WHERE name NOT IN ({list}) AND pid IN (1030, 1066, 5010, 1026)\n\
         DISP rest ATTR pid SORT BY pid ASC\n"
    );
    for lake in &lakes("million_in", &["sqlite", "postgres", "mysql"]) {
        let start = std::time::Instant::now();
        let out = lake
            .run(&hunt)
            .unwrap_or_else(|e| panic!("{}: {e}", lake.name));
        let took = start.elapsed().as_secs_f64();
        eprintln!(
            "{}: hunt with two IN lists of {N} values: {took:.2} s ({:.2} s per million values)",
            lake.name,
            took / (2 * N) as f64 * 1e6
        );
        // The first display's pids, then the second's.
        assert_eq!(pids(&out), [1030, 1066, 5010, 1026], "{}: {out}", lake.name);
    }
}

/// A MySQL/MariaDB load that dies mid-way (here a record larger than the server's
/// `max_allowed_packet`, which also drops the connection) leaves neither the table nor
/// its temporary twin behind.
#[test]
fn a_broken_mysql_load_leaves_no_table_behind() {
    let pid = std::process::id();
    let dir = common::scratch_dir("backends", "big");
    let mut b = open_rw(&common::my_url());
    let mut c = Collect::default();
    b.query(
        &SqlStatement {
            sql: "SELECT @@max_allowed_packet".into(),
            params: vec![],
        },
        &mut c,
    )
    .unwrap();
    let limit = match c.rows.first().and_then(|r| r.first()) {
        Some(Value::Int(n)) => *n as usize,
        other => panic!("{other:?}"),
    };
    let file = dir.join("big.jsonl");
    let big = "y".repeat(limit + 1024);
    std::fs::write(
        &file,
        format!("{{\"a\": 1, \"s\": \"x\"}}\n{{\"a\": 2, \"s\": \"{big}\"}}\n"),
    )
    .unwrap();
    let table = format!("kbk_big_{pid}");
    let err = ingest(&IngestOptions {
        files: vec![file],
        into: common::my_url(),
        table: table.clone(),
        ..Default::default()
    })
    .expect_err("a record over max_allowed_packet cannot be sent");
    let mut b = open_rw(&common::my_url());
    let mut left = Collect::default();
    b.query(
        &SqlStatement {
            sql: "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?".into(),
            params: vec![Literal::Str(format!("{table}%"))],
        },
        &mut left,
    )
    .unwrap();
    assert!(left.rows.is_empty(), "{err}: left behind {:?}", left.rows);
}

#[cfg(feature = "datafusion")]
#[test]
fn datafusion_statement_timeout_stops_a_long_query() {
    let dir = common::scratch_dir("backends", "big-timeout");
    common::big_parquet_table(&dir.0, 100_000);
    let mut b = backend::open(
        &format!("datafusion://{}", dir.0.display()),
        &OpenOptions::default(),
    )
    .unwrap();
    b.set_statement_timeout(Some(std::time::Duration::from_secs(1)));
    assert_eq!(b.columns("big").unwrap().unwrap().len(), 3);
    // 10^10 pairs through a nested-loop join: minutes of work unless stopped.
    let started = std::time::Instant::now();
    let err = b
        .query(
            &SqlStatement {
                sql: "SELECT COUNT(*) FROM \"big\" AS a, \"big\" AS b \
                      WHERE a.\"process.pid\" + b.\"process.pid\" < -1"
                    .into(),
                params: vec![],
            },
            &mut Collect::default(),
        )
        .expect_err("10^10 joined rows must be stopped");
    assert!(
        matches!(err, kestrel::backend::BackendError::Timeout(1)),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopped after {:?}",
        started.elapsed()
    );
    // The connection is still usable, and read-only: DataFusion refuses DDL and DML.
    let mut c = Collect::default();
    b.query(
        &SqlStatement {
            sql: "SELECT COUNT(*) FROM \"big\"".into(),
            params: vec![],
        },
        &mut c,
    )
    .unwrap();
    assert_eq!(c.rows, vec![vec![Value::Int(100_000)]]);
    let err = b
        .query(
            &SqlStatement {
                sql: "CREATE TABLE t AS SELECT 1 AS a".into(),
                params: vec![],
            },
            &mut Collect::default(),
        )
        .expect_err("DDL is refused");
    assert!(err.to_string().contains("DDL not supported"), "{err}");
}

/// `SAVE v TO lake/table/` writes v's records as a table of a Parquet lake (nested
/// structs, as `kestrel ingest --into datafusion://…` writes), replacing what was there:
/// DataFusion reads back the same records, and a second SAVE leaves only its own.
#[cfg(feature = "datafusion")]
#[test]
fn save_writes_a_table_of_a_parquet_lake_that_datafusion_reads() {
    let lakes = lakes("save", &["sqlite"]);
    let dir = common::scratch_dir("backends", "save-lake");
    let table = dir.join("lake").join("procs");
    let save = |pattern: &str| {
        let hunt = format!(
            "p = GET process FROM sqlalchemy://win WHERE {pattern}\n\
             SAVE p TO '{}/'\n\
             DISP p ATTR pid, name SORT BY pid ASC\n",
            table.display()
        );
        run_with(&lakes[0].config(), &hunt).unwrap_or_else(|e| panic!("{e}"))
    };
    let read_back = || {
        let mut b = backend::open(
            &format!("datafusion://{}", dir.join("lake").display()),
            &OpenOptions::default(),
        )
        .expect("the lake opens");
        let kinds = b.column_kinds("procs").expect("the saved table");
        assert!(
            kinds.iter().any(|(c, _)| c == "parent_process.pid"),
            "{kinds:?}"
        );
        let mut rows = Collect::default();
        b.query(
            &SqlStatement {
                sql: "SELECT pid, name FROM procs ORDER BY pid, name".into(),
                params: vec![],
            },
            &mut rows,
        )
        .expect("the saved table reads");
        rows.rows
    };
    // The DISP's (pid, name) pairs, as CSV lines after the header.
    let shown = |out: &str| -> Vec<String> {
        let mut v: Vec<String> = out.lines().skip(1).map(str::to_string).collect();
        v.sort();
        v.dedup();
        v
    };
    let distinct = |rows: Vec<Vec<kestrel::value::Value>>| -> Vec<String> {
        let mut v: Vec<String> = rows.iter().map(|r| format!("{},{}", r[0], r[1])).collect();
        v.sort();
        v.dedup();
        v
    };
    let all = save("pid > 0");
    let got = distinct(read_back());
    assert!(got.len() > 5, "{got:?}");
    assert_eq!(got, shown(&all));
    let some = save("name = 'cmd.exe'");
    let got = distinct(read_back());
    assert_eq!(got, shown(&some));
    assert!(got.len() < shown(&all).len(), "{got:?}");
    // Records with their source timestamps (TIMESTAMPED) go a directory per event day.
    let hunt = format!(
        "p = GET process FROM sqlalchemy://win WHERE pid > 0\nt = TIMESTAMPED(p)\nSAVE t TO '{}/'\n",
        dir.join("lake").join("stamped").display()
    );
    run_with(&lakes[0].config(), &hunt).unwrap_or_else(|e| panic!("{e}"));
    let mut b = backend::open(
        &format!("datafusion://{}", dir.join("lake").display()),
        &OpenOptions::default(),
    )
    .unwrap();
    b.column_kinds("stamped").unwrap();
    let mut rows = Collect::default();
    b.query(
        &SqlStatement {
            sql:
                "SELECT first_observed, \"eventDay\" FROM stamped WHERE first_observed IS NOT NULL"
                    .into(),
            params: vec![],
        },
        &mut rows,
    )
    .unwrap();
    assert!(!rows.rows.is_empty());
    for r in &rows.rows {
        let day: String = r[0].to_string().replace('-', "").chars().take(8).collect();
        assert_eq!(day, r[1].to_string(), "{r:?}");
    }
    std::fs::remove_dir_all(dir.join("lake").join("stamped")).unwrap();
    // A directory that is not a lake table is never written over.
    let notes = dir.join("lake").join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("keep.txt"), "mine").unwrap();
    let hunt = format!(
        "p = GET process FROM sqlalchemy://win WHERE pid > 0\nSAVE p TO '{}/'\n",
        notes.display()
    );
    let err = run_with(&lakes[0].config(), &hunt).expect_err("not a lake table");
    assert!(err.contains("is not a table of a Parquet lake"), "{err}");
    assert_eq!(
        std::fs::read_to_string(notes.join("keep.txt")).unwrap(),
        "mine"
    );
    std::fs::remove_dir_all(&notes).unwrap();
    // Nothing of the writing is left beside the table.
    let left: Vec<_> = std::fs::read_dir(dir.join("lake"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("procs")]);
}

/// The keep-budget hunts' output (`p`, GROUPed into `n` by name, INFO p, EXPLAIN p, with
/// the summary): p kept or not as `kept` says, and all of its `rows` rows counted, by the
/// GROUP, by INFO and by the summary.
fn assert_kept_and_counted(out: &str, kept: bool, most: usize, rows: i64, what: &str) {
    let not_kept = format!("-- p is not kept (more than {most} rows");
    let was_kept = "-- p was computed once and is kept in temporary table";
    assert_eq!(out.contains(&not_kept), !kept, "{what}: {out}");
    assert_eq!(out.contains(was_kept), kept, "{what}: {out}");
    let grouped: i64 = out
        .lines()
        .filter_map(|l| l.split("\"n\":").nth(1))
        .map(|v| v.trim_end_matches('}').parse::<i64>().unwrap())
        .sum();
    assert_eq!(grouped, rows, "{what}: {out}");
    assert!(
        out.contains(&format!("Number of Records\",\"value\":\"{rows}\"")),
        "{what}: {out}"
    );
    assert!(
        out.contains(&format!("# p process {rows} {rows}")),
        "{what}: {out}"
    );
}

/// On DataFusion a variable of more rows than the connection keeps
/// (`KEEP_AT_MOST`) is not kept: its store stops there and leaves no file, EXPLAIN says
/// so, and the statements and counts that read it compute it from the lake, with the
/// same answers; one row fewer and it is kept. The same on a Ballista cluster, whose
/// executors write nothing of the declined store either, and whose job, ended or
/// cancelled, leaves the connection answering the statements after it.
#[cfg(feature = "datafusion")]
#[test]
fn datafusion_keeps_a_variable_only_up_to_its_row_budget() {
    use kestrel::backend::datafusion::KEEP_AT_MOST;
    #[cfg(feature = "ballista")]
    let cluster = common::cluster::Cluster::start("keep-budget", 2, 2);
    type UrlOf<'a> = Box<dyn Fn(&Path) -> String + 'a>;
    let engines: Vec<(&str, UrlOf)> = vec![
        (
            "datafusion",
            Box::new(|dir| format!("datafusion://{}", dir.display())),
        ),
        #[cfg(feature = "ballista")]
        ("ballista", Box::new(|dir| cluster.url(dir))),
    ];
    let hunt = "p = GET process FROM x://big WHERE pid >= 0\n\
                g = GROUP p BY name WITH COUNT(pid) AS n\n\
                DISP g\n\
                INFO p\n\
                EXPLAIN p\n";
    for (engine, url) in &engines {
        for (rows, kept) in [
            (KEEP_AT_MOST as i64 + 1, false),
            (KEEP_AT_MOST as i64, true),
        ] {
            let what = format!("{engine}, {rows} rows");
            let dir = common::scratch_dir("backends", &format!("keep-budget-{engine}-{kept}"));
            common::big_parquet_table(&dir.0, rows);
            let scratch = dir.0.join("scratch");
            std::fs::create_dir_all(&scratch).unwrap();
            let yaml = format!(
                "connections: {{lake: {{url: '{}?scratch={}'}}}}\n\
                 datasources: {{big: {{connection: lake, table: big}}}}\n",
                url(&dir.0),
                scratch.display()
            );
            let config = Config::from_yaml_str(&yaml, None).unwrap();
            let out = common::run_jsonl_with_summary(&config, hunt).unwrap_or_else(|d| {
                #[cfg(feature = "ballista")]
                eprintln!("the cluster's logs:\n{}", cluster.logs());
                panic!("{what}: {d}")
            });
            assert_kept_and_counted(&out, kept, KEEP_AT_MOST, rows, &what);
            // What the declined store wrote is gone; the session's own files go with it.
            let left = common::files_under(&scratch);
            assert!(left.is_empty(), "{what}: left behind {left:?}");
        }
    }
}

/// On PostgreSQL a variable the planner expects to have more rows than
/// `KEEP_AT_MOST` is not kept (parallel workers cannot read a temporary table): EXPLAIN
/// says so and the statements and counts that read it compute it from the lake, with
/// the same answers; a small variable of the same table is kept.
#[test]
fn postgres_keeps_no_variable_the_planner_expects_to_be_large() {
    use kestrel::backend::postgres::KEEP_AT_MOST;
    let rows = KEEP_AT_MOST as i64 + 50_000;
    let table = format!("kestrel_big_{}", std::process::id());
    let mut client = postgres::Client::connect(&common::pg_url(), postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            r#"DROP TABLE IF EXISTS {table};
               CREATE TABLE {table} AS SELECT '2024-07-08T00:00:01.000000Z' AS "@timestamp",
                 i AS "process.pid", 'p' || (i % 3) AS "process.name"
               FROM generate_series(1, {rows}) AS s(i);
               ANALYZE {table};"#
        ))
        .unwrap();
    let config = lake_config(&common::pg_url(), "big", &table);
    for (filter, n, kept) in [("pid > 0", rows, false), ("pid <= 1000", 1000, true)] {
        let hunt = format!(
            "p = GET process FROM x://big WHERE {filter}\n\
             g = GROUP p BY name WITH COUNT(pid) AS n\n\
             DISP g\n\
             INFO p\n\
             EXPLAIN p\n"
        );
        let out = common::run_jsonl_with_summary(&config, &hunt).unwrap();
        assert_kept_and_counted(&out, kept, KEEP_AT_MOST, n, filter);
        // A variable that one DISP shows and the summary counts: counted on the way with
        // grouping sets when small; when large, computed again for the count instead.
        let hunt =
            format!("q = GET process FROM x://big WHERE {filter}\nDISP q ATTR name\nEXPLAIN q\n");
        let out = common::run_jsonl_with_summary(&config, &hunt).unwrap();
        let on_the_way = "-- q is not kept: one statement reads it, and counts its records and \
                          entities for the summary on the way";
        let too_many = format!("-- q is not kept (more than {KEEP_AT_MOST} rows");
        assert_eq!(out.contains(on_the_way), kept, "{filter}: {out}");
        assert_eq!(out.contains(&too_many), !kept, "{filter}: {out}");
        assert_eq!(out.contains(BESIDE), !kept, "{filter}: {out}");
        assert!(
            out.contains(&format!("# q process {n} {n}")),
            "{filter}: {out}"
        );
    }
    // The large q's count for the summary ran on a second connection, and a second one
    // is all it took: a login allowed one connection counts on its first instead.
    let role = format!("kestrel_one_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN CONNECTION LIMIT 1;\n\
             GRANT SELECT ON {table} TO {role};"
        ))
        .unwrap();
    let one = common::pg_url().replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(one, common::pg_url(), "the test's URL names its user");
    for (url, beside) in [(common::pg_url(), 1), (one, 0)] {
        let config = lake_config(&url, "big", &table);
        let mut session = kestrel::session::Session::new(Some(&config), Default::default());
        session
            .run_hunt(
                &SourceFile::new(
                    "hunt.hf",
                    "q = GET process FROM x://big WHERE pid > 0\nDISP q ATTR name\n",
                ),
                &mut Printer::new(Vec::new(), Format::Csv),
            )
            .unwrap_or_else(|d| panic!("{url}: {}", d.message));
        let summary = session.summary().unwrap();
        assert_eq!(
            (summary[0].records, summary[0].entities),
            (rows as u64, rows as u64),
            "{url}"
        );
        assert_eq!(session.counted_beside(), beside, "{url}");
    }
    client
        .batch_execute(&format!("DROP TABLE {table}; DROP ROLE {role}"))
        .unwrap();
}

/// On PostgreSQL, the summary's count of a large variable that is not kept runs on a
/// second connection. Where the planner expects more distinct entities than `work_mem`
/// holds, that connection sends the variable's identities and kestrel counts them as
/// they arrive; where they fit (few hosts, or the processes with `work_mem` raised in
/// the connection's options), the server counts. Both give the server's own counts:
/// records, and distinct whole identities (here with repeated and missing pids).
#[test]
fn postgres_counts_many_entities_as_they_stream_and_few_on_the_server() {
    use kestrel::backend::postgres::KEEP_AT_MOST;
    let rows = KEEP_AT_MOST as i64 + 50_000;
    let table = format!("kestrel_many_{}", std::process::id());
    let mut client = postgres::Client::connect(&common::pg_url(), postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            r#"DROP TABLE IF EXISTS {table};
               CREATE TABLE {table} AS SELECT '2024-07-08T00:00:01.000000Z' AS "@timestamp",
                 CASE WHEN i % 11 = 0 THEN NULL ELSE i % 180000 END AS "process.pid",
                 'p' || (i % 3) AS "process.name", 'h' || ((i / 100000) % 2) AS "host.name"
               FROM generate_series(1, {rows}) AS s(i);
               ANALYZE {table};"#
        ))
        .unwrap();
    let mut server = |sql: &str| -> i64 { client.query_one(sql, &[]).unwrap().get(0) };
    let pids = server(&format!(
        r#"SELECT count(*) FROM {table} WHERE "process.pid" IS NOT NULL"#
    ));
    let processes = server(&format!(
        r#"SELECT count(*) FROM (SELECT DISTINCT "process.pid", "host.name" FROM {table}
           WHERE "process.pid" IS NOT NULL) e"#
    ));
    // A pid repeats on another host: more processes than pids, fewer than records.
    let distinct_pids = server(&format!(
        r#"SELECT count(DISTINCT "process.pid") FROM {table}"#
    ));
    assert!(
        processes > distinct_pids && processes < pids,
        "{processes} of {pids}"
    );
    // `work_mem` as the connection sets it: the server's default (4 MB), whatever this
    // one's configuration says; and 64 MB, where the processes' count fits too.
    let url = common::pg_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let streamed = "which sends its rows to be counted as they arrive";
    for (work_mem, many_stream) in [("4MB", true), ("64MB", false)] {
        let config = lake_config(
            &format!("{url}{sep}options=-c%20work_mem%3D{work_mem}"),
            "big",
            &table,
        );
        for (hunt, var, kind, records, entities, streams) in [
            (
                "q = GET process FROM x://big WHERE name LIKE 'p%'\nDISP q ATTR name\nEXPLAIN q\n",
                "q",
                "process",
                pids,
                processes,
                many_stream,
            ),
            (
                "d = GET x-oca-asset FROM x://big WHERE hostname LIKE 'h%'\nDISP d ATTR hostname\nEXPLAIN d\n",
                "d",
                "x-oca-asset",
                rows,
                2,
                false,
            ),
        ] {
            let what = format!("{var}, work_mem {work_mem}");
            let out = common::run_jsonl_with_summary(&config, hunt).unwrap();
            assert!(out.contains(BESIDE), "{what}: {out}");
            assert_eq!(out.contains(streamed), streams, "{what}: {out}");
            assert!(
                out.contains(&format!("# {var} {kind} {entities} {records}")),
                "{what}: {out}"
            );
        }
    }
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .unwrap();
}

/// A streamed count of more entities than the tally holds in memory spills their hashes
/// to temporary files and stays exact; where those files cannot be made (a temporary
/// directory that does not exist), the server's own count query counts instead, as
/// SQLite's `COUNT(DISTINCT …)` does for its distinct count. A process of its own each
/// time, for its environment.
#[test]
fn postgres_streamed_count_past_the_budget_stays_exact_and_falls_back_to_the_server() {
    use kestrel::backend::sqlite::DISTINCT_BUDGET;
    let rows = DISTINCT_BUDGET as i64 + 50_000;
    let table = format!("kestrel_spill_{}", std::process::id());
    let mut client = postgres::Client::connect(&common::pg_url(), postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            r#"DROP TABLE IF EXISTS {table};
               CREATE TABLE {table} AS SELECT '2024-07-08T00:00:01.000000Z' AS "@timestamp",
                 i AS "process.pid", 'p' || (i % 3) AS "process.name", 'h' AS "host.name"
               FROM generate_series(1, {rows}) AS s(i);
               ANALYZE {table};"#
        ))
        .unwrap();
    let url = common::pg_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let dir = common::fresh_dir("backends", "streamed-spill");
    let config = dir.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!(
            "connections: {{lake: {{url: '{url}{sep}options=-c%20work_mem%3D4MB'}}}}\n\
             datasources: {{big: {{connection: lake, table: {table}}}}}\n"
        ),
    )
    .unwrap();
    let hunt = dir.join("hunt.hf");
    std::fs::write(
        &hunt,
        "q = GET process FROM x://big WHERE name LIKE 'p%'\nDISP q ATTR name\nEXPLAIN q\n",
    )
    .unwrap();
    for tmpdir in [None, Some(dir.join("no-such-directory"))] {
        let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"));
        run.arg("run").arg("--config").arg(&config).arg(&hunt);
        if let Some(t) = &tmpdir {
            run.env("TMPDIR", t);
        }
        let out = run.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{tmpdir:?}: {text}");
        assert!(
            text.contains("which sends its rows to be counted as they arrive"),
            "{tmpdir:?}: {text}"
        );
        let expected = [
            "q".to_string(),
            "process".into(),
            rows.to_string(),
            rows.to_string(),
        ];
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().eq(expected.iter().map(String::as_str))),
            "{tmpdir:?}: the summary says {expected:?}: {text}"
        );
    }
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A configuration with one connection `lake` at `url`, and its table as data source `ds`.
fn lake_config(url: &str, ds: &str, table: &str) -> Config {
    let yaml = format!(
        "connections: {{lake: {{url: '{url}'}}}}\n\
         datasources: {{{ds}: {{connection: lake, table: {table}}}}}\n"
    );
    Config::from_yaml_str(&yaml, None).unwrap()
}

/// What EXPLAIN says of a variable whose count for the summary runs on a second
/// connection.
const BESIDE: &str =
    "the summary's count of it runs on a second connection, beside the hunt's statements";

/// CSV and JSON-lines tables compressed by the usual tools (gzip, bzip2, xz, zstd) read
/// on DataFusion as the plain files do: the same hunts give the same answers (the ECS
/// conformance hunts over the CSV fixture, the bundled Windows hunts over one OTRF
/// sample, as the bundle ships it, `*.jsonl.gz`).
#[cfg(feature = "datafusion")]
#[test]
fn datafusion_reads_compressed_csv_and_json_lines_as_the_plain_files() {
    use std::io::Read;
    let dir = common::scratch_dir("backends", "compressed");
    std::fs::copy(
        root().join("tests/fixtures/ecs_process_creation.csv"),
        dir.0.join("events.csv"),
    )
    .unwrap();
    let mut jsonl = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(root().join("examples/data/empire_launcher_vbs.jsonl.gz")).unwrap(),
    )
    .read_to_end(&mut jsonl)
    .unwrap();
    std::fs::write(dir.0.join("win.jsonl"), jsonl).unwrap();
    let exts = [
        ("gzip", "gz"),
        ("bzip2", "bz2"),
        ("xz", "xz"),
        ("zstd", "zst"),
    ];
    for (tool, ext) in exts {
        for plain in ["events.csv", "win.jsonl"] {
            let packed = std::process::Command::new(tool)
                .arg("-c")
                .arg(dir.0.join(plain))
                .output()
                .unwrap_or_else(|e| panic!("{tool} (see .ci/run): {e}"));
            assert!(packed.status.success(), "{tool}");
            std::fs::write(dir.0.join(format!("{plain}.{ext}")), packed.stdout).unwrap();
        }
    }
    let hunts: Vec<String> = ecs_hunts()
        .into_iter()
        .map(|(_, h, _)| h)
        .chain(win_hunts().into_iter().map(|(_, h)| h))
        .collect();
    let answers = |csv: &str, json: &str| -> Vec<String> {
        let yaml = format!(
            "connections: {{lake: {{url: 'datafusion://{}'}}}}\n\
             datasources:\n\
             \x20 ecs: {{connection: lake, table: '{csv}', timestamp: '@timestamp', timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'}}\n\
             \x20 win: {{connection: lake, table: '{json}', timestamp: '@timestamp', timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ', data_model_map: winevent}}\n",
            dir.0.display()
        );
        let config = Config::from_yaml_str(&yaml, None).unwrap();
        hunts
            .iter()
            .map(|h| {
                let out = common::run_jsonl_with_summary(&config, h)
                    .unwrap_or_else(|e| format!("error: {e}"));
                // Rows in any order where the hunt gives none (a GROUP).
                let mut lines: Vec<&str> = out.lines().collect();
                lines.sort_unstable();
                lines.join("\n")
            })
            .collect()
    };
    let plain = answers("events.csv", "win.jsonl");
    assert!(
        plain.iter().any(|a| a.contains("\"pid\":1030")),
        "the fixture's answers: {plain:?}"
    );
    assert!(!plain.iter().any(|a| a.starts_with("error")), "{plain:?}");
    let windows = &plain[ecs_hunts().len()..];
    assert!(
        windows.iter().any(|a| a.contains('{')),
        "no Windows hunt shows a row: {windows:?}"
    );
    for (_, ext) in exts {
        let got = answers(&format!("events.csv.{ext}"), &format!("win.jsonl.{ext}"));
        for (i, (g, p)) in got.iter().zip(&plain).enumerate() {
            assert_eq!(g, p, ".{ext}, hunt {i}:\n{}", hunts[i]);
        }
    }
}

/// A table without the mapping's timestamp column (ECS `@timestamp`), where the
/// configuration names none: a variable kept on PostgreSQL, and one a reference reads
/// without START/STOP, are stamped and measured with no timestamp at all instead of a
/// query naming a column that is not there (which PostgreSQL refused; SQLite read the
/// name as a string).
#[test]
fn a_table_without_the_mappings_timestamp_column_is_hunted_without_one() {
    let table = format!("kestrel_no_ts_{}", std::process::id());
    let mut client = postgres::Client::connect(&common::pg_url(), postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            r#"DROP TABLE IF EXISTS {table};
               CREATE TABLE {table} AS SELECT 'x'::text AS "process.name", i AS "process.pid",
                 'u' || i AS "process.entity_id" FROM generate_series(1, 100) AS s(i);"#
        ))
        .unwrap();
    let config = lake_config(&common::pg_url(), "t", &table);
    let hunt = "p = GET process FROM x://t WHERE pid < 4\n\
                DISP p ATTR pid\n\
                q = GET process FROM x://t WHERE pid = p.pid\n\
                DISP q ATTR pid\n\
                EXPLAIN p\n";
    let out = common::run_jsonl_with_summary(&config, hunt);
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .unwrap();
    let out = out.unwrap();
    assert!(
        out.contains("-- p was computed once and is kept in temporary table"),
        "{out}"
    );
    let mut shown = pids(&out);
    shown.sort();
    assert_eq!(shown, vec![1, 1, 2, 2, 3, 3], "{out}");
    assert!(out.contains("# q process 3 3"), "{out}");
}
