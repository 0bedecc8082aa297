//! Source text and byte spans.
//!
//! In: a hunt's text and a display name. Out: [`SourceFile`], which turns a [`Span`]'s byte
//! offsets into line:column positions and the line's text for diagnostics.

/// A byte range `start..end` in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A hunt as read from a file, a REPL line or a test.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// Appends `text` on a new line (none before the first text); returns the offset
    /// where it starts. Only the new text is scanned for line starts, so a session that
    /// appends each input stays linear in what it was given.
    pub fn append_line(&mut self, text: &str) -> usize {
        if !self.text.is_empty() {
            self.text.push('\n');
            self.line_starts.push(self.text.len());
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.line_starts
            .extend(text.match_indices('\n').map(|(i, _)| start + i + 1));
        start
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self.text[start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count();
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line - 1)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    pub fn slice(&self, span: Span) -> &str {
        let s = floor_char_boundary(&self.text, span.start);
        let e = floor_char_boundary(&self.text, span.end.max(span.start));
        &self.text[s..e]
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_inputs_read_as_the_joined_text() {
        let inputs = ["a = 1\nb", "", "c\n\nd = é"];
        let mut f = SourceFile::new("<input>", "");
        let starts: Vec<usize> = inputs.iter().map(|t| f.append_line(t)).collect();
        let whole = SourceFile::new("<input>", inputs.join("\n"));
        assert_eq!(f.text, whole.text);
        assert_eq!(starts, [0, 8, 9]);
        for offset in 0..=f.text.len() {
            if f.text.is_char_boundary(offset) {
                assert_eq!(f.line_col(offset), whole.line_col(offset), "{offset}");
            }
        }
    }

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let f = SourceFile::new("h.hf", "ab\ncé = 1\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // 'é' is two bytes; the '=' after it is the 4th character.
        assert_eq!(f.line_col(7), (2, 4));
        assert_eq!(f.line_text(2), "cé = 1");
    }

    #[test]
    fn offsets_past_the_end_clamp() {
        let f = SourceFile::new("h.hf", "x");
        assert_eq!(f.line_col(99), (1, 2));
    }
}
