//! `kestrel sigma convert` and `WHERE SIGMA`: the huntflows printed for a representative
//! set of rules (snapshots in `snapshots/sigma/`), that every printed huntflow parses back
//! to the pattern it came from, the errors a rule kestrel cannot run gets (rule, line,
//! construct), and `SIGMA '…'` combined with other conditions in a hunt on SQLite.
//!
//! Rules: SigmaHQ's (Detection Rule License 1.1, `../shared/data/sigma`) and kestrel's own
//! (`tests/sigma_support/rules`).

mod common;
mod sigma_support;

use std::path::{Path, PathBuf};

use kestrel::config::Config;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::sigma::fieldmap::FieldMap;
use kestrel::sigma::{self, print, ConvertOptions, Rule, Target};
use kestrel::source::SourceFile;
use kestrel::syntax::ast::{Pattern, Rhs, StmtKind};

use sigma_support::{manifest, rules_dir};

fn own(name: &str) -> PathBuf {
    manifest().join("tests/sigma_support/rules").join(name)
}

fn opts() -> ConvertOptions {
    ConvertOptions {
        from: "stixshifter://winlogs".into(),
        var: None,
        entity: None,
    }
}

/// The huntflow, or the error as `convert` prints it (with the file name only).
fn converted(path: &Path) -> String {
    match sigma::convert(path, &opts()) {
        Ok(c) => c.huntflow,
        Err(e) => {
            let name = path.file_name().unwrap().to_string_lossy();
            format!(
                "error: {name}:{}: {}\nconstruct: {}\n",
                e.line, e.message, e.construct
            )
        }
    }
}

/// SigmaHQ rules, one per construct or category worth seeing.
const SHARED: &[&str] = &[
    "windows/process_creation/proc_creation_win_addinutil_uncommon_cmdline.yml",
    "windows/process_creation/proc_creation_win_certreq_download.yml",
    "windows/process_creation/proc_creation_win_powershell_base64_iex.yml",
    "windows/process_creation/proc_creation_win_curl_ntlm_hash_leak_attempt.yml",
    "windows/process_creation/proc_creation_win_rundll32_uncommon_dll_extension.yml",
    "windows/process_creation/proc_creation_win_hktl_cobaltstrike_bloopers_modules.yml",
    "windows/process_creation/proc_creation_win_susp_cross_user_process_spawn.yml",
    "windows/file/file_event/file_event_win_susp_wdac_policy_creation.yml",
    "windows/file/file_event/file_event_win_hktl_crackmapexec_indicators.yml",
    "windows/network_connection/net_connection_win_cmstp_initiated_connection.yml",
    "windows/network_connection/net_connection_win_adws_unusual_connection.yml",
    "windows/registry/registry_event/registry_event_disable_security_events_logging_adding_reg_key_minint.yml",
    "windows/registry/registry_delete/registry_delete_defender_context_menu.yml",
    "windows/image_load/image_load_clfs_load.yml",
    "windows/dns_query/dns_query_win_gup_query_to_uncommon_domains.yml",
    "windows/process_access/proc_access_win_hktl_handlekatz_lsass_access.yml",
    "windows/create_remote_thread/create_remote_thread_win_keepass.yml",
    "windows/file/file_delete/file_delete_win_delete_event_log_files.yml",
    "windows/builtin/application/Other/win_av_relevant_match.yml",
    "windows/builtin/security/win_security_ad_user_enumeration.yml",
    "windows/builtin/system/service_control_manager/win_system_hack_smbexec.yml",
];

const OWN: &[&str] = &[
    "cased_exists_numbers.yml",
    "literal_wildcards.yml",
    "regex_flags_wide.yml",
    "utf16le_wide.yml",
    "refused_keywords.yml",
    "refused_aggregation.yml",
    "refused_fieldref.yml",
    "refused_unknown_field.yml",
    "refused_ipv6.yml",
];

#[test]
fn convert_prints_readable_huntflows() {
    let settings = common::snapshot_settings("sigma");
    let shared = rules_dir();
    let mut cases: Vec<(String, PathBuf)> = SHARED
        .iter()
        .map(|r| {
            let p = shared.join(r);
            (stem(&p), p)
        })
        .collect();
    cases.extend(
        OWN.iter()
            .map(|r| (format!("own_{}", stem(&own(r))), own(r))),
    );
    settings.bind(|| {
        for (name, path) in cases {
            insta::assert_snapshot!(name, converted(&path));
        }
    });
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().to_string()
}

/// The pattern of the first statement of a huntflow.
fn first_pattern(text: &str) -> Pattern {
    let src = SourceFile::new("converted.hf", text);
    let hunt =
        kestrel::syntax::parse(&src).unwrap_or_else(|d| panic!("{}\n{text}", d.render(&src)));
    match &hunt.stmts[0].kind {
        StmtKind::Assign {
            value: Rhs::Get {
                pattern: Some(p), ..
            },
            ..
        } => (**p).clone(),
        other => panic!("not a GET: {other:?}"),
    }
}

/// Every rule `convert` accepts prints a huntflow that parses back to the same pattern.
#[test]
fn every_converted_huntflow_parses_back_to_its_pattern() {
    let mut n = 0;
    for file in sigma::rule_files(&rules_dir())
        .unwrap()
        .into_iter()
        .chain(sigma::rule_files(&manifest().join("tests/sigma_support/rules")).unwrap())
    {
        let Ok(rule) = Rule::load(&file) else {
            continue;
        };
        let Ok((_, pattern)) = sigma::translate(
            &rule,
            FieldMap::shipped(),
            Target {
                entity: None,
                negate: false,
                span: Default::default(),
                channels: true,
                events: true,
            },
        ) else {
            continue;
        };
        let text = sigma::convert(&file, &opts()).unwrap().huntflow;
        let back = first_pattern(&text);
        assert_eq!(
            print::pattern(&back),
            print::pattern(&pattern),
            "{}",
            file.display()
        );
        n += 1;
    }
    assert!(n > 1000, "only {n} rules converted");
}

#[test]
fn unsupported_constructs_name_the_rule_line_and_construct() {
    let cases = [
        ("refused_keywords.yml", 7, "keyword search"),
        ("refused_aggregation.yml", 9, "aggregation"),
        ("refused_fieldref.yml", 10, "modifier |fieldref"),
        ("refused_unknown_field.yml", 9, "field NoSuchField"),
        ("refused_ipv6.yml", 8, "modifier |cidr (IPv6)"),
    ];
    for (file, line, construct) in cases {
        let e = sigma::convert(&own(file), &opts()).unwrap_err();
        assert_eq!(
            (e.line, e.construct.as_str()),
            (line, construct),
            "{file}: {e}"
        );
        assert!(e.to_string().contains(&format!("{file}:{line}:")), "{e}");
    }
    let e = sigma::convert(
        &rules_dir().join("windows/builtin/application/Other/win_av_relevant_match.yml"),
        &opts(),
    )
    .unwrap_err();
    assert_eq!(e.construct, "keyword search");
}

// ---------------------------------------------------------------------------------------
// WHERE SIGMA in hunts, on a small SQLite table of Sysmon process creations.

/// guid, pid, image, command line, parent image, current directory
type Row<'a> = (
    &'a str,
    i64,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

struct Lake {
    /// Removed with the lake (a narrowing test's two lakes share one: the first to go
    /// removes it).
    dir: common::Scratch,
    config: Config,
}

fn lake(name: &str) -> Lake {
    let dir = common::scratch_dir("sigma-hunts", name);
    let db = dir.join("lake.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE procs (\"@timestamp\" TEXT, Channel TEXT, EventID INTEGER, ProcessGuid TEXT,
            ProcessId INTEGER, Image TEXT, CommandLine TEXT, ParentImage TEXT, CurrentDirectory TEXT,
            OriginalFileName TEXT);",
    )
    .unwrap();
    let rows: &[Row] = &[
        // guid, pid, image, command line, parent, current directory
        (
            "G1",
            10,
            r"C:\Windows\System32\cmd.exe",
            Some(r"cmd /c %APPDATA%\evil_x.bat"),
            Some(r"C:\x.exe"),
            Some(r"C:\"),
        ),
        (
            "G2",
            2,
            r"C:\Windows\System32\CMD.EXE",
            Some("echo 50% DONE"),
            Some(r"C:\x.exe"),
            None,
        ),
        (
            "G3",
            30,
            r"C:\Windows\System32\cmd.exe",
            Some(r"cmd /c %APPDATA%Xevil_x.bat"),
            Some(r"C:\x.exe"),
            None,
        ),
        (
            "G4",
            40,
            r"C:\Windows\System32\cmd.exe",
            Some("echo 50X done"),
            Some(r"C:\x.exe"),
            None,
        ),
        (
            "G5",
            50,
            r"C:\Windows\System32\cmd.exe",
            Some("what?now* yes"),
            None,
            None,
        ),
        (
            "G6",
            60,
            r"C:\Windows\System32\cmd.exe",
            Some("whatXnowY yes"),
            Some(r"C:\x.exe"),
            Some(""),
        ),
        (
            "G7",
            70,
            r"C:\Windows\notepad.exe",
            Some("what?now*"),
            Some(r"C:\x.exe"),
            None,
        ),
        (
            "G8",
            80,
            r"C:\Windows\System32\cmd.exe",
            None,
            Some(r"C:\x.exe"),
            None,
        ),
    ];
    for (guid, pid, image, cmd, parent, cwd) in rows {
        conn.execute(
            "INSERT INTO procs VALUES ('2024-07-08T12:00:00.000000Z', 'Microsoft-Windows-Sysmon/Operational', 1, ?1, ?2, ?3, ?4, ?5, ?6, NULL)",
            rusqlite::params![guid, pid, image, cmd, parent, cwd],
        )
        .unwrap();
    }
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::copy(own("literal_wildcards.yml"), rules.join("lw.yml")).unwrap();
    let yaml = format!(
        "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  winlogs:\n    connection: lake\n    table: procs\n    timestamp: \"@timestamp\"\n    data_model_map: winevent\nsigma:\n  rules: [{}]\n",
        db.display(),
        rules.display()
    );
    Lake {
        config: Config::from_yaml_str(&yaml, None).unwrap(),
        dir,
    }
}

/// A lake of one SQLite table `t`, made by `sql`, read as the data source `t` in the
/// winevent layout.
fn winevent_table(name: &str, sql: &str) -> Lake {
    let dir = common::scratch_dir("sigma-hunts", name);
    let db = dir.join("lake.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
    let yaml = format!(
        "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  t:\n    connection: lake\n    table: t\n    data_model_map: winevent\n",
        db.display()
    );
    Lake {
        config: Config::from_yaml_str(&yaml, None).unwrap(),
        dir,
    }
}

/// The uids each DISP shows, or the rendered error.
fn run(lake: &Lake, name: &str, text: &str) -> Result<Vec<Vec<String>>, String> {
    run_attr(lake, name, text, Some("uid"))
}

/// The values of `attr` (None: of the one attribute shown) each DISP shows, sorted, or
/// the rendered error.
fn run_attr(
    lake: &Lake,
    name: &str,
    text: &str,
    attr: Option<&str>,
) -> Result<Vec<Vec<String>>, String> {
    let path = lake.dir.join(name);
    std::fs::write(&path, text).unwrap();
    let src = SourceFile::new(path.display().to_string(), text);
    let mut printer = Printer::new(Vec::new(), Format::Json);
    let mut summary = Vec::new();
    run_hunt(
        &src,
        Some(&lake.config),
        &mut printer,
        &mut summary,
        &RunOptions { summary: false },
    )
    .map_err(|d| d.render(&SourceFile::new(name, text)))?;
    let out = String::from_utf8(printer.into_inner()).unwrap();
    Ok(out
        .lines()
        .map(|l| {
            let rows: Vec<serde_json::Value> = serde_json::from_str(l).unwrap();
            let mut v: Vec<String> = rows
                .iter()
                .map(|r| {
                    let v = match attr {
                        Some(a) => &r[a],
                        None => r.as_object().unwrap().values().next().unwrap(),
                    };
                    v.as_str().unwrap().to_string()
                })
                .collect();
            v.sort();
            v
        })
        .collect())
}

#[test]
fn where_sigma_combines_with_and_or_not() {
    let lake = lake("combine");
    let rule = own("literal_wildcards.yml");
    let hunt = format!(
        "a = GET process FROM stixshifter://winlogs WHERE SIGMA '{r}'\n\
         b = GET process FROM stixshifter://winlogs WHERE NOT SIGMA '{r}'\n\
         c = GET process FROM stixshifter://winlogs WHERE SIGMA '{r}' AND pid > 5\n\
         d = GET process FROM stixshifter://winlogs WHERE pid = 80 OR SIGMA 'lw.yml'\n\
         DISP a ATTR uid\nDISP b ATTR uid\nDISP c ATTR uid\nDISP d ATTR uid\n",
        r = rule.display()
    );
    let got = run(&lake, "combine.hf", &hunt).unwrap();
    // G1: `%APPDATA%\evil_` literally; G2: `50% done` in another case; G3/G4: a wildcard
    // would match `X` where the rule says `%`/`\`; G5: no parent (the null filter);
    // G6: escaped `?`/`*` are literal, and the current directory is '' (the empty filter);
    // G7: not cmd.exe; G8: no command line.
    assert_eq!(got[0], ["G1", "G2"]);
    assert_eq!(
        got[1],
        ["G3", "G4", "G5", "G6", "G7", "G8"],
        "NOT SIGMA is the rest"
    );
    assert_eq!(got[2], ["G1"]);
    assert_eq!(
        got[3],
        ["G1", "G2", "G8"],
        "a relative path: the configured rules"
    );
}

#[test]
fn where_sigma_errors_point_at_the_term() {
    let lake = lake("errors");
    let settings = common::snapshot_settings("sigma");
    let cases = [
        (
            "wrong_type",
            "x = GET network-traffic FROM stixshifter://winlogs WHERE SIGMA 'lw.yml'\nDISP x\n"
                .to_string(),
        ),
        (
            "not_found",
            "x = GET process FROM stixshifter://winlogs WHERE pid = 1 AND SIGMA 'nope.yml'\nDISP x\n"
                .to_string(),
        ),
        (
            "unsupported",
            // Beside the hunt, named relatively: the caret's width must not depend on
            // where the repository is checked out.
            {
                std::fs::copy(
                    own("refused_fieldref.yml"),
                    lake.dir.join("refused_fieldref.yml"),
                )
                .unwrap();
                "x = GET process FROM stixshifter://winlogs WHERE SIGMA 'refused_fieldref.yml'\nDISP x\n"
                    .to_string()
            },
        ),
    ];
    settings.bind(|| {
        for (name, text) in cases {
            let err = run(&lake, &format!("{name}.hf"), &text).unwrap_err();
            let err = err.replace(&manifest().display().to_string(), "<repo>");
            let err = err.replace(&lake.dir.display().to_string(), "<lake>");
            insta::assert_snapshot!(format!("where_sigma_{name}"), err);
        }
    });
}

#[test]
fn like_escape_is_the_language_too() {
    let lake = lake("escape");
    let got = run(
        &lake,
        "escape.hf",
        "a = GET process FROM stixshifter://winlogs WHERE cmd_line LIKE '%50!% done%' ESCAPE '!'\n\
         b = GET process FROM stixshifter://winlogs WHERE cmd_line LIKE '%50% done%'\n\
         c = GET process FROM stixshifter://winlogs WHERE cmd_line NOT LIKE '%evil#_%' ESCAPE '#'\n\
         DISP a ATTR uid\nDISP b ATTR uid\nDISP c ATTR uid\n",
    )
    .unwrap();
    assert_eq!(got[0], ["G2"]);
    assert_eq!(got[1], ["G2", "G4"]);
    assert_eq!(got[2], ["G2", "G4", "G5", "G6", "G7"]);
    let err = run(
        &lake,
        "bad_escape.hf",
        "a = GET process FROM stixshifter://winlogs WHERE cmd_line LIKE 'x' ESCAPE '!!'\nDISP a\n",
    )
    .unwrap_err();
    assert!(err.contains("ESCAPE takes one character"), "{err}");
}

// ---------------------------------------------------------------------------------------
// The command line.

fn kestrel(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn sigma_convert_command_walks_directories_and_reports_failures() {
    let dir = manifest().join("tests/sigma_support/rules");
    let (code, out, err) = kestrel(&[
        "sigma",
        "convert",
        dir.to_str().unwrap(),
        "--from",
        "x://lake",
    ]);
    assert_eq!(code, 1, "some rules cannot be converted");
    assert_eq!(out.matches(" = GET ").count(), 4, "{out}");
    assert!(out.contains("literal_wildcards = GET process FROM x://lake"));
    assert!(err.contains("refused_keywords.yml:7: "), "{err}");
    assert!(err.contains("5 of 9 rules could not be converted"), "{err}");

    let one = own("literal_wildcards.yml");
    let (code, out, _) = kestrel(&[
        "sigma",
        "convert",
        one.to_str().unwrap(),
        "--var",
        "hits",
        "--type",
        "process_activity",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("hits = GET process_activity FROM datasource://events"),
        "{out}"
    );
    assert!(out.contains("process.cmd_line LIKE"), "{out}");

    let (code, out, _) = kestrel(&[
        "sigma",
        "convert",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 9);
    let fieldref = objs
        .iter()
        .find(|o| {
            o["rule"]
                .as_str()
                .unwrap()
                .ends_with("refused_fieldref.yml")
        })
        .unwrap();
    assert_eq!(fieldref["error"]["line"], 10);
    assert_eq!(fieldref["error"]["construct"], "modifier |fieldref");
    let ok = objs
        .iter()
        .find(|o| {
            o["rule"]
                .as_str()
                .unwrap()
                .ends_with("regex_flags_wide.yml")
        })
        .unwrap();
    assert_eq!(ok["type"], "process");
    assert!(ok["huntflow"].as_str().unwrap().contains("MATCHES"));

    let (code, _, err) = kestrel(&[
        "sigma",
        "convert",
        one.to_str().unwrap(),
        "--type",
        "file_activity",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("GET process or GET process_activity"), "{err}");
}

/// A table of Sigma's own field names and nothing else (no Channel or EventID: no event
/// classes): `integrity` and `working_directory` exist only for process events in the
/// `winevent` layout, so WHERE SIGMA reads `IntegrityLevel` and `CurrentDirectory` instead.
#[test]
fn where_sigma_falls_back_to_the_fields_own_columns() {
    let lake = winevent_table(
        "bare",
        r"CREATE TABLE t (ProcessGuid TEXT, Image TEXT, IntegrityLevel TEXT, CurrentDirectory TEXT);
          INSERT INTO t VALUES ('G1', 'C:\x\cmd.exe', 'High', 'C:\Temp\');
          INSERT INTO t VALUES ('G2', 'C:\x\cmd.exe', 'Low', 'C:\Temp\');
          INSERT INTO t VALUES ('G3', 'C:\x\cmd.exe', 'HIGH', 'C:\Other\');",
    );
    std::fs::write(
        lake.dir.join("r.yml"),
        "title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n    IntegrityLevel: high\n  filter:\n    CurrentDirectory|contains: '\\other\\'\n  condition: sel and not filter\n",
    )
    .unwrap();
    let got = run(
        &lake,
        "bare.hf",
        "x = GET process FROM s://t WHERE SIGMA 'r.yml'\nDISP x ATTR uid\n",
    )
    .unwrap();
    assert_eq!(got[0], ["G1"]);
}

/// Events of several kinds that carry one process's fields (`Image`, `CommandLine`): two
/// launches (Sysmon 1, Security 4688), a connection, an exit, a process access, and two
/// other launches; read as `t` through `winevent`. Also ECS tables: `e` with `event.type`,
/// `p` without it. The rules: `r.yml` (process_creation, `CommandLine|contains: narrow`)
/// and `access.yml` (process_access, `TargetImage|endswith: \lsass.exe`).
struct Narrow {
    winevent: Lake,
    ecs: Lake,
}

fn narrow_lake(name: &str) -> Narrow {
    let dir = common::fresh_dir("sigma-hunts", name);
    let db = dir.join("lake.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        r"CREATE TABLE t (RecordNumber INTEGER, Channel TEXT, EventID INTEGER, ProcessGuid TEXT,
            ProcessId INTEGER, NewProcessId TEXT, Image TEXT, CommandLine TEXT,
            SourceIp TEXT, SourcePort INTEGER, DestinationIp TEXT, DestinationPort INTEGER,
            TargetImage TEXT, TargetProcessGUID TEXT, TargetProcessId INTEGER);
          INSERT INTO t (RecordNumber, Channel, EventID, ProcessGuid, ProcessId, Image, CommandLine)
            VALUES (1, 'Microsoft-Windows-Sysmon/Operational', 1, 'G1', 10, 'C:\x\cmd.exe', 'narrow launch');
          INSERT INTO t (RecordNumber, Channel, EventID, NewProcessId, CommandLine)
            VALUES (2, 'Security', 4688, '0x14', 'narrow security launch');
          INSERT INTO t (RecordNumber, Channel, EventID, ProcessGuid, ProcessId, Image, CommandLine,
              SourceIp, SourcePort, DestinationIp, DestinationPort)
            VALUES (3, 'Microsoft-Windows-Sysmon/Operational', 3, 'G3', 30, 'C:\x\cmd.exe',
              'narrow connection', '10.0.0.1', 50000, '10.0.0.2', 443);
          INSERT INTO t (RecordNumber, Channel, EventID, ProcessGuid, ProcessId, Image, CommandLine)
            VALUES (4, 'Microsoft-Windows-Sysmon/Operational', 5, 'G4', 40, 'C:\x\cmd.exe', 'narrow exit');
          INSERT INTO t (RecordNumber, Channel, EventID, ProcessGuid, ProcessId, Image, CommandLine,
              TargetImage, TargetProcessGUID, TargetProcessId)
            VALUES (5, 'Microsoft-Windows-Sysmon/Operational', 10, 'G5', 50, 'C:\x\cmd.exe',
              'narrow access', 'C:\x\lsass.exe', 'G6', 60);
          INSERT INTO t (RecordNumber, Channel, EventID, ProcessGuid, ProcessId, Image, CommandLine)
            VALUES (7, 'Microsoft-Windows-Sysmon/Operational', 1, 'G7', 70, 'C:\x\cmd.exe', 'other launch');
          INSERT INTO t (RecordNumber, Channel, EventID, ProcessGuid, ProcessId, Image, CommandLine,
              TargetImage)
            VALUES (8, 'Microsoft-Windows-Sysmon/Operational', 1, 'G8', 80, 'C:\x\cmd.exe',
              'launch with a target', 'C:\x\lsass.exe');",
    )
    .unwrap();
    // ECS: a launch is a process event of `event.type` start; where the table records no
    // `event.type`, its process events may be launches (their activity is unknown).
    conn.execute_batch(
        r#"CREATE TABLE e ("@timestamp" TEXT, "event.category" TEXT, "event.type" TEXT,
            "process.entity_id" TEXT, "process.command_line" TEXT, "source.ip" TEXT,
            "source.port" INTEGER, "destination.ip" TEXT, "destination.port" INTEGER);
          INSERT INTO e VALUES (NULL, 'process', 'start', 'E1', 'narrow launch', NULL, NULL, NULL, NULL);
          INSERT INTO e VALUES (NULL, 'process', 'end', 'E2', 'narrow exit', NULL, NULL, NULL, NULL);
          INSERT INTO e VALUES (NULL, 'process', 'info', 'E3', 'narrow info', NULL, NULL, NULL, NULL);
          INSERT INTO e VALUES (NULL, 'network', 'connection', 'E4', 'narrow connection',
            '10.0.0.1', 50000, '10.0.0.2', 443);
          CREATE TABLE p ("@timestamp" TEXT, "event.category" TEXT, "process.entity_id" TEXT,
            "process.command_line" TEXT);
          INSERT INTO p VALUES (NULL, 'process', 'P1', 'narrow plain');
          INSERT INTO p VALUES (NULL, 'network', 'P2', 'narrow connection');"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("r.yml"),
        "title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    CommandLine|contains: narrow\n  condition: sel\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("access.yml"),
        "title: t\nlogsource: {product: windows, category: process_access}\ndetection:\n  sel:\n    TargetImage|endswith: '\\lsass.exe'\n  condition: sel\n",
    )
    .unwrap();
    let lake = |sources: &[(&str, Option<&str>)]| {
        let mut yaml = format!(
            "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n",
            db.display()
        );
        for (t, layout) in sources {
            yaml.push_str(&format!("  {t}:\n    connection: lake\n    table: {t}\n"));
            if let Some(l) = layout {
                yaml.push_str(&format!("    data_model_map: {l}\n"));
            }
        }
        Lake {
            config: Config::from_yaml_str(&yaml, None).unwrap(),
            dir: common::Scratch(dir.clone()),
        }
    };
    Narrow {
        winevent: lake(&[("t", Some("winevent"))]),
        ecs: lake(&[("e", None), ("p", None)]),
    }
}

/// What the narrowing tests expect of `narrow_lake`'s tables, per hunt in order: `GET
/// process` and `GET process_activity` with the process_creation rule, both negated, then
/// the process_access rule; then ECS with and without `event.type`.
fn assert_narrowed(got: &[Vec<String>], ecs: &[Vec<String>], how: &str) {
    let launches = ["narrow launch", "narrow security launch"];
    assert_eq!(got[0], launches, "{how} GET process: launches only");
    assert_eq!(
        got[1], launches,
        "{how} GET process_activity: launches only"
    );
    assert_eq!(
        got[2],
        [
            "launch with a target",
            "narrow access",
            "narrow connection",
            "narrow exit",
            "other launch"
        ],
        "{how} NOT on GET process: every other event's process"
    );
    assert_eq!(
        got[3],
        [
            "launch with a target",
            "narrow access",
            "narrow exit",
            "other launch"
        ],
        "{how} NOT on GET process_activity: the other process events"
    );
    assert_eq!(
        got[4],
        ["narrow access"],
        "{how} a process_access rule: accesses only, not a launch with the same field"
    );
    assert_eq!(ecs[0], ["narrow launch"], "{how} ECS: event.type start");
    assert_eq!(ecs[1], ["narrow plain"], "{how} ECS without event.type");
}

const NARROW_DISPS: &str = "DISP a ATTR cmd_line\nDISP b ATTR process.cmd_line\n\
     DISP c ATTR cmd_line\nDISP d ATTR process.cmd_line\nDISP e ATTR process.cmd_line\n";

/// A process_creation rule tests the process-creation events only (Sysmon 1, Security
/// 4688), as pySigma's query over a table of them does: a connection, a process exit and a
/// process access that carry the same fields are not launches, on `GET process` (which
/// reads the process of every event) and on `GET process_activity` alike; `NOT SIGMA` is
/// every other event. A process_access rule reads accesses only (Sysmon 10), not a launch
/// that carries its field.
#[test]
fn where_sigma_reads_only_the_categorys_events() {
    let lake = narrow_lake("narrow");
    let got = run_attr(
        &lake.winevent,
        "narrow.hf",
        &format!(
            "a = GET process FROM s://t WHERE SIGMA 'r.yml'\n\
             b = GET process_activity FROM s://t WHERE SIGMA 'r.yml'\n\
             c = GET process FROM s://t WHERE NOT SIGMA 'r.yml'\n\
             d = GET process_activity FROM s://t WHERE NOT SIGMA 'r.yml'\n\
             e = GET process_activity FROM s://t WHERE SIGMA 'access.yml'\n{NARROW_DISPS}"
        ),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ecs = run_attr(
        &lake.ecs,
        "narrow_ecs.hf",
        "a = GET process FROM s://e WHERE SIGMA 'r.yml'\n\
         b = GET process FROM s://p WHERE SIGMA 'r.yml'\n\
         DISP a ATTR cmd_line\nDISP b ATTR cmd_line\n",
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_narrowed(&got, &ecs, "WHERE SIGMA");
}

/// The condition of a converted rule, as `kestrel sigma convert` prints it for `ty`
/// (negated: `NOT (…)`, as a hunter would write the rest).
fn converted_condition(path: &Path, ty: Option<&str>, negate: bool) -> String {
    let c = sigma::convert(
        path,
        &ConvertOptions {
            from: "s://t".into(),
            var: Some("x".into()),
            entity: ty.map(str::to_string),
        },
    )
    .unwrap();
    let text = c.huntflow;
    let cond = text[text.find("WHERE ").unwrap() + 6..].to_string();
    let cond = cond.split_whitespace().collect::<Vec<_>>().join(" ");
    if negate {
        format!("NOT ({cond})")
    } else {
        cond
    }
}

/// The huntflows `kestrel sigma convert` prints select what `WHERE SIGMA` does, run on
/// their own: the printed `EVENTS 'Process Activity: Launch' AND …` keeps a connection, an
/// exit and an access that carry the rule's fields out of a process_creation rule's hits
/// (on `GET process` too, which cannot otherwise say which event a process came from).
#[test]
fn converted_huntflows_read_only_the_categorys_events() {
    let lake = narrow_lake("narrow_converted");
    let r = lake.winevent.dir.join("r.yml");
    let access = lake.winevent.dir.join("access.yml");
    let printed = converted_condition(&r, None, false);
    assert_eq!(
        printed,
        "EVENTS 'Process Activity: Launch' AND cmd_line LIKE '%narrow%'"
    );
    let hunt = |from: &str, stmts: &[(&str, &Path, Option<&str>, bool)]| -> String {
        let mut s = String::new();
        for (var, rule, ty, negate) in stmts {
            s.push_str(&format!(
                "{var} = GET {} FROM {from} WHERE {}\n",
                ty.unwrap_or("process"),
                converted_condition(rule, *ty, *negate)
            ));
        }
        s
    };
    let text = hunt(
        "s://t",
        &[
            ("a", &r, None, false),
            ("b", &r, Some("process_activity"), false),
            ("c", &r, None, true),
            ("d", &r, Some("process_activity"), true),
            ("e", &access, Some("process_activity"), false),
        ],
    );
    let got = run_attr(
        &lake.winevent,
        "converted.hf",
        &format!("{text}{NARROW_DISPS}"),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let ecs_text = format!(
        "a = GET process FROM s://e WHERE {c}\nb = GET process FROM s://p WHERE {c}\n\
         DISP a ATTR cmd_line\nDISP b ATTR cmd_line\n",
        c = printed
    );
    let ecs = run_attr(&lake.ecs, "converted_ecs.hf", &ecs_text, None)
        .unwrap_or_else(|e| panic!("{e}\n{ecs_text}"));
    assert_narrowed(&got, &ecs, "converted");

    // Without the EVENTS term the same condition reads every event's process: what the
    // term adds is exactly the narrowing.
    let bare = run_attr(
        &lake.winevent,
        "unnarrowed.hf",
        "a = GET process FROM s://t WHERE cmd_line LIKE '%narrow%'\nDISP a ATTR cmd_line\n",
        None,
    )
    .unwrap();
    assert_eq!(
        bare[0],
        [
            "narrow access",
            "narrow connection",
            "narrow exit",
            "narrow launch",
            "narrow security launch"
        ]
    );
}

/// `EVENTS` where no Sigma rule is involved: a list, NOT, OR with a comparison, on a raw
/// Windows table; on a variable it is an error at the term, and an unknown type name is
/// an error at the name.
#[test]
fn events_term_selects_by_type_in_any_hunt() {
    let lake = narrow_lake("events_term");
    let got = run_attr(
        &lake.winevent,
        "events.hf",
        "a = GET process_activity FROM s://t WHERE EVENTS ('Process Activity: Open', 100702)\n\
         b = GET process FROM s://t WHERE NOT EVENTS 'process activity: launch' AND cmd_line LIKE 'narrow%'\n\
         c = GET process_activity FROM s://t WHERE EVENTS 400101 OR process.pid = 70\n\
         DISP a ATTR process.cmd_line\nDISP b ATTR cmd_line\nDISP c ATTR process.cmd_line\n",
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got[0], ["narrow access", "narrow exit"]);
    assert_eq!(
        got[1],
        ["narrow access", "narrow connection", "narrow exit"]
    );
    // GET process_activity reads no connection: EVENTS does not widen a GET's type.
    assert_eq!(got[2], ["other launch"]);

    let err = run_attr(
        &lake.winevent,
        "on_var.hf",
        "a = GET process FROM s://t WHERE pid > 0\nb = a WHERE EVENTS 100701\nDISP b\n",
        None,
    )
    .unwrap_err();
    assert!(
        err.contains("EVENTS tests records as a data source classifies them"),
        "{err}"
    );
    assert!(err.contains("2 | b = a WHERE EVENTS 100701"), "{err}");
    let err = run_attr(
        &lake.winevent,
        "bad_uid.hf",
        "a = GET process FROM s://t WHERE EVENTS 100709\nDISP a\n",
        None,
    )
    .unwrap_err();
    assert!(err.contains("unknown OCSF event type 100709"), "{err}");
}

/// `EVENTS` on tables of a layout without classification rules (`ocsf`): the table's
/// `type_uid` column (here text, as a CSV load may leave it), else `class_uid` with
/// `activity_id`; a table with neither cannot tell events apart and every row passes.
#[test]
fn events_term_reads_ocsf_columns() {
    let dir = common::scratch_dir("sigma-hunts", "events_ocsf");
    let db = dir.join("lake.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            r#"CREATE TABLE typed ("time" INTEGER, "type_uid" TEXT, "process.uid" TEXT);
              INSERT INTO typed VALUES (1, '100701', 'T1');
              INSERT INTO typed VALUES (2, '100702', 'T2');
              INSERT INTO typed VALUES (3, NULL, 'T3');
              CREATE TABLE classed ("time" INTEGER, "class_uid" INTEGER, "activity_id" INTEGER,
                "process.uid" TEXT);
              INSERT INTO classed VALUES (1, 1007, 1, 'C1');
              INSERT INTO classed VALUES (2, 1007, 3, 'C2');
              INSERT INTO classed VALUES (3, 4001, 1, 'C3');
              CREATE TABLE plain ("time" INTEGER, "process.uid" TEXT);
              INSERT INTO plain VALUES (1, 'P1');"#,
        )
        .unwrap();
    let mut yaml = format!(
        "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n",
        db.display()
    );
    for t in ["typed", "classed", "plain"] {
        yaml.push_str(&format!(
            "  {t}:\n    connection: lake\n    table: {t}\n    data_model_map: ocsf\n"
        ));
    }
    let lake = Lake {
        config: Config::from_yaml_str(&yaml, None).unwrap(),
        dir,
    };
    let got = run(
        &lake,
        "ocsf.hf",
        "a = GET process FROM s://typed WHERE EVENTS 'Process Activity: Launch'\n\
         b = GET process FROM s://typed WHERE NOT EVENTS 100701\n\
         c = GET process FROM s://classed WHERE EVENTS ('Process Activity: Launch', 400101)\n\
         d = GET process FROM s://plain WHERE EVENTS 100701\n\
         DISP a ATTR uid\nDISP b ATTR uid\nDISP c ATTR uid\nDISP d ATTR uid\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got[0], ["T1"]);
    assert_eq!(got[1], ["T2", "T3"], "NOT EVENTS: rows of no type too");
    assert_eq!(got[2], ["C1", "C3"]);
    assert_eq!(got[3], ["P1"], "one kind of event");
}

/// A Sigma rule's hits are events, and a connection event may lack part of its 4-tuple:
/// `GET network-traffic … WHERE SIGMA` keeps it (identified by its record, with its host),
/// FIND finds its process, and the summary counts it once.
#[test]
fn connections_without_a_whole_4_tuple_are_kept_and_followed() {
    let lake = winevent_table(
        "ports",
        r"CREATE TABLE t (RecordNumber INTEGER, Hostname TEXT, Channel TEXT, EventID INTEGER,
            ProcessGuid TEXT, ProcessId INTEGER, Image TEXT, SourceIp TEXT, SourcePort INTEGER,
            DestinationIp TEXT, DestinationPort INTEGER);
          INSERT INTO t VALUES (1, 'h1', 'Microsoft-Windows-Sysmon/Operational', 3, 'G1', 10,
            'C:\Windows\notepad.exe', '10.0.0.1', 50001, '10.0.0.9', 443);
          INSERT INTO t VALUES (2, 'h1', 'Microsoft-Windows-Sysmon/Operational', 3, 'G2', 20,
            'C:\Windows\notepad.exe', '10.0.0.1', NULL, '10.0.0.9', NULL);
          INSERT INTO t VALUES (2, 'h2', 'Microsoft-Windows-Sysmon/Operational', 3, 'G3', 30,
            'C:\Windows\notepad.exe', NULL, NULL, '10.0.0.9', 80);
          INSERT INTO t VALUES (2, 'h3', 'Microsoft-Windows-Sysmon/Operational', 3, 'G4', 40,
            'C:\Windows\chrome.exe', NULL, NULL, '10.0.0.9', 80);
          INSERT INTO t VALUES (5, 'h1', 'Microsoft-Windows-Sysmon/Operational', 3, 'G5', 50,
            'C:\Windows\notepad.exe', '10.0.0.1', 50005, '10.0.0.9', 9100);",
    );
    let rule = rules_dir().join("windows/network_connection/net_connection_win_notepad.yml");
    let text = format!(
        "x = GET network-traffic FROM s://t WHERE SIGMA '{}'\n\
         p = FIND process CREATED x\n\
         DISP x ATTR actor.process.uid\nDISP p ATTR uid\n",
        rule.display()
    );
    let got = run_attr(&lake, "ports.hf", &text, None).unwrap_or_else(|e| panic!("{e}"));
    // G5: port 9100 (the rule's filter); G4: not notepad. G2 and G3 share a record number
    // on two hosts: each is a connection of its own.
    assert_eq!(got[0], ["G1", "G2", "G3"]);
    assert_eq!(got[1], ["G1", "G2", "G3"], "FIND follows every one");
    let src = SourceFile::new("ports.hf", text.as_str());
    let mut printer = Printer::new(Vec::new(), Format::Json);
    let rows = run_hunt(
        &src,
        Some(&lake.config),
        &mut printer,
        &mut Vec::new(),
        &RunOptions { summary: true },
    )
    .unwrap();
    let x = rows.iter().find(|r| r.variable == "x").unwrap();
    assert_eq!((x.entities, x.records), (3, 3));
}
