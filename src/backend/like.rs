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
    like_pieces(text, pattern, &b'%', piece_at)
}

/// The matching of [`like`] over any pattern elements: `any` separates the pieces, and
/// `at` says where a piece (no `any` in it) ends when matched at a position of `text`.
fn like_pieces<P: PartialEq>(
    text: &[u8],
    pattern: &[P],
    any: &P,
    at: impl Fn(&[u8], usize, &[P]) -> Option<usize>,
) -> bool {
    let Some(first_pct) = pattern.iter().position(|p| p == any) else {
        return at(text, 0, pattern) == Some(text.len());
    };
    let last_pct = pattern.iter().rposition(|p| p == any).unwrap_or(first_pct);
    let Some(mut pos) = at(text, 0, &pattern[..first_pct]) else {
        return false;
    };
    let middle: &[P] = if last_pct > first_pct {
        &pattern[first_pct + 1..last_pct]
    } else {
        &[]
    };
    for piece in middle.split(|p| p == any) {
        if piece.is_empty() {
            continue;
        }
        match (pos..=text.len())
            .filter(|s| is_boundary(text, *s))
            .find_map(|s| at(text, s, piece))
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
        .any(|s| at(text, s, last) == Some(text.len()))
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

/// A pattern character of `LIKE p ESCAPE e`.
#[derive(Clone, Copy, PartialEq)]
enum Tok {
    Any,
    One,
    Byte(u8),
}

/// `text LIKE pattern ESCAPE escape`: as [`like`], with `escape` (one UTF-8 character)
/// making the character after it literal. Slower than [`like`] (the pattern is read per
/// call), which is why the two stay apart: only patterns that need an escape use this.
pub fn like_escaped(text: &[u8], pattern: &[u8], escape: &[u8]) -> bool {
    let mut toks = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        if !escape.is_empty() && pattern[i..].starts_with(escape) {
            i += escape.len();
            if i >= pattern.len() {
                toks.extend(escape.iter().map(|b| Tok::Byte(*b)));
                break;
            }
            let n = char_len(pattern, i);
            toks.extend(pattern[i..i + n].iter().map(|b| Tok::Byte(*b)));
            i += n;
            continue;
        }
        toks.push(match pattern[i] {
            b'%' => Tok::Any,
            b'_' => Tok::One,
            b => Tok::Byte(b),
        });
        i += 1;
    }
    like_toks(text, &toks)
}

/// [`like`]'s algorithm over pattern tokens.
fn like_toks(text: &[u8], pattern: &[Tok]) -> bool {
    like_pieces(text, pattern, &Tok::Any, toks_at)
}

fn toks_at(text: &[u8], start: usize, piece: &[Tok]) -> Option<usize> {
    let mut t = start;
    for p in piece {
        if t >= text.len() {
            return None;
        }
        match p {
            Tok::One => t += char_len(text, t),
            Tok::Byte(b) if b.eq_ignore_ascii_case(&text[t]) => t += 1,
            _ => return None,
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
    use super::{like, like_escaped};

    #[test]
    fn an_escape_makes_wildcards_literal() {
        let e = |t: &str, p: &str| like_escaped(t.as_bytes(), p.as_bytes(), b"!");
        assert!(e("50% done", "%50!% done"));
        assert!(!e("50x done", "%50!% done"));
        assert!(e("a_b", "A!_B"));
        assert!(!e("axb", "a!_b"));
        assert!(e("a!b", "a!!b"));
        assert!(e("C:\\X", "c:\\_"));
        assert!(e("x!", "x!"));
        // Without escapes it is `like`.
        for (t, p) in [
            ("cmd.exe", "%.EXE"),
            ("日本語", "日_語"),
            ("aaab", "%a%ab"),
            ("", "_"),
        ] {
            assert_eq!(e(t, p), like(t.as_bytes(), p.as_bytes()), "{t} {p}");
        }
    }

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
