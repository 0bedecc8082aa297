//! Timings of hunts at scale (`tests/scale.rs` checks they finish and are right; CI
//! machines vary too much to assert times there).
//!
//! ```sh
//! cargo run --release --example scale
//! ```
//!
//! Prints, per case, the time to compile (parse, lower, emit SQLite SQL for every output)
//! and, where a database is needed, to run on a small SQLite lake; then the peak memory.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use kestrel::config::Config;
use kestrel::lower::LowerOptions;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use kestrel::sql::{Dialect, LiteralMode};

fn compile(name: &str, hunt: &str) {
    let src = SourceFile::new(name, hunt);
    let t = Instant::now();
    let program = kestrel::compile_program(&src, LowerOptions::default());
    let lowered = t.elapsed();
    let statements = match &program {
        Ok(p) => kestrel::output_sql(p, &Dialect::builtin("sqlite").unwrap(), LiteralMode::Bind)
            .map(|o| o.len())
            .unwrap_or(0),
        Err(_) => 0,
    };
    println!(
        "{name:<44} compile {:>8.1} ms (lower {:>8.1} ms), {statements} outputs{}",
        t.elapsed().as_secs_f64() * 1e3,
        lowered.as_secs_f64() * 1e3,
        if program.is_err() { ", error" } else { "" }
    );
}

fn run(name: &str, config: &Config, hunt: &str) {
    let src = SourceFile::new(name, hunt);
    let mut printer = Printer::new(std::io::sink(), Format::Csv);
    let t = Instant::now();
    let r = run_hunt(
        &src,
        Some(config),
        &mut printer,
        &mut std::io::sink(),
        &RunOptions { summary: false },
    );
    println!(
        "{name:<44} run     {:>8.1} ms{}",
        t.elapsed().as_secs_f64() * 1e3,
        match r {
            Ok(_) => String::new(),
            Err(d) => format!(" (error: {})", d.message),
        }
    );
}

fn peak_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

fn main() {
    let dir = common::fresh_dir("scale", "bench");
    let db = dir.join("lake.db");
    common::ingest_ecs_fixture(&db);
    let config = Config::from_yaml_str(
        &format!(
            "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n",
            db.display()
        ),
        None,
    )
    .unwrap();

    let get = "sqlite://events";
    let mut reassign = format!("v = GET process FROM {get} WHERE pid > 0\n");
    for i in 0..10_000 {
        reassign.push_str(&format!("v = v WHERE pid != {i}\n"));
    }
    reassign.push_str("DISP v ATTR pid\n");
    compile("10,000 re-assignments of one variable", &reassign);

    let mut distinct = String::new();
    for i in 0..10_000 {
        distinct.push_str(&format!("p{i} = GET process FROM {get} WHERE pid = {i}\n"));
    }
    distinct.push_str("DISP p9999 ATTR pid\n");
    compile("10,000 variables", &distinct);

    let mut long = String::new();
    for i in 0..10_000 {
        long.push_str(&match i % 100 {
            0 => format!("p{} = GET process FROM {get} WHERE pid >= 1000\n", i / 100),
            99 => format!("DISP p{} ATTR pid SORT BY pid ASC LIMIT 1\n", i / 100),
            k => format!("p{} = p{} WHERE pid != {}\n", i / 100, i / 100, 1025 + k),
        });
    }
    compile("10,000 statements, 100 displays", &long);
    run("10,000 statements, 100 displays", &config, &long);

    let terms: Vec<String> = (0..10_000).map(|i| format!("name LIKE '%x{i}%'")).collect();
    let or = format!(
        "v = GET process FROM {get} WHERE {}\nDISP v ATTR pid\n",
        terms.join(" OR ")
    );
    compile("10,000-term OR chain", &or);
    run("10,000-term OR chain", &config, &or);

    let csv = dir.join("known.csv");
    let mut text = String::from("name\n");
    for i in 0..100_000 {
        text.push_str(&format!("proc-{i}.exe\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let refs = format!(
        "known = LOAD {} AS process\nhits = GET process FROM {get} WHERE name IN known.name\nDISP hits ATTR pid\n",
        csv.display()
    );
    compile("reference to 100,000 LOADed values", &refs);
    run("reference to 100,000 LOADed values", &config, &refs);

    println!("peak memory {} MiB", peak_mib());
    let _ = std::fs::remove_dir_all(&dir);
}
