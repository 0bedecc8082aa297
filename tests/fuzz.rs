//! The compile path never panics, hangs or reports an error without a place in the hunt:
//! a few thousand generated hunts (see `fuzz_support`), and every input kept in
//! `tests/fuzz_corpus/` (inputs that once broke something, and a few that probe limits).
//!
//! The long run is `cargo run --release --example fuzz -- --minutes 30`; a case it finds
//! is saved under `target/fuzz/` and belongs in `tests/fuzz_corpus/` once fixed.

mod fuzz_support;

use std::sync::mpsc;
use std::time::Duration;

use fuzz_support::{case, check, check_run, Failure, FuzzLake};

/// Far more than any input needs (they take milliseconds): only a hang trips it.
const HANG: Duration = Duration::from_secs(60);

/// The binary's main thread has 8 MiB of stack; cases run on one that size.
const STACK: usize = 8 << 20;

/// Runs `check` on its own thread, so a hang is reported instead of waited for.
fn check_bounded(name: &str, text: String) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let label = name.to_string();
    std::thread::Builder::new()
        .stack_size(STACK)
        .name(label.clone())
        .spawn(move || {
            let _ = tx.send(check(&text));
        })
        .map_err(|e| e.to_string())?;
    match rx.recv_timeout(HANG) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(f)) => Err(format!("{label}: {f:?}")),
        Err(_) => Err(format!("{label}: no answer within {HANG:?}")),
    }
}

#[test]
fn generated_hunts_compile_or_fail_with_a_diagnostic() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let n: u64 = std::env::var("KESTREL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let mut failures = Vec::new();
    let mut compiled = 0;
    // One thread for the batch (a thread per case costs more than the case).
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            for seed in 0..n {
                let text = case(seed);
                let _ = tx.send((seed, text.clone(), check(&text)));
            }
        })
        .expect("spawn");
    let mut seen = 0;
    while seen < n {
        match rx.recv_timeout(HANG) {
            Ok((seed, text, r)) => {
                seen += 1;
                match r {
                    Ok(o) => compiled += usize::from(o.compiled),
                    Err(f) => failures.push(format!("seed {seed}: {f:?}\n--- input:\n{text}")),
                }
            }
            Err(_) => {
                failures.push(format!("seed {seen}: no answer within {HANG:?}"));
                break;
            }
        }
    }
    std::panic::set_hook(quiet);
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    // The generator must reach lowering and emission, not only the parser's errors.
    assert!(
        compiled as u64 * 40 >= n,
        "only {compiled} of {n} cases compiled: the generator drifted away from the grammar"
    );
}

#[test]
fn corpus_inputs_compile_or_fail_with_a_diagnostic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fuzz_corpus exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "the corpus is empty");
    let mut failures = Vec::new();
    for p in entries {
        let bytes = std::fs::read(&p).expect("read corpus file");
        // Invalid UTF-8 is the CLI's to reject; the compiler sees text.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Err(e) = check_bounded(&name, text) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn generated_hunts_run_on_sqlite_or_fail_with_a_diagnostic() {
    // Running covers what compiling alone does not: the catalog, shipping between
    // connections, temporary tables, counting, output.
    let n: u64 = std::env::var("KESTREL_FUZZ_RUN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let lake = FuzzLake::new("test");
            for seed in 0..n {
                // Data sources the lake has: the generator's URIs name `events` and `host101`.
                let text = case(seed + 7_000_000);
                let _ = tx.send((seed, text.clone(), check_run(&text, &lake)));
            }
        })
        .expect("spawn");
    let mut failures = Vec::new();
    let mut ran = 0;
    for _ in 0..n {
        match rx.recv_timeout(HANG) {
            Ok((seed, text, r)) => match r {
                Ok(o) => ran += usize::from(o.compiled),
                Err(f) => failures.push(format!("seed {seed}: {f:?}\n--- input:\n{text}")),
            },
            Err(_) => {
                failures.push(format!("no answer within {HANG:?}"));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    eprintln!("{ran} of {n} cases ran to the end");
    assert!(ran > 0, "no case ran to the end");
}

#[test]
fn mutations_do_not_change_for_a_seed() {
    // A failure is reported by seed: the same seed must give the same input.
    assert_eq!(case(42), case(42));
    assert_ne!(case(42), case(43));
}

#[allow(dead_code)]
fn _failure_is_debug(f: Failure) -> String {
    format!("{f:?}")
}
