//! The process behind `#[serverless_worker]`. At cold start: read the embedded manifest, run the
//! configure body once, start the tokio runtime and the telemetry (`telemetry`: exporters only
//! with feature `otel`), then serve invocations, each of which (`invocation`) plans its deadline →
//! connects (or reuses the connection) → guards the version (`deployment_guard`: first invocation
//! of the process, and any through another function ARN) → runs a Worker for the binary's own
//! Worker Deployment Version until `work_end` says stop (idle or work time over, polls drained)
//! → shutdown hooks → telemetry flush → answers.

mod invocation;

use crate::{
    config, deadline, deployment_guard,
    end_policy::EndPolicy,
    error::ServerlessError,
    lambda_worker::LambdaWorker,
    manifest::Manifest,
    panics,
    poll_gate::{self, PollGate},
    task_observer::TaskObserver,
    telemetry::{self, ProcessTelemetry},
    worker_relay::WorkerRpcRelay,
};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::{
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use temporalio_client::{Client, ClientOptions, Connection};
use temporalio_common::worker::{WorkerDeploymentOptions, WorkerDeploymentVersion};
use temporalio_sdk::{Runtime, runtime::RuntimeOptions};
use tokio::sync::Mutex;

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

/// Set (to anything) to configure the function and print what it would serve, without contacting
/// Lambda or Temporal: a check for build pipelines and tests.
pub const DRY_RUN_VARIABLE: &str = "TEMPORAL_SERVERLESS_DRY_RUN";

/// What Lambda (and `cargo lambda watch`) sets and `lambda_runtime` needs, which panics without
/// them.
const LAMBDA_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Why this process is not on Lambda (or an emulator of it), if it is not: the binary run by
/// hand gets this error instead of `lambda_runtime`'s panic.
fn not_on_lambda(read_env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let missing: Vec<&str> = LAMBDA_VARIABLES
        .into_iter()
        .filter(|name| read_env(name).is_none_or(|value| value.is_empty()))
        .collect();
    let memory = read_env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    let problem = if !missing.is_empty() {
        format!("{} not set", missing.join(", "))
    } else if memory.parse::<i32>().is_err() {
        format!("AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory:?} is not a number")
    } else {
        return None;
    };
    Some(format!(
        "not running on Lambda ({problem}): run it with `cargo lambda watch` (README, \"Run locally with cargo lambda\") or deploy it; {DRY_RUN_VARIABLE}=1 prints what it would serve"
    ))
}

/// How long past the graceful shutdown the worker may take to stop before it is abandoned.
const ABANDON_GRACE: Duration = Duration::from_millis(500);
/// Time kept to post the answer after the hooks.
const ANSWER_RESERVE: Duration = Duration::from_millis(200);

/// The longest a connection attempt may take, whatever the work time.
const MAX_CONNECT_TIME: Duration = Duration::from_secs(10);

/// Process-wide state, built once and shared by warm invocations.
struct Process {
    manifest: Manifest<'static>,
    task_queue: String,
    worker: LambdaWorker,
    /// Kept across invocations: a warm invocation reuses the connection.
    client: Mutex<Option<Client>>,
    runtime: Runtime,
    cold: AtomicBool,
    /// When the process started (ms since the Unix epoch): a deadline before it is no Lambda's.
    started_ms: u64,
    /// The work time of an invocation whose deadline is a local emulator's.
    local_work_time: Duration,
    /// Whether the emulator's deadline was warned about (once per process).
    local_deadline_warned: AtomicBool,
    observer: Arc<TaskObserver>,
    /// When an idle worker ends its invocation: learns from this instance's gaps and end costs.
    end_policy: parking_lot::Mutex<EndPolicy>,
    /// Lets the worker's polls reach the server; closed to end an invocation (see `poll_gate`).
    gate: Arc<PollGate>,
    /// Whether the deployment guard runs, and the invoked function ARN it last passed for. A warm
    /// process can be invoked through another ARN (two aliases of one Lambda version share its
    /// instances), and the version behind that ARN may be another one: the guard runs again.
    guard: bool,
    guard_passed_for: parking_lot::Mutex<Option<String>>,
    /// OpenTelemetry exporters, when the configure body asked for them (and the build has them).
    telemetry: ProcessTelemetry,
}

/// Runs the Lambda function. Returns only if the process cannot serve invocations.
pub fn run_function(spec: FunctionSpec) -> ExitCode {
    TaskObserver::process_started();
    let started_ms = now_ms();
    crate::logging::init();
    match start(spec, started_ms) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(%error, error_type = error.error_type(), "the function cannot start");
            // So that Lambda records our error type, not `Runtime.ExitError`. A dry run is not
            // Lambda's init phase.
            if std::env::var_os(DRY_RUN_VARIABLE).is_none() {
                crate::init_error::report_cold_start_failure(error, |name| {
                    std::env::var(name).ok()
                });
            }
            ExitCode::FAILURE
        }
    }
}

/// What the configure body and the environment decided at cold start, before any I/O.
struct Configured {
    manifest: Manifest<'static>,
    task_queue: String,
    worker: LambdaWorker,
    local_work_time: Duration,
}

fn start(spec: FunctionSpec, started_ms: u64) -> Result<ExitCode, ServerlessError> {
    let configured = configure(spec)?;
    if std::env::var_os(DRY_RUN_VARIABLE).is_some() {
        print_dry_run(&configured);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(problem) = not_on_lambda(|name| std::env::var(name).ok()) {
        return Err(ServerlessError::Configure(problem));
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            ServerlessError::Worker(format!("cannot start the tokio runtime: {error}"))
        })?;
    tokio.block_on(async move {
        let process = Process::start(configured, started_ms)?;
        Ok(serve_invocations(Arc::new(process)).await)
    })
}

/// Reads the manifest, runs the configure body, and resolves what it left to the environment.
fn configure(spec: FunctionSpec) -> Result<Configured, ServerlessError> {
    // Read back at run time so that the bytes `inspect` finds are the bytes that decide which
    // version this process serves (and so the linker cannot drop them).
    let manifest = Manifest::parse(std::hint::black_box(spec.manifest)).map_err(|error| {
        ServerlessError::Configure(format!("embedded manifest unreadable ({error}); rebuild"))
    })?;
    let mut worker = LambdaWorker::default();
    (spec.configure)(&mut worker);
    if let Some(error) = worker.configuration_errors.first() {
        return Err(ServerlessError::Configure(error.clone()));
    }
    let task_queue = config::task_queue(spec.task_queue, worker.task_queue.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    let local_work_time = deadline::local_work_time(
        std::env::var(deadline::LOCAL_WORK_TIME_VARIABLE)
            .ok()
            .as_deref(),
    )
    .map_err(ServerlessError::Configure)?;
    Ok(Configured {
        manifest,
        task_queue,
        worker,
        local_work_time,
    })
}

/// Hands Lambda's invocations to the process until the runtime loop ends. Every failed
/// invocation, a panicked one included, is logged once here (see `logging`).
async fn serve_invocations(process: Arc<Process>) -> ExitCode {
    let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let process = process.clone();
        async move {
            let answer = panics::caught(process.invoke(event)).await;
            if let Err(error) = &answer {
                crate::logging::invocation_failed(error);
            }
            answer.map_err(lambda_runtime::Diagnostic::from)
        }
    }))
    .await;
    // Past the init phase: init/error no longer applies, so not a cold start failure.
    if let Err(error) = &served {
        tracing::error!(%error, "the Lambda runtime loop ended");
    }
    served.map_or(ExitCode::FAILURE, |()| ExitCode::SUCCESS)
}

/// Workers send no SDK worker heartbeats on Lambda. A heartbeat every 60 s from a process frozen
/// between invocations would tell the server of workers that are not polling, and each
/// heartbeating worker starts a host-metrics thread and joins a per-namespace heartbeat worker that
/// polls a control queue of its own from the process.
fn worker_heartbeat_interval() -> Option<Duration> {
    None
}

/// The SDK runtime's options for Lambda; its worker metrics go to our meter when metrics are on.
fn runtime_options(telemetry: &ProcessTelemetry) -> Result<RuntimeOptions, ServerlessError> {
    RuntimeOptions::builder()
        .heartbeat_interval(worker_heartbeat_interval())
        .maybe_telemetry_options(telemetry.sdk_telemetry_options())
        .build()
        .map_err(ServerlessError::Worker)
}

fn print_dry_run(configured: &Configured) {
    let Configured {
        manifest,
        task_queue,
        worker,
        ..
    } = configured;
    println!(
        "deployment={} build_id={} task_queue={task_queue}",
        manifest.deployment_name, manifest.build_id
    );
    for (workflow_type, behavior) in worker.versioning_behaviors() {
        println!("workflow {workflow_type} versioning={behavior}");
    }
    if let Some(line) = telemetry::dry_run_line(worker) {
        println!("{line}");
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

impl Process {
    /// The process's state, in the tokio runtime: telemetry first (the OTLP/gRPC exporters'
    /// channels need the runtime), then the SDK's runtime with its metrics in our meter.
    fn start(configured: Configured, started_ms: u64) -> Result<Self, ServerlessError> {
        let Configured {
            manifest,
            task_queue,
            worker,
            local_work_time,
        } = configured;
        let telemetry = ProcessTelemetry::start(&worker, &manifest)?;
        let runtime =
            Runtime::from_current_tokio(runtime_options(&telemetry)?).map_err(|error| {
                ServerlessError::Worker(format!("cannot start the Temporal runtime: {error}"))
            })?;
        let gate = PollGate::default();
        gate.allow_server_drain(
            std::env::var(poll_gate::SERVER_DRAIN_VARIABLE).is_ok_and(|value| value == "1"),
        );
        Ok(Self {
            manifest,
            task_queue,
            end_policy: parking_lot::Mutex::new(EndPolicy::new(worker.idle_exit)),
            worker,
            client: Mutex::new(None),
            runtime,
            cold: AtomicBool::new(true),
            started_ms,
            local_work_time,
            local_deadline_warned: AtomicBool::new(false),
            observer: Default::default(),
            gate: Arc::new(gate),
            guard: deployment_guard::enabled(|name| std::env::var(name).ok()),
            guard_passed_for: parking_lot::Mutex::default(),
            telemetry,
        })
    }

    /// The process's client, connecting first if there is none (cold start, or after a failure).
    async fn client(&self, bound: Duration) -> Result<Client, ServerlessError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let connecting = Instant::now();
        let client = connect(
            &self.worker,
            bound,
            self.observer.clone(),
            self.gate.clone(),
            |options| self.telemetry.instrument_client(options),
        )
        .await?;
        tracing::info!(
            connect_ms = connecting.elapsed().as_millis() as u64,
            "connected to Temporal"
        );
        *slot = Some(client.clone());
        Ok(client)
    }

    fn deployment_options(&self) -> WorkerDeploymentOptions {
        let version = WorkerDeploymentVersion::builder()
            .deployment_name(self.manifest.deployment_name)
            .build_id(self.manifest.build_id)
            .build();
        // No worker-wide default: the worker relay stamps each workflow type's own behavior.
        WorkerDeploymentOptions::new(version)
            .use_worker_versioning(true)
            .build()
    }
}

async fn connect(
    worker: &LambdaWorker,
    bound: Duration,
    observer: Arc<TaskObserver>,
    gate: Arc<PollGate>,
    instrument_client: impl FnOnce(ClientOptions) -> ClientOptions,
) -> Result<Client, ServerlessError> {
    let (mut connection_options, client_options) = config::load_connection_options()?;
    let client_options = instrument_client(client_options);
    let address = connection_options.target.to_string();
    connection_options.connect_timeout = Some(bound);
    // The relay owns the channel; DNS load balancing would be the SDK's, and cannot be combined.
    connection_options.dns_load_balancing = None;
    let relay = WorkerRpcRelay::new(
        &connection_options,
        worker.versioning_behaviors(),
        observer,
        gate,
    )
    .map_err(|message| ServerlessError::Connection {
        address: address.clone(),
        timeout_ms: bound.as_millis(),
        message,
    })?;
    connection_options.service_override = Some(relay.into_service());
    let connection =
        match tokio::time::timeout(bound, Connection::connect(connection_options)).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => return Err(classify_connect_error(&address, bound, &error)),
            Err(_) => {
                return Err(ServerlessError::Connection {
                    address,
                    timeout_ms: bound.as_millis(),
                    message: "timed out".to_owned(),
                });
            }
        };
    Client::new(connection, client_options)
        .map_err(|error| ServerlessError::Worker(error.to_string()))
}

fn classify_connect_error(
    address: &str,
    bound: Duration,
    error: &temporalio_client::errors::ClientConnectError,
) -> ServerlessError {
    use temporalio_client::errors::ClientConnectError;
    let address = address.to_owned();
    let (code, message) = match error {
        ClientConnectError::SystemInfoCallError(status) => {
            (Some(status.code()), status.message().to_owned())
        }
        other => (None, other.to_string()),
    };
    // A server or proxy may echo what it was sent, the API key included.
    let message = crate::redact::text(&message);
    let lowered = message.to_lowercase();
    match code {
        Some(tonic::Code::Unauthenticated | tonic::Code::PermissionDenied) => {
            ServerlessError::Authentication { address, message }
        }
        _ if ["tls", "certificate", "handshake"]
            .iter()
            .any(|word| lowered.contains(word)) =>
        {
            ServerlessError::Tls { address, message }
        }
        _ => ServerlessError::Connection {
            address,
            timeout_ms: bound.as_millis(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_client::errors::ClientConnectError;

    fn classify(status: tonic::Status) -> ServerlessError {
        classify_connect_error(
            "https://ns.tmprl.cloud:7233",
            Duration::from_secs(5),
            &ClientConnectError::SystemInfoCallError(status),
        )
    }

    #[test]
    fn without_lambdas_variables_the_process_says_it_is_not_on_lambda() {
        let lambda = |name: &str| {
            Some(match name {
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => "128".to_owned(),
                _ => "set".to_owned(),
            })
        };
        assert_eq!(not_on_lambda(lambda), None);
        let message = not_on_lambda(|_| None).unwrap();
        assert!(
            message.contains("AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME")
                && message.contains("cargo lambda watch")
                && message.contains(DRY_RUN_VARIABLE),
            "{message}"
        );
        let message = not_on_lambda(|name| {
            (name != "AWS_LAMBDA_FUNCTION_VERSION")
                .then(|| lambda(name))
                .flatten()
        })
        .unwrap();
        assert!(
            message.contains("(AWS_LAMBDA_FUNCTION_VERSION not set)"),
            "{message}"
        );
        let message = not_on_lambda(|name| {
            Some(if name == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" {
                "lots".into()
            } else {
                "set".into()
            })
        })
        .unwrap();
        assert!(message.contains("\"lots\" is not a number"), "{message}");
    }

    #[test]
    fn connect_errors_are_classified_by_what_the_user_must_fix() {
        let error = classify(tonic::Status::unauthenticated("Request unauthorized."));
        assert!(
            matches!(error, ServerlessError::Authentication { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("TEMPORAL_API_KEY"), "{error}");
        assert_eq!(error.error_type(), "TemporalServerless.Authentication");
        let error = classify(tonic::Status::permission_denied("namespace denied"));
        assert!(
            matches!(error, ServerlessError::Authentication { .. }),
            "{error}"
        );
        let error = classify(tonic::Status::unavailable(
            "transport error: invalid peer certificate: UnknownIssuer",
        ));
        assert!(matches!(error, ServerlessError::Tls { .. }), "{error}");
        assert!(error.to_string().contains("TEMPORAL_TLS"), "{error}");
        let error = classify(tonic::Status::unavailable(
            "tcp connect error: Connection refused",
        ));
        assert!(
            matches!(error, ServerlessError::Connection { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("within 5000 ms"), "{error}");
    }
}
