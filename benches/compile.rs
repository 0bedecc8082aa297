//! Compile-time benchmark: a realistic 20-statement hunt, parsed, lowered and emitted as
//! SQL for every output, many times over. Prints the mean and best time per hunt and per
//! statement. Run with `cargo bench --bench compile`.
//!
//! Then IOC lists written into a hunt (`… -- ioc`): an `IN` list, an `OR` chain and a
//! `NEW` of 10,000 to 1,000,000 values, timed per stage (parse, lower and optimise, emit
//! with bound parameters), so that a stage whose time grows faster than the list shows.
//! Targets: 100,000 values in under 0.3 s, 1,000,000 in under 3 s.

use std::time::{Duration, Instant};

use kestrel::diag::Diagnostic;
use kestrel::ir::DataSource;
use kestrel::lower::{Catalog, LowerOptions};

#[path = "lakegen/mod.rs"]
#[allow(dead_code)]
mod lakegen;

// The same allocator as the `kestrel` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use kestrel::source::SourceFile;
use kestrel::sql::{Dialect, LiteralMode};

const HUNT: &str = r#"
# A realistic hunt: suspicious PowerShell, what it started, what those did on the network.
psh = GET process FROM stixshifter://events
      WHERE [process:name IN ('powershell.exe', 'pwsh.exe') AND process:command_line LIKE '%-enc%']
      START t'2021-05-06T00:00:00Z' STOP t'2021-05-07T00:00:00Z'
kids = FIND process CREATED BY psh
parents = FIND process CREATED psh
traffic = FIND network-traffic CREATED BY kids
files = FIND file CREATED BY kids
regs = FIND windows-registry-key CREATED BY psh
evts = FIND event ORIGINATED BY psh
shells = GET process FROM kids WHERE name IN ('cmd.exe', 'powershell.exe') OR cmd_line MATCHES '(?i)invoke-'
office = GET process FROM stixshifter://events WHERE parent_ref.name IN ('winword.exe', 'excel.exe') AND name = 'cmd.exe'
        LAST 7 DAYS
lateral = GET network-traffic FROM stixshifter://events WHERE dst_port IN (445, 3389, 5985) AND dst_ref.value ISSUBSET '10.0.0.0/8'
remote = kids WHERE cmd_line LIKE '%\\\\%' ATTR name, pid, cmd_line SORT BY pid DESC LIMIT 50
both = shells + office
sorted = SORT both BY pid ASC
DISP psh ATTR name, pid, command_line, parent_ref.name
DISP kids ATTR name, pid SORT BY name ASC LIMIT 20
DISP traffic ATTR src_ref.value, src_port, dst_ref.value, dst_port
INFO parents
DESCRIBE kids.pid
EXPLAIN lateral
DISP sorted ATTR name, pid
"#;

/// A catalog that knows one table layout (what `kestrel run` reads from the database).
struct Columns(Vec<String>);

impl Catalog for Columns {
    fn columns(&mut self, _: &DataSource) -> Result<Option<Vec<String>>, Diagnostic> {
        Ok(Some(self.0.clone()))
    }
}

/// A hunt holding `n` values in one of the shapes an IOC list takes.
fn ioc_hunt(shape: &str, n: usize) -> String {
    let values = (0..n).map(|i| format!("'ioc-{i}.example.com'"));
    match shape {
        "IN list" => format!(
            "p = GET process FROM x://events WHERE name IN ({})\nDISP p\n",
            values.collect::<Vec<_>>().join(", ")
        ),
        "OR chain" => format!(
            "p = GET process FROM x://events WHERE {}\nDISP p\n",
            values
                .map(|v| format!("name = {v}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        ),
        _ => format!(
            "iocs = NEW process [{}]\np = GET process FROM x://events WHERE name = iocs.name\nDISP p\n",
            (0..n)
                .map(|i| format!("\"ioc-{i}.example.com\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Times each stage of compiling IOC lists of growing size (see the module's notes).
fn ioc_lists(dialect: &Dialect, sizes: &[usize]) {
    let model = kestrel::model().expect("model");
    // KESTREL_BENCH_IOC_SHAPE=IN (or OR, NEW) times one shape only.
    let only = std::env::var("KESTREL_BENCH_IOC_SHAPE").unwrap_or_default();
    for shape in ["IN list", "OR chain", "NEW and a reference"] {
        if !shape.starts_with(only.as_str()) {
            continue;
        }
        println!("compile, IOC list as {shape} (sqlite, bound parameters):");
        let mut previous: Option<(usize, f64)> = None;
        for &n in sizes {
            let text = ioc_hunt(shape, n);
            let src = SourceFile::new("ioc.hf", &text);
            let cpu0 = cpu_seconds();
            let t0 = Instant::now();
            let hunt = kestrel::syntax::parse(&src).expect("parses");
            let t1 = Instant::now();
            let program = kestrel::lower::lower(
                &hunt,
                &src,
                model,
                LowerOptions {
                    now: 1_620_259_200_000_000,
                    ..LowerOptions::default()
                },
            )
            .expect("lowers");
            let program = kestrel::opt::fold_program(program);
            let t2 = Instant::now();
            let out = kestrel::output_sql(&program, dialect, LiteralMode::Bind).expect("emits");
            let t3 = Instant::now();
            drop((hunt, program));
            let t4 = Instant::now();
            let cpu = cpu_seconds() - cpu0;
            let total = (t4 - t0).as_secs_f64();
            let params: usize = out
                .iter()
                .flat_map(|o| o.statements.iter())
                .map(|s| s.params.len())
                .max()
                .unwrap_or(0);
            let growth = previous
                .map(|(m, t)| {
                    format!(
                        ", {:.2}× the time for {:.0}× the values",
                        total / t,
                        n as f64 / m as f64
                    )
                })
                .unwrap_or_default();
            println!(
                "  {n:>9} values: {:8.1} ms, {:.1} ms of CPU (parse {:.1}, lower and optimise {:.1}, emit {:.1}, free {:.1}), {params} parameters{growth}",
                total * 1e3,
                cpu * 1e3,
                (t1 - t0).as_secs_f64() * 1e3,
                (t2 - t1).as_secs_f64() * 1e3,
                (t3 - t2).as_secs_f64() * 1e3,
                (t4 - t3).as_secs_f64() * 1e3,
            );
            previous = Some((n, total));
        }
    }
}

/// CPU time this process has used (user and system), in seconds: on a shared machine
/// the wall-clock times above include waiting for a core.
fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
            return secs(u.ru_utime) + secs(u.ru_stime);
        }
    }
    f64::NAN
}

fn main() {
    kestrel::use_large_os_pages();
    let dialect = Dialect::builtin("sqlite").expect("sqlite dialect");
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if filter.iter().all(|f| "ioc".contains(f.as_str())) {
        // KESTREL_BENCH_IOC_MAX=100000 stops at that size (and KESTREL_BENCH_IOC_SHAPE
        // picks one shape, see ioc_lists).
        let max: usize = std::env::var("KESTREL_BENCH_IOC_MAX")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let sizes: Vec<usize> = [10_000, 100_000, 1_000_000]
            .into_iter()
            .filter(|&n| n <= max)
            .collect();
        ioc_lists(&dialect, &sizes);
    }
    let src = SourceFile::new("bench.hf", HUNT);
    let statements = HUNT
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#') && !l.starts_with(' ')
        })
        .count();
    // KESTREL_BENCH_RUNS=20 for a quick look (e.g. under valgrind --tool=callgrind).
    let runs: u32 = std::env::var("KESTREL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let typical: Vec<String> = lakegen::COLUMNS.iter().map(|c| c.to_string()).collect();
    for (label, table) in [
        (
            "no catalog: every column the ECS mapping names is assumed present",
            None,
        ),
        (
            "catalog of a typical ECS table (benches/lakegen, 32 columns)",
            Some(typical),
        ),
    ] {
        // `cargo bench --bench compile -- typical` runs only the settings whose label
        // contains the word.
        if !filter.iter().all(|f| label.contains(f.as_str())) {
            continue;
        }
        let once = || {
            let mut catalog = table.clone().map(Columns);
            let program = kestrel::compile_program(
                &src,
                LowerOptions {
                    now: 1_620_259_200_000_000,
                    catalog: catalog.as_mut().map(|c| c as &mut dyn Catalog),
                    ..LowerOptions::default()
                },
            )
            .expect("the bench hunt compiles");
            kestrel::output_sql(&program, &dialect, LiteralMode::Bind).expect("emits")
        };
        // The first compile of the process also parses the model's YAML (what a one-shot
        // `kestrel compile` pays once).
        let t = Instant::now();
        std::hint::black_box(once());
        let cold = t.elapsed();
        for _ in 0..runs.min(50) {
            std::hint::black_box(once());
        }
        let mut best = Duration::MAX;
        let start = Instant::now();
        for _ in 0..runs {
            let t = Instant::now();
            std::hint::black_box(once());
            best = best.min(t.elapsed());
        }
        let mean = start.elapsed() / runs;
        // Where the time goes: parsing, lowering with the optimiser's IR passes, emission.
        let (mut parse, mut lower, mut emit) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let model = kestrel::model().expect("model");
        for _ in 0..runs {
            let mut catalog = table.clone().map(Columns);
            let t0 = Instant::now();
            let hunt = kestrel::syntax::parse(&src).expect("parses");
            let t1 = Instant::now();
            let program = kestrel::lower::lower(
                &hunt,
                &src,
                model,
                LowerOptions {
                    now: 1_620_259_200_000_000,
                    catalog: catalog.as_mut().map(|c| c as &mut dyn Catalog),
                    ..LowerOptions::default()
                },
            )
            .expect("lowers");
            let program = kestrel::opt::fold_program(program);
            let t2 = Instant::now();
            std::hint::black_box(
                kestrel::output_sql(&program, &dialect, LiteralMode::Bind).expect("emits"),
            );
            let t3 = Instant::now();
            parse += t1 - t0;
            lower += t2 - t1;
            emit += t3 - t2;
        }
        let sql: usize = once()
            .iter()
            .flat_map(|o| o.statements.iter())
            .map(|s| s.sql.len())
            .sum();
        println!("compile, {label}:");
        println!(
            "  {statements} statements, mean {:.1} µs/hunt ({:.2} µs/statement), best {:.1} µs/hunt, {sql} bytes of SQL",
            mean.as_secs_f64() * 1e6,
            mean.as_secs_f64() * 1e6 / statements as f64,
            best.as_secs_f64() * 1e6
        );
        println!(
            "  of which parse {:.1} µs, lower and optimise {:.1} µs, emit SQL {:.1} µs",
            parse.as_secs_f64() * 1e6 / runs as f64,
            lower.as_secs_f64() * 1e6 / runs as f64,
            emit.as_secs_f64() * 1e6 / runs as f64,
        );
        println!(
            "  first compile of the process: {:.1} µs",
            cold.as_secs_f64() * 1e6
        );
    }
}
