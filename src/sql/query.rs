//! IR plans to SQL statements.
//!
//! In: a [`Program`], the plan to show, a [`Dialect`] and whether literals are bound or
//! inlined. Out: [`SqlStatement`]s — SQL text rendered from a sqlparser AST, plus the bound
//! parameters in placeholder order.
//!
//! Every relation a statement reads becomes a CTE named after its variable; the operator
//! tree of a plan folds into as few SELECT blocks as SQL allows (a filter after a
//! projection is substituted into the projection's source columns, a LIMIT under anything
//! else becomes a derived table).

use sqlparser::ast::{self as sa, BinaryOperator, SelectItem, SetExpr};

use crate::diag::{Code, Diagnostic};
use std::collections::HashMap;

use crate::ir::{AggFunc, CmpOp, Expr, Func, Literal, Plan, Program, RelId};
use crate::opt::{self, Need};

use super::builders as b;
use super::dialect::{BasenameStyle, BooleanStyle, Dialect, RegexStyle, TimeBinStyle};

/// How literals reach the SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralMode {
    /// Placeholders, with the values in [`SqlStatement::params`] (for execution).
    Bind,
    /// Escaped literals in the text (for `compile` and EXPLAIN previews).
    Inline,
}

/// One statement, ready to run or show.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    pub sql: String,
    pub params: Vec<Literal>,
}

/// Emits `plan` (which may read any relation of `program`) as one statement.
pub fn emit_plan(
    program: &Program,
    plan: &Plan,
    dialect: &Dialect,
    mode: LiteralMode,
) -> Result<SqlStatement, Diagnostic> {
    emit_plan_with(program, plan, dialect, mode, true)
}

/// [`emit_plan`], optionally without the optimiser (`kestrel compile --no-opt`).
pub fn emit_plan_with(
    program: &Program,
    plan: &Plan,
    dialect: &Dialect,
    mode: LiteralMode,
    optimise: bool,
) -> Result<SqlStatement, Diagnostic> {
    let mut e = Emitter::new(program, dialect, mode);
    e.optimise = optimise;
    let q = e.statement(plan, Need::All, |_, body| Ok(body))?;
    Ok(e.finish(q))
}

/// `SELECT COUNT(*) AS records, <distinct identities> AS entities FROM rel`.
pub fn emit_counts(
    program: &Program,
    rel: RelId,
    dialect: &Dialect,
    mode: LiteralMode,
) -> Result<SqlStatement, Diagnostic> {
    emit_counts_with(program, rel, dialect, mode, true)
}

/// [`emit_counts`], optionally without the optimiser.
pub fn emit_counts_with(
    program: &Program,
    rel: RelId,
    dialect: &Dialect,
    mode: LiteralMode,
    optimise: bool,
) -> Result<SqlStatement, Diagnostic> {
    let mut e = Emitter::new(program, dialect, mode);
    e.optimise = optimise;
    let r = program.rel(rel);
    let name = r.name.clone();
    let identity = r.identity.clone();
    let all_columns = r.columns.clone();
    // Counting entities reads only their identity; counting distinct rows reads them all.
    let need = if identity.is_empty() {
        Need::All
    } else {
        Need::Cols(identity.clone())
    };
    let q = e.statement(&Plan::Rel(rel), need, |e, _| {
        let d = e.dialect;
        // Entities: distinct identities, or distinct rows when the type has none.
        let distinct_cols: Vec<SelectItem> = if !identity.is_empty() {
            identity
                .iter()
                .map(|c| b::select_item(b::column(d, c), None))
                .collect()
        } else {
            match &all_columns {
                Some(cols) if !cols.is_empty() => cols
                    .iter()
                    .map(|c| b::select_item(b::column(d, c), None))
                    .collect(),
                _ => vec![b::wildcard()],
            }
        };
        let not_null = (!identity.is_empty()).then(|| {
            and_all(
                identity
                    .iter()
                    .map(|c| sa::Expr::IsNotNull(Box::new(b::column(d, c))))
                    .collect(),
            )
        });
        let inner = b::query(SetExpr::Select(Box::new(b::select(
            distinct_cols,
            Some(b::table(d, &name)),
            not_null,
            true,
            vec![],
        ))));
        let entities = b::query(SetExpr::Select(Box::new(b::select(
            vec![b::select_item(b::count_star(), None)],
            Some(b::derived(inner, b::ident(d, "e"))),
            None,
            false,
            vec![],
        ))));
        let select = b::select(
            vec![
                b::select_item(b::count_star(), Some(b::ident(d, "records"))),
                b::select_item(
                    sa::Expr::Subquery(Box::new(entities)),
                    Some(b::ident(d, "entities")),
                ),
            ],
            Some(b::table(d, &name)),
            None,
            false,
            vec![],
        );
        Ok(b::query(SetExpr::Select(Box::new(select))))
    })?;
    Ok(e.finish(q))
}

/// Statistics of one column of `plan`: count, unique, min, max, mean — then the most
/// frequent value with its frequency.
pub fn emit_describe(
    program: &Program,
    plan: &Plan,
    column: &str,
    dialect: &Dialect,
    mode: LiteralMode,
) -> Result<(SqlStatement, SqlStatement), Diagnostic> {
    emit_describe_with(program, plan, column, dialect, mode, true)
}

/// [`emit_describe`], optionally without the optimiser.
pub fn emit_describe_with(
    program: &Program,
    plan: &Plan,
    column: &str,
    dialect: &Dialect,
    mode: LiteralMode,
    optimise: bool,
) -> Result<(SqlStatement, SqlStatement), Diagnostic> {
    let need = || Need::Cols(vec![column.to_string()]);
    let stats = {
        let mut e = Emitter::new(program, dialect, mode);
        e.optimise = optimise;
        let q = e.statement(plan, need(), |e, body| {
            let d = e.dialect;
            let col = || b::column(d, column);
            let items = vec![
                b::select_item(
                    b::function("COUNT", vec![col()]),
                    Some(b::ident(d, "count")),
                ),
                b::select_item(
                    b::function_with("COUNT", vec![col()], true),
                    Some(b::ident(d, "unique")),
                ),
                b::select_item(b::function("MIN", vec![col()]), Some(b::ident(d, "min"))),
                b::select_item(b::function("MAX", vec![col()]), Some(b::ident(d, "max"))),
                b::select_item(b::function("AVG", vec![col()]), Some(b::ident(d, "mean"))),
            ];
            Ok(b::query(SetExpr::Select(Box::new(b::select(
                items,
                Some(b::derived(body, b::ident(d, "d"))),
                None,
                false,
                vec![],
            )))))
        })?;
        e.finish(q)
    };
    let top = {
        let mut e = Emitter::new(program, dialect, mode);
        e.optimise = optimise;
        let q = e.statement(plan, need(), |e, body| {
            let d = e.dialect;
            let col = || b::column(d, column);
            let select = b::select(
                vec![
                    b::select_item(col(), Some(b::ident(d, "top"))),
                    b::select_item(b::count_star(), Some(b::ident(d, "freq"))),
                ],
                Some(b::derived(body, b::ident(d, "d"))),
                Some(sa::Expr::IsNotNull(Box::new(col()))),
                false,
                vec![col()],
            );
            let mut q = b::query(SetExpr::Select(Box::new(select)));
            q.order_by = Some(b::order_by(vec![
                (b::column(d, "freq"), true),
                (b::column(d, "top"), false),
            ]));
            q.limit_clause = Some(b::limit_offset(Some(b::number(1)), None));
            Ok(q)
        })?;
        e.finish(q)
    };
    Ok((stats, top))
}

/// A SELECT block under construction.
#[derive(Debug, Clone)]
struct Block {
    from: From,
    filter: Vec<Expr>,
    project: Option<Vec<(String, Expr)>>,
    distinct: bool,
    order: Vec<(Expr, bool)>,
    limit: Option<u64>,
    offset: u64,
    /// GROUP BY: `project` holds the keys (grouped by), these the aggregates after them.
    group: Option<Vec<(String, AggFunc, Expr)>>,
}

#[derive(Debug, Clone)]
enum From {
    Table(String),
    Rel(RelId),
    Sub(Box<Block>),
    Union(Vec<Block>),
    Values(Vec<Vec<Literal>>),
    /// No rows at all (an empty NEW).
    Nothing,
    /// `left JOIN right ON l = r AND …` (column names of the two sides are disjoint).
    Join(Box<Block>, Box<Block>, Vec<(String, String)>),
}

impl Block {
    fn from(from: From) -> Block {
        Block {
            from,
            filter: Vec::new(),
            project: None,
            distinct: false,
            order: Vec::new(),
            limit: None,
            offset: 0,
            group: None,
        }
    }

    fn limited(&self) -> bool {
        self.limit.is_some() || self.offset > 0
    }

    /// Whether anything but a plain `SELECT … FROM … WHERE …` must happen first.
    fn closed(&self) -> bool {
        self.distinct || self.limited() || self.group.is_some()
    }

    /// This block as a derived table of a new one. An order over output names (after
    /// DISTINCT or GROUP BY) moves out, so the rows stay ordered.
    fn wrap(mut self) -> Block {
        let lift = !self.limited() && (self.distinct || self.group.is_some());
        let order = if lift {
            std::mem::take(&mut self.order)
        } else {
            Vec::new()
        };
        let mut outer = Block::from(From::Sub(Box::new(self)));
        outer.order = order;
        outer
    }

    /// An expression over this block's output, rewritten over its input.
    fn substitute(&self, e: &Expr) -> Expr {
        match &self.project {
            None => e.clone(),
            Some(cols) => e.map_cols(&mut |c| {
                cols.iter()
                    .find(|(n, _)| n == c)
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| Expr::col(c))
            }),
        }
    }
}

fn fold(program: &Program, plan: &Plan, dialect: &Dialect) -> Result<Block, Diagnostic> {
    Ok(match plan {
        Plan::Scan { source } => Block::from(From::Table(program.sources[*source].table.clone())),
        Plan::Rel(id) => Block::from(From::Rel(*id)),
        Plan::Values { columns, rows } => {
            let mut blk = Block::from(if rows.is_empty() {
                From::Nothing
            } else {
                From::Values(rows.clone())
            });
            blk.project = Some(
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let src = if rows.is_empty() {
                            Expr::Lit(Literal::Null)
                        } else {
                            Expr::col(format!("{}{}", dialect.values_column_prefix, i + 1))
                        };
                        (c.clone(), src)
                    })
                    .collect(),
            );
            if rows.is_empty() {
                blk.filter.push(crate::ir::FALSE);
            }
            blk
        }
        Plan::Filter { input, pred } => {
            let mut blk = fold(program, input, dialect)?;
            if blk.closed() {
                blk = blk.wrap();
            }
            let pred = blk.substitute(pred);
            blk.filter.push(pred);
            blk
        }
        Plan::Project { input, cols } => {
            let mut blk = fold(program, input, dialect)?;
            if blk.closed() {
                blk = blk.wrap();
            }
            let cols = cols
                .iter()
                .map(|(n, e)| (n.clone(), blk.substitute(e)))
                .collect();
            blk.project = Some(cols);
            blk
        }
        Plan::Distinct { input } => {
            let mut blk = fold(program, input, dialect)?;
            if blk.limited() || blk.group.is_some() {
                blk = blk.wrap();
            }
            blk.distinct = true;
            blk
        }
        Plan::Sort { input, keys } => {
            let mut blk = fold(program, input, dialect)?;
            if blk.limited() {
                blk = blk.wrap();
            }
            blk.order = keys
                .iter()
                .map(|k| {
                    // Under DISTINCT or GROUP BY, ORDER BY names an output column.
                    let e = if blk.distinct || blk.group.is_some() {
                        k.expr.clone()
                    } else {
                        blk.substitute(&k.expr)
                    };
                    (e, k.desc)
                })
                .collect();
            blk
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let mut blk = fold(program, input, dialect)?;
            if blk.limited() {
                blk = blk.wrap();
            }
            blk.limit = *limit;
            blk.offset = *offset;
            blk
        }
        Plan::Union { inputs } => Block::from(From::Union(
            inputs
                .iter()
                .map(|p| fold(program, p, dialect))
                .collect::<Result<_, _>>()?,
        )),
        Plan::Aggregate { input, keys, aggs } => {
            fold_aggregate(program, input, keys, aggs, dialect)?
        }
        Plan::Join { left, right, on } => Block::from(From::Join(
            Box::new(fold(program, left, dialect)?),
            Box::new(fold(program, right, dialect)?),
            on.clone(),
        )),
    })
}

/// GROUP BY `keys` computing `aggs` over the input's rows.
fn fold_aggregate(
    program: &Program,
    input: &Plan,
    keys: &[(String, Expr)],
    aggs: &[(String, AggFunc, Expr)],
    dialect: &Dialect,
) -> Result<Block, Diagnostic> {
    let mut blk = fold(program, input, dialect)?;
    if blk.closed() {
        blk = blk.wrap();
    }
    // A join's columns are only known by name: group over it as a derived table.
    if matches!(blk.from, From::Join(..)) && blk.project.is_none() {
        blk = blk.wrap();
    }
    let keys = keys
        .iter()
        .map(|(n, e)| (n.clone(), blk.substitute(e)))
        .collect();
    let aggs = aggs
        .iter()
        .map(|(n, f, e)| (n.clone(), *f, blk.substitute(e)))
        .collect();
    blk.order.clear();
    blk.project = Some(keys);
    blk.group = Some(aggs);
    Ok(blk)
}

struct Emitter<'a> {
    program: &'a Program,
    dialect: &'a Dialect,
    mode: LiteralMode,
    params: Vec<Literal>,
    aliases: usize,
    /// Run the optimiser's passes on each statement's plans.
    optimise: bool,
    /// Each relation's plan as this statement reads it (pruned to what it uses).
    plans: HashMap<RelId, Plan>,
}

impl<'a> Emitter<'a> {
    fn new(program: &'a Program, dialect: &'a Dialect, mode: LiteralMode) -> Emitter<'a> {
        Emitter {
            program,
            dialect,
            mode,
            params: Vec::new(),
            aliases: 0,
            optimise: true,
            plans: HashMap::new(),
        }
    }

    fn finish(self, q: sa::Query) -> SqlStatement {
        SqlStatement {
            sql: b::restore_line_breaks(format!("{:#}", sa::Statement::Query(Box::new(q)))),
            params: self.params,
        }
    }

    /// A statement: CTEs for every relation `plan` reads, then `plan` itself, optionally
    /// wrapped by `top` (counts, statistics).
    fn statement(
        &mut self,
        plan: &Plan,
        need: Need,
        top: impl FnOnce(&mut Self, sa::Query) -> Result<sa::Query, Diagnostic>,
    ) -> Result<sa::Query, Diagnostic> {
        let mut roots = Vec::new();
        plan.rel_refs(&mut roots);
        let order = self.program.dependency_order(&roots);
        let mut own = None;
        if self.optimise {
            let pruned = opt::prune_columns(self.program, plan, need);
            self.plans = pruned.relations;
            own = pruned.plan;
        }
        let plan = own.as_ref().unwrap_or(plan);
        let mut ctes = Vec::new();
        for id in order {
            let r = self.program.rel(id);
            let body = match self.plans.remove(&id) {
                Some(p) => self.plan_query(&p)?,
                None => self.plan_query(&r.plan)?,
            };
            ctes.push((b::ident(self.dialect, &r.name), body));
        }
        let body = self.plan_query(plan)?;
        let mut q = top(self, body)?;
        if !ctes.is_empty() {
            q.with = Some(b::with(ctes));
        }
        Ok(q)
    }

    fn plan_query(&mut self, plan: &Plan) -> Result<sa::Query, Diagnostic> {
        let blk = fold(self.program, plan, self.dialect)?;
        self.block(blk)
    }

    fn alias(&mut self) -> sa::Ident {
        self.aliases += 1;
        b::ident(self.dialect, &format!("t{}", self.aliases))
    }

    fn block(&mut self, blk: Block) -> Result<sa::Query, Diagnostic> {
        let d = self.dialect;
        // A plain UNION with nothing on top is a set operation, not a derived table.
        if let From::Union(parts) = &blk.from {
            if blk.filter.is_empty()
                && blk.project.is_none()
                && !blk.distinct
                && blk.order.is_empty()
                && !blk.limited()
            {
                let mut sets = Vec::new();
                for p in parts.clone() {
                    let q = self.block(p)?;
                    sets.push(query_body(q));
                }
                let mut iter = sets.into_iter();
                let first = iter
                    .next()
                    .ok_or_else(|| Diagnostic::internal("empty union"))?;
                let body = iter.fold(first, b::union_all);
                return Ok(b::query(body));
            }
        }
        let limited = blk.limited();
        let mut join = None;
        let from = match blk.from {
            From::Table(t) => Some(b::table(d, &t)),
            From::Rel(id) => Some(b::table(d, &self.program.rel(id).name)),
            From::Sub(inner) => {
                let q = self.block(*inner)?;
                let alias = self.alias();
                Some(b::derived(q, alias))
            }
            From::Union(parts) => {
                let inner = Block::from(From::Union(parts));
                let q = self.block(inner)?;
                let alias = self.alias();
                Some(b::derived(q, alias))
            }
            From::Values(rows) => {
                let mut out = Vec::new();
                for row in rows {
                    let mut cells = Vec::new();
                    for l in row {
                        cells.push(self.literal(&l));
                    }
                    out.push(cells);
                }
                let alias = self.alias();
                Some(b::derived(b::query(b::values(out)), alias))
            }
            From::Nothing => None,
            From::Join(left, right, on) => {
                join = Some((self.factor(*right)?, on));
                Some(self.factor(*left)?)
            }
        };
        let mut projection = match &blk.project {
            None => vec![b::wildcard()],
            Some(cols) => {
                let mut items = Vec::new();
                for (name, e) in cols {
                    let expr = self.expr(e)?;
                    let alias = match e {
                        Expr::Col(c) if c == name => None,
                        _ => Some(b::ident(d, name)),
                    };
                    items.push(b::select_item(expr, alias));
                }
                items
            }
        };
        let mut group_by = Vec::new();
        if let Some(aggs) = &blk.group {
            for (_, e) in blk.project.iter().flatten() {
                group_by.push(self.expr(e)?);
            }
            if blk.project.as_ref().is_some_and(|p| p.is_empty()) {
                projection.clear();
            }
            for (name, func, e) in aggs {
                let x = self.expr(e)?;
                projection.push(b::select_item(aggregate(*func, x), Some(b::ident(d, name))));
            }
        }
        let mut preds = Vec::new();
        let several = blk.filter.len() > 1;
        for f in &blk.filter {
            let p = self.predicate(f)?;
            preds.push(if several && matches!(f, Expr::Or(_)) {
                b::nested(p)
            } else {
                p
            });
        }
        let selection = (!preds.is_empty()).then(|| and_all(preds));
        if projection.is_empty() {
            // `SELECT FROM t` is no SQL: lowering should never ask for it, but must not
            // get invalid SQL when it does.
            return Err(Diagnostic::error(
                Code::BadValue,
                "this statement would select no attributes at all",
            )
            .help("the variables it combines have no attribute in common"));
        }
        let mut select = b::select(projection, from, selection, blk.distinct, group_by);
        if let Some((right, on)) = join {
            let conds = on
                .iter()
                .map(|(l, r)| b::binary(b::column(d, l), BinaryOperator::Eq, b::column(d, r)))
                .collect();
            b::inner_join(&mut select, right, and_all(conds));
        }
        let mut q = b::query(SetExpr::Select(Box::new(select)));
        if !blk.order.is_empty() {
            let mut keys = Vec::new();
            for (e, desc) in &blk.order {
                keys.push((self.expr(e)?, *desc));
            }
            q.order_by = Some(b::order_by(keys));
        }
        if limited {
            q.limit_clause = Some(b::limit_offset(
                Some(b::number(blk.limit.map(|l| l as i64).unwrap_or(-1))),
                (blk.offset > 0).then(|| b::number(blk.offset)),
            ));
        }
        Ok(q)
    }

    /// A block as a table of a FROM clause: a relation by name, anything else derived.
    fn factor(&mut self, blk: Block) -> Result<sa::TableFactor, Diagnostic> {
        let plain =
            blk.filter.is_empty() && blk.project.is_none() && blk.order.is_empty() && !blk.closed();
        if let (true, From::Rel(id)) = (plain, &blk.from) {
            return Ok(b::table(self.dialect, &self.program.rel(*id).name));
        }
        let q = self.block(blk)?;
        let alias = self.alias();
        Ok(b::derived(q, alias))
    }

    fn literal(&mut self, l: &Literal) -> sa::Expr {
        match (self.mode, l) {
            (_, Literal::Null) => b::value(sa::Value::Null),
            (LiteralMode::Bind, l) => {
                self.params.push(l.clone());
                b::placeholder(self.dialect.placeholder(self.params.len()))
            }
            (LiteralMode::Inline, Literal::Str(s)) => b::string(s),
            (LiteralMode::Inline, Literal::Int(i)) => b::number(i),
            (LiteralMode::Inline, Literal::Float(f)) => b::number(format!("{f:?}")),
            (LiteralMode::Inline, Literal::Bool(v)) => self.boolean(*v),
        }
    }

    fn boolean(&self, v: bool) -> sa::Expr {
        match self.dialect.boolean_style {
            BooleanStyle::Integer => b::number(i32::from(v)),
            BooleanStyle::Keyword => b::value(sa::Value::Boolean(v)),
        }
    }

    /// A predicate in WHERE position (a constant becomes `1 = 1` / `1 = 0`, which every
    /// dialect accepts).
    fn predicate(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        match e {
            Expr::Lit(Literal::Bool(v)) => Ok(b::binary(
                b::number(1),
                BinaryOperator::Eq,
                b::number(i32::from(*v)),
            )),
            e => self.expr(e),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        let d = self.dialect;
        Ok(match e {
            Expr::Col(c) => b::column(d, c),
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
                let l = self.operand(left)?;
                let r = self.operand(right)?;
                b::binary(l, op, r)
            }
            Expr::Like {
                expr,
                pattern,
                negated,
            } => {
                let x = self.operand(expr)?;
                let p = self.literal(&Literal::Str(pattern.clone()));
                sa::Expr::Like {
                    negated: *negated,
                    any: false,
                    expr: Box::new(x),
                    pattern: Box::new(p),
                    escape_char: None,
                }
            }
            Expr::Regex {
                expr,
                pattern,
                negated,
            } => match d.regex_style {
                RegexStyle::Operator => {
                    let x = self.operand(expr)?;
                    let p = self.literal(&Literal::Str(pattern.clone()));
                    sa::Expr::RLike {
                        negated: *negated,
                        expr: Box::new(x),
                        pattern: Box::new(p),
                        regexp: true,
                    }
                }
                RegexStyle::Function => {
                    let x = self.expr(expr)?;
                    let p = self.literal(&Literal::Str(pattern.clone()));
                    let f = b::function("regexp_like", vec![x, p]);
                    if *negated {
                        b::not(f)
                    } else {
                        f
                    }
                }
                RegexStyle::Unsupported => {
                    return Err(Diagnostic::error(
                        Code::Unsupported,
                        format!("MATCHES is not available on {}", d.name),
                    )
                    .help("use LIKE, or run the hunt on a data source whose database has regular expressions"))
                }
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.operand(expr)?;
                let list = list.iter().map(|l| self.literal(l)).collect();
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
                let name = self.program.rel(*rel).name.clone();
                let items = cols
                    .iter()
                    .map(|c| b::select_item(b::column(d, c), None))
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
                let lhs = if exprs.len() == 1 {
                    self.operand(&exprs[0])?
                } else {
                    if !d.supports_tuple_in {
                        return Err(Diagnostic::error(
                            Code::Unsupported,
                            format!("{} cannot compare several columns with IN", d.name),
                        ));
                    }
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
                for (c, v) in whens {
                    ws.push((self.predicate(c)?, self.expr(v)?));
                }
                let o = self.expr(otherwise)?;
                b::case(ws, o)
            }
            Expr::Func {
                func: func @ (Func::BinNumber | Func::BinTime),
                args,
            } => self.bin(*func, args)?,
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
                                b::function("replace", vec![x.clone(), b::string("\\"), b::string("")]),
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
                                    b::binary(b::function("length", vec![dir]), BinaryOperator::Plus, b::number(1)),
                                ],
                            ),
                            // rtrim(dir, '\/')
                            Func::Dirname => b::function("rtrim", vec![dir, b::string("\\/")]),
                            Func::BinNumber | Func::BinTime => {
                                return Err(Diagnostic::internal("BIN emitted as a path function"))
                            }
                        }
                    }
                }
            }
        })
    }

    /// `BIN(x, n)`: numbers rounded down to a multiple of `n`; timestamps to the start of
    /// their bucket of `n` seconds, as ISO-8601 text.
    fn bin(&mut self, func: Func, args: &[Expr]) -> Result<sa::Expr, Diagnostic> {
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

    /// An operand of a comparison: parenthesised when it is itself a predicate.
    fn operand(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        let x = self.expr(e)?;
        Ok(match e {
            Expr::Col(_) | Expr::Lit(_) | Expr::Func { .. } | Expr::Case { .. } => x,
            _ => b::nested(x),
        })
    }
}

fn aggregate(func: AggFunc, x: sa::Expr) -> sa::Expr {
    match func {
        AggFunc::Count => b::function("COUNT", vec![x]),
        AggFunc::CountDistinct => b::function_with("COUNT", vec![x], true),
        AggFunc::Min => b::function("MIN", vec![x]),
        AggFunc::Max => b::function("MAX", vec![x]),
        AggFunc::Sum => b::function("SUM", vec![x]),
        AggFunc::Avg => b::function("AVG", vec![x]),
    }
}

fn and_all(preds: Vec<sa::Expr>) -> sa::Expr {
    chain(preds, BinaryOperator::And)
        .unwrap_or_else(|| b::binary(b::number(1), BinaryOperator::Eq, b::number(1)))
}

/// `a OP b OP c …`. SQL reads such a chain as a left-deep tree, and databases limit how
/// deep an expression may be (SQLite: 1,000): a long chain is written as a balanced tree
/// of parenthesised halves instead, `(a OP b …) OP (… OP z)`, as deep as its logarithm.
fn chain(mut items: Vec<sa::Expr>, op: BinaryOperator) -> Option<sa::Expr> {
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

/// The body of a query for use in a set operation (a query with clauses is nested).
fn query_body(q: sa::Query) -> SetExpr {
    if q.with.is_none() && q.order_by.is_none() && q.limit_clause.is_none() {
        *q.body
    } else {
        SetExpr::Query(Box::new(q))
    }
}
