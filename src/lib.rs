//! kestrel: compile Kestrel huntflows to SQL and run them where the logs live.
//!
//! ```text
//! source ──lexer──▶ tokens ──lalrpop──▶ AST ──lower(model, config, catalog)──▶ IR
//!    IR ──emit(dialect)──▶ sqlparser AST ──Display──▶ SQL text + bound params
//!   SQL ──backend──▶ rows (streamed) ──output──▶ table / csv / json / jsonl
//! ```
//!
//! Stages live in `syntax`, `lower`, `ir`, `sql`, `backend`; `model` holds the mappings,
//! `diag` the diagnostics every stage reports with, `time` (a leaf) parses and formats
//! instants; `cli` and `output` sit at the edge.

pub mod analytics;
pub mod backend;
pub mod cli;
pub mod config;
pub mod diag;
pub mod fxhash;
pub mod ingest;
pub mod interactive;
pub mod io;
pub mod ir;
pub mod jupyter;
pub mod lower;
pub mod model;
pub mod opt;
pub mod output;
pub mod run;
pub mod session;
pub mod ship;
pub mod sigma;
pub mod source;
pub mod sql;
pub mod syntax;
pub mod time;
pub mod value;

use std::sync::OnceLock;

use diag::Diagnostic;
use ir::{OutputKind, Program};
use lower::LowerOptions;
use model::Model;
use source::SourceFile;
use sql::{Dialect, LiteralMode, SqlStatement};

/// Turns transparent huge pages off for this process and its children
/// (`PR_SET_THP_DISABLE`): mimalloc, the allocator of the `kestrel` binary and the
/// benches, gets them for its arena (26 of its 30 MB printing a million rows, under
/// the kernel's default `madvise` setting). Each 2 MiB page is zeroed and
/// resident whole once touched: on the bench's 1,000,000-event lake they cost 9 MB of
/// the peak memory printing a million rows (62.4 MB against 53.8 MB). Time was the same
/// either way: the bench's hunts, the binary with and without them alternated, moved
/// by 1–2 % on SQLite and PostgreSQL and by up to ±20 % either way on DataFusion, as
/// much as between runs of one binary. A no-op off Linux, or where the kernel refuses.
pub fn use_small_os_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with an integer option and integer arguments; it changes a flag of
    // this process's memory map, read by the kernel when it faults in a page.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Asks for large OS pages again (see [`use_small_os_pages`]), and mimalloc for them: a
/// hunt holding a million values allocates some 600 MB; faulting that in 4 KiB pages
/// cost more system time than the compile itself on a shared VM (1M-value IN list:
/// 2.4–4.8 s against 1.4 s, `cargo bench --bench compile -- ioc`). The binary asks for
/// them for a hunt of [`LARGE_HUNT_BYTES`] or more.
pub fn use_large_os_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: as in `use_small_os_pages`.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
    // SAFETY: sets one of mimalloc's global options (an integer); any thread may do so.
    unsafe { libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 1) };
}

/// The length of hunt text from which the `kestrel` binary compiles with large OS pages
/// ([`use_large_os_pages`]): an IOC list of some 50,000 values.
pub const LARGE_HUNT_BYTES: usize = 1 << 20;

/// The built-in model, loaded once.
pub fn model() -> Result<&'static Model, Diagnostic> {
    static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| Model::builtin().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Diagnostic::internal(e.clone()))
}

/// Parses and lowers a hunt.
pub fn compile_program<'a>(
    src: &'a SourceFile,
    opts: LowerOptions<'a>,
) -> Result<Program, Diagnostic> {
    compile_program_with(src, opts, true)
}

/// [`compile_program`], optionally without the optimiser's program passes.
pub fn compile_program_with<'a>(
    src: &'a SourceFile,
    opts: LowerOptions<'a>,
    optimise: bool,
) -> Result<Program, Diagnostic> {
    let hunt = syntax::parse(src)?;
    let program = lower::lower(&hunt, src, model()?, opts)?;
    Ok(if optimise {
        opt::reuse_subplans(opt::fold_program(program))
    } else {
        program
    })
}

/// One output statement as SQL.
#[derive(Debug, Clone)]
pub struct CompiledOutput {
    /// `-- DISP procs (line 7)`
    pub header: String,
    pub statements: Vec<SqlStatement>,
}

/// The SQL each output statement of a program runs.
pub fn output_sql(
    program: &Program,
    dialect: &Dialect,
    mode: LiteralMode,
) -> Result<Vec<CompiledOutput>, Diagnostic> {
    output_sql_with(program, dialect, mode, true)
}

/// [`output_sql`], optionally without the optimiser (`kestrel compile --no-opt`).
pub fn output_sql_with(
    program: &Program,
    dialect: &Dialect,
    mode: LiteralMode,
    optimise: bool,
) -> Result<Vec<CompiledOutput>, Diagnostic> {
    let mut out = Vec::new();
    for o in &program.outputs {
        let first_line = o.text.lines().next().unwrap_or("").trim();
        let header = format!("-- {first_line} (line {})", o.line);
        let statements = match &o.kind {
            OutputKind::Disp | OutputKind::Explain | OutputKind::Save { .. } => {
                vec![
                    sql::emit_plan_with(program, &o.plan, dialect, mode, optimise)
                        .map_err(|d| at(d, o.span))?,
                ]
            }
            OutputKind::Info => {
                vec![
                    sql::emit_counts_with(program, o.rel, dialect, mode, optimise)
                        .map_err(|d| at(d, o.span))?,
                ]
            }
            OutputKind::Describe { attr } => {
                let d = sql::emit_describe_with(program, &o.plan, attr, dialect, mode, optimise)
                    .map_err(|d| at(d, o.span))?;
                vec![d.stats, d.mean, d.top]
            }
        };
        out.push(CompiledOutput { header, statements });
    }
    Ok(out)
}

/// Emission errors carry no span of their own: point at the statement.
pub(crate) fn at(d: Diagnostic, span: source::Span) -> Diagnostic {
    if d.span.is_some() {
        d
    } else {
        d.at(span)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// This process's `THP_enabled` (reported since Linux 5.0).
    fn thp_enabled() -> String {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("THP_enabled:"))
            .expect("THP_enabled in /proc/self/status (Linux 5.0 or later)");
        line["THP_enabled:".len()..].trim().to_string()
    }

    #[test]
    fn the_page_policy_turns_huge_pages_off_and_on() {
        let before = thp_enabled();
        super::use_small_os_pages();
        assert_eq!(thp_enabled(), "0");
        super::use_large_os_pages();
        assert_eq!(thp_enabled(), "1");
        if before == "0" {
            super::use_small_os_pages();
        }
    }
}
