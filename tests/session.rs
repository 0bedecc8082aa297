//! Sessions: each variable's chain reaches its data source once, kept variables give the
//! same answers as recomputing them, and a long session keeps its storage bounded.
//!
//! A watched backend (a real SQLite connection that logs what it is sent) counts how
//! often a hunt's statements read the lake table.

mod common;
#[allow(dead_code)]
mod fuzz_support;
#[path = "../benches/lakegen/mod.rs"]
#[allow(dead_code)]
mod lakegen;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use kestrel::backend::{self, Backend, BackendError, OpenOptions, RowSink};
use kestrel::config::Config;
use kestrel::ir::{ColumnKind, Literal};
use kestrel::output::{Format, Printer};
use kestrel::run::run_hunt_with;
use kestrel::session::{Session, SessionOptions};
use kestrel::source::SourceFile;
use kestrel::sql::SqlStatement;

/// What a watched connection was sent, and the temporary tables it holds.
#[derive(Default)]
struct Log {
    statements: Vec<String>,
    live_tables: BTreeSet<String>,
    stored: usize,
}

/// A real backend that records what reaches it.
struct Watched {
    inner: Box<dyn Backend>,
    log: Arc<Mutex<Log>>,
}

impl Backend for Watched {
    fn dialect(&self) -> &'static str {
        self.inner.dialect()
    }
    fn column_kinds(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, Option<ColumnKind>)>, BackendError> {
        self.inner.column_kinds(table)
    }
    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        self.log.lock().unwrap().statements.push(stmt.sql.clone());
        self.inner.query(stmt, sink)
    }
    fn create_temp_table(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Literal>],
    ) -> Result<(), BackendError> {
        self.inner.create_temp_table(name, columns, rows)
    }
    fn insert_rows(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Literal>],
    ) -> Result<(), BackendError> {
        self.inner.insert_rows(name, columns, rows)
    }
    fn store(&mut self, name: &str, stmt: &SqlStatement) -> Result<(), BackendError> {
        self.log_store(name, stmt);
        self.inner.store(name, stmt)
    }
    fn store_counted(
        &mut self,
        name: &str,
        stmt: &SqlStatement,
        identity: &[String],
        own: &[String],
    ) -> Result<Option<(u64, u64)>, BackendError> {
        self.log_store(name, stmt);
        self.inner.store_counted(name, stmt, identity, own)
    }
    fn drop_temp_table(&mut self, name: &str) -> Result<(), BackendError> {
        self.log.lock().unwrap().live_tables.remove(name);
        self.inner.drop_temp_table(name)
    }
    fn distinct_count_function(&self) -> Option<&'static str> {
        self.inner.distinct_count_function()
    }
    fn tally_function(&self) -> Option<&'static str> {
        self.inner.tally_function()
    }
    fn take_tally(&mut self, slot: i64) -> Option<(u64, u64)> {
        self.inner.take_tally(slot)
    }
    fn forget_tally(&mut self, slot: i64) {
        self.inner.forget_tally(slot)
    }
    fn estimated_rows(&mut self, stmt: &SqlStatement) -> Option<f64> {
        self.inner.estimated_rows(stmt)
    }
}

impl Watched {
    /// Records a statement that keeps its rows in table `name`.
    fn log_store(&self, name: &str, stmt: &SqlStatement) {
        let mut log = self.log.lock().unwrap();
        log.statements.push(stmt.sql.clone());
        log.live_tables.insert(name.to_string());
        log.stored += 1;
    }
}

struct Lake {
    dir: std::path::PathBuf,
    url: String,
    /// The configuration as YAML, and parsed.
    yaml: String,
    config: Config,
    /// A table of the PostgreSQL test server this lake reads, dropped with it.
    pg_table: Option<String>,
}

impl Lake {
    fn ecs(name: &str) -> Lake {
        let dir = common::fresh_dir("session", name);
        common::ingest_ecs_fixture(&dir.join("lake.db"));
        Lake::at(dir)
    }

    /// A lake of `n` process events, each a process of its own (`p0`, `p1`, …) with
    /// another `n / 2` events of processes seen before, made by SQL.
    fn processes(name: &str, n: usize) -> Lake {
        let dir = common::fresh_dir("session", name);
        let conn = rusqlite::Connection::open(dir.join("lake.db")).unwrap();
        conn.execute_batch(&format!(
            r#"CREATE TABLE events ("@timestamp" TEXT, "event.category" TEXT,
                 "process.entity_id" TEXT, "process.pid" INTEGER, "process.name" TEXT);
               WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {n} * 3 / 2)
               INSERT INTO events SELECT '2024-05-01T00:00:00.000Z', 'process',
                 'p' || (i % {n}), 1000 + i % {n}, 'proc' || (i % 7) || '.exe' FROM s;"#
        ))
        .unwrap();
        drop(conn);
        Lake::at(dir)
    }

    /// The lake whose table `events` is in `dir/lake.db`, and its configuration.
    fn at(dir: std::path::PathBuf) -> Lake {
        let url = format!("sqlite:///{}", dir.join("lake.db").display());
        let yaml = format!(
            "connections:\n  lake:\n    url: {url}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n"
        );
        let config = Config::from_yaml_str(&yaml, None).unwrap();
        Lake {
            dir,
            url,
            yaml,
            config,
            pg_table: None,
        }
    }

    /// The ECS process and network fixture loaded into `table` of the PostgreSQL test
    /// server, read as data source `events`.
    fn postgres(name: &str, table: &str) -> Lake {
        let url = common::pg_url();
        pg_fixture(&url, "ecs_process_network.csv", table);
        let yaml = format!(
            "connections:\n  lake:\n    url: '{url}'\ndatasources:\n  events:\n    connection: lake\n    table: {table}\n    timestamp: '@timestamp'\n"
        );
        Lake {
            dir: common::fresh_dir("session", name),
            url,
            config: Config::from_yaml_str(&yaml, None).unwrap(),
            yaml,
            pg_table: Some(table.to_string()),
        }
    }

    /// What `hunt` prints and summarises in a session that keeps nothing: every
    /// statement computes its chain, every count is a query of its own.
    fn recomputed(&self, hunt: &str) -> (String, Vec<kestrel::output::SummaryRow>) {
        let (mut s, _) = self.session(SessionOptions {
            store: false,
            ..SessionOptions::default()
        });
        run(&mut s, hunt)
    }

    /// A session whose `lake` connection is watched.
    fn session(&self, opts: SessionOptions) -> (Session<'_>, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let inner = backend::open(&self.url, &OpenOptions::default()).unwrap();
        let mut s = Session::new(Some(&self.config), opts);
        s.connections().insert(
            "lake",
            Box::new(Watched {
                inner,
                log: log.clone(),
            }),
        );
        (s, log)
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(table) = &self.pg_table {
            if let Ok(mut admin) = postgres::Client::connect(&self.url, postgres::NoTls) {
                let _ = admin.batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""));
            }
        }
    }
}

/// Statements that read the lake's own table (not a kept variable's).
fn lake_reads(log: &Log) -> usize {
    reads_of(log, "events")
}

/// Statements that read `table`.
fn reads_of(log: &Log, table: &str) -> usize {
    let quoted = format!("\"{table}\"");
    log.statements
        .iter()
        .filter(|s| s.contains(&quoted))
        .count()
}

/// Runs a hunt in a session, returning the printed CSV and the summary (when the
/// session has one).
fn run(session: &mut Session<'_>, hunt: &str) -> (String, Vec<kestrel::output::SummaryRow>) {
    run_as(session, hunt, false)
}

/// [`run`], as the session's only input where `whole` (`Session::run_whole_hunt`, what
/// `kestrel run` does).
fn run_as(
    session: &mut Session<'_>,
    hunt: &str,
    whole: bool,
) -> (String, Vec<kestrel::output::SummaryRow>) {
    let src = SourceFile::new("hunt.hf", hunt);
    let mut printer = Printer::new(Vec::new(), Format::Csv);
    let ran = if whole {
        session.run_whole_hunt(&src, &mut printer)
    } else {
        session.run_hunt(&src, &mut printer)
    };
    ran.unwrap_or_else(|d| panic!("{}", d.render(&src)));
    let summary = if session.options().summary {
        session
            .summary()
            .unwrap_or_else(|d| panic!("{}", d.render(&src)))
    } else {
        Vec::new()
    };
    (String::from_utf8(printer.into_inner()).unwrap(), summary)
}

const CHAIN: &str = "\
kids = GET process FROM sqlite://events WHERE name IN ('uname', 'cat', 'ping', 'curl')
parents = FIND process CREATED kids
DISP kids ATTR name, pid SORT BY pid ASC
INFO kids
DESCRIBE kids.pid
DISP parents ATTR name, pid
older = parents WHERE pid > 1000
DISP older ATTR name
t = TIMESTAMPED(kids)
DISP t ATTR first_observed, name SORT BY first_observed ASC LIMIT 2
";

#[test]
fn each_chain_reaches_the_lake_once() {
    let lake = Lake::ecs("once");
    let (mut kept, log) = lake.session(SessionOptions::default());
    let (out, summary) = run(&mut kept, CHAIN);
    // kids and parents read the lake once between them (kids keeps the records it
    // selects, parents reads them in hand); everything else reads what was kept.
    let log = log.lock().unwrap();
    assert_eq!(lake_reads(&log), 1, "{:#?}", log.statements);
    assert!(log.stored >= 2);
    drop(log);

    let (mut fresh, log) = lake.session(SessionOptions {
        store: false,
        ..SessionOptions::default()
    });
    let (again, summary_again) = run(&mut fresh, CHAIN);
    assert!(lake_reads(&log.lock().unwrap()) > 6);
    assert_eq!(out, again);
    assert_eq!(summary, summary_again);
    // The answer itself: bash (1026) launched uname, cat, ping and curl on host A.
    assert!(out.contains("bash,1026\n"), "{out}");
    let kids = summary.iter().find(|r| r.variable == "kids").unwrap();
    // The fixture's five such launches (ping twice: on host A and host B).
    assert_eq!((kids.records, kids.entities), (5, 5));
}

#[test]
fn a_variable_read_once_stays_inside_the_query_that_reads_it() {
    let lake = Lake::ecs("once-read");
    let (mut s, log) = lake.session(SessionOptions {
        summary: false,
        store: true,
    });
    run(
        &mut s,
        "a = GET process FROM sqlite://events WHERE name = 'bash'\nb = FIND process CREATED BY a\nDISP b ATTR name",
    );
    let log = log.lock().unwrap();
    assert_eq!(log.stored, 0, "{:#?}", log.statements);
    assert_eq!(lake_reads(&log), 1, "{:#?}", log.statements);
}

/// A variable that one statement reads whole (a DISP of it, a kept GROUP of it) and the
/// summary counts is neither kept nor computed again: that statement counts it on the way.
#[test]
fn a_variable_read_once_is_counted_on_the_way() {
    let lake = Lake::ecs("on-the-way");
    let hunts = [
        "a = GET process FROM sqlite://events WHERE name IN ('uname', 'cat', 'ping', 'curl')\n\
         DISP a ATTR name, pid\nEXPLAIN a",
        "p = GET process FROM sqlite://events WHERE pid > 0\n\
         g = GROUP p BY name WITH COUNT(pid) AS n\nDISP g ATTR name, n SORT BY n DESC\nINFO g",
        // A GROUP that one DISP reads, of a variable it reads: both counted by that DISP.
        "p = GET process FROM sqlite://events WHERE pid > 0\n\
         g = GROUP p BY name WITH COUNT(pid) AS n\nDISP g ATTR name, n",
        // A type whose entities are distinct rows, and one read through a projection.
        "e = GET process_activity FROM sqlite://events WHERE process.pid > 0\nDISP e",
    ];
    for hunt in hunts {
        let (mut s, log) = lake.session(SessionOptions::default());
        let (out, summary) = run(&mut s, hunt);
        let log = log.lock().unwrap();
        let tallied: Vec<&String> = log
            .statements
            .iter()
            .filter(|st| st.contains("kestrel_tally("))
            .collect();
        assert_eq!(tallied.len(), 1, "{hunt}\n{:#?}", log.statements);
        // The variable's chain reaches the lake in that statement only.
        assert_eq!(lake_reads(&log), 1, "{hunt}\n{:#?}", log.statements);
        assert!(
            !log.statements
                .iter()
                .any(|st| st.contains("kestrel_distinct") && st.contains("\"events\"")),
            "{hunt}\n{:#?}",
            log.statements
        );
        drop(log);
        assert!(summary.iter().all(|r| r.records > 0), "{hunt}: {summary:?}");

        let (again, summary_again) = lake.recomputed(hunt);
        if hunt.contains("EXPLAIN") {
            assert!(
                out.contains("-- a is not kept: one statement reads it, and counts its records and entities for the summary on the way"),
                "{out}"
            );
            // The DISP before it, without the tally's column.
            assert_eq!(out.split("\n\n").next(), again.split("\n\n").next());
        } else {
            assert_eq!(out, again, "{hunt}");
        }
        assert_eq!(summary, summary_again, "{hunt}");
    }
}

/// A reference without START/STOP first measures its variable's time span: a second
/// read, so the variable is kept and both read what was kept.
#[test]
fn a_time_span_counts_as_a_read() {
    let lake = Lake::ecs("span-read");
    let (mut s, log) = lake.session(SessionOptions {
        summary: false,
        store: true,
    });
    let (out, _) = run(
        &mut s,
        "a = GET process FROM sqlite://events WHERE name = 'bash'\n\
         b = GET process FROM sqlite://events WHERE pid = a.pid\n\
         DISP b ATTR name, pid",
    );
    assert!(out.contains("bash,1026"), "{out}");
    let log = log.lock().unwrap();
    assert_eq!(log.stored, 1, "{:#?}", log.statements);
    // a is computed once (into its table), then b once; the span reads the table.
    assert_eq!(lake_reads(&log), 2, "{:#?}", log.statements);
    let span = log
        .statements
        .iter()
        .find(|st| st.contains("MIN(") || st.contains("min("))
        .expect("a statement measuring the span");
    assert!(!span.contains("\"events\""), "{span}");
}

/// The columns of variable `var`'s newest relation in a session's program.
fn columns_of(s: &Session<'_>, var: &str) -> Vec<String> {
    s.program()
        .relations
        .iter()
        .rev()
        .find(|r| r.var == var)
        .unwrap_or_else(|| panic!("no relation of {var}"))
        .columns
        .clone()
        .unwrap_or_default()
}

#[test]
fn a_whole_hunt_derives_no_classification_for_events_nothing_reads() {
    let lake = Lake::ecs("unread-events");
    let hunt = "p = GET process FROM sqlite://events WHERE name = 'bash'\n\
                evts = FIND event ORIGINATED BY p\n\
                DISP p ATTR name, pid SORT BY pid ASC\n";
    let whole = |hunt: &str| {
        let (mut s, _) = lake.session(SessionOptions::default());
        let (out, summary) = run_as(&mut s, hunt, true);
        (columns_of(&s, "evts"), out, summary)
    };
    // Nothing reads evts: its records are the table's columns, nothing derived.
    let (columns, out, summary) = whole(hunt);
    assert!(columns.contains(&"process.pid".to_string()), "{columns:?}");
    assert!(!columns.contains(&"class_uid".to_string()), "{columns:?}");
    // A session that more inputs may follow derives it: a later input may read it.
    let (mut open, _) = lake.session(SessionOptions::default());
    let (open_out, open_summary) = run(&mut open, hunt);
    assert!(columns_of(&open, "evts").contains(&"class_uid".to_string()));
    // The same answer and counts either way, and evts is not empty.
    assert_eq!(out, open_out);
    assert_eq!(summary, open_summary);
    let evts = summary.iter().find(|r| r.variable == "evts").unwrap();
    assert!(evts.records > 0, "{summary:?}");
    // A statement that reads evts (EXPLAIN included) has it derived, and sees it.
    for reader in [
        "DISP evts ATTR class_uid",
        "EXPLAIN evts",
        "e2 = evts WHERE class_uid > 0",
    ] {
        let (columns, out, _) = whole(&format!("{hunt}{reader}\n"));
        assert!(
            columns.contains(&"class_uid".to_string()),
            "{reader}: {columns:?}"
        );
        if reader.starts_with("DISP") {
            assert!(out.contains("\n1007\n"), "{reader}: {out}");
        }
    }
}

#[test]
fn explain_says_where_a_kept_variable_lives() {
    let lake = Lake::ecs("explain");
    let (mut s, _log) = lake.session(SessionOptions::default());
    let (out, _) = run(
        &mut s,
        // Read by two statements and the summary: kept.
        "a = GET process FROM sqlite://events WHERE name = 'bash'\nDISP a ATTR name\nINFO a\nEXPLAIN a",
    );
    assert!(
        out.contains("-- a was computed once and is kept in temporary table `kestrel_0_a` on connection `lake`"),
        "{out}"
    );
}

#[test]
fn a_long_session_keeps_its_storage_bounded() {
    let lake = Lake::ecs("long");
    let (mut s, log) = lake.session(SessionOptions::default());
    let mut printer = Printer::new(std::io::sink(), Format::Csv);
    // 250 inputs of four statements: a thousand statements, 500 variables redefined.
    for i in 0..250 {
        let input = format!(
            "v = GET process FROM sqlite://events WHERE pid > {}\nw = FIND process CREATED BY v\nDISP v ATTR name\nDISP w ATTR pid",
            1000 + i % 50
        );
        s.execute(&input, &mut printer)
            .unwrap_or_else(|d| panic!("{}", d.render(s.source())));
    }
    {
        let log = log.lock().unwrap();
        assert!(log.stored >= 500, "{}", log.stored);
        // Only the newest v and w are readable; older versions' tables were dropped.
        assert!(log.live_tables.len() <= 2, "{:?}", log.live_tables);
    }
    let summary = s.summary().unwrap();
    assert_eq!(summary.len(), 2);
}

#[test]
fn versions_assigned_again_stay_readable_while_a_variable_reads_them() {
    // Input by input, as in a REPL: `kids` and `parents` are assigned again while
    // variables made from their first versions still read them. What those show must
    // not change, and once nothing reads the old versions their tables are gone.
    let lake = Lake::ecs("versions");
    let inputs = [
        "kids = GET process FROM sqlite://events WHERE name IN ('uname', 'cat', 'ping', 'curl')",
        "parents = FIND process CREATED kids\nDISP parents ATTR name, pid\nINFO parents",
        "kids = GET process FROM sqlite://events WHERE name = 'bash'\nDISP kids ATTR pid",
        "t = TIMESTAMPED(parents)\nolder = parents WHERE pid > 1000\nDISP older ATTR name\nINFO older",
        "parents = FIND process CREATED BY kids\nDISP parents ATTR name",
        "DISP t ATTR name, first_observed SORT BY first_observed ASC\nDISP older ATTR name, pid\nINFO older",
        "t = GET process FROM sqlite://events WHERE name = 'cat'\nolder = t\nDISP older ATTR pid",
    ];
    // The same with a new name for each assignment: nothing is assigned again.
    let mut renamed = inputs.map(String::from);
    renamed[2] = inputs[2].replace("kids", "kids2");
    renamed[4] = inputs[4]
        .replace("kids", "kids2")
        .replace("parents", "parents2");
    renamed[6] = inputs[6]
        .replace("t =", "t2 =")
        .replace("= t\n", "= t2\n")
        .replace("older", "older2");
    let shown = |renaming: bool| {
        let (mut s, log) = lake.session(SessionOptions::default());
        let mut printer = Printer::new(Vec::new(), Format::Csv);
        for (step, input) in inputs.iter().enumerate() {
            let input = if renaming { &renamed[step] } else { *input };
            s.execute(input, &mut printer)
                .unwrap_or_else(|d| panic!("{input}:\n{}", s.render(&d)));
        }
        let live = log.lock().unwrap().live_tables.clone();
        (String::from_utf8(printer.into_inner()).unwrap(), live)
    };
    let (again, live) = shown(false);
    let (renamed_out, renamed_live) = shown(true);
    assert_eq!(blocks(&again), blocks(&renamed_out));
    assert!(again.contains("ping"), "{again}");
    // Only the newest versions' tables are left: the first `parents`, `t` and `older`
    // were read by nothing at the end.
    assert!(live.len() < renamed_live.len(), "{live:?} {renamed_live:?}");
}

#[test]
fn a_variable_defined_as_an_earlier_kept_one_is_computed_once_too() {
    // `b` is `a` word for word, defined after `a` was kept: it cannot read `a`'s table
    // as `a`'s plan (reuse compares plans), so it is computed from the lake, once, and
    // kept for `c` and `d`, the two statements that read it.
    let lake = Lake::ecs("same-again");
    let hunt = "\
a = GET process FROM sqlite://events WHERE name IN ('uname', 'cat', 'ping', 'curl')
DISP a ATTR name
INFO a
b = GET process FROM sqlite://events WHERE name IN ('uname', 'cat', 'ping', 'curl')
c = b WHERE pid > 0
d = b WHERE pid > 1
DISP c ATTR pid
DISP d ATTR name
";
    let (mut kept, log) = lake.session(SessionOptions::default());
    let (out, summary) = run(&mut kept, hunt);
    let log = log.lock().unwrap();
    assert_eq!(lake_reads(&log), 2, "{:#?}", log.statements);
    assert_eq!((out, summary), lake.recomputed(hunt));
}

/// On DataFusion the kept rows pass through kestrel into the scratch Parquet file: they
/// are counted there, and no query counts the kept table for the summary (on a cluster,
/// a job saved per kept variable).
#[cfg(feature = "datafusion")]
#[test]
fn a_kept_variable_is_counted_as_it_is_written_on_datafusion() {
    let sqlite = Lake::ecs("counted-as-written");
    let dir = sqlite.dir.join("parquet");
    common::sqlite_to_parquet(&sqlite.url, "events", &dir.join("events"));
    let url = format!("datafusion://{}", dir.display());
    let yaml = sqlite.yaml.replace(&sqlite.url, &url);
    let lake = Lake {
        dir: common::fresh_dir("session", "counted-as-written-df"),
        url,
        config: Config::from_yaml_str(&yaml, None).unwrap(),
        yaml,
        pg_table: None,
    };
    let hunt = "\
p = GET process FROM sqlite://events WHERE pid > 0
DISP p ATTR pid SORT BY pid ASC
c = FIND process CREATED p
DISP c ATTR pid SORT BY pid ASC
";
    let (mut kept, log) = lake.session(SessionOptions::default());
    let (out, summary) = run(&mut kept, hunt);
    let log = log.lock().unwrap();
    assert!(log.stored >= 1, "{:#?}", log.statements);
    let counts: Vec<&String> = log
        .statements
        .iter()
        .filter(|s| s.contains("AS \"records\""))
        .collect();
    assert!(counts.is_empty(), "{counts:#?}");
    assert_eq!((out, summary), lake.recomputed(hunt));
}

#[test]
fn an_error_leaves_the_session_usable_with_its_variables() {
    let lake = Lake::ecs("error");
    let (mut s, _log) = lake.session(SessionOptions::default());
    let mut printer = Printer::new(Vec::new(), Format::Csv);
    s.execute(
        "a = GET process FROM sqlite://events WHERE name = 'bash'\nDISP a ATTR name",
        &mut printer,
    )
    .unwrap();
    let err = s.execute("DISP nosuch", &mut printer).unwrap_err();
    let rendered = err.render(s.source());
    assert!(rendered.contains("unknown variable `nosuch`"), "{rendered}");
    assert!(rendered.contains(":3:"), "{rendered}");
    // As a REPL or a notebook shows it: the line within the input.
    let shown = s.render(&err);
    assert!(
        shown.contains("<input>:1:6") && shown.contains("1 | DISP nosuch"),
        "{shown}"
    );
    let err = s
        .execute(
            "b = GET process FROM a WHERE pid > 0
DISP b ATTR nosuch_attr x",
            &mut printer,
        )
        .unwrap_err();
    let shown = s.render(&err);
    assert!(shown.contains("2 | DISP b ATTR nosuch_attr x"), "{shown}");
    s.execute("DISP a ATTR pid", &mut printer).unwrap();
    let out = String::from_utf8(printer.into_inner()).unwrap();
    assert_eq!(out, "name\nbash\n\npid\n1026\n");
}

/// Each display's rows as a sorted list (row order without SORT BY is the database's).
fn blocks(out: &str) -> Vec<Vec<String>> {
    out.split("\n\n")
        .map(|b| {
            let mut lines: Vec<String> = b.lines().map(String::from).collect();
            lines.sort();
            lines
        })
        .collect()
}

/// One run of `hunt`: its displays as CSV, then the summary rows.
fn run_csv(config: &Config, hunt: &str, opts: SessionOptions) -> Result<String, String> {
    let src = SourceFile::new("hunt.hf", hunt);
    let mut printer = Printer::new(Vec::new(), Format::Csv);
    let mut summary = Vec::new();
    match run_hunt_with(&src, Some(config), &mut printer, &mut summary, opts) {
        Ok(rows) => Ok(format!(
            "{}\n\n{rows:?}",
            String::from_utf8(printer.into_inner()).unwrap()
        )),
        Err(d) => Err(d.render(&src)),
    }
}

fn both_ways(config: &Config, hunt: &str) -> Result<(String, String), String> {
    let mut outs: Vec<_> = [true, false]
        .into_iter()
        .map(|store| {
            let opts = SessionOptions {
                summary: true,
                store,
            };
            run_csv(config, hunt, opts)
        })
        .collect();
    match (outs.remove(0), outs.remove(0)) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(_), Err(_)) => Err("both failed".into()),
        (a, b) => panic!("store on: {a:?}\nstore off: {b:?}\nhunt:\n{hunt}"),
    }
}

#[test]
fn kept_variables_give_the_same_answers_on_generated_hunts() {
    let lake = fuzz_support::FuzzLake::new("session-property");
    let n: u64 = std::env::var("KESTREL_SESSION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000);
    let mut ran = 0;
    for seed in 0..n {
        let text: String = fuzz_support::case(seed)
            .lines()
            .filter(|l| {
                let l = l.to_ascii_uppercase();
                !l.contains("SAVE") && !l.contains("EXPLAIN")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        if let Ok((a, b)) = both_ways(&lake.config, &text) {
            assert_eq!(blocks(&a), blocks(&b), "seed {seed}:\n{text}");
            assert_same_input_by_input(&lake.config, &text, &a, &format!("seed {seed}"));
            ran += 1;
        }
    }
    // The generator aims at the compiler's corners: only a few percent of its hunts
    // run to the end on the fixture lake, and those are compared.
    assert!(ran * 40 >= n, "only {ran} of {n} ran");
}

/// The hunt run as a REPL runs it, one statement per input: its displays as CSV, and
/// the summary's rows. None: a statement failed.
fn run_input_by_input(config: &Config, hunt: &str) -> Option<(String, String)> {
    let src = SourceFile::new("hunt.hf", hunt);
    let stmts = kestrel::syntax::parse(&src).ok()?.stmts;
    let mut s = Session::new(Some(config), SessionOptions::default());
    let mut printer = Printer::new(Vec::new(), Format::Csv);
    for stmt in stmts {
        s.execute(src.slice(stmt.span), &mut printer).ok()?;
    }
    let summary = s.summary().ok()?;
    let out = String::from_utf8(printer.into_inner()).unwrap();
    Some((out, format!("{summary:?}")))
}

/// Asserts that `hunt` given statement by statement, as a REPL runs it (forgetting as it
/// goes), shows and summarises what the whole hunt did (`whole`, as [`run_csv`] gives it).
fn assert_same_input_by_input(config: &Config, hunt: &str, whole: &str, what: &str) {
    let (shown, summary) = run_input_by_input(config, hunt)
        .unwrap_or_else(|| panic!("{what}: failed input by input\n{hunt}"));
    let (whole_shown, whole_summary) = whole.rsplit_once("\n\n").unwrap();
    assert_eq!(blocks(&shown), blocks(whole_shown), "{what}:\n{hunt}");
    assert_eq!(summary, whole_summary, "{what}:\n{hunt}");
}

#[test]
fn kept_variables_give_the_same_answers_on_the_hunt_suites() {
    let lake = fuzz_support::FuzzLake::new("session-suites");
    let mut ran = 0;
    for (name, src) in common::hunt_files("hunts") {
        // EXPLAIN shows the SQL, which differs by design (kept variables are read from
        // their tables).
        let text: String = src
            .text
            .lines()
            .filter(|l| !l.trim_start().to_ascii_uppercase().starts_with("EXPLAIN"))
            .map(|l| format!("{l}\n"))
            .collect();
        if let Ok((a, b)) = both_ways(&lake.config, &text) {
            assert_eq!(blocks(&a), blocks(&b), "{name}");
            assert_same_input_by_input(&lake.config, &text, &a, &name);
            ran += 1;
        }
    }
    assert!(
        ran >= 5,
        "only {ran} hunts of tests/hunts ran on the fixture lake"
    );
}

/// The benchmark's lake (`benches/lakegen`) of `events` events, ingested into table
/// `events` of a new SQLite database in `dir`, and a configuration reading it as data
/// source `lake`, with `extra` added to the data source.
fn generated_lake(dir: &std::path::Path, events: u64) -> impl Fn(&str) -> Config {
    use std::io::Write;
    let jsonl = dir.join("lake.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&jsonl).unwrap());
    lakegen::generate(events, 11, |ev| {
        writeln!(w, "{}", serde_json::Value::Object(ev)).unwrap();
    });
    w.flush().unwrap();
    drop(w);
    let db = dir.join("lake.db");
    kestrel::ingest::ingest(&kestrel::ingest::IngestOptions {
        files: vec![jsonl.clone()],
        into: format!("sqlite:///{}", db.display()),
        table: "events".into(),
        ..Default::default()
    })
    .expect("ingest the generated lake");
    let _ = std::fs::remove_file(&jsonl);
    move |extra: &str| {
        Config::from_yaml_str(
            &format!(
                "connections:\n  db:\n    url: sqlite:///{}\ndatasources:\n  lake:\n    \
                 connection: db\n    table: events\n    timestamp: \"@timestamp\"\n{extra}",
                db.display()
            ),
            None,
        )
        .unwrap()
    }
}

/// FIND from the records in hand (`whole_records`, `src/lower/find.rs`): on a lake whose
/// process creations are whole (the generator repeats a process's own fields on each of
/// its events), `FIND process CREATED v` selects the creations with v's own conditions
/// where that gives the semi-join's answer, and keeps the semi-join where it might not.
/// Each hunt gives the same rows and summary as with `whole_records: false`.
#[test]
fn find_reads_the_records_in_hand_with_the_semi_joins_answers() {
    let dir = common::scratch_dir("session", "in-hand");
    let lake = generated_lake(&dir.0, 20_000);
    let (whole, semi) = (lake(""), lake("    whole_records: false\n"));
    let day = "START t'2024-03-02T00:00:00Z' STOP t'2024-03-04T00:00:00Z'";
    // (v's conditions, what follows the FIND, whether the FIND reads the records in hand)
    let cases: &[(&str, &str, bool)] = &[
        ("name = 'powershell.exe'", "", true),
        ("name IN ('cmd.exe', 'conhost.exe')", "", true),
        ("cmd_line LIKE '%-NoProfile%'", "", true),
        ("name = 'bash' OR pid > 20000", "", true),
        ("name != 'chrome.exe' AND pid < 1200", "", true),
        ("parent_process.name = 'explorer.exe'", "", true),
        ("name MATCHES '^(notepad|python)'", "", true),
        ("name = 'cmd.exe'", " WHERE name != 'explorer.exe'", true),
        (&format!("name = 'cmd.exe' {day}"), &format!(" {day}"), true),
        // The event's user is not the process's own field.
        ("name = 'cmd.exe' AND user.name LIKE '%1%'", "", false),
        ("name = 'cmd.exe' AND endpoint.hostname LIKE '%'", "", false),
        // Records of one process differ in time: a creation may lie outside v's range.
        (&format!("name = 'cmd.exe' {day}"), "", false),
        ("name = 'svchost.exe' LIMIT 30", "", false),
    ];
    for (cond, find, in_hand) in cases {
        let hunt = format!(
            "v = GET process FROM sqlite://lake WHERE {cond}\n\
             p = FIND process CREATED v{find}\n\
             g = FIND process CREATED p\n\
             k = FIND process CREATED BY v\n\
             DISP v ATTR name, pid\n\
             DISP p\n\
             DISP g ATTR name, cmd_line\n\
             DISP k ATTR name, pid\n"
        );
        let a = run_csv(&whole, &hunt, SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let b = run_csv(&semi, &hunt, SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(blocks(&a), blocks(&b), "{hunt}");
        let parents = blocks(&a)[1].len() - 1;
        assert!(parents > 0, "no parents, nothing compared:\n{hunt}\n{a}");
        // Where FIND reads the records in hand, its SQL reads no other variable.
        let explain = |config: &Config| {
            let opts = SessionOptions {
                summary: true,
                store: false,
            };
            run_csv(config, &format!("{hunt}EXPLAIN p\n"), opts).unwrap_or_else(|e| panic!("{e}"))
        };
        let (sql, semi_sql) = (explain(&whole), explain(&semi));
        assert!(semi_sql.contains("IN (SELECT"), "{semi_sql}");
        assert_eq!(!sql.contains("IN (SELECT"), *in_hand, "{hunt}\n{sql}");
    }
}

/// Where something else reads v (the summary's count, a display), v keeps the records
/// it selects apart and the FIND reads them there: reading them in hand from the lake
/// would cost v a read of the lake of its own. Where nothing keeps anything, the FIND's
/// semi-join computes v once for both (counting it on the way), so FIND reads the
/// records in hand only where another statement reads v anyway.
#[test]
fn find_reads_the_records_in_hand_where_its_variable_is_read_anyway() {
    let dir = common::scratch_dir("session", "in-hand-choice");
    let config = generated_lake(&dir.0, 5_000)("");
    let get = "v = GET process FROM sqlite://lake WHERE name = 'cmd.exe'\n\
               p = FIND process CREATED v\n";
    // p's SQL: whether it semi-joins on v, and whether it reads v's kept records.
    let sql = |hunt: String, summary: bool, store: bool| {
        let opts = SessionOptions { summary, store };
        let out = run_csv(&config, &hunt, opts).unwrap_or_else(|e| panic!("{e}"));
        (
            !out.contains("IN (SELECT"),
            out.contains("\"v_records"),
            out,
        )
    };
    // (the rest of the hunt, the summary, the store, whether p reads the records in
    // hand, whether it reads them from v's kept records)
    for (rest, summary, store, in_hand, apart) in [
        ("DISP p ATTR name\n", true, true, true, true),
        ("DISP p ATTR name\n", false, true, true, false),
        ("DISP p ATTR name\n", true, false, false, false),
        (
            "DISP v ATTR pid\nDISP p ATTR name\n",
            true,
            true,
            true,
            true,
        ),
        (
            "DISP v ATTR pid\nDISP p ATTR name\n",
            false,
            true,
            true,
            true,
        ),
        (
            "DISP v ATTR pid\nDISP p ATTR name\n",
            true,
            false,
            true,
            false,
        ),
        (
            "k = FIND process CREATED BY v\nDISP k ATTR name\nDISP p ATTR name\n",
            true,
            true,
            true,
            true,
        ),
    ] {
        let hunt = format!("{get}{rest}EXPLAIN p\n");
        let (read_in_hand, read_apart, out) = sql(hunt.clone(), summary, store);
        assert_eq!(
            (read_in_hand, read_apart),
            (in_hand, apart),
            "summary {summary}, store {store}:\n{hunt}\n{out}"
        );
    }
}

/// A FIND reading the records in hand of a variable the summary counts too: the GET's
/// records are kept apart and both read them there, so the hunt reads the lake once,
/// where a semi-join on the kept variable read it twice; with the answers and the
/// summary of a session that keeps nothing. Without the summary, nothing is kept: the
/// FIND reads the lake itself, once.
#[test]
fn a_find_from_the_records_in_hand_and_the_summary_read_the_lake_once() {
    let lake = Lake::ecs("in-hand-once");
    let hunt =
        "kids = GET process FROM sqlite://events WHERE name IN ('uname', 'cat', 'ping', 'curl')\n\
                parents = FIND process CREATED kids\n\
                DISP parents ATTR name, pid\n";
    let (mut s, log) = lake.session(SessionOptions::default());
    let (out, summary) = run(&mut s, hunt);
    let log = log.lock().unwrap();
    assert_eq!(lake_reads(&log), 1, "{:#?}", log.statements);
    assert_eq!(log.stored, 1, "{:#?}", log.statements);
    assert!(
        log.statements.iter().all(|s| !s.contains("IN (SELECT")),
        "{:#?}",
        log.statements
    );
    drop(log);
    assert!(out.contains("bash,1026\n"), "{out}");
    let kids = summary.iter().find(|r| r.variable == "kids").unwrap();
    assert_eq!((kids.records, kids.entities), (5, 5));
    assert!(
        summary.iter().all(|r| !r.variable.contains('(')),
        "{summary:?}"
    );
    assert_eq!((out.clone(), summary), lake.recomputed(hunt));

    let (mut s, log) = lake.session(SessionOptions {
        summary: false,
        store: true,
    });
    let (alone, _) = run(&mut s, hunt);
    let log = log.lock().unwrap();
    assert_eq!(
        (lake_reads(&log), log.stored),
        (1, 0),
        "{:#?}",
        log.statements
    );
    assert_eq!(alone, out);
}

/// The records a GET keeps apart are kept when a statement first reads them, which may
/// be before the FINDs that read them in hand are lowered (a DISP of the variable in
/// between): those FINDs read what was kept, which holds what each of them reads, with
/// conditions of their own on the parents, in a time range, and several FINDs.
#[test]
fn finds_after_the_records_were_kept_read_them_with_their_own_conditions() {
    let lake = Lake::ecs("in-hand-later");
    let range = "START t'2000-01-01T00:00:00Z' STOP t'2100-01-01T00:00:00Z'";
    let hunt = format!(
        "kids = GET process FROM sqlite://events WHERE name IN ('uname', 'cat', 'ping', 'curl') {range}\n\
         DISP kids ATTR name, pid\n\
         parents = FIND process CREATED kids WHERE name != 'sshd' {range}\n\
         DISP parents ATTR name, pid\n\
         again = FIND process CREATED kids {range}\n\
         DISP again ATTR pid\n"
    );
    let (mut s, log) = lake.session(SessionOptions::default());
    let (out, summary) = run(&mut s, &hunt);
    let log = log.lock().unwrap();
    assert_eq!(lake_reads(&log), 1, "{:#?}", log.statements);
    drop(log);
    assert!(out.contains("bash,1026\n"), "{out}");
    assert_eq!((out, summary), lake.recomputed(&hunt));
}

/// A random condition on a process, of the forms and attributes hunts use: the process's
/// own fields (which the records in hand carry) and others (the event's user, the host),
/// `IS NULL` (which keeps the semi-join), under AND, OR and NOT.
fn process_condition(rng: &mut lakegen::Rng, depth: u32) -> String {
    const ATOMS: &[&str] = &[
        "name = 'cmd.exe'",
        "name = 'powershell.exe'",
        "name != 'chrome.exe'",
        "name IN ('conhost.exe', 'notepad.exe', 'python.exe')",
        "cmd_line LIKE '%-NoProfile%'",
        "cmd_line LIKE '%.exe%'",
        "pid > 3000",
        "pid < 1200",
        "parent_process.name = 'explorer.exe'",
        "parent_process.name IN ('cmd.exe', 'services.exe')",
        "name MATCHES '^(svc|task)'",
        "file.path LIKE '%System32%'",
        "cmd_line IS NOT NULL",
        "cmd_line IS NULL",
        "user.name LIKE '%1%'",
        "endpoint.hostname = 'WS-0003'",
    ];
    if depth == 0 || rng.chance(40) {
        return rng.pick(ATOMS).to_string();
    }
    let a = process_condition(rng, depth - 1);
    match rng.below(3) {
        0 => format!("({a}) AND ({})", process_condition(rng, depth - 1)),
        1 => format!("({a}) OR ({})", process_condition(rng, depth - 1)),
        _ => format!("NOT ({a})"),
    }
}

/// The same as a property over generated hunts: random conditions on v, time ranges on
/// v and on the FIND (the same, another, none), a condition on the parents. Both ways
/// give the same rows and summary, and both ways are taken often.
#[test]
fn find_reads_the_records_in_hand_on_generated_hunts() {
    let dir = common::scratch_dir("session", "in-hand-generated");
    let lake = generated_lake(&dir.0, 10_000);
    let (whole, semi) = (lake(""), lake("    whole_records: false\n"));
    let compiled = |config: &Config, text: &str| {
        let src = SourceFile::new("hunt.hf", text);
        let opts = kestrel::lower::LowerOptions {
            config: Some(config),
            catalog: None,
            now: fuzz_support::FIXED_NOW,
        };
        kestrel::compile_program(&src, opts)
            .ok()
            .map(|p| p.relations)
    };
    let days = [
        " START t'2024-03-02T00:00:00Z' STOP t'2024-03-04T00:00:00Z'",
        " START t'2024-03-03T00:00:00Z' STOP t'2024-03-08T00:00:00Z'",
    ];
    let mut rng = lakegen::Rng::new(16);
    let n = 150;
    let mut in_hand = 0;
    for _ in 0..n {
        let cond = process_condition(&mut rng, 3);
        let v_time = if rng.chance(30) { *rng.pick(&days) } else { "" };
        let find_time = if rng.chance(30) { *rng.pick(&days) } else { "" };
        let find_where = if rng.chance(30) {
            " WHERE name != 'explorer.exe'"
        } else {
            ""
        };
        let hunt = format!(
            "v = GET process FROM sqlite://lake WHERE {cond}{v_time}\n\
             p = FIND process CREATED v{find_where}{find_time}\n\
             DISP v ATTR name, pid\n\
             DISP p\n"
        );
        let a = run_csv(&whole, &hunt, SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let b = run_csv(&semi, &hunt, SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(blocks(&a), blocks(&b), "{hunt}");
        let (x, y) = (compiled(&whole, &hunt), compiled(&semi, &hunt));
        in_hand += usize::from(x.is_some() && x != y);
    }
    assert!(
        in_hand * 4 >= n && in_hand * 4 <= n * 3,
        "{in_hand} of {n} read the records in hand"
    );
}

/// Loads a fixture of `tests/fixtures` into `table` of the PostgreSQL test server.
fn pg_fixture(url: &str, fixture: &str, table: &str) {
    kestrel::ingest::ingest(&kestrel::ingest::IngestOptions {
        files: vec![common::tests_dir("fixtures").join(fixture)],
        into: url.to_string(),
        table: table.to_string(),
        replace: true,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("the PostgreSQL test server must be reachable: {e}"));
}

/// Kept variables live in the session's own temporary tables: none outlives the
/// `kestrel` process, whether it ends normally, on an error, or on Ctrl-C (PostgreSQL:
/// the server drops a connection's temporary tables when it closes).
#[cfg(unix)]
#[test]
fn kept_tables_are_gone_after_exit_error_and_ctrl_c() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let id = std::process::id();
    let url = common::pg_url();
    let table = format!("s16_cleanup_{id}");
    let slow = format!("s16_slow_{id}");
    pg_fixture(&url, "ecs_process_creation.csv", &table);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL");
    common::pg_sleeping_view(&mut admin, &slow);
    let dir = common::fresh_dir("session", "cleanup");
    let app = format!("kcleanup{id}");
    let sep = if url.contains('?') { '&' } else { '?' };
    let config = dir.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  pg:\n    url: '{url}{sep}application_name={app}'\n    statement_timeout: 3\n\
             datasources:\n  events:\n    connection: pg\n    table: {table}\n    timestamp: '@timestamp'\n\
             \x20 slow:\n    connection: pg\n    table: {slow}\n    timestamp: '@timestamp'\n"
        ),
    )
    .unwrap();
    let var = format!("keep{id}");
    // The session's temporary tables holding `var`, and its connections, seen from outside.
    let kept = |admin: &mut postgres::Client| -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND relname LIKE $1",
                &[&format!("kestrel\\_%\\_{var}")],
            )
            .unwrap()
            .get(0)
    };
    let connected = |admin: &mut postgres::Client| -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0)
    };
    let gone = |admin: &mut postgres::Client, how: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while kept(admin) + connected(admin) > 0 {
            assert!(
                Instant::now() < deadline,
                "{how}: a kept table or the connection outlived kestrel"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let hunt = |name: &str, tail: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            // Shown in an order: kept (a DISP without one would count it on the way).
            format!("{var} = GET process FROM postgresql://events WHERE pid > 0\nDISP {var} ATTR name SORT BY name ASC\n{tail}"),
        )
        .unwrap();
        path
    };
    let kestrel = |path: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kestrel"));
        cmd.arg("run")
            .arg("--config")
            .arg(&config)
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };

    // A normal run.
    let out = kestrel(&hunt("ok.hf", "")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&var),
        "summary"
    );
    gone(&mut admin, "normal exit");

    // An error after the variable was kept: the slow view runs past statement_timeout.
    let out = kestrel(&hunt(
        "err.hf",
        "s = GET process FROM postgresql://slow WHERE pid > 0\nDISP s\n",
    ))
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("statement_timeout"), "{stderr}");
    gone(&mut admin, "error");

    // Ctrl-C while a later statement runs.
    let mut admin2 = postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("statement_timeout: 3", "statement_timeout: 120"),
    )
    .unwrap();
    let mut child = kestrel(&hunt(
        "ctrlc.hf",
        "s = GET process FROM postgresql://slow WHERE pid > 0\nDISP s\n",
    ))
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while kept(&mut admin2) == 0 {
        assert!(Instant::now() < deadline, "the variable was never kept");
        assert!(child.try_wait().unwrap().is_none(), "kestrel ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    common::ctrl_c(child, Duration::from_secs(20));
    gone(&mut admin2, "Ctrl-C");

    let _ = admin.batch_execute(&format!(
        "DROP VIEW IF EXISTS \"{slow}\"; DROP TABLE IF EXISTS \"{table}\""
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SQLite counts a kept variable's entities with kestrel's own distinct count, which past
/// its in-memory budget spills its hashes to temporary files and stays exact; only where
/// those files cannot be written does the session count again with SQLite's
/// `COUNT(DISTINCT …)`. A variable counted on the way is counted exactly past the budget
/// too, by the tally. The summary is exact in every case.
#[test]
fn entity_counts_past_the_in_memory_budget_stay_exact() {
    use kestrel::backend::sqlite::DISTINCT_BUDGET;
    for (name, n) in [("within", 1000), ("past", DISTINCT_BUDGET + 1)] {
        let lake = Lake::processes(name, n);
        let hunt = "p = GET process FROM sqlite://events WHERE pid >= 1000\nDISP p ATTR name SORT BY name ASC LIMIT 1\n";
        let (mut s, log) = lake.session(SessionOptions::default());
        let (out, summary) = run(&mut s, hunt);
        assert_eq!(out.lines().nth(1), Some("proc0.exe"), "{out}");
        assert_eq!(summary.len(), 1);
        assert_eq!(
            (summary[0].entities, summary[0].records),
            (n as u64, (n * 3 / 2) as u64),
            "{name}"
        );
        let log = log.lock().unwrap();
        let counts: Vec<&String> = log
            .statements
            .iter()
            .filter(|s| s.contains("kestrel_distinct") || s.contains("COUNT(DISTINCT"))
            .collect();
        assert_eq!(counts.len(), 1, "{name}: {counts:?}");
        assert!(counts[0].contains("kestrel_distinct"), "{counts:?}");
        drop(log);

        if n > DISTINCT_BUDGET {
            // Spill files that cannot be made (a temporary directory that does not
            // exist; SQLite's own temporary files find another): the count falls back
            // to the database's, still exact. A process of its own, for its environment.
            let config = lake.dir.join("kestrel.yaml");
            std::fs::write(&config, &lake.yaml).unwrap();
            let hunt_file = lake.dir.join("past.hf");
            std::fs::write(&hunt_file, hunt).unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
                .arg("run")
                .arg("--config")
                .arg(&config)
                .arg(&hunt_file)
                .env("TMPDIR", lake.dir.join("no-such-directory"))
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{text}");
            let expected = [
                "p".to_string(),
                "process".into(),
                n.to_string(),
                (n * 3 / 2).to_string(),
            ];
            assert!(
                text.lines()
                    .any(|l| l.split_whitespace().eq(expected.iter().map(String::as_str))),
                "the summary says {expected:?}: {text}"
            );
        }

        // Counted on the way by the DISP that reads it: past the budget the tally spills
        // its hashes to temporary files, and the summary needs no query of its own
        // either way.
        let (mut s, log) = lake.session(SessionOptions::default());
        let (out, summary) = run(
            &mut s,
            "q = GET process FROM sqlite://events WHERE pid >= 1000\nDISP q ATTR name",
        );
        assert_eq!(out.lines().count(), 1 + 7, "{out}");
        assert_eq!(
            (summary[0].entities, summary[0].records),
            (n as u64, (n * 3 / 2) as u64),
            "{name}"
        );
        let log = log.lock().unwrap();
        let counted_again = log
            .statements
            .iter()
            .any(|s| s.contains("kestrel_distinct") || s.contains("COUNT(DISTINCT"));
        assert!(!counted_again, "{name}: {:#?}", log.statements);
    }
}

/// PostgreSQL has no tally function: a DISP that reads a variable whole counts it on the
/// way with grouping sets of its entities, whose rows kestrel counts instead of showing.
/// Same rows and summary as computing every count with a query of its own; one statement
/// reaches the lake; nothing is kept.
#[test]
fn grouping_sets_count_on_the_way_on_postgresql() {
    let table = format!("s16_sets_{}", std::process::id());
    let lake = Lake::postgres("pg-sets", &table);
    // (hunt, statements with grouping sets, variables kept)
    let hunts = [
        // A variable shown by one DISP, projected and whole.
        ("a = GET process FROM postgresql://events WHERE name IN ('uname', 'cat', 'ping', 'curl')\nDISP a ATTR name, pid", 1, 0),
        ("a = GET process FROM postgresql://events WHERE pid > 1026\nDISP a", 1, 0),
        // Connections: the identity is several columns, NULL in some records.
        ("c = GET network-traffic FROM postgresql://events WHERE dst_port > 0\nDISP c ATTR dst_ref.value, dst_port", 1, 0),
        // A GROUP that shows all its keys: its rows count it, its grouping sets the
        // variable it groups.
        ("p = GET process FROM postgresql://events WHERE pid > 0\ng = GROUP p BY name WITH COUNT(pid) AS n\nDISP g ATTR name, n", 1, 0),
        // The same, the GROUP shown whole.
        ("p = GET process FROM postgresql://events WHERE pid > 0\ng = GROUP p BY name WITH COUNT(pid) AS n\nDISP g", 1, 0),
        // A GROUP not shown whole: its rows are not its own, but it has an identity (pid)
        // and is counted in a grouping set of that; its variable, which it reads, is kept.
        ("p = GET process FROM postgresql://events WHERE pid > 0\ng = GROUP p BY name, pid WITH COUNT(pid) AS n\nDISP g ATTR name, n", 1, 1),
        // A SORT BY reads in an order: no grouping sets, the variable kept.
        ("a = GET process FROM postgresql://events WHERE pid > 0\nDISP a ATTR name SORT BY name ASC", 0, 1),
    ];
    for (hunt, with_sets, kept) in hunts {
        let (mut s, log) = lake.session(SessionOptions::default());
        let (out, summary) = run(&mut s, hunt);
        let log = log.lock().unwrap();
        let sets = log
            .statements
            .iter()
            .filter(|st| st.contains("GROUPING SETS"))
            .count();
        assert_eq!(sets, with_sets, "{hunt}\n{:#?}", log.statements);
        assert_eq!(log.stored, kept, "{hunt}\n{:#?}", log.statements);
        // Each chain reaches the lake once.
        assert_eq!(reads_of(&log, &table), 1, "{hunt}\n{:#?}", log.statements);
        drop(log);
        assert!(summary.iter().all(|r| r.records > 0), "{hunt}: {summary:?}");
        let (again, summary_again) = lake.recomputed(hunt);
        assert_eq!(blocks(&out), blocks(&again), "{hunt}");
        assert_eq!(summary, summary_again, "{hunt}");
    }
}

/// A variable named as the table another one is kept in (`procs` in `kestrel_0_procs`,
/// which PostgreSQL statements name unqualified), whose CTE comes first in a statement
/// that reads that table, gives the answers it gives under another name: its CTE must not
/// hide the table.
#[test]
fn a_variable_named_as_a_kept_table_does_not_hide_it() {
    let table = format!("s17_hide_{}", std::process::id());
    let lake = Lake::postgres("pg-kept-names", &table);
    let hunt = |var: &str| {
        format!(
            "{var} = GET process FROM postgresql://events WHERE pid > 1026\n\
             procs = GET process FROM postgresql://events WHERE pid > 0\n\
             DISP procs ATTR pid SORT BY pid ASC\n\
             m = {var} + procs\n\
             DISP m ATTR pid SORT BY pid ASC\n"
        )
    };
    let run_as = |var: &str| {
        // Without the summary, the variable read once stays a CTE of the query that
        // reads it (a kept one is read as its table, no CTE).
        let (mut s, log) = lake.session(SessionOptions {
            summary: false,
            ..SessionOptions::default()
        });
        let (out, _) = run(&mut s, &hunt(var));
        let log = log.lock().unwrap();
        let kept_first = log
            .statements
            .iter()
            .any(|st| st.contains("\"kestrel_0_procs\""));
        (out, kept_first)
    };
    let (want, kept) = run_as("c");
    assert!(kept && want.lines().count() > 10, "{want}");
    for var in ["kestrel_0_procs", "KESTREL_0_PROCS"] {
        assert_eq!(run_as(var).0, want, "{var}");
    }
}

/// A variable kept on PostgreSQL is made by `CREATE TABLE AS … EXECUTE`, its values
/// carried by settings of the transaction (`Backend::store`): integers, text with quotes,
/// `$` and non-ASCII letters, timestamps and a long IN list (bound as one JSON value) keep
/// their meaning: the answers and summary are those of a session that keeps nothing.
#[test]
fn kept_variables_keep_their_values_on_postgresql() {
    let table = format!("s17_keep_{}", std::process::id());
    let lake = Lake::postgres("pg-keep-values", &table);
    let long_list: Vec<String> = (0..1200)
        .map(|i| format!("'n{i}.exe'"))
        .chain(["'uname'".into(), "'bash'".into()])
        .collect();
    let odd = r"it\'s $1 ünï";
    // A SORT BY reads the variable in an order, so it is kept, then read by the DISP and
    // counted by the summary.
    let hunts = [
        format!("a = GET process FROM postgresql://events WHERE pid > 1026 AND name != '{odd}'\nDISP a ATTR name, pid SORT BY pid ASC"),
        format!("a = GET process FROM postgresql://events WHERE name = 'bash' OR name = 'uname' OR cmd_line LIKE '%{odd}%'\nDISP a ATTR name, pid SORT BY pid ASC"),
        "a = GET process FROM postgresql://events WHERE pid > 0\n  START t'2024-07-08T00:00:02Z' STOP t'2024-07-08T00:00:30Z'\nDISP a ATTR name, pid SORT BY pid ASC".to_string(),
        format!("a = GET process FROM postgresql://events WHERE name IN ({})\nDISP a ATTR name, pid SORT BY pid ASC", long_list.join(", ")),
    ];
    for hunt in &hunts {
        let (mut s, log) = lake.session(SessionOptions::default());
        let (out, summary) = run(&mut s, hunt);
        let log = log.lock().unwrap();
        assert_eq!(log.stored, 1, "{hunt}\n{:#?}", log.statements);
        drop(log);
        assert!(out.lines().count() > 2, "{hunt}: {out}");
        let (again, summary_again) = lake.recomputed(hunt);
        assert_eq!(blocks(&out), blocks(&again), "{hunt}");
        assert_eq!(summary, summary_again, "{hunt}");
    }
}
