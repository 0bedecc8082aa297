//! Tokens of the Kestrel language, as the lexer hands them to the grammar.

use std::fmt;

/// One token. Keywords are case-insensitive; the lexer decides which identifiers are
/// keywords so the grammar can match them as terminals.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// `scheme://rest` — a data source or analytic.
    Uri(String),
    /// An unquoted file path after `LOAD` or `TO`.
    Path(String),
    /// A string literal with escapes already applied.
    Str(String),
    /// `t'…'` or a bare ISO-8601 timestamp.
    Timestamp(String),
    Int(i64),
    Float(f64),
    /// A number glued to a unit: `5m`, `1h`, `30s`, `2d`.
    Duration(i64, String),

    // punctuation
    Assign,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Comma,
    Dot,
    Colon,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Plus,

    // keywords
    Get,
    Find,
    New,
    Load,
    Save,
    To,
    From,
    Where,
    Start,
    Stop,
    Last,
    Limit,
    Offset,
    By,
    Attr,
    Sort,
    Group,
    With,
    As,
    Join,
    Disp,
    Info,
    Describe,
    Explain,
    Apply,
    On,
    And,
    Or,
    Not,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
    Is,
    Null,
    True,
    False,
    Asc,
    Desc,
    Timestamped,
    /// `ESCAPE`, a keyword only right after `LIKE '…'` (see the lexer).
    Escape,
    /// DAY(S), HOUR(S), MINUTE(S), SECOND(S): the unit of `LAST n <unit>`.
    Unit(TimeUnit),
}

/// The units of `LAST n <unit>` and of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Days,
    Hours,
    Minutes,
    Seconds,
}

impl TimeUnit {
    pub fn seconds(self) -> i64 {
        match self {
            TimeUnit::Days => 86_400,
            TimeUnit::Hours => 3_600,
            TimeUnit::Minutes => 60,
            TimeUnit::Seconds => 1,
        }
    }
}

/// Keywords by their upper-case spelling.
pub fn keyword(upper: &str) -> Option<Tok> {
    Some(match upper {
        "GET" => Tok::Get,
        "FIND" => Tok::Find,
        "NEW" => Tok::New,
        "LOAD" => Tok::Load,
        "SAVE" => Tok::Save,
        "TO" => Tok::To,
        "FROM" => Tok::From,
        "WHERE" => Tok::Where,
        "START" => Tok::Start,
        "STOP" => Tok::Stop,
        "LAST" => Tok::Last,
        "LIMIT" => Tok::Limit,
        "OFFSET" => Tok::Offset,
        "BY" => Tok::By,
        "ATTR" => Tok::Attr,
        "SORT" => Tok::Sort,
        "GROUP" => Tok::Group,
        "WITH" => Tok::With,
        "AS" => Tok::As,
        "JOIN" => Tok::Join,
        "DISP" => Tok::Disp,
        "INFO" => Tok::Info,
        "DESCRIBE" => Tok::Describe,
        "EXPLAIN" => Tok::Explain,
        "APPLY" => Tok::Apply,
        "ON" => Tok::On,
        "AND" => Tok::And,
        "OR" => Tok::Or,
        "NOT" => Tok::Not,
        "IN" => Tok::In,
        "LIKE" => Tok::Like,
        "MATCHES" => Tok::Matches,
        "ISSUBSET" => Tok::IsSubset,
        "ISSUPERSET" => Tok::IsSuperset,
        "IS" => Tok::Is,
        "NULL" | "NONE" => Tok::Null,
        "TRUE" => Tok::True,
        "FALSE" => Tok::False,
        "ASC" => Tok::Asc,
        "DESC" => Tok::Desc,
        "TIMESTAMPED" => Tok::Timestamped,
        "DAY" | "DAYS" => Tok::Unit(TimeUnit::Days),
        "HOUR" | "HOURS" => Tok::Unit(TimeUnit::Hours),
        "MINUTE" | "MINUTES" => Tok::Unit(TimeUnit::Minutes),
        "SECOND" | "SECONDS" => Tok::Unit(TimeUnit::Seconds),
        _ => return None,
    })
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Uri(s) => write!(f, "`{s}`"),
            Tok::Path(s) => write!(f, "path `{s}`"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Timestamp(s) => write!(f, "timestamp `{s}`"),
            Tok::Int(i) => write!(f, "`{i}`"),
            Tok::Float(x) => write!(f, "`{x}`"),
            Tok::Duration(n, u) => write!(f, "`{n}{u}`"),
            Tok::Unit(u) => write!(f, "`{}`", format!("{u:?}").to_uppercase()),
            other => {
                let s = match other {
                    Tok::Assign => "=",
                    Tok::EqEq => "==",
                    Tok::Ne => "!=",
                    Tok::Lt => "<",
                    Tok::Le => "<=",
                    Tok::Gt => ">",
                    Tok::Ge => ">=",
                    Tok::Comma => ",",
                    Tok::Dot => ".",
                    Tok::Colon => ":",
                    Tok::LParen => "(",
                    Tok::RParen => ")",
                    Tok::LBracket => "[",
                    Tok::RBracket => "]",
                    Tok::LBrace => "{",
                    Tok::RBrace => "}",
                    Tok::Plus => "+",
                    _ => return write!(f, "`{}`", format!("{other:?}").to_uppercase()),
                };
                write!(f, "`{s}`")
            }
        }
    }
}
