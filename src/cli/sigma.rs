//! `kestrel sigma convert RULE.yml… [--from URI] [--var NAME] [--type TYPE] [--format text|json]`:
//! Sigma rules as huntflows a person can read, edit and run.
//!
//! Directories are walked for `.yml`/`.yaml` files. Text: each rule's huntflow, a blank
//! line between rules, each rule that cannot be converted as an error on stderr (exit 1
//! when any could not). JSON: one object per line and rule, with its huntflow or its error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::sigma::{self, ConvertOptions};

#[derive(Subcommand, Debug)]
pub enum SigmaCommand {
    /// Print Sigma rules as huntflows (`NAME = GET type FROM uri WHERE …`).
    Convert {
        /// Rule files or directories of rules.
        #[arg(required = true)]
        rules: Vec<PathBuf>,
        /// The data source the GET reads.
        #[arg(long, default_value = "datasource://events")]
        from: String,
        /// The variable name (default: from each rule's file name).
        #[arg(long)]
        var: Option<String>,
        /// The GET type, where the rule's category allows several (e.g. process_activity).
        #[arg(long = "type")]
        entity: Option<String>,
        /// Output: the huntflows as text, or one JSON object per rule.
        #[arg(long, value_enum, default_value_t = SigmaFormat::Text)]
        format: SigmaFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigmaFormat {
    Text,
    Json,
}

pub fn sigma(cmd: SigmaCommand) -> ExitCode {
    match cmd {
        SigmaCommand::Convert {
            rules,
            from,
            var,
            entity,
            format,
        } => convert(&rules, &ConvertOptions { from, var, entity }, format),
    }
}

fn convert(paths: &[PathBuf], opts: &ConvertOptions, format: SigmaFormat) -> ExitCode {
    let mut files = Vec::new();
    for p in paths {
        match sigma::rule_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", p.display());
                return ExitCode::from(2);
            }
        }
    }
    let mut failed = 0;
    let mut first = true;
    for file in &files {
        let result = sigma::convert(file, opts);
        match format {
            SigmaFormat::Text => match result {
                Ok(c) => {
                    if !first {
                        println!();
                    }
                    first = false;
                    print!("{}", c.huntflow);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("error: {e}");
                }
            },
            SigmaFormat::Json => {
                let obj = match result {
                    Ok(c) => serde_json::json!({
                        "rule": file_name(file),
                        "title": c.rule.title,
                        "id": c.rule.id,
                        "type": c.entity,
                        "variable": c.var,
                        "huntflow": c.huntflow,
                    }),
                    Err(e) => {
                        failed += 1;
                        serde_json::json!({
                            "rule": file_name(file),
                            "error": {
                                "line": e.line,
                                "construct": e.construct,
                                "message": e.message,
                            },
                        })
                    }
                };
                println!("{obj}");
            }
        }
    }
    if failed > 0 {
        if format == SigmaFormat::Text && files.len() > 1 {
            eprintln!("{failed} of {} rules could not be converted", files.len());
        }
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn file_name(p: &Path) -> String {
    p.display().to_string()
}
