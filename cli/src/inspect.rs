//! `inspect`: read the deployment manifest that `#[serverless_worker]` embeds in a binary.
//! Deploy scripts use it so that the Worker Deployment Version is created with the build ID the
//! artifact really carries, from the `bootstrap` or from the `bootstrap.zip` that is uploaded.
//! A script reads it with `--format env`, whose values are quoted for the shell that `eval`s
//! them: a build ID may hold `;`, `$(…)` or quotes (only whitespace and control characters are
//! refused), and the default text is for people.

use crate::{lambda_zip, quoting};
use clap::{Args, ValueEnum};
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
    /// How to print the deployment name and build ID (default: text).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

/// What `inspect` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `deployment=.. build_id=..`, for people (not for `eval`: the values are not quoted).
    Text,
    /// `{"deployment": .., "build_id": ..}`.
    Json,
    /// `deployment='..'` and `build_id='..'` lines, each value single-quoted for a POSIX shell:
    /// `eval "$(temporal-serverless inspect --format env ARTIFACT)"` sets `$deployment` and
    /// `$build_id` and runs nothing, whatever they hold.
    Env,
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
    let manifests =
        Manifest::find_all(&binary).map_err(|error| format!("{}: {error}", path.display()))?;
    match manifests.as_slice() {
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
    let format = args.format.unwrap_or(if args.json {
        Format::Json
    } else {
        Format::Text
    });
    match read_artifact(&args.artifact) {
        Ok((deployment, build_id)) => {
            print!("{}", printed(format, &deployment, &build_id));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What `inspect` prints for a deployment name and build ID in `format`, lines ended.
fn printed(format: Format, deployment: &str, build_id: &str) -> String {
    match format {
        Format::Text => format!("deployment={deployment} build_id={build_id}\n"),
        Format::Json => format!(
            "{}\n",
            serde_json::json!({
                "deployment": deployment,
                "build_id": build_id,
            })
        ),
        Format::Env => format!(
            "{}\n{}\n",
            quoting::shell_assignment("deployment", deployment),
            quoting::shell_assignment("build_id", build_id)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE_BUILD_ID: &str = "1';id;'$(id)`id`#";

    #[test]
    fn env_lines_single_quote_each_value_so_that_eval_runs_nothing() {
        assert_eq!(
            printed(Format::Env, "shop", HOSTILE_BUILD_ID),
            "deployment='shop'\nbuild_id='1'\\'';id;'\\''$(id)`id`#'\n"
        );
    }

    #[test]
    fn text_and_json_are_as_they_were() {
        assert_eq!(
            printed(Format::Text, "shop", "b7"),
            "deployment=shop build_id=b7\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&printed(Format::Json, "shop", HOSTILE_BUILD_ID)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"deployment": "shop", "build_id": HOSTILE_BUILD_ID})
        );
    }
}
