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
    assert!(matches!(pattern.as_deref(), Some(Pattern::And(..))));
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

fn get_pattern(text: &str) -> Pattern {
    let h = hunt(text);
    match &h.stmts[0].kind {
        StmtKind::Assign {
            value: Rhs::Get {
                pattern: Some(p), ..
            },
            ..
        } => (**p).clone(),
        other => panic!("not a GET with WHERE: {other:?}"),
    }
}

/// `EVENTS` takes an OCSF type name, a type_uid or a list of them, in any case, and
/// combines with AND/OR/NOT like any other term; elsewhere `events` is still a name.
#[test]
fn events_names_ocsf_types_and_combines_like_a_term() {
    let text = "p = GET process FROM x://e WHERE EVENTS 'Process Activity: Launch' AND pid > 4";
    let p = get_pattern(text);
    let Pattern::And(a, b) = &p else {
        panic!("not an AND")
    };
    let Pattern::Events { types, span } = &**a else {
        panic!("not EVENTS: {a:?}")
    };
    assert_eq!(
        &text[span.start..span.end],
        "EVENTS 'Process Activity: Launch'"
    );
    assert!(
        matches!(&types[..], [EventType::Name(n, s)] if n == "Process Activity: Launch"
            && &text[s.start..s.end] == "'Process Activity: Launch'")
    );
    assert!(matches!(&**b, Pattern::Cmp(_)));

    let p = get_pattern("p = GET process FROM x://e WHERE NOT events 100701 OR name = 'x'");
    let Pattern::Or(a, _) = &p else {
        panic!("not an OR")
    };
    let Pattern::Not(inner, _) = &**a else {
        panic!("not NOT")
    };
    assert!(matches!(&**inner, Pattern::Events { types, .. }
        if matches!(&types[..], [EventType::Uid(100701, _)])));

    for list in [
        "('DNS Activity: Query', 100701)",
        "['DNS Activity: Query', 100701]",
    ] {
        let p = get_pattern(&format!("p = GET event FROM x://e WHERE Events {list}"));
        let Pattern::Events { types, .. } = &p else {
            panic!("not EVENTS")
        };
        assert!(matches!(
            &types[..],
            [EventType::Name(n, _), EventType::Uid(100701, _)] if n == "DNS Activity: Query"
        ));
    }

    // An attribute called `events` is compared as before.
    let p = get_pattern("p = GET event FROM x://e WHERE events = 3");
    assert!(matches!(&p, Pattern::Cmp(c) if c.attr.path == "events"));
}

#[test]
fn another_word_before_a_type_is_a_syntax_error() {
    for (text, what) in [
        ("p = GET process FROM x://e WHERE EVENT 100701", "a number"),
        (
            "p = GET process FROM x://e WHERE SIGMAS 'r.yml'",
            "a string",
        ),
        ("p = GET process FROM x://e WHERE kinds (1, 2)", "a list"),
    ] {
        let src = SourceFile::new("t.hf", text);
        let d = parse(&src).unwrap_err();
        assert!(
            d.message.starts_with("expected a comparison, found `"),
            "{}",
            d.message
        );
        assert!(d.message.ends_with(what), "{}", d.message);
        let span = d.span.unwrap();
        assert_eq!(span.end, text.len(), "{text}");
    }
}
