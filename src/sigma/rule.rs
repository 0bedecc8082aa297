//! A Sigma rule file, read.
//!
//! In: the YAML text of one rule. Out: [`Rule`]: its metadata (title, id, author, level,
//! references, licence), its `logsource`, the named detections (in file order) and the
//! condition text. Nothing is interpreted yet; each part remembers its line in the file,
//! found by searching the text (serde_yaml keeps no positions).

use serde_yaml::{Mapping, Value};

use super::SigmaError;

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The file as given (for messages).
    pub file: String,
    pub text: String,
    pub title: String,
    pub id: Option<String>,
    pub author: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub license: Option<String>,
    pub references: Vec<String>,
    pub logsource: LogSource,
    /// Named detections (`selection`, `filter_main_*`, …) in file order.
    pub detections: Vec<(String, Value)>,
    pub condition: String,
    /// Line of `condition:`.
    pub condition_line: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
        .collect();
        write!(f, "{}", parts.join(", "))
    }
}

impl Rule {
    pub fn err(
        &self,
        line: usize,
        construct: impl Into<String>,
        msg: impl Into<String>,
    ) -> SigmaError {
        SigmaError::new(&self.file, line, construct, msg)
    }

    /// The first line at or after `from` whose text contains `needle` (0: not found).
    pub fn line_of(&self, needle: &str, from: usize) -> usize {
        self.text
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .unwrap_or(0)
    }

    /// Line of the detection named `name` (its `name:` key).
    pub fn detection_line(&self, name: &str) -> usize {
        let from = self.line_of("detection:", 1);
        let key = format!("{name}:");
        self.text
            .lines()
            .enumerate()
            .skip(from)
            .find(|(_, l)| l.trim_start().starts_with(&key))
            .map(|(i, _)| i + 1)
            .unwrap_or(from)
    }

    /// Parses one rule. `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Rule, SigmaError> {
        let err = |line, construct: &str, msg: String| SigmaError::new(file, line, construct, msg);
        let mut docs = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(text) {
            let v = serde::Deserialize::deserialize(doc).map_err(|e: serde_yaml::Error| {
                let line = e.location().map(|l| l.line()).unwrap_or(0);
                err(line, "YAML", format!("not valid YAML: {e}"))
            })?;
            docs.push(v);
        }
        let doc: Mapping = match docs.as_slice() {
            [Value::Mapping(m)] => m.clone(),
            [] => return Err(err(0, "empty file", "the file holds no Sigma rule".into())),
            [_] => return Err(err(1, "rule", "a Sigma rule is a YAML mapping".into())),
            _ => {
                return Err(err(
                    0,
                    "rule collection",
                    "rule collections (several YAML documents in one file) are not supported: \
                     give one rule per file"
                        .into(),
                ))
            }
        };
        let mut rule = Rule {
            file: file.to_string(),
            text: text.to_string(),
            title: String::new(),
            id: None,
            author: None,
            level: None,
            status: None,
            license: None,
            references: Vec::new(),
            logsource: LogSource::default(),
            detections: Vec::new(),
            condition: String::new(),
            condition_line: 0,
        };
        let text_of = |k: &str| doc.get(k).and_then(scalar_text);
        if doc.contains_key("correlation") {
            let line = rule.line_of("correlation:", 1);
            return Err(rule.err(
                line,
                "correlation rule",
                "correlation rules (event_count, value_count, temporal, …) are not supported",
            ));
        }
        rule.title =
            text_of("title").ok_or_else(|| err(0, "title", "the rule has no `title`".into()))?;
        rule.id = text_of("id");
        rule.author = text_of("author");
        rule.level = text_of("level");
        rule.status = text_of("status");
        rule.license = text_of("license");
        if let Some(Value::Sequence(refs)) = doc.get("references") {
            rule.references = refs.iter().filter_map(scalar_text).collect();
        }
        if let Some(ls) = doc.get("logsource") {
            let Value::Mapping(ls) = ls else {
                let line = rule.line_of("logsource:", 1);
                return Err(rule.err(line, "logsource", "`logsource` must be a mapping"));
            };
            let get = |k: &str| ls.get(k).and_then(scalar_text);
            rule.logsource = LogSource {
                product: get("product"),
                category: get("category"),
                service: get("service"),
            };
        }
        let det_line = rule.line_of("detection:", 1);
        let Some(Value::Mapping(det)) = doc.get("detection") else {
            return Err(rule.err(det_line, "detection", "the rule has no `detection` mapping"));
        };
        for (k, v) in det {
            let Some(name) = k.as_str() else {
                return Err(rule.err(det_line, "detection", "detection names must be strings"));
            };
            match name {
                "condition" => {}
                "timeframe" => {
                    let line = rule.line_of("timeframe:", det_line);
                    return Err(rule.err(
                        line,
                        "timeframe",
                        "`timeframe` (a condition over a time window) is not supported",
                    ));
                }
                _ => rule.detections.push((name.to_string(), v.clone())),
            }
        }
        rule.condition_line = rule.line_of("condition:", det_line);
        rule.condition = match det.get("condition") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Sequence(list)) if list.len() == 1 => match &list[0] {
                Value::String(s) => s.clone(),
                _ => {
                    return Err(rule.err(
                        rule.condition_line,
                        "condition",
                        "the condition must be text",
                    ))
                }
            },
            Some(Value::Sequence(_)) => {
                return Err(rule.err(
                    rule.condition_line,
                    "condition list",
                    "several conditions in one rule are not supported: split the rule",
                ))
            }
            _ => {
                return Err(rule.err(
                    rule.condition_line.max(det_line),
                    "condition",
                    "the detection has no `condition`",
                ))
            }
        };
        Ok(rule)
    }

    /// Reads and parses a rule file.
    pub fn load(path: &std::path::Path) -> Result<Rule, SigmaError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SigmaError::new(&file, 0, "file", format!("cannot read the rule: {e}")))?;
        Rule::parse(&file, &text)
    }
}

/// A scalar as text (numbers and booleans as YAML writes them).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
