//! A TCP proxy between function processes and the dev server, so that a test can break their
//! connections the way a network does: [`TcpProxy::cut_all`] resets every open connection at
//! once (both sides see a reset, not a clean close) while new connections are still accepted.

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
    shared
        .connections
        .lock()
        .unwrap()
        .insert(id, ProxiedConnection { client: peer });
    let reset = {
        let (mut client_read, mut client_write) = client.split();
        let (mut upstream_read, mut upstream_write) = upstream.split();
        let requests = pump(&mut client_read, &mut upstream_write);
        let responses = pump(&mut upstream_read, &mut client_write);
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

/// Copies `from` → `to` until end of stream (passed on as a write shutdown).
async fn pump(
    from: &mut tokio::net::tcp::ReadHalf<'_>,
    to: &mut tokio::net::tcp::WriteHalf<'_>,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            to.shutdown().await?;
            return Ok(());
        }
        to.write_all(&buffer[..read]).await?;
    }
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
}
