//! End-to-end: the fixture function, driven through the Lambda Runtime API, against the real
//! Temporal dev server.

use serde_json::{Value, json};
use std::{path::Path, time::Duration};
use temporal_serverless_tests::{
    dev_server::DevServer,
    function_process::FunctionProcess,
    runtime_api::{Outcome, RuntimeApi},
};

const BUILD_ID: &str = env!("FIXTURE_BUILD_ID");

fn fixture() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fixture_function"))
}

/// A dev server, a Runtime API and a fixture function polling `task_queue` on that server.
struct Loop {
    server: DevServer,
    api: RuntimeApi,
    function: FunctionProcess,
}

impl Loop {
    fn start(task_queue: &str) -> Self {
        let server = DevServer::start(&[], &[]);
        let api = RuntimeApi::start();
        let function = FunctionProcess::spawn(
            fixture(),
            &api,
            &[
                ("TEMPORAL_ADDRESS", server.address.as_str()),
                ("TEMPORAL_NAMESPACE", "default"),
                ("TEMPORAL_TASK_QUEUE", task_queue),
            ],
        );
        Self {
            server,
            api,
            function,
        }
    }

    /// Registers the version by one invocation's polls, then makes it current, as a deploy
    /// would, so that new workflows on the task queue are routed to it.
    fn deploy(&self) {
        let registration = self.api.invoke(json!({}), Duration::from_secs(9));
        assert!(
            matches!(registration.outcome, Outcome::Response(_)),
            "registration invocation: {:?}\n{}",
            registration.outcome,
            self.function.output()
        );
        self.server.wait_for(
            Duration::from_secs(20),
            "the version to become current",
            |server| {
                server
                    .cli(&[
                        "worker",
                        "deployment",
                        "set-current-version",
                        "--deployment-name",
                        "fixture",
                        "--build-id",
                        BUILD_ID,
                        "--yes",
                    ])
                    .ok()
            },
        );
    }

    fn describe(&self, id: &str) -> Value {
        self.server
            .cli_json(&["workflow", "describe", "--workflow-id", id])
            .unwrap()
    }
}

fn status(description: &Value) -> String {
    description["workflowExecutionInfo"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_workflow_completes_within_one_invocation() {
    let lambda = Loop::start("e2e-one-invocation");
    lambda.deploy();
    lambda
        .server
        .cli(&[
            "workflow",
            "start",
            "--task-queue",
            "e2e-one-invocation",
            "--type",
            "Greet",
            "--workflow-id",
            "greet-1",
            "--input",
            "\"World\"",
        ])
        .unwrap();
    let invocation = lambda.api.invoke(json!({}), Duration::from_secs(10));
    assert!(
        matches!(invocation.outcome, Outcome::Response(_)),
        "{:?}\n{}",
        invocation.outcome,
        lambda.function.output()
    );
    assert!(
        invocation.margin_ms > 0,
        "answered {} ms after the deadline",
        -invocation.margin_ms
    );
    let description = lambda.describe("greet-1");
    if std::env::var_os("TSLS_DEBUG_HISTORY").is_some() {
        let history = lambda
            .server
            .cli_json(&["workflow", "show", "--workflow-id", "greet-1"])
            .unwrap();
        for event in history["events"].as_array().unwrap().iter().take(30) {
            eprintln!(
                "{} {}",
                event["eventType"],
                event.to_string().chars().take(1500).collect::<String>()
            );
        }
    }
    assert_eq!(
        status(&description),
        "WORKFLOW_EXECUTION_STATUS_COMPLETED",
        "{description:#}\n{}",
        lambda.function.output()
    );
    let result = lambda
        .server
        .cli_json(&["workflow", "result", "--workflow-id", "greet-1"])
        .unwrap();
    println!("{result:#}");
}
