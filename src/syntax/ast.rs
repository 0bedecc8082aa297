//! The abstract syntax tree: what a hunt says, with a byte span on every node.
//!
//! In: built by the grammar. Out: read by lowering, which resolves names against the model.
//! Nothing here is resolved: names are as written.

use std::sync::Arc;

use crate::source::Span;
use crate::syntax::token::TimeUnit;

/// A name or word as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hunt {
    pub stmts: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `v = <command or expression>`
    Assign {
        target: Ident,
        value: Rhs,
    },
    Disp(Expression),
    Info(Ident),
    Describe {
        var: Ident,
        attr: AttrPath,
    },
    Explain(Ident),
    Save {
        var: Ident,
        path: Ident,
    },
    Apply {
        analytic: Ident,
        args: Vec<Ident>,
        params: Vec<(Ident, Vec<Value>)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    Get {
        entity: Ident,
        from: Option<Source>,
        /// Shared: lowering keeps it for a FIND that reads the records the GET selects
        /// (a chain may be a million terms long, too deep to copy recursively).
        pattern: Option<Arc<Pattern>>,
        time: Option<TimeRange>,
        limit: Option<(u64, Span)>,
    },
    Find {
        entity: Ident,
        relation: Ident,
        /// `FIND x REL BY v`: the variable holds the subjects.
        by: bool,
        var: Ident,
        pattern: Option<Pattern>,
        time: Option<TimeRange>,
        limit: Option<(u64, Span)>,
    },
    New {
        entity: Option<Ident>,
        data: Vec<Value>,
        span: Span,
    },
    Load {
        path: Ident,
        entity: Option<Ident>,
    },
    Sort {
        var: Ident,
        attr: AttrPath,
        desc: bool,
    },
    Group {
        var: Ident,
        by: Vec<GroupKey>,
        aggs: Vec<Aggregate>,
    },
    Join {
        left: Ident,
        right: Ident,
        by: Option<(AttrPath, AttrPath)>,
    },
    /// `a + b + c`
    Merge(Vec<Ident>),
    Expr(Expression),
}

/// Where GET reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `scheme://name`
    Uri(Ident),
    /// A variable, read as a pool of entities.
    Var(Ident),
}

/// `v [WHERE …] [ATTR …] [SORT BY …] [LIMIT n [OFFSET m]]`, optionally `TIMESTAMPED(v)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub var: Ident,
    pub timestamped: bool,
    pub pattern: Option<Pattern>,
    pub attrs: Vec<AttrPath>,
    pub sort: Option<(AttrPath, bool)>,
    pub limit: Option<(u64, Span)>,
    pub offset: Option<(u64, Span)>,
    pub span: Span,
}

/// An attribute as written: `name`, `parent_ref.name`, `process:name`,
/// `x-oca-asset:hostname`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The STIX-style `entity:` prefix.
    pub entity: Option<Ident>,
    pub path: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    And(Box<Pattern>, Box<Pattern>),
    Or(Box<Pattern>, Box<Pattern>),
    Not(Box<Pattern>, Span),
    Cmp(Comparison),
    /// `SIGMA 'rule.yml'`: the detection of a Sigma rule (see `crate::sigma`).
    Sigma {
        path: String,
        span: Span,
    },
    /// `EVENTS 'Process Activity: Launch'`, `EVENTS 100701`, `EVENTS ('…', 100704)`: the
    /// record is an event of one of these OCSF types, as its data source classifies rows.
    Events {
        types: Vec<EventType>,
        span: Span,
    },
}

/// An OCSF event type as a hunt names it: its `type_name` or its `type_uid`.
#[derive(Debug, Clone, PartialEq)]
pub enum EventType {
    /// `'Process Activity: Launch'` (OCSF's `type_name`, ASCII case ignored).
    Name(String, Span),
    /// `100701` (OCSF's `type_uid`: class_uid * 100 + activity_id).
    Uid(i64, Span),
}

impl EventType {
    pub fn span(&self) -> Span {
        match self {
            EventType::Name(_, s) | EventType::Uid(_, s) => *s,
        }
    }
}

impl Pattern {
    pub fn span(&self) -> Span {
        // Chains are left-deep and may be a million terms long: walk both edges in loops.
        let (mut first, mut last) = (self, self);
        while let Pattern::And(a, _) | Pattern::Or(a, _) = first {
            first = a;
        }
        while let Pattern::And(_, b) | Pattern::Or(_, b) = last {
            last = b;
        }
        let own = |p: &Pattern| match p {
            Pattern::Not(_, s) => *s,
            Pattern::Cmp(c) => c.span,
            Pattern::Sigma { span, .. } | Pattern::Events { span, .. } => *span,
            Pattern::And(..) | Pattern::Or(..) => Span::new(0, 0),
        };
        own(first).to(own(last))
    }

    /// A pattern without parts, put in place of the parts being dropped.
    fn leaf() -> Pattern {
        Pattern::Cmp(Comparison {
            attr: AttrPath {
                entity: None,
                path: String::new(),
                span: Span::new(0, 0),
            },
            op: CmpOp::IsNull,
            op_span: Span::new(0, 0),
            value: None,
            escape: None,
            span: Span::new(0, 0),
        })
    }
}

/// Dropping a chain of a million `OR`s (an IOC list written out) would recurse once per
/// term and overflow the stack: its parts are taken apart in a loop instead.
impl Drop for Pattern {
    fn drop(&mut self) {
        let mut parts: Vec<Box<Pattern>> = Vec::new();
        let take = |p: &mut Pattern, parts: &mut Vec<Box<Pattern>>| match p {
            Pattern::And(a, b) | Pattern::Or(a, b) => {
                parts.push(std::mem::replace(a, Box::new(Pattern::leaf())));
                parts.push(std::mem::replace(b, Box::new(Pattern::leaf())));
            }
            Pattern::Not(a, _) => parts.push(std::mem::replace(a, Box::new(Pattern::leaf()))),
            Pattern::Cmp(_) | Pattern::Sigma { .. } | Pattern::Events { .. } => {}
        };
        if matches!(
            self,
            Pattern::Cmp(_) | Pattern::Sigma { .. } | Pattern::Events { .. }
        ) {
            return;
        }
        take(self, &mut parts);
        while let Some(mut p) = parts.pop() {
            take(&mut p, &mut parts);
            // `p` now holds leaves only: dropping it recurses one level.
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub attr: AttrPath,
    pub op: CmpOp,
    pub op_span: Span,
    /// None for `IS [NOT] NULL`.
    pub value: Option<Value>,
    /// `LIKE p ESCAPE 'c'`: the character that makes the next one in `p` literal.
    pub escape: Option<(char, Span)>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Like,
    NotLike,
    Matches,
    NotMatches,
    IsSubset,
    NotIsSubset,
    IsSuperset,
    NotIsSuperset,
    IsNull,
    IsNotNull,
}

impl CmpOp {
    /// The same test, negated (for `NOT` in front of a comparison).
    pub fn negated(self) -> CmpOp {
        use CmpOp::*;
        match self {
            Eq => Ne,
            Ne => Eq,
            Lt => Ge,
            Le => Gt,
            Gt => Le,
            Ge => Lt,
            In => NotIn,
            NotIn => In,
            Like => NotLike,
            NotLike => Like,
            Matches => NotMatches,
            NotMatches => Matches,
            IsSubset => NotIsSubset,
            NotIsSubset => IsSubset,
            IsSuperset => NotIsSuperset,
            NotIsSuperset => IsSuperset,
            IsNull => IsNotNull,
            IsNotNull => IsNull,
        }
    }

    pub fn as_str(self) -> &'static str {
        use CmpOp::*;
        match self {
            Eq => "=",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            In => "IN",
            NotIn => "NOT IN",
            Like => "LIKE",
            NotLike => "NOT LIKE",
            Matches => "MATCHES",
            NotMatches => "NOT MATCHES",
            IsSubset => "ISSUBSET",
            NotIsSubset => "NOT ISSUBSET",
            IsSuperset => "ISSUPERSET",
            NotIsSuperset => "NOT ISSUPERSET",
            IsNull => "IS NULL",
            IsNotNull => "IS NOT NULL",
        }
    }
}

/// A value in a pattern, in NEW, or an APPLY parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Lit(Literal, Span),
    List(Vec<Value>, Span),
    /// `{ "k": v, … }` (NEW)
    Object(Vec<(String, Value)>, Span),
    /// `var.attr`: the set of that attribute's values in the variable.
    Ref {
        var: Ident,
        attr: String,
        span: Span,
    },
    /// A bare word (APPLY parameters: `XPARAM=first_observed`).
    Word(Ident),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Lit(_, s)
            | Value::List(_, s)
            | Value::Object(_, s)
            | Value::Ref { span: s, .. } => *s,
            Value::Word(i) => i.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Timestamp(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimeRange {
    Absolute {
        start: Value,
        stop: Value,
        span: Span,
    },
    Last {
        n: i64,
        unit: TimeUnit,
        span: Span,
    },
}

impl TimeRange {
    pub fn span(&self) -> Span {
        match self {
            TimeRange::Absolute { span, .. } | TimeRange::Last { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupKey {
    Attr(AttrPath),
    /// `BIN(attr, 5m)` or `BIN(attr, 100)`
    Bin {
        attr: AttrPath,
        size: i64,
        unit: Option<Ident>,
        span: Span,
    },
}

/// `FUNC(attr) [AS alias]` in GROUP … WITH.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub func: Ident,
    pub attr: AttrPath,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// Groups `WITH k=v1, v2, k2=v3` into keys and their values: a value without a key
/// continues the previous key's list (`columns=a,b`). A leading keyless value gets an
/// empty key, which lowering reports.
pub fn group_params(args: Vec<(Option<Ident>, Value)>) -> Vec<(Ident, Vec<Value>)> {
    let mut out: Vec<(Ident, Vec<Value>)> = Vec::new();
    for (key, value) in args {
        match (key, out.last_mut()) {
            (Some(k), _) => out.push((k, vec![value])),
            (None, Some((_, values))) => values.push(value),
            (None, None) => {
                let span = value.span();
                out.push((
                    Ident {
                        name: String::new(),
                        span,
                    },
                    vec![value],
                ))
            }
        }
    }
    out
}

/// `EVENTS <types>`, where `k` must be the word EVENTS (`what`: what followed it, for the
/// error when it is another word).
pub fn events(
    k: Ident,
    types: Vec<EventType>,
    span: Span,
    what: &str,
) -> Result<
    Pattern,
    lalrpop_util::ParseError<usize, crate::syntax::token::Tok, crate::diag::Diagnostic>,
> {
    if k.name.eq_ignore_ascii_case("EVENTS") {
        return Ok(Pattern::Events { types, span });
    }
    Err(lalrpop_util::ParseError::User {
        error: crate::diag::Diagnostic::error(
            crate::diag::Code::Syntax,
            format!("expected a comparison, found `{}` and {what}", k.name),
        )
        .at(span)
        .help(
            "compare an attribute (`name = 'x'`), test the event's type with \
             EVENTS 'Process Activity: Launch', or apply a Sigma rule with SIGMA 'rule.yml'",
        ),
    })
}

/// A LIMIT or OFFSET count: a whole number, not negative.
pub fn count(
    n: i64,
    l: usize,
    r: usize,
    what: &str,
) -> Result<
    (u64, Span),
    lalrpop_util::ParseError<usize, crate::syntax::token::Tok, crate::diag::Diagnostic>,
> {
    u64::try_from(n)
        .map(|n| (n, Span::new(l, r)))
        .map_err(|_| lalrpop_util::ParseError::User {
            error: crate::diag::Diagnostic::error(
                crate::diag::Code::BadValue,
                format!("{what} cannot be negative"),
            )
            .at(Span::new(l, r))
            .help(format!("{what} takes a count of rows, 0 or more")),
        })
}

impl Stmt {
    /// The variables this statement reads, once per time it reads them (`a + a` reads
    /// `a` twice; `DESCRIBE v.x` runs three queries over `v`), in order.
    pub fn reads(&self) -> Vec<&Ident> {
        let mut out = Vec::new();
        match &self.kind {
            StmtKind::Assign { value, .. } => match value {
                Rhs::Get { from, pattern, .. } => {
                    if let Some(Source::Var(v)) = from {
                        out.push(v);
                    }
                    if let Some(p) = pattern {
                        p.refs(&mut out);
                    }
                }
                Rhs::Find { var, pattern, .. } => {
                    out.push(var);
                    if let Some(p) = pattern {
                        p.refs(&mut out);
                    }
                }
                Rhs::New { .. } | Rhs::Load { .. } => {}
                Rhs::Sort { var, .. } | Rhs::Group { var, .. } => out.push(var),
                Rhs::Join { left, right, .. } => {
                    out.push(left);
                    out.push(right);
                }
                Rhs::Merge(vars) => out.extend(vars),
                Rhs::Expr(e) => e.reads(&mut out),
            },
            StmtKind::Disp(e) => e.reads(&mut out),
            StmtKind::Info(v) | StmtKind::Save { var: v, .. } => out.push(v),
            StmtKind::Describe { var, .. } => out.extend([var, var, var]),
            // EXPLAIN shows SQL; it runs nothing.
            StmtKind::Explain(_) => {}
            StmtKind::Apply { args, params, .. } => {
                out.extend(args);
                for (_, values) in params {
                    for v in values {
                        v.refs(&mut out);
                    }
                }
            }
        }
        out
    }

    /// The variable this statement assigns, if any.
    pub fn defines(&self) -> Option<&Ident> {
        match &self.kind {
            StmtKind::Assign { target, .. } => Some(target),
            _ => None,
        }
    }
}

impl Expression {
    fn reads<'a>(&'a self, out: &mut Vec<&'a Ident>) {
        out.push(&self.var);
        if let Some(p) = &self.pattern {
            p.refs(out);
        }
    }
}

impl Pattern {
    /// Variables referenced as values (`pid = a.pid`), with repeats.
    fn refs<'a>(&'a self, out: &mut Vec<&'a Ident>) {
        // Long AND/OR chains are left-deep: walk them without recursing on the spine.
        let mut stack = vec![self];
        while let Some(p) = stack.pop() {
            match p {
                Pattern::And(a, b) | Pattern::Or(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Pattern::Not(inner, _) => stack.push(inner),
                Pattern::Cmp(c) => {
                    if let Some(v) = &c.value {
                        v.refs(out);
                    }
                }
                Pattern::Sigma { .. } | Pattern::Events { .. } => {}
            }
        }
    }
}

impl Value {
    fn refs<'a>(&'a self, out: &mut Vec<&'a Ident>) {
        match self {
            Value::Ref { var, .. } => out.push(var),
            Value::List(items, _) => items.iter().for_each(|v| v.refs(out)),
            Value::Object(fields, _) => fields.iter().for_each(|(_, v)| v.refs(out)),
            Value::Lit(..) | Value::Word(_) => {}
        }
    }
}
