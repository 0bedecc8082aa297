//! A LIKE pattern as a regular expression with the language's exact meaning, for engines
//! whose LIKE cannot say it (MySQL's case-insensitive collations also fold accents and
//! non-ASCII case: `é` = `É` = `e`).
//!
//! In: a LIKE pattern (`%` any run, `_` one character, ASCII letters either case, every
//! other character itself). Out: a regex for PCRE2 (MariaDB) and ICU (MySQL 8) that
//! matches exactly the same texts: `(?s)\A[cC][mM][dD]\..*\z` for `cmd.%`.
//!
//! Runs of one atom are counted (`[xX]{5000}`): both engines limit the size of a compiled
//! expression, and a long pattern is usually a long run.

/// The largest count PCRE2 accepts in `{n}`.
const MAX_REPEAT: usize = 65_535;

/// `pattern` as an anchored, dot-matches-all regular expression. Case sensitivity is the
/// caller's: prefix `(?-i)` where the engine follows the column's collation.
pub fn like_to_regex(pattern: &str) -> String {
    like_pieces_to_regex(&crate::ir::like_pieces(pattern, None))
}

/// The same for a pattern read into wildcards and literal characters
/// ([`crate::ir::like_pieces`]): a literal `%` or `_` is itself.
pub fn like_pieces_to_regex(pieces: &[(char, bool)]) -> String {
    let mut out = String::from(r"(?s)\A");
    let mut i = 0;
    while i < pieces.len() {
        let (c, wild) = pieces[i];
        i += 1;
        if wild && c == '%' {
            // `%%` means what `%` means; `.*.*` would only cost backtracking.
            while pieces.get(i) == Some(&('%', true)) {
                i += 1;
            }
            out.push_str(".*");
            continue;
        }
        let mut n = 1;
        while pieces.get(i) == Some(&(c, wild)) {
            i += 1;
            n += 1;
        }
        let a = if wild { ".".to_string() } else { atom(c) };
        if n < 4 {
            for _ in 0..n {
                out.push_str(&a);
            }
            continue;
        }
        while n > 0 {
            let k = n.min(MAX_REPEAT);
            out.push_str(&format!("{a}{{{k}}}"));
            n -= k;
        }
    }
    out.push_str(r"\z");
    out
}

/// One pattern character as one regex atom (so a count may follow it).
fn atom(c: char) -> String {
    match c {
        c if c.is_ascii_alphabetic() => {
            format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
        }
        '\\' | '^' | '$' | '.' | '|' | '?' | '*' | '+' | '(' | ')' | '[' | ']' | '{' | '}' => {
            format!("\\{c}")
        }
        // Line breaks, tabs, NUL: by code, so nothing in the text of the pattern is raw.
        c if c.is_ascii_control() => format!("\\x{{{:02x}}}", c as u32),
        c => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::like_to_regex;

    /// The language's LIKE (SQLite's, `src/backend/like.rs`), which the regex must agree
    /// with.
    fn like(text: &str, pattern: &str) -> bool {
        crate::backend::like::like(text.as_bytes(), pattern.as_bytes())
    }

    #[test]
    fn letters_fold_ascii_case_only_and_wildcards_become_dots() {
        assert_eq!(like_to_regex("cmd.%"), r"(?s)\A[cC][mM][dD]\..*\z");
        assert_eq!(like_to_regex("a_%%b"), r"(?s)\A[aA]..*[bB]\z");
        assert_eq!(like_to_regex("é\n\0"), r"(?s)\Aé\x{0a}\x{00}\z");
        assert_eq!(like_to_regex("xxxxx"), r"(?s)\A[xX]{5}\z");
        assert_eq!(
            like_to_regex(&"y".repeat(70_000)),
            r"(?s)\A[yY]{65535}[yY]{4465}\z"
        );
    }

    /// The regex (run by Rust's engine, whose syntax for these atoms PCRE2 and ICU share)
    /// agrees with LIKE on hostile texts and patterns.
    #[test]
    fn the_regex_means_what_like_means() {
        let texts = [
            "",
            " ",
            "a",
            "A",
            "a ",
            "é",
            "É",
            "e",
            "école",
            "ÉCOLE",
            "ecole",
            "straße",
            "strasse",
            "😀",
            "😁",
            "a\nb",
            "a\0b",
            "\\",
            "C:\\Windows\\System32\\cmd.exe",
            "a%b",
            "a_b",
            "axb",
            "[x]",
            "(?i)cmd",
            "$",
            "^",
            ".*",
            "xxxxx",
            "xxxx",
            "Ǆ",
            "ǆ",
        ];
        let patterns = [
            "",
            "%",
            "_",
            "a",
            "A",
            "é",
            "É",
            "e",
            "%ole",
            "_cole",
            "%\\system32\\%",
            "a%b",
            "a_b",
            "a!b",
            "[x]",
            "(?i)%",
            "$",
            "^",
            ".*",
            "x{5}",
            "%x%",
            "xxxxx",
            "_____",
            "a\nb",
            "a\0b",
            "a_",
            "😀",
            "_\n_",
            "%%",
            "Ǆ",
        ];
        for p in patterns {
            let re = regex::Regex::new(&like_to_regex(p)).unwrap();
            for t in texts {
                assert_eq!(re.is_match(t), like(t, p), "{t:?} LIKE {p:?}");
            }
        }
    }
}
