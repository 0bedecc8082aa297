//! Failures of the world, provoked for real: a statement that runs too long
//! (`statement_timeout`), Ctrl-C during a long query (exit 130), SAVE where it cannot
//! write (missing or read-only directory, a full disk), a database file that is not there.
//! Each ends with a message naming the data source or file, a non-zero exit, and no
//! partial file.
//!
//! A long query needs no big table: the data source is a view over an endless recursive
//! CTE, so a GET on it runs until it is stopped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kestrel::config::Config;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("kestrel-failures-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database with an endless view `slow` and a small table `events`; a config naming
/// both (with `statement_timeout` when given).
fn lake(dir: &Path, timeout: Option<u64>) -> PathBuf {
    let db = dir.join("lake.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        r#"
        CREATE TABLE events ("@timestamp" TEXT, "process.pid" INTEGER, "process.name" TEXT);
        INSERT INTO events VALUES ('2024-07-08T00:00:01.000000Z', 4, 'cmd.exe'),
                                  ('2024-07-08T00:00:02.000000Z', 5, 'bash');
        CREATE VIEW slow AS
          WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c)
          SELECT '2024-07-08T00:00:01.000000Z' AS "@timestamp", i AS "process.pid",
                 'x' AS "process.name"
          FROM c;
        "#,
    )
    .unwrap();
    drop(conn);
    let timeout = timeout
        .map(|t| format!("    statement_timeout: {t}\n"))
        .unwrap_or_default();
    let yaml = format!(
        "connections:\n  lake:\n    url: sqlite:///{}\n{timeout}datasources:\n  slow:\n    connection: lake\n    table: slow\n    timestamp: \"@timestamp\"\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n",
        db.display()
    );
    let path = dir.join("kestrel.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

const SLOW_HUNT: &str = "p = GET process FROM sqlite://slow WHERE pid < 0\nDISP p ATTR pid\n";

fn run_lib(config: &Path, hunt: &str) -> Result<String, String> {
    let cfg = Config::load(config).unwrap();
    let src = SourceFile::new("hunt.hf", hunt);
    let mut printer = Printer::new(Vec::new(), Format::Csv);
    let mut summary = Vec::new();
    run_hunt(
        &src,
        Some(&cfg),
        &mut printer,
        &mut summary,
        &RunOptions { summary: false },
    )
    .map(|_| String::from_utf8(printer.into_inner()).unwrap())
    .map_err(|d| d.render(&src))
}

/// Runs the binary on a hunt file; kills it after `limit`.
fn kestrel(dir: &Path, config: &Path, hunt: &str, limit: Duration) -> Output {
    let hunt_path = dir.join("hunt.hf");
    std::fs::write(&hunt_path, hunt).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("run")
        .arg(&hunt_path)
        .arg("--config")
        .arg(config)
        .arg("--no-summary")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_or_kill(child, limit)
}

fn wait_or_kill(mut child: std::process::Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kestrel did not end within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `kestrel run hunt.hf | head`: when the reader goes away, the run stops there, quietly
/// and with exit status 0, as `head` expects, instead of reporting the write that failed.
#[test]
fn a_reader_that_goes_away_stops_the_run_quietly() {
    use std::io::Read;
    let dir = Dir::new("closed-pipe");
    let config = lake(&dir.0, None);
    let hunt_path = dir.0.join("hunt.hf");
    std::fs::write(
        &hunt_path,
        "p = GET process FROM sqlite://slow WHERE pid > 0 LIMIT 300000\nDISP p ATTR pid, name\n",
    )
    .unwrap();
    for format in ["table", "csv"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .args(["run", "--format", format])
            .arg(&hunt_path)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first bytes, then the pipe closes.
        let mut first = [0u8; 16];
        let mut stdout = child.stdout.take().unwrap();
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = wait_or_kill(child, Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {:?}\n{stderr}", out.status);
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
}

#[test]
fn statement_timeout_cancels_a_long_query_and_names_the_data_source() {
    let dir = Dir::new("timeout");
    let config = lake(&dir.0, Some(1));
    let err = run_lib(&config, SLOW_HUNT).expect_err("the endless query must be stopped");
    assert!(err.contains("statement_timeout (1 s)"), "{err}");
    assert!(err.contains("data source `slow`"), "{err}");
    assert!(err.contains("connection `lake`"), "{err}");
    assert!(err.contains("--> hunt.hf:2:1"), "{err}");
    // The connection is still usable, and the limit is per statement: a quick one runs.
    let out = run_lib(
        &config,
        "q = GET process FROM sqlite://events WHERE pid > 0\nDISP q ATTR pid SORT BY pid ASC\n",
    )
    .unwrap();
    assert_eq!(out, "pid\n4\n5\n");
    // Through the binary: exit 1 and the same message.
    let out = kestrel(&dir.0, &config, SLOW_HUNT, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("statement_timeout"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_running_query_and_exits_130() {
    let dir = Dir::new("ctrlc");
    let config = lake(&dir.0, None);
    let hunt_path = dir.0.join("hunt.hf");
    std::fs::write(&hunt_path, SLOW_HUNT).unwrap();
    let out = run_and_interrupt(&config, &hunt_path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("data source `slow`"), "{stderr}");
}

/// Runs `kestrel run` on a hunt whose statement never ends by itself (or sleeps for a
/// minute), sends it Ctrl-C once it is inside the statement, and returns what it left.
/// Ending within 30 s at all shows the statement was stopped: `wait_or_kill` kills it
/// otherwise, and its status is then not 130.
#[cfg(unix)]
fn run_and_interrupt(config: &Path, hunt: &Path) -> Output {
    run_and_interrupt_with(config, hunt, &["--no-summary"])
}

#[cfg(unix)]
fn run_and_interrupt_with(config: &Path, hunt: &Path, args: &[&str]) -> Output {
    // Long enough to be inside the statement (it starts in milliseconds).
    run_and_interrupt_after(config, hunt, args, || {
        std::thread::sleep(Duration::from_millis(1500))
    })
}

/// [`run_and_interrupt_with`], Ctrl-C once `wait` returns.
fn run_and_interrupt_after(
    config: &Path,
    hunt: &Path,
    args: &[&str],
    wait: impl FnOnce(),
) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("run")
        .args(args)
        .arg("--config")
        .arg(config)
        .arg(hunt)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_or_kill(child, Duration::from_secs(30))
}

fn save_hunt(target: &Path) -> String {
    format!(
        "p = GET process FROM sqlite://events WHERE pid > 0\nSAVE p TO {}\n",
        target.display()
    )
}

/// Exit 1 with a message naming the file SAVE could not write.
fn assert_refused_naming(out: &Output, target: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write `{}`", target.display())),
        "{stderr}"
    );
}

/// No file at `target` and no temporary file left beside it.
fn assert_nothing_written(target: &Path) {
    assert!(!target.exists(), "{} exists", target.display());
    if let Some(parent) = target.parent().filter(|p| p.is_dir()) {
        let left: Vec<_> = std::fs::read_dir(parent)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}

#[test]
fn save_into_a_missing_directory_fails_naming_the_file() {
    let dir = Dir::new("save-missing");
    let config = lake(&dir.0, None);
    let target = dir.0.join("no/such/dir/out.csv");
    let out = kestrel(
        &dir.0,
        &config,
        &save_hunt(&target),
        Duration::from_secs(60),
    );
    assert_refused_naming(&out, &target);
    assert_nothing_written(&target);
}

#[test]
fn save_onto_something_that_is_not_a_file_leaves_it_alone() {
    let dir = Dir::new("save-notfile");
    let config = lake(&dir.0, None);
    let target = dir.0.join("out.csv");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let out = kestrel(
        &dir.0,
        &config,
        &save_hunt(&target),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
    assert!(target.join("keep").exists());
}

#[cfg(unix)]
#[test]
fn save_into_a_read_only_directory_fails_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("save-ro");
    let config = lake(&dir.0, None);
    let ro = dir.0.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root writes anywhere its mode says not to: then use a directory no one can create
    // files in (sysfs), which Linux always mounts.
    let probe = ro.join("probe");
    let target = if std::fs::write(&probe, b"x").is_ok() {
        let _ = std::fs::remove_file(&probe);
        PathBuf::from("/sys/kestrel-failures-test-out.csv")
    } else {
        ro.join("out.csv")
    };
    let out = kestrel(
        &dir.0,
        &config,
        &save_hunt(&target),
        Duration::from_secs(60),
    );
    assert_refused_naming(&out, &target);
    assert!(!target.exists());
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    if target.starts_with(&ro) {
        assert_nothing_written(&target);
    }
}

/// A full disk, for real: the file-size limit (`ulimit -f`) makes a write fail with EFBIG
/// as ENOSPC would, part-way through the file.
#[cfg(target_os = "linux")]
#[test]
fn save_onto_a_full_disk_leaves_no_partial_file() {
    let dir = Dir::new("save-full");
    let db = dir.0.join("big.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        r#"
        CREATE TABLE events ("@timestamp" TEXT, "process.pid" INTEGER, "process.name" TEXT);
        WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
        INSERT INTO events SELECT '2024-07-08T00:00:01.000000Z', i, 'proc-' || i || '.exe' FROM c;
        "#,
    )
    .unwrap();
    drop(conn);
    let config = dir.0.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n",
            db.display()
        ),
    )
    .unwrap();
    let target = dir.0.join("out.csv");
    let hunt_path = dir.0.join("hunt.hf");
    std::fs::write(&hunt_path, save_hunt(&target)).unwrap();
    // 64 blocks of 512 bytes: the database (read, not written) is untouched; the output
    // (about 400 kB) is cut off. SIGXFSZ is ignored so the write fails instead of killing.
    let script = format!(
        "ulimit -f 64; trap '' XFSZ; exec '{}' run '{}' --config '{}' --no-summary",
        env!("CARGO_BIN_EXE_kestrel"),
        hunt_path.display(),
        config.display()
    );
    let child = Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_or_kill(child, Duration::from_secs(60));
    assert_refused_naming(&out, &target);
    assert_nothing_written(&target);
}

/// `kestrel run` of a GET on data source `events` of a connection whose settings are
/// `connection` (YAML lines under it); returns the exit status and standard error.
fn run_on_connection(dir: &Path, connection: &str, limit: Duration) -> (Option<i32>, String) {
    let config = dir.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  srv:\n{connection}datasources:\n  events:\n    connection: srv\n    table: events\n"
        ),
    )
    .unwrap();
    let out = kestrel(
        dir,
        &config,
        "p = GET process FROM sqlite://events WHERE pid > 0\nDISP p\n",
        limit,
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_database_file_names_the_data_source() {
    let dir = Dir::new("nodb");
    let db = dir.0.join("gone.db");
    let (code, stderr) = run_on_connection(
        &dir.0,
        &format!("    url: sqlite:///{}\n", db.display()),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("data source `events`"), "{stderr}");
    assert!(stderr.contains("no database file"), "{stderr}");
    assert!(
        stderr.contains("--> "),
        "a caret at the data source: {stderr}"
    );
}

/// A server that is down (nothing listens on port 1) and a wrong password: exit 1, the data
/// source named, the password never shown.
#[test]
fn an_unreachable_server_or_a_wrong_password_names_the_data_source() {
    let dir = Dir::new("server");
    for url in [
        "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/test",
        "mysql://root:s3cr3t-pw@127.0.0.1:1/test",
        "mysql://root:s3cr3t-pw@127.0.0.1:3306/test",
    ] {
        let (code, stderr) = run_on_connection(
            &dir.0,
            &format!("    url: {url}\n    statement_timeout: 5\n"),
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(1), "{url}: {stderr}");
        assert!(stderr.contains("data source `events`"), "{url}: {stderr}");
        assert!(
            !stderr.contains("s3cr3t-pw"),
            "{url}: password shown: {stderr}"
        );
    }
}

/// A server that accepts the connection and then never answers (a hung server, a
/// middlebox that swallows the login): `kestrel run` gives up after the connection's
/// `connect_timeout`, names the data source, exits 1 and never shows the password. The
/// "server" is a listener in this test that holds every connection without a byte, so MS
/// SQL Server's client is covered too.
#[test]
fn a_server_that_never_answers_times_out_naming_the_data_source() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = Dir::new("silent");
    for scheme in ["postgresql", "mysql", "mssql"] {
        let start = Instant::now();
        let (code, stderr) = run_on_connection(
            &dir.0,
            &format!(
                "    url: {scheme}://hunter:s3cr3t-pw@127.0.0.1:{port}/test\n    connect_timeout: 2\n"
            ),
            Duration::from_secs(30),
        );
        let took = start.elapsed();
        assert_eq!(code, Some(1), "{scheme}: {stderr}");
        assert!(
            stderr.contains("data source `events`"),
            "{scheme}: {stderr}"
        );
        assert!(
            stderr.contains("no answer from the server within 2 s (connect_timeout)"),
            "{scheme}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cr3t-pw"),
            "{scheme}: password shown: {stderr}"
        );
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(8),
            "{scheme}: took {took:?}"
        );
        eprintln!("{scheme}: gave up after {took:?}");
    }
}

/// A scratch directory `name` holding a configuration whose data source `slow` is `table`
/// on `url`, and `hunt`: the directory (removed when dropped), the configuration's path
/// and the hunt's.
#[cfg(unix)]
fn slow_source(name: &str, url: &str, table: &str, hunt: &str) -> (Dir, PathBuf, PathBuf) {
    let dir = Dir::new(name);
    let config = dir.0.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  db:\n    url: {url}\ndatasources:\n  slow:\n    connection: db\n    table: {table}\n"
        ),
    )
    .unwrap();
    let hunt_path = dir.0.join("hunt.hf");
    std::fs::write(&hunt_path, hunt).unwrap();
    (dir, config, hunt_path)
}

/// Ctrl-C during a statement on a database server: kestrel asks the server to stop it (it
/// would sleep for a minute) and the exit status is 130.
#[cfg(unix)]
fn ctrl_c_on_a_server(url: &str, view: &str, create_view: &str, drop_view: &str) {
    let mut admin = kestrel::backend::open(
        url,
        &kestrel::backend::OpenOptions {
            allow_write: true,
            ..Default::default()
        },
    )
    .expect("the server answers (see README: Set up)");
    let ddl = |b: &mut Box<dyn kestrel::backend::Backend>, sql: &str| {
        b.query(
            &kestrel::sql::SqlStatement {
                sql: sql.to_string(),
                params: vec![],
            },
            &mut kestrel::backend::Collect::default(),
        )
    };
    let _ = ddl(&mut admin, drop_view);
    ddl(&mut admin, create_view).expect("create the view");
    let (_dir, config, hunt_path) = slow_source(
        view,
        url,
        view,
        "p = GET process FROM x://slow WHERE name = 'x'\nDISP p ATTR pid\n",
    );
    let out = run_and_interrupt(&config, &hunt_path);
    let _ = ddl(&mut admin, drop_view);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
}

/// PostgreSQL: the server's cancel request.
#[cfg(unix)]
#[test]
fn ctrl_c_cancels_a_postgres_statement_on_the_server() {
    let url = common::pg_url();
    let view = format!("kestrel_failures_slow_pg_{}", std::process::id());
    ctrl_c_on_a_server(
        &url,
        &view,
        &format!(
            "CREATE VIEW \"{view}\" AS SELECT 'x'::text AS \"process.name\", s AS \"process.pid\" \
             FROM generate_series(1, 10) s, pg_sleep(60) z"
        ),
        &format!("DROP VIEW IF EXISTS \"{view}\""),
    );
}

/// PostgreSQL, with the summary on, for a variable too large to keep: its count runs on a
/// second connection beside the DISP (both would sleep for a minute). Ctrl-C stops both
/// on the server: exit 130, and no statement of kestrel's is left running there. Both
/// kinds of count: the server's own (the planner expects few entities), and the rows
/// sent to kestrel to count (it expects more than `work_mem` holds: a table of 300,000
/// distinct pids behind the view).
#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_count_beside_the_hunt_on_postgres_too() {
    let url = common::pg_url();
    let view = format!("kestrel_failures_slow_beside_{}", std::process::id());
    let table = format!("kestrel_failures_many_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS \"{table}\";\n\
             CREATE TABLE \"{table}\" AS SELECT 'x'::text AS \"process.name\", s AS \"process.pid\" \
             FROM generate_series(1, 300000) s;\n\
             ANALYZE \"{table}\";"
        ))
        .unwrap();
    let few = "SELECT 'x'::text AS \"process.name\", s AS \"process.pid\" \
               FROM generate_series(1, 1000000) s, pg_sleep(60) z"
        .to_string();
    let many = format!("SELECT t.* FROM \"{table}\" t, pg_sleep(60) z");
    for (kind, select) in [("the server's count", few), ("counted as sent", many)] {
        admin
            .batch_execute(&format!(
                "DROP VIEW IF EXISTS \"{view}\";\nCREATE VIEW \"{view}\" AS {select}"
            ))
            .unwrap();
        // The planner's distinct pids: what decides which count runs.
        let explain =
            format!("EXPLAIN (FORMAT JSON) SELECT DISTINCT \"process.pid\" FROM \"{view}\"");
        let plan = admin
            .simple_query(&explain)
            .unwrap()
            .into_iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
                _ => None,
            })
            .unwrap();
        let planned: serde_json::Value = serde_json::from_str(&plan).unwrap();
        let groups = planned[0]["Plan"]["Plan Rows"].as_f64().unwrap();
        assert_eq!(
            groups > 100_000.0,
            kind == "counted as sent",
            "{kind}: {groups}"
        );
        let (_dir, config, hunt_path) = slow_source(
            "ctrlc-beside",
            &url,
            &view,
            "p = GET process FROM x://slow WHERE pid > 0\nDISP p ATTR pid\nEXPLAIN p\n",
        );
        let running = |admin: &mut postgres::Client| -> i64 {
            admin
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' \
                     AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
                    &[&view],
                )
                .unwrap()
                .get(0)
        };
        // Ctrl-C once both statements run on the server: the DISP's and the count's.
        let mut both = 0;
        let out = run_and_interrupt_after(&config, &hunt_path, &[], || {
            let start = Instant::now();
            both = running(&mut admin);
            while both < 2 && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(50));
                both = running(&mut admin);
            }
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            both, 2,
            "{kind}: the DISP and the count beside it: {stderr}"
        );
        assert_eq!(out.status.code(), Some(130), "{kind}: {stderr}");
        // The server may take a moment to end a cancelled statement.
        let start = Instant::now();
        let mut left = running(&mut admin);
        while left > 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(100));
            left = running(&mut admin);
        }
        admin
            .batch_execute(&format!("DROP VIEW IF EXISTS \"{view}\""))
            .unwrap();
        assert_eq!(
            left, 0,
            "{kind}: statements of kestrel's still running: {stderr}"
        );
    }
    admin
        .batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .unwrap();
}

/// MySQL/MariaDB: `KILL QUERY` from a second session.
#[cfg(unix)]
#[test]
fn ctrl_c_cancels_a_mariadb_statement_on_the_server() {
    let url = common::my_url();
    let view = format!("kestrel_failures_slow_my_{}", std::process::id());
    ctrl_c_on_a_server(
        &url,
        &view,
        &format!(
            "CREATE VIEW `{view}` AS SELECT 'x' AS `process.name`, SLEEP(60) AS `process.pid`"
        ),
        &format!("DROP VIEW IF EXISTS `{view}`"),
    );
}

/// MS SQL Server, when `KESTREL_TEST_MSSQL_URL` names one (a login that may create views;
/// without it this test is listed as ignored): `KILL` of kestrel's session from a
/// second connection, then its own connection closed. The view scans a cross join of
/// `sys.all_objects` with itself four times for a name no row has, so it runs until it is
/// stopped.
#[cfg(unix)]
#[test]
#[cfg_attr(
    not(kestrel_mssql),
    ignore = "no MS SQL Server: set KESTREL_TEST_MSSQL_URL to run it"
)]
fn ctrl_c_stops_an_mssql_statement_on_the_server() {
    let url = std::env::var("KESTREL_TEST_MSSQL_URL")
        .expect("KESTREL_TEST_MSSQL_URL names the MS SQL Server for this test");
    let view = format!("kestrel_failures_slow_ms_{}", std::process::id());
    ctrl_c_on_a_server(
        &url,
        &view,
        &format!(
            "CREATE VIEW [{view}] AS SELECT 'y' AS [process.name], a.object_id AS [process.pid] \
             FROM sys.all_objects a CROSS JOIN sys.all_objects b \
             CROSS JOIN sys.all_objects c CROSS JOIN sys.all_objects d"
        ),
        &format!("DROP VIEW IF EXISTS [{view}]"),
    );
}
