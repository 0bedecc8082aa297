//! The data model: entity types, FIND relations and table layouts (mappings).
//!
//! In: the YAML files under `mappings/` (embedded at build time) or a user's mapping file.
//! Out: [`Model`], which lowering asks how a name the hunter wrote reaches a native column.
//!
//! Three kinds of file, each with its own serde types:
//! - `entities.yaml` — OCSF entity types, their STIX aliases, where they sit in an event
//!   (slots), their identity attributes and STIX attribute spellings;
//! - `relations.yaml` — what `FIND … CREATED BY …` and friends read, as
//!   (subject slot, object slot) pairs inside events of given classes;
//! - one file per table layout (`ecs.yaml`, `ocsf.yaml`, `winevent.yaml`, or a user's file):
//!   how rows are told apart into event classes and which native column holds each OCSF
//!   event path, for all classes or per class.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;

use crate::fxhash::FxIndexMap;
use serde::Deserialize;

mod de;

/// The event itself, as a slot path.
pub const EVENT_SLOT: &str = ".";

/// Built-in files, embedded so the binary works from any directory.
// The shipped files as JSON, converted (and checked) by build.rs: serde_json reads them
// about ten times faster than serde_yaml reads the YAML.
const ENTITIES_JSON: &str =
    include_str!(concat!(env!("OUT_DIR"), "/builtin/mappings/entities.json"));
const RELATIONS_JSON: &str =
    include_str!(concat!(env!("OUT_DIR"), "/builtin/mappings/relations.json"));
const CLASSIFICATION_JSON: &str = include_str!(concat!(
    env!("OUT_DIR"),
    "/builtin/mappings/classification.json"
));
const BUILTIN_MAPPINGS: &[(&str, &str)] = &[
    (
        "ecs",
        include_str!(concat!(env!("OUT_DIR"), "/builtin/mappings/ecs.json")),
    ),
    (
        "ocsf",
        include_str!(concat!(env!("OUT_DIR"), "/builtin/mappings/ocsf.json")),
    ),
    (
        "winevent",
        include_str!(concat!(env!("OUT_DIR"), "/builtin/mappings/winevent.json")),
    ),
];

/// `entities.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitiesFile {
    pub entities: FxIndexMap<String, EntityDef>,
}

/// Whether a type stands for things (deduplicated by identity) or for whole records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    #[default]
    Entity,
    Event,
}

/// One OCSF entity type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDef {
    #[serde(default)]
    pub kind: EntityKind,
    /// Other names hunts use for the type (STIX: `network-traffic`, `ipv4-addr`, …).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// OCSF event paths where `GET <type>` finds the entity; `.` is the event itself.
    /// Several slots are read as a union (an IP address is a source or a destination).
    pub slots: Vec<String>,
    /// Candidate identity attribute sets, best first; the first whose columns the data
    /// source has identifies an entity (process: `uid`, else `pid` + endpoint).
    #[serde(default)]
    pub identity: Vec<Vec<String>>,
    /// Attributes in the order a display shows them when the hunt gives no `ATTR`.
    #[serde(default)]
    pub attributes: Vec<String>,
    /// STIX attribute spellings: a path prefix as written → the OCSF path prefix.
    /// Longest prefix wins (`src_ref.value` before `src_ref`).
    #[serde(default)]
    pub stix: FxIndexMap<String, String>,
    /// Entity attribute prefix → event path prefix, for attributes that belong to the
    /// event rather than the slot (a process's `endpoint` is the event's `device`).
    #[serde(default)]
    pub context: FxIndexMap<String, String>,
    /// Which entity type an attribute prefix holds, so STIX spellings apply below it
    /// (`parent_process` of a process is a process, `file` is a file).
    #[serde(default)]
    pub children: FxIndexMap<String, String>,
}

/// `relations.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationsFile {
    pub relations: Vec<RelationDef>,
}

/// `<subject> <RELATION> <object>`, read from events of the given classes.
///
/// `x = FIND T REL v` — x are subjects of type T related to objects in v;
/// `x = FIND T REL BY v` — x are objects of type T related to subjects in v.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationDef {
    /// Upper-case relation word: CREATED, ACCEPTED, LOADED, ORIGINATED, …
    pub relation: String,
    pub subject: String,
    pub object: String,
    /// Event classes holding the relation; empty = every class.
    #[serde(default)]
    pub classes: Vec<String>,
    pub subject_slot: String,
    pub object_slot: String,
}

/// `classification.yaml`: OCSF numbers of the event classes Kestrel knows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationFile {
    /// Kestrel class name (unrefined: `process_activity`) → its OCSF numbers.
    pub classes: FxIndexMap<String, OcsfClass>,
}

/// One OCSF event class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcsfClass {
    pub uid: i64,
    pub name: String,
    pub category: OcsfCategory,
    /// Activity caption → `activity_id`.
    pub activities: FxIndexMap<String, i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcsfCategory {
    pub uid: i64,
    pub name: String,
}

/// The attributes OCSF classification gives every event, in display order.
pub const CLASSIFICATION_ATTRIBUTES: &[&str] = &[
    "class_uid",
    "class_name",
    "category_uid",
    "category_name",
    "activity_id",
    "activity_name",
    "type_uid",
    "type_name",
];

/// The classification of some rows: OCSF numbers and names.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub class_uid: i64,
    pub class_name: String,
    pub category_uid: i64,
    pub category_name: String,
    pub activity_id: i64,
    pub activity_name: String,
}

impl Classified {
    pub fn type_uid(&self) -> i64 {
        self.class_uid * 100 + self.activity_id
    }

    /// OCSF's `type_name`: "Class: Activity" ("Process Activity: Launch").
    pub fn type_name(&self) -> String {
        format!("{}: {}", self.class_name, self.activity_name)
    }

    /// One of [`CLASSIFICATION_ATTRIBUTES`] (`type_name` is "Class: Activity", as OCSF
    /// writes it).
    pub fn value(&self, attr: &str) -> Option<ScalarValue> {
        Some(match attr {
            "class_uid" => ScalarValue::Int(self.class_uid),
            "class_name" => ScalarValue::Text(self.class_name.clone()),
            "category_uid" => ScalarValue::Int(self.category_uid),
            "category_name" => ScalarValue::Text(self.category_name.clone()),
            "activity_id" => ScalarValue::Int(self.activity_id),
            "activity_name" => ScalarValue::Text(self.activity_name.clone()),
            "type_uid" => ScalarValue::Int(self.type_uid()),
            "type_name" => ScalarValue::Text(self.type_name()),
            _ => return None,
        })
    }
}

/// Rows of `class` (exactly; refinements have their own entries) whose columns hold the
/// given values (none: every row of the class) are OCSF activity `activity` of the
/// class's OCSF class. The first entry of a class that matches a row decides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationRule {
    pub class: String,
    #[serde(rename = "match", default)]
    pub matches: FxIndexMap<String, Vec<ScalarValue>>,
    pub activity: String,
}

/// A native column or a value derived from one.
///
/// Where a column is given as a list (`[Image, event_data.Image]`), the value is the first
/// of those columns that the table has and that is not NULL in the row: one mapping then
/// fits tables that hold the same fact under different names (two collectors' layouts in
/// one table). Columns the table's catalog lacks are left out; with none left, the
/// attribute is unavailable for that table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeRef {
    Column(String),
    FirstOf(Vec<String>),
    Derived {
        column: Columns,
        transform: Transform,
    },
}

/// One column, or alternatives read as "the first present and not NULL".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Columns {
    One(String),
    FirstOf(Vec<String>),
}

impl Columns {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Columns::One(c) => std::slice::from_ref(c),
            Columns::FirstOf(cs) => cs,
        }
    }
}

impl NativeRef {
    /// The first column named (for messages); see [`NativeRef::columns`].
    pub fn column(&self) -> &str {
        self.columns().first().map(String::as_str).unwrap_or("")
    }
    /// The columns named, in order of preference.
    pub fn columns(&self) -> &[String] {
        match self {
            NativeRef::Column(c) => std::slice::from_ref(c),
            NativeRef::FirstOf(cs) => cs,
            NativeRef::Derived { column, .. } => column.as_slice(),
        }
    }
    pub fn transform(&self) -> Option<Transform> {
        match self {
            NativeRef::Column(_) | NativeRef::FirstOf(_) => None,
            NativeRef::Derived { transform, .. } => Some(*transform),
        }
    }
    /// How the reference reads, as `kestrel mappings` prints it:
    /// `basename(first_of(Image, event_data.Image))`.
    pub fn describe(&self) -> String {
        let cols = self.columns();
        let inner = if cols.len() == 1 {
            cols[0].clone()
        } else {
            format!("first_of({})", cols.join(", "))
        };
        match self.transform() {
            None => inner,
            Some(Transform::Basename) => format!("basename({inner})"),
            Some(Transform::Dirname) => format!("dirname({inner})"),
            Some(Transform::Integer) => format!("integer({inner})"),
        }
    }
}

/// Value transforms from a native column to a model attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// The last component of a Windows or POSIX path (`C:\x\cmd.exe` → `cmd.exe`).
    Basename,
    /// Everything before the last path separator (`C:\x\cmd.exe` → `C:\x`).
    Dirname,
    /// An integer written in decimal or, with `0x`, in hexadecimal (Windows Security
    /// events write process ids so: `0x12d8` is 4824); NULL for anything else.
    Integer,
}

/// Rows whose columns hold the given values belong to `class` (first matching rule wins).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    pub class: String,
    /// Column → accepted values; every column must match. A key may name alternative
    /// columns separated by `|` (`Channel|log_name`): the first the table has and that is
    /// not NULL in the row.
    #[serde(rename = "match")]
    pub matches: FxIndexMap<String, Vec<ScalarValue>>,
}

/// A literal in a mapping file.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

/// A table layout: how OCSF event paths reach native columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Default timestamp column when the data source does not name one.
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// How rows are told apart into event classes.
    #[serde(default)]
    pub classes: Vec<ClassRule>,
    /// The class of rows no rule places (or all rows, where the classifying columns are
    /// missing from a table).
    #[serde(default)]
    pub default_class: Option<String>,
    /// OCSF event path → native, for every class.
    #[serde(default)]
    pub attributes: FxIndexMap<String, NativeRef>,
    /// Per-class overrides of `attributes`.
    #[serde(default)]
    pub class_attributes: FxIndexMap<String, FxIndexMap<String, NativeRef>>,
    /// When true, an attribute the mapping does not know is an error instead of a
    /// native column of the same name.
    #[serde(default)]
    pub strict: bool,
    /// Per entity type, the identity attribute sets that hold in this data, best first,
    /// in place of the type's own (`entities.yaml`): ECS's `process.entity_id` is unique
    /// across hosts, so a process is identified by `uid` alone.
    #[serde(default)]
    pub identity: FxIndexMap<String, Vec<Vec<String>>>,
    /// Where an attribute no entry maps is looked for: an OCSF object path (`process`,
    /// `dst_endpoint`) → the prefix of the native columns holding that object's fields
    /// (ECS `process`, `destination`), so `process.x_ttp_tags` reads the column
    /// `process.x_ttp_tags` and `dst_endpoint.x_asn` reads `destination.x_asn`. The key
    /// `.` stands for every path, read from the column of its own name (OCSF tables).
    #[serde(default)]
    pub object_columns: FxIndexMap<String, String>,
    /// Per-class overrides of `object_columns` (ECS: the actor of a process launch is
    /// `process.parent`).
    #[serde(default)]
    pub class_object_columns: FxIndexMap<String, FxIndexMap<String, String>>,
    /// OCSF classification of rows by class (and columns): see
    /// [`ClassificationRule`] and `mappings/classification.yaml`.
    #[serde(default)]
    pub classification: Vec<ClassificationRule>,
    /// Event classes whose records are whole: a record of one of them that names a
    /// related entity (a process creation, naming the parent) also carries every
    /// attribute of its own entity that any record of that entity carries, with the same
    /// value. FIND may then read such records with the conditions of the GET that selected
    /// the entities, instead of a semi-join on the variable (`lower/find.rs`). A data
    /// source's `whole_records: false` turns it off.
    #[serde(default)]
    pub whole_records: Vec<String>,
    /// [`Mapping::slot_attributes`] answers, worked out once per mapping.
    #[serde(skip)]
    slot_cache: SlotCache,
    /// [`Mapping::is_native_column`]'s set, worked out once per mapping.
    #[serde(skip)]
    native_cache: NativeCache,
    /// [`Mapping::classes_overriding`]'s index, worked out once per mapping.
    #[serde(skip)]
    overrides_cache: OverridesCache,
}

type SlotKey = (String, Option<String>);

/// A derived index of a mapping (not part of its meaning): cloning starts it afresh.
#[derive(Debug, Default)]
struct Derived<T>(T);

impl<T: Default> Clone for Derived<T> {
    fn clone(&self) -> Derived<T> {
        Derived::default()
    }
}

/// [`Mapping::slot_attributes`]' answers by slot and class.
type SlotCache =
    Derived<std::sync::Mutex<crate::fxhash::FxHashMap<SlotKey, std::sync::Arc<[String]>>>>;

/// Every native column a mapping names, as a set.
type NativeCache = Derived<std::sync::OnceLock<crate::fxhash::FxHashSet<String>>>;

/// The classes (positions in `class_attributes`) whose own entries name each path.
type OverridesCache = Derived<std::sync::OnceLock<crate::fxhash::FxHashMap<String, Vec<usize>>>>;

/// Errors loading model files.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("mapping file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("cannot read mapping file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown mapping `{name}`; built-in mappings: {known}")]
    UnknownMapping { name: String, known: String },
    #[error("mapping file {path}: {message}")]
    Invalid { path: String, message: String },
}

fn parse_yaml<T: for<'de> Deserialize<'de>>(text: &str, path: &str) -> Result<T, ModelError> {
    // YAML merge keys (`<<: *anchor`) let mapping files share blocks; serde_yaml 0.9 needs
    // them applied explicitly.
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| ModelError::Parse {
            path: path.to_string(),
            message: e.to_string(),
        })?;
    value.apply_merge().map_err(|e| ModelError::Parse {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    serde_yaml::from_value(value).map_err(|e| ModelError::Parse {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// A shipped file, as build.rs wrote it.
fn parse_builtin<T: for<'de> Deserialize<'de>>(json: &str, path: &str) -> Result<T, ModelError> {
    serde_json::from_str(json).map_err(|e| ModelError::Parse {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Entity types and relations: the model every mapping maps to.
#[derive(Debug, Clone)]
pub struct Model {
    pub entities: FxIndexMap<String, EntityDef>,
    pub relations: Vec<RelationDef>,
    /// OCSF numbers of the event classes (`classification.yaml`).
    pub ocsf: FxIndexMap<String, OcsfClass>,
    /// Lower-cased name or alias → canonical name.
    names: BTreeMap<String, String>,
}

impl Model {
    /// The built-in model (entities.yaml, relations.yaml).
    pub fn builtin() -> Result<Model, ModelError> {
        let entities: EntitiesFile = parse_builtin(ENTITIES_JSON, "mappings/entities.yaml")?;
        let relations: RelationsFile = parse_builtin(RELATIONS_JSON, "mappings/relations.yaml")?;
        let ocsf: ClassificationFile =
            parse_builtin(CLASSIFICATION_JSON, "mappings/classification.yaml")?;
        let mut names = BTreeMap::new();
        for (name, def) in &entities.entities {
            names.insert(name.to_ascii_lowercase(), name.clone());
            for alias in &def.aliases {
                names.insert(alias.to_ascii_lowercase(), name.clone());
            }
        }
        let model = Model {
            entities: entities.entities,
            relations: relations.relations,
            ocsf: ocsf.classes,
            names,
        };
        model.validate()?;
        Ok(model)
    }

    fn validate(&self) -> Result<(), ModelError> {
        let invalid = |message: String| ModelError::Invalid {
            path: "mappings/relations.yaml".into(),
            message,
        };
        for r in &self.relations {
            for t in [&r.subject, &r.object] {
                if !self.entities.contains_key(t.as_str()) {
                    return Err(invalid(format!(
                        "relation {} names unknown entity type `{t}`",
                        r.relation
                    )));
                }
            }
        }
        for (name, def) in &self.entities {
            for child in def.children.values() {
                if !self.entities.contains_key(child.as_str()) {
                    return Err(ModelError::Invalid {
                        path: "mappings/entities.yaml".into(),
                        message: format!("entity `{name}` names unknown child type `{child}`"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The OCSF classification a mapping's rule gives: the numbers of the rule's class
    /// (refinements read their base class: `process_activity.open` is Process Activity)
    /// and activity. None for a class or activity `classification.yaml` does not know.
    pub fn classify(&self, rule: &ClassificationRule) -> Option<Classified> {
        let base = rule.class.split('.').next().unwrap_or(&rule.class);
        let c = self.ocsf.get(base)?;
        let activity_id = *c.activities.get(&rule.activity)?;
        Some(Classified {
            class_uid: c.uid,
            class_name: c.name.clone(),
            category_uid: c.category.uid,
            category_name: c.category.name.clone(),
            activity_id,
            activity_name: rule.activity.clone(),
        })
    }

    /// Every OCSF event type of the classes Kestrel knows, in `classification.yaml`'s order.
    pub fn event_types(&self) -> impl Iterator<Item = Classified> + '_ {
        self.ocsf.values().flat_map(|c| {
            c.activities.iter().map(move |(name, id)| Classified {
                class_uid: c.uid,
                class_name: c.name.clone(),
                category_uid: c.category.uid,
                category_name: c.category.name.clone(),
                activity_id: *id,
                activity_name: name.clone(),
            })
        })
    }

    /// The event type OCSF names `type_name` ("Process Activity: Launch"; ASCII case and
    /// the spacing of words ignored).
    pub fn event_type_named(&self, type_name: &str) -> Option<Classified> {
        let norm = |s: &str| {
            s.split(':')
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(":")
                .to_ascii_lowercase()
        };
        let want = norm(type_name);
        self.event_types().find(|t| norm(&t.type_name()) == want)
    }

    /// The event type whose `type_uid` (class_uid * 100 + activity_id) is `uid`.
    pub fn event_type_uid(&self, uid: i64) -> Option<Classified> {
        self.event_types().find(|t| t.type_uid() == uid)
    }

    /// A mapping's classification rules all name a known class and activity.
    pub fn check_classification(&self, m: &Mapping, path: &str) -> Result<(), ModelError> {
        for r in &m.classification {
            if self.classify(r).is_none() {
                let base = r.class.split('.').next().unwrap_or(&r.class);
                let known = match self.ocsf.get(base) {
                    Some(c) => format!(
                        "activities of {}: {}",
                        c.name,
                        c.activities.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    None => format!(
                        "classes: {}",
                        self.ocsf.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                return Err(ModelError::Invalid {
                    path: path.to_string(),
                    message: format!(
                        "classification of `{}` names activity `{}`, which OCSF does not define there ({known})",
                        r.class, r.activity
                    ),
                });
            }
        }
        Ok(())
    }

    /// Canonical type name for a name or alias as a hunt writes it (case-insensitive).
    pub fn entity_name(&self, written: &str) -> Option<&str> {
        self.names
            .get(&written.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn entity(&self, canonical: &str) -> Option<&EntityDef> {
        self.entities.get(canonical)
    }

    /// All type names and aliases, for "did you mean" hints.
    pub fn all_entity_names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Rewrites an attribute path written in STIX (`parent_ref.name`,
    /// `binary_ref.name`, `src_ref.value`) into the OCSF path of `entity`'s model,
    /// recursing into child objects. OCSF and unknown paths come back unchanged.
    pub fn canonical_attr(&self, entity: &str, written: &str) -> String {
        let Some(def) = self.entities.get(entity) else {
            return written.to_string();
        };
        // Longest STIX prefix that matches whole path components.
        let mut best: Option<(&str, &str)> = None;
        for (from, to) in &def.stix {
            let whole = written == from
                || (written.starts_with(from.as_str())
                    && written.as_bytes().get(from.len()) == Some(&b'.'));
            if whole && best.is_none_or(|(f, _)| from.len() > f.len()) {
                best = Some((from, to));
            }
        }
        let (head, rest) = match best {
            Some((from, to)) => (
                to.to_string(),
                written[from.len()..].trim_start_matches('.'),
            ),
            None => match written.split_once('.') {
                Some((h, r)) => (h.to_string(), r),
                None => return written.to_string(),
            },
        };
        if rest.is_empty() {
            return head;
        }
        // Below a child object, that object's own spellings apply.
        let child = def
            .children
            .iter()
            .filter(|(prefix, _)| head == **prefix || head.starts_with(&format!("{prefix}.")))
            .max_by_key(|(prefix, _)| prefix.len());
        match child {
            Some((prefix, child_type)) if head == *prefix => {
                format!("{head}.{}", self.canonical_attr(child_type, rest))
            }
            _ => format!("{head}.{rest}"),
        }
    }

    /// Relations named `relation` (any case).
    pub fn relations_named<'a>(
        &'a self,
        relation: &'a str,
    ) -> impl Iterator<Item = &'a RelationDef> + 'a {
        self.relations
            .iter()
            .filter(move |r| r.relation.eq_ignore_ascii_case(relation))
    }
}

/// The alternative columns of a class rule's key (`Channel|log_name`).
pub fn rule_key_columns(key: &str) -> impl Iterator<Item = &str> {
    key.split('|').map(str::trim).filter(|c| !c.is_empty())
}

impl Mapping {
    /// A built-in mapping by name (`ecs`, `ocsf`, `winevent`).
    pub fn builtin(name: &str) -> Result<Mapping, ModelError> {
        let (file, text) = BUILTIN_MAPPINGS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| ModelError::UnknownMapping {
                name: name.to_string(),
                known: Self::builtin_names().join(", "),
            })?;
        parse_builtin(text, &format!("mappings/{file}.yaml"))
    }

    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN_MAPPINGS.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in name, or else a path to a YAML file.
    pub fn load(name_or_path: &str) -> Result<Mapping, ModelError> {
        if BUILTIN_MAPPINGS
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name_or_path))
        {
            return Self::builtin(name_or_path);
        }
        let path = Path::new(name_or_path);
        if !path.exists() && !name_or_path.contains(['/', '.']) {
            return Err(ModelError::UnknownMapping {
                name: name_or_path.to_string(),
                known: Self::builtin_names().join(", "),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: name_or_path.to_string(),
            source,
        })?;
        parse_yaml(&text, name_or_path)
    }

    /// The native form of an OCSF event path in rows of `class` (None: any class).
    pub fn resolve(&self, path: &str, class: Option<&str>) -> Option<&NativeRef> {
        if let Some(class) = class {
            if let Some(n) = self.class_attributes.get(class).and_then(|m| m.get(path)) {
                return Some(n);
            }
        }
        self.attributes.get(path)
    }

    /// Whether any entry of the mapping (general or of some class) names `path`.
    pub fn names(&self, path: &str) -> bool {
        self.attributes.contains_key(path) || self.varies_by_class(path)
    }

    /// The native column an OCSF event path that no entry maps reads, by
    /// `object_columns` (the longest object path that is a whole-component prefix of
    /// `path`, a class's own entries first). None when no entry covers it.
    pub fn object_column(&self, path: &str, class: Option<&str>) -> Option<String> {
        let lookup = |m: &FxIndexMap<String, String>| -> Option<String> {
            let mut best: Option<(&str, &str)> = None;
            for (object, native) in m {
                let whole = object != EVENT_SLOT
                    && path.len() > object.len()
                    && path.starts_with(object.as_str())
                    && path.as_bytes()[object.len()] == b'.';
                if whole && best.is_none_or(|(o, _)| object.len() > o.len()) {
                    best = Some((object, native));
                }
            }
            match best {
                Some((object, native)) => Some(format!("{native}{}", &path[object.len()..])),
                None => m.get(EVENT_SLOT).map(|native| {
                    if native == EVENT_SLOT {
                        path.to_string()
                    } else {
                        format!("{native}.{path}")
                    }
                }),
            }
        };
        class
            .and_then(|c| self.class_object_columns.get(c))
            .and_then(lookup)
            .or_else(|| lookup(&self.object_columns))
    }

    /// Classes whose `class_object_columns` differ from the general ones for `path`.
    pub fn classes_overriding_objects<'a>(
        &'a self,
        path: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.class_object_columns
            .keys()
            .map(String::as_str)
            .filter(move |c| self.object_column(path, Some(c)) != self.object_column(path, None))
    }

    /// Whether `path` maps differently in some class than in general.
    pub fn varies_by_class(&self, path: &str) -> bool {
        self.classes_overriding(path).next().is_some()
    }

    /// Classes whose overrides mention `path`.
    pub fn classes_overriding<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let index = self.overrides_cache.0.get_or_init(|| {
            let mut index: crate::fxhash::FxHashMap<String, Vec<usize>> = Default::default();
            for (i, m) in self.class_attributes.values().enumerate() {
                for p in m.keys() {
                    index.entry(p.clone()).or_default().push(i);
                }
            }
            index
        });
        index
            .get(path)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.class_attributes.get_index(i).map(|(c, _)| c.as_str()))
    }

    /// The attributes under `slot` (relative paths, mapping order, no duplicates) that rows
    /// of `class` (None: the general map and every class) can supply.
    pub fn slot_attributes(&self, slot: &str, class: Option<&str>) -> std::sync::Arc<[String]> {
        let key = (slot.to_string(), class.map(str::to_string));
        if let Ok(cache) = self.slot_cache.0.lock() {
            if let Some(hit) = cache.get(&key) {
                return hit.clone();
            }
        }
        let attrs: std::sync::Arc<[String]> = self.slot_attributes_uncached(slot, class).into();
        if let Ok(mut cache) = self.slot_cache.0.lock() {
            cache.insert(key, attrs.clone());
        }
        attrs
    }

    fn slot_attributes_uncached(&self, slot: &str, class: Option<&str>) -> Vec<String> {
        let prefix = format!("{slot}.");
        let mut out: IndexMap<String, ()> = IndexMap::new();
        let mut add = |map: &FxIndexMap<String, NativeRef>| {
            for key in map.keys() {
                if slot == EVENT_SLOT {
                    out.insert(key.clone(), ());
                } else if let Some(rest) = key.strip_prefix(&prefix) {
                    out.insert(rest.to_string(), ());
                }
            }
        };
        add(&self.attributes);
        match class {
            Some(c) => {
                if let Some(m) = self.class_attributes.get(c) {
                    add(m);
                }
            }
            None => {
                for m in self.class_attributes.values() {
                    add(m);
                }
            }
        }
        out.into_keys().collect()
    }

    /// Whether the mapping names `column` (one of [`Mapping::native_columns`]).
    pub fn is_native_column(&self, column: &str) -> bool {
        self.native_cache
            .0
            .get_or_init(|| self.native_columns().map(str::to_string).collect())
            .contains(column)
    }

    /// Every native column the mapping names (for "columns it looked for" hints).
    pub fn native_columns(&self) -> impl Iterator<Item = &str> {
        self.attributes
            .values()
            .chain(self.class_attributes.values().flat_map(|m| m.values()))
            .flat_map(|n| n.columns().iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_files_mean_what_their_yaml_says() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings");
        for name in Mapping::builtin_names() {
            let yaml = std::fs::read_to_string(format!("{dir}/{name}.yaml")).expect("file");
            let from_yaml: Mapping = parse_yaml(&yaml, name).expect("yaml");
            let shipped = Mapping::builtin(name).expect("json");
            assert_eq!(format!("{shipped:?}"), format!("{from_yaml:?}"), "{name}");
        }
        let yaml = std::fs::read_to_string(format!("{dir}/entities.yaml")).expect("file");
        let from_yaml: EntitiesFile = parse_yaml(&yaml, "entities").expect("yaml");
        let shipped: EntitiesFile = parse_builtin(ENTITIES_JSON, "entities").expect("json");
        assert_eq!(format!("{shipped:?}"), format!("{from_yaml:?}"));
        let yaml = std::fs::read_to_string(format!("{dir}/relations.yaml")).expect("file");
        let from_yaml: RelationsFile = parse_yaml(&yaml, "relations").expect("yaml");
        let shipped: RelationsFile = parse_builtin(RELATIONS_JSON, "relations").expect("json");
        assert_eq!(format!("{shipped:?}"), format!("{from_yaml:?}"));
    }

    #[test]
    fn every_class_a_builtin_layout_places_rows_in_is_classified() {
        let model = Model::builtin().unwrap();
        for name in ["ecs", "winevent"] {
            let m = Mapping::builtin(name).unwrap();
            model.check_classification(&m, name).unwrap();
            let classes = m
                .classes
                .iter()
                .map(|r| r.class.as_str())
                .chain(m.default_class.as_deref());
            for class in classes {
                let rules: Vec<&ClassificationRule> = m
                    .classification
                    .iter()
                    .filter(|r| r.class == class)
                    .collect();
                // The last rule of a class takes every row the others leave.
                assert!(
                    rules.last().is_some_and(|r| r.matches.is_empty()),
                    "{name}: {class} has no unconditional classification"
                );
            }
        }
        let yaml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/mappings/classification.yaml"
        ))
        .unwrap();
        let from_yaml: ClassificationFile = parse_yaml(&yaml, "classification").unwrap();
        assert_eq!(
            format!("{:?}", from_yaml.classes),
            format!("{:?}", model.ocsf)
        );
    }

    #[test]
    fn an_unknown_activity_is_an_error_naming_the_known_ones() {
        let model = Model::builtin().unwrap();
        let m: Mapping = parse_yaml(
            "name: t\nclassification:\n  - {class: process_activity.x, activity: Lunch}\n",
            "t.yaml",
        )
        .unwrap();
        let e = model
            .check_classification(&m, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`Lunch`") && e.contains("Launch"), "{e}");
    }

    #[test]
    fn object_columns_give_the_entitys_own_path() {
        let ecs = Mapping::builtin("ecs").unwrap();
        assert_eq!(
            ecs.object_column("process.x_ttp_tags", None).as_deref(),
            Some("process.x_ttp_tags")
        );
        assert_eq!(
            ecs.object_column("dst_endpoint.x_asn", None).as_deref(),
            Some("destination.x_asn")
        );
        assert_eq!(
            ecs.object_column("actor.process.x_ttp_tags", Some("process_activity"))
                .as_deref(),
            Some("process.parent.x_ttp_tags")
        );
        assert_eq!(ecs.object_column("x_top", None), None);
        let ocsf = Mapping::builtin("ocsf").unwrap();
        assert_eq!(
            ocsf.object_column("process.x_ttp_tags", None).as_deref(),
            Some("process.x_ttp_tags")
        );
        let win = Mapping::builtin("winevent").unwrap();
        assert_eq!(win.object_column("process.Product", None), None);
    }

    #[test]
    fn builtin_model_loads_and_validates() {
        let m = Model::builtin().expect("entities.yaml and relations.yaml load");
        assert!(m.entity("process").is_some());
        assert_eq!(m.entity_name("network-traffic"), Some("network_activity"));
        assert_eq!(m.entity_name("PROCESS"), Some("process"));
        assert!(m.relations_named("created").count() >= 3);
    }

    #[test]
    fn every_builtin_mapping_loads() {
        for name in Mapping::builtin_names() {
            let m = Mapping::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(m.name, name);
            assert!(!m.attributes.is_empty(), "{name} maps nothing");
        }
    }

    #[test]
    fn stix_spellings_become_ocsf_paths() {
        let m = Model::builtin().unwrap();
        assert_eq!(m.canonical_attr("process", "command_line"), "cmd_line");
        assert_eq!(
            m.canonical_attr("process", "parent_ref.name"),
            "parent_process.name"
        );
        assert_eq!(
            m.canonical_attr("process", "parent_ref.command_line"),
            "parent_process.cmd_line"
        );
        assert_eq!(m.canonical_attr("process", "binary_ref.name"), "file.name");
        assert_eq!(m.canonical_attr("process", "name"), "name");
        assert_eq!(m.canonical_attr("process", "x_ttp_tags"), "x_ttp_tags");
        assert_eq!(
            m.canonical_attr("network_activity", "src_ref.value"),
            "src_endpoint.ip"
        );
        assert_eq!(
            m.canonical_attr("network_activity", "dst_port"),
            "dst_endpoint.port"
        );
    }

    #[test]
    fn columns_may_be_alternatives() {
        let m: Mapping = parse_yaml(
            "name: t\nclasses:\n  - class: process_activity\n    match: {\"EventID | event_id\": [1]}\nattributes:\n  a: x\n  b: [x, event_data.x]\n  c: {column: [y, event_data.y], transform: basename}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(m.attributes["a"].columns(), ["x"]);
        assert_eq!(m.attributes["b"].columns(), ["x", "event_data.x"]);
        assert_eq!(m.attributes["b"].transform(), None);
        assert_eq!(m.attributes["c"].transform(), Some(Transform::Basename));
        assert_eq!(
            m.attributes["c"].describe(),
            "basename(first_of(y, event_data.y))"
        );
        let key = m.classes[0].matches.keys().next().unwrap();
        assert_eq!(
            rule_key_columns(key).collect::<Vec<_>>(),
            ["EventID", "event_id"]
        );
        assert!(m.native_columns().any(|c| c == "event_data.y"));
    }

    #[test]
    fn winevent_reads_both_collectors_layouts() {
        let w = Mapping::builtin("winevent").unwrap();
        assert_eq!(
            w.resolve("process.file.path", None).unwrap().columns(),
            ["Image", "event_data.Image"]
        );
        assert_eq!(
            w.resolve("device.hostname", None).unwrap().columns(),
            ["Hostname", "computer_name"]
        );
        assert!(w
            .classes
            .iter()
            .all(|r| r.matches.contains_key("Channel|log_name")));
    }

    #[test]
    fn ecs_actor_process_differs_by_class() {
        let ecs = Mapping::builtin("ecs").unwrap();
        assert_eq!(
            ecs.resolve("actor.process.name", Some("process_activity"))
                .map(NativeRef::column),
            Some("process.parent.name")
        );
        assert_eq!(
            ecs.resolve("actor.process.name", Some("network_activity"))
                .map(NativeRef::column),
            Some("process.name")
        );
        assert_eq!(
            ecs.resolve("process.name", None).map(NativeRef::column),
            Some("process.name")
        );
    }
}
