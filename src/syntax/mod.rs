//! Text to AST: the mode-aware lexer feeding the lalrpop grammar.
//!
//! In: a [`SourceFile`]. Out: an [`ast::Hunt`], or the first [`Diagnostic`] with a span.

pub mod ast;
pub mod lexer;
pub mod token;

#[allow(clippy::all, unused_parens, dead_code)]
mod grammar {
    include!(concat!(env!("OUT_DIR"), "/syntax/grammar.rs"));
}

use lalrpop_util::ParseError;

use crate::diag::{Code, Diagnostic};
use crate::source::{SourceFile, Span};
use crate::syntax::token::Tok;

/// How deep patterns and values may nest: brackets (`(`, `[`, `{`) and `NOT`s inside each
/// other. The parser would take any depth, but lowering, emission and the databases walk
/// the tree recursively (SQLite stops at 1,000 levels of expression): a hunt nested deeper
/// than this gets a diagnostic, not a stack overflow.
pub const MAX_NESTING: usize = 200;

/// Parses a whole hunt.
pub fn parse(src: &SourceFile) -> Result<ast::Hunt, Diagnostic> {
    parse_from(src, 0)
}

/// Parses the statements of `src` from byte `offset` on (a session's newest input, the
/// earlier ones before it); spans stay offsets into the whole text.
pub fn parse_from(src: &SourceFile, offset: usize) -> Result<ast::Hunt, Diagnostic> {
    let lexer = Nesting::new(lexer::Lexer::starting_at(&src.text, offset));
    grammar::HuntParser::new()
        .parse(lexer)
        .map_err(|e| parse_error(e, src))
}

/// Passes tokens through, stopping with a diagnostic at the first one that nests deeper
/// than [`MAX_NESTING`]. A run of `NOT`s counts one level per `NOT`, as each wraps what
/// follows; long `AND`/`OR` chains are flat and do not count.
struct Nesting<I> {
    inner: I,
    /// The depth outside each open bracket.
    open: Vec<usize>,
    depth: usize,
    /// `NOT`s since the last token that was not a `NOT` or an opening bracket.
    nots: usize,
    failed: bool,
}

impl<I> Nesting<I> {
    fn new(inner: I) -> Self {
        Nesting {
            inner,
            open: Vec::new(),
            depth: 0,
            nots: 0,
            failed: false,
        }
    }
}

impl<I: Iterator<Item = lexer::Spanned>> Iterator for Nesting<I> {
    type Item = lexer::Spanned;

    fn next(&mut self) -> Option<lexer::Spanned> {
        if self.failed {
            return None;
        }
        let item = self.inner.next()?;
        let Ok((l, tok, r)) = &item else {
            return Some(item);
        };
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                self.open.push(self.depth);
                self.depth += self.nots + 1;
                self.nots = 0;
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                self.depth = self.open.pop().unwrap_or(0);
                self.nots = 0;
            }
            Tok::Not => self.nots += 1,
            _ => self.nots = 0,
        }
        if self.depth + self.nots > MAX_NESTING {
            self.failed = true;
            return Some(Err(Diagnostic::error(
                Code::Syntax,
                format!("nested more than {MAX_NESTING} levels deep"),
            )
            .at(Span::new(*l, *r))
            .label(format!("level {}", self.depth + self.nots))
            .help(
                "brackets and NOTs inside each other count; flatten the pattern (NOT NOT x is x)",
            )));
        }
        Some(item)
    }
}

fn parse_error(e: ParseError<usize, Tok, Diagnostic>, src: &SourceFile) -> Diagnostic {
    match e {
        ParseError::User { error } => error,
        ParseError::InvalidToken { location } => {
            Diagnostic::error(Code::BadToken, "invalid token").at(Span::new(location, location + 1))
        }
        ParseError::UnrecognizedEof { location, expected } => {
            Diagnostic::error(Code::Syntax, "the hunt ends in the middle of a statement")
                .at(Span::new(location, location + 1))
                .label("expected more here")
                .help(expected_help(&expected))
        }
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let word = &src.text[l..r];
            let line_start = src.text[..l].rfind('\n').map_or(0, |i| i + 1);
            let rest = src.text[r..].trim_start_matches([' ', '\t']);
            let assigns = rest.starts_with('=') && !rest.starts_with("==");
            if token::keyword(&word.to_ascii_uppercase()).is_some()
                && src.text[line_start..l].trim().is_empty()
                && assigns
            {
                // `get = …`: a keyword where a variable name was meant.
                Diagnostic::error(
                    Code::Syntax,
                    format!("`{word}` is a keyword and cannot name a variable"),
                )
                .at(Span::new(l, r))
                .label("keywords are reserved, in any case")
                .help(format!(
                    "choose another name, such as `my_{}`",
                    word.to_lowercase()
                ))
            } else {
                Diagnostic::error(Code::Syntax, format!("unexpected {tok}"))
                    .at(Span::new(l, r))
                    .label(format!("{tok} is not allowed here"))
                    .help(expected_help(&expected))
            }
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Diagnostic::error(Code::Syntax, format!("unexpected {tok}")).at(Span::new(l, r))
        }
    }
    .with_source_hint(src)
}

/// "expected one of …" in the hunter's words rather than the grammar's terminal names.
fn expected_help(expected: &[String]) -> String {
    let mut names: Vec<String> = expected
        .iter()
        .map(|t| match t.as_str() {
            "IDENT" => "a name".to_string(),
            "URI" => "a data source like `sqlite://events`".to_string(),
            "PATH" => "a file path".to_string(),
            "STR" => "a string".to_string(),
            "TS" => "a timestamp".to_string(),
            "INT" => "a number".to_string(),
            "FLOAT" => "a decimal number".to_string(),
            "DURATION" => "a duration like `5m`".to_string(),
            "UNIT" => "DAYS, HOURS, MINUTES or SECONDS".to_string(),
            other => format!("`{}`", other.trim_matches('"')),
        })
        .collect();
    names.dedup();
    match names.len() {
        0 => "this statement is not complete".to_string(),
        1 => format!("expected {}", names[0]),
        _ if names.len() > 12 => format!("expected one of {}, …", names[..12].join(", ")),
        _ => format!("expected one of {}", names.join(", ")),
    }
}

trait SourceHint {
    fn with_source_hint(self, src: &SourceFile) -> Self;
}

impl SourceHint for Diagnostic {
    /// A statement that runs on past its line usually means a missing `=` or keyword on
    /// the previous line; point at nothing extra for now, but keep spans inside the text.
    fn with_source_hint(mut self, src: &SourceFile) -> Self {
        if let Some(span) = self.span {
            let len = src.text.len();
            if span.start >= len && len > 0 {
                // Point at the last character rather than past the end.
                let last = src.text.trim_end().len().max(1);
                self.span = Some(Span::new(last - 1, last));
            }
        }
        self
    }
}

#[cfg(test)]
mod tests;
