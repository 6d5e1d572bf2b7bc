//! The harness the end-to-end tests share: the real Temporal dev server (from the project's own
//! setup), a Lambda Runtime API served by test code, and function processes spawned against it.
//! Everything binds to 127.0.0.1, is bounded in time, and is stopped by PID on drop.

pub mod arrivals;
pub mod aws_account;
pub mod bench;
pub mod cargo_lambda;
pub mod dev_server;
pub mod endurance;
pub mod function_process;
pub mod lambda_package;
pub mod lambda_service;
pub mod local_loop;
pub mod moto;
pub mod new_project;
pub mod otlp_receiver;
pub mod processes;
pub mod runtime_api;
pub mod soak;
pub mod targets;
pub mod tcp_proxy;
pub mod workflow_timing;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Stops a child started in its own process group, with everything it started: SIGTERM to the
/// group, up to `grace` for it to exit, then SIGKILL.
pub fn stop_process_group(child: &mut std::process::Child, grace: std::time::Duration) {
    use std::process::{Command, Stdio};
    let group = format!("-{}", child.id());
    let signal = |name: &str| {
        let _ = Command::new("kill")
            .args(["-s", name, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("TERM");
    let started = std::time::Instant::now();
    while started.elapsed() < grace && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    signal("KILL");
    let _ = child.wait();
}

/// A flag set when the process gets Ctrl-C (SIGINT), which then no longer ends it: a driver
/// stops waiting when it is set, and what it started is stopped as it is dropped.
pub fn ctrl_c_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let set = flag.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        set.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    flag
}

/// `git describe --always --dirty` of the working directory's tree (a dirty one is marked):
/// what a driver's binaries were built from when a script built them just before.
pub fn described_commit() -> Option<String> {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|commit| !commit.is_empty())
}

/// A free TCP port on 127.0.0.1 (the OS picks it; the socket is closed before use).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback port kept bound (listening, never accepting) until [`ReservedPort::release`], so
/// that nothing else takes it meanwhile — a dev server binding its internal services to ports the
/// OS picks, say — before the process it is meant for starts.
pub struct ReservedPort {
    listener: std::net::TcpListener,
}

impl ReservedPort {
    /// Binds a port the OS picks.
    pub fn new() -> Self {
        Self {
            listener: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }

    /// Frees the port for its process to bind, at once.
    pub fn release(self) -> String {
        self.address()
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// The `temporal-serverless` CLI, which cargo builds beside `binary` (a test's
/// `CARGO_BIN_EXE_…`) when it runs `cargo test --workspace`.
pub fn cli_beside(binary: &std::path::Path) -> PathBuf {
    let path = binary.with_file_name("temporal-serverless");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test --workspace`",
        path.display()
    );
    path
}

/// The value at `fraction` (0.0–1.0) of `sorted`, nearest rank; 0 for an empty slice.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

/// `text` without the terminal colours (ANSI escape sequences) the functions' log lines carry,
/// which split field names from their values.
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The `<field>=<number>` values of every log line containing `marker`.
pub fn logged_numbers(log: &str, marker: &str, field: &str) -> Vec<u64> {
    log.lines()
        .filter(|line| line.contains(marker))
        .filter_map(|line| {
            let plain = strip_ansi(line);
            let start = plain.find(&format!("{field}="))? + field.len() + 1;
            plain[start..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}
