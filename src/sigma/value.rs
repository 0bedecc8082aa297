//! Detections and their values, with Sigma's modifiers applied.
//!
//! In: one named detection of a rule (a mapping of `Field|modifier|…: value(s)`, or a list
//! of such mappings). Out: a [`Node`] tree of field [`Test`]s: `CommandLine|contains|all:
//! [a, b]` is `CommandLine ~ *a* AND CommandLine ~ *b*`; `|windash` and `|base64offset`
//! expand one value into alternatives. Modifiers follow pySigma 2 (the reference
//! implementation) exactly: wildcards are added only where the value lacks them, `wide`
//! puts a NUL after each ASCII character, `utf16` adds a byte-order mark, `base64offset`
//! yields the three shifted encodings, `windash` varies a `-` or `/` that starts a word.

use serde_yaml::Value;

use super::rule::Rule;
use super::SigmaError;

/// One character of a Sigma string: a literal, or a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    Lit(char),
    /// `*`
    Any,
    /// `?`
    One,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Test(Test),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    /// The Sigma field name as written.
    pub field: String,
    /// Line of the detection item in the rule file.
    pub line: usize,
    pub kind: TestKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestKind {
    /// The whole value matches, ASCII letters in either case.
    Like(Vec<Piece>),
    /// The whole value matches, case-sensitively (`|cased`).
    Cased(Vec<Piece>),
    /// A regular-expression search; flags as a `(?ims)` prefix.
    Regex(String),
    /// `=`, `<`, `<=`, `>`, `>=` a number (as YAML wrote it).
    Num(NumOp, String),
    /// `field: null`
    Null,
    /// `|exists: true/false`
    Exists(bool),
    /// `|cidr`: an IPv4 network.
    Cidr(String),
    /// `field: true`: the text `true` or the number 1 (as pySigma reads it).
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A value while modifiers apply.
#[derive(Debug, Clone, PartialEq)]
enum SVal {
    Str(Vec<Piece>),
    Cased(Vec<Piece>),
    Num(String),
    Null,
    Bool(bool),
    Regex {
        re: String,
        flags: Vec<char>,
    },
    Cidr(String),
    Cmp(NumOp, String),
    Exists(bool),
    /// Alternatives (windash, base64offset): any of them.
    Expansion(Vec<SVal>),
}

/// A Sigma string: `*` and `?` are wildcards; `\` makes a following `*`, `?` or `\`
/// literal and is itself literal before anything else.
pub fn parse_string(s: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.clone().next() {
                Some(n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(Piece::Lit(n));
                }
                _ => out.push(Piece::Lit('\\')),
            },
            '*' => out.push(Piece::Any),
            '?' => out.push(Piece::One),
            c => out.push(Piece::Lit(c)),
        }
    }
    out
}

fn has_wildcards(p: &[Piece]) -> bool {
    p.iter().any(|x| !matches!(x, Piece::Lit(_)))
}

fn plain(p: &[Piece]) -> String {
    p.iter()
        .filter_map(|x| match x {
            Piece::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn lits(s: &str) -> Vec<Piece> {
    s.chars().map(Piece::Lit).collect()
}

/// The tests of one named detection.
pub fn detection(rule: &Rule, name: &str, v: &Value) -> Result<Node, SigmaError> {
    let line = rule.detection_line(name);
    match v {
        Value::Mapping(m) => mapping(rule, line, m),
        Value::Sequence(items) if !items.is_empty() && items.iter().all(|i| i.is_mapping()) => {
            let mut parts = Vec::new();
            for item in items {
                if let Value::Mapping(m) = item {
                    parts.push(mapping(rule, line, m)?);
                }
            }
            Ok(Node::Or(parts))
        }
        _ => Err(rule.err(
            line,
            "keyword search",
            format!(
                "detection `{name}` searches for keywords without a field, which Kestrel \
                 cannot run: name the field each value is in"
            ),
        )),
    }
}

fn mapping(rule: &Rule, det_line: usize, m: &serde_yaml::Mapping) -> Result<Node, SigmaError> {
    let mut parts = Vec::new();
    for (k, v) in m {
        let key = k
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| super::rule::scalar_text(k).unwrap_or_default());
        let line = rule.line_of(&format!("{key}:"), det_line).max(det_line);
        parts.push(item(rule, line, &key, v)?);
    }
    if parts.is_empty() {
        return Err(rule.err(det_line, "empty detection", "a detection has no fields"));
    }
    Ok(Node::And(parts))
}

/// `Field|mod|mod: value or [values]`
fn item(rule: &Rule, line: usize, key: &str, v: &Value) -> Result<Node, SigmaError> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default().to_string();
    let modifiers: Vec<&str> = parts.collect();
    if field.is_empty() {
        return Err(rule.err(
            line,
            "keyword search",
            "a value without a field (a keyword search) cannot run in Kestrel: name the field",
        ));
    }
    let mut all = false;
    for m in &modifiers {
        if *m == "all" {
            all = true;
        }
    }
    let values: Vec<&Value> = match v {
        Value::Sequence(list) => list.iter().collect(),
        v => vec![v],
    };
    if values.is_empty() {
        return Err(rule.err(
            line,
            "empty list",
            format!("`{key}` has an empty list of values"),
        ));
    }
    let mut tests = Vec::new();
    for value in values {
        let mut sval = initial(rule, line, key, value, &modifiers)?;
        let mut applied: Vec<&str> = Vec::new();
        for m in &modifiers {
            sval = apply(rule, line, key, m, sval, &applied)?;
            applied.push(m);
        }
        tests.push(to_node(line, &field, sval));
    }
    Ok(if all {
        Node::And(tests)
    } else {
        Node::Or(tests)
    })
}

/// A YAML value as Sigma reads it, before modifiers (`re` and `cidr` take the text raw).
fn initial(
    rule: &Rule,
    line: usize,
    key: &str,
    v: &Value,
    modifiers: &[&str],
) -> Result<SVal, SigmaError> {
    let raw = matches!(modifiers.first(), Some(&("re" | "cidr")));
    Ok(match v {
        Value::String(s) if raw => SVal::Str(lits(s)),
        Value::String(s) => SVal::Str(parse_string(s)),
        Value::Number(n) => SVal::Num(n.to_string()),
        Value::Null => SVal::Null,
        Value::Bool(b) => SVal::Bool(*b),
        _ => {
            return Err(rule.err(
                line,
                "value",
                format!("`{key}` has a value that is not a string, number, boolean or null"),
            ))
        }
    })
}

fn apply(
    rule: &Rule,
    line: usize,
    key: &str,
    m: &str,
    v: SVal,
    applied: &[&str],
) -> Result<SVal, SigmaError> {
    if let SVal::Expansion(vs) = v {
        return Ok(SVal::Expansion(
            vs.into_iter()
                .map(|x| apply(rule, line, key, m, x, applied))
                .collect::<Result<_, _>>()?,
        ));
    }
    let bad_type = |what: &str| {
        rule.err(
            line,
            format!("modifier |{m}"),
            format!("`{key}`: |{m} does not apply to {what}"),
        )
    };
    let describe = |v: &SVal| match v {
        SVal::Num(_) => "a number",
        SVal::Null => "null",
        SVal::Bool(_) => "a boolean",
        SVal::Regex { .. } => "a regular expression",
        SVal::Cidr(_) => "a network",
        _ => "this value",
    };
    // A number under a string modifier is its text.
    let v = match (m, v) {
        (
            "contains" | "startswith" | "endswith" | "wide" | "utf16le" | "utf16be" | "utf16"
            | "base64" | "base64offset" | "windash" | "cased",
            SVal::Num(n),
        ) => SVal::Str(lits(&n)),
        (_, v) => v,
    };
    Ok(match m {
        "all" => v,
        "contains" | "startswith" | "endswith" => match v {
            SVal::Str(p) => SVal::Str(wrap(m, p)),
            SVal::Cased(p) => SVal::Cased(wrap(m, p)),
            SVal::Regex { re, flags } => SVal::Regex {
                re: regex_wrap(m, &re),
                flags,
            },
            other => return Err(bad_type(describe(&other))),
        },
        "cased" => match v {
            SVal::Str(p) => SVal::Cased(p),
            other => return Err(bad_type(describe(&other))),
        },
        "wide" | "utf16le" | "utf16be" | "utf16" => match v {
            SVal::Str(p) => SVal::Str(utf16(rule, line, key, m, &p)?),
            other => return Err(bad_type(describe(&other))),
        },
        "base64" | "base64offset" => match v {
            SVal::Str(p) => {
                if has_wildcards(&p) {
                    return Err(rule.err(
                        line,
                        format!("modifier |{m}"),
                        format!("`{key}`: base64 of a value with wildcards is not Sigma"),
                    ));
                }
                let mut data = plain(&p).into_bytes();
                if applied.contains(&"utf16") && data.starts_with("\u{feff}".as_bytes()) {
                    data.splice(0..3, [0xff, 0xfe]);
                }
                if m == "base64" {
                    SVal::Str(lits(&base64(&data)))
                } else {
                    SVal::Expansion(
                        base64_offsets(&data)
                            .into_iter()
                            .map(|s| SVal::Str(lits(&s)))
                            .collect(),
                    )
                }
            }
            other => return Err(bad_type(describe(&other))),
        },
        "windash" => match v {
            SVal::Str(p) => windash(rule, line, key, &p)?,
            other => return Err(bad_type(describe(&other))),
        },
        "re" => {
            if !applied.is_empty() {
                return Err(rule.err(line, "modifier |re", "|re must be the first modifier"));
            }
            match v {
                SVal::Str(p) => SVal::Regex {
                    re: plain(&p),
                    flags: Vec::new(),
                },
                other => return Err(bad_type(describe(&other))),
            }
        }
        "i" | "ignorecase" | "m" | "multiline" | "s" | "dotall" => match v {
            SVal::Regex { re, mut flags } => {
                let f = m.chars().next().unwrap_or('i');
                let f = match m {
                    "multiline" => 'm',
                    "dotall" => 's',
                    _ => f,
                };
                if !flags.contains(&f) {
                    flags.push(f);
                    flags.sort_unstable();
                }
                SVal::Regex { re, flags }
            }
            other => return Err(bad_type(describe(&other))),
        },
        "cidr" => match v {
            SVal::Str(p) => {
                let s = plain(&p);
                if s.contains(':') {
                    return Err(rule.err(
                        line,
                        "modifier |cidr (IPv6)",
                        format!("`{key}`: IPv6 networks ({s}) are not supported, only IPv4"),
                    ));
                }
                if crate::lower::cidr_valid(&s) {
                    SVal::Cidr(s)
                } else {
                    return Err(rule.err(
                        line,
                        "modifier |cidr",
                        format!("`{key}`: `{s}` is not an IPv4 network"),
                    ));
                }
            }
            other => return Err(bad_type(describe(&other))),
        },
        "lt" | "lte" | "gt" | "gte" => match v {
            SVal::Num(n) => SVal::Cmp(
                match m {
                    "lt" => NumOp::Lt,
                    "lte" => NumOp::Le,
                    "gt" => NumOp::Gt,
                    _ => NumOp::Ge,
                },
                n,
            ),
            other => return Err(bad_type(describe(&other))),
        },
        "exists" => match v {
            SVal::Bool(b) if applied.is_empty() => SVal::Exists(b),
            other => return Err(bad_type(describe(&other))),
        },
        "fieldref" => {
            return Err(rule.err(
                line,
                "modifier |fieldref",
                format!(
                    "`{key}`: |fieldref compares two fields of one event, which a Kestrel \
                     pattern cannot say"
                ),
            ))
        }
        other => {
            return Err(rule.err(
                line,
                format!("modifier |{other}"),
                format!("`{key}`: the modifier |{other} is not supported"),
            ))
        }
    })
}

fn to_node(line: usize, field: &str, v: SVal) -> Node {
    let test = |kind| {
        Node::Test(Test {
            field: field.to_string(),
            line,
            kind,
        })
    };
    match v {
        SVal::Str(p) => test(TestKind::Like(p)),
        SVal::Cased(p) => test(TestKind::Cased(p)),
        SVal::Num(n) => test(TestKind::Num(NumOp::Eq, n)),
        SVal::Null => test(TestKind::Null),
        SVal::Regex { re, flags } => {
            let prefix = if flags.is_empty() {
                String::new()
            } else {
                format!("(?{})", flags.iter().collect::<String>())
            };
            test(TestKind::Regex(format!("{prefix}{re}")))
        }
        SVal::Cidr(c) => test(TestKind::Cidr(c)),
        SVal::Cmp(op, n) => test(TestKind::Num(op, n)),
        SVal::Exists(b) => test(TestKind::Exists(b)),
        SVal::Bool(b) => test(TestKind::Bool(b)),
        SVal::Expansion(vs) => Node::Or(vs.into_iter().map(|x| to_node(line, field, x)).collect()),
    }
}

/// contains / startswith / endswith: wildcards where the value lacks them.
fn wrap(m: &str, mut p: Vec<Piece>) -> Vec<Piece> {
    if (m == "contains" || m == "endswith") && p.first() != Some(&Piece::Any) {
        p.insert(0, Piece::Any);
    }
    if (m == "contains" || m == "startswith") && p.last() != Some(&Piece::Any) {
        p.push(Piece::Any);
    }
    p
}

/// The same for a regular expression, as pySigma does it.
fn regex_wrap(m: &str, re: &str) -> String {
    let mut re = re.to_string();
    if toplevel_alternation(&re) {
        re = format!("(?:{re})");
    }
    let open_ended = !ends_unescaped(&re, ".*") && !ends_unescaped(&re, "$");
    if (m == "contains" || m == "endswith") && !(re.starts_with(".*") || re.starts_with('^')) {
        re = format!(".*{re}");
    }
    if (m == "contains" || m == "startswith") && open_ended {
        re.push_str(".*");
    }
    re
}

fn toplevel_alternation(re: &str) -> bool {
    let b = re.as_bytes();
    let (mut depth, mut in_class, mut i) = (0i32, false, 0);
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            }
        } else if c == b'[' {
            in_class = true;
            if b.get(i + 1) == Some(&b'^') {
                i += 1;
            }
            if b.get(i + 1) == Some(&b']') {
                i += 1;
            }
        } else if c == b'(' {
            depth += 1;
        } else if c == b')' {
            depth -= 1;
        } else if c == b'|' && depth == 0 {
            return true;
        }
        i += 1;
    }
    false
}

fn ends_unescaped(re: &str, suffix: &str) -> bool {
    let Some(head) = re.strip_suffix(suffix) else {
        return false;
    };
    (head.len() - head.trim_end_matches('\\').len()) % 2 == 0
}

fn utf16(
    rule: &Rule,
    line: usize,
    key: &str,
    m: &str,
    p: &[Piece],
) -> Result<Vec<Piece>, SigmaError> {
    let mut out = Vec::new();
    if m == "utf16" {
        out.push(Piece::Lit('\u{feff}'));
    }
    for x in p {
        match x {
            Piece::Lit(c) => {
                let mut buf = [0u16; 2];
                let mut bytes = Vec::new();
                for u in c.encode_utf16(&mut buf) {
                    if m == "utf16be" {
                        bytes.extend(u.to_be_bytes());
                    } else {
                        bytes.extend(u.to_le_bytes());
                    }
                }
                // pySigma reads the bytes back as UTF-8, which only ASCII survives whole.
                let s = String::from_utf8(bytes).map_err(|_| {
                    rule.err(
                        line,
                        format!("modifier |{m}"),
                        format!("`{key}`: |{m} only applies to ASCII text"),
                    )
                })?;
                out.extend(s.chars().map(Piece::Lit));
            }
            w => out.push(*w),
        }
    }
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The three encodings of `data` at offsets 0, 1 and 2 of a base64 stream, cut to the
/// characters that do not depend on the neighbouring bytes (pySigma's base64offset).
fn base64_offsets(data: &[u8]) -> Vec<String> {
    let starts = [0usize, 2, 3];
    let ends: [Option<isize>; 3] = [None, Some(-3), Some(-2)];
    (0..3)
        .map(|i| {
            let mut buf = vec![b' '; i];
            buf.extend_from_slice(data);
            let enc = base64(&buf);
            let end = match ends[(data.len() + i) % 3] {
                None => enc.len() as isize,
                Some(e) => enc.len() as isize + e,
            };
            let (s, e) = (starts[i].min(enc.len()), end.max(0) as usize);
            enc.get(s..e.max(s)).unwrap_or_default().to_string()
        })
        .collect()
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `\B[-/]\b` in each literal run: a dash or slash after a non-word character (or at the
/// run's start) and before a word character becomes each of `- / – — ―`.
fn windash(rule: &Rule, line: usize, key: &str, p: &[Piece]) -> Result<SVal, SigmaError> {
    let mut spots = Vec::new();
    let mut i = 0;
    while i < p.len() {
        if let Piece::Lit(c) = p[i] {
            let prev = match i.checked_sub(1).map(|j| p[j]) {
                Some(Piece::Lit(x)) => Some(x),
                _ => None,
            };
            let next = match p.get(i + 1) {
                Some(Piece::Lit(x)) => Some(*x),
                _ => None,
            };
            if (c == '-' || c == '/') && !prev.is_some_and(is_word) && next.is_some_and(is_word) {
                spots.push(i);
            }
        }
        i += 1;
    }
    if spots.len() > 3 {
        return Err(rule.err(
            line,
            "modifier |windash",
            format!("`{key}`: |windash expands at most three dashes in one value"),
        ));
    }
    let mut out = vec![p.to_vec()];
    for &s in &spots {
        out = out
            .into_iter()
            .flat_map(|v| {
                DASHES.iter().map(move |d| {
                    let mut v = v.clone();
                    v[s] = Piece::Lit(*d);
                    v
                })
            })
            .collect();
    }
    Ok(SVal::Expansion(out.into_iter().map(SVal::Str).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_read_wildcards_and_escapes_as_sigma_does() {
        use Piece::*;
        assert_eq!(parse_string(r"a*b?"), vec![Lit('a'), Any, Lit('b'), One]);
        assert_eq!(parse_string(r"\*\?\\"), vec![Lit('*'), Lit('?'), Lit('\\')]);
        assert_eq!(parse_string(r"C:\Win"), lits(r"C:\Win"));
        assert_eq!(parse_string("x\\"), lits("x\\"));
    }

    #[test]
    fn base64_and_offsets_match_pysigma() {
        assert_eq!(base64(b"ping"), "cGluZw==");
        // What pySigma's base64offset gives.
        assert_eq!(base64_offsets(b"ping"), ["cGluZ", "Bpbm", "waW5n"]);
        assert_eq!(base64_offsets(b"pin"), ["cGlu", "Bpb", "waW"]);
        assert_eq!(base64_offsets(b"pi"), ["cG", "Bp", "wa"]);
    }

    #[test]
    fn windash_varies_dashes_that_start_words() {
        let r = Rule::parse(
            "t.yml",
            "title: t\nlogsource: {category: process_creation}\ndetection:\n  s:\n    CommandLine|windash: ' -a x-y'\n  condition: s\n",
        )
        .unwrap();
        let SVal::Expansion(v) = windash(&r, 1, "k", &lits(" -a x-y")).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 5);
        assert_eq!(v[1], SVal::Str(lits(" /a x-y")));
    }
}
