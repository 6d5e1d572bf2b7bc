//! `deploy`: creates the Worker Deployment Version for a deployed function with the deployment
//! name and build ID the artifact itself carries, so the version and the code can never disagree
//! (the mismatch that starts invocation loops). Drives the `temporal` CLI, which users already
//! have.
//!
//! Flow: what the user has in hand (`cargo lambda deploy`'s JSON, a function and version, an
//! ARN) → [`target`]: the published version, or a refusal → [`code`]: Lambda's GetFunction says
//! that version runs the artifact's zip → the build ID read from that zip → `temporal worker
//! deployment create-version` with the version's ARN → wait until task queues are bound (and
//! route to it, with `--set-current`).

pub mod code;
pub mod target;

use crate::{
    aws::Aws,
    inspect::read_artifact,
    lambda_zip, quoting,
    temporal_cli::{TemporalCli, bound_routable_task_queues, bound_task_queues, routes_to_current},
};
use clap::{ArgGroup, Args};
use std::{
    io::Read,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};
use target::FunctionVersion;
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};

#[derive(Args)]
#[command(group(
    ArgGroup::new("version_source")
        .required(true)
        .args(["from_cargo_lambda", "function", "function_arn"])
))]
pub struct DeployArgs {
    /// The built function whose deployment name and build ID are used: the `bootstrap.zip` that
    /// was deployed, or the `bootstrap` with that zip beside it (where `cargo lambda deploy`
    /// leaves it).
    #[arg(long)]
    pub artifact: PathBuf,
    /// What `cargo lambda deploy --output-format json` printed (a file, or `-` for standard
    /// input): the version it published is bound, not its alias.
    #[arg(long, value_name = "FILE|-")]
    pub from_cargo_lambda: Option<PathBuf>,
    /// The function (name or ARN) whose published `--function-version` is bound.
    #[arg(long, requires = "function_version")]
    pub function: Option<String>,
    /// A published version number of `--function` (as `cargo lambda deploy` or `aws lambda
    /// publish-version` print it).
    #[arg(long, requires = "function")]
    pub function_version: Option<String>,
    /// The ARN of a published version, `arn:aws:lambda:REGION:ACCOUNT:function:NAME:N`.
    /// Unqualified, `$LATEST` and alias ARNs are refused: their code changes under the version.
    #[arg(long)]
    pub function_arn: Option<String>,
    /// Do not ask Lambda (GetFunction, with AWS credentials from the standard chain) whether the
    /// version runs the artifact. For a function whose code you have checked otherwise, or the
    /// local Lambda service, which runs the artifact file itself.
    #[arg(long)]
    pub skip_code_check: bool,
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
    /// Print the commands instead of running them, each word quoted for a POSIX shell.
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
    // Before anything can fail: an error must not show a secret of the environment (the AWS
    // secret key, `TEMPORAL_API_KEY`), even one the SDK or the CLI echoes back.
    temporal_serverless::redact::remember_process_environment();
    match deploy(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {}", temporal_serverless::redact::text(&message));
            ExitCode::FAILURE
        }
    }
}

fn deploy(args: &DeployArgs) -> Result<(), String> {
    let version = function_version(args)?;
    if let Some(note) = &version.note {
        eprintln!("note: {note}");
    }
    let (function_arn, artifact) = checked_version(args, &version)?;
    let (deployment, build_id) = read_artifact(&artifact)?;
    let version = DeploymentVersion::new(&deployment, &build_id);
    let role = args.role_arn.as_deref().zip(args.external_id.as_deref());
    let commands = Commands::new(version, &function_arn, role);
    let cli = TemporalCli::new(args.temporal_cli.clone(), args.connection.clone());
    if args.print {
        print_commands(args, &cli, &commands);
        return Ok(());
    }
    println!("deploy: deployment={deployment} build_id={build_id} function={function_arn}");
    if cli.run(&commands.describe_deployment).is_err() {
        cli.run(&commands.create_deployment)?;
        println!("deploy: created Worker Deployment {deployment}");
    }
    cli.run(&commands.create_version)?;
    println!(
        "deploy: created version {version}; waiting for the registration invocation to bind task queues"
    );
    let description = wait_for_task_queues(&cli, &commands, &function_arn, args.wait_seconds)?;
    if args.set_current {
        cli.run(&commands.set_current)?;
        println!("deploy: {version} is current; waiting for its task queues to route to it");
        let waited = wait_for_routing(&cli, &description, version, args.wait_seconds)?;
        println!(
            "deploy: task queues route new work to {version} (after {} ms)",
            waited.as_millis()
        );
    }
    Ok(())
}

/// The `temporal` commands `deploy` runs for one version, as arguments.
struct Commands<'a> {
    version: DeploymentVersion<'a>,
    describe_deployment: [&'a str; 5],
    create_deployment: [&'a str; 5],
    create_version: Vec<&'a str>,
    describe_version: Vec<&'a str>,
    set_current: Vec<&'a str>,
}

impl<'a> Commands<'a> {
    /// The commands that bind `version` to `function_arn`, with the invocation role (role ARN,
    /// external ID) if one is given, and make it current.
    fn new(
        version: DeploymentVersion<'a>,
        function_arn: &'a str,
        role: Option<(&'a str, &'a str)>,
    ) -> Self {
        let create_version =
            VersionCommand::new(Subcommand::CreateVersion, version).function_arn(function_arn);
        let create_version = match role {
            Some((role_arn, external_id)) => create_version.role(role_arn, external_id),
            None => create_version.without_role(),
        };
        let deployment = version.deployment;
        Self {
            version,
            describe_deployment: ["worker", "deployment", "describe", "--name", deployment],
            create_deployment: ["worker", "deployment", "create", "--name", deployment],
            create_version: create_version.words(),
            describe_version: VersionCommand::new(Subcommand::DescribeVersion, version).words(),
            set_current: VersionCommand::new(Subcommand::SetCurrentVersion, version)
                .confirmed()
                .words(),
        }
    }
}

/// `--print`: the commands that would run, on standard output alone (scripts run them).
fn print_commands(args: &DeployArgs, cli: &TemporalCli, commands: &Commands<'_>) {
    let mut printed = vec![
        &commands.create_deployment[..],
        &commands.create_version[..],
    ];
    if args.set_current {
        printed.push(&commands.set_current[..]);
    }
    for command in printed {
        println!(
            "{}",
            printed_command(&args.temporal_cli, command, &args.connection)
        );
    }
    if cli.masks_secrets() {
        // Printed commands end up in terminals, CI logs and scripts: the secrets stay out.
        eprintln!(
            "note: secret values are shown as {}; put them back, or leave them out and set \
             TEMPORAL_API_KEY / TEMPORAL_TLS_CLIENT_KEY_PATH in the environment instead",
            temporal_serverless::redact::MASK
        );
    }
}

/// One command as `--print` shows it: the program, the command and the connection arguments,
/// in the order [`TemporalCli::run`] passes them, secrets masked, and each word quoted for a
/// POSIX shell: the build ID comes from the artifact and may hold `;`, `$(…)` or quotes, and a
/// script that runs the line must pass it as one word, not run it.
fn printed_command(program: &Path, command: &[&str], connection: &[String]) -> String {
    let mut words = vec![program.display().to_string()];
    words.extend(command.iter().map(|word| (*word).to_owned()));
    words.extend(connection.iter().cloned());
    quoting::shell_command(&temporal_serverless::redact::args(&words))
}

/// Waits until the server's registration invocation has bound the version's task queues; the
/// version's description then.
fn wait_for_task_queues(
    cli: &TemporalCli,
    commands: &Commands<'_>,
    function_arn: &str,
    wait_seconds: u64,
) -> Result<serde_json::Value, String> {
    let started = Instant::now();
    loop {
        let description = cli.json(&commands.describe_version)?;
        let queues = bound_task_queues(&description);
        if !queues.is_empty() {
            println!(
                "deploy: task queues bound after {:.1}s: {}",
                started.elapsed().as_secs_f64(),
                queues.join(", ")
            );
            return Ok(description);
        }
        if started.elapsed() > Duration::from_secs(wait_seconds) {
            return Err(format!(
                "no task queue bound to {} after {wait_seconds}s: the server did not manage to invoke \
                 {function_arn} (check the function exists and the server may invoke it: `temporal-serverless doctor`)",
                commands.version
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The published version the user names, by whichever of the three ways; or the refusal.
fn function_version(args: &DeployArgs) -> Result<FunctionVersion, String> {
    if let Some(source) = &args.from_cargo_lambda {
        let mut json = String::new();
        let read = if source == Path::new("-") {
            std::io::stdin().read_to_string(&mut json)
        } else {
            std::fs::File::open(source).and_then(|mut file| file.read_to_string(&mut json))
        };
        read.map_err(|error| format!("cannot read {}: {error}", source.display()))?;
        return target::from_cargo_lambda(&json)
            .map_err(|error| format!("--from-cargo-lambda {}: {error}", source.display()));
    }
    if let (Some(function), Some(number)) = (&args.function, &args.function_version) {
        return target::from_function_and_version(function, number);
    }
    target::from_arn(args.function_arn.as_deref().unwrap_or_default())
}

/// The version's ARN and the artifact to read the build ID from: the deployment package Lambda
/// says the version runs (checked by its SHA-256), or, with `--skip-code-check`, the artifact as
/// given.
fn checked_version(
    args: &DeployArgs,
    version: &FunctionVersion,
) -> Result<(String, PathBuf), String> {
    if args.skip_code_check {
        return unchecked_version(args, version);
    }
    let described = version
        .arn()
        .unwrap_or_else(|| format!("version {} of {}", version.version, version.function));
    let aws = Aws::load_blocking(version.region()).map_err(|unavailable| {
        format!(
            "cannot check that {described} runs {}: {unavailable}; or pass --skip-code-check",
            args.artifact.display()
        )
    })?;
    let deployed = code::deployed_version(&aws, &version.function, &version.version)?;
    let package = running_package(&args.artifact, &deployed)?;
    let checked = format!(
        "deploy: {} runs {} (CodeSha256 {})",
        deployed.arn,
        package.display(),
        deployed.code_sha256
    );
    // With --print, standard output is the commands alone (scripts run them).
    if args.print {
        eprintln!("{checked}");
    } else {
        println!("{checked}");
    }
    if package != args.artifact {
        same_build_as_package(&args.artifact, &package, &deployed.arn)?;
    }
    Ok((deployed.arn, package))
}

/// `--skip-code-check`: the version's ARN (it must be given as one) and the artifact as given.
fn unchecked_version(
    args: &DeployArgs,
    version: &FunctionVersion,
) -> Result<(String, PathBuf), String> {
    let arn = version.arn().ok_or_else(|| {
        format!(
            "--skip-code-check: {} is a function name, and without GetFunction its ARN is \
             unknown; pass --function-arn arn:aws:lambda:REGION:ACCOUNT:function:{}:{}",
            version.function, version.function, version.version
        )
    })?;
    eprintln!(
        "warning: not checked that {arn} runs {} (--skip-code-check)",
        args.artifact.display()
    );
    Ok((arn, args.artifact.clone()))
}

/// The deployment package of `artifact` (itself, or the zip beside it), if its SHA-256 is the
/// one Lambda records for the deployed version; the refusal otherwise.
fn running_package(artifact: &Path, deployed: &code::DeployedVersion) -> Result<PathBuf, String> {
    let bytes = std::fs::read(artifact)
        .map_err(|error| format!("cannot read {}: {error}", artifact.display()))?;
    let package = code::package_of(artifact, lambda_zip::is_zip(&bytes));
    let local = match &package {
        Some(package) if package == artifact => Some(code::code_sha256(&bytes)),
        Some(package) => Some(code::code_sha256(
            &std::fs::read(package)
                .map_err(|error| format!("cannot read {}: {error}", package.display()))?,
        )),
        None => None,
    };
    code::check(deployed, package.as_deref().zip(local.as_deref())).into_result(deployed, artifact)
}

/// Refuses a binary whose build differs from the one in the zip beside it that `deployed_arn`
/// runs: the build ID comes from the zip that runs, and the binary must carry the same.
fn same_build_as_package(
    artifact: &Path,
    package: &Path,
    deployed_arn: &str,
) -> Result<(), String> {
    let (in_zip, in_binary) = (read_artifact(package)?, read_artifact(artifact)?);
    if in_zip == in_binary {
        return Ok(());
    }
    Err(format!(
        "{} carries deployment={} build_id={}, but {} beside it, which {} runs, carries \
         deployment={} build_id={}: the binary was rebuilt after it was deployed. Deploy \
         it (`cargo lambda deploy`) and pass the version that publishes, or pass {}",
        artifact.display(),
        in_binary.0,
        in_binary.1,
        package.display(),
        deployed_arn,
        in_zip.0,
        in_zip.1,
        package.display(),
    ))
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
    version: DeploymentVersion<'_>,
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
            if routes_to_current(&description, version.deployment, version.build_id) {
                break;
            }
            if started.elapsed() > Duration::from_secs(wait_seconds) {
                return Err(format!(
                    "{version} is current, but the {kind} task queue {name} still does not \
                     route to it after {wait_seconds}s; workflows started now may wait for the server's \
                     periodic backlog check (5 minutes) before the function is invoked"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1:1:function:shop:3";

    #[test]
    fn the_version_is_created_with_the_role_when_one_is_given_and_without_one_otherwise() {
        let version = DeploymentVersion::new("shop", "b7");
        let with_role = Commands::new(version, ARN, Some(("arn:aws:iam::1:role/invoke", "x-1")));
        assert_eq!(
            with_role.create_version,
            [
                "worker",
                "deployment",
                "create-version",
                "--deployment-name",
                "shop",
                "--build-id",
                "b7",
                "--aws-lambda-function-arn",
                ARN,
                "--aws-lambda-assume-role-arn",
                "arn:aws:iam::1:role/invoke",
                "--aws-lambda-assume-role-external-id",
                "x-1"
            ]
        );
        let without_role = Commands::new(version, ARN, None);
        assert_eq!(
            without_role.create_version[7..],
            [
                "--aws-lambda-function-arn",
                ARN,
                "--aws-lambda-skip-role-and-external-id"
            ]
        );
    }

    #[test]
    fn printed_commands_are_read_back_by_sh_word_for_word_and_run_nothing() {
        // Allowed by the naming rule (no whitespace, no control character), as a branch name
        // through `env!` may be; each part would run `echo RAN` or expand if left unquoted.
        let version = DeploymentVersion::new(
            "shop$(echo${IFS}RAN)",
            "1';echo${IFS}RAN;'`echo${IFS}RAN`;echo${IFS}RAN#\"a:b\\",
        );
        let commands = Commands::new(version, ARN, Some(("arn:aws:iam::1:role/invoke", "x-1")));
        let connection = ["--namespace".to_owned(), "it's $(echo RAN)".to_owned()];
        for command in [
            &commands.create_deployment[..],
            &commands.create_version[..],
            &commands.set_current[..],
        ] {
            let printed = printed_command(Path::new("temporal"), command, &connection);
            let mut expected = vec!["temporal"];
            expected.extend(command);
            expected.extend(connection.iter().map(String::as_str));
            assert_eq!(quoting::words_read_by_sh(&printed), expected, "{printed}");
        }
        // Plain words stay readable.
        let plain = Commands::new(DeploymentVersion::new("shop", "b7"), ARN, None);
        assert_eq!(
            printed_command(
                Path::new("temporal"),
                &plain.create_deployment,
                &["--address".to_owned(), "127.0.0.1:7233".to_owned()]
            ),
            "temporal worker deployment create --name shop --address 127.0.0.1:7233"
        );
    }

    #[test]
    fn the_deployment_is_described_and_created_by_name_and_the_version_made_current_unprompted() {
        let commands = Commands::new(DeploymentVersion::new("shop", "b7"), ARN, None);
        assert_eq!(
            commands.describe_deployment,
            ["worker", "deployment", "describe", "--name", "shop"]
        );
        assert_eq!(
            commands.create_deployment,
            ["worker", "deployment", "create", "--name", "shop"]
        );
        assert_eq!(
            commands.describe_version,
            [
                "worker",
                "deployment",
                "describe-version",
                "--deployment-name",
                "shop",
                "--build-id",
                "b7"
            ]
        );
        assert_eq!(
            commands.set_current,
            [
                "worker",
                "deployment",
                "set-current-version",
                "--deployment-name",
                "shop",
                "--build-id",
                "b7",
                "--yes"
            ]
        );
    }
}
