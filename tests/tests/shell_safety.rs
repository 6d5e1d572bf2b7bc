//! What the `temporal-serverless` command prints for scripts does what it says and nothing else,
//! whatever an artifact carries: a build ID may hold anything but whitespace and control
//! characters, and one set from a branch name through `env!` holds `;`, `$(…)`, quotes or
//! backticks. Here such values are put in an artifact's manifest, then `inspect --format env` is
//! `eval`ed and `deploy --print`'s commands are run by `sh`, and `role --cloudformation`'s
//! template is parsed by PyYAML (CloudFormation's YAML 1.1), each in a directory where anything
//! a value ran would leave a file. A manifest that breaks the naming rule is refused.

use std::{
    ffi::OsStr,
    path::PathBuf,
    process::{Command, Output},
    time::Duration,
};
use temporal_serverless::manifest::{encode_manifest, manifest_len};
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};
use temporal_serverless_tests::{
    child_process::run_bounded, cli_binary, cli_run::CliRun, installed_tool,
    lambda_package::LambdaZip,
};

/// A deployment name the naming rule accepts that runs `touch ran-deployment` if a shell reads
/// it unquoted (`${IFS}` stands for the space it may not hold).
const HOSTILE_DEPLOYMENT: &str = "shop$(touch${IFS}ran-deployment)";
/// A build ID the naming rule accepts that breaks out of single quotes, substitutes a command
/// two ways and ends the command, each running `touch ran-…` if a shell reads it unquoted or
/// badly quoted; then starts a comment holding a double quote, `:` and a backslash.
const HOSTILE_BUILD_ID: &str = r#"1';touch${IFS}ran-quote;'$(touch${IFS}ran-subst)`touch${IFS}ran-backtick`;touch${IFS}ran-semicolon;#"a:b\c"#;

/// The published version the printed commands bind.
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:shop:3";

/// The manifest `#[serverless_worker]` would embed for these values, were they allowed
/// (`encode_manifest` checks lengths only: the macro checks the rule before).
macro_rules! manifest {
    ($deployment:expr, $build_id:expr) => {{
        const BYTES: [u8; manifest_len($deployment, $build_id)] =
            encode_manifest($deployment, $build_id);
        BYTES
    }};
}

/// A directory of this test's own, removed when dropped; the shells run in it, so that anything
/// a value ran (`touch ran-…`) leaves a file here.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tsls-shell-safety-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// An artifact `name` that is a few bytes and `manifest`, where `inspect` finds it as in a
    /// binary; its path.
    fn artifact(&self, name: &str, manifest: &[u8]) -> PathBuf {
        let mut bytes = b"no function here, only its manifest: ".to_vec();
        bytes.extend_from_slice(manifest);
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The files a value ran a `touch` for, sorted.
    fn ran(&self) -> Vec<String> {
        let mut ran: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("ran-"))
            .collect();
        ran.sort();
        ran
    }

    /// `sh -c script` run in this directory, with `args` as `$0`, `$1`, …
    fn sh(&self, script: &str, args: &[&OsStr]) -> Output {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .args(args)
            .current_dir(&self.0);
        run_bounded(&mut command, Duration::from_secs(60), "sh")
            .unwrap_or_else(|error| panic!("{error}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The NUL-ended words a run printed.
fn nul_ended(output: &Output) -> Vec<String> {
    let printed = String::from_utf8_lossy(&output.stdout);
    let mut words: Vec<String> = printed.split('\0').map(str::to_owned).collect();
    // What follows the last NUL.
    words.pop();
    words
}

#[test]
fn eval_of_inspect_format_env_sets_the_values_and_runs_nothing() {
    let scratch = Scratch::new("eval");
    let binary = scratch.artifact(
        "bootstrap",
        &manifest!(HOSTILE_DEPLOYMENT, HOSTILE_BUILD_ID),
    );
    let zip = scratch.path("bootstrap.zip");
    LambdaZip::new().file("bootstrap", &binary).write(&zip);
    let cli = cli_binary!();
    for artifact in [&binary, &zip] {
        let printed = CliRun::new(&cli, "inspect")
            .args(["--format", "env"])
            .arg(artifact)
            .run()
            .expect_success();
        // The README's recipe, as a deploy script runs it.
        let output = scratch.sh(
            r#"eval "$("$0" inspect --format env "$1")" && printf '%s\0' "$deployment" "$build_id""#,
            &[cli.as_os_str(), artifact.as_os_str()],
        );
        assert!(
            output.status.success(),
            "{}: {}\n{printed}",
            artifact.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            nul_ended(&output),
            [HOSTILE_DEPLOYMENT, HOSTILE_BUILD_ID],
            "{}: {printed}",
            artifact.display()
        );
        assert_eq!(
            scratch.ran(),
            Vec::<String>::new(),
            "{}: {printed}",
            artifact.display()
        );
    }

    // The recipe `--format env` replaces runs them: the values are the danger, not the test.
    scratch.sh(
        r#"eval "$("$0" inspect "$1" | sed 's/ /\n/')""#,
        &[cli.as_os_str(), binary.as_os_str()],
    );
    let ran = scratch.ran();
    assert!(
        ran.contains(&"ran-subst".to_owned()) && ran.contains(&"ran-semicolon".to_owned()),
        "{ran:?}"
    );
}

#[test]
fn deploy_print_commands_pass_each_word_as_it_is_and_run_nothing() {
    let scratch = Scratch::new("print");
    let artifact = scratch.artifact(
        "bootstrap",
        &manifest!(HOSTILE_DEPLOYMENT, HOSTILE_BUILD_ID),
    );
    let connection = [
        "--address",
        "127.0.0.1:7233",
        "--namespace",
        "it's $(touch ran-namespace)",
    ];
    // `--print` runs nothing, so the CLI is named `record`: a shell function below that prints
    // the words it is given, each ended by a NUL.
    let printed = CliRun::new(&cli_binary!(), "deploy")
        .artifact(&artifact)
        .args(["--function-arn", FUNCTION_ARN])
        .args(["--skip-code-check", "--set-current", "--print"])
        .args(["--temporal-cli", "record"])
        .connection(connection)
        .run()
        .expect_success();
    let version = DeploymentVersion::new(HOSTILE_DEPLOYMENT, HOSTILE_BUILD_ID);
    let expected = [
        vec![
            "worker",
            "deployment",
            "create",
            "--name",
            HOSTILE_DEPLOYMENT,
        ],
        VersionCommand::new(Subcommand::CreateVersion, version)
            .function_arn(FUNCTION_ARN)
            .without_role()
            .words(),
        VersionCommand::new(Subcommand::SetCurrentVersion, version)
            .confirmed()
            .words(),
    ];
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{printed}");
    for (line, mut words) in lines.into_iter().zip(expected) {
        let output = scratch.sh(
            &format!("record() {{ printf '%s\\0' \"$@\"; }}\n{line}"),
            &[],
        );
        assert!(
            output.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        words.extend(connection);
        assert_eq!(nul_ended(&output), words, "{line}");
    }
    assert_eq!(scratch.ran(), Vec::<String>::new(), "{printed}");
}

#[test]
fn inspect_refuses_a_manifest_that_breaks_the_naming_rule_and_says_what_to_do() {
    let scratch = Scratch::new("invalid");
    for (name, manifest, says) in [
        (
            "newline",
            manifest!("shop", "b7\ntouch${IFS}ran-newline").to_vec(),
            r"the manifest's `build_id` must not contain whitespace or control characters, found '\n'",
        ),
        (
            "empty",
            manifest!("", "b7").to_vec(),
            "the manifest's `deployment` must not be empty",
        ),
    ] {
        let artifact = scratch.artifact(name, &manifest);
        let output = CliRun::new(&cli_binary!(), "inspect")
            .args(["--format", "env"])
            .arg(&artifact)
            .run();
        assert!(!output.success, "{name}: {}", output.stdout);
        assert!(output.stdout.is_empty(), "{name}: {}", output.stdout);
        assert!(
            output.stderr.contains(says) && output.stderr.contains("rebuild the function"),
            "{name}: {}",
            output.stderr
        );
    }
}

/// Prints the type and value PyYAML reads for the template's `RoleName`; CloudFormation's short
/// forms (`!Ref`, `!GetAtt`) are read as nothing, they are not what is checked.
const READ_ROLE_NAME: &str = r#"
import sys, yaml
class Loader(yaml.SafeLoader):
    pass
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
template = yaml.load(sys.argv[1], Loader=Loader)
name = template["Resources"]["TemporalInvocationRole"]["Properties"]["RoleName"]
print(type(name).__name__, name)
"#;

#[test]
fn role_names_yaml_would_misread_stay_strings_in_the_template() {
    // PyYAML is in the venv `scripts/setup` makes (moto needs it).
    let python = installed_tool("VENV_PYTHON", "python");
    // Valid IAM role names all; unquoted, YAML reads them as a null, a boolean, an octal
    // integer, a float, a value key, and an error (`@` may not start a plain scalar).
    for role_name in [
        "null",
        "yes",
        "007",
        "1.5",
        "=",
        "@ops",
        "temporal-invoke-shop",
    ] {
        let template = CliRun::new(&cli_binary!(), "role")
            .args(["--function-arn", FUNCTION_ARN])
            .args(["--external-id", "shop-7f3a9c", "--role-name", role_name])
            .arg("--cloudformation")
            .run()
            .expect_success();
        let mut command = Command::new(&python);
        command.args(["-c", READ_ROLE_NAME, template.as_str()]);
        let output = run_bounded(&mut command, Duration::from_secs(60), "python")
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(
            output.status.success(),
            "{role_name}: {}\n{template}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("str {role_name}\n"),
            "{template}"
        );
    }
}
