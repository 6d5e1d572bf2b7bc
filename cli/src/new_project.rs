//! `new`: a Lambda function project in one command — the dependency lines the SDK's macros need,
//! one pinned workflow, one activity, a `temporal.toml` sample, a build ID fixed at compile time
//! from the environment, and cargo lambda's packaging settings. It builds with `cargo lambda
//! build` as it is.
//!
//! The template is compiled into this command (`cli/template/`), so the versions it writes are
//! the ones this release was built and tested with, and it needs no network and no checkout.

use clap::Args;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

#[derive(Args)]
pub struct NewArgs {
    /// The package name: also the binary, the Worker Deployment name and the task queue.
    pub name: String,
    /// The directory to create (default: ./NAME); it must not exist, or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Depend on temporal-serverless at this path (the `runtime` directory of a checkout of
    /// temporal-serverless) instead of the release matching this command's version.
    #[arg(long, value_name = "PATH")]
    pub runtime_path: Option<PathBuf>,
}

/// The Temporal SDK release the runtime is built against; the SDK's macros need these crates as
/// direct dependencies of the function (unit-tested against the workspace's `Cargo.toml`).
const SDK_VERSION: &str = "~1.1.1";
const FUTURES_VERSION: &str = "0.3";

/// Where the project takes `temporal-serverless` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeSource {
    /// The release `0.<minor>` matching this command's own version.
    Release,
    /// A local checkout's `runtime` directory (absolute).
    Path(PathBuf),
}

/// A file of the new project: its path relative to the project root, and its content.
pub struct ProjectFile {
    pub path: &'static str,
    pub content: String,
}

/// The files of a new project named `name`. Pure: [`run`] writes them.
pub fn project_files(name: &str, runtime: &RuntimeSource) -> Vec<ProjectFile> {
    let temporal_serverless = match runtime {
        RuntimeSource::Release => format!("temporal-serverless = \"{}\"", release_requirement()),
        RuntimeSource::Path(path) => format!(
            "temporal-serverless = {{ path = \"{}\" }}",
            toml_escape(&path.display().to_string())
        ),
    };
    let render = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{build_id_variable}}", &build_id_variable(name))
            .replace("{{temporal_serverless}}", &temporal_serverless)
            .replace("{{sdk_version}}", SDK_VERSION)
            .replace("{{futures_version}}", FUTURES_VERSION)
    };
    [
        ("Cargo.toml", include_str!("../template/Cargo.toml.in")),
        ("build.rs", include_str!("../template/build.rs.in")),
        ("src/main.rs", include_str!("../template/main.rs.in")),
        (
            "temporal.toml",
            include_str!("../template/temporal.toml.in"),
        ),
        (".gitignore", include_str!("../template/gitignore.in")),
    ]
    .into_iter()
    .map(|(path, template)| ProjectFile {
        path,
        content: render(template),
    })
    .collect()
}

/// `MY_FN_BUILD_ID` for `my-fn`: the variable a deploy pipeline sets, one per function as in the
/// examples (`HELLO_BUILD_ID`), so that functions built in one pipeline do not share it.
pub fn build_id_variable(name: &str) -> String {
    format!("{}_BUILD_ID", name.to_ascii_uppercase().replace('-', "_"))
}

/// What is wrong with `name` as the package (and so binary, deployment and task queue) name.
pub fn name_problem(name: &str) -> Option<String> {
    let Some(first) = name.chars().next() else {
        return Some("the name is empty".into());
    };
    if !first.is_ascii_alphabetic() {
        return Some(format!("`{name}` must start with an ASCII letter"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Some(format!(
            "`{name}` contains {bad:?}; use ASCII letters, digits, `-` and `_` (it is a Cargo \
             package name)"
        ));
    }
    if name.len() > 64 {
        return Some(format!("`{name}` is longer than 64 characters"));
    }
    None
}

/// `0.1` for this command's `0.1.x`: a caret requirement on the release it belongs to.
fn release_requirement() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}"),
        (Some(major), _) => major.to_owned(),
        _ => version.to_owned(),
    }
}

fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `runtime` directory of a temporal-serverless checkout, absolute, or why `path` is not one.
fn runtime_path(path: &Path) -> Result<PathBuf, String> {
    let absolute = path
        .canonicalize()
        .map_err(|error| format!("--runtime-path {}: {error}", path.display()))?;
    let manifest = std::fs::read_to_string(absolute.join("Cargo.toml")).unwrap_or_default();
    if package_name(&manifest) != Some("temporal-serverless") {
        return Err(format!(
            "--runtime-path {} is not the temporal-serverless crate: give the `runtime` \
             directory of a checkout (its Cargo.toml says name = \"temporal-serverless\")",
            path.display()
        ));
    }
    Ok(absolute)
}

/// The `name` of a manifest's `[package]` section (not a `[[bin]]`'s).
fn package_name(manifest: &str) -> Option<&str> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            return value
                .trim()
                .strip_prefix('=')?
                .trim()
                .strip_prefix('"')?
                .strip_suffix('"');
        }
    }
    None
}

fn create(args: &NewArgs) -> Result<PathBuf, String> {
    if let Some(problem) = name_problem(&args.name) {
        return Err(problem);
    }
    let runtime = match &args.runtime_path {
        Some(path) => RuntimeSource::Path(runtime_path(path)?),
        None => RuntimeSource::Release,
    };
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!(
            "{} already exists and is not empty; choose another name or --dir",
            dir.display()
        ));
    }
    for file in project_files(&args.name, &runtime) {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::fs::write(&path, file.content)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(dir)
}

pub fn run(args: &NewArgs) -> ExitCode {
    match create(args) {
        Ok(dir) => {
            let name = &args.name;
            println!(
                "created {name} in {dir} (Cargo.toml, build.rs, src/main.rs, temporal.toml)\n\n\
                 cd {dir}\n\
                 cargo lambda build --release --arm64 --output-format zip\n\
                 temporal-serverless inspect target/lambda/{name}/bootstrap.zip\n\n\
                 The build ID is {variable} at build time ({name}'s version + `-dev` without it); \
                 edit temporal.toml for your Temporal server.",
                dir = dir.display(),
                variable = build_id_variable(name),
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(files: &'a [ProjectFile], path: &str) -> &'a str {
        &files.iter().find(|file| file.path == path).unwrap().content
    }

    #[test]
    fn every_placeholder_is_filled() {
        for runtime in [
            RuntimeSource::Release,
            RuntimeSource::Path("/src/ts/runtime".into()),
        ] {
            for file in project_files("payments-fn", &runtime) {
                assert!(
                    !file.content.contains("{{"),
                    "{}:\n{}",
                    file.path,
                    file.content
                );
            }
        }
    }

    #[test]
    fn the_function_is_named_and_versioned_from_the_name() {
        let files = project_files("payments-fn", &RuntimeSource::Release);
        let main = file(&files, "src/main.rs");
        assert!(main.contains("deployment = \"payments-fn\""), "{main}");
        assert!(main.contains("task_queue = \"payments-fn\""), "{main}");
        assert!(
            main.contains("build_id = env!(\"PAYMENTS_FN_BUILD_ID\")"),
            "{main}"
        );
        assert!(main.contains("#[workflow(versioning = pinned)]"), "{main}");
        let build = file(&files, "build.rs");
        assert!(
            build.contains("rerun-if-env-changed=PAYMENTS_FN_BUILD_ID")
                && build.contains("rustc-env=PAYMENTS_FN_BUILD_ID="),
            "{build}"
        );
        assert!(file(&files, "Cargo.toml").contains("name = \"payments-fn\""));
    }

    #[test]
    fn the_runtime_comes_from_the_release_or_a_path() {
        let release = project_files("f", &RuntimeSource::Release);
        let version = env!("CARGO_PKG_VERSION");
        let minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
        assert!(
            file(&release, "Cargo.toml").contains(&format!("temporal-serverless = \"{minor}\"\n")),
            "{}",
            file(&release, "Cargo.toml")
        );
        let local = project_files("f", &RuntimeSource::Path("/src/a \"b\"/runtime".into()));
        assert!(
            file(&local, "Cargo.toml")
                .contains(r#"temporal-serverless = { path = "/src/a \"b\"/runtime" }"#),
            "{}",
            file(&local, "Cargo.toml")
        );
    }

    /// The SDK versions written for the SDK's macros are the ones the runtime is built against.
    #[test]
    fn the_sdk_versions_are_the_workspace_s() {
        let workspace =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
        let requirement = |krate: &str| {
            let line = workspace
                .lines()
                .find(|line| line.starts_with(&format!("{krate} = ")))
                .unwrap_or_else(|| panic!("{krate} is not in the workspace's Cargo.toml"));
            line.split('"').nth(1).unwrap().to_owned()
        };
        for krate in ["temporalio-sdk", "temporalio-common", "temporalio-workflow"] {
            assert_eq!(requirement(krate), SDK_VERSION, "{krate}");
        }
        assert_eq!(requirement("futures"), FUTURES_VERSION);
    }

    /// The sample parses as Temporal's client configuration, strictly (no unknown key).
    #[test]
    fn the_temporal_toml_sample_is_a_valid_client_configuration() {
        use temporal_serverless::sdk::common::envconfig::{
            ClientConfig, ClientConfigFromTOMLOptions,
        };
        let files = project_files("f", &RuntimeSource::Release);
        let sample = file(&files, "temporal.toml");
        let config = ClientConfig::from_toml(
            sample.as_bytes(),
            ClientConfigFromTOMLOptions::builder().strict(true).build(),
        )
        .unwrap();
        let profile = &config.profiles["default"];
        assert_eq!(profile.address.as_deref(), Some("localhost:7233"));
        assert_eq!(profile.namespace.as_deref(), Some("default"));
        assert!(profile.api_key.is_none());
    }

    #[test]
    fn names_that_cannot_be_a_package_are_refused() {
        assert_eq!(name_problem("payments-fn"), None);
        assert_eq!(name_problem("orders_v2"), None);
        for bad in [
            "",
            "2fast",
            "-x",
            "has space",
            "ünï",
            "a/b",
            &"x".repeat(65),
        ] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn the_runtime_path_must_be_the_runtime_crate() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert!(runtime_path(&workspace.join("runtime")).is_ok());
        // The CLI's manifest also says name = "temporal-serverless", for its [[bin]].
        for other in [workspace.join("cli"), workspace.to_path_buf()] {
            let error = runtime_path(&other).unwrap_err();
            assert!(error.contains("give the `runtime` directory"), "{error}");
        }
    }

    #[test]
    fn the_build_id_variable_is_the_name_in_upper_snake_case() {
        assert_eq!(build_id_variable("payments-fn"), "PAYMENTS_FN_BUILD_ID");
        assert_eq!(build_id_variable("orders_v2"), "ORDERS_V2_BUILD_ID");
    }
}
