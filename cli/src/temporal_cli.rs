//! The `temporal` CLI, which users already have and have configured for their server: `deploy`
//! and `doctor` drive it, passing the user's connection arguments to every command.

use serde_json::Value;
use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

/// The CLI and the connection arguments for every command.
pub struct TemporalCli {
    /// The program (`temporal`, or a path).
    pub program: PathBuf,
    /// E.g. `--address 127.0.0.1:7233 --namespace default`.
    pub connection: Vec<String>,
}

impl TemporalCli {
    /// The command line as a user would type it.
    pub fn render(&self, command: &[&str]) -> String {
        let mut words = vec![self.program.display().to_string()];
        words.extend(command.iter().map(|word| word.to_string()));
        words.extend(self.connection.iter().cloned());
        words.join(" ")
    }

    /// Runs `command`; its stdout, or an error naming the command and quoting its stderr.
    pub fn run(&self, command: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.program)
            .args(command)
            .args(&self.connection)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run {}: {error}", self.program.display()))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "`{}` failed: {}",
                self.render(command),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Runs `command` with `--output json` and parses what it prints.
    pub fn json(&self, command: &[&str]) -> Result<Value, String> {
        let mut command = command.to_vec();
        command.extend(["--output", "json"]);
        let stdout = self.run(&command)?;
        serde_json::from_str(&stdout)
            .map_err(|error| format!("`{}`: unreadable JSON ({error})", self.render(&command)))
    }
}

/// Task queue names of a `describe-version --output json` (CLI 1.9: `taskQueuesInfos`, null
/// until a poller of the version has registered them).
pub fn bound_task_queues(description: &Value) -> Vec<String> {
    let mut names: Vec<String> = description["taskQueuesInfos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|queue| queue["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bound_task_queues_from_the_cli_json() {
        assert!(bound_task_queues(&serde_json::json!({"taskQueuesInfos": null})).is_empty());
        let bound = serde_json::json!({"taskQueuesInfos": [{"name": "q", "type": "workflow"}, {"name": "q", "type": "activity"}]});
        assert_eq!(bound_task_queues(&bound), vec!["q".to_owned()]);
    }
}
