//! The Lambda control-plane subset the Temporal server and users call: GetFunction and Invoke
//! (`Event`, `RequestResponse`, `DryRun`), with AWS's response and error shapes.

use super::{
    BodyError,
    pool::{InvokeResult, Service},
    read_capped,
};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use std::sync::Arc;

/// The control-plane routes.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{function}", get(get_function))
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .with_state(service)
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

/// Lambda's throttle: the function's reserved concurrency is in use (or its `Event` queue full).
fn throttled() -> Response {
    invoke_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        json!({
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            "Type": "User",
            "message": "Rate Exceeded.",
        }),
    )
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
    // The ARN the caller used, qualifier included, as Lambda reports it to the function.
    let qualifier = uri.query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("Qualifier="))
    });
    let invoked_arn = found.config.invoked_arn(&function, qualifier);
    let payload = match read_capped(body, SYNC_PAYLOAD_LIMIT).await {
        Ok(payload) => payload,
        Err(BodyError::TooLarge { size }) if invocation_type == "Event" => {
            return too_large(format!(
                "{size} byte payload is too large for the Event invocation type (limit {EVENT_PAYLOAD_LIMIT} bytes)"
            ));
        }
        Err(BodyError::TooLarge { .. }) => {
            return too_large(format!(
                "Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction operation"
            ));
        }
        Err(BodyError::Broken) => return StatusCode::BAD_REQUEST.into_response(),
    };
    // The Temporal server invokes with no payload; Lambda hands the function `{}` then, which
    // is also what JSON-typed handlers (lambda_runtime's) can deserialize.
    let payload = if payload.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        payload
    };
    let request_id = service.request_id();
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&request_id).unwrap(),
    );
    match invocation_type.as_str() {
        "DryRun" => (StatusCode::NO_CONTENT, response_headers).into_response(),
        "Event" => {
            if payload.len() > EVENT_PAYLOAD_LIMIT {
                return too_large(format!(
                    "{} byte payload is too large for the Event invocation type (limit {EVENT_PAYLOAD_LIMIT} bytes)",
                    payload.len()
                ));
            }
            let Some(queued) = found.queue_event() else {
                return throttled();
            };
            // Queued: the caller is answered at once; the invocation runs when an instance slot
            // is free and, as Lambda does for asynchronous invocations, is retried (same request
            // id) when it fails, times out or crashes. It keeps its place in the queue until its
            // last attempt.
            tokio::spawn(async move {
                let _queued = queued;
                let delays = found.config.event_retry_delays.clone();
                for attempt in 0..=delays.len() {
                    let slot = found.slot().await;
                    let result = service
                        .invoke(found.clone(), slot, request_id.clone(), payload.clone(), invoked_arn.clone(), "Event")
                        .await;
                    if matches!(result, InvokeResult::Response(_)) || attempt == delays.len() {
                        break;
                    }
                    tokio::time::sleep(delays[attempt]).await;
                }
            });
            (StatusCode::ACCEPTED, response_headers).into_response()
        }
        "RequestResponse" => {
            let Some(slot) = found.try_slot() else {
                return throttled();
            };
            // Its own task: a caller that hangs up drops this handler, but the invocation runs
            // to its end, is recorded, and the instance goes back to the pool, as on Lambda.
            let invocation = {
                let request_id = request_id.clone();
                tokio::spawn(async move {
                    service
                        .invoke(found, slot, request_id, payload, invoked_arn, "RequestResponse")
                        .await
                })
            };
            let Ok(result) = invocation.await else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            response_headers.insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
            match result.error(&request_id) {
                None => {
                    let InvokeResult::Response(body) = result else { unreachable!("no error") };
                    (StatusCode::OK, response_headers, body).into_response()
                }
                Some(error) => {
                    response_headers.insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
                    (StatusCode::OK, response_headers, error.body).into_response()
                }
            }
        }
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
