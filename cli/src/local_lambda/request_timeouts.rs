//! How long a client may take to send a request to the control plane. One that opens a
//! connection and sends its head a byte at a time (slowloris), or never finishes its body, would
//! otherwise hold a task, a socket and its buffers for as long as it likes. Only reading the
//! request is bounded: an Invoke that then waits for its function (`RequestResponse`, up to the
//! function's timeout) is not.
//!
//! The Runtime API has no such bounds: its one client is the instance's own process, which the
//! service freezes between invocations, connections open; a bound there would cut them.

use super::{BodyError, read_capped};
use axum::{
    Router,
    body::{Body, Bytes},
    serve::Listener,
};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client has to send a request's head (request line and headers), from its
/// connection, or from the end of its previous exchange on a kept-alive connection: so it is also
/// how long an idle connection is kept. A local caller sends its head at once; a pool's idle
/// connection (the Temporal server's) is closed and the pool reconnects, as with any server that
/// closes idle connections.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client has to send a request's body once its head has arrived. Lambda's largest
/// payload (6 MB) crosses loopback in milliseconds.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener`, each request's head within [`HEADER_READ_TIMEOUT`]; never
/// returns. `axum::serve` cannot bound the head's reading, hyper's HTTP/1 connections can.
pub async fn serve(mut listener: TcpListener, router: Router) {
    let mut connections = http1::Builder::new();
    connections
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        // axum's accept: a failure such as too many open files is waited out, not fatal.
        let (stream, _peer) = Listener::accept(&mut listener).await;
        let connection = connections.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        tokio::spawn(async move {
            // A connection's failure is its client's, and the client has seen it: its head or
            // body was too slow, it sent something other than HTTP (hyper answered 400), or it
            // hung up. An invocation it started runs on and is recorded.
            let _ = connection.await;
        });
    }
}

/// Reads a request body as [`read_capped`] does, or `None` when it has not all arrived within
/// [`BODY_READ_TIMEOUT`]. Dropped unread, the rest of the body is not waited for: hyper closes
/// the connection after the answer.
pub(crate) async fn read_body_in_time(
    body: Body,
    limit: usize,
) -> Option<Result<Bytes, BodyError>> {
    tokio::time::timeout(BODY_READ_TIMEOUT, read_capped(body, limit))
        .await
        .ok()
}
