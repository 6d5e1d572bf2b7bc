//! The harness the end-to-end tests share: the real Temporal dev server (from the project's own
//! setup), a Lambda Runtime API served by test code, function processes spawned against it, the
//! local Lambda service and the whole local loop, each set up through named builders. Everything
//! binds to 127.0.0.1, is bounded in time, and is stopped by PID on drop. The drivers of
//! `scripts/bench`, `soak`, `endurance` and `demo` are tools, not tests: their code is
//! [`tools`], their mains `tools/*.rs`.

pub mod aws_account;
pub mod cargo_lambda;
pub mod child_process;
pub mod cli_run;
pub mod conformance;
pub mod dev_server;
pub mod function_process;
pub mod lambda_package;
pub mod lambda_service;
pub mod local_loop;
pub mod moto;
pub mod new_project;
pub mod otlp_receiver;
pub mod processes;
pub mod raw_http;
pub mod runtime_api;
pub mod tcp_proxy;
pub mod tools;
pub mod workflow_timing;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A program `scripts/setup` installs in the project's venv: the path in `variable` if set,
/// else `.local/venv/bin/<program>`, which must exist.
pub fn installed_tool(variable: &str, program: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return path.into();
    }
    let path = workspace_root().join(".local/venv/bin").join(program);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    path
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

/// The fixture function (`src/bin/fixture_function.rs`) cargo built for the calling integration
/// test, as a `&'static Path`. `CARGO_BIN_EXE_*` is set only where a test target is compiled, so
/// it is read where the macro is expanded.
#[macro_export]
macro_rules! fixture_function {
    () => {
        ::std::path::Path::new(env!("CARGO_BIN_EXE_fixture_function"))
    };
}

/// The `temporal-serverless` CLI beside the calling test's [`fixture_function!`], as a
/// `PathBuf`.
#[macro_export]
macro_rules! cli_binary {
    () => {
        $crate::cli_beside($crate::fixture_function!())
    };
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
