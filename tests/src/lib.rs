//! The harness the end-to-end tests share: the real Temporal dev server (from the project's own
//! setup), a Lambda Runtime API served by test code, and function processes spawned against it.
//! Everything binds to 127.0.0.1, is bounded in time, and is stopped by PID on drop.

pub mod dev_server;
pub mod function_process;
pub mod local_loop;
pub mod runtime_api;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A free TCP port on 127.0.0.1 (the OS picks it; the socket is closed before use).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
