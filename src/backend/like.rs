//! `LIKE` as the language defines it, for engines whose own `LIKE` differs.
//!
//! In: a text and a pattern (UTF-8 bytes). Out: whether the pattern matches the whole text:
//! `%` any run of characters, `_` exactly one character, ASCII letters in either case,
//! every other character (backslash and NUL included) only itself.
//!
//! SQLite's built-in `like()` stops reading at a NUL character (so `'a' LIKE 'a' || char(0)
//! || 'b'` is true) and refuses patterns longer than 50,000 bytes; the SQLite backend
//! installs this one in its place.

/// Whether `pattern` matches all of `text`. The pattern is literal pieces between `%`s:
/// the first must match at the start, the last at the end, and each one between at its
/// leftmost place after the one before (leftmost is never worse for the rest).
pub fn like(text: &[u8], pattern: &[u8]) -> bool {
    let Some(first_pct) = pattern.iter().position(|b| *b == b'%') else {
        return piece_at(text, 0, pattern) == Some(text.len());
    };
    let last_pct = pattern
        .iter()
        .rposition(|b| *b == b'%')
        .unwrap_or(first_pct);
    let Some(mut pos) = piece_at(text, 0, &pattern[..first_pct]) else {
        return false;
    };
    let middle: &[u8] = if last_pct > first_pct {
        &pattern[first_pct + 1..last_pct]
    } else {
        &[]
    };
    for piece in middle.split(|b| *b == b'%') {
        if piece.is_empty() {
            continue;
        }
        match (pos..=text.len())
            .filter(|s| is_boundary(text, *s))
            .find_map(|s| piece_at(text, s, piece))
        {
            Some(end) => pos = end,
            None => return false,
        }
    }
    let last = &pattern[last_pct + 1..];
    if last.is_empty() {
        return true;
    }
    // The last piece ends at the end: try its starts from the right.
    (pos..=text.len())
        .rev()
        .filter(|s| is_boundary(text, *s))
        .any(|s| piece_at(text, s, last) == Some(text.len()))
}

/// Where `piece` (no `%` in it) ends when matched at `start` of `text`, if it matches.
fn piece_at(text: &[u8], start: usize, piece: &[u8]) -> Option<usize> {
    let mut t = start;
    for &p in piece {
        if t >= text.len() {
            return None;
        }
        if p == b'_' {
            t += char_len(text, t);
        } else if p.eq_ignore_ascii_case(&text[t]) {
            t += 1;
        } else {
            return None;
        }
    }
    Some(t)
}

fn is_boundary(s: &[u8], i: usize) -> bool {
    i >= s.len() || s[i] & 0xC0 != 0x80
}

/// Bytes of the UTF-8 character starting at `i` (1 for a stray byte).
fn char_len(s: &[u8], i: usize) -> usize {
    let n = match s[i] {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    };
    let mut len = 1;
    while len < n && i + len < s.len() && s[i + len] & 0xC0 == 0x80 {
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::like;

    fn l(t: &str, p: &str) -> bool {
        like(t.as_bytes(), p.as_bytes())
    }

    #[test]
    fn percent_and_underscore_are_the_only_wildcards() {
        assert!(l("cmd.exe", "%.exe"));
        assert!(l("cmd.exe", "c_d.exe"));
        assert!(!l("cmd.exe", "c_.exe"));
        assert!(l("", "%"));
        assert!(!l("", "_"));
        assert!(l("a%b", "a%b"));
        assert!(l("axxb", "a%b"));
        assert!(!l("axxc", "a%b"));
        assert!(l("abcabd", "%abd"));
        assert!(l("aaab", "%a%ab"));
    }

    #[test]
    fn ascii_letters_ignore_case_others_do_not() {
        assert!(l("CMD.EXE", "cmd.exe"));
        assert!(!l("ÉCOLE", "école"));
        assert!(l("ÉCOLE", "_COLE"));
        assert!(l("日本語", "日_語"));
        assert!(l("😀x", "_X"));
    }

    #[test]
    fn backslash_and_nul_are_plain_characters() {
        assert!(l("C:\\Windows\\System32\\cmd.exe", "%\\system32\\%"));
        assert!(!l("C:/Windows/System32/cmd.exe", "%\\system32\\%"));
        assert!(l("a\0b", "a\0b"));
        assert!(!l("a", "a\0b"));
        assert!(!l("a\0b", "a"));
        assert!(l("a\0b", "a_b"));
    }

    #[test]
    fn long_patterns_are_fine() {
        let long = "x".repeat(100_000);
        assert!(l(&long, &long));
        assert!(l(&long, "%x"));
        assert!(!l(&long, &format!("{long}x")));
    }
}
