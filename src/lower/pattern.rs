//! Patterns to predicates: `name = 'x' AND pid > 4`, `[process:name IN ('a', 'b')]`,
//! `x LIKE '%\\cmd.exe'`, `ip ISSUBSET '10.0.0.0/8'`, `name IN procs.name`, time ranges.

use crate::diag::{Code, Diagnostic};
use crate::ir::{CmpOp as IrCmp, ColumnKind, Expr, Literal, RelId};
use crate::syntax::ast::{self, CmpOp, Pattern};

use super::attr::Ctx;
use super::{ast_literal, time, Lowerer};

impl Lowerer<'_> {
    pub(super) fn pattern(&mut self, ctx: &Ctx, p: &Pattern) -> Result<Expr, Diagnostic> {
        self.pattern_inner(ctx, p, false)
    }

    /// `negate` pushes a NOT down to the comparisons, so `NOT a = 1` is `a != 1` and a
    /// comparison with NULL stays false under NOT as well.
    fn pattern_inner(&mut self, ctx: &Ctx, p: &Pattern, negate: bool) -> Result<Expr, Diagnostic> {
        Ok(match p {
            Pattern::And(..) | Pattern::Or(..) => {
                // A chain `a OR b OR c …` is left-deep in the AST: walk its spine in a loop
                // so a hunt with thousands of terms does not recurse once per term.
                let is_or = matches!(p, Pattern::Or(..));
                let mut operands = Vec::new();
                let mut cur = p;
                loop {
                    match cur {
                        Pattern::Or(a, b) if is_or => {
                            operands.push(&**b);
                            cur = a;
                        }
                        Pattern::And(a, b) if !is_or => {
                            operands.push(&**b);
                            cur = a;
                        }
                        other => {
                            operands.push(other);
                            break;
                        }
                    }
                }
                operands.reverse();
                let parts = operands
                    .into_iter()
                    .map(|o| self.pattern_inner(ctx, o, negate))
                    .collect::<Result<Vec<_>, _>>()?;
                // De Morgan: under NOT, OR becomes AND and AND becomes OR.
                if is_or == negate {
                    Expr::and(parts)
                } else {
                    Expr::or(parts)
                }
            }
            Pattern::Not(inner, _) => self.pattern_inner(ctx, inner, !negate)?,
            Pattern::Sigma { path, span } => {
                let p = self.sigma(ctx, path, *span, negate)?;
                self.pattern_inner(ctx, &p, false)?
            }
            Pattern::Events { types, span } => {
                let e = self.events(ctx, types, *span)?;
                if negate {
                    not_true(e)
                } else {
                    e
                }
            }
            Pattern::Cmp(c) => {
                let op = if negate { c.op.negated() } else { c.op };
                self.comparison(ctx, c, op)?
            }
        })
    }

    /// `SIGMA 'rule.yml'`: the rule's detection as a pattern over this GET's type, negated
    /// with Sigma's meaning (see `crate::sigma::translate`); over rows of a data source it
    /// starts with `EVENTS <the category's types>` (see `events.rs`), as `kestrel sigma
    /// convert` prints it.
    fn sigma(
        &mut self,
        ctx: &Ctx,
        path: &str,
        span: crate::source::Span,
        negate: bool,
    ) -> Result<Pattern, Diagnostic> {
        use crate::sigma::{fieldmap::FieldMap, Rule, Target};
        let entity = match ctx {
            Ctx::Rows { entity, .. } => entity.clone(),
            Ctx::Var(rel) => self.info(*rel).entity.clone(),
        };
        let hunt = std::path::Path::new(&self.src.name);
        let hunt_dir = hunt.is_file().then(|| hunt.parent()).flatten();
        let dirs = self
            .config
            .map(|c| c.sigma.rules.clone())
            .unwrap_or_default();
        let Some(file) = crate::sigma::resolve(path, hunt_dir, &dirs) else {
            let mut places = vec![match hunt_dir {
                Some(d) if !d.as_os_str().is_empty() => d.display().to_string(),
                Some(_) | None => ".".to_string(),
            }];
            places.extend(dirs.iter().map(|d| d.display().to_string()));
            return Err(Diagnostic::error(
                Code::BadValue,
                format!("Sigma rule `{path}` not found"),
            )
            .at(span)
            .help(format!(
                "looked in {} (add directories under `sigma: rules:` in the configuration)",
                places.join(", ")
            )));
        };
        let fail = |e: crate::sigma::SigmaError| {
            Diagnostic::error(Code::NotAvailable, format!("Sigma rule {e}"))
                .at(span)
                .label(format!("not supported: {}", e.construct))
                .help("see README.md, \"Sigma rules\", for what kestrel runs")
        };
        let rule = Rule::load(&file).map_err(fail)?;
        let log_name = ast::AttrPath {
            entity: None,
            path: "metadata.log_name".into(),
            span,
        };
        let channels = self.attr(ctx, &log_name).is_ok();
        let (_, mut p, fields) = crate::sigma::translate::translate_fields(
            &rule,
            FieldMap::shipped(),
            Target {
                entity: Some(&entity),
                negate,
                span,
                channels,
                events: matches!(ctx, Ctx::Rows { .. }),
            },
        )
        .map_err(fail)?;
        self.sigma_native_fallback(ctx, &mut p, &fields)?;
        Ok(p)
    }

    /// The column a Sigma field names, where the table has one: Sigma's Windows field
    /// names are Sysmon's, so on a raw Windows table `TargetImage` is exactly the field,
    /// whatever event classes the table can tell apart (without them the layout's
    /// `process.file.path` would read `Image`). Elsewhere the field map's attribute, and
    /// where the table cannot supply that either, the field's own column if it resolves.
    fn sigma_native_fallback(
        &mut self,
        ctx: &Ctx,
        p: &mut Pattern,
        fields: &[(String, String)],
    ) -> Result<(), Diagnostic> {
        let mut resolved: std::collections::HashMap<String, String> = Default::default();
        let mut stack = vec![p];
        while let Some(q) = stack.pop() {
            match q {
                Pattern::And(a, b) | Pattern::Or(a, b) => {
                    stack.push(&mut **a);
                    stack.push(&mut **b);
                }
                Pattern::Not(x, _) => stack.push(&mut **x),
                Pattern::Sigma { .. } | Pattern::Events { .. } => {}
                Pattern::Cmp(c) => {
                    if let Some(path) = resolved.get(&c.attr.path) {
                        c.attr.path = path.clone();
                        continue;
                    }
                    let native = fields
                        .iter()
                        .find(|(a, f)| *a == c.attr.path && f != a)
                        .map(|(_, f)| f.clone());
                    let has_native = match (ctx, &native) {
                        (Ctx::Rows { source, .. }, Some(f)) => self.source_column_sets[*source]
                            .as_ref()
                            .is_some_and(|cols| cols.contains(f)),
                        _ => false,
                    };
                    if has_native {
                        let f = native.unwrap_or_default();
                        resolved.insert(c.attr.path.clone(), f.clone());
                        c.attr.path = f;
                        continue;
                    }
                    let path = match self.attr(ctx, &c.attr) {
                        Ok(_) => c.attr.path.clone(),
                        Err(e) => {
                            let Some(native) = native else { return Err(e) };
                            let alt = ast::AttrPath {
                                path: native.clone(),
                                ..c.attr.clone()
                            };
                            if self.attr(ctx, &alt).is_err() {
                                return Err(e);
                            }
                            native
                        }
                    };
                    resolved.insert(c.attr.path.clone(), path.clone());
                    c.attr.path = path;
                }
            }
        }
        Ok(())
    }

    fn comparison(
        &mut self,
        ctx: &Ctx,
        c: &ast::Comparison,
        op: CmpOp,
    ) -> Result<Expr, Diagnostic> {
        // OCSF classification (`type_uid = 400101`): the conditions on the table's own
        // columns that give the classifications passing the test, not a CASE per row.
        if let Some((source, class, name)) = self.classification_attr(ctx, &c.attr) {
            if let Some(table) = self.classification_table(source, class.as_deref(), name) {
                if let Some(e) = classification_test(&table, op, c.value.as_ref())? {
                    return Ok(e);
                }
            }
        }
        let lhs = self.attr(ctx, &c.attr)?;
        let Some(value) = &c.value else {
            return Ok(Expr::IsNull {
                expr: Box::new(lhs),
                negated: op == CmpOp::IsNotNull,
            });
        };
        // A reference `var.attr` is the set of that attribute's values.
        if let ast::Value::Ref { var, attr, span } = value {
            let rel = self.var(var)?;
            let path = ast::AttrPath {
                entity: None,
                path: attr.clone(),
                span: *span,
            };
            let col = match self.var_attr(rel, &path)? {
                Expr::Col(c) => c,
                _ => return Err(Diagnostic::internal("reference to a computed attribute")),
            };
            let negated = match op {
                CmpOp::Eq | CmpOp::In => false,
                CmpOp::Ne | CmpOp::NotIn => true,
                other => {
                    return Err(Diagnostic::error(
                        Code::BadValue,
                        format!(
                            "`{}` cannot compare with a variable's values",
                            other.as_str()
                        ),
                    )
                    .at(c.op_span)
                    .help(format!("use `=` or `IN` with `{}.{attr}`", var.name)))
                }
            };
            return Ok(in_rel(lhs, rel, col, negated));
        }
        match op {
            CmpOp::Eq | CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                let lit = scalar(value)?;
                if lit == Literal::Null {
                    // `x = NULL` means IS NULL, as hunters expect.
                    return match op {
                        CmpOp::Eq => Ok(Expr::IsNull {
                            expr: Box::new(lhs),
                            negated: false,
                        }),
                        CmpOp::Ne => Ok(Expr::IsNull {
                            expr: Box::new(lhs),
                            negated: true,
                        }),
                        _ => Err(Diagnostic::error(Code::BadValue, "cannot order by NULL")
                            .at(value.span())
                            .help("use IS NULL or IS NOT NULL")),
                    };
                }
                let lit = self.typed_literal(ctx, &lhs, integer_literal(&lhs, lit));
                let op = match op {
                    CmpOp::Eq => IrCmp::Eq,
                    CmpOp::Ne => IrCmp::Ne,
                    CmpOp::Lt => IrCmp::Lt,
                    CmpOp::Le => IrCmp::Le,
                    CmpOp::Gt => IrCmp::Gt,
                    _ => IrCmp::Ge,
                };
                Ok(self.fold_integer(ctx, Expr::cmp(op, lhs, Expr::Lit(lit))))
            }
            CmpOp::In | CmpOp::NotIn => {
                let mut list = Vec::new();
                flatten_list(value, &mut list)?;
                let negated = op == CmpOp::NotIn;
                if list.is_empty() {
                    return Ok(Expr::Lit(Literal::Bool(negated)));
                }
                // Repeats dropped once, as the column's type reads them ('1' and '01' are
                // one number); folding does not look for them again.
                let list = crate::ir::dedup_literals(list.into_iter().map(|l| {
                    let l = integer_literal(&lhs, l);
                    self.typed_literal(ctx, &lhs, l)
                }));
                Ok(self.fold_integer(
                    ctx,
                    Expr::InList {
                        expr: Box::new(lhs),
                        list,
                        negated,
                    },
                ))
            }
            CmpOp::Like | CmpOp::NotLike => Ok(Expr::Like {
                expr: Box::new(lhs),
                pattern: text(value, "LIKE")?,
                negated: op == CmpOp::NotLike,
                escape: c.escape.map(|(e, _)| e),
            }),
            CmpOp::Matches | CmpOp::NotMatches => {
                let pattern = text(value, "MATCHES")?;
                // Checking the syntax is enough (the database compiles it), and far
                // cheaper than building the automaton.
                if let Err(e) = regex_syntax::Parser::new().parse(&pattern) {
                    return Err(
                        Diagnostic::error(Code::BadValue, "invalid regular expression")
                            .at(value.span())
                            .label(first_line(&e.to_string())),
                    );
                }
                Ok(Expr::Regex {
                    expr: Box::new(lhs),
                    pattern,
                    negated: op == CmpOp::NotMatches,
                })
            }
            CmpOp::IsSubset | CmpOp::NotIsSubset | CmpOp::IsSuperset | CmpOp::NotIsSuperset => {
                let cidr = text(value, op.as_str())?;
                let pred = cidr_match(lhs, &cidr).ok_or_else(|| {
                    Diagnostic::error(Code::BadValue, format!("`{cidr}` is not an IPv4 network"))
                        .at(value.span())
                        .help("write an address with a prefix length, like '10.0.0.0/8'")
                })?;
                Ok(if matches!(op, CmpOp::NotIsSubset | CmpOp::NotIsSuperset) {
                    Expr::not(pred)
                } else {
                    pred
                })
            }
            CmpOp::IsNull | CmpOp::IsNotNull => Ok(Expr::IsNull {
                expr: Box::new(lhs),
                negated: op == CmpOp::IsNotNull,
            }),
        }
    }

    /// `integer(x) = n` and `integer(x) IN (…)` (process ids a mapping reads as decimal or
    /// `0x` hexadecimal text) as tests of `x` itself: `x IN (4824, '0x12d8')`, which an
    /// index on `x` serves, instead of converting every row. The hexadecimal spelling is
    /// left out where the column holds numbers. Other tests keep the conversion.
    fn fold_integer(&mut self, ctx: &Ctx, e: Expr) -> Expr {
        let mut has = false;
        e.walk(&mut |x| {
            has |= matches!(
                x,
                Expr::Func {
                    func: crate::ir::Func::Integer,
                    ..
                }
            )
        });
        if !has {
            return e;
        }
        // The conversion goes inside first-of CASEs (two collectors' spellings of the
        // column), then every CASE is split, so each test has one column's conversion as
        // its subject and the literals can take that column's type.
        let e = crate::opt::fold::split_cases(integer_into_cases(e));
        let e = crate::opt::fold::split_cases(e);
        let e = self.rewrite_integer(ctx, e);
        crate::opt::fold::fold(e)
    }

    fn rewrite_integer(&mut self, ctx: &Ctx, e: Expr) -> Expr {
        let inner = |e: &Expr| match e {
            Expr::Func {
                func: crate::ir::Func::Integer,
                args,
            } if args.len() == 1 => Some(args[0].clone()),
            _ => None,
        };
        match e {
            Expr::And(parts) => Expr::and(
                parts
                    .into_iter()
                    .map(|p| self.rewrite_integer(ctx, p))
                    .collect(),
            ),
            Expr::Or(parts) => Expr::or(
                parts
                    .into_iter()
                    .map(|p| self.rewrite_integer(ctx, p))
                    .collect(),
            ),
            Expr::Cmp {
                op: IrCmp::Eq,
                left,
                right,
            } => match (inner(&left), &*right) {
                (Some(x), Expr::Lit(Literal::Int(n))) => self.integer_forms(ctx, x, &[*n]),
                _ => Expr::Cmp {
                    op: IrCmp::Eq,
                    left,
                    right,
                },
            },
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                let ns: Option<Vec<i64>> = list
                    .iter()
                    .map(|l| match l {
                        Literal::Int(n) => Some(*n),
                        _ => None,
                    })
                    .collect();
                match (inner(&expr), ns) {
                    (Some(x), Some(ns)) => self.integer_forms(ctx, x, &ns),
                    _ => Expr::InList {
                        expr,
                        list,
                        negated: false,
                    },
                }
            }
            e => e,
        }
    }

    /// `x IN (…)` over every way the column may spell the numbers `ns`.
    fn integer_forms(&mut self, ctx: &Ctx, x: Expr, ns: &[i64]) -> Expr {
        let numeric = match ctx {
            Ctx::Rows { source, .. } => matches!(
                self.expr_kind(*source, &x),
                Some(ColumnKind::Integer | ColumnKind::Float)
            ),
            Ctx::Var(_) => false,
        };
        let mut list = Vec::new();
        for n in ns {
            list.push(self.typed_literal(ctx, &x, Literal::Int(*n)));
            if !numeric && *n >= 0 {
                list.push(Literal::Str(format!("0x{n:x}")));
            }
        }
        Expr::InList {
            expr: Box::new(x),
            list,
            negated: false,
        }
    }

    /// What the database says a native column of `source` holds.
    fn column_kind(&mut self, source: usize, column: &str) -> Option<ColumnKind> {
        let ds = self.sources.get(source)?;
        self.catalog.as_deref_mut()?.column_kind(ds, column)
    }

    /// What an expression over native columns holds: a column's kind, or the one kind
    /// every branch of a CASE (per-event-class mappings) agrees on.
    fn expr_kind(&mut self, source: usize, e: &Expr) -> Option<ColumnKind> {
        match e {
            Expr::Col(c) => self.column_kind(source, c),
            Expr::Func {
                func: crate::ir::Func::Integer,
                ..
            } => Some(ColumnKind::Integer),
            Expr::Func { .. } => Some(ColumnKind::Text),
            Expr::Case { whens, otherwise } => {
                let mut kind = None;
                for v in whens.iter().map(|(_, v)| v).chain([&**otherwise]) {
                    if matches!(v, Expr::Lit(Literal::Null)) {
                        continue;
                    }
                    let k = self.expr_kind(source, v)?;
                    if kind.is_some_and(|seen| seen != k) {
                        return None;
                    }
                    kind = Some(k);
                }
                kind
            }
            _ => None,
        }
    }

    /// A literal compared with a native column takes the column's type, so `pid = '201'`
    /// means 201 against an integer column on every backend (and `name = 4` means '4'
    /// against a text one).
    pub(super) fn typed_literal(&mut self, ctx: &Ctx, lhs: &Expr, lit: Literal) -> Literal {
        let Ctx::Rows { source, .. } = ctx else {
            return lit;
        };
        let Some(kind) = self.expr_kind(*source, lhs) else {
            return lit;
        };
        match (kind, lit) {
            (ColumnKind::Integer, Literal::Str(s)) => match s.trim().parse::<i64>() {
                Ok(i) => Literal::Int(i),
                Err(_) => match s.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() => Literal::Float(f),
                    _ => Literal::Str(s),
                },
            },
            (ColumnKind::Float, Literal::Str(s)) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Literal::Float(f),
                _ => Literal::Str(s),
            },
            (ColumnKind::Text, Literal::Int(i)) => Literal::Str(i.to_string()),
            (ColumnKind::Timestamp, Literal::Str(s)) => match time::parse_iso(&s) {
                Some(t) => Literal::Timestamp(t),
                None => Literal::Str(s),
            },
            (ColumnKind::Boolean, Literal::Str(s)) if s.eq_ignore_ascii_case("true") => {
                Literal::Bool(true)
            }
            (ColumnKind::Boolean, Literal::Str(s)) if s.eq_ignore_ascii_case("false") => {
                Literal::Bool(false)
            }
            (_, lit) => lit,
        }
    }

    /// START/STOP or LAST over a data source's timestamp column: `ts >= start AND ts < stop`.
    pub(super) fn time_filter(
        &mut self,
        source: usize,
        t: &ast::TimeRange,
    ) -> Result<Expr, Diagnostic> {
        let (start, stop) = self.time_bounds(t)?;
        self.bounds_filter(source, start, stop, t.span())
    }

    /// `ts >= start AND ts < stop` over a data source's timestamp column, with the bounds
    /// written in its `timestamp_format`.
    pub(super) fn bounds_filter(
        &mut self,
        source: usize,
        start: i64,
        stop: i64,
        span: crate::source::Span,
    ) -> Result<Expr, Diagnostic> {
        let ds = &self.sources[source];
        let Some(ts) = ds.timestamp.clone().filter(|c| {
            self.source_columns[source]
                .as_ref()
                .is_none_or(|cols| cols.contains(c))
        }) else {
            return Err(Diagnostic::error(
                Code::BadTime,
                format!("data source `{}` has no timestamp column", ds.name),
            )
            .at(span)
            .help("set `timestamp:` for this data source in the configuration"));
        };
        let format = ds.timestamp_format.clone();
        // A column the database types as a timestamp is compared with instants, not
        // with text in `timestamp_format`.
        if self.column_kind(source, &ts) == Some(ColumnKind::Timestamp) {
            return Ok(Expr::and(vec![
                Expr::cmp(
                    IrCmp::Ge,
                    Expr::col(&ts),
                    Expr::Lit(Literal::Timestamp(start)),
                ),
                Expr::cmp(
                    IrCmp::Lt,
                    Expr::col(&ts),
                    Expr::Lit(Literal::Timestamp(stop)),
                ),
            ]));
        }
        let lit = |v: i64| {
            time::bound_literal(v, &format).map_err(|e| {
                Diagnostic::error(
                    Code::BadTime,
                    format!("bad timestamp_format `{format}`: {e}"),
                )
                .at(span)
            })
        };
        Ok(Expr::and(vec![
            Expr::cmp(IrCmp::Ge, Expr::col(&ts), Expr::Lit(lit(start)?)),
            Expr::cmp(IrCmp::Lt, Expr::col(&ts), Expr::Lit(lit(stop)?)),
        ]))
    }

    /// A time range on a variable: over the records' data source timestamp, when known.
    pub(super) fn var_time_filter(
        &mut self,
        rel: RelId,
        t: &ast::TimeRange,
    ) -> Result<Expr, Diagnostic> {
        let r = &self.relations[rel.0];
        match (r.source, &r.columns) {
            (Some(source), None) => self.time_filter(source, t),
            _ => Err(Diagnostic::error(
                Code::BadTime,
                format!("`{}` holds entities without timestamps", r.var),
            )
            .at(t.span())
            .help("give the time range where the entities are retrieved from a data source")),
        }
    }

    /// Start (inclusive) and stop (exclusive) in microseconds since the epoch.
    fn time_bounds(&self, t: &ast::TimeRange) -> Result<(i64, i64), Diagnostic> {
        match t {
            ast::TimeRange::Last { n, unit, span } => {
                if *n <= 0 {
                    return Err(
                        Diagnostic::error(Code::BadTime, "LAST needs a positive number").at(*span),
                    );
                }
                let len = n
                    .checked_mul(unit.seconds())
                    .and_then(|s| s.checked_mul(1_000_000))
                    .ok_or_else(|| {
                        Diagnostic::error(Code::BadTime, "time range too long").at(*span)
                    })?;
                Ok((self.now - len, self.now + 1))
            }
            ast::TimeRange::Absolute { start, stop, span } => {
                let start_t = instant(start)?;
                let stop_t = instant(stop)?;
                if stop_t <= start_t {
                    return Err(Diagnostic::error(Code::BadTime, "STOP is not after START")
                        .at(*span)
                        .help("the range includes START and excludes STOP"));
                }
                Ok((start_t, stop_t))
            }
        }
    }
}

/// `integer(CASE WHEN c THEN a ELSE b END)` as `CASE WHEN c THEN integer(a) ELSE
/// integer(b) END`, in the subjects of tests (and of CASEs that are subjects).
fn integer_into_cases(e: Expr) -> Expr {
    fn subject(e: Expr) -> Expr {
        match e {
            Expr::Func {
                func: crate::ir::Func::Integer,
                args,
            } if matches!(args.first(), Some(Expr::Case { .. })) && args.len() == 1 => {
                let Some(Expr::Case { whens, otherwise }) = args.into_iter().next() else {
                    return Expr::Lit(Literal::Null);
                };
                let conv = |v: Expr| {
                    subject(Expr::Func {
                        func: crate::ir::Func::Integer,
                        args: vec![v],
                    })
                };
                Expr::case(
                    whens
                        .iter()
                        .map(|(c, v)| (c.clone(), conv(v.clone())))
                        .collect(),
                    conv((*otherwise).clone()),
                )
            }
            Expr::Case { whens, otherwise } => Expr::case(
                whens
                    .iter()
                    .map(|(c, v)| (c.clone(), subject(v.clone())))
                    .collect(),
                subject((*otherwise).clone()),
            ),
            e => e,
        }
    }
    match e {
        Expr::And(parts) => Expr::and(parts.into_iter().map(integer_into_cases).collect()),
        Expr::Or(parts) => Expr::or(parts.into_iter().map(integer_into_cases).collect()),
        Expr::Cmp { op, left, right } => Expr::Cmp {
            op,
            left: Box::new(subject(*left)),
            right,
        },
        Expr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: Box::new(subject(*expr)),
            list,
            negated,
        },
        e => e,
    }
}

/// A literal compared with `integer(x)`: `'0x12d8'` and `'4824'` are the number 4824.
fn integer_literal(lhs: &Expr, lit: Literal) -> Literal {
    // `integer(x)`, or a CASE (per event class, per collector's column) with one among its
    // values.
    fn converts(e: &Expr) -> bool {
        match e {
            Expr::Func {
                func: crate::ir::Func::Integer,
                ..
            } => true,
            Expr::Case { whens, otherwise } => {
                whens.iter().any(|(_, v)| converts(v)) || converts(otherwise)
            }
            _ => false,
        }
    }
    let any = converts(lhs);
    match lit {
        Literal::Str(s) if any => match crate::value::parse_integer(&s) {
            Some(n) => Literal::Int(n),
            None => Literal::Str(s),
        },
        lit => lit,
    }
}

/// True where `e` is not true (false or NULL): `CASE WHEN e THEN 0 ELSE 1 END = 1`.
fn not_true(e: Expr) -> Expr {
    match e {
        Expr::Lit(Literal::Bool(b)) => Expr::Lit(Literal::Bool(!b)),
        e => Expr::Cmp {
            op: IrCmp::Eq,
            left: Box::new(Expr::case(
                vec![(e, Expr::Lit(Literal::Int(0)))],
                Expr::Lit(Literal::Int(1)),
            )),
            right: Box::new(Expr::Lit(Literal::Int(1))),
        },
    }
}

/// A test of a value every row of a group shares, decided here: the predicates of the
/// groups whose value passes, ORed (FALSE when none does). Rows without a value (NULL)
/// pass no comparison, as in SQL. None for a test decided per row (a reference, CIDR).
fn classification_test(
    table: &[(Expr, Literal)],
    op: CmpOp,
    value: Option<&ast::Value>,
) -> Result<Option<Expr>, Diagnostic> {
    let text_of = |l: &Literal| match l {
        Literal::Str(s) => s.clone(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => f.to_string(),
        Literal::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    let order = |a: &Literal, b: &Literal| -> Option<std::cmp::Ordering> {
        let num = |l: &Literal| match l {
            Literal::Int(i) => Some(*i as f64),
            Literal::Float(f) => Some(*f),
            Literal::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match (a, b) {
            (Literal::Null, _) | (_, Literal::Null) => None,
            (Literal::Str(x), Literal::Str(y)) => Some(x.cmp(y)),
            _ => match (num(a), num(b)) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => Some(text_of(a).cmp(&text_of(b))),
            },
        }
    };
    let all = || Expr::or(table.iter().map(|(p, _)| p.clone()).collect());
    let pick = |keep: &dyn Fn(&Literal) -> bool| {
        let preds: Vec<Expr> = table
            .iter()
            .filter(|(_, v)| keep(v))
            .map(|(p, _)| p.clone())
            .collect();
        crate::opt::fold::fold(Expr::or(preds))
    };
    let Some(value) = value else {
        return Ok(Some(match op {
            CmpOp::IsNotNull => crate::opt::fold::fold(all()),
            _ => crate::opt::fold::fold(Expr::not(all())),
        }));
    };
    if matches!(value, ast::Value::Ref { .. }) {
        return Ok(None);
    }
    use std::cmp::Ordering::*;
    Ok(Some(match op {
        CmpOp::Eq | CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let lit = scalar(value)?;
            if lit == Literal::Null {
                return Ok(Some(match op {
                    CmpOp::Eq => crate::opt::fold::fold(Expr::not(all())),
                    _ => crate::opt::fold::fold(all()),
                }));
            }
            pick(&|v| {
                order(v, &lit).is_some_and(|o| match op {
                    CmpOp::Eq => o == Equal,
                    CmpOp::Ne => o != Equal,
                    CmpOp::Lt => o == Less,
                    CmpOp::Le => o != Greater,
                    CmpOp::Gt => o == Greater,
                    _ => o != Less,
                })
            })
        }
        CmpOp::In | CmpOp::NotIn => {
            let mut list = Vec::new();
            flatten_list(value, &mut list)?;
            let negated = op == CmpOp::NotIn;
            pick(&|v| list.iter().any(|l| order(v, l) == Some(Equal)) != negated)
        }
        CmpOp::Like | CmpOp::NotLike => {
            let pattern = text(value, "LIKE")?;
            let negated = op == CmpOp::NotLike;
            pick(&|v| {
                crate::backend::like::like(text_of(v).as_bytes(), pattern.as_bytes()) != negated
            })
        }
        CmpOp::Matches | CmpOp::NotMatches => {
            let pattern = text(value, "MATCHES")?;
            let Ok(re) = regex::Regex::new(&pattern) else {
                return Ok(None);
            };
            let negated = op == CmpOp::NotMatches;
            pick(&|v| re.is_match(&text_of(v)) != negated)
        }
        _ => return Ok(None),
    }))
}

fn instant(v: &ast::Value) -> Result<i64, Diagnostic> {
    match v {
        ast::Value::Lit(ast::Literal::Timestamp(s) | ast::Literal::Str(s), span) => {
            time::parse_iso(s).ok_or_else(|| {
                Diagnostic::error(Code::BadTime, format!("`{s}` is not an ISO-8601 timestamp"))
                    .at(*span)
                    .help("write e.g. t'2021-05-06T00:00:00Z'")
            })
        }
        ast::Value::Lit(ast::Literal::Int(secs), span) => secs
            .checked_mul(1_000_000)
            .ok_or_else(|| Diagnostic::error(Code::BadTime, "timestamp out of range").at(*span)),
        other => Err(Diagnostic::error(Code::BadTime, "expected a timestamp").at(other.span())),
    }
}

fn in_rel(lhs: Expr, rel: RelId, col: String, negated: bool) -> Expr {
    Expr::InRel {
        exprs: vec![lhs],
        rel,
        cols: vec![col],
        negated,
    }
}

fn scalar(v: &ast::Value) -> Result<Literal, Diagnostic> {
    match v {
        ast::Value::Lit(l, _) => Ok(ast_literal(l)),
        other => Err(Diagnostic::error(Code::BadValue, "expected a single value")
            .at(other.span())
            .help("use IN to compare with a list")),
    }
}

fn text(v: &ast::Value, op: &str) -> Result<String, Diagnostic> {
    match v {
        ast::Value::Lit(ast::Literal::Str(s), _) => Ok(s.clone()),
        other => {
            Err(Diagnostic::error(Code::BadValue, format!("{op} needs a string")).at(other.span()))
        }
    }
}

/// Nested lists flatten: `IN ('a', ('b', 'c'))` is `IN ('a', 'b', 'c')` (repeats are
/// dropped by the caller).
fn flatten_list(v: &ast::Value, out: &mut Vec<Literal>) -> Result<(), Diagnostic> {
    match v {
        ast::Value::List(items, _) => {
            for i in items {
                flatten_list(i, out)?;
            }
            Ok(())
        }
        ast::Value::Lit(l, _) => {
            out.push(ast_literal(l));
            Ok(())
        }
        other => {
            Err(Diagnostic::error(Code::BadValue, "expected a list of values").at(other.span()))
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// IPv4 CIDR membership of a text column, without IP functions: octet-aligned prefixes are
/// a LIKE on the dotted prefix; other prefixes enumerate the partial octet's values.
pub(super) fn cidr_match(col: Expr, cidr: &str) -> Option<Expr> {
    let (addr, len) = match cidr.split_once('/') {
        Some((a, l)) => (a, l.trim().parse::<u32>().ok()?),
        None => (cidr, 32),
    };
    let octets: Vec<u32> = addr
        .trim()
        .split('.')
        .map(|o| o.parse::<u32>().ok().filter(|v| *v <= 255))
        .collect::<Option<Vec<_>>>()?;
    if octets.len() != 4 || len > 32 {
        return None;
    }
    if len == 32 {
        return Some(Expr::cmp(IrCmp::Eq, col, Expr::str(addr.trim())));
    }
    if len == 0 {
        return Some(Expr::Like {
            expr: Box::new(col),
            pattern: "%.%.%.%".into(),
            negated: false,
            escape: None,
        });
    }
    let full = (len / 8) as usize;
    let rest = len % 8;
    let prefix: Vec<String> = octets[..full].iter().map(u32::to_string).collect();
    let like = |p: String| Expr::Like {
        expr: Box::new(col.clone()),
        pattern: p,
        negated: false,
        escape: None,
    };
    if rest == 0 {
        return Some(like(format!("{}.%", prefix.join("."))));
    }
    let block = 256 >> rest;
    let first = octets[full] & !(block - 1) & 0xff;
    let alternatives = (first..first + block)
        .map(|v| {
            let mut parts = prefix.clone();
            parts.push(v.to_string());
            if parts.len() == 4 {
                Expr::cmp(IrCmp::Eq, col.clone(), Expr::str(parts.join(".")))
            } else {
                like(format!("{}.%", parts.join(".")))
            }
        })
        .collect();
    Some(Expr::or(alternatives))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_aligned_is_one_like() {
        let e = cidr_match(Expr::col("ip"), "10.1.0.0/16").unwrap();
        assert_eq!(
            e,
            Expr::Like {
                expr: Box::new(Expr::col("ip")),
                pattern: "10.1.%".into(),
                negated: false,
                escape: None,
            }
        );
    }

    #[test]
    fn cidr_unaligned_enumerates_the_partial_octet() {
        let Expr::Or(parts) = cidr_match(Expr::col("ip"), "192.168.16.0/20").unwrap() else {
            panic!("not an OR")
        };
        assert_eq!(parts.len(), 16);
        assert!(matches!(&parts[0], Expr::Like { pattern, .. } if pattern == "192.168.16.%"));
        assert!(matches!(&parts[15], Expr::Like { pattern, .. } if pattern == "192.168.31.%"));
    }

    #[test]
    fn cidr_rejects_garbage() {
        assert!(cidr_match(Expr::col("ip"), "10.0.0/8").is_none());
        assert!(cidr_match(Expr::col("ip"), "10.0.0.300/8").is_none());
        assert!(cidr_match(Expr::col("ip"), "10.0.0.0/33").is_none());
    }
}
