//! Lambda's GetFunction over plain HTTP, for endpoints that take unsigned requests (the local
//! Lambda service, or a test double). Real AWS needs SigV4-signed requests, which `doctor` does
//! not make: there it reports the check as not done and gives the `aws` command instead.

use serde_json::Value;
use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /2015-03-31/functions/{arn}` on `endpoint` (`http://host:port`): the response document,
/// or the error (a 404 is `ResourceNotFoundException: …`).
pub fn get_function(endpoint: &str, arn: &str) -> Result<Value, String> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| {
            format!("{endpoint}: only http:// endpoints can be asked without AWS credentials")
        })?
        .trim_end_matches('/');
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|error| format!("{authority}: {error}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|error| format!("cannot reach {endpoint}: {error}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    write!(
        stream,
        "GET /2015-03-31/functions/{arn} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|error| error.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|error| format!("reading GetFunction's answer: {error}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("unreadable answer from {endpoint}"))?;
    // The local service answers with a length; anything chunked is not what we talk to.
    let document: Value = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
    if status == 200 {
        Ok(document)
    } else {
        let error_type = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("x-amzn-errortype")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "error".to_owned());
        Err(format!(
            "HTTP {status} {error_type}: {}",
            document["Message"]
                .as_str()
                .or(document["message"].as_str())
                .unwrap_or(body.trim())
        ))
    }
}
