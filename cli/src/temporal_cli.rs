//! The `temporal` CLI, which users already have and have configured for their server: `deploy`
//! and `doctor` drive it, passing the user's connection arguments to every command. Whatever is
//! shown of a command (rendered command lines, its errors) has its secrets masked
//! ([`temporal_serverless::redact`]): the connection arguments carry `--api-key` and
//! `--tls-key-data`.

use serde_json::Value;
use std::{
    io::Read,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};
use temporal_serverless::redact;

/// How long one `temporal` command may take: a describe or an update answers in well under a
/// second; a server that does not answer (a wrong address behind a firewall that drops packets,
/// a half-open connection) must not hang `deploy` or `doctor` for ever.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A command that failed.
#[derive(Debug)]
pub struct CliError {
    /// What to show: the command line and what the CLI said, secrets masked.
    pub message: String,
    /// What the CLI said on stderr alone (masked; empty if it did not run), where the server's
    /// answer is: the message's command line holds the user's connection arguments, whose
    /// `--namespace` must not be read as an answer about the namespace.
    pub stderr: String,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl From<CliError> for String {
    fn from(error: CliError) -> Self {
        error.message
    }
}

/// The CLI and the connection arguments for every command.
pub struct TemporalCli {
    /// The program (`temporal`, or a path).
    program: PathBuf,
    /// E.g. `--address 127.0.0.1:7233 --namespace default`. Private, so that only
    /// [`TemporalCli::new`] builds one and its secrets are always remembered.
    connection: Vec<String>,
    /// How long a command may take before it is killed ([`COMMAND_TIMEOUT`]).
    timeout: Duration,
}

impl TemporalCli {
    /// The CLI with `connection` passed to every command. Remembers the secrets among the
    /// connection arguments and in this process's environment (which the CLI inherits:
    /// `TEMPORAL_API_KEY`), so that nothing this process prints shows them, even echoed back
    /// by the CLI or the server.
    pub fn new(program: PathBuf, connection: Vec<String>) -> Self {
        redact::remember_process_environment();
        for secret in redact::secret_values_in_args(&connection) {
            redact::remember(&secret);
        }
        Self {
            program,
            connection,
            timeout: COMMAND_TIMEOUT,
        }
    }

    /// The same CLI with commands killed after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line as a user would type it, with secret values masked (`--api-key ***`).
    pub fn render(&self, command: &[&str]) -> String {
        let mut words = vec![self.program.display().to_string()];
        words.extend(command.iter().map(|word| word.to_string()));
        words.extend(self.connection.iter().cloned());
        redact::args(&words).join(" ")
    }

    /// Whether [`TemporalCli::render`] masks something: the printed commands then need the
    /// secrets put back before they run.
    pub fn masks_secrets(&self) -> bool {
        !redact::secret_values_in_args(&self.connection).is_empty()
    }

    /// Runs `command`; its stdout, or an error naming the command and quoting its stderr, both
    /// with secrets masked.
    pub fn run(&self, command: &[&str]) -> Result<String, CliError> {
        let cannot_run = |error: std::io::Error| CliError {
            message: format!("cannot run {}: {error}", self.program.display()),
            stderr: String::new(),
        };
        let child = Command::new(&self.program)
            .args(command)
            .args(&self.connection)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(cannot_run)?;
        let Some((status, stdout, stderr)) =
            wait_within(child, self.timeout).map_err(cannot_run)?
        else {
            return Err(CliError {
                message: format!(
                    "`{}` did not finish within {:?} and was stopped: is the server at the \
                     connection arguments' address reachable from here?",
                    self.render(command),
                    self.timeout
                ),
                stderr: String::new(),
            });
        };
        if status.success() {
            Ok(String::from_utf8_lossy(&stdout).into_owned())
        } else {
            let stderr = redact::text(String::from_utf8_lossy(&stderr).trim());
            Err(CliError {
                message: format!("`{}` failed: {stderr}", self.render(command)),
                stderr,
            })
        }
    }

    /// Runs `command` with `--output json` and parses what it prints.
    pub fn json(&self, command: &[&str]) -> Result<Value, CliError> {
        let mut command = command.to_vec();
        command.extend(["--output", "json"]);
        let stdout = self.run(&command)?;
        serde_json::from_str(&stdout).map_err(|error| CliError {
            message: format!("`{}`: unreadable JSON ({error})", self.render(&command)),
            stderr: String::new(),
        })
    }
}

/// What a finished command left: its status, stdout and stderr.
type Finished = (ExitStatus, Vec<u8>, Vec<u8>);

/// Waits for `child` at most `timeout`, reading its stdout and stderr meanwhile (a full pipe
/// would stop it); `None` if it ran out of time (it is killed and reaped).
fn wait_within(mut child: Child, timeout: Duration) -> std::io::Result<Option<Finished>> {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // A grandchild holding the pipes open must not hang us either: read what there is.
    let output = |reader: std::thread::JoinHandle<Vec<u8>>| {
        let waited = Instant::now();
        while !reader.is_finished() && waited.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if reader.is_finished() {
            reader.join().unwrap_or_default()
        } else {
            Vec::new()
        }
    };
    let (stdout, stderr) = (output(stdout), output(stderr));
    Ok(status.map(|status| (status, stdout, stderr)))
}

/// Task queue names of a `describe-version --output json` (CLI 1.9: `taskQueuesInfos`, null
/// until a poller of the version has registered them).
pub fn bound_task_queues(description: &Value) -> Vec<String> {
    let mut names: Vec<String> = task_queue_infos(description)
        .map(|(name, _)| name.to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The task queues of a `describe-version --output json` whose routing can be read back with
/// `task-queue describe --legacy-mode` (workflow and activity; that mode has no Nexus type), as
/// (name, type) pairs.
pub fn bound_routable_task_queues(description: &Value) -> Vec<(String, String)> {
    let mut queues: Vec<(String, String)> = task_queue_infos(description)
        .filter(|(_, kind)| matches!(*kind, "workflow" | "activity"))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect();
    queues.sort();
    queues.dedup();
    queues
}

/// (name, type) of each entry of a `describe-version --output json`'s `taskQueuesInfos` (type
/// empty if the entry has none).
fn task_queue_infos(description: &Value) -> impl Iterator<Item = (&str, &str)> {
    description["taskQueuesInfos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|queue| {
            Some((
                queue["name"].as_str()?,
                queue["type"].as_str().unwrap_or_default(),
            ))
        })
}

/// Whether a `task-queue describe --legacy-mode --output json` shows `deployment`:`build_id` as
/// the task queue's current version: the task queue itself routes new work to it, not only the
/// deployment's record (`set-current-version` returns before the routing has reached the task
/// queues).
pub fn routes_to_current(description: &Value, deployment: &str, build_id: &str) -> bool {
    let current = &description["versioning_info"]["current_deployment_version"];
    current["deployment_name"] == deployment && current["build_id"] == build_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_shows_no_secret_of_its_arguments_or_its_echo() {
        // A value of its own: remembered for the whole test process, the shared one would mask
        // the other tests' secrets before the rule they test could.
        let secret = format!("{}-cli", temporal_serverless::redact::SENTINEL);
        // Stands in for a CLI or server that echoes the request it refused.
        let dir = std::env::temp_dir().join(format!("tsls-cli-echo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let program = dir.join("temporal");
        std::fs::write(&program, "#!/bin/sh\necho \"refused: $*\" >&2\nexit 1\n").unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&program, executable).unwrap();
        let cli = TemporalCli::new(
            program,
            [
                "--address",
                "127.0.0.1:7233",
                "--api-key",
                &secret,
                "--tls-key-data",
                &format!("-----BEGIN PRIVATE KEY-----\nMII{secret}\n-----END PRIVATE KEY-----"),
                "--codec-auth",
                &format!("Bearer {secret}"),
            ]
            .map(str::to_owned)
            .to_vec(),
        );
        let CliError {
            message: error,
            stderr,
        } = cli.run(&["workflow", "list"]).unwrap_err();
        // The stderr part is what the CLI said, without the command line before it.
        assert!(stderr.starts_with("refused: workflow list"), "{stderr}");
        assert!(!stderr.contains("SENTINEL"), "{stderr}");
        assert!(!error.contains("SENTINEL"), "{error}");
        assert!(
            error.contains("workflow list --address 127.0.0.1:7233 --api-key ***")
                && error.contains("refused: workflow list"),
            "{error}"
        );
        assert!(cli.masks_secrets());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_command_that_hangs_is_stopped_at_its_timeout() {
        let dir = std::env::temp_dir().join(format!("tsls-cli-hang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let program = dir.join("temporal");
        // Stands in for a CLI waiting on a server that never answers.
        std::fs::write(&program, "#!/bin/sh\necho waiting >&2\nexec sleep 30\n").unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&program, executable).unwrap();
        let cli = TemporalCli::new(
            program,
            vec!["--address".to_owned(), "10.255.255.1:7233".to_owned()],
        )
        .with_timeout(Duration::from_millis(500));
        let started = Instant::now();
        let error = cli.run(&["worker", "deployment", "describe"]).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stopped at its timeout, not after the command's 30 s: {:?}",
            started.elapsed()
        );
        assert!(
            error.message.contains("did not finish within 500ms"),
            "{}",
            error.message
        );
        assert!(
            error
                .message
                .contains("worker deployment describe --address 10.255.255.1:7233")
        );
        // A command that answers in time is read whole.
        std::fs::write(dir.join("temporal"), "#!/bin/sh\necho '{\"ok\": true}'\n").unwrap();
        assert_eq!(cli.json(&["x"]).unwrap()["ok"], true);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reads_bound_task_queues_from_the_cli_json() {
        assert!(bound_task_queues(&serde_json::json!({"taskQueuesInfos": null})).is_empty());
        let bound = serde_json::json!({"taskQueuesInfos": [{"name": "q", "type": "workflow"}, {"name": "q", "type": "activity"}]});
        assert_eq!(bound_task_queues(&bound), vec!["q".to_owned()]);
        let with_nexus = serde_json::json!({"taskQueuesInfos": [
            {"name": "q", "type": "workflow"}, {"name": "q", "type": "activity"},
            {"name": "n", "type": "nexus"}, {"name": "q", "type": "workflow"}]});
        assert_eq!(
            bound_routable_task_queues(&with_nexus),
            vec![
                ("q".to_owned(), "activity".to_owned()),
                ("q".to_owned(), "workflow".to_owned())
            ]
        );
    }

    #[test]
    fn reads_the_current_version_a_task_queue_routes_to() {
        // As CLI 1.9.1 prints it once the routing has reached the task queue.
        let routed = serde_json::json!({"pollers": [], "versioning_info": {
            "current_deployment_version": {"build_id": "b1", "deployment_name": "app"},
            "current_version": "app.b1"}});
        assert!(routes_to_current(&routed, "app", "b1"));
        assert!(!routes_to_current(&routed, "app", "b2"));
        assert!(!routes_to_current(&routed, "other", "b1"));
        assert!(!routes_to_current(
            &serde_json::json!({"pollers": []}),
            "app",
            "b1"
        ));
    }
}
