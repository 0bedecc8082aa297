//! The long fuzz run over the compile path (see `tests/fuzz_support/mod.rs`).
//!
//! ```sh
//! cargo run --release --example fuzz -- --minutes 30            # from seed 0
//! cargo run --release --example fuzz -- --minutes 5 --seed 1000000
//! cargo run --release --example fuzz -- --replay target/fuzz/crash-123.hf
//! cargo run --release --example fuzz -- --minutes 10 --run   # run the cases on SQLite
//! ```
//!
//! A supervisor starts a worker process that runs cases one seed after another and
//! reports each seed before running it. A worker that dies (a stack overflow aborts, it
//! cannot be caught), stops answering (a hang: 20 s), or grows past 2 GiB of memory is
//! killed; its last case is saved to `target/fuzz/<kind>-<seed>.hf` and a new worker goes
//! on with the next seed. Failures the worker can catch (a panic, an error without a
//! span, SQL that does not parse back) are saved the same way. At the end it prints the
//! number of cases, the failures, and the peak memory of the workers.

#[path = "../tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fuzz_support::{case, check};

const HANG: Duration = Duration::from_secs(20);
const MEMORY_LIMIT_KB: u64 = 2 << 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(path) = arg("--replay") {
        let text = std::fs::read_to_string(&path).expect("read the case");
        // The binary's main thread: 8 MiB of stack.
        let r = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || check(&text))
            .expect("spawn")
            .join()
            .expect("join");
        println!("{r:?}");
        return;
    }
    let seed: u64 = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(0);
    if let Some(n) = arg("--stats").and_then(|s| s.parse::<u64>().ok()) {
        stats(seed, n);
        return;
    }
    let run = args.iter().any(|a| a == "--run");
    if args.iter().any(|a| a == "--worker") {
        worker(seed, run);
        return;
    }
    let minutes: f64 = arg("--minutes").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    supervise(seed, Duration::from_secs_f64(minutes * 60.0), run);
}

/// Runs cases from `seed` on, printing `seed` before and `ok`/`fail <text>` after each;
/// with `run`, runs them on a small SQLite lake instead of only compiling them.
fn worker(seed: u64, run_cases: bool) {
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::io::stdout();
    let run = move || {
        let lake = run_cases.then(|| fuzz_support::FuzzLake::new("worker"));
        let mut out = out.lock();
        for s in seed.. {
            let text = case(s);
            let _ = writeln!(out, "seed {s}");
            let _ = out.flush();
            let result = match &lake {
                Some(lake) => fuzz_support::check_run(&text, lake),
                None => check(&text),
            };
            match result {
                Ok(o) => {
                    let _ = writeln!(out, "ok {}", u8::from(o.compiled));
                }
                Err(f) => {
                    let msg = format!("{f:?}").replace('\n', "\\n");
                    let _ = writeln!(out, "fail {msg}");
                }
            }
        }
    };
    let h = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(run)
        .expect("spawn");
    let _ = h.join();
}

fn save_case(kind: &str, seed: u64, detail: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{seed}.hf"));
    let _ = std::fs::write(&path, case(seed));
    let _ = std::fs::write(path.with_extension("txt"), detail);
    path
}

/// Peak resident memory of a process, in KiB.
fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn supervise(mut seed: u64, budget: Duration, run: bool) {
    let started = Instant::now();
    let exe = std::env::current_exe().expect("own path");
    let mut cases = 0u64;
    let mut compiled = 0u64;
    let mut failures: Vec<String> = Vec::new();
    let mut peak = 0u64;
    let mut restarts = 0u64;
    while started.elapsed() < budget {
        let mut worker_args = vec!["--worker".to_string(), "--seed".into(), seed.to_string()];
        if run {
            worker_args.push("--run".into());
        }
        let mut child = Command::new(&exe)
            .args(&worker_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a worker");
        let pid = child.id();
        let stdout = child.stdout.take().expect("worker stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut current: Option<u64> = None;
        let ended = loop {
            if started.elapsed() >= budget {
                break None;
            }
            if let Some(kb) = peak_kb(pid) {
                peak = peak.max(kb);
                if kb > MEMORY_LIMIT_KB {
                    break Some("memory");
                }
            }
            match rx.recv_timeout(HANG) {
                Ok(Ok(line)) => {
                    if let Some(s) = line.strip_prefix("seed ") {
                        current = s.parse().ok();
                    } else if let Some(c) = line.strip_prefix("ok ") {
                        cases += 1;
                        compiled += u64::from(c == "1");
                        if let Some(s) = current.take() {
                            seed = s + 1;
                        }
                    } else if let Some(msg) = line.strip_prefix("fail ") {
                        cases += 1;
                        if let Some(s) = current.take() {
                            let p = save_case("fail", s, msg);
                            failures.push(format!("seed {s}: {} ({})", short(msg), p.display()));
                            seed = s + 1;
                        }
                    }
                }
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => break Some("crash"),
                Err(mpsc::RecvTimeoutError::Timeout) => break Some("hang"),
            }
        };
        let _ = child.kill();
        let status = child.wait().ok();
        match (ended, current) {
            (Some(kind), Some(s)) => {
                cases += 1;
                let detail = format!("{kind}: worker ended with {status:?}");
                let p = save_case(kind, s, &detail);
                failures.push(format!("seed {s}: {detail} ({})", p.display()));
                seed = s + 1;
                restarts += 1;
            }
            (Some(_), None) => restarts += 1,
            (None, _) => {}
        }
        if restarts > 1_000 {
            eprintln!("too many worker restarts; stopping");
            break;
        }
    }
    println!(
        "fuzz: {cases} cases in {:.1} min (seeds up to {seed}), {compiled} compiled without error, \
         {} failures, peak worker memory {} MiB",
        started.elapsed().as_secs_f64() / 60.0,
        failures.len(),
        peak / 1024
    );
    for f in &failures {
        println!("  {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

/// How the cases from `seed` on end: compiled, or the first diagnostic's code and message
/// (numbers and quoted names blurred), most frequent first; to keep the generator honest.
fn stats(seed: u64, n: u64) {
    use std::collections::HashMap;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for s in seed..seed + n {
        let text = case(s);
        let src = kestrel::source::SourceFile::new("fuzz.hf", text.as_str());
        let key = match kestrel::compile_program(
            &src,
            kestrel::lower::LowerOptions {
                config: None,
                catalog: None,
                now: fuzz_support::FIXED_NOW,
            },
        ) {
            Ok(_) => "compiled".to_string(),
            Err(d) => {
                // FUZZ_RAW=1: the messages as they are, with the text at the span.
                let msg: String = if std::env::var("FUZZ_RAW").is_ok() {
                    format!(
                        "{} @ {:?}",
                        d.message,
                        d.span.map(|s| src.text[s.start.min(src.text.len())..]
                            .chars()
                            .take(30)
                            .collect::<String>())
                    )
                } else {
                    d.message
                        .split('`')
                        .step_by(2)
                        .collect::<Vec<_>>()
                        .join("_")
                };
                format!(
                    "{} {}",
                    d.code.as_str(),
                    msg.chars().take(120).collect::<String>()
                )
            }
        };
        *counts.entry(key).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
    for (k, c) in v.iter().take(40) {
        println!("{c:>7} {k}");
    }
}

fn short(msg: &str) -> String {
    msg.chars().take(300).collect()
}
