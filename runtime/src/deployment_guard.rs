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
//! ID, but its ARN (with qualifier) says which versions can have caused it: if it is not our own
//! version's ARN but another version's, this invocation is for that build, and it fails at once,
//! without polling, naming both builds and the fix.
//!
//! Passing checks are cached for the life of the process (warm invocations pay nothing); failing
//! ones are repeated, so that a fixed version works without a new cold start. Set
//! `TEMPORAL_SERVERLESS_GUARD=off` to skip the check, e.g. to run the binary by hand against a
//! server without Worker Controller.

use crate::{
    error::ServerlessError,
    lambda_arn::{find_all, is_qualified, strip_qualifier},
    manifest::Manifest,
};
use temporalio_client::{Client, NamespacedClient};
use temporalio_common::protos::temporal::api::{
    deployment::v1::{WorkerDeploymentVersion, WorkerDeploymentVersionInfo},
    workflowservice::v1::{DescribeWorkerDeploymentRequest, DescribeWorkerDeploymentVersionRequest},
};

/// Set to `off` to skip the guard.
pub const GUARD_VARIABLE: &str = "TEMPORAL_SERVERLESS_GUARD";

/// Whether the guard is on (the default).
pub(crate) fn enabled(read_env: impl Fn(&str) -> Option<String>) -> bool {
    !matches!(
        read_env(GUARD_VARIABLE).as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("off" | "0" | "false")
    )
}

/// Versions of the deployment looked at for the invocation loop, most recent first.
const MAX_VERSIONS_EXAMINED: usize = 20;

/// Checks the version; `Ok` if polling is safe.
pub(crate) async fn check(
    client: &Client,
    manifest: &Manifest<'_>,
    invoked_arn: &str,
) -> Result<(), ServerlessError> {
    let namespace = client.namespace();
    let server = Server {
        client,
        namespace: &namespace,
        deployment: manifest.deployment_name,
    };
    let not_ready = |problem: String, subcommand: &str| ServerlessError::VersionNotReady {
        problem,
        fix: fix_command(subcommand, &namespace, manifest, invoked_arn),
    };
    let own = server.describe_version(manifest.build_id).await?;
    let own_arns = own.as_ref().map(version_arns).unwrap_or_default();
    // Invoked through an ARN that is not our version's: the server invoked it for the version(s)
    // whose compute provider is exactly that ARN. Another build's → the invocation loop.
    let others = server
        .builds_invoking(invoked_arn, manifest.build_id)
        .await?;
    if own_arns.iter().any(|arn| arn == invoked_arn) {
        // Our version and others share the ARN: each invocation may be for any of them, and
        // those for the others' builds are never served. Serving ours is still right (its
        // pinned workflows need it), so this is said loudly rather than refused.
        if !others.is_empty() {
            tracing::error!(
                carried_build_id = manifest.build_id,
                other_build_ids = ?others,
                invoked_arn,
                "invocation loop likely: versions {others:?} of deployment {} also name {invoked_arn}, whose code carries build {}; invocations for them poll as {} and never take their tasks, so the server invokes again and again. Give each version its own alias or published version, with the code built for it",
                manifest.deployment_name,
                manifest.build_id,
                manifest.build_id
            );
        }
    } else if let Some(invoked_for) = others.first() {
        // Not our ARN but another build's: this invocation is for that build.
        let error = ServerlessError::BuildMismatch {
            deployment: manifest.deployment_name.to_owned(),
            carried: manifest.build_id.to_owned(),
            invoked_for: invoked_for.clone(),
            arn: invoked_arn.to_owned(),
        };
        tracing::error!(
            carried_build_id = manifest.build_id,
            invoked_for_build_id = %invoked_for,
            invoked_arn,
            "invocation loop: {error}"
        );
        return Err(error);
    }
    let Some(info) = own else {
        return Err(not_ready(
            format!(
                "Worker Deployment Version {}:{} does not exist in namespace {namespace}; polling now would create it without a compute provider, and the server would never invoke this function",
                manifest.deployment_name, manifest.build_id
            ),
            "create-version",
        ));
    };
    let has_provider = info
        .compute_config
        .as_ref()
        .is_some_and(|config| !config.scaling_groups.is_empty());
    if !has_provider {
        return Err(not_ready(
            format!(
                "Worker Deployment Version {}:{} exists but has no compute provider (it was probably created by a poll, e.g. a manual invocation before create-version), so the server will not invoke this function for it",
                manifest.deployment_name, manifest.build_id
            ),
            "update-version-compute-config",
        ));
    }
    for arn in &own_arns {
        if strip_qualifier(arn) != strip_qualifier(invoked_arn) {
            tracing::warn!(
                version_arn = %arn,
                invoked_arn,
                "the version's Lambda ARN is not this function: the server invokes {arn}; fix the version's compute config or deploy this function there"
            );
        } else if !is_qualified(arn) {
            tracing::warn!(
                version_arn = %arn,
                "the version's Lambda ARN is unqualified: the server invokes $LATEST, which changes with every code update; use an alias or a published version so that each Worker Deployment Version keeps running the code built for it"
            );
        }
    }
    Ok(())
}

/// The server, for one namespace and deployment.
struct Server<'a> {
    client: &'a Client,
    namespace: &'a str,
    deployment: &'a str,
}

impl Server<'_> {
    async fn describe_version(
        &self,
        build_id: &str,
    ) -> Result<Option<WorkerDeploymentVersionInfo>, ServerlessError> {
        let request = DescribeWorkerDeploymentVersionRequest {
            namespace: self.namespace.to_owned(),
            deployment_version: Some(WorkerDeploymentVersion {
                deployment_name: self.deployment.to_owned(),
                build_id: build_id.to_owned(),
            }),
            ..Default::default()
        };
        match self
            .client
            .connection()
            .workflow_service()
            .describe_worker_deployment_version(tonic::Request::new(request))
            .await
        {
            Ok(response) => Ok(response.into_inner().worker_deployment_version_info),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(self.unanswered(status)),
        }
    }

    /// Build IDs, other than `except`, of the deployment's versions whose compute provider is
    /// exactly `arn`.
    async fn builds_invoking(
        &self,
        arn: &str,
        except: &str,
    ) -> Result<Vec<String>, ServerlessError> {
        let request = DescribeWorkerDeploymentRequest {
            namespace: self.namespace.to_owned(),
            deployment_name: self.deployment.to_owned(),
        };
        let deployment = match self
            .client
            .connection()
            .workflow_service()
            .describe_worker_deployment(tonic::Request::new(request))
            .await
        {
            Ok(response) => response.into_inner().worker_deployment_info,
            Err(status) if status.code() == tonic::Code::NotFound => None,
            Err(status) => return Err(self.unanswered(status)),
        };
        let mut summaries = deployment
            .map(|info| info.version_summaries)
            .unwrap_or_default();
        summaries.sort_by_key(|summary| {
            std::cmp::Reverse(summary.create_time.as_ref().map(|time| (time.seconds, time.nanos)))
        });
        let mut builds = Vec::new();
        for summary in summaries.iter().take(MAX_VERSIONS_EXAMINED) {
            let Some(build_id) = summary.deployment_version.as_ref().map(|v| v.build_id.as_str()) else {
                continue;
            };
            if build_id == except {
                continue;
            }
            if let Some(info) = self.describe_version(build_id).await?
                && version_arns(&info).iter().any(|version_arn| version_arn == arn)
            {
                builds.push(build_id.to_owned());
            }
        }
        Ok(builds)
    }

    fn unanswered(&self, status: tonic::Status) -> ServerlessError {
        ServerlessError::Worker(format!(
            "the deployment guard could not read Worker Deployment {} ({}); set {GUARD_VARIABLE}=off to skip it",
            self.deployment,
            status.message()
        ))
    }
}

/// The Lambda ARNs in a version's compute config.
fn version_arns(info: &WorkerDeploymentVersionInfo) -> Vec<String> {
    info.compute_config
        .iter()
        .flat_map(|config| config.scaling_groups.values())
        .filter_map(|group| group.provider.as_ref())
        .filter_map(|provider| provider.details.as_ref())
        .flat_map(|details| find_all(&String::from_utf8_lossy(&details.data)))
        .collect()
}

/// The `temporal worker deployment` command (`create-version` or
/// `update-version-compute-config`) that makes this function the version's compute provider.
fn fix_command(
    subcommand: &str,
    namespace: &str,
    manifest: &Manifest<'_>,
    invoked_arn: &str,
) -> String {
    let deploy = if subcommand == "create-version" {
        format!(
            " (or: temporal-serverless deploy --artifact bootstrap --function-arn {invoked_arn} --role-arn .. --external-id ..)"
        )
    } else {
        String::new()
    };
    format!(
        "temporal worker deployment {subcommand} --namespace {namespace} --deployment-name {} --build-id {} \
         --aws-lambda-function-arn {invoked_arn} --aws-lambda-assume-role-arn <role the server assumes> \
         --aws-lambda-assume-role-external-id <external id>{deploy}",
        manifest.deployment_name, manifest.build_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_is_on_unless_switched_off() {
        assert!(enabled(|_| None));
        assert!(enabled(|_| Some("on".to_owned())));
        assert!(!enabled(|_| Some("off".to_owned())));
        assert!(!enabled(|_| Some("FALSE".to_owned())));
    }
}
