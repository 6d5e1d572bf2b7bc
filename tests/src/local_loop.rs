//! The whole serverless loop on this machine: the real dev server with its Worker Controller
//! Instance enabled and pointed at our local Lambda service (`temporal-serverless lambda`),
//! which runs the function binary. The server alone decides when to invoke.

use crate::{dev_server::DevServer, free_port};
use serde_json::Value;
use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
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

/// Less common settings of [`LocalLoop::start_with`].
#[derive(Default)]
pub struct LoopExtras<'a> {
    /// More `temporal-serverless lambda` arguments (e.g. `--keep-warm`).
    pub service_args: &'a [&'a str],
    /// Where the service's and the functions' output goes (discarded if `None`).
    pub log: Option<&'a Path>,
}

/// A running loop; everything is stopped when dropped.
pub struct LocalLoop {
    /// The dev server.
    pub server: DevServer,
    lambda: Child,
    /// Where the local Lambda service listens.
    pub lambda_address: String,
    /// The JSON lines the Lambda service writes, one per invocation.
    pub records_path: PathBuf,
    /// The qualified ARN the version is created with.
    pub function_arn: String,
    cli: PathBuf,
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
        let lambda_address = format!("127.0.0.1:{}", free_port());
        let server = DevServer::start(
            &WCI_FLAGS,
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
        let records_path = std::env::temp_dir().join(format!(
            "tsls-records-{}-{}.jsonl",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_file(&records_path);
        let mut command = Command::new(cli);
        command
            .args(["lambda", "--listen", &lambda_address])
            .args(["--function", &format!("{name}={}", artifact.display())])
            .args(["--timeout", &timeout_seconds.to_string()])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--records", records_path.to_str().unwrap()])
            .args(["--env", &format!("TEMPORAL_ADDRESS={}", server.address)])
            .args(["--env", "TEMPORAL_NAMESPACE=default"]);
        for (key, value) in function_env {
            command.args(["--env", &format!("{key}={value}")]);
        }
        command.args(extras.service_args);
        let output = match extras.log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("the log file opens")),
            None => Stdio::null(),
        };
        // Its own process group, so that stopping it stops the function processes too.
        let lambda = command
            .stdin(Stdio::null())
            .stdout(output)
            .process_group(0)
            .spawn()
            .expect("the local Lambda service starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(&lambda_address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the local Lambda service did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            server,
            lambda,
            lambda_address,
            records_path,
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{name}:live"),
            cli: cli.to_path_buf(),
        }
    }

    /// `temporal-serverless deploy` of `artifact`; `Err(stderr)` if it fails.
    pub fn deploy(&self, artifact: &Path, set_current: bool) -> Result<String, String> {
        let mut command = Command::new(&self.cli);
        command
            .args(["deploy", "--artifact", artifact.to_str().unwrap()])
            .args(["--function-arn", &self.function_arn])
            .args([
                "--temporal-cli",
                crate::dev_server::temporal_cli().to_str().unwrap(),
            ]);
        if set_current {
            command.arg("--set-current");
        }
        let output = command
            .args(["--", "--address", &self.server.address])
            .stdin(Stdio::null())
            .output()
            .expect("deploy runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Every invocation recorded so far.
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.records_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for LocalLoop {
    fn drop(&mut self) {
        // The service stops its function processes when it gets SIGTERM.
        crate::stop_process_group(&mut self.lambda, Duration::from_secs(3));
        let _ = std::fs::remove_file(&self.records_path);
    }
}
