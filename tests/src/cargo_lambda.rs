//! `cargo lambda watch` (PyPI `cargo-lambda`, installed by `scripts/setup`) serving one of the
//! workspace's function binaries on 127.0.0.1, and `cargo lambda invoke` against it: the Rust
//! Lambda toolchain's local emulator, as a user runs it.

use crate::{
    child_process::{ServerProcess, ServerStart, listening, run_bounded, wait_bounded},
    free_port, installed_tool, processes, workspace_root,
};
use serde_json::Value;
use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

/// How long `watch` may take to listen once started.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `watch` and the function have to exit on SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long building a function binary may take: a cold build of the SDK on a busy 2-core
/// machine takes minutes (`cargo build` resolves features without the tests' dev-dependencies,
/// so the test run's own artifacts do not serve it).
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The `cargo-lambda` binary: `CARGO_LAMBDA` if set, else the one `scripts/setup` installs.
pub fn cargo_lambda() -> PathBuf {
    installed_tool("CARGO_LAMBDA", "cargo-lambda")
}

/// The cargo running this test (cargo sets `CARGO`), else `cargo` from `PATH`.
pub(crate) fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), Into::into)
}

/// `command` with the environment of the shell that ran `cargo test`: without what cargo sets
/// for a test process (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, …), which build scripts track (ring's
/// does: with them, a build from a test rebuilds ring, rustls, tonic and the whole SDK, and the
/// next build from a shell rebuilds them back), and without the function's settings
/// (`TEMPORAL_*`, `AWS_LAMBDA_*`) the caller did not choose.
pub(crate) fn as_from_the_shell(command: &mut Command) -> &mut Command {
    const SET_FOR_TESTS: [&str; 6] = [
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
    ];
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if SET_FOR_TESTS
            .iter()
            .chain(&["OUT_DIR", "TEMPORAL_", "AWS_LAMBDA_"])
            .any(|prefix| name.starts_with(prefix))
        {
            command.env_remove(&*name);
        }
    }
    command.env("CARGO", cargo())
}

/// Builds `bin` (dev profile, the workspace's target directory) exactly as `cargo lambda watch`
/// will run it (`cargo run --manifest-path Cargo.toml --bin BIN` at the workspace root), so that
/// the build `watch` starts at the first invocation finds nothing to do. Not `--package`: without
/// it cargo unifies the features of every workspace member (the tests' `otel` included), and a
/// `--package` build leaves those for `watch` to compile, minutes in a fresh clone.
pub fn build_bin(bin: &str) {
    run_build(
        as_from_the_shell(&mut Command::new(cargo()))
            .args(["build", "--manifest-path", "Cargo.toml", "--bin", bin])
            .current_dir(workspace_root()),
        &format!("cargo build --bin {bin}"),
    );
}

/// Runs a build (`what` names it in failures) in a process group of its own, stopped with
/// everything it started if it takes longer than a cold build may; panics unless it succeeds.
/// Returns how long it took.
pub(crate) fn run_build(command: &mut Command, what: &str) -> Duration {
    let mut child = command
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("cargo runs");
    let started = std::time::Instant::now();
    let status = wait_bounded(&mut child, BUILD_TIMEOUT)
        .unwrap_or_else(|| panic!("{what} took more than {BUILD_TIMEOUT:?}"));
    assert!(status.success(), "{what} failed ({status})");
    started.elapsed()
}

/// How long one `cargo lambda deploy` may take: zipping a debug binary of ~100 MB and uploading
/// it to a local endpoint takes seconds.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(120);

/// `cargo lambda deploy NAME --binary-path BINARY --output-format json ARGS`, run from the
/// workspace root (it reads the workspace's metadata) with `envs` added (the AWS endpoint and
/// credentials): what it printed, as a user's `> deploy.json` gets it (its progress lines, then
/// the JSON: its output is not a terminal), and that JSON; or what it said when it failed.
/// cargo lambda zips the binary into `bootstrap.zip` beside it and uploads that zip.
pub fn deploy(
    name: &str,
    binary: &Path,
    args: &[&str],
    envs: &[(&str, String)],
) -> Result<(String, Value), String> {
    let output = run_bounded(
        as_from_the_shell(&mut Command::new(cargo_lambda()))
            .args(["lambda", "deploy", name, "--binary-path"])
            .arg(binary)
            .args(["--output-format", "json", "--color", "never"])
            .args(args)
            .envs(envs.iter().map(|(name, value)| (name, value)))
            .current_dir(workspace_root()),
        DEPLOY_TIMEOUT,
        "cargo lambda deploy",
    )?;
    let stdout = succeeded(&output, "cargo lambda deploy")?;
    let json = stdout
        .find("\n{")
        .map_or(&stdout[..], |start| &stdout[start + 1..]);
    let json = serde_json::from_str(json).map_err(|error| format!("{error}: {stdout}"))?;
    Ok((stdout, json))
}

/// A running `cargo lambda watch`; it and the function it started are stopped when dropped.
pub struct Watch {
    process: ServerProcess,
    port: u16,
    log_path: PathBuf,
}

impl Watch {
    /// Starts `cargo lambda watch --bin <bin>` from the workspace root, listening on
    /// 127.0.0.1 (code changes ignored), the function's environment extended with `envs`
    /// (`--env-var`), and waits until it listens.
    pub fn start(bin: &str, envs: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!(
            "tsls-cargo-lambda-{}-{port}.log",
            std::process::id()
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = Command::new(cargo_lambda());
        as_from_the_shell(&mut command)
            .args(["lambda", "watch", "--bin", bin, "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(workspace_root())
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (key, value) in envs {
            command.args(["--env-var", &format!("{key}={value}")]);
        }
        let output = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let process = ServerProcess::start(
            &mut command,
            ServerStart {
                what: "cargo lambda watch",
                address: &format!("127.0.0.1:{port}"),
                answer_timeout: LISTEN_TIMEOUT,
                stop_grace: STOP_GRACE,
            },
            listening,
            output,
        )
        .unwrap_or_else(|status| panic!("cargo lambda watch exited ({status}):\n{}", output()));
        Self {
            process,
            port,
            log_path,
        }
    }

    /// `cargo lambda invoke <function> --data-ascii <payload>` against this watch, at most
    /// `timeout`: the function's answer, or what `invoke` said when it failed.
    pub fn invoke(
        &self,
        function: &str,
        payload: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        let output = run_bounded(
            Command::new(cargo_lambda())
                .args(["lambda", "invoke", function, "--data-ascii", payload])
                .args(["--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &self.port.to_string()])
                .args(["--output-format", "json", "--color", "never"]),
            timeout,
            "cargo lambda invoke",
        )?;
        let stdout = succeeded(&output, "cargo lambda invoke")?;
        serde_json::from_str(&stdout).map_err(|error| format!("{error}: {stdout}"))
    }

    /// Everything `watch`, cargo and the function have printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The function runs in a process group of its own, apart from watch's: every
        // descendant is found first and stopped by PID if watch's SIGTERM leaves it running.
        let descendants = processes::descendants(self.process.pid());
        self.process.stop();
        for pid in descendants {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// What `what` printed on stdout if it succeeded; else its status and everything it printed.
fn succeeded(output: &Output, what: &str) -> Result<String, String> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{what} failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
