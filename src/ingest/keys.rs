//! Column names met while reading, numbered in first-seen order: key text in, column id
//! out. Also catches a record that names one column twice.
//!
//! With `fold_case` (targets whose identifiers ignore ASCII case, like SQLite) `Image` and
//! `image` are one column, spelled as first seen; without it they are two.

use std::collections::HashMap;

pub(crate) struct KeyTable {
    fold_case: bool,
    /// No new names: a key the table does not know is an error (the second pass).
    frozen: bool,
    ids: HashMap<String, usize>,
    names: Vec<String>,
    /// The record that last used each column, to catch a duplicate within a record.
    stamps: Vec<u64>,
    record: u64,
    scratch: String,
}

pub(crate) enum KeyError {
    /// The record names this column twice (after flattening, and case folding if on).
    Duplicate(String),
    /// A frozen table met a name it does not know.
    Unknown(String),
    /// The name cannot be a column name anywhere.
    Invalid(String),
}

impl KeyTable {
    pub(crate) fn new(fold_case: bool) -> KeyTable {
        KeyTable {
            fold_case,
            frozen: false,
            ids: HashMap::new(),
            names: Vec::new(),
            stamps: Vec::new(),
            record: 0,
            scratch: String::new(),
        }
    }

    /// A table that knows exactly `names` (ids are their positions) and no others.
    pub(crate) fn frozen<'a>(
        fold_case: bool,
        names: impl IntoIterator<Item = &'a str>,
    ) -> KeyTable {
        let mut t = KeyTable::new(fold_case);
        for name in names {
            let _ = t.id(name);
        }
        t.frozen = true;
        t
    }

    /// Starts a new record: every column may be used once again.
    pub(crate) fn next_record(&mut self) {
        self.record += 1;
    }

    /// The id of `key` for the current record.
    pub(crate) fn id(&mut self, key: &str) -> Result<usize, KeyError> {
        let lookup: &str = if self.fold_case && key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.scratch.clear();
            self.scratch.push_str(key);
            self.scratch.make_ascii_lowercase();
            &self.scratch
        } else {
            key
        };
        let id = match self.ids.get(lookup) {
            Some(&id) => id,
            None if self.frozen => return Err(KeyError::Unknown(key.to_string())),
            None => {
                if key.contains('\0') {
                    return Err(KeyError::Invalid(key.to_string()));
                }
                let id = self.names.len();
                self.ids.insert(lookup.to_string(), id);
                self.names.push(key.to_string());
                self.stamps.push(0);
                id
            }
        };
        if self.stamps[id] == self.record {
            return Err(KeyError::Duplicate(key.to_string()));
        }
        self.stamps[id] = self.record;
        Ok(id)
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn name(&self, id: usize) -> &str {
        &self.names[id]
    }
}

impl KeyError {
    pub(crate) fn reason(&self, fold_case: bool) -> String {
        match self {
            KeyError::Duplicate(k) if fold_case => format!(
                "column `{k}` appears twice (after flattening; names differing only in case are one column)"
            ),
            KeyError::Duplicate(k) => format!("column `{k}` appears twice (after flattening)"),
            KeyError::Unknown(k) => format!("column `{k}` was not there in the first pass"),
            KeyError::Invalid(k) => format!("column name {k:?} contains a NUL character"),
        }
    }
}
