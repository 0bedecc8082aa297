//! What a connection's tally function counted (SQLite's and embedded DataFusion's
//! `kestrel_tally`): per slot, the rows it saw and their distinct entities, each entity a
//! 128-bit hash of its identity tuple (two collide with odds of about n²/2¹²⁹). Past
//! [`DISTINCT_BUDGET`](super::sqlite::DISTINCT_BUDGET) entities a slot gives up, so
//! memory stays bounded, and the session counts with a query instead.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::fxhash::{FxHashMap, FxHashSet};

use super::sqlite::DISTINCT_BUDGET;

/// One slot: rows, whole identities (set 0), own ids of records whose identity is not
/// whole (set 1).
#[derive(Default)]
pub(super) struct Tally {
    rows: u64,
    sets: [FxHashSet<u128>; 2],
    /// Past the budget: the sets were dropped.
    overflowed: bool,
}

impl Tally {
    /// Counts one row, and its entity (`(set, hash)`) if it has one.
    pub fn add(&mut self, entity: Option<(usize, u128)>) {
        self.rows += 1;
        if let (Some((set, hash)), false) = (entity, self.overflowed) {
            self.sets[set.min(1)].insert(hash);
            if self.sets[0].len() + self.sets[1].len() > DISTINCT_BUDGET {
                self.overflowed = true;
                self.sets = Default::default();
            }
        }
    }
}

/// The slots of one connection, shared with its registered function.
#[derive(Clone, Default)]
pub(super) struct Tallies(Arc<Mutex<FxHashMap<i64, Tally>>>);

impl Tallies {
    /// The slots, locked (a panic while counting leaves them usable).
    pub fn lock(&self) -> MutexGuard<'_, FxHashMap<i64, Tally>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records and entities of `slot`, forgetting it: none counted is (0, 0); None past
    /// the budget.
    pub fn take(&self, slot: i64) -> Option<(u64, u64)> {
        match self.lock().remove(&slot) {
            None => Some((0, 0)),
            Some(t) if t.overflowed => None,
            Some(t) => Some((t.rows, (t.sets[0].len() + t.sets[1].len()) as u64)),
        }
    }

    /// Whether two handles share their slots.
    #[cfg_attr(not(feature = "datafusion"), allow(dead_code))]
    pub fn same(&self, other: &Tallies) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A 128-bit SipHash-1-3 of `bytes`.
#[cfg_attr(not(feature = "datafusion"), allow(dead_code))]
pub(super) fn hash128(bytes: &[u8]) -> u128 {
    use siphasher::sip128::Hasher128;
    use std::hash::Hasher;
    let mut h = siphasher::sip128::SipHasher13::new();
    h.write(bytes);
    h.finish128().as_u128()
}
