//! End to end on SQLite for GROUP, JOIN, SORT, merge, TIMESTAMPED, LOAD, SAVE, LAST and
//! references across data sources. Answers are worked out by hand from
//! `tests/fixtures/ecs_process_creation.csv` (nine process launches):
//!
//! ```text
//! time (2024-07-…)       host    os       name      pid   parent (pid)
//! 08T00:00:01.000000Z    Host A  Linux    bash      1026  abc (1022)
//! 08T00:00:02.000000Z    Host A  Linux    uname     1027  bash (1026)
//! 08T00:00:11.000000Z    Host A  Linux    cat       1028  bash (1026)
//! 08T00:04:11.000000Z    Host A  Linux    ping      1030  bash (1026)
//! 08T00:30:51.000000Z    Host A  Linux    curl      1066  bash (1026)
//! 09T00:10:51.000000Z    Host B  Windows  ping      5010  powershell.exe (1025)
//! 09T00:10:52.000000Z    Host B  Windows  pathping  5018  powershell.exe (1025)
//! 09T00:10:55.000020Z    Host B  Windows  ipconfig  6008  powershell.exe (1025)
//! 09T00:10:58.000001Z    Host B  Windows  netstat   1235  powershell.exe (1025)
//! ```

mod common;

use std::path::{Path, PathBuf};

use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::output::{Format, Printer, SummaryRow};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use serde_json::{json, Value};

/// Two databases holding the same nine events: data source `events` on connection
/// `lake`, data source `other` on connection `lake2`.
struct Lake {
    dir: PathBuf,
    config: Config,
}

impl Lake {
    fn new(name: &str) -> Lake {
        let dir = common::fresh_dir("lang", name);
        for db in ["lake.db", "lake2.db"] {
            common::ingest_ecs_fixture(&dir.join(db));
        }
        let yaml = format!(
            "connections:\n  lake:\n    url: sqlite:///{d}/lake.db\n  lake2:\n    url: sqlite:///{d}/lake2.db\n\
             datasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n    timestamp_format: \"%Y-%m-%dT%H:%M:%S.%fZ\"\n\
             \x20 other:\n    connection: lake2\n    table: events\n    timestamp: \"@timestamp\"\n    timestamp_format: \"%Y-%m-%dT%H:%M:%S.%fZ\"\n",
            d = dir.display()
        );
        let config = Config::from_yaml_str(&yaml, None).expect("config");
        Lake { dir, config }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn run(&self, hunt: &str) -> Result<(String, Vec<SummaryRow>), String> {
        let src = SourceFile::new("hunt.hf", hunt);
        let mut printer = Printer::new(Vec::new(), Format::Json);
        let rows = run_hunt(
            &src,
            Some(&self.config),
            &mut printer,
            &mut Vec::new(),
            // The summary rows are what the tests check (written to a throwaway buffer).
            &RunOptions { summary: true },
        )
        .map_err(|d| d.render(&src))?;
        Ok((String::from_utf8(printer.into_inner()).unwrap(), rows))
    }

    /// Each display's rows (one JSON array per DISP).
    fn displays(&self, hunt: &str) -> Vec<Vec<Value>> {
        let (out, _) = self.run(hunt).unwrap_or_else(|e| panic!("{e}"));
        out.lines()
            .map(|l| match serde_json::from_str(l).unwrap() {
                Value::Array(rows) => rows,
                other => panic!("not an array: {other}"),
            })
            .collect()
    }

    /// The rows of a hunt's only display.
    fn rows(&self, hunt: &str) -> Vec<Value> {
        let mut d = self.displays(hunt);
        assert_eq!(d.len(), 1, "one display expected");
        d.remove(0)
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn column<'a>(rows: &'a [Value], name: &str) -> Vec<&'a Value> {
    rows.iter().map(|r| &r[name]).collect()
}

const ALL: &str = "procs = GET process FROM sqlalchemy://events WHERE pid > 0\n";

#[test]
fn group_with_every_aggregate() {
    let lake = Lake::new("group");
    let rows = lake.rows(&format!(
        "{ALL}g = GROUP procs BY endpoint.hostname WITH COUNT(pid) AS n, MIN(pid), MAX(pid), \
         SUM(pid), AVG(pid), NUNIQUE(name)\nDISP g SORT BY n DESC"
    ));
    assert_eq!(
        rows,
        [
            json!({"endpoint.hostname": "Host A", "n": 5, "min_pid": 1026, "max_pid": 1066,
                   "sum_pid": 5177, "avg_pid": 1035.4, "nunique_name": 5}),
            json!({"endpoint.hostname": "Host B", "n": 4, "min_pid": 1235, "max_pid": 6008,
                   "sum_pid": 17271, "avg_pid": 4317.75, "nunique_name": 4}),
        ]
    );
}

#[test]
fn group_without_with_counts_unique_values_of_the_other_attributes() {
    let lake = Lake::new("group-unique");
    let rows = lake.rows(&format!(
        "{ALL}p = procs ATTR endpoint.hostname, name, user.name\n\
         g = GROUP p BY endpoint.hostname\nDISP g SORT BY endpoint.hostname ASC"
    ));
    assert_eq!(
        rows,
        [
            json!({"endpoint.hostname": "Host A", "unique_name": 5, "unique_user.name": 1}),
            json!({"endpoint.hostname": "Host B", "unique_name": 4, "unique_user.name": 1}),
        ]
    );
}

#[test]
fn group_by_bin_of_numbers() {
    let lake = Lake::new("bin-number");
    let rows = lake.rows(&format!(
        "{ALL}g = GROUP procs BY BIN(pid, 1000) WITH COUNT(pid) AS n\nDISP g SORT BY pid ASC"
    ));
    assert_eq!(
        rows,
        [
            json!({"pid": 1000, "n": 6}),
            json!({"pid": 5000, "n": 2}),
            json!({"pid": 6000, "n": 1}),
        ]
    );
}

#[test]
fn group_by_bin_of_timestamps() {
    let lake = Lake::new("bin-time");
    let displays = lake.displays(&format!(
        "{ALL}t = TIMESTAMPED(procs)\n\
         five = GROUP t BY BIN(first_observed, 5m) WITH COUNT(pid) AS n\n\
         DISP five SORT BY first_observed ASC\n\
         daily = GROUP t BY endpoint.hostname, BIN(first_observed, 1d) WITH NUNIQUE(name) AS names\n\
         DISP daily SORT BY first_observed ASC"
    ));
    assert_eq!(
        displays[0],
        [
            json!({"first_observed": "2024-07-08T00:00:00Z", "n": 4}),
            json!({"first_observed": "2024-07-08T00:30:00Z", "n": 1}),
            json!({"first_observed": "2024-07-09T00:10:00Z", "n": 4}),
        ]
    );
    assert_eq!(
        displays[1],
        [
            json!({"endpoint.hostname": "Host A", "first_observed": "2024-07-08T00:00:00Z", "names": 5}),
            json!({"endpoint.hostname": "Host B", "first_observed": "2024-07-09T00:00:00Z", "names": 4}),
        ]
    );
}

#[test]
fn timestamped_adds_the_event_time_of_each_record() {
    let lake = Lake::new("timestamped");
    let displays = lake.displays(
        "linux = GET process FROM sqlalchemy://events WHERE os.name = 'Linux'\n\
         DISP TIMESTAMPED(linux) ATTR first_observed, name SORT BY first_observed ASC LIMIT 2\n\
         kids = FIND process CREATED BY linux\n\
         kids = TIMESTAMPED(kids)\n\
         DISP kids ATTR name, first_observed SORT BY first_observed DESC LIMIT 1",
    );
    assert_eq!(
        displays[0],
        [
            json!({"first_observed": "2024-07-08T00:00:01.000000Z", "name": "bash"}),
            json!({"first_observed": "2024-07-08T00:00:02.000000Z", "name": "uname"}),
        ]
    );
    // bash (1026) created the other four; the last of them was curl.
    assert_eq!(
        displays[1],
        [json!({"name": "curl", "first_observed": "2024-07-08T00:30:51.000000Z"})]
    );
}

#[test]
fn join_by_attributes_adds_the_right_side_attributes() {
    let lake = Lake::new("join");
    let rows = lake.rows(
        "kids = GET process FROM sqlalchemy://events WHERE os.name = 'Linux'\n\
         k = kids ATTR name, parent_process.pid\n\
         shells = GET process FROM sqlalchemy://events WHERE name = 'bash'\n\
         s = shells ATTR pid, cmd_line\n\
         j = JOIN k, s BY parent_process.pid, pid\n\
         DISP j SORT BY name ASC",
    );
    let c = |name: &str| json!({"name": name, "parent_process.pid": 1026, "pid": 1026, "cmd_line": "bash"});
    assert_eq!(rows, [c("cat"), c("curl"), c("ping"), c("uname")]);
}

#[test]
fn join_without_by_uses_the_identity_and_works_with_new() {
    let lake = Lake::new("join-identity");
    let displays = lake.displays(
        "linux = GET process FROM sqlalchemy://events WHERE os.name = 'Linux'\n\
         some = GET process FROM sqlalchemy://events WHERE name IN ('bash', 'curl', 'netstat')\n\
         both = JOIN linux, some\n\
         DISP both ATTR name SORT BY name ASC\n\
         labels = NEW process [{\"pid\": 1026, \"x_label\": \"the shell\"}]\n\
         l = JOIN linux, labels BY parent_process.pid, pid\n\
         DISP l ATTR name, x_label SORT BY name ASC",
    );
    assert_eq!(column(&displays[0], "name"), ["bash", "curl"]);
    assert_eq!(displays[1].len(), 4);
    assert!(displays[1].iter().all(|r| r["x_label"] == "the shell"));
}

#[test]
fn sort_order_reaches_the_display_and_later_expressions() {
    let lake = Lake::new("sort");
    let displays = lake.displays(&format!(
        "{ALL}up = SORT procs BY pid ASC\nDISP up ATTR name, pid LIMIT 3\n\
         down = SORT procs BY pid\nlinux = down WHERE endpoint.hostname = 'Host A'\nDISP linux ATTR pid\n\
         DISP down ATTR name LIMIT 3\n\
         DISP procs ATTR name SORT BY pid ASC LIMIT 2\n\
         top3 = down LIMIT 3\nDISP top3 ATTR pid\n\
         first = GET process FROM down LIMIT 1\nDISP first ATTR pid"
    ));
    assert_eq!(column(&displays[0], "pid"), [1026, 1027, 1028]);
    assert_eq!(column(&displays[1], "pid"), [1066, 1030, 1028, 1027, 1026]);
    // Sorted by a hidden attribute: each name by its largest pid (ping: 5010).
    assert_eq!(
        column(&displays[2], "name"),
        ["ipconfig", "pathping", "ping"]
    );
    assert_eq!(column(&displays[3], "name"), ["bash", "uname"]);
    // LIMIT takes the first rows in the variable's order.
    assert_eq!(column(&displays[4], "pid"), [6008, 5018, 5010]);
    assert_eq!(column(&displays[5], "pid"), [6008]);
}

#[test]
fn merge_unions_variables_of_one_type() {
    let lake = Lake::new("merge");
    let (_, summary) = lake
        .run(
            "a = GET process FROM sqlalchemy://events WHERE os.name = 'Linux'\n\
             b = GET process FROM sqlalchemy://events WHERE name = 'ping'\n\
             c = NEW process [{\"name\": \"x.exe\", \"pid\": 1}]\n\
             m = a + b + c\nDISP m ATTR pid",
        )
        .unwrap();
    let m = summary.iter().find(|r| r.variable == "m").unwrap();
    // 5 Linux + 2 ping (one of them Linux) + 1 new record.
    assert_eq!(m.records, 8);
}

#[test]
fn merge_of_different_types_is_an_error() {
    let lake = Lake::new("merge-error");
    let err = lake
        .run(
            "a = GET process FROM sqlalchemy://events WHERE os.name = 'Linux'\n\
             u = NEW user [{\"name\": \"root\"}]\nm = a + u",
        )
        .unwrap_err();
    assert!(
        err.contains("cannot merge `a` (process) with `u` (user)"),
        "{err}"
    );
    assert!(err.contains("hunt.hf:3:9"), "{err}");
}

#[test]
fn last_and_get_without_from() {
    let lake = Lake::new("last");
    let (_, summary) = lake
        .run(
            "old = GET process FROM sqlalchemy://events WHERE pid > 0 LAST 100000 DAYS\n\
             recent = GET process FROM sqlalchemy://events WHERE pid > 0 LAST 30 DAYS\n\
             again = GET process WHERE name = 'cat'",
        )
        .unwrap();
    let n = |v: &str| summary.iter().find(|r| r.variable == v).unwrap().records;
    // The fixture is from July 2024: all of it lies within 100000 days, none within 30.
    assert_eq!(n("old"), 9);
    assert_eq!(n("recent"), 0);
    assert_eq!(n("again"), 1);
}

#[test]
fn load_csv_json_and_jsonl_and_use_them_in_patterns() {
    let lake = Lake::new("load");
    std::fs::write(lake.path("bad.csv"), "name,score\nping,7\nnetstat,3\n").unwrap();
    std::fs::write(
        lake.path("bad.json"),
        r#"[{"type": "process", "name": "curl", "x": {"y": 1}}]"#,
    )
    .unwrap();
    std::fs::write(
        lake.path("bad.jsonl"),
        "{\"name\": \"uname\"}\n{\"name\": \"cat\"}\n",
    )
    .unwrap();
    let displays = lake.displays(&format!(
        "bad = LOAD {} AS process\nhits = GET process FROM sqlalchemy://events WHERE name IN bad.name\n\
         DISP hits ATTR name, pid SORT BY pid ASC\n\
         j = LOAD {}\nDISP j\n\
         l = LOAD {} AS process\nhits2 = GET process FROM sqlalchemy://events WHERE name = l.name\n\
         DISP hits2 ATTR name SORT BY name ASC\nDISP bad SORT BY score DESC",
        lake.path("bad.csv"),
        lake.path("bad.json"),
        lake.path("bad.jsonl"),
    ));
    assert_eq!(
        displays[0],
        [
            json!({"name": "ping", "pid": 1030}),
            json!({"name": "netstat", "pid": 1235}),
            json!({"name": "ping", "pid": 5010}),
        ]
    );
    assert_eq!(displays[1], [json!({"name": "curl", "x.y": 1})]);
    assert_eq!(column(&displays[2], "name"), ["cat", "uname"]);
    // CSV types are inferred: score is a number.
    assert_eq!(column(&displays[3], "score"), [7, 3]);
}

#[test]
fn save_writes_csv_json_and_jsonl_that_load_reads_back() {
    let lake = Lake::new("save");
    let (csv, json, jsonl) = (
        lake.path("w.csv"),
        lake.path("w.json"),
        lake.path("w.jsonl"),
    );
    lake.run(&format!(
        "w = GET process FROM sqlalchemy://events WHERE os.name = 'Windows'\n\
         w2 = w ATTR name, pid SORT BY pid ASC\n\
         SAVE w2 TO {csv}\nSAVE w2 TO {json}\nSAVE w2 TO {jsonl}"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "name,pid\nnetstat,1235\nping,5010\npathping,5018\nipconfig,6008\n"
    );
    let j: Value = serde_json::from_str(std::fs::read_to_string(&json).unwrap().trim()).unwrap();
    assert_eq!(j[0], json!({"name": "netstat", "pid": 1235}));
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 4);
    for file in [&csv, &json, &jsonl] {
        let rows = lake.rows(&format!(
            "back = LOAD {file} AS process\nDISP back ATTR pid SORT BY pid DESC LIMIT 1"
        ));
        assert_eq!(rows, [json!({"pid": 6008})], "{file}");
    }
    // Nothing but the three files: no temporary files left behind.
    let mut names: Vec<String> = std::fs::read_dir(&lake.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("w") || n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["w.csv", "w.json", "w.jsonl"]);
}

#[test]
fn failed_save_leaves_no_file() {
    let lake = Lake::new("save-fail");
    let target = lake.path("missing-dir/out.csv");
    let err = lake
        .run(&format!(
            "w = GET process FROM sqlalchemy://events WHERE os.name = 'Windows'\nSAVE w TO {target}"
        ))
        .unwrap_err();
    assert!(err.contains("cannot write"), "{err}");
    assert!(!Path::new(&target).exists());
    assert!(!lake.dir.join("missing-dir").exists());
}

#[test]
fn references_across_connections_ship_the_values() {
    let lake = Lake::new("across");
    let displays = lake.displays(
        "ps = GET process FROM sqlalchemy://events WHERE name = 'ping'\n\
         same_host = GET process FROM sqlalchemy://other WHERE endpoint.hostname = ps.endpoint.hostname AND name != 'ping'\n\
         DISP same_host ATTR name SORT BY name ASC\n\
         win = GET process FROM sqlalchemy://other WHERE os.name = 'Windows'\n\
         linux = GET process FROM sqlalchemy://events WHERE os.name = 'Linux'\n\
         both = linux + win\nDISP both ATTR pid SORT BY pid ASC LIMIT 1 OFFSET 5\n\
         kids = FIND process CREATED BY linux\n\
         j = JOIN win, kids BY endpoint.hostname, endpoint.hostname\nINFO j",
    );
    assert_eq!(
        column(&displays[0], "name"),
        ["bash", "cat", "curl", "ipconfig", "netstat", "pathping", "uname"]
    );
    // Linux 1026…1066 (5), then Windows 1235 is the sixth smallest.
    assert_eq!(column(&displays[1], "pid"), [1235]);
    // Windows and Linux hosts differ: nothing joins.
    let records = displays[2]
        .iter()
        .find(|r| r["field"] == "Number of Records")
        .unwrap();
    assert_eq!(records["value"], "0");
}

#[test]
fn a_reference_without_time_range_searches_the_referenced_time_span() {
    let mut lake = Lake::new("span");
    let hunt = "ps = GET process FROM sqlalchemy://events WHERE name = 'curl'\n\
         near = GET process FROM sqlalchemy://events WHERE endpoint.hostname = ps.endpoint.hostname\n\
         within = GET process FROM sqlalchemy://events WHERE endpoint.hostname = ps.endpoint.hostname \
         START t'2024-07-08T00:00:00Z' STOP t'2024-07-08T01:00:00Z'\n\
         elsewhere = GET process FROM sqlalchemy://other WHERE endpoint.hostname = ps.endpoint.hostname
         bashes = GET process FROM sqlalchemy://events WHERE name = 'bash' START t'2024-07-08T00:00:00Z' STOP t'2024-07-09T00:00:00Z'
         kids = FIND process CREATED BY bashes WHERE endpoint.hostname = ps.endpoint.hostname";
    let records = |lake: &Lake| {
        let (_, s) = lake.run(hunt).unwrap_or_else(|e| panic!("{e}"));
        ["near", "within", "elsewhere", "kids"]
            .map(|v| s.iter().find(|r| r.variable == v).unwrap().records)
    };
    // curl ran at 00:30:51; within 5 minutes of it Host A ran nothing else. An explicit
    // range wins (all five of Host A); the span holds on another connection and in FIND
    // (of bash's four children only curl).
    assert_eq!(records(&lake), [1, 5, 1, 1]);
    // An hour earlier reaches back to bash, uname, cat and ping (00:00:01 … 00:04:11).
    lake.config.language.timerange_start_offset = -3600;
    assert_eq!(records(&lake), [5, 5, 5, 4]);
}

#[test]
fn large_loaded_files_travel_as_temporary_tables() {
    let lake = Lake::new("large");
    // 3002 rows x 2 columns: more values than one SQLite statement may bind.
    let mut csv = String::from("name,n\n");
    for i in 0..3000 {
        csv.push_str(&format!("p{i},{i}\n"));
    }
    csv.push_str("ping,-1\ncurl,-2\n");
    std::fs::write(lake.path("big.csv"), csv).unwrap();
    let (out, summary) = lake
        .run(&format!(
            "big = LOAD {} AS process\n\
             hits = GET process FROM sqlalchemy://events WHERE name IN big.name\n\
             DISP hits ATTR name, pid SORT BY pid ASC\nDISP big ATTR n SORT BY n ASC LIMIT 1",
            lake.path("big.csv")
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let displays: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        displays[0],
        json!([{"name": "ping", "pid": 1030}, {"name": "curl", "pid": 1066}, {"name": "ping", "pid": 5010}])
    );
    assert_eq!(displays[1], json!([{"n": -2}]));
    let big = summary.iter().find(|r| r.variable == "big").unwrap();
    assert_eq!(big.records, 3002);
}

#[test]
fn expressions_combine_every_clause_with_timestamped() {
    let lake = Lake::new("clauses");
    let displays = lake.displays(&format!(
        "{ALL}late = TIMESTAMPED(procs) WHERE first_observed >= '2024-07-08T00:00:10Z' AND endpoint.hostname = 'Host A' \
         ATTR name, pid, first_observed SORT BY first_observed ASC LIMIT 2 OFFSET 1\n\
         DISP late\n\
         DISP TIMESTAMPED(procs) WHERE pid < 1100 ATTR name SORT BY first_observed LIMIT 1\n\
         DISP procs WHERE name LIKE 'p%' ATTR pid, name SORT BY pid ASC LIMIT 1 OFFSET 1"
    ));
    // Host A from 00:00:10: cat (00:00:11), ping (00:04:11), curl (00:30:51); skip one.
    assert_eq!(
        displays[0],
        [
            json!({"name": "ping", "pid": 1030, "first_observed": "2024-07-08T00:04:11.000000Z"}),
            json!({"name": "curl", "pid": 1066, "first_observed": "2024-07-08T00:30:51.000000Z"}),
        ]
    );
    // Newest record with pid < 1100 (sorted by a column not shown): curl.
    assert_eq!(displays[1], [json!({"name": "curl"})]);
    // pids of ping, pathping: 1030, 5010, 5018; the second is 5010.
    assert_eq!(displays[2], [json!({"pid": 5010, "name": "ping"})]);
}

#[test]
fn bin_of_epoch_second_timestamps_is_numeric() {
    let dir = std::env::temp_dir().join(format!("kestrel-lang-epoch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("e.jsonl");
    std::fs::write(
        &data,
        "{\"ts\": 1000, \"process\": {\"name\": \"a\", \"pid\": 1}}\n\
         {\"ts\": 1100, \"process\": {\"name\": \"b\", \"pid\": 2}}\n\
         {\"ts\": 1400, \"process\": {\"name\": \"c\", \"pid\": 3}}\n",
    )
    .unwrap();
    let db = dir.join("e.db");
    ingest(&IngestOptions {
        files: vec![data],
        into: format!("sqlite:///{}", db.display()),
        table: "events".into(),
        ..Default::default()
    })
    .unwrap();
    let config = Config::from_yaml_str(
        &format!(
            "connections:\n  c:\n    url: sqlite:///{}\ndatasources:\n  epoch:\n    connection: c\n    table: events\n    timestamp: ts\n    timestamp_format: \"%s\"\n",
            db.display()
        ),
        None,
    )
    .unwrap();
    let src = SourceFile::new(
        "hunt.hf",
        "p = GET process FROM sqlalchemy://epoch WHERE pid > 0\nt = TIMESTAMPED(p)\n\
         g = GROUP t BY BIN(first_observed, 5m) WITH COUNT(pid) AS n\nDISP g SORT BY first_observed ASC",
    );
    let mut printer = Printer::new(Vec::new(), Format::Json);
    run_hunt(
        &src,
        Some(&config),
        &mut printer,
        &mut Vec::new(),
        &RunOptions { summary: false },
    )
    .unwrap_or_else(|d| panic!("{}", d.render(&src)));
    let out: Value = serde_json::from_slice(&printer.into_inner()).unwrap();
    // 1000 and 1100 fall in [900, 1200); 1400 in [1200, 1500).
    assert_eq!(
        out,
        json!([{"first_observed": 900, "n": 2}, {"first_observed": 1200, "n": 1}])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
