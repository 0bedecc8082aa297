//! Printing results: streamed rows in, formatted text out.
//!
//! In: for each display (a `DISP`, `INFO`, `DESCRIBE`, …) the column names, then rows of
//! [`Value`]s one at a time, then an end marker; or a block of plain text (`EXPLAIN`).
//! Out: bytes on any [`std::io::Write`], in one of the [`Format`]s:
//!
//! | format  | one display                                          | between displays |
//! |---------|------------------------------------------------------|------------------|
//! | `table` | header + right-aligned columns, `(no rows)` if empty | blank line       |
//! | `csv`   | header + RFC 4180 records                            | blank line       |
//! | `json`  | exactly one line: `[{col: val, …}, …]`               | nothing          |
//! | `jsonl` | one object per row per line                          | nothing          |
//!
//! Memory stays flat however many rows arrive: `csv`, `json` and `jsonl` write each row
//! as it comes; `table` holds at most the first [`table::WIDTH_SAMPLE_ROWS`] rows to size
//! its columns, then streams the rest. Pass a buffered writer (`BufWriter`, a locked
//! stdout): the printer makes many small writes and flushes at the end of each display.
//!
//! The batch-mode summary block lives in [`summary`].

mod csv;
mod json;
pub mod progress;
pub mod summary;
pub mod table;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::value::Value;

pub use summary::{write_summary, SummaryRow};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people (the original Kestrel's layout).
    #[default]
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON array of row objects per display, on one line.
    Json,
    /// One JSON object per row, one per line.
    Jsonl,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 4] = [Format::Table, Format::Csv, Format::Json, Format::Jsonl];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of `table`, `csv`, `json`, `jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format `{0}`; expected one of: table, csv, json, jsonl")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Parses a format name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// The display in progress, with whatever its format needs to remember.
enum Open {
    Table(table::TableWriter),
    Csv { columns: usize },
    Json { keys: Vec<String>, rows: u64 },
    Jsonl { keys: Vec<String> },
}

impl Open {
    fn columns(&self) -> usize {
        match self {
            Open::Table(t) => t.columns(),
            Open::Csv { columns } => *columns,
            Open::Json { keys, .. } | Open::Jsonl { keys } => keys.len(),
        }
    }
}

/// Writes displays one after another to `out` in one format.
///
/// ```
/// use kestrel::output::{Format, Printer};
/// use kestrel::value::Value;
///
/// let mut p = Printer::new(Vec::new(), Format::Csv);
/// p.begin(&["name".to_string(), "pid".to_string()])?;
/// p.row(&[Value::Text("cmd.exe".into()), Value::Int(123)])?;
/// p.end()?;
/// assert_eq!(String::from_utf8(p.into_inner()).unwrap(), "name,pid\ncmd.exe,123\n");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Calls must come in the order `begin`, `row`*, `end`; anything else (or a row with the
/// wrong number of cells) is an [`io::ErrorKind::InvalidInput`] error, never a panic.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    open: Option<Open>,
    /// Displays and text blocks finished so far, to know when a separator is due.
    blocks: u64,
    /// Where analytics' displays are written (None: they are only mentioned).
    display_dir: Option<std::path::PathBuf>,
}

impl<W: Write> Printer<W> {
    /// A printer writing `format` to `out`.
    pub fn new(out: W, format: Format) -> Self {
        Printer {
            out,
            format,
            open: None,
            blocks: 0,
            display_dir: None,
        }
    }

    /// Writes analytics' displays as files into `dir` (made when the first one comes).
    pub fn with_display_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.display_dir = Some(dir.into());
        self
    }

    /// Writes a display into the display directory as `<name>.<ext>` (a new name when
    /// that file exists) and prints its path: a line in `table`/`csv`, an object
    /// `{"display": path, "mime": …}` in `json`/`jsonl`.
    pub fn display(&mut self, mime: &str, data: &[u8], name: &str) -> io::Result<()> {
        let Some(dir) = self.display_dir.clone() else {
            return self.text_block(&format!(
                "display `{name}` ({mime}, {} bytes) not shown\n",
                data.len()
            ));
        };
        std::fs::create_dir_all(&dir)?;
        let ext = crate::analytics::Display {
            mime: mime.to_string(),
            data: Vec::new(),
        }
        .extension();
        let mut path = dir.join(format!("{name}.{ext}"));
        let mut n = 2;
        while path.exists() {
            path = dir.join(format!("{name}-{n}.{ext}"));
            n += 1;
        }
        std::fs::write(&path, data)?;
        if self.open.is_some() {
            return Err(misuse("display() while a display is open"));
        }
        match self.format {
            Format::Table | Format::Csv => {
                self.text_block(&format!("display ({mime}): {}", path.display()))
            }
            Format::Json | Format::Jsonl => {
                self.separate()?;
                let v = serde_json::json!({"display": path.display().to_string(), "mime": mime});
                serde_json::to_writer(&mut self.out, &v)?;
                self.out.write_all(b"\n")?;
                self.blocks += 1;
                self.out.flush()
            }
        }
    }

    /// The format this printer writes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Starts one display with these column names.
    pub fn begin(&mut self, columns: &[String]) -> io::Result<()> {
        if self.open.is_some() {
            return Err(misuse("begin() while a display is still open"));
        }
        self.separate()?;
        let open = match self.format {
            Format::Table => Open::Table(table::TableWriter::new(columns)),
            Format::Csv => {
                csv::write_record(&mut self.out, columns.iter().map(|c| csv::Field::Name(c)))?;
                Open::Csv {
                    columns: columns.len(),
                }
            }
            Format::Json => {
                self.out.write_all(b"[")?;
                Open::Json {
                    keys: json::object_keys(columns)?,
                    rows: 0,
                }
            }
            Format::Jsonl => Open::Jsonl {
                keys: json::object_keys(columns)?,
            },
        };
        self.open = Some(open);
        Ok(())
    }

    /// Writes (or, for the first rows of a table, holds) one row of the open display.
    pub fn row(&mut self, row: &[Value]) -> io::Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Err(misuse("row() without begin()"));
        };
        if row.len() != open.columns() {
            return Err(misuse(&format!(
                "row has {} cells but the display has {} columns",
                row.len(),
                open.columns()
            )));
        }
        match open {
            Open::Table(t) => t.row(&mut self.out, row),
            Open::Csv { .. } => csv::write_record(&mut self.out, row.iter().map(csv::Field::Cell)),
            Open::Json { keys, rows } => {
                if *rows > 0 {
                    self.out.write_all(b",")?;
                }
                *rows += 1;
                json::write_object(&mut self.out, keys, row)
            }
            Open::Jsonl { keys } => {
                json::write_object(&mut self.out, keys, row)?;
                self.out.write_all(b"\n")
            }
        }
    }

    /// Finishes the open display and flushes the writer.
    pub fn end(&mut self) -> io::Result<()> {
        let Some(open) = self.open.take() else {
            return Err(misuse("end() without begin()"));
        };
        match open {
            Open::Table(t) => t.end(&mut self.out)?,
            Open::Csv { .. } | Open::Jsonl { .. } => {}
            Open::Json { .. } => self.out.write_all(b"]\n")?,
        }
        self.blocks += 1;
        self.out.flush()
    }

    /// Writes a block of text (an `EXPLAIN`, an `INFO` rendered as prose) between displays.
    ///
    /// In `table` and `csv` the text is written as is (ending with a newline), separated
    /// from other blocks by a blank line. In `json` and `jsonl`, so that every line stays
    /// valid JSON, it is written as one JSON string on its own line.
    pub fn text_block(&mut self, text: &str) -> io::Result<()> {
        if self.open.is_some() {
            return Err(misuse("text_block() while a display is open"));
        }
        self.separate()?;
        match self.format {
            Format::Table | Format::Csv => {
                self.out.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    self.out.write_all(b"\n")?;
                }
            }
            Format::Json | Format::Jsonl => {
                serde_json::to_writer(&mut self.out, text)?;
                self.out.write_all(b"\n")?;
            }
        }
        self.blocks += 1;
        self.out.flush()
    }

    /// Writes out what the writer holds (the rows of a display an error cut short).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Gives the writer back (finish any open display with [`Printer::end`] first).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The blank line that goes between two blocks in the human-oriented formats.
    fn separate(&mut self) -> io::Result<()> {
        match self.format {
            Format::Table | Format::Csv if self.blocks > 0 => self.out.write_all(b"\n"),
            _ => Ok(()),
        }
    }
}

/// Where a session's results go: displays (a header, rows, an end) and text blocks. A
/// [`Printer`] writes them to a stream; the REPL and the notebook kernel keep them.
pub trait Frontend {
    /// Starts one display with these column names.
    fn begin(&mut self, columns: &[String]) -> io::Result<()>;
    /// One row of the open display.
    fn row(&mut self, row: &[Value]) -> io::Result<()>;
    /// Finishes the open display.
    fn end(&mut self) -> io::Result<()>;
    /// A block of text (EXPLAIN).
    fn text_block(&mut self, text: &str) -> io::Result<()>;
    /// A display an analytic returned (`mime` says what `data` is: `text/html`,
    /// `image/svg+xml`, …; `name` is a file stem naming the statement). Frontends that
    /// cannot show it say that it exists.
    fn display(&mut self, mime: &str, data: &[u8], name: &str) -> io::Result<()> {
        self.text_block(&format!(
            "display `{name}` ({mime}, {} bytes) not shown\n",
            data.len()
        ))
    }
}

impl<W: Write> Frontend for Printer<W> {
    fn begin(&mut self, columns: &[String]) -> io::Result<()> {
        Printer::begin(self, columns)
    }
    fn row(&mut self, row: &[Value]) -> io::Result<()> {
        Printer::row(self, row)
    }
    fn end(&mut self) -> io::Result<()> {
        Printer::end(self)
    }
    fn text_block(&mut self, text: &str) -> io::Result<()> {
        Printer::text_block(self, text)
    }
    fn display(&mut self, mime: &str, data: &[u8], name: &str) -> io::Result<()> {
        Printer::display(self, mime, data, name)
    }
}

/// A call-order fault in the caller, reported as an I/O error rather than a panic.
fn misuse(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("internal error, please report: output printer: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns and rows every format is tested on: NULLs, awkward text, ints, floats.
    pub(crate) fn sample() -> (Vec<String>, Vec<Vec<Value>>) {
        let columns = vec!["name".to_string(), "pid".to_string(), "score".to_string()];
        let rows = vec![
            vec![
                Value::Text("cmd.exe".into()),
                Value::Int(123),
                Value::Float(0.5),
            ],
            vec![Value::Null, Value::Int(-7), Value::Null],
            vec![
                Value::Text("a, \"b\"\nc".into()),
                Value::Null,
                Value::Float(2.25),
            ],
        ];
        (columns, rows)
    }

    /// Prints the given displays and returns the text.
    pub(crate) fn render(format: Format, displays: &[(Vec<String>, Vec<Vec<Value>>)]) -> String {
        let mut p = Printer::new(Vec::new(), format);
        for (columns, rows) in displays {
            p.begin(columns).expect("begin");
            for row in rows {
                p.row(row).expect("row");
            }
            p.end().expect("end");
        }
        String::from_utf8(p.into_inner()).expect("utf-8 output")
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!("JSONL".parse::<Format>(), Ok(Format::Jsonl));
        let err = "xml".parse::<Format>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown output format `xml`; expected one of: table, csv, json, jsonl"
        );
        assert_eq!(Format::default(), Format::Table);
    }

    #[test]
    fn format_names_match_clap() {
        use clap::ValueEnum;
        for f in Format::ALL {
            let pv = f.to_possible_value().expect("every format is listed");
            assert_eq!(pv.get_name(), f.name());
        }
    }

    #[test]
    fn misuse_is_an_error_not_a_panic() {
        let mut p = Printer::new(Vec::new(), Format::Json);
        assert_eq!(
            p.row(&[Value::Null]).expect_err("no display").kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(p.end().is_err());
        p.begin(&["a".to_string()]).expect("begin");
        assert!(p.begin(&["a".to_string()]).is_err());
        assert!(p.row(&[Value::Null, Value::Null]).is_err());
        assert!(p.text_block("x").is_err());
        p.end().expect("end");
    }

    #[test]
    fn text_blocks_are_separated_like_displays() {
        let (columns, rows) = sample();
        let mut p = Printer::new(Vec::new(), Format::Table);
        p.text_block("SELECT 1").expect("text");
        p.begin(&columns[..1]).expect("begin");
        p.row(&rows[0][..1]).expect("row");
        p.end().expect("end");
        p.text_block("done\n").expect("text");
        let out = String::from_utf8(p.into_inner()).expect("utf-8");
        assert_eq!(out, "SELECT 1\n\n   name\ncmd.exe\n\ndone\n");

        let mut p = Printer::new(Vec::new(), Format::Jsonl);
        p.text_block("line 1\nline 2").expect("text");
        let out = String::from_utf8(p.into_inner()).expect("utf-8");
        assert_eq!(out, "\"line 1\\nline 2\"\n");
    }
}
