//! What can go wrong in a serverless worker, one variant per failure a user fixes differently.
//! Messages name the fix. None of them ever contains the API key: text from outside (envconfig,
//! the server) is redacted where a variant is built, and again on its way to Lambda.

use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};

/// A failure of the function's start-up or of one invocation.
#[derive(Debug, thiserror::Error)]
pub enum ServerlessError {
    /// The function cannot start as configured: what the configure body (the
    /// `#[serverless_worker]` main) set up (something registered twice, an option out of range,
    /// an OpenTelemetry endpoint that cannot be used), a `TEMPORAL_SERVERLESS_*` variable, a
    /// process not on Lambda, an unreadable manifest. Not [`Self::ConnectionSettings`], which is
    /// about the environment's Temporal connection settings.
    #[error("configuration error in the #[serverless_worker] main: {0}")]
    Configure(String),
    /// No task queue anywhere.
    #[error(
        "no task queue: set `task_queue = \"..\"` in #[serverless_worker], call \
         `worker.task_queue(\"..\")` in main, or set the TEMPORAL_TASK_QUEUE environment variable"
    )]
    NoTaskQueue,
    /// The Temporal connection settings (envconfig: `TEMPORAL_*` variables, `temporal.toml`)
    /// could not be loaded.
    #[error("cannot load the Temporal connection settings{}: {message}; fix the file or the TEMPORAL_* variables", file.as_ref().map(|file| format!(" from {file}")).unwrap_or_default())]
    ConnectionSettings {
        /// The configuration file, if one was used.
        file: Option<String>,
        /// What envconfig reported (for TOML, with line and column).
        message: String,
    },
    /// The server could not be reached in time.
    #[error(
        "cannot reach the Temporal server at {address} within {timeout_ms} ms: {message}; check TEMPORAL_ADDRESS, the network path from the function (VPC, security groups), and that the server is up"
    )]
    Connection {
        /// The address dialled.
        address: String,
        /// The bound that was applied.
        timeout_ms: u128,
        /// The transport's message.
        message: String,
    },
    /// The TLS handshake failed.
    #[error(
        "TLS to the Temporal server at {address} failed: {message}; check TEMPORAL_TLS* settings (server name, CA, client certificate)"
    )]
    Tls {
        /// The address dialled.
        address: String,
        /// The transport's message.
        message: String,
    },
    /// The server refused the credentials.
    #[error(
        "the Temporal server at {address} refused the credentials: {message}; check the API key (TEMPORAL_API_KEY) or client certificate, and the namespace"
    )]
    Authentication {
        /// The address dialled.
        address: String,
        /// The server's message.
        message: String,
    },
    /// Not enough time left in the invocation.
    #[error(transparent)]
    DeadlineTooShort(#[from] crate::deadline::DeadlineTooShort),
    /// The binary's Worker Deployment Version is missing or has no compute provider; the
    /// function did not poll (see `deployment_guard`).
    #[error("{problem}. Fix: {fix}")]
    VersionNotReady {
        /// What is wrong.
        problem: String,
        /// The command that fixes it.
        fix: String,
    },
    /// The namespace the function connects to does not exist on the server (a server may also
    /// answer so for a namespace the credentials may not see); the function did not poll (see
    /// `deployment_guard`). Not [`Self::VersionNotReady`]: creating a version would not help.
    #[error(
        "namespace {namespace} is not found on the Temporal server (it said: {message}); the function takes its namespace from TEMPORAL_NAMESPACE \
         (or `namespace` in temporal.toml; `default` when neither is set). Fix: set TEMPORAL_NAMESPACE to the namespace your Worker Deployment is in \
         (on Temporal Cloud: <namespace>.<account id>), and check that the API key or client certificate may use it"
    )]
    NamespaceNotFound {
        /// The namespace the function used.
        namespace: String,
        /// The server's message.
        message: String,
    },
    /// The invocation was for another build of the deployment than the binary carries: the
    /// invocation loop (see `deployment_guard`).
    #[error(
        "the server invoked {arn} for Worker Deployment Version {}, but this binary carries build {carried}: \
         it would poll as {carried}, {invoked_for}'s tasks would never be taken, and the server would invoke again and again (the invocation loop). \
         Fix: build the function with build ID {invoked_for} and publish that code to {arn}, or point version {invoked_for} at the code built for it \
         ({})", DeploymentVersion::new(.deployment, .invoked_for), repoint_command(.deployment, .invoked_for)
    )]
    BuildMismatch {
        /// The deployment.
        deployment: String,
        /// The build ID in the binary.
        carried: String,
        /// The build ID whose version has the invoked ARN.
        invoked_for: String,
        /// The invoked ARN.
        arn: String,
    },
    /// The worker could not be built or failed while running.
    #[error("the Temporal worker failed: {0}")]
    Worker(String),
    /// The invocation panicked (a bug: ours or a library's). The process stays up; the next
    /// invocation starts afresh, and tasks it held are retried by the server after their timeout.
    #[error(
        "the invocation panicked: {0}; the function keeps serving, and tasks this invocation held \
         are retried after their timeout. Please report this with the log"
    )]
    Panic(String),
}

/// The command that points version `build_id` of `deployment` at other code.
fn repoint_command(deployment: &str, build_id: &str) -> String {
    VersionCommand::new(
        Subcommand::UpdateComputeConfig,
        DeploymentVersion::new(deployment, build_id),
    )
    .function_arn("<ARN of that code>")
    .to_string()
}

impl ServerlessError {
    /// The `errorType` Lambda records for this failure: one per class, so that alarms and
    /// `temporal-serverless doctor` can tell them apart.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Configure(_) => "TemporalServerless.Configure",
            Self::NoTaskQueue => "TemporalServerless.NoTaskQueue",
            // What Lambda records and alarms match on (doctor quotes it): kept stable.
            Self::ConnectionSettings { .. } => "TemporalServerless.Configuration",
            Self::Connection { .. } => "TemporalServerless.Connection",
            Self::Tls { .. } => "TemporalServerless.Tls",
            Self::Authentication { .. } => "TemporalServerless.Authentication",
            Self::DeadlineTooShort(_) => "TemporalServerless.DeadlineTooShort",
            Self::VersionNotReady { .. } => "TemporalServerless.VersionNotReady",
            Self::NamespaceNotFound { .. } => "TemporalServerless.NamespaceNotFound",
            Self::BuildMismatch { .. } => "TemporalServerless.BuildMismatch",
            Self::Worker(_) => "TemporalServerless.Worker",
            Self::Panic(_) => "TemporalServerless.Panic",
        }
    }

    /// The message, masked by [`crate::redact::text`]: what leaves the process (Lambda's error
    /// record, a trace span's status). Masked once more here, for text a variant took in
    /// unredacted (a worker's or a panic's message).
    pub fn redacted_message(&self) -> String {
        crate::redact::text(&self.to_string())
    }
}

impl From<ServerlessError> for lambda_runtime::Diagnostic {
    fn from(error: ServerlessError) -> Self {
        Self {
            error_type: error.error_type().to_owned(),
            // Lambda records it, and the Worker Controller's history (which `doctor` quotes)
            // keeps it.
            error_message: error.redacted_message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::SENTINEL;

    #[test]
    fn the_invocation_loop_names_both_builds_and_the_command_that_repoints_the_version() {
        let error = ServerlessError::BuildMismatch {
            deployment: "shop".to_owned(),
            carried: "b1".to_owned(),
            invoked_for: "b2".to_owned(),
            arn: "arn:aws:lambda:us-east-1:1:function:shop:live".to_owned(),
        };
        assert_eq!(
            error.to_string(),
            "the server invoked arn:aws:lambda:us-east-1:1:function:shop:live for Worker Deployment Version shop:b2, \
             but this binary carries build b1: it would poll as b1, b2's tasks would never be taken, and the server \
             would invoke again and again (the invocation loop). Fix: build the function with build ID b2 and \
             publish that code to arn:aws:lambda:us-east-1:1:function:shop:live, or point version b2 at the code \
             built for it (temporal worker deployment update-version-compute-config --deployment-name shop \
             --build-id b2 --aws-lambda-function-arn <ARN of that code>)"
        );
    }

    #[test]
    fn outside_text_is_masked_wherever_the_message_leaves_the_process() {
        let error = ServerlessError::Panic(format!("bad config: api_key = \"{SENTINEL}\""));
        let message = error.redacted_message();
        assert!(!message.contains("SENTINEL"), "{message}");
        assert!(message.contains("the invocation panicked: bad config: api_key = "));
        let diagnostic = lambda_runtime::Diagnostic::from(error);
        assert_eq!(diagnostic.error_message, message);
    }
}
