//! A function binary running as Lambda runs it: the Runtime API address and Lambda's environment
//! variables set, its output kept for assertions. Killed by PID when dropped.

use crate::runtime_api::RuntimeApi;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// A function process to spawn, its environment set variable by named variable:
/// `FunctionProcess::of(&binary).server(&server.address).task_queue("q").guard_off().spawn(&api)`.
pub struct FunctionSpawn<'a> {
    binary: &'a Path,
    envs: Vec<(String, String)>,
}

impl FunctionSpawn<'_> {
    /// Connected to the Temporal server at `address` (`TEMPORAL_ADDRESS`), in its `default`
    /// namespace.
    pub fn server(self, address: &str) -> Self {
        self.env("TEMPORAL_ADDRESS", address)
            .env("TEMPORAL_NAMESPACE", "default")
    }

    /// In `namespace` (`TEMPORAL_NAMESPACE`).
    pub fn namespace(self, namespace: &str) -> Self {
        self.env("TEMPORAL_NAMESPACE", namespace)
    }

    /// Polling `task_queue` (`TEMPORAL_TASK_QUEUE`).
    pub fn task_queue(self, task_queue: &str) -> Self {
        self.env("TEMPORAL_TASK_QUEUE", task_queue)
    }

    /// Without the deployment guard: the function run by hand, whose polls register its version
    /// on a server without a Worker Controller.
    pub fn guard_off(self) -> Self {
        self.guard("off")
    }

    /// The deployment guard's switch (`on` or `off`).
    pub fn guard(self, switch: &str) -> Self {
        self.env(temporal_serverless::GUARD_VARIABLE, switch)
    }

    /// One more variable (set after, so over, the ones before it).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.retain(|(set, _)| set != name);
        self.envs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Spawns it against `api`.
    pub fn spawn(self, api: &RuntimeApi) -> FunctionProcess {
        let envs: Vec<(&str, &str)> = self
            .envs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        FunctionProcess::spawn(self.binary, api, &envs)
    }
}

/// A running function process.
pub struct FunctionProcess {
    child: Child,
    log_path: PathBuf,
}

impl FunctionProcess {
    /// `binary`, with Lambda's environment, to be set up further and spawned.
    pub fn of(binary: &Path) -> FunctionSpawn<'_> {
        FunctionSpawn {
            binary,
            envs: Vec::new(),
        }
    }

    /// Spawns `binary` against `api` with Lambda's environment plus `envs`.
    pub fn spawn(binary: &Path, api: &RuntimeApi, envs: &[(&str, &str)]) -> Self {
        let log_path = std::env::temp_dir().join(format!(
            "tsls-function-{}-{}.log",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let task_root = std::env::temp_dir().join(format!("tsls-task-root-{}", std::process::id()));
        std::fs::create_dir_all(&task_root).unwrap();
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "fixture")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fixture")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]fixture")
            .env("AWS_REGION", "us-east-1")
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the function binary starts");
        Self { child, log_path }
    }

    /// Everything the function has printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process id (for `/proc` and signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}
