//! The troubleshooting guide's checks, in its order, judged from the [`Evidence`]: each passes,
//! warns, fails, or was not checked, with what was seen and how to fix it. Then what the
//! namespace's drain costs each invocation.

use super::{
    aws_checks::{self, AwsInputs, skipped},
    aws_evidence::AwsEvidence,
    evidence::{Evidence, Namespace, Target},
};
use crate::temporal_cli::CliError;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use temporal_serverless::{
    SERVER_DRAIN_VARIABLE, deadline, is_namespace_not_found,
    lambda_arn::{is_qualified, strip_qualifier},
    version_checks::{ArnMatch, arn_match, version_naming},
};
use temporal_serverless_names::version::{Subcommand, VersionCommand};

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fine.
    Passed,
    /// Works, at a cost `fix` says how to avoid; not a failure (the exit code ignores it).
    Warning,
    /// Broken: `fix` says what to do.
    Failed,
    /// Could not be checked from here: `fix` says how to check by hand.
    NotChecked,
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// Outcome.
    pub verdict: Verdict,
    /// What was seen.
    pub saw: String,
    /// What to do (failed, warning), or how to check by hand (not checked).
    pub fix: Option<String>,
}

pub(super) fn passed(name: &'static str, saw: String) -> Check {
    Check {
        name,
        verdict: Verdict::Passed,
        saw,
        fix: None,
    }
}

pub(super) fn failed(name: &'static str, saw: String, fix: String) -> Check {
    Check {
        name,
        verdict: Verdict::Failed,
        saw,
        fix: Some(fix),
    }
}

pub(super) fn warning(name: &'static str, saw: String, fix: String) -> Check {
    Check {
        name,
        verdict: Verdict::Warning,
        saw,
        fix: Some(fix),
    }
}

pub(super) fn not_checked(name: &'static str, saw: String, fix: String) -> Check {
    Check {
        name,
        verdict: Verdict::NotChecked,
        saw,
        fix: Some(fix),
    }
}

/// Every check, in the guide's order; the AWS ones ([`aws_checks`]) after the function's.
pub fn run(
    target: &Target,
    evidence: &Evidence,
    shutdown_buffer_seconds: u64,
    aws_inputs: &AwsInputs<'_>,
    aws: &AwsEvidence,
) -> Vec<Check> {
    let version = target.version().to_string();
    let arn_hint = target
        .expected_arn
        .as_deref()
        .unwrap_or("<qualified function ARN>");
    let update_compute = VersionCommand::new(Subcommand::UpdateComputeConfig, target.version())
        .function_arn(arn_hint)
        .role("<role>", "<external id>")
        .to_string();
    let description = evidence.version.as_ref().ok().and_then(Option::as_ref);
    let mut checks = vec![version_exists(target, evidence, &version, arn_hint)];
    checks.push(compute_provider(
        description,
        evidence,
        &version,
        &update_compute,
    ));
    checks.push(controller(target, evidence, description.is_some()));
    checks.push(function_exists(target, evidence, aws));
    checks.push(function_arn(target, evidence, &update_compute));
    checks.extend(aws_checks::run(aws_inputs, aws));
    checks.push(task_queues(evidence, description.is_some()));
    checks.push(controller_history(evidence));
    checks.push(build_id(target, description.is_some(), evidence));
    checks.push(invocation_loop(target, evidence));
    checks.push(timeout(
        target,
        evidence,
        aws,
        Duration::from_secs(shutdown_buffer_seconds),
    ));
    checks.push(drain(&evidence.namespace));
    checks
}

fn version_exists(target: &Target, evidence: &Evidence, version: &str, arn: &str) -> Check {
    let name = "version exists";
    match &evidence.version {
        Ok(Some(_)) => passed(name, format!("Worker Deployment Version {version} exists")),
        Ok(None) => failed(
            name,
            format!("Worker Deployment Version {version} does not exist"),
            format!(
                "temporal-serverless deploy --artifact bootstrap --function-arn {arn} (or: {} ...); do not invoke the function by hand before: its poll would create the version without a compute provider",
                VersionCommand::new(Subcommand::CreateVersion, target.version()).function_arn(arn)
            ),
        ),
        Err(error) if is_namespace_not_found(&error.stderr) => failed(
            name,
            format!("cannot read the version: {error}"),
            "pass the namespace the Worker Deployment is in after `--` (`--namespace ..`, the \
             function's TEMPORAL_NAMESPACE), and check that the API key or certificate may use it"
                .to_owned(),
        ),
        Err(error) => failed(
            name,
            format!("cannot read the version: {error}"),
            "check the connection arguments after `--` (address, namespace, API key or TLS)"
                .to_owned(),
        ),
    }
}

fn compute_provider(
    description: Option<&Value>,
    evidence: &Evidence,
    version: &str,
    update_compute: &str,
) -> Check {
    let name = "compute provider";
    let Some(description) = description else {
        return not_checked(
            name,
            "no version".to_owned(),
            "create the version first".to_owned(),
        );
    };
    let providers: Vec<String> = description["computeConfig"]["scalingGroups"]
        .as_object()
        .into_iter()
        .flat_map(|groups| groups.values())
        .filter_map(|group| group["provider"]["type"].as_str().map(str::to_owned))
        .collect();
    if providers.is_empty() {
        return failed(
            name,
            format!(
                "{version} has no compute provider: it was created by a worker's poll (e.g. the function invoked by hand before create-version), so no Worker Controller Instance will invoke it"
            ),
            update_compute.to_owned(),
        );
    }
    let arns = if evidence.arns.is_empty() {
        "function ARN not visible in the controller's history".to_owned()
    } else {
        format!("function {}", evidence.arns.join(", "))
    };
    passed(name, format!("{} ({arns})", providers.join(", ")))
}

fn controller(target: &Target, evidence: &Evidence, version_exists: bool) -> Check {
    let name = "worker controller instance";
    let id = target.version().controller_workflow_id();
    match evidence.controller_status.as_deref() {
        Some("Running" | "WORKFLOW_EXECUTION_STATUS_RUNNING") => {
            passed(name, format!("{id} is running"))
        }
        Some(status) => failed(
            name,
            format!("{id} is {status}"),
            "update the version's compute config (update-version-compute-config) to restart it".to_owned(),
        ),
        None if !version_exists => not_checked(name, "no version".to_owned(), "create the version first".to_owned()),
        None => failed(
            name,
            format!("no workflow {id}"),
            "give the version a compute provider (update-version-compute-config); on a self-hosted server, start it with --dynamic-config-value workercontroller.enabled=true".to_owned(),
        ),
    }
}

/// The ARN the server invokes, else the one the user expects.
fn function_arn_of<'a>(target: &'a Target, evidence: &'a Evidence) -> Option<&'a str> {
    evidence.current_arn().or(target.expected_arn.as_deref())
}

fn function_exists(target: &Target, evidence: &Evidence, aws: &AwsEvidence) -> Check {
    let name = "function exists";
    let arn = function_arn_of(target, evidence)
        .unwrap_or_default()
        .to_owned();
    match &evidence.function {
        Some(Ok(function)) => passed(
            name,
            format!(
                "GetFunction {arn}: {} ({})",
                if function.arn.is_empty() { "found" } else { &function.arn },
                function.state.as_deref().unwrap_or("?")
            ),
        ),
        Some(Err(error)) => failed(
            name,
            format!("GetFunction {arn}: {error}"),
            "create or publish the function at that ARN, or point the version at the right one (update-version-compute-config)".to_owned(),
        ),
        None => not_checked(
            name,
            match aws {
                AwsEvidence::Unavailable(reason) => skipped(reason),
                AwsEvidence::Read(_) => "no function ARN to ask for".to_owned(),
            },
            format!("aws lambda get-function --function-name {}", if arn.is_empty() { "<ARN>" } else { &arn }),
        ),
    }
}

fn function_arn(target: &Target, evidence: &Evidence, update_compute: &str) -> Check {
    let name = "function ARN";
    let Some(arn) = evidence.current_arn() else {
        return not_checked(
            name,
            "no Lambda ARN in the controller's history".to_owned(),
            "compare the ARN you passed to create-version with the function's version ARN"
                .to_owned(),
        );
    };
    // Another qualifier of the same function is another version's code.
    if let Some(expected) = &target.expected_arn
        && arn_match(arn, expected) != ArnMatch::Exact
    {
        return failed(
            name,
            format!("the version invokes {arn}, not {expected}"),
            update_compute.to_owned(),
        );
    }
    if !is_qualified(arn) {
        return failed(
            name,
            format!(
                "{arn} is unqualified: the server invokes $LATEST, whose code changes with every update, so an old version can run new code (and the reverse)"
            ),
            format!(
                "publish a version (cargo lambda deploy publishes one; or aws lambda publish-version) and point the version at it: {update_compute}"
            ),
        );
    }
    passed(name, format!("{arn} (qualified)"))
}

fn task_queues(evidence: &Evidence, version_exists: bool) -> Check {
    let name = "task queues bound";
    if !version_exists {
        return not_checked(
            name,
            "no version".to_owned(),
            "create the version first".to_owned(),
        );
    }
    if evidence.task_queues.is_empty() {
        return failed(
            name,
            "no task queue is bound to the version: no worker of this build has polled since it was created".to_owned(),
            "the server's registration invocation must reach a worker of this build: check the function's logs and that the code at the version's ARN carries this build ID (temporal-serverless inspect bootstrap)".to_owned(),
        );
    }
    let queues: Vec<String> = evidence
        .task_queues
        .iter()
        .map(|(queue, stats)| {
            let backlog: u64 = stats
                .as_ref()
                .and_then(|stats| stats["stats"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|stat| stat["approximateBacklogCount"].as_u64())
                .sum();
            format!("{queue} (backlog {backlog})")
        })
        .collect();
    passed(name, queues.join(", "))
}

fn controller_history(evidence: &Evidence) -> Check {
    let name = "controller history";
    if evidence.controller_status.is_none() {
        return not_checked(
            name,
            "no controller".to_owned(),
            "see the checks above".to_owned(),
        );
    }
    if evidence.controller_failures.is_empty() {
        let mut kinds = evidence.controller_activities.clone();
        kinds.sort();
        kinds.dedup();
        let stats = evidence
            .controller_stats
            .last()
            .map(|last| format!("; last stats: {last}"))
            .unwrap_or_else(|| {
                "; no stats pulled yet in this run (the controller pulls them every 5 minutes)"
                    .to_owned()
            });
        return passed(
            name,
            format!(
                "{} activities completed in the current run ({}), none failed{stats}",
                evidence.controller_activities.len(),
                kinds.join(", ")
            ),
        );
    }
    let quoted: Vec<String> = evidence
        .controller_failures
        .iter()
        .take(5)
        .map(|(activity, message)| format!("{activity}: {message}"))
        .collect();
    failed(
        name,
        format!("{} failed activities: {}", evidence.controller_failures.len(), quoted.join(" | ")),
        "GetFunction / Invoke errors: the ARN or the function; AccessDenied / AssumeRole: the role, its trust policy and external ID; ValidateSpec: the compute config".to_owned(),
    )
}

fn build_id(target: &Target, version_exists: bool, evidence: &Evidence) -> Check {
    let name = "build ID";
    if !target.from_artifact {
        return not_checked(
            name,
            "no artifact given".to_owned(),
            "pass --artifact bootstrap so that the build ID the code carries is compared"
                .to_owned(),
        );
    }
    let routed: Vec<String> = evidence
        .other_versions
        .iter()
        .filter(|version| version.role != "not routed")
        .map(|version| format!("{} is {}", version.build_id, version.role))
        .collect();
    if !version_exists {
        return failed(
            name,
            format!(
                "the artifact carries build {} and there is no version for it{}",
                target.build_id,
                if routed.is_empty() { String::new() } else { format!(" ({})", routed.join(", ")) }
            ),
            "deploy the artifact with temporal-serverless deploy, which creates the version from the build ID the artifact carries".to_owned(),
        );
    }
    passed(
        name,
        format!(
            "the artifact carries build {}, which has a version{}",
            target.build_id,
            if routed.is_empty() {
                String::new()
            } else {
                format!("; {}", routed.join(", "))
            }
        ),
    )
}

fn invocation_loop(target: &Target, evidence: &Evidence) -> Check {
    let name = "invocation loop";
    let ours: Vec<&str> = evidence
        .arns
        .iter()
        .chain(target.expected_arn.iter())
        .map(String::as_str)
        .collect();
    let others = evidence
        .other_versions
        .iter()
        .map(|other| (other, &other.arns[..]));
    if let Some((other, shared)) = version_naming(others, &ours) {
        return failed(
            name,
            format!(
                "the server invokes {shared} for build {} ({}), but the code there carries build {}: it polls as {}, {}'s tasks are never taken, and the server invokes again and again",
                other.build_id, other.role, target.build_id, target.build_id, other.build_id
            ),
            format!(
                "build the function with build ID {} and publish it to {shared} (then temporal-serverless deploy), or point version {} at the code built for it (update-version-compute-config)",
                other.build_id, other.build_id
            ),
        );
    }
    passed(
        name,
        format!(
            "none of the deployment's {} other version(s) names this function ARN",
            evidence.other_versions.len()
        ),
    )
}

/// The timeout check when GetFunction gave nothing: the `aws` command that reads the timeout,
/// and what it must be.
fn timeout_not_read(
    target: &Target,
    evidence: &Evidence,
    aws: &AwsEvidence,
    buffer_s: u64,
) -> Check {
    not_checked(
        "function timeout",
        match aws {
            AwsEvidence::Unavailable(reason) => skipped(reason),
            AwsEvidence::Read(_) => "GetFunction not available".to_owned(),
        },
        format!(
            "aws lambda get-function-configuration --function-name {} --query Timeout: it must exceed the {buffer_s} s shutdown buffer by more than 1 s (by minutes for long activities)",
            function_arn_of(target, evidence).unwrap_or("<ARN>")
        ),
    )
}

/// The command that sets the function's timeout to 60 s, `more` saying what else to know.
fn raise_timeout(function: &super::aws_evidence::FunctionFacts, more: &str) -> String {
    format!(
        "aws lambda update-function-configuration --function-name {} --timeout 60 ({more})",
        if function.arn.is_empty() {
            "<function>"
        } else {
            strip_qualifier(&function.arn)
        }
    )
}

/// The function's timeout judged by the runtime's own rule ([`deadline::plan`]): the work time
/// is the timeout less the shutdown buffer; at most 1 s fails every invocation, under 5 s warns.
fn timeout(target: &Target, evidence: &Evidence, aws: &AwsEvidence, buffer: Duration) -> Check {
    let name = "function timeout";
    let buffer_s = buffer.as_secs();
    let Some(Ok(function)) = &evidence.function else {
        return timeout_not_read(target, evidence, aws, buffer_s);
    };
    let Some(seconds) = function.timeout_seconds else {
        return not_checked(
            name,
            "GetFunction gave no Timeout".to_owned(),
            "check the function's configuration".to_owned(),
        );
    };
    let fix = |more: &str| raise_timeout(function, more);
    match deadline::plan(Duration::from_secs(seconds), buffer) {
        Err(too_short) => failed(
            name,
            format!(
                "timeout {seconds} s leaves {} s of work after the {buffer_s} s shutdown buffer: every invocation fails with TemporalServerless.DeadlineTooShort",
                too_short
                    .remaining
                    .saturating_sub(too_short.buffer)
                    .as_secs()
            ),
            fix(
                "or more: activities longer than the work time finish in later invocations; then publish a new version, whose configuration is fixed at publishing",
            ),
        ),
        Ok(plan) if plan.short => warning(
            name,
            format!(
                "timeout {seconds} s leaves {} s of work after the {buffer_s} s shutdown buffer: activities longer than that finish in later invocations, and each invocation's drain takes a larger share of it",
                plan.work_time.as_secs()
            ),
            fix("or more for long activities"),
        ),
        Ok(plan) => passed(
            name,
            format!(
                "timeout {seconds} s: {} s of work after the {buffer_s} s shutdown buffer",
                plan.work_time.as_secs()
            ),
        ),
    }
}

/// How an invocation's end waits for its outstanding polls: they run to their deadline, unless
/// the function opts into the server-driven drain and the namespace offers it (the runtime reads
/// the same capability from `DescribeNamespace`).
fn drain(namespace: &Result<Namespace, CliError>) -> Check {
    let name = "drain";
    const BY_DEADLINE: &str = "by poll deadline: each invocation end waits up to 1.5 s for its \
                               polls (about 0.75 s on average), billed";
    match namespace {
        Ok(Namespace {
            name: namespace,
            completes_polls_on_shutdown: true,
        }) => passed(
            name,
            format!(
                "{BY_DEADLINE}; namespace {namespace} also offers the server-driven drain \
                 (worker_poll_complete_on_shutdown): {SERVER_DRAIN_VARIABLE}=1 on the function \
                 makes each end about one round trip, but only where each task queue has one \
                 partition (the server can lose a task matched through a forwarded poll as it \
                 completes the polls; the task then waits for its timeout)"
            ),
        ),
        Ok(Namespace {
            name: namespace,
            completes_polls_on_shutdown: false,
        }) => passed(
            name,
            format!(
                "{BY_DEADLINE}; namespace {namespace} offers no server-driven drain \
                 (worker_poll_complete_on_shutdown: Temporal Cloud; self-hosted >= 1.31 with \
                 dynamic config frontend.enableCancelWorkerPollsOnShutdown=true), with which \
                 {SERVER_DRAIN_VARIABLE}=1 would make each end about one round trip on task \
                 queues of one partition"
            ),
        ),
        Err(error) => not_checked(
            name,
            format!(
                "server-driven drain offered or not: unknown, cannot describe the namespace: {error}"
            ),
            format!(
                "temporal operator namespace describe --output json with the same connection \
                 arguments: namespaceInfo.capabilities.workerPollCompleteOnShutdown true = a \
                 function with {SERVER_DRAIN_VARIABLE}=1 drains by the server (about one round \
                 trip per end); functions drain by poll deadline (up to 1.5 s) otherwise"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::evidence::OtherVersion;

    const LIVE: &str = "arn:aws:lambda:us-east-1:1:function:shop:live";

    fn target(expected_arn: Option<&str>) -> Target {
        Target {
            deployment: "shop".to_owned(),
            build_id: "b7".to_owned(),
            from_artifact: true,
            expected_arn: expected_arn.map(str::to_owned),
        }
    }

    /// A version that exists, whose controller runs and names `arns`.
    fn evidence(arns: &[&str]) -> Evidence {
        Evidence {
            version: Ok(Some(serde_json::json!({}))),
            controller_status: Some("Running".to_owned()),
            controller_failures: Vec::new(),
            controller_activities: Vec::new(),
            controller_stats: Vec::new(),
            arns: arns.iter().map(|arn| arn.to_string()).collect(),
            other_versions: Vec::new(),
            task_queues: Vec::new(),
            function: None,
            compute_config: None,
            namespace: namespace(false),
        }
    }

    #[test]
    fn a_missing_version_is_fixed_by_deploy_or_create_version_with_the_expected_arn() {
        let mut missing = evidence(&[]);
        missing.version = Ok(None);
        let check = version_exists(&target(Some(LIVE)), &missing, "shop:b7", LIVE);
        assert_eq!(check.verdict, Verdict::Failed);
        assert_eq!(
            check.saw,
            "Worker Deployment Version shop:b7 does not exist"
        );
        assert_eq!(
            check.fix.unwrap(),
            format!(
                "temporal-serverless deploy --artifact bootstrap --function-arn {LIVE} (or: temporal \
                 worker deployment create-version --deployment-name shop --build-id b7 \
                 --aws-lambda-function-arn {LIVE} ...); do not invoke the function by hand before: \
                 its poll would create the version without a compute provider"
            )
        );
    }

    #[test]
    fn the_controller_is_named_by_its_workflow_id() {
        let running = controller(&target(None), &evidence(&[]), true);
        assert_eq!(running.verdict, Verdict::Passed);
        assert_eq!(
            running.saw,
            "temporal-sys-worker-controller-instance:shop:b7 is running"
        );
        let mut gone = evidence(&[]);
        gone.controller_status = None;
        let missing = controller(&target(None), &gone, true);
        assert_eq!(missing.verdict, Verdict::Failed);
        assert_eq!(
            missing.saw,
            "no workflow temporal-sys-worker-controller-instance:shop:b7"
        );
        assert_eq!(
            controller(&target(None), &gone, false).verdict,
            Verdict::NotChecked
        );
    }

    #[test]
    fn the_function_arn_must_be_the_expected_one_exactly_and_qualified() {
        let update = "temporal worker deployment update-version-compute-config --deployment-name \
                      shop --build-id b7 --aws-lambda-function-arn LIVE --aws-lambda-assume-role-arn \
                      <role> --aws-lambda-assume-role-external-id <external id>";
        let exact = function_arn(&target(Some(LIVE)), &evidence(&[LIVE]), update);
        assert_eq!(
            (exact.verdict, exact.saw.as_str()),
            (Verdict::Passed, &*format!("{LIVE} (qualified)"))
        );
        // Another qualifier of the same function is other code.
        let v3 = "arn:aws:lambda:us-east-1:1:function:shop:3";
        let other = function_arn(&target(Some(LIVE)), &evidence(&[v3]), update);
        assert_eq!(other.verdict, Verdict::Failed);
        assert_eq!(other.saw, format!("the version invokes {v3}, not {LIVE}"));
        assert_eq!(other.fix.as_deref(), Some(update));
        let latest = "arn:aws:lambda:us-east-1:1:function:shop";
        let unqualified = function_arn(&target(None), &evidence(&[latest]), update);
        assert_eq!(unqualified.verdict, Verdict::Failed);
        assert!(
            unqualified
                .saw
                .starts_with(&format!("{latest} is unqualified"))
        );
        assert_eq!(
            function_arn(&target(None), &evidence(&[]), update).verdict,
            Verdict::NotChecked
        );
    }

    #[test]
    fn another_version_naming_our_arn_is_an_invocation_loop() {
        let mut looping = evidence(&[LIVE]);
        looping.other_versions = vec![
            OtherVersion {
                build_id: "b5".to_owned(),
                role: "not routed",
                arns: vec!["arn:aws:lambda:us-east-1:1:function:shop:2".to_owned()],
            },
            OtherVersion {
                build_id: "b6".to_owned(),
                role: "current",
                arns: vec![LIVE.to_owned()],
            },
        ];
        let check = invocation_loop(&target(None), &looping);
        assert_eq!(check.verdict, Verdict::Failed);
        assert_eq!(
            check.saw,
            format!(
                "the server invokes {LIVE} for build b6 (current), but the code there carries build \
                 b7: it polls as b7, b6's tasks are never taken, and the server invokes again and again"
            )
        );
        looping.other_versions.remove(1);
        let check = invocation_loop(&target(None), &looping);
        assert_eq!(check.verdict, Verdict::Passed);
        assert_eq!(
            check.saw,
            "none of the deployment's 1 other version(s) names this function ARN"
        );
        // The ARN the user expects counts as ours too.
        let mut expected = evidence(&[]);
        expected.other_versions = vec![OtherVersion {
            build_id: "b6".to_owned(),
            role: "ramping",
            arns: vec![LIVE.to_owned()],
        }];
        assert_eq!(
            invocation_loop(&target(Some(LIVE)), &expected).verdict,
            Verdict::Failed
        );
    }

    fn namespace(completes_polls_on_shutdown: bool) -> Result<Namespace, CliError> {
        Ok(Namespace {
            name: "shop".to_owned(),
            completes_polls_on_shutdown,
        })
    }

    #[test]
    fn the_drain_says_whether_the_namespace_offers_the_server_driven_one() {
        let offered = drain(&namespace(true));
        assert_eq!(offered.verdict, Verdict::Passed, "{offered:?}");
        assert!(offered.saw.starts_with("by poll deadline"), "{offered:?}");
        assert!(
            offered
                .saw
                .contains("namespace shop also offers the server-driven drain")
                && offered.saw.contains("TEMPORAL_SERVERLESS_SERVER_DRAIN=1")
                && offered.saw.contains("one partition"),
            "{offered:?}"
        );
        let not_offered = drain(&namespace(false));
        assert_eq!(not_offered.verdict, Verdict::Passed, "{not_offered:?}");
        assert!(
            not_offered.saw.starts_with("by poll deadline"),
            "{not_offered:?}"
        );
        assert!(
            not_offered.saw.contains("offers no server-driven drain")
                && not_offered
                    .saw
                    .contains("frontend.enableCancelWorkerPollsOnShutdown=true"),
            "{not_offered:?}"
        );
    }

    #[test]
    fn a_namespace_that_cannot_be_described_leaves_the_drain_unknown_and_says_why() {
        let unknown = drain(&Err(CliError {
            message: "`temporal operator namespace describe --output json --address \
                      127.0.0.1:7233 --namespace nope` failed: Error: unable to describe \
                      namespace nope: Namespace nope is not found."
                .to_owned(),
            stderr: "Error: unable to describe namespace nope: Namespace nope is not found."
                .to_owned(),
        }));
        assert_eq!(unknown.verdict, Verdict::NotChecked, "{unknown:?}");
        assert!(
            unknown
                .saw
                .starts_with("server-driven drain offered or not: unknown"),
            "{unknown:?}"
        );
        assert!(
            unknown.saw.contains("Namespace nope is not found"),
            "{unknown:?}"
        );
        assert!(
            unknown
                .fix
                .unwrap()
                .contains("namespaceInfo.capabilities.workerPollCompleteOnShutdown")
        );
    }
}
