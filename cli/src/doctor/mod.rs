//! `doctor`: Temporal's troubleshooting guide for Serverless Workers as one command. Reads the
//! version, its Worker Controller Instance, task queues, function and namespace ([`evidence`]),
//! and, with AWS credentials, the function version, the invocation role and the function's logs
//! ([`aws_evidence`]); judges them in the guide's order, then the namespace's drain mode
//! ([`checks`], [`aws_checks`]), and prints a checklist ([`report`]); exits non-zero when a check
//! fails (a warning does not).

pub mod aws_checks;
pub mod aws_evidence;
pub mod checks;
pub mod evidence;
pub mod lambda_http;
pub mod report;

use crate::{
    architecture, inspect::read_artifact, invocation_role::Principals, temporal_cli::TemporalCli,
};
use aws_evidence::{AwsEvidence, AwsTarget};
use clap::Args;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};
use temporal_serverless::{DEFAULT_GRACEFUL_SHUTDOWN, SHUTDOWN_HOOK_ALLOWANCE};

#[derive(Args)]
pub struct DoctorArgs {
    /// The built function; its deployment name and build ID are examined.
    #[arg(
        long,
        required_unless_present = "deployment",
        conflicts_with = "deployment"
    )]
    pub artifact: Option<PathBuf>,
    /// Worker Deployment name (instead of --artifact).
    #[arg(long, requires = "build_id")]
    pub deployment: Option<String>,
    /// Build ID (with --deployment).
    #[arg(long, requires = "deployment")]
    pub build_id: Option<String>,
    /// The function ARN you expect the server to invoke (qualified).
    #[arg(long)]
    pub function_arn: Option<String>,
    /// An unsigned Lambda endpoint for GetFunction (the local Lambda service). Without it,
    /// GetFunction goes through the AWS SDK when there are AWS credentials (honouring
    /// `AWS_ENDPOINT_URL_LAMBDA`), else unsigned to `AWS_ENDPOINT_URL_LAMBDA` if set.
    #[arg(long)]
    pub lambda_endpoint: Option<String>,
    /// The invocation role the server assumes, when the version's compute config does not show
    /// it (it must agree when it does).
    #[arg(long)]
    pub role_arn: Option<String>,
    /// The external ID the server passes when assuming the role (not a secret).
    #[arg(long)]
    pub external_id: Option<String>,
    /// The IAM identity a self-hosted Temporal Service assumes the role as (repeatable);
    /// default: Temporal Cloud's Worker Controller principals.
    #[arg(long = "temporal-principal")]
    pub temporal_principals: Vec<String>,
    /// How far back the function's CloudWatch logs are searched for error types, minutes.
    #[arg(long, default_value_t = 60)]
    pub logs_since_minutes: u64,
    /// Graceful shutdown + 2 s, as the function is configured (default 5 s + 2 s).
    #[arg(long, default_value_t = (DEFAULT_GRACEFUL_SHUTDOWN + SHUTDOWN_HOOK_ALLOWANCE).as_secs())]
    pub shutdown_buffer_seconds: u64,
    /// Print the checklist as JSON.
    #[arg(long)]
    pub json: bool,
    /// The Temporal CLI to drive.
    #[arg(long, default_value = "temporal")]
    pub temporal_cli: PathBuf,
    /// Passed to every `temporal` command (e.g. `--address 127.0.0.1:7233 --namespace default`).
    #[arg(last = true)]
    pub connection: Vec<String>,
}

pub fn run(args: &DoctorArgs) -> ExitCode {
    let target = match examined_version(args) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("error: {}", temporal_serverless::redact::text(&message));
            return ExitCode::FAILURE;
        }
    };
    let cli = TemporalCli::new(args.temporal_cli.clone(), args.connection.clone());
    let mut evidence = evidence::gather(&cli, &target, args.lambda_endpoint.as_deref());
    // The ARN the server invokes, else the one the user expects.
    let function_arn = evidence
        .current_arn()
        .map(str::to_owned)
        .or(target.expected_arn.clone());
    let role = aws_checks::role_setting(
        evidence
            .compute_config
            .as_ref()
            .and_then(|config| Some((config.role.clone()?, config.external_id.clone()))),
        args.role_arn.as_deref(),
        args.external_id.as_deref(),
    );
    let aws = aws_evidence::gather(&AwsTarget {
        function_arn: function_arn.as_deref(),
        role_arn: role
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map(|role| role.arn.as_str()),
        logs_since: Duration::from_secs(args.logs_since_minutes * 60),
    });
    if evidence.function.is_none() {
        evidence.function = function_from_aws(&aws, function_arn.as_deref());
    }
    let principals = Principals::from_args(&args.temporal_principals);
    let aws_inputs = aws_checks::AwsInputs {
        version: target.version(),
        function_arn: function_arn.as_deref(),
        artifact_architecture: args.artifact.as_deref().map(artifact_architecture),
        role,
        principals: &principals,
        logs_since_minutes: args.logs_since_minutes,
    };
    let checks = checks::run(
        &target,
        &evidence,
        args.shutdown_buffer_seconds,
        &aws_inputs,
        &aws,
    );
    if !args.json {
        print_heading(&target);
    }
    report::print(&checks, args.json);
    exit_code(&checks)
}

/// The line above the checklist: which version, and where its name came from.
fn print_heading(target: &evidence::Target) {
    println!(
        "doctor: Worker Deployment Version {}{}",
        target.version(),
        if target.from_artifact {
            " (from the artifact)"
        } else {
            ""
        }
    );
}

/// Failure when a check failed (a warning does not fail).
fn exit_code(checks: &[checks::Check]) -> ExitCode {
    if checks
        .iter()
        .any(|check| check.verdict == checks::Verdict::Failed)
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The version to examine: the one the artifact carries, or `--deployment` and `--build-id`.
fn examined_version(args: &DoctorArgs) -> Result<evidence::Target, String> {
    let (deployment, build_id, from_artifact) =
        match (&args.artifact, &args.deployment, &args.build_id) {
            (Some(artifact), _, _) => {
                let (deployment, build_id) = read_artifact(artifact)?;
                (deployment, build_id, true)
            }
            (None, Some(deployment), Some(build_id)) => {
                (deployment.clone(), build_id.clone(), false)
            }
            _ => unreachable!("clap requires --artifact or --deployment with --build-id"),
        };
    Ok(evidence::Target {
        deployment,
        build_id,
        from_artifact,
        expected_arn: args.function_arn.clone(),
    })
}

/// GetFunction's answer when the Temporal evidence has none (no unsigned endpoint was given):
/// through the AWS SDK with credentials, else unsigned to `AWS_ENDPOINT_URL_LAMBDA` if set.
fn function_from_aws(
    aws: &AwsEvidence,
    function_arn: Option<&str>,
) -> Option<Result<aws_evidence::FunctionFacts, String>> {
    match aws {
        AwsEvidence::Read(facts) => facts
            .function
            .clone()
            .map(|answer| answer.map_err(|error| error.to_string())),
        AwsEvidence::Unavailable(_) => std::env::var("AWS_ENDPOINT_URL_LAMBDA")
            .ok()
            .zip(function_arn)
            .map(|(endpoint, arn)| {
                lambda_http::get_function(&endpoint, arn)
                    .map(|document| aws_evidence::FunctionFacts::from_json(&document))
            }),
    }
}

/// The architecture the artifact at `path` is built for.
fn artifact_architecture(path: &Path) -> Result<architecture::Architecture, String> {
    std::fs::read(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
        .and_then(|bytes| architecture::of_artifact(&bytes))
}
