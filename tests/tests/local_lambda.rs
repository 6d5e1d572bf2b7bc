//! The local Lambda service (`temporal-serverless lambda`) on its own, with a plain echo
//! function: the control plane's shapes, and Lambda's semantics (warm reuse, cold starts when
//! busy, time-outs, records).

use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use temporal_serverless_tests::{cli_beside, lambda_service::LambdaService};

fn echo() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_echo_function"))
}

fn cli() -> PathBuf {
    cli_beside(echo())
}

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:echo";

/// The service with the echo function (timeout 2 s, concurrency 2); stopped when dropped.
fn start_service() -> LambdaService {
    let args: Vec<String> = [
        "--timeout",
        "2",
        "--concurrency",
        "2",
        "--event-retry-delays",
        "0.3,0.6",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([
        "--function".to_owned(),
        format!("echo={}", echo().display()),
    ])
    .collect();
    LambdaService::start(&cli(), &args, None)
}

#[test]
fn control_plane_shapes_and_lambda_semantics() {
    let service = start_service();

    // GetFunction, by name and by qualified ARN; an unknown function gets AWS's 404.
    let (status, _, body) = service.request("GET", "/2015-03-31/functions/echo", &[], "");
    assert_eq!(status, 200, "{body}");
    let function: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(function["Configuration"]["FunctionArn"], ARN);
    assert_eq!(function["Configuration"]["Timeout"], 2);
    assert_eq!(function["Configuration"]["State"], "Active");
    let (status, _, _) =
        service.request("GET", &format!("/2015-03-31/functions/{ARN}:live"), &[], "");
    assert_eq!(status, 200);
    let (status, head, body) = service.request("GET", "/2015-03-31/functions/nope", &[], "");
    assert_eq!(status, 404);
    assert!(
        head.contains("x-amzn-errortype: resourcenotfoundexception"),
        "{head}"
    );
    assert!(body.contains("Function not found"), "{body}");

    // RequestResponse: the payload comes back; the first is cold, the next reuses the instance.
    let (status, _, body) =
        service.invoke(&format!("{ARN}:live"), "RequestResponse", json!({"n": 1}));
    assert_eq!(status, 200, "{body}");
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["echo"]["n"], 1);
    assert_eq!(
        first["arn"],
        format!("{ARN}:live"),
        "the invoked ARN reaches the function"
    );
    assert_eq!(first["function"], "echo");
    let (_, _, body) = service.invoke("echo", "RequestResponse", json!({"n": 2}));
    let second: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["pid"], first["pid"], "warm instance reused");

    // A function error is returned with X-Amz-Function-Error.
    let (status, head, body) = service.invoke("echo", "RequestResponse", json!({"fail": true}));
    assert_eq!(status, 200);
    assert!(head.contains("x-amz-function-error: unhandled"), "{head}");
    assert!(body.contains("asked to fail"), "{body}");

    // DryRun: 204, nothing runs. Event: 202 at once, runs in the background.
    let (status, _, _) = service.invoke("echo", "DryRun", json!({}));
    assert_eq!(status, 204);
    let started = Instant::now();
    let (status, _, _) = service.invoke("echo", "Event", json!({"sleep_ms": 500}));
    assert_eq!(status, 202);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "Event must not wait for the function"
    );

    // Two at once: the busy instance is not shared, a second (cold) one starts.
    let service_ref = &service;
    let concurrent: Vec<Value> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2)
            .map(|n| {
                scope.spawn(move || {
                    service_ref.invoke("echo", "RequestResponse", json!({"sleep_ms": 800, "n": n}))
                })
            })
            .collect();
        calls
            .into_iter()
            .map(|call| serde_json::from_str(&call.join().unwrap().2).unwrap())
            .collect()
    });
    assert_ne!(
        concurrent[0]["pid"], concurrent[1]["pid"],
        "one invocation per instance"
    );

    // Past its 2 s timeout the instance is killed and the invocation recorded as timed out.
    let (status, head, body) = service.invoke("echo", "RequestResponse", json!({"sleep_ms": 5000}));
    assert_eq!(status, 200);
    assert!(head.contains("x-amz-function-error: unhandled"), "{head}");
    assert!(body.contains("Task timed out after 2.00 seconds"), "{body}");

    // A failing Event invocation is retried twice, with the same request id, after the delays.
    let (status, head, _) = service.invoke("echo", "Event", json!({"fail": true, "retry": true}));
    assert_eq!(status, 202);
    let request_id = head
        .lines()
        .find_map(|line| line.strip_prefix("x-amzn-requestid: "))
        .unwrap()
        .trim()
        .to_owned();
    let started = Instant::now();
    let attempts = loop {
        let attempts: Vec<Value> = service
            .records()
            .into_iter()
            .filter(|record| record["request_id"] == request_id)
            .collect();
        if attempts.len() == 3 || started.elapsed() > Duration::from_secs(10) {
            break attempts;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        attempts.len(),
        3,
        "one attempt and two retries: {attempts:#?}"
    );
    let starts: Vec<u64> = attempts
        .iter()
        .map(|record| record["started_at_ms"].as_u64().unwrap())
        .collect();
    assert!(
        starts[1] - starts[0] >= 300 && starts[2] - starts[1] >= 600,
        "retry spacing {starts:?}"
    );
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(
        service
            .records()
            .iter()
            .filter(|record| record["request_id"] == request_id)
            .count(),
        3,
        "no third retry"
    );

    let records = service.records();
    let outcomes: Vec<&str> = records
        .iter()
        .map(|record| record["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"timeout") && outcomes.contains(&"error"),
        "{outcomes:?}"
    );
    assert_eq!(records[0]["cold"], true, "{:#}", records[0]);
    assert!(records[0]["init_duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(records[1]["cold"], false);
    for record in &records {
        assert!(
            record["max_memory_used_mb"].as_f64().unwrap() > 0.0,
            "{record:#}"
        );
        assert_eq!(
            record["billed_duration_ms"].as_u64().unwrap(),
            record["duration_ms"].as_f64().unwrap().ceil() as u64,
            "{record:#}"
        );
    }
    let timeout = records
        .iter()
        .find(|record| record["outcome"] == "timeout")
        .unwrap();
    assert!(
        timeout["deadline_margin_ms"].as_i64().unwrap() <= 0,
        "{timeout:#}"
    );
}
