//! `temporal-serverless inspect` on the built examples: it must report exactly what the binary
//! itself serves (its dry run), in text and JSON, also after `strip`, as deploy artifacts are.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The CLI sits beside the examples in the same target directory; `cargo test --workspace`
/// (the README's test command) builds it with them.
fn cli() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_hello")).with_file_name("temporal-serverless");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds the CLI",
        path.display()
    );
    path
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "hello" => env!("CARGO_BIN_EXE_hello"),
        _ => env!("CARGO_BIN_EXE_shop"),
    })
}

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("the command starts");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// What the function reports about itself without serving (first line of the dry run).
fn dry_run_identity(binary: &Path) -> String {
    let (ok, stdout, stderr) = run(Command::new(binary).env("TEMPORAL_SERVERLESS_DRY_RUN", "1"));
    assert!(ok, "dry run of {} failed: {stderr}", binary.display());
    let first = stdout.lines().next().unwrap_or_default();
    first.split(" task_queue=").next().unwrap().to_owned()
}

#[test]
fn inspect_reports_what_each_example_serves() {
    for name in ["hello", "shop"] {
        let binary = example(name);
        let expected = dry_run_identity(&binary);
        assert!(
            expected.starts_with(&format!("deployment={name} build_id=")),
            "{expected}"
        );

        let (ok, stdout, stderr) = run(Command::new(cli()).arg("inspect").arg(&binary));
        assert!(ok, "inspect failed: {stderr}");
        assert_eq!(stdout.trim(), expected);

        let (ok, stdout, _) = run(Command::new(cli()).args(["inspect", "--json"]).arg(&binary));
        assert!(ok);
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["deployment"], name);
        assert_eq!(
            format!(
                "deployment={} build_id={}",
                json["deployment"].as_str().unwrap(),
                json["build_id"].as_str().unwrap()
            ),
            expected
        );
    }
}

#[test]
fn inspect_survives_strip() {
    let binary = example("hello");
    let stripped =
        std::env::temp_dir().join(format!("tsls-inspect-stripped-{}", std::process::id()));
    let (ok, _, stderr) = run(Command::new("strip").arg("-o").arg(&stripped).arg(&binary));
    assert!(ok, "strip failed: {stderr}");
    let (ok, stdout, stderr) = run(Command::new(cli()).arg("inspect").arg(&stripped));
    let _ = std::fs::remove_file(&stripped);
    assert!(ok, "inspect of the stripped binary failed: {stderr}");
    assert_eq!(stdout.trim(), dry_run_identity(&binary));
}

#[test]
fn deploy_prints_the_real_aws_commands_with_the_artifact_build_id() {
    let binary = example("hello");
    let identity = dry_run_identity(&binary);
    let build_id = identity.split("build_id=").nth(1).unwrap();
    // A published version (an alias is refused: aliases move); with --print and no AWS
    // credentials here, the version's code is not checked against the artifact.
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:hello:7";
    let (ok, stdout, stderr) = run(Command::new(cli())
        .args([
            "deploy",
            "--print",
            "--set-current",
            "--skip-code-check",
            "--function-arn",
            arn,
        ])
        .args([
            "--role-arn",
            "arn:aws:iam::123456789012:role/temporal-invoker",
            "--external-id",
            "ext-42",
        ])
        .arg("--artifact")
        .arg(&binary)
        .args(["--", "--namespace", "prod"]));
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].ends_with("worker deployment create --name hello --namespace prod"),
        "{stdout}"
    );
    assert!(
        lines[1].contains(&format!("create-version --deployment-name hello --build-id {build_id} --aws-lambda-function-arn {arn}"))
            && lines[1].contains("--aws-lambda-assume-role-arn arn:aws:iam::123456789012:role/temporal-invoker")
            && lines[1].contains("--aws-lambda-assume-role-external-id ext-42"),
        "{stdout}"
    );
    assert!(
        lines[2].contains(&format!(
            "set-current-version --deployment-name hello --build-id {build_id} --yes"
        )),
        "{stdout}"
    );
}

#[test]
fn the_observed_example_configures_opentelemetry() {
    let (ok, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_observed"))
        .env("TEMPORAL_SERVERLESS_DRY_RUN", "1")
        .env("AWS_LAMBDA_FUNCTION_NAME", "payments-fn")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME"));
    assert!(ok, "dry run failed: {stderr}");
    assert!(
        stdout.contains(
            "opentelemetry metrics=true traces=true endpoint=http://localhost:4317 service_name=payments-fn"
        ),
        "{stdout}"
    );
}
