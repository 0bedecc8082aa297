//! The reader half of ingest, shared by every writer: files in, flattened records out.
//!
//! - [`scan`] (pass 1) reads every file once and returns the [`Schema`] (columns in
//!   first-seen order with inferred types), per-file record counts and the rejected lines.
//! - [`Scan::rows`] (pass 2) reads the files again and yields one [`Row`] per accepted
//!   record, each value already converted to its column's type.
//! - [`read_records`] reads one file as self-describing records (name, value) with no
//!   schema, for callers that want the data rather than a table (e.g. `LOAD`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::csv::{CsvReader, CsvRecord};
use super::json::{self, float_text, Leaf};
use super::keys::{KeyTable, Spellings};
use super::progress::Counter;
use super::schema::{Column, ColumnType, Kinds, Schema};
use super::{IngestError, InputFormat, Reject, MAX_REJECTS_KEPT};
use crate::value::Value;

/// How to read input files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Format of every file; `None`: from each file's name.
    pub format: Option<InputFormat>,
    /// Treat names differing only in ASCII case as one column (for targets whose
    /// identifiers ignore case, as SQLite's do).
    pub fold_case: bool,
}

/// One input file as pass 1 saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileScan {
    pub path: PathBuf,
    pub format: InputFormat,
    pub records: u64,
    pub rejected: u64,
}

/// The result of pass 1 over all input files.
#[derive(Debug, Clone)]
pub struct Scan {
    pub schema: Schema,
    pub files: Vec<FileScan>,
    /// Records accepted (the rows pass 2 will yield).
    pub rows: u64,
    pub rows_rejected: u64,
    /// The first [`MAX_REJECTS_KEPT`] rejected lines, in input order.
    pub rejects: Vec<Reject>,
    options: ReadOptions,
}

/// One accepted record, ready to insert: `values[i]` belongs to schema column
/// `columns[i]`, in ascending column order; columns the record lacks are absent (NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub columns: Vec<usize>,
    pub values: Vec<Value>,
}

/// Pass 1: reads every file (several at once) and infers the schema.
/// Fails on the first file that cannot be read; bad lines are only counted and kept.
pub fn scan(files: &[PathBuf], options: &ReadOptions) -> Result<Scan, IngestError> {
    scan_counted(files, options, &Counter::default())
}

pub(crate) fn scan_counted(
    files: &[PathBuf],
    options: &ReadOptions,
    progress: &Counter,
) -> Result<Scan, IngestError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let results: Vec<Slot> = files.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files.len() || abort.load(Ordering::Relaxed) {
                    break;
                }
                let result = scan_file(&files[i], options, progress, &abort);
                if result.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(result);
                }
            });
        }
    });

    // A worker stopped by another's failure (or by Ctrl-C) leaves `Ok(None)`; report the
    // first real error.
    let mut parts = Vec::with_capacity(files.len());
    for slot in results {
        match slot.into_inner().ok().flatten() {
            Some(Ok(Some(part))) => parts.push(part),
            Some(Err(e)) => return Err(e),
            Some(Ok(None)) | None => {}
        }
    }
    if crate::backend::cancel::requested() {
        return Err(IngestError::Cancelled);
    }
    if parts.len() != files.len() {
        return Err(IngestError::Internal("a file was not scanned".into()));
    }

    let mut keys = KeyTable::new(options.fold_case);
    let mut columns: Vec<(Spellings, Kinds, u64)> = Vec::new();
    let mut scan = Scan {
        schema: Schema::default(),
        files: Vec::with_capacity(files.len()),
        rows: 0,
        rows_rejected: 0,
        rejects: Vec::new(),
        options: *options,
    };
    for part in parts {
        for (spellings, kinds, non_null) in part.columns {
            keys.next_record();
            let id = keys
                .id(spellings.best())
                .map_err(|e| IngestError::Internal(e.reason(options.fold_case)))?;
            if id == columns.len() {
                columns.push((spellings, kinds, non_null));
            } else {
                let c = &mut columns[id];
                c.0.merge(&spellings);
                c.1.add(kinds);
                c.2 += non_null;
            }
        }
        scan.rows += part.file.records;
        scan.rows_rejected += part.file.rejected;
        let room = MAX_REJECTS_KEPT - scan.rejects.len();
        scan.rejects.extend(part.rejects.into_iter().take(room));
        scan.files.push(part.file);
    }
    scan.schema.columns = columns
        .into_iter()
        .map(|(spellings, kinds, non_null)| Column {
            name: spellings.best().to_string(),
            ty: kinds.column_type(),
            non_null,
        })
        .collect();
    Ok(scan)
}

/// A file's pass-1 result: `Ok(None)` when stopped because another file failed.
type Slot = Mutex<Option<Result<Option<FilePart>, IngestError>>>;

/// What pass 1 learnt from one file.
struct FilePart {
    file: FileScan,
    /// (spellings, kinds, non-null count) in first-seen order.
    columns: Vec<(Spellings, Kinds, u64)>,
    rejects: Vec<Reject>,
}

#[derive(Clone, Copy, Default)]
struct ColumnStat {
    kinds: Kinds,
    non_null: u64,
    /// Only columns of accepted records (or a CSV header) become columns.
    seen: bool,
}

fn scan_file(
    path: &Path,
    options: &ReadOptions,
    progress: &Counter,
    abort: &AtomicBool,
) -> Result<Option<FilePart>, IngestError> {
    let mut reader = FileReader::open(
        path,
        options,
        KeyTable::new(options.fold_case),
        progress.bytes(),
    )?;
    let mut stats: Vec<ColumnStat> = vec![
        ColumnStat {
            seen: true,
            ..Default::default()
        };
        reader.header_len()
    ];
    let mut file = FileScan {
        path: path.to_path_buf(),
        format: reader.format(),
        records: 0,
        rejected: 0,
    };
    let mut rejects = Vec::new();
    let mut pending: Vec<(usize, Kinds)> = Vec::new();
    loop {
        if abort.load(Ordering::Relaxed) || crate::backend::cancel::requested() {
            return Ok(None);
        }
        pending.clear();
        match reader.next(&mut |id, _, leaf| pending.push((id, Kinds::of(&leaf))))? {
            Step::End => break,
            Step::Reject(r) => {
                file.rejected += 1;
                if rejects.len() < MAX_REJECTS_KEPT {
                    rejects.push(r);
                }
            }
            Step::Record { .. } => {
                file.records += 1;
                progress.add_row();
                for &(id, kinds) in &pending {
                    if id >= stats.len() {
                        stats.resize(id + 1, ColumnStat::default());
                    }
                    let s = &mut stats[id];
                    s.seen = true;
                    s.kinds.add(kinds);
                    s.non_null += u64::from(!kinds.is_null());
                }
            }
        }
    }
    let columns = reader
        .keys
        .into_spellings()
        .into_iter()
        .zip(stats)
        .filter(|(_, s)| s.seen)
        .map(|(spellings, s)| (spellings, s.kinds, s.non_null))
        .collect();
    Ok(Some(FilePart {
        file,
        columns,
        rejects,
    }))
}

impl Scan {
    /// Pass 2: reads the files again, yielding every accepted record as a [`Row`].
    /// Yields an error (and then stops) when a file cannot be read or no longer holds
    /// what pass 1 saw.
    pub fn rows(&self) -> Rows<'_> {
        self.rows_counted(Counter::default())
    }

    /// Pass 2, adding the bytes it reads to `progress` (rows are counted by the consumer).
    pub(crate) fn rows_counted(&self, progress: Counter) -> Rows<'_> {
        Rows {
            scan: self,
            progress,
            types: self.schema.columns.iter().map(|c| c.ty).collect(),
            file: 0,
            reader: None,
            records: 0,
            rejected: 0,
            width: 0,
            done: false,
        }
    }
}

/// The row stream of pass 2 (see [`Scan::rows`]).
pub struct Rows<'a> {
    scan: &'a Scan,
    progress: Counter,
    types: Vec<ColumnType>,
    file: usize,
    reader: Option<FileReader>,
    records: u64,
    rejected: u64,
    /// Fields in the last row, to size the next one.
    width: usize,
    done: bool,
}

impl Rows<'_> {
    fn fail(&mut self, e: IngestError) -> Option<Result<Row, IngestError>> {
        self.done = true;
        self.reader = None;
        Some(Err(e))
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<Row, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let Some(reader) = self.reader.as_mut() else {
                let Some(file) = self.scan.files.get(self.file) else {
                    self.done = true;
                    return None;
                };
                let names = self.scan.schema.columns.iter().map(|c| c.name.as_str());
                let keys = KeyTable::with_columns(self.scan.options.fold_case, names);
                let options = ReadOptions {
                    format: Some(file.format),
                    ..self.scan.options
                };
                match FileReader::open(&file.path, &options, keys, self.progress.bytes()) {
                    Ok(r) => self.reader = Some(r),
                    Err(e) => return self.fail(e),
                }
                self.records = 0;
                self.rejected = 0;
                continue;
            };
            let mut fields = Vec::with_capacity(self.width);
            let types = &self.types;
            let step = reader.next(&mut |id, _, leaf| fields.push((id, convert(leaf, types[id]))));
            match step {
                Err(e) => return self.fail(e),
                Ok(Step::Record { .. }) => {
                    self.records += 1;
                    self.width = fields.len();
                    // Collectors write keys in varying order; sorted, the 38,304 OTRF
                    // events have 198 column sets instead of 2,962 key orders.
                    fields.sort_unstable_by_key(|(id, _)| *id);
                    let (columns, values) = fields.into_iter().unzip();
                    return Some(Ok(Row { columns, values }));
                }
                Ok(Step::Reject(_)) => self.rejected += 1,
                Ok(Step::End) => {
                    let expected = &self.scan.files[self.file];
                    if (self.records, self.rejected) != (expected.records, expected.rejected) {
                        let what = format!(
                            "{} records and {} rejected lines now, {} and {} before",
                            self.records, self.rejected, expected.records, expected.rejected
                        );
                        let path = expected.path.clone();
                        return self.fail(IngestError::InputChanged { path, what });
                    }
                    self.reader = None;
                    self.file += 1;
                }
            }
        }
    }
}

/// A value converted to the type its column was given. Every pairing pass 1 can produce
/// is listed; anything else (only if a file changed between passes, which is caught at
/// its end) is stored as read.
fn convert(leaf: Leaf<'_>, ty: ColumnType) -> Value {
    match (ty, leaf) {
        (_, Leaf::Null) => Value::Null,
        (ColumnType::Text, Leaf::Str(s) | Leaf::Json(s)) => Value::Text(s.to_owned()),
        (ColumnType::Text, Leaf::Int(i)) => Value::Text(i.to_string()),
        (ColumnType::Text, Leaf::BigInt(u)) => Value::Text(u.to_string()),
        (ColumnType::Text, Leaf::Float(x)) => Value::Text(float_text(x)),
        (ColumnType::Text, Leaf::Bool(b)) => Value::Text(b.to_string()),
        (ColumnType::Integer, Leaf::Int(i)) => Value::Int(i),
        (ColumnType::Integer, Leaf::Bool(b)) => Value::Int(i64::from(b)),
        (ColumnType::Real, Leaf::Float(x)) => Value::Float(x),
        (ColumnType::Real, Leaf::Int(i)) => Value::Float(i as f64),
        (ColumnType::Real, Leaf::Bool(b)) => Value::Float(f64::from(u8::from(b))),
        (ColumnType::Boolean, Leaf::Bool(b)) => Value::Bool(b),
        (_, other) => natural(other),
    }
}

/// A value as read, with no column type to follow.
fn natural(leaf: Leaf<'_>) -> Value {
    match leaf {
        Leaf::Null => Value::Null,
        Leaf::Bool(b) => Value::Bool(b),
        Leaf::Int(i) => Value::Int(i),
        Leaf::BigInt(u) => Value::Text(u.to_string()),
        Leaf::Float(x) => Value::Float(x),
        Leaf::Str(s) | Leaf::Json(s) => Value::Text(s.to_owned()),
    }
}

/// One record of [`read_records`]: its flattened fields in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub line: u64,
    pub fields: Vec<(String, Value)>,
}

/// What [`read_records`] yields for each non-blank line (or CSV record).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Record(Record),
    Reject(Reject),
}

/// Reads one file as flattened records with their natural types (JSON numbers stay
/// numbers, strings stay strings; CSV values that print back exactly as numbers become
/// numbers). No schema, one pass.
pub fn read_records(path: &Path, options: &ReadOptions) -> Result<Records, IngestError> {
    let reader = FileReader::open(
        path,
        options,
        KeyTable::new(options.fold_case),
        Arc::default(),
    )?;
    Ok(Records {
        reader,
        done: false,
    })
}

/// The record stream of [`read_records`].
pub struct Records {
    reader: FileReader,
    done: bool,
}

impl Iterator for Records {
    type Item = Result<Item, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut fields = Vec::new();
        let step = self
            .reader
            .next(&mut |_, key, leaf| fields.push((key.to_string(), natural(leaf))));
        match step {
            Ok(Step::End) => {
                self.done = true;
                None
            }
            Ok(Step::Reject(r)) => Some(Ok(Item::Reject(r))),
            Ok(Step::Record { line }) => Some(Ok(Item::Record(Record { line, fields }))),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// What one call to [`FileReader::next`] found.
pub(crate) enum Step {
    /// An accepted record (its fields went to the callback).
    Record {
        line: u64,
    },
    /// A rejected line; fields the callback saw for it must be discarded.
    Reject(Reject),
    End,
}

/// One open input file of either format, naming columns through a [`KeyTable`].
pub(crate) struct FileReader {
    path: PathBuf,
    source: Source,
    keys: KeyTable,
    fold_case: bool,
}

enum Source {
    Jsonl {
        input: Box<dyn std::io::BufRead + Send>,
        buf: Vec<u8>,
        line: u64,
        key_buf: String,
    },
    Csv {
        csv: CsvReader<Box<dyn std::io::BufRead + Send>>,
        header: Vec<(usize, String)>,
    },
}

impl FileReader {
    fn open(
        path: &Path,
        options: &ReadOptions,
        mut keys: KeyTable,
        bytes: Arc<AtomicU64>,
    ) -> Result<FileReader, IngestError> {
        let format = options
            .format
            .or_else(|| InputFormat::from_path(path))
            .ok_or_else(|| IngestError::UnknownFormat {
                path: path.to_path_buf(),
            })?;
        let input = super::input::open(path, bytes)?;
        let source = match format {
            InputFormat::Jsonl => Source::Jsonl {
                input,
                buf: Vec::new(),
                line: 0,
                key_buf: String::new(),
            },
            InputFormat::Csv => {
                let mut csv = CsvReader::new(input);
                let header = read_header(&mut csv, &mut keys, path, options.fold_case)?;
                Source::Csv { csv, header }
            }
        };
        Ok(FileReader {
            path: path.to_path_buf(),
            source,
            keys,
            fold_case: options.fold_case,
        })
    }

    fn format(&self) -> InputFormat {
        match self.source {
            Source::Jsonl { .. } => InputFormat::Jsonl,
            Source::Csv { .. } => InputFormat::Csv,
        }
    }

    /// Columns a CSV header names (ids 0..n); none for JSON.
    fn header_len(&self) -> usize {
        match &self.source {
            Source::Jsonl { .. } => 0,
            Source::Csv { header, .. } => header.len(),
        }
    }

    /// Reads the next record, handing each field to `field` as (column id, the key as this
    /// record spells it, value).
    fn next(&mut self, field: &mut dyn FnMut(usize, &str, Leaf<'_>)) -> Result<Step, IngestError> {
        let FileReader {
            path,
            source,
            keys,
            fold_case,
        } = self;
        let reject = |line: u64, reason: String| {
            Step::Reject(Reject {
                file: path.clone(),
                line,
                reason,
            })
        };
        match source {
            Source::Jsonl {
                input,
                buf,
                line,
                key_buf,
            } => loop {
                buf.clear();
                if input
                    .read_until(b'\n', buf)
                    .map_err(|e| IngestError::io(path, e))?
                    == 0
                {
                    return Ok(Step::End);
                }
                *line += 1;
                let mut text: &[u8] = buf;
                if *line == 1 {
                    text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
                }
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                keys.next_record();
                // A key pass 1 never made a column can only be in a line it rejected; the
                // line is still parsed to the end so it is rejected here for the same reason.
                let mut new_key: Option<String> = None;
                let result = json::flatten_line(text, key_buf, &mut |key: &str, leaf: Leaf<'_>| {
                    let id = keys.id(key).map_err(|e| e.reason(*fold_case))?;
                    if keys.is_known(id) {
                        field(id, key, leaf);
                    } else if new_key.is_none() {
                        new_key = Some(key.to_string());
                    }
                    Ok(())
                });
                return match (result, new_key) {
                    (Ok(()), None) => Ok(Step::Record { line: *line }),
                    (Ok(()), Some(k)) => Err(IngestError::InputChanged {
                        path: path.clone(),
                        what: format!("line {line} has column `{k}`, not there before"),
                    }),
                    (Err(reason), _) => Ok(reject(*line, reason)),
                };
            },
            Source::Csv { csv, header } => {
                let line = match csv.next().map_err(|e| IngestError::io(path, e))? {
                    CsvRecord::End => return Ok(Step::End),
                    CsvRecord::Unterminated { line } => {
                        return Ok(reject(
                            line,
                            "quoted field not closed before the end of the file".into(),
                        ))
                    }
                    CsvRecord::Fields { line } => line,
                };
                let record = csv.record();
                if record.len() != header.len() {
                    let reason = format!(
                        "{} fields, but the header has {}",
                        record.len(),
                        header.len()
                    );
                    return Ok(reject(line, reason));
                }
                let mut texts = Vec::with_capacity(record.len());
                for (f, (_, name)) in record.iter().zip(header.iter()) {
                    match std::str::from_utf8(&f.text) {
                        Ok(t) => texts.push((t, f.quoted)),
                        Err(_) => {
                            return Ok(reject(line, format!("column `{name}` is not valid UTF-8")))
                        }
                    }
                }
                for ((text, quoted), (id, name)) in texts.into_iter().zip(header.iter()) {
                    field(*id, name, csv_leaf(text, quoted));
                }
                Ok(Step::Record { line })
            }
        }
    }
}

/// Reads a CSV header and names its columns; a file with no header has no columns.
fn read_header<R: std::io::BufRead>(
    csv: &mut CsvReader<R>,
    keys: &mut KeyTable,
    path: &Path,
    fold_case: bool,
) -> Result<Vec<(usize, String)>, IngestError> {
    let bad = |reason: String| IngestError::BadHeader {
        path: path.to_path_buf(),
        reason,
    };
    match csv.next().map_err(|e| IngestError::io(path, e))? {
        CsvRecord::End => Ok(Vec::new()),
        CsvRecord::Unterminated { .. } => Err(bad("quoted name not closed".into())),
        CsvRecord::Fields { .. } => {
            keys.next_record();
            let mut header = Vec::new();
            for f in csv.record() {
                let name = std::str::from_utf8(&f.text)
                    .map_err(|_| bad("a name is not valid UTF-8".into()))?;
                let id = keys.id(name).map_err(|e| bad(e.reason(fold_case)))?;
                if !keys.is_known(id) {
                    return Err(IngestError::InputChanged {
                        path: path.to_path_buf(),
                        what: format!("the header has column `{name}`, not there before"),
                    });
                }
                header.push((id, name.to_string()));
            }
            Ok(header)
        }
    }
}

/// A CSV field as a value: empty and unquoted is NULL; text that a number prints back
/// as exactly (`42`, `-7`, `1.5`, not `007`, `+1`, `1.50`, `1e3`) is that number;
/// anything else is text, so nothing the file says is rewritten.
fn csv_leaf(text: &str, quoted: bool) -> Leaf<'_> {
    if text.is_empty() {
        return if quoted { Leaf::Str(text) } else { Leaf::Null };
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-') {
        return Leaf::Str(text);
    }
    if let Ok(i) = text.parse::<i64>() {
        if i.to_string() == text {
            return Leaf::Int(i);
        }
        return Leaf::Str(text);
    }
    if let Ok(x) = text.parse::<f64>() {
        if x.is_finite() && float_text(x) == text {
            return Leaf::Float(x);
        }
    }
    Leaf::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_numbers_only_when_they_print_back_exactly() {
        assert_eq!(csv_leaf("42", false), Leaf::Int(42));
        assert_eq!(csv_leaf("-7", true), Leaf::Int(-7));
        assert_eq!(csv_leaf("1.5", false), Leaf::Float(1.5));
        for text in [
            "007", "+1", "1.50", "-0", "0x1a2c", "1e3", "NaN", "inf", "3108 ",
        ] {
            assert_eq!(csv_leaf(text, false), Leaf::Str(text), "{text}");
        }
        assert_eq!(csv_leaf("", false), Leaf::Null);
        assert_eq!(csv_leaf("", true), Leaf::Str(""));
    }

    #[test]
    fn convert_follows_the_column_type() {
        assert_eq!(
            convert(Leaf::Int(5), ColumnType::Text),
            Value::Text("5".into())
        );
        assert_eq!(
            convert(Leaf::Float(2.5), ColumnType::Text),
            Value::Text("2.5".into())
        );
        assert_eq!(convert(Leaf::Int(5), ColumnType::Real), Value::Float(5.0));
        assert_eq!(
            convert(Leaf::Bool(true), ColumnType::Integer),
            Value::Int(1)
        );
        assert_eq!(
            convert(Leaf::Bool(false), ColumnType::Boolean),
            Value::Bool(false)
        );
        assert_eq!(convert(Leaf::Null, ColumnType::Integer), Value::Null);
        assert_eq!(
            convert(Leaf::BigInt(u64::MAX), ColumnType::Text),
            Value::Text(u64::MAX.to_string())
        );
    }
}
