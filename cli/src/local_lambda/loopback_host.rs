//! Which requests the local Lambda service answers: those addressed to this machine's loopback
//! interface by name. Listening on loopback keeps other machines out, not web pages: DNS
//! rebinding points a name a page's author controls at 127.0.0.1, and the developer's browser
//! then sends that page's requests here, with that name in `Host`. The functions run with the
//! developer's environment (credentials, `--env`), so such a request is refused before anything
//! reads it. A browser always sends the page's own name, and cannot forge `Host`.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Uri, header::HOST},
    middleware::Next,
    response::Response,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// How a server words the refusal in its own protocol's error shape, given why the request is
/// refused (the control plane as AWS does, the Runtime API as Lambda's does).
pub type Refusal = fn(String) -> Response;

/// Middleware, for [`axum::middleware::from_fn_with_state`] with a [`Refusal`]: passes a request
/// addressed to a loopback name on, and answers any other with the refusal.
pub async fn loopback_only(
    State(refusal): State<Refusal>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(why) = why_not_loopback(request.headers(), request.uri()) {
        // Said where the developer looks too: a page probing the service, or a caller set up
        // with a name this refuses, shows up in the service's log.
        println!(
            "lambda: refused {} {}: {why}",
            request.method(),
            request.uri().path()
        );
        return refusal(why);
    }
    next.run(request).await
}

/// Why a request with these headers and this target is refused, or `None` when it is addressed
/// to a loopback name: exactly one `Host`, and it (and the authority of a target in absolute
/// form, which RFC 9112 §3.2.2 puts before `Host`) is [`is_loopback_host`].
pub fn why_not_loopback(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let hosts: Vec<_> = headers.get_all(HOST).iter().collect();
    let host = match hosts.as_slice() {
        [] => return Some(refusal_message("has no Host header")),
        [host] => match host.to_str() {
            Ok(host) => host,
            Err(_) => return Some(refusal_message("has a Host header that is not ASCII")),
        },
        several => {
            return Some(refusal_message(&format!(
                "has {} Host headers",
                several.len()
            )));
        }
    };
    if !is_loopback_host(host) {
        return Some(refusal_message(&format!("is addressed to `{host}`")));
    }
    if let Some(authority) = uri.authority()
        && !is_loopback_host(authority.as_str())
    {
        return Some(refusal_message(&format!(
            "is addressed to `{authority}` (in its request line)"
        )));
    }
    None
}

/// The refusal's message: what is wrong with the request, why that matters, and how to call.
fn refusal_message(what: &str) -> String {
    format!(
        "This request {what}. The local Lambda service answers only requests addressed to this \
         machine's loopback interface (Host localhost, 127.0.0.1 or any 127.x.y.z, or [::1], with \
         or without a port), so that a web page cannot reach it through DNS rebinding. Address it \
         as 127.0.0.1 and the port it listens on."
    )
}

/// Whether `host`, as written in a `Host` header (a name or an address, then maybe `:` and a
/// port), names this machine's loopback interface: `localhost` in any case, an IPv4 address in
/// 127.0.0.0/8, or `[::1]`. Nothing else, not even a name that resolves to 127.0.0.1 (that is
/// what a rebinding attacker's name does) nor a subdomain of `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    match host.strip_prefix('[') {
        // An IPv6 address is written in brackets, its port after them.
        Some(bracketed) => bracketed.split_once(']').is_some_and(|(address, port)| {
            is_port_suffix(port)
                && address
                    .parse::<Ipv6Addr>()
                    .is_ok_and(|address| address.is_loopback())
        }),
        None => {
            let (name, port) = host
                .find(':')
                .map_or((host, ""), |colon| host.split_at(colon));
            is_port_suffix(port)
                && (name.eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<Ipv4Addr>()
                        .is_ok_and(|address| address.is_loopback()))
        }
    }
}

/// Whether `suffix` (what follows the host) is nothing, or `:` and a port: digits, possibly
/// none, as RFC 3986 allows.
fn is_port_suffix(suffix: &str) -> bool {
    suffix.is_empty()
        || suffix
            .strip_prefix(':')
            .is_some_and(|port| port.bytes().all(|byte| byte.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn loopback_names_and_addresses_are_loopback_with_or_without_a_port() {
        for host in [
            "localhost",
            "LOCALHOST",
            "LocalHost:9001",
            "localhost:",
            "127.0.0.1",
            "127.0.0.1:9001",
            "127.255.1.2:80",
            "[::1]",
            "[::1]:9001",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn other_names_and_malformed_hosts_are_not() {
        for host in [
            "",
            "evil.example",
            "evil.example:9001",
            // Names that resolve to loopback are exactly what DNS rebinding uses.
            "127.0.0.1.nip.io:9001",
            "localhost.evil.example",
            "evil.localhost",
            "0.0.0.0",
            "10.0.0.1:9001",
            "128.0.0.1",
            "127.1",
            "[::2]:9001",
            "[::ffff:10.0.0.1]",
            // IPv6 outside brackets, IPv4 inside them, unclosed brackets.
            "::1",
            "[127.0.0.1]",
            "[::1",
            "[::1]9001",
            // Ports that are not ports, user information.
            "localhost:9001:1",
            "localhost:90a1",
            "127.0.0.1 :9001",
            "user@localhost",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn a_request_is_refused_unless_its_one_host_is_loopback() {
        let headers = |hosts: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for &host in hosts {
                headers.append(HOST, HeaderValue::from_static(host));
            }
            headers
        };
        let origin_form = Uri::from_static("/2015-03-31/functions/echo/invocations");
        assert_eq!(
            why_not_loopback(&headers(&["127.0.0.1:9001"]), &origin_form),
            None
        );
        let why = why_not_loopback(&headers(&["rebound.example:9001"]), &origin_form).unwrap();
        assert!(
            why.contains("`rebound.example:9001`") && why.contains("DNS rebinding"),
            "{why}"
        );
        let why = why_not_loopback(&headers(&[]), &origin_form).unwrap();
        assert!(why.contains("no Host header"), "{why}");
        let why = why_not_loopback(&headers(&["localhost", "evil.example"]), &origin_form).unwrap();
        assert!(why.contains("2 Host headers"), "{why}");
        // In absolute form, the request line's authority is the one that counts.
        let absolute =
            Uri::from_static("http://evil.example/2015-03-31/functions/echo/invocations");
        let why = why_not_loopback(&headers(&["localhost"]), &absolute).unwrap();
        assert!(why.contains("`evil.example`"), "{why}");
    }
}
