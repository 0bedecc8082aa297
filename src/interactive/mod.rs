//! What the REPL (`cli/repl.rs`) and the Jupyter kernel (`jupyter/`) share: whether an
//! input is a complete statement, completion at a cursor, highlighting spans, and the
//! text `inspect` shows for the word at a cursor.
//!
//! In: the input text (a REPL buffer, a notebook cell), a cursor byte offset, and a
//! [`Scope`] (the session's variables, the configuration, the analytics available).
//! Out: plain data (a [`Completion`], [`Highlight`] spans, a string) each frontend puts
//! in its own form. Nothing here runs a query.

pub mod analytics;
pub mod html;

use crate::config::Config;
use crate::fxhash::FxHashMap;
use crate::ir::Program;
use crate::source::SourceFile;
use crate::syntax::lexer::Lexer;
use crate::syntax::token::Tok;

/// The message of the parse error a statement cut short gets (see `syntax::parse_error`).
const ENDS_EARLY: &str = "the hunt ends in the middle of a statement";

/// Whether an input can run yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// It parses (blank input and comments alone too: there is nothing to wait for).
    Complete,
    /// It ends in the middle of a statement: more lines will follow.
    Incomplete,
    /// It fails with an error more input cannot fix (running it reports the error).
    Invalid,
}

/// How complete `text` is, as the parser decides.
pub fn completeness(text: &str) -> Completeness {
    let src = SourceFile::new("<input>", text);
    match crate::syntax::parse(&src) {
        Ok(_) => Completeness::Complete,
        Err(d) if d.message == ENDS_EARLY => Completeness::Incomplete,
        Err(_) => Completeness::Invalid,
    }
}

/// Whether `text` is ready to run: it parses, or fails with an error other than "the
/// hunt ends in the middle of a statement".
pub fn is_complete(text: &str) -> bool {
    completeness(text) != Completeness::Incomplete
}

/// The language's keywords, as completion offers them.
pub const KEYWORDS: &[&str] = &[
    "GET",
    "FIND",
    "NEW",
    "LOAD",
    "SAVE",
    "TO",
    "FROM",
    "WHERE",
    "START",
    "STOP",
    "LAST",
    "LIMIT",
    "OFFSET",
    "BY",
    "ATTR",
    "SORT",
    "GROUP",
    "WITH",
    "AS",
    "JOIN",
    "DISP",
    "INFO",
    "DESCRIBE",
    "EXPLAIN",
    "APPLY",
    "ON",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "MATCHES",
    "ISSUBSET",
    "ISSUPERSET",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "ASC",
    "DESC",
    "TIMESTAMPED",
    "DAYS",
    "HOURS",
    "MINUTES",
    "SECONDS",
];

/// The dot commands of the REPL (outside the language).
pub const DOT_COMMANDS: &[&str] = &[".help", ".vars", ".explain", ".config", ".quit"];

/// One variable in scope: its newest version.
#[derive(Debug, Clone, PartialEq)]
pub struct VarInfo {
    pub name: String,
    /// Canonical entity type.
    pub entity: String,
    /// Its attributes, when known.
    pub columns: Option<Vec<String>>,
    /// The command that made it (get, find, new, …).
    pub command: &'static str,
}

/// What completion and inspection can see.
#[derive(Debug, Default)]
pub struct Scope<'a> {
    pub vars: Vec<VarInfo>,
    pub config: Option<&'a Config>,
    /// Analytics names as `APPLY` takes them (`docker://name`, `python://name`); None:
    /// [`analytics::names`], asked only when completing after `APPLY` (it may run
    /// `docker`).
    pub analytics: Option<Vec<String>>,
}

impl<'a> Scope<'a> {
    /// The variables of a session's program (newest version of each, in definition
    /// order) and the configuration; analytics are found when first needed.
    pub fn of(program: &Program, config: Option<&'a Config>) -> Scope<'a> {
        Scope {
            vars: vars_of(program),
            config,
            analytics: None,
        }
    }

    fn var(&self, name: &str) -> Option<&VarInfo> {
        self.vars.iter().find(|v| v.name == name)
    }
}

/// The newest version of each variable of `program`, in order of first definition (of
/// the versions a session still holds: it forgets those nothing reads).
pub fn vars_of(program: &Program) -> Vec<VarInfo> {
    // A long session holds every version of every variable: only the newest of each is
    // copied (copying all made a REPL fed 16,000 statements spend most of its time here).
    let mut newest: FxHashMap<&str, usize> = FxHashMap::default();
    let mut order: Vec<&str> = Vec::new();
    for (i, r) in program.relations.iter().enumerate() {
        if r.var.contains('(') {
            continue;
        }
        if newest.insert(&r.var, i).is_none() {
            order.push(&r.var);
        }
    }
    order
        .into_iter()
        .map(|name| {
            let r = &program.relations[newest[name]];
            VarInfo {
                name: r.var.clone(),
                entity: r.entity.clone(),
                columns: r.columns.clone(),
                command: r.command,
            }
        })
        .collect()
}

/// Candidates for the word that ends at the cursor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    /// Byte offset where the word being completed starts (it ends at the cursor).
    pub start: usize,
    pub candidates: Vec<String>,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-' | b'/')
}

/// Completion at byte `cursor` of `text`: keywords, variables, entity types, relation
/// words, attributes of the variable or type the statement is about, data source names,
/// analytics names, dot commands — whichever the words before the cursor call for.
pub fn complete(scope: &Scope<'_>, text: &str, cursor: usize) -> Completion {
    let cursor = floor_char_boundary(text, cursor.min(text.len()));
    let bytes = text.as_bytes();
    let mut start = cursor;
    while start > 0 && is_word_byte(bytes[start - 1]) {
        start -= 1;
    }
    let word = &text[start..cursor];
    // The statement so far: from the last line that does not continue an earlier one
    // (a crude but sufficient cut: words of the current statement are what matter).
    let before = &text[..start];
    let words = words_of(statement_start(before));
    let prev = words
        .last()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    let prev2 = words
        .len()
        .checked_sub(2)
        .map(|i| words[i].to_ascii_uppercase())
        .unwrap_or_default();
    let model = crate::model().ok();
    let mut out: Vec<String> = Vec::new();

    if words.is_empty() && word.starts_with('.') {
        out.extend(DOT_COMMANDS.iter().map(|s| s.to_string()));
    } else if prev == ".EXPLAIN" {
        out.extend(scope.vars.iter().map(|v| v.name.clone()));
    } else if prev == "APPLY" {
        match &scope.analytics {
            Some(a) => out.extend(a.iter().cloned()),
            None => out.extend(analytics::names(scope.config)),
        }
    } else if prev == "FROM" || word.contains("://") {
        let scheme = word.split_once("://").map_or("stixshifter", |(s, _)| s);
        if let Some(c) = scope.config {
            out.extend(c.datasources.keys().map(|k| format!("{scheme}://{k}")));
        }
        if !word.contains("://") {
            out.extend(scope.vars.iter().map(|v| v.name.clone()));
        }
    } else if let Some((ty, _)) = word.split_once(':').filter(|_| !word.contains("://")) {
        // `process:na` (a pattern's `type:attribute`).
        let mapping = statement_mapping(scope, &words);
        out.extend(
            type_attributes(ty, mapping.as_ref())
                .into_iter()
                .map(|a| format!("{ty}:{a}")),
        );
    } else if let Some((var, _)) = word.split_once('.').filter(|(v, _)| scope.var(v).is_some()) {
        // `x.na` (a reference to a variable's attribute).
        let v = scope.var(var).expect("checked above");
        out.extend(attributes_of(v).into_iter().map(|a| format!("{var}.{a}")));
    } else if matches!(prev.as_str(), "GET" | "FIND" | "NEW") {
        if let Some(m) = model {
            out.extend(m.entities.keys().cloned());
            for d in m.entities.values() {
                out.extend(d.aliases.iter().cloned());
            }
        }
    } else if prev2 == "FIND" && model.is_some_and(|m| m.entity_name(&prev).is_some()) {
        if let Some(m) = model {
            let ty = m.entity_name(&prev).unwrap_or_default();
            for r in &m.relations {
                if r.subject == ty || r.object == ty {
                    let w = r.relation.to_ascii_uppercase();
                    if !out.contains(&w) {
                        out.push(w);
                    }
                }
            }
        }
    } else if prev == "BY" && words.iter().any(|w| w.eq_ignore_ascii_case("FIND")) {
        // `FIND process CREATED BY v`: the variable whose relatives to find.
        out.extend(scope.vars.iter().map(|v| v.name.clone()));
    } else if in_attribute_list(&words) {
        match subject_var(scope, &words) {
            Some(v) => out.extend(attributes_of(v)),
            None => {
                if let Some(ty) = subject_type(&words) {
                    out.extend(type_attributes(&ty, None));
                }
            }
        }
    } else if words.iter().any(|w| w.eq_ignore_ascii_case("WHERE")) {
        if let Some(ty) = subject_type(&words) {
            let mapping = statement_mapping(scope, &words);
            out.extend(type_attributes(&ty, mapping.as_ref()));
        }
        out.extend(KEYWORDS.iter().map(|k| k.to_string()));
    } else {
        out.extend(KEYWORDS.iter().map(|k| k.to_string()));
        out.extend(scope.vars.iter().map(|v| v.name.clone()));
    }

    let lower = !word.is_empty() && word.chars().all(|c| !c.is_ascii_uppercase());
    let mut candidates: Vec<String> = Vec::new();
    for c in out {
        if !c
            .to_ascii_lowercase()
            .starts_with(&word.to_ascii_lowercase())
        {
            continue;
        }
        let c = if lower && KEYWORDS.contains(&c.as_str()) {
            c.to_ascii_lowercase()
        } else {
            c
        };
        if !candidates.contains(&c) {
            candidates.push(c);
        }
    }
    Completion { start, candidates }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The text of the statement the cursor is in: from the start of the last line that
/// begins a statement (a line whose first word is not a continuation keyword).
fn statement_start(before: &str) -> &str {
    let mut cut = 0;
    let mut pos = 0;
    for line in before.split_inclusive('\n') {
        let first = line
            .split(|c: char| c.is_whitespace() || c == '[' || c == '(')
            .find(|w| !w.is_empty())
            .unwrap_or("");
        let starts = first.is_empty()
            || !matches!(
                first.to_ascii_uppercase().as_str(),
                "WHERE"
                    | "FROM"
                    | "ATTR"
                    | "SORT"
                    | "LIMIT"
                    | "OFFSET"
                    | "START"
                    | "STOP"
                    | "LAST"
                    | "AND"
                    | "OR"
                    | "BY"
                    | "WITH"
                    | "AS"
                    | ","
                    | "]"
                    | ")"
            ) && !first.starts_with(',')
                && !first.starts_with('#');
        if starts && !line.trim().is_empty() && !before[..pos].trim_end().ends_with(',') {
            cut = pos;
        }
        pos += line.len();
    }
    &before[cut..]
}

/// The words (names, keywords, URIs) of `text`, punctuation dropped except `=`.
fn words_of(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if b == b'\'' || b == b'"' {
            let q = b;
            i += 1;
            while i < bytes.len() && bytes[i] != q {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if is_word_byte(b) {
            let s = i;
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            out.push(&text[s..i]);
        } else if b == b'=' {
            out.push("=");
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Whether the cursor is in a list of attributes: after ATTR, BY, or a comma in one.
fn in_attribute_list(words: &[&str]) -> bool {
    for (i, w) in words.iter().enumerate().rev() {
        match w.to_ascii_uppercase().as_str() {
            "ATTR" => return true,
            // `SORT BY`, `GROUP BY`, `y = SORT x BY`; not `FIND … CREATED BY x`.
            "BY" => return !words[..i].iter().any(|w| w.eq_ignore_ascii_case("FIND")),
            "WHERE" | "FROM" | "LIMIT" | "OFFSET" | "=" | "ASC" | "DESC" => return false,
            _ => {}
        }
    }
    false
}

/// The variable a statement reads: the first word after DISP/INFO/SORT/GROUP/… that
/// names a variable in scope.
fn subject_var<'s>(scope: &'s Scope<'_>, words: &[&str]) -> Option<&'s VarInfo> {
    let eq = words.iter().position(|w| *w == "=").map_or(0, |i| i + 1);
    words[eq..].iter().find_map(|w| scope.var(w))
}

/// The entity type a statement names (`GET process …`, `FIND process …`).
fn subject_type(words: &[&str]) -> Option<String> {
    let m = crate::model().ok()?;
    let i = words
        .iter()
        .position(|w| matches!(w.to_ascii_uppercase().as_str(), "GET" | "FIND" | "NEW"))?;
    let w = words.get(i + 1)?;
    m.entity_name(w).map(|_| w.to_string())
}

fn attributes_of(v: &VarInfo) -> Vec<String> {
    match &v.columns {
        Some(c) => c.clone(),
        None => type_attributes(&v.entity, None),
    }
}

/// The mapping of the data source the statement reads (`FROM scheme://name`), as the
/// configuration names it.
fn statement_mapping(scope: &Scope<'_>, words: &[&str]) -> Option<crate::model::Mapping> {
    let config = scope.config?;
    let i = words.iter().position(|w| w.eq_ignore_ascii_case("FROM"))?;
    let (_, ds) = config.resolve_datasource(words.get(i + 1)?)?;
    let name = ds
        .data_model_map
        .as_deref()
        .unwrap_or(crate::lower::DEFAULT_MAPPING);
    crate::model::Mapping::load(name).ok()
}

/// A type's attributes; with a mapping, those it maps (all of them if it maps none).
fn type_attributes(ty: &str, mapping: Option<&crate::model::Mapping>) -> Vec<String> {
    let Ok(m) = crate::model() else {
        return Vec::new();
    };
    let all = m
        .entity_name(ty)
        .and_then(|c| m.entity(c))
        .map(|d| d.attributes.clone())
        .unwrap_or_default();
    let Some(mapping) = mapping else {
        return all;
    };
    let mapped: Vec<String> = all
        .iter()
        .filter(|a| crate::cli::mappings::maps(m, mapping, &format!("{ty}:{a}")))
        .cloned()
        .collect();
    if mapped.is_empty() {
        all
    } else {
        mapped
    }
}

/// What a span of the input is, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Keyword,
    String,
    Number,
    Uri,
    Error,
}

/// A styled byte range of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Highlight {
    pub start: usize,
    pub end: usize,
    pub style: Style,
}

/// Keywords, strings, numbers, URIs, and where the lexer or parser fails (only a
/// failure that more input cannot fix is an error while typing).
pub fn highlight(text: &str) -> Vec<Highlight> {
    let mut out = Vec::new();
    for item in Lexer::new(text) {
        match item {
            Ok((start, tok, end)) => {
                let style = match tok {
                    Tok::Str(_) | Tok::Timestamp(_) => Style::String,
                    Tok::Int(_) | Tok::Float(_) | Tok::Duration(..) => Style::Number,
                    Tok::Uri(_) | Tok::Path(_) => Style::Uri,
                    Tok::Ident(_)
                    | Tok::Assign
                    | Tok::EqEq
                    | Tok::Ne
                    | Tok::Lt
                    | Tok::Le
                    | Tok::Gt
                    | Tok::Ge
                    | Tok::Comma
                    | Tok::Dot
                    | Tok::Colon
                    | Tok::LParen
                    | Tok::RParen
                    | Tok::LBracket
                    | Tok::RBracket
                    | Tok::LBrace
                    | Tok::RBrace
                    | Tok::Plus => continue,
                    _ => Style::Keyword,
                };
                out.push(Highlight { start, end, style });
            }
            Err(d) => {
                if let Some(s) = d.span {
                    out.push(Highlight {
                        start: s.start.min(text.len()),
                        end: s.end.min(text.len()),
                        style: Style::Error,
                    });
                }
                return out;
            }
        }
    }
    if let Err(d) = crate::syntax::parse(&SourceFile::new("<input>", text)) {
        if d.message != ENDS_EARLY {
            if let Some(s) = d.span {
                let (start, end) = (s.start.min(text.len()), s.end.min(text.len()));
                out.retain(|h| h.end <= start || h.start >= end);
                out.push(Highlight {
                    start,
                    end,
                    style: Style::Error,
                });
                out.sort_by_key(|h| h.start);
            }
        }
    }
    out
}

/// What `inspect` shows for the word at `cursor`: for `type:attribute`, the column(s)
/// it resolves to per event class in each mapping the configuration uses (every
/// built-in mapping without one); for a variable, its type, command and attributes; for
/// a keyword, a line of help. None when the cursor is on nothing known.
pub fn inspect(scope: &Scope<'_>, text: &str, cursor: usize) -> Option<String> {
    let cursor = floor_char_boundary(text, cursor.min(text.len()));
    let bytes = text.as_bytes();
    let (mut s, mut e) = (cursor, cursor);
    while s > 0 && is_word_byte(bytes[s - 1]) {
        s -= 1;
    }
    while e < bytes.len() && is_word_byte(bytes[e]) {
        e += 1;
    }
    let word = text[s..e].trim_end_matches(['.', ':']);
    if word.is_empty() {
        return None;
    }
    if let Some(v) = scope.var(word) {
        let mut out = format!(
            "{} = {} {} ({})\n",
            v.name,
            v.command.to_uppercase(),
            v.entity,
            "variable"
        );
        if let Some(cols) = &v.columns {
            out.push_str(&format!("attributes: {}\n", cols.join(", ")));
        }
        return Some(out);
    }
    if word.contains(':') && !word.contains("://") {
        let mut out = String::new();
        for m in mappings_in_use(scope.config) {
            match crate::cli::mappings::render(Some(&m), Some(word)) {
                Ok(t) => out.push_str(&t),
                Err(e) => out.push_str(&format!("{m}: {e}\n")),
            }
        }
        return Some(out);
    }
    if let Some((var, attr)) = word.split_once('.') {
        if let Some(v) = scope.var(var) {
            return inspect(scope, &format!("{}:{attr}", v.entity), v.entity.len() + 1);
        }
    }
    let upper = word.to_ascii_uppercase();
    if let Some(h) = keyword_help(&upper) {
        return Some(format!("{upper}: {h}\n"));
    }
    let m = crate::model().ok()?;
    let canonical = m.entity_name(word)?;
    let def = m.entity(canonical)?;
    Some(format!(
        "entity type {canonical}\nattributes: {}\n",
        def.attributes.join(", ")
    ))
}

/// The mappings a configuration's data sources use, in order (`ecs` when one names
/// none); every built-in mapping when there is no configuration.
fn mappings_in_use(config: Option<&Config>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    match config {
        Some(c) if !c.datasources.is_empty() => {
            for ds in c.datasources.values() {
                let m = ds
                    .data_model_map
                    .clone()
                    .unwrap_or_else(|| crate::lower::DEFAULT_MAPPING.to_string());
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        _ => out.extend(
            crate::model::Mapping::builtin_names()
                .iter()
                .map(|s| s.to_string()),
        ),
    }
    out
}

fn keyword_help(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "GET" => "v = GET type FROM source-or-variable WHERE pattern [time range] [LIMIT n]",
        "FIND" => "v = FIND type RELATION [REVERSED] variable: entities related to a variable's",
        "NEW" => "v = NEW type [ {…}, … ]: entities written inline",
        "DISP" => "DISP v [ATTR a, …] [SORT BY a] [LIMIT n]: show a variable's entities",
        "INFO" => "INFO v: a variable's type, counts and attributes",
        "DESCRIBE" => "DESCRIBE v.attr: statistics of one attribute",
        "EXPLAIN" => "EXPLAIN v: how a variable is computed, and its SQL",
        "APPLY" => "APPLY analytic ON v [WITH k=v, …]: run an analytic over variables",
        "SORT" => "v = SORT w BY attr [ASC|DESC]",
        "GROUP" => "v = GROUP w BY attr [WITH aggregate AS name]",
        "LOAD" => "v = LOAD file [AS type]",
        "SAVE" => "SAVE v TO file",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
