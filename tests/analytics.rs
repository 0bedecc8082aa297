//! APPLY with real analytics: the shipped python:// analytics in a real Python (the
//! virtualenv `.ci/run` makes), on SQLite and PostgreSQL; WITH value rules; two ON
//! variables; failures as diagnostics that leave the variables unchanged; the seed
//! hunts that APPLY, as written, with our analytics standing in by name.

use std::path::{Path, PathBuf};

mod common;

use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::output::{Format, Frontend, Printer};
use kestrel::session::{Session, SessionOptions};
use kestrel::source::SourceFile;
use kestrel::value::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test virtualenv's Python (see `common::python`).
pub fn python() -> PathBuf {
    common::python()
}

/// Results and displays of a hunt.
struct Capture {
    printer: Printer<Vec<u8>>,
    displays: Vec<(String, Vec<u8>, String)>,
}

impl Frontend for Capture {
    fn begin(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.printer.begin(columns)
    }
    fn row(&mut self, row: &[Value]) -> std::io::Result<()> {
        self.printer.row(row)
    }
    fn end(&mut self) -> std::io::Result<()> {
        self.printer.end()
    }
    fn text_block(&mut self, text: &str) -> std::io::Result<()> {
        self.printer.text_block(text)
    }
    fn display(&mut self, mime: &str, data: &[u8], name: &str) -> std::io::Result<()> {
        self.displays
            .push((mime.to_string(), data.to_vec(), name.to_string()));
        Ok(())
    }
}

impl Capture {
    fn new() -> Capture {
        Capture {
            printer: Printer::new(Vec::new(), Format::Jsonl),
            displays: Vec::new(),
        }
    }
    /// The DISP rows as JSON objects.
    fn rows(self) -> Vec<serde_json::Value> {
        String::from_utf8(self.printer.into_inner())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

enum Engine {
    Sqlite(PathBuf),
    Postgres(String),
}

/// A lake holding a fixture, and the configuration reaching it with the shipped analytics.
struct Lake {
    engine: Engine,
    table: String,
    source: String,
    profiles: PathBuf,
    timeout: u64,
}

impl Lake {
    fn sqlite(name: &str, fixture: &str, source: &str) -> Lake {
        let dir = common::fresh_dir("analytics", name);
        let db = dir.join("lake.db");
        ingest(&IngestOptions {
            files: vec![root().join("tests/fixtures").join(fixture)],
            into: format!("sqlite:///{}", db.display()),
            table: "events".into(),
            ..Default::default()
        })
        .expect("ingest");
        Lake {
            engine: Engine::Sqlite(dir),
            table: "events".into(),
            source: source.into(),
            profiles: root().join("analytics/pythonanalytics.yaml"),
            timeout: 120,
        }
    }

    fn postgres(tag: &str, fixture: &str, source: &str) -> Lake {
        let table = format!("i17_{tag}_{}", std::process::id());
        let url = common::pg_url();
        ingest(&IngestOptions {
            files: vec![root().join("tests/fixtures").join(fixture)],
            into: url.clone(),
            table: table.clone(),
            replace: true,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("the PostgreSQL test server must be reachable: {e}"));
        Lake {
            engine: Engine::Postgres(url),
            table,
            source: source.into(),
            profiles: root().join("analytics/pythonanalytics.yaml"),
            timeout: 120,
        }
    }

    fn config(&self) -> Config {
        let url = match &self.engine {
            Engine::Sqlite(dir) => format!("sqlite:///{}", dir.join("lake.db").display()),
            Engine::Postgres(url) => url.clone(),
        };
        let yaml = format!(
            "connections:\n  lake:\n    url: '{url}'\n\
             datasources:\n  '{}':\n    connection: lake\n    table: {}\n    timestamp: '@timestamp'\n    timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'\n\
             analytics:\n  python: '{}'\n  python_profiles: '{}'\n  analytics_timeout: {}\n",
            self.source,
            self.table,
            python().display(),
            self.profiles.display(),
            self.timeout,
        );
        Config::from_yaml_str(&yaml, None).expect("config")
    }

    /// Runs a whole hunt.
    fn run(&self, hunt: &str) -> Result<Capture, String> {
        let config = self.config();
        let src = SourceFile::new("hunt.hf", hunt);
        let mut out = Capture::new();
        let mut session = Session::new(Some(&config), SessionOptions::default());
        session
            .run_hunt(&src, &mut out)
            .map_err(|d| d.render(&src))?;
        session.summary().map_err(|d| d.render(&src))?;
        Ok(out)
    }

    fn rows(&self, hunt: &str) -> Vec<serde_json::Value> {
        self.run(hunt).unwrap_or_else(|e| panic!("{e}")).rows()
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        match &self.engine {
            Engine::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Engine::Postgres(url) => {
                if let Ok(mut b) = kestrel::backend::open(
                    url,
                    &kestrel::backend::OpenOptions {
                        allow_write: true,
                        ..Default::default()
                    },
                ) {
                    let _ = b.query(
                        &kestrel::sql::SqlStatement {
                            sql: format!("DROP TABLE IF EXISTS \"{}\"", self.table),
                            params: vec![],
                        },
                        &mut kestrel::backend::Collect::default(),
                    );
                }
            }
        }
    }
}

fn col<'a>(rows: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    rows.iter().map(|r| &r[name]).collect()
}

fn sorted_strings(values: Vec<&serde_json::Value>) -> Vec<String> {
    let mut v: Vec<String> = values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    v.sort();
    v
}

/// Enrichment, then a filter on the added attribute, a FIND from the enriched variable
/// and a GROUP BY a clustering's added attribute.
fn enrichment_flow(lake: &Lake, from: &str) {
    let hunt = format!(
        "procs = GET process FROM {from} WHERE pid > 0\n\
         APPLY python://suspicious-scoring ON procs\n\
         sus = procs WHERE x_suspicious_score > 5\n\
         DISP sus ATTR name, x_suspicious_score\n\
         parents = FIND process CREATED sus\n\
         DISP parents ATTR name\n\
         risky = procs WHERE x_suspicious_score >= 4\n\
         conns = FIND network-traffic CREATED BY risky\n\
         DISP conns ATTR dst_ref.value\n\
         traffic = GET network-traffic FROM {from} WHERE dst_port >= 0\n\
         APPLY python://sklearn-cluster ON traffic WITH n=2, columns=src_byte_count,dst_byte_count\n\
         groups = GROUP traffic BY cluster WITH COUNT(dst_ref.value) AS n\n\
         DISP groups ATTR cluster, n\n"
    );
    let rows = lake.rows(&hunt);
    // DISP sus: only `cat /etc/passwd` scores above 5 (reads account files: 6).
    let sus: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r.get("x_suspicious_score").is_some())
        .collect();
    assert_eq!(sus.len(), 1, "{rows:?}");
    assert_eq!(sus[0]["name"], "cat");
    assert_eq!(sus[0]["x_suspicious_score"], 6);
    // FIND from the enriched variable: cat's parent.
    let parents: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            r.as_object()
                .is_some_and(|o| o.len() == 1 && o.contains_key("name"))
        })
        .collect();
    assert_eq!(
        sorted_strings(parents.iter().map(|r| &r["name"]).collect()),
        ["bash"]
    );
    // curl (a download tool fetching a URL: 4) made the three HTTPS connections.
    let conns: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r.get("dst_ref.value").is_some())
        .collect();
    assert_eq!(
        sorted_strings(col(
            &conns.into_iter().cloned().collect::<Vec<_>>(),
            "dst_ref.value"
        )),
        ["104.17.123.99", "140.82.113.4", "23.216.74.12"]
    );
    // K-means over the byte counts: the three large downloads, and the rest.
    let groups: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r.get("cluster").is_some()).collect();
    let mut sizes: Vec<i64> = groups.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    sizes.sort();
    assert_eq!(sizes, [3, 5], "{groups:?}");
}

#[test]
fn enrichment_then_where_find_and_group_by_on_sqlite() {
    let lake = Lake::sqlite("flow", "ecs_process_network.csv", "events");
    enrichment_flow(&lake, "sqlite://events");
}

#[test]
fn enrichment_then_where_find_and_group_by_on_postgres() {
    let lake = Lake::postgres("flow", "ecs_process_network.csv", "events");
    enrichment_flow(&lake, "postgresql://events");
}

#[test]
fn attribute_plot_returns_an_svg_and_leaves_the_variable_unchanged() {
    let lake = Lake::sqlite("plot", "ecs_process_network.csv", "events");
    let out = lake
        .run(
            "traffic = GET network-traffic FROM sqlite://events WHERE dst_port >= 0\n\
             t = TIMESTAMPED(traffic)\n\
             APPLY python://attribute-plot ON t WITH XPARAM=first_observed, YPARAM=dst_byte_count\n\
             DISP t ATTR dst_ref.value, dst_byte_count\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.displays.len(), 1);
    let (mime, data, name) = &out.displays[0];
    assert_eq!(mime, "image/svg+xml");
    assert!(String::from_utf8_lossy(data).contains("<svg"), "not an SVG");
    assert_eq!(name, "line3-attribute-plot");
    let rows = out.rows();
    assert_eq!(rows.len(), 8);
}

#[test]
fn ip_enrichment_adds_attributes_and_an_html_display() {
    let lake = Lake::sqlite("ipenrich", "ecs_process_network.csv", "events");
    let out = lake
        .run(
            "traffic = GET network-traffic FROM sqlite://events WHERE dst_port >= 0\n\
             APPLY ip-enrich ON traffic\n\
             gh = traffic WHERE x_domain_organization LIKE '%github%'\n\
             DISP gh ATTR dst_ref.value, x_domain_name, x_ip_scope\n\
             DISP traffic ATTR dst_ref.value, src_port, x_ip_scope\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.displays.len(), 1);
    assert_eq!(out.displays[0].0, "text/html");
    assert!(String::from_utf8_lossy(&out.displays[0].1).contains("140.82.113.4"));
    let rows = out.rows();
    let gh: Vec<_> = rows
        .iter()
        .filter(|r| r.get("x_domain_name").is_some())
        .collect();
    assert_eq!(gh.len(), 1);
    assert_eq!(gh[0]["x_domain_name"], "lb-140-82-113-4-iad.github.com");
    assert_eq!(gh[0]["x_ip_scope"], "public");
    let c2: Vec<_> = rows
        .iter()
        .filter(|r| r.get("x_domain_name").is_none() && r["dst_ref.value"] == "192.168.56.150")
        .collect();
    assert_eq!(c2.len(), 3);
    assert!(c2.iter().all(|r| r["x_ip_scope"] == "private"));
}

/// A profiles file with test analytics in a fresh directory.
fn test_analytics(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = common::fresh_dir("analytics-mods", name);
    let mut profiles = String::from("profiles:\n");
    for (module, text) in files {
        std::fs::write(dir.join(format!("{module}.py")), text).unwrap();
        profiles.push_str(&format!(
            "  {module}:\n    module: {module}.py\n    func: run\n"
        ));
    }
    std::fs::write(dir.join("profiles.yaml"), profiles).unwrap();
    dir.join("profiles.yaml")
}

#[test]
fn with_values_reach_the_analytic_as_strings_and_two_variables_are_replaced() {
    let profiles = test_analytics(
        "with",
        &[(
            "echo",
            "import json, os\n\
             def run(a, b, n, **kw):\n\
             \x20   a = a.copy()\n\
             \x20   env = {k: os.environ.get(k) for k in ['n', 'cols', 'names', 't', 'pattr']}\n\
             \x20   a['x_env'] = json.dumps(env, sort_keys=True)\n\
             \x20   a['x_kw'] = json.dumps(dict(kw, n=n), sort_keys=True)\n\
             \x20   a['x_cwd'] = os.path.basename(os.getcwd())\n\
             \x20   b = b.copy()\n\
             \x20   b['x_seen'] = len(a)\n\
             \x20   return a, b\n",
        )],
    );
    let mut lake = Lake::sqlite("with", "ecs_process_network.csv", "events");
    lake.profiles = profiles.clone();
    let rows = lake.rows(
        "procs = GET process FROM sqlite://events WHERE name IN ('cat', 'curl')\n\
         traffic = GET network-traffic FROM sqlite://events WHERE dst_port = 443\n\
         APPLY echo ON procs, traffic WITH n=3, cols=(a, b), names=procs.name, t=x, y, pattr=src_ref.value\n\
         DISP procs ATTR name, x_env, x_kw, x_cwd\n\
         DISP traffic ATTR dst_ref.value, x_seen\n",
    );
    let procs: Vec<_> = rows.iter().filter(|r| r.get("x_env").is_some()).collect();
    assert_eq!(procs.len(), 2);
    let env: serde_json::Value = serde_json::from_str(procs[0]["x_env"].as_str().unwrap()).unwrap();
    assert_eq!(env["n"], "3");
    assert_eq!(env["cols"], "a,b");
    assert_eq!(env["t"], "x,y");
    // A reference to no variable is the text as written.
    assert_eq!(env["pattr"], "src_ref.value");
    let mut names: Vec<&str> = env["names"].as_str().unwrap().split(',').collect();
    names.sort();
    assert_eq!(names, ["cat", "curl"]);
    let kw: serde_json::Value = serde_json::from_str(procs[0]["x_kw"].as_str().unwrap()).unwrap();
    assert_eq!(kw["n"], "3");
    assert_eq!(kw["cols"], "a,b");
    // The module's directory is the working directory.
    assert_eq!(
        procs[0]["x_cwd"],
        profiles
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
    );
    let traffic: Vec<_> = rows.iter().filter(|r| r.get("x_seen").is_some()).collect();
    assert_eq!(traffic.len(), 3);
    // The first frame held procs' five records: the launches of cat and curl, and the
    // three connection events curl is the process of.
    assert!(traffic.iter().all(|r| r["x_seen"] == 5), "{traffic:?}");
    let _ = std::fs::remove_dir_all(profiles.parent().unwrap());
}

/// Runs `APPLY <analytic> ON procs` in a session after procs is defined; returns the
/// rendered diagnostic and the columns `procs` has afterwards.
fn failing_apply(lake: &Lake, apply: &str) -> (String, Vec<String>) {
    let config = lake.config();
    let mut session = Session::new(Some(&config), SessionOptions::default());
    let mut out = Capture::new();
    session
        .execute(
            "procs = GET process FROM sqlite://events WHERE pid > 0",
            &mut out,
        )
        .unwrap_or_else(|d| panic!("{}", d.render(session.source())));
    let err = session
        .execute(apply, &mut out)
        .expect_err("the APPLY must fail");
    let rendered = err.render(session.source());
    let mut out = Capture::new();
    session
        .execute("DISP procs LIMIT 1", &mut out)
        .unwrap_or_else(|d| panic!("{}", d.render(session.source())));
    let rows = out.rows();
    let cols = rows[0].as_object().unwrap().keys().cloned().collect();
    (rendered, cols)
}

#[test]
fn failures_are_diagnostics_at_the_apply_and_leave_the_variables_unchanged() {
    let profiles = test_analytics(
        "fail",
        &[
            (
                "noimport",
                "import kestrel_no_such_package\ndef run(df):\n    return df\n",
            ),
            (
                "raises",
                "def helper(df):\n    raise ValueError('boom in the analytic')\n\
                 def run(df):\n    return helper(df)\n",
            ),
            ("twoframes", "def run(df):\n    return df, df\n"),
            (
                "dropsid",
                "def run(df):\n    return df.drop(columns=['uid', 'id'])\n",
            ),
            (
                "retype",
                "def run(df):\n    df = df.copy()\n    df['type'] = 'file'\n    return df\n",
            ),
            (
                "forgedid",
                "def run(df):\n    return df[['id', 'type']].assign(id='process--forged')\n",
            ),
            ("wrongtype", "def run(df):\n    return 42\n"),
            (
                "slow",
                "import time\ndef run(df):\n    time.sleep(60)\n    return df\n",
            ),
        ],
    );
    let mut lake = Lake::sqlite("fail", "ecs_process_network.csv", "events");
    lake.profiles = profiles.clone();
    // Long enough for pandas to import on a loaded machine, short enough for `slow`.
    lake.timeout = 8;
    let cases: &[(&str, &[&str])] = &[
        (
            "APPLY python://nosuch ON procs",
            &["K0306", "no python analytic `nosuch`", "configured: "],
        ),
        (
            "APPLY noimport ON procs",
            &[
                "K0602",
                "kestrel_no_such_package",
                "pip install kestrel_no_such_package",
            ],
        ),
        (
            "APPLY raises ON procs",
            &[
                "K0602",
                "ValueError: boom in the analytic",
                "raises.py",
                "in helper",
            ],
        ),
        (
            "APPLY twoframes ON procs",
            &["K0602", "2 DataFrame(s) for 1 variable(s)"],
        ),
        (
            "APPLY dropsid ON procs",
            &["K0602", "without its identity column `uid`"],
        ),
        (
            "APPLY retype ON procs",
            &["K0602", "whose `type` is file instead of `process`"],
        ),
        (
            "APPLY forgedid ON procs",
            &[
                "K0602",
                "whose `id` (process--forged) is none kestrel gave it",
            ],
        ),
        (
            "APPLY wrongtype ON procs",
            &["K0602", "a value of type int"],
        ),
        (
            "APPLY slow ON procs",
            &["K0602", "analytics_timeout", "(8 s)"],
        ),
        (
            "APPLY ftp://x ON procs",
            &["K0306", "no analytics interface `ftp://`"],
        ),
    ];
    for (apply, expect) in cases {
        let started = std::time::Instant::now();
        let (msg, cols) = failing_apply(&lake, apply);
        for e in *expect {
            assert!(msg.contains(e), "{apply}: expected `{e}` in:\n{msg}");
        }
        assert!(
            !msg.contains("kestrel_driver.py"),
            "{apply}: driver frames leaked:\n{msg}"
        );
        // The caret is on the APPLY's line (line 2 of the session).
        assert!(
            msg.contains("2 | APPLY"),
            "{apply}: not at the APPLY line:\n{msg}"
        );
        assert!(
            !cols.iter().any(|c| c.starts_with("x_")),
            "{apply}: {cols:?}"
        );
        assert!(cols.contains(&"uid".to_string()));
        assert!(
            started.elapsed().as_secs() < 30,
            "{apply} took {:?}",
            started.elapsed()
        );
    }
    let _ = std::fs::remove_dir_all(profiles.parent().unwrap());
}

/// An analytic written for the original receives `id` (the same for the same entity)
/// and `type`, and may return only `id` with what it adds: the identity comes back from
/// `id`, so the variable can still be filtered and FIND pivots from it, and INFO lists
/// the added attribute apart.
#[test]
fn the_originals_id_and_type_reach_the_analytic_and_may_stand_for_the_identity() {
    let profiles = test_analytics(
        "stix",
        &[(
            "onlyid",
            "def run(df):\n\
             \x20   assert (df['type'] == 'process').all(), df['type']\n\
             \x20   assert df['id'].str.match(r'^process--[0-9a-f]{8}-[0-9a-f]{4}-8').all(), df['id']\n\
             \x20   assert (df.groupby('uid')['id'].nunique() == 1).all()\n\
             \x20   assert df['id'].nunique() == df['uid'].nunique()\n\
             \x20   out = df[['id', 'type']].copy()\n\
             \x20   out['x_len'] = df['name'].str.len()\n\
             \x20   return out\n",
        )],
    );
    let mut lake = Lake::sqlite("stix", "ecs_process_network.csv", "events");
    lake.profiles = profiles.clone();
    let out = lake
        .run(
            "procs = GET process FROM sqlite://events WHERE pid > 0\n\
             long = procs WHERE name LIKE '____%'\n\
             before = FIND process CREATED long\n\
             DISP before ATTR pid, name\n\
             APPLY onlyid ON procs\n\
             long2 = procs WHERE x_len >= 4\n\
             after = FIND process CREATED long2\n\
             DISP after ATTR pid, name\n\
             INFO procs\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = out.rows();
    let info: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .filter_map(|r| Some((r.get("field")?.as_str()?.to_string(), r["value"].clone())))
        .collect();
    // The two DISPs print the same attributes one after the other: the first half of
    // the rows is FIND before the APPLY, the second FIND from the analytic's rows.
    let all: Vec<String> = rows
        .iter()
        .filter(|r| r.get("pid").is_some())
        .map(|r| format!("{}:{}", r["pid"], r["name"]))
        .collect();
    assert!(!all.is_empty());
    assert_eq!(all.len() % 2, 0, "{all:?}");
    let (a, b) = all.split_at(all.len() / 2);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "FIND from the analytic's rows differs from FIND before it"
    );
    assert_eq!(info["Customized Attributes"], "x_len", "{info:?}");
    assert!(
        !info["Entity Attributes"]
            .as_str()
            .unwrap()
            .contains("x_len"),
        "{info:?}"
    );
    let _ = std::fs::remove_dir_all(profiles.parent().unwrap());
}

/// Seed 002's APPLY cells as written, against a lake holding splunkd's activity, with
/// offline analytics configured under the seed's names.
#[test]
fn seed_002_apply_hunts_run_as_written_with_stand_in_analytics() {
    let dir = common::fresh_dir("analytics-mods", "seed002");
    let a = root().join("analytics");
    std::fs::write(
        dir.join("profiles.yaml"),
        format!(
            "profiles:\n\
             \x20 domain-enrichment: {{module: '{0}/ip_enrich/analytic.py', func: enrich}}\n\
             \x20 pin-IP-on-map: {{module: '{0}/ip_enrich/analytic.py', func: enrich}}\n\
             \x20 attribute-plot: {{module: '{0}/attribute_plot/analytic.py', func: plot}}\n",
            a.display()
        ),
    )
    .unwrap();
    let mut lake = Lake::sqlite("seed002", "seed002_bh22.csv", "bh22-linux-192.168.56.91");
    lake.profiles = dir.join("profiles.yaml");
    let read = |f: &str| std::fs::read_to_string(root().join("tests/errors").join(f)).unwrap();

    let out = lake
        .run(&read("seed_002_12_filter_enriched.hf"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.displays.len(), 1, "domain-enrichment's table");
    let rows = out.rows();
    let github: Vec<_> = rows
        .iter()
        .filter(|r| r["x_domain_organization"] == "GitHub, Inc. (GITHU)")
        .collect();
    // Once in `DISP traffic`, once in `DISP github_traffic`.
    assert_eq!(github.len(), 2, "{rows:#?}");
    assert_eq!(github[0]["dst_ref.value"], "140.82.113.4");
    assert_eq!(github[0]["x_domain_name"], "lb-140-82-113-4-iad.github.com");

    let out = lake
        .run(&read("seed_002_5_apply_pin_ip.hf"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.displays.len(), 1);

    // Cell [6] as the seed has it, with its TIMESTAMPED line.
    let hunt = read("seed_002_9_apply_attribute_plot.hf").replace(
        "# let's visualize",
        "c2_traffic = TIMESTAMPED(c2_traffic)\n\n# let's visualize",
    );
    let out = lake.run(&hunt).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.displays.len(), 1);
    assert_eq!(out.displays[0].0, "image/svg+xml");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C while an analytic runs stops its process and kestrel exits with 130.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_analytic_and_exits_130() {
    let dir = common::fresh_dir("analytics-mods", "ctrlc");
    let pid_file = dir.join("pid");
    std::fs::write(
        dir.join("slow.py"),
        format!(
            "import os, time\ndef run(df):\n    open({:?}, 'w').write(str(os.getpid()))\n    time.sleep(120)\n    return df\n",
            pid_file.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("profiles.yaml"),
        "profiles:\n  slow: {module: slow.py, func: run}\n",
    )
    .unwrap();
    let mut lake = Lake::sqlite("ctrlc", "ecs_process_network.csv", "events");
    lake.profiles = dir.join("profiles.yaml");
    let config = lake.config();
    let Engine::Sqlite(lake_dir) = &lake.engine else {
        unreachable!()
    };
    let yaml = format!(
        "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\nanalytics:\n  python: '{}'\n  python_profiles: '{}'\n",
        lake_dir.join("lake.db").display(),
        python().display(),
        lake.profiles.display()
    );
    drop(config);
    std::fs::write(dir.join("k.yaml"), yaml).unwrap();
    std::fs::write(
        dir.join("h.hf"),
        "procs = GET process FROM sqlite://events WHERE pid > 0\nAPPLY slow ON procs\nDISP procs\n",
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("run")
        .arg("--config")
        .arg(dir.join("k.yaml"))
        .arg(dir.join("h.hf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !pid_file.exists()
        || std::fs::read_to_string(&pid_file)
            .unwrap_or_default()
            .is_empty()
    {
        assert!(
            started.elapsed().as_secs() < 60,
            "the analytic never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let analytic_pid = std::fs::read_to_string(&pid_file).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stopped.elapsed().as_secs() < 10);
    assert!(
        !Path::new(&format!("/proc/{analytic_pid}")).exists(),
        "the analytic's process {analytic_pid} still runs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SAVE to and LOAD from `.parquet`, a file pandas reads, and `kestrel ingest` of a
/// Parquet file pandas wrote (snappy pages, a real timestamp column).
#[test]
fn parquet_save_load_and_ingest_agree_with_pandas() {
    let lake = Lake::sqlite("parquet", "ecs_process_network.csv", "events");
    let Engine::Sqlite(dir) = &lake.engine else {
        unreachable!()
    };
    let saved = dir.join("procs.parquet");
    lake.rows(&format!(
        "procs = GET process FROM sqlite://events WHERE pid > 0\nSAVE procs TO {}\n",
        saved.display()
    ));
    // LOAD reads its file while the hunt compiles: a second hunt.
    let rows = lake.rows(&format!(
        "back = LOAD {} AS process\nDISP back ATTR name, pid\n",
        saved.display()
    ));
    let mut names = sorted_strings(col(&rows, "name"));
    names.dedup();
    assert_eq!(
        names,
        ["bash", "cat", "curl", "ipconfig", "netstat", "pathping", "ping", "uname"]
    );
    let check = std::process::Command::new(python())
        .arg("-c")
        .arg(
            "import sys, pandas as pd\n\
             df = pd.read_parquet(sys.argv[1])\n\
             print(len(df), df['pid'].dtype, sorted(df['name'].unique())[0])\n",
        )
        .arg(&saved)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "17 int64 bash",
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // pandas writes the fixture as Parquet; kestrel ingests it and hunts it.
    let pq = dir.join("events.parquet");
    let status = std::process::Command::new(python())
        .arg("-c")
        .arg(
            "import sys, pandas as pd\n\
             df = pd.read_csv(sys.argv[1])\n\
             df['@timestamp'] = pd.to_datetime(df['@timestamp'], utc=True)\n\
             df.to_parquet(sys.argv[2])\n",
        )
        .arg(root().join("tests/fixtures/ecs_process_network.csv"))
        .arg(&pq)
        .status()
        .unwrap();
    assert!(status.success());
    let db = dir.join("pq.db");
    let report = ingest(&IngestOptions {
        files: vec![pq],
        into: format!("sqlite:///{}", db.display()),
        table: "events".into(),
        ..Default::default()
    })
    .expect("ingest the Parquet file");
    assert!(report.to_string().contains("17 rows"), "{report}");
    let yaml = format!(
        "connections:\n  pq:\n    url: sqlite:///{}\ndatasources:\n  pq:\n    connection: pq\n    table: events\n    timestamp: '@timestamp'\n    timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'\n",
        db.display()
    );
    let config = Config::from_yaml_str(&yaml, None).unwrap();
    let src = SourceFile::new(
        "h.hf",
        "p = GET process FROM sqlite://pq WHERE name = 'curl' START t'2024-07-08T00:00:00Z' STOP t'2024-07-09T00:00:00Z'\n\
         c = FIND network-traffic CREATED BY p\n\
         DISP c ATTR dst_ref.value, dst_byte_count\n",
    );
    let mut out = Capture::new();
    Session::new(Some(&config), SessionOptions::default())
        .run_hunt(&src, &mut out)
        .unwrap_or_else(|d| panic!("{}", d.render(&src)));
    let rows = out.rows();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().any(|r| r["dst_ref.value"] == "140.82.113.4"
            && r["dst_byte_count"].as_f64() == Some(90000.0)),
        "{rows:?}"
    );
}

/// A variable computed from another before an APPLY keeps the rows it had; one computed
/// after it sees what the analytic returned.
#[test]
fn variables_derived_before_an_apply_keep_their_rows() {
    let lake = Lake::sqlite("before", "ecs_process_network.csv", "events");
    let rows = lake.rows(
        "procs = GET process FROM sqlite://events WHERE pid > 0\n\
         before = procs WHERE pid > 1000\n\
         APPLY suspicious-scoring ON procs WITH threshold=4\n\
         after = procs WHERE pid > 1000\n\
         DISP before ATTR name\n\
         DISP after ATTR name, x_suspicious_score\n",
    );
    let before: Vec<_> = rows
        .iter()
        .filter(|r| r.as_object().unwrap().len() == 1)
        .collect();
    let after: Vec<_> = rows
        .iter()
        .filter(|r| r.get("x_suspicious_score").is_some())
        .collect();
    let mut b: Vec<String> = before
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    b.sort();
    b.dedup();
    assert_eq!(
        b,
        ["bash", "cat", "curl", "ipconfig", "netstat", "pathping", "ping", "uname"]
    );
    let mut a: Vec<String> = after
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    a.sort();
    a.dedup();
    assert_eq!(a, ["cat", "curl"]);
}
