//! SQLite through rusqlite (bundled): the embedded default, and the in-memory cache that
//! holds data living outside any data source (NEW).
//!
//! Opened read-only unless the connection allows table creation. `x REGEXP p` is a Rust
//! regex search (SQLite has no regular expressions of its own); `x LIKE p` is the
//! language's LIKE (`like.rs`). A statement stops when Ctrl-C is pressed or the
//! connection's `statement_timeout` passes (a progress handler checks both).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::tally::{hash128, Entity, Tallies, Tally};
use super::{Backend, BackendError, RowSink};
use crate::ir::Literal;
use crate::sql::SqlStatement;
use crate::value::Value;

pub struct SqliteBackend {
    conn: Connection,
    timeout: Option<Duration>,
    /// What [`TALLY`] counted, by slot.
    tallies: Tallies,
}

impl SqliteBackend {
    /// `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`.
    pub fn open_url(url: &str, allow_write: bool) -> Result<SqliteBackend, BackendError> {
        let path = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| BackendError::Open {
                url: url.to_string(),
                message: "expected sqlite:///path/to/file.db".into(),
            })?;
        if !std::path::Path::new(path).exists() {
            return Err(BackendError::Open {
                url: url.to_string(),
                message: format!("no database file at {path}"),
            });
        }
        let flags = if allow_write {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| BackendError::Open {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        Self::with_connection(conn)
    }

    /// A session's cache: a private database that lives in memory until its page cache
    /// ([`CACHE_BUDGET_KIB`]) is full and then spills to a temporary file, deleted when
    /// the connection closes.
    pub fn cache() -> Result<SqliteBackend, BackendError> {
        let conn = Connection::open("").map_err(|e| BackendError::Open {
            url: "sqlite:// (session cache)".into(),
            message: e.to_string(),
        })?;
        conn.execute_batch(&format!("PRAGMA main.cache_size = -{CACHE_BUDGET_KIB}"))
            .map_err(|e| BackendError::Query(e.to_string()))?;
        Self::with_connection(conn)
    }

    fn with_connection(conn: Connection) -> Result<SqliteBackend, BackendError> {
        conn.create_scalar_function(
            "regexp",
            2,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                // Compiled once per statement, not per row.
                let re: Arc<regex::Regex> = ctx
                    .get_or_create_aux(0, |v| -> Result<_, BoxError> {
                        Ok(regex::Regex::new(v.as_str()?)?)
                    })?;
                let text = match ctx.get_raw(1) {
                    ValueRef::Null => return Ok(None),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    ValueRef::Integer(i) => i.to_string(),
                    ValueRef::Real(f) => f.to_string(),
                    ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                };
                Ok(Some(re.is_match(&text)))
            },
        )
        .map_err(|e| BackendError::Query(e.to_string()))?;
        // `integer(x)` of the mappings (process ids written `0x12d8` or `4824`).
        conn.create_scalar_function(
            "kestrel_int",
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                Ok(match ctx.get_raw(0) {
                    ValueRef::Integer(i) => Some(i),
                    ValueRef::Text(t) => crate::value::parse_integer(&String::from_utf8_lossy(t)),
                    ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(f as i64),
                    _ => None,
                })
            },
        )
        .map_err(|e| BackendError::Query(e.to_string()))?;
        install_like(&conn)?;
        conn.create_aggregate_function(
            DISTINCT_COUNT,
            -1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            DistinctCount,
        )
        .map_err(|e| BackendError::Query(e.to_string()))?;
        // Temporary tables (a session's computed variables, shipped rows) live in a
        // temporary file behind a page cache of CACHE_BUDGET_KIB, not in memory: a
        // variable of millions of rows must not grow the process.
        conn.execute_batch(&format!(
            "PRAGMA temp_store = FILE; PRAGMA temp.cache_size = -{CACHE_BUDGET_KIB}"
        ))
        .map_err(|e| BackendError::Query(e.to_string()))?;
        let tallies = Tallies::default();
        install_tally(&conn, &tallies)?;
        Ok(SqliteBackend {
            conn,
            timeout: None,
            tallies,
        })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `kestrel_distinct(keep, c1, …, cn)`: how many distinct tuples `(c1, …, cn)` the rows
/// where `keep` is true hold, NULL equal to NULL (as `SELECT DISTINCT` has it). What the
/// summary and INFO count entities with: SQLite's `COUNT(DISTINCT x)` inserts each value
/// into a B-tree (1.1–1.7 s for 1,000,000 values); this keeps a 128-bit hash of each
/// tuple ([`tuple_hash`]) in a hash set (two values collide with odds of about n²/2¹²⁹,
/// 10⁻²⁵ at ten million). Past [`DISTINCT_BUDGET`] tuples it spills the hashes to
/// temporary files and counts them file by file, as the tally does (`tally.rs`), so
/// memory stays bounded and the count exact; only a file that cannot be written makes it
/// return NULL, and the caller then counts with `COUNT(DISTINCT …)`.
pub const DISTINCT_COUNT: &str = "kestrel_distinct";

/// The most distinct tuples [`DISTINCT_COUNT`] and the tally hold in memory (16 bytes
/// each; a set of this many fits 1,048,576 buckets, about 17 MB).
pub const DISTINCT_BUDGET: usize = 900_000;

struct DistinctCount;

impl rusqlite::functions::Aggregate<Tally, Option<i64>> for DistinctCount {
    fn init(&self, _: &mut rusqlite::functions::Context<'_>) -> rusqlite::Result<Tally> {
        Ok(Tally::default())
    }

    fn step(
        &self,
        ctx: &mut rusqlite::functions::Context<'_>,
        seen: &mut Tally,
    ) -> rusqlite::Result<()> {
        if truth(ctx, 0) {
            seen.add(Some((
                0,
                tuple_hash((1..ctx.len()).map(|i| ctx.get_raw(i))),
            )));
        }
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut rusqlite::functions::Context<'_>,
        seen: Option<Tally>,
    ) -> rusqlite::Result<Option<i64>> {
        Ok(match seen {
            None => Some(0),
            Some(seen) => seen.counts().map(|(_, entities)| entities as i64),
        })
    }
}

/// SQLite's truth of argument `i`: non-zero numbers; text and blobs by their numeric
/// prefix; NULL is false.
fn truth(ctx: &rusqlite::functions::Context<'_>, i: usize) -> bool {
    match ctx.get_raw(i) {
        ValueRef::Integer(n) => n != 0,
        ValueRef::Real(f) => f != 0.0,
        ValueRef::Null => false,
        _ => ctx.get::<f64>(i).map(|f| f != 0.0).unwrap_or(false),
    }
}

/// A 128-bit hash ([`hash128`]) of a tuple of values, each encoded as a type tag, then
/// the value; an integral REAL as the INTEGER it equals (SQLite compares 1 and 1.0
/// equal), text and blobs with their length. Equal under `SELECT DISTINCT`, equal hash.
/// The encoding is built on the stack up to [`TUPLE_ON_STACK`] bytes. A tuple of one
/// value (an identity of one column: the usual case, once per row of a variable) is
/// hashed as it is, its tag in the seed ([`value_hash`]); a set only ever holds tuples
/// of one length, so the two encodings never meet in it.
fn tuple_hash<'a>(mut values: impl ExactSizeIterator<Item = ValueRef<'a>>) -> u128 {
    if values.len() == 1 {
        if let Some(v) = values.next() {
            return value_hash(v);
        }
    }
    let mut stack = [0u8; TUPLE_ON_STACK];
    let mut len = 0;
    let mut heap: Vec<u8> = Vec::new();
    let mut put = |bytes: &[u8]| {
        if heap.is_empty() && len + bytes.len() <= TUPLE_ON_STACK {
            stack[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack[..len]);
            }
            heap.extend_from_slice(bytes);
        }
    };
    for v in values {
        match v {
            ValueRef::Null => put(&[0]),
            ValueRef::Integer(n) => {
                put(&[1]);
                put(&n.to_le_bytes());
            }
            ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                put(&[1]);
                put(&(f as i64).to_le_bytes());
            }
            ValueRef::Real(f) => {
                put(&[2]);
                put(&f.to_bits().to_le_bytes());
            }
            ValueRef::Text(t) => {
                put(&[3]);
                put(&(t.len() as u64).to_le_bytes());
                put(t);
            }
            ValueRef::Blob(b) => {
                put(&[4]);
                put(&(b.len() as u64).to_le_bytes());
                put(b);
            }
        }
    }
    if heap.is_empty() {
        hash128(TUPLE_SEED, &stack[..len])
    } else {
        hash128(TUPLE_SEED, &heap)
    }
}

/// The hash of a one-value tuple: the value's bytes alone, with a seed of its type (the
/// tags of [`tuple_hash`]; an integral REAL as its INTEGER), so that no bytes are copied.
fn value_hash(v: ValueRef<'_>) -> u128 {
    let seed = |tag: u64| TUPLE_SEED ^ (tag << 56);
    match v {
        ValueRef::Null => hash128(seed(0), &[]),
        ValueRef::Integer(n) => hash128(seed(1), &n.to_le_bytes()),
        ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
            hash128(seed(1), &(f as i64).to_le_bytes())
        }
        ValueRef::Real(f) => hash128(seed(2), &f.to_bits().to_le_bytes()),
        ValueRef::Text(t) => hash128(seed(3), t),
        ValueRef::Blob(b) => hash128(seed(4), b),
    }
}

/// The bytes of a tuple [`tuple_hash`] encodes without allocating.
const TUPLE_ON_STACK: usize = 256;

/// The seed of [`tuple_hash`]'s XXH3.
const TUPLE_SEED: u64 = 0x6b65_7374_7265_6c31;

/// `kestrel_tally(slot, n, c1, …, cn, a1, …, am)`, always 1: counts, on the way, the rows
/// and entities of a variable that a statement reads once, so that the summary needs no
/// query of its own (see `Backend::tally_function`). Each call counts a row; its entity
/// is the tuple of its identity `c1…cn` when none of them is NULL, else (m > 0) the tuple
/// of its own id `a1…am`, kept apart; with n = 0 the whole row `a1…am` is the entity
/// (a type without identity). The same entities as the summary's count query. A
/// statement calls it once per row of the variable, in a place SQLite evaluates once per
/// row (a result column or grouping key of the SELECT that reads the variable). Past
/// [`DISTINCT_BUDGET`] entities a slot spills its hashes to temporary files (`tally.rs`).
pub const TALLY: &str = "kestrel_tally";

/// Registers [`TALLY`] counting into `tallies`, through the C API: rusqlite's closure
/// wrapper costs about 100 ns a call, and the function is called once per row of a
/// variable (a million calls for a million-row DISP).
fn install_tally(conn: &Connection, tallies: &Tallies) -> Result<(), BackendError> {
    use rusqlite::ffi;
    use std::os::raw::{c_int, c_void};

    unsafe extern "C" fn tally_fn(
        ctx: *mut ffi::sqlite3_context,
        argc: c_int,
        argv: *mut *mut ffi::sqlite3_value,
    ) {
        // SAFETY: the user data is the `Tallies` boxed at registration, freed by
        // `drop_board` only when the function is dropped; SQLite passes `argc` valid values
        // whose text and blob pointers stay valid until the function returns, each read
        // with its byte length.
        unsafe {
            let board = &*(ffi::sqlite3_user_data(ctx) as *const Tallies);
            let raw = if argv.is_null() || argc <= 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(argv, argc as usize)
            };
            match tally_row(raw) {
                Ok((slot, entity)) => {
                    board.lock().entry(slot).or_default().add(entity);
                    ffi::sqlite3_result_int(ctx, 1);
                }
                Err(message) => {
                    ffi::sqlite3_result_error(ctx, message.as_ptr().cast(), message.len() as c_int)
                }
            }
        }
    }

    /// The slot and entity of one call with arguments `raw`. Each value is read only
    /// where it is needed: the slot and `n` as integers, the identity's types to see it
    /// whole, then the values of the side that is hashed.
    ///
    /// # Safety
    /// Each of `raw` is a valid protected value for the duration of the call.
    unsafe fn tally_row(raw: &[*mut ffi::sqlite3_value]) -> Result<(i64, Entity), &'static str> {
        // SAFETY: as the caller promises.
        unsafe {
            let int = |i: usize| {
                raw.get(i)
                    .filter(|&&v| ffi::sqlite3_value_type(v) == ffi::SQLITE_INTEGER)
                    .map(|&v| ffi::sqlite3_value_int64(v))
            };
            let (Some(slot), Some(n)) = (int(0), int(1)) else {
                return Err("kestrel_tally(slot, n, c1, …) takes two integers, then the values");
            };
            let values = &raw[2..];
            let n = usize::try_from(n).unwrap_or(0).min(values.len());
            let (identity, own) = values.split_at(n);
            let whole = identity
                .iter()
                .all(|&v| ffi::sqlite3_value_type(v) != ffi::SQLITE_NULL);
            let hash =
                |side: &[*mut ffi::sqlite3_value]| tuple_hash(side.iter().map(|&v| value_ref(v)));
            let entity =
                super::tally::entity(n, whole, !own.is_empty(), || hash(identity), || hash(own));
            Ok((slot, entity))
        }
    }

    /// A value as rusqlite reads it, borrowing SQLite's bytes.
    ///
    /// # Safety
    /// `v` is a valid protected value, and the result is dropped before SQLite frees it.
    unsafe fn value_ref<'a>(v: *mut ffi::sqlite3_value) -> ValueRef<'a> {
        // SAFETY: as the caller promises; the byte length is read after the pointer, as
        // SQLite's documentation asks.
        unsafe {
            let bytes = |p: *const u8| {
                let n = ffi::sqlite3_value_bytes(v);
                if p.is_null() || n <= 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(p, n as usize)
                }
            };
            match ffi::sqlite3_value_type(v) {
                ffi::SQLITE_INTEGER => ValueRef::Integer(ffi::sqlite3_value_int64(v)),
                ffi::SQLITE_FLOAT => ValueRef::Real(ffi::sqlite3_value_double(v)),
                ffi::SQLITE_TEXT => ValueRef::Text(bytes(ffi::sqlite3_value_text(v))),
                ffi::SQLITE_BLOB => ValueRef::Blob(bytes(ffi::sqlite3_value_blob(v).cast())),
                _ => ValueRef::Null,
            }
        }
    }

    unsafe extern "C" fn drop_board(p: *mut c_void) {
        // SAFETY: `p` is the box made below, handed to SQLite once and freed once.
        drop(unsafe { Box::from_raw(p.cast::<Tallies>()) });
    }

    let name = std::ffi::CString::new(TALLY).expect("no NUL in the name");
    let board = Box::into_raw(Box::new(tallies.clone())).cast::<c_void>();
    // SAFETY: the handle is the open connection's, used on this thread during the call;
    // SQLite owns `board` from here and calls `drop_board` once, also when the call fails.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            conn.handle(),
            name.as_ptr(),
            -1,
            ffi::SQLITE_UTF8,
            board,
            Some(tally_fn),
            None,
            None,
            Some(drop_board),
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(BackendError::Query(format!(
            "cannot install {TALLY} (SQLite error {rc})"
        )));
    }
    Ok(())
}

/// Replaces SQLite's `like(pattern, text)` (what `text LIKE pattern` calls) by
/// [`super::like::like`]: SQLite's own stops reading at a NUL and refuses patterns over
/// 50,000 bytes. Registered through the C API: rusqlite's closure wrapper costs about
/// 100 ns a row, three times SQLite's own LIKE; this costs about what SQLite's does.
/// `text LIKE pattern ESCAPE e` calls the three-argument form, [`super::like::like_escaped`].
fn install_like(conn: &Connection) -> Result<(), BackendError> {
    use rusqlite::ffi;
    use std::os::raw::c_int;

    unsafe extern "C" fn like_fn(
        ctx: *mut ffi::sqlite3_context,
        argc: c_int,
        argv: *mut *mut ffi::sqlite3_value,
    ) {
        // SAFETY: SQLite passes `argc` (2 or 3, as registered) valid values; the text
        // pointers stay valid until the function returns, and each is read with its byte
        // length.
        unsafe {
            if !(argc == 2 || argc == 3) || argv.is_null() {
                ffi::sqlite3_result_null(ctx);
                return;
            }
            let args = std::slice::from_raw_parts(argv, argc as usize);
            let text = |v: *mut ffi::sqlite3_value| -> Option<&[u8]> {
                if ffi::sqlite3_value_type(v) == ffi::SQLITE_NULL {
                    return None;
                }
                // Numbers become text as SQLite writes them, as its own LIKE does.
                let p = ffi::sqlite3_value_text(v);
                let n = ffi::sqlite3_value_bytes(v);
                if p.is_null() || n <= 0 {
                    return Some(&[]);
                }
                Some(std::slice::from_raw_parts(p, n as usize))
            };
            let escape = args.get(2).map(|e| text(*e));
            match (text(args[0]), text(args[1]), escape) {
                (Some(pattern), Some(t), None) => {
                    ffi::sqlite3_result_int(ctx, c_int::from(super::like::like(t, pattern)))
                }
                (Some(pattern), Some(t), Some(Some(e))) => ffi::sqlite3_result_int(
                    ctx,
                    c_int::from(super::like::like_escaped(t, pattern, e)),
                ),
                _ => ffi::sqlite3_result_null(ctx),
            }
        }
    }

    for args in [2, 3] {
        // SAFETY: the handle is the open connection's, used on this thread during the call.
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                conn.handle(),
                c"like".as_ptr(),
                args,
                ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
                std::ptr::null_mut(),
                Some(like_fn),
                None,
                None,
                None,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(BackendError::Query(format!(
                "cannot install LIKE (SQLite error {rc})"
            )));
        }
    }
    Ok(())
}

fn to_sql(l: &Literal) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match l {
        Literal::Null => V::Null,
        Literal::Bool(b) => V::Integer(i64::from(*b)),
        Literal::Int(i) => V::Integer(*i),
        Literal::Float(f) => V::Real(*f),
        Literal::Str(s) => V::Text(s.clone()),
        Literal::Timestamp(t) => V::Text(crate::ir::timestamp_text(*t)),
    }
}

/// Inserts `rows` into table `name` (one prepared statement, cached per connection: the
/// session cache is fed in batches).
fn insert_all(
    conn: &Connection,
    name: &str,
    columns: &[String],
    rows: &[Vec<Literal>],
) -> Result<(), BackendError> {
    let err = |e: rusqlite::Error| BackendError::Query(e.to_string());
    if columns.is_empty() {
        return Ok(());
    }
    let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let marks = vec!["?"; columns.len()].join(", ");
    let mut insert = conn
        .prepare_cached(&format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            quote(name),
            cols.join(", ")
        ))
        .map_err(err)?;
    for row in rows {
        insert
            .execute(rusqlite::params_from_iter(row.iter().map(to_sql)))
            .map_err(err)?;
    }
    Ok(())
}

/// `"name"` with `"` doubled: the one identifier rule of SQLite.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Backend for SqliteBackend {
    fn distinct_count_function(&self) -> Option<&'static str> {
        Some(DISTINCT_COUNT)
    }

    fn tally_function(&self) -> Option<&'static str> {
        Some(TALLY)
    }

    fn take_tally(&mut self, slot: i64) -> Option<(u64, u64)> {
        self.tallies.take(slot)
    }

    fn forget_tally(&mut self, slot: i64) {
        self.tallies.forget(slot);
    }

    fn create_temp_table(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Literal>],
    ) -> Result<(), BackendError> {
        let err = |e: rusqlite::Error| BackendError::Query(e.to_string());
        let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            &format!("CREATE TEMP TABLE {} ({})", quote(name), cols.join(", ")),
            [],
        )
        .map_err(err)?;
        insert_all(&tx, name, columns, rows)?;
        tx.commit().map_err(err)
    }

    fn insert_rows(
        &mut self,
        name: &str,
        columns: &[String],
        rows: &[Vec<Literal>],
    ) -> Result<(), BackendError> {
        let err = |e: rusqlite::Error| BackendError::Query(e.to_string());
        let tx = self.conn.transaction().map_err(err)?;
        insert_all(&tx, name, columns, rows)?;
        tx.commit().map_err(err)
    }

    fn store(&mut self, name: &str, stmt: &SqlStatement) -> Result<(), BackendError> {
        // The temp schema is writable on a read-only connection; its pages live in a
        // temporary file behind a bounded page cache (`temp_store = FILE`, set at open).
        let sql = format!("CREATE TEMP TABLE {} AS {}", quote(name), stmt.sql);
        self.watched(|b| {
            let err = |e: rusqlite::Error| BackendError::Query(e.to_string());
            let mut st = b.conn.prepare(&sql).map_err(err)?;
            st.execute(rusqlite::params_from_iter(stmt.params.iter().map(to_sql)))
                .map_err(err)?;
            drop(st);
            // Its row count for the planner: without it SQLite guesses a million rows,
            // and an `IN (SELECT … FROM kept)` of ten values loses to a range scan of an
            // index over the whole lake.
            b.conn
                .execute_batch(&format!("ANALYZE temp.{}", quote(name)))
                .map_err(err)
        })
    }

    fn drop_temp_table(&mut self, name: &str) -> Result<(), BackendError> {
        self.conn
            .execute_batch(&format!("DROP TABLE IF EXISTS temp.{}", quote(name)))
            .map_err(|e| BackendError::Query(e.to_string()))
    }

    fn dialect(&self) -> &'static str {
        "sqlite"
    }

    fn column_kinds(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, Option<crate::ir::ColumnKind>)>, BackendError> {
        use crate::ir::ColumnKind;
        // `main.events`, or a table of an attached database.
        let (schema, table) = crate::sql::table_name::schema_and_table(table, "database")
            .map_err(BackendError::Query)?;
        let mut stmt = self
            .conn
            .prepare("SELECT name, type FROM pragma_table_info(?1, ?2)")
            .map_err(|e| BackendError::Query(e.to_string()))?;
        let cols = stmt
            .query_map(rusqlite::params![table, schema], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| BackendError::Query(e.to_string()))?;
        // SQLite's type affinity rules, by the declared type; timestamps are text or
        // numbers here, compared as stored.
        Ok(cols
            .into_iter()
            .map(|(name, ty)| {
                let t = ty.to_ascii_uppercase();
                let kind = if t.contains("INT") {
                    Some(ColumnKind::Integer)
                } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
                    Some(ColumnKind::Text)
                } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
                    Some(ColumnKind::Float)
                } else {
                    None
                };
                (name, kind)
            })
            .collect())
    }

    fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        self.watched(|b| b.run(stmt, sink))
    }
}

/// The page cache of a connection's main and temporary databases, in KiB.
pub const CACHE_BUDGET_KIB: u32 = 8 * 1024;

impl SqliteBackend {
    /// Runs `f` so that Ctrl-C and the statement timeout stop what it runs.
    fn watched<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        // SQLite calls this every few thousand instructions; `true` stops the statement.
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let stop =
            move || super::cancel::requested() || deadline.is_some_and(|d| Instant::now() >= d);
        self.conn
            .progress_handler(10_000, Some(stop))
            .map_err(|e| BackendError::Query(e.to_string()))?;
        let result = f(self);
        let _ = self.conn.progress_handler(0, None::<fn() -> bool>);
        result.map_err(|e| match e {
            BackendError::Query(_) if super::cancel::requested() => BackendError::Cancelled,
            BackendError::Query(_) if deadline.is_some_and(|d| Instant::now() >= d) => {
                BackendError::Timeout(self.timeout.map_or(0, |t| t.as_secs()))
            }
            other => other,
        })
    }

    fn run(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        let mut prepared = self
            .conn
            .prepare(&stmt.sql)
            .map_err(|e| BackendError::Query(e.to_string()))?;
        let names: Vec<String> = prepared.column_names().map(|s| s.to_string()).collect();
        sink.columns(&names)?;
        let params: Vec<rusqlite::types::Value> = stmt.params.iter().map(to_sql).collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| BackendError::Query(e.to_string()))?;
        let mut buf: Vec<Value> = Vec::with_capacity(names.len());
        while let Some(row) = rows
            .next()
            .map_err(|e| BackendError::Query(e.to_string()))?
        {
            buf.clear();
            for i in 0..names.len() {
                let v = match row
                    .get_ref(i)
                    .map_err(|e| BackendError::Query(e.to_string()))?
                {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(f) => Value::Float(f),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
                };
                buf.push(v);
            }
            sink.row(&buf)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One integer a query returns (NULL: None).
    fn one(b: &SqliteBackend, sql: &str) -> Option<i64> {
        b.connection().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn distinct_count_agrees_with_select_distinct_on_every_type() {
        let b = SqliteBackend::cache().unwrap();
        // Integers and the REALs equal to them, NULLs, text and blobs of the same bytes,
        // tuples that differ in one place, empty strings: what DISTINCT tells apart.
        b.connection()
            .execute_batch(
                "CREATE TABLE t (a, b, k);
                 INSERT INTO t VALUES
                   (1, 'x', 1), (1.0, 'x', 1), (2, 'x', 1), (2.5, 'x', 1), (2.5, 'x', 1),
                   (NULL, 'x', 1), (NULL, 'x', 1), (NULL, NULL, 1), ('1', 'x', 1),
                   (X'31', 'x', 1), ('', NULL, 1), ('', '', 1), ('ab', 'c', 1),
                   ('a', 'bc', 1), (-0.0, 'x', 1), (0, 'x', 1), (7, 'y', 0), (8, 'y', NULL);
                 -- Tuples longer than the hash encodes on the stack, apart only at the end.
                 INSERT INTO t SELECT printf('%300d', i), printf('%300d', i % 2), 1
                   FROM (SELECT 1 AS i UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 1);",
            )
            .unwrap();
        for (cols, keep) in [
            ("a", "1"),
            ("a, b", "1"),
            ("b", "1"),
            ("a, b", "k"),
            ("a", "a IS NOT NULL"),
            ("a, b", "a IS NOT NULL AND b IS NOT NULL"),
            ("b, a", "a IS NULL OR b IS NULL"),
        ] {
            let ours = one(
                &b,
                &format!("SELECT kestrel_distinct({keep}, {cols}) FROM t"),
            );
            let sqlite = one(
                &b,
                &format!("SELECT COUNT(*) FROM (SELECT DISTINCT {cols} FROM t WHERE {keep})"),
            );
            assert_eq!(ours, sqlite, "distinct ({cols}) where {keep}");
        }
        // No rows at all: zero, as COUNT(DISTINCT) says.
        assert_eq!(
            one(&b, "SELECT kestrel_distinct(1, a) FROM t WHERE 0"),
            Some(0)
        );
        // One count per group.
        let groups = |sql: &str| -> Vec<(String, i64)> {
            b.connection()
                .prepare(sql)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let ours = groups(
            "SELECT b, kestrel_distinct(1, a) FROM t WHERE b IS NOT NULL GROUP BY b ORDER BY b",
        );
        assert_eq!(ours.len(), 7);
        assert_eq!(
            ours,
            groups(
                "SELECT b, COUNT(*) FROM (SELECT DISTINCT b, a FROM t WHERE b IS NOT NULL)
                 GROUP BY b ORDER BY b"
            )
        );
    }

    /// The tally counts what the summary's count query counts: every row, entities by
    /// whole identity, else by own id, else (no identity) by the whole row.
    #[test]
    fn tally_counts_what_the_count_query_counts() {
        let mut b = SqliteBackend::cache().unwrap();
        b.connection()
            .execute_batch(
                "CREATE TABLE t (a, b, c);
                 INSERT INTO t VALUES
                   (1, 'x', 'r1'), (1.0, 'x', 'r2'), (1, 'x', 'r2'), (2, NULL, 'r3'),
                   (2, NULL, 'r3'), (NULL, 'x', 'r4'), (NULL, NULL, NULL), ('1', 'x', 'r5'),
                   (X'31', 'x', 'r5'), (NULL, NULL, NULL);",
            )
            .unwrap();
        let rows = one(&b, "SELECT COUNT(*) FROM t").unwrap() as u64;
        let count = |b: &SqliteBackend, sql: &str| one(b, sql).unwrap() as u64;
        for (slot, args, entities) in [
            // Identity (a, b); own id c where it is not whole.
            (
                1,
                "2, a, b, c",
                count(&b, "SELECT COUNT(*) FROM (SELECT DISTINCT a, b FROM t WHERE a IS NOT NULL AND b IS NOT NULL)")
                    + count(&b, "SELECT COUNT(*) FROM (SELECT DISTINCT c FROM t WHERE a IS NULL OR b IS NULL)"),
            ),
            // Identity a alone (one value, hashed as it is), no own id.
            (2, "1, a", count(&b, "SELECT COUNT(DISTINCT a) FROM t")),
            // No identity: distinct rows.
            (3, "0, a, b, c", count(&b, "SELECT COUNT(*) FROM (SELECT DISTINCT a, b, c FROM t)")),
            // A row of 18 values (no identity), hashed as one tuple.
            (
                4,
                format!("0{}", ", a, b, c".repeat(6)).as_str(),
                count(&b, "SELECT COUNT(*) FROM (SELECT DISTINCT a, b, c FROM t)"),
            ),
        ] {
            let sql = format!("SELECT SUM(kestrel_tally({slot}, {args})) FROM t");
            assert_eq!(one(&b, &sql), Some(rows as i64));
            assert_eq!(b.take_tally(slot), Some((rows, entities)), "{args}");
            // Taken: the slot starts again from nothing.
            assert_eq!(b.take_tally(slot), Some((0, 0)));
        }
        // Past the budget the slot spills to files, and still counts exactly: each row
        // twice, and the own ids of rows whose identity is NULL apart from identities.
        let n = DISTINCT_BUDGET as i64 * 2 + 1;
        one(
            &b,
            &format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
                 SELECT SUM(x) FROM (
                   SELECT kestrel_tally(7, 1, i / 2, 0) + kestrel_tally(8, 1, i % 10)
                     + kestrel_tally(9, 1, CASE WHEN i % 3 <> 0 THEN i END, i % 1000) AS x
                   FROM s
                   UNION ALL SELECT kestrel_tally(7, 1, i / 2, 0) FROM s)"
            ),
        );
        assert_eq!(b.take_tally(7), Some((2 * n as u64, (n / 2 + 1) as u64)));
        assert_eq!(b.take_tally(8), Some((n as u64, 10)));
        assert_eq!(b.take_tally(9), Some((n as u64, (n - n / 3) as u64 + 1000)));
        // A spilled slot forgotten is gone, uncounted.
        one(
            &b,
            &format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
                 SELECT SUM(kestrel_tally(10, 1, i)) FROM s"
            ),
        );
        b.forget_tally(10);
        assert_eq!(b.take_tally(10), Some((0, 0)));
        // Arguments it cannot read are an error of the statement, not a crash.
        for args in ["'x', 1, a", "1", "1, 1.5, a"] {
            let err = b
                .connection()
                .query_row(&format!("SELECT kestrel_tally({args}) FROM t"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .expect_err(args);
            assert!(
                err.to_string().contains("kestrel_tally(slot, n"),
                "{args}: {err}"
            );
        }
    }

    #[test]
    fn distinct_count_past_its_budget_spills_and_stays_exact() {
        let b = SqliteBackend::cache().unwrap();
        let n = DISTINCT_BUDGET as i64 * 2 + 1;
        let sql = format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
             SELECT kestrel_distinct(1, i), kestrel_distinct(1, i % 1000),
               kestrel_distinct(i % 2, i / 2, 'x') FROM s"
        );
        let counts: (Option<i64>, Option<i64>, Option<i64>) = b
            .connection()
            .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!(counts, (Some(n), Some(1000), Some(n / 2 + 1)));
    }
}
