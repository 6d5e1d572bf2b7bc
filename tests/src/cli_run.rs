//! One run of the `temporal-serverless` command as a user types it, named part by part:
//! `CliRun::new(&cli, "deploy").artifact(&binary).temporal_cli().connection(["--address", a])
//! .run()`. Bounded in time; what it printed comes back as text.

use crate::{child_process::run_bounded, dev_server::temporal_cli};
use std::{
    ffi::{OsStr, OsString},
    path::Path,
    process::Command,
    time::Duration,
};

/// How long one command may take: doctor's checks each have their own time-outs, the longest
/// tens of seconds.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The variables through which the AWS SDK's default chain finds credentials.
const AWS_CREDENTIAL_VARIABLES: [&str; 7] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// A `temporal-serverless SUBCOMMAND …` to run.
pub struct CliRun {
    command: Command,
    what: String,
    connection: Vec<OsString>,
}

/// What a run printed.
#[derive(Debug)]
pub struct CliOutput {
    /// Whether it exited 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl CliRun {
    /// `cli SUBCOMMAND`, with no input.
    pub fn new(cli: &Path, subcommand: &str) -> Self {
        let mut command = Command::new(cli);
        command.arg(subcommand);
        Self {
            command,
            what: format!("temporal-serverless {subcommand}"),
            connection: Vec::new(),
        }
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// More arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Self {
        self.command.args(args);
        self
    }

    /// `--artifact PATH`.
    pub fn artifact(self, path: &Path) -> Self {
        self.arg("--artifact").arg(path)
    }

    /// `--temporal-cli` with the Temporal CLI `scripts/setup` installs.
    pub fn temporal_cli(self) -> Self {
        self.arg("--temporal-cli").arg(temporal_cli())
    }

    /// The connection arguments passed on to the `temporal` CLI, after `--`.
    pub fn connection(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Self {
        self.connection
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// `name=value` in its environment.
    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    /// Each `(name, value)` in its environment (e.g. [`crate::moto::Moto::aws_env`]).
    pub fn envs(mut self, envs: &[(&str, String)]) -> Self {
        self.command
            .envs(envs.iter().map(|(name, value)| (name, value)));
        self
    }

    /// `name` taken out of its environment.
    pub fn env_remove(mut self, name: &str) -> Self {
        self.command.env_remove(name);
        self
    }

    /// None of the variables the AWS SDK finds credentials in, whatever this machine has set
    /// ([`CliRun::envs`] may add some back).
    pub fn without_aws_credentials(mut self) -> Self {
        for name in AWS_CREDENTIAL_VARIABLES {
            self.command.env_remove(name);
        }
        self
    }

    /// Runs it to its end; panics if it takes longer than any command may.
    pub fn run(mut self) -> CliOutput {
        if !self.connection.is_empty() {
            self.command.arg("--").args(&self.connection);
        }
        let output = run_bounded(&mut self.command, RUN_TIMEOUT, &self.what)
            .unwrap_or_else(|error| panic!("{error}"));
        CliOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl CliOutput {
    /// Standard output, then standard error.
    pub fn printed(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Itself, after failing the test if it shows the redaction sentinel (the secret the
    /// tests' AWS and Temporal credentials carry).
    pub fn showing_no_secret(self) -> Self {
        assert!(
            !self
                .printed()
                .contains(temporal_serverless::redact::SENTINEL),
            "a secret was shown:\n{}",
            self.printed()
        );
        self
    }

    /// Standard output, trimmed, after failing the test (with standard error) unless it
    /// succeeded.
    pub fn expect_success(&self) -> String {
        assert!(self.success, "{}", self.printed());
        self.stdout.trim().to_owned()
    }
}
