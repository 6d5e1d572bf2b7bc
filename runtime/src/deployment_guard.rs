//! The deployment guard: before a process's first poll, check that the binary's own Worker
//! Deployment Version exists on the server with a compute provider.
//!
//! A poll for a version that does not exist creates it — without a compute provider, so the
//! server never gets a Worker Controller Instance for it and never invokes the function (the
//! troubleshooting guide's most common cause of a missing WCI, typically from invoking the
//! function by hand before `create-version`). So when the version is missing or has no compute
//! provider, the invocation fails before polling, with the command that fixes it. A version whose
//! Lambda ARN is another function's, or unqualified, only gets a warning: it still works.
//!
//! The invocation loop: a version is created for build B with this function's ARN, but the code
//! behind that ARN still carries build A. The server invokes for B, the worker polls as A, B's
//! tasks are never taken, and the server invokes again, forever. The invocation carries no build
//! ID, but the server invokes exactly the ARN (with qualifier) a version names: if our own
//! version names another ARN, this invocation is for another build, and it fails at once, without
//! polling, naming both builds (when the deployment answers within 300 ms, and the refusal still
//! comes within 700 ms of the guard's start) and the fix. Other versions naming the same ARN as
//! ours make invocations ambiguous; reading every version at each cold start would cost more
//! than it is worth (the deployment read is slow and rate-limited), so that case is left to
//! `temporal-serverless doctor`.
//!
//! A namespace the server does not know answers every read with NotFound too; that is not a
//! missing version (creating one would fail the same way), so the guard reports the namespace
//! (`TemporalServerless.NamespaceNotFound`, naming TEMPORAL_NAMESPACE) and does not poll.
//!
//! A passing check is cached for the process and the invoked function ARN (warm invocations
//! through the same ARN pay nothing; aliases of one Lambda version share instances, so another
//! ARN is checked again); failing ones are repeated, so that a fixed version works without a new
//! cold start. Set
//! `TEMPORAL_SERVERLESS_GUARD=off` to skip the check, e.g. to run the binary by hand against a
//! server without Worker Controller.
//!
//! Invoked through something that is not a Lambda function ARN (`cargo lambda watch` sends
//! `function-arn`), the process is not on Lambda: no Worker Controller invokes it, and there is
//! no ARN to compare with the version's. The guard is skipped, saying so once, and the worker
//! polls as without it.

use crate::{
    error::ServerlessError,
    lambda_arn::{find_all, is_function_arn},
    manifest::Manifest,
    version_checks::{
        ArnWarning, Readiness, VersionFacts, arn_warnings, is_invocation_loop, readiness,
        version_naming,
    },
};
use prost::Message;
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};
use temporalio_client::{Client, NamespacedClient, grpc::WorkflowService};
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution,
    deployment::v1::{WorkerDeploymentInfo, WorkerDeploymentVersion, WorkerDeploymentVersionInfo},
    enums::v1::WorkflowExecutionStatus,
    workflowservice::v1::{
        DescribeWorkerDeploymentRequest, DescribeWorkerDeploymentVersionRequest,
        DescribeWorkflowExecutionRequest,
    },
};

/// Set to `off` to skip the guard.
pub const GUARD_VARIABLE: &str = "TEMPORAL_SERVERLESS_GUARD";

/// Whether the guard is on (the default).
pub(crate) fn enabled(read_env: impl Fn(&str) -> Option<String>) -> bool {
    !matches!(
        read_env(GUARD_VARIABLE)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("off" | "0" | "false")
    )
}

/// Reads of the deployment tried when the server says it is reading it too often, and the
/// back-off between them (times the attempt).
const RATE_LIMIT_ATTEMPTS: u32 = 4;
const RATE_LIMIT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// How long the guard waits to name the build an invocation loop is for (reading the deployment
/// can take hundreds of milliseconds right after a routing change); the loop is refused anyway.
const NAMING_TIME: std::time::Duration = std::time::Duration::from_millis(300);
/// Naming the build is worth waiting for only while the refusal still comes within this much of
/// the guard's start: a loop must be stopped within a second, and reading our own version, which
/// must come first, is a query the server may answer slowly under load.
const NAMING_DEADLINE: std::time::Duration = std::time::Duration::from_millis(700);

/// Versions of the deployment looked at for the invocation loop, most recent first.
const MAX_VERSIONS_EXAMINED: usize = 20;

/// A guard that did not refuse.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Safe to poll; no need to check again in this process.
    Passed,
    /// Not checked: the invoked ARN is not a Lambda function ARN, so this is not Lambda (a local
    /// emulator); no need to check again in this process.
    NotLambda,
    /// The server did not answer (e.g. its per-deployment rate limit); polling goes ahead, as it
    /// would without the guard, and the next invocation checks again.
    Unverified(String),
}

/// Why a read of the server gave no answer about the version.
#[derive(Debug)]
enum Unread {
    /// The server does not know the namespace (its message).
    NoNamespace(String),
    /// Anything else: unavailable, rate-limited, denied.
    Unanswered(String),
}

/// Checks the version before the process's first poll (and the first through another invoked
/// ARN); `Err` means do not poll.
pub(crate) async fn check(
    client: &Client,
    manifest: &Manifest<'_>,
    invoked_arn: &str,
) -> Result<Checked, ServerlessError> {
    if let Some(skipped) = not_lambda(invoked_arn) {
        return Ok(skipped);
    }
    match refusal(client, manifest, invoked_arn).await {
        Ok(None) => Ok(Checked::Passed),
        Ok(Some(refused)) => Err(refused),
        Err(Unread::NoNamespace(message)) => Err(ServerlessError::NamespaceNotFound {
            namespace: client.namespace(),
            message,
        }),
        Err(Unread::Unanswered(unanswered)) => {
            tracing::warn!(
                "the deployment guard could not read Worker Deployment {} ({unanswered}); polling without it",
                manifest.deployment_name
            );
            Ok(Checked::Unverified(unanswered))
        }
    }
}

/// [`Checked::NotLambda`], with its log line, when `invoked_arn` is no Lambda function ARN.
fn not_lambda(invoked_arn: &str) -> Option<Checked> {
    if is_function_arn(invoked_arn) {
        return None;
    }
    tracing::info!(
        invoked_arn,
        "deployment guard skipped: the invoked function ARN is not a Lambda ARN, so this is not Lambda (a local emulator such as `cargo lambda watch`); the worker polls for its version without the check"
    );
    Some(Checked::NotLambda)
}

/// Why this invocation must not poll, if it must not; `Err` when the server did not answer.
/// Reads the facts, then judges them ([`version_checks`]).
async fn refusal(
    client: &Client,
    manifest: &Manifest<'_>,
    invoked_arn: &str,
) -> Result<Option<ServerlessError>, Unread> {
    let namespace = client.namespace();
    let server = Server {
        client,
        namespace: &namespace,
        deployment: manifest.deployment_name,
    };
    let started = tokio::time::Instant::now();
    // Both are needed on every path but the loop's; read them together.
    let (own, controller_running) = tokio::join!(
        server.describe_version(manifest.build_id),
        server.controller_running(manifest.build_id)
    );
    let own = own?;
    let own_arns = own.as_ref().map_or(&[][..], |facts| &facts.arns[..]);
    if is_invocation_loop(own_arns, invoked_arn) {
        return Ok(Some(
            invocation_loop(&server, manifest, invoked_arn, own_arns, started).await,
        ));
    }
    let refused = not_ready_error(
        readiness(own.as_ref(), controller_running?),
        &namespace,
        manifest,
        invoked_arn,
    );
    if refused.is_none() {
        warn_about_arns(own_arns, invoked_arn);
    }
    Ok(refused)
}

/// The refusal of an invocation for another build: the server invokes exactly the ARN a version
/// names, and ours names another. Which build it is for, if the deployment says so quickly.
async fn invocation_loop(
    server: &Server<'_>,
    manifest: &Manifest<'_>,
    invoked_arn: &str,
    own_arns: &[String],
    started: tokio::time::Instant,
) -> ServerlessError {
    let naming_time = NAMING_TIME.min(NAMING_DEADLINE.saturating_sub(started.elapsed()));
    let invoked_for = tokio::time::timeout(
        naming_time,
        server.build_invoking(invoked_arn, manifest.build_id),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .flatten()
    .unwrap_or_else(|| format!("another build (not {})", manifest.build_id));
    let error = ServerlessError::BuildMismatch {
        deployment: manifest.deployment_name.to_owned(),
        carried: manifest.build_id.to_owned(),
        invoked_for,
        arn: invoked_arn.to_owned(),
    };
    tracing::error!(
        carried_build_id = manifest.build_id,
        version_arns = ?own_arns,
        invoked_arn,
        "invocation loop: {error}"
    );
    error
}

/// The refusal for a version that is not [`Readiness::Ready`], with the command that fixes it.
fn not_ready_error(
    readiness: Readiness,
    namespace: &str,
    manifest: &Manifest<'_>,
    invoked_arn: &str,
) -> Option<ServerlessError> {
    let version = DeploymentVersion::new(manifest.deployment_name, manifest.build_id);
    let (problem, subcommand) = match readiness {
        Readiness::Ready => return None,
        Readiness::Missing => (
            format!(
                "Worker Deployment Version {version} does not exist in namespace {namespace}; polling now would create it without a compute provider, and the server would never invoke this function"
            ),
            Subcommand::CreateVersion,
        ),
        Readiness::NoComputeProvider => (
            format!(
                "Worker Deployment Version {version} exists but has no compute provider (it was probably created by a poll, e.g. a manual invocation before create-version), so the server will not invoke this function for it"
            ),
            Subcommand::UpdateComputeConfig,
        ),
    };
    Some(ServerlessError::VersionNotReady {
        problem,
        fix: fix_command(subcommand, namespace, version, invoked_arn),
    })
}

/// Warns when the version names another function, or no fixed code.
fn warn_about_arns(own_arns: &[String], invoked_arn: &str) {
    for warning in arn_warnings(own_arns, invoked_arn) {
        match warning {
            ArnWarning::OtherFunction(arn) => tracing::warn!(
                version_arn = %arn,
                invoked_arn,
                "the version's Lambda ARN is not this function: the server invokes {arn}; fix the version's compute config or deploy this function there"
            ),
            ArnWarning::Unqualified(arn) => tracing::warn!(
                version_arn = %arn,
                "the version's Lambda ARN is unqualified: the server invokes $LATEST, which changes with every code update; use an alias or a published version so that each Worker Deployment Version keeps running the code built for it"
            ),
        }
    }
}

/// The server, for one namespace and deployment.
struct Server<'a> {
    client: &'a Client,
    namespace: &'a str,
    deployment: &'a str,
}

impl Server<'_> {
    /// The server's WorkflowService, over the worker's connection.
    fn service(&self) -> Box<dyn WorkflowService> {
        self.client.connection().workflow_service()
    }

    /// What the server says of `build_id`'s version; `None` when it does not exist.
    async fn describe_version(&self, build_id: &str) -> Result<Option<VersionFacts>, Unread> {
        let request = DescribeWorkerDeploymentVersionRequest {
            namespace: self.namespace.to_owned(),
            deployment_version: Some(WorkerDeploymentVersion {
                deployment_name: self.deployment.to_owned(),
                build_id: build_id.to_owned(),
            }),
            ..Default::default()
        };
        let answer = self
            .service()
            .describe_worker_deployment_version(tonic::Request::new(request))
            .await;
        Ok(found(answer)?
            .and_then(|response| response.worker_deployment_version_info)
            .map(|info| version_facts(&info)))
    }

    /// Whether the Worker Controller Instance of `build_id`'s version is running.
    async fn controller_running(&self, build_id: &str) -> Result<bool, Unread> {
        let request = DescribeWorkflowExecutionRequest {
            namespace: self.namespace.to_owned(),
            execution: Some(WorkflowExecution {
                workflow_id: DeploymentVersion::new(self.deployment, build_id)
                    .controller_workflow_id(),
                run_id: String::new(),
            }),
        };
        let answer = self
            .service()
            .describe_workflow_execution(tonic::Request::new(request))
            .await;
        Ok(found(answer)?
            .and_then(|response| response.workflow_execution_info)
            .is_some_and(|info| info.status() == WorkflowExecutionStatus::Running))
    }

    /// The most recent build ID, other than `except`, of the deployment's versions whose compute
    /// provider is exactly `arn`.
    async fn build_invoking(&self, arn: &str, except: &str) -> Result<Option<String>, Unread> {
        let candidates = newest_build_ids(self.describe_deployment().await?, except);
        // All at once: the invocation waits for the slowest, not for the sum.
        let described = futures::future::join_all(
            candidates
                .iter()
                .map(|build_id| self.describe_version(build_id)),
        )
        .await;
        let mut versions = Vec::with_capacity(candidates.len());
        for (build_id, facts) in candidates.iter().zip(described) {
            versions.push((build_id.as_str(), facts?.unwrap_or_default().arns));
        }
        let named = versions
            .iter()
            .map(|(build_id, arns)| (*build_id, &arns[..]));
        Ok(version_naming(named, &[arn]).map(|(build_id, _)| build_id.to_owned()))
    }

    /// The Worker Deployment, `None` if it does not exist.
    async fn describe_deployment(&self) -> Result<Option<WorkerDeploymentInfo>, Unread> {
        let request = DescribeWorkerDeploymentRequest {
            namespace: self.namespace.to_owned(),
            deployment_name: self.deployment.to_owned(),
        };
        // The server limits the rate of reads per Worker Deployment ("too many requests issued
        // to Worker Deployment"); a burst of cold starts can reach it, so back off a little.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .service()
                .describe_worker_deployment(tonic::Request::new(request.clone()))
                .await
            {
                Ok(response) => return Ok(response.into_inner().worker_deployment_info),
                Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
                Err(status)
                    if status.code() == tonic::Code::ResourceExhausted
                        && attempt < RATE_LIMIT_ATTEMPTS =>
                {
                    tokio::time::sleep(RATE_LIMIT_BACKOFF * attempt).await;
                }
                Err(status) => return Err(Unread::Unanswered(unanswered(&status))),
            }
        }
    }
}

/// The build IDs of the deployment's versions other than `except`, newest first, at most
/// [`MAX_VERSIONS_EXAMINED`].
fn newest_build_ids(deployment: Option<WorkerDeploymentInfo>, except: &str) -> Vec<String> {
    let mut summaries = deployment
        .map(|info| info.version_summaries)
        .unwrap_or_default();
    summaries.sort_by_key(|summary| {
        std::cmp::Reverse(
            summary
                .create_time
                .as_ref()
                .map(|time| (time.seconds, time.nanos)),
        )
    });
    summaries
        .into_iter()
        .filter_map(|summary| summary.deployment_version)
        .map(|version| version.build_id)
        .filter(|build_id| build_id != except)
        .take(MAX_VERSIONS_EXAMINED)
        .collect()
}

/// What a failed read says: `None` when the thing read does not exist (NotFound), the namespace's
/// absence when that is why.
fn unread(status: tonic::Status) -> Option<Unread> {
    if namespace_not_found(&status) {
        return Some(Unread::NoNamespace(status.message().to_owned()));
    }
    if status.code() == tonic::Code::NotFound {
        return None;
    }
    Some(Unread::Unanswered(unanswered(&status)))
}

/// A read's answer, `None` when the thing read does not exist; see [`unread`].
fn found<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Result<Option<T>, Unread> {
    match answer {
        Ok(response) => Ok(Some(response.into_inner())),
        Err(status) => match unread(status) {
            None => Ok(None),
            Some(unread) => Err(unread),
        },
    }
}

fn unanswered(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// Whether `text` holds the server's answer to a request in a namespace it does not have:
/// "Namespace `<name>` is not found." (a missing version or workflow is worded otherwise). `text`
/// may quote the answer among other words, as the `temporal` CLI's stderr does. Pass what the
/// server or CLI said, not the command that was run: its arguments are the user's words.
pub fn is_namespace_not_found(text: &str) -> bool {
    // ASCII lowercasing keeps byte offsets, so the indices found below stay valid.
    let text = text.to_ascii_lowercase();
    text.match_indices("namespace ").any(|(at, word)| {
        let rest = &text[at + word.len()..];
        let name_length = rest.find(char::is_whitespace).unwrap_or(rest.len());
        name_length > 0 && rest[name_length..].starts_with(" is not found")
    })
}

/// Whether a NotFound is the namespace's: the server attaches a `NamespaceNotFoundFailure` (and
/// says so, [`is_namespace_not_found`]); a missing version or workflow says otherwise.
fn namespace_not_found(status: &tonic::Status) -> bool {
    const FAILURE_TYPE: &str = "temporal.api.errordetails.v1.NamespaceNotFoundFailure";
    if status.code() != tonic::Code::NotFound {
        return false;
    }
    let detailed = temporalio_common::protos::google::rpc::Status::decode(status.details())
        .is_ok_and(|details| {
            details
                .details
                .iter()
                .any(|detail| detail.type_url.ends_with(FAILURE_TYPE))
        });
    detailed || is_namespace_not_found(status.message())
}

/// What the guard judges of a version's description: whether its compute config has a compute
/// provider, and the Lambda ARNs in it.
fn version_facts(info: &WorkerDeploymentVersionInfo) -> VersionFacts {
    VersionFacts {
        has_compute_provider: info
            .compute_config
            .as_ref()
            .is_some_and(|config| !config.scaling_groups.is_empty()),
        arns: info
            .compute_config
            .iter()
            .flat_map(|config| config.scaling_groups.values())
            .filter_map(|group| group.provider.as_ref())
            .filter_map(|provider| provider.details.as_ref())
            .flat_map(|details| find_all(&String::from_utf8_lossy(&details.data)))
            .collect(),
    }
}

/// The `temporal worker deployment` command (`create-version` or
/// `update-version-compute-config`) that makes this function the version's compute provider.
fn fix_command(
    subcommand: Subcommand,
    namespace: &str,
    version: DeploymentVersion<'_>,
    invoked_arn: &str,
) -> String {
    let deploy = if subcommand == Subcommand::CreateVersion {
        format!(
            " (or: temporal-serverless deploy --artifact bootstrap --function-arn {invoked_arn} --role-arn .. --external-id ..)"
        )
    } else {
        String::new()
    };
    let command = VersionCommand::new(subcommand, version)
        .namespace(namespace)
        .function_arn(invoked_arn)
        .role("<role the server assumes>", "<external id>");
    format!("{command}{deploy}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_told_apart_from_a_missing_version() {
        use temporalio_common::protos::{
            google::rpc::Status as RpcStatus,
            temporal::api::errordetails::v1::NamespaceNotFoundFailure,
        };
        let message = "Namespace no-such-namespace is not found.";
        // The detail's `Any` type is prost-types', not a dependency here: filled in place.
        let mut details = RpcStatus {
            code: tonic::Code::NotFound as i32,
            message: message.to_owned(),
            details: vec![Default::default()],
        };
        details.details[0].type_url =
            "type.googleapis.com/temporal.api.errordetails.v1.NamespaceNotFoundFailure".to_owned();
        details.details[0].value = NamespaceNotFoundFailure {
            namespace: "no-such-namespace".to_owned(),
        }
        .encode_to_vec();
        let details = details.encode_to_vec();
        let with_details =
            tonic::Status::with_details(tonic::Code::NotFound, "not found", details.into());
        assert!(matches!(
            unread(with_details),
            Some(Unread::NoNamespace(said)) if said == "not found"
        ));
        // Without the detail (a proxy may drop it), the server's words.
        assert!(matches!(
            unread(tonic::Status::not_found(message)),
            Some(Unread::NoNamespace(_))
        ));
        assert!(
            unread(tonic::Status::not_found(
                "Worker Deployment Version not found"
            ))
            .is_none()
        );
        assert!(unread(tonic::Status::not_found("workflow not found for ID: x")).is_none());
        assert!(matches!(
            unread(tonic::Status::permission_denied("Request unauthorized.")),
            Some(Unread::Unanswered(said)) if said == "PermissionDenied: Request unauthorized."
        ));
    }

    #[test]
    fn only_the_servers_answer_says_the_namespace_is_not_found() {
        assert!(is_namespace_not_found(
            "Namespace no-such-namespace is not found."
        ));
        // The CLI's stderr quotes the answer after its own words.
        assert!(is_namespace_not_found(
            "time=2026-11-30T07:00:00Z level=ERROR msg=\"failed describing worker deployment \
             version: Namespace my.ns-1 is not found.\""
        ));
        // Other NotFounds, and requests naming a namespace, are not the namespace's absence.
        for other in [
            "Worker Deployment Version not found",
            "workflow not found for ID: x",
            "temporal worker deployment describe-version --deployment-name d --build-id b \
             --address 127.0.0.1:7233 --namespace default --output json",
            "--namespace default: connection refused",
            "namespace  is not found",
        ] {
            assert!(!is_namespace_not_found(other), "{other}");
        }
    }

    #[test]
    fn a_version_not_ready_is_refused_with_the_command_that_fixes_it() {
        let manifest = Manifest {
            deployment_name: "shop",
            build_id: "b7",
        };
        let arn = "arn:aws:lambda:us-east-1:1:function:shop:live";
        let refused = |readiness| {
            not_ready_error(readiness, "ns", &manifest, arn).map(|error| error.to_string())
        };
        assert_eq!(refused(Readiness::Ready), None);
        assert_eq!(
            refused(Readiness::Missing).unwrap(),
            "Worker Deployment Version shop:b7 does not exist in namespace ns; polling now would \
             create it without a compute provider, and the server would never invoke this function. \
             Fix: temporal worker deployment create-version --namespace ns --deployment-name shop \
             --build-id b7 --aws-lambda-function-arn arn:aws:lambda:us-east-1:1:function:shop:live \
             --aws-lambda-assume-role-arn <role the server assumes> --aws-lambda-assume-role-external-id \
             <external id> (or: temporal-serverless deploy --artifact bootstrap --function-arn \
             arn:aws:lambda:us-east-1:1:function:shop:live --role-arn .. --external-id ..)"
        );
        assert_eq!(
            refused(Readiness::NoComputeProvider).unwrap(),
            "Worker Deployment Version shop:b7 exists but has no compute provider (it was probably \
             created by a poll, e.g. a manual invocation before create-version), so the server will \
             not invoke this function for it. Fix: temporal worker deployment \
             update-version-compute-config --namespace ns --deployment-name shop --build-id b7 \
             --aws-lambda-function-arn arn:aws:lambda:us-east-1:1:function:shop:live \
             --aws-lambda-assume-role-arn <role the server assumes> --aws-lambda-assume-role-external-id \
             <external id>"
        );
    }

    #[test]
    fn only_a_lambda_function_arn_is_guarded() {
        for local in ["function-arn", "", "hello", "arn:aws:iam::1:role/x"] {
            assert_eq!(not_lambda(local), Some(Checked::NotLambda), "{local}");
        }
        for lambda in [
            "arn:aws:lambda:us-east-1:000000000000:function:hello:live",
            "arn:aws-cn:lambda:cn-north-1:1:function:hello",
        ] {
            assert_eq!(not_lambda(lambda), None, "{lambda}");
        }
    }

    #[test]
    fn the_guard_is_on_unless_switched_off() {
        assert!(enabled(|_| None));
        assert!(enabled(|_| Some("on".to_owned())));
        assert!(!enabled(|_| Some("off".to_owned())));
        assert!(!enabled(|_| Some("FALSE".to_owned())));
    }
}
