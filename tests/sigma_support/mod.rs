//! Shared by the Sigma test suites: the oracle's Python, its output, the lake's
//! configuration, and running `WHERE SIGMA` hunts for the events they select.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "../common/mod.rs"]
mod common;
use std::process::Command;

use kestrel::config::Config;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::sigma::fieldmap::FieldMap;
use kestrel::source::SourceFile;
use serde::Deserialize;

/// One rule as the oracle saw it.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Path under the rules directory.
    pub rule: String,
    pub category: Option<String>,
    pub service: Option<String>,
    pub sql: Option<String>,
    /// RecordNumbers of the events pySigma's query selects.
    pub matched: Option<Vec<i64>>,
    pub refused: Option<String>,
    /// The table of the rule's events (and its background).
    pub table: Option<String>,
}

pub struct OracleOut {
    pub dir: PathBuf,
    pub rules_dir: PathBuf,
    pub cases: Vec<Case>,
}

impl OracleOut {
    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
}

pub fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test virtualenv's Python (see `common::python`).
pub fn python() -> PathBuf {
    common::python()
}

pub fn rules_dir() -> PathBuf {
    let d = std::env::var_os("KESTREL_SIGMA_RULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest().join("../shared/data/sigma/rules"));
    assert!(
        d.is_dir(),
        "{} is missing: the Sigma rules live in ../shared/data/sigma beside the repository \
         (or set KESTREL_SIGMA_RULES)",
        d.display()
    );
    d
}

/// Runs the oracle once per process and suite name (into `target/tmp/<name>`).
pub fn oracle(name: &str, rules: &Path) -> OracleOut {
    oracle_with(name, rules, false)
}

/// The same; `bare`: tables of the rules' own fields only (no Channel, EventID).
pub fn oracle_with(name: &str, rules: &Path, bare: bool) -> OracleOut {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let rules = rules.to_path_buf();
    // While iterating on kestrel: reuse the last run's table and answers.
    let reuse =
        std::env::var_os("KESTREL_SIGMA_ORACLE_REUSE").is_some() && dir.join("cases.json").exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let status = Command::new(python())
            .arg(manifest().join("tests/sigma_support/oracle.py"))
            .arg(&rules)
            .arg(&dir)
            .args(bare.then_some("bare"))
            .status()
            .expect("run the oracle");
        assert!(status.success(), "tests/sigma_support/oracle.py failed");
    }
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("cases.json is JSON");
    OracleOut {
        dir,
        rules_dir: rules,
        cases,
    }
}

/// A configuration naming each rule's table as a data source of the same name, read
/// through the `winevent` layout (`prefix`: the table names' prefix on a shared server).
pub struct Lake {
    pub config: Config,
}

impl Lake {
    pub fn sqlite(db: &Path, cases: &[Case]) -> Lake {
        Lake::with_url(&format!("sqlite:///{}", db.display()), cases, "")
    }

    pub fn with_url(url: &str, cases: &[Case], prefix: &str) -> Lake {
        let mut yaml = format!("connections:\n  lake:\n    url: \"{url}\"\ndatasources:\n");
        for t in cases.iter().filter_map(|c| c.table.as_deref()) {
            yaml.push_str(&format!(
                "  {t}:\n    connection: lake\n    table: {prefix}{t}\n    timestamp: \"@timestamp\"\n    data_model_map: winevent\n"
            ));
        }
        Lake {
            config: Config::from_yaml_str(&yaml, None).expect("config"),
        }
    }
}

/// The hunt for one case: its category's preferred GET type, showing the id of each event.
pub fn hunt_for(rules_dir: &Path, case: &Case) -> Option<(String, &'static str)> {
    let table = case.table.as_deref()?;
    let map = FieldMap::shipped();
    let ty = match case.category.as_deref() {
        Some(cat) => map.categories.get(cat)?.type_names().into_iter().next()?,
        // A service's rules read whole records.
        None => "event".to_string(),
    };
    let id = id_attr(&ty);
    let path = rules_dir.join(&case.rule);
    Some((
        format!(
            "x = GET {ty} FROM sigma://{table} WHERE SIGMA '{}'\nDISP x ATTR {id}\n",
            path.display()
        ),
        id,
    ))
}

/// The attribute that shows an event's id on the GET type `ty`: every event has its own
/// ProcessGuid (`G<RecordNumber>`) and RecordNumber.
fn id_attr(ty: &str) -> &'static str {
    match ty {
        "process" => "uid",
        "network_activity" => "actor.process.uid",
        _ => "metadata.uid",
    }
}

/// The huntflow `kestrel sigma convert` prints for one case (reading its table), with a
/// DISP of each event's id; None where convert refuses the rule (the reason).
pub fn converted_for(rules_dir: &Path, case: &Case) -> Result<(String, &'static str), String> {
    let table = case.table.as_deref().ok_or("no table")?;
    let c = kestrel::sigma::convert(
        &rules_dir.join(&case.rule),
        &kestrel::sigma::ConvertOptions {
            from: format!("sigma://{table}"),
            var: Some("x".into()),
            entity: None,
        },
    )
    .map_err(|e| format!("kestrel: {}", e.construct))?;
    let id = id_attr(&c.entity);
    Ok((format!("{}DISP x ATTR {id}\n", c.huntflow), id))
}

/// RecordNumbers of the events the converted huntflow selects, run on its own (no
/// `SIGMA` term: the printed text), or why it did not run.
pub fn run_converted_ids(
    config: &Config,
    rules_dir: &Path,
    case: &Case,
) -> Result<Vec<i64>, String> {
    let (text, id) = converted_for(rules_dir, case)?;
    run_text_ids(config, case, text, id)
}

/// RecordNumbers of the events `WHERE SIGMA` selects, or why kestrel refused the rule.
pub fn run_hunt_ids(config: &Config, rules_dir: &Path, case: &Case) -> Result<Vec<i64>, String> {
    let Some((text, id)) = hunt_for(rules_dir, case) else {
        return Err(format!(
            "kestrel: logsource category {:?} is not in the field map",
            case.category
        ));
    };
    run_text_ids(config, case, text, id)
}

/// RecordNumbers a hunt's one DISP of `id` shows.
fn run_text_ids(config: &Config, case: &Case, text: String, id: &str) -> Result<Vec<i64>, String> {
    let src = SourceFile::new(format!("{}.hf", case.rule), text);
    let mut printer = Printer::new(Vec::new(), Format::Jsonl);
    let mut summary = Vec::new();
    if let Err(d) = run_hunt(
        &src,
        Some(config),
        &mut printer,
        &mut summary,
        &RunOptions { summary: false },
    ) {
        let msg = d.message.clone();
        if msg.starts_with("Sigma rule") {
            let construct = d
                .label
                .clone()
                .unwrap_or_default()
                .trim_start_matches("not supported: ")
                .to_string();
            return Err(format!("kestrel: {construct}"));
        }
        return Err(format!("kestrel ERROR: {}", d.render(&src)));
    }
    let out = String::from_utf8(printer.into_inner()).expect("utf-8");
    let mut ids: Vec<i64> = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            match &v[id] {
                serde_json::Value::String(s) => s.trim_start_matches('G').parse().expect("an id"),
                serde_json::Value::Number(n) => n.as_i64().expect("an id"),
                // A row without the id (an entity the rule's event is not): no event's.
                serde_json::Value::Null => -1,
                other => panic!("{}: id {other}", case.rule),
            }
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// A directory of every 12th shared rule (paths kept) and kestrel's own rules.
pub fn sample(dir: &Path) {
    let shared = rules_dir();
    let mut files = kestrel::sigma::rule_files(&shared).unwrap();
    files.sort();
    for f in files.iter().step_by(12) {
        let rel = f.strip_prefix(&shared).unwrap();
        let to = dir.join("shared").join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f, to).unwrap();
    }
    let own = manifest().join("tests/sigma_support/rules");
    std::fs::create_dir_all(dir.join("own")).unwrap();
    for f in kestrel::sigma::rule_files(&own).unwrap() {
        std::fs::copy(&f, dir.join("own").join(f.file_name().unwrap())).unwrap();
    }
}
