//! SQL dialects as data: `dialects/<name>.yaml` says what differs, and emission asks the
//! dialect, never which dialect it is.

use serde::Deserialize;

const BUILTIN: &[(&str, &str)] = &[("sqlite", include_str!("../../dialects/sqlite.yaml"))];

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
    /// `regexp_like(x, p)`
    Function,
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LikeStyle {
    /// LIKE is ASCII case-insensitive with no escape character already.
    Native,
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
}

/// What a SQL dialect can do and how it writes things.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialect {
    pub name: String,
    pub identifier_quote_style: QuoteStyle,
    pub parameter_style: ParameterStyle,
    pub limit_style: LimitStyle,
    pub regex_style: RegexStyle,
    pub like_style: LikeStyle,
    pub supports_tuple_in: bool,
    pub boolean_style: BooleanStyle,
    pub values_column_prefix: String,
    pub basename_style: BasenameStyle,
    /// How `BIN(ts, 5m)` rounds timestamp text down (absent: not available).
    #[serde(default)]
    pub time_bin_style: TimeBinStyle,
    /// Write `AS MATERIALIZED` on CTEs that a semi-join probes (`x IN (SELECT … FROM cte)`),
    /// so a chain of FINDs computes each step once (SQLite otherwise re-evaluates a tuple
    /// IN's subquery per column, doubling the work at every level).
    #[serde(default)]
    pub materialize_semijoin_ctes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBinStyle {
    /// `strftime('%Y-%m-%dT%H:%M:%SZ', <epoch seconds rounded down>, 'unixepoch')`
    Strftime,
    #[default]
    Unsupported,
}

impl Dialect {
    /// A built-in dialect by name.
    pub fn builtin(name: &str) -> Option<Dialect> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        serde_yaml::from_str(text).ok()
    }

    pub fn names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// The placeholder for the `n`th (1-based) parameter.
    pub fn placeholder(&self, n: usize) -> String {
        match self.parameter_style {
            ParameterStyle::QuestionNumbered => format!("?{n}"),
            ParameterStyle::Question => "?".to_string(),
            ParameterStyle::Dollar => format!("${n}"),
            ParameterStyle::AtP => format!("@P{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_dialect_loads() {
        for (name, text) in BUILTIN {
            let d: Dialect = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(d.name, *name);
        }
    }
}
