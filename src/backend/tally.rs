//! What a connection's tally function counted (SQLite's and embedded DataFusion's
//! `kestrel_tally`): per slot, the rows it saw and their distinct entities, each entity a
//! 128-bit XXH3 hash of its identity tuple (two collide with odds of about n²/2¹²⁸). Up to
//! [`DISTINCT_BUDGET`](super::sqlite::DISTINCT_BUDGET) entities a slot keeps them in a
//! hash set, put in a batch at a time (from the first full batch on by a thread of the
//! slot's own, where the machine has a second core: the statement's thread only hashes);
//! past that it spills: every hash goes to one of [`PARTS`] temporary files by its top
//! bits, and the files are counted one at a time when the slot is taken, so memory stays
//! bounded whatever the variable's size. Only a file that cannot be written (or a thread
//! that cannot be started) makes a slot give up (the session then counts with a query).

use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use crate::fxhash::FxHashMap;
use crate::value::Value;

use super::sqlite::DISTINCT_BUDGET;

/// The files a spilled slot's hashes are spread over: at the budget's memory, a slot
/// counts up to 64 × 900,000 distinct entities exactly.
pub const PARTS: usize = 64;

/// Entities a slot holds before it puts them into its sets, all at once (see
/// [`Tally::pending`]): 64 KB of hashes.
const BATCH: usize = 4096;

/// A row's entity, if it has one: the set it counts in (0 for whole identities, 1 for own
/// ids) and its hash.
pub(super) type Entity = Option<(usize, u128)>;

/// The entity of a row, as the summary's count query has it: its identity (of `n` values)
/// when that is whole, else its own id kept apart (set 1), or with no identity (`n` = 0)
/// its own values, the whole row; none without an own id. The hashes are taken only
/// when needed.
pub(super) fn entity(
    n: usize,
    whole: bool,
    has_own: bool,
    identity: impl FnOnce() -> u128,
    own: impl FnOnce() -> u128,
) -> Entity {
    if n > 0 && whole {
        Some((0, identity()))
    } else if has_own {
        Some((usize::from(n > 0), own()))
    } else {
        None
    }
}

/// A set of 128-bit hashes. A key is a uniform hash already, so the set uses its low 64
/// bits as they are, without hashing it again.
type HashSet128 = std::collections::HashSet<u128, BuildHasherDefault<Prehashed>>;

/// The [`Hasher`] of [`HashSet128`]: a `u128` key's low 64 bits.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u128` keys are hashed here; any other bytes are folded in, FNV-1a style.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One slot: rows, whole identities (set 0), own ids of records whose identity is not
/// whole (set 1).
pub(super) struct Tally {
    rows: u64,
    /// Entities not yet in the sets, by set. A set of hundreds of thousands of hashes is
    /// larger than the processor's caches, so an insertion waits for memory. One row at a
    /// time, between the statement's own work, each insertion waits alone; a batch of
    /// them, inserted one after the other, waits for many at once (the wide hunt's
    /// summary: 894,513 rows, 358,747 entities, on SQLite).
    pending: [Vec<u128>; 2],
    /// Where the batches go: the sets here, or a thread of their own.
    distinct: Filling,
    /// A spill file could not be written, or the filling thread is gone: nothing is
    /// counted.
    failed: bool,
    /// Whether the first full batch starts a filler: where a second core can run it
    /// beside the statement.
    beside: bool,
}

impl Default for Tally {
    fn default() -> Self {
        static CORES: OnceLock<bool> = OnceLock::new();
        Tally {
            rows: 0,
            pending: Default::default(),
            distinct: Filling::default(),
            failed: false,
            beside: *CORES
                .get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)),
        }
    }
}

/// Where a slot's distinct entities are kept.
enum Filling {
    /// In the slot, put in by the thread that counts the rows.
    Here(Distinct),
    /// On a thread of their own, from the first full batch on (where the machine has a
    /// second core): the statement's thread only hashes, the filler inserts (and spills).
    /// (Unwind-safe: a panic while counting drops the slot, filler and all; SQLite's
    /// aggregate states must be.)
    Beside(AssertUnwindSafe<Filler>),
}

impl Default for Filling {
    fn default() -> Self {
        Filling::Here(Distinct::default())
    }
}

/// The thread that fills a slot's sets, and the way to its batches.
struct Filler {
    batches: SyncSender<(usize, Vec<u128>)>,
    /// The distinct entities once every batch is in, or why there are none.
    done: JoinHandle<io::Result<u64>>,
}

impl Filler {
    /// A thread putting the batches it is sent into `distinct`, then counting it.
    fn start(mut distinct: Distinct) -> io::Result<Filler> {
        let (batches, arrive) = sync_channel::<(usize, Vec<u128>)>(BATCHES_IN_FLIGHT);
        let done = std::thread::Builder::new()
            .name("kestrel-tally".into())
            .spawn(move || {
                for (set, mut batch) in arrive {
                    distinct.insert(set, &mut batch)?;
                }
                distinct.count()
            })?;
        Ok(Filler { batches, done })
    }

    /// Sends a batch to be put into `set`.
    fn send(&self, set: usize, batch: Vec<u128>) -> io::Result<()> {
        // A filler that stopped (its spill failed) has dropped its end: nothing counts.
        self.batches
            .send((set, batch))
            .map_err(|_| io::Error::other("the tally's filler stopped"))
    }

    /// The distinct entities of every batch sent.
    fn finish(self) -> io::Result<u64> {
        drop(self.batches);
        self.done
            .join()
            .map_err(|_| io::Error::other("the tally's filler panicked"))?
    }
}

/// Full batches on their way to a filler, at most: 8 × 64 KB.
const BATCHES_IN_FLIGHT: usize = 8;

impl Tally {
    /// Counts one row, and its entity (`(set, hash)`) if it has one.
    pub fn add(&mut self, entity: Entity) {
        self.rows += 1;
        let Some((set, hash)) = entity else {
            return;
        };
        if self.failed {
            return;
        }
        let set = set.min(1);
        let pending = &mut self.pending[set];
        pending.push(hash);
        if pending.len() < BATCH {
            return;
        }
        if self.put_batch(set).is_err() {
            self.fail();
        }
    }

    /// Hands the full batch of `set` on: to the filler (started at the first batch, where
    /// it can run beside), or into the sets here.
    fn put_batch(&mut self, set: usize) -> io::Result<()> {
        let batch = &mut self.pending[set];
        match &mut self.distinct {
            Filling::Here(distinct) if !self.beside => distinct.insert(set, batch),
            Filling::Here(distinct) => {
                // No thread to be had: the slot fails, and the session counts with a query.
                let filler = Filler::start(std::mem::take(distinct))?;
                filler.send(set, std::mem::replace(batch, Vec::with_capacity(BATCH)))?;
                self.distinct = Filling::Beside(AssertUnwindSafe(filler));
                Ok(())
            }
            Filling::Beside(filler) => {
                filler.send(set, std::mem::replace(batch, Vec::with_capacity(BATCH)))
            }
        }
    }

    /// Nothing more is counted: a spill file could not be written, or no filler started.
    fn fail(&mut self) {
        self.failed = true;
        self.pending = Default::default();
        // A filler ends once it has the batches sent so far; none waits for it.
        self.distinct = Filling::default();
    }

    /// A slot whose entities go to spill files from the start, on the thread that counts
    /// its rows (tests).
    #[cfg(test)]
    fn spilled() -> io::Result<Tally> {
        let mut distinct = Distinct::default();
        distinct.spill_sets()?;
        Ok(Tally {
            distinct: Filling::Here(distinct),
            ..Tally::here()
        })
    }

    /// A slot that keeps its sets here, on the thread that counts its rows (tests).
    #[cfg(test)]
    fn here() -> Tally {
        Tally {
            beside: false,
            ..Tally::default()
        }
    }

    /// Rows and distinct entities; None if a spill file failed.
    pub fn counts(mut self) -> Option<(u64, u64)> {
        if self.failed {
            return None;
        }
        // The last, partial batches.
        let entities = match std::mem::take(&mut self.distinct) {
            Filling::Here(mut distinct) => {
                for (set, pending) in self.pending.iter_mut().enumerate() {
                    distinct.insert(set, pending).ok()?;
                }
                distinct.count().ok()?
            }
            Filling::Beside(AssertUnwindSafe(filler)) => {
                for (set, pending) in std::mem::take(&mut self.pending).into_iter().enumerate() {
                    if !pending.is_empty() {
                        filler.send(set, pending).ok()?;
                    }
                }
                filler.finish().ok()?
            }
        };
        Some((self.rows, entities))
    }
}

/// A slot's distinct entities: two sets of hashes, and past [`DISTINCT_BUDGET`] the spill
/// files instead.
#[derive(Default)]
struct Distinct {
    sets: [HashSet128; 2],
    /// Past the budget: the hashes, by file.
    spill: Option<Spill>,
}

impl Distinct {
    /// Puts `batch` (emptied) into `set`, and spills the sets past [`DISTINCT_BUDGET`]
    /// (checked once a batch: a slot may hold up to a batch more).
    fn insert(&mut self, set: usize, batch: &mut Vec<u128>) -> io::Result<()> {
        if let Some(spill) = &mut self.spill {
            for hash in batch.drain(..) {
                spill.push(tagged(set, hash))?;
            }
            return Ok(());
        }
        let sets = &mut self.sets[set];
        sets.reserve(batch.len());
        sets.extend(batch.drain(..));
        if self.sets[0].len() + self.sets[1].len() <= DISTINCT_BUDGET {
            return Ok(());
        }
        self.spill_sets()
    }

    /// Moves the sets into a new spill.
    fn spill_sets(&mut self) -> io::Result<()> {
        let mut spill = Spill::new()?;
        for (set, hashes) in std::mem::take(&mut self.sets).into_iter().enumerate() {
            for hash in hashes {
                spill.push(tagged(set, hash))?;
            }
        }
        self.spill = Some(spill);
        Ok(())
    }

    /// The distinct entities of both sets.
    fn count(self) -> io::Result<u64> {
        match self.spill {
            Some(spill) => spill.count(),
            None => Ok((self.sets[0].len() + self.sets[1].len()) as u64),
        }
    }
}

/// A hash with its set in the lowest bit: the two sets count apart in one file.
fn tagged(set: usize, hash: u128) -> u128 {
    (hash & !1) | set as u128
}

/// A spilled slot's hashes in [`PARTS`] unnamed temporary files (removed from the
/// directory as soon as they are made, so nothing is left behind whatever happens).
struct Spill {
    parts: Vec<BufWriter<File>>,
}

impl Spill {
    fn new() -> io::Result<Spill> {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        let parts = (0..PARTS)
            .map(|_| {
                let n = MADE.fetch_add(1, Ordering::Relaxed);
                let path = dir.join(format!("kestrel-tally-{}-{n}", std::process::id()));
                let file = File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                std::fs::remove_file(&path)?;
                Ok(BufWriter::with_capacity(16 * 1024, file))
            })
            .collect::<io::Result<_>>()?;
        Ok(Spill { parts })
    }

    fn push(&mut self, hash: u128) -> io::Result<()> {
        // The top bits choose the file (the set's tag is the lowest).
        let part = (hash >> (128 - PARTS.trailing_zeros())) as usize;
        self.parts[part].write_all(&hash.to_le_bytes())
    }

    /// Distinct hashes of all files, counted file by file.
    fn count(self) -> io::Result<u64> {
        let mut total = 0;
        let mut seen = HashSet128::default();
        for part in self.parts {
            let mut file = part.into_inner().map_err(|e| e.into_error())?;
            file.rewind()?;
            let mut reader = BufReader::with_capacity(64 * 1024, file);
            let mut hash = [0u8; 16];
            loop {
                match reader.read_exact(&mut hash) {
                    Ok(()) => {
                        seen.insert(u128::from_le_bytes(hash));
                    }
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            total += seen.len() as u64;
            seen.clear();
        }
        Ok(total)
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

    /// Records and entities of `slot`, forgetting it: none counted is (0, 0); None if
    /// its spill failed.
    pub fn take(&self, slot: i64) -> Option<(u64, u64)> {
        // Out of the lock before a spill is counted.
        let taken = self.lock().remove(&slot);
        taken.map_or(Some((0, 0)), Tally::counts)
    }

    /// Forgets `slot` without counting it.
    pub fn forget(&self, slot: i64) {
        // Dropped after the lock is released: a spill closes 64 files.
        let forgotten = self.lock().remove(&slot);
        drop(forgotten);
    }

    /// Whether two handles share their slots.
    #[cfg_attr(not(feature = "datafusion"), allow(dead_code))]
    pub fn same(&self, other: &Tallies) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A 128-bit XXH3 of `bytes`, with the seed telling apart kinds of encoding (a value of
/// one type from a tuple, say) that could give equal bytes.
pub(super) fn hash128(seed: u64, bytes: &[u8]) -> u128 {
    twox_hash::XxHash3_128::oneshot_with_seed(seed, bytes)
}

/// Counts the rows of a statement as the summary's count query counts the variable they
/// come from: each row is its identity (`n` values), then its own id (see [`entity`]);
/// with `n` = 0, the row is the entity. For a server without a tally function, whose own
/// count of many distinct entities spills (PostgreSQL's hash aggregate past `work_mem`):
/// the rows stream here and are counted in this process's budget instead.
pub struct EntityCounter {
    n: usize,
    tally: Tally,
    /// A tuple's encoding, reused from row to row.
    buf: Vec<u8>,
}

impl EntityCounter {
    /// A counter of rows whose first `n` values are the identity.
    pub fn new(n: usize) -> EntityCounter {
        EntityCounter {
            n,
            tally: Tally::default(),
            buf: Vec::new(),
        }
    }

    /// Records and distinct entities; None if a spill file could not be written.
    pub fn counts(self) -> Option<(u64, u64)> {
        self.tally.counts()
    }

    /// Runs `stmt` on `backend` and counts its rows (their identity of `n` columns
    /// first): the row a count query would give, records then entities. None where the
    /// spill files could not be written: the server's own count query counts instead,
    /// as SQLite's `COUNT(DISTINCT …)` does where its distinct count cannot.
    pub fn count(
        backend: &mut dyn super::Backend,
        stmt: &crate::sql::SqlStatement,
        n: usize,
    ) -> Result<Option<Vec<Value>>, super::BackendError> {
        let mut counter = EntityCounter::new(n);
        backend.query_batched(stmt, &mut counter)?;
        let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        Ok(counter
            .counts()
            .map(|(records, entities)| vec![int(records), int(entities)]))
    }
}

impl super::RowSink for EntityCounter {
    fn columns(&mut self, _: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn row(&mut self, row: &[Value]) -> io::Result<()> {
        let n = self.n.min(row.len());
        let (identity, own) = row.split_at(n);
        let whole = identity.iter().all(|v| !v.is_null());
        // One of the two sides is hashed, in the one buffer.
        let buf = std::cell::RefCell::new(&mut self.buf);
        let entity = entity(
            n,
            whole,
            !own.is_empty(),
            || values_hash(identity, &mut buf.borrow_mut()),
            || values_hash(own, &mut buf.borrow_mut()),
        );
        self.tally.add(entity);
        Ok(())
    }
}

/// A 128-bit hash of a tuple of values, equal for tuples that `SELECT DISTINCT` takes as
/// equal on a server that sent them (a server column has one type: an integral float is
/// hashed as the integer it equals all the same, as `tuple_hash` does on SQLite). Each
/// value is encoded in `buf` as a tag and its bytes, text with its length; a lone text
/// (an identity of one text column: the usual case) is hashed as it is, with a seed of
/// its own (a set only ever holds tuples of one length, so the encodings never meet).
fn values_hash(values: &[Value], buf: &mut Vec<u8>) -> u128 {
    const SEED: u64 = 0x6b65_7374_7265_6c32;
    if let [Value::Text(t)] = values {
        return hash128(SEED ^ (3 << 56), t.as_bytes());
    }
    buf.clear();
    for v in values {
        match v {
            Value::Null => buf.push(0),
            Value::Int(i) => {
                buf.push(1);
                buf.extend_from_slice(&i.to_le_bytes());
            }
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                buf.push(1);
                buf.extend_from_slice(&(*f as i64).to_le_bytes());
            }
            Value::Float(f) => {
                buf.push(2);
                buf.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Value::Text(t) => {
                buf.push(3);
                buf.extend_from_slice(&(t.len() as u64).to_le_bytes());
                buf.extend_from_slice(t.as_bytes());
            }
            Value::Bool(b) => {
                buf.push(5);
                buf.push(u8::from(*b));
            }
        }
    }
    hash128(SEED, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows counted as they stream count as the summary's count query counts them:
    /// distinct whole identities, then the distinct own ids of the records whose identity
    /// is not whole (a NULL own id is one), and nothing for a record with neither; with
    /// no identity, distinct rows. An integral float is the integer it equals; text and
    /// numbers of the same digits differ, as do `("ab", "c")` and `("a", "bc")`.
    #[test]
    fn streamed_rows_count_their_entities_as_the_count_query_does() {
        use super::super::RowSink;
        use Value::{Bool, Float, Int, Null, Text};
        let t = |s: &str| Text(s.to_string());
        let count = |n: usize, rows: &[Vec<Value>]| {
            let mut counter = EntityCounter::new(n);
            for row in rows {
                counter.row(row).unwrap();
            }
            counter.counts().unwrap()
        };
        // An identity of one column, with an own id.
        let rows = [
            vec![t("a"), t("x")],
            vec![t("a"), t("y")],
            vec![Int(1), Null],
            vec![Float(1.0), Null],
            vec![Float(1.5), Null],
            vec![t("1"), Null],
            vec![Null, t("a")],
            vec![Null, t("a")],
            vec![Null, Null],
            vec![Null, Int(7)],
        ];
        // a, 1, 1.5, '1'; then own ids 'a', NULL, 7.
        assert_eq!(count(1, &rows), (10, 7));
        // No own id: a record whose identity is not whole is no entity.
        let short: Vec<Vec<Value>> = rows.iter().map(|r| r[..1].to_vec()).collect();
        assert_eq!(count(1, &short), (10, 4));
        // Two identity columns: whole only when both are there.
        let pairs = [
            vec![t("ab"), t("c")],
            vec![t("a"), t("bc")],
            vec![t("ab"), t("c")],
            vec![t("ab"), Null],
            vec![Bool(true), Int(1)],
            vec![Bool(true), Float(1.0)],
        ];
        assert_eq!(count(2, &pairs), (6, 3));
        // No identity: the distinct rows, NULLs among them.
        assert_eq!(count(0, &pairs), (6, 4));
        assert_eq!(count(0, &[vec![Null], vec![Null], vec![Int(0)]]), (3, 2));
    }

    /// Entities over several batches, repeated across them, in both sets: the counts
    /// are those of a plain set of (set, hash), taken in memory and after a spill.
    #[test]
    fn batched_entities_count_as_a_set_would() {
        let entity = |i: u64| {
            let set = usize::from(i.is_multiple_of(7));
            (set, hash128(0, &(i % 10_007).to_le_bytes()))
        };
        for rows in [0, 1, BATCH - 1, BATCH, BATCH + 1, 5 * BATCH + 17] {
            let mut tally = Tally::default();
            let mut here = Tally::here();
            let mut spilled = Tally::spilled().expect("the temporary directory is writable");
            let mut expected = std::collections::HashSet::new();
            for i in 0..rows as u64 {
                let e = entity(i);
                expected.insert(e);
                for t in [&mut tally, &mut here, &mut spilled] {
                    t.add(Some(e));
                    // A row without an entity counts as a record only.
                    if i.is_multiple_of(5) {
                        t.add(None);
                    }
                }
            }
            let records = rows as u64 + (rows as u64).div_ceil(5);
            let want = Some((records, expected.len() as u64));
            assert_eq!(tally.counts(), want, "{rows} rows in memory, filled beside");
            assert_eq!(here.counts(), want, "{rows} rows in memory, filled here");
            assert_eq!(spilled.counts(), want, "{rows} rows spilled");
        }
    }
}
