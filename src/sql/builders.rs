//! The only place that constructs sqlparser structs: small constructors that fill in the
//! many fields sqlparser's AST has for other dialects' features.

use sqlparser::ast::{
    self as sa, helpers::attached_token::AttachedToken, BinaryOperator, Distinct, Expr,
    FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
    LimitClause, ObjectName, ObjectNamePart, Offset, OffsetRows, OrderBy, OrderByExpr, OrderByKind,
    OrderByOptions, Query, Select, SelectFlavor, SelectItem, SetExpr, SetOperator, SetQuantifier,
    TableAlias, TableFactor, TableWithJoins, UnaryOperator, Value, WildcardAdditionalOptions, With,
};

use super::dialect::{Dialect, QuoteStyle};

/// A quoted identifier in the dialect's style, whatever characters the name holds.
///
/// sqlparser's printer doubles a quote inside an identifier only when it is not already
/// doubled and does not follow a backslash (it guesses whether the text was escaped), so
/// `a\"b` or `a""b` would come out unbalanced; and it never escapes `]`. We quote the
/// name ourselves, doubling every closing quote, and hand sqlparser the quoted text as an
/// unquoted identifier, which it prints as it is (and without scanning it a second time).
pub fn ident(d: &Dialect, name: &str) -> Ident {
    let (open, close) = match d.identifier_quote_style {
        QuoteStyle::Double => ('"', '"'),
        QuoteStyle::Backtick => ('`', '`'),
        QuoteStyle::Bracket => ('[', ']'),
    };
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push(open);
    push_doubled(&mut quoted, name, close);
    quoted.push(close);
    Ident::new(quoted)
}

/// `s` with every `c` doubled, and line breaks hidden from the pretty printer (see
/// [`restore_line_breaks`]).
fn double_char(s: &str, c: char) -> String {
    let mut out = String::with_capacity(s.len());
    push_doubled(&mut out, s, c);
    out
}

/// Appends [`double_char`]`(s, c)` to `out`.
fn push_doubled(out: &mut String, s: &str, c: char) {
    // Most names and values have nothing to double or hide.
    if c.is_ascii()
        && !s
            .bytes()
            .any(|b| b == c as u8 || b == b'\n' || !b.is_ascii())
    {
        out.push_str(s);
        return;
    }
    for ch in s.chars() {
        match ch {
            '\n' => {
                out.push(HIDE);
                out.push(HIDDEN_NEWLINE);
                continue;
            }
            HIDE => {
                out.push(HIDE);
                out.push(HIDDEN_HIDE);
                continue;
            }
            _ => {}
        }
        if ch == c {
            out.push(c);
        }
        out.push(ch);
    }
}

/// sqlparser's pretty printer indents after every line break it writes, also inside a
/// quoted name or string, which would change the name or the value. Names and strings
/// carry their line breaks as `HIDE HIDDEN_NEWLINE` (and a `HIDE` of their own as
/// `HIDE HIDDEN_HIDE`) through printing: Unicode noncharacters, reserved for uses like
/// this one.
const HIDE: char = '\u{FDD0}';
const HIDDEN_NEWLINE: char = '\u{FDD1}';
const HIDDEN_HIDE: char = '\u{FDD2}';

/// Printed SQL with the line breaks of names and strings put back.
pub fn restore_line_breaks(sql: String) -> String {
    if !sql.contains(HIDE) {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars();
    while let Some(c) = chars.next() {
        if c != HIDE {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(HIDDEN_NEWLINE) => out.push('\n'),
            Some(HIDDEN_HIDE) => out.push(HIDE),
            Some(other) => {
                out.push(HIDE);
                out.push(other);
            }
            None => out.push(HIDE),
        }
    }
    out
}

/// `alias.column`
pub fn qualified(alias: &Ident, column: Ident) -> Expr {
    Expr::CompoundIdentifier(vec![alias.clone(), column])
}

/// `expr COLLATE name`
pub fn collate(expr: Expr, collation: &str) -> Expr {
    Expr::Collate {
        expr: Box::new(expr),
        collation: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(collation))]),
    }
}

/// `CAST(expr AS type)` for a type given by name (`TEXT`, `DATETIME2`).
pub fn cast(expr: Expr, type_name: &str) -> Expr {
    Expr::Cast {
        kind: sa::CastKind::Cast,
        expr: Box::new(expr),
        data_type: sa::DataType::Custom(
            ObjectName(vec![ObjectNamePart::Identifier(Ident::new(type_name))]),
            vec![],
        ),
        format: None,
    }
}

/// `TIMESTAMP 'text'`
pub fn typed_timestamp(text: &str) -> Expr {
    Expr::TypedString(sa::TypedString {
        data_type: sa::DataType::Timestamp(None, sa::TimezoneInfo::None),
        value: Value::SingleQuotedString(text.to_string()).into(),
        uses_odbc_syntax: false,
    })
}

pub fn exists(sub: Query, negated: bool) -> Expr {
    Expr::Exists {
        subquery: Box::new(sub),
        negated,
    }
}

/// `TOP n`
pub fn top(n: u64) -> sa::Top {
    sa::Top {
        with_ties: false,
        percent: false,
        quantity: Some(sa::TopQuantity::Constant(n)),
    }
}

/// `OFFSET m ROWS [FETCH FIRST n ROWS ONLY]`
pub fn offset_fetch(offset: u64, fetch: Option<u64>) -> (LimitClause, Option<sa::Fetch>) {
    (
        LimitClause::LimitOffset {
            limit: None,
            offset: Some(Offset {
                value: number(offset),
                rows: OffsetRows::Rows,
            }),
            limit_by: vec![],
        },
        fetch.map(|n| sa::Fetch {
            with_ties: false,
            percent: false,
            quantity: Some(number(n)),
        }),
    )
}

pub fn column(d: &Dialect, name: &str) -> Expr {
    Expr::Identifier(ident(d, name))
}

pub fn object_name(d: &Dialect, name: &str) -> ObjectName {
    ObjectName(vec![ObjectNamePart::Identifier(ident(d, name))])
}

pub fn value(v: Value) -> Expr {
    Expr::Value(v.into())
}

/// A string literal (preview only: executed statements bind their literals). Quotes are
/// doubled here, for the reason given at [`ident`]; backslashes are literal text.
pub fn string(s: &str) -> Expr {
    value(Value::SingleQuotedString(double_char(s, '\'')))
}

pub fn number(n: impl ToString) -> Expr {
    value(Value::Number(n.to_string(), false))
}

pub fn placeholder(p: String) -> Expr {
    value(Value::Placeholder(p))
}

pub fn nested(e: Expr) -> Expr {
    Expr::Nested(Box::new(e))
}

pub fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

pub fn not(e: Expr) -> Expr {
    Expr::UnaryOp {
        op: UnaryOperator::Not,
        expr: Box::new(e),
    }
}

pub fn function(name: &str, args: Vec<Expr>) -> Expr {
    function_with(name, args, false)
}

pub fn function_with(name: &str, args: Vec<Expr>, distinct: bool) -> Expr {
    Expr::Function(sa::Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: distinct.then_some(sa::DuplicateTreatment::Distinct),
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        within_group: vec![],
        filter: None,
        null_treatment: None,
        over: None,
    })
}

/// `COUNT(*)`
pub fn count_star() -> Expr {
    Expr::Function(sa::Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("COUNT"))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
            clauses: vec![],
        }),
        within_group: vec![],
        filter: None,
        null_treatment: None,
        over: None,
    })
}

pub fn case(whens: Vec<(Expr, Expr)>, otherwise: Expr) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: whens
            .into_iter()
            .map(|(condition, result)| sa::CaseWhen { condition, result })
            .collect(),
        else_result: Some(Box::new(otherwise)),
    }
}

pub fn select_item(expr: Expr, alias: Option<Ident>) -> SelectItem {
    match alias {
        Some(alias) => SelectItem::ExprWithAlias { expr, alias },
        None => SelectItem::UnnamedExpr(expr),
    }
}

pub fn wildcard() -> SelectItem {
    SelectItem::Wildcard(WildcardAdditionalOptions::default())
}

pub fn table(d: &Dialect, name: &str) -> TableFactor {
    table_as(d, name, None)
}

pub fn table_as(d: &Dialect, name: &str, alias: Option<Ident>) -> TableFactor {
    named_table(object_name(d, name), alias)
}

/// A data source's table as the configuration writes it (`seeds.events`,
/// `"my.schema".events`: see [`crate::sql::table_name`]), each part quoted.
pub fn source_table_as(d: &Dialect, text: &str, alias: Option<Ident>) -> TableFactor {
    let parts = crate::sql::table_name::parts(text)
        .iter()
        .map(|p| ObjectNamePart::Identifier(ident(d, p)))
        .collect();
    named_table(ObjectName(parts), alias)
}

fn named_table(name: ObjectName, alias: Option<Ident>) -> TableFactor {
    table_factor(name, alias, None)
}

/// A table, or with `args` a table-valued function, under an optional alias.
fn table_factor(
    name: ObjectName,
    alias_name: Option<Ident>,
    args: Option<sa::TableFunctionArgs>,
) -> TableFactor {
    TableFactor::Table {
        name,
        alias: alias_name.map(alias),
        args,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    }
}

pub fn derived(query: Query, alias_name: Ident) -> TableFactor {
    TableFactor::Derived {
        lateral: false,
        subquery: Box::new(query),
        alias: Some(alias(alias_name)),
        sample: None,
    }
}

pub fn select(
    projection: Vec<SelectItem>,
    from: Option<TableFactor>,
    selection: Option<Expr>,
    distinct: bool,
    group_by: Vec<Expr>,
) -> Select {
    Select {
        select_token: AttachedToken::empty(),
        optimizer_hints: vec![],
        distinct: distinct.then_some(Distinct::Distinct),
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection,
        exclude: None,
        into: None,
        from: from
            .map(|relation| {
                vec![TableWithJoins {
                    relation,
                    joins: vec![],
                }]
            })
            .unwrap_or_default(),
        lateral_views: vec![],
        prewhere: None,
        selection,
        connect_by: vec![],
        group_by: GroupByExpr::Expressions(group_by, vec![]),
        cluster_by: vec![],
        distribute_by: vec![],
        sort_by: vec![],
        having: None,
        named_window: vec![],
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    }
}

pub fn query(body: SetExpr) -> Query {
    Query {
        with: None,
        body: Box::new(body),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }
}

pub fn union_all(left: SetExpr, right: SetExpr) -> SetExpr {
    SetExpr::SetOperation {
        left: Box::new(left),
        op: SetOperator::Union,
        set_quantifier: SetQuantifier::All,
        right: Box::new(right),
    }
}

pub fn values(rows: Vec<Vec<Expr>>) -> SetExpr {
    SetExpr::Values(sa::Values {
        explicit_row: false,
        value_keyword: false,
        rows: rows.into_iter().map(sa::Parens::with_empty_span).collect(),
    })
}

pub fn order_by(keys: Vec<(Expr, bool)>) -> OrderBy {
    OrderBy {
        kind: OrderByKind::Expressions(
            keys.into_iter()
                .map(|(expr, desc)| OrderByExpr {
                    expr,
                    options: OrderByOptions {
                        sort: Some(if desc {
                            sa::OrderBySort::Desc
                        } else {
                            sa::OrderBySort::Asc
                        }),
                        nulls_first: None,
                    },
                    with_fill: None,
                })
                .collect(),
        ),
        interpolate: None,
    }
}

/// `ORDER BY e, …` without a direction.
pub fn order_by_plain(keys: Vec<Expr>) -> OrderBy {
    OrderBy {
        kind: OrderByKind::Expressions(
            keys.into_iter()
                .map(|expr| OrderByExpr {
                    expr,
                    options: OrderByOptions {
                        sort: None,
                        nulls_first: None,
                    },
                    with_fill: None,
                })
                .collect(),
        ),
        interpolate: None,
    }
}

pub fn limit_offset(limit: Option<Expr>, offset: Option<Expr>) -> LimitClause {
    LimitClause::LimitOffset {
        limit,
        offset: offset.map(|value| Offset {
            value,
            rows: OffsetRows::None,
        }),
        limit_by: vec![],
    }
}

pub fn with(ctes: Vec<(Ident, Query)>) -> With {
    with_materialized(ctes.into_iter().map(|(n, q)| (n, q, false)).collect())
}

/// `WITH a AS [MATERIALIZED] (…), …`.
pub fn with_materialized(ctes: Vec<(Ident, Query, bool)>) -> With {
    With {
        with_token: AttachedToken::empty(),
        recursive: false,
        cte_tables: ctes
            .into_iter()
            .map(|(name, query, materialized)| sa::Cte {
                alias: TableAlias {
                    explicit: false,
                    name,
                    columns: vec![],
                    at: None,
                },
                query: Box::new(query),
                from: None,
                materialized: materialized.then_some(sa::CteAsMaterialized::Materialized),
                closing_paren_token: AttachedToken::empty(),
            })
            .collect(),
    }
}

pub fn subquery_in(expr: Expr, sub: Query, negated: bool) -> Expr {
    Expr::InSubquery {
        expr: Box::new(expr),
        subquery: Box::new(sub),
        negated,
    }
}

/// `CAST(x AS INTEGER)`
pub fn cast_integer(x: Expr) -> Expr {
    Expr::Cast {
        kind: sa::CastKind::Cast,
        expr: Box::new(x),
        data_type: sa::DataType::Integer(None),
        format: None,
    }
}

/// Adds `JOIN right ON on` to the first table of `select`'s FROM.
pub fn inner_join(select: &mut Select, right: TableFactor, on: Expr) {
    if let Some(first) = select.from.first_mut() {
        first.joins.push(sa::Join {
            relation: right,
            global: false,
            join_operator: sa::JoinOperator::Join(sa::JoinConstraint::On(on)),
        });
    }
}

fn alias(name: Ident) -> TableAlias {
    TableAlias {
        explicit: true,
        name,
        columns: vec![],
        at: None,
    }
}

/// `name(args) AS alias`: a table-valued function (`json_each(?1)`).
pub fn table_function(name: &str, args: Vec<Expr>, alias_name: Ident) -> TableFactor {
    table_factor(
        ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        Some(alias_name),
        Some(sa::TableFunctionArgs {
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            settings: None,
        }),
    )
}

/// `JSON_TABLE(json, '$[*]' COLUMNS (column type PATH '$')) AS alias`: the elements of a
/// JSON array, one row each (MySQL 8, MariaDB 10.6).
pub fn json_table(json: Expr, column: Ident, integer: bool, alias_name: Ident) -> TableFactor {
    TableFactor::JsonTable {
        json_expr: json,
        json_path: Value::SingleQuotedString("$[*]".into()).into(),
        columns: vec![sa::JsonTableColumn::Named(sa::JsonTableNamedColumn {
            name: column,
            r#type: if integer {
                sa::DataType::BigInt(None)
            } else {
                sa::DataType::LongText
            },
            path: Value::SingleQuotedString("$".into()).into(),
            exists: false,
            on_empty: None,
            on_error: None,
        })],
        alias: Some(alias(alias_name)),
    }
}

/// `OPENJSON(json) AS alias`: the elements of a JSON array as rows of `key`, `value`,
/// `type` (SQL Server 2016).
pub fn openjson(json: Expr, alias_name: Ident) -> TableFactor {
    TableFactor::OpenJsonTable {
        json_expr: json,
        json_path: None,
        columns: vec![],
        alias: Some(alias(alias_name)),
    }
}

/// A type a dialect file names (`BIGINT`, `NVARCHAR(MAX)`), printed as written there.
fn type_named(name: &str) -> sa::DataType {
    sa::DataType::Custom(
        ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        vec![],
    )
}

/// `JSON_TABLE(json, '$[*]' COLUMNS (name type PATH 'path', …)) AS alias`: each element
/// of a JSON array as a row of typed columns (MySQL 8, MariaDB 10.6).
pub fn json_table_columns(
    json: Expr,
    columns: Vec<(Ident, &str, String)>,
    alias_name: Ident,
) -> TableFactor {
    TableFactor::JsonTable {
        json_expr: json,
        json_path: Value::SingleQuotedString("$[*]".into()).into(),
        columns: columns
            .into_iter()
            .map(|(name, ty, path)| {
                sa::JsonTableColumn::Named(sa::JsonTableNamedColumn {
                    name,
                    r#type: type_named(ty),
                    path: Value::SingleQuotedString(path).into(),
                    exists: false,
                    on_empty: None,
                    on_error: None,
                })
            })
            .collect(),
        alias: Some(alias(alias_name)),
    }
}

/// `OPENJSON(json) WITH (name type 'path', …) AS alias`: each element of a JSON array as
/// a row of typed columns (SQL Server 2016).
pub fn openjson_with(
    json: Expr,
    columns: Vec<(Ident, &str, String)>,
    alias_name: Ident,
) -> TableFactor {
    TableFactor::OpenJsonTable {
        json_expr: json,
        json_path: None,
        columns: columns
            .into_iter()
            .map(|(name, ty, path)| sa::OpenJsonTableColumn {
                name,
                r#type: type_named(ty),
                path: Some(path),
                as_json: false,
            })
            .collect(),
        alias: Some(alias(alias_name)),
    }
}

/// `x ->> n`: element `n` of a JSON array as text (PostgreSQL).
pub fn json_element_text(x: Expr, n: usize) -> Expr {
    binary(x, BinaryOperator::LongArrow, number(n))
}
