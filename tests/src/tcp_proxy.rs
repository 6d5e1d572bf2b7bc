//! A TCP proxy between function processes and the dev server, so that a test can break their
//! connections the way a network does: [`TcpProxy::cut_all`] resets every open connection at
//! once (both sides see a reset, not a clean close) while new connections are still accepted.
//!
//! It also remembers, per connection, the last Temporal worker identity (`<request id>@<ARN>`,
//! the runtime's default) seen in the client's requests: poll requests carry it in plain
//! protobuf, so it tells which invocation a connection currently serves.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// What the proxy knows about one open connection.
#[derive(Debug, Clone)]
pub struct ProxiedConnection {
    /// The client's address (its local port identifies its socket in `/proc/net/tcp`).
    pub client: SocketAddr,
    /// The last `<request id>` of a worker identity `<request id>@arn:…` the client sent.
    pub last_request_id: Option<String>,
}

#[derive(Default)]
struct Shared {
    connections: Mutex<HashMap<u64, ProxiedConnection>>,
    accepted: AtomicU64,
    cuts: AtomicU64,
    reset_connections: AtomicU64,
}

/// A running proxy on 127.0.0.1; stops (resetting what is open) when dropped.
pub struct TcpProxy {
    address: String,
    shared: Arc<Shared>,
    /// Bumped by every cut; each connection resets itself when it changes.
    cut: watch::Sender<u64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target` (`host:port`).
    pub fn start(target: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tcp-proxy")
            .enable_all()
            .build()
            .expect("the proxy's runtime starts");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("the proxy binds a loopback port");
        let address = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared::default());
        let (cut, _) = watch::channel(0);
        let target = target.to_owned();
        let (accept_shared, accept_cut) = (shared.clone(), cut.clone());
        runtime.spawn(async move {
            let mut next_id = 0u64;
            while let Ok((client, peer)) = listener.accept().await {
                next_id += 1;
                accept_shared.accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(
                    next_id,
                    client,
                    peer,
                    target.clone(),
                    accept_shared.clone(),
                    accept_cut.subscribe(),
                ));
            }
        });
        Self {
            address,
            shared,
            cut,
            runtime: Some(runtime),
        }
    }

    /// `127.0.0.1:<port>`: where clients connect.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Resets every open connection at once (`SO_LINGER` 0, then both sockets closed: each side
    /// gets an RST); returns how many were open. New connections are accepted as before.
    pub fn cut_all(&self) -> usize {
        let open = self.shared.connections.lock().unwrap().len();
        self.shared.cuts.fetch_add(1, Ordering::Relaxed);
        self.cut.send_modify(|generation| *generation += 1);
        open
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// [`TcpProxy::cut_all`] calls so far.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::Relaxed)
    }

    /// Connections reset by cuts so far.
    pub fn reset_connections(&self) -> u64 {
        self.shared.reset_connections.load(Ordering::Relaxed)
    }

    /// The connections open now.
    pub fn connections(&self) -> Vec<ProxiedConnection> {
        self.shared
            .connections
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut.send_modify(|generation| *generation += 1);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}

/// One connection: bytes both ways until either side closes (passed on as a close) or fails, or
/// a cut (passed on as a reset to both).
async fn forward(
    id: u64,
    mut client: TcpStream,
    peer: SocketAddr,
    target: String,
    shared: Arc<Shared>,
    mut cut: watch::Receiver<u64>,
) {
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    shared.connections.lock().unwrap().insert(
        id,
        ProxiedConnection {
            client: peer,
            last_request_id: None,
        },
    );
    let reset = {
        let (mut client_read, mut client_write) = client.split();
        let (mut upstream_read, mut upstream_write) = upstream.split();
        let requests = pump(&mut client_read, &mut upstream_write, |bytes| {
            if let Some(request_id) = last_request_id(bytes)
                && let Some(connection) = shared.connections.lock().unwrap().get_mut(&id)
            {
                connection.last_request_id = Some(request_id);
            }
        });
        let responses = pump(&mut upstream_read, &mut client_write, |_| {});
        tokio::select! {
            both = async { tokio::try_join!(requests, responses) } => both.is_err(),
            _ = cut.changed() => {
                shared.reset_connections.fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    };
    shared.connections.lock().unwrap().remove(&id);
    if reset {
        // Closing with a zero linger sends RST instead of FIN.
        let _ = (client.set_zero_linger(), upstream.set_zero_linger());
    }
}

/// Copies `from` → `to` until end of stream (passed on as a write shutdown); `seen` gets a window
/// of the latest bytes (the previous read's tail and this read), so a marker split between two
/// reads is still found.
async fn pump(
    from: &mut tokio::net::tcp::ReadHalf<'_>,
    to: &mut tokio::net::tcp::WriteHalf<'_>,
    mut seen: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    const TAIL: usize = 128;
    let mut buffer = vec![0u8; 64 * 1024 + TAIL];
    let mut tail = 0;
    loop {
        let read = from.read(&mut buffer[tail..]).await?;
        if read == 0 {
            to.shutdown().await?;
            return Ok(());
        }
        to.write_all(&buffer[tail..tail + read]).await?;
        let end = tail + read;
        seen(&buffer[..end]);
        tail = end.min(TAIL);
        buffer.copy_within(end - tail..end, 0);
    }
}

/// The request id of the last worker identity (`<request id>@arn:`) in `bytes`.
fn last_request_id(bytes: &[u8]) -> Option<String> {
    const MARKER: &[u8] = b"@arn:";
    let at = bytes
        .windows(MARKER.len())
        .rposition(|window| window == MARKER)?;
    let start = bytes[..at]
        .iter()
        .rposition(|byte| !(byte.is_ascii_hexdigit() || *byte == b'-'))
        .map_or(0, |before| before + 1);
    (at - start == 36).then(|| String::from_utf8_lossy(&bytes[start..at]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io::{ErrorKind, Read, Write},
        net::TcpStream as StdStream,
        time::Duration,
    };

    /// An echo server on loopback, for as long as the test runs.
    fn echo_server() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    while let Ok(read) = stream.read(&mut buffer) {
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    fn connect(proxy: &TcpProxy) -> StdStream {
        let stream = StdStream::connect(proxy.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    fn echo(stream: &mut StdStream, text: &[u8]) -> Vec<u8> {
        stream.write_all(text).unwrap();
        let mut answer = vec![0u8; text.len()];
        stream.read_exact(&mut answer).unwrap();
        answer
    }

    fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let started = std::time::Instant::now();
        while !check() {
            assert!(started.elapsed() < Duration::from_secs(5), "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn forwards_both_ways_and_counts_connections() {
        let proxy = TcpProxy::start(&echo_server());
        let mut first = connect(&proxy);
        let mut second = connect(&proxy);
        assert_eq!(echo(&mut first, b"hello"), b"hello");
        assert_eq!(echo(&mut second, b"world"), b"world");
        assert_eq!(proxy.accepted(), 2);
        wait_for("both connections listed", || proxy.connections().len() == 2);
        drop(first);
        wait_for("a closed connection leaves the list", || {
            proxy.connections().len() == 1
        });
    }

    #[test]
    fn cut_all_resets_every_connection_and_new_ones_still_work() {
        let proxy = TcpProxy::start(&echo_server());
        let mut first = connect(&proxy);
        let mut second = connect(&proxy);
        assert_eq!(echo(&mut first, b"a"), b"a");
        assert_eq!(echo(&mut second, b"b"), b"b");
        wait_for("both connections listed", || proxy.connections().len() == 2);
        assert_eq!(proxy.cut_all(), 2);
        for stream in [&mut first, &mut second] {
            let mut buffer = [0u8; 1];
            let error = stream
                .read(&mut buffer)
                .expect_err("a cut connection reads a reset, not a clean end");
            assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
        }
        assert_eq!((proxy.cuts(), proxy.reset_connections()), (1, 2));
        wait_for("cut connections leave the list", || {
            proxy.connections().is_empty()
        });
        let mut third = connect(&proxy);
        assert_eq!(echo(&mut third, b"again"), b"again");
        assert_eq!(proxy.accepted(), 3);
    }

    #[test]
    fn remembers_the_last_worker_identity_a_client_sent() {
        let proxy = TcpProxy::start(&echo_server());
        let mut client = connect(&proxy);
        let first = "0a1b2c3d-0001-4abc-8def-000000000001";
        let second = "0a1b2c3d-0002-4abc-8def-000000000002";
        let arn = "@arn:aws:lambda:us-east-1:000000000000:function:f:live";
        echo(&mut client, format!("\x12\x40{first}{arn}").as_bytes());
        echo(&mut client, format!("poll\x12\x40{second}").as_bytes());
        echo(&mut client, format!("{arn}\x1a").as_bytes());
        wait_for("the second identity, split across writes", || {
            proxy.connections()[0].last_request_id.as_deref() == Some(second)
        });
    }

    #[test]
    fn only_whole_request_ids_count() {
        assert_eq!(last_request_id(b"\x12short@arn:x"), None);
        assert_eq!(
            last_request_id(b"f0a1b2c3d-0001-4abc-8def-000000000001@arn:x"),
            None,
            "37 characters: not a request id"
        );
        assert_eq!(
            last_request_id(b"\n$0a1b2c3d-0001-4abc-8def-000000000001@arn:"),
            Some("0a1b2c3d-0001-4abc-8def-000000000001".to_owned())
        );
    }
}
