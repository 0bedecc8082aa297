//! The Sigma field map: which Kestrel attribute a Sigma field stands for, per logsource
//! category and GET type.
//!
//! In: `mappings/sigma/fieldmap.yaml` (embedded). Out: [`FieldMap`], asked by the
//! translator for a category's GET types and a field's attribute.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

const SHIPPED: &str = include_str!("../../mappings/sigma/fieldmap.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// Fields every category's events have, kept by name.
    #[serde(default)]
    pub native: Vec<String>,
    pub categories: BTreeMap<String, Category>,
    /// Service-only logsources: their event log channels (Sigma wildcards allowed).
    #[serde(default)]
    pub services: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// GET types in preference order (serde_yaml keeps the file's order).
    pub types: serde_yaml::Mapping,
    #[serde(default)]
    pub native: Vec<String>,
    /// The OCSF event types (`type_name`s) the category's events are: the rule is tested on
    /// those only, as `EVENTS '…'` (empty: no layout classifies them; the GET type's rows).
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeFields {
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl FieldMap {
    /// The shipped map (checked by a unit test, so this cannot fail in a release).
    pub fn shipped() -> &'static FieldMap {
        static MAP: OnceLock<FieldMap> = OnceLock::new();
        MAP.get_or_init(|| {
            serde_yaml::from_str(SHIPPED).unwrap_or_else(|e| FieldMap::broken(&e.to_string()))
        })
    }

    fn broken(e: &str) -> FieldMap {
        eprintln!("internal error, please report: mappings/sigma/fieldmap.yaml: {e}");
        FieldMap {
            native: Vec::new(),
            categories: BTreeMap::new(),
            services: BTreeMap::new(),
        }
    }
}

impl Category {
    /// GET type names, first the preferred one.
    pub fn type_names(&self) -> Vec<String> {
        self.types
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    }

    /// The attribute `field` stands for when the GET reads `ty`; `common` are the map's
    /// fields of every category.
    pub fn attribute_or_common(&self, ty: &str, field: &str, common: &[String]) -> Option<String> {
        self.attribute(ty, field).or_else(|| {
            common
                .iter()
                .find(|n| n.as_str() == field)
                .or_else(|| common.iter().find(|n| n.eq_ignore_ascii_case(field)))
                .cloned()
        })
    }

    /// The attribute `field` stands for when the GET reads `ty`.
    pub fn attribute(&self, ty: &str, field: &str) -> Option<String> {
        let fields: TypeFields = self
            .types
            .get(ty)
            .and_then(|v| serde_yaml::from_value(v.clone()).ok())
            .unwrap_or_default();
        if let Some(a) = fields.fields.get(field) {
            return Some(a.clone());
        }
        if self.native.iter().any(|n| n == field) {
            return Some(field.to_string());
        }
        if let Some((_, a)) = fields
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
        {
            return Some(a.clone());
        }
        self.native
            .iter()
            .find(|n| n.eq_ignore_ascii_case(field))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_map_loads_and_every_type_reads() {
        let m: FieldMap = serde_yaml::from_str(SHIPPED).unwrap();
        assert!(m.categories.len() > 20);
        for (name, c) in &m.categories {
            assert!(!c.type_names().is_empty(), "{name}");
            for (_, v) in &c.types {
                let _: TypeFields = serde_yaml::from_value(v.clone()).unwrap();
            }
        }
        let pc = &m.categories["process_creation"];
        assert_eq!(pc.type_names()[0], "process");
        assert_eq!(pc.attribute("process", "CommandLine").unwrap(), "cmd_line");
        assert_eq!(pc.attribute("process", "commandline").unwrap(), "cmd_line");
        assert_eq!(pc.attribute("process", "Hashes").unwrap(), "Hashes");
        assert!(pc.attribute("process", "Nonsense").is_none());
    }

    #[test]
    fn every_categorys_events_are_ocsf_types() {
        let m: FieldMap = serde_yaml::from_str(SHIPPED).unwrap();
        let model = crate::model::Model::builtin().unwrap();
        for (name, c) in &m.categories {
            for t in &c.events {
                assert!(model.event_type_named(t).is_some(), "{name}: {t}");
            }
        }
        assert_eq!(
            m.categories["process_creation"].events,
            ["Process Activity: Launch"]
        );
        assert_eq!(m.categories["registry_event"].events.len(), 6);
    }
}
