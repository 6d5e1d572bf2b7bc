//! Lambda's Runtime API for one instance: the process fetches events with `invocation/next` and
//! answers with `response` or `error` (or `init/error` before its first event). Each instance
//! gets its own listener, as each Lambda sandbox has its own endpoint. Like the control plane,
//! it answers only requests addressed to a loopback name: a web page that found its port through
//! DNS rebinding could otherwise take the instance's events, or answer them.

use super::{
    BodyError,
    loopback_host::{Refusal, loopback_only},
    read_capped,
};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};
use tokio::sync::{mpsc, oneshot, watch};

/// The largest response a function may post. Lambda documents 6 MB; the number it enforces and
/// names in its errors is this one.
pub const RESPONSE_LIMIT: usize = 6_291_556;

/// An error a function (or Lambda on its behalf) reports: its type, as in the
/// `Lambda-Runtime-Function-Error-Type` header or the document's `errorType`, and the document
/// the caller gets.
#[derive(Debug, Clone)]
pub struct FunctionError {
    /// `Runtime.ExitError`, `Function.ResponseSizeTooLarge`, the function's own type, …
    pub error_type: String,
    /// The error document (`{"errorType": …, "errorMessage": …}`).
    pub body: Bytes,
}

impl FunctionError {
    /// An error raised by Lambda itself, with its document.
    pub fn lambda(error_type: &str, message: String) -> Self {
        Self {
            error_type: error_type.to_owned(),
            body: Bytes::from(
                json!({ "errorType": error_type, "errorMessage": message }).to_string(),
            ),
        }
    }

    /// What a function posted: the type from the header, else from the document, else
    /// Lambda's default for an unnamed error.
    fn posted(headers: &HeaderMap, body: Bytes) -> Self {
        let from_header = headers
            .get("lambda-runtime-function-error-type")
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .map(str::to_owned);
        let from_body = || {
            serde_json::from_slice::<serde_json::Value>(&body)
                .ok()?
                .get("errorType")?
                .as_str()
                .map(str::to_owned)
        };
        let error_type = from_header
            .or_else(from_body)
            .unwrap_or_else(|| "Unhandled".to_owned());
        Self { error_type, body }
    }

    /// The document's `errorMessage`, for records.
    pub fn message(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("errorMessage")?
            .as_str()
            .map(str::to_owned)
    }
}

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
    /// `invocation/{id}/error`, or a response too large to deliver.
    Error(FunctionError),
}

struct ApiState {
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_next: Mutex<Option<Instant>>,
    /// Whether the process is waiting in `invocation/next` with no event for it: done with its
    /// last invocation, the moment Lambda freezes an environment.
    parked: watch::Sender<bool>,
    init_error: watch::Sender<Option<FunctionError>>,
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
            parked: watch::Sender::new(false),
            init_error: watch::Sender::new(None),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone())
            .layer(middleware::from_fn_with_state(
                foreign_host as Refusal,
                loopback_only,
            ));
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

    /// Tells whether the process waits in `invocation/next` with nothing to hand it.
    pub fn parked(&self) -> watch::Receiver<bool> {
        self.state.parked.subscribe()
    }

    /// Tells what the process posted to `init/error`, once it does.
    pub fn init_error(&self) -> watch::Receiver<Option<FunctionError>> {
        self.state.init_error.subscribe()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A request not addressed to a loopback name, refused in the Runtime API's error shape.
fn foreign_host(why: String) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({ "errorType": "AccessDenied", "errorMessage": why })),
    )
        .into_response()
}

async fn next(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    state
        .first_next
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    let job = {
        let mut jobs = state.jobs.lock().await;
        // Parked until an event arrives or the process gives up the request.
        struct Unpark<'a>(&'a watch::Sender<bool>);
        impl Drop for Unpark<'_> {
            fn drop(&mut self) {
                self.0.send_replace(false);
            }
        }
        state.parked.send_replace(true);
        let _unpark = Unpark(&state.parked);
        jobs.recv().await
    };
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
    body: Body,
) -> impl IntoResponse {
    match read_capped(body, RESPONSE_LIMIT).await {
        Ok(body) => (answer(&state, &id, Answer::Response(body)), Bytes::new()),
        // Lambda fails the invocation and tells the runtime, which may go on to its next event.
        Err(BodyError::TooLarge { size }) => {
            let status = answer(
                &state,
                &id,
                Answer::Error(FunctionError::lambda(
                    "Function.ResponseSizeTooLarge",
                    format!(
                        "Response payload size ({size} bytes) exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes)."
                    ),
                )),
            );
            let status = if status == StatusCode::ACCEPTED {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                status
            };
            let body = json!({
                "errorType": "RequestEntityTooLarge",
                "errorMessage": format!("Exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes)."),
            });
            (status, Bytes::from(body.to_string()))
        }
        Err(BodyError::Broken) => (StatusCode::BAD_REQUEST, Bytes::new()),
    }
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    match read_capped(body, RESPONSE_LIMIT).await {
        Ok(body) => answer(
            &state,
            &id,
            Answer::Error(FunctionError::posted(&headers, body)),
        ),
        Err(_) => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

async fn init_error(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    // After the first `next`, init is over: Lambda refuses the call.
    if state.first_next.lock().unwrap().is_some() {
        return StatusCode::FORBIDDEN;
    }
    let body = read_capped(body, RESPONSE_LIMIT).await.unwrap_or_default();
    state
        .init_error
        .send_replace(Some(FunctionError::posted(&headers, body)));
    StatusCode::ACCEPTED
}
