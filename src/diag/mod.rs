//! Diagnostics: every error a hunter can cause, with the span it points at.
//!
//! In: a [`Diagnostic`] built by any stage (lexer, parser, lowering, emission, runner).
//! Out: plain text with the source line and a caret under the span:
//!
//! ```text
//! error[K0301]: unknown variable `procz`
//!   --> hunt.hf:3:29
//!    |
//!  3 | kids = FIND process CREATED BY procz
//!    |                             ^^^^^ not defined before this line
//!    = help: did you mean `procs` (line 1)?
//! ```

use std::fmt::Write as _;

use crate::source::{SourceFile, Span};

/// Stable codes, grouped by stage: K01xx lexing, K02xx parsing, K03xx names,
/// K04xx types and values, K05xx emission, K06xx running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A character or literal the lexer cannot read.
    BadToken,
    /// A string, comment or bracket without its end.
    Unterminated,
    /// A token the grammar does not allow here.
    Syntax,
    UnknownVariable,
    UnknownEntity,
    UnknownRelation,
    UnknownDataSource,
    UnknownAttribute,
    /// A command or form that the language has but this build cannot run.
    NotAvailable,
    BadValue,
    TypeMismatch,
    BadTime,
    /// A construct the target dialect cannot express.
    Unsupported,
    /// The data source failed (missing table, connection refused, …).
    DataSource,
    /// An analytic (APPLY) failed or returned what kestrel cannot use.
    Analytic,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadToken => "K0101",
            Code::Unterminated => "K0102",
            Code::Syntax => "K0201",
            Code::UnknownVariable => "K0301",
            Code::UnknownEntity => "K0302",
            Code::UnknownRelation => "K0303",
            Code::UnknownDataSource => "K0304",
            Code::UnknownAttribute => "K0305",
            Code::NotAvailable => "K0306",
            Code::BadValue => "K0401",
            Code::TypeMismatch => "K0402",
            Code::BadTime => "K0403",
            Code::Unsupported => "K0501",
            Code::DataSource => "K0601",
            Code::Analytic => "K0602",
            Code::Internal => "K0999",
        }
    }
}

/// One error, pointing into the hunt.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Option<Span>,
    /// Text shown beside the caret.
    pub label: Option<String>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span: None,
            label: None,
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn internal(message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(
            Code::Internal,
            format!("internal error, please report: {}", message.into()),
        )
    }

    /// Plain-text rendering with the source line and a caret under the span.
    pub fn render(&self, src: &SourceFile) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "error[{}]: {}", self.code.as_str(), self.message);
        if let Some(span) = self.span {
            let (line, col) = src.line_col(span.start);
            let text = src.line_text(line);
            let gutter = line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}--> {}:{line}:{col}", src.name);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line} | {}", text.replace('\t', " "));
            // The caret covers the span's part on its first line, at least one column.
            let (end_line, end_col) = src.line_col(span.end);
            let width = if end_line == line && end_col > col {
                end_col - col
            } else if end_line == line {
                1
            } else {
                (text.chars().count() + 1).saturating_sub(col).max(1)
            };
            let _ = write!(out, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(width));
            match &self.label {
                Some(label) => {
                    let _ = writeln!(out, " {label}");
                }
                None => out.push('\n'),
            }
        } else if let Some(label) = &self.label {
            let _ = writeln!(out, "  = {label}");
        }
        // `=` lines up with the gutter's `|`, as rustc does.
        let pad = match self.span {
            Some(span) => " ".repeat(src.line_col(span.start).0.to_string().len()),
            None => " ".to_string(),
        };
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Renders several diagnostics, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], src: &SourceFile) -> String {
    diags
        .iter()
        .map(|d| d.render(src))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names in `candidates` close to `name` (edit distance), best first, for "did you mean".
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_and_caret_under_span() {
        let src = SourceFile::new("hunt.hf", "a = 1\nkids = FIND process CREATED BY procz\n");
        let d = Diagnostic::error(Code::UnknownVariable, "unknown variable `procz`")
            .at(Span::new(37, 42))
            .label("not defined before this line")
            .help("did you mean `procs`?");
        let text = d.render(&src);
        assert_eq!(
            text,
            "error[K0301]: unknown variable `procz`\n \
             --> hunt.hf:2:32\n  |\n2 | kids = FIND process CREATED BY procz\n  |                                \
             ^^^^^ not defined before this line\n  = help: did you mean `procs`?\n"
        );
    }

    #[test]
    fn suggest_finds_close_names_only() {
        assert_eq!(suggest("procz", ["procs", "kids"]), Some("procs"));
        assert_eq!(suggest("zzzzzz", ["procs", "kids"]), None);
    }
}
