//! End to end on SQLite: logs ingested with `kestrel ingest`, hunts run through the runner,
//! answers checked against what the data says.

use std::path::PathBuf;

mod common;

use kestrel::config::Config;
use kestrel::output::{Format, Printer, SummaryRow};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;

/// A lake in a fresh temporary directory holding the nine ECS process events.
struct Lake {
    dir: PathBuf,
    config: Config,
}

impl Lake {
    fn new(name: &str) -> Lake {
        let dir = common::fresh_dir("e2e", name);
        let db = dir.join("lake.db");
        common::ingest_ecs_fixture(&db);
        let yaml = format!(
            "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n    timestamp_format: \"%Y-%m-%dT%H:%M:%S.%fZ\"\n",
            db.display()
        );
        let config = Config::from_yaml_str(&yaml, None).expect("config");
        Lake { dir, config }
    }

    /// Runs a hunt; returns stdout (in `format`) and the summary rows.
    fn run(&self, hunt: &str, format: Format) -> Result<(String, Vec<SummaryRow>), String> {
        let src = SourceFile::new("hunt.hf", hunt);
        let mut printer = Printer::new(Vec::new(), format);
        let mut summary = Vec::new();
        let rows = run_hunt(
            &src,
            Some(&self.config),
            &mut printer,
            &mut summary,
            &RunOptions { summary: true },
        )
        .map_err(|d| d.render(&src))?;
        Ok((String::from_utf8(printer.into_inner()).unwrap(), rows))
    }

    fn json_rows(&self, hunt: &str) -> Vec<serde_json::Value> {
        let (out, _) = self
            .run(hunt, Format::Jsonl)
            .unwrap_or_else(|e| panic!("{e}"));
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn summary_of<'a>(rows: &'a [SummaryRow], var: &str) -> &'a SummaryRow {
    rows.iter()
        .find(|r| r.variable == var)
        .unwrap_or_else(|| panic!("no summary for {var}"))
}

const ORIGINAL_CASE: &str = r#"
procs = GET process FROM sqlalchemy://events WHERE os.name = "Linux"
parents = FIND process CREATED procs
e2 = FIND event ORIGINATED BY procs
"#;

#[test]
fn the_original_kestrel_case_gives_its_counts() {
    let lake = Lake::new("original");
    let (_, rows) = lake
        .run(ORIGINAL_CASE, Format::Table)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary_of(&rows, "procs").entities, 5);
    assert_eq!(summary_of(&rows, "parents").entities, 2);
    assert_eq!(summary_of(&rows, "e2").records, 4);
}

#[test]
fn find_event_originated_by_returns_the_children_events() {
    let lake = Lake::new("originated");
    let rows = lake.json_rows(&format!(
        "{ORIGINAL_CASE}\nDISP e2 ATTR process.name SORT BY process.name ASC"
    ));
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["process.name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cat", "curl", "ping", "uname"]);
}

#[test]
fn parents_are_found_from_the_process_creation_events() {
    let lake = Lake::new("parents");
    let rows = lake.json_rows(&format!(
        "{ORIGINAL_CASE}\nDISP parents ATTR name, pid SORT BY pid ASC"
    ));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "abc");
    assert_eq!(rows[1]["name"], "bash");
    assert_eq!(rows[1]["pid"], 1026);
}

/// A repeated GET and the FIND from it read the first one's rows (the optimiser's reuse
/// of identical subplans): the answers are the ones each would give alone.
#[test]
fn repeated_relations_give_their_own_answers() {
    let lake = Lake::new("reuse");
    let alone = lake.json_rows(
        "a = GET process FROM sqlalchemy://events WHERE parent_ref.name = 'powershell.exe'\n\
         ka = FIND process CREATED a\n\
         DISP ka ATTR name SORT BY name ASC",
    );
    let repeated = lake.json_rows(
        "a = GET process FROM sqlalchemy://events WHERE parent_ref.name = 'powershell.exe'\n\
         b = GET process FROM sqlalchemy://events WHERE parent_ref.name = 'powershell.exe'\n\
         ka = FIND process CREATED a\n\
         kb = FIND process CREATED b\n\
         DISP kb ATTR name SORT BY name ASC\n\
         DISP ka ATTR name SORT BY name ASC",
    );
    assert!(!alone.is_empty());
    assert_eq!(repeated.len(), 2 * alone.len());
    assert_eq!(repeated[..alone.len()], alone[..]);
    assert_eq!(repeated[alone.len()..], alone[..]);
}

#[test]
fn children_of_powershell_on_windows() {
    let lake = Lake::new("children");
    let rows = lake.json_rows(
        "ps = GET process FROM sqlalchemy://events WHERE parent_ref.name = 'powershell.exe'\n\
         kids = FIND process CREATED BY ps\n\
         DISP ps ATTR name SORT BY name ASC",
    );
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ipconfig", "netstat", "pathping", "ping"]);
}

#[test]
fn time_range_keeps_start_and_drops_stop() {
    let lake = Lake::new("time");
    let rows = lake.json_rows(
        "p = GET process FROM sqlalchemy://events WHERE os.name = 'Linux' \
         START t'2024-07-08T00:00:02Z' STOP t'2024-07-08T00:04:11Z'\n\
         DISP p ATTR name SORT BY name ASC",
    );
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cat", "uname"]);
}

#[test]
fn like_is_case_insensitive_and_backslash_is_literal() {
    let lake = Lake::new("like");
    let rows = lake.json_rows(
        r"p = GET process FROM sqlalchemy://events WHERE file.path LIKE '%\\system32\\PING.exe'
          DISP p ATTR name, file.path",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "ping");
}

#[test]
fn equality_is_case_sensitive() {
    let lake = Lake::new("eq");
    let rows = lake.json_rows(
        "p = GET process FROM sqlalchemy://events WHERE name = 'PING'\nDISP p ATTR name",
    );
    assert!(rows.is_empty());
}

#[test]
fn matches_is_a_regex_search() {
    let lake = Lake::new("regex");
    let rows = lake.json_rows(
        r"p = GET process FROM sqlalchemy://events WHERE cmd_line MATCHES '^ping( -a)? \d'
          DISP p ATTR cmd_line SORT BY cmd_line ASC",
    );
    let lines: Vec<&str> = rows
        .iter()
        .map(|r| r["cmd_line"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["ping -a 192.168.5.1", "ping 8.8.8.8"]);
}

#[test]
fn reference_to_another_variable_is_a_semi_join() {
    let lake = Lake::new("reference");
    let rows = lake.json_rows(
        "ps = GET process FROM sqlalchemy://events WHERE name = 'ping'\n\
         same_host = GET process FROM sqlalchemy://events WHERE endpoint.hostname = ps.endpoint.hostname AND name != 'ping'\n\
         DISP same_host ATTR name SORT BY name ASC",
    );
    // Both hosts ran ping, so every other process matches.
    assert_eq!(rows.len(), 7);
}

#[test]
fn disp_with_limit_and_offset() {
    let lake = Lake::new("limit");
    let rows = lake.json_rows(
        "p = GET process FROM sqlalchemy://events WHERE os.name = 'Windows'\n\
         DISP p ATTR pid SORT BY pid ASC LIMIT 2 OFFSET 1",
    );
    let pids: Vec<i64> = rows.iter().map(|r| r["pid"].as_i64().unwrap()).collect();
    assert_eq!(pids, [5010, 5018]);
}

#[test]
fn json_format_is_one_line_per_display_keyed_as_written() {
    let lake = Lake::new("json");
    let (out, _) = lake
        .run(
            "p = GET process FROM sqlalchemy://events WHERE name = 'curl'\n\
             DISP p ATTR parent_ref.name, command_line\n\
             DISP p ATTR pid",
            Format::Json,
        )
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        first,
        serde_json::json!([{"parent_ref.name": "bash", "command_line": "curl https://www.google.com"}])
    );
}

#[test]
fn csv_format_has_a_header_and_a_blank_line_between_displays() {
    let lake = Lake::new("csv");
    let (out, _) = lake
        .run(
            "p = GET process FROM sqlalchemy://events WHERE name = 'curl'\n\
             DISP p ATTR name, pid\nDISP p ATTR name",
            Format::Csv,
        )
        .unwrap();
    assert_eq!(out, "name,pid\ncurl,1066\n\nname\ncurl\n");
}

#[test]
fn table_format_ends_with_the_summary() {
    let lake = Lake::new("table");
    let src = SourceFile::new(
        "h.hf",
        "p = GET process FROM sqlalchemy://events WHERE name = 'curl'\nDISP p ATTR name",
    );
    let mut printer = Printer::new(Vec::new(), Format::Table);
    let mut summary = Vec::new();
    run_hunt(
        &src,
        Some(&lake.config),
        &mut printer,
        &mut summary,
        &RunOptions { summary: true },
    )
    .unwrap();
    let summary = String::from_utf8(summary).unwrap();
    assert!(summary.contains("VARIABLE"), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["p", "process", "1", "1"]),
        "{summary}"
    );
}

#[test]
fn missing_table_names_the_data_source() {
    let lake = Lake::new("missing");
    let mut config = lake.config.clone();
    config.datasources.get_mut("events").unwrap().table = "nope".into();
    let src = SourceFile::new(
        "h.hf",
        "p = GET process FROM sqlalchemy://events WHERE name = 'x'",
    );
    let mut printer = Printer::new(Vec::new(), Format::Table);
    let err = run_hunt(
        &src,
        Some(&config),
        &mut printer,
        &mut Vec::new(),
        &RunOptions { summary: false },
    )
    .unwrap_err()
    .render(&src);
    assert!(err.contains("data source `events`"), "{err}");
    assert!(err.contains("table `nope` does not exist"), "{err}");
}

#[test]
fn unknown_column_is_an_error_at_the_attribute() {
    let lake = Lake::new("column");
    let err = lake
        .run(
            "p = GET process FROM sqlalchemy://events WHERE no_such_field = 'x'",
            Format::Table,
        )
        .unwrap_err();
    assert!(
        err.contains("unknown attribute `no_such_field` in data source `events`"),
        "{err}"
    );
    assert!(err.contains("hunt.hf:1:48"), "{err}");
}

#[test]
fn describe_numbers_and_text() {
    let lake = Lake::new("describe");
    let rows = lake.json_rows(
        "p = GET process FROM sqlalchemy://events WHERE os.name = 'Windows'\nDESCRIBE p.pid\nDESCRIBE p.name",
    );
    assert_eq!(rows[0]["count"], 4);
    assert_eq!(rows[0]["min"], 1235);
    assert_eq!(rows[0]["max"], 6008);
    assert_eq!(rows[1]["unique"], 4);
    assert_eq!(rows[1]["freq"], 1);
}

/// A variable named as the table it reads (in any case) gives the answers it gives
/// under another name: its CTE must not hide the table from the queries beside it.
#[test]
fn a_variable_named_as_its_table_does_not_hide_the_table() {
    let lake = Lake::new("named-as-table");
    let hunt = |var: &str| {
        format!(
            "{var} = GET process FROM sqlalchemy://events WHERE pid > 0\n\
             DISP {var} ATTR pid SORT BY pid ASC\n\
             c = FIND process CREATED {var}\n\
             DISP c ATTR pid SORT BY pid ASC\n\
             p = FIND process CREATED BY c\n\
             DISP p ATTR pid SORT BY pid ASC\n"
        )
    };
    let want = lake.json_rows(&hunt("procs"));
    assert!(
        want.iter().filter(|r| r["pid"].is_i64()).count() > 9,
        "{want:?}"
    );
    for var in ["events", "EVENTS", "events_rel"] {
        assert_eq!(lake.json_rows(&hunt(var)), want, "{var}");
    }
}
