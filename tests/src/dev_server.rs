//! The real Temporal dev server (`temporal server start-dev`) and the CLI pointed at it.

use crate::{free_port, installed_tool};
use serde_json::Value;
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};

/// How long the dev server may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a server that exits at start (a port taken meanwhile) is started again.
const START_ATTEMPTS: usize = 3;

/// The Temporal CLI: `TEMPORAL_CLI` if set, else the one `scripts/setup` installs.
pub fn temporal_cli() -> PathBuf {
    installed_tool("TEMPORAL_CLI", "temporal")
}

/// A running dev server, stopped when dropped.
pub struct DevServer {
    child: Child,
    /// `127.0.0.1:<port>` of the frontend.
    pub address: String,
    arguments: Vec<String>,
    envs: Vec<(String, String)>,
}

impl DevServer {
    /// Starts a dev server as `temporal server start-dev` runs by default (loopback, headless).
    pub fn start_default() -> Self {
        Self::start(&[], &[])
    }

    /// Starts a dev server on a free loopback port, with `extra_args` appended (e.g. dynamic
    /// config, `--db-filename`), and waits until it answers.
    pub fn start(extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        // The ports are free when picked but not held, and something else (an outgoing
        // connection's source port) can take one before the server binds it; the server then
        // exits at once, and is started again on other ports.
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut arguments: Vec<String> = [
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--log-level",
                "error",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect();
            for (flag, value) in [
                ("--port", port),
                ("--http-port", free_port()),
                ("--metrics-port", free_port()),
            ] {
                arguments.extend([flag.to_owned(), value.to_string()]);
            }
            arguments.extend(extra_args.iter().map(|argument| argument.to_string()));
            let mut server = Self {
                child: Self::spawn(&arguments, &envs),
                address: format!("127.0.0.1:{port}"),
                arguments,
                envs: envs.clone(),
            };
            if server.wait_until_up() {
                return server;
            }
        }
        panic!("the dev server exited at start {START_ATTEMPTS} times (see its output above)");
    }

    fn spawn(arguments: &[String], envs: &[(String, String)]) -> Child {
        Command::new(temporal_cli())
            .args(arguments)
            .envs(envs.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the Temporal CLI starts")
    }

    /// Stops the server and starts it again on the same port with the same arguments (state
    /// survives only with `--db-filename`): what a function sees when its connection dies.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.arguments, &self.envs);
        assert!(
            self.wait_until_up(),
            "the dev server exited when started again on its ports"
        );
    }

    /// Waits until the server answers; `false` if it exited first (a port was taken).
    fn wait_until_up(&mut self) -> bool {
        let started = Instant::now();
        while self
            .cli(&[
                "operator",
                "namespace",
                "describe",
                "--namespace",
                "default",
            ])
            .is_err()
        {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the dev server did not answer within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        true
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

    /// `temporal workflow start` of `workflow_type` on `task_queue`, with a JSON `input`.
    pub fn start_workflow(
        &self,
        task_queue: &str,
        workflow_type: &str,
        id: &str,
        input: &str,
    ) -> Result<String, String> {
        self.cli(&[
            "workflow",
            "start",
            "--task-queue",
            task_queue,
            "--type",
            workflow_type,
            "--workflow-id",
            id,
            "--input",
            input,
        ])
    }

    /// Whether workflow `id` has completed (any other status, or none yet: `false`).
    pub fn is_completed(&self, id: &str) -> bool {
        self.cli_json(&["workflow", "describe", "--workflow-id", id])
            .is_ok_and(|description| {
                description["workflowExecutionInfo"]["status"]
                    == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
            })
    }

    /// Starts workflow `id` ([`DevServer::start_workflow`]) and waits until it has completed, at
    /// most `timeout`.
    pub fn run_workflow(
        &self,
        task_queue: &str,
        workflow_type: &str,
        id: &str,
        input: &str,
        timeout: Duration,
    ) {
        self.start_workflow(task_queue, workflow_type, id, input)
            .unwrap_or_else(|error| panic!("{id} did not start: {error}"));
        self.wait_until_completed(id, timeout);
    }

    /// Waits until workflow `id` has completed, at most `timeout`.
    pub fn wait_until_completed(&self, id: &str, timeout: Duration) {
        self.wait_for(timeout, &format!("{id} to complete"), |server| {
            server.is_completed(id).then_some(())
        });
    }

    /// The identities of the workers that took workflow `id`'s workflow and activity tasks (a
    /// serverless worker's is `<request id>@<invoked function ARN>`).
    pub fn task_identities(&self, id: &str) -> Vec<String> {
        let history = self
            .cli_json(&["workflow", "show", "--workflow-id", id])
            .unwrap();
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|event| {
                [
                    "workflowTaskStartedEventAttributes",
                    "activityTaskStartedEventAttributes",
                ]
                .iter()
                .find_map(|attributes| event[attributes]["identity"].as_str())
            })
            .map(str::to_owned)
            .collect()
    }

    /// Makes `deployment`'s version `build_id` current, as a deploy would, so that new workflows
    /// on its task queues go to it; retried until the version exists (its first poll creates it).
    pub fn make_current(&self, deployment: &str, build_id: &str) {
        let version = DeploymentVersion::new(deployment, build_id);
        let set_current = VersionCommand::new(Subcommand::SetCurrentVersion, version).confirmed();
        self.wait_for(
            Duration::from_secs(20),
            "the version to become current",
            |server| server.cli(&set_current.words()).ok(),
        );
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
