//! Property: no relation result holds an entity without identity. Over the fuzz lake
//! (`tests/fuzz_support`: the ECS fixture) with records added that place a process, a file
//! or a host but leave the other slots empty (a process event with no parent, a file event
//! with no file, a bare host record: what real lakes hold), every variable of an entity
//! type that generated hunts (GET, FIND, JOIN, merge, SORT, expressions, TIMESTAMPED) make
//! shows only rows where some identity set of its type is whole (no NULL attribute).
//!
//! The hunts come from a small generator of valid statements over the lake's data
//! (`hunt`, with the fuzzer's `Rng`): NEW and LOAD are left out (their entities are the
//! hunter's own), and so is GROUP (its rows are aggregates, not entities).

mod fuzz_support;

use fuzz_support::{FuzzLake, Rng};
use kestrel::model::{Mapping, Model};
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use serde_json::Value;

/// Records whose empty slots would be phantom entities.
const HOLLOW: &str = r#"{"@timestamp":"2024-07-08T00:00:03.000000Z","host":{"name":"Host A","id":"h-a"},"event":{"category":"process","type":"info"},"process":{"name":"bash","pid":1026,"entity_id":"p-bash-1026"}}
{"@timestamp":"2024-07-08T00:00:04.000000Z","host":{"name":"Host A","id":"h-a"},"event":{"category":"file","type":"creation"},"process":{"name":"bash","pid":1026,"entity_id":"p-bash-1026"}}
{"@timestamp":"2024-07-09T00:10:53.000000Z","host":{"name":"Host B","id":"h-b"}}
{"@timestamp":"2024-07-09T00:10:54.000000Z","host":{"name":"Host B"},"event":{"category":"network"},"process":{"name":"ping","pid":5010}}
"#;

/// A hunt of 2 to 6 valid statements: GETs of the lake's entity types, FINDs along every
/// relation between them, JOIN, merge, SORT, TIMESTAMPED and expressions.
fn hunt(rng: &mut Rng) -> String {
    // The types the lake holds (it has no file, address or connection columns).
    const TYPES: &[&str] = &["process", "process", "process", "user", "x-oca-asset"];
    const WHERES: &[&str] = &[
        "",
        " WHERE name = 'bash'",
        " WHERE pid > 1000",
        " WHERE endpoint.hostname = 'Host A'",
        " WHERE name LIKE '%'",
        " WHERE cmd_line LIKE '%a%'",
        " WHERE x-oca-asset:hostname = 'Host B'",
        " WHERE parent_ref.name != 'abc'",
        " WHERE uid IS NOT NULL OR name IS NULL",
    ];
    // FINDs that exist from a variable of each type.
    let finds = |t: &str| -> &'static [&'static str] {
        match t {
            "process" => &[
                "FIND process CREATED",
                "FIND process CREATED BY",
                "FIND process LINKED",
                "FIND file LOADED BY",
                "FIND user OWNED",
                "FIND x-oca-asset LINKED",
                "FIND network-traffic CREATED BY",
            ],
            "file" => &["FIND process LOADED"],
            "user" => &["FIND process OWNED BY"],
            "x-oca-asset" => &["FIND process LINKED"],
            _ => &[],
        }
    };
    let mut vars: Vec<(String, &str)> = Vec::new();
    let mut text = String::new();
    let n = 2 + rng.below(5);
    for i in 0..n {
        let v = format!("v{i}");
        let pick_var =
            |rng: &mut Rng, vars: &[(String, &'static str)]| vars[rng.below(vars.len())].clone();
        let (stmt, ty): (String, &str) = if vars.is_empty() || rng.chance(1, 4) {
            let t = *rng.pick(TYPES);
            let w = if t == "process" {
                *rng.pick(WHERES)
            } else {
                ""
            };
            (format!("{v} = GET {t} FROM sqlite://events{w}"), t)
        } else {
            match rng.below(6) {
                0 | 1 => {
                    let (src, st) = pick_var(rng, &vars);
                    match finds(st) {
                        [] => (format!("{v} = {src}"), st),
                        fs => {
                            let f = *rng.pick(fs);
                            let t = f.split(' ').nth(1).unwrap_or("process");
                            (format!("{v} = {f} {src}"), t)
                        }
                    }
                }
                2 => {
                    let (a, t) = pick_var(rng, &vars);
                    let (b, _) = pick_var(rng, &vars);
                    (format!("{v} = JOIN {a}, {b}"), t)
                }
                3 => {
                    let (a, t) = pick_var(rng, &vars);
                    let same: Vec<&(String, &str)> = vars.iter().filter(|(_, u)| *u == t).collect();
                    let b = &same[rng.below(same.len())].0;
                    (format!("{v} = {a} + {b}"), t)
                }
                4 => {
                    let (a, t) = pick_var(rng, &vars);
                    (format!("{v} = TIMESTAMPED({a})"), t)
                }
                _ => {
                    let (a, t) = pick_var(rng, &vars);
                    let w = if t == "process" {
                        *rng.pick(WHERES)
                    } else {
                        ""
                    };
                    (format!("{v} = SORT {a} BY name ASC\n{v} = {v}{w}"), t)
                }
            }
        };
        text.push_str(&stmt);
        text.push('\n');
        vars.push((v, ty));
    }
    text
}

/// Each display's rows, and each variable with the type it holds.
type Ran = (Vec<Value>, Vec<(String, String)>);

fn run(lake: &FuzzLake, text: &str) -> Result<Ran, String> {
    let src = SourceFile::new("p.hf", text);
    let mut printer = Printer::new(Vec::new(), Format::Json);
    let mut summary = Vec::new();
    let rows = run_hunt(
        &src,
        Some(&lake.config),
        &mut printer,
        &mut summary,
        &RunOptions { summary: true },
    )
    .map_err(|d| d.render(&src))?;
    let out = String::from_utf8(printer.into_inner()).expect("utf-8");
    let displays = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line per display"))
        .collect();
    Ok((
        displays,
        rows.into_iter()
            .map(|r| (r.variable, r.entity_type))
            .collect(),
    ))
}

#[test]
fn no_relation_result_holds_a_null_identity() {
    let lake = FuzzLake::new("identity");
    // The fuzz lake's table, extended with the hollow records.
    let db = std::env::temp_dir()
        .join(format!("kestrel-fuzz-lake-identity-{}", std::process::id()))
        .join("lake.db");
    let extra = db.with_file_name("hollow.jsonl");
    std::fs::write(&extra, HOLLOW).expect("write");
    kestrel::ingest::ingest(&kestrel::ingest::IngestOptions {
        files: vec![extra],
        into: format!("sqlite:///{}", db.display()),
        table: "events".into(),
        append: true,
        ..Default::default()
    })
    .expect("append the hollow records");

    let model = Model::builtin().expect("model");
    let ecs = Mapping::builtin("ecs").expect("ecs");
    let cases: u64 = std::env::var("KESTREL_IDENTITY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let (mut checked, mut rows_checked) = (0usize, 0usize);
    let mut failures = Vec::new();
    for seed in 0..cases {
        let text = hunt(&mut Rng::new(seed + 31_000_000));
        let vars = match run(&lake, &text) {
            Ok((_, vars)) => vars,
            Err(e) => {
                if std::env::var("KESTREL_IDENTITY_DEBUG").is_ok() {
                    eprintln!("{text}{e}");
                }
                continue;
            }
        };
        for (var, written_type) in vars {
            let Some(entity) = model.entity_name(&written_type) else {
                continue;
            };
            let Some(def) = model.entity(entity) else {
                continue;
            };
            let sets: Vec<Vec<String>> = ecs
                .identity
                .get(entity)
                .cloned()
                .unwrap_or_else(|| def.identity.clone());
            if sets.is_empty() {
                continue;
            }
            // The identity attributes the variable has: ask for all, drop those it lacks.
            let mut attrs: Vec<String> = Vec::new();
            for set in &sets {
                for a in set {
                    if !attrs.contains(a) {
                        attrs.push(a.clone());
                    }
                }
            }
            let shown = loop {
                if attrs.is_empty() {
                    break None;
                }
                let hunt = format!("{text}DISP {var} ATTR {}\n", attrs.join(", "));
                match run(&lake, &hunt) {
                    Ok((displays, _)) => break displays.last().cloned(),
                    Err(e) => match attrs.iter().position(|a| e.contains(&format!("`{a}`"))) {
                        Some(i) => {
                            attrs.remove(i);
                        }
                        None => break None,
                    },
                }
            };
            let Some(Value::Array(rows)) = shown else {
                continue;
            };
            let whole_sets: Vec<&Vec<String>> = sets
                .iter()
                .filter(|s| s.iter().all(|a| attrs.contains(a)))
                .collect();
            if whole_sets.is_empty() {
                continue;
            }
            checked += 1;
            for row in &rows {
                rows_checked += 1;
                let identified = whole_sets
                    .iter()
                    .any(|s| s.iter().all(|a| !row[a.as_str()].is_null()));
                if !identified {
                    failures.push(format!(
                        "seed {seed}: `{var}` ({entity}) holds {row} with no whole identity of {whole_sets:?}\n--- hunt:\n{text}"
                    ));
                }
            }
        }
    }
    eprintln!("{checked} variables, {rows_checked} rows checked");
    assert!(checked > 50, "too few variables checked: {checked}");
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
