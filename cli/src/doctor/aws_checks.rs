//! The checks that need AWS, judged from what [`aws_evidence`](super::aws_evidence) read: the
//! published version behind the Worker Deployment Version's ARN, its architecture against the
//! artifact's, the invocation role, its trust policy and its permissions (against the model in
//! [`crate::invocation_role`], the one `temporal-serverless role` writes), and the function's
//! recent `TemporalServerless.*` errors. Without credentials each says it was skipped and gives
//! the one `aws` command that answers it.

use super::{
    aws_evidence::{
        AwsEvidence, AwsFacts, AwsFailure, ERROR_TYPE_PREFIX, FunctionFacts, Logs, RoleFacts,
        log_group,
    },
    checks::{Check, failed, not_checked, passed, warning},
};
use crate::{
    architecture::Architecture,
    deploy::target::{Qualifier, qualifier},
    invocation_role::{self, Judgement, Principals},
};
use std::collections::BTreeMap;
use temporal_serverless::lambda_arn;
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};

/// The invocation role a version is set up with, and where that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSetting {
    /// The role's ARN.
    pub arn: String,
    /// The external ID the server passes when assuming it.
    pub external_id: Option<String>,
    /// `the version's compute config` or `--role-arn`.
    pub from: &'static str,
}

/// What the AWS checks judge besides the AWS evidence.
pub struct AwsInputs<'a> {
    /// The Worker Deployment Version examined (for the commands that update it).
    pub version: DeploymentVersion<'a>,
    /// The function ARN the Worker Deployment Version names (else the one the user expects).
    pub function_arn: Option<&'a str>,
    /// The artifact's architecture, if an artifact was given.
    pub artifact_architecture: Option<Result<Architecture, String>>,
    /// The invocation role, or why it is not known / in doubt.
    pub role: Result<Option<RoleSetting>, String>,
    /// Who assumes the role.
    pub principals: &'a Principals,
    /// How far back the logs were read, minutes (for the `aws` command).
    pub logs_since_minutes: u64,
}

/// The saw-text of a check not run for want of credentials.
pub fn skipped(reason: &str) -> String {
    if reason.starts_with("no AWS credentials") {
        "skipped: no AWS credentials".to_owned()
    } else {
        format!("skipped: {reason}")
    }
}

/// The role the version uses: the one in its compute config, or `--role-arn` /
/// `--external-id`; both given and different is an error that names both.
pub fn role_setting(
    configured: Option<(String, Option<String>)>,
    role_arn: Option<&str>,
    external_id: Option<&str>,
) -> Result<Option<RoleSetting>, String> {
    match (configured, role_arn) {
        (Some((configured_arn, configured_id)), Some(given)) if configured_arn != given => {
            Err(format!(
                "the version's compute config names role {configured_arn}, --role-arn names {given}{}",
                configured_id
                    .map(|id| format!(" (the configured external ID is {id})"))
                    .unwrap_or_default()
            ))
        }
        (Some((arn, configured_id)), _) => {
            if let (Some(configured), Some(given)) = (&configured_id, external_id)
                && configured != given
            {
                return Err(format!(
                    "the version's compute config passes external ID {configured} for role {arn}, \
                     --external-id says {given}"
                ));
            }
            Ok(Some(RoleSetting {
                arn,
                external_id: configured_id.or_else(|| external_id.map(str::to_owned)),
                from: "the version's compute config",
            }))
        }
        (None, Some(arn)) => Ok(Some(RoleSetting {
            arn: arn.to_owned(),
            external_id: external_id.map(str::to_owned),
            from: "--role-arn",
        })),
        (None, None) => Ok(None),
    }
}

/// A check's result: `Err` is the check reported in its place when a fact it judges is missing
/// (no credentials, no ARN, no role), so that each check can end early with `?`.
type Judged = Result<Check, Check>;

/// The AWS checks, in the guide's order: the version, its architecture, the role, its trust,
/// its permissions, the logs.
pub fn run(inputs: &AwsInputs<'_>, aws: &AwsEvidence) -> Vec<Check> {
    let checks: [fn(&AwsInputs<'_>, &AwsEvidence) -> Judged; 6] = [
        published_version,
        architecture,
        invocation_role,
        trust_policy,
        role_permissions,
        function_logs,
    ];
    checks
        .iter()
        .map(|check| check(inputs, aws).unwrap_or_else(|in_its_place| in_its_place))
        .collect()
}

fn arn_or_placeholder(inputs: &AwsInputs<'_>) -> String {
    inputs
        .function_arn
        .unwrap_or("<function version ARN>")
        .to_owned()
}

/// The facts, or the check to return when there are none.
fn facts<'a>(
    name: &'static str,
    aws: &'a AwsEvidence,
    by_hand: String,
) -> Result<&'a AwsFacts, Check> {
    match aws {
        AwsEvidence::Read(facts) => Ok(facts.as_ref()),
        AwsEvidence::Unavailable(reason) => Err(not_checked(name, skipped(reason), by_hand)),
    }
}

/// GetFunction's answer for the version's ARN, or the check to return without it.
fn function_facts<'a>(name: &'static str, facts: &'a AwsFacts) -> Result<&'a FunctionFacts, Check> {
    match &facts.function {
        Some(Ok(function)) => Ok(function),
        Some(Err(error)) => Err(not_checked(
            name,
            format!("GetFunction failed: {error}"),
            "see `function exists` and `published version`".to_owned(),
        )),
        None => Err(not_checked(
            name,
            "no function ARN: the version's controller history names none, and no --function-arn was given".to_owned(),
            "pass --function-arn with the version's ARN".to_owned(),
        )),
    }
}

fn published_version(inputs: &AwsInputs<'_>, aws: &AwsEvidence) -> Judged {
    let name = "published version";
    let arn = arn_or_placeholder(inputs);
    let facts = facts(
        name,
        aws,
        format!(
            "aws lambda get-function --function-name {arn} --query 'Configuration.[FunctionArn,Version,State]'"
        ),
    )?;
    let Some(version_arn) = inputs.function_arn else {
        return Err(function_facts(name, facts).unwrap_err());
    };
    let function = lambda_arn::strip_qualifier(version_arn);
    Ok(match (qualifier(version_arn), &facts.function) {
        (Qualifier::None | Qualifier::Latest, _) => failed(
            name,
            format!(
                "{version_arn} is not a published version: $LATEST's code changes with every deploy, so the code the server invokes for this build can change under it"
            ),
            format!(
                "publish a version (cargo lambda deploy publishes one; or aws lambda publish-version --function-name {function}), then {}",
                point_at_published(inputs.version, function)
            ),
        ),
        (_, Some(Err(error))) => get_function_failed(name, inputs.version, version_arn, error),
        (_, None) => return Err(function_facts(name, facts).unwrap_err()),
        (Qualifier::Alias(alias), Some(Ok(facts))) => {
            alias_moves(name, inputs.version, version_arn, alias, facts)
        }
        (Qualifier::Version(number), Some(Ok(facts))) => passed(
            name,
            format!(
                "the version names {version_arn}: version {number} of {} is published{}",
                lambda_arn::function_name(version_arn),
                facts
                    .state
                    .as_deref()
                    .map(|state| format!(" ({state})"))
                    .unwrap_or_default()
            ),
        ),
    })
}

/// The command that points `version` at `function_arn` (the code it invokes).
fn repoint(version: DeploymentVersion<'_>, function_arn: &str) -> String {
    VersionCommand::new(Subcommand::UpdateComputeConfig, version)
        .function_arn(function_arn)
        .to_string()
}

/// How to point the Worker Deployment Version at a published version of `function`.
fn point_at_published(version: DeploymentVersion<'_>, function: &str) -> String {
    format!(
        "point the Worker Deployment Version at the published version that runs this build: \
         temporal-serverless deploy --artifact bootstrap --function-arn {function}:N (or {})",
        repoint(version, &format!("{function}:N"))
    )
}

/// GetFunction failed for the version's ARN: the version is missing, or doctor may not read it.
fn get_function_failed(
    name: &'static str,
    version: DeploymentVersion<'_>,
    version_arn: &str,
    error: &AwsFailure,
) -> Check {
    let fix = if error.is_not_found() {
        format!(
            "publish the function's code as a version (cargo lambda deploy), then {}",
            point_at_published(version, lambda_arn::strip_qualifier(version_arn))
        )
    } else {
        "the credentials doctor runs with need lambda:GetFunction on the function".to_owned()
    };
    failed(name, format!("GetFunction {version_arn}: {error}"), fix)
}

/// The version names an alias: it works now, but the code behind it can change.
fn alias_moves(
    name: &'static str,
    version: DeploymentVersion<'_>,
    version_arn: &str,
    alias: &str,
    facts: &FunctionFacts,
) -> Check {
    let published = format!(
        "{}:{}",
        lambda_arn::strip_qualifier(version_arn),
        facts.version
    );
    warning(
        name,
        format!(
            "{version_arn} is alias {alias}, now version {} of {}: an alias moves, and when it does the server invokes other code for this build (the guard then refuses it: an invocation loop)",
            facts.version,
            lambda_arn::function_name(version_arn)
        ),
        format!(
            "bind the version to {published}: {}",
            repoint(version, &published)
        ),
    )
}

fn architecture(inputs: &AwsInputs<'_>, aws: &AwsEvidence) -> Judged {
    let name = "architecture";
    let arn = arn_or_placeholder(inputs);
    let artifact = artifact_architecture(name, inputs)?;
    let facts = facts(
        name,
        aws,
        format!(
            "aws lambda get-function-configuration --function-name {arn} --query Architectures (the artifact is {})",
            artifact.lambda_name()
        ),
    )?;
    let function = function_facts(name, facts)?;
    // Lambda lists none for functions created before arm64 existed: x86_64.
    let runs_on = function
        .architectures
        .first()
        .map_or("x86_64", String::as_str);
    if runs_on == artifact.lambda_name() {
        return Ok(passed(
            name,
            format!(
                "the artifact and version {} of the function are both {runs_on}",
                function.version
            ),
        ));
    }
    let other = Architecture::from_lambda_name(runs_on).unwrap_or(Architecture::X86_64);
    Ok(failed(
        name,
        format!(
            "the artifact is built for {} but version {} runs on {runs_on}: every cold start fails to execute the bootstrap (Runtime.InvalidEntrypoint / exec format error)",
            artifact.lambda_name(),
            function.version
        ),
        format!(
            "build for the function's architecture (cargo lambda build --release {}) and deploy that, or deploy this build to a function created with --architectures {} (a published version's architecture never changes)",
            other.cargo_lambda_flag(),
            artifact.lambda_name()
        ),
    ))
}

/// The artifact's architecture, or the check to return without it.
fn artifact_architecture(
    name: &'static str,
    inputs: &AwsInputs<'_>,
) -> Result<Architecture, Check> {
    match &inputs.artifact_architecture {
        None => Err(not_checked(
            name,
            "no artifact given".to_owned(),
            "pass --artifact bootstrap so that its architecture is compared with the function's"
                .to_owned(),
        )),
        Some(Err(error)) => Err(failed(
            name,
            format!("cannot tell the artifact's architecture: {error}"),
            "pass the bootstrap (or bootstrap.zip) that cargo lambda build wrote".to_owned(),
        )),
        Some(Ok(architecture)) => Ok(*architecture),
    }
}

/// The role setting, or the check to return without one.
fn setting<'a>(name: &'static str, inputs: &'a AwsInputs<'_>) -> Result<&'a RoleSetting, Check> {
    match &inputs.role {
        Ok(Some(role)) => Ok(role),
        Ok(None) if name == "invocation role" => Err(not_checked(
            name,
            "no invocation role: the version's compute config names none (created with --aws-lambda-skip-role-and-external-id, or not visible in its controller's history) and no --role-arn was given".to_owned(),
            "pass --role-arn and --external-id as given to create-version (temporal-serverless role prints the role to create)".to_owned(),
        )),
        Ok(None) => Err(not_checked(
            name,
            "no invocation role (see invocation role)".to_owned(),
            "see invocation role".to_owned(),
        )),
        Err(conflict) => Err(failed(
            name,
            conflict.clone(),
            format!(
                "pass the role and external ID the version was created with, or update the version: {}",
                VersionCommand::new(Subcommand::UpdateComputeConfig, inputs.version)
                    .role("ROLE", "ID")
            ),
        )),
    }
}

/// The role setting and what AWS said, or the check to return without them; `by_hand` is the
/// `aws` command that answers the check for that role.
fn role_and_facts<'a>(
    name: &'static str,
    inputs: &'a AwsInputs<'_>,
    aws: &'a AwsEvidence,
    by_hand: impl FnOnce(&RoleSetting, &str) -> String,
) -> Result<(&'a RoleSetting, &'a AwsFacts), Check> {
    let role = setting(name, inputs)?;
    let facts = facts(
        name,
        aws,
        by_hand(role, invocation_role::role_name(&role.arn)),
    )?;
    Ok((role, facts))
}

/// The role IAM described, or the check to return when it could not be read.
fn found_role<'a>(name: &'static str, facts: &'a AwsFacts) -> Result<&'a RoleFacts, Check> {
    match &facts.role {
        Some(Ok(found)) => Ok(found),
        _ => Err(not_checked(
            name,
            "the role could not be read (see invocation role)".to_owned(),
            "see invocation role".to_owned(),
        )),
    }
}

fn invocation_role(inputs: &AwsInputs<'_>, aws: &AwsEvidence) -> Judged {
    let name = "invocation role";
    let (role, facts) = role_and_facts(name, inputs, aws, |_, role_name| {
        format!("aws iam get-role --role-name {role_name} --query Role.Arn")
    })?;
    let role_name = invocation_role::role_name(&role.arn);
    Ok(match &facts.role {
        Some(Ok(found)) => passed(name, format!("{} exists (from {})", found.arn, role.from)),
        Some(Err(error)) if error.is_not_found() => failed(
            name,
            format!("{} (from {}) does not exist: {error}", role.arn, role.from),
            format!(
                "create it: temporal-serverless role --function-arn {} --external-id <ID> --role-name {role_name} (prints the CloudFormation and aws commands)",
                arn_or_placeholder(inputs)
            ),
        ),
        Some(Err(error)) => failed(
            name,
            format!("GetRole {role_name}: {error}"),
            "the credentials doctor runs with need iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy and iam:GetPolicyVersion".to_owned(),
        ),
        None => not_checked(name, "the role was not read".to_owned(), format!("aws iam get-role --role-name {role_name}")),
    })
}

fn trust_policy(inputs: &AwsInputs<'_>, aws: &AwsEvidence) -> Judged {
    let name = "trust policy";
    let (role, facts) = role_and_facts(name, inputs, aws, |role, role_name| {
        format!(
            "aws iam get-role --role-name {role_name} --query Role.AssumeRolePolicyDocument: it must let {} assume it with sts:ExternalId {}, and not without",
            inputs.principals.describe(),
            role.external_id.as_deref().unwrap_or("<external ID>")
        )
    })?;
    let role_name = invocation_role::role_name(&role.arn);
    let Some(external_id) = role.external_id.as_deref() else {
        return Err(not_checked(
            name,
            "no external ID: the version's compute config gives none and no --external-id was given".to_owned(),
            "pass --external-id as given to create-version (--aws-lambda-assume-role-external-id)".to_owned(),
        ));
    };
    let trust = &found_role(name, facts)?.trust;
    let fix = invocation_role::update_trust_command(role_name, inputs.principals, external_id);
    Ok(match trust {
        Err(error) => failed(
            name,
            format!("the trust policy cannot be read: {error}"),
            fix,
        ),
        Ok(trust) => match invocation_role::judge_trust(trust, inputs.principals, external_id) {
            Judgement::Right(saw) => {
                match invocation_role::external_id_weakness(external_id, inputs.function_arn) {
                    Some(weakness) => warning(
                        name,
                        format!("{saw}; but {weakness}"),
                        invocation_role::update_trust_command(
                            role_name,
                            inputs.principals,
                            "<a new external ID>",
                        ),
                    ),
                    None => passed(name, saw),
                }
            }
            Judgement::Wrong(saw) => failed(name, saw, fix),
            Judgement::Uncertain(saw) => warning(name, saw, fix),
        },
    })
}

fn role_permissions(inputs: &AwsInputs<'_>, aws: &AwsEvidence) -> Judged {
    let name = "role permissions";
    let arn = arn_or_placeholder(inputs);
    let (role, facts) = role_and_facts(name, inputs, aws, |role, _| {
        format!(
            "aws iam simulate-principal-policy --policy-source-arn {} --action-names {} --resource-arns {arn}",
            role.arn,
            invocation_role::ACTIONS.join(" ")
        )
    })?;
    let Some(function_arn) = inputs.function_arn else {
        return Err(function_facts(name, facts).unwrap_err());
    };
    let found = found_role(name, facts)?;
    let unreadable = if found.unreadable.is_empty() {
        String::new()
    } else {
        format!("; not read: {}", found.unreadable.join(", "))
    };
    let fix = invocation_role::put_permissions_command(
        invocation_role::role_name(&role.arn),
        &invocation_role::resource(function_arn, false),
    );
    // IAM's simulator sees everything (boundaries, every condition); doctor's own evaluator is
    // the judge when the simulator cannot be asked, and the output says which one judged.
    let (judged, judge) = match &found.simulated {
        Some(Ok(decisions)) => (
            invocation_role::judge_simulated(decisions, function_arn),
            "judged by IAM's policy simulator".to_owned(),
        ),
        Some(Err(error)) => (
            invocation_role::judge_permissions(&found.policies, function_arn),
            format!(
                "judged by doctor's own evaluator of the policies (IAM's policy simulator did not \
                 answer: {})",
                first_line(&error.message)
            ),
        ),
        None => (
            invocation_role::judge_permissions(&found.policies, function_arn),
            "judged by doctor's own evaluator of the policies".to_owned(),
        ),
    };
    Ok(match judged {
        Judgement::Right(saw) => passed(name, format!("{saw} — {judge}")),
        Judgement::Wrong(saw) => failed(name, format!("{saw}{unreadable} — {judge}"), fix),
        Judgement::Uncertain(saw) => warning(name, format!("{saw}{unreadable} — {judge}"), fix),
    })
}

/// The first line of a message, at most 160 characters (an HTML error page stays out).
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    match line.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// What each error type means, and what to do.
fn meaning(error_type: &str) -> &'static str {
    match error_type {
        "BuildMismatch" => "invoked for another build: the invocation loop (see invocation loop)",
        "VersionNotReady" => "the version is missing or has no compute provider",
        "NamespaceNotFound" => "TEMPORAL_NAMESPACE names a namespace the server does not have",
        "DeadlineTooShort" => "the timeout leaves no work time after the shutdown buffer",
        "Configuration" => "bad temporal.toml or TEMPORAL_* variables",
        "Connection" => "the server could not be reached (TEMPORAL_ADDRESS, network, VPC)",
        "Tls" => "TLS failed (certificate, key, server name)",
        "Authentication" => "the API key or certificate was refused",
        "NoTaskQueue" | "Configure" => "the cold start failed (task queue, configure body)",
        "Worker" => "the worker failed while running",
        "Panic" => "an invocation panicked (a bug: report it with the log)",
        _ => "see the README's error types",
    }
}

/// `TemporalServerless.X` error types named in `message`.
fn error_types(message: &str) -> Vec<&str> {
    message
        .match_indices(ERROR_TYPE_PREFIX)
        .filter_map(|(start, _)| {
            let rest = &message[start + ERROR_TYPE_PREFIX.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

fn function_logs(inputs: &AwsInputs<'_>, aws: &AwsEvidence) -> Judged {
    let name = "function logs";
    let group = inputs
        .function_arn
        .map_or_else(|| "/aws/lambda/<function>".to_owned(), log_group);
    let facts = facts(
        name,
        aws,
        format!(
            "aws logs tail {group} --since {}m --filter-pattern '\"{ERROR_TYPE_PREFIX}\"'",
            inputs.logs_since_minutes
        ),
    )?;
    Ok(match &facts.logs {
        None => not_checked(
            name,
            "no function ARN".to_owned(),
            "pass --function-arn".to_owned(),
        ),
        Some(Err(error)) if error.is_not_found() => warning(
            name,
            format!("no log group {group}: the function has never written a log line ({error})"),
            "if it has been invoked, its execution role cannot write logs: attach AWSLambdaBasicExecutionRole to it".to_owned(),
        ),
        Some(Err(error)) => not_checked(
            name,
            format!("FilterLogEvents {group}: {error}"),
            "the credentials doctor runs with need logs:FilterLogEvents on the log group".to_owned(),
        ),
        Some(Ok(logs)) => judge_logs(logs),
    })
}

/// The error types in the function's recent log lines.
fn judge_logs(logs: &Logs) -> Check {
    let name = "function logs";
    let minutes = logs.since.as_secs() / 60;
    let mut counts: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for event in &logs.events {
        for error_type in error_types(&event.message) {
            let entry = counts.entry(error_type).or_insert((0, ""));
            entry.0 += 1;
            entry.1 = &event.message;
        }
    }
    if counts.is_empty() {
        return passed(
            name,
            format!(
                "no {ERROR_TYPE_PREFIX}* error in {} in the last {minutes} min",
                logs.group
            ),
        );
    }
    let seen: Vec<String> = counts
        .iter()
        .map(|(error_type, (count, last))| {
            let last: String = last.trim().chars().take(240).collect();
            format!("{ERROR_TYPE_PREFIX}{error_type} ×{count} (last: {last})")
        })
        .collect();
    let fixes: Vec<String> = counts
        .keys()
        .map(|error_type| format!("{error_type}: {}", meaning(error_type)))
        .collect();
    warning(
        name,
        format!(
            "{} in the last {minutes} min{}: {}",
            logs.group,
            if logs.truncated {
                " (more than were read)"
            } else {
                ""
            },
            seen.join("; ")
        ),
        fixes.join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        doctor::{
            aws_evidence::{AwsFailure, LogEvent, RoleFacts},
            checks::Verdict,
        },
        iam_policy::Policy,
        invocation_role::SimulatedDecision,
    };
    use std::time::Duration;

    const VERSION: &str = "arn:aws:lambda:us-east-1:123456789012:function:shop:3";
    const ROLE: &str = "arn:aws:iam::123456789012:role/temporal-invoke-shop";
    const EXTERNAL_ID: &str = "7f3a9c2e41b84d0fa9e1c6b3";

    fn function(architecture: &str) -> FunctionFacts {
        FunctionFacts {
            arn: VERSION.to_owned(),
            version: "3".to_owned(),
            architectures: vec![architecture.to_owned()],
            timeout_seconds: Some(30),
            state: Some("Active".to_owned()),
        }
    }

    fn right_role() -> RoleFacts {
        RoleFacts {
            arn: ROLE.to_owned(),
            trust: Policy::parse(&invocation_role::trust_policy(
                &Principals::TemporalCloud,
                EXTERNAL_ID,
            )),
            policies: vec![(
                "temporal-invoke".to_owned(),
                Policy::parse(&invocation_role::permission_policy(VERSION)).unwrap(),
            )],
            unreadable: Vec::new(),
            simulated: None,
        }
    }

    fn read(function: FunctionFacts, role: RoleFacts, events: Vec<LogEvent>) -> AwsEvidence {
        AwsEvidence::Read(Box::new(AwsFacts {
            function: Some(Ok(function)),
            role: Some(Ok(role)),
            logs: Some(Ok(Logs {
                group: "/aws/lambda/shop".to_owned(),
                since: Duration::from_secs(3600),
                events,
                truncated: false,
            })),
        }))
    }

    fn inputs<'a>(principals: &'a Principals, arn: &'a str) -> AwsInputs<'a> {
        AwsInputs {
            version: DeploymentVersion::new("shop", "b7"),
            function_arn: Some(arn),
            artifact_architecture: Some(Ok(Architecture::Arm64)),
            role: Ok(Some(RoleSetting {
                arn: ROLE.to_owned(),
                external_id: Some(EXTERNAL_ID.to_owned()),
                from: "the version's compute config",
            })),
            principals,
            logs_since_minutes: 60,
        }
    }

    fn verdicts(checks: &[Check]) -> Vec<(&'static str, Verdict)> {
        checks
            .iter()
            .map(|check| (check.name, check.verdict))
            .collect()
    }

    #[test]
    fn a_right_setup_passes_every_aws_check() {
        let principals = Principals::TemporalCloud;
        let checks = run(
            &inputs(&principals, VERSION),
            &read(function("arm64"), right_role(), Vec::new()),
        );
        assert!(
            checks.iter().all(|check| check.verdict == Verdict::Passed),
            "{checks:#?}"
        );
        assert_eq!(
            verdicts(&checks)
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>(),
            [
                "published version",
                "architecture",
                "invocation role",
                "trust policy",
                "role permissions",
                "function logs"
            ]
        );
    }

    #[test]
    fn without_credentials_each_check_is_skipped_with_its_aws_command() {
        let principals = Principals::TemporalCloud;
        let checks = run(
            &inputs(&principals, VERSION),
            &AwsEvidence::Unavailable(
                "no AWS credentials (none in the chain): configure".to_owned(),
            ),
        );
        for check in &checks {
            assert_eq!(check.verdict, Verdict::NotChecked, "{check:?}");
            assert_eq!(check.saw, "skipped: no AWS credentials", "{check:?}");
            let command = check.fix.as_deref().unwrap();
            assert!(command.starts_with("aws "), "{check:?}");
        }
        let fix = |name| {
            checks
                .iter()
                .find(|check| check.name == name)
                .unwrap()
                .fix
                .clone()
                .unwrap()
        };
        assert!(fix("role permissions").contains(&format!("--policy-source-arn {ROLE}")));
        assert!(fix("role permissions").contains(&format!("--resource-arns {VERSION}")));
        assert!(fix("function logs").starts_with("aws logs tail /aws/lambda/shop --since 60m"));
        assert!(fix("trust policy").contains(EXTERNAL_ID));
    }

    #[test]
    fn an_artifact_for_another_architecture_fails_with_the_build_to_make() {
        let principals = Principals::TemporalCloud;
        // x86_64 version for an arm64 artifact.
        let checks = run(
            &inputs(&principals, VERSION),
            &read(function("x86_64"), right_role(), Vec::new()),
        );
        let architecture = &checks[1];
        assert_eq!(architecture.verdict, Verdict::Failed, "{architecture:?}");
        assert!(
            architecture
                .saw
                .contains("built for arm64 but version 3 runs on x86_64")
        );
        assert!(
            architecture
                .fix
                .as_deref()
                .unwrap()
                .contains("cargo lambda build --release --x86-64")
        );
    }

    #[test]
    fn a_right_trust_with_a_guessable_external_id_is_a_warning() {
        let principals = Principals::TemporalCloud;
        let weak = "shop-prod-external";
        let mut role = right_role();
        role.trust = Policy::parse(&invocation_role::trust_policy(&principals, weak));
        let mut given = inputs(&principals, VERSION);
        given.role = Ok(Some(RoleSetting {
            arn: ROLE.to_owned(),
            external_id: Some(weak.to_owned()),
            from: "the version's compute config",
        }));
        let checks = run(&given, &read(function("arm64"), role, Vec::new()));
        let trust = &checks[3];
        assert_eq!(trust.verdict, Verdict::Warning, "{trust:?}");
        assert!(
            trust
                .saw
                .contains("only with external ID shop-prod-external")
                && trust.saw.contains("easy to guess"),
            "{trust:?}"
        );
    }

    #[test]
    fn iams_simulator_judges_the_permissions_when_it_answers_and_the_output_says_who_judged() {
        let principals = Principals::TemporalCloud;
        let decision = |action: &str, decision: &str| SimulatedDecision {
            action: action.to_owned(),
            decision: decision.to_owned(),
            matched: vec!["boundary".to_owned()],
        };
        // The policies allow it, but a boundary the evaluator cannot see denies GetFunction.
        let mut role = right_role();
        role.simulated = Some(Ok(vec![
            decision("lambda:InvokeFunction", "allowed"),
            decision("lambda:GetFunction", "explicitDeny"),
        ]));
        let checks = run(
            &inputs(&principals, VERSION),
            &read(function("arm64"), role, Vec::new()),
        );
        let permissions = &checks[4];
        assert_eq!(permissions.verdict, Verdict::Failed, "{permissions:?}");
        assert!(
            permissions
                .saw
                .contains("lambda:GetFunction (explicitDeny by boundary)")
                && permissions
                    .saw
                    .ends_with("judged by IAM's policy simulator"),
            "{permissions:?}"
        );
        // The simulator refused: the evaluator judges, and says why it did.
        let mut role = right_role();
        role.simulated = Some(Err(AwsFailure {
            code: Some("AccessDenied".to_owned()),
            message: "AccessDenied: not authorized to perform iam:SimulatePrincipalPolicy\n<html>"
                .to_owned(),
        }));
        let checks = run(
            &inputs(&principals, VERSION),
            &read(function("arm64"), role, Vec::new()),
        );
        let permissions = &checks[4];
        assert_eq!(permissions.verdict, Verdict::Passed, "{permissions:?}");
        assert!(
            permissions.saw.ends_with(
                "judged by doctor's own evaluator of the policies (IAM's policy simulator did \
                 not answer: AccessDenied: not authorized to perform iam:SimulatePrincipalPolicy)"
            ),
            "{permissions:?}"
        );
    }

    #[test]
    fn a_wrong_trust_policy_and_permissions_fail_with_their_fixes() {
        let principals = Principals::TemporalCloud;
        // A trust policy for another external ID, permissions on another version.
        let mut wrong = right_role();
        wrong.trust = Policy::parse(&invocation_role::trust_policy(&principals, "someone-else"));
        wrong.policies = vec![(
            "old".to_owned(),
            Policy::parse(&invocation_role::permission_policy(
                &VERSION.replace(":3", ":2"),
            ))
            .unwrap(),
        )];
        let checks = run(
            &inputs(&principals, VERSION),
            &read(function("arm64"), wrong, Vec::new()),
        );
        let trust = &checks[3];
        assert_eq!(trust.verdict, Verdict::Failed, "{trust:?}");
        assert!(trust.fix.as_deref().unwrap().starts_with(
            "aws iam update-assume-role-policy --role-name temporal-invoke-shop --policy-document '"
        ));
        assert!(trust.fix.as_deref().unwrap().contains(EXTERNAL_ID));
        let permissions = &checks[4];
        assert_eq!(permissions.verdict, Verdict::Failed, "{permissions:?}");
        assert!(
            permissions
                .saw
                .contains("lambda:InvokeFunction (not allowed)")
        );
        assert!(permissions.fix.as_deref().unwrap().contains(VERSION));
    }

    #[test]
    fn a_missing_role_and_version_fail_with_their_fixes() {
        let principals = Principals::TemporalCloud;
        // A missing role, a missing version.
        let missing = |code: &str| AwsFailure {
            code: Some(code.to_owned()),
            message: format!("{code}: not found"),
        };
        let evidence = AwsEvidence::Read(Box::new(AwsFacts {
            function: Some(Err(missing("ResourceNotFoundException"))),
            role: Some(Err(missing("NoSuchEntity"))),
            logs: Some(Err(missing("ResourceNotFoundException"))),
        }));
        let checks = run(&inputs(&principals, VERSION), &evidence);
        assert_eq!(
            verdicts(&checks),
            [
                ("published version", Verdict::Failed),
                ("architecture", Verdict::NotChecked),
                ("invocation role", Verdict::Failed),
                ("trust policy", Verdict::NotChecked),
                ("role permissions", Verdict::NotChecked),
                ("function logs", Verdict::Warning),
            ]
        );
        assert!(
            checks[2]
                .fix
                .as_deref()
                .unwrap()
                .contains("temporal-serverless role --function-arn")
        );
    }

    #[test]
    fn an_alias_or_latest_is_not_a_published_version() {
        let principals = Principals::TemporalCloud;
        let alias = "arn:aws:lambda:us-east-1:123456789012:function:shop:live";
        let checks = run(
            &inputs(&principals, alias),
            &read(function("arm64"), right_role(), Vec::new()),
        );
        assert_eq!(checks[0].verdict, Verdict::Warning, "{:?}", checks[0]);
        assert!(checks[0].saw.contains("alias live, now version 3"));
        assert!(
            checks[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("function:shop:3")
        );
        assert!(
            checks[0].fix.as_deref().unwrap().ends_with(
                "temporal worker deployment update-version-compute-config --deployment-name shop \
                 --build-id b7 --aws-lambda-function-arn \
                 arn:aws:lambda:us-east-1:123456789012:function:shop:3"
            ),
            "{:?}",
            checks[0]
        );
        let latest = "arn:aws:lambda:us-east-1:123456789012:function:shop";
        let checks = run(
            &inputs(&principals, latest),
            &read(function("arm64"), right_role(), Vec::new()),
        );
        assert_eq!(checks[0].verdict, Verdict::Failed, "{:?}", checks[0]);
        assert!(checks[0].saw.contains("not a published version"));
    }

    #[test]
    fn log_lines_are_counted_by_error_type() {
        let principals = Principals::TemporalCloud;
        let line = |message: &str| LogEvent {
            timestamp_ms: 0,
            message: message.to_owned(),
        };
        let checks = run(
            &inputs(&principals, VERSION),
            &read(
                function("arm64"),
                right_role(),
                vec![
                    line(
                        r#"INFO deployment guard guard_ms=3 verdict=Err("TemporalServerless.BuildMismatch")"#,
                    ),
                    line(
                        r#"INFO deployment guard guard_ms=2 verdict=Err("TemporalServerless.BuildMismatch")"#,
                    ),
                    line(
                        "ERROR the function cannot start error_type=TemporalServerless.NoTaskQueue",
                    ),
                    line("mentions TemporalServerless. and nothing else"),
                ],
            ),
        );
        let logs = &checks[5];
        assert_eq!(logs.verdict, Verdict::Warning, "{logs:?}");
        assert!(
            logs.saw.contains("TemporalServerless.BuildMismatch ×2"),
            "{logs:?}"
        );
        assert!(
            logs.saw.contains("TemporalServerless.NoTaskQueue ×1"),
            "{logs:?}"
        );
        assert!(
            logs.fix
                .as_deref()
                .unwrap()
                .contains("BuildMismatch: invoked for another build")
        );
        assert_eq!(error_types("x TemporalServerless.Panic: y"), ["Panic"]);
    }

    #[test]
    fn the_role_comes_from_the_compute_config_or_the_flags_and_they_must_agree() {
        let configured = || Some((ROLE.to_owned(), Some(EXTERNAL_ID.to_owned())));
        assert_eq!(
            role_setting(configured(), None, None)
                .unwrap()
                .unwrap()
                .external_id
                .as_deref(),
            Some(EXTERNAL_ID)
        );
        assert_eq!(
            role_setting(configured(), Some(ROLE), Some(EXTERNAL_ID))
                .unwrap()
                .unwrap()
                .from,
            "the version's compute config"
        );
        assert!(
            role_setting(configured(), Some("arn:aws:iam::1:role/other"), None)
                .unwrap_err()
                .contains("--role-arn names")
        );
        assert!(
            role_setting(configured(), None, Some("another-id"))
                .unwrap_err()
                .contains("--external-id says another-id")
        );
        let given = role_setting(None, Some(ROLE), Some(EXTERNAL_ID))
            .unwrap()
            .unwrap();
        assert_eq!(
            (given.from, given.external_id.as_deref()),
            ("--role-arn", Some(EXTERNAL_ID))
        );
        assert_eq!(role_setting(None, None, None), Ok(None));
        // Without a role, the role checks say how to name one.
        let principals = Principals::TemporalCloud;
        let mut no_role = inputs(&principals, VERSION);
        no_role.role = Ok(None);
        let checks = run(&no_role, &read(function("arm64"), right_role(), Vec::new()));
        assert!(
            checks[2..5]
                .iter()
                .all(|check| check.verdict == Verdict::NotChecked)
        );
    }
}
