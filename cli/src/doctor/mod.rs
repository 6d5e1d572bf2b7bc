//! `doctor`: Temporal's troubleshooting guide for Serverless Workers as one command. Reads the
//! version, its Worker Controller Instance, task queues, function and namespace ([`evidence`]),
//! judges them in the guide's order, then the namespace's drain mode ([`checks`]), and prints a
//! checklist ([`report`]); exits non-zero when a check fails (a warning does not).

pub mod checks;
pub mod evidence;
pub mod lambda_http;
pub mod report;

use crate::{inspect::read_artifact, temporal_cli::TemporalCli};
use clap::Args;
use std::{path::PathBuf, process::ExitCode};

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
    /// An unsigned Lambda endpoint for GetFunction (the local Lambda service); default
    /// `AWS_ENDPOINT_URL_LAMBDA`. Real AWS needs credentials: that check is then not done.
    #[arg(long)]
    pub lambda_endpoint: Option<String>,
    /// Graceful shutdown + 2 s, as the function is configured (default 5 s + 2 s).
    #[arg(long, default_value_t = 7)]
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
    let endpoint = args
        .lambda_endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_LAMBDA").ok());
    let evidence = evidence::gather(&cli, &target, endpoint.as_deref());
    let checks = checks::run(&target, &evidence, args.shutdown_buffer_seconds);
    if !args.json {
        println!(
            "doctor: Worker Deployment Version {}:{}{}",
            target.deployment,
            target.build_id,
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
