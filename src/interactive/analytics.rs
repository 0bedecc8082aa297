//! The analytics `APPLY` can run, for completion: what `kestrel analytics list` shows
//! (python:// profiles of the configuration, `kestrel-analytics-*` Docker images), found
//! once per sitting.

use std::sync::OnceLock;

use crate::config::Config;

/// Analytics names as `APPLY` takes them, found once per process (the first completion
/// after `APPLY` asks the Docker daemon and reads the profiles file).
pub fn names(config: Option<&Config>) -> Vec<String> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES
        .get_or_init(|| crate::analytics::list_all(config).0)
        .clone()
}
