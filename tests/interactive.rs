//! Interactive hunting, driven as people and Jupyter drive it: `kestrel repl` through a
//! pseudo-terminal (pexpect), the kernel through the real `jupyter_client`, and the
//! tutorial notebook executed headless with `nbclient`. The drivers are Python scripts in
//! `tests/interactive/`; Python comes from `KESTREL_TEST_PYTHON` (default: the repo's
//! `.venv`, which `.ci/run` creates from `requirements-dev.txt`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The test virtualenv's Python (see `common::python`).
fn python() -> PathBuf {
    common::python()
}

fn driver(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interactive")
        .join(name)
}

/// Runs a driver script; fails the test with its output unless it exits 0.
fn run_driver(script: &str, args: &[&std::ffi::OsStr], envs: &[(&str, &std::ffi::OsStr)]) {
    let mut cmd = Command::new(python());
    cmd.arg(driver(script)).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the Python driver");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    eprintln!("{stdout}");
}

/// A lake with the ECS fixture (`events`) and a view that never ends (`slow`: a
/// recursive CTE, reachable only as a table), and a configuration naming both.
fn lake(dir: &Path) -> PathBuf {
    let db = dir.join("lake.db");
    common::ingest_ecs_fixture(&db);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        r#"CREATE VIEW slow AS
             WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c)
             SELECT '2024-07-08T00:00:01.000000Z' AS "@timestamp", i AS "process.pid",
                    'x' AS "process.name"
             FROM c;"#,
    )
    .unwrap();
    drop(conn);
    let config = dir.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n  slow:\n    connection: lake\n    table: slow\n    timestamp: \"@timestamp\"\n\
             analytics:\n  python: '{}'\n  python_profiles: '{}'\n",
            db.display(),
            python().display(),
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("analytics/pythonanalytics.yaml")
                .display()
        ),
    )
    .unwrap();
    config
}

#[cfg(unix)]
#[test]
fn repl_in_a_pseudo_terminal() {
    let dir = common::fresh_dir("interactive", "repl");
    let config = lake(&dir);
    let state = dir.join("state");
    run_driver(
        "repl.py",
        &[
            env!("CARGO_BIN_EXE_kestrel").as_ref(),
            config.as_os_str(),
            state.as_os_str(),
        ],
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn jupyter_kernel_with_jupyter_client() {
    let dir = common::fresh_dir("interactive", "kernel");
    let config = lake(&dir);
    run_driver(
        "kernel.py",
        &[
            env!("CARGO_BIN_EXE_kestrel").as_ref(),
            config.as_os_str(),
            dir.as_os_str(),
        ],
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tutorial notebook on the shipped sample (examples/data, examples/kestrel.yaml).
#[cfg(unix)]
#[test]
fn tutorial_notebook_runs_headless() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = common::fresh_dir("interactive", "notebook");
    std::fs::create_dir_all(dir.join("target")).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples/data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    kestrel::ingest::ingest(&kestrel::ingest::IngestOptions {
        files,
        into: format!("sqlite:///{}", dir.join("target/demo-lake.db").display()),
        table: "winevents".into(),
        ..Default::default()
    })
    .expect("ingest the sample");
    let config = root.join("examples/kestrel.yaml");
    run_driver(
        "notebook.py",
        &[
            env!("CARGO_BIN_EXE_kestrel").as_ref(),
            root.join("examples/tutorial.ipynb").as_os_str(),
            dir.as_os_str(),
        ],
        &[
            ("KESTREL_CONFIG", config.as_os_str()),
            ("KESTREL_ANALYTICS_PYTHON", python().as_os_str()),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C in the REPL on a live backend: a PostgreSQL view that sleeps for a minute is
/// stopped on the server (its cancel request), and the session goes on.
#[cfg(unix)]
#[test]
fn repl_ctrl_c_on_postgres() {
    let url = common::pg_url();
    let view = format!("i18_slow_repl_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL");
    common::pg_sleeping_view(&mut admin, &view);
    let dir = common::fresh_dir("interactive", "repl-pg");
    let config = dir.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!(
            "connections:\n  pg:\n    url: {url}\ndatasources:\n  slow:\n    connection: pg\n    table: {view}\n    timestamp: \"@timestamp\"\n"
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let started = std::time::Instant::now();
    let result = std::panic::catch_unwind(|| {
        run_driver(
            "repl.py",
            &[
                env!("CARGO_BIN_EXE_kestrel").as_ref(),
                config.as_os_str(),
                state.as_os_str(),
                "--only-interrupt".as_ref(),
            ],
            &[],
        )
    });
    let _ = admin.batch_execute(&format!("DROP VIEW IF EXISTS \"{view}\""));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    // Well under the view's minute of sleep: the server statement was cancelled.
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
}

/// The `kestrel` process runs without transparent huge pages (`use_small_os_pages`): a
/// REPL waiting for its input says so in its status.
#[cfg(target_os = "linux")]
#[test]
fn kestrel_runs_without_huge_pages() {
    // The child inherits this process's setting: start it with huge pages allowed, so
    // that only the binary itself can turn them off.
    kestrel::use_large_os_pages();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("repl")
        .env("XDG_STATE_HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    // The flag is set first thing in main: wait until the process is past its start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        seen = text
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:"))
            .map(|v| v.trim().to_string());
        if seen.as_deref() == Some("0") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // Reported since Linux 5.0.
    assert_eq!(seen.as_deref(), Some("0"));
}

/// Piped into, the REPL reads statements over several lines, goes on after an error,
/// reports a last statement left incomplete, and exits 1 when anything failed.
#[test]
fn repl_reads_piped_input() {
    use std::io::Write as _;
    let run = |input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .arg("repl")
            .env("XDG_STATE_HOME", std::env::temp_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("x = NEW process [ {\"name\": \"a.exe\"}\n  , {\"name\": \"b.exe\"} ]\nDISP nosuch\nDISP x ATTR name SORT BY name ASC\n.vars\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[K0301]: unknown variable `nosuch`"),
        "{stderr}"
    );
    assert!(stdout.contains(" name\na.exe\nb.exe\n"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["x", "process", "2", "2"]),
        "{stdout}"
    );
    let out = run("x = NEW process [ {\"name\": \"a\"}\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ends in the middle of a statement"),
        "{stderr}"
    );
    let out = run("x = NEW process [ {\"name\": \"a\"} ]\n.quit\nDISP nosuch\n");
    assert_eq!(out.status.code(), Some(0));
}

/// `kestrel jupyter install`: `--user` in the user's Jupyter data directory,
/// `--sys-prefix` in the active virtualenv's `share/jupyter`; the kernelspec runs this
/// executable, and the labextension goes beside it.
#[test]
fn jupyter_install_targets() {
    let dir = common::fresh_dir("interactive", "install");
    let install = |args: &[&str], env: (&str, &Path)| {
        let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .args(["jupyter", "install"])
            .args(args)
            .env(env.0, env.1)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let user = dir.join("user-data");
    install(&[], ("JUPYTER_DATA_DIR", &user));
    install(&["--user"], ("JUPYTER_DATA_DIR", &user));
    let venv = dir.join("venv");
    install(&["--sys-prefix"], ("VIRTUAL_ENV", &venv));
    for data in [user, venv.join("share/jupyter")] {
        let spec: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(data.join("kernels/kestrel/kernel.json")).unwrap(),
        )
        .unwrap();
        let exe = Path::new(env!("CARGO_BIN_EXE_kestrel"))
            .canonicalize()
            .unwrap();
        assert_eq!(spec["argv"][0], exe.to_string_lossy().as_ref());
        assert_eq!(spec["display_name"], "Kestrel");
        let lab = data.join("labextensions/kestrel-jupyterlab/package.json");
        assert!(lab.is_file(), "{}", lab.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
