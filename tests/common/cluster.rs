//! A Ballista cluster for the tests: one scheduler and `n` executors, each a separate
//! `kestrel-ballista` process on 127.0.0.1 (ports the system hands out), gone when the
//! [`Cluster`] is dropped (or, should the test process die, with it).

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Cluster {
    children: Vec<Child>,
    /// The scheduler's port.
    pub port: u16,
    /// Where the processes' logs and the executors' work directories are.
    dir: PathBuf,
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something listens on `port` (or panics after `limit`).
fn wait_for(port: u16, what: &str, limit: Duration, log: &Path) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > limit {
            panic!(
                "{what} does not listen on port {port} after {limit:?}; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Cluster {
    /// Starts a scheduler and `executors` executors, each running `tasks` tasks at once,
    /// and waits until every one listens.
    pub fn start(tag: &str, executors: usize, tasks: usize) -> Cluster {
        Cluster::start_on(tag, executors, tasks, false)
    }

    /// As [`Cluster::start`]; with `pinned`, executor `i` (and every thread it starts) runs
    /// on processor `i` alone (modulo the processors there are), so that one executor is
    /// one core and two executors are two, whatever the machine: how the bench measures
    /// scaling on a small machine. The scheduler is not pinned.
    pub fn start_on(tag: &str, executors: usize, tasks: usize, pinned: bool) -> Cluster {
        let dir = super::fresh_dir("ballista-cluster", tag);
        // Cargo names the binary to tests and benchmarks; elsewhere (an example built
        // with the test helpers) it is beside the running program's directory.
        let bin = option_env!("CARGO_BIN_EXE_kestrel-ballista")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let exe = std::env::current_exe().expect("the running program");
                let dir = exe.parent().and_then(Path::parent).expect("target dir");
                dir.join("kestrel-ballista")
            });
        let spawn = |args: Vec<String>, log: &Path, cpu: Option<usize>| -> Child {
            let out = std::fs::File::create(log).expect("log file");
            let err = out.try_clone().expect("log file");
            let mut cmd = Command::new(&bin);
            cmd.args(&args)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .env(
                    "RUST_LOG",
                    std::env::var("KESTREL_TEST_BALLISTA_LOG").unwrap_or_else(|_| "warn".into()),
                );
            // Killed with the test process, however it ends; pinned to `cpu`, if given
            // (tokio then starts one worker: it sizes its pool by the affinity).
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if let Some(cpu) = cpu {
                        let mut set: libc::cpu_set_t = std::mem::zeroed();
                        libc::CPU_SET(cpu, &mut set);
                        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
            cmd.spawn().expect("kestrel-ballista starts")
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let port = free_port();
        let mut cluster = Cluster {
            children: vec![],
            port,
            dir: dir.clone(),
        };
        let log = dir.join("scheduler.log");
        cluster.children.push(spawn(
            vec![
                "scheduler".into(),
                "--bind".into(),
                format!("127.0.0.1:{port}"),
            ],
            &log,
            None,
        ));
        wait_for(port, "the scheduler", Duration::from_secs(60), &log);
        for i in 0..executors {
            let (flight, grpc) = (free_port(), free_port());
            let work = dir.join(format!("executor-{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let log = dir.join(format!("executor-{i}.log"));
            cluster.children.push(spawn(
                vec![
                    "executor".into(),
                    "--scheduler".into(),
                    format!("127.0.0.1:{port}"),
                    "--port".into(),
                    flight.to_string(),
                    "--grpc-port".into(),
                    grpc.to_string(),
                    "--concurrent-tasks".into(),
                    tasks.to_string(),
                    "--work-dir".into(),
                    work.display().to_string(),
                ],
                &log,
                pinned.then_some(i % cpus),
            ));
            wait_for(flight, "an executor", Duration::from_secs(60), &log);
        }
        cluster
    }

    /// The connection URL of this cluster over the tables in `dir`.
    pub fn url(&self, dir: &Path) -> String {
        format!("ballista://127.0.0.1:{}{}", self.port, dir.display())
    }

    /// Every process's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "log"))
        {
            out.push_str(&format!(
                "--- {}\n{}\n",
                f.display(),
                std::fs::read_to_string(f).unwrap_or_default()
            ));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
