//! `temporal-serverless`: tools around Lambda functions built with `#[serverless_worker]`.

mod inspect;

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
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Inspect(args) => inspect::run(&args),
    }
}
