//! The whole loop with no manual invoke anywhere: the dev server's Worker Controller Instance
//! invokes the fixture function through the local Lambda service when work arrives.

use std::time::Duration;
use temporal_serverless_tests::{cli_binary, fixture_function, local_loop::LocalLoop};

#[test]
fn the_server_alone_invokes_the_function_and_every_workflow_completes() {
    let lambda = LocalLoop::builder(&cli_binary!(), "fixture", fixture_function!())
        .timeout_seconds(15)
        .concurrency(4)
        .task_queue("loop-q")
        .start();
    let deployed = lambda
        .deploy(fixture_function!())
        .unwrap_or_else(|error| panic!("deploy failed: {error}"));
    assert!(deployed.contains("task queues bound"), "{deployed}");
    // `deploy --set-current` returns only once the task queue itself routes new work to the
    // version: a workflow started in the moment before would be queued as unversioned work,
    // which the server invokes nobody for.
    assert!(
        deployed.contains("task queues route new work to fixture:"),
        "{deployed}"
    );
    let routing = lambda
        .server
        .cli_json(&[
            "task-queue",
            "describe",
            "--task-queue",
            "loop-q",
            "--legacy-mode",
        ])
        .unwrap();
    assert_eq!(
        routing["versioning_info"]["current_deployment_version"]["deployment_name"], "fixture",
        "the workflow task queue right after deploy: {routing:#}"
    );
    lambda.server.wait_for(
        Duration::from_secs(30),
        "the registration invocation's record",
        |_| (!lambda.records().is_empty()).then_some(()),
    );

    let ids: Vec<String> = (0..6).map(|n| format!("loop-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let (workflow_type, input) = if n % 2 == 0 {
            ("Greet", "\"Loop\"")
        } else {
            ("SlowActivity", "200")
        };
        lambda
            .server
            .start_workflow("loop-q", workflow_type, id, input)
            .unwrap();
    }
    for id in &ids {
        lambda
            .server
            .wait_until_completed(id, Duration::from_secs(60));
    }
    // The work invocation is recorded when it ends, at the end of its work time.
    let records = lambda.server.wait_for(
        Duration::from_secs(30),
        "the work invocation's record",
        |_| {
            let records = lambda.records();
            (records.len() >= 2).then_some(records)
        },
    );
    assert!(
        records.len() >= 2,
        "registration plus at least one work invocation: {records:#?}"
    );
    for record in &records {
        assert_eq!(record["outcome"], "success", "{record:#}");
        assert!(
            record["deadline_margin_ms"].as_i64().unwrap() > 0,
            "{record:#}"
        );
        assert_eq!(
            record["invocation_type"], "Event",
            "only the server invoked: {record:#}"
        );
    }
    println!("{} invocations for {} workflows", records.len(), ids.len());
}
