//! The relational IR: a program is a DAG of named relations (one per variable version) and
//! the outputs that read them.
//!
//! In: built by lowering. Out: rewritten by `opt`, emitted as SQL by `sql`, run by `backend`.
//! Everything is resolved: columns are native (for scans) or attribute names (for
//! variables), literals are typed, relations refer to each other by [`RelId`].

pub mod display;
pub mod tree;

pub use tree::{Recursion, TreeNode};

use crate::model::EntityKind;
use crate::source::Span;
use std::sync::Arc;

/// Index of a relation in [`Program::relations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelId(pub usize);

/// A table of a data source, as resolved from the hunt and the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSource {
    /// The name the configuration knows it by (`events` for `stixshifter://events`).
    pub name: String,
    /// The URI as the hunt wrote it.
    pub uri: String,
    pub table: String,
    /// The connection it lives on (None: compiled without a configuration).
    pub connection: Option<String>,
    pub timestamp: Option<String>,
    pub timestamp_format: String,
    /// Name or path of the mapping used for this table.
    pub mapping: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    pub sources: Vec<DataSource>,
    pub relations: Vec<Relation>,
    pub outputs: Vec<Output>,
}

impl Program {
    pub fn rel(&self, id: RelId) -> &Relation {
        &self.relations[id.0]
    }

    /// The data sources `plan` reads, directly or through the relations it depends on
    /// (indexes into [`Program::sources`], with repeats).
    pub fn scans_through(&self, plan: &Plan) -> Vec<usize> {
        let mut roots = Vec::new();
        plan.rel_refs(&mut roots);
        let mut out = Vec::new();
        plan.scans(&mut out);
        for id in self.dependency_order(&roots) {
            self.rel(id).plan.scans(&mut out);
        }
        out
    }

    /// Relations `root` depends on, dependencies first, each once, `root` last.
    pub fn dependency_order(&self, roots: &[RelId]) -> Vec<RelId> {
        // A set, not a flag per relation: the cost follows the chain walked, not the
        // program's size (a long session asks this for every statement).
        let mut seen: crate::fxhash::FxHashSet<usize> = Default::default();
        let mut order = Vec::new();
        // Iterative post-order, since hunts of thousands of statements must not overflow.
        for &root in roots {
            let mut stack = vec![(root, false)];
            while let Some((id, expanded)) = stack.pop() {
                if expanded {
                    order.push(id);
                    continue;
                }
                if !seen.insert(id.0) {
                    continue;
                }
                stack.push((id, true));
                let mut deps = Vec::new();
                self.relations[id.0].plan.rel_refs(&mut deps);
                for d in deps.into_iter().rev() {
                    if !seen.contains(&d.0) {
                        stack.push((d, false));
                    }
                }
            }
        }
        order
    }
}

/// One variable version (or a hidden helper relation).
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// Unique SQL name: the variable, with `_2`, `_3`… for re-assignments.
    pub name: String,
    /// The variable as the hunt wrote it.
    pub var: String,
    /// Canonical entity type (`process`, `network_activity`, `event`, …).
    pub entity: String,
    pub kind: EntityKind,
    pub plan: Plan,
    /// Output columns in order. None: every column of the source table, which is known
    /// only with a catalog (event variables compiled without one).
    pub columns: Option<Vec<String>>,
    /// Columns identifying an entity; empty: the whole row.
    pub identity: Vec<String>,
    /// Where the entity is the record itself (a connection): the columns identifying a
    /// record whose `identity` is not whole (its own id). Empty otherwise.
    pub identity_alt: Vec<String>,
    /// The data source the relation's records come from, if any.
    pub source: Option<usize>,
    /// The command that made it: get, find, new, sort, …
    pub command: &'static str,
    /// Variables it was computed from, as written.
    pub depends_on: Vec<String>,
    /// The statement that made it.
    pub span: Span,
}

/// A relational operator tree.
#[derive(Debug, Clone, PartialEq, Hash)]
pub enum Plan {
    /// Every row of a data source's table; columns are native.
    Scan {
        source: usize,
    },
    /// The rows of another relation.
    Rel(RelId),
    /// Inline rows (NEW).
    Values {
        columns: Vec<String>,
        rows: Vec<Vec<Literal>>,
    },
    Filter {
        input: Box<Plan>,
        pred: Expr,
    },
    Project {
        input: Box<Plan>,
        cols: Vec<(String, Expr)>,
    },
    Distinct {
        input: Box<Plan>,
    },
    Sort {
        input: Box<Plan>,
        keys: Vec<SortKey>,
    },
    Limit {
        input: Box<Plan>,
        limit: Option<u64>,
        offset: u64,
    },
    /// UNION ALL of inputs with the same columns.
    Union {
        inputs: Vec<Plan>,
    },
    /// GROUP BY `keys` computing `aggs`.
    Aggregate {
        input: Box<Plan>,
        keys: Vec<(String, Expr)>,
        aggs: Vec<(String, AggFunc, Expr)>,
    },
    /// Inner join: rows of `left` with the rows of `right` where each `(l, r)` pair of
    /// columns is equal. Output: left's columns, then right's; lowering makes the two
    /// sides' column names disjoint.
    Join {
        left: Box<Plan>,
        right: Box<Plan>,
        on: Vec<(String, String)>,
    },
}

impl Plan {
    pub fn filter(self, pred: Expr) -> Plan {
        match pred {
            Expr::Lit(Literal::Bool(true)) => self,
            pred => Plan::Filter {
                input: Box::new(self),
                pred,
            },
        }
    }

    pub fn project(self, cols: Vec<(String, Expr)>) -> Plan {
        Plan::Project {
            input: Box::new(self),
            cols,
        }
    }

    /// Visits every expression of this plan and its inputs (predicates, projections,
    /// sort keys, grouping keys and aggregates), outer operators first.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        self.apply(|p| {
            p.apply_expressions(|e| {
                f(e);
                Recursion::Continue
            })
        });
    }

    /// Data sources this plan scans itself (not through other relations), with repeats.
    pub fn scans(&self, out: &mut Vec<usize>) {
        self.apply(|p| {
            if let Plan::Scan { source } = p {
                out.push(*source);
            }
            Recursion::Continue
        });
    }

    /// Points every scan of a data source through `map`.
    pub fn map_scans(&mut self, map: &impl Fn(usize) -> usize) {
        self.transform_up(|p| {
            if let Plan::Scan { source } = p {
                *source = map(*source);
            }
        });
    }

    /// Points every reference to another relation (`FROM`, semi-joins) through `map`.
    pub fn map_rel_refs(&mut self, map: &impl Fn(RelId) -> RelId) {
        self.transform_up(|p| match p {
            Plan::Rel(id) => *id = map(*id),
            p => p.map_expressions(|e| e.map_rel_refs(map)),
        });
    }

    /// Relations this plan reads, in first-use order (with repeats): an operator's inputs
    /// before its own expressions.
    pub fn rel_refs(&self, out: &mut Vec<RelId>) {
        self.apply_up(|p| match p {
            Plan::Rel(id) => out.push(*id),
            p => {
                p.apply_expressions(|e| {
                    e.rel_refs(out);
                    Recursion::Continue
                });
            }
        });
    }
}

#[derive(Debug, Clone, PartialEq, Hash)]
pub struct SortKey {
    pub expr: Expr,
    pub desc: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    Count,
    CountDistinct,
    Min,
    Max,
    Sum,
    Avg,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// An instant, microseconds since the epoch (UTC): a bound against a column the
    /// database types as a timestamp.
    Timestamp(i64),
}

/// Floats hash by their bits (equal literals hash alike; NaN never equals anything).
impl std::hash::Hash for Literal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Literal::Null => {}
            Literal::Bool(b) => b.hash(state),
            Literal::Int(i) | Literal::Timestamp(i) => i.hash(state),
            Literal::Float(f) => f.to_bits().hash(state),
            Literal::Str(t) => t.hash(state),
        }
    }
}

/// Where equal literals are in a list, found by hash: keeping the first of equal values
/// (an IOC list of a million) stays linear where `Vec::contains` would be quadratic.
///
/// Keys are FxHash with its well-mixed high bits rotated into the low ones (as rustc-hash
/// 2 finishes): plain FxHash leaves the low bits of values that share their last bytes
/// (`'v1.exe'`, `'v2.exe'`, …) alike, and a hash table over those probes long runs;
/// SipHash spreads them too, at several times the cost per value.
#[derive(Debug, Default, Clone)]
pub struct LiteralIndex {
    first: std::collections::HashMap<u64, usize, std::hash::BuildHasherDefault<PassThrough>>,
    /// Positions of literals whose key another, different literal already has (rare).
    more: Vec<(u64, usize)>,
}

/// Hashes a `u64` that is already a hash to itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl LiteralIndex {
    fn key(l: &Literal) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::fxhash::FxHasher::default();
        match l {
            // 0.0 == -0.0, so they hash alike.
            Literal::Float(f) if *f == 0.0 => Literal::Float(0.0).hash(&mut h),
            other => other.hash(&mut h),
        }
        h.finish().rotate_left(26)
    }

    /// The position in `items` of a literal equal to `l`; if there is none, records that
    /// `l` will be at `at` (one hash for both).
    pub fn find_or_insert(&mut self, items: &[Literal], l: &Literal, at: usize) -> Option<usize> {
        let key = Self::key(l);
        match self.first.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(at);
                None
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let i = *o.get();
                if items[i] == *l {
                    return Some(i);
                }
                if let Some(&(_, j)) = self.more.iter().find(|&&(k, j)| k == key && items[j] == *l)
                {
                    return Some(j);
                }
                self.more.push((key, at));
                None
            }
        }
    }
}

/// `list` with repeats dropped, the first of equal values kept, in order.
pub fn dedup_literals(list: impl IntoIterator<Item = Literal>) -> Vec<Literal> {
    let list = list.into_iter();
    let mut index = LiteralIndex::default();
    index.first.reserve(list.size_hint().0);
    let mut out = Vec::with_capacity(list.size_hint().0);
    for l in list {
        if index.find_or_insert(&out, &l, out.len()).is_none() {
            out.push(l);
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), the form every engine reads as a timestamp.
pub fn timestamp_text(t: i64) -> String {
    crate::time::format_strftime(t, "%Y-%m-%d %H:%M:%S.%f").unwrap_or_default()
}

/// What a column holds, as far as comparisons care (from the database's catalog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Integer,
    Float,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Functions the IR knows; each dialect says how to write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// Last path component, `\` or `/` separated.
    Basename,
    /// Everything before the last path separator.
    Dirname,
    /// An integer from decimal text or `0x` hexadecimal text (a number stays itself);
    /// NULL for anything else.
    Integer,
    /// `BIN(x, n)` on numbers: `x` rounded down to a multiple of `n` (args: x, n).
    BinNumber,
    /// `BIN(ts, 5m)` on timestamp text: the start of its bucket of `n` seconds since the
    /// epoch, as ISO-8601 text (args: ts, n).
    BinTime,
    /// 1, having counted the row on the way (args: slot, n, identity…, own id…): the rows and
    /// distinct identities of a variable that a statement reads once, so that the
    /// summary need not compute it again. Only sessions add it, on connections that have
    /// such a function (`Backend::tally_function`).
    Tally,
    /// A grouping key that is a grouping set of its own (args: a flag, then the set's
    /// expressions): `GROUP BY GROUPING SETS ((other keys…), (flag, e1, …))`, the key
    /// selected as the flag. The flag must never be NULL on the set's rows, so the key is
    /// NULL exactly on the rows of the other keys' groups. Only sessions add it, to count
    /// a variable on the way on connections whose dialect has grouping sets
    /// ([`Dialect::grouping_sets`](crate::sql::Dialect)).
    GroupingSet,
}

/// Typed scalar expressions over the columns of a plan's input.
#[derive(Debug, Clone, PartialEq, Hash)]
pub enum Expr {
    Col(String),
    Lit(Literal),
    Cmp {
        op: CmpOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// Case-insensitive for ASCII; `%` and `_` are the only special characters, unless
    /// `escape` is given: then that character makes the one after it literal (`LIKE '50!%'
    /// ESCAPE '!'`). See [`like_pieces`].
    Like {
        expr: Box<Expr>,
        pattern: String,
        negated: bool,
        escape: Option<char>,
    },
    /// Regular-expression search, case-sensitive unless the pattern starts with `(?i)`.
    Regex {
        expr: Box<Expr>,
        pattern: String,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Literal>,
        negated: bool,
    },
    /// `(exprs) [NOT] IN (SELECT cols FROM rel)`: a semi-join on another relation.
    InRel {
        exprs: Vec<Expr>,
        rel: RelId,
        cols: Vec<String>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// Shared, not copied, when an expression is cloned: per-class CASEs are the
    /// mapping's column expressions, copied into every relation and statement.
    Case {
        whens: Arc<[(Expr, Expr)]>,
        otherwise: Arc<Expr>,
    },
    Func {
        func: Func,
        args: Vec<Expr>,
    },
}

/// A LIKE pattern as characters, each a wildcard (`%`, `_`) or literal: the IR's one
/// reading of `escape`, shared by every dialect's emitter. An escape at the very end
/// stands for itself.
pub fn like_pieces(pattern: &str, escape: Option<char>) -> Vec<(char, bool)> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            out.push((chars.next().unwrap_or(c), false));
        } else {
            out.push((c, c == '%' || c == '_'));
        }
    }
    out
}

pub const TRUE: Expr = Expr::Lit(Literal::Bool(true));
pub const FALSE: Expr = Expr::Lit(Literal::Bool(false));

impl Expr {
    pub fn col(name: impl Into<String>) -> Expr {
        Expr::Col(name.into())
    }

    pub fn str(s: impl Into<String>) -> Expr {
        Expr::Lit(Literal::Str(s.into()))
    }

    pub fn cmp(op: CmpOp, left: Expr, right: Expr) -> Expr {
        Expr::Cmp {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// Conjunction, flattened, with `TRUE` dropped and `FALSE` absorbing.
    pub fn and(parts: Vec<Expr>) -> Expr {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Expr::Lit(Literal::Bool(true)) => {}
                Expr::Lit(Literal::Bool(false)) => return FALSE,
                Expr::And(inner) => out.extend(inner),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => TRUE,
            1 => out.pop().unwrap_or(TRUE),
            _ => Expr::And(out),
        }
    }

    /// Disjunction, flattened, with `FALSE` dropped and `TRUE` absorbing.
    pub fn or(parts: Vec<Expr>) -> Expr {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Expr::Lit(Literal::Bool(false)) => {}
                Expr::Lit(Literal::Bool(true)) => return TRUE,
                Expr::Or(inner) => out.extend(inner),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => FALSE,
            1 => out.pop().unwrap_or(FALSE),
            _ => Expr::Or(out),
        }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(e: Expr) -> Expr {
        match e {
            Expr::Lit(Literal::Bool(b)) => Expr::Lit(Literal::Bool(!b)),
            Expr::Not(inner) => *inner,
            e => Expr::Not(Box::new(e)),
        }
    }

    /// `CASE WHEN … END`, with constant conditions folded away.
    pub fn case(whens: Vec<(Expr, Expr)>, otherwise: Expr) -> Expr {
        let mut kept = Vec::new();
        for (cond, value) in whens {
            match cond {
                Expr::Lit(Literal::Bool(false)) => {}
                Expr::Lit(Literal::Bool(true)) => {
                    if kept.is_empty() {
                        return value;
                    }
                    return Expr::Case {
                        whens: kept.into(),
                        otherwise: Arc::new(value),
                    };
                }
                cond => kept.push((cond, value)),
            }
        }
        if kept.is_empty() {
            return otherwise;
        }
        // Every branch the same: no CASE needed.
        if kept.iter().all(|(_, v)| *v == otherwise) {
            return otherwise;
        }
        Expr::Case {
            whens: kept.into(),
            otherwise: Arc::new(otherwise),
        }
    }

    /// Relations this expression's semi-joins read, outer ones first.
    pub fn rel_refs(&self, out: &mut Vec<RelId>) {
        self.walk(&mut |e| {
            if let Expr::InRel { rel, .. } = e {
                out.push(*rel);
            }
        });
    }

    /// Points every semi-join's relation through `map`.
    pub fn map_rel_refs(&mut self, map: &impl Fn(RelId) -> RelId) {
        self.transform_down(|e| match e {
            Expr::InRel { rel, .. } => {
                *rel = map(*rel);
                Recursion::Continue
            }
            // Copied only where a semi-join inside changes (rare: CASEs are mappings').
            Expr::Case { .. } if !e.has_rel_ref() => Recursion::Jump,
            _ => Recursion::Continue,
        });
    }

    /// Whether a semi-join on another relation is inside.
    pub fn has_rel_ref(&self) -> bool {
        self.apply(|e| match e {
            Expr::InRel { .. } => Recursion::Stop,
            _ => Recursion::Continue,
        }) == Recursion::Stop
    }

    /// Visits this expression and every sub-expression, parents first.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        self.apply(|e| {
            f(e);
            Recursion::Continue
        });
    }

    /// Rewrites every column reference (for substituting a projection into a filter).
    pub fn map_cols(&self, f: &mut dyn FnMut(&str) -> Expr) -> Expr {
        let boxed = |e: &Expr, f: &mut dyn FnMut(&str) -> Expr| Box::new(e.map_cols(f));
        match self {
            Expr::Col(c) => f(c),
            Expr::Lit(_) => self.clone(),
            Expr::Cmp { op, left, right } => Expr::Cmp {
                op: *op,
                left: boxed(left, f),
                right: boxed(right, f),
            },
            Expr::Like {
                expr,
                pattern,
                negated,
                escape,
            } => Expr::Like {
                expr: boxed(expr, f),
                pattern: pattern.clone(),
                negated: *negated,
                escape: *escape,
            },
            Expr::Regex {
                expr,
                pattern,
                negated,
            } => Expr::Regex {
                expr: boxed(expr, f),
                pattern: pattern.clone(),
                negated: *negated,
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: boxed(expr, f),
                list: list.clone(),
                negated: *negated,
            },
            Expr::InRel {
                exprs,
                rel,
                cols,
                negated,
            } => Expr::InRel {
                exprs: exprs.iter().map(|e| e.map_cols(f)).collect(),
                rel: *rel,
                cols: cols.clone(),
                negated: *negated,
            },
            Expr::IsNull { expr, negated } => Expr::IsNull {
                expr: boxed(expr, f),
                negated: *negated,
            },
            Expr::And(v) => Expr::And(v.iter().map(|e| e.map_cols(f)).collect()),
            Expr::Or(v) => Expr::Or(v.iter().map(|e| e.map_cols(f)).collect()),
            Expr::Not(e) => Expr::Not(boxed(e, f)),
            Expr::Case { whens, otherwise } => Expr::Case {
                whens: whens
                    .iter()
                    .map(|(c, v)| (c.map_cols(f), v.map_cols(f)))
                    .collect(),
                otherwise: Arc::new(otherwise.map_cols(f)),
            },
            Expr::Func { func, args } => Expr::Func {
                func: *func,
                args: args.iter().map(|e| e.map_cols(f)).collect(),
            },
        }
    }

    /// Column names this expression reads.
    pub fn columns(&self, out: &mut Vec<String>) {
        self.walk(&mut |e| {
            if let Expr::Col(c) = e {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
        });
    }
}

/// What a statement shows.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// Rows of the plan, deduplicated.
    Disp,
    /// Counts and attributes of a variable.
    Info,
    /// The SQL of a variable.
    Explain,
    /// Statistics of one attribute.
    Describe { attr: String },
    /// Rows of the variable written to a file (CSV, JSON, JSON lines by extension).
    Save { path: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub kind: OutputKind,
    /// The variable shown.
    pub rel: RelId,
    /// The query that produces what is shown (for DISP: the display rows; otherwise a
    /// plan over the variable).
    pub plan: Plan,
    /// Column names as shown (the names written in ATTR).
    pub columns: Option<Vec<String>>,
    /// The statement, for headers and errors.
    pub span: Span,
    pub line: usize,
    /// The statement text, as written.
    pub text: String,
}

#[cfg(test)]
mod literal_index_tests {
    use super::*;

    #[test]
    fn repeats_are_dropped_keeping_the_first_in_order() {
        let list = vec![
            Literal::Str("b".into()),
            Literal::Str("a".into()),
            Literal::Str("b".into()),
            Literal::Int(1),
            Literal::Float(0.0),
            Literal::Float(-0.0),
            Literal::Float(f64::NAN),
            Literal::Float(f64::NAN),
            Literal::Int(1),
        ];
        let out = dedup_literals(list);
        assert_eq!(out.len(), 6, "{out:?}");
        assert_eq!(
            out[..4],
            [
                Literal::Str("b".into()),
                Literal::Str("a".into()),
                Literal::Int(1),
                Literal::Float(0.0),
            ]
        );
        // NaN equals nothing, itself included, as with `Vec::contains`.
        assert!(matches!(out[4], Literal::Float(f) if f.is_nan()));
        let big =
            dedup_literals((0..200_000).map(|i| Literal::Str(format!("v{}.exe", i % 100_000))));
        assert_eq!(big.len(), 100_000);
        assert_eq!(big[99_999], Literal::Str("v99999.exe".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::like_pieces;

    #[test]
    fn like_pieces_read_the_escape() {
        assert_eq!(
            like_pieces("a%_", None),
            [('a', false), ('%', true), ('_', true)]
        );
        assert_eq!(
            like_pieces("!%!_!!x!", Some('!')),
            [
                ('%', false),
                ('_', false),
                ('!', false),
                ('x', false),
                ('!', false)
            ]
        );
        // Backslash is literal unless it is the escape.
        assert_eq!(like_pieces(r"\%", None), [('\\', false), ('%', true)]);
    }
}
