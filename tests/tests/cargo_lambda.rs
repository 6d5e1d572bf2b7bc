//! Running a function off Lambda, as Rust teams do before they deploy: `cargo lambda watch`
//! serving the hello example and `cargo lambda invoke` (the real tool, from `scripts/setup`),
//! against the real dev server; and the binary run by hand, with and without a dry run.

use std::{
    process::{Command, Stdio},
    time::Duration,
};
use temporal_serverless_tests::{
    cargo_lambda::{Watch, build_bin},
    dev_server::DevServer,
    fixture_function,
};

/// The local work time the test sets, to see that the variable is what decides it.
const LOCAL_WORK_TIME_S: u64 = 20;
/// How long one `cargo lambda invoke` may take: the local work time, the shutdown buffer (7 s),
/// and `cargo run` finding the prebuilt binary fresh.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(LOCAL_WORK_TIME_S + 40);
/// The first invocation also waits for `watch` to build and start the function: a no-op build
/// after `build_bin`, but bounded as a build, should `watch` find something left to compile.
const FIRST_INVOKE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Invocations given to the workflow after its start (each ends after 500 ms without a task).
const MAX_INVOCATIONS: usize = 5;

#[test]
fn cargo_lambda_watch_and_invoke_run_a_worker_that_completes_a_workflow() {
    let server = DevServer::start_default();
    // Built here, with the workspace's target directory, so that the build `watch` starts for the
    // first invocation has nothing to do (and the invocation is not a compile's wait).
    build_bin("hello");
    let watch = Watch::start(
        "hello",
        &[
            ("TEMPORAL_ADDRESS", server.address.as_str()),
            ("TEMPORAL_NAMESPACE", "default"),
            (
                temporal_serverless::deadline::LOCAL_WORK_TIME_VARIABLE,
                &LOCAL_WORK_TIME_S.to_string(),
            ),
        ],
    );
    let invoke_within = |timeout| {
        watch
            .invoke("hello", "{}", timeout)
            .unwrap_or_else(|error| panic!("{error}\n{}", watch.output()))
    };
    let invoke = || invoke_within(INVOKE_TIMEOUT);

    // watch sends a deadline of 600000 ms (1970) and the invoked ARN `function-arn`: the
    // invocation works for the local work time instead of failing as too short, and polls for
    // its version (creating it: nothing guards it off Lambda).
    let registration = invoke_within(FIRST_INVOKE_TIMEOUT);
    assert_eq!(registration["deployment"], "hello", "{registration:#}");
    // The local work time from the variable (the deadline is set a moment before the plan).
    let work_time_ms = registration["work_time_ms"].as_u64().unwrap();
    assert!(
        (LOCAL_WORK_TIME_S * 1000 - 100..=LOCAL_WORK_TIME_S * 1000).contains(&work_time_ms),
        "{registration:#}"
    );
    let build_id = registration["build_id"].as_str().unwrap().to_owned();
    server.make_current("hello", &build_id);

    server
        .start_workflow("hello", "Hello", "hello-cargo-lambda", "\"cargo lambda\"")
        .unwrap();
    let mut invocations = 0;
    while !server.is_completed("hello-cargo-lambda") {
        assert!(
            invocations < MAX_INVOCATIONS,
            "the workflow did not complete in {MAX_INVOCATIONS} invocations\n{}",
            watch.output()
        );
        let answer = invoke();
        assert_eq!(answer["build_id"], build_id.as_str(), "{answer:#}");
        invocations += 1;
    }
    let result = server
        .cli_json(&["workflow", "result", "--workflow-id", "hello-cargo-lambda"])
        .unwrap();
    assert_eq!(result["result"], "Hello, cargo lambda!", "{result:#}");
    // Its tasks were taken by the invocations' workers: `<request id>@<invoked ARN>`.
    let identities = server.task_identities("hello-cargo-lambda");
    assert!(
        !identities.is_empty()
            && identities
                .iter()
                .all(|identity| identity.ends_with("@function-arn")),
        "{identities:?}"
    );

    let output = temporal_serverless_tests::strip_ansi(&watch.output());
    assert_eq!(
        output.matches("cannot be Lambda's").count(),
        1,
        "one warning per process about the emulator's deadline:\n{output}"
    );
    assert!(
        output.contains("deployment guard skipped") && output.contains("this is not Lambda"),
        "{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    println!(
        "workflow completed through cargo lambda invoke after {invocations} invocation(s) past the registration"
    );
}

/// The fixture function run as a user runs a binary by hand: no Lambda variable at all.
fn run_by_hand(envs: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(fixture_function!())
        .env_clear()
        .env("TEMPORAL_TASK_QUEUE", "by-hand")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the fixture starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn off_lambda_a_dry_run_prints_the_manifest_and_a_run_says_what_to_do_without_panicking() {
    let (ok, output) = run_by_hand(&[(temporal_serverless::DRY_RUN_VARIABLE, "1")]);
    assert!(ok, "{output}");
    assert!(
        output.contains("deployment=fixture") && output.contains("task_queue=by-hand"),
        "{output}"
    );

    let (ok, output) = run_by_hand(&[]);
    let output = temporal_serverless_tests::strip_ansi(&output);
    assert!(!ok, "{output}");
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        output.contains("not running on Lambda")
            && output.contains("AWS_LAMBDA_RUNTIME_API")
            && output.contains("cargo lambda watch"),
        "{output}"
    );
}

/// A local work time that cannot be one is a configuration error naming the variable, at once.
#[test]
fn a_wrong_local_work_time_is_refused_at_start() {
    let (ok, output) = run_by_hand(&[
        (temporal_serverless::DRY_RUN_VARIABLE, "1"),
        (
            temporal_serverless::deadline::LOCAL_WORK_TIME_VARIABLE,
            "1h",
        ),
    ]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("TEMPORAL_SERVERLESS_LOCAL_WORK_TIME") && output.contains("2 to 900"),
        "{output}"
    );
}
