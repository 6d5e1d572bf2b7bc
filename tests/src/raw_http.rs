//! One HTTP/1.1 exchange over a plain TCP connection: the tests speak the wire protocols of the
//! local Lambda service and of moto themselves, not through a client library that would hide
//! what went over the wire.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

/// A response: status, the head lower-cased (status line and headers), and the body.
pub type Response = (u16, String, String);

/// Sends `method path` with `headers` and `body` to `address` (`host:port`) on a connection of
/// its own and reads the whole response, waiting at most `read_timeout` between reads; `None` if
/// the connection or the exchange failed.
pub fn exchange(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    read_timeout: Duration,
) -> Option<Response> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(read_timeout)).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_lowercase(), body.to_owned()))
}

/// A server the tests speak HTTP/1.1 to on loopback, one connection per request.
pub trait HttpServer {
    /// What it is, for failure messages.
    const NAME: &'static str;
    /// How long one response may take.
    const RESPONSE_TIMEOUT: Duration;

    /// `host:port`.
    fn address(&self) -> &str;

    /// A raw exchange: (status, lower-cased head, body); panics if the server did not answer.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        exchange(
            self.address(),
            method,
            path,
            headers,
            body,
            Self::RESPONSE_TIMEOUT,
        )
        .unwrap_or_else(|| panic!("{method} {path}: {} did not answer", Self::NAME))
    }
}
