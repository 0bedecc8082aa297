//! `kestrel repl` (and `kestrel` alone on a terminal): one session for the whole sitting.
//!
//! In: lines typed at a terminal (or piped in). Out: each statement's results on stdout,
//! diagnostics on stderr, the session going on after either. A statement may span lines:
//! the input continues until the parser says it is complete (`interactive::is_complete`).
//! Completion, highlighting and completeness come from [`crate::interactive`], which the
//! Jupyter kernel shares. Ctrl-C while typing drops the input; while a statement runs it
//! stops the statement (`backend::cancel`) and returns to the prompt; Ctrl-D exits.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::config::{redact_url, Config};
use crate::interactive::{self, Scope, Style};
use crate::output::{write_summary, Format, Printer};
use crate::session::{Session, SessionOptions};

const PROMPT: &str = "kestrel> ";
const CONTINUE: &str = "     ... ";

const HELP: &str = "\
Type Kestrel statements; a statement may span lines (the prompt waits until it is
complete). Variables stay defined for the whole sitting. TAB completes keywords,
variables, entity types, relation words, attributes, data sources and analytics.
Ctrl-C stops a running statement (or drops the input being typed); Ctrl-D exits.

  .help        this text
  .vars        the summary: each variable's type, entities and records
  .explain V   how variable V is computed, and its SQL
  .config      the configuration in use (connections and data sources)
  .quit        exit
";

/// The line editor's helper: everything it asks comes from `crate::interactive`.
struct ReplHelper<'c> {
    scope: Scope<'c>,
    colour: bool,
}

impl Completer for ReplHelper<'_> {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let c = interactive::complete(&self.scope, line, pos);
        Ok((c.start, c.candidates))
    }
}

impl Hinter for ReplHelper<'_> {
    type Hint = String;
}

impl Highlighter for ReplHelper<'_> {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.colour || line.trim_start().starts_with('.') {
            return Cow::Borrowed(line);
        }
        let marks = interactive::highlight(line);
        if marks.is_empty() {
            return Cow::Borrowed(line);
        }
        let mut out = String::with_capacity(line.len() + marks.len() * 10);
        let mut at = 0;
        for h in marks {
            if h.start < at || h.end > line.len() {
                continue;
            }
            out.push_str(&line[at..h.start]);
            let code = match h.style {
                Style::Keyword => "1;34",
                Style::String => "32",
                Style::Number => "36",
                Style::Uri => "35",
                Style::Error => "1;31;4",
            };
            out.push_str(&format!("\x1b[{code}m{}\x1b[0m", &line[h.start..h.end]));
            at = h.end;
        }
        out.push_str(&line[at..]);
        Cow::Owned(out)
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.colour
    }
}

impl Validator for ReplHelper<'_> {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim_start().starts_with('.') || interactive::is_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Helper for ReplHelper<'_> {}

/// Where the history lives: `$XDG_STATE_HOME/kestrel/history`, else
/// `~/.local/state/kestrel/history`.
pub fn history_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?)
            .join(".local")
            .join("state"),
    };
    Some(base.join("kestrel").join("history"))
}

/// Runs the REPL until `.quit` or end of input.
pub fn repl(config: Option<&Path>) -> ExitCode {
    let config = match super::load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let config = config.as_ref();
    let terminal = io::stdin().is_terminal() && io::stdout().is_terminal();
    crate::output::progress::enable(io::stderr().is_terminal(), io::stdout().is_terminal());
    super::interrupt::install_interactive();

    let rl_config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut rl: Editor<ReplHelper<'_>, FileHistory> = match Editor::with_config(rl_config) {
        Ok(r) => r,
        Err(e) => return super::usage_error(format!("cannot start the line editor: {e}")),
    };
    rl.set_helper(Some(ReplHelper {
        scope: Scope {
            vars: Vec::new(),
            config,
            analytics: None,
        },
        colour: terminal && std::env::var_os("NO_COLOR").is_none(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = rl.load_history(h);
    }
    if terminal {
        println!(
            "kestrel {} — type .help for help, Ctrl-D to exit",
            env!("CARGO_PKG_VERSION")
        );
    }

    let mut session = Session::new(config, SessionOptions::default());
    let mut pending = String::new();
    let piped = !io::stdin().is_terminal();
    let mut stdin = io::stdin().lock();
    let mut failed = false;
    loop {
        let prompt = if pending.is_empty() { PROMPT } else { CONTINUE };
        // Piped input is read here, line by line (the line editor's own reading would
        // drop a last statement left incomplete instead of reporting it).
        let read = if piped {
            let mut l = String::new();
            match io::BufRead::read_line(&mut stdin, &mut l) {
                Ok(0) => Err(ReadlineError::Eof),
                Ok(_) => Ok(l.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => Err(ReadlineError::Io(e)),
            }
        } else {
            rl.readline(prompt)
        };
        let line = match read {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => {
                if !pending.trim().is_empty() {
                    // Piped input that ends mid-statement: run it for its diagnostic.
                    let text = std::mem::take(&mut pending);
                    failed |= !run_input(&mut session, &text);
                }
                break;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        // A terminal's validator hands over whole statements; piped lines come one by
        // one and are gathered here.
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        let trimmed = pending.trim();
        if trimmed.is_empty() {
            pending.clear();
            continue;
        }
        if !trimmed.starts_with('.') && !interactive::is_complete(&pending) {
            continue;
        }
        let input = std::mem::take(&mut pending);
        let _ = rl.add_history_entry(input.as_str());
        if let Some(h) = &history {
            let _ = rl.save_history(h);
        }
        if input.trim().starts_with('.') {
            if !dot_command(&mut session, config, input.trim()) {
                break;
            }
        } else {
            failed |= !run_input(&mut session, &input);
        }
        if let Some(h) = rl.helper_mut() {
            h.scope.vars = interactive::vars_of(session.program());
        }
    }
    // Piped into, the REPL is a script: an error anywhere makes the exit status 1.
    if piped && failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one input; a diagnostic is printed and the session goes on. False when it
/// failed.
fn run_input(session: &mut Session<'_>, text: &str) -> bool {
    crate::backend::cancel::clear();
    let mut printer = Printer::new(io::stdout(), Format::Table);
    let result = session.execute(text, &mut printer);
    let _ = io::stdout().flush();
    let ok = result.is_ok();
    if let Err(d) = result {
        eprint!("{}", session.render(&d));
    }
    if crate::backend::cancel::requested() {
        eprintln!("interrupted");
        crate::backend::cancel::clear();
    }
    ok
}

/// Runs a dot command; false to exit.
fn dot_command(session: &mut Session<'_>, config: Option<&Config>, line: &str) -> bool {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next();
    match cmd {
        ".quit" | ".exit" | ".q" => return false,
        ".help" | ".h" => print!("{HELP}"),
        ".vars" => match session.summary() {
            Ok(rows) if rows.is_empty() => println!("no variables yet"),
            Ok(rows) => {
                // The summary's table without its "block executed in" line.
                let mut text = Vec::new();
                let _ = write_summary(&mut text, &rows, std::time::Duration::ZERO);
                let text = String::from_utf8_lossy(&text);
                for line in text
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with("[SUMMARY]"))
                {
                    println!("{line}");
                }
            }
            Err(d) => eprint!("{}", session.render(&d)),
        },
        ".explain" => match arg {
            Some(v) if v.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                run_input(session, &format!("EXPLAIN {v}"));
            }
            _ => eprintln!("usage: .explain VARIABLE"),
        },
        ".config" => print!("{}", describe_config(config)),
        other => eprintln!("unknown command `{other}`; .help lists the commands"),
    }
    let _ = io::stdout().flush();
    // A Ctrl-C that stopped `.vars`' counting is dealt with.
    crate::backend::cancel::clear();
    true
}

/// `.config`: where the configuration came from, its connections (passwords hidden) and
/// data sources.
pub fn describe_config(config: Option<&Config>) -> String {
    let Some(c) = config else {
        return "no configuration (give --config FILE, or set KESTREL_CONFIG)\n".to_string();
    };
    let mut s = String::new();
    if let Some(p) = &c.path {
        s.push_str(&format!("configuration: {}\n", p.display()));
    }
    s.push_str("connections:\n");
    for (name, conn) in &c.connections {
        s.push_str(&format!("  {name:<16} {}\n", redact_url(&conn.url)));
    }
    s.push_str("data sources:\n");
    for (name, ds) in &c.datasources {
        s.push_str(&format!(
            "  {name:<16} table {} on {} (mapping {})\n",
            ds.table,
            ds.connection,
            ds.data_model_map
                .as_deref()
                .unwrap_or(crate::lower::DEFAULT_MAPPING)
        ));
    }
    s
}
