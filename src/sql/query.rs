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
//!
//! What differs between engines is asked of the [`Dialect`], never by name: limits
//! (`LIMIT/OFFSET`, `TOP`, `OFFSET … FETCH`), LIKE (ILIKE, ESCAPE, collations), MATCHES
//! (`REGEXP`, `~`, or an error), collations that make `=` exact, tuple IN or an
//! `EXISTS` rewrite, inline rows, basename/dirname, timestamp literals, placeholders.

use crate::fxhash::{FxHashMap, FxHashSet};
use sqlparser::ast::{self as sa, BinaryOperator, SelectItem, SetExpr};

use crate::diag::{Code, Diagnostic};

use crate::ir::{AggFunc, CmpOp, Expr, Func, Literal, Plan, Program, RelId};
use crate::opt::{self, Need};

use super::builders as b;
use super::dialect::{
    BasenameStyle, BooleanStyle, Dialect, LikeStyle, LimitStyle, RegexStyle, TimeBinStyle,
    TimestampStyle, ValuesStyle,
};
use super::like_regex::like_pieces_to_regex;

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
    let mut e = Emitter::new(program, dialect, mode, optimise);
    e.keep_order = true;
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
    let mut e = Emitter::new(program, dialect, mode, optimise);
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

/// The statements DESCRIBE runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeSql {
    /// count, unique, min, max
    pub stats: SqlStatement,
    /// mean, run only when min and max are numbers (AVG of text fails on most servers)
    pub mean: SqlStatement,
    /// the most frequent value and its frequency
    pub top: SqlStatement,
}

/// Statistics of one column of `plan`: count, unique, min, max; the mean; the most
/// frequent value with its frequency.
pub fn emit_describe(
    program: &Program,
    plan: &Plan,
    column: &str,
    dialect: &Dialect,
    mode: LiteralMode,
) -> Result<DescribeSql, Diagnostic> {
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
) -> Result<DescribeSql, Diagnostic> {
    // The three statements read the same rows: their CTEs and parameters are built once.
    let mut e = Emitter::new(program, dialect, mode, optimise);
    let mut rows = e.statement(plan, Need::Cols(vec![column.to_string()]), |_, body| {
        Ok(body)
    })?;
    let with = rows.with.take();
    let d = dialect;
    let col = || b::column(d, column);
    let over_rows = |items: Vec<sa::SelectItem>, filter: Option<sa::Expr>, group: Vec<sa::Expr>| {
        b::query(SetExpr::Select(Box::new(b::select(
            items,
            Some(b::derived(rows.clone(), b::ident(d, "d"))),
            filter,
            false,
            group,
        ))))
    };
    let stats = over_rows(
        vec![
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
        ],
        None,
        vec![],
    );
    // A float average everywhere (AVG of integers is DECIMAL on MySQL, NUMERIC on
    // PostgreSQL, integer on MS SQL Server).
    let mean = over_rows(
        vec![b::select_item(
            b::function("AVG", vec![b::cast(col(), &d.float_type)]),
            Some(b::ident(d, "mean")),
        )],
        None,
        vec![],
    );
    let mut top = over_rows(
        vec![
            b::select_item(col(), Some(b::ident(d, "top"))),
            b::select_item(b::count_star(), Some(b::ident(d, "freq"))),
        ],
        Some(sa::Expr::IsNotNull(Box::new(col()))),
        vec![col()],
    );
    top.order_by = Some(b::order_by(vec![
        (b::column(d, "freq"), true),
        (b::column(d, "top"), false),
    ]));
    limit(d, &mut top, Some(1), 0);
    let [stats, mean, top] = [stats, mean, top].map(|mut q| {
        q.with = with.clone();
        e.render(q)
    });
    Ok(DescribeSql { stats, mean, top })
}

/// A query as SQL text, pretty-printed.
fn sql_text(q: sa::Query) -> String {
    b::restore_line_breaks(format!("{:#}", sa::Statement::Query(Box::new(q))))
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
    plans: FxHashMap<RelId, Plan>,
    /// The next block emitted is the statement's own (its ORDER BY is kept even where
    /// the dialect allows none in subqueries).
    keep_order: bool,
    /// The alias of the current block's FROM, where an EXISTS rewrite refers to it.
    outer_alias: Option<sa::Ident>,
    /// Columns are written `alias.column` (inside an EXISTS rewrite).
    qualify: Option<sa::Ident>,
}

impl<'a> Emitter<'a> {
    fn new(
        program: &'a Program,
        dialect: &'a Dialect,
        mode: LiteralMode,
        optimise: bool,
    ) -> Emitter<'a> {
        Emitter {
            program,
            dialect,
            mode,
            params: Vec::new(),
            aliases: 0,
            optimise,
            plans: FxHashMap::default(),
            keep_order: false,
            outer_alias: None,
            qualify: None,
        }
    }

    fn finish(self, q: sa::Query) -> SqlStatement {
        SqlStatement {
            sql: sql_text(q),
            params: self.params,
        }
    }

    /// [`Emitter::finish`] for one of several statements over the same parameters.
    fn render(&self, q: sa::Query) -> SqlStatement {
        SqlStatement {
            sql: sql_text(q),
            params: self.params.clone(),
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
        let keep_order = std::mem::replace(&mut self.keep_order, false);
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
        // Relations a semi-join probes: materialised where the dialect says it pays.
        let mut probed = FxHashSet::default();
        if self.dialect.materialize_semijoin_ctes {
            semijoin_targets(plan, &mut probed);
            for id in &order {
                let p = self.plans.get(id).unwrap_or(&self.program.rel(*id).plan);
                semijoin_targets(p, &mut probed);
            }
        }
        let mut ctes = Vec::new();
        for id in order {
            let r = self.program.rel(id);
            // What a dialect cannot say points at the statement that made the variable.
            let plan = self.plans.remove(&id);
            let body = self
                .plan_query(plan.as_ref().unwrap_or(&r.plan))
                .map_err(|d| match d.span {
                    Some(_) => d,
                    None => d.at(r.span),
                })?;
            ctes.push((b::ident(self.dialect, &r.name), body, probed.contains(&id)));
        }
        self.keep_order = keep_order;
        let body = self.plan_query(plan)?;
        let mut q = top(self, body)?;
        if !ctes.is_empty() {
            q.with = Some(b::with_materialized(ctes));
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
        let keep_order = std::mem::replace(&mut self.keep_order, false);
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
        // An EXISTS rewrite of a tuple IN refers to this block's rows by an alias.
        let needs_alias = !d.supports_tuple_in && blk_has_tuple_in(&blk);
        let mut from_alias = None;
        let mut join = None;
        let from = match blk.from {
            From::Table(t) => {
                from_alias = needs_alias.then(|| self.alias());
                Some(b::table_as(d, &t, from_alias.clone()))
            }
            From::Rel(id) => {
                from_alias = needs_alias.then(|| self.alias());
                let name = self.program.rel(id).name.clone();
                Some(b::table_as(d, &name, from_alias.clone()))
            }
            From::Sub(inner) => {
                let q = self.block(*inner)?;
                let alias = self.alias();
                from_alias = Some(alias.clone());
                Some(b::derived(q, alias))
            }
            From::Union(parts) => {
                let inner = Block::from(From::Union(parts));
                let q = self.block(inner)?;
                let alias = self.alias();
                from_alias = Some(alias.clone());
                Some(b::derived(q, alias))
            }
            From::Values(rows) => {
                let q = self.values(rows)?;
                let alias = self.alias();
                from_alias = Some(alias.clone());
                Some(b::derived(q, alias))
            }
            From::Nothing => None,
            From::Join(left, right, on) => {
                join = Some((self.factor(*right)?, on));
                Some(self.factor(*left)?)
            }
        };
        let saved_alias = std::mem::replace(&mut self.outer_alias, from_alias);
        let result = self.block_body(
            blk.project,
            blk.filter,
            blk.distinct,
            blk.order,
            blk.group,
            from,
        );
        self.outer_alias = saved_alias;
        let (mut select, order) = result?;
        if let Some((right, on)) = join {
            let conds = on
                .iter()
                .map(|(l, r)| {
                    let r = self.compared_value(b::column(d, r));
                    b::binary(b::column(d, l), BinaryOperator::Eq, r)
                })
                .collect();
            b::inner_join(&mut select, right, and_all(conds));
        }
        let mut q = b::query(SetExpr::Select(Box::new(select)));
        // T-SQL refuses ORDER BY in CTEs and derived tables unless TOP/OFFSET needs it.
        if !order.is_empty() && (keep_order || limited || d.order_by_in_subquery) {
            q.order_by = Some(b::order_by(order));
        }
        if limited {
            limit(d, &mut q, blk.limit, blk.offset);
        }
        Ok(q)
    }

    /// The SELECT of a block and its ORDER BY keys.
    fn block_body(
        &mut self,
        project: Option<Vec<(String, Expr)>>,
        filter: Vec<Expr>,
        distinct: bool,
        order: Vec<(Expr, bool)>,
        group: Option<Vec<(String, AggFunc, Expr)>>,
        from: Option<sa::TableFactor>,
    ) -> Result<(sa::Select, Vec<(sa::Expr, bool)>), Diagnostic> {
        let d = self.dialect;
        let mut projection = match &project {
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
        if let Some(aggs) = &group {
            for (_, e) in project.iter().flatten() {
                group_by.push(self.expr(e)?);
            }
            if project.as_ref().is_some_and(|p| p.is_empty()) {
                projection.clear();
            }
            for (name, func, e) in aggs {
                let x = self.expr(e)?;
                projection.push(b::select_item(aggregate(*func, x), Some(b::ident(d, name))));
            }
        }
        let mut preds = Vec::new();
        let several = filter.len() > 1;
        for f in &filter {
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
        let select = b::select(projection, from, selection, distinct, group_by);
        let mut keys = Vec::new();
        for (e, desc) in &order {
            keys.push((self.expr(e)?, *desc));
        }
        Ok((select, keys))
    }

    /// Inline rows, as the dialect writes a table of literals.
    fn values(&mut self, rows: Vec<Vec<Literal>>) -> Result<sa::Query, Diagnostic> {
        let d = self.dialect;
        let mut out = Vec::new();
        for row in rows {
            let mut cells = Vec::new();
            for l in row {
                let x = self.literal(&l);
                cells.push(match (&l, d.typed_values) {
                    (Literal::Int(_), true) => b::cast(x, "BIGINT"),
                    (Literal::Float(_), true) => b::cast(x, &d.float_type),
                    // 0/1, as booleans are on SQLite and MySQL (and in ingested tables).
                    (Literal::Bool(_), true) => b::cast(x, "INTEGER"),
                    _ => x,
                });
            }
            out.push(cells);
        }
        Ok(match d.values_style {
            ValuesStyle::Values => b::query(b::values(out)),
            ValuesStyle::UnionSelect => {
                let mut selects = out.into_iter().enumerate().map(|(r, cells)| {
                    let items = cells
                        .into_iter()
                        .enumerate()
                        .map(|(i, c)| {
                            // The first SELECT names the columns as VALUES would.
                            let alias = (r == 0).then(|| {
                                b::ident(d, &format!("{}{}", d.values_column_prefix, i + 1))
                            });
                            b::select_item(c, alias)
                        })
                        .collect();
                    SetExpr::Select(Box::new(b::select(items, None, None, false, vec![])))
                });
                let first = selects
                    .next()
                    .ok_or_else(|| Diagnostic::internal("VALUES without rows"))?;
                b::query(selects.fold(first, b::union_all))
            }
        })
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
            // TRUE/FALSE carry no user text, and a bound one has no type where the server
            // infers placeholders' types (PostgreSQL: `CASE … THEN $1` would be text).
            (_, Literal::Bool(v)) => self.boolean(*v),
            (LiteralMode::Bind, l) => {
                // SQL Server takes at most 2,100 parameters; the class conditions of a
                // mapping repeat the same few values hundreds of times.
                if self.dialect.reuse_parameters {
                    if let Some(i) = self.params.iter().position(|p| p == l) {
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
    fn text(&self, s: &str) -> sa::Expr {
        if self.dialect.string_backslash_escape {
            b::string(&s.replace('\\', "\\\\"))
        } else {
            b::string(s)
        }
    }

    /// A literal that is compared with a column: strings carry the dialect's exact
    /// collation, so `=` and IN are case-sensitive whatever the column's collation.
    fn compared_literal(&mut self, l: &Literal) -> sa::Expr {
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
    fn compared_value(&self, x: sa::Expr) -> sa::Expr {
        match &self.dialect.exact_cast {
            Some(t) => b::cast(x, t),
            None => x,
        }
    }

    /// `x [NOT] LIKE p`: ASCII case-insensitive, `%` and `_` the only special characters
    /// (unless escaped by `escape`, see [`crate::ir::like_pieces`]).
    fn like(
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
        })
    }

    /// `x [NOT] MATCHES p`: a case-sensitive search unless `p` starts with `(?i)`.
    fn regex(&mut self, expr: &Expr, pattern: &str, negated: bool) -> Result<sa::Expr, Diagnostic> {
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

    /// `(a, b) [NOT] IN (SELECT c, d FROM rel)` where the dialect has no tuple IN:
    /// `[NOT] EXISTS (SELECT 1 FROM rel AS k WHERE k.c = o.a AND k.d = o.b)`, with
    /// `a`, `b` not NULL under NOT (as NOT IN is never true for a NULL).
    fn exists_rewrite(
        &mut self,
        exprs: &[Expr],
        rel: RelId,
        cols: &[String],
        negated: bool,
    ) -> Result<sa::Expr, Diagnostic> {
        let d = self.dialect;
        let outer = self
            .outer_alias
            .clone()
            .ok_or_else(|| Diagnostic::internal("a tuple IN outside a block with rows"))?;
        let inner = self.alias();
        let name = self.program.rel(rel).name.clone();
        let saved = self.qualify.replace(outer);
        let mut outer_exprs = Vec::new();
        let mut err = None;
        for x in exprs {
            match self.operand(x) {
                Ok(e) => outer_exprs.push(e),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        self.qualify = saved;
        if let Some(e) = err {
            return Err(e);
        }
        let mut conds = Vec::new();
        for (c, o) in cols.iter().zip(outer_exprs.iter()) {
            let k = self.compared_value(b::qualified(&inner, b::ident(d, c)));
            conds.push(b::binary(k, BinaryOperator::Eq, o.clone()));
        }
        let sub = b::query(SetExpr::Select(Box::new(b::select(
            vec![b::select_item(b::number(1), None)],
            Some(b::table_as(d, &name, Some(inner))),
            Some(and_all(conds)),
            false,
            vec![],
        ))));
        let ex = b::exists(sub, negated);
        if !negated {
            return Ok(ex);
        }
        let mut parts = vec![ex];
        parts.extend(
            outer_exprs
                .into_iter()
                .map(|o| sa::Expr::IsNotNull(Box::new(o))),
        );
        Ok(b::nested(and_all(parts)))
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
                let name = self.program.rel(*rel).name.clone();
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
                            Func::BinNumber | Func::BinTime => {
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
                            Func::BinNumber | Func::BinTime => {
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

    /// An operand of `=`, `<`…: a string literal carries the exact collation.
    fn cmp_operand(&mut self, e: &Expr) -> Result<sa::Expr, Diagnostic> {
        match e {
            Expr::Lit(l) => Ok(self.compared_literal(l)),
            e => self.operand(e),
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

/// LIMIT/OFFSET as the dialect writes it.
fn limit(d: &Dialect, q: &mut sa::Query, limit: Option<u64>, offset: u64) {
    match d.limit_style {
        LimitStyle::LimitOffset => {
            let n = match limit {
                Some(n) => Some(b::number(n)),
                None => d.unbounded_limit.as_ref().map(b::number),
            };
            q.limit_clause = Some(b::limit_offset(n, (offset > 0).then(|| b::number(offset))));
        }
        LimitStyle::TopOrOffsetFetch => {
            if offset == 0 {
                if let (Some(n), SetExpr::Select(select)) = (limit, q.body.as_mut()) {
                    select.top = Some(b::top(n));
                    return;
                }
            }
            // OFFSET needs an ORDER BY in T-SQL; without one, the first column's order
            // will do (an ordinal is allowed under DISTINCT, `(SELECT NULL)` is not).
            if q.order_by.is_none() {
                q.order_by = Some(b::order_by_plain(vec![b::number(1)]));
            }
            let (clause, fetch) = b::offset_fetch(offset, limit);
            q.limit_clause = Some(clause);
            q.fetch = fetch;
        }
    }
}

/// Whether a block's expressions hold an IN over several columns.
fn blk_has_tuple_in(blk: &Block) -> bool {
    let mut found = false;
    let mut check = |e: &Expr| {
        e.walk(&mut |x| {
            if let Expr::InRel { exprs, .. } = x {
                found |= exprs.len() > 1;
            }
        })
    };
    blk.filter.iter().for_each(&mut check);
    if let Some(cols) = &blk.project {
        cols.iter().for_each(|(_, e)| check(e));
    }
    blk.order.iter().for_each(|(e, _)| check(e));
    found
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

/// Relations `plan` probes with `… IN (SELECT … FROM rel)`.
/// Relations a tuple semi-join (`(a, b) IN (SELECT …)`) probes. SQLite evaluates such a
/// subquery twice (once to drive an index on the first column, once to check the tuple),
/// so a chain of them costs 2^depth unless each step is materialised; a one-column `IN`
/// is evaluated once, and materialising it would only copy the rows.
fn semijoin_targets(plan: &Plan, out: &mut FxHashSet<RelId>) {
    plan.for_each_expr(&mut |e| {
        e.walk(&mut |x| {
            if let Expr::InRel { rel, exprs, .. } = x {
                if exprs.len() > 1 {
                    out.insert(*rel);
                }
            }
        })
    });
}

#[cfg(test)]
mod tests {
    //! Dialect-specific shapes no hunt in `tests/hunts` reaches without a database
    //! catalog (timestamps) or that are worth pinning one by one.

    use super::*;
    use crate::ir::{DataSource, SortKey};

    fn program() -> Program {
        Program {
            sources: vec![DataSource {
                name: "events".into(),
                uri: "x://events".into(),
                table: "events".into(),
                connection: None,
                timestamp: Some("ts".into()),
                timestamp_format: "%Y".into(),
                mapping: "ecs".into(),
            }],
            relations: vec![],
            outputs: vec![],
        }
    }

    fn scan() -> Plan {
        Plan::Scan { source: 0 }
    }

    fn sql(dialect: &str, plan: &Plan) -> String {
        let d = Dialect::builtin(dialect).expect("dialect");
        let st = emit_plan(&program(), plan, &d, LiteralMode::Inline).expect("emits");
        let parser: Box<dyn sqlparser::dialect::Dialect> = match dialect {
            "postgres" => Box::new(sqlparser::dialect::PostgreSqlDialect {}),
            "mysql" => Box::new(sqlparser::dialect::MySqlDialect {}),
            "mssql" => Box::new(sqlparser::dialect::MsSqlDialect {}),
            _ => Box::new(sqlparser::dialect::SQLiteDialect {}),
        };
        sqlparser::parser::Parser::parse_sql(parser.as_ref(), &st.sql)
            .unwrap_or_else(|e| panic!("{dialect}: {e}\n{}", st.sql));
        st.sql
    }

    #[test]
    fn timestamps_are_typed_literals_per_dialect() {
        let t = crate::lower::time::parse_iso("2021-05-06T07:08:09.5Z").unwrap();
        let plan = scan().filter(Expr::cmp(
            CmpOp::Ge,
            Expr::col("ts"),
            Expr::Lit(Literal::Timestamp(t)),
        ));
        assert!(sql("sqlite", &plan).contains(r#""ts" >= '2021-05-06 07:08:09.500000'"#));
        assert!(
            sql("postgres", &plan).contains(r#""ts" >= TIMESTAMP '2021-05-06 07:08:09.500000'"#)
        );
        assert!(sql("mysql", &plan).contains("`ts` >= TIMESTAMP '2021-05-06 07:08:09.500000'"));
        assert!(
            sql("mssql", &plan).contains("[ts] >= CAST('2021-05-06 07:08:09.500000' AS DATETIME2)")
        );
    }

    #[test]
    fn mssql_limits_are_top_or_offset_fetch() {
        let top = Plan::Limit {
            input: Box::new(scan()),
            limit: Some(5),
            offset: 0,
        };
        assert!(sql("mssql", &top).contains("SELECT TOP 5"));
        let page = Plan::Limit {
            input: Box::new(Plan::Sort {
                input: Box::new(scan()),
                keys: vec![SortKey {
                    expr: Expr::col("pid"),
                    desc: false,
                }],
            }),
            limit: None,
            offset: 7,
        };
        let s = sql("mssql", &page);
        assert!(s.contains("ORDER BY [pid] ASC OFFSET 7 ROWS"), "{s}");
        assert!(!s.contains("FETCH"), "{s}");
        assert!(sql("postgres", &page).ends_with("OFFSET 7"));
        assert!(sql("mysql", &page).contains("LIMIT 18446744073709551615 OFFSET 7"));
        assert!(sql("sqlite", &page).contains("LIMIT -1 OFFSET 7"));
    }

    #[test]
    fn like_patterns_are_escaped_for_each_engine() {
        let plan = scan().filter(Expr::Like {
            expr: Box::new(Expr::col("p")),
            pattern: r"%\a![b]_%".into(),
            negated: false,
            escape: None,
        });
        assert!(sql("sqlite", &plan).contains(r#""p" LIKE '%\a![b]_%'"#));
        // ucs_basic: only ASCII letters have case (the database's collation folds é too).
        assert!(sql("postgres", &plan)
            .contains(r#"CAST("p" AS TEXT) ILIKE '%\a![b]_%' COLLATE ucs_basic ESCAPE ''"#));
        // MySQL string literals escape backslash: the server reads one. The general_ci
        // LIKE narrows, the regex (ASCII letters either case, nothing else folded) decides.
        assert!(sql("mysql", &plan).contains(
            r"(`p` LIKE '%\\a!![b]_%' COLLATE utf8mb4_general_ci ESCAPE '!' AND `p` REGEXP '(?-i)(?s)\\A.*\\\\[aA]!\\[[bB]\\]..*\\z')"
        ));
        assert!(sql("mssql", &plan)
            .contains(r"[p] LIKE '%\a!!![b]_%' COLLATE Latin1_General_100_CI_AS ESCAPE '!'"));
    }

    #[test]
    fn mysql_compares_strings_and_reference_values_as_bytes() {
        let eq = scan().filter(Expr::cmp(
            CmpOp::Eq,
            Expr::col("n"),
            Expr::Lit(Literal::Str("a ".into())),
        ));
        // utf8mb4_bin would pad: 'a' = 'a ' there.
        assert!(sql("mysql", &eq).contains("`n` = CAST('a ' AS BINARY)"));
        assert!(sql("mssql", &eq).contains("[n] = 'a ' COLLATE Latin1_General_100_BIN2"));
        assert!(sql("postgres", &eq).contains(r#""n" = 'a '"#));
        // A reference: the values it compares with are cast (the column may not be text,
        // so no collation), the outer column stays bare for its index.
        let mut p = program();
        p.relations.push(crate::ir::Relation {
            name: "r".into(),
            var: "r".into(),
            entity: "process".into(),
            kind: crate::model::EntityKind::Entity,
            plan: scan(),
            columns: None,
            identity: vec![],
            source: Some(0),
            command: "get",
            depends_on: vec![],
            span: crate::source::Span { start: 0, end: 0 },
        });
        let refd = scan().filter(Expr::InRel {
            exprs: vec![Expr::col("n")],
            rel: RelId(0),
            cols: vec!["m".into()],
            negated: false,
        });
        let emit = |name: &str| {
            let d = Dialect::builtin(name).unwrap();
            emit_plan(&p, &refd, &d, LiteralMode::Inline).unwrap().sql
        };
        assert!(
            emit("mysql").contains("`n` IN (SELECT CAST(`m` AS BINARY) FROM `r`)"),
            "{}",
            emit("mysql")
        );
        assert!(emit("postgres").contains(r#""n" IN (SELECT "m" FROM "r")"#));
    }

    #[test]
    fn matches_is_case_sensitive_unless_i_and_refused_on_mssql() {
        let re = |p: &str| {
            scan().filter(Expr::Regex {
                expr: Box::new(Expr::col("n")),
                pattern: p.into(),
                negated: true,
            })
        };
        assert!(sql("postgres", &re("^a")).contains(r#"CAST("n" AS TEXT) !~ '^a'"#));
        assert!(sql("mysql", &re("^a")).contains("`n` NOT REGEXP '(?-i)^a'"));
        assert!(sql("mysql", &re("(?i)^a")).contains("`n` NOT REGEXP '(?i)^a'"));
        let d = Dialect::builtin("mssql").unwrap();
        let err = emit_plan(&program(), &re("^a"), &d, LiteralMode::Inline).unwrap_err();
        assert_eq!(err.code, Code::Unsupported);
    }

    #[test]
    fn mssql_drops_order_by_only_where_no_row_limit_needs_it() {
        let sorted = Plan::Sort {
            input: Box::new(scan()),
            keys: vec![SortKey {
                expr: Expr::col("pid"),
                desc: true,
            }],
        };
        // The statement's own ORDER BY stays.
        assert!(sql("mssql", &sorted).contains("ORDER BY [pid] DESC"));
        // In a CTE, T-SQL allows it only with TOP/OFFSET: dropped there, kept elsewhere.
        let mut p = program();
        p.relations.push(crate::ir::Relation {
            name: "s".into(),
            var: "s".into(),
            entity: "process".into(),
            kind: crate::model::EntityKind::Entity,
            plan: sorted,
            columns: None,
            identity: vec![],
            source: Some(0),
            command: "sort",
            depends_on: vec![],
            span: crate::source::Span { start: 0, end: 0 },
        });
        let out = Plan::Rel(RelId(0));
        let emit = |p: &Program, name: &str| {
            let d = Dialect::builtin(name).unwrap();
            emit_plan(p, &out, &d, LiteralMode::Inline).unwrap().sql
        };
        assert!(
            !emit(&p, "mssql").contains("ORDER BY"),
            "{}",
            emit(&p, "mssql")
        );
        assert!(emit(&p, "postgres").contains("ORDER BY"));
        let sorted = p.relations[0].plan.clone();
        p.relations[0].plan = Plan::Limit {
            input: Box::new(sorted),
            limit: Some(2),
            offset: 0,
        };
        let s = emit(&p, "mssql");
        assert!(
            s.contains("SELECT TOP 2") && s.contains("ORDER BY [pid] DESC"),
            "{s}"
        );
    }
}
