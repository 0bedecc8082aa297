//! The `kestrel` command line: one function per subcommand; errors become exit codes
//! (1: a hunt error or a data source failure; 2: usage or configuration).

use std::cell::Cell;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Parser, Subcommand};

mod index;
pub mod interrupt;
pub(crate) mod mappings;
mod repl;
mod sigma;

use crate::config::Config;
use crate::diag::Diagnostic;
use crate::ingest::{IngestOptions, InputFormat};
use crate::lower::LowerOptions;
use crate::output::{Format, Printer};
use crate::run::{run_hunt, RunOptions};
use crate::source::SourceFile;
use crate::sql::{Dialect, LiteralMode};

#[derive(Parser, Debug)]
#[command(
    name = "kestrel",
    version,
    about = "Compile Kestrel huntflows to SQL and run them where the logs live",
    after_help = "`kestrel HUNT.hf` is short for `kestrel run HUNT.hf`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `kestrel jupyter …`.
#[derive(Subcommand, Debug)]
pub enum JupyterCommand {
    /// Write the `kestrel` kernelspec (display name "Kestrel") where Jupyter finds it.
    Install {
        /// In the user's Jupyter data directory (the default).
        #[arg(long, conflicts_with_all = ["sys_prefix", "prefix"])]
        user: bool,
        /// In `sys.prefix/share/jupyter` of the active Python environment.
        #[arg(long, conflicts_with = "prefix")]
        sys_prefix: bool,
        /// In `DIR/share/jupyter`, as `jupyter kernelspec install --prefix DIR` does.
        #[arg(long, value_name = "DIR")]
        prefix: Option<PathBuf>,
    },
    /// Run the kernel (Jupyter starts this from the kernelspec).
    Kernel {
        /// The connection file Jupyter wrote.
        #[arg(short = 'f', long = "connection-file")]
        connection_file: PathBuf,
        /// Configuration file; otherwise $KESTREL_CONFIG, ~/.config/kestrel/.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the SQL each DISP/INFO/DESCRIBE/EXPLAIN of a hunt would run.
    Compile {
        /// The hunt file (`-` reads standard input).
        hunt: PathBuf,
        /// SQL dialect of the statements: sqlite, postgres, mysql (also MariaDB), mssql.
        #[arg(long, default_value = "sqlite")]
        dialect: String,
        /// Configuration file (data sources); see README.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Show placeholders and the bound parameters instead of inline literals.
        #[arg(long)]
        bind: bool,
        /// Print the relational IR instead of SQL.
        #[arg(long)]
        ir: bool,
        /// Show the SQL as lowered, without the optimiser's passes (for comparison).
        #[arg(long)]
        no_opt: bool,
    },
    /// Run hunts against the configured data sources and print their results.
    Run {
        /// Hunt files, run one after another (`-` reads standard input).
        #[arg(required = true)]
        hunts: Vec<PathBuf>,
        /// Configuration file; otherwise $KESTREL_CONFIG, $KESTREL_SQLALCHEMY_CONFIG,
        /// ~/.config/kestrel/.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output format of the results.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Do not print the summary of variables.
        #[arg(long)]
        no_summary: bool,
        /// Where analytics' displays (APPLY) are written.
        #[arg(long, default_value = "kestrel-displays")]
        display_dir: PathBuf,
    },
    /// The analytics APPLY can run: `kestrel analytics list` (python:// profiles and
    /// docker:// images).
    Analytics {
        #[arg(value_parser = ["list"])]
        action: String,
        /// Configuration file (its `analytics:` section).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Load JSON-lines (plain or gzip) or CSV logs into a SQL table a hunt can query.
    Ingest {
        /// Log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Target database URL: sqlite:///lake.db, postgresql://user@host/db, mysql://user@host/db.
        #[arg(long)]
        into: String,
        /// Table to create.
        #[arg(long)]
        table: String,
        /// Input format (default: from each file's name).
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        /// Drop and recreate the table if it exists.
        #[arg(long, conflicts_with = "append")]
        replace: bool,
        /// Add rows to an existing table.
        #[arg(long)]
        append: bool,
        /// The layout hunts read the table with: its indexes follow from it (`ecs`,
        /// `ocsf`, `winevent`, or a layout file).
        #[arg(long, default_value = "ecs")]
        mapping: String,
        /// Create no indexes.
        #[arg(long)]
        no_index: bool,
    },
    /// Add the indexes hunts need to an existing table (the ones `ingest` creates).
    Index {
        /// Database URL: sqlite:///lake.db, postgresql://user@host/db, mysql://user@host/db.
        url: String,
        /// The table.
        #[arg(long)]
        table: String,
        /// The layout hunts read the table with (`ecs`, `ocsf`, `winevent`, or a file).
        #[arg(long, default_value = "ecs")]
        mapping: String,
        /// The timestamp column, when it is not the layout's.
        #[arg(long)]
        timestamp: Option<String>,
        /// Print the DDL instead of running it.
        #[arg(long)]
        dry_run: bool,
    },
    /// An interactive shell: one session for the whole sitting (also `kestrel` alone on a
    /// terminal).
    Repl {
        /// Configuration file; otherwise $KESTREL_CONFIG, $KESTREL_SQLALCHEMY_CONFIG,
        /// ~/.config/kestrel/.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The Jupyter kernel: install its kernelspec, or run it.
    Jupyter {
        #[command(subcommand)]
        command: JupyterCommand,
    },
    /// List the table layouts (mappings), show one, or show how an attribute resolves.
    Mappings {
        /// A built-in layout (`ecs`, `ocsf`, `winevent`) or a layout file.
        name: Option<String>,
        /// An OCSF path (`process.name`), an entity attribute (`process:command_line`) or
        /// a native column (`Image`).
        attr: Option<String>,
    },
    /// Sigma rules: `kestrel sigma convert RULE.yml…` prints them as huntflows.
    Sigma {
        #[command(subcommand)]
        command: sigma::SigmaCommand,
    },
}

/// Parses the process arguments, accepting `kestrel HUNT.hf` as `kestrel run HUNT.hf`.
pub fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() == 1 && io::stdin().is_terminal() && io::stdout().is_terminal() {
        return repl::repl(None);
    }
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        let known = [
            "compile",
            "run",
            "ingest",
            "index",
            "mappings",
            "sigma",
            "repl",
            "jupyter",
            "analytics",
            "help",
            "-h",
            "--help",
            "-V",
            "--version",
        ];
        if !known.contains(&first) && !first.starts_with('-') {
            args.insert(1, "run".into());
        }
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Compile {
            hunt,
            dialect,
            config,
            bind,
            ir,
            no_opt,
        } => compile(&hunt, &dialect, config.as_deref(), bind, ir, !no_opt),
        Command::Run {
            hunts,
            config,
            format,
            no_summary,
            display_dir,
        } => run(&hunts, config.as_deref(), format, !no_summary, display_dir),
        Command::Analytics { action, config } => analytics(&action, config.as_deref()),
        Command::Ingest {
            files,
            into,
            table,
            format,
            replace,
            append,
            mapping,
            no_index,
        } => {
            // A mapping that does not load is a usage error before anything is written.
            if !no_index {
                if let Err(e) = crate::model::Mapping::load(&mapping) {
                    return usage_error(e);
                }
            }
            let url = into.clone();
            let name = table.clone();
            let code = ingest(IngestOptions {
                files,
                into,
                table,
                format,
                replace,
                append,
                progress: io::stderr().is_terminal(),
            });
            // A Parquet lake (datafusion://) has no indexes.
            let lake = url.to_ascii_lowercase().starts_with("datafusion:");
            if code != ExitCode::SUCCESS || no_index || lake {
                return code;
            }
            index::index(&url, &name, &mapping, None, false)
        }
        Command::Index {
            url,
            table,
            mapping,
            timestamp,
            dry_run,
        } => index::index(&url, &table, &mapping, timestamp.as_deref(), dry_run),
        Command::Repl { config } => repl::repl(config.as_deref()),
        Command::Jupyter { command } => jupyter(command),
        Command::Mappings { name, attr } => mappings::mappings(name.as_deref(), attr.as_deref()),
        Command::Sigma { command } => sigma::sigma(command),
    }
}

fn jupyter(command: JupyterCommand) -> ExitCode {
    use crate::jupyter::install::{install, Target};
    match command {
        JupyterCommand::Install {
            user: _,
            sys_prefix,
            prefix,
        } => {
            let target = match (sys_prefix, prefix) {
                (_, Some(p)) => Target::Prefix(p),
                (true, None) => Target::SysPrefix,
                _ => Target::User,
            };
            match install(&target) {
                Ok(dir) => {
                    println!("installed the Kestrel kernelspec in {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(e),
            }
        }
        JupyterCommand::Kernel {
            connection_file,
            config,
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match crate::jupyter::kernel(&connection_file, config.as_ref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn read_hunt(path: &Path) -> Result<SourceFile, ExitCode> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        io::Read::read_to_string(&mut io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(path)
    };
    match text {
        Ok(t) => {
            if t.len() >= crate::LARGE_HUNT_BYTES {
                crate::use_large_os_pages();
            }
            Ok(SourceFile::new(path.display().to_string(), t))
        }
        Err(e) => Err(usage_error(format!("cannot read {}: {e}", path.display()))),
    }
}

fn hunt_error(d: &Diagnostic, src: &SourceFile) -> ExitCode {
    eprint!("{}", d.render(src));
    ExitCode::from(1)
}

fn load_config(explicit: Option<&Path>) -> Result<Option<Config>, ExitCode> {
    Config::discover(explicit).map_err(usage_error)
}

fn compile(
    path: &Path,
    dialect: &str,
    config: Option<&Path>,
    bind: bool,
    ir: bool,
    optimise: bool,
) -> ExitCode {
    let Some(d) = Dialect::builtin(dialect) else {
        return usage_error(format!(
            "unknown dialect `{dialect}`; available: {}",
            Dialect::names().join(", ")
        ));
    };
    let src = match read_hunt(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Only an explicit --config is read: compiling needs no database.
    let config = match config.map(Config::load).transpose() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let program = match crate::compile_program_with(
        &src,
        LowerOptions {
            config: config.as_ref(),
            ..LowerOptions::default()
        },
        optimise,
    ) {
        Ok(p) => p,
        Err(diag) => return hunt_error(&diag, &src),
    };
    let mut out = io::stdout().lock();
    if ir {
        let _ = write!(out, "{program}");
        return ExitCode::SUCCESS;
    }
    let mode = if bind {
        LiteralMode::Bind
    } else {
        LiteralMode::Inline
    };
    let outputs = match crate::output_sql_with(&program, &d, mode, optimise) {
        Ok(o) => o,
        Err(diag) => return hunt_error(&diag, &src),
    };
    let _ = write!(out, "{}", render_outputs(&outputs));
    ExitCode::SUCCESS
}

/// The text `kestrel compile` prints: per output, a header, its statements, and the bound
/// parameters when there are any.
pub fn render_outputs(outputs: &[crate::CompiledOutput]) -> String {
    let mut s = String::new();
    for (i, o) in outputs.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&o.header);
        s.push('\n');
        for st in &o.statements {
            s.push_str(&st.sql);
            s.push_str(";\n");
            if !st.params.is_empty() {
                let ps: Vec<String> = st
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("[{}] {p}", i + 1))
                    .collect();
                s.push_str(&format!("-- params: {}\n", ps.join(", ")));
            }
        }
    }
    s
}

fn analytics(_action: &str, config: Option<&Path>) -> ExitCode {
    let config = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (names, failures) = crate::analytics::list_all(config.as_ref());
    for n in names {
        println!("{n}");
    }
    for (scheme, e) in failures {
        eprintln!("note: {scheme}:// analytics cannot be listed: {e}");
    }
    ExitCode::SUCCESS
}

fn run(
    hunts: &[PathBuf],
    config: Option<&Path>,
    format: Format,
    summary: bool,
    display_dir: PathBuf,
) -> ExitCode {
    let config = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::output::progress::enable(io::stderr().is_terminal(), io::stdout().is_terminal());
    interrupt::install();
    let stdout = io::stdout();
    // A terminal gets each row as it comes (Rust's stdout writes line by line); a pipe or
    // a file gets them in blocks, not a system call per row (4,133 rows: 4,133 writes).
    // The printer flushes at the end of every display either way.
    let out: Box<dyn Write> = if stdout.is_terminal() {
        Box::new(stdout.lock())
    } else {
        Box::new(io::BufWriter::with_capacity(64 * 1024, stdout.lock()))
    };
    let gone = Rc::new(Cell::new(false));
    let out = Reader::watch(out, &gone);
    let mut printer = Printer::new(out, format).with_display_dir(display_dir);
    for path in hunts {
        let src = match read_hunt(path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        // Machine formats keep stdout to the data: the summary goes to stderr.
        let result = if format == Format::Table {
            let mut sink = Reader::watch(io::stdout(), &gone);
            run_hunt(
                &src,
                config.as_ref(),
                &mut printer,
                &mut sink,
                &RunOptions { summary },
            )
        } else {
            let mut sink = io::stderr();
            run_hunt(
                &src,
                config.as_ref(),
                &mut printer,
                &mut sink,
                &RunOptions { summary },
            )
        };
        if let Err(d) = result {
            // The rows of a display the error cut short, before the error.
            let _ = printer.flush();
            let _ = io::stdout().flush();
            if gone.get() {
                // The reader has all it wanted (`kestrel run hunt.hf | head`): the run
                // stops there, as quietly as `head` expects.
                return interrupt::exit_code().unwrap_or(ExitCode::SUCCESS);
            }
            let code = hunt_error(&d, &src);
            return interrupt::exit_code().unwrap_or(code);
        }
        if let Some(code) = interrupt::exit_code() {
            return code;
        }
    }
    ExitCode::SUCCESS
}

/// stdout, noting when whoever reads it has gone (a closed pipe), so that `kestrel run`
/// stops quietly instead of reporting the write that failed.
struct Reader<W> {
    out: W,
    gone: Rc<Cell<bool>>,
}

impl<W: Write> Reader<W> {
    fn watch(out: W, gone: &Rc<Cell<bool>>) -> Reader<W> {
        Reader {
            out,
            gone: Rc::clone(gone),
        }
    }

    fn noted<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.gone.set(true);
            }
        }
        r
    }
}

impl<W: Write> Write for Reader<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.out.write(buf);
        self.noted(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.out.flush();
        self.noted(r)
    }
}

/// Exit 0 loaded, 1 failed (nothing written), 2 usage error, 130 stopped by Ctrl-C
/// (rolled back).
fn ingest(opts: IngestOptions) -> ExitCode {
    interrupt::install();
    match crate::ingest::ingest(&opts) {
        Ok(report) => {
            eprintln!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(e, crate::ingest::IngestError::Cancelled) {
                ExitCode::from(interrupt::EXIT_INTERRUPTED)
            } else if e.is_usage() {
                ExitCode::from(2)
            } else {
                interrupt::exit_code().unwrap_or(ExitCode::from(1))
            }
        }
    }
}
