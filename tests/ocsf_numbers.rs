//! `mappings/classification.yaml` holds OCSF's own numbers: every class's `class_uid`,
//! name and category, and every activity's `activity_id`, equal what the OCSF schema
//! publishes (the schema JSON the PyPI package pydantic-ocsf ships, read by
//! `tests/ocsf/schema_numbers.py`). The registry classes belong to OCSF's Windows
//! extension, which that package does not ship: they are not checked here (their source is
//! named in the YAML file).
//!
//! Python: `KESTREL_TEST_PYTHON`, else `.venv/bin/python` (`.ci/run` creates it from
//! `requirements-dev.txt`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kestrel::model::Model;
use serde_json::Value;

/// Classes of OCSF's Windows extension (not in the schema package).
const EXTENSION_CLASSES: &[&str] = &["registry_key_activity", "registry_value_activity"];

/// The test virtualenv's Python (see `common::python`).
fn python() -> PathBuf {
    common::python()
}

#[test]
fn classification_numbers_are_the_ocsf_schemas() {
    let model = Model::builtin().expect("model");
    let names: Vec<&str> = model
        .ocsf
        .keys()
        .map(String::as_str)
        .filter(|n| !EXTENSION_CLASSES.contains(n))
        .collect();
    assert!(names.len() >= 7, "{names:?}");
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf/schema_numbers.py"))
        .args(&names)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for name in names {
        let ours = &model.ocsf[name];
        let theirs = &schema[name];
        assert_eq!(theirs["uid"], ours.uid, "{name}: class_uid");
        assert_eq!(theirs["name"], ours.name.as_str(), "{name}: class name");
        assert_eq!(
            theirs["category_uid"], ours.category.uid,
            "{name}: category_uid"
        );
        assert_eq!(
            theirs["category_name"],
            ours.category.name.as_str(),
            "{name}: category name"
        );
        for (activity, id) in &ours.activities {
            assert_eq!(
                theirs["activities"][activity.as_str()],
                *id,
                "{name}: activity {activity}"
            );
        }
    }
}
