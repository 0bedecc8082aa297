//! The statements a hunt runs: a plan's rows, a variable's counts, DESCRIBE's statistics.

use sqlparser::ast::{self as sa, SelectItem, SetExpr};

use crate::diag::Diagnostic;
use crate::ir::{Plan, Program, RelId};
use crate::opt::Need;

use super::super::builders as b;
use super::super::dialect::Dialect;
use super::emitter::Emitter;
use super::expr::and_all;
use super::limit::limit;
use super::{LiteralMode, SqlStatement};

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
    let name = e.rel_name(rel);
    let identity = r.identity.clone();
    let identity_alt = r.identity_alt.clone();
    let all_columns = r.columns.clone();
    // Counting entities reads only their identity; counting distinct rows reads them all.
    let need = if identity.is_empty() {
        Need::All
    } else {
        Need::Cols(identity.iter().chain(&identity_alt).cloned().collect())
    };
    let q = e.statement(&Plan::Rel(rel), need, |e, _| {
        let d = e.dialect;
        let not_null = |cols: &[String]| {
            and_all(
                cols.iter()
                    .map(|c| sa::Expr::IsNotNull(Box::new(b::column(d, c))))
                    .collect(),
            )
        };
        // Records whose identity is not whole (some identity column NULL).
        let not_whole = || {
            super::expr::chain(
                identity
                    .iter()
                    .map(|c| sa::Expr::IsNull(Box::new(b::column(d, c))))
                    .collect(),
                sa::BinaryOperator::Or,
            )
        };
        // `(SELECT COUNT(*) FROM (SELECT DISTINCT cols FROM rel WHERE …) e)`
        let distinct_count = |cols: Vec<SelectItem>, filter: Option<sa::Expr>| {
            let inner = b::query(SetExpr::Select(Box::new(b::select(
                cols,
                Some(b::table(d, &name)),
                filter,
                true,
                vec![],
            ))));
            sa::Expr::Subquery(Box::new(b::query(SetExpr::Select(Box::new(b::select(
                vec![b::select_item(b::count_star(), None)],
                Some(b::derived(inner, b::ident(d, "e"))),
                None,
                false,
                vec![],
            ))))))
        };
        let items = |cols: &[String]| -> Vec<SelectItem> {
            cols.iter()
                .map(|c| b::select_item(b::column(d, c), None))
                .collect()
        };
        // Entities: distinct identities, or distinct rows when the type has none; records
        // whose identity is not whole (a connection without ports) count once per own id.
        // One identity column: counted in the same scan as the records, so a relation
        // that is a CTE is computed once, not once per count. `COUNT(DISTINCT u)` skips
        // NULLs as `WHERE u IS NOT NULL` does.
        if let (true, None, [u], []) = (
            d.distinct_count_by_group,
            &d.distinct_count_function,
            &identity[..],
            &identity_alt[..],
        ) {
            // `SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), COUNT(u) FROM (SELECT u,
            // COUNT(*) AS n FROM rel GROUP BY u) e`: the NULL group's rows are records,
            // not an entity.
            let n = b::ident(d, if u == "n" { "m" } else { "n" });
            let inner = b::query(SetExpr::Select(Box::new(b::select(
                vec![
                    b::select_item(b::column(d, u), None),
                    b::select_item(b::count_star(), Some(n.clone())),
                ],
                Some(b::table(d, &name)),
                None,
                false,
                vec![b::column(d, u)],
            ))));
            let records = b::function(
                "COALESCE",
                vec![
                    b::function("SUM", vec![sa::Expr::Identifier(n)]),
                    b::number(0),
                ],
            );
            let select = b::select(
                vec![
                    b::select_item(b::cast(records, "BIGINT"), Some(b::ident(d, "records"))),
                    b::select_item(
                        b::function("COUNT", vec![b::column(d, u)]),
                        Some(b::ident(d, "entities")),
                    ),
                ],
                Some(b::derived(inner, b::ident(d, "e"))),
                None,
                false,
                vec![],
            );
            return Ok(b::query(SetExpr::Select(Box::new(select))));
        }
        let counted_in_process = d.distinct_count_function.as_deref().and_then(|f| {
            // `f(keep, c1, …)`: the distinct tuples of the rows where `keep` holds, NULL
            // equal to NULL as DISTINCT has it; every count in the one scan.
            let distinct = |keep: sa::Expr, cols: &[String]| {
                let mut args = vec![keep];
                args.extend(cols.iter().map(|c| b::column(d, c)));
                b::function(f, args)
            };
            if identity.is_empty() {
                let cols = all_columns.as_ref().filter(|c| !c.is_empty())?;
                return Some(distinct(b::number(1), cols));
            }
            let whole = distinct(not_null(&identity), &identity);
            if identity_alt.is_empty() {
                return Some(whole);
            }
            Some(b::binary(
                whole,
                sa::BinaryOperator::Plus,
                distinct(not_whole()?, &identity_alt),
            ))
        });
        let entities = if let Some(entities) = counted_in_process {
            entities
        } else if let ([u], []) = (&identity[..], &identity_alt[..]) {
            b::function_with("COUNT", vec![b::column(d, u)], true)
        } else if identity.is_empty() {
            let cols = match &all_columns {
                Some(cols) if !cols.is_empty() => items(cols),
                _ => vec![b::wildcard()],
            };
            distinct_count(cols, None)
        } else {
            let whole = distinct_count(items(&identity), Some(not_null(&identity)));
            if identity_alt.is_empty() {
                whole
            } else {
                // Every such record has its own id (GET and FIND keep no other).
                let rest = distinct_count(items(&identity_alt), not_whole().map(b::nested));
                b::binary(whole, sa::BinaryOperator::Plus, rest)
            }
        };
        let select = b::select(
            vec![
                b::select_item(b::count_star(), Some(b::ident(d, "records"))),
                b::select_item(entities, Some(b::ident(d, "entities"))),
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

/// `SELECT identity…, own id… FROM rel` (every column, for a type without identity):
/// the rows of `rel` as [`emit_counts`] counts them, for a client to count as they
/// stream ([`crate::backend::EntityCounter`], which takes the identity's length). With
/// `distinct`, `SELECT DISTINCT`: about the entities themselves, for a planner's estimate.
pub fn emit_entity_rows(
    program: &Program,
    rel: RelId,
    dialect: &Dialect,
    mode: LiteralMode,
    distinct: bool,
) -> Result<(SqlStatement, usize), Diagnostic> {
    let mut e = Emitter::new(program, dialect, mode, true);
    let r = program.rel(rel);
    let name = e.rel_name(rel);
    let cols: Vec<String> = if r.identity.is_empty() {
        r.columns.clone().unwrap_or_default()
    } else {
        r.identity.iter().chain(&r.identity_alt).cloned().collect()
    };
    if cols.is_empty() {
        return Err(Diagnostic::internal(format!(
            "`{}` has no columns to count its entities by",
            r.var
        )));
    }
    let need = Need::Cols(cols.clone());
    let q = e.statement(&Plan::Rel(rel), need, |e, _| {
        let d = e.dialect;
        let select = b::select(
            cols.iter()
                .map(|c| b::select_item(b::column(d, c), None))
                .collect(),
            Some(b::table(d, &name)),
            None,
            distinct,
            vec![],
        );
        Ok(b::query(SetExpr::Select(Box::new(select))))
    })?;
    Ok((e.finish(q), r.identity.len()))
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
    let mut with = rows.with.take();
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
    // The CTEs move from one query to the next as each is printed.
    let [stats, mean, top] = [stats, mean, top].map(|mut q| {
        q.with = with.take();
        let sql = e.render(&q);
        with = q.with.take();
        sql
    });
    Ok(DescribeSql { stats, mean, top })
}
