//! Apache DataFusion, embedded (`datafusion:///abs/dir`, `datafusion+s3://bucket/prefix`;
//! the `datafusion` cargo feature): a multi-threaded query engine over files, no server.
//! The same code plans statements for a Ballista cluster ([`super::ballista`]).
//!
//! In: the URL's directory or S3 prefix (S3 settings from its parameters, else the AWS
//! environment), and each data source's `table:` as the configuration writes it, read as
//! a path relative to that root (or absolute, `/…` or `s3://bucket/…`): a Parquet, CSV or
//! JSON-lines file, a directory (prefix) of them, or a glob (`lake/*.parquet`). The first
//! time a table is asked for ([`Backend::column_kinds`], which lowering calls before any
//! SQL is built) it is registered as a listing table under the name the SQL will use
//! (its parts, as [`crate::sql::table_name`] reads them), with hive-style partition
//! directories (`eventDay=20240708/`) as text columns. Out: rows, batch by batch.
//!
//! Read-only (DDL, DML and `SET` are refused). LIKE and `integer(x)` are functions
//! registered here with the language's meaning (`kestrel_like`, `kestrel_int`); MATCHES
//! is DataFusion's `regexp_like` (Rust's regex crate, as on SQLite). A statement runs on
//! the backend's own tokio runtime; Ctrl-C and the connection's `statement_timeout` drop
//! it, which stops its tasks (on a cluster, its job is cancelled).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
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
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::ident;
use datafusion::prelude::ParquetReadOptions;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};

use super::tally::{hash128, Tallies, Tally};
use super::url::ServerUrl;
use super::{Backend, BackendError, RowSink};
use crate::ir::{ColumnKind, Literal};
use crate::sql::SqlStatement;
use crate::value::Value;

pub struct DataFusionBackend {
    runtime: tokio::runtime::Runtime,
    ctx: SessionContext,
    /// A Ballista scheduler's gRPC address when the context runs its queries there
    /// (`ballista://`): where a stopped statement's job is cancelled.
    cluster: Option<String>,
    /// Where relative `table:` paths start, and how S3 is reached.
    lake: Lake,
    /// S3 buckets whose store is registered in the context.
    buckets: HashSet<String>,
    timeout: Option<Duration>,
    /// Tables registered so far, by the configuration's text.
    tables: HashMap<String, Vec<(String, Option<ColumnKind>)>>,
    /// The directory kept variables' rows are written to ([`Backend::store`]), named
    /// when first needed and removed with the connection.
    scratch: Option<String>,
    /// What `kestrel_tally` counted (embedded only: a cluster's executors are other
    /// processes, so a cluster has no tally).
    tallies: Option<Tallies>,
}

impl Drop for DataFusionBackend {
    fn drop(&mut self) {
        let Some(dir) = self.scratch.take() else {
            return;
        };
        if bucket_of(&dir).is_none() {
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        // An object store has no directories: delete what is under the prefix.
        let Ok(url) = ListingTableUrl::parse(format!("{dir}/")) else {
            return;
        };
        let Ok(store) = self.ctx.runtime_env().object_store(url.object_store()) else {
            return;
        };
        self.runtime.block_on(async {
            let mut objects = store.list(Some(url.prefix()));
            while let Some(Ok(meta)) = objects.next().await {
                let _ = store.delete(&meta.location).await;
            }
        });
    }
}

fn query_error(e: impl std::fmt::Display) -> BackendError {
    BackendError::Query(e.to_string())
}

impl DataFusionBackend {
    /// `datafusion:///abs/dir` (tables read from that directory) or
    /// `datafusion+s3://bucket/prefix` (from that S3 prefix); S3 settings as parameters.
    pub fn open_url(url: &str) -> Result<DataFusionBackend, BackendError> {
        let u = ServerUrl::parse(url).map_err(|e| open_error(url, e))?;
        let expected = "expected datafusion:///absolute/directory or datafusion+s3://bucket/prefix";
        let path = u.database.clone().unwrap_or_default();
        let root = if scheme_suffix(url) == Some("s3") {
            format!("s3://{}/{}", u.host, path)
        } else if url.contains(":///") {
            format!("/{path}")
        } else {
            return Err(open_error(url, expected));
        };
        let lake = Lake::new(url, &u, root)?;
        let runtime = query_runtime(url)?;
        let ctx = session_context();
        let tallies = Tallies::default();
        ctx.register_udf(ScalarUDF::new_from_impl(KestrelTally {
            signature: Signature::variadic_any(Volatility::Volatile),
            board: tallies.clone(),
        }));
        let mut backend = DataFusionBackend::with_context(runtime, ctx, None, lake);
        backend.tallies = Some(tallies);
        Ok(backend)
    }

    /// A backend over `lake` whose context `ctx` runs its queries on `runtime`, or on a
    /// Ballista cluster (`cluster`: the scheduler, `http://host:port`).
    pub(super) fn with_context(
        runtime: tokio::runtime::Runtime,
        ctx: SessionContext,
        cluster: Option<String>,
        lake: Lake,
    ) -> DataFusionBackend {
        DataFusionBackend {
            runtime,
            ctx,
            cluster,
            lake,
            buckets: HashSet::new(),
            timeout: None,
            tables: HashMap::new(),
            scratch: None,
            tallies: None,
        }
    }

    /// Where kept table `name` is written: `name.parquet` in the connection's own scratch
    /// directory, named when first needed. The directory is the URL's `scratch=` (a path
    /// or `s3://bucket/prefix`), else the system's temporary directory when embedded, and
    /// `.kestrel-scratch/` under the lake's root on a cluster, whose executors read the
    /// lake and so that directory too.
    fn scratch_file(&mut self, name: &str) -> String {
        let dir = self.scratch.get_or_insert_with(|| {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let own = format!("kestrel-{}-{n}-{nanos:08x}", std::process::id());
            let base = match (&self.lake.scratch, &self.cluster) {
                (Some(dir), _) => self.lake.location(dir),
                (None, None) => std::env::temp_dir().display().to_string(),
                (None, Some(_)) => self.lake.location(".kestrel-scratch"),
            };
            format!("{}/{own}", base.trim_end_matches('/'))
        });
        format!("{dir}/{name}.parquet")
    }

    /// Registers the S3 store of `location`'s bucket in the context, once.
    fn ensure_bucket(&mut self, location: &str) -> Result<(), BackendError> {
        if let Some(bucket) = bucket_of(location) {
            if !self.buckets.contains(bucket) {
                let store = self.lake.s3.store(bucket)?;
                let at = ObjectStoreUrl::parse(format!("s3://{bucket}")).map_err(query_error)?;
                self.ctx.register_object_store(at.as_ref(), store);
                self.buckets.insert(bucket.to_string());
            }
        }
        Ok(())
    }

    /// Plans `stmt` read-only with its bound parameters and hands its record batches to
    /// `consume`, unless Ctrl-C or the time limit comes first: then the stream is
    /// dropped (which stops its tasks) and, on a cluster, its job is cancelled at the
    /// scheduler.
    fn execute<T, F, Fut>(&mut self, stmt: &SqlStatement, consume: F) -> Result<T, BackendError>
    where
        F: FnOnce(SendableRecordBatchStream) -> Fut,
        Fut: std::future::Future<Output = Result<T, BackendError>>,
    {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let timeout = self.timeout;
        let ctx = self.ctx.clone();
        let params: Vec<ScalarValue> = stmt.params.iter().map(scalar).collect();
        // The statement's plan once made: a Ballista job to cancel when it is stopped.
        let plan_slot: Arc<std::sync::Mutex<Option<Arc<dyn ExecutionPlan>>>> = Arc::default();
        let running = Arc::clone(&plan_slot);
        let run = async move {
            let df = dataframe(&ctx, &stmt.sql, params).await?;
            let task = Arc::new(df.task_ctx());
            let plan = df.create_physical_plan().await.map_err(query_error)?;
            *running.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&plan));
            let stream =
                datafusion::physical_plan::execute_stream(plan, task).map_err(query_error)?;
            consume(stream).await
        };
        let cluster = self.cluster.clone();
        self.runtime.block_on(async move {
            let result = unless_stopped(run, deadline, timeout).await;
            if let Err(
                BackendError::Cancelled | BackendError::Timeout(_) | BackendError::TooManyToKeep(_),
            ) = &result
            {
                let plan = plan_slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let (Some(_scheduler), Some(_plan)) = (cluster, plan) {
                    #[cfg(feature = "ballista")]
                    super::ballista::cancel(&_scheduler, &_plan).await;
                }
            }
            result
        })
    }

    /// Writes the rows of `stmt` into a Parquet file in the connection's scratch
    /// directory ([`DataFusionBackend::scratch_file`]; gone with the connection), batch by
    /// batch as they come, and reads it as table `name`: later statements join it inside
    /// the engine, or on the cluster's executors, which read the file themselves. With
    /// `count` (identity and own-id columns), the rows and entities written, as the
    /// summary's count query would count them (None if a tally spill file failed).
    fn write_kept(
        &mut self,
        name: &str,
        stmt: &SqlStatement,
        count: Option<(&[String], &[String])>,
    ) -> Result<Option<(u64, u64)>, BackendError> {
        let location = self.scratch_file(name);
        self.ensure_bucket(&location)?;
        let url = ListingTableUrl::parse(&location).map_err(query_error)?;
        let store = self
            .ctx
            .runtime_env()
            .object_store(url.object_store())
            .map_err(query_error)?;
        let path = url.prefix().clone();
        let (ctx, table) = (self.ctx.clone(), name.to_string());
        let (to, at) = (Arc::clone(&store), path.clone());
        let result = self.execute(stmt, move |mut stream| async move {
            let file = object_store::buffered::BufWriter::new(to, at);
            let mut writer =
                AsyncArrowWriter::try_new(file, stream.schema(), Some(kept_file_properties()))
                    .map_err(query_error)?;
            let schema = stream.schema();
            // The identity's and own ids' positions; none counted if one is missing.
            let positions = |names: &[String]| -> Option<Vec<usize>> {
                names.iter().map(|n| schema.index_of(n).ok()).collect()
            };
            let mut tally = count
                .and_then(|(ids, own)| Some((positions(ids)?, positions(own)?, Tally::default())));
            let mut rows = 0;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(query_error)?;
                rows += batch.num_rows();
                if rows > KEEP_AT_MOST {
                    // What is written so far is removed below; the stream, dropped here,
                    // stops the statement.
                    writer.close().await.map_err(query_error)?;
                    return Err(BackendError::TooManyToKeep(KEEP_AT_MOST));
                }
                if let Some((ids, own, t)) = &mut tally {
                    let columns = |at: &[usize]| -> Vec<ArrayRef> {
                        at.iter().map(|&i| Arc::clone(batch.column(i))).collect()
                    };
                    for entity in entities(&columns(ids), &columns(own), batch.num_rows())
                        .map_err(query_error)?
                    {
                        t.add(entity);
                    }
                }
                writer.write(&batch).await.map_err(query_error)?;
            }
            writer.close().await.map_err(query_error)?;
            ctx.register_parquet(
                TableReference::bare(table),
                &location,
                ParquetReadOptions::default(),
            )
            .await
            .map_err(query_error)?;
            Ok(tally.and_then(|(_, _, t)| t.counts()))
        });
        if result.is_err() {
            let _ = self.runtime.block_on(store.delete(&path));
        }
        result
    }

    /// Registers `table` (the configuration's text) under the name the SQL uses for it,
    /// and answers its columns.
    fn register(&mut self, table: &str) -> Result<Vec<(String, Option<ColumnKind>)>, BackendError> {
        let parts = crate::sql::table_name::parts(table);
        let location = self.lake.location(&parts.join("."));
        self.ensure_bucket(&location)?;
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
        let provider = self.runtime.block_on(listing_table(&ctx, &location))?;
        let Some(provider) = provider else {
            return Ok(vec![]);
        };
        let provider = flattened(&ctx, provider)?;
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

pub(super) fn open_error(url: &str, message: impl Into<String>) -> BackendError {
    BackendError::Open {
        url: crate::config::redact_url(url),
        message: message.into(),
    }
}

/// `+s3` in `datafusion+s3://…`: what follows the `+` of the URL's scheme.
pub(super) fn scheme_suffix(url: &str) -> Option<&str> {
    let scheme = url.split_once("://")?.0;
    scheme.split_once('+').map(|(_, s)| s)
}

/// The bucket of an `s3://bucket/key` location.
fn bucket_of(location: &str) -> Option<&str> {
    let rest = location.strip_prefix("s3://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Where a lake's tables are: relative `table:` paths start at `root` (an absolute
/// directory, or `s3://bucket/prefix`), and how S3 is reached.
#[derive(Clone)]
pub(super) struct Lake {
    root: String,
    pub(super) s3: S3,
    /// The URL's `scratch=`: where kept variables are written, relative to the root or
    /// absolute ([`DataFusionBackend::scratch_file`]).
    scratch: Option<String>,
}

impl Lake {
    /// The lake at `root` with the URL's S3 parameters; a local root must be a directory.
    pub(super) fn new(url: &str, u: &ServerUrl, root: String) -> Result<Lake, BackendError> {
        let s3 = S3::from_url(url, u)?;
        if bucket_of(&root).is_none() && !Path::new(&root).is_dir() {
            return Err(open_error(url, format!("no directory at {root}")));
        }
        let scratch = u.param("scratch").map(str::to_string);
        Ok(Lake { root, s3, scratch })
    }

    /// A table's files: `table` itself when absolute (`/…`, `s3://…`), else under the root.
    fn location(&self, table: &str) -> String {
        if table.starts_with('/') || table.starts_with("s3://") {
            table.to_string()
        } else {
            format!("{}/{table}", self.root.trim_end_matches('/'))
        }
    }
}

/// How S3 (or an S3-compatible store) is reached: the URL's parameters, else the usual
/// AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`).
#[derive(Clone, Default)]
pub(super) struct S3 {
    pub(super) endpoint: Option<String>,
    pub(super) region: Option<String>,
    pub(super) allow_http: Option<bool>,
    pub(super) access_key_id: Option<String>,
    pub(super) secret_access_key: Option<String>,
    pub(super) session_token: Option<String>,
}

/// The URL parameters a DataFusion or Ballista connection honours.
const LAKE_PARAMS: &[&str] = &[
    "scratch",
    "endpoint",
    "region",
    "allow_http",
    "access_key_id",
    "secret_access_key",
    "session_token",
];

impl S3 {
    fn from_url(url: &str, u: &ServerUrl) -> Result<S3, BackendError> {
        super::url::warn_unknown(
            &crate::config::redact_url(url),
            &u.unknown_params(LAKE_PARAMS, &[]),
        );
        let text = |k: &str| u.param(k).map(str::to_string);
        Ok(S3 {
            endpoint: text("endpoint"),
            region: text("region"),
            allow_http: u.flag("allow_http").map_err(|e| open_error(url, e))?,
            access_key_id: text("access_key_id"),
            secret_access_key: text("secret_access_key"),
            session_token: text("session_token"),
        })
    }

    /// The settings given, by their parameter names (which are also Ballista's `s3.`
    /// option names).
    #[cfg_attr(not(feature = "ballista"), allow(dead_code))]
    pub(super) fn settings(&self) -> Vec<(&'static str, String)> {
        [
            ("endpoint", self.endpoint.clone()),
            ("region", self.region.clone()),
            ("allow_http", self.allow_http.map(|h| h.to_string())),
            ("access_key_id", self.access_key_id.clone()),
            ("secret_access_key", self.secret_access_key.clone()),
            ("session_token", self.session_token.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
    }

    /// The store for `bucket`.
    fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, BackendError> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &self.region {
            b = b.with_region(r);
        }
        if let Some(h) = self.allow_http {
            b = b.with_allow_http(h);
        }
        if let (Some(k), Some(s)) = (&self.access_key_id, &self.secret_access_key) {
            b = b.with_access_key_id(k).with_secret_access_key(s);
            if let Some(t) = &self.session_token {
                b = b.with_token(t);
            }
        }
        let store = b
            .build()
            .map_err(|e| BackendError::Query(format!("s3://{bucket}: {e}")))?;
        Ok(Arc::new(store))
    }
}

/// The tokio runtime statements run on (all cores).
pub(super) fn query_runtime(url: &str) -> Result<tokio::runtime::Runtime, BackendError> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("kestrel-datafusion")
        .enable_all()
        .build()
        .map_err(|e| open_error(url, format!("cannot start the query runtime: {e}")))
}

/// The SQL functions kestrel's DataFusion dialect calls beyond DataFusion's own
/// (`kestrel_like`, `kestrel_int`): registered in every context, and in the scheduler and
/// executors of a Ballista cluster (`kestrel-ballista`).
pub fn kestrel_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(KestrelLike::new())),
        Arc::new(ScalarUDF::new_from_impl(KestrelInt::new())),
    ]
}

/// How kestrel configures a session: strings read as plain UTF-8 arrays (so every
/// function sees one string type), and no information schema.
pub(super) fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(false);
    let options = config.options_mut();
    options.execution.parquet.schema_force_view_types = false;
    options.sql_parser.map_string_types_to_utf8view = false;
    config
}

/// A session with kestrel's functions and configuration, on all cores.
fn session_context() -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config());
    for f in kestrel_functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    ctx
}

/// `table` with the fields of its struct columns as columns of their own, named by their
/// dotted paths (`actor.process.name` of struct column `actor`), as OCSF lakes such as
/// Amazon Security Lake nest them: a view, so the mappings' dotted names read flat
/// columns and nested fields alike, and DataFusion still reads only the fields used.
/// A table without struct columns is itself.
fn flattened(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
) -> Result<Arc<dyn TableProvider>, BackendError> {
    let schema = table.schema();
    let is_struct = |t: &DataType| matches!(t, DataType::Struct(_));
    if !schema.fields().iter().any(|f| is_struct(f.data_type())) {
        return Ok(table);
    }
    // Flat columns keep their names; a leaf whose dotted path is also a flat column's
    // name yields to it.
    let mut names: HashSet<String> = schema
        .fields()
        .iter()
        .filter(|f| !is_struct(f.data_type()))
        .map(|f| f.name().clone())
        .collect();
    let mut columns = Vec::new();
    for f in schema.fields() {
        let column = ident(f.name());
        if is_struct(f.data_type()) {
            leaves(column, f.name(), f.data_type(), &mut names, &mut columns);
        } else {
            columns.push(column);
        }
    }
    let df = ctx
        .read_table(table)
        .and_then(|df| df.select(columns))
        .map_err(query_error)?;
    Ok(df.into_view())
}

/// The leaf fields of `expr` (of type `t`, named `name`) as columns named by their paths.
fn leaves(expr: Expr, name: &str, t: &DataType, names: &mut HashSet<String>, out: &mut Vec<Expr>) {
    match t {
        DataType::Struct(fields) => {
            for sub in fields {
                let path = format!("{name}.{}", sub.name());
                let field = get_field(expr.clone(), sub.name().as_str());
                leaves(field, &path, sub.data_type(), names, out);
            }
        }
        _ => {
            if names.insert(name.to_string()) {
                out.push(expr.alias(name));
            }
        }
    }
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
/// `x.ndjson`; CSV and JSON lines also compressed, `x.csv.gz`, `.bz2`, `.xz`, `.zst`), and
/// the file-name ending the listing keeps (the whole of it: `.jsonl.gz`).
fn format_of(name: &str) -> Option<(Arc<dyn FileFormat>, String)> {
    use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".parquet") {
        return Some((Arc::new(ParquetFormat::default()), ".parquet".into()));
    }
    let (stem, compression, suffix) = [
        (".gz", FileCompressionType::GZIP),
        (".bz2", FileCompressionType::BZIP2),
        (".xz", FileCompressionType::XZ),
        (".zst", FileCompressionType::ZSTD),
    ]
    .into_iter()
    .find_map(|(suffix, c)| lower.strip_suffix(suffix).map(|stem| (stem, c, suffix)))
    .unwrap_or((&lower, FileCompressionType::UNCOMPRESSED, ""));
    let (format, kind): (Arc<dyn FileFormat>, &str) = if stem.ends_with(".csv") {
        let csv = CsvFormat::default()
            .with_has_header(true)
            .with_file_compression_type(compression);
        (Arc::new(csv), ".csv")
    } else {
        let kind = [".jsonl", ".ndjson", ".json"]
            .into_iter()
            .find(|k| stem.ends_with(k))?;
        let json = JsonFormat::default().with_file_compression_type(compression);
        (Arc::new(json), kind)
    };
    Some((format, format!("{kind}{suffix}")))
}

/// The first data file under the listing `url` (a directory or prefix), by name, for
/// its format; None when nothing is there.
async fn first_file(
    store: &Arc<dyn ObjectStore>,
    url: &ListingTableUrl,
) -> Result<Option<String>, BackendError> {
    let mut files = store.list(Some(url.prefix()));
    let mut first: Option<String> = None;
    while let Some(meta) = files.next().await {
        let name = meta.map_err(query_error)?.location.to_string();
        if format_of(&name).is_some() && first.as_ref().is_none_or(|f| name < *f) {
            first = Some(name);
        }
    }
    Ok(first)
}

/// A listing table over `location` (a file, a directory or S3 prefix, or a glob), None
/// when nothing is there.
async fn listing_table(
    ctx: &SessionContext,
    location: &str,
) -> Result<Option<Arc<ListingTable>>, BackendError> {
    let store_of = |u: &ListingTableUrl| {
        ctx.runtime_env()
            .object_store(u.object_store())
            .map_err(query_error)
    };
    let (format_from, url) = if location.contains(['*', '?', '[']) {
        let url = ListingTableUrl::parse(location).map_err(query_error)?;
        (location.to_string(), url)
    } else {
        let file = ListingTableUrl::parse(location).map_err(query_error)?;
        let store = store_of(&file)?;
        if store.head(file.prefix()).await.is_ok() {
            (location.to_string(), file)
        } else {
            // A trailing slash: the listing reads the directory, not a file of that name.
            let dir = format!("{}/", location.trim_end_matches('/'));
            let url = ListingTableUrl::parse(&dir).map_err(query_error)?;
            match first_file(&store, &url).await? {
                Some(f) => (f, url),
                None => return Ok(None),
            }
        }
    };
    let Some((format, extension)) = format_of(&format_from) else {
        return Err(BackendError::Query(format!(
            "{format_from}: not a Parquet (.parquet), CSV (.csv) or JSON-lines (.jsonl, .json, .ndjson) file, \
             nor CSV or JSON lines compressed (.gz, .bz2, .xz, .zst)"
        )));
    };
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

/// How a kept variable's file is written: row groups of [`KEPT_ROW_GROUP`] rows, so the
/// writer holds one group at a time, not the whole variable (the default group is a
/// million rows), and Snappy, cheap to write and to read back.
fn kept_file_properties() -> datafusion::parquet::file::properties::WriterProperties {
    use datafusion::parquet::basic::Compression;
    datafusion::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(KEPT_ROW_GROUP))
        .set_compression(Compression::SNAPPY)
        .build()
}

/// Rows per row group of a kept variable's file.
const KEPT_ROW_GROUP: usize = 65_536;

/// The most rows a variable is kept with; one with more is computed in each query that
/// reads it. On this engine a scan is cheap and writing a file is not: at 1,000,000
/// events, keeping a variable of a million rows took 0.56 s where a query of the lake
/// reading it again took 0.2 s, and a GROUP over it 0.06 s. The store stops when the
/// budget is passed, so what it wrote until then is lost work: with 100,000 a FIND from
/// a variable of 128,000 rows paid nearly the whole store and then the scans (1.9x →
/// 2.8x the expert's time), with 250,000 it is kept as before, and the million-row GROUP
/// went from 15x to 8.8x. Small variables, the ones a chain of FINDs narrows down to,
/// are kept, so a later query reads them rather than their chain.
pub const KEEP_AT_MOST: usize = 250_000;

/// What stops a running statement: Ctrl-C, or the deadline.
/// Statements only: no DDL, DML or `SET` from a hunt's SQL.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// The DataFrame of `sql` with its bound parameters, planned read-only.
async fn dataframe(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<ScalarValue>,
) -> Result<datafusion::dataframe::DataFrame, BackendError> {
    let df = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(query_error)?;
    if params.is_empty() {
        return Ok(df);
    }
    df.with_param_values(ParamValues::from(params))
        .map_err(query_error)
}

/// Runs `run` to its end, unless Ctrl-C or the time limit comes first: then `run` is
/// dropped (which stops its tasks) and the stop is the error.
async fn unless_stopped<T>(
    run: impl std::future::Future<Output = Result<T, BackendError>>,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
) -> Result<T, BackendError> {
    let run = std::pin::pin!(run);
    let stop = std::pin::pin!(stopped(deadline, timeout));
    match futures_util::future::select(run, stop).await {
        futures_util::future::Either::Left((result, _)) => result,
        futures_util::future::Either::Right((e, _)) => Err(e),
    }
}

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

    fn tally_function(&self) -> Option<&'static str> {
        self.tallies.as_ref().map(|_| super::sqlite::TALLY)
    }

    fn take_tally(&mut self, slot: i64) -> Option<(u64, u64)> {
        self.tallies.as_ref().and_then(|t| t.take(slot))
    }

    fn forget_tally(&mut self, slot: i64) {
        if let Some(t) = &self.tallies {
            t.forget(slot);
        }
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

    /// See [`DataFusionBackend::write_kept`].
    fn store(&mut self, name: &str, stmt: &SqlStatement) -> Result<(), BackendError> {
        self.write_kept(name, stmt, None).map(|_| ())
    }

    /// The rows reach kestrel here, embedded or from a cluster: they are counted as they
    /// are written, so the summary need not read the file again (on a cluster, a job).
    fn store_counted(
        &mut self,
        name: &str,
        stmt: &SqlStatement,
        identity: &[String],
        own: &[String],
    ) -> Result<Option<(u64, u64)>, BackendError> {
        // Without an identity the count is of whole rows, which the file may not keep.
        let count = (!identity.is_empty()).then_some((identity, own));
        self.write_kept(name, stmt, count)
    }

    fn drop_temp_table(&mut self, name: &str) -> Result<(), BackendError> {
        let _ = self.ctx.deregister_table(TableReference::bare(name));
        self.tables.remove(name);
        if self.scratch.is_some() {
            let location = self.scratch_file(name);
            if let Ok(url) = ListingTableUrl::parse(&location) {
                if let Ok(store) = self.ctx.runtime_env().object_store(url.object_store()) {
                    let _ = self.runtime.block_on(store.delete(url.prefix()));
                }
            }
        }
        Ok(())
    }

    fn query(&mut self, stmt: &SqlStatement, sink: &mut dyn RowSink) -> Result<(), BackendError> {
        self.execute(stmt, |mut stream| async move {
            let names: Vec<String> = stream
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            sink.columns(&names)?;
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
            Ok(())
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
        // The usual call, `kestrel_like(column, 'pattern')` (the pattern a bound value):
        // the text is read where it is, whatever its string type, and the pattern once.
        if let [text, ColumnarValue::Scalar(pattern)] = &args.args[..] {
            if let Some(pattern) = pattern.try_as_str() {
                let Some(pattern) = pattern else {
                    return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(None)));
                };
                let p = pattern.as_bytes();
                let text = text.clone().into_array(args.number_rows)?;
                let matches = |t: Option<&str>| t.map(|t| super::like::like(t.as_bytes(), p));
                let out: BooleanArray = match text.data_type() {
                    DataType::Utf8View => text.as_string_view().iter().map(matches).collect(),
                    DataType::Utf8 => text.as_string::<i32>().iter().map(matches).collect(),
                    DataType::LargeUtf8 => text.as_string::<i64>().iter().map(matches).collect(),
                    _ => cast(&text, &DataType::Utf8)?
                        .as_string::<i32>()
                        .iter()
                        .map(matches)
                        .collect(),
                };
                return Ok(ColumnarValue::Array(Arc::new(out)));
            }
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

/// `kestrel_tally(slot, n, c1, …, cn, a1, …, am)`: SQLite's (see
/// [`super::sqlite::TALLY`]) a batch at a time, each identity tuple in arrow's row format,
/// hashed. Volatile, so that DataFusion neither folds nor moves it.
struct KestrelTally {
    signature: Signature,
    board: Tallies,
}

impl std::fmt::Debug for KestrelTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KestrelTally")
    }
}

impl PartialEq for KestrelTally {
    fn eq(&self, other: &Self) -> bool {
        self.board.same(&other.board)
    }
}

impl Eq for KestrelTally {}

impl std::hash::Hash for KestrelTally {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "kestrel_tally".hash(state);
    }
}

impl ScalarUDFImpl for KestrelTally {
    fn name(&self) -> &str {
        super::sqlite::TALLY
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
        let rows = args.number_rows;
        let int = |v: &ColumnarValue| -> datafusion::common::Result<i64> {
            match v {
                ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(Some(i)) => Ok(i),
                    _ => datafusion::common::plan_err!("kestrel_tally: slot and n are integers"),
                },
                ColumnarValue::Array(_) => {
                    datafusion::common::plan_err!("kestrel_tally: slot and n are constants")
                }
            }
        };
        if args.args.len() < 2 {
            return datafusion::common::plan_err!("kestrel_tally takes two arguments or more");
        }
        let slot = int(&args.args[0])?;
        let cols: Vec<ArrayRef> = args.args[2..]
            .iter()
            .map(|a| a.clone().into_array(rows))
            .collect::<datafusion::common::Result<_>>()?;
        let n = usize::try_from(int(&args.args[1])?)
            .unwrap_or(0)
            .min(cols.len());
        let (ids, own) = cols.split_at(n);
        // Hashed before the slots are locked: the engine's partitions call this at once.
        let entities = entities(ids, own, rows)?;
        {
            let mut board = self.board.lock();
            let t = board.entry(slot).or_default();
            for entity in entities {
                t.add(entity);
            }
        }
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(vec![
            1i64;
            rows
        ]))))
    }
}

/// The entities of `rows` rows: identity columns `ids`, own-id columns `own`.
fn entities(
    ids: &[ArrayRef],
    own: &[ArrayRef],
    rows: usize,
) -> datafusion::common::Result<Vec<super::tally::Entity>> {
    match (ids, own) {
        ([id], []) => one_column_entities(id),
        _ => None,
    }
    .map_or_else(|| rows_entities(ids, own, rows), Ok)
}

/// The entities of a tally whose identity is one column and that has no own id (ECS's
/// `process.entity_id`, say), when the column is text or an integer: each value hashed
/// where it is, without [`rows_entities`]'s row encoding. None for other types.
fn one_column_entities(id: &ArrayRef) -> Option<Vec<super::tally::Entity>> {
    use datafusion::arrow::datatypes::Int64Type;
    // Seeds apart from `rows_entities`' (0), and per type, as a row encoding is.
    const TEXT: u64 = 1;
    const INT: u64 = 2;
    let text = |t: Option<&str>| t.map(|t| (0, hash128(TEXT, t.as_bytes())));
    Some(match id.data_type() {
        DataType::Utf8 => id.as_string::<i32>().iter().map(text).collect(),
        DataType::LargeUtf8 => id.as_string::<i64>().iter().map(text).collect(),
        DataType::Utf8View => id.as_string_view().iter().map(text).collect(),
        DataType::Int64 => id
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|v| (0, hash128(INT, &v.to_le_bytes()))))
            .collect(),
        _ => return None,
    })
}

/// The entities of `rows` rows of a tally: identity columns `ids` and own-id columns
/// `own`, each side encoded as Arrow rows and hashed (see [`super::tally::entity`]).
fn rows_entities(
    ids: &[ArrayRef],
    own: &[ArrayRef],
    rows: usize,
) -> datafusion::common::Result<Vec<super::tally::Entity>> {
    use datafusion::arrow::row::{RowConverter, SortField};
    let convert = |arrays: &[ArrayRef]| -> datafusion::common::Result<Option<_>> {
        if arrays.is_empty() {
            return Ok(None);
        }
        let fields = arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect();
        Ok(Some(RowConverter::new(fields)?.convert_columns(arrays)?))
    };
    let (id_rows, own_rows) = (convert(ids)?, convert(own)?);
    Ok((0..rows)
        .map(|i| {
            let hash = |r: &Option<datafusion::arrow::row::Rows>| {
                r.as_ref().map_or(0, |r| hash128(0, r.row(i).as_ref()))
            };
            super::tally::entity(
                ids.len(),
                ids.iter().all(|a| a.is_valid(i)),
                own_rows.is_some(),
                || hash(&id_rows),
                || hash(&own_rows),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{LargeStringArray, StringViewArray};

    /// Which rows have an entity, and how many distinct entities there are.
    fn shape(entities: &[super::super::tally::Entity]) -> (Vec<bool>, usize) {
        let distinct: HashSet<_> = entities.iter().flatten().collect();
        (
            entities.iter().map(Option::is_some).collect(),
            distinct.len(),
        )
    }

    /// A one-column identity of text or integers, hashed where it is, gives the same
    /// entities as the row encoding every other tally goes through: NULL none, equal
    /// values one.
    #[test]
    fn one_column_entities_are_the_row_encodings_entities() {
        let texts = [
            Some("a"),
            None,
            Some("b"),
            Some("a"),
            Some(""),
            None,
            Some(""),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(texts.to_vec())),
            Arc::new(LargeStringArray::from(texts.to_vec())),
            Arc::new(StringViewArray::from(texts.to_vec())),
            Arc::new(Int64Array::from(vec![
                Some(1),
                None,
                Some(-1),
                Some(1),
                Some(0),
                None,
                Some(0),
            ])),
        ];
        for column in columns {
            let fast = one_column_entities(&column).expect("a type read where it is");
            let rows = rows_entities(std::slice::from_ref(&column), &[], column.len()).unwrap();
            assert_eq!(shape(&fast), shape(&rows), "{:?}", column.data_type());
            assert_eq!(shape(&fast).1, 3, "{:?}", column.data_type());
        }
        // Other types go through the row encoding.
        let floats: ArrayRef = Arc::new(datafusion::arrow::array::Float64Array::from(vec![1.0]));
        assert!(one_column_entities(&floats).is_none());
    }
}
