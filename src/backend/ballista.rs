//! Apache Ballista (`ballista://host:port/abs/dir`; the `ballista` cargo feature):
//! DataFusion distributed over a scheduler and executors.
//!
//! In: the scheduler's address (port 50050 unless given) and the directory relative
//! `table:` paths start at. kestrel plans each statement as the embedded backend does
//! ([`super::datafusion`]: the same dialect, tables and functions), and Ballista's query
//! planner sends the plan to the scheduler as a job; the executors read the files, so
//! they must see the same paths (a shared disk or an object store). Out: the job's rows.
//!
//! The dialect calls two functions of kestrel's own (`kestrel_like`, `kestrel_int`),
//! so the scheduler and the executors must have them registered: `kestrel-ballista
//! scheduler` and `kestrel-ballista executor` are Ballista's own processes with those
//! functions added. A stopped statement (Ctrl-C, `statement_timeout`) has its job
//! cancelled at the scheduler.

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use ballista_core::config::BALLISTA_CLIENT_PULL;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::extension::SessionConfigExt;
use ballista_core::object_store::S3Options;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::CancelJobParams;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::optimizer::common_subexpr_eliminate::CommonSubexprEliminate;
use datafusion::optimizer::{Optimizer, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

use super::datafusion::{
    kestrel_functions, open_error, query_runtime, scheme_suffix, session_config, DataFusionBackend,
    Lake,
};
use super::url::ServerUrl;
use super::{BackendError, OpenOptions};

/// The scheduler port when the URL names none (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// `ballista://host[:port]/abs/dir` or `ballista+s3://host[:port]/bucket/prefix`: the
/// scheduler's host and port, and where relative `table:` paths start.
fn parse(url: &str) -> Result<(ServerUrl, String), BackendError> {
    let expected =
        "expected ballista://host:port/absolute/directory or ballista+s3://host:port/bucket/prefix";
    let u = ServerUrl::parse(url).map_err(|e| open_error(url, format!("{e}: {expected}")))?;
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("");
    let path = u.database.clone().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || path.is_empty() {
        return Err(open_error(url, expected));
    }
    let root = if scheme_suffix(url) == Some("s3") {
        format!("s3://{path}")
    } else {
        format!("/{path}")
    };
    Ok((u, root))
}

/// Connects to the scheduler named by `url` (within the connection limit, so a cluster
/// that is not there is an error now, not at the first statement).
pub fn open_url(url: &str, opts: &OpenOptions) -> Result<DataFusionBackend, BackendError> {
    let (u, root) = parse(url)?;
    let lake = Lake::new(url, &u, root)?;
    let (host, port) = (u.host.clone(), u.port.unwrap_or(DEFAULT_SCHEDULER_PORT));
    let runtime = query_runtime(url)?;
    let scheduler = format!("http://{host}:{port}");
    let limit = opts.connect_limit();
    runtime.block_on(async {
        let connect = SchedulerGrpcClient::connect(scheduler.clone());
        let reached = match limit {
            Some(limit) => tokio::time::timeout(limit, connect)
                .await
                .map_err(|_| BackendError::ConnectTimeout(limit.as_secs()))?,
            None => connect.await,
        };
        reached.map_err(|e| {
            open_error(
                url,
                format!("no Ballista scheduler answers at {host}:{port}: {e}"),
            )
        })?;
        Ok::<(), BackendError>(())
    })?;
    // The executors reach S3 as kestrel does: the settings travel with each job. The
    // client asks for the job's state (pull) rather than waiting for it to be pushed:
    // the job's id is then known as soon as it is queued, so a stopped statement can
    // cancel it at once.
    let mut config = session_config()
        .upgrade_for_ballista()
        .set_bool(BALLISTA_CLIENT_PULL, true)
        .with_option_extension(S3Options::default());
    for (key, value) in lake.s3.settings() {
        config
            .options_mut()
            .set(&format!("s3.{key}"), &value)
            .map_err(|e| open_error(url, e.to_string()))?;
    }
    // The scheduler optimizes each plan it is sent again. Optimized on both sides,
    // plans whose expressions share parts lost rows (a GET process on the Windows
    // mapping showed 37 of its 38 records): the common-subexpression pass names what it
    // factors out `__common_expr_1`, … from a counter of its own session, so the
    // scheduler's pass reuses the client's names. The client leaves that pass to the
    // scheduler; it runs the others, which must turn subqueries into joins before the
    // plan can be sent.
    let shared_parts = CommonSubexprEliminate::new();
    let rules = Optimizer::new()
        .rules
        .into_iter()
        .filter(|r| r.name() != shared_parts.name())
        .collect();
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(rules)
        .build();
    let ctx = runtime
        .block_on(SessionContext::remote_with_state(
            &format!("df://{host}:{port}"),
            state,
        ))
        .map_err(|e| open_error(url, e.to_string()))?;
    // After the upgrade for Ballista, which sets the function list anew.
    for f in kestrel_functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    Ok(DataFusionBackend::with_context(
        runtime,
        ctx,
        Some(scheduler),
        lake,
    ))
}

/// Cancels the Ballista job of a stopped statement's plan `plan` at `scheduler`, if it
/// had started one. A failure to cancel is not reported: the statement has already
/// failed (Ctrl-C or its time limit), and the scheduler ends an abandoned job itself.
pub(super) async fn cancel(scheduler: &str, plan: &Arc<dyn ExecutionPlan>) {
    let Some(job) = job_of(plan) else {
        return;
    };
    let cancel = async {
        let mut client = SchedulerGrpcClient::connect(scheduler.to_string())
            .await
            .ok()?;
        client
            .cancel_job(CancelJobParams {
                job_id: job.into_inner(),
            })
            .await
            .ok()
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), cancel).await;
}

/// The job id of the distributed query in `plan` (its root, or below it).
fn job_of(plan: &Arc<dyn ExecutionPlan>) -> Option<ballista_core::JobId> {
    if let Some(exec) = plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>() {
        return exec.job_id();
    }
    plan.children().into_iter().find_map(job_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_the_scheduler_and_where_the_tables_are() {
        let (u, root) = parse("ballista://127.0.0.1:50071/tmp/lake").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, root.as_str()),
            ("127.0.0.1", Some(50071), "/tmp/lake")
        );
        let (u, root) = parse("ballista://scheduler/data").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, root.as_str()),
            ("scheduler", None, "/data")
        );
        let (u, root) =
            parse("ballista+s3://sched:50050/bucket/security-lake?region=eu-west-1").unwrap();
        assert_eq!(root, "s3://bucket/security-lake");
        assert_eq!(u.param("region"), Some("eu-west-1"));
        for bad in [
            "ballista://host:50050",
            "ballista:///dir",
            "ballista://host:port/dir",
            "ballista://user@host/dir",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("expected ballista://host:port/absolute/directory"),
                "{bad}: {e}"
            );
        }
    }
}
