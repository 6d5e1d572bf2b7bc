//! A plain Lambda function (no Temporal) for testing the local Lambda service itself: answers
//! `{"echo": <event>, "pid": <its pid>}` after sleeping `sleep_ms` from the event, and fails
//! when the event has `"fail": true`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    if let Some(millis) = payload["sleep_ms"].as_u64() {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    }
    if payload["fail"] == true {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "echo": payload,
        "pid": std::process::id(),
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
        "arn": event.context.invoked_function_arn,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
