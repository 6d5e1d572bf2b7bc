//! `inspect`: read the deployment manifest that `#[serverless_worker]` embeds in a binary.
//! Deploy scripts use it so that the Worker Deployment Version is created with the build ID the
//! artifact really carries.

use clap::Args;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};
use temporal_serverless::manifest::Manifest;

#[derive(Args)]
pub struct InspectArgs {
    /// The built function: a `bootstrap` or any binary built with `#[serverless_worker]`.
    pub artifact: PathBuf,
    /// Print `{"deployment": .., "build_id": ..}` instead of `deployment=.. build_id=..`.
    #[arg(long)]
    pub json: bool,
}

/// The (deployment, build ID) a built function carries, or why it cannot be read.
pub fn read_artifact(path: &Path) -> Result<(String, String), String> {
    let bytes =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    match Manifest::find_all(&bytes).as_slice() {
        [manifest] => Ok((
            manifest.deployment_name.to_owned(),
            manifest.build_id.to_owned(),
        )),
        found => Err(format!(
            "{} must carry exactly one deployment manifest (found {}); build it with #[serverless_worker]",
            path.display(),
            found.len()
        )),
    }
}

pub fn run(args: &InspectArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.artifact) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", args.artifact.display());
            return ExitCode::FAILURE;
        }
    };
    match Manifest::find_all(&bytes).as_slice() {
        [manifest] => {
            if args.json {
                let value = serde_json::json!({
                    "deployment": manifest.deployment_name,
                    "build_id": manifest.build_id,
                });
                println!("{value}");
            } else {
                println!(
                    "deployment={} build_id={}",
                    manifest.deployment_name, manifest.build_id
                );
            }
            ExitCode::SUCCESS
        }
        [] => {
            eprintln!(
                "error: {} carries no deployment manifest: it was not built with \
                 #[serverless_worker] (or is not the function binary; with cargo lambda it is \
                 target/lambda/<name>/bootstrap)",
                args.artifact.display()
            );
            ExitCode::FAILURE
        }
        several => {
            eprintln!(
                "error: {} carries {} different deployment manifests:",
                args.artifact.display(),
                several.len()
            );
            for manifest in several {
                eprintln!(
                    "  deployment={} build_id={}",
                    manifest.deployment_name, manifest.build_id
                );
            }
            ExitCode::FAILURE
        }
    }
}
