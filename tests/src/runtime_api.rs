//! Drives one function process through Lambda's Runtime API, as Lambda would: the test queues an
//! invocation and waits for the answer. The Runtime API itself is the local Lambda service's
//! (`temporal_serverless_cli::local_lambda::runtime_api`), so tests and the service share one
//! implementation of the protocol.

use serde_json::Value;
use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use temporal_serverless_cli::local_lambda::runtime_api::{Answer, Job, RuntimeApi as Endpoint};
use tokio::sync::{mpsc, oneshot};

/// The ARN every invocation is made for.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fixture:live";

/// How long a process may take to ask for its first event.
const PICK_UP_TIMEOUT: Duration = Duration::from_secs(20);

/// How an invocation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The function posted a response.
    Response(Value),
    /// The function posted an error (`errorType`, `errorMessage`).
    Error(Value),
    /// Nothing was posted by the deadline (plus a second): Lambda would have killed it.
    TimedOut,
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// From the process taking the event to its answer (or the time-out).
    pub duration: Duration,
    /// Time left before the deadline when the function answered (negative: after it).
    pub margin_ms: i64,
}

/// A Runtime API on 127.0.0.1 for one function process; stopped when dropped.
pub struct RuntimeApi {
    runtime: tokio::runtime::Runtime,
    endpoint: Endpoint,
    jobs: mpsc::Sender<Job>,
    next_request: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

impl RuntimeApi {
    /// Starts serving on a free loopback port.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (jobs, jobs_rx) = mpsc::channel(16);
        let endpoint = runtime
            .block_on(Endpoint::start(jobs_rx))
            .expect("the Runtime API listens");
        Self {
            runtime,
            endpoint,
            jobs,
            next_request: AtomicU64::new(0),
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        let address: SocketAddr = self.endpoint.address;
        address.to_string()
    }

    /// Invokes the function with `payload` and a deadline `timeout` after it takes the event;
    /// blocks until it answers, or until the deadline plus one second.
    pub fn invoke(&self, payload: Value, timeout: Duration) -> Invocation {
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("req-{}-{number}", std::process::id());
        let (taken_tx, taken_rx) = oneshot::channel();
        let (answer_tx, answer_rx) = oneshot::channel();
        let job = Job {
            request_id: request_id.clone(),
            payload: payload.to_string().into(),
            timeout,
            invoked_arn: FUNCTION_ARN.to_owned(),
            trace_id: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
                .to_owned(),
            taken: taken_tx,
            answer: answer_tx,
        };
        self.runtime.block_on(async {
            self.jobs
                .send(job)
                .await
                .expect("the Runtime API is running");
            let Ok(Ok((taken_at, deadline_ms))) =
                tokio::time::timeout(PICK_UP_TIMEOUT, taken_rx).await
            else {
                return Invocation {
                    request_id: request_id.clone(),
                    outcome: Outcome::TimedOut,
                    duration: Duration::ZERO,
                    margin_ms: 0,
                };
            };
            let answer = tokio::time::timeout(timeout + Duration::from_secs(1), answer_rx).await;
            let outcome = match answer {
                Ok(Ok(Answer::Response(body))) => Outcome::Response(json(&body)),
                Ok(Ok(Answer::Error(error))) => Outcome::Error(json(&error.body)),
                _ => Outcome::TimedOut,
            };
            Invocation {
                request_id: request_id.clone(),
                outcome,
                duration: taken_at.elapsed(),
                margin_ms: deadline_ms as i64 - now_ms() as i64,
            }
        })
    }

    /// What the function posted to `init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        self.endpoint
            .init_error()
            .borrow()
            .as_ref()
            .map(|error| json(&error.body))
    }

    /// The `Lambda-Runtime-Function-Error-Type` of what the function posted to `init/error` (the
    /// document's `errorType` if the header was missing), if it posted anything.
    pub fn init_error_type(&self) -> Option<String> {
        self.endpoint
            .init_error()
            .borrow()
            .as_ref()
            .map(|error| error.error_type.clone())
    }

    /// When the process first asked for an event.
    pub fn first_next(&self) -> Option<Instant> {
        self.endpoint.first_next()
    }
}
