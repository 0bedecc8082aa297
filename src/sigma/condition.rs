//! A Sigma condition, parsed.
//!
//! In: `selection and not 1 of filter_*`. Out: [`Cond`], with the `x of pattern`
//! selectors resolved to the detection names they match (`*` is any run of characters;
//! `them` is every detection; names starting with `_` only match patterns that do too).
//! `not` binds tightest, then `and`, then `or`. A pipe (`| count() by …`, an aggregation)
//! and `near` are errors.

use super::rule::Rule;
use super::SigmaError;

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// A detection, by name.
    Ident(String),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    LParen,
    RParen,
    Pipe,
}

/// Parses `rule.condition` against the rule's detection names.
pub fn parse(rule: &Rule) -> Result<Cond, SigmaError> {
    let line = rule.condition_line;
    let bad = |construct: &str, msg: String| rule.err(line, construct, msg);
    let mut toks = Vec::new();
    let mut chars = rule.condition.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                toks.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                toks.push(Tok::RParen);
            }
            '|' => {
                chars.next();
                toks.push(Tok::Pipe);
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '|') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                toks.push(Tok::Word(w));
            }
        }
    }
    if toks.contains(&Tok::Pipe) {
        return Err(bad(
            "aggregation",
            "aggregations in the condition (`| count() …`) are not supported".into(),
        ));
    }
    let names: Vec<&str> = rule.detections.iter().map(|(n, _)| n.as_str()).collect();
    let mut p = Parser {
        toks,
        pos: 0,
        names: &names,
        rule,
    };
    let c = p.or()?;
    if p.pos < p.toks.len() {
        return Err(bad(
            "condition",
            format!("unexpected {} in the condition", p.describe(p.pos)),
        ));
    }
    Ok(c)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    names: &'a [&'a str],
    rule: &'a Rule,
}

impl Parser<'_> {
    fn err(&self, construct: &str, msg: String) -> SigmaError {
        self.rule.err(self.rule.condition_line, construct, msg)
    }

    fn describe(&self, i: usize) -> String {
        match self.toks.get(i) {
            Some(Tok::Word(w)) => format!("`{w}`"),
            Some(Tok::LParen) => "`(`".into(),
            Some(Tok::RParen) => "`)`".into(),
            Some(Tok::Pipe) => "`|`".into(),
            None => "the end".into(),
        }
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Cond, SigmaError> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, SigmaError> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, SigmaError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Cond, SigmaError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let c = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::RParen) {
                    return Err(self.err(
                        "parentheses",
                        format!(
                            "expected `)` in the condition, found {}",
                            self.describe(self.pos)
                        ),
                    ));
                }
                self.pos += 1;
                Ok(c)
            }
            Some(Tok::Word(w)) => {
                let quantifier = w.to_ascii_lowercase();
                let is_of = matches!(self.toks.get(self.pos + 1), Some(Tok::Word(o)) if o.eq_ignore_ascii_case("of"));
                if is_of {
                    let all = match quantifier.as_str() {
                        "1" | "any" => false,
                        "all" => true,
                        _ => {
                            return Err(self.err(
                                "quantifier",
                                format!("`{w} of` is not Sigma: write `1 of` or `all of`"),
                            ))
                        }
                    };
                    let Some(Tok::Word(pattern)) = self.toks.get(self.pos + 2).cloned() else {
                        return Err(self.err(
                            "selector",
                            format!("`{w} of` needs a detection name pattern or `them`"),
                        ));
                    };
                    self.pos += 3;
                    let matched = self.select(&pattern);
                    if matched.is_empty() {
                        return Err(self.err(
                            "selector",
                            format!("`{w} of {pattern}` matches no detection"),
                        ));
                    }
                    let parts = matched.into_iter().map(Cond::Ident).collect();
                    return Ok(if all {
                        Cond::And(parts)
                    } else {
                        Cond::Or(parts)
                    });
                }
                if ["and", "or", "not", "of", "near"].contains(&quantifier.as_str()) {
                    return Err(self.err(&quantifier, format!("unexpected `{w}` in the condition")));
                }
                if !self.names.contains(&w.as_str()) {
                    return Err(self.err(
                        "detection",
                        format!("the condition names `{w}`, which the detection does not define"),
                    ));
                }
                self.pos += 1;
                Ok(Cond::Ident(w))
            }
            _ => Err(self.err(
                "condition",
                format!(
                    "expected a detection name, found {}",
                    self.describe(self.pos)
                ),
            )),
        }
    }

    /// Detection names a selector pattern matches, in file order.
    fn select(&self, pattern: &str) -> Vec<String> {
        self.names
            .iter()
            .filter(|n| {
                if pattern == "them" {
                    return !n.starts_with('_');
                }
                glob(pattern, n) && (pattern.starts_with('_') || !n.starts_with('_'))
            })
            .map(|n| n.to_string())
            .collect()
    }
}

/// `*` any run of characters, everything else itself.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(cond: &str, names: &[&str]) -> Rule {
        let mut text =
            String::from("title: t\nlogsource: {category: process_creation}\ndetection:\n");
        for n in names {
            text.push_str(&format!("  {n}:\n    Image: x\n"));
        }
        text.push_str(&format!("  condition: {cond}\n"));
        Rule::parse("t.yml", &text).unwrap()
    }

    #[test]
    fn precedence_is_not_and_or() {
        let r = rule("a or b and not c", &["a", "b", "c"]);
        assert_eq!(
            parse(&r).unwrap(),
            Cond::Or(vec![
                Cond::Ident("a".into()),
                Cond::And(vec![
                    Cond::Ident("b".into()),
                    Cond::Not(Box::new(Cond::Ident("c".into())))
                ])
            ])
        );
    }

    #[test]
    fn selectors_expand_to_names_in_order() {
        let r = rule(
            "all of selection_* and not 1 of filter_*",
            &["selection_a", "filter_x", "selection_b", "_hidden"],
        );
        assert_eq!(
            parse(&r).unwrap(),
            Cond::And(vec![
                Cond::And(vec![
                    Cond::Ident("selection_a".into()),
                    Cond::Ident("selection_b".into())
                ]),
                Cond::Not(Box::new(Cond::Or(vec![Cond::Ident("filter_x".into())])))
            ])
        );
        let them = rule("1 of them", &["a", "_b"]);
        assert_eq!(
            parse(&them).unwrap(),
            Cond::Or(vec![Cond::Ident("a".into())])
        );
    }

    #[test]
    fn aggregations_and_unknown_names_are_errors_with_the_line() {
        let r = rule("a | count() > 5", &["a"]);
        let e = parse(&r).unwrap_err();
        assert_eq!(e.construct, "aggregation");
        assert_eq!(e.line, 6);
        let r = rule("a and b", &["a"]);
        assert!(parse(&r).unwrap_err().message.contains("`b`"));
        let r = rule("(a", &["a"]);
        assert!(parse(&r).is_err());
    }
}
