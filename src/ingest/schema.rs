//! Column types inferred from every value a column holds, and the schema they make.
//!
//! INTEGER when every non-null value is an integer that fits in i64, REAL when all are
//! numbers, BOOLEAN when all are booleans (booleans among numbers count as 0/1), TEXT
//! otherwise — including a column mixing numbers and strings, whose numbers are then
//! stored as their text, and a column with no value at all. A string that looks like a
//! number stays a string: we store what the log says.

use std::fmt;

use super::json::Leaf;
use crate::ir::ColumnKind;

/// The SQL type of a column, as a portable name each writer maps to its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Integer,
    Real,
    Text,
    /// 0/1 where the database has no boolean type (SQLite: NUMERIC affinity).
    Boolean,
}

impl ColumnType {
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Text => "TEXT",
            ColumnType::Boolean => "BOOLEAN",
        }
    }
}

impl ColumnType {
    /// The kind of value a column of this type holds.
    pub fn kind(self) -> ColumnKind {
        match self {
            ColumnType::Integer => ColumnKind::Integer,
            ColumnType::Real => ColumnKind::Float,
            ColumnType::Text => ColumnKind::Text,
            ColumnType::Boolean => ColumnKind::Boolean,
        }
    }

    /// The type a column holding values of `kind` is written as (timestamps as text).
    pub fn of_kind(kind: ColumnKind) -> ColumnType {
        match kind {
            ColumnKind::Integer => ColumnType::Integer,
            ColumnKind::Float => ColumnType::Real,
            ColumnKind::Boolean => ColumnType::Boolean,
            ColumnKind::Text | ColumnKind::Timestamp => ColumnType::Text,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

/// One column of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The key as first seen (dotted for nested JSON objects).
    pub name: String,
    pub ty: ColumnType,
    /// Records in which it holds a value other than null.
    pub non_null: u64,
}

/// The columns of the input, in first-seen order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub columns: Vec<Column>,
}

impl Schema {
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The kinds of value a column has held so far (a set of bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Kinds(u8);

impl Kinds {
    const BOOL: u8 = 1;
    const INT: u8 = 2;
    const REAL: u8 = 4;
    const TEXT: u8 = 8;

    pub(crate) fn of(leaf: &Leaf<'_>) -> Kinds {
        Kinds(match leaf {
            Leaf::Null => 0,
            Leaf::Bool(_) => Self::BOOL,
            Leaf::Int(_) => Self::INT,
            Leaf::Float(_) => Self::REAL,
            // Rounding a 64-bit id to a float would change it; its text is exact.
            Leaf::BigInt(_) | Leaf::Str(_) | Leaf::Json(_) => Self::TEXT,
        })
    }

    pub(crate) fn add(&mut self, other: Kinds) {
        self.0 |= other.0;
    }

    pub(crate) fn is_null(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn column_type(self) -> ColumnType {
        if self.0 & Self::TEXT != 0 || self.0 == 0 {
            ColumnType::Text
        } else if self.0 & Self::REAL != 0 {
            ColumnType::Real
        } else if self.0 & Self::INT != 0 {
            ColumnType::Integer
        } else {
            ColumnType::Boolean
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(leaves: &[Leaf<'_>]) -> ColumnType {
        let mut k = Kinds::default();
        for l in leaves {
            k.add(Kinds::of(l));
        }
        k.column_type()
    }

    #[test]
    fn inference_lattice() {
        use Leaf::*;
        assert_eq!(infer(&[Int(1), Null, Int(-2)]), ColumnType::Integer);
        assert_eq!(infer(&[Int(1), Float(2.5)]), ColumnType::Real);
        assert_eq!(infer(&[Int(1), Str("x")]), ColumnType::Text);
        assert_eq!(infer(&[Str("3108")]), ColumnType::Text);
        assert_eq!(infer(&[Bool(true), Bool(false)]), ColumnType::Boolean);
        assert_eq!(infer(&[Bool(true), Int(7)]), ColumnType::Integer);
        assert_eq!(infer(&[Bool(true), Float(0.5)]), ColumnType::Real);
        assert_eq!(infer(&[BigInt(u64::MAX)]), ColumnType::Text);
        assert_eq!(infer(&[Json("[1]"), Int(1)]), ColumnType::Text);
        assert_eq!(infer(&[Null, Null]), ColumnType::Text);
        assert_eq!(infer(&[]), ColumnType::Text);
    }
}
