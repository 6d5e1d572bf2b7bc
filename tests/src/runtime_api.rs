//! The Lambda Runtime API (`/2018-06-01/runtime/...`), served on loopback for function processes
//! under test: invocations are queued by the test, fetched by the function with
//! `invocation/next`, and answered with `response` or `error`, as in Lambda.

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::Value;
use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::{Notify, oneshot};

/// The ARN every invocation is made for.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fixture:live";

/// How an invocation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The function posted a response.
    Response(Value),
    /// The function posted an error (`errorType`, `errorMessage`).
    Error(Value),
    /// Nothing was posted by the deadline (plus a short grace): Lambda would have killed it.
    TimedOut,
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// From the test's invoke to the function's `invocation/next` receiving it.
    pub picked_up_after: Option<Duration>,
    /// From the test's invoke to the function's answer (or the time-out).
    pub duration: Duration,
    /// Time left before the deadline when the function answered (negative: after it).
    pub margin_ms: i64,
}

struct Pending {
    request_id: String,
    payload: Value,
    deadline_ms: u64,
    queued_at: Instant,
    picked_up: oneshot::Sender<Instant>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    answers: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
}

/// A Runtime API server on 127.0.0.1, stopped when dropped.
pub struct RuntimeApi {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    address: SocketAddr,
    next_request: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    /// Starts serving on a free loopback port.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, router).await });
        Self {
            runtime,
            shared,
            address,
            next_request: Default::default(),
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Invokes the function with `payload` and a deadline `timeout` from now; blocks until it
    /// answers, or until the deadline plus one second.
    pub fn invoke(&self, payload: Value, timeout: Duration) -> Invocation {
        let number = self
            .next_request
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request_id = format!("req-{}-{number}", std::process::id());
        let deadline_ms = now_ms() + timeout.as_millis() as u64;
        let (answer_tx, answer_rx) = oneshot::channel();
        let (picked_tx, picked_rx) = oneshot::channel();
        let queued_at = Instant::now();
        self.shared
            .answers
            .lock()
            .unwrap()
            .insert(request_id.clone(), answer_tx);
        self.shared.queue.lock().unwrap().push_back(Pending {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
            queued_at,
            picked_up: picked_tx,
        });
        self.shared.queued.notify_one();
        let outcome = self.runtime.block_on(async {
            tokio::time::timeout(timeout + Duration::from_secs(1), answer_rx)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(Outcome::TimedOut)
        });
        let duration = queued_at.elapsed();
        let picked_up_after = self
            .runtime
            .block_on(async { tokio::time::timeout(Duration::from_millis(1), picked_rx).await })
            .ok()
            .and_then(Result::ok)
            .map(|at| at - queued_at);
        Invocation {
            request_id,
            outcome,
            picked_up_after,
            duration,
            margin_ms: deadline_ms as i64 - now_ms() as i64,
        }
    }

    /// What the function posted to `init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().unwrap().clone()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let pending = loop {
        let notified = shared.queued.notified();
        if let Some(pending) = shared.queue.lock().unwrap().pop_front() {
            break pending;
        }
        notified.await;
    };
    let _ = pending.picked_up.send(Instant::now());
    let _ = pending.queued_at;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("lambda-runtime-aws-request-id", pending.request_id);
    set(
        "lambda-runtime-deadline-ms",
        pending.deadline_ms.to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        FUNCTION_ARN.to_owned(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
    );
    set("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, pending.payload.to_string())
}

fn answer(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.answers.lock().unwrap().remove(id) {
        Some(sender) => {
            let _ = sender.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&shared, &id, Outcome::Response(json(&body)))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&shared, &id, Outcome::Error(json(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap() = Some(json(&body));
    StatusCode::ACCEPTED
}
