//! The local Lambda service (`temporal-serverless lambda`) against hostile and broken clients: a
//! web page that reaches it through DNS rebinding (its requests name another host), clients that
//! send their request slowly or never finish it, and a caller that floods a function's `Event`
//! queue. Requests are written byte for byte over plain TCP connections, forged headers included.

use serde_json::{Value, json};
use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use temporal_serverless_cli::local_lambda::{
    event_queue::EVENT_QUEUE_BOUND,
    request_timeouts::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT},
};
use temporal_serverless_tests::{
    cli_binary,
    lambda_service::{LambdaService, ServiceBuilder},
    raw_http::HttpServer,
};

/// How much later than a bound the service may act on it (a loaded machine).
const SLACK: Duration = Duration::from_secs(5);

const INVOCATIONS: &str = "/2015-03-31/functions/echo/invocations";

fn echo() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_echo_function"))
}

/// The service hosting the echo function, to be set up; stopped when dropped.
fn service_hosting_echo() -> ServiceBuilder<'static> {
    static CLI: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LambdaService::hosting(CLI.get_or_init(|| cli_binary!()), "echo", echo())
}

/// An HTTP/1.1 request that asks to close the connection after its answer, with `host` as its
/// `Host` header (none at all for `None`).
fn request(
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(host) = host {
        request.push_str(&format!("host: {host}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request
}

/// What the server sent on `stream` until it closed it, and how long that took; panics if it is
/// still open after `limit`.
fn read_until_closed(mut stream: TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            // A reset is a close too.
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "the service still held the connection open after {:?}, having sent {:?}",
                    started.elapsed(),
                    String::from_utf8_lossy(&received)
                )
            }
            Err(error) => panic!("reading from the service: {error}"),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// Sends `request` as written on a connection of its own and reads the answer: status, the head
/// lower-cased, body.
fn exchange(address: &str, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let (response, _) = read_until_closed(stream, Duration::from_secs(30));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to {request:.80?}: {response:?}"));
    (status, head.to_lowercase(), body.to_owned())
}

/// `AWS_LAMBDA_RUNTIME_API` of process `pid`: the address of its instance's Runtime API.
fn runtime_api_of(pid: u32) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|byte| *byte == 0)
        .find_map(|entry| entry.strip_prefix(b"AWS_LAMBDA_RUNTIME_API="))
        .map(|address| String::from_utf8(address.to_vec()).unwrap())
        .unwrap_or_else(|| panic!("process {pid} has no AWS_LAMBDA_RUNTIME_API"))
}

/// A figure of `/proc/<pid>/status` in bytes: `VmRSS` (resident now) or `VmHWM` (at its peak).
fn memory_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kilobytes: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kilobytes * 1024
}

#[test]
fn requests_not_addressed_to_a_loopback_name_are_refused_before_they_run() {
    let service = service_hosting_echo().start();
    let port = service.address.rsplit_once(':').unwrap().1.to_owned();
    let invoke = |host: Option<&str>| {
        exchange(
            &service.address,
            &request(
                "POST",
                INVOCATIONS,
                host,
                &[("x-amz-invocation-type", "RequestResponse")],
                r#"{"n":"addressed"}"#,
            ),
        )
    };

    // What a page served from a name its author rebound to 127.0.0.1 sends (the browser puts the
    // page's name in Host), and what no client should.
    for host in [
        Some("rebound.example".to_owned()),
        Some(format!("rebound.example:{port}")),
        Some(format!("127.0.0.1.nip.io:{port}")),
        Some(format!("localhost.rebound.example:{port}")),
        Some(format!("192.168.1.20:{port}")),
        Some(format!("[::2]:{port}")),
        None,
    ] {
        let (status, head, body) = invoke(host.as_deref());
        assert_eq!(status, 403, "Host {host:?}: {head}\n{body}");
        assert!(
            head.contains("x-amzn-errortype: accessdeniedexception"),
            "{head}"
        );
        let error: Value =
            serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"));
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("DNS rebinding") && message.contains("127.0.0.1"),
            "{message}"
        );
        match &host {
            Some(host) => assert!(message.contains(&format!("`{host}`")), "{message}"),
            None => assert!(message.contains("no Host header"), "{message}"),
        }
    }
    // GetFunction and paths that serve nothing are refused alike: the page learns nothing.
    for path in ["/2015-03-31/functions/echo", "/nothing-here"] {
        let (status, _, body) = exchange(
            &service.address,
            &request("GET", path, Some("rebound.example"), &[], ""),
        );
        assert_eq!(status, 403, "{path}: {body}");
    }

    // Loopback names, in any case, with a port or without, are served.
    for host in [
        format!("LocalHost:{port}"),
        "127.0.0.1".to_owned(),
        format!("127.9.8.7:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, _, body) = invoke(Some(host.as_str()));
        assert_eq!(status, 200, "Host {host}: {body}");
    }
    let records = service.records();
    assert_eq!(
        records.len(),
        4,
        "only the invokes addressed to loopback ran: {records:#?}"
    );

    // The instance's Runtime API refuses them too: a page that found its port could otherwise
    // take the instance's next event.
    let (_, _, body) = invoke(Some("127.0.0.1"));
    let pid = serde_json::from_str::<Value>(&body).unwrap()["pid"]
        .as_u64()
        .unwrap() as u32;
    let (status, _, body) = exchange(
        &runtime_api_of(pid),
        &request(
            "GET",
            "/2018-06-01/runtime/invocation/next",
            Some("rebound.example"),
            &[],
            "",
        ),
    );
    assert_eq!(status, 403, "{body}");
    let error: Value =
        serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"));
    assert_eq!(error["errorType"], "AccessDenied", "{error:#}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("DNS rebinding"),
        "{error:#}"
    );
    let (status, _, body) = invoke(Some("127.0.0.1"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["pid"],
        pid,
        "the instance still gets its events"
    );
}

#[test]
fn slow_clients_are_cut_off_but_a_long_invocation_is_not() {
    let service = service_hosting_echo().timeout_seconds(60).start();
    let service = &service;
    let address = service.address.as_str();
    let invoke_head = format!(
        "POST {INVOCATIONS} HTTP/1.1\r\nhost: {address}\r\n\
         x-amz-invocation-type: RequestResponse\r\n"
    );
    let invoke_head = invoke_head.as_str();
    // Longer than both bounds.
    let long_sleep = HEADER_READ_TIMEOUT.max(BODY_READ_TIMEOUT) + Duration::from_secs(2);

    std::thread::scope(|scope| {
        // Waiting for the function is not reading the request.
        let long = scope.spawn(move || {
            service.invoke(
                "echo",
                "RequestResponse",
                json!({"sleep_ms": long_sleep.as_millis() as u64}),
            )
        });
        // Half a head, then nothing (slowloris).
        let half_head = scope.spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(invoke_head.as_bytes()).unwrap();
            read_until_closed(stream, HEADER_READ_TIMEOUT + SLACK)
        });
        // A connection on which nothing is ever sent.
        let silent = scope.spawn(move || {
            read_until_closed(
                TcpStream::connect(address).unwrap(),
                HEADER_READ_TIMEOUT + SLACK,
            )
        });
        // A whole head, then part of the body it announces.
        let half_body = scope.spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            write!(stream, "{invoke_head}content-length: 100\r\n\r\n{{\"n\":").unwrap();
            read_until_closed(stream, BODY_READ_TIMEOUT + SLACK)
        });
        // A head in two parts a second apart: slow, but within the bound, so served.
        let hesitant = scope.spawn(move || {
            let body = r#"{"n":"hesitant"}"#;
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(invoke_head.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_secs(1));
            write!(
                stream,
                "connection: close\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            read_until_closed(stream, Duration::from_secs(30)).0
        });

        let (response, waited) = half_head.join().unwrap();
        println!("half a head: closed after {waited:?}");
        assert!(
            waited >= HEADER_READ_TIMEOUT / 2,
            "closed after {waited:?}, before its bound: {response:?}"
        );
        let (_, waited) = silent.join().unwrap();
        println!("nothing sent: closed after {waited:?}");
        let (response, waited) = half_body.join().unwrap();
        println!("half a body: closed after {waited:?}");
        assert!(
            waited >= BODY_READ_TIMEOUT / 2,
            "closed after {waited:?}, before its bound: {response:?}"
        );
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(
            response
                .to_lowercase()
                .contains("x-amzn-errortype: requesttimeoutexception"),
            "{response}"
        );
        let response = hesitant.join().unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200") && response.contains("hesitant"),
            "{response}"
        );
        let (status, head, body) = long.join().unwrap();
        assert_eq!(status, 200, "{head}\n{body}");
        assert!(!head.contains("x-amz-function-error"), "{head}\n{body}");
    });
    let records = service.records();
    assert_eq!(
        records.len(),
        2,
        "the invoke whose body never came did not run: {records:#?}"
    );
}

#[test]
fn an_event_flood_past_the_queue_bound_is_throttled_and_memory_stays_bounded() {
    // One instance, kept busy by the first event for the whole test: the others wait in the queue.
    let service = service_hosting_echo()
        .concurrency(1)
        .timeout_seconds(120)
        .start();
    const PAYLOAD_BYTES: usize = 1_000_000;
    let payload = {
        let head = r#"{"sleep_ms":100000,"pad":""#;
        format!("{head}{}\"}}", "x".repeat(PAYLOAD_BYTES - head.len() - 2))
    };
    assert_eq!(payload.len(), PAYLOAD_BYTES);
    let fits = EVENT_QUEUE_BOUND.bytes / PAYLOAD_BYTES;
    let resident_before = memory_bytes(service.pid(), "VmRSS");

    let started = Instant::now();
    let answers: Vec<(u16, String, String)> = (0..2 * fits)
        .map(|_| {
            service.request(
                "POST",
                INVOCATIONS,
                &[("x-amz-invocation-type", "Event")],
                &payload,
            )
        })
        .collect();
    println!(
        "{} events of {PAYLOAD_BYTES} bytes sent in {:?}",
        answers.len(),
        started.elapsed()
    );
    let accepted = answers
        .iter()
        .take_while(|(status, ..)| *status == 202)
        .count();
    assert_eq!(
        accepted, fits,
        "the queue takes events until their payloads reach its {} bytes",
        EVENT_QUEUE_BOUND.bytes
    );
    for (status, head, body) in &answers[fits..] {
        assert_eq!(*status, 429, "{head}\n{body}");
        assert!(
            head.contains("x-amzn-errortype: toomanyrequestsexception"),
            "{head}"
        );
    }
    let error: Value = serde_json::from_str(&answers[fits].2).unwrap();
    assert_eq!(
        error["Reason"], "ReservedFunctionInvocationRateLimitExceeded",
        "{error:#}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Event queue") && message.contains(&EVENT_QUEUE_BOUND.bytes.to_string()),
        "{message}"
    );
    // The bound is in bytes: a small event still fits.
    let (status, _, body) = service.invoke("echo", "Event", json!({}));
    assert_eq!(status, 202, "{body}");

    // The service held the queued payloads, not the refused ones.
    let growth = memory_bytes(service.pid(), "VmHWM").saturating_sub(resident_before);
    println!("the service grew by at most {} MiB", growth >> 20);
    let allowed = EVENT_QUEUE_BOUND.bytes as u64 + (32 << 20);
    assert!(
        growth <= allowed,
        "the service grew by {growth} bytes, past the queue's {} and a margin",
        EVENT_QUEUE_BOUND.bytes
    );
}
