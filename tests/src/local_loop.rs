//! The whole serverless loop on this machine: the real dev server with its Worker Controller
//! Instance enabled and pointed at our local Lambda service (`temporal-serverless lambda`),
//! which runs the function binary. The server alone decides when to invoke.

use crate::{
    ReservedPort,
    cli_run::{CliOutput, CliRun},
    dev_server::DevServer,
    free_port,
    lambda_service::LambdaService,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

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

/// The dev server flags that give every task queue a single partition (4 by default), so that
/// no poll is forwarded between partitions.
pub const SINGLE_PARTITION: [&str; 4] = [
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
];

/// How to start a [`LocalLoop`], setting by named setting:
/// `LocalLoop::builder(&cli, "fixture", &binary).timeout_seconds(30).task_queue("q").start()`.
pub struct LoopBuilder<'a> {
    cli: &'a Path,
    name: &'a str,
    artifact: &'a Path,
    timeout_seconds: u64,
    concurrency: usize,
    function_env: Vec<(String, String)>,
    service_args: Vec<String>,
    server_args: Vec<String>,
    server_completes_polls: bool,
    log: Option<&'a Path>,
    function_address: Option<&'a dyn Fn(&str) -> String>,
}

impl<'a> LoopBuilder<'a> {
    /// The function's timeout (`--timeout`; default 15 s: 8 s of work time per invocation after
    /// the runtime's 7 s shutdown deadline buffer).
    pub fn timeout_seconds(mut self, seconds: u64) -> Self {
        self.timeout_seconds = seconds;
        self
    }

    /// How many instances may run at once (`--concurrency`; default 4).
    pub fn concurrency(mut self, instances: usize) -> Self {
        self.concurrency = instances;
        self
    }

    /// The task queue the function polls (`TEMPORAL_TASK_QUEUE`).
    pub fn task_queue(self, task_queue: &str) -> Self {
        self.function_env("TEMPORAL_TASK_QUEUE", task_queue)
    }

    /// One more variable in the function's environment.
    pub fn function_env(mut self, name: &str, value: &str) -> Self {
        self.function_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// No retries of failed Event invocations (`--event-retry-delays ""`): a failure shows once.
    pub fn no_event_retries(self) -> Self {
        self.service_args(&["--event-retry-delays", ""])
    }

    /// How long an idle instance stays warm (frozen) before it is reclaimed (`--keep-warm`).
    pub fn keep_warm_seconds(self, seconds: u64) -> Self {
        self.service_args(&["--keep-warm", &seconds.to_string()])
    }

    /// The AWS account in the function ARNs the service answers for (`--account`).
    pub fn account(self, account: &str) -> Self {
        self.service_args(&["--account", account])
    }

    /// More `temporal-serverless lambda` arguments.
    pub fn service_args(mut self, args: &[&str]) -> Self {
        self.service_args
            .extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    /// Whether the dev server completes a worker's polls when it calls `ShutdownWorker`
    /// ([`COMPLETE_POLLS_ON_SHUTDOWN`]: Temporal Cloud's mode, so the default here); `false` for a
    /// self-hosted server's default. Functions drain by poll deadline either way, unless
    /// [`LoopBuilder::server_drain`].
    pub fn server_completes_polls_on_shutdown(mut self, completes: bool) -> Self {
        self.server_completes_polls = completes;
        self
    }

    /// Functions end by the server-driven drain: the dev server completes polls on
    /// `ShutdownWorker`, the functions opt in (`TEMPORAL_SERVERLESS_SERVER_DRAIN=1`), and task
    /// queues have a single partition, the one setting where the server's part is safe (with
    /// more, the server loses tasks matched through forwarded polls: see the variable's docs).
    pub fn server_drain(self) -> Self {
        self.server_completes_polls_on_shutdown(true)
            .function_env(temporal_serverless::SERVER_DRAIN_VARIABLE, "1")
            .server_args(&SINGLE_PARTITION)
    }

    /// More dev server arguments (e.g. dynamic config).
    pub fn server_args(mut self, args: &[&str]) -> Self {
        self.server_args
            .extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    /// Where the service's and the functions' output goes (default: a temporary file removed
    /// with the loop).
    pub fn log(mut self, path: &'a Path) -> Self {
        self.log = Some(path);
        self
    }

    /// The functions' `TEMPORAL_ADDRESS`, given the dev server's address (default: that
    /// address), e.g. a proxy in front of the server whose connections a test cuts.
    pub fn function_address(mut self, address: &'a dyn Fn(&str) -> String) -> Self {
        self.function_address = Some(address);
        self
    }

    /// Starts the dev server (WCI on, Lambda endpoint = the service) and the Lambda service.
    pub fn start(self) -> LocalLoop {
        LocalLoop::start(self)
    }
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
    /// A loop hosting `artifact` as function `name`, run by `cli lambda`, to be set up.
    pub fn builder<'a>(cli: &'a Path, name: &'a str, artifact: &'a Path) -> LoopBuilder<'a> {
        LoopBuilder {
            cli,
            name,
            artifact,
            timeout_seconds: 15,
            concurrency: 4,
            function_env: Vec::new(),
            service_args: Vec::new(),
            server_args: Vec::new(),
            server_completes_polls: true,
            log: None,
            function_address: None,
        }
    }

    fn start(setup: LoopBuilder<'_>) -> Self {
        // Held until the service starts: the dev server, started first because the functions
        // need its address, binds ports of its own, and once took this one (the server's
        // GetFunction then reached its own gRPC port).
        let lambda_port = ReservedPort::new();
        let lambda_address = lambda_port.address();
        let completes_polls: &[&str] = if setup.server_completes_polls {
            &COMPLETE_POLLS_ON_SHUTDOWN
        } else {
            &[]
        };
        let server_args: Vec<&str> = WCI_FLAGS
            .into_iter()
            .chain(completes_polls.iter().copied())
            .chain(setup.server_args.iter().map(String::as_str))
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
        let function_address = setup.function_address.map_or_else(
            || server.address.clone(),
            |address| address(&server.address),
        );
        let mut args: Vec<String> = vec![
            "--function".to_owned(),
            format!("{}={}", setup.name, setup.artifact.display()),
            "--timeout".to_owned(),
            setup.timeout_seconds.to_string(),
            "--concurrency".to_owned(),
            setup.concurrency.to_string(),
            "--env".to_owned(),
            format!("TEMPORAL_ADDRESS={function_address}"),
            "--env".to_owned(),
            "TEMPORAL_NAMESPACE=default".to_owned(),
        ];
        for (key, value) in &setup.function_env {
            args.extend(["--env".to_owned(), format!("{key}={value}")]);
        }
        args.extend(setup.service_args);
        // The service's and functions' output is kept, so that a failure can show it.
        let log = setup.log.map(Path::to_path_buf).unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "tsls-loop-{}-{}.log",
                std::process::id(),
                free_port()
            ))
        });
        let service_address = lambda_port.release();
        let lambda = LambdaService::start_at(setup.cli, &service_address, &args, Some(&log));
        Self {
            server,
            lambda,
            log,
            owns_log: setup.log.is_none(),
            function_arn: format!(
                "arn:aws:lambda:us-east-1:000000000000:function:{}:1",
                setup.name
            ),
            cli: setup.cli.to_path_buf(),
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

    /// `temporal-serverless deploy --set-current` of `artifact`, as a release does: the version
    /// is created and new work routed to it; `Err(what it printed)` if it fails.
    pub fn deploy(&self, artifact: &Path) -> Result<String, String> {
        self.deploy_as(artifact, &self.function_arn)
    }

    /// [`LocalLoop::deploy`] with another function ARN (another version, say). The code check is
    /// skipped: the local service runs the artifact file itself, and there is no uploaded zip
    /// whose digest Lambda could report.
    pub fn deploy_as(&self, artifact: &Path, function_arn: &str) -> Result<String, String> {
        self.deploy_with(|deploy| {
            deploy.artifact(artifact).args([
                "--function-arn",
                function_arn,
                "--skip-code-check",
                "--set-current",
            ])
        })
    }

    /// `temporal-serverless deploy`, as `arguments` sets it up (e.g. the AWS endpoint and
    /// credentials of its code check), against this loop's server; `Err(what it printed, and
    /// the end of the loop's log)` if it fails.
    pub fn deploy_with(&self, arguments: impl FnOnce(CliRun) -> CliRun) -> Result<String, String> {
        let output = self.cli_run("deploy", arguments, &[]);
        if output.success {
            Ok(output.printed())
        } else {
            Err(format!(
                "{}\n--- the Lambda service and functions said (last 40 lines):\n{}",
                output.printed(),
                self.log_tail(40)
            ))
        }
    }

    /// Everything the Lambda service and its functions have printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of [`LocalLoop::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Every invocation recorded so far.
    pub fn records(&self) -> Vec<Value> {
        self.lambda.records()
    }

    /// `temporal-serverless doctor ARGS -- --address <server>`, without the Lambda endpoint of
    /// the shell: (exit success, stdout).
    pub fn doctor(&self, args: &[&str]) -> (bool, String) {
        self.doctor_connected(args, &[])
    }

    /// [`LocalLoop::doctor`] with `connection` after the address among the connection arguments
    /// (e.g. `--namespace default`, as the documentation passes it).
    pub fn doctor_connected(&self, args: &[&str], connection: &[&str]) -> (bool, String) {
        let output = self.cli_run(
            "doctor",
            |doctor| doctor.args(args).env_remove("AWS_ENDPOINT_URL_LAMBDA"),
            connection,
        );
        (output.success, output.stdout)
    }

    /// `cli SUBCOMMAND … --temporal-cli … -- --address <server> CONNECTION`.
    fn cli_run(
        &self,
        subcommand: &str,
        arguments: impl FnOnce(CliRun) -> CliRun,
        connection: &[&str],
    ) -> CliOutput {
        arguments(CliRun::new(&self.cli, subcommand))
            .temporal_cli()
            .connection(["--address", &self.server.address])
            .connection(connection)
            .run()
    }
}

impl Drop for LocalLoop {
    fn drop(&mut self) {
        // A failing test's log is kept for its investigation.
        if std::thread::panicking() {
            eprintln!(
                "the Lambda service's and functions' log: {}",
                self.log.display()
            );
        } else if self.owns_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
