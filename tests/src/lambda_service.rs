//! `temporal-serverless lambda` (the local Lambda service) as a test process, and raw HTTP to it:
//! tests speak Lambda's wire protocol themselves rather than through a client library.

use crate::{
    child_process::{ServerProcess, ServerStart, listening},
    free_port,
    raw_http::HttpServer,
};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// How long the service may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the service has to stop its function processes on SIGTERM before all are killed.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long a response may take: a synchronous Invoke lasts up to the function's timeout, at
/// most Lambda's 900 s.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(900);

/// A running service, stopped (with every function process it started) when dropped.
pub struct LambdaService {
    process: ServerProcess,
    /// Where it listens (`127.0.0.1:port`).
    pub address: String,
    /// Its JSON-lines invocation records.
    pub records_path: PathBuf,
}

/// How to start a [`LambdaService`] on its own, setting by named setting:
/// `LambdaService::hosting(&cli, "echo", &binary).timeout_seconds(2).start()`.
pub struct ServiceBuilder<'a> {
    cli: &'a Path,
    args: Vec<String>,
}

impl ServiceBuilder<'_> {
    /// One more function, `binary` as `name` (`--function`).
    pub fn function(mut self, name: &str, binary: &Path) -> Self {
        self.args.extend([
            "--function".to_owned(),
            format!("{name}={}", binary.display()),
        ]);
        self
    }

    /// The functions' timeout (`--timeout`).
    pub fn timeout_seconds(self, seconds: u64) -> Self {
        self.args(&["--timeout", &seconds.to_string()])
    }

    /// How many instances of a function may run at once (`--concurrency`).
    pub fn concurrency(self, instances: usize) -> Self {
        self.args(&["--concurrency", &instances.to_string()])
    }

    /// One more variable in the functions' environment (`--env`).
    pub fn function_env(self, name: &str, value: &str) -> Self {
        self.args(&["--env", &format!("{name}={value}")])
    }

    /// More `temporal-serverless lambda` arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    /// Starts it on a free port, its output discarded.
    pub fn start(self) -> LambdaService {
        LambdaService::start(self.cli, &self.args, None)
    }
}

impl LambdaService {
    /// A service hosting `binary` as function `name`, to be set up.
    pub fn hosting<'a>(cli: &'a Path, name: &str, binary: &Path) -> ServiceBuilder<'a> {
        ServiceBuilder {
            cli,
            args: Vec::new(),
        }
        .function(name, binary)
    }

    /// Starts `cli lambda` with `args` (functions, timeout, env, …) on a free port; its output
    /// (and the functions') goes to `log`, or nowhere.
    pub fn start(cli: &Path, args: &[String], log: Option<&Path>) -> Self {
        Self::start_at(cli, &format!("127.0.0.1:{}", free_port()), args, log)
    }

    /// [`LambdaService::start`] on `address`, chosen beforehand (e.g. for the server's
    /// `AWS_ENDPOINT_URL_LAMBDA`).
    pub fn start_at(cli: &Path, address: &str, args: &[String], log: Option<&Path>) -> Self {
        let records_path = std::env::temp_dir().join(format!(
            "tsls-records-{}-{}.jsonl",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_file(&records_path);
        // Appended to: a service started again (a restart, for cold starts) keeps what the one
        // before it logged.
        let output = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("the log file opens"),
            ),
            None => Stdio::null(),
        };
        // Its own process group (the server process's), so that stopping it stops the function
        // processes too; the service stops them itself on SIGTERM.
        let process = ServerProcess::start(
            Command::new(cli)
                .args(["lambda", "--listen", address])
                .args(["--records", records_path.to_str().unwrap()])
                .args(args)
                .stdout(output),
            ServerStart {
                what: "the local Lambda service",
                address,
                answer_timeout: LISTEN_TIMEOUT,
                stop_grace: STOP_GRACE,
            },
            listening,
            String::new,
        )
        .unwrap_or_else(|status| {
            panic!(
                "the local Lambda service exited ({status}): {address} is taken by another process"
            )
        });
        Self {
            process,
            address: address.to_owned(),
            records_path,
        }
    }

    /// The service's PID: the parent of its function processes.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Stops the service and every function process it started (also done when dropped).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// `http://127.0.0.1:port`, for `AWS_ENDPOINT_URL_LAMBDA` and `doctor --lambda-endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Lambda's Invoke.
    pub fn invoke(
        &self,
        function: &str,
        invocation_type: &str,
        payload: Value,
    ) -> (u16, String, String) {
        self.request(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("x-amz-invocation-type", invocation_type)],
            &payload.to_string(),
        )
    }

    /// Every invocation recorded so far (recorded when it ends).
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.records_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl HttpServer for LambdaService {
    const NAME: &'static str = "the local Lambda service";
    const RESPONSE_TIMEOUT: Duration = RESPONSE_TIMEOUT;

    fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for LambdaService {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.records_path);
    }
}
