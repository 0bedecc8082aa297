//! Time: ISO-8601 parsing and strftime rendering of instants (Python strftime meanings;
//! `%f` is six-digit microseconds), with no dependency on the rest of the crate.
//!
//! In: timestamp text as a hunt or a database writes it. Out: microseconds since the Unix
//! epoch (UTC), and text in a given format.

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// Parses `2021-05-06`, `2021-05-06T00:00:00Z`, `2021-05-06 00:00:00.123456+02:00`.
/// A time without a zone is UTC.
pub fn parse_iso(s: &str) -> Option<Micros> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = 0i64;
    let mut micros = 0i64;
    let mut offset = 0i64;
    let mut i = 10;
    if i < b.len() {
        if !matches!(b[i], b'T' | b't' | b' ') {
            return None;
        }
        let hour = num(i + 1, 2)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        let minute = num(i + 4, 2)?;
        i += 6;
        let mut second = 0;
        if b.get(i) == Some(&b':') {
            second = num(i + 1, 2)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let digits = &s[start..i];
                if digits.is_empty() {
                    return None;
                }
                // Keep microseconds; nanoseconds in logs are truncated.
                let mut padded: String = digits.chars().take(6).collect();
                while padded.len() < 6 {
                    padded.push('0');
                }
                micros = padded.parse().ok()?;
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs = hour * 3600 + minute * 60 + second;
        match b.get(i) {
            None => {}
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) => {
                let oh = num(i + 1, 2)?;
                let om = match b.get(i + 3) {
                    Some(b':') => num(i + 4, 2)?,
                    None => 0,
                    _ => num(i + 3, 2)?,
                };
                offset = (oh * 3600 + om * 60) * if *sign == b'+' { 1 } else { -1 };
            }
            _ => return None,
        }
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + secs - offset) * 1_000_000 + micros)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Renders a UTC instant with a strftime format: `%Y %m %d %H %M %S %f %z %Z %s %j %%`
/// (and `%y`, `%e`, `%T`, `%F`). Unknown directives are errors, so a typo in a config
/// is not silently compared against data.
pub fn format_strftime(t: Micros, format: &str) -> Result<String, String> {
    let secs = t.div_euclid(1_000_000);
    let micros = t.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('e') => out.push_str(&format!("{d:>2}")),
            Some('H') => out.push_str(&format!("{hh:02}")),
            Some('M') => out.push_str(&format!("{mm:02}")),
            Some('S') => out.push_str(&format!("{ss:02}")),
            Some('f') => out.push_str(&format!("{micros:06}")),
            Some('z') => out.push_str("+0000"),
            Some('Z') => out.push_str("UTC"),
            Some('s') => out.push_str(&secs.to_string()),
            Some('j') => out.push_str(&format!("{:03}", days - days_from_civil(y, 1, 1) + 1)),
            Some('T') => out.push_str(&format!("{hh:02}:{mm:02}:{ss:02}")),
            Some('F') => out.push_str(&format!("{y:04}-{m:02}-{d:02}")),
            Some('%') => out.push('%'),
            Some(other) => return Err(format!("unsupported directive %{other}")),
            None => return Err("format ends with a lone %".into()),
        }
    }
    Ok(out)
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_forms() {
        let base = parse_iso("2021-05-06T00:00:00Z").unwrap();
        assert_eq!(base, 1_620_259_200_000_000);
        assert_eq!(parse_iso("2021-05-06"), Some(base));
        assert_eq!(parse_iso("2021-05-06 00:00:00"), Some(base));
        assert_eq!(parse_iso("2021-05-06T02:00:00+02:00"), Some(base));
        assert_eq!(parse_iso("2021-05-06T00:00:00.5Z"), Some(base + 500_000));
        assert_eq!(
            parse_iso("2022-07-27T14:38:30.442905703Z").map(|t| t % 1_000_000),
            Some(442_905)
        );
        assert_eq!(parse_iso("2021-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso("yesterday"), None);
    }

    #[test]
    fn formats_like_python_strftime() {
        let t = parse_iso("2021-05-06T07:08:09.012345Z").unwrap();
        assert_eq!(
            format_strftime(t, "%Y-%m-%dT%H:%M:%S.%fZ").unwrap(),
            "2021-05-06T07:08:09.012345Z"
        );
        assert_eq!(
            format_strftime(t, "%Y-%m-%d %H:%M:%S").unwrap(),
            "2021-05-06 07:08:09"
        );
        assert!(format_strftime(t, "%Q").is_err());
    }

    #[test]
    fn civil_round_trip_over_leap_years() {
        for days in [-1000, 0, 59, 60, 11_016, 19_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
