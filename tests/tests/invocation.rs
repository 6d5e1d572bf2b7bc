//! End-to-end: the fixture function, driven through the Lambda Runtime API, against the real
//! Temporal dev server. Each test starts its own server and function and stops them by PID.

use serde_json::{Value, json};
use std::{
    path::Path,
    time::{Duration, Instant},
};
use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};
use temporal_serverless_tests::{
    dev_server::DevServer,
    free_port,
    function_process::FunctionProcess,
    logged_numbers,
    runtime_api::{FUNCTION_ARN, Invocation, Outcome, RuntimeApi},
    strip_ansi,
};

const BUILD_ID: &str = env!("FIXTURE_BUILD_ID");

/// The fixture binary: the debug build cargo made for this test, or `TSLS_FIXTURE_BINARY` (e.g.
/// a release build, to measure latencies as users would see them).
fn fixture() -> &'static Path {
    static BINARY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        std::env::var_os("TSLS_FIXTURE_BINARY")
            .map(Into::into)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_fixture_function").into())
    })
}

/// A dev server, a Runtime API and a fixture function polling `task_queue` on that server.
struct Loop {
    server: DevServer,
    api: RuntimeApi,
    function: FunctionProcess,
    task_queue: String,
}

impl Loop {
    fn start(task_queue: &str) -> Self {
        Self::start_with(task_queue, DevServer::start_default())
    }

    fn start_with(task_queue: &str, server: DevServer) -> Self {
        let api = RuntimeApi::start();
        // These tests register the version by polling, on a server without a Worker
        // Controller: the manual run the guard's switch is for.
        let function = FunctionProcess::of(fixture())
            .server(&server.address)
            .task_queue(task_queue)
            .guard_off()
            .spawn(&api);
        Self {
            server,
            api,
            function,
            task_queue: task_queue.to_owned(),
        }
    }

    /// Registers the version by one invocation's polls, then makes it current, as a deploy
    /// would, so that new workflows on the task queue are routed to it.
    fn deploy(&self) {
        let registration = self.invoke(Duration::from_secs(9));
        self.expect_response(&registration);
        self.server.make_current("fixture", BUILD_ID);
    }

    fn invoke(&self, timeout: Duration) -> Invocation {
        self.api.invoke(json!({}), timeout)
    }

    fn expect_response(&self, invocation: &Invocation) {
        assert!(
            matches!(invocation.outcome, Outcome::Response(_)),
            "{:?}\n{}",
            invocation.outcome,
            self.function.output()
        );
        assert!(
            invocation.margin_ms > 0,
            "answered {} ms after the deadline",
            -invocation.margin_ms
        );
    }

    fn start_workflow(&self, workflow_type: &str, id: &str, input: &str) {
        self.server
            .start_workflow(&self.task_queue, workflow_type, id, input)
            .unwrap();
    }

    fn describe(&self, id: &str) -> Value {
        self.server
            .cli_json(&["workflow", "describe", "--workflow-id", id])
            .unwrap()
    }

    fn expect_completed(&self, id: &str) -> Value {
        let description = self.describe(id);
        assert_eq!(
            status(&description),
            "WORKFLOW_EXECUTION_STATUS_COMPLETED",
            "{description:#}\n{}",
            self.function.output()
        );
        description
    }
}

/// The error message of an invocation that must have failed with `error_type`.
fn expect_error(invocation: &Invocation, function: &FunctionProcess, error_type: &str) -> String {
    let Outcome::Error(error) = &invocation.outcome else {
        panic!(
            "expected an error, got {:?}\n{}",
            invocation.outcome,
            function.output()
        );
    };
    assert_eq!(error["errorType"], error_type, "{error:#}");
    error["errorMessage"].as_str().unwrap().to_owned()
}

fn status(description: &Value) -> &str {
    description["workflowExecutionInfo"]["status"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn a_workflow_completes_within_one_invocation_and_warm_invocations_reuse_the_connection() {
    let lambda = Loop::start("e2e-one-invocation");
    lambda.deploy();
    lambda.start_workflow("Greet", "greet-1", "\"World\"");
    let invocation = lambda.invoke(Duration::from_secs(10));
    lambda.expect_response(&invocation);
    lambda.expect_completed("greet-1");
    let result = lambda
        .server
        .cli_json(&["workflow", "result", "--workflow-id", "greet-1"])
        .unwrap();
    assert_eq!(result["result"], "Hello, World!", "{result:#}");

    let output = lambda.function.output();
    assert_eq!(
        output.matches("connected to Temporal").count(),
        1,
        "one connection for two invocations:\n{output}"
    );
    let first_polls = logged_numbers(&output, "first poll sent", "since_invocation_start_us");
    let since_spawn = logged_numbers(&output, "first poll sent", "since_process_start_us");
    assert_eq!(first_polls.len(), 2, "{output}");
    println!(
        "first poll after invocation start: cold {} µs (process start → first poll {} µs), warm {} µs",
        first_polls[0], since_spawn[0], first_polls[1]
    );
}

#[test]
fn mixed_versioning_behaviors_are_recorded_by_the_server() {
    let lambda = Loop::start("e2e-mixed-versioning");
    lambda.deploy();
    lambda.start_workflow("Greet", "pinned-1", "\"Pinned\"");
    lambda.start_workflow("SlowActivity", "auto-1", "100");
    lambda.expect_response(&lambda.invoke(Duration::from_secs(10)));
    for (id, behavior) in [
        ("pinned-1", "VERSIONING_BEHAVIOR_PINNED"),
        ("auto-1", "VERSIONING_BEHAVIOR_AUTO_UPGRADE"),
    ] {
        let description = lambda.expect_completed(id);
        let info = &description["workflowExecutionInfo"]["versioningInfo"];
        assert_eq!(info["behavior"], behavior, "{id}: {info:#}");
        assert_eq!(
            info["deploymentVersion"]["buildId"], BUILD_ID,
            "{id}: {info:#}"
        );
    }
}

#[test]
fn an_activity_longer_than_the_work_time_completes_in_a_later_invocation() {
    let lambda = Loop::start("e2e-long-activity");
    lambda.deploy();
    // 12 s: longer than the first invocation's work time (3 s) plus graceful shutdown (5 s).
    lambda.start_workflow("SlowActivity", "slow-1", "12000");
    let short = lambda.invoke(Duration::from_secs(10));
    lambda.expect_response(&short);
    assert_eq!(
        status(&lambda.describe("slow-1")),
        "WORKFLOW_EXECUTION_STATUS_RUNNING"
    );
    // Invoke again as the Worker Controller would while work is pending, until it completes.
    let mut invocations = 0;
    let mut long = lambda.invoke(Duration::from_secs(30));
    loop {
        invocations += 1;
        lambda.expect_response(&long);
        if status(&lambda.describe("slow-1")) == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
            || invocations == 10
        {
            break;
        }
        long = lambda.invoke(Duration::from_secs(30));
    }
    let description = lambda.expect_completed("slow-1");
    let result = lambda
        .server
        .cli_json(&["workflow", "result", "--workflow-id", "slow-1"])
        .unwrap();
    assert_eq!(result["result"], 12000, "{result:#} {description:#}");
    println!(
        "short invocation answered {} ms before its deadline; completed after {invocations} more invocation(s), the last {} ms before its deadline",
        short.margin_ms, long.margin_ms
    );
}

#[test]
fn no_poll_is_outstanding_after_an_invocation_returns() {
    let lambda = Loop::start("e2e-no-outstanding-poll");
    lambda.deploy();
    lambda.expect_response(&lambda.invoke(Duration::from_secs(9)));
    // The process is alive (as a frozen Lambda would be) but between invocations: a poll left
    // open would take this task and hold it until its timeout.
    lambda.start_workflow("Greet", "after-return", "\"Late\"");
    std::thread::sleep(Duration::from_secs(3));
    let description = lambda.describe("after-return");
    assert_eq!(
        description["pendingWorkflowTask"]["state"], "PENDING_WORKFLOW_TASK_STATE_SCHEDULED",
        "a task was taken between invocations: {description:#}"
    );
    lambda.expect_response(&lambda.invoke(Duration::from_secs(10)));
    lambda.expect_completed("after-return");
}

#[test]
fn a_deadline_too_short_fails_at_once_naming_both_numbers() {
    let api = RuntimeApi::start();
    // Nothing listens here: the invocation must fail before trying to connect.
    let address = format!("127.0.0.1:{}", free_port());
    let function = FunctionProcess::of(fixture())
        .env("TEMPORAL_ADDRESS", &address)
        .task_queue("q")
        .spawn(&api);
    let invocation = api.invoke(json!({}), Duration::from_secs(8));
    let message = expect_error(
        &invocation,
        &function,
        "TemporalServerless.DeadlineTooShort",
    );
    assert!(
        message.contains("buffer is 7000 ms") && message.contains("ms remain"),
        "{message}"
    );
    assert!(
        invocation.duration < Duration::from_secs(1),
        "took {:?}",
        invocation.duration
    );
}

#[test]
fn an_unreachable_server_is_classified_within_the_bound_and_the_api_key_never_shows() {
    const API_KEY: &str = "tsls-test-secret-api-key-5f3a9c";
    let api = RuntimeApi::start();
    let address = format!("127.0.0.1:{}", free_port());
    let function = FunctionProcess::of(fixture())
        .env("TEMPORAL_ADDRESS", &address)
        .task_queue("q")
        .env("TEMPORAL_API_KEY", API_KEY)
        .env("TEMPORAL_TLS", "false")
        .spawn(&api);
    let started = Instant::now();
    // 20 s: work time 13 s, so the connection bound is min(13 s / 2, 10 s) = 6.5 s.
    let invocation = api.invoke(json!({}), Duration::from_secs(20));
    let elapsed = started.elapsed();
    let message = expect_error(&invocation, &function, "TemporalServerless.Connection");
    assert!(message.contains(&address), "{message}");
    assert!(
        elapsed < Duration::from_millis(7_500),
        "took {elapsed:?}, bound is 6.5 s"
    );
    let output = function.output();
    assert!(
        !message.contains(API_KEY),
        "API key in the error: {message}"
    );
    assert!(!output.contains(API_KEY), "API key in the log:\n{output}");
    println!("connection failure classified after {elapsed:?}: {message}");
}

#[test]
fn config_file_precedence_and_a_bad_file_named_with_its_line() {
    let server = DevServer::start_default();
    let dir = std::env::temp_dir().join(format!("tsls-config-{}", std::process::id()));
    let task_root = dir.join("task-root");
    std::fs::create_dir_all(&task_root).unwrap();
    let profile = |address: &str| {
        format!("[profile.default]\naddress = \"{address}\"\nnamespace = \"default\"\n")
    };
    std::fs::write(task_root.join("temporal.toml"), profile(&server.address)).unwrap();
    let dead_address = format!("127.0.0.1:{}", free_port());
    let explicit = dir.join("explicit.toml");
    std::fs::write(&explicit, profile(&dead_address)).unwrap();
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[profile.default]\naddress = \"unterminated\n").unwrap();

    let run = |config_file: Option<&Path>| {
        let api = RuntimeApi::start();
        let mut function = FunctionProcess::of(fixture())
            .env("LAMBDA_TASK_ROOT", task_root.to_str().unwrap())
            .task_queue("e2e-config")
            // A server without a Worker Controller: no version to guard.
            .guard_off();
        if let Some(file) = config_file {
            function = function.env("TEMPORAL_CONFIG_FILE", file.to_str().unwrap());
        }
        let function = function.spawn(&api);
        let invocation = api.invoke(json!({}), Duration::from_secs(9));
        (invocation.outcome, function.output())
    };

    // $LAMBDA_TASK_ROOT/temporal.toml names the live server.
    let (outcome, output) = run(None);
    assert!(
        matches!(outcome, Outcome::Response(_)),
        "{outcome:?}\n{output}"
    );
    // TEMPORAL_CONFIG_FILE wins over it.
    let (outcome, output) = run(Some(&explicit));
    let Outcome::Error(error) = outcome else {
        panic!("{outcome:?}\n{output}")
    };
    assert_eq!(error["errorType"], "TemporalServerless.Connection");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains(&dead_address),
        "{error:#}"
    );
    // A broken file is named, with its line.
    let (outcome, output) = run(Some(&broken));
    let Outcome::Error(error) = outcome else {
        panic!("{outcome:?}\n{output}")
    };
    assert_eq!(error["errorType"], "TemporalServerless.Configuration");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.contains(broken.to_str().unwrap()) && message.contains("line 2"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_connection_that_died_between_invocations_is_replaced_without_failing() {
    let db = std::env::temp_dir().join(format!("tsls-reconnect-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let server = DevServer::start(&["--db-filename", db.to_str().unwrap()], &[]);
    let mut lambda = Loop::start_with("e2e-reconnect", server);
    // Cold invocation: connects.
    lambda.expect_response(&lambda.invoke(Duration::from_secs(9)));
    // The server goes away and comes back while the process sits between invocations, as a
    // frozen Lambda's connection would be cut by an idle timeout or a server deploy.
    lambda.server.restart();
    // The warm invocations find the connection dead: they must reconnect underneath and serve.
    lambda.deploy();
    lambda.start_workflow("Greet", "after-restart", "\"Again\"");
    let invocation = lambda.invoke(Duration::from_secs(10));
    lambda.expect_response(&invocation);
    lambda.expect_completed("after-restart");
    let output = lambda.function.output();
    assert_eq!(
        output.matches("connected to Temporal").count(),
        1,
        "the client was kept:\n{output}"
    );
    drop(lambda);
    let _ = std::fs::remove_file(&db);
}

#[test]
fn an_invocation_with_nothing_to_do_ends_after_the_idle_window() {
    let lambda = Loop::start("e2e-idle-exit");
    lambda.deploy();
    // A 30 s deadline leaves 23 s of work time; with no task, the default 500 ms idle window and
    // the drain of outstanding polls (≤ 1.5 s) end it.
    let idle = lambda.invoke(Duration::from_secs(30));
    lambda.expect_response(&idle);
    assert!(
        idle.duration >= Duration::from_millis(500) && idle.duration < Duration::from_secs(4),
        "idle invocation took {:?}",
        idle.duration
    );
    // Work in hand is never cut short by the idle window: a 3 s activity outlives it.
    lambda.start_workflow("SlowActivity", "busy-1", "3000");
    let busy = lambda.invoke(Duration::from_secs(30));
    lambda.expect_response(&busy);
    lambda.expect_completed("busy-1");
    let output = strip_ansi(&lambda.function.output());
    assert!(
        output.contains("stop_reason=\"idle after ")
            && output.contains("(window 500 ms, configured)"),
        "{output}"
    );
    println!(
        "idle invocation: {:?}; invocation with a 3 s activity: {:?}",
        idle.duration, busy.duration
    );
}

#[test]
fn a_panicking_shutdown_hook_fails_the_hook_not_the_process() {
    let server = DevServer::start_default();
    let api = RuntimeApi::start();
    let function = FunctionProcess::of(fixture())
        .server(&server.address)
        .task_queue("e2e-panicking-hook")
        .guard_off()
        .env("FIXTURE_IDLE_EXIT_MS", "50")
        .env("FIXTURE_PANICKING_HOOK", "1")
        .spawn(&api);
    for _ in 0..2 {
        let invocation = api.invoke(json!({}), Duration::from_secs(9));
        let Outcome::Response(answer) = &invocation.outcome else {
            panic!("{:?}\n{}", invocation.outcome, function.output());
        };
        assert_eq!(answer["failed_hooks"], 1, "{answer:#}");
    }
    let output = strip_ansi(&function.output());
    assert_eq!(
        output.matches("panicked: fixture hook bug").count(),
        2,
        "each invocation logs its hook's panic:\n{output}"
    );
}

/// The guard's verdict of one invocation by a fresh process (the guard runs once per process),
/// connected to `namespace`.
fn guarded_invocation(
    server: &DevServer,
    namespace: &str,
    guard: &str,
) -> (Invocation, FunctionProcess) {
    let api = RuntimeApi::start();
    let function = FunctionProcess::of(fixture())
        .server(&server.address)
        .namespace(namespace)
        .task_queue("e2e-guard")
        .guard(guard)
        .spawn(&api);
    let invocation = api.invoke(json!({}), Duration::from_secs(20));
    (invocation, function)
}

/// The `temporal worker deployment SUBCOMMAND` the guard names as the fix for the fixture's
/// version.
fn fix_command(subcommand: &str) -> String {
    format!(
        "{subcommand} --namespace default --deployment-name fixture --build-id {BUILD_ID} --aws-lambda-function-arn {FUNCTION_ARN}"
    )
}

fn version_exists(server: &DevServer) -> bool {
    let version = DeploymentVersion::new("fixture", BUILD_ID);
    let describe = VersionCommand::new(Subcommand::DescribeVersion, version);
    server.cli(&describe.words()).is_ok()
}

#[test]
fn the_guard_refuses_to_poll_for_a_version_that_is_missing_or_has_no_compute_provider() {
    let server = DevServer::start_default();

    // Version missing: the invocation fails at once, with the fixing command, and polls nothing.
    let (invocation, function) = guarded_invocation(&server, "default", "on");
    let message = expect_error(&invocation, &function, "TemporalServerless.VersionNotReady");
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        message.contains(&fix_command("create-version")),
        "{message}"
    );
    assert!(
        invocation.duration < Duration::from_secs(3),
        "{invocation:?}"
    );
    assert!(
        !version_exists(&server),
        "the guarded invocation must not have polled (a poll creates the version)"
    );

    // The Lambda invoked by hand first, without the guard: its poll creates the version, with no
    // compute provider — the troubleshooting guide's missing Worker Controller Instance.
    let (invocation, function) = guarded_invocation(&server, "default", "off");
    assert!(
        matches!(invocation.outcome, Outcome::Response(_)),
        "{invocation:?}\n{}",
        function.output()
    );
    assert!(version_exists(&server));

    // From then on the guard names that state.
    let (invocation, function) = guarded_invocation(&server, "default", "on");
    let message = expect_error(&invocation, &function, "TemporalServerless.VersionNotReady");
    assert!(message.contains("no compute provider"), "{message}");
    assert!(
        message.contains(&fix_command("update-version-compute-config")),
        "{message}"
    );
    println!("guard: {message}");
}

#[test]
fn a_namespace_the_server_does_not_know_is_reported_as_such_not_as_a_missing_version() {
    let server = DevServer::start_default();
    let (invocation, function) = guarded_invocation(&server, "no-such-namespace", "on");
    let message = expect_error(
        &invocation,
        &function,
        "TemporalServerless.NamespaceNotFound",
    );
    assert!(
        message.contains("namespace no-such-namespace is not found")
            && message.contains("TEMPORAL_NAMESPACE"),
        "{message}"
    );
    assert!(
        !message.contains("create-version"),
        "creating a version is not the fix: {message}"
    );
    assert!(
        invocation.duration < Duration::from_secs(3),
        "{invocation:?}"
    );
    println!("wrong namespace: {message}");
}

/// Waits (at most 20 s) for a function process that cannot start to exit.
fn wait_for_exit(function: &mut FunctionProcess) {
    let started = Instant::now();
    while function.is_running() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !function.is_running(),
        "still running after 20 s:\n{}",
        function.output()
    );
}

/// Runs the fixture with `envs` until it gives up its cold start, and checks that it told Lambda
/// why with `error_type` (header and document) and a message mentioning `mentions`, without ever
/// asking for an event.
fn expect_init_error(envs: &[(&str, &str)], error_type: &str, mentions: &str) {
    let api = RuntimeApi::start();
    let mut function = FunctionProcess::spawn(fixture(), &api, envs);
    wait_for_exit(&mut function);
    let output = function.output();
    let posted = api
        .init_error()
        .unwrap_or_else(|| panic!("nothing posted to init/error:\n{output}"));
    assert_eq!(posted["errorType"], error_type, "{posted:#}");
    assert!(
        posted["errorMessage"]
            .as_str()
            .is_some_and(|message| message.contains(mentions)),
        "{posted:#}"
    );
    assert_eq!(
        api.init_error_type().as_deref(),
        Some(error_type),
        "the Lambda-Runtime-Function-Error-Type header"
    );
    assert!(
        api.first_next().is_none(),
        "it asked for an event:\n{output}"
    );
}

#[test]
fn a_cold_start_failure_reaches_lambda_as_an_init_error_with_its_type() {
    let address = format!("127.0.0.1:{}", free_port());
    // No task queue anywhere: the fixture's attribute and main name none, and TEMPORAL_TASK_QUEUE
    // is unset. The process must say so to Lambda before exiting, not just exit (which Lambda
    // would record as Runtime.ExitError).
    expect_init_error(
        &[("TEMPORAL_ADDRESS", &address)],
        "TemporalServerless.NoTaskQueue",
        "TEMPORAL_TASK_QUEUE",
    );
    // An OpenTelemetry endpoint that cannot be used fails inside the runtime's setup: still
    // before the first event, still with its own type.
    expect_init_error(
        &[
            ("TEMPORAL_ADDRESS", &address),
            ("TEMPORAL_TASK_QUEUE", "q"),
            ("FIXTURE_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[not a host]:4317"),
        ],
        "TemporalServerless.Configure",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    );

    // A dry run is not Lambda's init phase: the same failure is only printed.
    let api = RuntimeApi::start();
    let mut dry_run = FunctionProcess::spawn(
        fixture(),
        &api,
        &[(temporal_serverless::DRY_RUN_VARIABLE, "1")],
    );
    wait_for_exit(&mut dry_run);
    assert!(
        dry_run.output().contains("no task queue"),
        "{}",
        dry_run.output()
    );
    assert!(api.init_error().is_none(), "{:?}", api.init_error());
}
