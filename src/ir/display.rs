//! A stable, indented text form of plans and expressions, for snapshots of passes and for
//! `kestrel compile --ir`.

use std::fmt::{self, Write as _};

use super::{CmpOp, Expr, Literal, Plan, Program};

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Str(s) => write!(f, "{s:?}"),
            Literal::Timestamp(t) => write!(f, "t'{}'", super::timestamp_text(*t)),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |v: &[Expr], sep: &str| {
            v.iter()
                .map(|e| format!("({e})"))
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Expr::Col(c) => write!(f, "#{c}"),
            Expr::Lit(l) => write!(f, "{l}"),
            Expr::Cmp { op, left, right } => {
                let op = match op {
                    CmpOp::Eq => "=",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                write!(f, "{left} {op} {right}")
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                escape,
            } => {
                write!(
                    f,
                    "{expr} {}LIKE {pattern:?}",
                    if *negated { "NOT " } else { "" }
                )?;
                match escape {
                    Some(e) => write!(f, " ESCAPE {e:?}"),
                    None => Ok(()),
                }
            }
            Expr::Regex {
                expr,
                pattern,
                negated,
            } => {
                write!(
                    f,
                    "{expr} {}MATCHES {pattern:?}",
                    if *negated { "NOT " } else { "" }
                )
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{expr} {}IN [{}]",
                    if *negated { "NOT " } else { "" },
                    items.join(", ")
                )
            }
            Expr::InRel {
                exprs,
                rel,
                cols,
                negated,
            } => {
                let lhs: Vec<String> = exprs.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "({}) {}IN rel{}({})",
                    lhs.join(", "),
                    if *negated { "NOT " } else { "" },
                    rel.0,
                    cols.join(", ")
                )
            }
            Expr::IsNull { expr, negated } => {
                write!(f, "{expr} IS {}NULL", if *negated { "NOT " } else { "" })
            }
            Expr::And(v) => f.write_str(&join(v, " AND ")),
            Expr::Or(v) => f.write_str(&join(v, " OR ")),
            Expr::Not(e) => write!(f, "NOT ({e})"),
            Expr::Case { whens, otherwise } => {
                f.write_str("CASE")?;
                for (c, v) in whens.iter() {
                    write!(f, " WHEN {c} THEN {v}")?;
                }
                write!(f, " ELSE {otherwise} END")
            }
            Expr::Func { func, args } => {
                let a: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{func:?}({})", a.join(", "))
            }
        }
    }
}

fn plan_text(plan: &Plan, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match plan {
        Plan::Scan { source } => {
            let _ = writeln!(out, "{pad}Scan source{source}");
        }
        Plan::Rel(id) => {
            let _ = writeln!(out, "{pad}Rel rel{}", id.0);
        }
        Plan::Values { columns, rows } => {
            let _ = writeln!(out, "{pad}Values ({}) x{}", columns.join(", "), rows.len());
        }
        Plan::Filter { input, pred } => {
            let _ = writeln!(out, "{pad}Filter {pred}");
            plan_text(input, depth + 1, out);
        }
        Plan::Project { input, cols } => {
            let c: Vec<String> = cols
                .iter()
                .map(|(n, e)| match e {
                    Expr::Col(c) if c == n => n.clone(),
                    e => format!("{n} := {e}"),
                })
                .collect();
            let _ = writeln!(out, "{pad}Project {}", c.join(", "));
            plan_text(input, depth + 1, out);
        }
        Plan::Distinct { input } => {
            let _ = writeln!(out, "{pad}Distinct");
            plan_text(input, depth + 1, out);
        }
        Plan::Sort { input, keys } => {
            let k: Vec<String> = keys
                .iter()
                .map(|k| format!("{}{}", k.expr, if k.desc { " DESC" } else { "" }))
                .collect();
            let _ = writeln!(out, "{pad}Sort {}", k.join(", "));
            plan_text(input, depth + 1, out);
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let _ = writeln!(out, "{pad}Limit {limit:?} offset {offset}");
            plan_text(input, depth + 1, out);
        }
        Plan::Union { inputs } => {
            let _ = writeln!(out, "{pad}Union");
            for p in inputs {
                plan_text(p, depth + 1, out);
            }
        }
        Plan::Aggregate { input, keys, aggs } => {
            let k: Vec<String> = keys.iter().map(|(n, e)| format!("{n} := {e}")).collect();
            let a: Vec<String> = aggs
                .iter()
                .map(|(n, func, e)| format!("{n} := {func:?}({e})"))
                .collect();
            let _ = writeln!(
                out,
                "{pad}Aggregate by [{}] with [{}]",
                k.join(", "),
                a.join(", ")
            );
            plan_text(input, depth + 1, out);
        }
        Plan::Join { left, right, on } => {
            let o: Vec<String> = on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
            let _ = writeln!(out, "{pad}Join on {}", o.join(" AND "));
            plan_text(left, depth + 1, out);
            plan_text(right, depth + 1, out);
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        plan_text(self, 0, &mut s);
        f.write_str(&s)
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.sources.iter().enumerate() {
            writeln!(
                f,
                "source{i}: {} (table {}, mapping {})",
                s.uri, s.table, s.mapping
            )?;
        }
        for (i, r) in self.relations.iter().enumerate() {
            writeln!(f, "rel{i} {} : {} ({})", r.name, r.entity, r.command)?;
            let mut s = String::new();
            plan_text(&r.plan, 1, &mut s);
            f.write_str(&s)?;
        }
        for o in &self.outputs {
            writeln!(f, "output {:?} of rel{} (line {})", o.kind, o.rel.0, o.line)?;
            let mut s = String::new();
            plan_text(&o.plan, 1, &mut s);
            f.write_str(&s)?;
        }
        Ok(())
    }
}
