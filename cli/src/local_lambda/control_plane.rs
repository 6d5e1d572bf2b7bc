//! The Lambda control-plane subset the Temporal server and users call: GetFunction and Invoke
//! (`Event`, `RequestResponse`, `DryRun`), with AWS's response and error shapes.

use super::pool::{InvokeResult, Service};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
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
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("ResourceNotFoundException"),
    );
    (
        StatusCode::NOT_FOUND,
        headers,
        Json(json!({
            "Type": "User",
            "message": format!("Function not found: {function}"),
        })),
    )
        .into_response()
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

async fn invoke(
    State(service): State<Arc<Service>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    payload: Bytes,
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
    let invoked_arn = if function.starts_with("arn:") {
        function.clone()
    } else {
        found.config.arn.clone()
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
            // Queued: the caller is answered at once, the invocation runs in the background and,
            // as Lambda does for asynchronous invocations, is retried (same request id) when it
            // fails, times out or crashes.
            tokio::spawn(async move {
                let delays = found.config.event_retry_delays.clone();
                for attempt in 0..=delays.len() {
                    let result = service
                        .invoke(&found, request_id.clone(), payload.clone(), invoked_arn.clone(), "Event")
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
            let result = service.invoke(&found, request_id, payload, invoked_arn, "RequestResponse").await;
            response_headers.insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
            let body = match result {
                InvokeResult::Response(body) => return (StatusCode::OK, response_headers, body).into_response(),
                InvokeResult::FunctionError(body) => body,
                InvokeResult::TimedOut { timeout } => Bytes::from(
                    json!({
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                    })
                    .to_string(),
                ),
                InvokeResult::Crashed(message) => Bytes::from(
                    json!({ "errorType": "Runtime.ExitError", "errorMessage": message }).to_string(),
                ),
            };
            response_headers.insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
            (StatusCode::OK, response_headers, body).into_response()
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
