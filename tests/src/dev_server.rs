//! The real Temporal dev server (`temporal server start-dev`) and the CLI pointed at it.

use crate::{free_port, workspace_root};
use serde_json::Value;
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long the dev server may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The Temporal CLI: `TEMPORAL_CLI` if set, else the one `scripts/setup` installs.
pub fn temporal_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("TEMPORAL_CLI") {
        return path.into();
    }
    let path = workspace_root().join(".local/venv/bin/temporal");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    path
}

/// A running dev server, stopped when dropped.
pub struct DevServer {
    child: Child,
    /// `127.0.0.1:<port>` of the frontend.
    pub address: String,
}

impl DevServer {
    /// Starts an in-memory dev server on a free loopback port, with `extra_args` appended
    /// (e.g. dynamic config), and waits until it answers.
    pub fn start(extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(temporal_cli())
            .args([
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--log-level",
                "error",
            ])
            .args([
                "--port",
                &port.to_string(),
                "--http-port",
                &free_port().to_string(),
            ])
            .args(["--metrics-port", &free_port().to_string()])
            .args(extra_args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the Temporal CLI starts");
        let server = Self { child, address };
        let started = Instant::now();
        while server
            .cli(&[
                "operator",
                "namespace",
                "describe",
                "--namespace",
                "default",
            ])
            .is_err()
        {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the dev server did not answer within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    /// Runs a `temporal` CLI command against this server; `Ok(stdout)` on success,
    /// `Err(stderr)` otherwise.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(temporal_cli())
            .args(args)
            .args(["--address", &self.address])
            .stdin(Stdio::null())
            .output()
            .expect("the Temporal CLI runs");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "temporal {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout)
            ))
        }
    }

    /// Runs a CLI command with `--output json` and parses its output.
    pub fn cli_json(&self, args: &[&str]) -> Result<Value, String> {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        let stdout = self.cli(&args)?;
        serde_json::from_str(&stdout).map_err(|error| format!("{error}: {stdout}"))
    }

    /// Polls `check` every 200 ms until it returns `Some`, at most `timeout`.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            assert!(
                started.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
