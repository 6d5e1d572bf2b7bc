//! Instances of each function: warm ones are reused, cold ones started when all are busy, up to
//! the concurrency limit; one invocation at a time per instance; idle instances frozen until
//! their next event; an instance that misses its deadline or dies is killed and forgotten, as
//! Lambda does.

use super::{
    event_queue::{EVENT_QUEUE_BOUND, EventQueue, QueueFull, QueuedEvent},
    function::FunctionConfig,
    now_ms,
    record::{self, InvocationRecord, Outcome, Sink},
    runtime_api::{Answer, FunctionError, Job, RuntimeApi},
};
use axum::body::Bytes;
use std::{
    process::{ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::{
    process::{Child, Command},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch},
};

/// How long a process may take to initialise (Lambda's init phase limit).
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an invocation returned.
#[derive(Debug)]
pub enum InvokeResult {
    /// The function's response payload.
    Response(Bytes),
    /// The function's error, or a response too large to deliver; the instance lives on.
    FunctionError(FunctionError),
    /// Killed at its deadline.
    TimedOut { timeout: Duration },
    /// The process failed to start or initialise, or exited mid-invocation; it is gone.
    Crashed(FunctionError),
}

impl InvokeResult {
    /// The error the caller gets, unless the invocation succeeded.
    pub fn error(&self, request_id: &str) -> Option<FunctionError> {
        match self {
            Self::Response(_) => None,
            Self::FunctionError(error) | Self::Crashed(error) => Some(error.clone()),
            Self::TimedOut { timeout } => Some(FunctionError::lambda(
                "Sandbox.Timedout",
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    timeout.as_secs_f64()
                ),
            )),
        }
    }

    /// How it ended, as recorded.
    fn outcome(&self) -> Outcome {
        match self {
            Self::Response(_) => Outcome::Success,
            Self::FunctionError(_) => Outcome::Error,
            Self::TimedOut { .. } => Outcome::Timeout,
            Self::Crashed(_) => Outcome::Crash,
        }
    }
}

struct Instance {
    id: String,
    child: Child,
    jobs: mpsc::Sender<Job>,
    api: RuntimeApi,
    started: Instant,
    /// When it last finished an invocation.
    idle_since: Instant,
    /// Stopped (SIGSTOP) while idle.
    frozen: bool,
}

impl Instance {
    /// Sends `signal` to the process, unless it has been reaped (its pid may be reused).
    fn signal(&self, signal: libc::c_int) -> bool {
        let Some(pid) = self.child.id() else {
            return false;
        };
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own unreaped child.
        unsafe { libc::kill(pid as libc::pid_t, signal) == 0 }
    }

    /// Continues a frozen process.
    fn thaw(&mut self) {
        if self.frozen {
            self.signal(libc::SIGCONT);
            self.frozen = false;
        }
    }

    /// Process start to its first `invocation/next`, ms, if it was started for this invocation.
    fn init_duration_ms(&self, cold: bool) -> Option<f64> {
        cold.then(|| {
            self.api
                .first_next()
                .map(|at| (at - self.started).as_secs_f64() * 1000.0)
        })
        .flatten()
    }

    /// Kills the process and reaps it, in the background. SIGKILL ends a stopped process too.
    fn retire(mut self) {
        tokio::spawn(async move {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        });
    }
}

/// A hosted function and its instances.
pub struct Function {
    /// Its configuration.
    pub config: FunctionConfig,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
    events: EventQueue,
    next_instance: AtomicU64,
}

/// Every hosted function, and where records go.
pub struct Service {
    functions: Vec<Arc<Function>>,
    records: Sink,
    next_request: AtomicU64,
}

impl Function {
    /// A free instance slot now, or `None` at the concurrency limit (Lambda throttles a
    /// synchronous invoke then rather than making it wait).
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Waits for a free instance slot, in arrival order (the semaphore is fair).
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// A place in the `Event` queue for a payload of `bytes`, or why there is none (it holds
    /// [`EVENT_QUEUE_BOUND`]).
    pub fn queue_event(&self, bytes: usize) -> Result<QueuedEvent, QueueFull> {
        self.events.admit(bytes)
    }
}

impl Service {
    /// A service for these functions.
    pub fn new(functions: Vec<FunctionConfig>, records: Sink) -> Self {
        Self {
            functions: functions
                .into_iter()
                .map(|config| {
                    Arc::new(Function {
                        slots: Arc::new(Semaphore::new(config.concurrency)),
                        config,
                        idle: Mutex::default(),
                        events: EventQueue::new(EVENT_QUEUE_BOUND),
                        next_instance: AtomicU64::new(1),
                    })
                })
                .collect(),
            records,
            next_request: AtomicU64::new(1),
        }
    }

    /// The hosted functions' configurations.
    pub fn functions(&self) -> impl Iterator<Item = &FunctionConfig> {
        self.functions.iter().map(|function| &function.config)
    }

    /// The function `name_or_arn` designates.
    pub fn find(&self, name_or_arn: &str) -> Option<Arc<Function>> {
        self.functions
            .iter()
            .find(|function| function.config.matches(name_or_arn))
            .cloned()
    }

    /// A fresh request id.
    pub fn request_id(&self) -> String {
        let sequence = self.next_request.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (nanos >> 20) as u32,
            (nanos & 0xffff) as u16,
            std::process::id() & 0xfff,
            sequence & 0xfff,
            sequence
        )
    }

    /// Runs one invocation in the instance slot `slot` to its end and records it. The caller
    /// should run it as a task of its own: dropped midway, it would kill a busy instance.
    pub async fn invoke(
        &self,
        function: Arc<Function>,
        slot: OwnedSemaphorePermit,
        request_id: String,
        payload: Bytes,
        invoked_arn: String,
        invocation_type: &str,
    ) -> InvokeResult {
        let _slot = slot;
        let (mut instance, cold) = match function.instance().await {
            Ok(found) => found,
            Err(crashed) => return crashed,
        };
        let timeout = function.config.timeout;
        let trace_header = xray_trace_header(&request_id);
        let started_at_ms = now_ms();
        self.records.started(
            &function.config.name,
            &request_id,
            &instance.id,
            instance.child.id(),
        );
        let (taken, answered, result) = hand_over(
            &mut instance,
            &request_id,
            payload,
            invoked_arn,
            &trace_header,
            timeout,
        )
        .await;
        let duration = answered.saturating_duration_since(taken);
        let outcome = result.outcome();
        let error = result.error(&request_id);
        let record = InvocationRecord {
            request_id,
            trace_header,
            function: function.config.name.clone(),
            instance: instance.id.clone(),
            cold,
            invocation_type: invocation_type.to_owned(),
            init_duration_ms: instance.init_duration_ms(cold),
            duration_ms: duration.as_secs_f64() * 1000.0,
            billed_duration_ms: duration.as_nanos().div_ceil(1_000_000) as u64,
            outcome,
            error_type: error.as_ref().map(|error| error.error_type.clone()),
            error_message: error.as_ref().and_then(FunctionError::message),
            deadline_margin_ms: timeout.as_millis() as i64 - duration.as_millis() as i64,
            max_memory_used_mb: instance.child.id().and_then(record::max_memory_mb),
            started_at_ms,
        };
        self.records.write(&record);
        function.take_back(instance, outcome).await;
        result
    }

    /// Stops every idle instance (frozen ones too); busy ones are killed when their invocations
    /// are dropped.
    pub async fn stop_all(&self) {
        for function in &self.functions {
            let idle: Vec<Instance> = std::mem::take(&mut *function.idle.lock().unwrap());
            for mut instance in idle {
                let _ = instance.child.start_kill();
                let _ = instance.child.wait().await;
            }
        }
    }
}

/// Freezes the instance `id` once it is idle and waits in `invocation/next`, as Lambda freezes
/// an environment when its runtime asks for the next event: whatever the function does after
/// its answer (a flush, a log line) runs first. Under the idle lock, so that an invocation
/// taking the instance either finds it frozen (and thaws it) or keeps it from being frozen.
async fn freeze_when_parked(
    function: Arc<Function>,
    id: String,
    mut parked: watch::Receiver<bool>,
) {
    loop {
        if parked.wait_for(|parked| *parked).await.is_err() {
            return;
        }
        let mut idle = function.idle.lock().unwrap();
        let Some(instance) = idle.iter_mut().find(|instance| instance.id == id) else {
            return;
        };
        if instance.frozen {
            return;
        }
        if *parked.borrow() {
            instance.frozen = instance.signal(libc::SIGSTOP);
            return;
        }
    }
}

/// The `Lambda-Runtime-Trace-Id` Lambda sends with active tracing off: an X-Ray trace (epoch
/// seconds, then 24 hex digits), Lambda's own segment as the parent, not sampled. Derived from the
/// request id so a record leads to its trace.
fn xray_trace_header(request_id: &str) -> String {
    let hex = request_id.replace('-', "");
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now_ms() / 1000,
        &hex[..24],
        &hex[16..32]
    )
}

/// How Lambda words a process's end: `exit status 3`, `signal: killed` (Go's wording, which
/// its `Runtime.ExitError` messages carry).
fn exit_wording(status: std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let Ok(status) = status else {
        return "unknown status".to_owned();
    };
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => "signal: killed".to_owned(),
        Some(libc::SIGSEGV) => "signal: segmentation fault".to_owned(),
        Some(libc::SIGABRT) => "signal: aborted".to_owned(),
        Some(libc::SIGTERM) => "signal: terminated".to_owned(),
        Some(libc::SIGBUS) => "signal: bus error".to_owned(),
        Some(libc::SIGILL) => "signal: illegal instruction".to_owned(),
        Some(signal) => format!("signal: {signal}"),
        None => status.to_string(),
    }
}

/// Lambda's error for a process that ended while it held an invocation or was initialising.
fn exit_error(request_id: &str, status: std::io::Result<ExitStatus>) -> FunctionError {
    FunctionError::lambda(
        "Runtime.ExitError",
        format!(
            "RequestId: {request_id} Error: Runtime exited with error: {}",
            exit_wording(status)
        ),
    )
}

/// Hands the event to the instance and waits for its answer: when the instance took the event,
/// when it answered, and how it ended (the hand-over and now if it never took the event).
/// The deadline runs from the hand-over, as Lambda's does (init has its own limit).
async fn hand_over(
    instance: &mut Instance,
    request_id: &str,
    payload: Bytes,
    invoked_arn: String,
    trace_header: &str,
    timeout: Duration,
) -> (Instant, Instant, InvokeResult) {
    let (taken_tx, taken_rx) = oneshot::channel();
    let (answer_tx, answer_rx) = oneshot::channel();
    let job = Job {
        request_id: request_id.to_owned(),
        payload,
        timeout,
        invoked_arn,
        trace_id: trace_header.to_owned(),
        taken: taken_tx,
        answer: answer_tx,
    };
    let dispatched = Instant::now();
    let result = if instance.jobs.send(job).await.is_err() {
        Err(InvokeResult::Crashed(FunctionError::lambda(
            "Runtime.Unknown",
            format!("RequestId: {request_id} Error: the instance stopped before taking the event"),
        )))
    } else {
        run_to_answer(instance, request_id, taken_rx, answer_rx, timeout).await
    };
    match result {
        Ok((taken, answered, result)) => (taken, answered, result),
        Err(result) => (dispatched, Instant::now(), result),
    }
}

/// Waits for the instance to take the event and answer it, within its init and run limits.
async fn run_to_answer(
    instance: &mut Instance,
    request_id: &str,
    taken_rx: oneshot::Receiver<(Instant, u64)>,
    answer_rx: oneshot::Receiver<Answer>,
    timeout: Duration,
) -> Result<(Instant, Instant, InvokeResult), InvokeResult> {
    let mut init_error = instance.api.init_error();
    let taken = tokio::select! {
        // An init error first: the process exits right after posting it.
        biased;
        taken = taken_rx => match taken {
            Ok((at, _deadline_ms)) => at,
            Err(_) => return Err(InvokeResult::Crashed(FunctionError::lambda(
                "Runtime.Unknown",
                format!("RequestId: {request_id} Error: the instance dropped the event"),
            ))),
        },
        // Lambda ends the init phase when the runtime reports its failure, with the runtime's
        // own error; it does not wait for the process to exit.
        Ok(error) = init_error.wait_for(Option::is_some) => {
            return Err(InvokeResult::Crashed(error.clone().expect("waited for an error")));
        }
        status = instance.child.wait() => return Err(InvokeResult::Crashed(exit_error(request_id, status))),
        _ = tokio::time::sleep(INIT_TIMEOUT) => {
            return Err(InvokeResult::Crashed(FunctionError::lambda(
                "Sandbox.Timedout",
                format!("RequestId: {request_id} Error: the process did not ask for an event within {INIT_TIMEOUT:?} (init phase)"),
            )));
        }
    };
    let deadline = taken + timeout;
    let result = tokio::select! {
        answer = answer_rx => match answer {
            Ok(Answer::Response(body)) => InvokeResult::Response(body),
            Ok(Answer::Error(error)) => InvokeResult::FunctionError(error),
            Err(_) => InvokeResult::Crashed(FunctionError::lambda(
                "Runtime.Unknown",
                format!("RequestId: {request_id} Error: the event was lost"),
            )),
        },
        status = instance.child.wait() => InvokeResult::Crashed(exit_error(request_id, status)),
        _ = tokio::time::sleep_until(deadline.into()) => InvokeResult::TimedOut { timeout },
    };
    Ok((taken, Instant::now(), result))
}

impl Function {
    /// A warm instance if one is idle, else a new one, and whether it is new (cold); the
    /// invocation's result when none can start.
    async fn instance(&self) -> Result<(Instance, bool), InvokeResult> {
        if let Some(instance) = self.take_idle() {
            return Ok((instance, false));
        }
        match self.start_instance().await {
            Ok(instance) => Ok((instance, true)),
            Err(message) => Err(InvokeResult::Crashed(FunctionError::lambda(
                "Runtime.InvalidEntrypoint",
                message,
            ))),
        }
    }

    /// After an invocation: an instance that answered goes back to the idle ones (to be frozen
    /// once it asks for its next event); one that timed out or crashed is killed.
    async fn take_back(self: &Arc<Self>, mut instance: Instance, outcome: Outcome) {
        if matches!(outcome, Outcome::Success | Outcome::Error) {
            instance.idle_since = Instant::now();
            let parked = instance.api.parked();
            let id = instance.id.clone();
            self.idle.lock().unwrap().push(instance);
            if self.config.freeze {
                tokio::spawn(freeze_when_parked(self.clone(), id, parked));
            }
        } else {
            let _ = instance.child.start_kill();
            let _ = instance.child.wait().await;
        }
    }

    /// A warm instance, thawed, if one is idle and alive.
    fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap();
        // Instances idle past the keep-warm time are reclaimed, as Lambda does.
        let (warm, expired): (Vec<Instance>, Vec<Instance>) = std::mem::take(&mut *idle)
            .into_iter()
            .partition(|instance| instance.idle_since.elapsed() < self.config.keep_warm);
        *idle = warm;
        expired.into_iter().for_each(Instance::retire);
        while let Some(mut instance) = idle.pop() {
            // A stopped process is not reported here (no WUNTRACED): only one that exited.
            if matches!(instance.child.try_wait(), Ok(None)) {
                instance.thaw();
                return Some(instance);
            }
        }
        None
    }

    async fn start_instance(&self) -> Result<Instance, String> {
        let number = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{number}", self.config.name);
        let (jobs, jobs_rx) = mpsc::channel(1);
        let api = RuntimeApi::start(jobs_rx)
            .await
            .map_err(|error| format!("runtime API: {error}"))?;
        let config = &self.config;
        let task_root = config
            .command
            .parent()
            .map(|dir| dir.to_path_buf())
            .unwrap_or_default();
        let started = Instant::now();
        let child = Command::new(&config.command)
            .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &config.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", config.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[$LATEST]{id}"))
            .env("AWS_REGION", &config.region)
            .env("AWS_DEFAULT_REGION", &config.region)
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("_HANDLER", "bootstrap")
            .envs(config.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", config.command.display()))?;
        Ok(Instance {
            id,
            child,
            jobs,
            api,
            started,
            idle_since: started,
            frozen: false,
        })
    }
}
