//! Sigma rules as hunt steps.
//!
//! In: a Sigma rule's YAML (a detection rule from SigmaHQ or your own) and the entity or
//! event type a GET reads. Out: a Kestrel pattern ([`crate::syntax::ast::Pattern`]) with
//! Sigma's meaning, which `WHERE SIGMA 'rule.yml'` lowers like any other pattern and
//! `kestrel sigma convert` prints as a huntflow a person can read and edit.
//!
//! ```text
//! rule.yml ──rule──▶ Rule (logsource, detections, condition)
//!          ──condition──▶ Cond (and/or/not, 1 of x*, all of them)
//!          ──value──▶ Node (field tests after modifiers: contains, windash, base64, …)
//!          ──translate(fieldmap)──▶ ast::Pattern ──print──▶ Kestrel text
//! ```
//!
//! Sigma's meaning, kept exactly: strings match ignoring ASCII case unless `|cased`
//! (`LIKE … ESCAPE …`, which is also how a case-insensitive equality is written); `*` and
//! `?` are wildcards and `\` escapes them; a test of a field the event lacks is false, also
//! under `not` (a negated test is `x IS NULL OR <the opposite test>`). A category's rule is
//! tested on its category's events only: the pattern begins `EVENTS '<OCSF type>' AND`, the
//! types the field map's `events:` gives (process_creation: `'Process Activity: Launch'`),
//! so `convert` prints the narrowing `WHERE SIGMA` applies. What Kestrel cannot
//! say (keyword searches, correlations, aggregations, a field the map does not know,
//! `fieldref`, IPv6 networks) is an error naming the rule, its line and the construct.

pub mod condition;
pub mod fieldmap;
pub mod print;
pub mod rule;
pub mod translate;
pub mod value;

use std::fmt;
use std::path::{Path, PathBuf};

pub use rule::Rule;
pub use translate::{translate, Target};

/// Something in a rule kestrel cannot run, or a rule that is not valid Sigma.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaError {
    /// The rule file as given.
    pub rule: String,
    /// 1-based line in the rule file (0: the rule as a whole).
    pub line: usize,
    /// What is not supported or wrong (`keyword search`, `modifier |expand`, …).
    pub construct: String,
    pub message: String,
}

impl SigmaError {
    pub fn new(
        rule: &str,
        line: usize,
        construct: impl Into<String>,
        message: impl Into<String>,
    ) -> SigmaError {
        SigmaError {
            rule: rule.to_string(),
            line,
            construct: construct.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SigmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.rule, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.rule, self.message)
        }
    }
}

impl std::error::Error for SigmaError {}

/// Where a `SIGMA 'path'` names a rule: the path itself when absolute, else under the
/// hunt file's directory, then under each configured rules directory, in order.
pub fn resolve(path: &str, hunt_dir: Option<&Path>, rule_dirs: &[PathBuf]) -> Option<PathBuf> {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    hunt_dir
        .map(|d| d.join(p))
        .into_iter()
        .chain(rule_dirs.iter().map(|d| d.join(p)))
        .chain(std::iter::once(p.to_path_buf()).filter(|_| hunt_dir.is_none()))
        .find(|c| c.is_file())
}

/// Every `.yml`/`.yaml` file under `path` (itself when a file), sorted.
pub fn rule_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What `kestrel sigma convert` makes of one rule.
#[derive(Debug, Clone)]
pub struct Converted {
    pub rule: Rule,
    /// The GET type.
    pub entity: String,
    pub var: String,
    pub huntflow: String,
}

/// Options of `kestrel sigma convert`.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// The data source URI the GET reads.
    pub from: String,
    /// The variable name (None: from the file name).
    pub var: Option<String>,
    /// The GET type (None: the category's first).
    pub entity: Option<String>,
}

/// One rule as a huntflow.
pub fn convert(path: &Path, opts: &ConvertOptions) -> Result<Converted, SigmaError> {
    let rule = Rule::load(path)?;
    convert_rule(rule, path, opts)
}

/// The same, for a rule already read.
pub fn convert_rule(
    rule: Rule,
    path: &Path,
    opts: &ConvertOptions,
) -> Result<Converted, SigmaError> {
    let (entity, pattern) = translate(
        &rule,
        fieldmap::FieldMap::shipped(),
        Target {
            entity: opts.entity.as_deref(),
            negate: false,
            span: crate::source::Span::default(),
            channels: true,
            events: true,
        },
    )?;
    let var = opts.var.clone().unwrap_or_else(|| var_name(path));
    let huntflow = print::huntflow(&rule, &var, &entity, &opts.from, &pattern);
    Ok(Converted {
        rule,
        entity,
        var,
        huntflow,
    })
}

/// A variable name from a file name: `proc_creation_win_whoami.yml` →
/// `proc_creation_win_whoami`; other characters become `_`, a keyword gets a `_` suffix.
pub fn var_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if crate::syntax::token::keyword(&s.to_ascii_uppercase()).is_some() {
        s.push('_');
    }
    s
}
