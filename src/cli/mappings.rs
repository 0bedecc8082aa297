//! `kestrel mappings [NAME] [ATTR]`: what the table layouts say.
//!
//! - no argument: the built-in layouts, one line each;
//! - `NAME` (a built-in name or a layout file): its event classes and the rules that place
//!   rows in them, then every attribute it maps;
//! - `NAME ATTR`: how one attribute resolves, per event class. `ATTR` is an OCSF event path
//!   (`process.name`), an entity attribute as a hunt writes it (`process:command_line`,
//!   `network-traffic:dst_ref.value`), or a native column (`Image`): for a column, the
//!   attributes that read it are listed instead (native → model).

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::model::{
    rule_key_columns, Mapping, Model, NativeRef, ScalarValue, CLASSIFICATION_ATTRIBUTES, EVENT_SLOT,
};

/// Runs the subcommand: prints to stdout, or an error to stderr with exit code 2.
pub fn mappings(name: Option<&str>, attr: Option<&str>) -> ExitCode {
    match render(name, attr) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The text the subcommand prints.
pub fn render(name: Option<&str>, attr: Option<&str>) -> Result<String, String> {
    let Some(name) = name else {
        return list();
    };
    let mapping = Mapping::load(name).map_err(|e| e.to_string())?;
    match attr {
        None => Ok(show(&mapping)),
        Some(a) => {
            let model = Model::builtin().map_err(|e| e.to_string())?;
            resolve(&model, &mapping, a)
        }
    }
}

fn list() -> Result<String, String> {
    let mut s = String::new();
    for n in Mapping::builtin_names() {
        let m = Mapping::builtin(n).map_err(|e| e.to_string())?;
        let _ = writeln!(
            s,
            "{n:<10} {} ({} classes, {} attributes)",
            m.description,
            classes_of(&m).len(),
            m.attributes.len()
        );
    }
    s.push_str("\n`kestrel mappings NAME` shows one; `kestrel mappings NAME ATTR` resolves an attribute.\n");
    Ok(s)
}

/// Class names in rule order, then the default class and classes named only by overrides.
fn classes_of(m: &Mapping) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let names = m
        .classes
        .iter()
        .map(|r| r.class.clone())
        .chain(m.default_class.clone())
        .chain(m.class_attributes.keys().cloned());
    for c in names {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn scalar(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Int(i) => i.to_string(),
        ScalarValue::Float(f) => f.to_string(),
        ScalarValue::Bool(b) => b.to_string(),
        ScalarValue::Text(t) => format!("'{t}'"),
    }
}

fn rule_text(matches: &crate::fxhash::FxIndexMap<String, Vec<ScalarValue>>) -> String {
    matches
        .iter()
        .map(|(key, vals)| {
            let cols: Vec<&str> = rule_key_columns(key).collect();
            let col = if cols.len() == 1 {
                cols[0].to_string()
            } else {
                format!("first_of({})", cols.join(", "))
            };
            let vals: Vec<String> = vals.iter().map(scalar).collect();
            if vals.len() == 1 {
                format!("{col} = {}", vals[0])
            } else {
                format!("{col} IN ({})", vals.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn show(m: &Mapping) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", m.name, m.description);
    if let Some(t) = &m.timestamp {
        let _ = writeln!(s, "timestamp: {t}");
    }
    s.push_str("\nclasses (first matching rule wins):\n");
    for r in &m.classes {
        let _ = writeln!(s, "  {:<32} {}", r.class, rule_text(&r.matches));
    }
    if let Some(d) = &m.default_class {
        let _ = writeln!(s, "  {d:<32} (rows no rule places)");
    }
    s.push_str("\nattributes (every class):\n");
    for (path, n) in &m.attributes {
        let _ = writeln!(s, "  {path:<40} {}", n.describe());
    }
    for (class, map) in &m.class_attributes {
        let _ = writeln!(s, "\nattributes in {class}:");
        for (path, n) in map {
            let _ = writeln!(s, "  {path:<40} {}", n.describe());
        }
    }
    if !m.classification.is_empty() {
        s.push_str("\nOCSF classification (first matching rule of the class; `kestrel mappings NAME type_uid`):\n");
        for r in &m.classification {
            let when = if r.matches.is_empty() {
                String::new()
            } else {
                rule_text(&r.matches)
            };
            let line = format!("  {:<32} {:<16} {when}", r.class, r.activity);
            let _ = writeln!(s, "{}", line.trim_end());
        }
    }
    if !m.object_columns.is_empty() {
        s.push_str(
            "\nattributes no entry names (custom `x_…` and others) read, then the bare name:\n",
        );
        for (object, native) in &m.object_columns {
            if object == EVENT_SLOT {
                let _ = writeln!(s, "  {:<40} the column of its own name", "(every path)");
            } else {
                let _ = writeln!(s, "  {object:<40} {native}.<name>");
            }
        }
        for (class, map) in &m.class_object_columns {
            for (object, native) in map {
                let _ = writeln!(s, "  {object:<40} {native}.<name>   (in {class})");
            }
        }
    }
    s
}

/// OCSF event paths an attribute as written may mean: a path itself, or
/// `entity:attribute` at each of the entity's slots.
fn candidate_paths(model: &Model, written: &str) -> Result<Vec<String>, String> {
    let Some((entity, attr)) = written.split_once(':') else {
        return Ok(vec![written.to_string()]);
    };
    let canonical = model
        .entity_name(entity)
        .ok_or_else(|| format!("unknown entity type `{entity}`"))?;
    let def = model
        .entity(canonical)
        .ok_or_else(|| format!("unknown entity type `{entity}`"))?;
    let rel = model.canonical_attr(canonical, attr);
    let mut out = Vec::new();
    for (cprefix, eprefix) in &def.context {
        if let Some(rest) = rel.strip_prefix(&format!("{cprefix}.")) {
            out.push(format!("{eprefix}.{rest}"));
        }
    }
    if out.is_empty() {
        for slot in &def.slots {
            out.push(if slot == EVENT_SLOT {
                rel.clone()
            } else {
                format!("{slot}.{rel}")
            });
        }
    }
    Ok(out)
}

/// How a classification attribute (`type_uid`, …) derives from a row, rule by rule.
fn classification(model: &Model, m: &Mapping, attr: &str) -> String {
    let mut s = String::new();
    let how = match attr {
        "type_uid" => " = class_uid * 100 + activity_id",
        "type_name" => " = \"class_name: activity_name\"",
        _ => "",
    };
    let _ = writeln!(
        s,
        "{attr} in {} (OCSF classification{how}; the first rule of a row's class that matches decides):",
        m.name
    );
    for (i, r) in m.classification.iter().enumerate() {
        let Some(c) = model.classify(r) else { continue };
        let first = !m.classification[..i].iter().any(|e| e.class == r.class);
        let value = match c.value(attr) {
            Some(v) => scalar(&v),
            None => continue,
        };
        let when = match (r.matches.is_empty(), first) {
            (false, _) => rule_text(&r.matches),
            (true, true) => "(every row)".to_string(),
            (true, false) => "(otherwise)".to_string(),
        };
        let _ = writeln!(
            s,
            "  {:<32} {when:<40} {value:<10} {}: {}",
            r.class, c.class_name, c.activity_name
        );
    }
    let _ = writeln!(
        s,
        "  rows of no class, or that no rule of their class matches: NULL"
    );
    let _ = writeln!(
        s,
        "  (a class's rows are those its rules under `classes` place; a test in WHERE becomes those rules' conditions)"
    );
    s
}

/// Whether `m` maps the attribute as a hunt writes it (`process:name`) in some class.
pub(crate) fn maps(model: &Model, m: &Mapping, written: &str) -> bool {
    candidate_paths(model, written).is_ok_and(|paths| {
        paths.iter().any(|p| {
            m.attributes.contains_key(p) || m.class_attributes.values().any(|c| c.contains_key(p))
        })
    })
}

fn resolve(model: &Model, m: &Mapping, written: &str) -> Result<String, String> {
    let mut s = String::new();
    if !m.classification.is_empty() && CLASSIFICATION_ATTRIBUTES.contains(&written) {
        return Ok(classification(model, m, written));
    }
    let paths = candidate_paths(model, written)?;
    let mut found = false;
    for path in &paths {
        let general = m.attributes.get(path);
        let overrides: Vec<(&str, &NativeRef)> = m
            .class_attributes
            .iter()
            .filter_map(|(c, map)| map.get(path).map(|n| (c.as_str(), n)))
            .collect();
        if general.is_none() && overrides.is_empty() {
            continue;
        }
        found = true;
        let _ = writeln!(s, "{path} in {}:", m.name);
        match general {
            Some(n) => {
                let _ = writeln!(s, "  {:<32} {}", "(every class)", n.describe());
            }
            None => {
                let _ = writeln!(s, "  {:<32} (not mapped)", "(every class)");
            }
        }
        for (c, n) in overrides {
            let _ = writeln!(s, "  {c:<32} {}", n.describe());
        }
    }
    if found {
        return Ok(s);
    }
    // Native → model: which attributes read this column.
    let reads = |n: &NativeRef| n.columns().iter().any(|c| c == written);
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for (path, n) in &m.attributes {
        if reads(n) {
            rows.push((path.clone(), "(every class)".into(), n.describe()));
        }
    }
    for (class, map) in &m.class_attributes {
        for (path, n) in map {
            if reads(n) {
                rows.push((path.clone(), class.clone(), n.describe()));
            }
        }
    }
    let rule_uses: Vec<&str> = m
        .classes
        .iter()
        .filter(|r| {
            r.matches
                .keys()
                .any(|k| rule_key_columns(k).any(|c| c == written))
        })
        .map(|r| r.class.as_str())
        .collect();
    if rows.is_empty() && rule_uses.is_empty() {
        let mut msg = format!(
            "`{written}` is neither an attribute nor a column mapping `{}` names",
            m.name
        );
        if !m.strict && !written.contains(':') {
            msg.push_str(&format!(
                "; a hunt naming it reads the column `{written}` if the table has one"
            ));
        }
        return Err(msg);
    }
    let _ = writeln!(s, "column {written} in {}:", m.name);
    for (path, class, how) in rows {
        let _ = writeln!(s, "  {path:<40} {class:<32} {how}");
    }
    if !rule_uses.is_empty() {
        let mut classes: Vec<&str> = Vec::new();
        for c in rule_uses {
            if !classes.contains(&c) {
                classes.push(c);
            }
        }
        let _ = writeln!(s, "  tells classes apart: {}", classes.join(", "));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn lists_the_builtin_layouts() {
        let s = render(None, None).unwrap();
        for n in ["ecs", "ocsf", "winevent"] {
            assert!(s.lines().any(|l| l.starts_with(n)), "{s}");
        }
    }

    #[test]
    fn resolves_a_path_per_class() {
        let s = render(Some("winevent"), Some("actor.process.name")).unwrap();
        assert!(
            s.contains("basename(first_of(Image, event_data.Image))"),
            "{s}"
        );
        assert!(
            s.lines().any(|l| l.contains("process_activity.open")
                && l.contains("basename(first_of(SourceImage, event_data.SourceImage))")),
            "{s}"
        );
    }

    #[test]
    fn resolves_an_entity_attribute_as_a_hunt_writes_it() {
        let s = render(Some("ecs"), Some("process:command_line")).unwrap();
        assert!(s.contains("process.cmd_line in ecs:"), "{s}");
        assert!(s.contains("process.command_line"), "{s}");
        let s = render(Some("ecs"), Some("process:parent_ref.command_line")).unwrap();
        assert!(s.contains("process.parent_process.cmd_line in ecs:"), "{s}");
        assert!(s.contains("process.parent.command_line"), "{s}");
    }

    #[test]
    fn a_native_column_lists_the_attributes_reading_it() {
        let s = render(Some("winevent"), Some("TargetObject")).unwrap();
        assert!(s.contains("reg_key.path"), "{s}");
        assert!(s.contains("registry_value_activity.set"), "{s}");
        let s = render(Some("winevent"), Some("log_name")).unwrap();
        assert!(s.contains("tells classes apart: process_activity"), "{s}");
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(render(Some("nosuch"), None).is_err());
        assert!(render(Some("ecs"), Some("no_such_thing")).is_err());
        assert!(render(Some("ecs"), Some("nosuchtype:name")).is_err());
    }
}
