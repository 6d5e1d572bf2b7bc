//! A task whose answer is larger than the worker accepts (`TEMPORAL_MAX_INCOMING_GRPC_BYTES`,
//! lowered here to 2 MiB) is failed to the server with the cause, visible in the workflow's
//! history and the function's log, instead of timing out again and again with nothing to say why
//! (what a plain SDK worker's poll does: it fails, and the task waits for its timeout).

use std::{path::Path, time::Duration};
use temporal_serverless_tests::{cli_binary, local_loop::LocalLoop};

#[test]
fn a_task_over_the_size_limit_is_failed_with_the_cause_not_timed_out() {
    let function = Path::new(env!("CARGO_BIN_EXE_conformance_function"));
    let lambda = LocalLoop::builder(&cli_binary!(), "conformance", function)
        .timeout_seconds(15)
        .task_queue("too-large")
        .function_env("FIXTURE_IDLE_EXIT_MS", "300")
        .function_env("TEMPORAL_MAX_INCOMING_GRPC_BYTES", "2097152")
        .start();
    lambda
        .deploy(function)
        .unwrap_or_else(|error| panic!("deploy failed: {error}"));
    // Two activities of 1.5 MB, then a timer longer than the work time (8 s): the timer's task
    // goes to a new worker with the whole history, about 3 MB.
    lambda
        .server
        .start_workflow(
            "too-large",
            "LargeHistory",
            "too-large",
            "[2, 1500000, 9000]",
        )
        .unwrap();
    let failure = lambda.server.wait_for(
        Duration::from_secs(90),
        "a failed workflow task",
        |server| {
            let history = server
                .cli_json(&["workflow", "show", "--workflow-id", "too-large"])
                .ok()?;
            let events = history["events"].as_array()?.clone();
            events.iter().find_map(|event| {
                let failed = &event["workflowTaskFailedEventAttributes"];
                (!failed.is_null()).then(|| (failed.clone(), events.clone()))
            })
        },
    );
    let (failed, events) = failure;
    let message = failed["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("TEMPORAL_MAX_INCOMING_GRPC_BYTES"),
        "the cause, with the fix: {failed:#}"
    );
    assert_eq!(
        failed["failure"]["applicationFailureInfo"]["type"], "TemporalServerless.AnswerTooLarge",
        "{failed:#}"
    );
    assert!(
        !events
            .iter()
            .any(|event| event["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT"),
        "no task waited for its timeout first: {events:#?}"
    );
    lambda
        .server
        .cli(&[
            "workflow",
            "terminate",
            "--workflow-id",
            "too-large",
            "--reason",
            "test over",
        ])
        .unwrap();
    // The failed poll is logged once, as a size limit, with the variable to raise.
    let log = temporal_serverless_tests::strip_ansi(
        &std::fs::read_to_string(&lambda.log).unwrap_or_default(),
    );
    assert!(
        log.lines().any(|line| line.contains("ERROR")
            && line.contains("class=\"too large\"")
            && line.contains("its task was failed to the server with the cause")),
        "{}",
        lambda.log_tail(60)
    );
}
