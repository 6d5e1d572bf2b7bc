//! Instances of each function: warm ones are reused, cold ones started when all are busy, up to
//! the concurrency limit; one invocation at a time per instance; an instance that misses its
//! deadline or dies is killed and forgotten, as Lambda does.

use super::{
    function::FunctionConfig,
    now_ms,
    record::{self, InvocationRecord, Outcome, Sink},
    runtime_api::{Answer, Job, RuntimeApi},
};
use axum::body::Bytes;
use std::{
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::{
    process::{Child, Command},
    sync::{Semaphore, mpsc, oneshot},
};

/// How long a process may take to initialise (Lambda's init phase limit).
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an invocation returned.
#[derive(Debug)]
pub enum InvokeResult {
    /// The function's response payload.
    Response(Bytes),
    /// The function's error document.
    FunctionError(Bytes),
    /// Killed at its deadline.
    TimedOut { timeout: Duration },
    /// The process failed to start, initialise, or exited mid-invocation.
    Crashed(String),
}

struct Instance {
    id: String,
    child: Child,
    jobs: mpsc::Sender<Job>,
    api: RuntimeApi,
    started: Instant,
    /// When it last finished an invocation.
    idle_since: Instant,
}

/// A hosted function and its instances.
pub struct Function {
    /// Its configuration.
    pub config: FunctionConfig,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
    next_instance: AtomicU64,
}

/// Every hosted function, and where records go.
pub struct Service {
    functions: Vec<Arc<Function>>,
    records: Sink,
    next_request: AtomicU64,
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

    /// Runs one invocation to its end and records it.
    pub async fn invoke(
        &self,
        function: &Function,
        request_id: String,
        payload: Bytes,
        invoked_arn: String,
        invocation_type: &str,
    ) -> InvokeResult {
        let _permit = function
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        let reused = function.take_idle();
        let cold = reused.is_none();
        let mut instance = match reused {
            Some(instance) => instance,
            None => match function.start_instance().await {
                Ok(instance) => instance,
                Err(message) => return InvokeResult::Crashed(message),
            },
        };
        let (taken_tx, taken_rx) = oneshot::channel();
        let (answer_tx, answer_rx) = oneshot::channel();
        let timeout = function.config.timeout;
        // The deadline runs from the hand-over, as Lambda's does (init has its own limit).
        let trace_header = xray_trace_header(&request_id);
        let job = Job {
            request_id: request_id.clone(),
            payload,
            timeout,
            invoked_arn,
            trace_id: trace_header.clone(),
            taken: taken_tx,
            answer: answer_tx,
        };
        let started_at_ms = now_ms();
        let dispatched = Instant::now();
        let result = if instance.jobs.send(job).await.is_err() {
            Err(InvokeResult::Crashed(
                "the instance stopped before taking the event".to_owned(),
            ))
        } else {
            run_to_answer(&mut instance, taken_rx, answer_rx, timeout).await
        };
        let (taken, answered, result) = match result {
            Ok((taken, answered, result)) => (taken, answered, result),
            Err(result) => (dispatched, Instant::now(), result),
        };
        let duration = answered.saturating_duration_since(taken);
        let outcome = match &result {
            InvokeResult::Response(_) => Outcome::Success,
            InvokeResult::FunctionError(_) => Outcome::Error,
            InvokeResult::TimedOut { .. } => Outcome::Timeout,
            InvokeResult::Crashed(_) => Outcome::Crash,
        };
        let record = InvocationRecord {
            request_id,
            trace_header,
            function: function.config.name.clone(),
            instance: instance.id.clone(),
            cold,
            invocation_type: invocation_type.to_owned(),
            init_duration_ms: cold
                .then(|| {
                    instance
                        .api
                        .first_next()
                        .map(|at| (at - instance.started).as_secs_f64() * 1000.0)
                })
                .flatten(),
            duration_ms: duration.as_secs_f64() * 1000.0,
            billed_duration_ms: duration.as_nanos().div_ceil(1_000_000) as u64,
            outcome,
            deadline_margin_ms: timeout.as_millis() as i64 - duration.as_millis() as i64,
            max_memory_used_mb: instance.child.id().and_then(record::max_memory_mb),
            started_at_ms,
        };
        self.records.write(&record);
        if matches!(outcome, Outcome::Success | Outcome::Error) {
            instance.idle_since = Instant::now();
            function.idle.lock().unwrap().push(instance);
        } else {
            let _ = instance.child.start_kill();
            let _ = instance.child.wait().await;
        }
        result
    }

    /// Stops every idle instance; busy ones are killed when their invocations are dropped.
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

/// Waits for the instance to take the event and answer it, within its init and run limits.
async fn run_to_answer(
    instance: &mut Instance,
    taken_rx: oneshot::Receiver<(Instant, u64)>,
    answer_rx: oneshot::Receiver<Answer>,
    timeout: Duration,
) -> Result<(Instant, Instant, InvokeResult), InvokeResult> {
    let taken = tokio::select! {
        taken = taken_rx => match taken {
            Ok((at, _deadline_ms)) => at,
            Err(_) => return Err(InvokeResult::Crashed("the instance dropped the event".to_owned())),
        },
        status = instance.child.wait() => {
            let init_error = instance.api.init_error().map(|body| String::from_utf8_lossy(&body).into_owned());
            return Err(InvokeResult::Crashed(format!(
                "the process exited during init ({}){}",
                status.map(|status| status.to_string()).unwrap_or_default(),
                init_error.map(|error| format!(": {error}")).unwrap_or_default()
            )));
        }
        _ = tokio::time::sleep(INIT_TIMEOUT) => {
            return Err(InvokeResult::Crashed(format!("the process did not ask for an event within {INIT_TIMEOUT:?}")));
        }
    };
    let deadline = taken + timeout;
    let result = tokio::select! {
        answer = answer_rx => match answer {
            Ok(Answer::Response(body)) => InvokeResult::Response(body),
            Ok(Answer::Error(body)) => InvokeResult::FunctionError(body),
            Err(_) => InvokeResult::Crashed("the event was lost".to_owned()),
        },
        status = instance.child.wait() => InvokeResult::Crashed(format!(
            "the process exited during the invocation ({})",
            status.map(|status| status.to_string()).unwrap_or_default()
        )),
        _ = tokio::time::sleep_until(deadline.into()) => InvokeResult::TimedOut { timeout },
    };
    Ok((taken, Instant::now(), result))
}

impl Function {
    fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap();
        // Instances idle past the keep-warm time are reclaimed (killed on drop), as Lambda does.
        idle.retain(|instance| instance.idle_since.elapsed() < self.config.keep_warm);
        while let Some(mut instance) = idle.pop() {
            if matches!(instance.child.try_wait(), Ok(None)) {
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
        })
    }
}
