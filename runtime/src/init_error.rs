//! A cold start that fails (no task queue, a configure body with errors, an OpenTelemetry
//! endpoint that cannot be used, an unreadable manifest) is reported to Lambda's Runtime API
//! before the process exits: `POST /2018-06-01/runtime/init/error` with the error's type in
//! `Lambda-Runtime-Function-Error-Type` and `{"errorMessage", "errorType"}` as the body. Lambda
//! then records `TemporalServerless.NoTaskQueue` (say) for the invocation that found the process
//! failing, instead of `Runtime.ExitError` and nothing to go on but the log.
//!
//! `lambda_runtime` posts `init/error` only for its own SnapStart hooks (privately, with the fixed
//! type `Runtime.InitError`), so this is a plain HTTP/1.1 request over a blocking `TcpStream`: the
//! process is about to exit, no tokio runtime may exist yet, and the Runtime API is a local
//! address that answers at once.

use crate::error::ServerlessError;
use lambda_runtime::Diagnostic;
use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

/// The Runtime API's `host:port`, which Lambda sets in every function's environment.
const RUNTIME_API_VARIABLE: &str = "AWS_LAMBDA_RUNTIME_API";

/// How long connecting, sending and reading the answer may each take: the Runtime API is local,
/// and a process that cannot start must not hang on its way out.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Reports `error`, which ended the cold start, to the Runtime API named by
/// `AWS_LAMBDA_RUNTIME_API` (read with `read_env`); without one (the binary run by hand), the log
/// line the caller wrote is all there is.
pub(crate) fn report_cold_start_failure(
    error: ServerlessError,
    read_env: impl Fn(&str) -> Option<String>,
) {
    let Some(runtime_api) = read_env(RUNTIME_API_VARIABLE).filter(|value| !value.is_empty()) else {
        return;
    };
    let diagnostic = Diagnostic::from(error);
    match report(&runtime_api, &diagnostic) {
        Ok(status) if (200..300).contains(&status) => tracing::info!(
            error_type = %diagnostic.error_type,
            "cold start failure reported to Lambda (init/error)"
        ),
        Ok(status) => tracing::warn!(status, "the Runtime API refused the init/error report"),
        Err(problem) => tracing::warn!("cannot report the cold start failure to Lambda: {problem}"),
    }
}

/// Posts `diagnostic` to the Runtime API at `runtime_api` (`host:port`); returns the answer's
/// HTTP status (Lambda answers 202).
pub(crate) fn report(runtime_api: &str, diagnostic: &Diagnostic) -> Result<u16, String> {
    let address = runtime_api
        .to_socket_addrs()
        .map_err(|error| format!("{RUNTIME_API_VARIABLE}={runtime_api}: {error}"))?
        .next()
        .ok_or_else(|| format!("{RUNTIME_API_VARIABLE}={runtime_api} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
        .map_err(|error| format!("cannot connect to the Runtime API at {runtime_api}: {error}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.write_all(&request(runtime_api, diagnostic)))
        .map_err(|error| format!("cannot send to the Runtime API at {runtime_api}: {error}"))?;
    // `Connection: close`: the answer ends where the stream does.
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|error| format!("no answer from the Runtime API at {runtime_api}: {error}"))?;
    status(&answer).ok_or_else(|| {
        format!(
            "the Runtime API at {runtime_api} answered something other than HTTP: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        )
    })
}

/// The request's bytes.
fn request(host: &str, diagnostic: &Diagnostic) -> Vec<u8> {
    let body = serde_json::to_vec(diagnostic).expect("a Diagnostic serializes");
    // A header value must not carry a line break; error types are identifiers anyway.
    let error_type: String = diagnostic
        .error_type
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let mut request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\n\
         Host: {host}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request
}

/// The status code of an HTTP/1.x answer.
fn status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&byte| byte == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    words
        .next()
        .filter(|version| version.starts_with("HTTP/1."))?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn diagnostic() -> Diagnostic {
        Diagnostic {
            error_type: "TemporalServerless.NoTaskQueue".to_owned(),
            error_message: "no task queue: set \"TEMPORAL_TASK_QUEUE\"\nor else".to_owned(),
        }
    }

    /// A one-shot HTTP server on loopback: answers `answer` to the first request and hands the
    /// request's bytes back.
    fn serve_once(answer: &'static str) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let mut received = Vec::new();
            let mut buffer = [0; 4096];
            // Headers, then exactly Content-Length bytes of body.
            loop {
                let read = stream.read(&mut buffer).unwrap();
                received.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&received).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|line| line.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if received.len() >= end + 4 + length || read == 0 {
                        break;
                    }
                }
            }
            stream.write_all(answer.as_bytes()).unwrap();
            received
        });
        (address, server)
    }

    #[test]
    fn the_error_type_goes_in_the_header_and_the_diagnostic_in_the_body() {
        let (address, server) =
            serve_once("HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}");
        assert_eq!(report(&address, &diagnostic()), Ok(202));
        let received = String::from_utf8(server.join().unwrap()).unwrap();
        let (head, body) = received.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.contains(
                "\r\nLambda-Runtime-Function-Error-Type: TemporalServerless.NoTaskQueue\r\n"
            ),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["errorType"], "TemporalServerless.NoTaskQueue");
        assert_eq!(body["errorMessage"], diagnostic().error_message);
    }

    #[test]
    fn a_refusal_or_a_missing_api_is_an_error_not_a_hang() {
        let (address, server) = serve_once("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(report(&address, &diagnostic()), Ok(403));
        server.join().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = closed.local_addr().unwrap().to_string();
        drop(closed);
        let error = report(&address, &diagnostic()).unwrap_err();
        assert!(error.contains("cannot connect"), "{error}");
        assert!(report("not an address", &diagnostic()).is_err());
    }

    #[test]
    fn header_values_cannot_be_split() {
        let mut diagnostic = diagnostic();
        diagnostic.error_type = "Bad\r\nX-Injected: 1".to_owned();
        let request = String::from_utf8(request("h:1", &diagnostic)).unwrap();
        assert!(
            request.contains("Lambda-Runtime-Function-Error-Type: BadX-Injected: 1\r\n"),
            "{request}"
        );
        assert_eq!(status(b"HTTP/1.1 202 Accepted\r\n\r\n"), Some(202));
        assert_eq!(status(b"garbage"), None);
    }
}
