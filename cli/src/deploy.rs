//! `deploy`: creates the Worker Deployment Version for a built function with the deployment name
//! and build ID the artifact itself carries, so the version and the code can never disagree (the
//! mismatch that starts invocation loops). Drives the `temporal` CLI, which users already have.

use crate::{
    inspect::read_artifact,
    temporal_cli::{TemporalCli, bound_routable_task_queues, bound_task_queues, routes_to_current},
};
use clap::Args;
use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};
use temporal_serverless::lambda_arn::is_qualified;

#[derive(Args)]
pub struct DeployArgs {
    /// The built function (`bootstrap`) whose deployment name and build ID are used.
    #[arg(long)]
    pub artifact: PathBuf,
    /// The Lambda function ARN the server invokes; qualify it (`:live`, `:3`) so a version is
    /// bound to fixed code.
    #[arg(long)]
    pub function_arn: String,
    /// IAM role the server assumes to invoke the function (real AWS).
    #[arg(long, requires = "external_id")]
    pub role_arn: Option<String>,
    /// External ID of that role's trust policy (real AWS).
    #[arg(long, requires = "role_arn")]
    pub external_id: Option<String>,
    /// Make the version current once its task queues are bound, and wait until they route new
    /// work to it.
    #[arg(long)]
    pub set_current: bool,
    /// Print the commands instead of running them.
    #[arg(long)]
    pub print: bool,
    /// How long to wait for the server's registration invocation to bind task queues.
    #[arg(long, default_value_t = 60)]
    pub wait_seconds: u64,
    /// The Temporal CLI to drive.
    #[arg(long, default_value = "temporal")]
    pub temporal_cli: PathBuf,
    /// Passed to every `temporal` command (e.g. `--address 127.0.0.1:7233 --namespace default`).
    #[arg(last = true)]
    pub connection: Vec<String>,
}

pub fn run(args: &DeployArgs) -> ExitCode {
    match deploy(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {}", temporal_serverless::redact::text(&message));
            ExitCode::FAILURE
        }
    }
}

fn deploy(args: &DeployArgs) -> Result<(), String> {
    let (deployment, build_id) = read_artifact(&args.artifact)?;
    let (deployment, build_id) = (deployment.as_str(), build_id.as_str());
    let cli = TemporalCli::new(args.temporal_cli.clone(), args.connection.clone());
    if !is_qualified(&args.function_arn) {
        eprintln!(
            "warning: {} is unqualified: the version would follow $LATEST, so new code could serve \
             an old version; publish a version or alias and pass its ARN",
            args.function_arn
        );
    }
    let mut create_version = vec![
        "worker",
        "deployment",
        "create-version",
        "--deployment-name",
        deployment,
        "--build-id",
        build_id,
        "--aws-lambda-function-arn",
        &args.function_arn,
    ];
    match (&args.role_arn, &args.external_id) {
        (Some(role), Some(external_id)) => create_version.extend([
            "--aws-lambda-assume-role-arn",
            role.as_str(),
            "--aws-lambda-assume-role-external-id",
            external_id.as_str(),
        ]),
        _ => create_version.push("--aws-lambda-skip-role-and-external-id"),
    }
    let describe_deployment = ["worker", "deployment", "describe", "--name", deployment];
    let create_deployment = ["worker", "deployment", "create", "--name", deployment];
    let set_current = [
        "worker",
        "deployment",
        "set-current-version",
        "--deployment-name",
        deployment,
        "--build-id",
        build_id,
        "--yes",
    ];
    if args.print {
        for command in [&create_deployment[..], &create_version[..]] {
            println!("{}", cli.render(command));
        }
        if args.set_current {
            println!("{}", cli.render(&set_current));
        }
        if cli.masks_secrets() {
            // Printed commands end up in terminals, CI logs and scripts: the secrets stay out.
            eprintln!(
                "note: secret values are shown as {}; put them back, or leave them out and set \
                 TEMPORAL_API_KEY / TEMPORAL_TLS_CLIENT_KEY_PATH in the environment instead",
                temporal_serverless::redact::MASK
            );
        }
        return Ok(());
    }
    println!(
        "deploy: deployment={deployment} build_id={build_id} function={}",
        args.function_arn
    );
    if cli.run(&describe_deployment).is_err() {
        cli.run(&create_deployment)?;
        println!("deploy: created Worker Deployment {deployment}");
    }
    cli.run(&create_version)?;
    println!(
        "deploy: created version {deployment}:{build_id}; waiting for the registration invocation to bind task queues"
    );
    let started = Instant::now();
    let (task_queues, description) = loop {
        let description = cli.json(&[
            "worker",
            "deployment",
            "describe-version",
            "--deployment-name",
            deployment,
            "--build-id",
            build_id,
        ])?;
        let queues = bound_task_queues(&description);
        if !queues.is_empty() {
            break (queues, description);
        }
        if started.elapsed() > Duration::from_secs(args.wait_seconds) {
            return Err(format!(
                "no task queue bound to {deployment}:{build_id} after {}s: the server did not manage to invoke \
                 {} (check the function exists and the server may invoke it: `temporal-serverless doctor`)",
                args.wait_seconds, args.function_arn
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    println!(
        "deploy: task queues bound after {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        task_queues.join(", ")
    );
    if args.set_current {
        cli.run(&set_current)?;
        println!(
            "deploy: {deployment}:{build_id} is current; waiting for its task queues to route to it"
        );
        let waited = wait_for_routing(&cli, &description, deployment, build_id, args.wait_seconds)?;
        println!(
            "deploy: task queues route new work to {deployment}:{build_id} (after {} ms)",
            waited.as_millis()
        );
    }
    Ok(())
}

/// Waits until every bound task queue routes new work to the version just made current.
///
/// `set-current-version` returns once the deployment has recorded the change; the task queues
/// learn it a moment later. A workflow started in between is queued as unversioned work: the
/// server tells the Worker Controller Instance of no version about it, so no invocation follows,
/// and the task waits for the controller's next periodic look at the backlog (every 5 minutes).
/// Returning only once the task queues route to the version closes that window for whatever the
/// user starts after `deploy`.
fn wait_for_routing(
    cli: &TemporalCli,
    version_description: &serde_json::Value,
    deployment: &str,
    build_id: &str,
    wait_seconds: u64,
) -> Result<Duration, String> {
    let started = Instant::now();
    for (name, kind) in bound_routable_task_queues(version_description) {
        loop {
            let description = cli.json(&[
                "task-queue",
                "describe",
                "--task-queue",
                &name,
                "--task-queue-type-legacy",
                &kind,
                "--legacy-mode",
            ])?;
            if routes_to_current(&description, deployment, build_id) {
                break;
            }
            if started.elapsed() > Duration::from_secs(wait_seconds) {
                return Err(format!(
                    "{deployment}:{build_id} is current, but the {kind} task queue {name} still does not \
                     route to it after {wait_seconds}s; workflows started now may wait for the server's \
                     periodic backlog check (5 minutes) before the function is invoked"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(started.elapsed())
}
