//! Secrets never print: a sentinel API key (and TLS key) through every path that shows text to
//! a person or a log — the function's error and log for a broken `temporal.toml`, and the
//! `temporal-serverless` command's `deploy --print`, its errors when the `temporal` CLI fails,
//! and `doctor` in text and `--json`. The function runs as Lambda runs it (Runtime API);
//! the command drives the real `temporal` CLI, against a port where nothing listens.

use serde_json::{Value, json};
use std::time::Duration;
use temporal_serverless::{lambda_arn::strip_qualifier, redact::SENTINEL};
use temporal_serverless_tests::{
    cli_binary,
    cli_run::{CliOutput, CliRun},
    dev_server::temporal_cli,
    fixture_function, free_port,
    function_process::FunctionProcess,
    runtime_api::{FUNCTION_ARN, Outcome, RuntimeApi},
};

/// Fails the test if `text` (called `what`) holds any part of the sentinel.
fn assert_no_sentinel(what: &str, text: &str) {
    assert!(
        !text.contains("SENTINEL") && !text.contains("7f3a9c"),
        "the secret shows in {what}:\n{text}"
    );
}

/// The error the function reports for its first invocation with `config` as its
/// `temporal.toml`: (error document, everything the process printed). The connection settings
/// are read when that invocation connects, so the mistake is the invocation's error, not an
/// init error.
fn first_invocation_with_config(name: &str, config: &str) -> (Value, String) {
    let dir = std::env::temp_dir().join(format!("tsls-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, config).unwrap();
    let api = RuntimeApi::start();
    let function = FunctionProcess::of(fixture_function!())
        .env("TEMPORAL_CONFIG_FILE", file.to_str().unwrap())
        .task_queue("secrets")
        .spawn(&api);
    let invocation = api.invoke(json!({}), Duration::from_secs(9));
    let Outcome::Error(error) = invocation.outcome else {
        panic!(
            "{name}: no invocation error but {:?}\n{}",
            invocation.outcome,
            function.output()
        );
    };
    let _ = std::fs::remove_file(&file);
    (error, function.output())
}

#[test]
fn a_broken_temporal_toml_never_shows_its_api_key_in_the_error_or_the_log() {
    let profile = "[profile.default]\naddress = \"127.0.0.1:7233\"\n";
    let cases = [
        // The mistake is on the api_key line: the TOML error quotes that line.
        (
            "unterminated-key.toml",
            format!("{profile}api_key = \"{SENTINEL}\n"),
            "line 3",
        ),
        // A mistake inside a multi-line TLS key: the quoted line has no name on it.
        (
            "bad-escape-in-tls-key.toml",
            format!(
                "{profile}[profile.default.tls]\nclient_key_data = \"\"\"\n-----BEGIN PRIVATE KEY-----\nMIIE\\q{SENTINEL}\n-----END PRIVATE KEY-----\n\"\"\"\n"
            ),
            "line 6",
        ),
    ];
    for (name, config, line) in cases {
        let (error, output) = first_invocation_with_config(name, &config);
        assert_eq!(
            error["errorType"], "TemporalServerless.Configuration",
            "{error:#}"
        );
        let message = error["errorMessage"].as_str().unwrap_or_default();
        // Still says where and what the mistake is.
        assert!(
            message.contains(name)
                && message.contains(line)
                && message.contains("Configuration loading error: TOML parse error"),
            "{message}"
        );
        assert_no_sentinel("the invocation's errorMessage", &error.to_string());
        assert_no_sentinel("the function's log", &output);
    }
}

/// `temporal-serverless SUBCOMMAND` for the fixture artifact, driving the real `temporal` CLI,
/// with `options` and then `connection` after `--`; bounded by the `temporal` CLI's own time-outs.
fn temporal_serverless(subcommand: &str, options: &[&str], connection: &[String]) -> CliOutput {
    CliRun::new(&cli_binary!(), subcommand)
        .artifact(fixture_function!())
        // A published version of the function the fixture is invoked as (deploy takes no alias).
        .args([
            "--function-arn",
            &format!("{}:1", strip_qualifier(FUNCTION_ARN)),
        ])
        .temporal_cli()
        .args(options)
        .connection(connection)
        .env_remove("TEMPORAL_API_KEY")
        .run()
}

/// Connection arguments with the sentinel in every secret flag, for a server that is not there.
fn secret_connection(address: &str) -> Vec<String> {
    [
        "--address",
        address,
        "--api-key",
        SENTINEL,
        "--tls-key-data",
        &format!("-----BEGIN PRIVATE KEY-----\nMIIE{SENTINEL}\n-----END PRIVATE KEY-----"),
        "--codec-auth",
        &format!("Bearer {SENTINEL}"),
        "--grpc-meta",
        &format!("authorization={SENTINEL}"),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn deploy_print_masks_the_secret_connection_arguments() {
    let connection = secret_connection("ns.tmprl.cloud:7233");
    let output = temporal_serverless(
        "deploy",
        &["--set-current", "--print", "--skip-code-check"],
        &connection,
    );
    let CliOutput {
        success,
        stdout,
        stderr,
    } = output;
    assert!(success, "{stdout}{stderr}");
    assert_no_sentinel("deploy --print", &stdout);
    assert_no_sentinel("deploy --print's notes", &stderr);
    // Three commands, each with the masked connection, the rest intact.
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    for command in stdout.lines() {
        assert!(
            command.starts_with(temporal_cli().to_str().unwrap()),
            "{command}"
        );
        assert!(
            command.contains(
                "--address ns.tmprl.cloud:7233 --api-key '***' --tls-key-data '***' --codec-auth '***' --grpc-meta 'authorization=***'"
            ),
            "{command}"
        );
    }
    assert!(stderr.contains("shown as ***"), "{stderr}");
}

#[test]
fn a_failing_temporal_command_in_deploy_and_doctor_shows_no_secret() {
    let address = format!("127.0.0.1:{}", free_port());
    let connection = secret_connection(&address);
    let output = temporal_serverless("deploy", &["--skip-code-check"], &connection);
    let stderr = &output.stderr;
    assert!(!output.success, "deploy to nowhere succeeded");
    assert!(
        stderr.contains("--api-key ***") && stderr.contains("failed"),
        "{stderr}"
    );
    assert_no_sentinel("deploy's error", stderr);
    assert_no_sentinel("deploy's output", &output.stdout);

    // doctor quotes every failed command in what its checks saw.
    for format in [None, Some("--json")] {
        let output = temporal_serverless("doctor", format.as_slice(), &connection);
        let CliOutput {
            success,
            stdout,
            stderr,
        } = output;
        assert!(!success, "doctor of nowhere passed: {stdout}");
        assert!(stdout.contains("--api-key ***"), "{stdout}");
        if format.is_some() {
            serde_json::from_str::<Value>(&stdout)
                .unwrap_or_else(|error| panic!("{error}: {stdout}"));
        }
        assert_no_sentinel("doctor's report", &stdout);
        assert_no_sentinel("doctor's errors", &stderr);
    }
}
