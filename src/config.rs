//! The YAML configuration: which databases exist and which tables a hunt may query.
//!
//! In: a YAML file compatible with the original Kestrel's `sqlalchemy.yaml`, found by
//! [`Config::discover`] (`--config`, then `KESTREL_CONFIG`, then
//! `KESTREL_SQLALCHEMY_CONFIG`, then `~/.config/kestrel/{kestrel,sqlalchemy}.yaml`):
//!
//! ```yaml
//! connections:
//!   lake:
//!     url: postgresql://hunter:${PGPASS}@db.example/lake   # ${VAR} comes from the environment
//!     table_creation_permission: false                      # optional, default false
//!     statement_timeout: 30                                 # optional, seconds
//!     connect_timeout: 10                                   # optional, seconds (default 10)
//! datasources:
//!   events:
//!     connection: lake
//!     table: events
//!     timestamp: "@timestamp"                               # optional
//!     timestamp_format: "%Y-%m-%dT%H:%M:%S.%fZ"             # optional, Python strftime
//!     data_model_map: ecs                                   # optional, alias `data_model_mapping`
//! ```
//!
//! Out: a validated [`Config`] (every datasource names a defined connection, every
//! `${VAR}` is expanded), or a [`ConfigError`] that names the file and what is wrong.
//!
//! Secrets: passwords usually reach a URL through `${VAR}`. They never leave this module
//! in text meant for people: [`redact_url`] masks them, every error message is passed
//! through it, and `Debug` of a [`Connection`] prints the redacted URL.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variable naming the configuration file (checked first after `--config`).
pub const ENV_CONFIG: &str = "KESTREL_CONFIG";
/// Environment variable the original Kestrel uses for its SQL interface file.
pub const ENV_SQLALCHEMY_CONFIG: &str = "KESTREL_SQLALCHEMY_CONFIG";
/// File names looked for, in order, in `~/.config/kestrel/`.
pub const HOME_CONFIG_FILES: &[&str] = &["kestrel.yaml", "sqlalchemy.yaml"];

/// A loaded, expanded and validated configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Database connections by name.
    pub connections: BTreeMap<String, Connection>,
    /// Data sources (a table in a connection) by name; a hunt's `FROM x://name` picks one.
    pub datasources: BTreeMap<String, DataSource>,
    /// The file this configuration came from, if any.
    pub path: Option<PathBuf>,
    /// Settings of the language itself.
    pub language: LanguageConfig,
    /// Where `SIGMA 'rule.yml'` looks for rules.
    pub sigma: SigmaConfig,
    /// How APPLY runs analytics.
    pub analytics: AnalyticsConfig,
}

/// `sigma:` — where `WHERE SIGMA 'rule.yml'` finds rules named by a relative path that is
/// not beside the hunt file (relative directories are read from the configuration's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigmaConfig {
    pub rules: Vec<PathBuf>,
}

/// `analytics:` — how APPLY runs analytics (see `src/analytics/`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// The scheme of an analytic named without one (`APPLY susp ON procs`).
    pub default_scheme: String,
    /// The Python interpreter python:// analytics run in.
    pub python: String,
    /// The python:// profiles file (`$KESTREL_PYTHON_ANALYTICS_CONFIG` wins over it).
    pub python_profiles: Option<PathBuf>,
    /// Seconds an analytic may run (0: no limit).
    pub analytics_timeout: u64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            default_scheme: "python".into(),
            python: "python3".into(),
            python_profiles: None,
            analytics_timeout: 3600,
        }
    }
}

/// `language:` — how hunts are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LanguageConfig {
    /// Seconds added to the earliest time of the records a pattern references, when the
    /// statement gives no time range of its own (negative: earlier).
    pub timerange_start_offset: i64,
    /// Seconds added to the latest time of those records.
    pub timerange_stop_offset: i64,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            timerange_start_offset: -300,
            timerange_stop_offset: 300,
        }
    }
}

/// One database connection.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a connection (a mapping with `url`)")]
pub struct Connection {
    /// Connection URL (`sqlite:///path`, `postgresql://user:pw@host/db`, `mssql://…`, …).
    /// Holds credentials: print it only through [`redact_url`].
    pub url: String,
    /// Whether kestrel may create tables (e.g. temporary ones) on this connection.
    #[serde(default)]
    pub table_creation_permission: bool,
    /// Per-statement timeout in seconds, if any.
    #[serde(default)]
    pub statement_timeout: Option<u64>,
    /// Seconds that reaching the server and logging in may take (absent:
    /// [`crate::backend::DEFAULT_CONNECT_TIMEOUT`]; 0: no limit).
    #[serde(default)]
    pub connect_timeout: Option<u64>,
}

/// `Debug` shows the redacted URL so a `{:?}` in a log never leaks a password.
impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &redact_url(&self.url))
            .field("table_creation_permission", &self.table_creation_permission)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// One data source: a table reachable through a named connection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a datasource (a mapping with `connection` and `table`)"
)]
pub struct DataSource {
    /// Name of an entry in [`Config::connections`].
    pub connection: String,
    /// Table (or view) name, possibly qualified: `schema.table` (PostgreSQL, MS SQL),
    /// `database.table` (MySQL/MariaDB); a part holding a dot is quoted,
    /// `"my.schema".events`.
    pub table: String,
    /// Column holding the event time, if any.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// How the timestamp column is formatted when it is text (Python strftime meaning).
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// Built-in mapping name (`ecs`, `ocsf`, …) or path to a mapping YAML file.
    #[serde(default, alias = "data_model_mapping")]
    pub data_model_map: Option<String>,
    /// Whether the table's records are whole (see the mapping's `whole_records`); unset:
    /// as the mapping says. `false` where records of one entity disagree (a collector
    /// that leaves some attributes out of a process creation).
    #[serde(default)]
    pub whole_records: Option<bool>,
}

/// The file as written, before `${VAR}` expansion and validation.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `connections` and `datasources`"
)]
struct RawConfig {
    #[serde(default)]
    connections: BTreeMap<String, Connection>,
    #[serde(default)]
    datasources: BTreeMap<String, DataSource>,
    #[serde(default)]
    language: LanguageConfig,
    #[serde(default)]
    sigma: SigmaConfig,
    #[serde(default)]
    analytics: AnalyticsConfig,
}

/// Everything that can go wrong while finding, reading or checking a configuration.
///
/// Messages start with `config <file>:` and never contain a credential.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists (or was named) but could not be read.
    #[error("config {}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `--config` or an environment variable names a file that does not exist.
    #[error("config {}: file not found (named by {origin})", .path.display())]
    Missing { path: PathBuf, origin: String },

    /// The YAML is malformed or does not have the expected shape.
    #[error("{}{}: {message}", show_path(.path), show_location(*.line, *.column))]
    Parse {
        path: Option<PathBuf>,
        /// What is wrong, already redacted.
        message: String,
        /// 1-based line, when the YAML parser knows it.
        line: Option<usize>,
        /// 1-based column, when the YAML parser knows it.
        column: Option<usize>,
    },

    /// `${VAR}` names a variable that is not set.
    #[error("{}: environment variable `{var}` used in `{at}` is not set", show_path(.path))]
    UndefinedVar {
        var: String,
        /// Where in the file, e.g. `connections.lake.url`.
        at: String,
        path: Option<PathBuf>,
    },

    /// `${VAR}` names a variable whose value is not valid UTF-8.
    #[error("{}: environment variable `{var}` used in `{at}` is not valid UTF-8", show_path(.path))]
    NonUnicodeVar {
        var: String,
        at: String,
        path: Option<PathBuf>,
    },

    /// A `${` without a closing `}`, or a name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("{}: bad variable reference in `{at}`: {problem}", show_path(.path))]
    BadVarSyntax {
        at: String,
        problem: String,
        path: Option<PathBuf>,
    },

    /// A datasource names a connection that is not defined.
    #[error(
        "{}: datasource `{datasource}` names connection `{connection}`, which is not defined; defined: {}",
        show_path(.path),
        show_names(.defined)
    )]
    UnknownConnection {
        datasource: String,
        connection: String,
        /// The connections that are defined, sorted.
        defined: Vec<String>,
        path: Option<PathBuf>,
    },
}

fn show_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("config {}", p.display()),
        None => "config".to_string(),
    }
}

fn show_location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn show_names(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// Reads one environment variable; the real one is `std::env::var_os`, tests pass a fake.
type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

fn real_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

impl Config {
    /// Parses, expands `${VAR}` from the process environment, and validates `text`.
    /// `path` is only used in error messages and stored in [`Config::path`].
    pub fn from_yaml_str(text: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::from_yaml_str_with(text, path, &real_env)
    }

    /// Reads and parses the file at `path` (see [`Config::from_yaml_str`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, &real_env)
    }

    /// Finds and loads the configuration.
    ///
    /// Order: `explicit` (the `--config` flag), then `$KESTREL_CONFIG`, then
    /// `$KESTREL_SQLALCHEMY_CONFIG`, then `$HOME/.config/kestrel/kestrel.yaml`, then
    /// `$HOME/.config/kestrel/sqlalchemy.yaml`. The first one named wins. A file named
    /// by the flag or a variable must exist; the files in `~/.config` are optional, so
    /// `Ok(None)` means nothing is configured. An empty variable counts as unset.
    pub fn discover(explicit: Option<&Path>) -> Result<Option<Config>, ConfigError> {
        Self::discover_with(explicit, &real_env)
    }

    fn discover_with(
        explicit: Option<&Path>,
        env: EnvLookup,
    ) -> Result<Option<Config>, ConfigError> {
        let named = match explicit {
            Some(path) => Some((path.to_path_buf(), "--config".to_string())),
            None => [ENV_CONFIG, ENV_SQLALCHEMY_CONFIG].iter().find_map(|var| {
                env(var)
                    .filter(|value| !value.is_empty())
                    .map(|value| (PathBuf::from(value), format!("${var}")))
            }),
        };
        if let Some((path, origin)) = named {
            if !path.exists() {
                return Err(ConfigError::Missing { path, origin });
            }
            return Self::load_with(&path, env).map(Some);
        }

        let Some(home) = env("HOME").filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let dir = PathBuf::from(home).join(".config").join("kestrel");
        for name in HOME_CONFIG_FILES {
            let path = dir.join(name);
            if path.is_file() {
                return Self::load_with(&path, env).map(Some);
            }
        }
        Ok(None)
    }

    fn load_with(path: &Path, env: EnvLookup) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml_str_with(&text, Some(path), env)
    }

    fn from_yaml_str_with(
        text: &str,
        path: Option<&Path>,
        env: EnvLookup,
    ) -> Result<Config, ConfigError> {
        let owned_path = path.map(Path::to_path_buf);
        // An empty file (or one holding only comments) is an empty configuration.
        let raw: RawConfig = if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#') || l == "---"
        }) {
            RawConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| parse_error(&e, &owned_path))?
        };

        // Expansion happens on the typed strings, after parsing, so that shape errors
        // (unknown fields, wrong types) keep the parser's line and column.
        let sigma_rules = raw
            .sigma
            .rules
            .into_iter()
            .map(|d| match owned_path.as_deref().and_then(Path::parent) {
                Some(base) if d.is_relative() => base.join(d),
                _ => d,
            })
            .collect();
        let mut config = Config {
            connections: raw.connections,
            datasources: raw.datasources,
            path: owned_path,
            language: raw.language,
            sigma: SigmaConfig { rules: sigma_rules },
            analytics: raw.analytics,
        };
        config.expand_vars(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Replaces `${VAR}` in every string value.
    fn expand_vars(&mut self, env: EnvLookup) -> Result<(), ConfigError> {
        let path = &self.path;
        for (name, conn) in &mut self.connections {
            expand_field(&mut conn.url, &format!("connections.{name}.url"), env, path)?;
        }
        for (name, ds) in &mut self.datasources {
            let at = |field: &str| format!("datasources.{name}.{field}");
            expand_field(&mut ds.connection, &at("connection"), env, path)?;
            expand_field(&mut ds.table, &at("table"), env, path)?;
            for (field, value) in [
                ("timestamp", &mut ds.timestamp),
                ("timestamp_format", &mut ds.timestamp_format),
                ("data_model_map", &mut ds.data_model_map),
            ] {
                if let Some(value) = value {
                    expand_field(value, &at(field), env, path)?;
                }
            }
        }
        Ok(())
    }

    /// Checks that every datasource names a defined connection.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, ds) in &self.datasources {
            if !self.connections.contains_key(&ds.connection) {
                return Err(ConfigError::UnknownConnection {
                    datasource: name.clone(),
                    connection: ds.connection.clone(),
                    defined: self.connections.keys().cloned().collect(),
                    path: self.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// Finds the datasource a hunt's data-source URI means.
    ///
    /// `scheme://name` resolves by `name` whatever the scheme, so hunts written for
    /// `stixshifter://host101` run against a SQL datasource named `host101`; a bare
    /// `name` works too. Returns the datasource's name and the datasource.
    pub fn resolve_datasource(&self, uri: &str) -> Option<(&str, &DataSource)> {
        let name = match uri.split_once("://") {
            Some((_, rest)) => rest,
            None => uri,
        };
        let name = name.trim().trim_end_matches('/');
        self.datasources
            .get_key_value(name)
            .map(|(k, ds)| (k.as_str(), ds))
    }

    /// The connection a datasource uses.
    ///
    /// # Panics
    ///
    /// If `ds.connection` is not defined in `self`. A loaded configuration is validated,
    /// so this only happens for a [`DataSource`] that did not come from this config, or a
    /// config modified after loading without calling [`Config::validate`]: an internal
    /// fault, not a user error.
    pub fn connection_for(&self, ds: &DataSource) -> &Connection {
        match self.connections.get(&ds.connection) {
            Some(conn) => conn,
            None => panic!(
                "internal error, please report: connection `{}` is not defined (config was not validated)",
                ds.connection
            ),
        }
    }
}

/// Converts a serde_yaml error into a [`ConfigError::Parse`], moving the location out of
/// the message and masking anything that looks like a credential.
fn parse_error(err: &serde_yaml::Error, path: &Option<PathBuf>) -> ConfigError {
    let mut message = err.to_string();
    let location = err.location();
    if let Some(loc) = &location {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(pos) = message.find(&suffix) {
            message.replace_range(pos..pos + suffix.len(), "");
        }
    }
    ConfigError::Parse {
        path: path.clone(),
        message: redact_url(&message),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
    }
}

fn expand_field(
    value: &mut String,
    at: &str,
    env: EnvLookup,
    path: &Option<PathBuf>,
) -> Result<(), ConfigError> {
    if !value.contains("${") {
        return Ok(());
    }
    *value = expand(value, env).map_err(|problem| match problem {
        VarProblem::Undefined(var) => ConfigError::UndefinedVar {
            var,
            at: at.to_string(),
            path: path.clone(),
        },
        VarProblem::NotUnicode(var) => ConfigError::NonUnicodeVar {
            var,
            at: at.to_string(),
            path: path.clone(),
        },
        VarProblem::Syntax(problem) => ConfigError::BadVarSyntax {
            at: at.to_string(),
            problem,
            path: path.clone(),
        },
    })?;
    Ok(())
}

#[derive(Debug, PartialEq)]
enum VarProblem {
    Undefined(String),
    NotUnicode(String),
    Syntax(String),
}

/// Expands every `${NAME}` in `text`; a `$` not followed by `{` is kept as is.
/// Problems never quote `text` itself, which may already hold a secret.
fn expand(text: &str, env: EnvLookup) -> Result<String, VarProblem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(VarProblem::Syntax("`${` without a closing `}`".to_string()));
        };
        let name = &after[..end];
        if !is_var_name(name) {
            return Err(VarProblem::Syntax(format!(
                "`{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"
            )));
        }
        let value = env(name).ok_or_else(|| VarProblem::Undefined(name.to_string()))?;
        let value = value
            .into_string()
            .map_err(|_| VarProblem::NotUnicode(name.to_string()))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Masks credentials in a URL (or any text containing URLs) with `***`.
///
/// - `scheme://user:password@host/…` becomes `scheme://user:***@host/…`;
/// - `password=…`, `pwd=…` and `passwd=…` parameters (any case, in a query string or an
///   ODBC-style `;`-separated string) have their value replaced up to the next `&`, `;`,
///   `#`, quote or whitespace.
///
/// A user name is not a secret and is kept, so the message still says who connected.
pub fn redact_url(url: &str) -> String {
    redact_params(&redact_userinfo(url))
}

/// Characters that end the authority part of a URL (or a URL embedded in a message).
fn ends_authority(c: char) -> bool {
    matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace()
}

fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_len = tail.find(ends_authority).unwrap_or(tail.len());
        let authority = &tail[..authority_len];
        // The password may itself contain `@` or `:`; the host follows the last `@`.
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_len..];
    }
    out.push_str(rest);
    out
}

fn redact_params(text: &str) -> String {
    const KEYS: &[&str] = &[
        "password=",
        "passwd=",
        "pwd=",
        // S3 credentials (`datafusion+s3://…`, `ballista+s3://…`).
        "secret_access_key=",
        "session_token=",
    ];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let at_boundary = i == 0
            || matches!(text.as_bytes()[i - 1], b'?' | b'&' | b';')
            || text.as_bytes()[i - 1].is_ascii_whitespace();
        let key = if at_boundary {
            KEYS.iter().find(|k| lower[i..].starts_with(**k))
        } else {
            None
        };
        match key {
            Some(key) => {
                let value_start = i + key.len();
                let value_len = text[value_start..]
                    .find(|c: char| {
                        matches!(c, '&' | ';' | '#' | '"' | '\'' | '`') || c.is_whitespace()
                    })
                    .unwrap_or(text.len() - value_start);
                out.push_str(&text[i..value_start]);
                out.push_str("***");
                i = value_start + value_len;
            }
            None => {
                // Advance by one whole character to stay on UTF-8 boundaries.
                let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[i..i + ch_len]);
                i += ch_len;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const EXAMPLE: &str = r#"
connections:
  lake:
    url: sqlite:///var/hunt/lake.db
    table_creation_permission: false
    statement_timeout: 30
  pg:
    url: postgresql://hunter:${PGPASS}@db.example/lake
    connect_timeout: 3
datasources:
  events:
    connection: lake
    table: events
    timestamp: "@timestamp"
    timestamp_format: "%Y-%m-%dT%H:%M:%S.%fZ"
    data_model_map: ecs
  host101:
    connection: pg
    table: sysmon
"#;

    fn fake_env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn parse(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_yaml_str_with(text, Some(Path::new("/etc/k.yaml")), &fake_env(vars))
    }

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(tag: &str) -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kestrel-config-test-{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    fn write(path: &Path, text: &str) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(path, text).expect("write file");
    }

    #[test]
    fn parses_the_example() {
        let config = parse(EXAMPLE, &[("PGPASS", "s3cret")]).expect("valid config");
        let lake = &config.connections["lake"];
        assert_eq!(lake.url, "sqlite:///var/hunt/lake.db");
        assert!(!lake.table_creation_permission);
        assert_eq!(lake.statement_timeout, Some(30));
        let pg = &config.connections["pg"];
        assert_eq!(pg.statement_timeout, None);
        assert_eq!(pg.connect_timeout, Some(3));
        assert_eq!(lake.connect_timeout, None);
        let events = &config.datasources["events"];
        assert_eq!(
            events,
            &DataSource {
                connection: "lake".into(),
                table: "events".into(),
                timestamp: Some("@timestamp".into()),
                timestamp_format: Some("%Y-%m-%dT%H:%M:%S.%fZ".into()),
                data_model_map: Some("ecs".into()),
                whole_records: None,
            }
        );
        assert_eq!(config.datasources["host101"].timestamp, None);
        assert_eq!(config.path.as_deref(), Some(Path::new("/etc/k.yaml")));
    }

    #[test]
    fn empty_file_is_an_empty_config() {
        let config = parse("# nothing yet\n", &[]).expect("empty is fine");
        assert!(config.connections.is_empty() && config.datasources.is_empty());
    }

    #[test]
    fn data_model_mapping_is_an_alias() {
        let text = "connections: {c: {url: 'sqlite://'}}\n\
                    datasources: {d: {connection: c, table: t, data_model_mapping: /m.yaml}}\n";
        let config = parse(text, &[]).expect("alias accepted");
        assert_eq!(
            config.datasources["d"].data_model_map.as_deref(),
            Some("/m.yaml")
        );
    }

    #[test]
    fn unknown_field_fails_with_location() {
        let text = "connections:\n  c:\n    url: sqlite://\ndatasources:\n  d:\n    connection: c\n    tabel: t\n";
        let err = parse(text, &[]).expect_err("typo must fail");
        let ConfigError::Parse { message, line, .. } = &err else {
            panic!("expected a parse error, got {err:?}");
        };
        assert!(message.contains("unknown field `tabel`"), "{message}");
        assert_eq!(*line, Some(7));
        let shown = err.to_string();
        assert!(shown.starts_with("config /etc/k.yaml:7:"), "{shown}");
        assert!(!shown.contains(" at line "), "{shown}");
    }

    #[test]
    fn unknown_top_level_key_fails() {
        let err = parse("datasource: {}\n", &[]).expect_err("typo must fail");
        assert!(
            err.to_string().contains("unknown field `datasource`"),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_do_not_leak_credentials() {
        let text = "connections:\n  c:\n    url: sqlite://\n    statement_timeout: postgresql://u:hunter2@h/db\n";
        let err = parse(text, &[]).expect_err("wrong type");
        let shown = err.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn expands_vars_from_the_environment() {
        let config = parse(EXAMPLE, &[("PGPASS", "s3cret")]).expect("valid");
        assert_eq!(
            config.connections["pg"].url,
            "postgresql://hunter:s3cret@db.example/lake"
        );
        let text = "connections: {c: {url: 'sqlite:///${DIR}/${DB}.db'}}\n\
                    datasources: {d: {connection: c, table: '${T}_x', timestamp: 'cost$5'}}\n";
        let config = parse(text, &[("DIR", "data"), ("DB", "lake"), ("T", "ev")]).expect("valid");
        assert_eq!(config.connections["c"].url, "sqlite:///data/lake.db");
        assert_eq!(config.datasources["d"].table, "ev_x");
        assert_eq!(config.datasources["d"].timestamp.as_deref(), Some("cost$5"));
    }

    #[test]
    fn undefined_var_names_the_var_and_file() {
        let err = parse(EXAMPLE, &[]).expect_err("PGPASS unset");
        assert!(
            matches!(&err, ConfigError::UndefinedVar { var, at, .. } if var == "PGPASS" && at == "connections.pg.url"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "config /etc/k.yaml: environment variable `PGPASS` used in `connections.pg.url` is not set"
        );
    }

    #[test]
    fn bad_var_syntax_is_an_error() {
        let env = fake_env(&[]);
        assert!(matches!(expand("a${B", &env), Err(VarProblem::Syntax(_))));
        assert!(matches!(expand("a${}", &env), Err(VarProblem::Syntax(_))));
        assert!(matches!(expand("${1A}", &env), Err(VarProblem::Syntax(_))));
        assert_eq!(expand("$A {B} $", &env), Ok("$A {B} $".to_string()));
    }

    #[test]
    fn unknown_connection_names_datasource_and_defined_ones() {
        let text = "connections: {lake: {url: 'sqlite://'}}\n\
                    datasources: {events: {connection: lakes, table: t}}\n";
        let err = parse(text, &[]).expect_err("unknown connection");
        assert_eq!(
            err.to_string(),
            "config /etc/k.yaml: datasource `events` names connection `lakes`, which is not defined; defined: lake"
        );
    }

    #[test]
    fn resolves_datasource_by_name_whatever_the_scheme() {
        let config = parse(EXAMPLE, &[("PGPASS", "x")]).expect("valid");
        for uri in [
            "stixshifter://host101",
            "sqlalchemy://host101",
            "host101",
            "x://host101/",
        ] {
            let (name, ds) = config.resolve_datasource(uri).expect(uri);
            assert_eq!(name, "host101");
            assert_eq!(ds.table, "sysmon");
            assert_eq!(
                config.connection_for(ds).url,
                "postgresql://hunter:x@db.example/lake"
            );
        }
        assert!(config.resolve_datasource("stixshifter://host102").is_none());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgresql://user:pa:ss@word@host:5432/db"),
            "postgresql://user:***@host:5432/db"
        );
        assert_eq!(
            redact_url("postgresql://user@host/db"),
            "postgresql://user@host/db"
        );
        assert_eq!(
            redact_url("sqlite:///var/hunt/lake.db"),
            "sqlite:///var/hunt/lake.db"
        );
        assert_eq!(
            redact_url("mssql://host/db?user=sa&password=S3cr3t!&encrypt=true"),
            "mssql://host/db?user=sa&password=***&encrypt=true"
        );
        assert_eq!(
            redact_url("Server=h;UID=sa;PWD=x!y;Database=d"),
            "Server=h;UID=sa;PWD=***;Database=d"
        );
        assert_eq!(
            redact_url("cannot connect to \"mysql://root:toor@db\" (refused)"),
            "cannot connect to \"mysql://root:***@db\" (refused)"
        );
        assert_eq!(
            redact_url("datafusion+s3://lake/p?access_key_id=AK&secret_access_key=x/y&region=r"),
            "datafusion+s3://lake/p?access_key_id=AK&secret_access_key=***&region=r"
        );
        assert_eq!(redact_url("no url here: ünïcode"), "no url here: ünïcode");
    }

    #[test]
    fn debug_of_connection_is_redacted() {
        let config = parse(EXAMPLE, &[("PGPASS", "s3cret")]).expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("hunter:***@db.example"), "{shown}");
    }

    #[test]
    fn discovery_order() {
        let home = temp_dir("home");
        let dir = temp_dir("files");
        let file = |name: &str, table: &str| {
            let path = dir.join(name);
            write(
                &path,
                &format!("connections: {{c: {{url: 'sqlite://'}}}}\ndatasources: {{d: {{connection: c, table: {table}}}}}\n"),
            );
            path
        };
        let explicit = file("explicit.yaml", "explicit");
        let kc = file("kc.yaml", "kestrel_config");
        let ksc = file("ksc.yaml", "sqlalchemy_config");
        let table_of = |found: Option<Config>| found.map(|c| c.datasources["d"].table.clone());
        let home_s = home.to_str().expect("utf-8 temp path");
        let kc_s = kc.to_str().expect("utf-8 temp path");
        let ksc_s = ksc.to_str().expect("utf-8 temp path");

        let all = fake_env(&[
            ("HOME", home_s),
            (ENV_CONFIG, kc_s),
            (ENV_SQLALCHEMY_CONFIG, ksc_s),
        ]);
        let found = Config::discover_with(Some(&explicit), &all).expect("ok");
        assert_eq!(table_of(found).as_deref(), Some("explicit"));
        let found = Config::discover_with(None, &all).expect("ok");
        assert_eq!(table_of(found).as_deref(), Some("kestrel_config"));

        let no_kc = fake_env(&[
            ("HOME", home_s),
            (ENV_CONFIG, ""),
            (ENV_SQLALCHEMY_CONFIG, ksc_s),
        ]);
        let found = Config::discover_with(None, &no_kc).expect("ok");
        assert_eq!(table_of(found).as_deref(), Some("sqlalchemy_config"));

        let home_only = fake_env(&[("HOME", home_s)]);
        assert!(Config::discover_with(None, &home_only)
            .expect("ok")
            .is_none());
        let home_dir = home.join(".config").join("kestrel");
        write(
            &home_dir.join("sqlalchemy.yaml"),
            "connections: {c: {url: 'sqlite://'}}\ndatasources: {d: {connection: c, table: home_sa}}\n",
        );
        let found = Config::discover_with(None, &home_only).expect("ok");
        assert_eq!(table_of(found).as_deref(), Some("home_sa"));
        write(
            &home_dir.join("kestrel.yaml"),
            "connections: {c: {url: 'sqlite://'}}\ndatasources: {d: {connection: c, table: home_k}}\n",
        );
        let found = Config::discover_with(None, &home_only).expect("ok");
        assert_eq!(table_of(found).as_deref(), Some("home_k"));

        assert!(Config::discover_with(None, &fake_env(&[]))
            .expect("ok")
            .is_none());

        let _ = std::fs::remove_dir_all(&home);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn discovery_named_file_must_exist() {
        let missing = Path::new("/nonexistent/kestrel.yaml");
        let err = Config::discover_with(Some(missing), &fake_env(&[])).expect_err("missing");
        assert!(matches!(&err, ConfigError::Missing { origin, .. } if origin == "--config"));
        let env = fake_env(&[(ENV_SQLALCHEMY_CONFIG, "/nonexistent/sa.yaml")]);
        let err = Config::discover_with(None, &env).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "config /nonexistent/sa.yaml: file not found (named by $KESTREL_SQLALCHEMY_CONFIG)"
        );
    }

    #[test]
    fn discovered_file_expands_vars_from_the_same_env() {
        let dir = temp_dir("expand");
        let path = dir.join("k.yaml");
        write(&path, EXAMPLE);
        let env = fake_env(&[
            (ENV_CONFIG, path.to_str().expect("utf-8")),
            ("PGPASS", "pw"),
        ]);
        let config = Config::discover_with(None, &env)
            .expect("ok")
            .expect("found");
        assert_eq!(
            config.connections["pg"].url,
            "postgresql://hunter:pw@db.example/lake"
        );
        assert_eq!(config.path.as_deref(), Some(path.as_path()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
