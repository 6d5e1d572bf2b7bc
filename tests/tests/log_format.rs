//! The function's logs as CloudWatch receives them: plain text without terminal colour codes
//! (Lambda has no terminal, and CloudWatch shows escape codes as garbage), or one JSON object
//! per line with `AWS_LAMBDA_LOG_FORMAT=JSON`. The fixture serves one invocation against the
//! real dev server, so the log holds the runtime's own lines and the SDK's. In the JSON run a
//! shutdown hook panics: a caught panic is logged as one of those lines, not as Rust's default
//! `thread .. panicked at ..` text on stderr.

use serde_json::{Value, json};
use std::time::Duration;
use temporal_serverless_tests::{
    dev_server::DevServer,
    fixture_function,
    function_process::FunctionProcess,
    runtime_api::{Outcome, RuntimeApi},
};

/// Everything the function printed while serving one invocation, with `envs` added.
fn log_of_one_invocation(server: &DevServer, task_queue: &str, envs: &[(&str, &str)]) -> String {
    let api = RuntimeApi::start();
    // A server without a Worker Controller: the version is registered by this poll.
    let mut function = FunctionProcess::of(fixture_function!())
        .server(&server.address)
        .task_queue(task_queue)
        .guard_off();
    for (name, value) in envs {
        function = function.env(name, value);
    }
    let function = function.spawn(&api);
    let invocation = api.invoke(json!({}), Duration::from_secs(9));
    let output = function.output();
    assert!(
        matches!(invocation.outcome, Outcome::Response(_)),
        "{:?}\n{output}",
        invocation.outcome
    );
    output
}

#[test]
fn text_logs_carry_no_colour_codes_and_json_logs_are_one_object_per_line() {
    let server = DevServer::start_default();

    let text = log_of_one_invocation(&server, "log-format-text", &[]);
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in the text log:\n{}",
        text.escape_debug()
    );
    // Fields read as `name=value`, as a log query expects them.
    assert!(text.contains("connected to Temporal connect_ms="), "{text}");
    assert!(text.contains("invocation done duration_ms="), "{text}");
    assert!(text.contains("invocation{request_id="), "{text}");

    let json_log = log_of_one_invocation(
        &server,
        "log-format-json",
        &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("FIXTURE_PANICKING_HOOK", "1"),
        ],
    );
    assert!(!json_log.contains('\u{1b}'), "{}", json_log.escape_debug());
    let lines: Vec<Value> = json_log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .all(|line| line["level"].is_string() && line["fields"].is_object()),
        "{json_log}"
    );
    let connected = lines
        .iter()
        .find(|line| line["fields"]["message"] == "connected to Temporal")
        .unwrap_or_else(|| panic!("no connection line: {json_log}"));
    assert!(connected["fields"]["connect_ms"].is_u64(), "{connected:#}");
    assert!(
        connected["span"]["request_id"].is_string(),
        "the invocation's span on its lines: {connected:#}"
    );
    let panic = lines
        .iter()
        .find(|line| line["fields"]["panic"] == "fixture hook bug")
        .unwrap_or_else(|| panic!("no line for the hook's panic: {json_log}"));
    assert_eq!(panic["level"], "ERROR", "{panic:#}");
    assert!(
        panic["fields"]["location"]
            .as_str()
            .is_some_and(|location| location.contains("fixture_function.rs")),
        "{panic:#}"
    );
    assert!(
        panic["span"]["request_id"].is_string(),
        "the invocation's span on the panic's line: {panic:#}"
    );
    println!(
        "{} text lines, {} JSON lines",
        text.lines().count(),
        lines.len()
    );
}
