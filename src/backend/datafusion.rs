//! Apache DataFusion, embedded (`datafusion:///abs/dir`; the `datafusion` cargo feature):
//! a multi-threaded query engine over files, no server.
//!
//! In: the URL's directory, and each data source's `table:` as the configuration writes
//! it, read as a path relative to that directory (or absolute): a Parquet, CSV or
//! JSON-lines file, a directory of them, or a glob (`lake/*.parquet`). The first time a
//! table is asked for ([`Backend::column_kinds`], which lowering calls before any SQL
//! is built) it is registered as a listing table under the name the SQL will use (its
//! parts, as [`crate::sql::table_name`] reads them), with hive-style partition
//! directories (`eventDay=20240708/`) as text columns. Out: rows, batch by batch.
//!
//! Read-only (DDL, DML and `SET` are refused). LIKE and `integer(x)` are functions
//! registered here with the language's meaning (`kestrel_like`, `kestrel_int`); MATCHES
//! is DataFusion's `regexp_like` (Rust's regex crate, as on SQLite). A statement runs on
//! the backend's own tokio runtime; Ctrl-C and the connection's `statement_timeout` drop
//! it, which stops its tasks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, TableProvider,
};
use datafusion::common::{ParamValues, ScalarValue, TableReference};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use futures_util::StreamExt;

use super::{Backend, BackendError, RowSink};
use crate::ir::{ColumnKind, Literal};
use crate::sql::SqlStatement;
use crate::value::Value;

pub struct DataFusionBackend {
    runtime: tokio::runtime::Runtime,
    ctx: SessionContext,
    /// The URL's directory: where relative `table:` paths start.
    dir: PathBuf,
    timeout: Option<Duration>,
    /// Tables registered so far, by the configuration's text.
    tables: HashMap<String, Vec<(String, Option<ColumnKind>)>>,
}

fn query_error(e: impl std::fmt::Display) -> BackendError {
    BackendError::Query(e.to_string())
}

impl DataFusionBackend {
    /// `datafusion:///abs/dir`: the directory the tables are read from.
    pub fn open_url(url: &str) -> Result<DataFusionBackend, BackendError> {
        let bad = |message: String| BackendError::Open {
            url: url.to_string(),
            message,
        };
        let dir = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .filter(|rest| rest.starts_with('/'))
            .ok_or_else(|| bad("expected datafusion:///absolute/directory".into()))?;
        if dir.contains('?') {
            return Err(bad("URL parameters (?…) are not supported".into()));
        }
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            return Err(bad(format!("no directory at {}", dir.display())));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("kestrel-datafusion")
            .enable_time()
            .build()
            .map_err(|e| bad(format!("cannot start the query runtime: {e}")))?;
        Ok(DataFusionBackend {
            runtime,
            ctx: session_context(),
            dir,
            timeout: None,
            tables: HashMap::new(),
        })
    }

    /// Registers `table` (the configuration's text) under the name the SQL uses for it,
    /// and answers its columns.
    fn register(&mut self, table: &str) -> Result<Vec<(String, Option<ColumnKind>)>, BackendError> {
        let parts = crate::sql::table_name::parts(table);
        let path = self.dir.join(parts.join("."));
        let reference = match parts.as_slice() {
            [t] => TableReference::bare(t.as_str()),
            [s, t] => {
                self.schema(None, s);
                TableReference::partial(s.as_str(), t.as_str())
            }
            [c, s, t] => {
                self.schema(Some(c), s);
                TableReference::full(c.as_str(), s.as_str(), t.as_str())
            }
            _ => return Err(BackendError::Query(format!("bad table name `{table}`"))),
        };
        let ctx = self.ctx.clone();
        let provider = self.runtime.block_on(listing_table(&ctx, &path))?;
        let Some(provider) = provider else {
            return Ok(vec![]);
        };
        let kinds = provider
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), kind(f.data_type())))
            .collect();
        ctx.register_table(reference, provider)
            .map_err(query_error)?;
        Ok(kinds)
    }

    /// Makes sure schema `s` (of catalog `c`, or the default one) exists.
    fn schema(&self, c: Option<&String>, s: &str) {
        let default_catalog = self
            .ctx
            .state()
            .config_options()
            .catalog
            .default_catalog
            .clone();
        let name = c.cloned().unwrap_or(default_catalog);
        let catalog = match self.ctx.catalog(&name) {
            Some(c) => c,
            None => {
                let c: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
                self.ctx.register_catalog(name, Arc::clone(&c));
                c
            }
        };
        if catalog.schema(s).is_none() {
            let _ = catalog.register_schema(s, Arc::new(MemorySchemaProvider::new()));
        }
    }
}

/// A session with kestrel's functions, strings read as plain UTF-8 arrays (so every
/// function sees one string type), and the default on all cores.
fn session_context() -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(false);
    let options = config.options_mut();
    options.execution.parquet.schema_force_view_types = false;
    options.sql_parser.map_string_types_to_utf8view = false;
    let ctx = SessionContext::new_with_config(config);
    ctx.register_udf(ScalarUDF::new_from_impl(KestrelLike::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(KestrelInt::new()));
    ctx
}

/// What a column of this type holds, for lowering.
fn kind(t: &DataType) -> Option<ColumnKind> {
    use DataType::*;
    match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => {
            Some(ColumnKind::Integer)
        }
        Float16 | Float32 | Float64 => Some(ColumnKind::Float),
        Utf8 | LargeUtf8 | Utf8View => Some(ColumnKind::Text),
        Boolean => Some(ColumnKind::Boolean),
        Timestamp(_, _) | Date32 | Date64 => Some(ColumnKind::Timestamp),
        Dictionary(_, v) => kind(v),
        _ => None,
    }
}

/// The file format of `path` by its name (`x.parquet`, `x.csv`, `x.jsonl`/`x.json`/
/// `x.ndjson`), and the file-name ending the listing keeps.
fn format_of(name: &str) -> Option<(Arc<dyn FileFormat>, &'static str)> {
    let lower = name.to_ascii_lowercase();
    let ends = |e: &str| lower.ends_with(e);
    if ends(".parquet") {
        Some((Arc::new(ParquetFormat::default()), ".parquet"))
    } else if ends(".csv") {
        Some((Arc::new(CsvFormat::default().with_has_header(true)), ".csv"))
    } else if ends(".jsonl") {
        Some((Arc::new(JsonFormat::default()), ".jsonl"))
    } else if ends(".ndjson") {
        Some((Arc::new(JsonFormat::default()), ".ndjson"))
    } else if ends(".json") {
        Some((Arc::new(JsonFormat::default()), ".json"))
    } else {
        None
    }
}

/// The first data file under `dir` (depth first, names sorted), for its format.
fn first_file(dir: &Path) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in &entries {
        if e.is_file() && format_of(&e.to_string_lossy()).is_some() {
            return Some(e.clone());
        }
    }
    entries
        .iter()
        .filter(|e| e.is_dir())
        .find_map(|d| first_file(d))
}

/// A listing table over `path` (a file, a directory, or a glob), None when nothing is
/// there.
async fn listing_table(
    ctx: &SessionContext,
    path: &Path,
) -> Result<Option<Arc<ListingTable>>, BackendError> {
    let text = path.to_string_lossy().into_owned();
    let is_glob = text.contains(['*', '?', '[']);
    let (format_from, url_text) = if is_glob {
        (PathBuf::from(&text), text.clone())
    } else if path.is_dir() {
        let Some(file) = first_file(path) else {
            return Ok(None);
        };
        // A trailing slash: the listing reads the directory, not a file of that name.
        (file, format!("{}/", text.trim_end_matches('/')))
    } else if path.is_file() {
        (path.to_path_buf(), text.clone())
    } else {
        return Ok(None);
    };
    let Some((format, extension)) = format_of(&format_from.to_string_lossy()) else {
        return Err(BackendError::Query(format!(
            "{}: not a Parquet (.parquet), CSV (.csv) or JSON-lines (.jsonl, .json, .ndjson) file",
            format_from.display()
        )));
    };
    let url = ListingTableUrl::parse(&url_text).map_err(query_error)?;
    let state = ctx.state();
    let mut options = ListingOptions::new(format).with_file_extension(extension);
    let partitions = options
        .infer_partitions(&state, &url)
        .await
        .map_err(query_error)?;
    options = options.with_table_partition_cols(
        partitions
            .into_iter()
            .map(|p| (p, DataType::Utf8))
            .collect(),
    );
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .infer_schema(&state)
        .await
        .map_err(query_error)?;
    Ok(Some(Arc::new(
        ListingTable::try_new(config).map_err(query_error)?,
    )))
}

fn scalar(l: &Literal) -> ScalarValue {
    match l {
        Literal::Null => ScalarValue::Null,
        Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Literal::Int(i) => ScalarValue::Int64(Some(*i)),
        Literal::Float(f) => ScalarValue::Float64(Some(*f)),
        Literal::Str(s) => ScalarValue::Utf8(Some(s.clone())),
        Literal::Timestamp(t) => ScalarValue::Utf8(Some(crate::ir::timestamp_text(*t))),
    }
}

/// What stops a running statement: Ctrl-C, or the deadline.
async fn stopped(deadline: Option<Instant>, timeout: Option<Duration>) -> BackendError {
    loop {
        if super::cancel::requested() {
            return BackendError::Cancelled;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return BackendError::Timeout(timeout.map_or(0, |t| t.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Backend for DataFusionBackend {
    fn dialect(&self) -> &'static str {
        "datafusion"
    }

    fn column_kinds(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, Option<ColumnKind>)>, BackendError> {
        if let Some(k) = self.tables.get(table) {
            return Ok(k.clone());
        }
        let kinds = self.register(table)?;
        if !kinds.is_empty() {
            self.tables.insert(table.to_string(), kinds.clone());
        }
        Ok(kinds)
    }

    fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let timeout = self.timeout;
        let ctx = self.ctx.clone();
        let params: Vec<ScalarValue> = stmt.params.iter().map(scalar).collect();
        let run = async move {
            let read_only = SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            let mut df = ctx
                .sql_with_options(&stmt.sql, read_only)
                .await
                .map_err(query_error)?;
            if !params.is_empty() {
                df = df
                    .with_param_values(ParamValues::from(params))
                    .map_err(query_error)?;
            }
            let names: Vec<String> = df
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            sink.columns(&names)?;
            let mut stream = df.execute_stream().await.map_err(query_error)?;
            let mut row: Vec<Value> = Vec::with_capacity(names.len());
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(query_error)?;
                for i in 0..batch.num_rows() {
                    row.clear();
                    row.extend(
                        batch
                            .columns()
                            .iter()
                            .map(|c| crate::io::parquet::cell(c.as_ref(), i)),
                    );
                    sink.row(&row)?;
                }
            }
            Ok::<(), BackendError>(())
        };
        self.runtime.block_on(async move {
            let run = std::pin::pin!(run);
            let stop = std::pin::pin!(stopped(deadline, timeout));
            // Whichever ends first; dropping the statement's stream stops its tasks.
            match futures_util::future::select(run, stop).await {
                futures_util::future::Either::Left((result, _)) => result,
                futures_util::future::Either::Right((e, _)) => Err(e),
            }
        })
    }
}

/// `kestrel_like(text, pattern [, escape])`: the language's LIKE ([`super::like`]); a
/// number is matched as its text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct KestrelLike {
    signature: Signature,
}

impl KestrelLike {
    fn new() -> KestrelLike {
        KestrelLike {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

/// The arguments as text arrays of `rows` rows.
fn text_args(args: &[ColumnarValue], rows: usize) -> datafusion::common::Result<Vec<ArrayRef>> {
    args.iter()
        .map(|a| {
            let a = a.clone().into_array(rows)?;
            Ok(cast(&a, &DataType::Utf8)?)
        })
        .collect()
}

impl ScalarUDFImpl for KestrelLike {
    fn name(&self) -> &str {
        "kestrel_like"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        if !(2..=3).contains(&args.args.len()) {
            return datafusion::common::plan_err!("kestrel_like takes 2 or 3 arguments");
        }
        let arrays = text_args(&args.args, args.number_rows)?;
        let text = arrays[0].as_any().downcast_ref::<StringArray>();
        let pattern = arrays[1].as_any().downcast_ref::<StringArray>();
        let escape = arrays
            .get(2)
            .and_then(|a| a.as_any().downcast_ref::<StringArray>());
        let (Some(text), Some(pattern)) = (text, pattern) else {
            return datafusion::common::internal_err!("kestrel_like: arguments are not text");
        };
        let out: BooleanArray = (0..args.number_rows)
            .map(|i| {
                if text.is_null(i) || pattern.is_null(i) {
                    return None;
                }
                let (t, p) = (text.value(i).as_bytes(), pattern.value(i).as_bytes());
                match escape {
                    None => Some(super::like::like(t, p)),
                    Some(e) if e.is_null(i) => None,
                    Some(e) => Some(super::like::like_escaped(t, p, e.value(i).as_bytes())),
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `kestrel_int(x)`: decimal or `0x` hexadecimal text as an integer (process ids), as
/// on SQLite; integers stay, whole floats become integers, anything else is NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct KestrelInt {
    signature: Signature,
}

impl KestrelInt {
    fn new() -> KestrelInt {
        KestrelInt {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for KestrelInt {
    fn name(&self) -> &str {
        "kestrel_int"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let a = args.args[0].clone().into_array(args.number_rows)?;
        let out: Int64Array = match a.data_type() {
            t if t.is_integer() => {
                let a = cast(&a, &DataType::Int64)?;
                return Ok(ColumnarValue::Array(a));
            }
            t if t.is_floating() => {
                let a = cast(&a, &DataType::Float64)?;
                let f = a
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::Float64Array>()
                    .ok_or_else(|| {
                        datafusion::common::DataFusionError::Internal("kestrel_int".into())
                    })?;
                f.iter()
                    .map(|v| {
                        v.filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                            .map(|f| f as i64)
                    })
                    .collect()
            }
            _ => {
                let s = cast(&a, &DataType::Utf8)?;
                let s = s.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                    datafusion::common::DataFusionError::Internal("kestrel_int".into())
                })?;
                s.iter()
                    .map(|v| v.and_then(crate::value::parse_integer))
                    .collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
