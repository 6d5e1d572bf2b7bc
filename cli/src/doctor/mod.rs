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
use std::{path::PathBuf, process::ExitCode, time::Duration};
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
    let (deployment, build_id, from_artifact) =
        match (&args.artifact, &args.deployment, &args.build_id) {
            (Some(artifact), _, _) => match read_artifact(artifact) {
                Ok((deployment, build_id)) => (deployment, build_id, true),
                Err(message) => {
                    eprintln!("error: {}", temporal_serverless::redact::text(&message));
                    return ExitCode::FAILURE;
                }
            },
            (None, Some(deployment), Some(build_id)) => {
                (deployment.clone(), build_id.clone(), false)
            }
            _ => unreachable!("clap requires --artifact or --deployment with --build-id"),
        };
    let target = evidence::Target {
        deployment,
        build_id,
        from_artifact,
        expected_arn: args.function_arn.clone(),
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
        evidence.function = match &aws {
            AwsEvidence::Read(facts) => facts
                .function
                .clone()
                .map(|answer| answer.map_err(|error| error.to_string())),
            AwsEvidence::Unavailable(_) => std::env::var("AWS_ENDPOINT_URL_LAMBDA")
                .ok()
                .zip(function_arn.as_deref())
                .map(|(endpoint, arn)| {
                    lambda_http::get_function(&endpoint, arn)
                        .map(|document| aws_evidence::FunctionFacts::from_json(&document))
                }),
        };
    }
    let principals = Principals::from_args(&args.temporal_principals);
    let aws_inputs = aws_checks::AwsInputs {
        function_arn: function_arn.as_deref(),
        artifact_architecture: args.artifact.as_ref().map(|path| {
            std::fs::read(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))
                .and_then(|bytes| architecture::of_artifact(&bytes))
        }),
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
        println!(
            "doctor: Worker Deployment Version {}{}",
            target.version(),
            if from_artifact {
                " (from the artifact)"
            } else {
                ""
            }
        );
    }
    report::print(&checks, args.json);
    if checks
        .iter()
        .any(|check| check.verdict == checks::Verdict::Failed)
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
