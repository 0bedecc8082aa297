//! The hand-written, mode-aware lexer.
//!
//! In: hunt text. Out: `(start, Tok, end)` triples for the lalrpop grammar, or a
//! [`Diagnostic`] at the offending character.
//!
//! Kestrel's tokens depend on context, which a regular lexer cannot see:
//! - `scheme://rest` is one URI token wherever it appears (data sources, analytics);
//! - after `LOAD` and `TO` an unquoted word is a file path (`/tmp/a.parquet.gz`);
//! - names may contain dashes (`network-traffic`, `x-oca-asset`), since the language has
//!   no subtraction;
//! - `2021-05-06T00:00:00Z` is a timestamp, `t'…'` too; `5m` is a duration;
//! - strings follow Python: `'…'`, `"…"`, `r'…'`, with `\n`, `\t`, `\\`, `\'`, `\xNN`,
//!   `\uNNNN` escapes, and an unknown escape keeps its backslash (`'C:\Windows'`).

use crate::diag::{Code, Diagnostic};
use crate::source::Span;
use crate::syntax::token::{keyword, Tok};

pub type Spanned = Result<(usize, Tok, usize), Diagnostic>;

pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// What the previous token was, for the modes that depend on it.
    prev: Seen,
    /// The token before that (`ESCAPE` is a keyword only after `LIKE '…'`).
    prev2: Seen,
    done: bool,
}

/// What the lexer keeps of a token it has given out: only what its modes look back for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// `LOAD` or `TO`: a path follows.
    LoadOrTo,
    Str,
    Like,
    Other,
}

impl Seen {
    fn of(t: &Tok) -> Seen {
        match t {
            Tok::Load | Tok::To => Seen::LoadOrTo,
            Tok::Str(_) => Seen::Str,
            Tok::Like => Seen::Like,
            _ => Seen::Other,
        }
    }
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Lexer<'a> {
        Self::starting_at(text, 0)
    }

    /// Lexes `text` from byte `pos` (a character boundary) on; spans stay offsets into
    /// the whole text.
    pub fn starting_at(text: &'a str, pos: usize) -> Lexer<'a> {
        Lexer {
            text,
            pos,
            prev: Seen::Other,
            prev2: Seen::Other,
            done: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some('#') => {
                    let rest = &self.text[self.pos..];
                    self.pos += rest.find('\n').unwrap_or(rest.len());
                }
                _ => return,
            }
        }
    }

    fn err(&self, code: Code, start: usize, end: usize, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, msg).at(Span::new(start, end.max(start + 1)))
    }

    fn next_token(&mut self) -> Option<Spanned> {
        self.skip_trivia();
        let start = self.pos;
        let c = self.peek()?;
        let rest = &self.text[start..];

        // Paths after LOAD / TO, unless quoted.
        if self.prev == Seen::LoadOrTo && !matches!(c, '\'' | '"') {
            let len = rest
                .find(|ch: char| ch.is_whitespace())
                .unwrap_or(rest.len());
            self.pos += len;
            return Some(Ok((start, Tok::Path(rest[..len].to_string()), self.pos)));
        }

        if let Some(len) = uri_len(rest) {
            self.pos += len;
            return Some(Ok((start, Tok::Uri(rest[..len].to_string()), self.pos)));
        }

        // String prefixes: r'..' raw, t'..' timestamp.
        if matches!(c, 'r' | 'R' | 't' | 'T') && matches!(self.peek_at(1), Some('\'' | '"')) {
            self.pos += 1;
            let raw = matches!(c, 'r' | 'R');
            return Some(self.string(start, raw).map(|(s, end)| {
                let tok = if raw { Tok::Str(s) } else { Tok::Timestamp(s) };
                (start, tok, end)
            }));
        }
        if c == '\'' || c == '"' {
            return Some(
                self.string(start, false)
                    .map(|(s, end)| (start, Tok::Str(s), end)),
            );
        }

        if c.is_ascii_digit() || (c == '-' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            return Some(self.number(start));
        }

        if is_ident_start(c) {
            let len = ident_len(rest);
            let word = &rest[..len];
            self.pos += len;
            // Upper-cased on the stack: no keyword is longer than the buffer.
            let mut buf = [0u8; 16];
            let upper = buf.get_mut(..len).and_then(|upper| {
                upper.copy_from_slice(word.as_bytes());
                upper.make_ascii_uppercase();
                std::str::from_utf8(upper).ok()
            });
            // `ESCAPE` is reserved nowhere else, so an attribute or variable may keep the name.
            let tok =
                if upper == Some("ESCAPE") && self.prev == Seen::Str && self.prev2 == Seen::Like {
                    Tok::Escape
                } else {
                    upper
                        .and_then(keyword)
                        .unwrap_or_else(|| Tok::Ident(word.to_string()))
                };
            return Some(Ok((start, tok, self.pos)));
        }

        let two = rest.get(..2).unwrap_or("");
        let (tok, len) = match two {
            "==" => (Tok::EqEq, 2),
            "!=" | "<>" => (Tok::Ne, 2),
            "<=" => (Tok::Le, 2),
            ">=" => (Tok::Ge, 2),
            _ => match c {
                '=' => (Tok::Assign, 1),
                '<' => (Tok::Lt, 1),
                '>' => (Tok::Gt, 1),
                ',' => (Tok::Comma, 1),
                '.' => (Tok::Dot, 1),
                ':' => (Tok::Colon, 1),
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                '[' => (Tok::LBracket, 1),
                ']' => (Tok::RBracket, 1),
                '{' => (Tok::LBrace, 1),
                '}' => (Tok::RBrace, 1),
                '+' => (Tok::Plus, 1),
                _ => {
                    let end = start + c.len_utf8();
                    self.pos = end;
                    return Some(Err(self
                        .err(
                            Code::BadToken,
                            start,
                            end,
                            format!("unexpected character {c:?}"),
                        )
                        .label("not part of any Kestrel token")));
                }
            },
        };
        self.pos += len;
        Some(Ok((start, tok, self.pos)))
    }

    /// A quoted string starting at `self.pos` (the quote); `start` includes any prefix.
    fn string(&mut self, start: usize, raw: bool) -> Result<(String, usize), Diagnostic> {
        let quote = self.peek().unwrap_or('\'');
        self.pos += 1;
        // Most strings hold no escape (an IOC list of a million): one scan and one copy.
        let rest = &self.text[self.pos..];
        if let Some(i) = rest.find([quote, '\\']) {
            if rest[i..].starts_with(quote) {
                self.pos += i + quote.len_utf8();
                return Ok((rest[..i].to_string(), self.pos));
            }
        }
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self
                    .err(Code::Unterminated, start, self.pos, "unterminated string")
                    .label("this string never ends")
                    .help(format!("close it with {quote}")));
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                c if c == quote => return Ok((out, self.pos)),
                '\\' => {
                    let Some(e) = self.peek() else { continue };
                    self.pos += e.len_utf8();
                    if raw {
                        // Python raw strings keep the backslash, but it still escapes a quote.
                        out.push('\\');
                        out.push(e);
                        continue;
                    }
                    match e {
                        '\\' => out.push('\\'),
                        '\'' => out.push('\''),
                        '"' => out.push('"'),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        '\n' => {}
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = self.text[self.pos..].chars().take(n).collect();
                            let ch = (hex.len() == n && hex.chars().all(|h| h.is_ascii_hexdigit()))
                                .then(|| u32::from_str_radix(&hex, 16).ok())
                                .flatten()
                                .and_then(char::from_u32);
                            match ch {
                                Some(ch) => {
                                    self.pos += n;
                                    out.push(ch);
                                }
                                None => {
                                    return Err(self
                                        .err(Code::BadToken, at, self.pos + hex.len(), "bad escape")
                                        .label(format!("`\\{e}` needs {n} hex digits")))
                                }
                            }
                        }
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn number(&mut self, start: usize) -> Spanned {
        let rest = &self.text[start..];
        if let Some(len) = iso_timestamp_len(rest) {
            self.pos += len;
            return Ok((start, Tok::Timestamp(rest[..len].to_string()), self.pos));
        }
        let bytes = rest.as_bytes();
        let mut i = usize::from(bytes[0] == b'-');
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let mut float = false;
        if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
            float = true;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                j += 1;
            }
            if j < bytes.len() && bytes[j].is_ascii_digit() {
                float = true;
                i = j;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        let num = &rest[..i];
        // A unit glued to an integer is a duration: 5m, 1h, 30s, 2d.
        let unit_len = rest[i..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len() - i);
        let end = start + i + unit_len;
        self.pos = end;
        if unit_len > 0 {
            let unit = &rest[i..i + unit_len];
            let n: i64 = match (float, num.parse()) {
                (false, Ok(n)) => n,
                _ => {
                    return Err(self
                        .err(
                            Code::BadToken,
                            start,
                            end,
                            format!("bad number `{}`", &rest[..i + unit_len]),
                        )
                        .label("a duration is a whole number and a unit, like `5m`"))
                }
            };
            return Ok((start, Tok::Duration(n, unit.to_string()), end));
        }
        if float {
            match num.parse::<f64>() {
                // `1e400` reads as infinity, which no database column holds.
                Ok(x) if !x.is_finite() => Err(self
                    .err(
                        Code::BadToken,
                        start,
                        end,
                        format!("number `{num}` is too large"),
                    )
                    .label("decimal numbers are 64-bit floating point")),
                Ok(x) => Ok((start, Tok::Float(x), end)),
                Err(_) => Err(self.err(Code::BadToken, start, end, format!("bad number `{num}`"))),
            }
        } else {
            match num.parse() {
                Ok(n) => Ok((start, Tok::Int(n), end)),
                Err(_) => Err(self
                    .err(
                        Code::BadToken,
                        start,
                        end,
                        format!("number `{num}` is too large"),
                    )
                    .label("integers are 64-bit")),
            }
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Spanned;

    fn next(&mut self) -> Option<Spanned> {
        if self.done {
            return None;
        }
        let tok = self.next_token();
        match &tok {
            Some(Ok((_, t, _))) => self.prev2 = std::mem::replace(&mut self.prev, Seen::of(t)),
            Some(Err(_)) | None => self.done = true,
        }
        tok
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '@' || c == '$'
}

/// Length of an identifier at the start of `s`; a dash continues it when a letter or digit
/// follows (`x-oca-asset`), since Kestrel has no subtraction.
fn ident_len(s: &str) -> usize {
    let mut len = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_ident_char(c) {
            len = i + c.len_utf8();
        } else if c == '-' && chars.peek().is_some_and(|(_, n)| n.is_alphanumeric()) && len > 0 {
            continue;
        } else {
            break;
        }
    }
    len
}

/// `scheme://…` up to whitespace or a comma: data sources (`stixshifter://host-1`,
/// `sqlite:///x.db`, `file://samplestix.json`) and analytics (`python://pin-ip`).
fn uri_len(s: &str) -> Option<usize> {
    let scheme = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_')))
        .unwrap_or(s.len());
    if scheme == 0 || !s.as_bytes()[0].is_ascii_alphabetic() || !s[scheme..].starts_with("://") {
        return None;
    }
    let body = &s[scheme + 3..];
    let len = body
        .find(|c: char| c.is_whitespace() || c == ',' || c == ')' || c == ']')
        .unwrap_or(body.len());
    Some(scheme + 3 + len)
}

/// A bare ISO-8601 date or date-time at the start of `s`: `2021-05-06`,
/// `2021-05-06T00:00:00Z`, `2021-05-06T00:00:00.123+02:00`.
fn iso_timestamp_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| {
        b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    if !(digits(0, 4)
        && b.get(4) == Some(&b'-')
        && digits(5, 2)
        && b.get(7) == Some(&b'-')
        && digits(8, 2))
    {
        return None;
    }
    let mut i = 10;
    if matches!(b.get(i), Some(b'T') | Some(b't'))
        && digits(i + 1, 2)
        && b.get(i + 3) == Some(&b':')
        && digits(i + 4, 2)
    {
        i += 6;
        if b.get(i) == Some(&b':') && digits(i + 1, 2) {
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
        }
        match b.get(i) {
            Some(b'Z') | Some(b'z') => i += 1,
            Some(b'+') | Some(b'-') if digits(i + 1, 2) => {
                i += 3;
                if b.get(i) == Some(&b':') && digits(i + 1, 2) {
                    i += 3;
                }
            }
            _ => {}
        }
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::token::TimeUnit;

    fn toks(s: &str) -> Vec<Tok> {
        Lexer::new(s).map(|t| t.expect("lexes").1).collect()
    }

    #[test]
    fn escape_is_a_keyword_only_after_like_and_a_string() {
        assert_eq!(
            toks("a LIKE 'x!%' escape '!'")[3..],
            [Tok::Escape, Tok::Str("!".into())]
        );
        assert_eq!(toks("a NOT LIKE 'x' ESCAPE '!'")[4], Tok::Escape);
        // Anywhere else a name: an attribute, a variable.
        assert_eq!(toks("escape = 'x'")[0], Tok::Ident("escape".into()));
        assert_eq!(toks("a = 'x' escape")[3], Tok::Ident("escape".into()));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            toks("get Process fRoM x"),
            vec![
                Tok::Get,
                Tok::Ident("Process".into()),
                Tok::From,
                Tok::Ident("x".into())
            ]
        );
    }

    #[test]
    fn uris_paths_and_dashed_names() {
        assert_eq!(
            toks("FROM stixshifter://bh22-linux-192.168.56.91 WHERE"),
            vec![
                Tok::From,
                Tok::Uri("stixshifter://bh22-linux-192.168.56.91".into()),
                Tok::Where
            ]
        );
        assert_eq!(
            toks("LOAD /tmp/a.parquet.gz AS network-traffic"),
            vec![
                Tok::Load,
                Tok::Path("/tmp/a.parquet.gz".into()),
                Tok::As,
                Tok::Ident("network-traffic".into())
            ]
        );
        assert_eq!(
            toks("[x-oca-asset:hostname = 'h']"),
            vec![
                Tok::LBracket,
                Tok::Ident("x-oca-asset".into()),
                Tok::Colon,
                Tok::Ident("hostname".into()),
                Tok::Assign,
                Tok::Str("h".into()),
                Tok::RBracket
            ]
        );
    }

    #[test]
    fn strings_follow_python() {
        assert_eq!(
            toks(r#"'a\'b' "c\"d" 'x\ny'"#),
            vec![
                Tok::Str("a'b".into()),
                Tok::Str("c\"d".into()),
                Tok::Str("x\ny".into())
            ]
        );
        // Unknown escapes keep their backslash; `\\` is one backslash.
        assert_eq!(
            toks(r"'%\\system32\\%' 'C:\Windows'"),
            vec![
                Tok::Str(r"%\system32\%".into()),
                Tok::Str(r"C:\Windows".into())
            ]
        );
        assert_eq!(toks(r"r'C:\\x\d'"), vec![Tok::Str(r"C:\\x\d".into())]);
        assert_eq!(toks(r"'\x41\u00e9'"), vec![Tok::Str("Aé".into())]);
    }

    #[test]
    fn timestamps_numbers_durations() {
        assert_eq!(
            toks("START t'2021-05-06T00:00:00Z' STOP 2021-05-07T00:00:00.5Z"),
            vec![
                Tok::Start,
                Tok::Timestamp("2021-05-06T00:00:00Z".into()),
                Tok::Stop,
                Tok::Timestamp("2021-05-07T00:00:00.5Z".into())
            ]
        );
        assert_eq!(
            toks("4 -2 3.5 5m LAST 2 days"),
            vec![
                Tok::Int(4),
                Tok::Int(-2),
                Tok::Float(3.5),
                Tok::Duration(5, "m".into()),
                Tok::Last,
                Tok::Int(2),
                Tok::Unit(TimeUnit::Days)
            ]
        );
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            toks("# hello\nDISP x # trailing\n"),
            vec![Tok::Disp, Tok::Ident("x".into())]
        );
    }

    #[test]
    fn errors_point_at_the_character() {
        let err = Lexer::new("x = 'abc").last().unwrap().unwrap_err();
        assert_eq!(err.code, Code::Unterminated);
        assert_eq!(err.span, Some(Span::new(4, 8)));
        let err = Lexer::new("x = ;").last().unwrap().unwrap_err();
        assert_eq!(err.span, Some(Span::new(4, 5)));
        let err = Lexer::new("x = 99999999999999999999")
            .last()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, Code::BadToken);
    }
}
