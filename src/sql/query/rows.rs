//! Many inline rows (shipped from another connection, LOADed, NEW) as one JSON parameter
//! the statement reads as a table, instead of one placeholder per value: servers cap
//! placeholders (SQL Server at 2,100), each costs time, and a read-only session may have
//! no temporary table to hold them.
//!
//! In: the rows of a `Plan::Values` (more than [`LONG_ROWS`] values) and the dialect's
//! [`RowsParameterStyle`]. Out: a query whose columns are named as VALUES would name
//! them (`column1`, …), reading `[[v1, v2, …], …]`:
//!
//! ```text
//! sqlite    SELECT json_extract(t.value, '$[0]') AS column1 FROM json_each(?1) AS t
//! postgres  SELECT CAST(t.value ->> 0 AS BIGINT) AS column1
//!             FROM json_array_elements(CAST($1 AS JSON)) AS t
//! mysql     SELECT t.column1 FROM JSON_TABLE(?, '$[*]' COLUMNS (column1 BIGINT PATH '$[0]')) AS t
//! mssql     SELECT t.column1 FROM OPENJSON(@P1) WITH (column1 BIGINT '$[0]') AS t
//! ```
//!
//! Types: a column of integers (booleans as 0 and 1, as inline rows write them) is the
//! dialect's integer type, of numbers its float type, anything else text; NULL is JSON
//! `null`, which every engine reads as NULL. SQLite keeps each value's own type, as its
//! VALUES do. Where the dialect caps a parameter's size (`list_parameter_bytes`) the array
//! is cut at row boundaries into pieces read as one `UNION ALL`.

use sqlparser::ast::{self as sa, SetExpr};

use crate::diag::Diagnostic;
use crate::ir::Literal;

use super::super::builders as b;
use super::super::dialect::{Dialect, RowsParameterStyle, LONG_ROWS};
use super::emitter::Emitter;
use super::LiteralMode;

/// What a column of rows holds, as far as its type goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Text,
}

/// The kind of each column, or None when a value has no faithful JSON form (an instant,
/// a NaN or an infinity): those rows stay inline.
fn kinds(rows: &[Vec<Literal>], width: usize) -> Option<Vec<Kind>> {
    let mut kinds: Vec<Option<Kind>> = vec![None; width];
    for row in rows {
        if row.len() != width {
            return None;
        }
        for (k, l) in kinds.iter_mut().zip(row) {
            let this = match l {
                Literal::Null => continue,
                Literal::Bool(_) | Literal::Int(_) => Kind::Integer,
                Literal::Float(f) if f.is_finite() => Kind::Float,
                Literal::Str(_) => Kind::Text,
                Literal::Float(_) | Literal::Timestamp(_) => return None,
            };
            *k = Some(match (*k, this) {
                (None, t) => t,
                (Some(a), t) if a == t => a,
                (Some(Kind::Integer), Kind::Float) | (Some(Kind::Float), Kind::Integer) => {
                    Kind::Float
                }
                _ => Kind::Text,
            });
        }
    }
    Some(kinds.into_iter().map(|k| k.unwrap_or(Kind::Text)).collect())
}

/// Appends one value as JSON.
fn write_value(out: &mut String, l: &Literal) {
    use std::fmt::Write;
    match l {
        Literal::Null => out.push_str("null"),
        Literal::Bool(v) => out.push(if *v { '1' } else { '0' }),
        Literal::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // Finite (see `kinds`): the shortest text that reads back as the same double.
        Literal::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Literal::Str(s) => write_string(out, s),
        // Never written: `kinds` keeps rows with instants inline.
        Literal::Timestamp(_) => out.push_str("null"),
    }
}

/// Appends `s` as a JSON string.
fn write_string(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The rows as JSON arrays of arrays, each at most `max` bytes unless one row alone is
/// longer (then that row is a piece of its own).
fn json_pieces(rows: &[Vec<Literal>], max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::from("[");
    let mut row_text = String::new();
    for row in rows {
        row_text.clear();
        row_text.push('[');
        for (i, l) in row.iter().enumerate() {
            if i > 0 {
                row_text.push(',');
            }
            write_value(&mut row_text, l);
        }
        row_text.push(']');
        if piece.len() > 1 && piece.len() + row_text.len() + 2 > max {
            piece.push(']');
            pieces.push(std::mem::replace(&mut piece, String::from("[")));
        }
        if piece.len() > 1 {
            piece.push(',');
        }
        piece.push_str(&row_text);
    }
    piece.push(']');
    pieces.push(piece);
    pieces
}

/// The type a JSON table of rows declares for a column of `kind`.
fn type_name(d: &Dialect, kind: Kind) -> Result<&str, Diagnostic> {
    let t = d.rows_parameter_types.as_ref().ok_or_else(|| {
        Diagnostic::internal(format!(
            "dialect {} has a rows_parameter_style but no rows_parameter_types",
            d.name
        ))
    })?;
    Ok(match kind {
        Kind::Integer => &t.integer,
        Kind::Float => &t.float,
        Kind::Text => &t.text,
    })
}

impl Emitter<'_> {
    /// `rows` as one JSON parameter read as a table (module docs), where the dialect
    /// reads JSON as a table and the rows hold more than [`LONG_ROWS`] values; None
    /// otherwise (the rows are written inline).
    pub(super) fn rows_parameter(
        &mut self,
        rows: &[Vec<Literal>],
    ) -> Result<Option<sa::Query>, Diagnostic> {
        let d = self.dialect;
        let width = rows.first().map_or(0, Vec::len);
        if d.rows_parameter_style == RowsParameterStyle::Inline
            || width == 0
            || rows.len().saturating_mul(width) <= LONG_ROWS
        {
            return Ok(None);
        }
        let Some(kinds) = kinds(rows, width) else {
            return Ok(None);
        };
        let names: Vec<sa::Ident> = (1..=width)
            .map(|i| b::ident(d, &format!("{}{i}", d.values_column_prefix)))
            .collect();
        let max = d.list_parameter_bytes.unwrap_or(usize::MAX).max(64);
        let mut selects = Vec::new();
        for json in json_pieces(rows, max) {
            let j = self.json_parameter(json);
            let alias = self.alias();
            let path = |i: usize| format!("$[{i}]");
            let (items, from) = match d.rows_parameter_style {
                RowsParameterStyle::Inline => return Ok(None),
                RowsParameterStyle::JsonEach => {
                    let value = b::qualified(&alias, b::ident(d, "value"));
                    let items = names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            let x = b::function(
                                "json_extract",
                                vec![value.clone(), b::string(&path(i))],
                            );
                            b::select_item(x, Some(n.clone()))
                        })
                        .collect();
                    (items, b::table_function("json_each", vec![j], alias))
                }
                RowsParameterStyle::JsonArrayElements => {
                    let value = b::qualified(&alias, b::ident(d, "value"));
                    let mut items = Vec::new();
                    for (i, (n, k)) in names.iter().zip(&kinds).enumerate() {
                        let x = b::cast(b::json_element_text(value.clone(), i), type_name(d, *k)?);
                        items.push(b::select_item(x, Some(n.clone())));
                    }
                    let from =
                        b::table_function("json_array_elements", vec![b::cast(j, "JSON")], alias);
                    (items, from)
                }
                RowsParameterStyle::JsonTable | RowsParameterStyle::Openjson => {
                    let mut columns = Vec::new();
                    for (i, (n, k)) in names.iter().zip(&kinds).enumerate() {
                        columns.push((n.clone(), type_name(d, *k)?, path(i)));
                    }
                    let items = names
                        .iter()
                        .map(|n| b::select_item(b::qualified(&alias, n.clone()), None))
                        .collect();
                    let from = if d.rows_parameter_style == RowsParameterStyle::JsonTable {
                        b::json_table_columns(j, columns, alias)
                    } else {
                        b::openjson_with(j, columns, alias)
                    };
                    (items, from)
                }
            };
            selects.push(SetExpr::Select(Box::new(b::select(
                items,
                Some(from),
                None,
                false,
                vec![],
            ))));
        }
        let body = selects
            .into_iter()
            .reduce(b::union_all)
            .ok_or_else(|| Diagnostic::internal("JSON rows without a piece"))?;
        Ok(Some(b::query(body)))
    }

    /// A JSON text as one parameter, moved into the parameters (never copied: it may be
    /// tens of megabytes), or an escaped literal in a preview.
    fn json_parameter(&mut self, json: String) -> sa::Expr {
        match self.mode {
            LiteralMode::Inline => self.literal(&Literal::Str(json)),
            LiteralMode::Bind => {
                self.params.push(Literal::Str(json));
                b::placeholder(self.dialect.placeholder(self.params.len()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pieces_keep_types_and_nulls_and_cut_at_row_boundaries() {
        let rows = vec![
            vec![
                Literal::Str("a\"b\\c\n\u{1}é".into()),
                Literal::Int(-7),
                Literal::Null,
            ],
            vec![
                Literal::Bool(true),
                Literal::Float(0.1),
                Literal::Bool(false),
            ],
        ];
        let whole = json_pieces(&rows, usize::MAX);
        assert_eq!(whole.len(), 1);
        let parsed: serde_json::Value = serde_json::from_str(&whole[0]).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([["a\"b\\c\n\u{1}é", -7, null], [1, 0.1, 0]])
        );
        let cut = json_pieces(&rows, 20);
        assert_eq!(cut.len(), 2, "{cut:?}");
        for p in &cut {
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            assert_eq!(v.as_array().map(Vec::len), Some(1));
        }
    }

    #[test]
    fn column_kinds_follow_the_values_and_instants_stay_inline() {
        let rows = vec![
            vec![
                Literal::Int(1),
                Literal::Int(1),
                Literal::Str("x".into()),
                Literal::Null,
            ],
            vec![
                Literal::Bool(true),
                Literal::Float(2.5),
                Literal::Int(3),
                Literal::Null,
            ],
        ];
        assert_eq!(
            kinds(&rows, 4),
            Some(vec![Kind::Integer, Kind::Float, Kind::Text, Kind::Text])
        );
        assert_eq!(kinds(&[vec![Literal::Timestamp(0)]], 1), None);
        assert_eq!(kinds(&[vec![Literal::Float(f64::NAN)]], 1), None);
    }
}
