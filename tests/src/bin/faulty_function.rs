//! A Lambda function that misbehaves on request, for testing how the local Lambda service meets
//! faults. It speaks the Runtime API itself (plain HTTP/1.1, one connection per call), so that it
//! can do what a well-behaved runtime library would not:
//!
//! - `FAULTY_INIT_ERROR=TYPE` in its environment: posts `init/error` with that
//!   `Lambda-Runtime-Function-Error-Type`, then exits 1, as a runtime whose init failed does;
//! - event `{"exit": N}`: exits with status N while holding the invocation;
//! - event `{"abort": true}`: aborts (SIGABRT) while holding the invocation;
//! - event `{"respond_bytes": N}`: answers with a JSON string of N bytes (quotes included);
//! - otherwise: answers `{"pid": <its pid>, "arn": <the invoked function ARN>}`.

use std::{
    io::{Read, Write},
    net::TcpStream,
};

/// One request to the Runtime API: (status, lower-cased head, body).
fn call(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let address = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API is set");
    let mut stream = TcpStream::connect(&address).expect("the Runtime API listens");
    let mut request = format!(
        "{method} /2018-06-01/runtime/{path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("request sent");
    // The service may answer before reading a body it refuses; the answer is what matters.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    (status, head, body)
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_default()
        .trim()
}

fn main() {
    if let Ok(error_type) = std::env::var("FAULTY_INIT_ERROR") {
        let body = format!(
            r#"{{"errorType":"{error_type}","errorMessage":"configured to fail its init"}}"#
        );
        call(
            "POST",
            "init/error",
            &[("lambda-runtime-function-error-type", &error_type)],
            body.as_bytes(),
        );
        std::process::exit(1);
    }
    loop {
        let (status, head, event) = call("GET", "invocation/next", &[], b"");
        assert_eq!(status, 200, "invocation/next: {head}");
        let request_id = header(&head, "lambda-runtime-aws-request-id").to_owned();
        let arn = header(&head, "lambda-runtime-invoked-function-arn").to_owned();
        let event: serde_json::Value = serde_json::from_slice(&event).unwrap_or_default();
        if let Some(code) = event["exit"].as_i64() {
            std::process::exit(code as i32);
        }
        if event["abort"] == true {
            std::process::abort();
        }
        let response = match event["respond_bytes"].as_u64() {
            Some(bytes) => format!("\"{}\"", "x".repeat(bytes.saturating_sub(2) as usize)),
            None => serde_json::json!({ "pid": std::process::id(), "arn": arn }).to_string(),
        };
        let (status, head, body) = call(
            "POST",
            &format!("invocation/{request_id}/response"),
            &[("content-type", "application/json")],
            response.as_bytes(),
        );
        if status != 202 {
            eprintln!(
                "faulty_function: the response was refused: {head} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
