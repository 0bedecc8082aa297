//! An operator tree folded into SELECT blocks: as few as SQL allows (a filter after a
//! projection is substituted into the projection's source columns, a LIMIT under anything
//! else becomes a derived table).

use crate::diag::Diagnostic;
use crate::ir::{AggFunc, Expr, Literal, Plan, Program, RelId};

use super::super::dialect::Dialect;

/// A SELECT block under construction.
#[derive(Debug, Clone)]
pub(super) struct Block<'p> {
    pub(super) from: From<'p>,
    pub(super) filter: Vec<Expr>,
    pub(super) project: Option<Vec<(String, Expr)>>,
    pub(super) distinct: bool,
    pub(super) order: Vec<(Expr, bool)>,
    pub(super) limit: Option<u64>,
    pub(super) offset: u64,
    /// GROUP BY: `project` holds the keys (grouped by), these the aggregates after them.
    pub(super) group: Option<Vec<(String, AggFunc, Expr)>>,
}

#[derive(Debug, Clone)]
pub(super) enum From<'p> {
    Table(String),
    Rel(RelId),
    Sub(Box<Block<'p>>),
    Union(Vec<Block<'p>>),
    /// Inline rows, borrowed from the plan (they may be a million: never copied).
    Values(&'p [Vec<Literal>]),
    /// No rows at all (an empty NEW).
    Nothing,
    /// `left JOIN right ON l = r AND …` (column names of the two sides are disjoint).
    Join(Box<Block<'p>>, Box<Block<'p>>, Vec<(String, String)>),
}

impl<'p> Block<'p> {
    pub(super) fn from(from: From<'p>) -> Block<'p> {
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

    pub(super) fn limited(&self) -> bool {
        self.limit.is_some() || self.offset > 0
    }

    /// Whether anything but a plain `SELECT … FROM … WHERE …` must happen first.
    pub(super) fn closed(&self) -> bool {
        self.distinct || self.limited() || self.group.is_some()
    }

    /// This block as a derived table of a new one. An order over output names (after
    /// DISTINCT or GROUP BY) moves out, so the rows stay ordered.
    pub(super) fn wrap(mut self) -> Block<'p> {
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
    pub(super) fn substitute(&self, e: &Expr) -> Expr {
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

pub(super) fn fold<'p>(
    program: &'p Program,
    plan: &'p Plan,
    dialect: &Dialect,
) -> Result<Block<'p>, Diagnostic> {
    Ok(match plan {
        Plan::Scan { source } => Block::from(From::Table(program.sources[*source].table.clone())),
        Plan::Rel(id) => Block::from(From::Rel(*id)),
        Plan::Values { columns, rows } => {
            let mut blk = Block::from(if rows.is_empty() {
                From::Nothing
            } else {
                From::Values(rows)
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
pub(super) fn fold_aggregate<'p>(
    program: &'p Program,
    input: &'p Plan,
    keys: &[(String, Expr)],
    aggs: &[(String, AggFunc, Expr)],
    dialect: &Dialect,
) -> Result<Block<'p>, Diagnostic> {
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
