//! The process behind `#[serverless_worker]`. At cold start: read the embedded manifest, run the
//! configure body once, start the tokio runtime (and the OpenTelemetry exporters, feature `otel`).
//! Per invocation: plan the deadline → connect (or reuse the connection) → guard the version
//! (`deployment_guard`: first invocation of the process, and any through another function ARN)
//! → run a Worker for the binary's own Worker Deployment Version until `work_end` says stop (idle
//! or work time over, polls drained) → shutdown hooks → telemetry flush (`otel`) → answer.

#[cfg(feature = "otel")]
use crate::otel;
use crate::{
    config, deadline, deployment_guard,
    end_policy::EndPolicy,
    error::ServerlessError,
    hooks,
    lambda_worker::LambdaWorker,
    manifest::Manifest,
    panics,
    poll_gate::{self, PollGate},
    task_observer::TaskObserver,
    versioning_relay::VersioningRelay,
    work_end,
};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use temporalio_client::{Client, ClientOptions, Connection};
use temporalio_common::worker::{WorkerDeploymentOptions, WorkerDeploymentVersion};
use temporalio_sdk::{Runtime, Worker};
use tokio::sync::Mutex;
use tracing::{Instrument, field::Empty};

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
    end_policy: std::sync::Mutex<EndPolicy>,
    /// Lets the worker's polls reach the server; closed to end an invocation (see `poll_gate`).
    gate: Arc<PollGate>,
    /// Whether the deployment guard runs, and the invoked function ARN it last passed for. A warm
    /// process can be invoked through another ARN (two aliases of one Lambda version share its
    /// instances), and the version behind that ARN may be another one: the guard runs again.
    guard: bool,
    guard_passed_for: std::sync::Mutex<Option<String>>,
    /// OpenTelemetry exporters, when the configure body asked for them.
    #[cfg(feature = "otel")]
    telemetry: Option<otel::Telemetry>,
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

fn start(spec: FunctionSpec, started_ms: u64) -> Result<ExitCode, ServerlessError> {
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
    if std::env::var_os(DRY_RUN_VARIABLE).is_some() {
        print_dry_run(&manifest, &task_queue, &worker);
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
        // Inside the tokio runtime: the OTLP/gRPC exporters' channels need it.
        #[cfg(feature = "otel")]
        let telemetry = worker
            .otel
            .as_ref()
            .map(|setup| otel::Telemetry::start(setup, &manifest, |name| std::env::var(name).ok()))
            .transpose()?;
        #[cfg(not(feature = "otel"))]
        let runtime_options = lambda_runtime_options();
        #[cfg(feature = "otel")]
        let runtime_options = otel_runtime_options(telemetry.as_ref())?;
        let runtime = Runtime::from_current_tokio(runtime_options).map_err(|error| {
            ServerlessError::Worker(format!("cannot start the Temporal runtime: {error}"))
        })?;
        let process = Arc::new(Process {
            manifest,
            task_queue,
            end_policy: std::sync::Mutex::new(EndPolicy::new(worker.idle_exit)),
            worker,
            client: Mutex::new(None),
            runtime,
            cold: AtomicBool::new(true),
            started_ms,
            local_work_time,
            local_deadline_warned: AtomicBool::new(false),
            observer: Default::default(),
            gate: {
                let gate = PollGate::default();
                gate.allow_server_drain(
                    std::env::var(poll_gate::SERVER_DRAIN_VARIABLE).is_ok_and(|value| value == "1"),
                );
                Arc::new(gate)
            },
            guard: deployment_guard::enabled(|name| std::env::var(name).ok()),
            guard_passed_for: std::sync::Mutex::default(),
            #[cfg(feature = "otel")]
            telemetry,
        });
        let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let process = process.clone();
            async move {
                panics::caught(process.invoke(event))
                    .await
                    .map_err(lambda_runtime::Diagnostic::from)
            }
        }))
        .await;
        // Past the init phase: init/error no longer applies, so not a cold start failure.
        if let Err(error) = &served {
            tracing::error!(%error, "the Lambda runtime loop ended");
        }
        Ok(served.map_or(ExitCode::FAILURE, |()| ExitCode::SUCCESS))
    })
}

/// Workers send no SDK worker heartbeats on Lambda. A heartbeat every 60 s from a process frozen
/// between invocations would tell the server of workers that are not polling, and each
/// heartbeating worker starts a host-metrics thread and joins a per-namespace heartbeat worker that
/// polls a control queue of its own from the process.
fn worker_heartbeat_interval() -> Option<Duration> {
    None
}

/// The SDK runtime's options for Lambda.
#[cfg(not(feature = "otel"))]
fn lambda_runtime_options() -> temporalio_sdk::runtime::RuntimeOptions {
    temporalio_sdk::runtime::RuntimeOptions::builder()
        .heartbeat_interval(worker_heartbeat_interval())
        .build()
        .expect("no heartbeat interval is in range")
}

/// The SDK runtime's options for Lambda; its worker metrics go to our meter when metrics are on.
#[cfg(feature = "otel")]
fn otel_runtime_options(
    telemetry: Option<&otel::Telemetry>,
) -> Result<temporalio_sdk::runtime::RuntimeOptions, ServerlessError> {
    let builder = temporalio_sdk::runtime::RuntimeOptions::builder()
        .heartbeat_interval(worker_heartbeat_interval());
    let Some(meter) = telemetry.and_then(otel::Telemetry::core_meter) else {
        return builder.build().map_err(ServerlessError::Worker);
    };
    let telemetry_options = temporalio_common::telemetry::TelemetryOptions::builder()
        .metrics(meter)
        .build();
    builder
        .telemetry_options(telemetry_options)
        .build()
        .map_err(ServerlessError::Worker)
}

fn print_dry_run(manifest: &Manifest<'_>, task_queue: &str, worker: &LambdaWorker) {
    println!(
        "deployment={} build_id={} task_queue={task_queue}",
        manifest.deployment_name, manifest.build_id
    );
    for (workflow_type, behavior) in worker.versioning_behaviors() {
        println!("workflow {workflow_type} versioning={behavior}");
    }
    #[cfg(feature = "otel")]
    if let Some(setup) = &worker.otel {
        let var = |name: &str| std::env::var(name).ok();
        println!(
            "opentelemetry metrics={} traces={} endpoint={} service_name={}",
            setup.metrics,
            setup.traces,
            setup.options.resolved_endpoint(var),
            setup.options.resolved_service_name(var)
        );
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Where an invocation's time went, in ms, as its `invocation done` line reports it: from the
/// hand-out to the first poll, work (to the last drain's start, of which `idle_ms` at its end),
/// the drain, and the worker's shutdown (graceful period included).
#[derive(Debug, Default, PartialEq)]
struct Phases {
    first_poll_ms: u64,
    work_ms: u64,
    idle_ms: u64,
    drain_ms: u64,
    shutdown_ms: u64,
}

impl Phases {
    /// `work_end` is the timer's result and when it told the worker to stop (absent if the
    /// worker stopped first); `stopped` is when the worker's `run` returned.
    fn of(
        started: tokio::time::Instant,
        first_poll: Option<tokio::time::Instant>,
        work_end: Option<(work_end::WorkEnd, tokio::time::Instant)>,
        stopped: tokio::time::Instant,
    ) -> Self {
        let ms = |from: tokio::time::Instant, to: tokio::time::Instant| {
            to.saturating_duration_since(from).as_millis() as u64
        };
        let working_from = first_poll.unwrap_or(started);
        let Some((end, stop_told)) = work_end else {
            return Self {
                first_poll_ms: ms(started, working_from),
                work_ms: ms(working_from, stopped),
                ..Self::default()
            };
        };
        Self {
            first_poll_ms: ms(started, working_from),
            work_ms: ms(working_from, end.drain_started),
            idle_ms: end.idle.as_millis() as u64,
            drain_ms: ms(end.drain_started, stop_told),
            shutdown_ms: ms(stop_told, stopped),
        }
    }
}

impl Process {
    /// Tells the end policy what this invocation saw: the gaps before its tasks, and, if it ended
    /// idle, what that end cost (drain, shutdown, hooks, and a warm start's hand-out to first
    /// poll, which the next invocation pays again). An end at the work time is no choice, and its
    /// shutdown includes activities still running: no measure of what ending idle costs.
    fn learn(&self, phases: &Phases, hooks_ms: u64, cold: bool, ended_idle: bool) {
        let mut policy = self.end_policy.lock().unwrap();
        for gap in self.observer.take_gaps() {
            policy.saw_gap(gap);
        }
        if ended_idle {
            let start_ms = if cold { 0 } else { phases.first_poll_ms };
            policy.saw_end_cost(Duration::from_millis(
                phases.drain_ms + phases.shutdown_ms + hooks_ms + start_ms,
            ));
        }
    }

    async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, ServerlessError> {
        let started = Instant::now();
        let context = event.context;
        self.observer
            .invocation_started(started, &context.request_id);
        self.gate.open();
        let cold = self.cold.swap(false, Ordering::Relaxed);
        let span = tracing::info_span!(
            "invocation",
            request_id = %context.request_id,
            cold,
            work_time_ms = Empty,
            tasks_completed = Empty,
            stop_reason = Empty,
            trace_id = Empty,
        );
        #[cfg(feature = "otel")]
        let invocation_span = self.telemetry.as_ref().and_then(|telemetry| {
            telemetry.start_invocation(otel::InvocationFacts {
                request_id: &context.request_id,
                invoked_function_arn: &context.invoked_function_arn,
                xray_trace_header: context.xray_trace_id.as_deref(),
                cold,
            })
        });
        let deadline_ms = span.in_scope(|| self.deadline(&context).ms());
        let answer = self
            .serve(&context, deadline_ms, started, cold)
            .instrument(span.clone())
            .await;
        #[cfg(feature = "otel")]
        if let Some(telemetry) = &self.telemetry {
            self.export_telemetry(telemetry, invocation_span, &answer, deadline_ms)
                .instrument(span)
                .await;
        }
        answer
    }

    /// The invocation up to its answer: plan → connect → guard → worker → drain → hooks.
    async fn serve(
        &self,
        context: &lambda_runtime::Context,
        deadline_ms: u64,
        started: Instant,
        cold: bool,
    ) -> Result<Value, ServerlessError> {
        let plan = deadline::plan(
            deadline::remaining(deadline_ms, now_ms()),
            self.worker.shutdown_deadline_buffer(),
        )?;
        tracing::Span::current().record("work_time_ms", plan.work_time.as_millis() as u64);
        if plan.short {
            tracing::warn!(
                work_time_ms = plan.work_time.as_millis() as u64,
                "little work time: activities longer than this will finish in a later invocation; raise the function's timeout"
            );
        }
        let connect_bound = (plan.work_time / 2).min(MAX_CONNECT_TIME);
        let client = self.client(connect_bound).await?;
        let guarded_already = self.guard_passed_for.lock().unwrap().as_deref()
            == Some(context.invoked_function_arn.as_str());
        if self.guard && !guarded_already {
            // Before any poll: a poll could create the version without a compute provider.
            let checking = Instant::now();
            let verdict = tokio::time::timeout(
                connect_bound,
                deployment_guard::check(&client, &self.manifest, &context.invoked_function_arn),
            )
            .await
            .unwrap_or_else(|_| {
                Ok(deployment_guard::Checked::Unverified(format!(
                    "no answer within {} ms",
                    connect_bound.as_millis()
                )))
            });
            tracing::info!(guard_ms = checking.elapsed().as_millis() as u64, verdict = ?verdict.as_ref().map_err(ServerlessError::error_type), "deployment guard");
            if matches!(
                verdict?,
                deployment_guard::Checked::Passed | deployment_guard::Checked::NotLambda
            ) {
                *self.guard_passed_for.lock().unwrap() = Some(context.invoked_function_arn.clone());
            }
        }
        let identity = format!("{}@{}", context.request_id, context.invoked_function_arn);
        let options =
            self.worker
                .worker_options(&self.task_queue, identity, self.deployment_options());
        // The client's registry of its workers: each invocation's worker must leave it when it
        // ends, or the registry keeps it (and what it holds) for the life of the process.
        let registry = client.connection().workers();
        let mut worker = Worker::new(&self.runtime, client, options)
            .map_err(|error| ServerlessError::Worker(error.to_string()))?;
        let shutdown = worker.shutdown_handle();
        let work_time = plan.work_time.saturating_sub(started.elapsed());
        let (window, end_cost) = {
            let policy = self.end_policy.lock().unwrap();
            (policy.window(), policy.end_cost())
        };
        let (observer, gate) = (self.observer.clone(), self.gate.clone());
        let timer = tokio::spawn(
            async move {
                // Shuts the worker down however this task ends, a panic included: otherwise the
                // worker would run on until the invocation is abandoned.
                let _shutdown = panics::OnDrop::new(shutdown);
                let end =
                    work_end::wait_for_work_end(work_time, window.idle, &observer, &gate).await;
                tracing::Span::current().record("stop_reason", end.describe(window));
                // The worker is told to stop as this task ends.
                (end, tokio::time::Instant::now())
            }
            .instrument(tracing::Span::current()),
        );
        // Aborted however `serve` ends, so that a timer cannot outlive its invocation and close
        // the gate on the next one.
        let _timer_abort = panics::OnDrop::new({
            let abort = timer.abort_handle();
            move || abort.abort()
        });
        // `run` returns once the worker has shut down: polls ended, in-flight tasks finished
        // or cancelled after the graceful period. An activity that ignores its cancellation
        // would hold `run` past Lambda's deadline, so the worker is abandoned at the end of
        // the graceful period (plus a little), keeping the rest of the buffer for the hooks
        // and the answer. Polls have stopped by then; only such activities are left, and
        // their attempts time out and are retried by the server.
        let stop_by = (plan.work_time + self.worker.graceful_shutdown + ABANDON_GRACE)
            .saturating_sub(started.elapsed());
        let outcome = match tokio::time::timeout(stop_by, worker.run()).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::Span::current().record(
                    "stop_reason",
                    "abandoned activities that ignored cancellation",
                );
                tracing::warn!(
                    graceful_shutdown_ms = self.worker.graceful_shutdown.as_millis() as u64,
                    "in-flight activities did not stop after cancellation; answering without them so the \
                     invocation ends before its deadline (their attempts will be retried). Make long \
                     activities heartbeat and honour cancellation"
                );
                Ok(())
            }
        };
        let stopped = tokio::time::Instant::now();
        timer.abort();
        let (timer_panic, work_end) = match timer.await {
            Ok(end) => (None, Some(end)),
            Err(error) if error.is_panic() => (Some(panics::message(&*error.into_panic())), None),
            Err(_) => (None, None),
        };
        if let Some(message) = &timer_panic {
            tracing::error!(panic = %message, "the invocation's work-end timer panicked; the worker was shut down");
        }
        // What Core's `finalize_shutdown` does last; the SDK's `run` never calls it. Fails only
        // if the worker never registered.
        if let Err(error) = registry.finalize_unregister(worker.worker_instance_key()) {
            tracing::debug!(%error, "worker was not registered with the client");
        }
        if outcome.is_err() {
            // A connection broken while the process was frozen shows up here; the next
            // invocation connects afresh.
            *self.client.lock().await = None;
        }
        let hooks_started = Instant::now();
        let hook_time = deadline::remaining(deadline_ms, now_ms()).saturating_sub(ANSWER_RESERVE);
        let failed_hooks = match tokio::time::timeout(
            hook_time,
            hooks::run_all(&self.worker.shutdown_hooks),
        )
        .await
        {
            Ok(failed) => failed,
            Err(_) => {
                tracing::error!(
                    hook_time_ms = hook_time.as_millis() as u64,
                    "shutdown hooks overran; answering without waiting for them"
                );
                self.worker.shutdown_hooks.len()
            }
        };
        if self.gate.outstanding() > 0 {
            tracing::warn!(
                outstanding_polls = self.gate.outstanding(),
                "answering with polls outstanding: a task handed to them now waits for its timeout"
            );
        }
        let tasks_completed = self.observer.tasks_completed();
        tracing::Span::current().record("tasks_completed", tasks_completed);
        outcome.map_err(|error| ServerlessError::Worker(error.to_string()))?;
        if let Some(message) = timer_panic {
            return Err(ServerlessError::Panic(message));
        }
        let phases = Phases::of(
            started.into(),
            self.observer.first_poll(),
            work_end,
            stopped,
        );
        let hooks_ms = hooks_started.elapsed().as_millis() as u64;
        let ended_idle = work_end.is_some_and(|(end, _)| end.reason == work_end::StopReason::Idle);
        self.learn(&phases, hooks_ms, cold, ended_idle);
        tracing::info!(
            duration_ms = started.elapsed().as_millis() as u64,
            failed_hooks,
            first_poll_ms = phases.first_poll_ms,
            work_ms = phases.work_ms,
            idle_ms = phases.idle_ms,
            drain_ms = phases.drain_ms,
            shutdown_ms = phases.shutdown_ms,
            hooks_ms,
            idle_window_ms = window.idle.map(|idle| idle.as_millis() as u64),
            end_cost_ms = end_cost.as_millis() as u64,
            "invocation done"
        );
        Ok(json!({
            "deployment": self.manifest.deployment_name,
            "build_id": self.manifest.build_id,
            "cold": cold,
            "work_time_ms": plan.work_time.as_millis() as u64,
            "failed_hooks": failed_hooks,
            "tasks_completed": tasks_completed,
        }))
    }

    /// The deadline the invocation works to: Lambda's, or, when the one sent cannot be Lambda's
    /// (a local emulator's, see [`deadline::invocation_deadline`]), the local work time's, with a
    /// warning the first time in the process.
    fn deadline(&self, context: &lambda_runtime::Context) -> deadline::Deadline {
        let deadline = deadline::invocation_deadline(
            context.deadline,
            now_ms(),
            self.started_ms,
            self.local_work_time,
            self.worker.shutdown_deadline_buffer(),
        );
        if let deadline::Deadline::Local {
            sent_ms, reason, ..
        } = deadline
            && !self.local_deadline_warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                sent_deadline_ms = sent_ms,
                local_work_time_s = self.local_work_time.as_secs(),
                "the invocation's deadline cannot be Lambda's ({}): a local emulator such as `cargo lambda watch` sends such a deadline, so each invocation works for {} s instead (set {} to change it); on Lambda this never happens",
                reason.as_str(),
                self.local_work_time.as_secs(),
                deadline::LOCAL_WORK_TIME_VARIABLE,
            );
        }
        deadline
    }

    /// The last step before the answer, after the shutdown hooks: end the invocation's span and
    /// flush spans and metrics, because Lambda freezes the process once it has the answer.
    /// Bounded by the flush timeout and by the time left, so a dead collector cannot make the
    /// invocation miss its deadline.
    #[cfg(feature = "otel")]
    async fn export_telemetry(
        &self,
        telemetry: &otel::Telemetry,
        invocation_span: Option<otel::InvocationSpan>,
        answer: &Result<Value, ServerlessError>,
        deadline_ms: u64,
    ) {
        if let Some(span) = invocation_span {
            tracing::Span::current().record("trace_id", span.trace_id().to_string());
            let error = answer.as_ref().err().map(ServerlessError::redacted_message);
            telemetry.end_invocation(span, self.observer.tasks_completed(), error.as_deref());
        }
        let bound = deadline::remaining(deadline_ms, now_ms())
            .saturating_sub(ANSWER_RESERVE)
            .min(telemetry.flush_timeout());
        let flushing = Instant::now();
        match telemetry.flush(bound).await {
            Ok(()) => tracing::info!(
                flush_ms = flushing.elapsed().as_millis() as u64,
                "telemetry flushed"
            ),
            Err(problem) => tracing::warn!(
                flush_ms = flushing.elapsed().as_millis() as u64,
                "{problem}"
            ),
        }
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
            |options| self.instrument_client(options),
        )
        .await?;
        tracing::info!(
            connect_ms = connecting.elapsed().as_millis() as u64,
            "connected to Temporal"
        );
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The client options with the SDK's tracing plugin when traces are on.
    fn instrument_client(&self, options: ClientOptions) -> ClientOptions {
        #[cfg(feature = "otel")]
        if let Some(telemetry) = &self.telemetry {
            return telemetry.instrument_client(options);
        }
        options
    }

    fn deployment_options(&self) -> WorkerDeploymentOptions {
        let version = WorkerDeploymentVersion::builder()
            .deployment_name(self.manifest.deployment_name)
            .build_id(self.manifest.build_id)
            .build();
        // No worker-wide default: the versioning relay stamps each workflow type's own behavior.
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
    let relay = VersioningRelay::new(
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

    #[test]
    fn phases_split_the_invocation_at_first_poll_drain_and_stop() {
        let started = tokio::time::Instant::now();
        let at = |ms| started + Duration::from_millis(ms);
        let end = work_end::WorkEnd {
            reason: work_end::StopReason::Idle,
            drain_started: at(700),
            idle: Duration::from_millis(500),
        };
        assert_eq!(
            Phases::of(started, Some(at(30)), Some((end, at(760))), at(790)),
            Phases {
                first_poll_ms: 30,
                work_ms: 670,
                idle_ms: 500,
                drain_ms: 60,
                shutdown_ms: 30,
            }
        );
        // A worker that stopped by itself (an error) before the timer did: all of it is work.
        assert_eq!(
            Phases::of(started, None, None, at(400)),
            Phases {
                work_ms: 400,
                ..Phases::default()
            }
        );
    }

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
