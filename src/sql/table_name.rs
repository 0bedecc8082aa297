//! A data source's `table:` as written in the configuration: `events`, `seeds.events`
//! (PostgreSQL and MS SQL schema, MySQL/MariaDB database, SQLite attached database), or
//! with quoted parts when a part holds a dot or a quote: `"my.schema".events`,
//! `"say ""hi""".t`. Backticks (`` `a.b`.t ``) and brackets (`[a.b].t`) quote too, as
//! MySQL and SQL Server users write them.
//!
//! In: the text. Out: its parts, unquoted, outermost first; each is quoted again by the
//! dialect when the SQL is built ([`crate::sql::builders::source_table_as`]), so nothing
//! of the text reaches the SQL unquoted. A text that does not read as parts (a quote
//! inside an unquoted part, an empty part: `odd "name"; --`) is one table name, whole,
//! as before qualified names were read.

/// Splits `text` into its parts (at most `schema.table`, or `database.schema.table`).
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut part = String::new();
        let close = match chars.peek() {
            Some('"') => Some('"'),
            Some('`') => Some('`'),
            Some('[') => Some(']'),
            _ => None,
        };
        if let Some(close) = close {
            chars.next();
            loop {
                match chars.next() {
                    Some(c) if c == close => {
                        // A doubled closing quote stands for itself.
                        if chars.peek() == Some(&close) {
                            chars.next();
                            part.push(close);
                        } else {
                            break;
                        }
                    }
                    Some(c) => part.push(c),
                    None => return Err(format!("`{text}`: a quoted part is not closed")),
                }
            }
            match chars.peek() {
                None | Some('.') => {}
                Some(_) => {
                    return Err(format!(
                        "`{text}`: a quoted part must be followed by `.` or end the name"
                    ))
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if matches!(c, '"' | '`' | '[' | ']') {
                    return Err(format!(
                        "`{text}`: `{c}` inside an unquoted part; quote the whole part (\"…\")"
                    ));
                }
                part.push(c);
                chars.next();
            }
        }
        if part.is_empty() {
            return Err(format!("`{text}`: an empty part in the table name"));
        }
        parts.push(part);
        match chars.next() {
            None => break,
            Some('.') => {}
            Some(c) => return Err(format!("`{text}`: unexpected `{c}`")),
        }
    }
    if parts.len() > 3 {
        return Err(format!(
            "`{text}`: at most three parts (database.schema.table)"
        ));
    }
    Ok(parts)
}

/// The parts of a table name that was checked when the configuration was read; a name
/// that does not parse (never from a checked configuration) stays one part.
pub fn parts(text: &str) -> Vec<String> {
    parse(text).unwrap_or_else(|_| vec![text.to_string()])
}

/// The table's own name, the last of [`parts`]: without parsing where `text` has no dot
/// or quote (a kept variable's table, of which a long session has thousands).
pub fn last_part(text: &str) -> String {
    if text.is_empty() || text.contains(['.', '"', '`', '[', ']']) {
        parts(text).pop().unwrap_or_default()
    } else {
        text.to_string()
    }
}

/// How the names of the tables kestrel makes begin: kept variables (`kestrel_0_procs`)
/// and rows shipped to a server (`kestrel_rows_iocs`).
pub const MADE_PREFIX: &str = "kestrel_";

/// Whether `table` is plainly one of kestrel's own (one part, [`MADE_PREFIX`] in any
/// case), told without copying it.
pub fn made_by_kestrel(table: &str) -> bool {
    !table.contains(['.', '"', '`', '[', ']'])
        && table
            .get(..MADE_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(MADE_PREFIX))
}

/// `name` written so that [`parse`] reads it back as one part (a data source name used
/// as a table name when there is no configuration: `host.example` is one table).
pub fn single(name: &str) -> String {
    if name.contains(['.', '"', '`', '[', ']']) || name.is_empty() {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_string()
    }
}

/// `(schema, table)` of a name of one or two parts, for a catalog query; `what` names the
/// schema's meaning on the backend ("schema", "database") for the error.
pub fn schema_and_table(text: &str, what: &str) -> Result<(Option<String>, String), String> {
    let mut parts = parts(text);
    match parts.len() {
        1 => Ok((None, parts.remove(0))),
        2 => {
            let table = parts.remove(1);
            Ok((Some(parts.remove(0)), table))
        }
        _ => Err(format!(
            "table `{text}`: write it as {what}.table (two parts at most here)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kestrels_own_tables_are_told_by_their_prefix_in_one_part() {
        assert!(made_by_kestrel("kestrel_0_procs") && made_by_kestrel("KESTREL_rows_iocs"));
        assert!(!made_by_kestrel("events") && !made_by_kestrel("kestrel"));
        // A lake table of that name in a schema is a part of a name, not kestrel's.
        assert!(!made_by_kestrel("seeds.kestrel_0_procs"));
    }

    #[test]
    fn the_last_part_is_that_of_the_parts() {
        for text in [
            "events",
            "seeds.events",
            "\"my.schema\".events",
            "a.\"b.c\"",
            "odd \"name\"; --",
            "",
            "[a.b].t",
        ] {
            assert_eq!(
                last_part(text),
                parts(text).pop().unwrap_or_default(),
                "{text}"
            );
        }
    }

    #[test]
    fn names_split_at_dots_outside_quotes() {
        assert_eq!(parse("events").unwrap(), ["events"]);
        assert_eq!(parse("seeds.bh22").unwrap(), ["seeds", "bh22"]);
        assert_eq!(parse("lake.dbo.events").unwrap(), ["lake", "dbo", "events"]);
        assert_eq!(
            parse("\"my.schema\".events").unwrap(),
            ["my.schema", "events"]
        );
        assert_eq!(parse("`a.b`.[c]]d]").unwrap(), ["a.b", "c]d"]);
        assert_eq!(parse("\"say \"\"hi\"\"\".t").unwrap(), ["say \"hi\"", "t"]);
        assert_eq!(parse("@timestamp-x y").unwrap(), ["@timestamp-x y"]);
    }

    #[test]
    fn names_that_do_not_read_as_parts_are_one_table() {
        for odd in [
            "",
            ".t",
            "s.",
            "a..b",
            "\"open.t",
            "\"a\"b.t",
            "a\"b",
            "a.b.c.d",
            "sqlsafety \"odd\"; DROP TABLE x; --",
        ] {
            assert!(parse(odd).is_err(), "{odd}");
            assert_eq!(parts(odd), [odd]);
        }
    }

    #[test]
    fn a_single_part_survives_the_round_trip() {
        for name in ["events", "host.example", "a\"b", "[x]"] {
            assert_eq!(parse(&single(name)).unwrap(), [name], "{name}");
        }
        assert_eq!(
            schema_and_table("s.t", "schema").unwrap(),
            (Some("s".into()), "t".into())
        );
        assert!(schema_and_table("a.b.c", "schema").is_err());
    }
}
