//! Kestrel text for a translated rule.
//!
//! In: a rule and its pattern. Out: a huntflow a person can read and edit: a comment block
//! with the rule's title, id, author, level, references and licence, then
//! `NAME = GET type FROM uri WHERE …`, long conditions broken one operand per line.
//! The text parses back to the same pattern (a test checks it).

use crate::syntax::ast::{CmpOp, EventType, Literal, Pattern, Value};

use super::rule::Rule;

const WIDTH: usize = 96;

/// A huntflow for `rule`: its attribution as comments, then the GET statement.
pub fn huntflow(rule: &Rule, var: &str, ty: &str, from: &str, p: &Pattern) -> String {
    let mut out = String::new();
    out.push_str(&format!("# {}\n", one_line(&rule.title)));
    if let Some(id) = &rule.id {
        out.push_str(&format!("# id: {}\n", one_line(id)));
    }
    if let Some(a) = &rule.author {
        out.push_str(&format!("# author: {}\n", one_line(a)));
    }
    if let Some(l) = &rule.level {
        out.push_str(&format!("# level: {}\n", one_line(l)));
    }
    if !rule.references.is_empty() {
        out.push_str("# references:\n");
        for r in &rule.references {
            out.push_str(&format!("#   - {}\n", one_line(r)));
        }
    }
    match &rule.license {
        Some(l) => out.push_str(&format!("# license: {}\n", one_line(l))),
        None => out.push_str(
            "# license: as the rule's source states (SigmaHQ rules: Detection Rule License (DRL) 1.1)\n",
        ),
    }
    let name = std::path::Path::new(&rule.file)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    out.push_str(&format!(
        "# converted from Sigma by kestrel: {}\n",
        one_line(&name)
    ));
    out.push_str(&format!(
        "{var} = GET {ty} FROM {from}\n    WHERE {}\n",
        render(p, 1, None)
    ));
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A pattern on one line.
pub fn pattern(p: &Pattern) -> String {
    flat(p, None)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    And,
    Or,
}

fn op_of(p: &Pattern) -> Option<Op> {
    match p {
        Pattern::And(..) => Some(Op::And),
        Pattern::Or(..) => Some(Op::Or),
        _ => None,
    }
}

fn operands(p: &Pattern) -> Vec<&Pattern> {
    let op = op_of(p);
    let mut out = Vec::new();
    let mut stack = vec![p];
    while let Some(q) = stack.pop() {
        match q {
            Pattern::And(a, b) if op == Some(Op::And) => {
                stack.push(b);
                stack.push(a);
            }
            Pattern::Or(a, b) if op == Some(Op::Or) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other),
        }
    }
    out
}

fn word(op: Op) -> &'static str {
    match op {
        Op::And => "AND",
        Op::Or => "OR",
    }
}

/// One line; a chain inside another operator's chain is parenthesised.
fn flat(p: &Pattern, parent: Option<Op>) -> String {
    match op_of(p) {
        Some(op) => {
            let body = operands(p)
                .into_iter()
                .map(|o| flat(o, Some(op)))
                .collect::<Vec<_>>()
                .join(&format!(" {} ", word(op)));
            if parent.is_some() && parent != Some(op) || parent == Some(Op::And) && op == Op::Or {
                format!("({body})")
            } else {
                body
            }
        }
        None => atom(p),
    }
}

fn render(p: &Pattern, depth: usize, parent: Option<Op>) -> String {
    let one = flat(p, parent);
    if depth * 4 + one.len() <= WIDTH {
        return one;
    }
    let Some(op) = op_of(p) else {
        // A long list of event types: one a line.
        if let Pattern::Events { types, .. } = p {
            if types.len() > 1 {
                let pad = "    ".repeat(depth);
                let items = types
                    .iter()
                    .map(|t| format!("{pad}    {}", event_type(t)))
                    .collect::<Vec<_>>()
                    .join(",\n");
                return format!("EVENTS (\n{items}\n{pad})");
            }
        }
        return one;
    };
    let pad = "    ".repeat(depth);
    let inner_depth = if parent.is_some() { depth + 1 } else { depth };
    let inner_pad = "    ".repeat(inner_depth);
    let body = operands(p)
        .into_iter()
        .map(|o| render(o, inner_depth, Some(op)))
        .collect::<Vec<_>>()
        .join(&format!("\n{inner_pad}{} ", word(op)));
    if parent.is_some() {
        format!("(\n{inner_pad}{body}\n{pad})")
    } else {
        body
    }
}

fn atom(p: &Pattern) -> String {
    match p {
        Pattern::Not(inner, _) => match op_of(inner) {
            Some(_) => format!("NOT ({})", flat(inner, None)),
            None => format!("NOT {}", atom(inner)),
        },
        Pattern::Sigma { path, .. } => format!("SIGMA {}", quote(path)),
        Pattern::Events { types, .. } => match &types[..] {
            [t] => format!("EVENTS {}", event_type(t)),
            _ => format!(
                "EVENTS ({})",
                types.iter().map(event_type).collect::<Vec<_>>().join(", ")
            ),
        },
        Pattern::Cmp(c) => {
            let attr = match &c.attr.entity {
                Some(e) => format!("{}:{}", e.name, c.attr.path),
                None => c.attr.path.clone(),
            };
            match (&c.op, &c.value) {
                (CmpOp::IsNull | CmpOp::IsNotNull, _) | (_, None) => {
                    format!("{attr} {}", c.op.as_str())
                }
                (op, Some(v)) => {
                    let mut s = format!("{attr} {} {}", op.as_str(), value(v));
                    if let Some((e, _)) = c.escape {
                        s.push_str(&format!(" ESCAPE {}", quote(&e.to_string())));
                    }
                    s
                }
            }
        }
        other => flat(other, None),
    }
}

fn event_type(t: &EventType) -> String {
    match t {
        EventType::Name(n, _) => quote(n),
        EventType::Uid(u, _) => u.to_string(),
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Lit(l, _) => literal(l),
        Value::List(items, _) => format!(
            "({})",
            items.iter().map(value).collect::<Vec<_>>().join(", ")
        ),
        Value::Ref { var, attr, .. } => format!("{}.{attr}", var.name),
        Value::Word(i) => i.name.clone(),
        Value::Object(..) => "{…}".into(),
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Str(s) => quote(s),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => {
            let s = f.to_string();
            if s.contains(['.', 'e', 'E']) || !f.is_finite() {
                s
            } else {
                format!("{s}.0")
            }
        }
        Literal::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Literal::Null => "NULL".into(),
        Literal::Timestamp(t) => format!("t'{t}'"),
    }
}

/// A Kestrel string literal for `s`: raw (`r'C:\Windows'`) when that reads best and says
/// the same, else quoted with Python escapes.
pub fn quote(s: &str) -> String {
    let plain = !s.chars().any(|c| c.is_control() || c == '\'');
    if plain && !s.contains('\\') {
        return format!("'{s}'");
    }
    if plain && !s.ends_with('\\') {
        return format!("r'{s}'");
    }
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
