//! The whole serverless loop on this machine: the real dev server with its Worker Controller
//! Instance enabled and pointed at our local Lambda service (`temporal-serverless lambda`),
//! which runs the function binary. The server alone decides when to invoke.

use crate::{ReservedPort, dev_server::DevServer, free_port, lambda_service::LambdaService};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The dev server flags that run the Worker Controller Instance for AWS Lambda.
pub const WCI_FLAGS: [&str; 6] = [
    "--dynamic-config-value",
    "workercontroller.enabled=true",
    "--dynamic-config-value",
    "workercontroller.compute_providers.enabled=[\"aws-lambda\"]",
    "--dynamic-config-value",
    "workercontroller.compute_providers.aws.require_role_and_external_id=false",
];

/// The dev server flags with which it completes a worker's outstanding polls when the worker
/// calls `ShutdownWorker` (Temporal Cloud's mode; the namespace then advertises the capability
/// `worker_poll_complete_on_shutdown`).
pub const COMPLETE_POLLS_ON_SHUTDOWN: [&str; 2] = [
    "--dynamic-config-value",
    "frontend.enableCancelWorkerPollsOnShutdown=true",
];

/// Less common settings of [`LocalLoop::start_with`].
#[derive(Default)]
pub struct LoopExtras<'a> {
    /// More `temporal-serverless lambda` arguments (e.g. `--keep-warm`).
    pub service_args: &'a [&'a str],
    /// More dev server arguments (e.g. dynamic config).
    pub server_args: &'a [&'a str],
    /// Where the service's and the functions' output goes (discarded if `None`).
    pub log: Option<&'a Path>,
    /// The functions' `TEMPORAL_ADDRESS`, given the dev server's address (default: that
    /// address), e.g. a proxy in front of the server whose connections a test cuts.
    pub function_address: Option<&'a dyn Fn(&str) -> String>,
}

/// A running loop; everything is stopped when dropped.
pub struct LocalLoop {
    /// The local Lambda service the server invokes (stopped first).
    pub lambda: LambdaService,
    /// The dev server.
    pub server: DevServer,
    /// Where the service's and the functions' output goes.
    pub log: PathBuf,
    owns_log: bool,
    /// The ARN the version is created with: version 1 of the function (a published version, as
    /// `deploy` requires; the local service serves any qualifier).
    pub function_arn: String,
    cli: PathBuf,
    /// The service's address and arguments, to start it again.
    service_address: String,
    service_args: Vec<String>,
}

impl LocalLoop {
    /// Starts the dev server (WCI on, Lambda endpoint = our service) and the Lambda service
    /// hosting `artifact` as function `name`.
    pub fn start(
        cli: &Path,
        name: &str,
        artifact: &Path,
        timeout_seconds: u64,
        concurrency: usize,
        function_env: &[(&str, &str)],
    ) -> Self {
        Self::start_with(
            cli,
            name,
            artifact,
            timeout_seconds,
            concurrency,
            function_env,
            LoopExtras::default(),
        )
    }

    /// [`LocalLoop::start`] with `extras`.
    pub fn start_with(
        cli: &Path,
        name: &str,
        artifact: &Path,
        timeout_seconds: u64,
        concurrency: usize,
        function_env: &[(&str, &str)],
        extras: LoopExtras<'_>,
    ) -> Self {
        // Held until the service starts: the dev server, started first because the functions
        // need its address, binds ports of its own, and once took this one (the server's
        // GetFunction then reached its own gRPC port).
        let lambda_port = ReservedPort::new();
        let lambda_address = lambda_port.address();
        let server_args: Vec<&str> = WCI_FLAGS
            .iter()
            .chain(extras.server_args)
            .copied()
            .collect();
        let server = DevServer::start(
            &server_args,
            &[
                (
                    "AWS_ENDPOINT_URL_LAMBDA",
                    &format!("http://{lambda_address}"),
                ),
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
                ("AWS_REGION", "us-east-1"),
            ],
        );
        let mut args: Vec<String> = vec![
            "--function".to_owned(),
            format!("{name}={}", artifact.display()),
            "--timeout".to_owned(),
            timeout_seconds.to_string(),
            "--concurrency".to_owned(),
            concurrency.to_string(),
            "--env".to_owned(),
            format!(
                "TEMPORAL_ADDRESS={}",
                extras.function_address.map_or_else(
                    || server.address.clone(),
                    |address| address(&server.address)
                )
            ),
            "--env".to_owned(),
            "TEMPORAL_NAMESPACE=default".to_owned(),
        ];
        for (key, value) in function_env {
            args.extend(["--env".to_owned(), format!("{key}={value}")]);
        }
        args.extend(extras.service_args.iter().map(|arg| arg.to_string()));
        // The service's and functions' output is kept, so that a failure can show it.
        let log = extras.log.map(Path::to_path_buf).unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "tsls-loop-{}-{}.log",
                std::process::id(),
                free_port()
            ))
        });
        let service_address = lambda_port.release();
        let lambda = LambdaService::start_at(cli, &service_address, &args, Some(&log));
        Self {
            server,
            lambda,
            log,
            owns_log: extras.log.is_none(),
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{name}:1"),
            cli: cli.to_path_buf(),
            service_address,
            service_args: args,
        }
    }

    /// Stops the Lambda service with every instance it holds and starts it again on the same
    /// address, so that the next invocation is a cold start. Its records start afresh (read
    /// them first); the log goes on.
    pub fn restart_lambda(&mut self) {
        // The old one first: it holds the port.
        self.lambda.stop();
        self.lambda = LambdaService::start_at(
            &self.cli,
            &self.service_address,
            &self.service_args,
            Some(&self.log),
        );
    }

    /// `temporal-serverless deploy` of `artifact`; `Err(stderr)` if it fails.
    pub fn deploy(&self, artifact: &Path, set_current: bool) -> Result<String, String> {
        self.deploy_as(artifact, &self.function_arn, set_current)
    }

    /// [`LocalLoop::deploy`] with another function ARN (another version, say). The code check is
    /// skipped: the local service runs the artifact file itself, and there is no uploaded zip
    /// whose digest Lambda could report.
    pub fn deploy_as(
        &self,
        artifact: &Path,
        function_arn: &str,
        set_current: bool,
    ) -> Result<String, String> {
        let mut args = vec![
            "--artifact",
            artifact.to_str().unwrap(),
            "--function-arn",
            function_arn,
            "--skip-code-check",
        ];
        if set_current {
            args.push("--set-current");
        }
        self.deploy_with(&args, &[])
    }

    /// `temporal-serverless deploy ARGS -- --address <server>` with `envs` added to its
    /// environment (e.g. the AWS endpoint and credentials of its code check); `Err(output)` if
    /// it fails.
    pub fn deploy_with(&self, args: &[&str], envs: &[(&str, String)]) -> Result<String, String> {
        let output = Command::new(&self.cli)
            .arg("deploy")
            .args(args)
            .args([
                "--temporal-cli",
                crate::dev_server::temporal_cli().to_str().unwrap(),
            ])
            .args(["--", "--address", &self.server.address])
            .envs(envs.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .output()
            .expect("deploy runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            Ok(format!("{stdout}{stderr}"))
        } else {
            Err(format!(
                "{stdout}{stderr}\n--- the Lambda service and functions said (last 40 lines):\n{}",
                self.log_tail(40)
            ))
        }
    }

    /// The last `lines` lines of [`LocalLoop::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Every invocation recorded so far.
    pub fn records(&self) -> Vec<Value> {
        self.lambda.records()
    }

    /// `temporal-serverless doctor ARGS -- --address <server>`: (exit success, stdout).
    pub fn doctor(&self, args: &[&str]) -> (bool, String) {
        self.doctor_connected(args, &[])
    }

    /// [`LocalLoop::doctor`] with `connection` after the address among the connection arguments
    /// (e.g. `--namespace default`, as the documentation passes it).
    pub fn doctor_connected(&self, args: &[&str], connection: &[&str]) -> (bool, String) {
        let output = Command::new(&self.cli)
            .arg("doctor")
            .args(args)
            .args([
                "--temporal-cli",
                crate::dev_server::temporal_cli().to_str().unwrap(),
            ])
            .args(["--", "--address", &self.server.address])
            .args(connection)
            .env_remove("AWS_ENDPOINT_URL_LAMBDA")
            .stdin(Stdio::null())
            .output()
            .expect("doctor runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

impl Drop for LocalLoop {
    fn drop(&mut self) {
        if self.owns_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
