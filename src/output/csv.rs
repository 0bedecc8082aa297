//! CSV records (RFC 4180 quoting): a header of column names or a row of values in, one
//! line out.
//!
//! A field is quoted when it holds a comma, a double quote, CR or LF, and quotes inside
//! are doubled. NULL is an empty field; an empty string is `""`, so the two stay apart
//! (as PostgreSQL's `COPY … CSV` does). Lines end with `\n`, as the original Kestrel's
//! pandas output does, not RFC 4180's CRLF.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::value::Value;

/// One field of a record.
pub(super) enum Field<'a> {
    /// A column name in the header.
    Name(&'a str),
    /// A cell of a row.
    Cell(&'a Value),
}

/// Writes one record and its line ending.
pub(super) fn write_record<'a, W: Write>(
    out: &mut W,
    fields: impl Iterator<Item = Field<'a>>,
) -> io::Result<()> {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        match field {
            Field::Name(name) => write_text(out, name)?,
            Field::Cell(Value::Null) => {}
            Field::Cell(Value::Text(s)) if s.is_empty() => out.write_all(b"\"\"")?,
            Field::Cell(Value::Text(s)) => write_text(out, s)?,
            Field::Cell(other) => write!(out, "{other}")?,
        }
    }
    out.write_all(b"\n")
}

fn write_text<W: Write>(out: &mut W, s: &str) -> io::Result<()> {
    out.write_all(quote(s).as_bytes())
}

/// The field as it appears in the file: as is, or quoted with inner quotes doubled.
fn quote(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::{render, sample};
    use crate::output::Format;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("plain text"), "plain text");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn csv_prints_header_and_rows() {
        let out = render(Format::Csv, &[sample()]);
        assert_eq!(
            out,
            "name,pid,score\n\
             cmd.exe,123,0.5\n\
             ,-7,\n\
             \"a, \"\"b\"\"\nc\",,2.25\n"
        );
    }

    #[test]
    fn csv_separates_two_displays_with_one_blank_line() {
        let one = (vec!["a".to_string()], vec![vec![Value::Int(1)]]);
        let two = (vec!["b,c".to_string()], vec![vec![Value::Bool(true)]]);
        let out = render(Format::Csv, &[one, two]);
        assert_eq!(out, "a\n1\n\n\"b,c\"\ntrue\n");
    }

    #[test]
    fn csv_tells_null_from_empty_text() {
        let display = (
            vec!["x".to_string(), "y".to_string()],
            vec![vec![Value::Null, Value::Text(String::new())]],
        );
        assert_eq!(render(Format::Csv, &[display]), "x,y\n,\"\"\n");
    }

    #[test]
    fn csv_empty_display_is_the_header() {
        let (columns, _) = sample();
        assert_eq!(
            render(Format::Csv, &[(columns, vec![])]),
            "name,pid,score\n"
        );
    }
}
