//! The process behind `#[serverless_worker]`: read the embedded manifest, run the configure body
//! once, then serve Lambda invocations, each running a Temporal Worker for the binary's own
//! Worker Deployment Version until the work time is over.

use crate::{lambda_worker::LambdaWorker, manifest::Manifest, versioning::VersioningBehavior};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use temporalio_client::{
    Client, ClientOptions, Connection, envconfig::LoadClientConfigProfileOptions,
};
use temporalio_common::{
    envconfig::DataSource,
    worker::{VersioningBehavior as SdkBehavior, WorkerDeploymentOptions, WorkerDeploymentVersion},
};
use temporalio_sdk::{Runtime, Worker};
use tokio::sync::OnceCell;

/// What `#[serverless_worker]` hands to [`run_function`].
pub struct FunctionSpec {
    /// The embedded manifest (see [`crate::manifest`]): the function reads its deployment name
    /// and build ID from these bytes, the same ones `temporal-serverless inspect` reads.
    pub manifest: &'static [u8],
    /// `task_queue = ".."` from the attribute, if given.
    pub task_queue: Option<&'static str>,
    /// The user's `main` body.
    pub configure: fn(&mut LambdaWorker),
}

/// Work time below which an invocation is refused outright.
const MIN_WORK_TIME: Duration = Duration::from_secs(1);
/// Work time below which a warning is logged.
const WARN_WORK_TIME: Duration = Duration::from_secs(5);

/// Set (to anything) to configure the function and print what it would serve, without contacting
/// Lambda or Temporal: a check for build pipelines and tests.
pub const DRY_RUN_VARIABLE: &str = "TEMPORAL_SERVERLESS_DRY_RUN";

/// Process-wide state, built once and shared by warm invocations.
struct Process {
    deployment_name: &'static str,
    build_id: &'static str,
    task_queue: String,
    worker: LambdaWorker,
    client: OnceCell<Client>,
    runtime: Runtime,
}

/// Runs the Lambda function. Returns only if the process cannot serve invocations.
pub fn run_function(spec: FunctionSpec) -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    // The manifest is read back at run time so that the bytes `inspect` finds are the bytes that
    // decide which version this process polls for (and so the linker cannot drop them).
    let manifest = match Manifest::parse(std::hint::black_box(spec.manifest)) {
        Ok(manifest) => manifest,
        Err(error) => {
            tracing::error!(%error, "embedded deployment manifest is unreadable; rebuild the function");
            return ExitCode::FAILURE;
        }
    };
    let mut worker = LambdaWorker::default();
    (spec.configure)(&mut worker);
    if !worker.configuration_errors.is_empty() {
        for error in &worker.configuration_errors {
            tracing::error!(%error, "configuration error in the #[serverless_worker] main");
        }
        return ExitCode::FAILURE;
    }
    let task_queue = match spec
        .task_queue
        .map(str::to_owned)
        .or_else(|| worker.task_queue.clone())
        .or_else(|| {
            std::env::var("TEMPORAL_TASK_QUEUE")
                .ok()
                .filter(|queue| !queue.is_empty())
        }) {
        Some(queue) => queue,
        None => {
            tracing::error!(
                "no task queue: set `task_queue = \"..\"` in #[serverless_worker], call \
                 `worker.task_queue(\"..\")`, or set the TEMPORAL_TASK_QUEUE environment variable"
            );
            return ExitCode::FAILURE;
        }
    };
    if std::env::var_os(DRY_RUN_VARIABLE).is_some() {
        print_dry_run(&manifest, &task_queue, &worker);
        return ExitCode::SUCCESS;
    }
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(tokio) => tokio,
        Err(error) => {
            tracing::error!(%error, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = tokio.block_on(async move {
        let runtime = Runtime::from_current_tokio(Default::default())?;
        let process = Arc::new(Process {
            deployment_name: leak(manifest.deployment_name),
            build_id: leak(manifest.build_id),
            task_queue,
            worker,
            client: OnceCell::new(),
            runtime,
        });
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let process = process.clone();
            async move { process.invoke(event).await }
        }))
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime loop stopped");
            ExitCode::FAILURE
        }
    }
}

fn print_dry_run(manifest: &Manifest<'_>, task_queue: &str, worker: &LambdaWorker) {
    println!(
        "deployment={} build_id={} task_queue={task_queue}",
        manifest.deployment_name, manifest.build_id
    );
    for (workflow_type, behavior) in worker.versioning_behaviors() {
        println!("workflow {workflow_type} versioning={behavior}");
    }
}

/// The manifest lives in a `static`; this only turns its borrowed lifetime into `'static`.
fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

impl Process {
    async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let context = event.context;
        let remaining = remaining_until(context.deadline);
        let buffer = self.worker.shutdown_deadline_buffer();
        let work_time = remaining.saturating_sub(buffer);
        if work_time <= MIN_WORK_TIME {
            return Err(format!(
                "deadline too short: {remaining:?} remain and the shutdown deadline buffer is {buffer:?}, \
                 leaving {work_time:?} of work time (more than {MIN_WORK_TIME:?} needed); raise the \
                 Lambda timeout, or lower `graceful_shutdown` on the LambdaWorker"
            )
            .into());
        }
        if work_time < WARN_WORK_TIME {
            tracing::warn!(
                ?work_time,
                ?remaining,
                ?buffer,
                "little work time in this invocation"
            );
        }
        let client = self.client.get_or_try_init(connect).await?;
        let identity = format!("{}@{}", context.request_id, context.invoked_function_arn);
        let options =
            self.worker
                .worker_options(&self.task_queue, identity, self.deployment_options());
        let mut worker = Worker::new(&self.runtime, client.clone(), options)?;
        let shutdown = worker.shutdown_handle();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(work_time).await;
            shutdown();
        });
        let outcome = worker.run().await;
        timer.abort();
        outcome?;
        Ok(json!({
            "deployment": self.deployment_name,
            "build_id": self.build_id,
            "work_time_ms": work_time.as_millis() as u64,
        }))
    }

    fn deployment_options(&self) -> WorkerDeploymentOptions {
        let version = WorkerDeploymentVersion::builder()
            .deployment_name(self.deployment_name)
            .build_id(self.build_id)
            .build();
        // Core applies one default to every workflow type; when all registered types agree it is
        // theirs exactly.
        let mut behaviors = self.worker.behaviors.values();
        let default = match behaviors.next() {
            Some(first) if behaviors.all(|other| other == first) => Some(*first),
            _ => None,
        };
        WorkerDeploymentOptions::new(version)
            .use_worker_versioning(true)
            .maybe_default_versioning_behavior(default.map(|behavior| match behavior {
                VersioningBehavior::Pinned => SdkBehavior::Pinned,
                VersioningBehavior::AutoUpgrade => SdkBehavior::AutoUpgrade,
            }))
            .build()
    }
}

async fn connect() -> Result<Client, lambda_runtime::Error> {
    let options = LoadClientConfigProfileOptions::builder()
        .maybe_config_source(config_file().map(|path| DataSource::Path(path.display().to_string())))
        .build();
    let (connection_options, client_options): (_, ClientOptions) =
        ClientOptions::load_from_config(options).map_err(|error| error.to_string())?;
    let connection = Connection::connect(connection_options).await?;
    Ok(Client::new(connection, client_options)?)
}

/// `TEMPORAL_CONFIG_FILE`, else `$LAMBDA_TASK_ROOT/temporal.toml`, else `./temporal.toml`; the
/// first that is set (for the variable) or exists (for the files).
fn config_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TEMPORAL_CONFIG_FILE").filter(|path| !path.is_empty()) {
        return Some(path.into());
    }
    let task_root =
        std::env::var_os("LAMBDA_TASK_ROOT").map(|root| PathBuf::from(root).join("temporal.toml"));
    task_root
        .into_iter()
        .chain(std::iter::once(PathBuf::from("temporal.toml")))
        .find(|path| path.is_file())
}

fn remaining_until(deadline_ms: u64) -> Duration {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
