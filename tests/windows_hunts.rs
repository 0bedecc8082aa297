//! Realistic hunts (`tests/hunts_windows/*.hf`) over the shipped sample of raw Windows
//! event logs (`examples/data/*.jsonl.gz`, both collectors' layouts in one table), loaded
//! as they are with `kestrel ingest` and read through the `winevent` mapping.
//!
//! The same events are then converted to Elastic Common Schema documents (the conversion
//! below, `to_ecs`, documents each field), ingested into a second table, and the same
//! hunts run over it through the `ecs` mapping: the answers must be the same rows.
//!
//! Expected answers are derived from the raw JSON by `tests/hunts_windows/derive.py`
//! (Python, no SQL, no mappings): `python3 tests/hunts_windows/derive.py NN` prints the
//! rows of hunt NN that are written below.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, run_hunt_with, RunOptions};
use kestrel::session::SessionOptions;
use kestrel::source::SourceFile;
use serde_json::{json, Map, Value};

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

/// The lake: one SQLite file with `wh_raw` (raw events) and `wh_ecs` (the ECS copy), and a
/// configuration per table naming the data source `winlogs` either way.
struct Lake {
    raw: Config,
    ecs: Config,
    /// The same configurations as files, for the `kestrel` binary.
    raw_file: PathBuf,
    ecs_file: PathBuf,
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sample_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest().join("examples/data"))
        .expect("examples/data")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    files
}

fn lake() -> &'static Lake {
    static LAKE: OnceLock<Lake> = OnceLock::new();
    LAKE.get_or_init(|| {
        // Under target/ (Cargo's scratch directory for integration tests), rebuilt on each
        // run: nothing is left in the system's temporary directory.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("windows-hunts");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let db = dir.join("lake.db");
        let url = format!("sqlite:///{}", db.display());
        let files = sample_files();
        let opts = |files: Vec<PathBuf>, table: &str| IngestOptions {
            files,
            into: url.clone(),
            table: table.into(),
            format: None,
            replace: true,
            append: false,
            progress: false,
        };
        ingest(&opts(files.clone(), "wh_raw")).expect("ingest the raw sample");

        // The ECS copy: every raw event converted, as JSON lines.
        let ecs_file = dir.join("ecs.jsonl");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&ecs_file).expect("ecs"));
        for f in &files {
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(f).expect("open"));
            for line in BufReader::new(gz).lines() {
                let raw: Value = serde_json::from_str(&line.expect("line")).expect("json");
                writeln!(out, "{}", to_ecs(&raw)).expect("write");
            }
        }
        out.flush().expect("flush");
        drop(out);
        ingest(&opts(vec![ecs_file], "wh_ecs")).expect("ingest the ECS copy");

        let config = |table: &str, mapping: &str| {
            let yaml = format!(
                "connections:\n  lake:\n    url: {url}\ndatasources:\n  winlogs:\n    connection: lake\n    table: {table}\n    timestamp: \"@timestamp\"\n    timestamp_format: \"%Y-%m-%dT%H:%M:%S.%fZ\"\n    data_model_map: {mapping}\n"
            );
            let file = dir.join(format!("{table}.yaml"));
            std::fs::write(&file, &yaml).expect("config file");
            (Config::from_yaml_str(&yaml, None).expect("config"), file)
        };
        let (raw, raw_file) = config("wh_raw", "winevent");
        let (ecs, ecs_file) = config("wh_ecs", "ecs");
        Lake {
            raw,
            ecs,
            raw_file,
            ecs_file,
        }
    })
}

// ---------------------------------------------------------------------------------------
// Raw Windows event → ECS document.
//
// | raw (NXLog top-level key, or Winlogbeat `event_data.*`) | ECS field |
// |---|---|
// | `Hostname` / `computer_name` | `host.name` |
// | `@timestamp` | `@timestamp` |
// | `EventID` / `event_id` | `event.code` (text, as ECS has it) |
// | `Channel` / `log_name` | `event.provider` |
// | Sysmon 1, Security 4688 | `event.category: process`, `event.type: start` |
// | Sysmon 5 | `process`, `end` |
// | Sysmon 8, 10 | `process`, `change` / `access` (told apart by `event.code`) |
// | Sysmon 3, Security 5156 | `network`, `connection` |
// | Sysmon 22 | `network`, `protocol`, `network.protocol: dns` |
// | Sysmon 7 | `library`, `start` |
// | Sysmon 11 | `file`, `creation` |
// | Sysmon 12 | `registry`, `creation` (CreateKey) / `deletion` (DeleteKey, DeleteValue) |
// | Sysmon 13, 14 | `registry`, `change` |
// | Security 4624 | `authentication`, `start` |
// | anything else | no `event.category` (the `ecs` default class: process_activity, with no parent) |
// | `Image`, `ProcessGuid`, `ProcessId`, `CommandLine` | `process.executable`, `process.name` (its basename), `process.entity_id`, `process.pid` (a number), `process.command_line` |
// | `Parent*` (Sysmon 1) | `process.parent.*` likewise |
// | `Product` (Sysmon 1) | `process.Product` (a custom field: no ECS name) |
// | 4688 `NewProcessName`, `NewProcessId` (hex), `ParentProcessName`, `ProcessId` (hex) | `process.executable`/`name`/`pid` (decimal), `process.parent.executable`/`name`/`pid` |
// | 5156 `Application`, `ProcessId`/`ProcessID` | `process.executable`/`name`/`pid` |
// | Sysmon 8/10 `SourceImage`, `SourceProcessGUID`/`Guid`, `SourceProcessId` | `process.*` (the actor) |
// | Sysmon 8/10 `Target*`, `GrantedAccess`, `StartAddress` | `winlog.event_data.*`, unchanged (as Winlogbeat's Sysmon module keeps them) |
// | `SourceIp`/`SourceAddress`, `SourcePort`, `DestinationIp`/`DestAddress`, `DestinationPort`/`DestPort` | `source.ip`, `source.port`, `destination.ip`, `destination.port` (numbers) |
// | `Protocol` (Sysmon 3) | `network.transport` |
// | `QueryName`, `QueryResults` | `dns.question.name`, `dns.answers.data` (one string) |
// | `TargetFilename` | `file.path`, `file.name`, `file.directory` |
// | `ImageLoaded` | `dll.path`, `dll.name` |
// | `TargetObject`, its last component, `Details` | `registry.path`, `registry.value`, `registry.data.strings` (one string) |
// | `User` (`DOMAIN\name`) | `user.domain`, `user.name` |
//
// GUIDs keep their braces (both collectors write them so).
// ---------------------------------------------------------------------------------------

/// A field of a raw event: the top-level key, else `event_data.<key>`, as text.
fn field(raw: &Value, keys: &[&str]) -> Option<String> {
    for k in keys {
        for v in [raw.get(*k), raw.get("event_data").and_then(|d| d.get(*k))]
            .into_iter()
            .flatten()
        {
            match v {
                Value::String(s) => return Some(s.clone()),
                Value::Number(n) => return Some(n.to_string()),
                Value::Bool(b) => return Some(b.to_string()),
                _ => {}
            }
        }
    }
    None
}

fn basename(p: &str) -> String {
    p.rsplit(['\\', '/']).next().unwrap_or(p).to_string()
}

fn dirname(p: &str) -> String {
    match p.rfind(['\\', '/']) {
        Some(i) => p[..i].to_string(),
        None => String::new(),
    }
}

/// A process id as a number: decimal, or hex with `0x` (Security).
fn pid(s: Option<String>) -> Value {
    let Some(s) = s else { return Value::Null };
    let n = match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    };
    n.map(Value::from).unwrap_or(Value::String(s))
}

fn number(s: Option<String>) -> Value {
    match s {
        Some(s) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(s)),
        None => Value::Null,
    }
}

fn text(s: Option<String>) -> Value {
    s.map(Value::String).unwrap_or(Value::Null)
}

/// A process object from the given raw keys (executable, guid, pid, command line).
fn process(raw: &Value, image: &[&str], guid: &[&str], pid_keys: &[&str], cmd: &[&str]) -> Value {
    let exe = field(raw, image);
    json!({
        "executable": text(exe.clone()),
        "name": text(exe.as_deref().map(basename)),
        "entity_id": text(field(raw, guid)),
        "pid": pid(field(raw, pid_keys)),
        "command_line": text(field(raw, cmd)),
    })
}

/// Drops nulls (and objects left empty) so absent fields stay absent, as in ECS documents.
fn prune(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let kept: Map<String, Value> = m
                .into_iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k, v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other),
    }
}

fn to_ecs(raw: &Value) -> Value {
    let channel = field(raw, &["Channel", "log_name"]).unwrap_or_default();
    let eid: i64 = field(raw, &["EventID", "event_id"])
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1);
    let sysmon = channel == SYSMON;
    let security = channel.eq_ignore_ascii_case("security");
    let (category, kind) = match (sysmon, security, eid) {
        (true, _, 1) | (_, true, 4688) => ("process", "start"),
        (true, _, 5) => ("process", "end"),
        (true, _, 8) => ("process", "change"),
        (true, _, 10) => ("process", "access"),
        (true, _, 3) | (_, true, 5156) => ("network", "connection"),
        (true, _, 22) => ("network", "protocol"),
        (true, _, 7) => ("library", "start"),
        (true, _, 11) => ("file", "creation"),
        (true, _, 12) => match field(raw, &["EventType"]).as_deref() {
            Some("CreateKey") => ("registry", "creation"),
            _ => ("registry", "deletion"),
        },
        (true, _, 13) | (true, _, 14) => ("registry", "change"),
        (_, true, 4624) => ("authentication", "start"),
        // As Winlogbeat leaves PowerShell, most Security and the other Sysmon events: no
        // category, so the `ecs` mapping's default class (process_activity) takes them,
        // with a process and no parent — the records that must not give phantom parents.
        _ => ("", ""),
    };
    let mut event = json!({"code": eid.to_string(), "provider": channel});
    if !category.is_empty() {
        event["category"] = json!(category);
        event["type"] = json!(kind);
    }
    let mut doc = json!({
        "@timestamp": raw.get("@timestamp").cloned().unwrap_or(Value::Null),
        "host": {"name": text(field(raw, &["Hostname", "computer_name"]))},
        "event": event,
    });
    let m = doc.as_object_mut().expect("object");
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    let own = |raw: &Value| {
        process(
            raw,
            &["Image"],
            &["ProcessGuid"],
            &["ProcessId"],
            &["CommandLine"],
        )
    };
    if let Some(user) = field(raw, &["User"]) {
        let (domain, name) = user.rsplit_once('\\').unwrap_or(("", user.as_str()));
        set("user", json!({"name": name, "domain": domain}));
    }
    match (sysmon, security, eid) {
        (true, _, 1) => {
            let mut p = own(raw);
            // A field ECS has no name for, kept under the process as a custom field.
            p["Product"] = text(field(raw, &["Product"]));
            p["parent"] = process(
                raw,
                &["ParentImage"],
                &["ParentProcessGuid"],
                &["ParentProcessId"],
                &["ParentCommandLine"],
            );
            set("process", p);
        }
        (_, true, 4688) => {
            let mut p = process(
                raw,
                &["NewProcessName"],
                &[],
                &["NewProcessId"],
                &["CommandLine"],
            );
            p["parent"] = process(raw, &["ParentProcessName"], &[], &["ProcessId"], &[]);
            set("process", p);
        }
        (true, _, 8) | (true, _, 10) => {
            set(
                "process",
                process(
                    raw,
                    &["SourceImage"],
                    &["SourceProcessGUID", "SourceProcessGuid"],
                    &["SourceProcessId"],
                    &[],
                ),
            );
            let mut ed = Map::new();
            for k in [
                "TargetImage",
                "TargetProcessGUID",
                "TargetProcessGuid",
                "TargetProcessId",
                "GrantedAccess",
                "StartAddress",
            ] {
                if let Some(v) = field(raw, &[k]) {
                    ed.insert(k.to_string(), Value::String(v));
                }
            }
            set("winlog", json!({ "event_data": ed }));
        }
        (_, true, 5156) => {
            set(
                "process",
                process(raw, &["Application"], &[], &["ProcessId", "ProcessID"], &[]),
            );
            set(
                "source",
                json!({"ip": text(field(raw, &["SourceAddress"])), "port": number(field(raw, &["SourcePort"]))}),
            );
            set(
                "destination",
                json!({"ip": text(field(raw, &["DestAddress"])), "port": number(field(raw, &["DestPort"]))}),
            );
        }
        _ => set("process", own(raw)),
    }
    if sysmon {
        match eid {
            3 => {
                set(
                    "source",
                    json!({"ip": text(field(raw, &["SourceIp"])), "port": number(field(raw, &["SourcePort"]))}),
                );
                set(
                    "destination",
                    json!({"ip": text(field(raw, &["DestinationIp"])), "port": number(field(raw, &["DestinationPort"]))}),
                );
                set(
                    "network",
                    json!({"transport": text(field(raw, &["Protocol"]))}),
                );
            }
            22 => {
                set("network", json!({"protocol": "dns"}));
                set(
                    "dns",
                    json!({"question": {"name": text(field(raw, &["QueryName"]))},
                           "answers": {"data": text(field(raw, &["QueryResults"]))}}),
                );
            }
            7 => {
                let p = field(raw, &["ImageLoaded"]);
                set(
                    "dll",
                    json!({"path": text(p.clone()), "name": text(p.as_deref().map(basename))}),
                );
            }
            11 => {
                let p = field(raw, &["TargetFilename"]);
                set(
                    "file",
                    json!({"path": text(p.clone()), "name": text(p.as_deref().map(basename)),
                           "directory": text(p.as_deref().map(dirname))}),
                );
            }
            12..=14 => {
                let p = field(raw, &["TargetObject"]);
                set(
                    "registry",
                    json!({"path": text(p.clone()), "value": text(p.as_deref().map(basename)),
                           "data": {"strings": text(field(raw, &["Details"]))}}),
                );
            }
            _ => {}
        }
    }
    prune(doc).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------

/// Runs a hunt file over one configuration; the rows of its DISPs, each value as text
/// (numbers as their decimal text), sorted, duplicates kept.
fn answer(config: &Config, hunt: &str, attrs: &[&str], opts: SessionOptions) -> Vec<Vec<String>> {
    let path = manifest().join("tests/hunts_windows").join(hunt);
    let text = std::fs::read_to_string(&path).expect("hunt file");
    let src = SourceFile::new(hunt, text);
    let mut printer = Printer::new(Vec::new(), Format::Jsonl);
    let mut summary = Vec::new();
    if let Err(d) = run_hunt_with(&src, Some(config), &mut printer, &mut summary, opts) {
        panic!("{hunt}:\n{}", d.render(&src));
    }
    let out = String::from_utf8(printer.into_inner()).expect("utf-8");
    let mut rows: Vec<Vec<String>> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            attrs
                .iter()
                .map(|a| match &v[*a] {
                    Value::String(s) => s.clone(),
                    Value::Null => "<null>".to_string(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    // Sorted for comparison, never deduplicated: DISP shows distinct rows by definition,
    // so a row printed twice (a broken DISTINCT, a doubled JOIN) must fail the test.
    rows.sort();
    rows
}

/// The SQL that `EXPLAIN parents` shows for the parents of the PowerShell processes.
fn parents_sql(config: &Config) -> String {
    let src = SourceFile::new(
        "parents.hf",
        "ps = GET process FROM stixshifter://winlogs WHERE name = 'powershell.exe'\n\
         parents = FIND process CREATED ps\n\
         EXPLAIN parents\n",
    );
    let mut printer = Printer::new(Vec::new(), Format::Jsonl);
    run_hunt(
        &src,
        Some(config),
        &mut printer,
        &mut Vec::new(),
        &RunOptions { summary: false },
    )
    .unwrap_or_else(|d| panic!("{}", d.render(&src)));
    String::from_utf8(printer.into_inner()).expect("utf-8")
}

/// The ECS copy's process creations are whole (`whole_records` in `ecs.yaml`): FIND reads
/// the parents from the creations `ps`'s own condition selects, without a semi-join on
/// `ps`, so h21's rows over the ECS copy (the same as over the raw events, which
/// semi-join) are those of the records in hand.
#[test]
fn parents_over_the_ecs_copy_are_read_from_the_records_in_hand() {
    let lake = lake();
    let (ecs, raw) = (parents_sql(&lake.ecs), parents_sql(&lake.raw));
    assert!(raw.contains("IN (SELECT"), "{raw}");
    assert!(!ecs.contains("IN (SELECT"), "{ecs}");
}

/// The hunt over the raw table gives `expected`, and over the ECS copy the same rows.
fn check(hunt: &str, attrs: &[&str], expected: &[&[&str]]) {
    let lake = lake();
    let mut want: Vec<Vec<String>> = expected
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
    want.sort();
    // As `kestrel run` runs it (variables kept, the summary on), and as a stateless
    // compiler would (every statement computes its chain from the lake): the same rows.
    for (opts, how) in [
        (SessionOptions::default(), "kept"),
        (
            SessionOptions {
                summary: false,
                store: false,
            },
            "not kept",
        ),
    ] {
        let raw = answer(&lake.raw, hunt, attrs, opts);
        assert_eq!(raw, want, "{hunt} over the raw events (winevent), {how}");
        let ecs = answer(&lake.ecs, hunt, attrs, opts);
        assert_eq!(ecs, want, "{hunt} over the ECS copy (ecs), {how}");
    }
}

// python3 tests/hunts_windows/derive.py 01
#[test]
fn h01_encoded_powershell() {
    check(
        "01_encoded_powershell.hf",
        &["endpoint.hostname", "name", "parent_process.name"],
        &[&[
            "WORKSTATION5.theshire.local",
            "powershell.exe",
            "wscript.exe",
        ]],
    );
}

// python3 tests/hunts_windows/derive.py 02
#[test]
fn h02_script_hosts_spawning_shells() {
    check(
        "02_script_hosts_spawning_shells.hf",
        &["endpoint.hostname", "parent_process.name", "name"],
        &[
            &["WORKSTATION5", "mshta.exe", "powershell.exe"],
            &[
                "WORKSTATION5.theshire.local",
                "wscript.exe",
                "powershell.exe",
            ],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 03
#[test]
fn h03_lsass_access() {
    check(
        "03_lsass_access.hf",
        &["endpoint.hostname", "name"],
        &[
            &["HR001.shire.com", "svchost.exe"],
            &["WORKSTATION5", "Outflank-Dumpert.exe"],
            &["WORKSTATION5", "rundll32.exe"],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 04
#[test]
fn h04_lsass_full_access() {
    check(
        "04_lsass_full_access.hf",
        &[
            "device.hostname",
            "actor.process.name",
            "actual_permissions",
        ],
        &[
            &["WORKSTATION5", "Outflank-Dumpert.exe", "0x1fffff"],
            &["WORKSTATION5", "rundll32.exe", "0x1fffff"],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 05
#[test]
fn h05_dump_files() {
    check(
        "05_dump_files.hf",
        &["endpoint.hostname", "name"],
        &[
            &["WORKSTATION5", "Outflank-Dumpert.exe"],
            &["WORKSTATION5", "rundll32.exe"],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 06
#[test]
fn h06_comsvcs_loaders() {
    check(
        "06_comsvcs_loaders.hf",
        &["name", "file.parent_folder"],
        &[&["rundll32.exe", r"C:\Windows\System32"]],
    );
}

// python3 tests/hunts_windows/derive.py 07
#[test]
fn h07_logon_script_persistence() {
    check(
        "07_logon_script_persistence.hf",
        &[
            "device.hostname",
            "actor.process.name",
            "reg_value.name",
            "reg_value.data",
        ],
        &[&[
            "WORKSTATION5",
            "reg.exe",
            "UserInitMprLogonScript",
            r"C:\Users\wardog\AppData\Local\Temp\art.bat",
        ]],
    );
}

// python3 tests/hunts_windows/derive.py 08
#[test]
fn h08_persistence_writer_chain() {
    check(
        "08_persistence_writer_chain.hf",
        &["name", "file.parent_folder"],
        &[&["cmd.exe", r"C:\Windows\System32"]],
    );
}

// python3 tests/hunts_windows/derive.py 09
#[test]
fn h09_wdigest_downgrade() {
    check(
        "09_wdigest_downgrade.hf",
        &[
            "device.hostname",
            "actor.process.name",
            "actor.process.uid",
            "reg_key.path",
        ],
        &[&[
            "HR001.shire.com",
            "powershell.exe",
            "{03ba39f5-50b2-5ce0-0000-00109995c501}",
            r"HKLM\System\CurrentControlSet\Control\SecurityProviders\WDigest",
        ]],
    );
}

// python3 tests/hunts_windows/derive.py 10
#[test]
fn h10_powershell_connections() {
    check(
        "10_powershell_connections.hf",
        &["dst_ref.value", "dst_port"],
        &[&["10.0.10.106", "443"], &["10.10.10.5", "80"]],
    );
}

// python3 tests/hunts_windows/derive.py 11
#[test]
fn h11_c2_beacon_processes() {
    check(
        "11_c2_beacon_processes.hf",
        &["endpoint.hostname", "name", "pid"],
        &[
            &["HR001.shire.com", "notepad.exe", "7924"],
            &["HR001.shire.com", "powershell.exe", "5172"],
            &["HR001.shire.com", "powershell.exe", "5452"],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 12
#[test]
fn h12_installutil_callback() {
    check(
        "12_installutil_callback.hf",
        &["src_ref.value", "dst_ref.value", "dst_port"],
        &[&["172.18.39.5", "10.10.10.5", "80"]],
    );
}

// python3 tests/hunts_windows/derive.py 13
#[test]
fn h13_dns_of_script_children() {
    check(
        "13_dns_of_script_children.hf",
        &["hostname"],
        &[&["localhost"]],
    );
}

// python3 tests/hunts_windows/derive.py 14
#[test]
fn h14_process_chain_three_deep() {
    check(
        "14_process_chain_three_deep.hf",
        &["parent_process.name", "name", "cmd_line"],
        &[
            &[
                "powershell.exe",
                "conhost.exe",
                r"\??\C:\windows\system32\conhost.exe 0xffffffff -ForceV1",
            ],
            &[
                "powershell.exe",
                "whoami.exe",
                r#""C:\windows\system32\whoami.exe""#,
            ],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 15
#[test]
fn h15_mshta_descendants() {
    check(
        "15_mshta_descendants.hf",
        &["name", "cmd_line"],
        &[&[
            "conhost.exe",
            r"\??\C:\windows\system32\conhost.exe 0xffffffff -ForceV1",
        ]],
    );
}

// python3 tests/hunts_windows/derive.py 16
#[test]
fn h16_discovery_commands() {
    check(
        "16_discovery_commands.hf",
        &["endpoint.hostname", "name"],
        &[&["WORKSTATION5.theshire.local", "powershell.exe"]],
    );
}

// python3 tests/hunts_windows/derive.py 18
#[test]
fn h18_processes_in_user_folders() {
    check(
        "18_processes_in_user_folders.hf",
        &["name", "file.parent_folder"],
        &[
            &["GruntHTTP.exe", r"C:\Users\pgustavo\Desktop"],
            &["Outflank-Dumpert.exe", r"C:\Users\wardog\Desktop"],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 19
#[test]
fn h19_wdigest_writer_c2() {
    check(
        "19_wdigest_writer_c2.hf",
        &["src_ref.value", "dst_ref.value", "dst_port"],
        &[&["172.18.39.106", "10.0.10.106", "443"]],
    );
}

// python3 tests/hunts_windows/derive.py 20
#[test]
fn h20_dns_of_lolbin() {
    check(
        "20_dns_of_lolbin.hf",
        &[
            "device.hostname",
            "actor.process.name",
            "query.hostname",
            "answers.rdata",
        ],
        &[&[
            "WORKSTATION5.theshire.local",
            "InstallUtil.exe",
            "WORKSTATION5",
            "fe80::4928:567d:48ff:95db;::ffff:172.18.39.5;",
        ]],
    );
}

// python3 tests/hunts_windows/derive.py 21 — in the ECS copy, pipe and file events of one
// PowerShell process land in process_activity (no category) without a parent: they must
// give no parent (a row of a host name and nothing else).
#[test]
fn h21_parents_of_powershell() {
    check(
        "21_parents_of_powershell.hf",
        &["endpoint.hostname", "name", "pid", "uid"],
        &[
            &[
                "WORKSTATION5",
                "cmd.exe",
                "5888",
                "{39e4a257-2d59-5f91-6813-000000000700}",
            ],
            &[
                "WORKSTATION5",
                "mshta.exe",
                "10980",
                "{39e4a257-2d77-5f91-6b13-000000000700}",
            ],
            &[
                "WORKSTATION5.theshire.local",
                "explorer.exe",
                "5728",
                "{860ba2e3-993f-5f52-8402-000000000400}",
            ],
            &[
                "WORKSTATION5.theshire.local",
                "wscript.exe",
                "2440",
                "{860ba2e3-9f13-5f52-2603-000000000400}",
            ],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 22
#[test]
fn h22_custom_attribute() {
    check(
        "22_custom_attribute.hf",
        &["endpoint.hostname", "name", "pid"],
        &[&["WORKSTATION5", "powershell.exe", "9572"]],
    );
}

// .venv/bin/python tests/hunts_windows/derive.py 23 (OCSF numbers from the schema JSON)
#[test]
fn h23_ocsf_network_open() {
    let row = |host, ip, port| {
        [
            host,
            "400101",
            "Network Activity: Open",
            "4001",
            "4",
            "Network Activity",
            "1",
            "Open",
            ip,
            port,
        ]
    };
    check(
        "23_ocsf_network_open.hf",
        &[
            "device.hostname",
            "type_uid",
            "type_name",
            "class_uid",
            "category_uid",
            "category_name",
            "activity_id",
            "activity_name",
            "dst_endpoint.ip",
            "dst_endpoint.port",
        ],
        &[
            &row("HR001.shire.com", "10.0.10.106", "443"),
            &row("WORKSTATION5.theshire.local", "10.10.10.5", "80"),
        ],
    );
}

// python3 tests/hunts_windows/derive.py 24 — Security 4688 writes this pid `0x12d8`.
#[test]
fn h24_one_pid_either_channel() {
    let event = |code| ["<null>", "<null>", "<null>", code, "4824"];
    check(
        "24_one_pid_either_channel.hf",
        &[
            "endpoint.hostname",
            "name",
            "pid",
            "metadata.event_code",
            "process.pid",
        ],
        &[
            &["WORKSTATION5", "rundll32.exe", "4824", "<null>", "<null>"],
            &event("1"),
            &event("10"),
            &event("11"),
            &event("4688"),
            &event("5"),
            &event("7"),
        ],
    );
}

// .venv/bin/python tests/hunts_windows/derive.py 25 — no Sysmon 1: reg.exe's launch is
// its parent's act (cmd.exe's), not reg.exe's.
#[test]
fn h25_originated_by_actor() {
    check(
        "25_originated_by_actor.hf",
        &["metadata.event_code", "type_uid", "type_name"],
        &[
            &["12", "20100101", "Registry Key Activity: Create"],
            &["13", "20100202", "Registry Value Activity: Set"],
            &["5", "100702", "Process Activity: Terminate"],
            &["7", "100501", "Module Activity: Load"],
        ],
    );
}

// python3 tests/hunts_windows/derive.py 17 — counts process GUIDs per image name among the
// processes with a command line (Sysmon 1 and Security 4688; 4688 has no GUID, so
// svchost.exe, seen only in a 4688, counts 0).
#[test]
fn h17_rare_processes_group() {
    check(
        "17_rare_processes_group.hf",
        &["name", "n"],
        &[
            &["InstallUtil.exe", "1"],
            &["Outflank-Dumpert.exe", "1"],
            &["WmiPrvSE.exe", "1"],
            &["cmd.exe", "1"],
            &["conhost.exe", "3"],
            &["mshta.exe", "1"],
            &["powershell.exe", "2"],
            &["reg.exe", "1"],
            &["rundll32.exe", "1"],
            &["svchost.exe", "0"],
            &["whoami.exe", "1"],
            &["wscript.exe", "1"],
        ],
    );
}

/// The ECS copy has what the conversion promises: one document per raw event, and the
/// classes the `ecs` mapping tells apart.
#[test]
fn ecs_copy_keeps_every_event_and_classifies_them() {
    let lake = lake();
    let count = |config: &Config, hunt: &str| -> u64 {
        let src = SourceFile::new("count.hf", hunt);
        let mut printer = Printer::new(Vec::new(), Format::Jsonl);
        let mut summary = Vec::new();
        let rows = run_hunt(
            &src,
            Some(config),
            &mut printer,
            &mut summary,
            &RunOptions { summary: true },
        )
        .unwrap_or_else(|d| panic!("{}", d.render(&src)));
        rows.iter()
            .find(|r| r.variable == "x")
            .map(|r| r.records)
            .expect("summary of x")
    };
    // python3: Sysmon 10 events in examples/data — 4 (NXLog files) + 178 (Winlogbeat) = 182
    //   python3 -c "import gzip,json,glob; print(sum(1 for f in glob.glob('examples/data/*.gz')
    //     for l in gzip.open(f,'rt') for e in [json.loads(l)]
    //     if (e.get('EventID') or e.get('event_id'))==10
    //     and (e.get('Channel') or e.get('log_name'))=='Microsoft-Windows-Sysmon/Operational'))"
    let opens = "x = GET process_activity FROM stixshifter://winlogs WHERE actual_permissions LIKE '0x%'\nDISP x";
    let raw = count(&lake.raw, opens);
    assert_eq!(raw, count(&lake.ecs, opens));
    let sysmon10 = sample_files()
        .iter()
        .flat_map(|f| {
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(f).expect("open"));
            BufReader::new(gz)
                .lines()
                .map(|l| serde_json::from_str::<Value>(&l.expect("line")).expect("json"))
                .collect::<Vec<_>>()
        })
        .filter(|e| {
            field(e, &["EventID", "event_id"]).as_deref() == Some("10")
                && field(e, &["Channel", "log_name"]).as_deref() == Some(SYSMON)
        })
        .count();
    assert_eq!(raw, sysmon10 as u64);
}

/// `kestrel mappings` through the binary: output on stdout, exit status 0, or 2 for a
/// name it does not know.
#[test]
fn mappings_command_resolves_model_and_native_names() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .args(args)
            .output()
            .expect("run kestrel");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["mappings"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("winevent"), "{out}");

    let (code, out, _) = run(&["mappings", "winevent", "file.parent_folder"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("dirname(first_of(TargetFilename, event_data.TargetFilename))"),
        "{out}"
    );

    // Native → model: the attributes that read a Winlogbeat column.
    let (code, out, _) = run(&["mappings", "winevent", "event_data.TargetObject"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("reg_value.name"), "{out}");

    // The OCSF classification, rule by rule.
    let (code, out, _) = run(&["mappings", "ecs", "type_uid"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("class_uid * 100 + activity_id"), "{out}");
    assert!(
        out.contains("event.type IN ('connection', 'start')")
            && out.contains("400101     Network Activity: Open"),
        "{out}"
    );
    let (code, out, _) = run(&["mappings", "winevent", "class_name"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("'Process Activity'"), "{out}");

    let (code, out, _) = run(&["mappings", "ecs", "process_activity"]);
    assert_eq!(code, Some(2), "{out}");
    let (code, _, err) = run(&["mappings", "nosuch"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown mapping `nosuch`"), "{err}");
}

/// A test of OCSF classification in WHERE is a condition on the table's own columns (the
/// class's rule columns), on both layouts: no CASE is computed per row to decide it.
#[test]
fn ocsf_classification_tests_fold_to_source_columns() {
    let lake = lake();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("windows-hunts");
    let hunt = dir.join("classification.hf");
    std::fs::write(
        &hunt,
        "x = GET event FROM stixshifter://winlogs WHERE type_uid = 400101 OR (class_uid IN (1007) AND activity_name LIKE 'l%') OR category_name != 'System Activity'\nDISP x ATTR device.hostname\n",
    )
    .expect("hunt");
    for config in [&lake.raw_file, &lake.ecs_file] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("compile")
            .arg("--config")
            .arg(config)
            .arg(&hunt)
            .output()
            .expect("run kestrel");
        let sql = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{sql}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cte = sql.split(")\nSELECT").next().unwrap_or_default();
        let filter = cte.split("WHERE").nth(1).expect("a WHERE");
        assert!(!filter.contains("CASE"), "{}: {filter}", config.display());
        assert!(
            !filter.contains("100701"),
            "no classification value is computed: {filter}"
        );
    }
}

/// `pid = 4824` over the raw events is a test of the pid columns as written (`4824` in
/// Sysmon's, `'0x12d8'` in Security's): no row's pid is converted to decide it.
#[test]
fn pid_tests_fold_to_the_columns_spellings() {
    let lake = lake();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("windows-hunts");
    let hunt = dir.join("pid.hf");
    std::fs::write(
        &hunt,
        "p = GET process FROM stixshifter://winlogs WHERE pid = 4824 OR pid IN ('0x1a74', 9572)\nDISP p ATTR pid\n",
    )
    .expect("hunt");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("compile")
        .arg("--config")
        .arg(&lake.raw_file)
        .arg(&hunt)
        .output()
        .expect("run kestrel");
    let sql = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{sql}");
    let cte = sql.split(")\nSELECT").next().unwrap_or_default();
    let filter = cte.split("WHERE").nth(1).expect("a WHERE");
    assert!(!filter.contains("kestrel_int"), "{filter}");
    for spelling in ["'0x12d8'", "'0x1a74'", "6772", "'0x2564'"] {
        assert!(filter.contains(spelling), "{spelling} in {filter}");
    }
}
