//! `inspect`: read the deployment manifest that `#[serverless_worker]` embeds in a binary.
//! Deploy scripts use it so that the Worker Deployment Version is created with the build ID the
//! artifact really carries, from the `bootstrap` or from the `bootstrap.zip` that is uploaded.

use crate::lambda_zip;
use clap::Args;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};
use temporal_serverless::manifest::Manifest;

#[derive(Args)]
pub struct InspectArgs {
    /// The built function: a `bootstrap`, the `bootstrap.zip` of `cargo lambda build
    /// --output-format zip`, or any binary built with `#[serverless_worker]`.
    pub artifact: PathBuf,
    /// Print `{"deployment": .., "build_id": ..}` instead of `deployment=.. build_id=..`.
    #[arg(long)]
    pub json: bool,
}

/// The (deployment, build ID) a built function carries, or why it cannot be read: the binary
/// itself, or the `bootstrap` inside a deployment zip.
pub fn read_artifact(path: &Path) -> Result<(String, String), String> {
    let bytes =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let binary = if lambda_zip::is_zip(&bytes) {
        lambda_zip::bootstrap(&bytes).map_err(|error| format!("{}: {error}", path.display()))?
    } else {
        bytes
    };
    match Manifest::find_all(&binary).as_slice() {
        [manifest] => Ok((
            manifest.deployment_name.to_owned(),
            manifest.build_id.to_owned(),
        )),
        [] => Err(format!(
            "{} carries no deployment manifest: it was not built with #[serverless_worker] (or \
             is not the function binary; with cargo lambda it is \
             target/lambda/<name>/bootstrap or bootstrap.zip)",
            path.display()
        )),
        several => Err(format!(
            "{} carries {} different deployment manifests ({}); it must carry exactly one: \
             build it with one #[serverless_worker]",
            path.display(),
            several.len(),
            several
                .iter()
                .map(|manifest| format!(
                    "deployment={} build_id={}",
                    manifest.deployment_name, manifest.build_id
                ))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

pub fn run(args: &InspectArgs) -> ExitCode {
    match read_artifact(&args.artifact) {
        Ok((deployment, build_id)) => {
            if args.json {
                let value = serde_json::json!({
                    "deployment": deployment,
                    "build_id": build_id,
                });
                println!("{value}");
            } else {
                println!("deployment={deployment} build_id={build_id}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
