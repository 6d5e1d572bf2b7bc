//! `temporal-serverless`: tools around Lambda functions built with `#[serverless_worker]`.

use temporal_serverless_cli::{deploy, doctor, inspect, local_lambda, new_project, role};

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "temporal-serverless", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the Worker Deployment name and build ID a built function carries, without running it.
    Inspect(inspect::InspectArgs),
    /// Create the Worker Deployment Version for a built function, with the build ID it carries.
    Deploy(deploy::DeployArgs),
    /// Run the troubleshooting guide's checks for a version and print a checklist.
    Doctor(doctor::DoctorArgs),
    /// Print the invocation role for a function version: trust and permission policies,
    /// CloudFormation / SAM, and the `aws` commands (what `doctor` checks a role against).
    Role(role::RoleArgs),
    /// Serve a local Lambda service (control plane + Runtime API) for functions on this machine.
    Lambda(local_lambda::LambdaArgs),
    /// Create a new Lambda function project: one pinned workflow, one activity, temporal.toml.
    New(new_project::NewArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Deploy(args) => deploy::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Lambda(args) => local_lambda::run(args),
        Command::New(args) => new_project::run(&args),
        Command::Role(args) => role::run(&args),
    }
}
