//! A Security-Lake-shaped lake built from the shipped OTRF sample, hunted with the `ocsf`
//! mapping: the same answers wherever it is kept.
//!
//! The lake is made with kestrel itself: the raw Windows events (`examples/data/`,
//! loaded into SQLite and read with the `winevent` mapping) become OCSF events, one
//! class per table (`process_activity`, `network_activity`), by hunts that DISP each
//! class's OCSF attributes as JSON lines; `kestrel ingest --into datafusion:///lake`
//! writes those as Parquet, nested as OCSF is (`actor.process.name` a field of the struct
//! column `actor`) and partitioned by event day, as Amazon Security Lake stores events.
//! The same JSON lines ingested into SQLite give flat dotted columns. Then the same
//! hunts, with the `ocsf` mapping and no ECS anywhere, run on the flat SQLite tables (the
//! reference), on the nested lake on local disk (embedded DataFusion), on a copy of it in
//! a local S3 server (moto), and, built with Ballista, on a cluster reading that copy.

#![cfg(feature = "datafusion")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `hunt` under `config` (YAML): every DISP row as a JSON line, then the summary.
fn run(config: &str, hunt: &str) -> Result<String, String> {
    let config = Config::from_yaml_str(config, None).map_err(|e| e.to_string())?;
    common::run_jsonl_with_summary(&config, hunt)
}

/// Each class's table, and the OCSF attributes its events keep.
const CLASSES: &[(&str, u32, &str)] = &[
    (
        "process_activity",
        1007,
        "time, class_uid, activity_id, type_uid, metadata.uid, metadata.event_code, \
         device.hostname, process.uid, process.pid, process.name, process.cmd_line, \
         process.file.path, process.parent_process.uid, process.parent_process.pid, \
         process.parent_process.name, process.parent_process.cmd_line, \
         process.parent_process.file.path, actor.process.uid, actor.process.pid, \
         actor.process.name, actor.process.file.path, actor.user.name",
    ),
    (
        "network_activity",
        4001,
        "time, class_uid, activity_id, type_uid, metadata.uid, metadata.event_code, \
         device.hostname, src_endpoint.ip, src_endpoint.port, dst_endpoint.ip, \
         dst_endpoint.port, actor.process.uid, actor.process.pid, actor.process.name, \
         actor.process.file.path",
    ),
];

/// The hunts every copy of the lake must answer alike (`procs` and `net` are the
/// classes' tables, with the `ocsf` mapping).
const HUNTS: &[(&str, &str)] = &[
    (
        "what mshta started",
        "m = GET process FROM x://procs WHERE name = 'mshta.exe'\n\
         kids = FIND process CREATED BY m\n\
         DISP kids ATTR name, pid, parent_process.name\n",
    ),
    (
        "processes by name",
        "p = GET process FROM x://procs WHERE name LIKE '%shell%' OR name MATCHES '^rundll'\n\
         DISP p ATTR name, pid, command_line SORT BY pid\n",
    ),
    (
        "powershell's connections",
        "c = GET network-traffic FROM x://net WHERE dst_port > 0\n\
         DISP c ATTR src_ref.value, dst_ref.value, dst_port\n",
    ),
    (
        "launch events by number",
        "e = GET event FROM x://procs WHERE type_uid = 100701 AND process.name = 'powershell.exe'\n\
         DISP e ATTR device.hostname, process.pid, actor.process.name\n",
    ),
];

fn config(url: &str, tables: (&str, &str)) -> String {
    format!(
        "connections:\n  lake: {{url: '{url}'}}\n\
         datasources:\n\
         \x20 procs: {{connection: lake, table: {}, data_model_map: ocsf, timestamp: time, timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'}}\n\
         \x20 net: {{connection: lake, table: {}, data_model_map: ocsf, timestamp: time, timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'}}\n",
        tables.0, tables.1
    )
}

/// Rows compared as sets (the summary lines too).
fn rows(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn a_security_lake_shaped_lake_gives_the_same_answers_everywhere() {
    let dir = common::fresh_dir("security-lake", "otrf");
    // The raw Windows sample, in SQLite.
    let raw = format!("sqlite:///{}", dir.join("raw.db").display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    ingest(&IngestOptions {
        files,
        into: raw.clone(),
        table: "win".into(),
        ..Default::default()
    })
    .expect("the OTRF sample loads");
    let raw_config = format!(
        "connections:\n  raw: {{url: '{raw}'}}\n\
         datasources:\n  win: {{connection: raw, table: win, data_model_map: winevent}}\n"
    );
    // OCSF events, one class per table: flat in SQLite, nested Parquet by day.
    let flat = format!("sqlite:///{}", dir.join("ocsf.db").display());
    let lake = dir.join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let nested = format!("datafusion://{}", lake.display());
    for (table, class, attrs) in CLASSES {
        let hunt =
            format!("e = GET event FROM x://win WHERE class_uid = {class}\nDISP e ATTR {attrs}\n");
        let out = run(&raw_config, &hunt).unwrap_or_else(|e| panic!("{table}: {e}"));
        let events: String = out
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            events.lines().count() > 10,
            "{table}: only {} events",
            events.lines().count()
        );
        let jsonl = dir.join(format!("{table}.jsonl"));
        std::fs::write(&jsonl, events).unwrap();
        for into in [&flat, &nested] {
            ingest(&IngestOptions {
                files: vec![jsonl.clone()],
                into: into.clone(),
                table: table.to_string(),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{table} into {into}: {e}"));
        }
    }
    // The lake is Security Lake's shape: day partitions, nested structs.
    let days: Vec<String> = std::fs::read_dir(lake.join("process_activity"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !days.is_empty() && days.iter().all(|d| d.starts_with("eventDay=")),
        "{days:?}"
    );
    let part = std::fs::read_dir(lake.join("process_activity").join(&days[0]))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let schema = common::parquet_top_level_columns(&part);
    assert!(
        schema.contains(&"actor".to_string()) && schema.contains(&"process".to_string()),
        "not nested: {schema:?}"
    );
    assert!(
        !schema.iter().any(|c| c.contains('.')),
        "flat columns: {schema:?}"
    );

    // Every copy of the lake.
    let s3 = common::s3::S3Server::start();
    s3.upload(&lake, "security-lake", "ext/otrf");
    let mut copies: Vec<(&str, String)> = vec![
        ("sqlite (flat)", flat.clone()),
        ("datafusion (nested)", nested.clone()),
        (
            "datafusion on s3",
            format!("datafusion+s3://security-lake/ext/otrf?{}", s3.params()),
        ),
    ];
    #[cfg(feature = "ballista")]
    let cluster = common::cluster::Cluster::start("security-lake", 2, 2);
    #[cfg(feature = "ballista")]
    copies.push((
        "ballista on s3",
        format!(
            "ballista+s3://127.0.0.1:{}/security-lake/ext/otrf?{}",
            cluster.port,
            s3.params()
        ),
    ));
    let mut failures = Vec::new();
    for (name, hunt) in HUNTS {
        let mut answers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (copy, url) in &copies {
            let config = config(url, ("process_activity", "network_activity"));
            match run(&config, hunt) {
                Ok(out) => {
                    answers.insert(copy, rows(&out));
                }
                Err(e) => failures.push(format!("{name} on {copy}: {e}")),
            }
        }
        let Some(reference) = answers.get("sqlite (flat)").cloned() else {
            continue;
        };
        if !reference.iter().any(|l| !l.starts_with('#')) {
            failures.push(format!("{name}: nothing on sqlite"));
        }
        for (copy, got) in &answers {
            if *got != reference {
                failures.push(format!(
                    "{name}: {copy} differs from sqlite\n--- sqlite\n{}\n--- {copy}\n{}",
                    reference.join("\n"),
                    got.join("\n")
                ));
            }
        }
    }
    // The known answer: mshta.exe started one powershell.exe (OTRF
    // cmd_mshta_vbscript_execute_psh).
    let out = run(
        &config(&nested, ("process_activity", "network_activity")),
        HUNTS[0].1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains(r#""name":"powershell.exe""#)
            && out.contains(r#""parent_process.name":"mshta.exe""#),
        "{out}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
