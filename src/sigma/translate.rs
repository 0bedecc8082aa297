//! A Sigma rule as a Kestrel pattern.
//!
//! In: a parsed [`Rule`], the GET type it runs on (or none: the category's first type),
//! and whether it is negated (`NOT SIGMA '…'`). Out: the type and an
//! [`ast::Pattern`] over OCSF attributes, the one `WHERE SIGMA` lowers and `convert`
//! prints.
//!
//! Negation is pushed to the tests with Sigma's two-valued meaning: a test of a field the
//! event lacks is false, so its negation is true: `not CommandLine|contains: x` is
//! `cmd_line IS NULL OR cmd_line NOT LIKE '%x%'` (Kestrel's own NOT keeps a NULL false).

use std::collections::HashMap;

use crate::source::Span;
use crate::syntax::ast::{self, AttrPath, CmpOp, Comparison, Literal, Pattern, Value};

use super::condition::{self, Cond};
use super::fieldmap::{Category, FieldMap};
use super::rule::Rule;
use super::value::{self, Node, NumOp, Piece, Test, TestKind};
use super::SigmaError;

/// Where a rule runs: the canonical GET type (None: the category's preferred one).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub entity: Option<&'a str>,
    pub negate: bool,
    /// The span every node of the pattern gets (the `SIGMA '…'` term; empty for convert).
    pub span: Span,
    /// Whether a service's rule is narrowed to its channels (`metadata.log_name`); false
    /// where the table cannot tell channels apart (it then holds the service's events).
    pub channels: bool,
    /// Whether a category's rule is narrowed to its events (`EVENTS '…'`, the field map's
    /// `events`); false over a variable's rows, which are no longer a data source's.
    pub events: bool,
}

/// Where a rule's events come from, as the field map says.
pub enum Source<'m> {
    /// A logsource category: its GET types and field names.
    Category(&'m str, &'m Category),
    /// A service-only logsource: whole records of these channels, fields by their own names.
    Service(&'m str, &'m [String]),
}

/// The rule's category (or service) in the field map, or an error naming what is
/// unsupported.
pub fn category<'m>(rule: &Rule, map: &'m FieldMap) -> Result<Source<'m>, SigmaError> {
    let ls = &rule.logsource;
    let line = rule.line_of("logsource:", 1);
    if let Some(p) = &ls.product {
        if !p.eq_ignore_ascii_case("windows") {
            return Err(rule.err(
                line,
                format!("logsource product {p}"),
                format!(
                    "logsource product `{p}` is not supported: the field map covers Windows \
                     (Sysmon taxonomy) rules"
                ),
            ));
        }
    }
    let Some(cat) = &ls.category else {
        if let Some((name, channels)) = ls
            .service
            .as_deref()
            .and_then(|s| map.services.get_key_value(s))
        {
            return Ok(Source::Service(name.as_str(), channels.as_slice()));
        }
        return Err(rule.err(
            line,
            "logsource",
            format!(
                "logsource ({ls}) names neither a category nor a service the Sigma field map knows"
            ),
        ));
    };
    map.categories
        .get_key_value(cat.as_str())
        .map(|(k, v)| Source::Category(k.as_str(), v))
        .ok_or_else(|| {
            rule.err(
                line,
                format!("logsource category {cat}"),
                format!("logsource category `{cat}` is not in the Sigma field map"),
            )
        })
}

/// The rule's detection as a pattern over `target`'s attributes; returns the GET type.
pub fn translate(
    rule: &Rule,
    map: &FieldMap,
    target: Target,
) -> Result<(String, Pattern), SigmaError> {
    translate_fields(rule, map, target).map(|(ty, p, _)| (ty, p))
}

/// The GET type, the pattern, and (attribute, Sigma field) pairs.
pub type Translation = (String, Pattern, Vec<(String, String)>);

/// [`translate`], also returning which Sigma field each attribute of the pattern stands
/// for (attribute, field), so lowering can fall back to a column of the field's own name
/// where the table lacks what the attribute maps to.
pub fn translate_fields(
    rule: &Rule,
    map: &FieldMap,
    target: Target,
) -> Result<Translation, SigmaError> {
    let source = category(rule, map)?;
    let (cat_name, cat, types) = match &source {
        Source::Category(name, c) => (*name, Some(*c), c.type_names()),
        Source::Service(name, _) => (*name, None, vec!["event".to_string()]),
    };
    let ty = match target.entity {
        None => types[0].clone(),
        Some(t) if types.iter().any(|x| x == t) => t.to_string(),
        Some(t) => {
            return Err(rule.err(
                rule.line_of("logsource:", 1),
                "logsource",
                format!(
                    "the rule is for {cat_name} events (GET {}), not {t}",
                    types.join(" or GET ")
                ),
            ))
        }
    };
    let cond = condition::parse(rule)?;
    let mut nodes = HashMap::new();
    for (name, v) in &rule.detections {
        nodes.insert(name.as_str(), (name, v));
    }
    let mut cache: HashMap<String, Node> = HashMap::new();
    let node = resolve(rule, &cond, &nodes, &mut cache)?;
    let t = Translator {
        rule,
        common: &map.native,
        cat,
        ty: &ty,
        span: target.span,
        fields: std::cell::RefCell::new(Vec::new()),
    };
    let mut p = t.pattern(&node, target.negate)?;
    match source {
        Source::Service(_, channels) if target.channels => {
            p = t.channel(channels, target.negate, p);
        }
        Source::Category(_, cat) if target.events && !cat.events.is_empty() => {
            p = t.events(&cat.events, target.negate, p);
        }
        _ => {}
    }
    let fields = t.fields.into_inner();
    Ok((ty, p, fields))
}

fn resolve(
    rule: &Rule,
    c: &Cond,
    dets: &HashMap<&str, (&String, &serde_yaml::Value)>,
    cache: &mut HashMap<String, Node>,
) -> Result<Node, SigmaError> {
    Ok(match c {
        Cond::Ident(name) => {
            if let Some(n) = cache.get(name) {
                return Ok(n.clone());
            }
            let (n, v) = dets.get(name.as_str()).ok_or_else(|| {
                rule.err(
                    rule.condition_line,
                    "detection",
                    format!("no detection `{name}`"),
                )
            })?;
            let node = value::detection(rule, n, v)?;
            cache.insert(name.clone(), node.clone());
            node
        }
        Cond::And(v) => Node::And(
            v.iter()
                .map(|x| resolve(rule, x, dets, cache))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(v) => Node::Or(
            v.iter()
                .map(|x| resolve(rule, x, dets, cache))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(x) => Node::Not(Box::new(resolve(rule, x, dets, cache)?)),
    })
}

struct Translator<'a> {
    rule: &'a Rule,
    common: &'a [String],
    /// None: a service's records, whose fields keep their names.
    cat: Option<&'a Category>,
    ty: &'a str,
    span: Span,
    /// (attribute, Sigma field) pairs used so far.
    fields: std::cell::RefCell<Vec<(String, String)>>,
}

impl Translator<'_> {
    fn pattern(&self, n: &Node, negate: bool) -> Result<Pattern, SigmaError> {
        match n {
            Node::And(v) | Node::Or(v) => {
                // `not Field: [a, b]`: one NULL test for the field, not one per value.
                if let Some(first) = self.same_field(v).filter(|_| negate && v.len() > 1) {
                    let attr = self.attr(first)?;
                    let parts = v
                        .iter()
                        .map(|x| match x {
                            Node::Test(t) => self.bare_test(t, true),
                            _ => unreachable!("same_field checked the nodes"),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let and = matches!(n, Node::And(_)) != negate;
                    return Ok(Pattern::Or(
                        Box::new(self.cmp(attr, CmpOp::IsNull, None, None)),
                        Box::new(chain(parts, and)),
                    ));
                }
                let parts = v
                    .iter()
                    .map(|x| self.pattern(x, negate))
                    .collect::<Result<Vec<_>, _>>()?;
                let and = matches!(n, Node::And(_)) != negate;
                Ok(chain(parts, and))
            }
            Node::Not(x) => self.pattern(x, !negate),
            Node::Test(t) => self.test(t, negate),
        }
    }

    /// The rule's events are those of its service's channels: `(metadata.log_name IS NULL
    /// OR metadata.log_name LIKE c) AND p` — a row whose channel is not recorded may be
    /// one (negated: a recorded other channel, or not `p`).
    fn channel(&self, channels: &[String], negate: bool, p: Pattern) -> Pattern {
        let attr = AttrPath {
            entity: None,
            path: "metadata.log_name".into(),
            span: self.span,
        };
        let tests: Vec<Pattern> = channels
            .iter()
            .map(|c| {
                let (text, escape) = like_text(&value::parse_string(c));
                let op = if negate { CmpOp::NotLike } else { CmpOp::Like };
                self.cmp(attr.clone(), op, Some(Literal::Str(text)), escape)
            })
            .collect();
        if negate {
            Pattern::Or(Box::new(chain(tests, true)), Box::new(p))
        } else {
            let ours = Pattern::Or(
                Box::new(self.cmp(attr, CmpOp::IsNull, None, None)),
                Box::new(chain(tests, false)),
            );
            Pattern::And(Box::new(ours), Box::new(p))
        }
    }

    /// The rule's events are its category's: `EVENTS 'Process Activity: Launch' AND p`
    /// (negated: `NOT EVENTS '…' OR p`, `p` already the rule's complement).
    fn events(&self, types: &[String], negate: bool, p: Pattern) -> Pattern {
        let ev = Pattern::Events {
            types: types
                .iter()
                .map(|n| ast::EventType::Name(n.clone(), self.span))
                .collect(),
            span: self.span,
        };
        if negate {
            Pattern::Or(Box::new(Pattern::Not(Box::new(ev), self.span)), Box::new(p))
        } else {
            Pattern::And(Box::new(ev), Box::new(p))
        }
    }

    fn attr(&self, t: &Test) -> Result<AttrPath, SigmaError> {
        let path = match self.cat {
            Some(cat) => cat.attribute_or_common(self.ty, &t.field, self.common),
            None => Some(t.field.clone()),
        };
        let path = path.ok_or_else(|| {
            self.rule.err(
                t.line,
                format!("field {}", t.field),
                format!(
                    "the field `{}` is not in the Sigma field map for {} (GET {})",
                    t.field,
                    self.rule.logsource.category.as_deref().unwrap_or("?"),
                    self.ty
                ),
            )
        })?;
        let pair = (path.clone(), t.field.clone());
        if !self.fields.borrow().contains(&pair) {
            self.fields.borrow_mut().push(pair);
        }
        Ok(AttrPath {
            entity: None,
            path,
            span: self.span,
        })
    }

    fn cmp(
        &self,
        attr: AttrPath,
        op: CmpOp,
        value: Option<Literal>,
        escape: Option<char>,
    ) -> Pattern {
        Pattern::Cmp(Comparison {
            attr,
            op,
            op_span: self.span,
            value: value.map(|v| Value::Lit(v, self.span)),
            escape: escape.map(|e| (e, self.span)),
            span: self.span,
        })
    }

    /// The test all of `v` make of one field, when they are all value tests of it.
    fn same_field<'n>(&self, v: &'n [Node]) -> Option<&'n Test> {
        let mut first: Option<&Test> = None;
        for n in v {
            let Node::Test(t) = n else { return None };
            if matches!(t.kind, TestKind::Null | TestKind::Exists(_)) {
                return None;
            }
            match first {
                Some(f) if f.field != t.field => return None,
                Some(_) => {}
                None => first = Some(t),
            }
        }
        first
    }

    fn test(&self, t: &Test, negate: bool) -> Result<Pattern, SigmaError> {
        if !negate || matches!(t.kind, TestKind::Null | TestKind::Exists(_)) {
            return self.bare_test(t, negate);
        }
        // A field the event lacks fails the test, so it passes the negation.
        Ok(Pattern::Or(
            Box::new(self.cmp(self.attr(t)?, CmpOp::IsNull, None, None)),
            Box::new(self.bare_test(t, negate)?),
        ))
    }

    /// The test, or its opposite, without the NULL guard.
    fn bare_test(&self, t: &Test, negate: bool) -> Result<Pattern, SigmaError> {
        let attr = self.attr(t)?;
        let op = |pos: CmpOp| if negate { pos.negated() } else { pos };
        let test = match &t.kind {
            TestKind::Null => return Ok(self.cmp(attr, op(CmpOp::IsNull), None, None)),
            TestKind::Exists(b) => {
                let pos = if *b { CmpOp::IsNotNull } else { CmpOp::IsNull };
                return Ok(self.cmp(attr, op(pos), None, None));
            }
            TestKind::Like(p) => {
                let (text, escape) = like_text(p);
                self.cmp(
                    attr.clone(),
                    op(CmpOp::Like),
                    Some(Literal::Str(text)),
                    escape,
                )
            }
            TestKind::Cased(p) => {
                if p.iter().all(|x| matches!(x, Piece::Lit(_))) {
                    let s: String = p
                        .iter()
                        .map(|x| if let Piece::Lit(c) = x { *c } else { ' ' })
                        .collect();
                    self.cmp(attr.clone(), op(CmpOp::Eq), Some(Literal::Str(s)), None)
                } else {
                    self.cmp(
                        attr.clone(),
                        op(CmpOp::Matches),
                        Some(Literal::Str(cased_regex(p))),
                        None,
                    )
                }
            }
            TestKind::Regex(re) => self.cmp(
                attr.clone(),
                op(CmpOp::Matches),
                Some(Literal::Str(re.clone())),
                None,
            ),
            TestKind::Num(nop, n) => {
                let pos = match nop {
                    NumOp::Eq => CmpOp::Eq,
                    NumOp::Lt => CmpOp::Lt,
                    NumOp::Le => CmpOp::Le,
                    NumOp::Gt => CmpOp::Gt,
                    NumOp::Ge => CmpOp::Ge,
                };
                let lit = match n.parse::<i64>() {
                    Ok(i) => Literal::Int(i),
                    Err(_) => match n.parse::<f64>() {
                        Ok(f) => Literal::Float(f),
                        Err(_) => Literal::Str(n.clone()),
                    },
                };
                self.cmp(attr.clone(), op(pos), Some(lit), None)
            }
            // pySigma's reading: the text `true`/`false` or the number 1/0.
            TestKind::Bool(b) => Pattern::Cmp(Comparison {
                attr: attr.clone(),
                op: op(CmpOp::In),
                op_span: self.span,
                value: Some(Value::List(
                    vec![
                        Value::Lit(Literal::Str(b.to_string()), self.span),
                        Value::Lit(Literal::Int(i64::from(*b)), self.span),
                    ],
                    self.span,
                )),
                escape: None,
                span: self.span,
            }),
            TestKind::Cidr(c) => self.cmp(
                attr.clone(),
                op(CmpOp::IsSubset),
                Some(Literal::Str(c.clone())),
                None,
            ),
        };
        Ok(test)
    }
}

/// Left-deep AND/OR chain, as the grammar builds one.
fn chain(parts: Vec<Pattern>, and: bool) -> Pattern {
    let mut it = parts.into_iter();
    let first = it.next().expect("a Sigma detection has at least one test");
    it.fold(first, |a, b| {
        if and {
            Pattern::And(Box::new(a), Box::new(b))
        } else {
            Pattern::Or(Box::new(a), Box::new(b))
        }
    })
}

/// Characters `ESCAPE` may take, in preference order (rare in Windows values).
const ESCAPES: [char; 8] = ['!', '^', '~', '#', '`', '|', '&', '$'];

/// A Sigma string as a LIKE pattern: `*` → `%`, `?` → `_`; a literal `%` or `_` needs an
/// escape character, one the value does not use where possible.
pub fn like_text(p: &[Piece]) -> (String, Option<char>) {
    let needs = p
        .iter()
        .any(|x| matches!(x, Piece::Lit('%') | Piece::Lit('_')));
    let escape = needs.then(|| {
        ESCAPES
            .iter()
            .copied()
            .find(|e| !p.contains(&Piece::Lit(*e)))
            .unwrap_or('!')
    });
    let mut s = String::with_capacity(p.len());
    for x in p {
        match x {
            Piece::Any => s.push('%'),
            Piece::One => s.push('_'),
            Piece::Lit(c) => {
                if Some(*c) == escape || (escape.is_some() && matches!(c, '%' | '_')) {
                    s.push(escape.unwrap_or('!'));
                }
                s.push(*c);
            }
        }
    }
    (s, escape)
}

/// A case-sensitive wildcard match as an anchored regular expression.
fn cased_regex(p: &[Piece]) -> String {
    let mut s = String::from("(?s)^");
    let mut lit = String::new();
    let flush = |lit: &mut String, s: &mut String| {
        s.push_str(&regex_syntax::escape(lit));
        lit.clear();
    };
    for x in p {
        match x {
            Piece::Lit(c) => lit.push(*c),
            Piece::Any => {
                flush(&mut lit, &mut s);
                s.push_str(".*");
            }
            Piece::One => {
                flush(&mut lit, &mut s);
                s.push('.');
            }
        }
    }
    flush(&mut lit, &mut s);
    s.push('$');
    s
}

/// The rule as a huntflow statement's pattern, for errors that need the text.
pub fn describe(p: &ast::Pattern) -> String {
    super::print::pattern(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(detection: &str, negate: bool) -> String {
        let text = format!(
            "title: t\nlogsource: {{product: windows, category: process_creation}}\ndetection:\n{detection}"
        );
        let rule = Rule::parse("t.yml", &text).unwrap();
        let (_, p) = translate(
            &rule,
            FieldMap::shipped(),
            Target {
                entity: None,
                negate,
                span: Span::default(),
                channels: true,
                events: false,
            },
        )
        .unwrap();
        super::super::print::pattern(&p)
    }

    #[test]
    fn negation_keeps_a_missing_field_false_under_not() {
        let d =
            "  s:\n    CommandLine|contains: [a, b]\n  f:\n    User: x\n  condition: s and not f\n";
        assert_eq!(
            convert(d, false),
            "(cmd_line LIKE '%a%' OR cmd_line LIKE '%b%') AND (User IS NULL OR User NOT LIKE 'x')"
        );
        // NOT SIGMA: the complement, with De Morgan and one NULL test per field list.
        assert_eq!(
            convert(d, true),
            "cmd_line IS NULL OR (cmd_line NOT LIKE '%a%' AND cmd_line NOT LIKE '%b%') OR User LIKE 'x'"
        );
    }

    #[test]
    fn null_exists_and_numbers() {
        let d = "  s:\n    ParentImage: null\n    Image|exists: false\n    ProcessId|gte: 4\n  condition: not s\n";
        assert_eq!(
            convert(d, false),
            "parent_process.file.path IS NOT NULL OR file.path IS NOT NULL OR pid IS NULL OR pid < 4"
        );
    }

    #[test]
    fn like_text_escapes_only_where_needed() {
        use crate::sigma::value::parse_string;
        assert_eq!(like_text(&parse_string(r"C:\x*")), (r"C:\x%".into(), None));
        assert_eq!(
            like_text(&parse_string("50%_!")),
            ("50^%^_!".into(), Some('^'))
        );
    }
}
