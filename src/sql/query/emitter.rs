//! One statement: a CTE for every relation it reads, then its own plan, each folded
//! into SELECT blocks and written as sqlparser queries.

use crate::fxhash::{FxHashMap, FxHashSet};
use sqlparser::ast::{self as sa, BinaryOperator, SetExpr};

use crate::diag::{Code, Diagnostic};
use crate::ir::{AggFunc, Expr, Func, Literal, Plan, Program, RelId};
use crate::opt::{self, Need};

use super::super::builders as b;
use super::super::dialect::{Dialect, ValuesStyle};
use super::super::table_name;
use super::block::{fold, Block, From};
use super::expr::{aggregate, and_all};
use super::limit::limit;
use super::semijoin::{blk_has_tuple_in, semijoin_targets};
use super::{LiteralMode, SqlStatement};

/// A query as SQL text, pretty-printed.
fn sql_text(q: &sa::Query) -> String {
    use std::fmt::Write;
    // A query statement prints as its query does; most take a few kilobytes.
    let mut sql = String::with_capacity(4096);
    // A String takes every write; sqlparser's printing only passes on the writer's errors.
    write!(sql, "{q:#}").expect("printing a query into a String");
    // A session may hold many short statements: none keeps most of the buffer unused.
    let mut sql = b::restore_line_breaks(sql);
    if sql.capacity() > 2 * sql.len() {
        sql.shrink_to_fit();
    }
    sql
}

pub(super) struct Emitter<'a> {
    pub(super) program: &'a Program,
    pub(super) dialect: &'a Dialect,
    pub(super) mode: LiteralMode,
    pub(super) params: Vec<Literal>,
    /// Where each value is in `params` (dialects that reuse a placeholder for equal values).
    pub(super) param_index: crate::ir::LiteralIndex,
    pub(super) aliases: usize,
    /// Run the optimiser's passes on each statement's plans.
    pub(super) optimise: bool,
    /// Each relation's plan as this statement reads it (pruned to what it uses).
    pub(super) plans: FxHashMap<RelId, Plan>,
    /// The next block emitted is the statement's own (its ORDER BY is kept even where
    /// the dialect allows none in subqueries).
    pub(super) keep_order: bool,
    /// The alias of the current block's FROM, where an EXISTS rewrite refers to it.
    pub(super) outer_alias: Option<sa::Ident>,
    /// Columns are written `alias.column` (inside an EXISTS rewrite).
    pub(super) qualify: Option<sa::Ident>,
    /// The program's tables' names (their last parts, lower case): a CTE of that name
    /// would hide the table from the statement ([`Emitter::rel_name`]). Without the
    /// tables kestrel makes (`kestrel_…`: kept variables, shipped rows), of which a long
    /// session has thousands; [`Emitter::is_table`] looks those up only for a name with
    /// their prefix.
    tables: FxHashSet<String>,
}

impl<'a> Emitter<'a> {
    pub(super) fn new(
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
            param_index: Default::default(),
            aliases: 0,
            optimise,
            plans: FxHashMap::default(),
            keep_order: false,
            outer_alias: None,
            qualify: None,
            tables: program
                .sources
                .iter()
                .filter(|src| !table_name::made_by_kestrel(&src.table))
                .map(|src| table_name::last_part(&src.table).to_lowercase())
                .filter(|t| !t.starts_with(table_name::MADE_PREFIX))
                .collect(),
        }
    }

    /// The name relation `id` goes by in a statement (its CTE's): the relation's own,
    /// unless a table the program reads has it (`iocs = GET … FROM x://iocs`), where the
    /// CTE would hide the table from every query in the statement; then the first of
    /// `name_rel`, `name_rel_`, … that neither a table nor another relation has.
    pub(super) fn rel_name(&self, id: RelId) -> String {
        let name = &self.program.rel(id).name;
        if !self.is_table(&name.to_lowercase()) {
            return name.clone();
        }
        let mut alt = format!("{name}_rel");
        while self.is_table(&alt.to_lowercase())
            || self
                .program
                .relations
                .iter()
                .any(|r| r.name.eq_ignore_ascii_case(&alt))
        {
            alt.push('_');
        }
        alt
    }

    /// Whether a table the program reads has the (lower-case) name `lower`.
    fn is_table(&self, lower: &str) -> bool {
        self.tables.contains(lower)
            || (lower.starts_with(table_name::MADE_PREFIX)
                && self
                    .program
                    .sources
                    .iter()
                    .any(|src| table_name::last_part(&src.table).to_lowercase() == lower))
    }

    pub(super) fn finish(self, q: sa::Query) -> SqlStatement {
        SqlStatement {
            sql: sql_text(&q),
            params: self.params,
        }
    }

    /// [`Emitter::finish`] for one of several statements over the same parameters.
    pub(super) fn render(&self, q: &sa::Query) -> SqlStatement {
        SqlStatement {
            sql: sql_text(q),
            params: self.params.clone(),
        }
    }

    /// A statement: CTEs for every relation `plan` reads, then `plan` itself, optionally
    /// wrapped by `top` (counts, statistics).
    pub(super) fn statement(
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
            ctes.push((
                b::ident(self.dialect, &self.rel_name(id)),
                body,
                probed.contains(&id),
            ));
        }
        self.keep_order = keep_order;
        let body = self.plan_query(plan)?;
        let mut q = top(self, body)?;
        if !ctes.is_empty() {
            q.with = Some(b::with_materialized(ctes));
        }
        Ok(q)
    }

    pub(super) fn plan_query(&mut self, plan: &Plan) -> Result<sa::Query, Diagnostic> {
        let blk = fold(self.program, plan, self.dialect)?;
        self.block(blk)
    }

    pub(super) fn alias(&mut self) -> sa::Ident {
        self.aliases += 1;
        b::ident(self.dialect, &format!("t{}", self.aliases))
    }

    pub(super) fn block(&mut self, blk: Block<'_>) -> Result<sa::Query, Diagnostic> {
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
                Some(b::source_table_as(d, &t, from_alias.clone()))
            }
            From::Rel(id) => {
                from_alias = needs_alias.then(|| self.alias());
                let name = self.rel_name(id);
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
                let q = match self.rows_parameter(rows)? {
                    Some(q) => q,
                    None => self.values(rows)?,
                };
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
    pub(super) fn block_body(
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
                let mut items = Vec::with_capacity(cols.len());
                for (name, e) in cols {
                    // A tally grouped by counts each row once, as a key; selected too,
                    // it would count once more per group.
                    if group.is_some()
                        && matches!(
                            e,
                            Expr::Func {
                                func: Func::Tally,
                                ..
                            }
                        )
                    {
                        continue;
                    }
                    // A grouping set of its own is selected as its flag.
                    if let (
                        Some(_),
                        Expr::Func {
                            func: Func::GroupingSet,
                            args,
                        },
                    ) = (&group, e)
                    {
                        let flag = args.first().ok_or_else(|| {
                            Diagnostic::internal("a grouping set without its flag")
                        })?;
                        let flag = self.expr(flag)?;
                        items.push(b::select_item(flag, Some(b::ident(d, name))));
                        continue;
                    }
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
            // Keys that are grouping sets of their own (see `Func::GroupingSet`): the
            // other keys are one set, each of these another.
            let mut sets = Vec::new();
            for (_, e) in project.iter().flatten() {
                match e {
                    Expr::Func {
                        func: Func::GroupingSet,
                        args,
                    } => {
                        let mut set = Vec::with_capacity(args.len());
                        for a in args {
                            set.push(self.expr(a)?);
                        }
                        sets.push(set);
                    }
                    e => group_by.push(self.expr(e)?),
                }
            }
            if !sets.is_empty() {
                if !d.grouping_sets {
                    return Err(Diagnostic::internal(
                        "grouping sets on a dialect without them",
                    ));
                }
                sets.insert(0, std::mem::take(&mut group_by));
                group_by.push(sa::Expr::GroupingSets(sets));
            }
            if project.as_ref().is_some_and(|p| p.is_empty()) {
                projection.clear();
            }
            for (name, func, e) in aggs {
                let x = self.expr(e)?;
                projection.push(b::select_item(aggregate(*func, x), Some(b::ident(d, name))));
            }
        }
        let mut filter = filter;
        let semijoin = |e: &Expr| matches!(e, Expr::InRel { negated: false, .. });
        let has_semijoin = || {
            filter.iter().any(|f| match f {
                Expr::And(terms) => terms.iter().any(semijoin),
                f => semijoin(f),
            })
        };
        if d.where_terms_in_order && has_semijoin() {
            let terms: Vec<Expr> = filter
                .iter()
                .flat_map(|f| match f {
                    Expr::And(terms) => terms.clone(),
                    f => vec![f.clone()],
                })
                .collect();
            if terms.iter().skip(1).any(semijoin) {
                let (mut first, rest): (Vec<Expr>, Vec<Expr>) =
                    terms.into_iter().partition(|t| semijoin(t));
                first.extend(rest);
                filter = first;
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
    pub(super) fn values(&mut self, rows: &[Vec<Literal>]) -> Result<sa::Query, Diagnostic> {
        let d = self.dialect;
        let mut out = Vec::new();
        for row in rows {
            let mut cells = Vec::new();
            for l in row {
                let x = self.literal(l);
                cells.push(match (l, d.typed_values) {
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
    pub(super) fn factor(&mut self, blk: Block<'_>) -> Result<sa::TableFactor, Diagnostic> {
        let plain =
            blk.filter.is_empty() && blk.project.is_none() && blk.order.is_empty() && !blk.closed();
        if let (true, From::Rel(id)) = (plain, &blk.from) {
            return Ok(b::table(self.dialect, &self.rel_name(*id)));
        }
        let q = self.block(blk)?;
        let alias = self.alias();
        Ok(b::derived(q, alias))
    }
}

/// The body of a query for use in a set operation (a query with clauses is nested).
pub(super) fn query_body(q: sa::Query) -> SetExpr {
    if q.with.is_none() && q.order_by.is_none() && q.limit_clause.is_none() {
        *q.body
    } else {
        SetExpr::Query(Box::new(q))
    }
}
