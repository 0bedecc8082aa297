//! Parser tests: every statement form, both pattern spellings, and syntax errors.

use super::ast::*;
use super::parse;
use crate::source::SourceFile;

fn hunt(text: &str) -> Hunt {
    parse(&SourceFile::new("t.hf", text))
        .unwrap_or_else(|d| panic!("{}", d.render(&SourceFile::new("t.hf", text))))
}

#[test]
fn parses_get_with_stix_pattern_and_time() {
    let h = hunt("p = GET process FROM stixshifter://h1 WHERE [process:name = 'x' AND pid > 4]\n START t'2021-05-06T00:00:00Z' STOP t'2021-05-07T00:00:00Z'");
    assert_eq!(h.stmts.len(), 1);
    let StmtKind::Assign {
        value:
            Rhs::Get {
                entity,
                from,
                pattern,
                time,
                ..
            },
        ..
    } = &h.stmts[0].kind
    else {
        panic!("not a GET")
    };
    assert_eq!(entity.name, "process");
    assert!(matches!(from, Some(Source::Uri(u)) if u.name == "stixshifter://h1"));
    assert!(matches!(pattern, Some(Pattern::And(..))));
    assert!(matches!(time, Some(TimeRange::Absolute { .. })));
}

/// An IOC list written as `name = 'a' OR name = 'b' OR …` is a left-deep chain; taking
/// its span and dropping it walk it in loops, so a long one fits a test thread's stack.
#[test]
fn a_long_or_chain_is_measured_and_dropped_without_recursing() {
    let n = 60_000;
    let terms: Vec<String> = (0..n).map(|i| format!("name = 'v{i}'")).collect();
    let text = format!("p = GET process FROM x://e WHERE {}\n", terms.join(" OR "));
    let h = hunt(&text);
    let StmtKind::Assign {
        value: Rhs::Get {
            pattern: Some(p), ..
        },
        ..
    } = &h.stmts[0].kind
    else {
        panic!("not a GET")
    };
    let span = p.span();
    assert_eq!(&text[span.start..span.end], terms.join(" OR "));
    drop(h);
}
