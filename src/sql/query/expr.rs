//! Expressions and literals, as the dialect writes them: bound or inlined literals,
//! exact comparisons, LIKE, MATCHES, semi-joins, path functions, BIN.

use sqlparser::ast::{self as sa, BinaryOperator, SetExpr};

use crate::diag::{Code, Diagnostic};
use crate::ir::{AggFunc, CmpOp, Expr, Func, Literal};

use super::super::builders as b;
use super::super::dialect::{
    BasenameStyle, BooleanStyle, IntegerStyle, LikeStyle, ListParameterStyle, RegexStyle,
    TimeBinStyle, TimestampStyle, LONG_LIST,
};
use super::super::like_regex::like_pieces_to_regex;
use super::emitter::Emitter;
use super::LiteralMode;

impl Emitter<'_> {
    pub(super) fn literal(&mut self, l: &Literal) -> sa::Expr {
        match (self.mode, l) {
            (_, Literal::Null) => b::value(sa::Value::Null),
            // TRUE/FALSE carry no user text, and a bound one has no type where the server
            // infers placeholders' types (PostgreSQL: `CASE … THEN $1` would be text).
            (_, Literal::Bool(v)) => self.boolean(*v),
            (LiteralMode::Bind, l) => {
                // SQL Server takes at most 2,100 parameters; the class conditions of a
                // mapping repeat the same few values hundreds of times.
                if self.dialect.reuse_parameters {
                    let at = self.params.len();
                    if let Some(i) = self.param_index.find_or_insert(&self.params, l, at) {
                        return b::placeholder(self.dialect.placeholder(i + 1));
                    }
                }
                self.params.push(l.clone());
                b::placeholder(self.dialect.placeholder(self.params.len()))
            }
            (LiteralMode::Inline, Literal::Str(s)) => self.text(s),
            (LiteralMode::Inline, Literal::Int(i)) => b::number(i),
            (LiteralMode::Inline, Literal::Float(f)) => b::number(format!("{f:?}")),
            (LiteralMode::Inline, Literal::Timestamp(t)) => {
                let text = crate::ir::timestamp_text(*t);
                match self.dialect.timestamp_style {
                    TimestampStyle::Text => self.text(&text),
                    TimestampStyle::Typed => b::typed_timestamp(&text),
                    TimestampStyle::CastDatetime2 => b::cast(self.text(&text), "DATETIME2"),
                }
            }
        }
    }

    /// A string literal in the text (a preview's value, or a constant of our own).
    pub(super) fn text(&self, s: &str) -> sa::Expr {
        if self.dialect.string_backslash_escape {
            b::string(&s.replace('\\', "\\\\"))
        } else {
            b::string(s)
        }
    }

    /// A literal that is compared with a column: strings carry the dialect's exact
    /// collation, so `=` and IN are case-sensitive whatever the column's collation.
    pub(super) fn compared_literal(&mut self, l: &Literal) -> sa::Expr {
        let x = self.literal(l);
        match l {
            Literal::Str(_) => match (&self.dialect.exact_cast, &self.dialect.exact_collation) {
                (Some(t), _) => b::cast(x, t),
                (None, Some(c)) => b::collate(x, c),
                (None, None) => x,
            },
            _ => x,
        }
    }

    /// A value a column is compared with for equality (a reference's or a JOIN's other
    /// side): cast where the dialect makes exact comparisons by a cast. A collation would
    /// not do here: the column need not hold text.
    pub(super) fn compared_value(&self, x: sa::Expr) -> sa::Expr {
        match &self.dialect.exact_cast {
            Some(t) => b::cast(x, t),
            None => x,
        }
    }

    /// `x [NOT] LIKE p`: ASCII case-insensitive, `%` and `_` the only special characters
    /// (unless escaped by `escape`, see [`crate::ir::like_pieces`]).
    pub(super) fn like(
        &mut self,
        expr: &Expr,
        pattern: &str,
        escape: Option<char>,
        negated: bool,
    ) -> Result<sa::Expr, Diagnostic> {
        let d = self.dialect;
        let mut x = self.operand(expr)?;
        if let Some(t) = &d.text_cast {
            x = b::cast(x, t);
        }
        let pieces = crate::ir::like_pieces(pattern, escape);
        let literal_wildcard = pieces.iter().any(|(c, w)| !w && matches!(c, '%' | '_'));
        // A literal `%` or `_` needs an escape character where the dialect has none.
        let escape = match d.like_escape.clone() {
            Some(e) if !e.is_empty() => Some(e),
            _ if literal_wildcard => Some("!".to_string()),
            e => e,
        };
        let pattern = match escape.as_deref() {
            Some(e) if !e.is_empty() => {
                let mut out = String::with_capacity(pattern.len());
                for &(c, wild) in &pieces {
                    if !wild
                        && (e.starts_with(c) || d.like_special.contains(c) || c == '%' || c == '_')
                    {
                        out.push_str(e);
                    }
                    out.push(c);
                }
                out
            }
            _ => pieces.iter().map(|(c, _)| c).collect(),
        };
        let mut p = self.literal(&Literal::Str(pattern));
        if let Some(c) = &d.like_collation {
            p = b::collate(p, c);
        }
        let escape_char = escape.map(|e| Box::new(self.text(&e)));
        Ok(match d.like_style {
            LikeStyle::Native | LikeStyle::Like => sa::Expr::Like {
                negated,
                any: false,
                expr: Box::new(x),
                pattern: Box::new(p),
                escape_char,
            },
            LikeStyle::LikeAndRegex => {
                let like = sa::Expr::Like {
                    negated: false,
                    any: false,
                    expr: Box::new(x),
                    pattern: Box::new(p),
                    escape_char,
                };
                let exact = self.regex(expr, &like_pieces_to_regex(&pieces), false)?;
                let both = b::nested(b::binary(like, BinaryOperator::And, exact));
                if negated {
                    b::not(both)
                } else {
                    both
                }
            }
            LikeStyle::Ilike => sa::Expr::ILike {
                negated,
                any: false,
                expr: Box::new(x),
                pattern: Box::new(p),
                escape_char,
            },
            LikeStyle::Function => {
                let mut args = vec![x, p];
                args.extend(escape_char.map(|e| *e));
                let f = b::function("kestrel_like", args);
                if negated {
                    b::not(f)
                } else {
                    f
                }
            }
        })
    }

    /// `x [NOT] MATCHES p`: a case-sensitive search unless `p` starts with `(?i)`.
    pub(super) fn regex(
        &mut self,
        expr: &Expr,
        pattern: &str,
        negated: bool,
    ) -> Result<sa::Expr, Diagnostic> {
        let d = self.dialect;
        let pattern = match &d.regex_case_sensitive_prefix {
            Some(prefix) if !pattern.starts_with("(?i)") => format!("{prefix}{pattern}"),
            _ => pattern.to_string(),
        };
        let cast = |x: sa::Expr| match &d.text_cast {
            Some(t) => b::cast(x, t),
            None => x,
        };
        Ok(match d.regex_style {
            RegexStyle::Operator => {
                let x = cast(self.operand(expr)?);
                let p = self.literal(&Literal::Str(pattern));
                sa::Expr::RLike {
                    negated,
                    expr: Box::new(x),
                    pattern: Box::new(p),
                    regexp: true,
                }
            }
            RegexStyle::Tilde => {
                let x = cast(self.operand(expr)?);
                let p = self.literal(&Literal::Str(pattern));
                let op = if negated {
                    BinaryOperator::PGRegexNotMatch
                } else {
                    BinaryOperator::PGRegexMatch
                };
                b::binary(x, op, p)
            }
            RegexStyle::Function => {
                let x = cast(self.expr(expr)?);
                let p = self.literal(&Literal::Str(pattern));
                let f = b::function("regexp_like", vec![x, p]);
                if negated {
                    b::not(f)
                } else {
                    f
                }
            }
            RegexStyle::Unsupported => return Err(Diagnostic::error(
                Code::Unsupported,
                format!(
                    "MATCHES is not available on {}: it has no regular expressions",
                    d.name
                ),
            )
            .help(
                "use LIKE, or run the hunt on a data source whose database has regular expressions",
            )),
        })
    }

    pub(super) fn boolean(&self, v: bool) -> sa::Expr {
        match self.dialect.boolean_style {
            BooleanStyle::Integer => b::number(i32::from(v)),
            BooleanStyle::Keyword => b::value(sa::Value::Boolean(v)),
        }
    }

    /// A predicate in WHERE position (a constant becomes `1 = 1` / `1 = 0`, which every
    /// dialect accepts).
    pub(super) fn predicate(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        match e {
            Expr::Lit(Literal::Bool(v)) => Ok(b::binary(
                b::number(1),
                BinaryOperator::Eq,
                b::number(i32::from(*v)),
            )),
            e => self.expr(e),
        }
    }

    pub(super) fn expr(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        let d = self.dialect;
        Ok(match e {
            Expr::Col(c) => match &self.qualify {
                Some(alias) => b::qualified(alias, b::ident(d, c)),
                None => b::column(d, c),
            },
            Expr::Lit(l) => self.literal(l),
            Expr::Cmp { op, left, right } => {
                let op = match op {
                    CmpOp::Eq => BinaryOperator::Eq,
                    CmpOp::Ne => BinaryOperator::NotEq,
                    CmpOp::Lt => BinaryOperator::Lt,
                    CmpOp::Le => BinaryOperator::LtEq,
                    CmpOp::Gt => BinaryOperator::Gt,
                    CmpOp::Ge => BinaryOperator::GtEq,
                };
                let l = self.cmp_operand(left)?;
                let r = self.cmp_operand(right)?;
                b::binary(l, op, r)
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                escape,
            } => self.like(expr, pattern, *escape, *negated)?,
            Expr::Regex {
                expr,
                pattern,
                negated,
            } => self.regex(expr, pattern, *negated)?,
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.operand(expr)?;
                if let Some(sub) = self.list_parameter(list) {
                    return Ok(b::subquery_in(x, sub, *negated));
                }
                let list = list.iter().map(|l| self.compared_literal(l)).collect();
                sa::Expr::InList {
                    expr: Box::new(x),
                    list,
                    negated: *negated,
                }
            }
            Expr::InRel {
                exprs,
                rel,
                cols,
                negated,
            } => {
                let name = self.rel_name(*rel);
                let items = cols
                    .iter()
                    .map(|c| b::select_item(self.compared_value(b::column(d, c)), None))
                    .collect();
                // NOT IN over a set holding a NULL is never true: leave NULLs out.
                let not_null = negated.then(|| {
                    and_all(
                        cols.iter()
                            .map(|c| sa::Expr::IsNotNull(Box::new(b::column(d, c))))
                            .collect(),
                    )
                });
                let sub = b::query(SetExpr::Select(Box::new(b::select(
                    items,
                    Some(b::table(d, &name)),
                    not_null,
                    false,
                    vec![],
                ))));
                if exprs.len() > 1 && !d.supports_tuple_in {
                    return self.exists_rewrite(exprs, *rel, cols, *negated);
                }
                let lhs = if exprs.len() == 1 {
                    self.operand(&exprs[0])?
                } else {
                    let mut parts = Vec::new();
                    for x in exprs {
                        parts.push(self.expr(x)?);
                    }
                    sa::Expr::Tuple(parts)
                };
                b::subquery_in(lhs, sub, *negated)
            }
            Expr::IsNull { expr, negated } => {
                let x = self.operand(expr)?;
                if *negated {
                    let x = match x {
                        sa::Expr::Identifier(_) | sa::Expr::CompoundIdentifier(_)
                            if self.dialect.not_null_without_index =>
                        {
                            sa::Expr::UnaryOp {
                                op: sa::UnaryOperator::Plus,
                                expr: Box::new(x),
                            }
                        }
                        x => x,
                    };
                    sa::Expr::IsNotNull(Box::new(x))
                } else {
                    sa::Expr::IsNull(Box::new(x))
                }
            }
            Expr::And(parts) | Expr::Or(parts) => {
                let is_and = matches!(e, Expr::And(_));
                let mut out = Vec::new();
                for p in parts {
                    let x = self.predicate(p)?;
                    // OR inside AND needs parentheses; AND inside OR is clearer with them.
                    let wrap = matches!(p, Expr::Or(_) | Expr::And(_));
                    out.push(if wrap { b::nested(x) } else { x });
                }
                let op = if is_and {
                    BinaryOperator::And
                } else {
                    BinaryOperator::Or
                };
                chain(out, op).ok_or_else(|| Diagnostic::internal("empty AND/OR"))?
            }
            Expr::Not(inner) => {
                let x = self.predicate(inner)?;
                b::not(b::nested(x))
            }
            Expr::Case { whens, otherwise } => {
                let mut ws = Vec::new();
                for (c, v) in whens.iter() {
                    ws.push((self.predicate(c)?, self.case_result(v)?));
                }
                let o = self.case_result(otherwise)?;
                b::case(ws, o)
            }
            Expr::Func {
                func: func @ (Func::BinNumber | Func::BinTime),
                args,
            } => self.bin(*func, args)?,
            Expr::Func {
                func: Func::Integer,
                args,
            } => self.integer(args)?,
            Expr::Func {
                func: Func::GroupingSet,
                ..
            } => {
                return Err(Diagnostic::internal(
                    "a grouping set outside a GROUP BY's keys",
                ))
            }
            Expr::Func {
                func: Func::Tally,
                args,
            } => {
                let f = d
                    .tally_function
                    .clone()
                    .ok_or_else(|| Diagnostic::internal("a tally on a connection without one"))?;
                // The slot and the identity's width are the session's numbers, written
                // as they are: the same call then reads the same wherever it appears.
                let args = args
                    .iter()
                    .map(|a| match a {
                        Expr::Lit(Literal::Int(i)) => Ok(b::number(*i)),
                        a => self.expr(a),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                b::function(&f, args)
            }
            Expr::Func { func, args } => {
                let x = match args.first() {
                    Some(a) => self.expr(a)?,
                    None => return Err(Diagnostic::internal("function without argument")),
                };
                match d.basename_style {
                    BasenameStyle::Rtrim => {
                        // rtrim(x, <x without separators>) is x up to its last separator.
                        let seps_removed = b::function(
                            "replace",
                            vec![
                                b::function(
                                    "replace",
                                    vec![x.clone(), b::string("\\"), b::string("")],
                                ),
                                b::string("/"),
                                b::string(""),
                            ],
                        );
                        let dir = b::function("rtrim", vec![x.clone(), seps_removed]);
                        match func {
                            // substr(x, length(dir) + 1)
                            Func::Basename => b::function(
                                "substr",
                                vec![
                                    x,
                                    b::binary(
                                        b::function("length", vec![dir]),
                                        BinaryOperator::Plus,
                                        b::number(1),
                                    ),
                                ],
                            ),
                            // rtrim(dir, '\/')
                            Func::Dirname => b::function("rtrim", vec![dir, b::string("\\/")]),
                            Func::BinNumber
                            | Func::BinTime
                            | Func::Integer
                            | Func::Tally
                            | Func::GroupingSet => {
                                return Err(Diagnostic::internal("BIN emitted as a path function"))
                            }
                        }
                    }
                    BasenameStyle::RegexpReplace => {
                        let re = match func {
                            // Everything up to the last separator.
                            Func::Basename => "^.*[\\\\/]",
                            // The last separator(s) and what follows.
                            Func::Dirname => "[\\\\/]*[^\\\\/]*$",
                            Func::BinNumber
                            | Func::BinTime
                            | Func::Integer
                            | Func::Tally
                            | Func::GroupingSet => {
                                return Err(Diagnostic::internal("BIN emitted as a path function"))
                            }
                        };
                        b::function("regexp_replace", vec![x, self.text(re), self.text("")])
                    }
                    BasenameStyle::ReversePatindex => {
                        let rev = b::function("REVERSE", vec![x.clone()]);
                        // Position of the last separator counted from the end (len + 1
                        // when there is none).
                        let from_end = b::function(
                            "PATINDEX",
                            vec![
                                b::string("%[\\/]%"),
                                b::binary(rev.clone(), BinaryOperator::Plus, b::string("/")),
                            ],
                        );
                        let max = || b::number(i32::MAX);
                        match func {
                            Func::Basename => b::function(
                                "RIGHT",
                                vec![x, b::binary(from_end, BinaryOperator::Minus, b::number(1))],
                            ),
                            Func::Dirname => {
                                // The reversed directory, separators first; strip them.
                                let r = b::function("SUBSTRING", vec![rev, from_end, max()]);
                                let first_kept = b::function(
                                    "PATINDEX",
                                    vec![
                                        b::string("%[^\\/]%"),
                                        b::binary(r.clone(), BinaryOperator::Plus, b::string("x")),
                                    ],
                                );
                                b::function(
                                    "REVERSE",
                                    vec![b::function("SUBSTRING", vec![r, first_kept, max()])],
                                )
                            }
                            Func::BinNumber
                            | Func::BinTime
                            | Func::Integer
                            | Func::Tally
                            | Func::GroupingSet => {
                                return Err(Diagnostic::internal("BIN emitted as a path function"))
                            }
                        }
                    }
                }
            }
        })
    }

    /// A CASE branch's value: a number placeholder keeps its type where a placeholder
    /// alone would be text (PostgreSQL: the OCSF classification's numbers).
    fn case_result(&mut self, v: &Expr) -> Result<sa::Expr, Diagnostic> {
        let x = self.expr(v)?;
        Ok(match (v, self.dialect.typed_values) {
            (Expr::Lit(Literal::Int(_)), true) => b::cast(x, "BIGINT"),
            (Expr::Lit(Literal::Float(_)), true) => b::cast(x, &self.dialect.float_type),
            _ => x,
        })
    }

    /// `integer(x)`: decimal text, or `0x` hexadecimal text, as a number; NULL for
    /// anything else (never an error on a row that holds something else).
    fn integer(&mut self, args: &[Expr]) -> Result<sa::Expr, Diagnostic> {
        let Some(x) = args.first() else {
            return Err(Diagnostic::internal("integer() without argument"));
        };
        let x = self.expr(x)?;
        let null = || b::value(sa::Value::Null);
        const HEX: &str = "^0x[0-9a-fA-F]{1,15}$";
        const DEC: &str = "^[0-9]{1,18}$";
        Ok(match self.dialect.integer_style {
            IntegerStyle::Function => b::function("kestrel_int", vec![x]),
            IntegerStyle::BitCast => {
                let t = b::cast(x, "TEXT");
                let hex_digits = b::function(
                    "lpad",
                    vec![
                        b::function("substr", vec![t.clone(), b::number(3)]),
                        b::number(16),
                        self.text("0"),
                    ],
                );
                let bits = b::cast(
                    b::nested(b::binary(
                        self.text("x"),
                        BinaryOperator::StringConcat,
                        hex_digits,
                    )),
                    "bit(64)",
                );
                b::case(
                    vec![
                        (
                            b::binary(t.clone(), BinaryOperator::PGRegexMatch, self.text(HEX)),
                            b::cast(bits, "BIGINT"),
                        ),
                        (
                            b::binary(t.clone(), BinaryOperator::PGRegexMatch, self.text(DEC)),
                            b::cast(t, "BIGINT"),
                        ),
                    ],
                    null(),
                )
            }
            IntegerStyle::Conv => {
                let matches = |pattern: sa::Expr| sa::Expr::RLike {
                    negated: false,
                    expr: Box::new(x.clone()),
                    pattern: Box::new(pattern),
                    regexp: true,
                };
                let hex = b::function(
                    "CONV",
                    vec![
                        b::function("SUBSTRING", vec![x.clone(), b::number(3)]),
                        b::number(16),
                        b::number(10),
                    ],
                );
                b::case(
                    vec![
                        (matches(self.text(HEX)), b::cast(hex, "SIGNED")),
                        (matches(self.text(DEC)), b::cast(x.clone(), "SIGNED")),
                    ],
                    null(),
                )
            }
            IntegerStyle::Varbinary => {
                // Style 1 reads `0x…` text with an even number of digits: pad to 16.
                let padded = b::binary(
                    self.text("0x"),
                    BinaryOperator::Plus,
                    b::function(
                        "RIGHT",
                        vec![
                            b::binary(
                                self.text("0000000000000000"),
                                BinaryOperator::Plus,
                                b::function(
                                    "SUBSTRING",
                                    vec![x.clone(), b::number(3), b::number(16)],
                                ),
                            ),
                            b::number(16),
                        ],
                    ),
                );
                let convert = |e: sa::Expr, ty: &str, style: Option<i64>| sa::Expr::Convert {
                    is_try: true,
                    expr: Box::new(e),
                    data_type: Some(sa::DataType::Custom(
                        sa::ObjectName(vec![sa::ObjectNamePart::Identifier(sa::Ident::new(ty))]),
                        vec![],
                    )),
                    charset: None,
                    target_before_value: true,
                    styles: style.map(b::number).into_iter().collect(),
                };
                let is_hex = sa::Expr::Like {
                    negated: false,
                    any: false,
                    expr: Box::new(x.clone()),
                    pattern: Box::new(self.text("0x%")),
                    escape_char: None,
                };
                b::case(
                    vec![(
                        is_hex,
                        convert(convert(padded, "VARBINARY(8)", Some(1)), "BIGINT", None),
                    )],
                    convert(x, "BIGINT", None),
                )
            }
        })
    }

    /// `BIN(x, n)`: numbers rounded down to a multiple of `n`; timestamps to the start of
    /// their bucket of `n` seconds, as ISO-8601 text.
    pub(super) fn bin(&mut self, func: Func, args: &[Expr]) -> Result<sa::Expr, Diagnostic> {
        let (Some(x), Some(Expr::Lit(Literal::Int(n)))) = (args.first(), args.get(1)) else {
            return Err(Diagnostic::internal("BIN without a size"));
        };
        let x = self.operand(x)?;
        // The size is part of the query's shape (GROUP BY repeats it), never a parameter.
        let n = b::number(n);
        // floor(v / n) * n for integers, negatives included: v - ((v % n) + n) % n
        let floor = |v: sa::Expr| {
            let rem = b::binary(
                b::nested(b::binary(
                    b::nested(b::binary(v.clone(), BinaryOperator::Modulo, n.clone())),
                    BinaryOperator::Plus,
                    n.clone(),
                )),
                BinaryOperator::Modulo,
                n.clone(),
            );
            b::nested(b::binary(v, BinaryOperator::Minus, rem))
        };
        match func {
            Func::BinNumber => Ok(floor(b::cast_integer(x))),
            _ => match self.dialect.time_bin_style {
                TimeBinStyle::Strftime => {
                    // strftime('%Y-%m-%dT%H:%M:%SZ', <bucket start>, 'unixepoch')
                    let epoch = b::cast_integer(b::function("strftime", vec![b::string("%s"), x]));
                    Ok(b::function(
                        "strftime",
                        vec![
                            b::string("%Y-%m-%dT%H:%M:%SZ"),
                            floor(epoch),
                            b::string("unixepoch"),
                        ],
                    ))
                }
                TimeBinStyle::ToChar => {
                    let seconds = b::cast(
                        b::function(
                            "date_part",
                            vec![b::string("epoch"), b::cast(x, "timestamptz")],
                        ),
                        "BIGINT",
                    );
                    let start = b::function(
                        "timezone",
                        vec![
                            b::string("UTC"),
                            b::function("to_timestamp", vec![floor(seconds)]),
                        ],
                    );
                    Ok(b::function(
                        "to_char",
                        vec![start, b::string("YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"")],
                    ))
                }
                TimeBinStyle::DateFormat => {
                    let seconds = b::cast(b::function("UNIX_TIMESTAMP", vec![x]), "SIGNED");
                    Ok(b::function(
                        "DATE_FORMAT",
                        vec![
                            b::function("FROM_UNIXTIME", vec![floor(seconds)]),
                            b::string("%Y-%m-%dT%H:%i:%sZ"),
                        ],
                    ))
                }
                TimeBinStyle::Unixtime => {
                    let seconds = b::cast(b::function("to_unixtime", vec![x]), "BIGINT");
                    Ok(b::function(
                        "to_char",
                        vec![
                            b::function("to_timestamp_seconds", vec![floor(seconds)]),
                            b::string("%Y-%m-%dT%H:%M:%SZ"),
                        ],
                    ))
                }
                TimeBinStyle::Unsupported => Err(Diagnostic::error(
                    Code::Unsupported,
                    format!(
                        "BIN on timestamps is not available on {}",
                        self.dialect.name
                    ),
                )
                .help("BIN on numbers works everywhere")),
            },
        }
    }

    /// `SELECT value FROM <JSON table>(j)`: a long IN list as one JSON array `j`, bound
    /// (or inlined in a preview) as one string, where the dialect reads JSON as a table
    /// and the values are all strings or all integers. Strings compare exactly, as
    /// [`Self::compared_literal`] makes a literal; integers are read as integers.
    fn list_parameter(&mut self, list: &[Literal]) -> Option<sa::Query> {
        let d = self.dialect;
        if list.len() <= LONG_LIST || d.list_parameter_style == ListParameterStyle::Inline {
            return None;
        }
        let integer = match &list[0] {
            Literal::Int(_) => true,
            Literal::Str(_) => false,
            _ => return None,
        };
        // The array, in pieces of at most `list_parameter_bytes` where the server caps a
        // parameter's size (MariaDB: max_allowed_packet, 16 MiB by default).
        let max = d.list_parameter_bytes.unwrap_or(usize::MAX).max(64);
        let mut chunks: Vec<Vec<u8>> = vec![Vec::with_capacity(list.len() * 16)];
        chunks[0].push(b'[');
        let mut item = Vec::new();
        for l in list {
            item.clear();
            match (l, integer) {
                (Literal::Int(n), true) => serde_json::to_writer(&mut item, n).ok()?,
                (Literal::Str(s), false) => serde_json::to_writer(&mut item, s).ok()?,
                _ => return None,
            }
            let mut last = chunks.last_mut()?;
            if last.len() > 1 && last.len() + item.len() + 2 > max {
                last.push(b']');
                chunks.push(vec![b'[']);
                last = chunks.last_mut()?;
            }
            if last.len() > 1 {
                last.push(b',');
            }
            last.extend_from_slice(&item);
        }
        chunks.last_mut()?.push(b']');
        let column = b::ident(d, "value");
        let mut parts = Vec::with_capacity(chunks.len());
        for json in chunks {
            // serde_json writes UTF-8.
            let j = self.literal(&Literal::Str(String::from_utf8(json).ok()?));
            let alias = self.alias();
            let value = b::qualified(&alias, column.clone());
            let (from, value) = match d.list_parameter_style {
                ListParameterStyle::Inline => return None,
                ListParameterStyle::JsonEach => {
                    (b::table_function("json_each", vec![j], alias), value)
                }
                ListParameterStyle::JsonArrayElementsText => (
                    b::table_function("json_array_elements_text", vec![b::cast(j, "JSON")], alias),
                    if integer {
                        b::cast(value, "BIGINT")
                    } else {
                        value
                    },
                ),
                ListParameterStyle::JsonTable => {
                    (b::json_table(j, column.clone(), integer, alias), value)
                }
                ListParameterStyle::Openjson => (
                    b::openjson(j, alias),
                    if integer {
                        b::cast(value, "BIGINT")
                    } else {
                        value
                    },
                ),
            };
            parts.push((from, value));
        }
        let select = |value: sa::Expr, from: sa::TableFactor, alias: Option<sa::Ident>| {
            SetExpr::Select(Box::new(b::select(
                vec![b::select_item(value, alias)],
                Some(from),
                None,
                false,
                vec![],
            )))
        };
        let (from, value) = if parts.len() == 1 {
            parts.pop()?
        } else {
            // Several pieces: one derived table of all their values.
            let union = parts
                .into_iter()
                .map(|(from, value)| select(value, from, Some(column.clone())))
                .reduce(b::union_all)?;
            let alias = self.alias();
            let value = b::qualified(&alias, column.clone());
            (b::derived(b::query(union), alias), value)
        };
        let value = match (integer, &d.exact_cast, &d.exact_collation) {
            (false, Some(t), _) => b::cast(value, t),
            (false, None, Some(c)) => b::collate(value, c),
            _ => value,
        };
        Some(b::query(select(value, from, None)))
    }

    /// An operand of `=`, `<`…: a string literal carries the exact collation.
    pub(super) fn cmp_operand(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        match e {
            Expr::Lit(l) => Ok(self.compared_literal(l)),
            e => self.operand(e),
        }
    }

    /// An operand of a comparison: parenthesised when it is itself a predicate.
    pub(super) fn operand(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        let x = self.expr(e)?;
        Ok(match e {
            Expr::Col(_) | Expr::Lit(_) | Expr::Func { .. } | Expr::Case { .. } => x,
            _ => b::nested(x),
        })
    }
}

pub(super) fn aggregate(func: AggFunc, x: sa::Expr) -> sa::Expr {
    match func {
        AggFunc::Count => b::function("COUNT", vec![x]),
        AggFunc::CountDistinct => b::function_with("COUNT", vec![x], true),
        AggFunc::Min => b::function("MIN", vec![x]),
        AggFunc::Max => b::function("MAX", vec![x]),
        AggFunc::Sum => b::function("SUM", vec![x]),
        AggFunc::Avg => b::function("AVG", vec![x]),
    }
}

pub(super) fn and_all(preds: Vec<sa::Expr>) -> sa::Expr {
    chain(preds, BinaryOperator::And)
        .unwrap_or_else(|| b::binary(b::number(1), BinaryOperator::Eq, b::number(1)))
}

/// `a OP b OP c …`. SQL reads such a chain as a left-deep tree, and databases limit how
/// deep an expression may be (SQLite: 1,000): a long chain is written as a balanced tree
/// of parenthesised halves instead, `(a OP b …) OP (… OP z)`, as deep as its logarithm.
pub(super) fn chain(mut items: Vec<sa::Expr>, op: BinaryOperator) -> Option<sa::Expr> {
    const FLAT: usize = 32;
    if items.len() <= FLAT {
        let mut iter = items.into_iter();
        let first = iter.next()?;
        return Some(iter.fold(first, |acc, x| b::binary(acc, op.clone(), x)));
    }
    let right = items.split_off(items.len() / 2);
    let left = chain(items, op.clone())?;
    let right = chain(right, op.clone())?;
    Some(b::binary(b::nested(left), op, b::nested(right)))
}
