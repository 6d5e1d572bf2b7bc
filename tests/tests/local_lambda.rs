//! The local Lambda service (`temporal-serverless lambda`) on its own, with a plain echo
//! function and a misbehaving one: the control plane's shapes, and Lambda's semantics (warm
//! reuse, cold starts when busy, frozen idle instances, throttling, payload limits, time-outs,
//! crashes, init errors, records).

use serde_json::{Value, json};
use std::{
    io::Write,
    net::{Shutdown, TcpStream},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use temporal_serverless_tests::{
    cli_binary,
    cli_run::CliRun,
    lambda_service::{LambdaService, ServiceBuilder},
    processes,
    raw_http::HttpServer,
};

fn echo() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_echo_function"))
}

fn faulty() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_faulty_function"))
}

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:echo";

/// The service hosting `binary` as function `name`, to be set up.
fn service_hosting(name: &str, binary: &Path) -> ServiceBuilder<'static> {
    static CLI: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LambdaService::hosting(CLI.get_or_init(|| cli_binary!()), name, binary)
}

/// The service with the echo function (timeout 2 s, concurrency 2, Event retries after 0.3 s
/// and 0.6 s); stopped when dropped.
fn start_service() -> LambdaService {
    service_hosting("echo", echo())
        .timeout_seconds(2)
        .concurrency(2)
        .args(&["--event-retry-delays", "0.3,0.6"])
        .start()
}

/// Polls `check` every 20 ms until it gives a value, or panics naming `what` after `limit`.
fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn request_id(head: &str) -> String {
    head.lines()
        .find_map(|line| line.strip_prefix("x-amzn-requestid: "))
        .expect("a request id")
        .trim()
        .to_owned()
}

/// The record of `request_id`, once the invocation has ended.
fn record_of(service: &LambdaService, request_id: &str) -> Value {
    eventually(
        &format!("the record of {request_id}"),
        Duration::from_secs(10),
        || {
            service
                .records()
                .into_iter()
                .find(|record| record["request_id"] == request_id)
        },
    )
}

/// A `RequestResponse` invoke's answer as JSON, asserting it succeeded.
fn invoke_ok(service: &LambdaService, function: &str, payload: Value) -> Value {
    let (status, head, body) = service.invoke(function, "RequestResponse", payload);
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(!head.contains("x-amz-function-error"), "{head}\n{body}");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

/// The PID of the instance that answers a `RequestResponse` invoke of `function` (the echo and
/// faulty functions answer with it).
fn answering_pid(service: &LambdaService, function: &str) -> u32 {
    let answer = invoke_ok(service, function, json!({}));
    answer["pid"].as_u64().expect("a pid in the answer") as u32
}

/// A `RequestResponse` invoke that failed in the function: (error document, request id).
fn invoke_failing(service: &LambdaService, function: &str, payload: Value) -> (Value, String) {
    let (status, head, body) = service.invoke(function, "RequestResponse", payload);
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.contains("x-amz-function-error: unhandled"),
        "{head}\n{body}"
    );
    let error = serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"));
    (error, request_id(&head))
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
    let (status, head, _) = service.invoke("echo", "Event", json!({"sleep_ms": 500}));
    assert_eq!(status, 202);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "Event must not wait for the function"
    );
    // Until it ends, it holds one of the two slots (a synchronous invoke would be throttled).
    record_of(&service, &request_id(&head));

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
    let request_id = request_id(&head);
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

#[test]
fn idle_instances_are_frozen_until_their_next_event() {
    let service = service_hosting("echo", echo()).concurrency(1).start();
    let first = invoke_ok(&service, "echo", json!({"n": 1}));
    let answered = Instant::now();
    let pid = first["pid"].as_u64().unwrap() as u32;
    // Stopped once it has answered and asked for its next event, as Lambda freezes it.
    eventually(
        "the idle instance is stopped",
        Duration::from_secs(5),
        || (processes::state(pid) == Some('T')).then_some(()),
    );
    println!("stopped within {:?} of its answer", answered.elapsed());
    // Thawed for the next event, synchronous or not; its connections survived the freeze.
    let thawing = Instant::now();
    let second = invoke_ok(&service, "echo", json!({"n": 2}));
    println!("the frozen instance answered in {:?}", thawing.elapsed());
    assert_eq!(second["pid"], pid, "the frozen instance is reused");
    assert_eq!(second["echo"]["n"], 2);
    let (status, head, _) = service.invoke("echo", "Event", json!({"n": 3}));
    assert_eq!(status, 202);
    let event = record_of(&service, &request_id(&head));
    assert_eq!(event["outcome"], "success", "{event:#}");
    assert_eq!(event["cold"], false, "{event:#}");
    eventually("frozen again", Duration::from_secs(5), || {
        (processes::state(pid) == Some('T')).then_some(())
    });
    let stopping = Instant::now();
    drop(service);
    // Stopping the service ends its frozen instances too.
    eventually(
        "the frozen instance ends with the service",
        Duration::from_secs(5),
        || matches!(processes::state(pid), None | Some('Z')).then_some(()),
    );
    println!(
        "frozen instance gone {:?} after the stop",
        stopping.elapsed()
    );

    // Without freezing, an idle instance just waits (sleeping in its `next` request).
    let service = service_hosting("echo", echo())
        .args(&["--no-freeze"])
        .start();
    let pid = answering_pid(&service, "echo");
    std::thread::sleep(Duration::from_millis(500));
    let state = processes::state(pid);
    assert!(
        matches!(state, Some('S' | 'R')),
        "--no-freeze leaves it running: {state:?}"
    );
}

#[test]
fn a_frozen_instance_past_keep_warm_is_reclaimed() {
    let service = service_hosting("echo", echo())
        .args(&["--keep-warm", "1"])
        .start();
    let old = answering_pid(&service, "echo");
    eventually(
        "the idle instance is stopped",
        Duration::from_secs(5),
        || (processes::state(old) == Some('T')).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(1200));
    let new = answering_pid(&service, "echo");
    assert_ne!(new, old, "a cold instance after keep-warm");
    eventually(
        "the reclaimed frozen instance is killed and reaped",
        Duration::from_secs(5),
        || processes::state(old).is_none().then_some(()),
    );
    let records = service.records();
    assert_eq!(records[1]["cold"], true, "{records:#?}");
}

#[test]
fn a_caller_that_hangs_up_leaves_the_invocation_running() {
    let service = service_hosting("echo", echo()).start();
    let pid = answering_pid(&service, "echo");
    let body = json!({"sleep_ms": 1000, "n": "abandoned"}).to_string();
    let mut stream = TcpStream::connect(&service.address).unwrap();
    write!(
        stream,
        "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nhost: {}\r\nx-amz-invocation-type: RequestResponse\r\ncontent-length: {}\r\n\r\n{body}",
        service.address,
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stream.shutdown(Shutdown::Both).unwrap();
    drop(stream);
    let abandoned = eventually(
        "the abandoned invocation's record",
        Duration::from_secs(10),
        || service.records().into_iter().nth(1),
    );
    assert_eq!(abandoned["outcome"], "success", "{abandoned:#}");
    assert!(
        abandoned["duration_ms"].as_f64().unwrap() >= 1000.0,
        "{abandoned:#}"
    );
    let next = invoke_ok(&service, "echo", json!({}));
    assert_eq!(next["pid"], pid, "the instance went back to the pool");
}

/// A 413 `RequestEntityTooLargeException` with Lambda's `message`.
fn expect_too_large((status, head, body): (u16, String, String), message: &str) {
    assert_eq!(status, 413, "{head}\n{body}");
    assert!(
        head.contains("x-amzn-errortype: requestentitytoolargeexception"),
        "{head}"
    );
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["message"], message);
}

#[test]
fn payload_limits_and_errors_are_lambdas() {
    let service = service_hosting("faulty", faulty()).concurrency(1).start();
    let path = "/2015-03-31/functions/faulty/invocations";
    // A JSON document of exactly `bytes` bytes.
    let payload = |bytes: usize| format!("{{\"pad\":\"{}\"}}", "x".repeat(bytes - 10));
    assert_eq!(payload(100).len(), 100);
    let sync = [("x-amz-invocation-type", "RequestResponse")];
    let event = [("x-amz-invocation-type", "Event")];

    expect_too_large(
        service.request("POST", path, &sync, &payload(6_291_457)),
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
    );
    let (status, _, body) = service.request("POST", path, &sync, &payload(6_291_456));
    assert_eq!(status, 200, "{body}");

    expect_too_large(
        service.request("POST", path, &event, &payload(1_048_577)),
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)",
    );
    let (status, head, body) = service.request("POST", path, &event, &payload(1_048_576));
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        record_of(&service, &request_id(&head))["outcome"],
        "success"
    );

    // A response over Lambda's limit fails the invocation; the instance lives on.
    let pid = answering_pid(&service, "faulty");
    let (status, _, body) = service.invoke(
        "faulty",
        "RequestResponse",
        json!({"respond_bytes": 6_291_556}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        body.len(),
        6_291_556,
        "a response at the limit is delivered"
    );
    let (error, request) = invoke_failing(&service, "faulty", json!({"respond_bytes": 6_291_557}));
    assert_eq!(
        error["errorType"], "Function.ResponseSizeTooLarge",
        "{error:#}"
    );
    assert_eq!(
        error["errorMessage"],
        "Response payload size (6291557 bytes) exceeded maximum allowed payload size (6291556 bytes)."
    );
    let record = record_of(&service, &request);
    assert_eq!(record["outcome"], "error", "{record:#}");
    assert_eq!(
        record["error_type"], "Function.ResponseSizeTooLarge",
        "{record:#}"
    );
    assert_eq!(invoke_ok(&service, "faulty", json!({}))["pid"], pid);
}

#[test]
fn over_the_concurrency_limit_sync_invokes_are_throttled_and_events_queue() {
    let service = service_hosting("echo", echo()).concurrency(1).start();
    invoke_ok(&service, "echo", json!({}));
    std::thread::scope(|scope| {
        let busy = scope.spawn(|| invoke_ok(&service, "echo", json!({"sleep_ms": 1500})));
        // The slot is taken when the request arrives.
        std::thread::sleep(Duration::from_millis(300));
        let (status, head, body) = service.invoke("echo", "RequestResponse", json!({}));
        assert!(
            !busy.is_finished(),
            "the 429 came while the slot was busy, not after"
        );
        assert_eq!(status, 429, "{head}\n{body}");
        assert!(
            head.contains("x-amzn-errortype: toomanyrequestsexception"),
            "{head}"
        );
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            error["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded",
            "{error:#}"
        );
        // An Event invoke is accepted and waits for the slot.
        let (status, head, _) = service.invoke("echo", "Event", json!({"n": "queued"}));
        assert_eq!(status, 202);
        let queued = request_id(&head);
        busy.join().unwrap();
        let busy_end = service
            .records()
            .iter()
            .find(|record| record["cold"] == false && record["request_id"] != queued)
            .map(|record| {
                record["started_at_ms"].as_u64().unwrap()
                    + record["duration_ms"].as_f64().unwrap() as u64
            })
            .unwrap();
        let record = record_of(&service, &queued);
        assert_eq!(record["outcome"], "success", "{record:#}");
        assert_eq!(
            record["cold"], false,
            "it ran on the one instance: {record:#}"
        );
        assert!(
            record["started_at_ms"].as_u64().unwrap() >= busy_end,
            "it ran after the busy invocation: {record:#}"
        );
    });
    let records = service.records();
    assert_eq!(
        records.len(),
        3,
        "the throttled invoke never ran: {records:#?}"
    );
}

#[test]
fn the_function_sees_the_qualified_arn_it_was_invoked_through() {
    let service = service_hosting("echo", echo()).start();
    assert_eq!(
        invoke_ok(&service, "echo:live", json!({}))["arn"],
        format!("{ARN}:live")
    );
    assert_eq!(
        invoke_ok(&service, &format!("{ARN}:7"), json!({}))["arn"],
        format!("{ARN}:7")
    );
    let (status, _, body) = service.request(
        "POST",
        "/2015-03-31/functions/echo/invocations?Qualifier=blue",
        &[],
        "{}",
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["arn"], format!("{ARN}:blue"));
    assert_eq!(invoke_ok(&service, "echo", json!({}))["arn"], ARN);
}

#[test]
fn options_out_of_lambdas_bounds_are_refused() {
    for (option, value, range) in [
        ("--timeout", "0", "1..=900"),
        ("--timeout", "901", "1..=900"),
        ("--memory", "127", "128..=10240"),
        ("--memory", "10241", "128..=10240"),
        ("--concurrency", "0", "1.."),
    ] {
        let output = CliRun::new(&cli_binary!(), "lambda")
            .args(["--function", &format!("echo={}", echo().display())])
            .args([option, value])
            .run();
        let stderr = output.stderr;
        assert!(!output.success, "{option} {value} accepted");
        assert!(
            stderr.contains(option) && stderr.contains(range),
            "{option} {value}: {stderr}"
        );
    }
}

#[test]
fn a_crash_mid_invocation_is_a_runtime_exit_error() {
    let service = service_hosting("faulty", faulty()).start();
    let pid = answering_pid(&service, "faulty");
    let (error, request) = invoke_failing(&service, "faulty", json!({"exit": 3}));
    assert_eq!(error["errorType"], "Runtime.ExitError", "{error:#}");
    assert_eq!(
        error["errorMessage"],
        format!("RequestId: {request} Error: Runtime exited with error: exit status 3")
    );
    let record = record_of(&service, &request);
    assert_eq!(record["outcome"], "crash", "{record:#}");
    assert_eq!(record["error_type"], "Runtime.ExitError", "{record:#}");
    assert!(
        record["error_message"]
            .as_str()
            .unwrap()
            .ends_with("exit status 3"),
        "{record:#}"
    );
    // The crashed instance is gone: the next invocation starts a cold one.
    let next = answering_pid(&service, "faulty");
    assert_ne!(next, pid);
    let (error, _) = invoke_failing(&service, "faulty", json!({"abort": true}));
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: signal: aborted"),
        "{error:#}"
    );
    let records = service.records();
    assert_eq!(records.last().unwrap()["cold"], false, "{records:#?}");
    invoke_ok(&service, "faulty", json!({}));
    assert_eq!(service.records().last().unwrap()["cold"], true);
}

#[test]
fn an_init_error_reaches_the_caller_with_the_functions_error_type() {
    let service = service_hosting("faulty", faulty())
        .function_env("FAULTY_INIT_ERROR", "Custom.ConfigError")
        .start();
    for _ in 0..2 {
        let (error, request) = invoke_failing(&service, "faulty", json!({}));
        assert_eq!(error["errorType"], "Custom.ConfigError", "{error:#}");
        assert_eq!(error["errorMessage"], "configured to fail its init");
        let record = record_of(&service, &request);
        assert_eq!(record["outcome"], "crash", "{record:#}");
        assert_eq!(record["error_type"], "Custom.ConfigError", "{record:#}");
        assert_eq!(
            record["cold"], true,
            "each attempt initialises anew: {record:#}"
        );
    }
    let records = service.records();
    assert_ne!(records[0]["instance"], records[1]["instance"]);
}
