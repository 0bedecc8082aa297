//! CSV records (RFC 4180, comma-separated) from a byte stream: fields in quotes may hold
//! commas, doubled quotes and line breaks. Lenient where the RFC is not (a stray quote
//! inside an unquoted field is kept as text); strict only where the data would be
//! ambiguous (an unterminated quote rejects the rest of the file as one record).

use std::io::{self, BufRead};

/// One field: its text and whether it was quoted (an empty unquoted field is NULL, an
/// empty quoted one `""` is the empty string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub text: Vec<u8>,
    pub quoted: bool,
}

pub(crate) enum CsvRecord {
    /// A record starting at this 1-based line; its fields are in the reader's buffer.
    Fields {
        line: u64,
    },
    /// A quoted field never closed: everything from `line` to the end of the file.
    Unterminated {
        line: u64,
    },
    End,
}

pub(crate) struct CsvReader<R> {
    input: R,
    line_buf: Vec<u8>,
    /// Lines read so far.
    line: u64,
    pub fields: Vec<Field>,
    used: usize,
}

impl<R: BufRead> CsvReader<R> {
    pub(crate) fn new(input: R) -> CsvReader<R> {
        CsvReader {
            input,
            line_buf: Vec::new(),
            line: 0,
            fields: Vec::new(),
            used: 0,
        }
    }

    /// The fields of the current record.
    pub(crate) fn record(&self) -> &[Field] {
        &self.fields[..self.used]
    }

    /// Reads the next record; blank lines between records are skipped.
    pub(crate) fn next(&mut self) -> io::Result<CsvRecord> {
        loop {
            if !self.read_line()? {
                return Ok(CsvRecord::End);
            }
            if self.line == 1 && self.line_buf.starts_with(b"\xEF\xBB\xBF") {
                self.line_buf.drain(..3);
            }
            if self.line_buf.is_empty() {
                continue;
            }
            break;
        }
        let start = self.line;
        self.used = 0;
        self.start_field();
        let mut in_quotes = false;
        let mut pos = 0;
        loop {
            if pos == self.line_buf.len() {
                if !in_quotes {
                    return Ok(CsvRecord::Fields { line: start });
                }
                // A line break inside quotes belongs to the field.
                if !self.read_line()? {
                    return Ok(CsvRecord::Unterminated { line: start });
                }
                self.current().text.push(b'\n');
                pos = 0;
                continue;
            }
            let b = self.line_buf[pos];
            pos += 1;
            if in_quotes {
                if b == b'"' {
                    if self.line_buf.get(pos) == Some(&b'"') {
                        self.current().text.push(b'"');
                        pos += 1;
                    } else {
                        in_quotes = false;
                    }
                } else {
                    self.current().text.push(b);
                }
            } else if b == b',' {
                self.start_field();
            } else if b == b'"' && self.current().text.is_empty() && !self.current().quoted {
                in_quotes = true;
                self.current().quoted = true;
            } else {
                self.current().text.push(b);
            }
        }
    }

    /// Reads one line without its line break (`\n` or `\r\n`); false at the end.
    fn read_line(&mut self) -> io::Result<bool> {
        self.line_buf.clear();
        if self.input.read_until(b'\n', &mut self.line_buf)? == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.line_buf.last() == Some(&b'\n') {
            self.line_buf.pop();
            if self.line_buf.last() == Some(&b'\r') {
                self.line_buf.pop();
            }
        }
        Ok(true)
    }

    fn start_field(&mut self) {
        if self.used == self.fields.len() {
            self.fields.push(Field {
                text: Vec::new(),
                quoted: false,
            });
        } else {
            let f = &mut self.fields[self.used];
            f.text.clear();
            f.quoted = false;
        }
        self.used += 1;
    }

    fn current(&mut self) -> &mut Field {
        &mut self.fields[self.used - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<Result<(u64, Vec<String>), u64>> {
        let mut r = CsvReader::new(text.as_bytes());
        let mut out = Vec::new();
        loop {
            match r.next().unwrap() {
                CsvRecord::End => return out,
                CsvRecord::Unterminated { line } => out.push(Err(line)),
                CsvRecord::Fields { line } => out.push(Ok((
                    line,
                    r.record()
                        .iter()
                        .map(|f| {
                            let t = String::from_utf8(f.text.clone()).unwrap();
                            if f.quoted {
                                format!("<{t}>")
                            } else {
                                t
                            }
                        })
                        .collect(),
                ))),
            }
        }
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_newlines() {
        let got = records("a,b,c\r\n1,\"x, \"\"y\"\"\",\"two\nlines\"\n\n3,,\"\"\n");
        assert_eq!(
            got,
            vec![
                Ok((1, vec!["a".into(), "b".into(), "c".into()])),
                Ok((
                    2,
                    vec!["1".into(), "<x, \"y\">".into(), "<two\nlines>".into()]
                )),
                Ok((5, vec!["3".into(), "".into(), "<>".into()])),
            ]
        );
    }

    #[test]
    fn bom_is_dropped_and_stray_quotes_are_text() {
        let got = records("\u{feff}name\nab\"c\n");
        assert_eq!(
            got,
            vec![Ok((1, vec!["name".into()])), Ok((2, vec!["ab\"c".into()]))]
        );
    }

    #[test]
    fn unterminated_quote_is_reported_at_its_start() {
        let got = records("a\n\"open\nmore\n");
        assert_eq!(got, vec![Ok((1, vec!["a".into()])), Err(2)]);
    }
}
