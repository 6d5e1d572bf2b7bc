//! What `doctor` reads before judging: the version, its deployment, its Worker Controller
//! Instance and that workflow's history, the bound task queues, the function as Lambda's
//! GetFunction describes it, and the namespace's capabilities. Reading only; every check is made
//! in `checks`.

use super::{aws_evidence::FunctionFacts, lambda_http};
use crate::temporal_cli::{CliError, TemporalCli, bound_task_queues};
use base64::Engine;
use serde_json::Value;
use temporal_serverless::{is_namespace_not_found, lambda_arn};
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};

/// The version `doctor` examines.
pub struct Target {
    /// Worker Deployment name.
    pub deployment: String,
    /// Build ID.
    pub build_id: String,
    /// Whether they were read from an artifact (rather than given).
    pub from_artifact: bool,
    /// The function ARN the user expects the server to invoke, if given.
    pub expected_arn: Option<String>,
}

impl Target {
    /// The Worker Deployment Version examined.
    pub fn version(&self) -> DeploymentVersion<'_> {
        DeploymentVersion::new(&self.deployment, &self.build_id)
    }
}

/// Another version of the same deployment.
pub struct OtherVersion {
    /// Its build ID.
    pub build_id: String,
    /// `current`, `ramping` or `not routed`.
    pub role: &'static str,
    /// Lambda ARNs in its controller's history.
    pub arns: Vec<String>,
}

/// Everything read.
pub struct Evidence {
    /// `describe-version` JSON; `Ok(None)` when the server says the version does not exist.
    pub version: Result<Option<Value>, CliError>,
    /// Status of the Worker Controller Instance workflow (`WORKFLOW_EXECUTION_STATUS_…` or
    /// `Running`), `None` if it does not exist.
    pub controller_status: Option<String>,
    /// Failed activities of the controller's current run: (activity type, failure message).
    pub controller_failures: Vec<(String, String)>,
    /// Activities the controller completed in its current run, by type.
    pub controller_activities: Vec<String>,
    /// Results of its stats activities (PullStats: the backlog it saw), newest last, decoded.
    pub controller_stats: Vec<String>,
    /// Lambda ARNs in the controller's history (the version's compute provider).
    pub arns: Vec<String>,
    /// The deployment's other versions (most recent first, at most [`MAX_OTHER_VERSIONS`]).
    pub other_versions: Vec<OtherVersion>,
    /// Bound task queues with their `task-queue describe` JSON.
    pub task_queues: Vec<(String, Option<Value>)>,
    /// GetFunction of the version's ARN: `None` if it was not asked (no unsigned endpoint, and
    /// no AWS credentials: then `mod.rs` fills it from the AWS SDK's answer).
    pub function: Option<Result<FunctionFacts, String>>,
    /// The version's current AWS Lambda compute config, as its controller's history last
    /// records it.
    pub compute_config: Option<ComputeConfig>,
    /// The namespace the connection arguments name, as `DescribeNamespace` describes it.
    pub namespace: Result<Namespace, CliError>,
}

/// An AWS Lambda compute config, as the server records it (`{"arn", "role",
/// "role_external_id"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeConfig {
    /// The function ARN the server invokes.
    pub arn: String,
    /// The invocation role it assumes (`None` for a version created with
    /// `--aws-lambda-skip-role-and-external-id`).
    pub role: Option<String>,
    /// The external ID it passes.
    pub external_id: Option<String>,
}

impl Evidence {
    /// The function ARN the server invokes now: the current compute config's, else the first
    /// seen in the controller's history.
    pub fn current_arn(&self) -> Option<&str> {
        self.compute_config
            .as_ref()
            .map(|config| config.arn.as_str())
            .or(self.arns.first().map(String::as_str))
    }
}

/// What `doctor` needs of a namespace's description.
#[derive(Debug, PartialEq, Eq)]
pub struct Namespace {
    /// Its name.
    pub name: String,
    /// Whether it advertises `worker_poll_complete_on_shutdown`: the server then completes a
    /// worker's outstanding polls when the worker calls `ShutdownWorker`, and the runtime ends an
    /// invocation by that (server-driven drain) instead of by the polls' deadline.
    pub completes_polls_on_shutdown: bool,
}

/// A `temporal operator namespace describe --output json` (CLI 1.9), read. The CLI leaves a
/// capability that is false out, as it does on servers older than 1.31, which do not know it.
fn namespace_read(description: &Value) -> Namespace {
    let info = &description["namespaceInfo"];
    Namespace {
        name: info["name"].as_str().unwrap_or("?").to_owned(),
        completes_polls_on_shutdown: info["capabilities"]["workerPollCompleteOnShutdown"]
            .as_bool()
            .unwrap_or(false),
    }
}

/// A `describe-version` answer: `Ok(None)` when the server says the version does not exist. A
/// namespace the server does not have ("Namespace <name> is not found.") is not a missing
/// version: the connection is wrong. Only what the CLI said is read, not its command line, which
/// holds the user's `--namespace`.
fn version_read(answer: Result<Value, CliError>) -> Result<Option<Value>, CliError> {
    match answer {
        Ok(description) => Ok(Some(description)),
        Err(error)
            if error.stderr.to_lowercase().contains("not found")
                && !is_namespace_not_found(&error.stderr) =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The controller's workflow id for a version.
fn controller_id(deployment: &str, build_id: &str) -> String {
    DeploymentVersion::new(deployment, build_id).controller_workflow_id()
}

/// Reads everything; errors are kept as evidence, never fatal.
pub fn gather(cli: &TemporalCli, target: &Target, lambda_endpoint: Option<&str>) -> Evidence {
    let version = version_read(
        cli.json(&VersionCommand::new(Subcommand::DescribeVersion, target.version()).words()),
    );
    let controller = read_controller(cli, &target.deployment, &target.build_id);
    let task_queues = version
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map(bound_task_queues)
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            let stats = cli
                .json(&[
                    "task-queue",
                    "describe",
                    "--task-queue",
                    &name,
                    "--select-all-active",
                ])
                .ok();
            (name, stats)
        })
        .collect();
    let other_versions = other_versions(cli, target);
    let function = lambda_endpoint.and_then(|endpoint| {
        let arn = controller
            .config
            .as_ref()
            .map(|config| &config.arn)
            .or(controller.arns.first())
            .or(target.expected_arn.as_ref())?;
        Some(
            lambda_http::get_function(endpoint, arn)
                .map(|document| FunctionFacts::from_json(&document)),
        )
    });
    // No `--namespace` of its own: the connection arguments (or the CLI's environment and
    // profile) name the namespace, as for every other command.
    let namespace = cli
        .json(&["operator", "namespace", "describe"])
        .map(|description| namespace_read(&description));
    Evidence {
        version,
        controller_status: controller.status,
        controller_failures: controller.failures,
        controller_activities: controller.activities,
        controller_stats: controller.stats,
        arns: controller.arns,
        other_versions,
        task_queues,
        function,
        compute_config: controller.config,
        namespace,
    }
}

struct Controller {
    status: Option<String>,
    failures: Vec<(String, String)>,
    activities: Vec<String>,
    stats: Vec<String>,
    arns: Vec<String>,
    config: Option<ComputeConfig>,
}

fn read_controller(cli: &TemporalCli, deployment: &str, build_id: &str) -> Controller {
    let id = controller_id(deployment, build_id);
    let status = cli
        .json(&["workflow", "describe", "--workflow-id", &id])
        .ok()
        .and_then(|description| {
            description["workflowExecutionInfo"]["status"]
                .as_str()
                .map(str::to_owned)
        });
    let history = controller_history(cli, deployment, build_id);
    let mut scheduled = std::collections::HashMap::new();
    let (mut failures, mut activities, mut stats) = (Vec::new(), Vec::new(), Vec::new());
    for event in history["events"].as_array().into_iter().flatten() {
        let id = event["eventId"].as_str().unwrap_or_default().to_owned();
        if let Some(attributes) = event.get("activityTaskScheduledEventAttributes") {
            let name = attributes["activityType"]["name"].as_str().unwrap_or("?");
            scheduled.insert(id, name.to_owned());
        } else if let Some(attributes) = event
            .get("activityTaskFailedEventAttributes")
            .or_else(|| event.get("activityTaskTimedOutEventAttributes"))
        {
            let activity = scheduled
                .get(attributes["scheduledEventId"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_else(|| "?".to_owned());
            let message = attributes["failure"]["message"]
                .as_str()
                .unwrap_or("timed out")
                .to_owned();
            failures.push((activity, message));
        } else if let Some(attributes) = event.get("activityTaskCompletedEventAttributes")
            && let Some(activity) =
                scheduled.get(attributes["scheduledEventId"].as_str().unwrap_or_default())
        {
            if activity.contains("Stats") {
                let result: String = attributes["result"]["payloads"][0]["data"]
                    .as_str()
                    .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
                    .map(|bytes| String::from_utf8_lossy(&bytes).chars().take(300).collect())
                    .unwrap_or_default();
                stats.push(format!("{activity}: {result}"));
            }
            activities.push(activity.clone());
        }
    }
    Controller {
        status,
        failures,
        activities,
        stats,
        arns: history_arns(&history),
        config: compute_config(&history),
    }
}

/// The current run's history of the version's controller (`null` if it has none).
fn controller_history(cli: &TemporalCli, deployment: &str, build_id: &str) -> Value {
    cli.json(&[
        "workflow",
        "show",
        "--workflow-id",
        &controller_id(deployment, build_id),
    ])
    .unwrap_or(Value::Null)
}

/// The Lambda ARNs in a controller's history, sorted, each once.
fn history_arns(history: &Value) -> Vec<String> {
    let mut arns = Vec::new();
    collect_arns(history, &mut arns);
    arns.sort();
    arns.dedup();
    arns
}

/// Lambda ARNs anywhere in a history: in plain strings and in base64 payload data, which may
/// be JSON holding base64 payloads in turn (the compute config inside the controller's input).
fn collect_arns(value: &Value, arns: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            arns.extend(lambda_arn::find_all(text));
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(inner) => collect_arns(&inner, arns),
                    Err(_) => arns.extend(lambda_arn::find_all(&String::from_utf8_lossy(&bytes))),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_arns(item, arns)),
        Value::Object(fields) => fields.values().for_each(|field| collect_arns(field, arns)),
        _ => {}
    }
}

/// The last AWS Lambda compute config in a history (the current one): JSON, base64 in a
/// payload, inside the JSON of the controller's input and updates (see [`collect_arns`]).
fn compute_config(history: &Value) -> Option<ComputeConfig> {
    let mut found = None;
    find_compute_config(history, &mut found);
    found
}

fn find_compute_config(value: &Value, found: &mut Option<ComputeConfig>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(arn)) = fields.get("arn")
                && lambda_arn::is_function_arn(arn)
            {
                let text = |key: &str| {
                    fields
                        .get(key)
                        .and_then(Value::as_str)
                        .filter(|text| !text.is_empty())
                        .map(str::to_owned)
                };
                *found = Some(ComputeConfig {
                    arn: arn.clone(),
                    role: text("role"),
                    external_id: text("role_external_id"),
                });
            }
            fields
                .values()
                .for_each(|field| find_compute_config(field, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| find_compute_config(item, found)),
        Value::String(text) => {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text)
                && let Ok(inner) = serde_json::from_slice::<Value>(&bytes)
            {
                find_compute_config(&inner, found);
            }
        }
        _ => {}
    }
}

/// Versions of the deployment examined besides the target.
pub const MAX_OTHER_VERSIONS: usize = 10;

/// The deployment's other versions, most recent first, with their role and function ARNs.
fn other_versions(cli: &TemporalCli, target: &Target) -> Vec<OtherVersion> {
    let Ok(deployment) = cli.json(&[
        "worker",
        "deployment",
        "describe",
        "--name",
        &target.deployment,
    ]) else {
        return Vec::new();
    };
    let routing = &deployment["routingConfig"];
    let role_of = |build_id: &str| {
        if routing["currentVersionBuildID"] == build_id {
            "current"
        } else if routing["rampingVersionBuildID"] == build_id {
            "ramping"
        } else {
            "not routed"
        }
    };
    let mut summaries: Vec<&Value> = deployment["versionSummaries"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    summaries.sort_by(|a, b| b["createTime"].as_str().cmp(&a["createTime"].as_str()));
    summaries
        .into_iter()
        .filter_map(|summary| summary["BuildID"].as_str().or(summary["buildId"].as_str()))
        .filter(|build_id| *build_id != target.build_id)
        .take(MAX_OTHER_VERSIONS)
        .map(|build_id| OtherVersion {
            build_id: build_id.to_owned(),
            role: role_of(build_id),
            // Only its ARNs matter: its history, without the controller's status.
            arns: history_arns(&controller_history(cli, &target.deployment, build_id)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_clis_answer_tells_a_missing_version_from_a_missing_namespace() {
        // As CLI 1.9 answers `describe-version ... --namespace default`, with the documented
        // connection arguments in the rendered command.
        let failed = |stderr: &str| {
            version_read(Err(CliError {
                message: format!(
                    "`temporal worker deployment describe-version --deployment-name d --build-id b \
                     --output json --address 127.0.0.1:7233 --namespace default` failed: {stderr}"
                ),
                stderr: stderr.to_owned(),
            }))
        };
        let missing = "Error: error describing worker deployment version: Worker Deployment \
                       Version not found";
        assert!(matches!(failed(missing), Ok(None)));
        let no_namespace =
            "Error: error describing worker deployment version: Namespace nope is not found.";
        assert!(matches!(failed(no_namespace), Err(error) if error.stderr == no_namespace));
        // A refused connection names the namespace too, and is neither.
        let refused = "Error: failed connecting to Temporal server at 127.0.0.1:7233: connection \
                       refused\n  Namespace: default\n  TLS: false";
        assert!(failed(refused).is_err());
    }

    #[test]
    fn reads_the_poll_completion_capability_as_the_cli_prints_it() {
        // As CLI 1.9.1 prints a dev server 1.32 started with and without
        // `--dynamic-config-value frontend.enableCancelWorkerPollsOnShutdown=true` (abridged).
        let with = json!({"namespaceInfo": {"name": "default", "capabilities": {
            "eagerWorkflowStart": true, "workerHeartbeats": true,
            "workerPollCompleteOnShutdown": true, "pollerAutoscaling": true}}});
        let without = json!({"namespaceInfo": {"name": "default", "capabilities": {
            "eagerWorkflowStart": true, "workerHeartbeats": true, "pollerAutoscaling": true}}});
        assert_eq!(
            namespace_read(&with),
            Namespace {
                name: "default".to_owned(),
                completes_polls_on_shutdown: true
            }
        );
        assert!(!namespace_read(&without).completes_polls_on_shutdown);
        // A server that knows no capabilities at all.
        let old = json!({"namespaceInfo": {"name": "shop"}});
        assert_eq!(
            namespace_read(&old),
            Namespace {
                name: "shop".to_owned(),
                completes_polls_on_shutdown: false
            }
        );
    }

    #[test]
    fn the_current_compute_config_is_the_last_in_the_history() {
        // As the controller records its start (no role) and then an update with a role (the
        // server 1.32 writes the config as {"arn", "role", "role_external_id"}).
        let payload = |config: &str| {
            let data = base64::engine::general_purpose::STANDARD.encode(config);
            base64::engine::general_purpose::STANDARD.encode(
                json!({"upsert_scaling_groups": {"default": {"spec": {"compute": {
                    "provider_type": "aws-lambda", "config": {"data": data}}}}}})
                .to_string(),
            )
        };
        let created = payload(r#"{"arn":"arn:aws:lambda:us-east-1:1:function:shop:2"}"#);
        let updated = payload(
            r#"{"arn":"arn:aws:lambda:us-east-1:1:function:shop:3","role":"arn:aws:iam::1:role/temporal-invoke-shop","role_external_id":"shop-7f3a9c"}"#,
        );
        let update = |data: &str| {
            json!({"workflowExecutionUpdateAcceptedEventAttributes":
            {"acceptedRequest": {"input": {"args": {"payloads": [{"data": data}]}}}}})
        };
        let history = json!({"events": [update(&created), update(&updated)]});
        assert_eq!(
            compute_config(&history),
            Some(ComputeConfig {
                arn: "arn:aws:lambda:us-east-1:1:function:shop:3".to_owned(),
                role: Some("arn:aws:iam::1:role/temporal-invoke-shop".to_owned()),
                external_id: Some("shop-7f3a9c".to_owned()),
            })
        );
        // Created with --aws-lambda-skip-role-and-external-id: only the ARN.
        let history = json!({"events": [update(&created)]});
        let config = compute_config(&history).unwrap();
        assert_eq!(
            (config.arn.as_str(), config.role),
            ("arn:aws:lambda:us-east-1:1:function:shop:2", None)
        );
        assert_eq!(compute_config(&json!({"events": []})), None);
    }

    #[test]
    fn arns_are_found_in_plain_and_base64_payloads() {
        // As the controller records it: JSON whose config data is base64 JSON in turn.
        let config = base64::engine::general_purpose::STANDARD
            .encode(r#"{"arn":"arn:aws:lambda:us-east-1:1:function:shop:live"}"#);
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(json!({"spec": {"compute": {"config": {"data": config}}}}).to_string());
        let history = json!({"events": [{"input": {"payloads": [{"data": encoded}]}},
            {"message": "Function not found: arn:aws:lambda:us-east-1:1:function:ghost"}]});
        let mut arns = Vec::new();
        collect_arns(&history, &mut arns);
        assert_eq!(
            arns,
            vec![
                "arn:aws:lambda:us-east-1:1:function:shop:live",
                "arn:aws:lambda:us-east-1:1:function:ghost"
            ]
        );
    }
}
