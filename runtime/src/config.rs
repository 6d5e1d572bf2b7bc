//! Where an invocation's Temporal connection settings and task queue come from. Connection
//! settings use Temporal's own envconfig (the `TEMPORAL_*` variables and `temporal.toml`), as
//! every Temporal SDK does; only the file's location is Lambda-specific.

use crate::error::ServerlessError;
use std::path::PathBuf;
use temporalio_client::{
    ClientOptions, ConnectionOptions, envconfig::LoadClientConfigProfileOptions,
};
use temporalio_common::envconfig::DataSource;

/// Names the configuration file explicitly.
pub const CONFIG_FILE_VARIABLE: &str = "TEMPORAL_CONFIG_FILE";
/// Names the task queue when neither the attribute nor the configure body does.
pub const TASK_QUEUE_VARIABLE: &str = "TEMPORAL_TASK_QUEUE";

/// The configuration file to load, if any: `TEMPORAL_CONFIG_FILE` when set (it must exist),
/// else `$LAMBDA_TASK_ROOT/temporal.toml`, else `./temporal.toml`, whichever exists first.
/// `var` reads an environment variable and `exists` checks a path, so tests can drive it.
pub fn config_file(
    var: impl Fn(&str) -> Option<String>,
    exists: impl Fn(&PathBuf) -> bool,
) -> Option<PathBuf> {
    if let Some(path) = var(CONFIG_FILE_VARIABLE).filter(|path| !path.is_empty()) {
        return Some(path.into());
    }
    let task_root = var("LAMBDA_TASK_ROOT").map(|root| PathBuf::from(root).join("temporal.toml"));
    task_root
        .into_iter()
        .chain(std::iter::once(PathBuf::from("temporal.toml")))
        .find(|path| exists(path))
}

/// The task queue: the attribute's, else the configure body's, else `TEMPORAL_TASK_QUEUE`.
pub fn task_queue(
    from_attribute: Option<&str>,
    from_configure: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<String, ServerlessError> {
    from_attribute
        .or(from_configure)
        .map(str::to_owned)
        .or_else(|| var(TASK_QUEUE_VARIABLE).filter(|queue| !queue.is_empty()))
        .ok_or(ServerlessError::NoTaskQueue)
}

/// Loads the connection and client options from the process environment and the file.
pub fn load_connection_options() -> Result<(ConnectionOptions, ClientOptions), ServerlessError> {
    let file = config_file(|name| std::env::var(name).ok(), |path| path.is_file());
    let options = LoadClientConfigProfileOptions::builder()
        .maybe_config_source(
            file.as_ref()
                .map(|path| DataSource::Path(path.display().to_string())),
        )
        .build();
    ClientOptions::load_from_config(options).map_err(|error| ServerlessError::Configuration {
        file: file.map(|path| path.display().to_string()),
        // envconfig's TOML errors carry the line and column.
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn config_file_precedence() {
        let everything_exists = |_: &PathBuf| true;
        let nothing_exists = |_: &PathBuf| false;
        let all = env(&[
            ("TEMPORAL_CONFIG_FILE", "/etc/t.toml"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
        ]);
        assert_eq!(
            config_file(&all, everything_exists),
            Some("/etc/t.toml".into())
        );
        let root = env(&[("LAMBDA_TASK_ROOT", "/var/task")]);
        assert_eq!(
            config_file(&root, everything_exists),
            Some("/var/task/temporal.toml".into())
        );
        let only_cwd = |path: &PathBuf| path == &PathBuf::from("temporal.toml");
        assert_eq!(config_file(&root, only_cwd), Some("temporal.toml".into()));
        assert_eq!(config_file(&root, nothing_exists), None);
        // An explicit file is used even if missing, so envconfig reports it rather than us
        // silently falling back.
        assert_eq!(
            config_file(&all, nothing_exists),
            Some("/etc/t.toml".into())
        );
    }

    #[test]
    fn task_queue_precedence_and_error() {
        let var = env(&[("TEMPORAL_TASK_QUEUE", "from-env")]);
        assert_eq!(
            task_queue(Some("attr"), Some("body"), &var).unwrap(),
            "attr"
        );
        assert_eq!(task_queue(None, Some("body"), &var).unwrap(), "body");
        assert_eq!(task_queue(None, None, &var).unwrap(), "from-env");
        let message = task_queue(None, None, env(&[])).unwrap_err().to_string();
        assert!(
            message.contains("task_queue = ") && message.contains("TEMPORAL_TASK_QUEUE"),
            "{message}"
        );
    }
}
