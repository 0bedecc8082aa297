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
