//! Column names met while reading, numbered in first-seen order: key text in, column id
//! out. Also catches a record that names one column twice.
//!
//! With `fold_case` (targets whose identifiers ignore ASCII case, like SQLite) `ProcessId`
//! and `ProcessID` are one column, named by the spelling most records use; without it
//! they are two.

use std::collections::HashMap;

pub(crate) struct KeyTable {
    fold_case: bool,
    /// Ids below this are the columns of the table being written; a key met later gets a
    /// higher id (the second pass: only a record that is rejected anyway may use one).
    known: usize,
    ids: HashMap<String, usize>,
    spellings: Vec<Spellings>,
    /// The record that last used each column, to catch a duplicate within a record.
    stamps: Vec<u64>,
    record: u64,
    scratch: String,
}

pub(crate) enum KeyError {
    /// The record names this column twice (after flattening, and case folding if on).
    Duplicate(String),
    /// The name cannot be a column name anywhere.
    Invalid(String),
}

impl KeyTable {
    pub(crate) fn new(fold_case: bool) -> KeyTable {
        KeyTable {
            fold_case,
            known: usize::MAX,
            ids: HashMap::new(),
            spellings: Vec::new(),
            stamps: Vec::new(),
            record: 0,
            scratch: String::new(),
        }
    }

    /// A table whose known columns are `names` (ids are their positions).
    pub(crate) fn with_columns<'a>(
        fold_case: bool,
        names: impl IntoIterator<Item = &'a str>,
    ) -> KeyTable {
        let mut t = KeyTable::new(fold_case);
        for name in names {
            let _ = t.id(name);
        }
        t.known = t.spellings.len();
        t
    }

    /// Whether `id` is one of the columns the table was made with.
    pub(crate) fn is_known(&self, id: usize) -> bool {
        id < self.known
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
            None => {
                if key.contains('\0') {
                    return Err(KeyError::Invalid(key.to_string()));
                }
                let id = self.spellings.len();
                self.ids.insert(lookup.to_string(), id);
                self.spellings.push(Spellings::default());
                self.stamps.push(0);
                id
            }
        };
        if self.stamps[id] == self.record {
            return Err(KeyError::Duplicate(key.to_string()));
        }
        self.stamps[id] = self.record;
        self.spellings[id].count(key, 1);
        Ok(id)
    }

    /// How each column was spelled, by id.
    pub(crate) fn into_spellings(self) -> Vec<Spellings> {
        self.spellings
    }
}

/// The spellings of one column and how often each was used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spellings(Vec<(String, u64)>);

impl Spellings {
    pub(crate) fn count(&mut self, key: &str, uses: u64) {
        match self.0.iter_mut().find(|(s, _)| s == key) {
            Some((_, n)) => *n += uses,
            None => self.0.push((key.to_string(), uses)),
        }
    }

    pub(crate) fn merge(&mut self, other: &Spellings) {
        for (s, n) in &other.0 {
            self.count(s, *n);
        }
    }

    /// The spelling used most (the first seen among equals).
    pub(crate) fn best(&self) -> &str {
        let mut best: Option<&(String, u64)> = None;
        for entry in &self.0 {
            if best.is_none_or(|b| entry.1 > b.1) {
                best = Some(entry);
            }
        }
        best.map_or("", |(s, _)| s.as_str())
    }
}

impl KeyError {
    pub(crate) fn reason(&self, fold_case: bool) -> String {
        match self {
            KeyError::Duplicate(k) if fold_case => format!(
                "column `{k}` appears twice (after flattening; names differing only in case are one column)"
            ),
            KeyError::Duplicate(k) => format!("column `{k}` appears twice (after flattening)"),
            KeyError::Invalid(k) => format!("column name {k:?} contains a NUL character"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_names_are_one_column_named_by_majority() {
        let mut t = KeyTable::new(true);
        for key in ["ProcessID", "ProcessId", "processid", "ProcessId", "Image"] {
            t.next_record();
            let _ = t.id(key);
        }
        let sp = t.into_spellings();
        assert_eq!(sp.len(), 2);
        assert_eq!(sp[0].best(), "ProcessId");
        assert_eq!(sp[1].best(), "Image");
    }

    #[test]
    fn ties_go_to_the_first_spelling() {
        let mut s = Spellings::default();
        s.count("B", 2);
        s.count("b", 2);
        assert_eq!(s.best(), "B");
    }

    #[test]
    fn a_record_cannot_name_a_column_twice() {
        let mut t = KeyTable::new(true);
        t.next_record();
        assert!(t.id("a").is_ok());
        assert!(matches!(t.id("A"), Err(KeyError::Duplicate(_))));
        t.next_record();
        assert!(t.id("A").is_ok());
        let mut exact = KeyTable::new(false);
        exact.next_record();
        assert!(exact.id("a").is_ok());
        assert!(exact.id("A").is_ok());
    }

    #[test]
    fn a_table_made_with_columns_tells_new_keys_apart() {
        let mut t = KeyTable::with_columns(true, ["Image"]);
        t.next_record();
        assert_eq!(t.id("IMAGE").ok(), Some(0));
        let other = t.id("other").ok().unwrap();
        assert!(t.is_known(0) && !t.is_known(other));
    }
}
