//! One cell of a result row, as every backend hands it over and every output format prints it.

use std::fmt;

/// A database value, typed as the backend returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a JSON value (NULL is `null`, numbers stay numbers).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Text(s) => serde_json::Value::String(s.clone()),
        }
    }
}

/// A value read back from a database or a file, as a literal to bind or inline again.
impl From<Value> for crate::ir::Literal {
    fn from(v: Value) -> crate::ir::Literal {
        use crate::ir::Literal;
        match v {
            Value::Null => Literal::Null,
            Value::Bool(b) => Literal::Bool(b),
            Value::Int(i) => Literal::Int(i),
            Value::Float(f) => Literal::Float(f),
            Value::Text(s) => Literal::Str(s),
        }
    }
}

/// Plain text as a table or CSV shows it: NULL is empty.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

/// An integer written in decimal (`4824`) or, with `0x`, in hexadecimal (`0x12d8`), as
/// Windows Security events write process ids; None for anything else. What the mappings'
/// `integer` transform computes (SQL per dialect, and SQLite's `kestrel_int`).
pub fn parse_integer(text: &str) -> Option<i64> {
    let t = text;
    match t.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.len() <= 15 => i64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) => {
            t.parse().ok()
        }
        None => None,
    }
}
