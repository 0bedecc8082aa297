//! Stopping statements on a Ballista cluster (a scheduler and two executors, separate
//! `kestrel-ballista` processes): a statement stopped by its time limit or by Ctrl-C has
//! its job cancelled at the scheduler, so the executors' task slots are free for the next
//! statement at once; the stopped job alone would hold them for minutes.
//!
//! Alone in its test binary: Ctrl-C is a process-wide request ([`cancel::request`], what
//! the SIGINT handler calls), which would stop other tests' statements too. The same
//! hunts' answers on a cluster are in `tests/backends.rs` and `tests/seed_hunts.rs`.

#![cfg(feature = "ballista")]

mod common;

use std::time::{Duration, Instant};

use kestrel::backend::{self, cancel, Backend, BackendError, Collect, OpenOptions};
use kestrel::sql::SqlStatement;
use kestrel::value::Value;

const ROWS: i64 = 300_000;

fn sql(text: &str) -> SqlStatement {
    SqlStatement {
        sql: text.into(),
        params: vec![],
    }
}

/// 4.5·10^10 joined pairs, counted: minutes of work on both executors.
const HUGE_JOIN: &str = "SELECT COUNT(*) FROM \"big\" AS a JOIN \"big\" AS b \
                         ON a.\"process.pid\" % 2 = b.\"process.pid\" % 2";

#[test]
fn a_stopped_statement_has_its_job_cancelled_on_the_cluster() {
    // One task at a time per executor: a job left running would hold both.
    let cluster = common::cluster::Cluster::start("cancel", 2, 1);
    let dir = common::fresh_dir("ballista", "big");
    common::big_parquet_table(&dir, ROWS);
    let mut b = backend::open(&cluster.url(&dir), &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(b.columns("big").unwrap().unwrap().len(), 3);
    let count = |b: &mut Box<dyn Backend>| -> Duration {
        let started = Instant::now();
        let mut c = Collect::default();
        b.query(&sql("SELECT COUNT(*) FROM \"big\""), &mut c)
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
        assert_eq!(c.rows, vec![vec![Value::Int(ROWS)]]);
        started.elapsed()
    };
    // The cluster answers, and how long a small job takes on it.
    let small = count(&mut b);
    // An executor stops a cancelled task where the task next yields, which a CPU-bound
    // join stage may take tens of seconds to reach on a loaded machine (seen: 26 s); the
    // job left running holds the slots for minutes (seen: 160 s).
    let free = |b: &mut Box<dyn Backend>, how: &str| {
        let waited = count(b);
        assert!(
            waited < small + Duration::from_secs(75),
            "after {how}, the next job waited {waited:?} (a small one takes {small:?}): \
             the stopped job still runs\n{}",
            cluster.logs()
        );
    };

    // The connection's statement_timeout.
    b.set_statement_timeout(Some(Duration::from_secs(2)));
    let started = Instant::now();
    let err = b
        .query(&sql(HUGE_JOIN), &mut Collect::default())
        .expect_err("the join must be stopped");
    assert!(matches!(err, BackendError::Timeout(2)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "stopped after {:?}",
        started.elapsed()
    );
    b.set_statement_timeout(None);
    free(&mut b, "the time limit");

    // Ctrl-C (the SIGINT handler's request), two seconds in.
    let ctrl_c = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(2));
        cancel::request();
    });
    let started = Instant::now();
    let err = b
        .query(&sql(HUGE_JOIN), &mut Collect::default())
        .expect_err("the join must be stopped");
    ctrl_c.join().unwrap();
    cancel::clear();
    assert!(matches!(err, BackendError::Cancelled), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "stopped after {:?}",
        started.elapsed()
    );
    free(&mut b, "Ctrl-C");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scheduler that is not there is an error when the connection opens, naming it.
#[test]
fn an_unreachable_scheduler_is_an_error_at_open() {
    let dir = common::fresh_dir("ballista", "nobody");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ballista://127.0.0.1:{port}{}", dir.display());
    let err = backend::open(&url, &OpenOptions::default())
        .err()
        .expect("nobody listens there");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "no Ballista scheduler answers at 127.0.0.1:{port}"
        )),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
