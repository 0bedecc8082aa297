//! `kestrel-ballista`: an Apache Ballista scheduler or executor with kestrel's SQL
//! functions registered, for `ballista://` connections (the `ballista` cargo feature).
//!
//! kestrel's DataFusion dialect calls two functions of its own (`kestrel_like`,
//! `kestrel_int`); a stock Ballista cluster does not know them, so a cluster kestrel
//! hunts on runs these processes: Ballista's own scheduler and executor (the
//! `ballista-scheduler` and `ballista-executor` libraries), with those functions added to
//! every session they plan or run.
//!
//! Tables in S3 are read with the settings each job carries (`s3.endpoint`, …, from
//! the `ballista+s3://` URL's parameters), else the process's AWS environment.
//!
//! ```text
//! kestrel-ballista scheduler --bind 0.0.0.0:50050
//! kestrel-ballista executor --scheduler sched-host:50050 --bind 0.0.0.0 --port 50051
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use ballista_core::object_store::{
    runtime_env_with_s3_support, session_config_with_s3_support, session_state_with_s3_support,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use clap::{Parser, Subcommand};
use datafusion::common::Result as DfResult;
use datafusion::execution::context::SessionConfig;
use datafusion::execution::{FunctionRegistry, SessionState};
use kestrel::backend::datafusion::kestrel_functions;

#[derive(Parser)]
#[command(
    name = "kestrel-ballista",
    version,
    about = "A Ballista scheduler or executor with kestrel's SQL functions"
)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// The scheduler: plans jobs and hands their tasks to executors.
    Scheduler {
        /// Address and port to listen on (gRPC: clients and executors).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
    },
    /// An executor: runs tasks, reads the files, serves its results to the others.
    Executor {
        /// The scheduler's host and port.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Host to listen on, and to be reached at.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Port for result (Arrow Flight) traffic.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// Port for the scheduler's task calls.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once (default: the machine's cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Where intermediate (shuffle) files go (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<String>,
    },
}

fn main() -> ExitCode {
    kestrel::backend::tls::install_default_provider();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kestrel-ballista: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.role {
            Role::Scheduler { bind } => scheduler(bind).await,
            Role::Executor {
                scheduler,
                bind,
                port,
                grpc_port,
                concurrent_tasks,
                work_dir,
            } => {
                let (scheduler_host, scheduler_port) = match scheduler.rsplit_once(':') {
                    Some((h, p)) => match p.parse() {
                        Ok(p) => (h.to_string(), p),
                        Err(_) => {
                            return Err(format!("--scheduler {scheduler}: bad port `{p}`"));
                        }
                    },
                    None => (scheduler.clone(), 50050),
                };
                let mut registry = BallistaFunctionRegistry::default();
                for f in kestrel_functions() {
                    registry.scalar_functions.insert(f.name().to_string(), f);
                }
                let defaults = ExecutorProcessConfig::default();
                let config = ExecutorProcessConfig {
                    external_host: Some(bind.clone()),
                    bind_host: bind,
                    port,
                    grpc_port,
                    scheduler_host,
                    scheduler_port,
                    vcores: concurrent_tasks.unwrap_or(defaults.vcores),
                    work_dir,
                    print_thread_info: false,
                    override_function_registry: Some(Arc::new(registry)),
                    // S3 stores made from each job's `s3.*` settings (or the environment).
                    override_config_producer: Some(Arc::new(session_config_with_s3_support)),
                    override_runtime_producer: Some(Arc::new(runtime_env_with_s3_support)),
                    ..defaults
                };
                start_executor_process(Arc::new(config))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kestrel-ballista: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a scheduler on `bind` until the process is stopped.
async fn scheduler(bind: SocketAddr) -> Result<(), String> {
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: bind.ip().to_string(),
        ..SchedulerConfig::default()
    }
    .with_override_config_producer(Arc::new(session_config_with_s3_support))
    .with_override_session_builder(Arc::new(
        |config: SessionConfig| -> DfResult<SessionState> {
            let mut state = session_state_with_s3_support(config)?;
            for f in kestrel_functions() {
                state.register_udf(f)?;
            }
            Ok(state)
        },
    ));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| e.to_string())?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(|e| e.to_string())
}
