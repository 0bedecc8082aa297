//! The `table` format: column names and streamed rows in, aligned text out.
//!
//! The layout is the original Kestrel's (pandas `to_string(index=False)`): every column,
//! header included, is right-aligned to its widest cell and columns are separated by one
//! space, so the hello-world hunt prints exactly as the original did:
//!
//! ```text
//!        name pid
//!  chrome.exe 205
//! firefox.exe 201
//! ```
//!
//! NULL is an empty cell; control characters (a newline inside a command line) are
//! escaped (`\n`) so that a row stays on one line; trailing spaces are trimmed. Widths are
//! measured in characters. To keep memory flat, widths come from the header and the
//! first [`WIDTH_SAMPLE_ROWS`] rows; later rows stream with those widths and a longer
//! cell simply pushes the rest of its line to the right. An empty result prints the
//! header and `(no rows)`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::value::Value;

/// How many rows are held back to size the columns before the table starts streaming.
pub const WIDTH_SAMPLE_ROWS: usize = 1000;

/// Written under the header when a display has no rows.
pub const NO_ROWS: &str = "(no rows)";

/// One table being printed.
pub(super) struct TableWriter {
    header: Vec<String>,
    /// Rows held while sizing columns, already rendered as text.
    sample: Vec<Vec<String>>,
    /// Fixed once the sample is full (or the display ends); rows then stream.
    widths: Option<Vec<usize>>,
    rows: u64,
    /// The line being written, and a cell being rendered: reused from row to row, so
    /// that a streamed row allocates nothing (unless a cell needs escaping).
    line: String,
    cell: String,
}

impl TableWriter {
    pub(super) fn new(columns: &[String]) -> Self {
        TableWriter {
            header: columns.iter().map(|c| escape(c).into_owned()).collect(),
            sample: Vec::new(),
            widths: None,
            rows: 0,
            line: String::new(),
            cell: String::new(),
        }
    }

    pub(super) fn columns(&self) -> usize {
        self.header.len()
    }

    pub(super) fn row<W: Write>(&mut self, out: &mut W, row: &[Value]) -> io::Result<()> {
        self.rows += 1;
        if let Some(widths) = &self.widths {
            self.line.clear();
            for (i, (value, width)) in row.iter().zip(widths).enumerate() {
                if i > 0 {
                    self.line.push(' ');
                }
                let text = render_in(value, &mut self.cell);
                push_aligned(&mut self.line, &text, *width);
            }
            return writeln!(out, "{}", self.line.trim_end());
        }
        let cells: Vec<String> = row.iter().map(render).collect();
        self.sample.push(cells);
        if self.sample.len() >= WIDTH_SAMPLE_ROWS {
            self.flush_sample(out)?;
        }
        Ok(())
    }

    pub(super) fn end<W: Write>(mut self, out: &mut W) -> io::Result<()> {
        if self.widths.is_none() {
            self.flush_sample(out)?;
        }
        if self.rows == 0 {
            writeln!(out, "{NO_ROWS}")?;
        }
        Ok(())
    }

    /// Fixes the widths from the header and the held rows, then writes them all.
    fn flush_sample<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.sample {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        if !self.header.is_empty() {
            write_line(out, &widths, &self.header)?;
        }
        for row in std::mem::take(&mut self.sample) {
            write_line(out, &widths, &row)?;
        }
        self.widths = Some(widths);
        Ok(())
    }
}

/// A cell as the table shows it.
fn render(value: &Value) -> String {
    render_in(value, &mut String::new()).into_owned()
}

/// A cell's text: text escaped (borrowed when nothing needs it), anything else as it
/// prints, written into `buf` (reused from cell to cell).
fn render_in<'a>(value: &'a Value, buf: &'a mut String) -> Cow<'a, str> {
    match value {
        Value::Text(s) => escape(s),
        other => {
            buf.clear();
            // Writing into a String cannot fail.
            let _ = write!(buf, "{other}");
            Cow::Borrowed(buf.as_str())
        }
    }
}

/// Escapes control characters so that one row is one line.
fn escape(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        let mut escaped = String::with_capacity(s.len() + 8);
        for c in s.chars() {
            if c.is_control() {
                escaped.extend(c.escape_default());
            } else {
                escaped.push(c);
            }
        }
        Cow::Owned(escaped)
    } else {
        Cow::Borrowed(s)
    }
}

fn write_line<W: Write>(out: &mut W, widths: &[usize], cells: &[String]) -> io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push(' ');
        }
        push_aligned(&mut line, cell, *width);
    }
    writeln!(out, "{}", line.trim_end())
}

/// `text` right-aligned to `width` characters (as `{:>width$}` pads), onto `line`.
fn push_aligned(line: &mut String, text: &str, width: usize) {
    let pad = width.saturating_sub(text.chars().count());
    line.extend(std::iter::repeat_n(' ', pad));
    line.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::{render as render_displays, sample};
    use crate::output::Format;

    fn texts(cells: &[&str]) -> Vec<Value> {
        cells
            .iter()
            .map(|c| Value::Text((*c).to_string()))
            .collect()
    }

    #[test]
    fn matches_the_original_hello_world() {
        let display = (
            vec!["name".to_string(), "pid".to_string()],
            vec![
                texts(&["chrome.exe", "205"]),
                texts(&["firefox.exe", "201"]),
            ],
        );
        assert_eq!(
            render_displays(Format::Table, &[display]),
            "       name pid\n chrome.exe 205\nfirefox.exe 201\n"
        );
    }

    #[test]
    fn aligns_nulls_numbers_and_escapes_newlines() {
        let out = render_displays(Format::Table, &[sample()]);
        assert_eq!(
            out,
            "     name pid score\n  cmd.exe 123   0.5\n           -7\na, \"b\"\\nc      2.25\n"
        );
    }

    #[test]
    fn two_tables_are_separated_by_a_blank_line() {
        let one = (vec!["a".to_string()], vec![vec![Value::Int(1)]]);
        let out = render_displays(Format::Table, &[one.clone(), one]);
        assert_eq!(out, "a\n1\n\na\n1\n");
    }

    #[test]
    fn empty_display_prints_header_and_no_rows() {
        let (columns, _) = sample();
        assert_eq!(
            render_displays(Format::Table, &[(columns, vec![])]),
            "name pid score\n(no rows)\n"
        );
    }

    #[test]
    fn widths_come_from_the_sample_then_rows_stream() {
        let mut rows: Vec<Vec<Value>> = (0..WIDTH_SAMPLE_ROWS)
            .map(|_| vec![Value::Int(7)])
            .collect();
        rows.push(vec![Value::Int(12345)]);
        rows.push(vec![Value::Int(8)]);
        let out = render_displays(Format::Table, &[(vec!["n".to_string()], rows)]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), WIDTH_SAMPLE_ROWS + 3);
        assert_eq!(lines[0], "n");
        assert_eq!(lines[1], "7");
        // Past the sample the width is fixed: the long cell overflows, the next is narrow.
        assert_eq!(lines[WIDTH_SAMPLE_ROWS + 1], "12345");
        assert_eq!(lines[WIDTH_SAMPLE_ROWS + 2], "8");
    }

    /// A row past the sample (written straight to the output) prints as the same row
    /// within it: NULL, numbers, escaped text, a cell wider than its column.
    #[test]
    fn a_streamed_row_prints_as_a_sampled_one() {
        let (columns, sampled) = sample();
        let mut tail = sampled.clone();
        tail.push(vec![
            Value::Text("a much wider cell than the sample had".into()),
            Value::Bool(true),
            Value::Float(-0.125),
        ]);
        let mut rows: Vec<Vec<Value>> = (0..WIDTH_SAMPLE_ROWS - sampled.len())
            .map(|_| vec![Value::Null, Value::Int(1), Value::Null])
            .chain(sampled.iter().cloned())
            .collect();
        rows.extend(tail.iter().cloned());
        let out = render_displays(Format::Table, &[(columns, rows)]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1 + WIDTH_SAMPLE_ROWS + tail.len(), "{out}");
        let (within, past) = lines[1..].split_at(WIDTH_SAMPLE_ROWS);
        assert_eq!(
            past[..sampled.len()],
            within[within.len() - sampled.len()..]
        );
        assert_eq!(
            past.last(),
            Some(&"a much wider cell than the sample had true -0.125")
        );
    }

    #[test]
    fn rows_are_written_once_the_sample_is_full() {
        let mut p = crate::output::Printer::new(Vec::new(), Format::Table);
        p.begin(&["n".to_string()]).expect("begin");
        for _ in 0..WIDTH_SAMPLE_ROWS {
            p.row(&[Value::Int(1)]).expect("row");
        }
        p.row(&[Value::Int(2)]).expect("row");
        let out = p.into_inner();
        assert_eq!(
            out.iter().filter(|b| **b == b'\n').count(),
            WIDTH_SAMPLE_ROWS + 2
        );
    }
}
