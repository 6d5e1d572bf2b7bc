//! `doctor`'s AWS checks against a real implementation of AWS's APIs (`moto_server`): each check
//! with a right and a wrong setup, the account set up through the AWS SDK as a user's scripts
//! would (tests/src/aws_account.rs), doctor reading it through its own SDK clients with
//! credentials from the standard chain. The right invocation role is the one
//! `temporal-serverless role --cloudformation` writes, deployed as a CloudFormation stack: what
//! `role` prints is what `doctor` accepts. Without credentials, each AWS check is skipped with
//! the `aws` command that would answer it. The AWS secret key never shows.
//!
//! The checks that compare with the Worker Deployment Version run against the real dev server,
//! its Worker Controller pointed at moto's Lambda; the others need no Temporal server (doctor's
//! Temporal checks then fail, which these tests do not look at).

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use std::time::Instant;
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};
use temporal_serverless_tests::{
    aws_account::AwsAccount,
    cli_binary,
    cli_run::{CliOutput, CliRun},
    dev_server::DevServer,
    fixture_function, free_port,
    local_loop::WCI_FLAGS,
    moto::Moto,
};

const BUILD_ID: &str = env!("FIXTURE_BUILD_ID");
const EXTERNAL_ID: &str = "9d41c7e2b08f4a6e93b5";
/// The checks that read AWS (and `function exists` / `function timeout`, which can also read
/// an unsigned local endpoint).
const AWS_CHECKS: [&str; 8] = [
    "function exists",
    "published version",
    "architecture",
    "invocation role",
    "trust policy",
    "role permissions",
    "function timeout",
    "function logs",
];

/// An environment in which the standard chain finds no credentials (and asks no instance
/// metadata service), whatever the machine has.
fn no_credentials() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
}

/// A Temporal address where nothing listens: doctor's Temporal checks fail at once.
fn no_server() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// `temporal-serverless doctor ARGS -- --address ADDRESS` with `env`, and no AWS credentials or
/// Lambda endpoint of this machine's.
fn doctor_command(args: &[&str], address: &str, env: &[(&str, String)]) -> CliRun {
    CliRun::new(&cli_binary!(), "doctor")
        .args(args)
        .temporal_cli()
        .connection(["--address", address])
        .without_aws_credentials()
        .env_remove("AWS_ENDPOINT_URL_LAMBDA")
        .envs(env)
}

/// Runs `doctor` and says how long it took; fails the test if the secret key shows.
fn run_doctor(doctor: CliRun, args: &[&str]) -> CliOutput {
    let started = Instant::now();
    let output = doctor.run().showing_no_secret();
    println!(
        "doctor {} took {:.1} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    output
}

/// The user's view: doctor's report in text, and whether it passed.
fn doctor_text(args: &[&str], address: &str, env: &[(&str, String)]) -> (bool, String) {
    let output = run_doctor(doctor_command(args, address, env), args);
    (output.success, output.stdout)
}

/// `doctor --json`: the checks.
fn doctor(args: &[&str], address: &str, env: &[(&str, String)]) -> Value {
    let stdout = run_doctor(doctor_command(args, address, env).arg("--json"), args).stdout;
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

/// (verdict, saw, fix) of check `name`.
fn verdict(checks: &Value, name: &str) -> (String, String, String) {
    let check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#}"));
    let text = |field: &str| check[field].as_str().unwrap_or_default().to_owned();
    (text("verdict"), text("saw"), text("fix"))
}

/// Asserts check `name` has `expected` verdict and its saw-text contains `saw`.
fn expect(checks: &Value, name: &str, expected: &str, saw: &str) {
    let (verdict, seen, fix) = verdict(checks, name);
    assert!(
        verdict == expected && seen.contains(saw),
        "{name}: expected {expected} saying {saw:?}, got {verdict}: {seen}\n  fix: {fix}"
    );
}

#[test]
fn without_credentials_each_aws_check_is_skipped_with_the_aws_command_that_answers_it() {
    let version = "arn:aws:lambda:us-east-1:123456789012:function:fixture:1";
    let role = "arn:aws:iam::123456789012:role/temporal-invoke-fixture";
    let args = [
        "--artifact",
        fixture_function!().to_str().unwrap(),
        "--function-arn",
        version,
        "--role-arn",
        role,
        "--external-id",
        EXTERNAL_ID,
    ];
    let checks = doctor(&args, &no_server(), &no_credentials());
    for name in AWS_CHECKS {
        let (verdict, saw, fix) = verdict(&checks, name);
        assert_eq!(
            (verdict.as_str(), saw.as_str()),
            ("not_checked", "skipped: no AWS credentials"),
            "{name}"
        );
        assert!(fix.starts_with("aws "), "{name}: {fix}");
    }
    let fix = |name| verdict(&checks, name).2;
    assert!(fix("published version").starts_with(&format!(
        "aws lambda get-function --function-name {version}"
    )));
    assert!(
        fix("trust policy").starts_with("aws iam get-role --role-name temporal-invoke-fixture")
    );
    assert!(fix("role permissions").contains(&format!(
        "--policy-source-arn {role} --action-names lambda:InvokeFunction lambda:GetFunction --resource-arns {version}"
    )));
    assert!(fix("function logs").starts_with("aws logs tail /aws/lambda/fixture --since 60m"));
    // The user's view.
    let (success, text) = doctor_text(&args, &no_server(), &no_credentials());
    assert!(!success);
    println!("{text}");
    assert!(text.contains(
        "[----] trust policy: skipped: no AWS credentials\n       check by hand: aws iam get-role"
    ));
}

#[test]
fn function_version_architecture_timeout_and_the_versions_arn_right_then_wrong() {
    let moto = Moto::start();
    let account = AwsAccount::new(&moto);
    let env = moto.aws_env();
    // The fixture is built for this machine (x86_64 in CI), as the function is by default; the
    // wrong one is the other architecture.
    let (host, other, other_flag, other_architecture) = if cfg!(target_arch = "aarch64") {
        ("arm64", "x86_64", "--x86-64", Architecture::X8664)
    } else {
        ("x86_64", "arm64", "--arm64", Architecture::Arm64)
    };
    let first = account
        .function("fixture")
        .architecture(if host == "arm64" {
            Architecture::Arm64
        } else {
            Architecture::X8664
        })
        .create();
    // The dev server's Worker Controller validates and invokes through moto's Lambda.
    let server_env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let server = DevServer::start(&WCI_FLAGS, &server_env);
    server
        .cli(&["worker", "deployment", "create", "--name", "fixture"])
        .unwrap();
    let bind = |subcommand: Subcommand, arn: &str| {
        let command = VersionCommand::new(subcommand, DeploymentVersion::new("fixture", BUILD_ID))
            .function_arn(arn)
            .without_role();
        server.cli(&command.words()).unwrap_or_else(|error| {
            let command = subcommand.as_str();
            panic!("{command} {arn}: {error}\n{}", moto.output())
        })
    };
    bind(Subcommand::CreateVersion, &first);
    let artifact = ["--artifact", fixture_function!().to_str().unwrap()];
    let with = |more: &[&str]| -> Vec<String> {
        artifact
            .iter()
            .chain(more)
            .map(|arg| arg.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        doctor(&args, &server.address, &env)
    };

    // Right: the version names version 1, published, built like the artifact, 30 s.
    let checks = run(with(&["--function-arn", &first]));
    expect(
        &checks,
        "function exists",
        "passed",
        &format!("GetFunction {first}: {first} (Active)"),
    );
    expect(&checks, "function ARN", "passed", &first);
    expect(
        &checks,
        "published version",
        "passed",
        "version 1 of fixture is published",
    );
    expect(
        &checks,
        "architecture",
        "passed",
        &format!("are both {host}"),
    );
    expect(
        &checks,
        "function timeout",
        "passed",
        "timeout 30 s: 23 s of work after the 7 s shutdown buffer",
    );

    // Wrong: a new version with a 7 s timeout, and the Worker Deployment Version moved to it
    // while the user expects version 1.
    let second = account.publish("fixture", 7);
    bind(Subcommand::UpdateComputeConfig, &second);
    let checks = run(with(&["--function-arn", &first]));
    expect(
        &checks,
        "function ARN",
        "failed",
        &format!("the version invokes {second}, not {first}"),
    );
    expect(
        &checks,
        "published version",
        "passed",
        "version 2 of fixture is published",
    );
    expect(
        &checks,
        "function timeout",
        "failed",
        "timeout 7 s leaves 0 s of work",
    );

    // Wrong: a function for the other architecture.
    let graviton = account
        .function("graviton")
        .architecture(other_architecture)
        .create();
    bind(Subcommand::UpdateComputeConfig, &graviton);
    let checks = run(with(&[]));
    expect(
        &checks,
        "architecture",
        "failed",
        &format!("built for {host} but version 1 runs on {other}"),
    );
    assert!(
        verdict(&checks, "architecture")
            .2
            .contains(&format!("cargo lambda build --release {other_flag}"))
    );

    // Wrong: an alias, which moves.
    let alias = account.alias("fixture", "live", "2");
    bind(Subcommand::UpdateComputeConfig, &alias);
    let checks = run(with(&[]));
    expect(
        &checks,
        "published version",
        "warning",
        "is alias live, now version 2",
    );
    assert!(verdict(&checks, "published version").2.contains(&second));

    // Wrong: the function is gone (deleted after the version was bound).
    account.delete_function("fixture");
    let checks = run(with(&[]));
    expect(
        &checks,
        "function exists",
        "failed",
        "ResourceNotFoundException",
    );
    expect(
        &checks,
        "published version",
        "failed",
        "ResourceNotFoundException",
    );
}

#[test]
fn invocation_role_trust_permissions_and_logs_right_then_wrong() {
    let moto = Moto::start();
    let account = AwsAccount::new(&moto);
    let env = moto.aws_env();
    let first = account.function("fixture").create();
    account.log(
        "fixture",
        &[
            "START RequestId: 1 Version: 1",
            "INFO invocation done duration_ms=1512",
        ],
    );
    // The role exactly as `temporal-serverless role` writes it, deployed by CloudFormation.
    let template = CliRun::new(&cli_binary!(), "role")
        .args(["--function-arn", &first, "--external-id", EXTERNAL_ID])
        .arg("--cloudformation")
        .run()
        .expect_success();
    let outputs = account.stack("temporal-invoke", &template);
    let role = outputs
        .iter()
        .find(|(key, _)| key == "TemporalInvocationRoleArn")
        .map(|(_, arn)| arn.clone())
        .unwrap_or_else(|| panic!("no role ARN in {outputs:?}"));
    assert_eq!(
        role,
        "arn:aws:iam::123456789012:role/temporal-invoke-fixture"
    );
    let address = no_server();
    let run = |function: &str, role: &str, external_id: &str| {
        doctor(
            &[
                "--deployment",
                "fixture",
                "--build-id",
                BUILD_ID,
                "--function-arn",
                function,
                "--role-arn",
                role,
                "--external-id",
                external_id,
            ],
            &address,
            &env,
        )
    };

    // Right.
    let checks = run(&first, &role, EXTERNAL_ID);
    expect(
        &checks,
        "invocation role",
        "passed",
        &format!("{role} exists (from --role-arn)"),
    );
    expect(
        &checks,
        "trust policy",
        "passed",
        &format!("may assume it only with external ID {EXTERNAL_ID}"),
    );
    expect(
        &checks,
        "role permissions",
        "passed",
        &format!("on {first}: lambda:InvokeFunction"),
    );
    // moto has no policy simulator (it answers 500): the evaluator judged, and says so.
    expect(
        &checks,
        "role permissions",
        "passed",
        "judged by doctor's own evaluator of the policies (IAM's policy simulator did not answer",
    );
    expect(
        &checks,
        "function logs",
        "passed",
        "no TemporalServerless.* error in /aws/lambda/fixture in the last 60 min",
    );
    // The user's view of the AWS part.
    let (_, text) = doctor_text(
        &[
            "--deployment",
            "fixture",
            "--build-id",
            BUILD_ID,
            "--function-arn",
            &first,
            "--role-arn",
            &role,
            "--external-id",
            EXTERNAL_ID,
        ],
        &address,
        &env,
    );
    println!("{text}");

    // Wrong external ID: the server would pass another one than the role requires.
    let checks = run(&first, &role, "someone-else-1");
    expect(
        &checks,
        "trust policy",
        "failed",
        "may not assume it with external ID someone-else-1",
    );
    assert!(verdict(&checks, "trust policy").2.starts_with(
        "aws iam update-assume-role-policy --role-name temporal-invoke-fixture --policy-document '"
    ));

    // Wrong permissions: a new version the role does not cover.
    let second = account.publish("fixture", 30);
    let checks = run(&second, &role, EXTERNAL_ID);
    expect(
        &checks,
        "role permissions",
        "failed",
        "lambda:InvokeFunction (not allowed), lambda:GetFunction (not allowed)",
    );
    assert!(verdict(&checks, "role permissions").2.contains(&second));

    // Wrong trust: open to the principals without the external ID (the server refuses it).
    account.set_trust(
        "temporal-invoke-fixture",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::902542641901:role/wci-lambda-invoke"},
            "Action": "sts:AssumeRole"}]}),
    );
    let checks = run(&first, &role, EXTERNAL_ID);
    let (_, saw, _) = verdict(&checks, "trust policy");
    expect(
        &checks,
        "trust policy",
        "failed",
        "may assume it without the external ID",
    );
    assert!(
        saw.contains("160190466495") && saw.contains("may not assume it"),
        "{saw}"
    );

    // Wrong trust, adversarially: Temporal gets in only with the external ID, but so does
    // anyone else with it (the confused deputy), or Temporal with any ID at all.
    for (statement, says) in [
        (
            serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "*"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}),
            "principals other than",
        ),
        (
            serde_json::json!({"Effect": "Allow",
                "Principal": {"AWS": temporal_serverless_cli::invocation_role::TEMPORAL_CLOUD_PRINCIPALS},
                "Action": "sts:AssumeRole",
                "Condition": {"StringLike": {"sts:ExternalId": "*"}}}),
            "may assume it with another external ID",
        ),
    ] {
        account.set_trust(
            "temporal-invoke-fixture",
            &serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}),
        );
        let checks = run(&first, &role, EXTERNAL_ID);
        expect(&checks, "trust policy", "failed", says);
    }
    // A right trust policy around a guessable external ID is a warning.
    let weak = "fixture-prod";
    account.set_trust(
        "temporal-invoke-fixture",
        &temporal_serverless_cli::invocation_role::trust_policy(
            &temporal_serverless_cli::invocation_role::Principals::TemporalCloud,
            weak,
        ),
    );
    let checks = run(&first, &role, weak);
    expect(&checks, "trust policy", "warning", "is easy to guess");

    // Wrong role: none by that name.
    let missing = "arn:aws:iam::123456789012:role/temporal-invoke-missing";
    let checks = run(&first, missing, EXTERNAL_ID);
    expect(&checks, "invocation role", "failed", "does not exist");
    assert!(
        verdict(&checks, "invocation role")
            .2
            .contains("temporal-serverless role --function-arn")
    );

    // Errors in the logs: the guard's verdicts and a cold start's error type, counted.
    account.log(
        "fixture",
        &[
            r#"INFO deployment guard guard_ms=412 verdict=Err("TemporalServerless.BuildMismatch")"#,
            r#"INFO deployment guard guard_ms=398 verdict=Err("TemporalServerless.BuildMismatch")"#,
            "ERROR the function cannot start error=no task queue error_type=TemporalServerless.NoTaskQueue",
        ],
    );
    let checks = run(&first, &role, EXTERNAL_ID);
    expect(
        &checks,
        "function logs",
        "warning",
        "TemporalServerless.BuildMismatch ×2",
    );
    expect(
        &checks,
        "function logs",
        "warning",
        "TemporalServerless.NoTaskQueue ×1",
    );
    assert!(
        verdict(&checks, "function logs")
            .2
            .contains("BuildMismatch: invoked for another build")
    );

    // No log group at all: the function never logged.
    let other = account.function("silent").create();
    let checks = run(&other, &role, EXTERNAL_ID);
    expect(
        &checks,
        "function logs",
        "warning",
        "no log group /aws/lambda/silent",
    );
}
