//! Every hunt in `tests/hunts/*.hf`, compiled for every built-in dialect.
//!
//! In: the hunt files (one per command form and pattern feature, plus the hunts of the
//! seed documents), compiled with a fixed "now" and no configuration (data sources are
//! tables of the same name read with the default ECS mapping). Out: one snapshot per hunt
//! and dialect, `snapshots/compile/<hunt>@<dialect>.snap`, holding what `kestrel compile`
//! prints; every statement must parse back with sqlparser's matching dialect.

mod common;

use std::collections::BTreeSet;

use kestrel::cli::render_outputs;
use kestrel::diag::{Code, Diagnostic};
use kestrel::ir::{Literal, Plan, Program, RelId};
use kestrel::lower::LowerOptions;
use kestrel::source::SourceFile;
use kestrel::sql::{Dialect, LiteralMode, SqlStatement};
use kestrel::CompiledOutput;

use common::{hunt_files, run_all, snapshot_settings, FIXED_NOW};

/// Hunts whose bound parameters are snapshotted too, as `<hunt>@<dialect>-bind`.
const BIND_SNAPSHOTS: &[&str] = &[
    "get_stix_pattern",
    "get_last_days",
    "like_and_cidr",
    "like_matches_cidr",
    "long_in_list",
    "long_rows",
    "new_json",
    "string_escapes",
];

fn dialects() -> Vec<(&'static str, Dialect)> {
    let names = Dialect::names();
    assert!(names.contains(&"sqlite"), "sqlite is always built in");
    names
        .into_iter()
        .map(|n| {
            let d = Dialect::builtin(n).unwrap_or_else(|| panic!("built-in dialect `{n}` loads"));
            (n, d)
        })
        .collect()
}

fn program(name: &str, src: &SourceFile) -> Program {
    program_with(
        name,
        src,
        LowerOptions {
            now: FIXED_NOW,
            ..Default::default()
        },
    )
}

/// The hunt compiled with `opts` (a configuration, a catalog).
fn program_with<'a>(name: &str, src: &'a SourceFile, opts: LowerOptions<'a>) -> Program {
    kestrel::compile_program(src, opts)
        .unwrap_or_else(|d| panic!("{name} does not compile:\n{}", d.render(src)))
}

/// The statements of every output; a hunt without any output statement (a seed cell
/// that only assigns) shows each variable's rows instead, so its SQL is still checked.
fn outputs(
    name: &str,
    src: &SourceFile,
    program: &Program,
    dialect: &Dialect,
    mode: LiteralMode,
) -> Vec<CompiledOutput> {
    match try_outputs(name, src, program, dialect, mode) {
        Ok(outs) => outs,
        // What the dialect cannot say is a diagnostic; the hunt has nothing to check here.
        Err(d) if d.code == Code::Unsupported => Vec::new(),
        Err(d) => panic!(
            "{name} does not emit for {}:\n{}",
            dialect.name,
            d.render(src)
        ),
    }
}

/// The statements, or the diagnostic of a feature the dialect does not have (MATCHES on
/// MS SQL Server), which is what `kestrel compile` prints then.
fn try_outputs(
    name: &str,
    src: &SourceFile,
    program: &Program,
    dialect: &Dialect,
    mode: LiteralMode,
) -> Result<Vec<CompiledOutput>, Diagnostic> {
    if !program.outputs.is_empty() {
        return kestrel::output_sql(program, dialect, mode);
    }
    Ok(program
        .relations
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let st = kestrel::sql::emit_plan(program, &Plan::Rel(RelId(i)), dialect, mode)
                .unwrap_or_else(|d| {
                    panic!("{name}: `{}` does not emit:\n{}", r.name, d.render(src))
                });
            let line = src.line_col(r.span.start).0;
            CompiledOutput {
                header: format!("-- (no output statement) rows of {} (line {line})", r.name),
                statements: vec![st],
            }
        })
        .collect())
}

fn statements(outputs: &[CompiledOutput]) -> impl Iterator<Item = &SqlStatement> {
    outputs.iter().flat_map(|o| o.statements.iter())
}

fn assert_parses_back(name: &str, dialect: &str, outputs: &[CompiledOutput]) {
    for st in statements(outputs) {
        match common::parse_back(dialect, &st.sql) {
            Ok(parsed) => assert_eq!(
                parsed.len(),
                1,
                "{name}@{dialect}: one statement expected, sqlparser read {}:\n{}",
                parsed.len(),
                st.sql
            ),
            Err(e) => panic!(
                "{name}@{dialect}: sqlparser cannot read the emitted SQL: {e}\n{}",
                st.sql
            ),
        }
    }
}

#[test]
fn every_hunt_compiles_to_sql_that_parses_back_on_every_dialect() {
    let settings = snapshot_settings("compile");
    let dialects = dialects();
    let hunts = hunt_files("hunts");
    let cases = hunts
        .iter()
        .flat_map(|(name, src)| {
            dialects
                .iter()
                .map(move |(dn, d)| (format!("{name}@{dn}"), (name, src, *dn, d)))
        })
        .collect::<Vec<_>>();
    run_all(cases, |snap, (name, src, dn, d)| {
        let program = program(name, src);
        let text = match try_outputs(name, src, &program, d, LiteralMode::Inline) {
            Ok(outs) => {
                assert_parses_back(name, dn, &outs);
                render_outputs(&outs)
            }
            Err(diag) if diag.code == Code::Unsupported => {
                assert!(
                    diag.span.is_some(),
                    "{snap}: the diagnostic points nowhere:\n{}",
                    diag.render(src)
                );
                diag.render(src)
            }
            Err(diag) => panic!("{snap} does not emit:\n{}", diag.render(src)),
        };
        let mut s = settings.clone();
        s.set_input_file(common::tests_dir("hunts").join(&src.name));
        s.bind(|| insta::assert_snapshot!(snap, text));
    });
}

#[test]
fn bind_mode_parses_back_and_leaves_no_user_text_in_the_sql() {
    let dialects = dialects();
    let cases = hunt_files("hunts");
    run_all(cases, |name, src| {
        let program = program(name, &src);
        for (dn, d) in &dialects {
            let outs = outputs(name, &src, &program, d, LiteralMode::Bind);
            assert_parses_back(name, dn, &outs);
            for st in statements(&outs) {
                for p in &st.params {
                    // Longer strings cannot occur by accident in generated SQL; a short
                    // one (`a`) may well be part of an identifier.
                    if let Literal::Str(s) = p {
                        if s.len() >= 4 {
                            let quoted = format!("'{}'", s.replace('\'', "''"));
                            assert!(
                                !st.sql.contains(&quoted),
                                "{name}@{dn}: bound value {quoted} is also inlined:\n{}",
                                st.sql
                            );
                        }
                    }
                }
                // Every placeholder has a value and every value a placeholder.
                let n = st.params.len();
                if d.reuse_parameters {
                    // MS SQL Server's limit per statement.
                    assert!(n <= 2100, "{name}@{dn}: {n} parameters");
                }
                let placeholders: BTreeSet<String> = (1..=n + 1)
                    .map(|i| d.placeholder(i))
                    .filter(|p| contains_token(&st.sql, p))
                    .collect();
                if d.placeholder(1) != d.placeholder(2) {
                    assert_eq!(
                        placeholders.len(),
                        n,
                        "{name}@{dn}: {n} params but placeholders {placeholders:?}:\n{}",
                        st.sql
                    );
                }
            }
        }
    });
}

/// `needle` in `hay` not followed by a digit (`?1` must not match `?10`).
fn contains_token(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        !hay[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn bind_mode_params_of_selected_hunts() {
    let settings = snapshot_settings("compile");
    let dialects = dialects();
    let hunts = hunt_files("hunts");
    for wanted in BIND_SNAPSHOTS {
        assert!(
            hunts.iter().any(|(n, _)| n == wanted),
            "BIND_SNAPSHOTS names `{wanted}`, which is not in tests/hunts"
        );
    }
    let cases = hunts
        .into_iter()
        .filter(|(n, _)| BIND_SNAPSHOTS.contains(&n.as_str()))
        .collect::<Vec<_>>();
    run_all(cases, |name, src| {
        let program = program(name, &src);
        for (dn, d) in &dialects {
            let outs = match try_outputs(name, &src, &program, d, LiteralMode::Bind) {
                Ok(outs) => outs,
                Err(diag) if diag.code == Code::Unsupported => continue,
                Err(diag) => panic!("{name}@{dn} does not emit:\n{}", diag.render(&src)),
            };
            assert!(
                statements(&outs).any(|s| !s.params.is_empty()),
                "{name}@{dn}: bind mode bound nothing"
            );
            let mut s = settings.clone();
            s.set_input_file(common::tests_dir("hunts").join(&src.name));
            s.bind(|| insta::assert_snapshot!(format!("{name}@{dn}-bind"), render_outputs(&outs)));
        }
    });
}

#[test]
fn compiling_twice_gives_the_same_ir_and_sql() {
    let dialects = dialects();
    run_all(hunt_files("hunts"), |name, src| {
        let a = program(name, &src);
        let b = program(name, &src);
        assert_eq!(
            a.to_string(),
            b.to_string(),
            "{name}: IR differs between runs"
        );
        for (dn, d) in &dialects {
            for mode in [LiteralMode::Inline, LiteralMode::Bind] {
                let x = render_outputs(&outputs(name, &src, &a, d, mode));
                let y = render_outputs(&outputs(name, &src, &b, d, mode));
                assert_eq!(x, y, "{name}@{dn} ({mode:?}): SQL differs between runs");
            }
        }
    });
}

#[test]
fn last_is_relative_to_the_given_now() {
    let src = SourceFile::new(
        "last.hf",
        "p = GET process FROM sqlite://events WHERE name = 'x' LAST 1 DAY\nDISP p ATTR name\n",
    );
    let sqlite = Dialect::builtin("sqlite").expect("sqlite");
    let at = |now: i64| {
        let p = kestrel::compile_program(
            &src,
            LowerOptions {
                now,
                ..Default::default()
            },
        )
        .expect("compiles");
        render_outputs(&kestrel::output_sql(&p, &sqlite, LiteralMode::Inline).expect("emits"))
    };
    let day = 86_400 * 1_000_000;
    assert_ne!(at(FIXED_NOW), at(FIXED_NOW + day));
    assert!(
        at(FIXED_NOW).contains("2021-05-05T12:00:00"),
        "{}",
        at(FIXED_NOW)
    );
    assert!(at(FIXED_NOW + day).contains("2021-05-06T12:00:00"));
}

/// A snapshot whose hunt or dialect is gone is stale: delete it with the hunt.
#[test]
fn every_compile_snapshot_belongs_to_a_hunt_and_dialect() {
    let hunts: BTreeSet<String> = hunt_files("hunts").into_iter().map(|(n, _)| n).collect();
    let names = Dialect::names();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/compile");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut stale = Vec::new();
    for e in entries {
        let file = e.expect("entry").file_name().to_string_lossy().to_string();
        let Some(stem) = file.strip_suffix(".snap") else {
            continue;
        };
        // Snapshots of single tests rather than of hunt files.
        let of_a_test = ["optimised_and_unoptimised"].contains(&stem);
        let ok = of_a_test
            || stem.rsplit_once('@').is_some_and(|(hunt, dialect)| {
                let dialect = dialect.strip_suffix("-bind").unwrap_or(dialect);
                let bind_ok = !stem.ends_with("-bind") || BIND_SNAPSHOTS.contains(&hunt);
                let of_a_layout = EVENTS_LAYOUTS
                    .iter()
                    .any(|l| hunt == format!("events_term_{l}"));
                (hunts.contains(hunt) || of_a_layout) && names.contains(&dialect) && bind_ok
            });
        if !ok {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale snapshots in {}: {stale:?}",
        dir.display()
    );
}

/// Layouts whose `EVENTS` SQL is snapshotted as `events_term_<layout>@<dialect>` (the
/// default, ECS, is `tests/hunts/events_term.hf`).
const EVENTS_LAYOUTS: &[&str] = &["winevent", "ocsf"];

/// `EVENTS` reads each layout's own classification: winevent's channels and event ids,
/// and on OCSF tables (a layout without classification rules) the `type_uid` column.
#[test]
fn events_term_reads_each_layouts_classification() {
    let settings = snapshot_settings("compile");
    let text = std::fs::read_to_string(common::tests_dir("hunts").join("events_term.hf"))
        .expect("tests/hunts/events_term.hf");
    let src = SourceFile::new("events_term.hf", text);
    for layout in EVENTS_LAYOUTS {
        let config = kestrel::config::Config::from_yaml_str(
            &format!(
                "connections:\n  lake:\n    url: sqlite:///nowhere.db\ndatasources:\n  events:\n    connection: lake\n    table: events\n    data_model_map: {layout}\n"
            ),
            None,
        )
        .expect("config");
        let program = kestrel::compile_program(
            &src,
            LowerOptions {
                now: FIXED_NOW,
                config: Some(&config),
                ..Default::default()
            },
        )
        .unwrap_or_else(|d| panic!("{layout}: {}", d.render(&src)));
        for (dn, d) in dialects() {
            let outs = outputs("events_term", &src, &program, &d, LiteralMode::Inline);
            assert_parses_back("events_term", dn, &outs);
            let mut s = settings.clone();
            s.set_input_file(common::tests_dir("hunts").join("events_term.hf"));
            s.bind(|| {
                insta::assert_snapshot!(format!("events_term_{layout}@{dn}"), render_outputs(&outs))
            });
        }
    }
}

fn sqlite_text(hunt: &str) -> String {
    let src = SourceFile::new("probe.hf", hunt);
    let p = program("probe", &src);
    let sqlite = Dialect::builtin("sqlite").expect("sqlite");
    render_outputs(&outputs("probe", &src, &p, &sqlite, LiteralMode::Inline))
}

/// SORT's ORDER BY inside the variable's CTE does not order the DISP around it: the
/// display must sort again, or neither its order nor `LIMIT 1` ("the oldest") is defined.
#[test]
fn disp_of_a_sorted_variable_keeps_its_order() {
    let sql = sqlite_text(
        "procs = GET process FROM sqlite://events WHERE name LIKE '%.exe'\n\
         oldest = SORT procs BY created_time ASC\n\
         DISP oldest ATTR name, created_time LIMIT 1\n",
    );
    let outer = &sql[sql.rfind("\nSELECT").expect("an outer SELECT")..];
    assert!(
        outer.contains("ORDER BY"),
        "the outer query is unordered:\n{outer}"
    );
}

/// `GET network_activity` (`network-traffic`) reads rows of that event class only, as
/// entities.yaml says an event-class type does.
#[test]
fn get_of_an_event_class_type_keeps_rows_of_that_class() {
    let sql = sqlite_text(
        "nets = GET network_activity FROM sqlite://events LAST 1 DAY\nDISP nets LIMIT 5\n",
    );
    assert!(
        sql.contains("\"event.category\" = 'network'"),
        "no class filter:\n{sql}"
    );
}

/// The optimiser's work, side by side: the same hunt compiled with and without it (what
/// `kestrel compile` and `kestrel compile --no-opt` print).
#[test]
fn optimised_and_unoptimised_forms() {
    let hunt = "procs = GET process FROM sqlite://events WHERE name = 'cmd.exe' OR name = 'powershell.exe'\n\
                kids = FIND process CREATED BY procs\n\
                DISP kids ATTR name, pid\n";
    let src = SourceFile::new("opt.hf", hunt);
    let sqlite = Dialect::builtin("sqlite").expect("sqlite");
    let mut both = String::new();
    for optimise in [false, true] {
        let p = kestrel::compile_program_with(
            &src,
            LowerOptions {
                now: FIXED_NOW,
                ..LowerOptions::default()
            },
            optimise,
        )
        .expect("compiles");
        let outs =
            kestrel::output_sql_with(&p, &sqlite, LiteralMode::Inline, optimise).expect("emits");
        both.push_str(if optimise {
            "-- optimised\n"
        } else {
            "-- --no-opt\n"
        });
        both.push_str(&render_outputs(&outs));
        both.push('\n');
    }
    let unopt = &both[..both.find("-- optimised").expect("both forms")];
    let opt = &both[both.find("-- optimised").expect("both forms")..];
    assert!(
        opt.len() * 3 < unopt.len(),
        "pruning did not shrink the SQL"
    );
    assert!(opt.contains("IN ('cmd.exe', 'powershell.exe')"), "{opt}");
    snapshot_settings("compile")
        .bind(|| insta::assert_snapshot!("optimised_and_unoptimised", both));
}

/// In ECS, a process access (Sysmon 10) records the source in `process.*` and the target
/// in `winlog.event_data.Target*`: the target's other attributes are unknown, never the
/// source's (a hunt for lsass.exe must not show the dumper's command line as lsass's).
#[test]
fn a_process_access_target_does_not_borrow_the_source_attributes() {
    let sql = sqlite_text(
        "p = GET process FROM sqlite://events WHERE name = 'lsass.exe'\nDISP p ATTR name, cmd_line\n",
    );
    let cmd = &sql[..sql.find("AS \"cmd_line\"").expect("cmd_line column")];
    let case = &cmd[cmd.rfind("CASE").expect("a per-class CASE")..];
    assert!(
        case.contains("\"event.code\" IN ('10', '8') THEN\n        NULL"),
        "access events take the source's command line:\n{case}"
    );
    assert!(
        case.contains("ELSE\n        \"process.command_line\""),
        "{case}"
    );
}

/// Rows of one event class read every attribute the way the mapping gives it for that
/// class: GET of network traffic needs no per-class CASE for the acting process (which a
/// process-creation event would read from `process.parent.*`).
#[test]
fn a_get_of_one_event_class_reads_that_class_columns_directly() {
    let sql = sqlite_text(
        "n = GET network-traffic FROM sqlite://events WHERE dst_port = 443\nEXPLAIN n\n",
    );
    assert!(
        sql.contains("\"process.name\" AS \"actor.process.name\""),
        "{sql}"
    );
    assert!(!sql.contains("CASE"), "{sql}");
}

/// A mapping's `identity` replaces the type's: ECS identifies a process by its
/// `process.entity_id` alone (one indexed column for FIND), a mapping that says nothing
/// keeps the type's `uid` with the host.
#[test]
fn find_matches_on_the_identity_the_mapping_gives() {
    let hunt = "p = GET process FROM sqlite://events WHERE name = 'cmd.exe'\n\
                k = FIND process CREATED BY p\nDISP k ATTR name\n";
    let sqlite = Dialect::builtin("sqlite").expect("sqlite");
    let sql_with = |mapping: &str| {
        let config = kestrel::config::Config::from_yaml_str(
            &format!(
                "connections:\n  c:\n    url: sqlite:///x.db\ndatasources:\n  events:\n    connection: c\n    table: events\n    data_model_map: {mapping}\n"
            ),
            None,
        )
        .expect("config");
        let src = SourceFile::new("identity.hf", hunt);
        let p = program_with(
            "identity",
            &src,
            LowerOptions {
                config: Some(&config),
                ..LowerOptions::default()
            },
        );
        render_outputs(&outputs("identity", &src, &p, &sqlite, LiteralMode::Inline))
    };
    let ecs = sql_with("ecs");
    assert!(
        ecs.contains("\"process.parent.entity_id\" IN (SELECT \"uid\" FROM \"p\")"),
        "{ecs}"
    );
    let ocsf = sql_with("ocsf");
    assert!(
        ocsf.contains("IN (SELECT \"uid\", \"endpoint.uid\" FROM \"p\")"),
        "{ocsf}"
    );
}

/// A catalog that knows one table's columns (what `kestrel run` reads from a database).
struct Columns(Vec<String>);

impl kestrel::lower::Catalog for Columns {
    fn columns(&mut self, _: &kestrel::ir::DataSource) -> Result<Option<Vec<String>>, Diagnostic> {
        Ok(Some(self.0.clone()))
    }
}

/// A whole hunt compiled against a table's columns derives an event's OCSF
/// classification only for a variable some statement reads; the SQL of the others is
/// the same either way.
#[test]
fn events_nothing_reads_derive_no_classification() {
    let hunt = "p = GET process FROM sqlite://events WHERE name = 'cmd.exe'\n\
                evts = FIND event ORIGINATED BY p\nDISP p ATTR name\n";
    let sqlite = Dialect::builtin("sqlite").expect("sqlite");
    let compiled = |hunt: &str| {
        let src = SourceFile::new("events.hf", hunt);
        let mut catalog = Columns(
            [
                "@timestamp",
                "event.category",
                "event.type",
                "event.code",
                "process.entity_id",
                "process.pid",
                "process.name",
                "process.parent.entity_id",
            ]
            .map(String::from)
            .to_vec(),
        );
        let p = program_with(
            "events",
            &src,
            LowerOptions {
                catalog: Some(&mut catalog),
                now: FIXED_NOW,
                ..LowerOptions::default()
            },
        );
        let evts = p.relations.iter().find(|r| r.var == "evts").unwrap();
        let columns = evts.columns.clone().unwrap_or_default();
        let first = render_outputs(&outputs("events", &src, &p, &sqlite, LiteralMode::Inline)[..1]);
        (columns, first)
    };
    let (unread, sql) = compiled(hunt);
    assert!(unread.contains(&"process.pid".to_string()), "{unread:?}");
    assert!(!unread.contains(&"class_uid".to_string()), "{unread:?}");
    for reader in ["DISP evts ATTR class_uid", "EXPLAIN evts", "INFO evts"] {
        let (read, sql_read) = compiled(&format!("{hunt}{reader}\n"));
        assert!(
            read.contains(&"class_uid".to_string()),
            "{reader}: {read:?}"
        );
        assert_eq!(sql, sql_read, "{reader}");
    }
}
