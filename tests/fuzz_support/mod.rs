//! A grammar-shaped fuzzer for the whole compile path (parse → lower → optimise → emit).
//!
//! In: a seed. Out: hunts that mix valid statements of every form with near-valid
//! mutations of them (truncations, swapped, dropped and repeated tokens, random bytes,
//! huge numbers, deep nesting, long chains, odd Unicode), and [`check`], which compiles
//! one hunt for every dialect in `dialects/` and reports what went wrong: a panic, an
//! error that is not a proper diagnostic (no span, a span outside the source, an
//! internal error), or SQL that is not what the dialect parses back.
//!
//! Used by `tests/fuzz.rs` (a few thousand cases and the corpus in `tests/fuzz_corpus/`,
//! in `cargo test`) and `examples/fuzz.rs` (the long run). Deterministic: the same seed
//! gives the same hunts, so a failure is reproduced by its seed or by the saved input.

#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use kestrel::diag::Code;
use kestrel::lower::LowerOptions;
use kestrel::source::SourceFile;
use kestrel::sql::{Dialect, LiteralMode};

/// "Now" for `LAST n <unit>`: fixed, so a case compiles the same way every time.
pub const FIXED_NOW: i64 = 1_620_302_400_000_000;

/// splitmix64: tiny, fast, and good enough to pick grammar productions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ENTITIES: &[&str] = &[
    "process",
    "file",
    "network-traffic",
    "ipv4-addr",
    "user-account",
    "x-oca-asset",
    "windows-registry-key",
    "event",
    "network_endpoint",
    "user",
    "endpoint",
    "procezz",
];

const ATTRS: &[&str] = &[
    "name",
    "pid",
    "cmd_line",
    "command_line",
    "parent_ref.name",
    "parent_process.name",
    "binary_ref.name",
    "file.path",
    "src_ref.value",
    "dst_port",
    "src_port",
    "x_custom",
    "uid",
    "endpoint.hostname",
    "x-oca-asset:hostname",
    "process:name",
    "first_observed",
    "@timestamp",
    "user.name",
    "nosuchattr",
];

const RELATIONS: &[&str] = &[
    "CREATED",
    "ACCEPTED",
    "LOADED",
    "LINKED",
    "OWNED",
    "READ",
    "UPDATED",
    "DELETED",
    "ORIGINATED",
    "RESPONDED",
    "SPAWNED",
];

const OPS: &[&str] = &[
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "IN",
    "NOT IN",
    "LIKE",
    "NOT LIKE",
    "MATCHES",
    "NOT MATCHES",
    "ISSUBSET",
    "NOT ISSUBSET",
    "ISSUPERSET",
];

const URIS: &[&str] = &[
    "sqlite://events",
    "stixshifter://host101",
    "elastic://x/y",
    "a://",
    "x://ü",
];

/// Strings that have broken lexers, SQL emitters and renderers before.
const HOSTILE: &[&str] = &[
    "",
    "'",
    "''",
    "\\'",
    "\"",
    "\\\\",
    "\\",
    "%",
    "_",
    "%_%",
    "--",
    "/* x */",
    ";",
    "; DROP TABLE events; --",
    "\\x00",
    "\\0",
    "\\u00e9",
    "\\U0001F600",
    "\\xZZ",
    "é",
    "\u{202e}rtl",
    "\u{feff}",
    "Ω≈ç√",
    "𝕏",
    "a\\nb",
    "C:\\Windows\\System32\\%",
    "(?i)CMD",
    "[unclosed",
    "a{1000000}",
    "10.0.0.0/8",
    "10.0.0.0/33",
    "999.1.1.1/8",
    "2021-05-06T00:00:00Z",
    "$1",
    "?1",
    "@P1",
    "${HOME}",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "4",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "99999999999999999999999",
    "1e308",
    "1e309",
    "-0.0",
    "1.5",
    "0x10",
    "1_000",
    "5m",
    "7x",
    "99999999999999999999d",
];

const TIMES: &[&str] = &[
    "t'2021-05-06T00:00:00Z'",
    "2021-05-06T00:00:00.000Z",
    "'2021-05-06T00:00:00Z'",
    "t'2021-13-45T99:99:99Z'",
    "t'not a time'",
    "0",
    "9223372036854775807",
];

const UNITS: &[&str] = &["DAYS", "HOURS", "MINUTES", "SECONDS", "DAY", "YEARS"];

/// Builds hunts statement by statement, keeping track of the variables defined so far so
/// that most references resolve (and some, on purpose, do not).
pub struct Gen<'r> {
    rng: &'r mut Rng,
    vars: Vec<String>,
    /// How deep the next pattern may nest (grows rarely, to probe the limits).
    max_depth: usize,
}

impl<'r> Gen<'r> {
    pub fn new(rng: &'r mut Rng) -> Gen<'r> {
        Gen {
            rng,
            vars: Vec::new(),
            max_depth: 4,
        }
    }

    fn var(&mut self) -> String {
        if self.vars.is_empty() || self.rng.chance(1, 40) {
            {
                let n = if self.rng.chance(1, 5) { 5 } else { 4 };
                ["procs", "undefined_var", "x", "p_2", "GET"][self.rng.below(n)]
            }
            .to_string()
        } else {
            let i = self.rng.below(self.vars.len());
            self.vars[i].clone()
        }
    }

    fn new_var(&mut self) -> String {
        let name = if !self.vars.is_empty() && self.rng.chance(1, 4) {
            // Re-assign: a new version of an existing name.
            let i = self.rng.below(self.vars.len());
            self.vars[i].clone()
        } else {
            format!("v{}", self.vars.len())
        };
        self.vars.push(name.clone());
        name
    }

    fn attr(&mut self) -> String {
        self.rng.pick(ATTRS).to_string()
    }

    fn string(&mut self) -> String {
        let body = self.rng.pick(HOSTILE).to_string();
        // Escape what would end the literal; the lexer's own escapes stay as written.
        let quote = if self.rng.chance(1, 2) { '\'' } else { '"' };
        let mut s = String::new();
        let raw = self.rng.chance(1, 10);
        if raw {
            s.push('r');
        }
        s.push(quote);
        for c in body.chars() {
            if c == quote {
                s.push('\\');
            }
            s.push(c);
        }
        if s.ends_with('\\') && !s.ends_with("\\\\") {
            s.push('\\');
        }
        if self.rng.chance(1, 50) {
            s.push_str(&"A".repeat(self.rng.below(20_000)));
        }
        s.push(quote);
        s
    }

    fn scalar(&mut self) -> String {
        match self.rng.below(10) {
            0..=4 => self.string(),
            5..=6 => self.rng.pick(NUMBERS).to_string(),
            7 => ["TRUE", "FALSE", "NULL", "true", "null"][self.rng.below(5)].to_string(),
            8 => self.rng.pick(TIMES).to_string(),
            _ => format!("{}.{}", self.var(), self.attr()),
        }
    }

    fn value(&mut self, depth: usize) -> String {
        if depth < self.max_depth && self.rng.chance(1, 5) {
            let n = self.rng.below(5);
            let items: Vec<String> = (0..n).map(|_| self.value(depth + 1)).collect();
            let (o, c) = if self.rng.chance(1, 2) {
                ("(", ")")
            } else {
                ("[", "]")
            };
            format!("{o}{}{c}", items.join(", "))
        } else {
            self.scalar()
        }
    }

    fn comparison(&mut self) -> String {
        let attr = self.attr();
        match self.rng.below(12) {
            0 => format!("{attr} IS NULL"),
            1 => format!("{attr} IS NOT NULL"),
            _ => {
                let op = self.rng.pick(OPS).to_string();
                let v = self.value(0);
                format!("{attr} {op} {v}")
            }
        }
    }

    pub fn pattern(&mut self, depth: usize) -> String {
        if depth >= self.max_depth {
            return self.comparison();
        }
        match self.rng.below(10) {
            0..=3 => self.comparison(),
            4 => format!(
                "{} AND {}",
                self.pattern(depth + 1),
                self.pattern(depth + 1)
            ),
            5 => format!("{} OR {}", self.pattern(depth + 1), self.pattern(depth + 1)),
            6 => format!("NOT {}", self.pattern(depth + 1)),
            7 => format!("({})", self.pattern(depth + 1)),
            8 => format!("[{}]", self.pattern(depth + 1)),
            _ => {
                // A long chain: OR/AND of many terms (flat in the language, deep in an AST).
                let long = self.rng.chance(1, 20);
                let n = 2 + self.rng.below(if long { 3000 } else { 10 });
                let op = if self.rng.chance(1, 2) {
                    " OR "
                } else {
                    " AND "
                };
                let terms: Vec<String> = (0..n).map(|_| self.comparison()).collect();
                terms.join(op)
            }
        }
    }

    fn time(&mut self) -> String {
        match self.rng.below(4) {
            0 => format!(
                " START {} STOP {}",
                self.rng.pick(TIMES),
                self.rng.pick(TIMES)
            ),
            1 => {
                let n = self.count();
                format!(" LAST {n} {}", self.rng.pick(UNITS))
            }
            _ => String::new(),
        }
    }

    /// A count: small and valid mostly, anything from NUMBERS sometimes.
    fn count(&mut self) -> String {
        if self.rng.chance(1, 8) {
            self.rng.pick(NUMBERS).to_string()
        } else {
            ["0", "1", "5", "100", "9223372036854775807"][self.rng.below(5)].to_string()
        }
    }

    /// LIMIT n (GET and FIND take no OFFSET).
    fn get_limit(&mut self) -> String {
        if self.rng.chance(1, 5) {
            format!(" LIMIT {}", self.count())
        } else {
            String::new()
        }
    }

    fn limit(&mut self) -> String {
        match self.rng.below(5) {
            0 => format!(" LIMIT {}", self.count()),
            1 => format!(" LIMIT {} OFFSET {}", self.count(), self.count()),
            _ => String::new(),
        }
    }

    fn where_(&mut self) -> String {
        if self.rng.chance(2, 3) {
            format!(" WHERE {}", self.pattern(0))
        } else {
            String::new()
        }
    }

    fn clauses(&mut self) -> String {
        let mut s = self.where_();
        if self.rng.chance(1, 2) {
            let n = 1 + self.rng.below(4);
            let attrs: Vec<String> = (0..n).map(|_| self.attr()).collect();
            s.push_str(&format!(" ATTR {}", attrs.join(", ")));
        }
        if self.rng.chance(1, 3) {
            let dir = ["", " ASC", " DESC"][self.rng.below(3)];
            s.push_str(&format!(" SORT BY {}{dir}", self.attr()));
        }
        s.push_str(&self.limit());
        s
    }

    fn new_data(&mut self) -> String {
        let n = self.rng.below(5);
        let items: Vec<String> = (0..n)
            .map(|_| {
                if self.rng.chance(1, 2) {
                    self.string()
                } else {
                    let k = self.rng.below(4);
                    let members: Vec<String> = (0..k)
                        .map(|_| {
                            let key = match self.rng.below(4) {
                                0 => "\"type\"".to_string(),
                                1 => format!("\"{}\"", self.attr()),
                                2 => self.string(),
                                _ => "\"name\"".to_string(),
                            };
                            let v = if self.rng.chance(1, 6) {
                                format!("{{\"a\": {}}}", self.value(1))
                            } else {
                                self.value(1)
                            };
                            format!("{key}: {v}")
                        })
                        .collect();
                    format!("{{{}}}", members.join(", "))
                }
            })
            .collect();
        let entity = if self.rng.chance(3, 4) {
            format!("{} ", self.rng.pick(ENTITIES))
        } else {
            String::new()
        };
        format!("NEW {entity}[{}]", items.join(", "))
    }

    /// One statement (without its line break).
    pub fn statement(&mut self) -> String {
        self.max_depth = if self.rng.chance(1, 30) { 40 } else { 4 };
        // The first statement defines a variable (GET or NEW), as real hunts start.
        let form = if self.vars.is_empty() {
            [0, 6][self.rng.below(2)]
        } else {
            self.rng.below(20)
        };
        match form {
            0..=3 => {
                let (e, uri) = (self.rng.pick(ENTITIES), self.rng.pick(URIS));
                let from = if self.rng.chance(1, 8) {
                    String::new()
                } else if self.rng.chance(1, 8) {
                    format!(" FROM {}", self.var())
                } else {
                    format!(" FROM {uri}")
                };
                let (w, t, l) = (self.where_(), self.time(), self.get_limit());
                let v = self.new_var();
                format!("{v} = GET {e}{from}{w}{t}{l}")
            }
            4..=5 => {
                let e = self.rng.pick(ENTITIES);
                let rel = self.rng.pick(RELATIONS);
                let by = if self.rng.chance(1, 2) { " BY" } else { "" };
                let src = self.var();
                let (w, t, l) = (self.where_(), self.time(), self.get_limit());
                let v = self.new_var();
                format!("{v} = FIND {e} {rel}{by} {src}{w}{t}{l}")
            }
            6..=7 => {
                let data = self.new_data();
                let v = self.new_var();
                format!("{v} = {data}")
            }
            8 => {
                let path = [
                    "tests/fixtures/lang_known_bad.csv",
                    "tests/fixtures/ecs_process_creation.csv",
                    "tests/fixtures/missing.csv",
                    "'tests/fixtures/lang_known_bad.csv'",
                    "/nonexistent/x.json",
                    "x.parquet",
                    "noext",
                ][self.rng.below(7)];
                let as_ = if self.rng.chance(2, 3) {
                    format!(" AS {}", self.rng.pick(ENTITIES))
                } else {
                    String::new()
                };
                let v = self.new_var();
                format!("{v} = LOAD {path}{as_}")
            }
            9 => {
                let src = self.var();
                let dir = ["", " ASC", " DESC"][self.rng.below(3)];
                let a = self.attr();
                let v = self.new_var();
                format!("{v} = SORT {src} BY {a}{dir}")
            }
            10 => {
                let src = self.var();
                let key = if self.rng.chance(1, 3) {
                    let size = ["5m", "1h", "1000", "0", "-5", "3x", "2 d"][self.rng.below(7)];
                    format!("BIN({}, {size})", self.attr())
                } else {
                    self.attr()
                };
                let with = if self.rng.chance(1, 2) {
                    let f = ["COUNT", "MIN", "MAX", "SUM", "AVG", "NUNIQUE", "MEDIAN"]
                        [self.rng.below(7)];
                    let alias = if self.rng.chance(1, 2) {
                        format!(" AS {}", self.attr().replace(['.', ':'], "_"))
                    } else {
                        String::new()
                    };
                    format!(" WITH {f}({}){alias}", self.attr())
                } else {
                    String::new()
                };
                let v = self.new_var();
                format!("{v} = GROUP {src} BY {key}{with}")
            }
            11 => {
                let (a, b) = (self.var(), self.var());
                let by = if self.rng.chance(1, 2) {
                    format!(" BY {}, {}", self.attr(), self.attr())
                } else {
                    String::new()
                };
                let v = self.new_var();
                format!("{v} = JOIN {a}, {b}{by}")
            }
            12 => {
                let n = 2 + self.rng.below(3);
                let vs: Vec<String> = (0..n).map(|_| self.var()).collect();
                let v = self.new_var();
                format!("{v} = {}", vs.join(" + "))
            }
            13 => {
                let src = self.var();
                let src = if self.rng.chance(1, 3) {
                    format!("TIMESTAMPED({src})")
                } else {
                    src
                };
                let c = self.clauses();
                let v = self.new_var();
                format!("{v} = {src}{c}")
            }
            14..=15 => {
                let src = self.var();
                let src = if self.rng.chance(1, 4) {
                    format!("TIMESTAMPED({src})")
                } else {
                    src
                };
                format!("DISP {src}{}", self.clauses())
            }
            16 => format!("INFO {}", self.var()),
            17 => format!("DESCRIBE {}.{}", self.var(), self.attr()),
            18 => format!("EXPLAIN {}", self.var()),
            _ => {
                if self.rng.chance(1, 2) {
                    let ext = ["csv", "json", "jsonl", "parquet", "txt"][self.rng.below(5)];
                    format!(
                        "SAVE {} TO /tmp/kestrel-fuzz-never-written.{ext}",
                        self.var()
                    )
                } else {
                    format!(
                        "APPLY python://x ON {} WITH k={}",
                        self.var(),
                        self.rng.pick(NUMBERS)
                    )
                }
            }
        }
    }

    /// A whole hunt of valid-shaped statements.
    pub fn hunt(&mut self) -> String {
        let n = 1 + self.rng.below(5);
        let mut s = String::new();
        for _ in 0..n {
            if self.rng.chance(1, 10) {
                s.push_str("# a comment with 'quotes' and ünïcode\n");
            }
            s.push_str(&self.statement());
            s.push('\n');
        }
        s
    }
}

/// Splits text into rough tokens (words, strings, punctuation) for token-level mutations.
fn rough_tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let word = c.is_alphanumeric() || matches!(c, '_' | '.' | '\'' | '"' | ':' | '/' | '-');
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(&text[s..i]);
                start = None;
                if !c.is_whitespace() {
                    out.push(&text[i..i + c.len_utf8()]);
                }
            }
            (false, None) => {
                if !c.is_whitespace() {
                    out.push(&text[i..i + c.len_utf8()]);
                }
            }
            (true, Some(_)) => {}
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Odd characters for byte-level mutations: control characters, quotes, brackets,
/// multi-byte and combining characters, bidi overrides, a BOM.
const ODD_CHARS: &[char] = &[
    '\0', '\t', '\r', '\n', '\x0b', '\x0c', '\x7f', '\'', '"', '\\', '(', ')', '[', ']', '{', '}',
    '=', '!', '<', '>', '#', '.', ',', ':', '+', '-', '%', '@', '$', 'é', 'ß', '\u{301}',
    '\u{202e}', '\u{feff}', '\u{2028}', '\u{ffff}', '😀', '𝕏', 'Ω', '٣', '\u{a0}',
];

/// A near-valid variant of `text`: one to three random edits.
pub fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s = text.to_string();
    for _ in 0..1 + rng.below(3) {
        s = match rng.below(10) {
            0 => {
                // Truncate.
                let at = floor_boundary(&s, rng.below(s.len() + 1));
                s[..at].to_string()
            }
            1 | 2 => {
                // Drop, repeat or swap tokens.
                let toks = rough_tokens(&s);
                if toks.len() < 2 {
                    s
                } else {
                    let mut toks: Vec<&str> = toks;
                    let i = rng.below(toks.len());
                    let j = rng.below(toks.len());
                    match rng.below(3) {
                        0 => {
                            toks.remove(i);
                        }
                        1 => {
                            let t = toks[i];
                            toks.insert(j, t);
                        }
                        _ => toks.swap(i, j),
                    }
                    toks.join(" ")
                }
            }
            3 | 4 => {
                // Insert odd characters.
                let at = floor_boundary(&s, rng.below(s.len() + 1));
                let n = 1 + rng.below(4);
                let ins: String = (0..n).map(|_| *rng.pick(ODD_CHARS)).collect();
                format!("{}{ins}{}", &s[..at], &s[at..])
            }
            5 => {
                // Replace a character by a random code point.
                let at = floor_boundary(&s, rng.below(s.len() + 1));
                let c = char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}');
                let next = s[at..].chars().next().map_or(0, char::len_utf8);
                format!("{}{c}{}", &s[..at], &s[at + next..])
            }
            6 => {
                // A huge number where a number (or anything) was.
                let at = floor_boundary(&s, rng.below(s.len() + 1));
                let n = [
                    "99999999999999999999999999",
                    "1e400",
                    "-9223372036854775809",
                    "1e-400",
                ][rng.below(4)];
                format!("{}{n}{}", &s[..at], &s[at..])
            }
            7 => {
                // Deep nesting around the pattern of a statement.
                let depth = [10, 50, 100, 150, 199, 200, 201, 1_000, 50_000][rng.below(9)];
                let (open, close) =
                    [("(", ")"), ("[", "]"), ("NOT ", ""), ("NOT (", ")")][rng.below(4)];
                match s.find("WHERE ") {
                    Some(w) => {
                        let w = w + "WHERE ".len();
                        let end = s[w..].find('\n').map_or(s.len(), |e| w + e);
                        format!(
                            "{}{}{}{}{}",
                            &s[..w],
                            open.repeat(depth),
                            &s[w..end],
                            close.repeat(depth),
                            &s[end..]
                        )
                    }
                    None => format!(
                        "x = GET process FROM sqlite://events WHERE {}name = 'a'{}\n{s}",
                        open.repeat(depth),
                        close.repeat(depth)
                    ),
                }
            }
            8 => {
                // Deep lists in a value.
                let depth = [50, 199, 201, 2_000, 20_000][rng.below(5)];
                format!(
                    "{s}\nv = GET process FROM sqlite://events WHERE name IN {}'a'{}\n",
                    "(".repeat(depth),
                    ")".repeat(depth)
                )
            }
            _ => {
                // Splice a line from elsewhere in the text.
                let lines: Vec<&str> = s.lines().collect();
                if lines.is_empty() {
                    s
                } else {
                    let l = lines[rng.below(lines.len())];
                    let at = floor_boundary(&s, rng.below(s.len() + 1));
                    format!("{}{l}{}", &s[..at], &s[at..])
                }
            }
        };
    }
    s
}

/// One case: a generated hunt, mutated half of the time.
pub fn case(seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let hunt = Gen::new(&mut rng).hunt();
    if rng.chance(1, 2) {
        mutate(&mut rng, &hunt)
    } else {
        hunt
    }
}

/// What went wrong with one input.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Panic(String),
    /// An error without a span, with a span outside the text, or an internal error.
    BadDiagnostic(String),
    /// Emitted SQL that sqlparser cannot read back in the dialect.
    BadSql(String),
}

/// How one input ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub compiled: bool,
    pub statements: usize,
}

/// What a caught panic said.
fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Compiles `text` (no database: the mappings assume every column exists) and emits SQL
/// for every dialect, in both literal modes, with and without the optimiser.
pub fn check(text: &str) -> Result<Outcome, Failure> {
    let r = catch_unwind(AssertUnwindSafe(|| check_inner(text)));
    match r {
        Ok(r) => r,
        Err(e) => Err(Failure::Panic(panic_message(e.as_ref()))),
    }
}

fn check_diag(d: &kestrel::diag::Diagnostic, src: &SourceFile, stage: &str) -> Result<(), Failure> {
    let rendered = d.render(src);
    if d.code == Code::Internal {
        return Err(Failure::BadDiagnostic(format!("{stage}: {rendered}")));
    }
    let Some(span) = d.span else {
        return Err(Failure::BadDiagnostic(format!(
            "{stage}: no span: {rendered}"
        )));
    };
    if span.start > span.end || span.end > src.text.len().max(1) {
        return Err(Failure::BadDiagnostic(format!(
            "{stage}: span {}..{} outside the text ({} bytes): {rendered}",
            span.start,
            span.end,
            src.text.len()
        )));
    }
    Ok(())
}

fn check_inner(text: &str) -> Result<Outcome, Failure> {
    let src = SourceFile::new("fuzz.hf", text);
    let program = match kestrel::compile_program(
        &src,
        LowerOptions {
            config: None,
            catalog: None,
            now: FIXED_NOW,
        },
    ) {
        Ok(p) => p,
        Err(d) => {
            check_diag(&d, &src, "compile")?;
            return Ok(Outcome::default());
        }
    };
    let _ = program.to_string();
    let mut statements = 0;
    for name in Dialect::names() {
        let Some(dialect) = Dialect::builtin(name) else {
            return Err(Failure::BadDiagnostic(format!(
                "dialect {name} does not load"
            )));
        };
        for (mode, optimise) in [
            (LiteralMode::Inline, true),
            (LiteralMode::Bind, true),
            (LiteralMode::Inline, false),
        ] {
            match kestrel::output_sql_with(&program, &dialect, mode, optimise) {
                Ok(outputs) => {
                    for o in &outputs {
                        for st in &o.statements {
                            statements += 1;
                            if mode == LiteralMode::Inline {
                                parse_back(name, &st.sql)?;
                            }
                        }
                    }
                }
                Err(d) => check_diag(&d, &src, &format!("emit {name}"))?,
            }
        }
    }
    Ok(Outcome {
        compiled: true,
        statements,
    })
}

/// The SQL read back by sqlparser's dialect for ours (tests/common).
fn parse_back(dialect: &str, sql: &str) -> Result<(), Failure> {
    // Statements deeper than sqlparser's own recursion limit (50) cannot be read back by
    // it; that limit is sqlparser's, not the database's.
    match common::parse_back(dialect, sql) {
        Ok(_) => Ok(()),
        Err(sqlparser::parser::ParserError::RecursionLimitExceeded) => Ok(()),
        Err(e) => Err(Failure::BadSql(format!("{dialect}: {e}\n{sql}"))),
    }
}

/// A small SQLite lake (the ECS fixture as `events`, also reachable as `host101`) and its
/// configuration, for running cases rather than only compiling them.
pub struct FuzzLake {
    dir: std::path::PathBuf,
    pub config: kestrel::config::Config,
}

impl FuzzLake {
    pub fn new(tag: &str) -> FuzzLake {
        let dir = common::fresh_dir("fuzz-lake", tag);
        let db = dir.join("lake.db");
        common::ingest_ecs_fixture(&db);
        let mut yaml = format!(
            "connections:\n  lake:\n    url: sqlite:///{}\n    statement_timeout: 20\ndatasources:\n",
            db.display()
        );
        for name in ["events", "host101"] {
            yaml.push_str(&format!(
                "  {name}:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n"
            ));
        }
        let config = kestrel::config::Config::from_yaml_str(&yaml, None).expect("config");
        FuzzLake { dir, config }
    }
}

impl Drop for FuzzLake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `text` on the lake (catalog, shipping, temporary tables, output): no panic, and
/// every error a diagnostic with a span in the text. SAVE is left out: a case must not
/// write files.
pub fn check_run(text: &str, lake: &FuzzLake) -> Result<Outcome, Failure> {
    let text: String = text
        .lines()
        .filter(|l| !l.to_ascii_uppercase().contains("SAVE"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let src = SourceFile::new("fuzz.hf", text.as_str());
        let mut printer =
            kestrel::output::Printer::new(std::io::sink(), kestrel::output::Format::Jsonl);
        match kestrel::run::run_hunt(
            &src,
            Some(&lake.config),
            &mut printer,
            &mut std::io::sink(),
            &kestrel::run::RunOptions { summary: true },
        ) {
            Ok(_) => Ok(Outcome {
                compiled: true,
                statements: 0,
            }),
            Err(d) => {
                check_diag(&d, &src, "run")?;
                Ok(Outcome::default())
            }
        }
    }));
    match r {
        Ok(r) => r,
        Err(e) => Err(Failure::Panic(panic_message(e.as_ref()))),
    }
}
