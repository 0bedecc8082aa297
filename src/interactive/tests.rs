use super::*;

fn scope_with(vars: &[(&str, &str, Option<&[&str]>)]) -> Scope<'static> {
    Scope {
        vars: vars
            .iter()
            .map(|(n, e, c)| VarInfo {
                name: n.to_string(),
                entity: e.to_string(),
                columns: c.map(|c| c.iter().map(|s| s.to_string()).collect()),
                command: "get",
            })
            .collect(),
        config: None,
        analytics: Some(vec!["docker://pinip".into(), "python://score".into()]),
    }
}

fn at_end(scope: &Scope<'_>, text: &str) -> Vec<String> {
    complete(scope, text, text.len()).candidates
}

#[test]
fn completeness_is_the_parsers_word() {
    assert_eq!(completeness("DISP x"), Completeness::Complete);
    assert_eq!(completeness(""), Completeness::Complete);
    assert_eq!(completeness("# only a comment\n"), Completeness::Complete);
    assert_eq!(
        completeness("x = NEW process [ {\"name\": \"a\"}"),
        Completeness::Incomplete
    );
    assert_eq!(
        completeness("x = GET process FROM stixshifter://h WHERE"),
        Completeness::Incomplete
    );
    assert_eq!(
        completeness("x = GET process FROM"),
        Completeness::Incomplete
    );
    assert_eq!(completeness("DISP )"), Completeness::Invalid);
    assert!(is_complete("DISP )"));
    assert!(!is_complete("x ="));
    // Two statements, the second cut short.
    assert!(!is_complete("DISP x\ny = FIND process CREATED BY"));
}

#[test]
fn completes_by_context() {
    let s = scope_with(&[
        ("browsers", "process", Some(&["name", "pid"])),
        ("conns", "network_activity", None),
    ]);
    assert_eq!(at_end(&s, "DISP bro"), ["browsers"]);
    assert_eq!(at_end(&s, "DISP browsers ATTR "), ["name", "pid"]);
    assert_eq!(at_end(&s, "DISP browsers ATTR name, p"), ["pid"]);
    assert_eq!(at_end(&s, "y = SORT browsers BY na"), ["name"]);
    assert_eq!(at_end(&s, "APPLY "), ["docker://pinip", "python://score"]);
    assert_eq!(at_end(&s, "APPLY dock"), ["docker://pinip"]);
    assert_eq!(at_end(&s, "x = GET proc")[0], "process");
    assert!(at_end(&s, "x = FIND process CRE").contains(&"CREATED".to_string()));
    assert_eq!(at_end(&s, "x = FIND process CREATED BY b"), ["browsers"]);
    // A type's attributes in a pattern, and a variable's in a reference.
    assert!(
        at_end(&s, "x = GET process FROM browsers WHERE [process:na")
            .contains(&"process:name".to_string())
    );
    assert_eq!(
        at_end(&s, "x = GET process FROM browsers WHERE browsers.p"),
        ["browsers.pid"]
    );
    // Keywords in the case being typed.
    assert!(at_end(&s, "di").contains(&"disp".to_string()));
    assert!(at_end(&s, "DI").contains(&"DISP".to_string()));
    assert!(at_end(&s, "").contains(&"browsers".to_string()));
    assert_eq!(at_end(&s, ".ex"), [".explain"]);
    assert_eq!(at_end(&s, ".explain b"), ["browsers"]);
    // Continuation lines belong to the statement they continue.
    assert_eq!(at_end(&s, "DISP browsers\n  ATTR na"), ["name"]);
    // The start of the word being completed.
    let c = complete(&s, "DISP browsers ATTR na", 21);
    assert_eq!(c.start, 19);
    // A cursor inside a multi-byte character does not panic.
    let _ = complete(&s, "DISP é", 6);
}

#[test]
fn completes_data_sources_from_the_configuration() {
    let config = Config::from_yaml_str(
        "connections:\n  c:\n    url: sqlite:///x.db\ndatasources:\n  host101:\n    connection: c\n    table: t\n  host102:\n    connection: c\n    table: u\n",
        None,
    )
    .unwrap();
    let s = Scope {
        config: Some(&config),
        ..Scope::default()
    };
    assert_eq!(
        at_end(&s, "x = GET process FROM "),
        ["stixshifter://host101", "stixshifter://host102"]
    );
    assert_eq!(
        at_end(&s, "x = GET process FROM sqlite://host10"),
        ["sqlite://host101", "sqlite://host102"]
    );
    // Attributes of a type as the data source's mapping (ecs here) resolves them.
    let all = at_end(&Scope::default(), "x = GET process FROM y WHERE [process:");
    let mapped = at_end(
        &s,
        "x = GET process FROM stixshifter://host101 WHERE [process:",
    );
    assert!(
        !mapped.is_empty() && mapped.len() <= all.len(),
        "{mapped:?} {all:?}"
    );
    assert!(mapped.contains(&"process:name".to_string()), "{mapped:?}");
    // The mapping the data sources use explains an attribute.
    let text = inspect(&s, "x = GET process FROM h WHERE process:name = 'a'", 31).unwrap();
    assert!(text.contains("process.name in ecs"), "{text}");
}

#[test]
fn highlights_keywords_strings_and_errors() {
    let text = "x = GET process FROM y WHERE name = 'a'";
    let h = highlight(text);
    let styled: Vec<(&str, Style)> = h.iter().map(|h| (&text[h.start..h.end], h.style)).collect();
    assert!(styled.contains(&("GET", Style::Keyword)));
    assert!(styled.contains(&("WHERE", Style::Keyword)));
    assert!(styled.contains(&("'a'", Style::String)));
    assert!(!styled.iter().any(|(_, s)| *s == Style::Error));
    // Cut short is not an error while typing; a wrong token is.
    assert!(!highlight("x = GET process FROM")
        .iter()
        .any(|h| h.style == Style::Error));
    let bad = "DISP )";
    let h = highlight(bad);
    assert!(h
        .iter()
        .any(|h| h.style == Style::Error && &bad[h.start..h.end] == ")"));
}

#[test]
fn inspects_variables_keywords_and_types() {
    let s = scope_with(&[("browsers", "process", Some(&["name", "pid"]))]);
    let v = inspect(&s, "DISP browsers", 7).unwrap();
    assert!(v.contains("process") && v.contains("name, pid"), "{v}");
    assert!(inspect(&s, "DISP browsers", 2).unwrap().starts_with("DISP"));
    let t = inspect(&s, "x = GET process FROM y", 10).unwrap();
    assert!(t.contains("entity type process"), "{t}");
    // Without a configuration, every built-in mapping explains the attribute.
    let a = inspect(&s, "[process:name = 'a']", 5).unwrap();
    for m in ["ecs", "winevent"] {
        assert!(a.contains(&format!("in {m}")), "{a}");
    }
    assert!(inspect(&s, "   ", 1).is_none());
}

#[test]
fn html_escapes_every_cell() {
    let t = html::table(&["a<b".into()], &[vec!["<script>&'\"".into()]], 3);
    assert!(t.contains("<th>a&lt;b</th>"));
    assert!(t.contains("<td>&lt;script&gt;&amp;&#39;&quot;</td>"));
    assert!(t.contains("3 more rows"));
    assert!(!t.contains("<script>"));
}

#[test]
fn type_attributes_follow_the_mapping() {
    // winevent maps fewer `file` attributes than the model has; every one it offers
    // resolves in it.
    let winevent = crate::model::Mapping::load("winevent").unwrap();
    let all = type_attributes("file", None);
    let mapped = type_attributes("file", Some(&winevent));
    assert!(!mapped.is_empty() && mapped.len() < all.len(), "{mapped:?}");
    for a in &mapped {
        assert!(crate::cli::mappings::render(Some("winevent"), Some(&format!("file:{a}"))).is_ok());
    }
    assert!(mapped.iter().all(|a| all.contains(a)));
}

#[test]
fn variables_in_scope_are_the_newest_versions_in_order_of_first_definition() {
    let src = crate::source::SourceFile::new(
        "hunt.hf",
        "v = GET process FROM sqlite://events WHERE pid > 1\n\
         w = FIND process CREATED BY v\n\
         t = TIMESTAMPED(w)\n\
         v = GET network-traffic FROM sqlite://events WHERE dst_port = 443\n\
         v = GET file FROM sqlite://events WHERE name = 'a.exe'\n",
    );
    let program = crate::compile_program(&src, crate::lower::LowerOptions::default()).unwrap();
    let vars = vars_of(&program);
    let seen: Vec<(&str, &str)> = vars
        .iter()
        .map(|v| (v.name.as_str(), v.entity.as_str()))
        .collect();
    assert_eq!(seen, [("v", "file"), ("w", "process"), ("t", "process")]);
}
