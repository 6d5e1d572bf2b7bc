//! The Lambda control-plane subset the Temporal server and users call: GetFunction and Invoke
//! (`Event`, `RequestResponse`, `DryRun`), with AWS's response and error shapes.

use super::{
    BodyError,
    event_queue::{QueueFull, QueuedEvent},
    loopback_host::{Refusal, loopback_only},
    pool::{Function, InvokeResult, Service},
    request_timeouts::{BODY_READ_TIMEOUT, read_body_in_time},
};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

/// The control-plane routes, for requests addressed to a loopback name.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{function}", get(get_function))
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .with_state(service)
        // Around the fallback too: a rebound page learns nothing, not even which paths exist.
        .layer(middleware::from_fn_with_state(
            foreign_host as Refusal,
            loopback_only,
        ))
}

/// A request not addressed to a loopback name, refused as AWS refuses an unauthorized call.
fn foreign_host(why: String) -> Response {
    invoke_error(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        json!({ "Type": "User", "message": why }),
    )
}

fn not_found(function: &str) -> Response {
    invoke_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        json!({
            "Type": "User",
            "message": format!("Function not found: {function}"),
        }),
    )
}

async fn get_function(
    State(service): State<Arc<Service>>,
    Path(function): Path<String>,
) -> Response {
    let Some(found) = service.find(&function) else {
        return not_found(&function);
    };
    let config = &found.config;
    Json(json!({
        "Configuration": {
            "FunctionName": config.name,
            "FunctionArn": config.arn,
            "Runtime": "provided.al2023",
            "Role": format!("arn:aws:iam::000000000000:role/{}-local", config.name),
            "Handler": "bootstrap",
            "CodeSize": std::fs::metadata(&config.command).map(|meta| meta.len()).unwrap_or(0),
            "Timeout": config.timeout.as_secs(),
            "MemorySize": config.memory_mb,
            "Version": "$LATEST",
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": [std::env::consts::ARCH],
        },
        "Code": { "RepositoryType": "S3", "Location": config.command.display().to_string() },
        "Concurrency": { "ReservedConcurrentExecutions": config.concurrency },
    }))
    .into_response()
}

/// The largest `RequestResponse` payload Lambda accepts (6 MB).
pub const SYNC_PAYLOAD_LIMIT: usize = 6_291_456;
/// The largest `Event` payload Lambda accepts (1 MB; 256 KB until 2025).
pub const EVENT_PAYLOAD_LIMIT: usize = 1_048_576;

/// An error of the Invoke call itself (not of the function), in AWS's shape.
fn invoke_error(status: StatusCode, error_type: &'static str, body: serde_json::Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    (status, headers, Json(body)).into_response()
}

fn too_large(message: String) -> Response {
    invoke_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        json!({ "Type": "User", "message": message }),
    )
}

/// Lambda's throttle, with the `Reason` Lambda gives.
fn throttled(reason: &'static str, message: String) -> Response {
    invoke_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        json!({ "Reason": reason, "Type": "User", "message": message }),
    )
}

/// A `RequestResponse` invoke while every instance the function's reserved concurrency allows
/// is busy.
fn concurrency_in_use() -> Response {
    throttled(
        "ReservedFunctionConcurrentInvocationLimitExceeded",
        "Rate Exceeded.".to_owned(),
    )
}

/// An `Event` invoke the function's queue cannot take: invoked faster than its reserved
/// concurrency runs events.
fn queue_full(function: &str, full: &QueueFull) -> Response {
    throttled(
        "ReservedFunctionInvocationRateLimitExceeded",
        format!(
            "Rate Exceeded. Function {function}: {full}. Retry once queued events have run, or \
             raise --concurrency so that they run sooner."
        ),
    )
}

/// A request whose body did not all arrive within [`BODY_READ_TIMEOUT`].
fn body_too_slow() -> Response {
    invoke_error(
        StatusCode::REQUEST_TIMEOUT,
        "RequestTimeoutException",
        json!({
            "Type": "User",
            "message": format!(
                "The request body did not arrive within {} seconds of its headers; the local \
                 Lambda service waits no longer, so that a stalled client cannot hold it. Send \
                 the whole payload at once, with a Content-Length that matches it.",
                BODY_READ_TIMEOUT.as_secs()
            ),
        }),
    )
}

/// One accepted Invoke call: what the pool needs to run it.
#[derive(Clone)]
struct Invocation {
    service: Arc<Service>,
    function: Arc<Function>,
    request_id: String,
    payload: Bytes,
    invoked_arn: String,
}

impl Invocation {
    /// Runs it in the instance slot `slot` to its end (see [`Service::invoke`]).
    async fn run(self, slot: OwnedSemaphorePermit, invocation_type: &str) -> InvokeResult {
        self.service
            .invoke(
                self.function,
                slot,
                self.request_id,
                self.payload,
                self.invoked_arn,
                invocation_type,
            )
            .await
    }
}

async fn invoke(
    State(service): State<Arc<Service>>,
    Path(function): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(found) = service.find(&function) else {
        return not_found(&function);
    };
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    let invoked_arn = found.config.invoked_arn(&function, qualifier(&uri));
    let payload = match read_payload(body, &invocation_type).await {
        Ok(payload) => payload,
        Err(refused) => return refused,
    };
    let request_id = service.request_id();
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&request_id).unwrap(),
    );
    let invocation = Invocation {
        service,
        function: found,
        request_id,
        payload,
        invoked_arn,
    };
    match invocation_type.as_str() {
        "DryRun" => (StatusCode::NO_CONTENT, response_headers).into_response(),
        "Event" => queue_event(invocation, response_headers),
        "RequestResponse" => run_request_response(invocation, response_headers).await,
        other => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "Type": "User",
                "message": format!("1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"),
            })),
        )
            .into_response(),
    }
}

/// The qualifier of the ARN the caller used (`?Qualifier=`), which Lambda reports to the function
/// as part of the invoked ARN.
fn qualifier(uri: &Uri) -> Option<&str> {
    uri.query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("Qualifier="))
    })
}

/// The request's payload within the invocation type's limit, or the refusal.
async fn read_payload(body: Body, invocation_type: &str) -> Result<Bytes, Response> {
    let Some(read) = read_body_in_time(body, SYNC_PAYLOAD_LIMIT).await else {
        return Err(body_too_slow());
    };
    let payload = match read {
        Ok(payload) => payload,
        Err(BodyError::TooLarge { size }) if invocation_type == "Event" => {
            return Err(event_too_large(size));
        }
        Err(BodyError::TooLarge { .. }) => {
            return Err(too_large(format!(
                "Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction operation"
            )));
        }
        Err(BodyError::Broken) => return Err(StatusCode::BAD_REQUEST.into_response()),
    };
    // The Temporal server invokes with no payload; Lambda hands the function `{}` then, which
    // is also what JSON-typed handlers (lambda_runtime's) can deserialize.
    Ok(if payload.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        payload
    })
}

fn event_too_large(size: usize) -> Response {
    too_large(format!(
        "{size} byte payload is too large for the Event invocation type (limit {EVENT_PAYLOAD_LIMIT} bytes)"
    ))
}

/// `Event`: queued, and the caller answered at once (202), unless the queue is full.
fn queue_event(invocation: Invocation, response_headers: HeaderMap) -> Response {
    if invocation.payload.len() > EVENT_PAYLOAD_LIMIT {
        return event_too_large(invocation.payload.len());
    }
    let queued = match invocation.function.queue_event(invocation.payload.len()) {
        Ok(queued) => queued,
        Err(full) => return queue_full(&invocation.function.config.name, &full),
    };
    tokio::spawn(run_event(invocation, queued));
    (StatusCode::ACCEPTED, response_headers).into_response()
}

/// Runs a queued `Event` invocation when an instance slot is free and, as Lambda does for
/// asynchronous invocations, retries it (same request id) when it fails, times out or crashes.
/// It keeps its place in the queue until its last attempt.
async fn run_event(invocation: Invocation, _queued: QueuedEvent) {
    let delays = invocation.function.config.event_retry_delays.clone();
    for attempt in 0..=delays.len() {
        let slot = invocation.function.slot().await;
        let result = invocation.clone().run(slot, "Event").await;
        if matches!(result, InvokeResult::Response(_)) || attempt == delays.len() {
            break;
        }
        tokio::time::sleep(delays[attempt]).await;
    }
}

/// `RequestResponse`: runs at once in a free instance slot (else throttled) and answers with the
/// function's response or error.
async fn run_request_response(invocation: Invocation, mut response_headers: HeaderMap) -> Response {
    let Some(slot) = invocation.function.try_slot() else {
        return concurrency_in_use();
    };
    let request_id = invocation.request_id.clone();
    // Its own task: a caller that hangs up drops this handler, but the invocation runs to its
    // end, is recorded, and the instance goes back to the pool, as on Lambda.
    let running = tokio::spawn(invocation.run(slot, "RequestResponse"));
    let Ok(result) = running.await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    response_headers.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    match result.error(&request_id) {
        None => {
            let InvokeResult::Response(body) = result else {
                unreachable!("no error")
            };
            (StatusCode::OK, response_headers, body).into_response()
        }
        Some(error) => {
            response_headers.insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            (StatusCode::OK, response_headers, error.body).into_response()
        }
    }
}
