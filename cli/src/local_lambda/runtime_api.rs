//! Lambda's Runtime API for one instance: the process fetches events with `invocation/next` and
//! answers with `response` or `error` (or `init/error` before its first event). Each instance
//! gets its own listener, as each Lambda sandbox has its own endpoint.

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};
use tokio::sync::{mpsc, oneshot};

/// An event for the instance.
pub struct Job {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
    /// The function's timeout: the deadline is this long after the process takes the event.
    pub timeout: std::time::Duration,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_arn: String,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: String,
    /// Told when the process takes the event, with the deadline it was given (ms since epoch).
    pub taken: oneshot::Sender<(Instant, u64)>,
    /// Told how the invocation ended.
    pub answer: oneshot::Sender<Answer>,
}

/// What the process posted.
#[derive(Debug)]
pub enum Answer {
    /// `invocation/{id}/response`.
    Response(Bytes),
    /// `invocation/{id}/error`.
    Error(Bytes),
}

struct ApiState {
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<Bytes>>,
}

/// A running Runtime API endpoint.
pub struct RuntimeApi {
    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub address: SocketAddr,
    state: Arc<ApiState>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves on a free loopback port; events arrive through `jobs`.
    pub async fn start(jobs: mpsc::Receiver<Job>) -> std::io::Result<Self> {
        let state = Arc::new(ApiState {
            jobs: tokio::sync::Mutex::new(jobs),
            in_flight: Mutex::default(),
            first_next: Mutex::default(),
            init_error: Mutex::default(),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// When the process first asked for an event (the end of its init phase).
    pub fn first_next(&self) -> Option<Instant> {
        *self.state.first_next.lock().unwrap()
    }

    /// What the process posted to `init/error`, if anything.
    pub fn init_error(&self) -> Option<Bytes> {
        self.state.init_error.lock().unwrap().clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    state
        .first_next
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    let job = state.jobs.lock().await.recv().await;
    let Some(job) = job else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let deadline_ms = super::now_ms() + job.timeout.as_millis() as u64;
    let _ = job.taken.send((Instant::now(), deadline_ms));
    state
        .in_flight
        .lock()
        .unwrap()
        .insert(job.request_id.clone(), job.answer);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", job.request_id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", job.invoked_arn),
        ("lambda-runtime-trace-id", job.trace_id),
        ("content-type", "application/json".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, job.payload)
}

fn answer(state: &ApiState, id: &str, answer: Answer) -> StatusCode {
    match state.in_flight.lock().unwrap().remove(id) {
        Some(sender) => {
            let _ = sender.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&state, &id, Answer::Response(body))
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&state, &id, Answer::Error(body))
}

async fn init_error(State(state): State<Arc<ApiState>>, body: Bytes) -> StatusCode {
    *state.init_error.lock().unwrap() = Some(body);
    StatusCode::ACCEPTED
}
