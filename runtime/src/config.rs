//! Where an invocation's Temporal connection settings and task queue come from. Connection
//! settings use Temporal's own envconfig (the `TEMPORAL_*` variables and `temporal.toml`), as
//! every Temporal SDK does; only the file's location is Lambda-specific.

use crate::{error::ServerlessError, redact};
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

/// Loads the connection and client options from the process environment and the file, and
/// remembers the secrets among them (see [`crate::redact`]) so that no error or log line prints
/// them. A configuration error's message is already redacted: TOML errors quote the offending
/// line of the file, which may be the `api_key` line.
pub fn load_connection_options() -> Result<(ConnectionOptions, ClientOptions), ServerlessError> {
    load_from(config_file(
        |name| std::env::var(name).ok(),
        |path| path.is_file(),
    ))
}

fn load_from(file: Option<PathBuf>) -> Result<(ConnectionOptions, ClientOptions), ServerlessError> {
    let options = LoadClientConfigProfileOptions::builder()
        .maybe_config_source(
            file.as_ref()
                .map(|path| DataSource::Path(path.display().to_string())),
        )
        .build();
    // From the file's text first: a file that does not load has its secrets known only from
    // there, and its error may quote any of its lines (the middle of a multi-line TLS key, say);
    // a file that loads may hold secrets the connection does not carry (`codec.auth`).
    if let Some(text) = file
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
    {
        for secret in redact::secret_values_in_config(&text) {
            redact::remember(&secret);
        }
    }
    let (connection, client) = ClientOptions::load_from_config(options).map_err(|error| {
        ServerlessError::ConnectionSettings {
            file: file.map(|path| path.display().to_string()),
            // envconfig's TOML errors carry the line and column, and quote the line.
            message: redact::text(&error.to_string()),
        }
    })?;
    remember_secrets(&connection);
    Ok((connection, client))
}

/// Remembers the connection's secrets: the API key, the TLS client key, and the values of
/// secret-named gRPC headers (`grpc_meta`, e.g. `authorization`).
fn remember_secrets(connection: &ConnectionOptions) {
    if let Some(api_key) = &connection.api_key {
        redact::remember(api_key);
    }
    if let Some(client_tls) = connection
        .tls_options
        .as_ref()
        .and_then(|tls| tls.client_tls_options.as_ref())
    {
        redact::remember(&String::from_utf8_lossy(&client_tls.client_private_key));
    }
    connection
        .headers
        .iter()
        .flatten()
        .filter(|(name, _)| redact::is_secret_name(name))
        .for_each(|(_, value)| redact::remember(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::SENTINEL;
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

    /// The error of loading `contents` as the configuration file.
    fn load_error(name: &str, contents: &str) -> ServerlessError {
        let dir = std::env::temp_dir().join(format!("tsls-config-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(name);
        std::fs::write(&file, contents).unwrap();
        let error = load_from(Some(file.clone())).expect_err(name);
        let _ = std::fs::remove_file(file);
        error
    }

    #[test]
    fn a_broken_file_is_named_with_its_line_and_never_quotes_a_secret() {
        let profile = "[profile.default]\naddress = \"ns.tmprl.cloud:7233\"\n";
        let broken_files = [
            // The mistake on the api_key line: the parser quotes that line.
            (
                "unterminated-key.toml",
                format!("{profile}api_key = \"{SENTINEL}\n"),
                "line 3",
            ),
            // The wrong type: the parser quotes the line and names the value's type.
            (
                "array-key.toml",
                format!("{profile}api_key = [\"{SENTINEL}\"]\n"),
                "line 3",
            ),
            // A mistake inside a multi-line TLS key: the quoted line has no name on it.
            (
                "bad-escape-in-key.toml",
                format!(
                    "{profile}[profile.default.tls]\nclient_key_data = \"\"\"\n-----BEGIN PRIVATE KEY-----\nMIIE\\q{SENTINEL}\n-----END PRIVATE KEY-----\n\"\"\"\n"
                ),
                "line 6",
            ),
        ];
        for (name, contents, line) in broken_files {
            let error = load_error(name, &contents);
            assert_eq!(error.error_type(), "TemporalServerless.Configuration");
            let message = error.to_string();
            assert!(
                message.contains(name) && message.contains(line),
                "{message}"
            );
            assert!(!message.contains("SENTINEL"), "{name}: {message}");
            let diagnostic = lambda_runtime::Diagnostic::from(error);
            assert!(
                !diagnostic.error_message.contains("SENTINEL"),
                "{name}: {}",
                diagnostic.error_message
            );
        }
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
