//! SQL dialects as data: `dialects/<name>.yaml` says what differs, and emission asks the
//! dialect, never which dialect it is.

use serde::Deserialize;

/// The shipped dialects as JSON, converted (and checked) by build.rs.
const BUILTIN: &[(&str, &str)] = &[
    (
        "sqlite",
        include_str!(concat!(env!("OUT_DIR"), "/builtin/dialects/sqlite.json")),
    ),
    (
        "postgres",
        include_str!(concat!(env!("OUT_DIR"), "/builtin/dialects/postgres.json")),
    ),
    (
        "mssql",
        include_str!(concat!(env!("OUT_DIR"), "/builtin/dialects/mssql.json")),
    ),
    (
        "mysql",
        include_str!(concat!(env!("OUT_DIR"), "/builtin/dialects/mysql.json")),
    ),
    (
        "datafusion",
        include_str!(concat!(
            env!("OUT_DIR"),
            "/builtin/dialects/datafusion.json"
        )),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuoteStyle {
    Double,
    Backtick,
    Bracket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterStyle {
    /// `?1`, `?2`
    QuestionNumbered,
    /// `?`, in order of appearance
    Question,
    /// `$1`, `$2`
    Dollar,
    /// `@P1`, `@P2`
    AtP,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitStyle {
    LimitOffset,
    TopOrOffsetFetch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegexStyle {
    /// `x REGEXP p`
    Operator,
    /// `x ~ p`, `x !~ p` (PostgreSQL)
    Tilde,
    /// `regexp_like(x, p)`
    Function,
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LikeStyle {
    /// LIKE is ASCII case-insensitive with no escape character already.
    Native,
    /// `x LIKE p [COLLATE like_collation] [ESCAPE like_escape]`
    Like,
    /// `x ILIKE p [COLLATE like_collation] [ESCAPE like_escape]`
    Ilike,
    /// `(x LIKE p COLLATE like_collation ESCAPE like_escape AND x REGEXP r)`: the
    /// collation's LIKE narrows the rows (an index can serve it) and `r`, the pattern as a
    /// regular expression (`sql/like_regex.rs`), keeps only the exact matches, for a
    /// collation that also folds accents and non-ASCII case (MySQL's `_ci` ones).
    LikeAndRegex,
    /// `kestrel_like(x, p [, escape])`: a function the backend defines with the language's
    /// meaning (DataFusion, whose LIKE is case-sensitive and whose ILIKE folds beyond ASCII).
    Function,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValuesStyle {
    /// `(VALUES (…), (…)) AS t`, columns named by the engine (`values_column_prefix`N).
    Values,
    /// `(SELECT ? AS column1, … UNION ALL SELECT ?, …) AS t`
    UnionSelect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BooleanStyle {
    Integer,
    Keyword,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BasenameStyle {
    /// `substr(x, length(rtrim(x, replace(replace(x, '\', ''), '/', ''))) + 1)`
    Rtrim,
    /// `regexp_replace(x, '^.*[\\/]', '')`
    RegexpReplace,
    /// `RIGHT(x, PATINDEX('%[\/]%', REVERSE(x) + '/') - 1)` (no regular expressions)
    ReversePatindex,
}

/// How `integer(x)` (decimal or `0x` hexadecimal text as a number) is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegerStyle {
    /// `kestrel_int(x)`: a function kestrel's SQLite connection defines.
    Function,
    /// `CASE WHEN x ~ '^0x…' THEN ('x' || lpad(substr(x, 3), 16, '0'))::bit(64)::bigint
    /// WHEN x ~ '^[0-9]+$' THEN CAST(x AS BIGINT) END` (PostgreSQL)
    BitCast,
    /// `CASE WHEN x REGEXP '^0x…' THEN CAST(CONV(SUBSTRING(x, 3), 16, 10) AS SIGNED) …`
    Conv,
    /// `TRY_CONVERT(BIGINT, TRY_CONVERT(VARBINARY(8), '0x' + RIGHT(…, 16), 1))` (SQL Server)
    Varbinary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampStyle {
    /// `'2021-05-06 00:00:00.000000'`
    Text,
    /// `TIMESTAMP '2021-05-06 00:00:00.000000'`
    Typed,
    /// `CAST('2021-05-06 00:00:00.000000' AS DATETIME2)`
    CastDatetime2,
}

/// What a SQL dialect can do and how it writes things.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialect {
    pub name: String,
    pub identifier_quote_style: QuoteStyle,
    pub parameter_style: ParameterStyle,
    /// Whether a value bound twice uses one placeholder (numbered styles only; not where
    /// the server infers one type per placeholder from its uses, as PostgreSQL does).
    pub reuse_parameters: bool,
    pub limit_style: LimitStyle,
    /// The LIMIT that means "no limit" when only an OFFSET is wanted (None: OFFSET alone).
    pub unbounded_limit: Option<String>,
    /// Whether a CTE or derived table may have ORDER BY without a row limit.
    pub order_by_in_subquery: bool,
    pub regex_style: RegexStyle,
    /// Prepended to a regex that does not start with `(?i)`, so matching is case-sensitive
    /// whatever the column's collation.
    pub regex_case_sensitive_prefix: Option<String>,
    pub like_style: LikeStyle,
    /// The ESCAPE character of LIKE (it is doubled in patterns); `""` switches escaping off.
    pub like_escape: Option<String>,
    /// Characters besides `%` and `_` that LIKE treats specially (escaped in patterns).
    pub like_special: String,
    /// Collation that makes LIKE ASCII case-insensitive, put on the pattern.
    pub like_collation: Option<String>,
    /// Collation that makes `=`, `!=`, `<`… and IN compare strings exactly, put on string
    /// literals.
    pub exact_collation: Option<String>,
    /// Type that string literals, and the values a reference (`x = v.attr`, FIND) or a
    /// JOIN compares with, are cast to so the comparison is exact (MySQL's `BINARY`: bytes,
    /// no trailing-space padding, any column type), instead of `exact_collation`.
    #[serde(default)]
    pub exact_cast: Option<String>,
    /// Type a LIKE or regex operand is cast to (where the engine has no implicit cast).
    pub text_cast: Option<String>,
    pub supports_tuple_in: bool,
    pub boolean_style: BooleanStyle,
    pub values_style: ValuesStyle,
    /// Whether inline rows cast numbers and booleans to their type (a placeholder in
    /// VALUES is text to PostgreSQL otherwise).
    pub typed_values: bool,
    pub values_column_prefix: String,
    pub basename_style: BasenameStyle,
    /// How decimal or `0x` hexadecimal text becomes an integer (process ids).
    pub integer_style: IntegerStyle,
    /// Whether backslash escapes in string literals (MySQL): literals double it.
    pub string_backslash_escape: bool,
    /// The floating-point type AVG's argument is cast to.
    pub float_type: String,
    /// How an instant is written inline (previews; execution binds it).
    pub timestamp_style: TimestampStyle,
    /// How `BIN(ts, 5m)` rounds timestamp text down (absent: not available).
    #[serde(default)]
    pub time_bin_style: TimeBinStyle,
    /// Write `AS MATERIALIZED` on CTEs that a tuple semi-join probes
    /// (`(a, b) IN (SELECT … FROM cte)`), so a chain of FINDs computes each step once
    /// (SQLite otherwise evaluates a tuple IN's subquery twice, doubling the work at every
    /// level). A one-column IN needs none.
    #[serde(default)]
    pub materialize_semijoin_ctes: bool,
    /// Write a column's `IS NOT NULL` test as `+col IS NOT NULL`, which no index serves.
    /// SQLite's planner (3.54, stat1 only for bound values) otherwise drives a query
    /// through the index of an identity column tested for NULL, reading the rows in that
    /// column's order: one random page read per row instead of one sequential pass.
    #[serde(default)]
    pub not_null_without_index: bool,
    /// How an IN list longer than [`LONG_LIST`] values (all strings or all integers) is
    /// bound: one JSON array parameter the statement reads as a table, instead of one
    /// placeholder per value (servers cap those, and each costs time).
    #[serde(default)]
    pub list_parameter_style: ListParameterStyle,
    /// The most bytes of JSON one such parameter holds; a longer list is several
    /// parameters (absent: no limit).
    #[serde(default)]
    pub list_parameter_bytes: Option<usize>,
    /// How inline rows of more than [`LONG_ROWS`] values (rows × columns: shipped from
    /// another connection, LOADed, NEW) are bound: one JSON array of arrays the statement
    /// reads as a table with typed columns, instead of a placeholder per value. Large
    /// pieces follow `list_parameter_bytes`.
    #[serde(default)]
    pub rows_parameter_style: RowsParameterStyle,
    /// The column types such a table declares (or casts to), by what its values are.
    #[serde(default)]
    pub rows_parameter_types: Option<RowsParameterTypes>,
    /// The database tests a WHERE clause's terms in the order they are written (SQLite,
    /// where no index serves them): a semi-join on a variable, the selective term of a
    /// FIND, is written first, so the other terms are tested on its few rows only.
    #[serde(default)]
    pub where_terms_in_order: bool,
    /// Count the entities of a relation with one identity column `u` by grouping on it,
    /// `SELECT SUM(n), COUNT(u) FROM (SELECT u, COUNT(*) AS n FROM r GROUP BY u)`, not
    /// with `COUNT(*), COUNT(DISTINCT u)`: PostgreSQL hashes groups where `COUNT(DISTINCT)`
    /// sorts every value under the column's collation.
    #[serde(default)]
    pub distinct_count_by_group: bool,
    /// `GROUP BY GROUPING SETS ((…), (…))`: a session counts a variable on the way,
    /// where the connection has no tally function, by grouping the statement that reads
    /// it by its entities too, in a set of their own (`Func::GroupingSet`), and counting
    /// those groups' rows as they arrive.
    #[serde(default)]
    pub grouping_sets: bool,
    /// An aggregate `f(keep, c1, …)` of the connection that counts the distinct tuples
    /// of the rows where `keep` holds, faster than `COUNT(DISTINCT …)` (set by a session
    /// from its backend, never by a dialect file: SQL that `kestrel compile` prints must
    /// run anywhere).
    #[serde(skip)]
    pub distinct_count_function: Option<String>,
    /// The connection's scalar `f(slot, n, identity…, own id…)` that counts a variable's rows
    /// as a statement reads them ([`Func::Tally`](crate::ir::Func)); set by a session from
    /// its backend, as `distinct_count_function`.
    #[serde(skip)]
    pub tally_function: Option<String>,
}

/// Inline rows with more values than this (rows × columns) are bound as one JSON
/// parameter where the dialect has a [`RowsParameterStyle`].
pub const LONG_ROWS: usize = 1000;

/// The table a JSON array of rows `j` (`[[v1, v2, …], …]`) is read as; its columns are
/// named as VALUES would name them (`values_column_prefix`N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowsParameterStyle {
    /// No JSON table: every value is its own placeholder (or a temporary table).
    #[default]
    Inline,
    /// `SELECT json_extract(t.value, '$[0]') AS column1, … FROM json_each(j) AS t`:
    /// SQLite keeps each JSON value's type (integer, real, text, NULL).
    JsonEach,
    /// `SELECT CAST(t.value ->> 0 AS type) AS column1, … FROM
    /// json_array_elements(CAST(j AS JSON)) AS t` (PostgreSQL)
    JsonArrayElements,
    /// `SELECT t.column1, … FROM JSON_TABLE(j, '$[*]' COLUMNS (column1 type PATH '$[0]',
    /// …)) AS t` (MySQL 8, MariaDB 10.6)
    JsonTable,
    /// `SELECT t.column1, … FROM OPENJSON(j) WITH (column1 type '$[0]', …) AS t`
    /// (SQL Server 2016)
    Openjson,
}

/// Column types of a JSON table of rows. A column of integers (booleans are 0 and 1, as
/// inline rows write them) is `integer`, of numbers `float`, anything else `text`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsParameterTypes {
    pub integer: String,
    pub float: String,
    pub text: String,
}

/// IN lists with more values than this are bound as one JSON parameter where the dialect
/// has a [`ListParameterStyle`] (SQL Server takes 2,100 parameters at most).
pub const LONG_LIST: usize = 1000;

/// The table a JSON array parameter `j` is read as, in `x IN (SELECT v FROM …)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListParameterStyle {
    /// No JSON table: every value is its own placeholder.
    #[default]
    Inline,
    /// `json_each(j)`, column `value` (SQLite)
    JsonEach,
    /// `json_array_elements_text(CAST(j AS JSON))`, column `value`, text (PostgreSQL)
    JsonArrayElementsText,
    /// `JSON_TABLE(j, '$[*]' COLUMNS (value LONGTEXT PATH '$'))` (MySQL 8, MariaDB 10.6)
    JsonTable,
    /// `OPENJSON(j)`, column `value`, NVARCHAR(MAX) (SQL Server 2016)
    Openjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBinStyle {
    /// `strftime('%Y-%m-%dT%H:%M:%SZ', <epoch seconds rounded down>, 'unixepoch')`
    Strftime,
    /// `to_char(timezone('UTC', to_timestamp(<epoch rounded down>)), 'YYYY-MM-DD"T"…')`
    /// over `date_part('epoch', CAST(x AS timestamptz))` (PostgreSQL)
    ToChar,
    /// `DATE_FORMAT(FROM_UNIXTIME(<epoch rounded down>), '%Y-%m-%dT%H:%i:%sZ')` over
    /// `UNIX_TIMESTAMP(x)`, in a UTC session (MySQL, MariaDB)
    DateFormat,
    /// `to_char(to_timestamp_seconds(<epoch rounded down>), '%Y-%m-%dT%H:%M:%SZ')` over
    /// `CAST(to_unixtime(x) AS BIGINT)` (DataFusion)
    Unixtime,
    #[default]
    Unsupported,
}

impl Dialect {
    /// A built-in dialect by name.
    pub fn builtin(name: &str) -> Option<Dialect> {
        // Parsed once per process: a run asks for its backend's dialect at every output.
        static PARSED: std::sync::OnceLock<Vec<Option<Dialect>>> = std::sync::OnceLock::new();
        let parsed = PARSED.get_or_init(|| {
            BUILTIN
                .iter()
                .map(|(_, json)| serde_json::from_str(json).ok())
                .collect()
        });
        let at = BUILTIN
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        parsed[at].clone()
    }

    pub fn names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// The placeholder for the `n`th (1-based) parameter.
    pub fn placeholder(&self, n: usize) -> String {
        // Hundreds per hunt: digits by hand rather than through `format!`.
        let prefix = match self.parameter_style {
            ParameterStyle::QuestionNumbered => "?",
            ParameterStyle::Question => return "?".to_string(),
            ParameterStyle::Dollar => "$",
            ParameterStyle::AtP => "@P",
        };
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut out = String::with_capacity(prefix.len() + digits.len() - at);
        out.push_str(prefix);
        out.extend(digits[at..].iter().map(|&d| char::from(d)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_from_one_in_each_style() {
        let d = |name: &str| Dialect::builtin(name).expect("dialect");
        assert_eq!(d("sqlite").placeholder(1), "?1");
        assert_eq!(d("sqlite").placeholder(2100), "?2100");
        assert_eq!(d("postgres").placeholder(10), "$10");
        assert_eq!(d("mssql").placeholder(0), "@P0");
        assert_eq!(d("mysql").placeholder(7), "?");
    }

    #[test]
    fn every_shipped_dialect_loads_as_its_yaml_says() {
        for (name, json) in BUILTIN {
            let d: Dialect = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(d.name, *name);
            // build.rs's JSON means what the YAML in dialects/ says.
            let path = format!("{}/dialects/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
            let yaml = std::fs::read_to_string(&path).expect("dialect file");
            let from_yaml: Dialect = serde_yaml::from_str(&yaml).expect("yaml");
            assert_eq!(format!("{d:?}"), format!("{from_yaml:?}"), "{name}");
        }
    }
}
