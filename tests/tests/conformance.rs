//! The conformance suite: every workflow of `temporal_serverless_tests::conformance` runs twice,
//! driven the same way by the Temporal CLI — on a plain SDK worker (no Lambda, no relay: the
//! reference) and through the function on the local loop (real dev server, the local Lambda
//! service, instances frozen between invocations, a short idle window so that a workflow's steps
//! land on different invocations, each a new worker replaying the history). Each scenario must
//! end the same on both, with no workflow task timed out (and none failed, but where the
//! workflow code panics, where it must be failed on both).

use serde_json::{Value, json};
use std::{
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use temporal_serverless_tests::{
    child_process::stop_process_group, cli_binary, conformance, dev_server::DevServer,
    local_loop::LocalLoop,
};

/// The function's idle window: short, so that a pause of [`WORKER_GONE`] ends its invocation.
const IDLE_EXIT_MS: &str = "300";
/// Long enough for an idle invocation to end (window, drain by poll deadline up to 1.5 s,
/// shutdown) and its instance to be frozen.
const WORKER_GONE: Duration = Duration::from_secs(3);
/// How long any one workflow may take.
const WORKFLOW_TIMEOUT: Duration = Duration::from_secs(180);
/// A timer longer than the function's work time (see the loop's timeout).
const REPLAY_NAP_MS: u64 = 9_000;
/// Just under the server's 2 MB payload limit.
const NEAR_PAYLOAD_LIMIT: u64 = 1_900_000;

fn conformance_function() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_conformance_function"))
}

/// Where a scenario runs: which worker polls its task queue.
struct Side<'a> {
    name: &'static str,
    server: &'a DevServer,
    task_queue: &'static str,
}

impl Side<'_> {
    fn id(&self, scenario: &str) -> String {
        format!("{scenario}-{}", self.name)
    }

    fn cli(&self, args: &[&str]) -> Result<String, String> {
        self.server.cli(args)
    }

    fn start(&self, workflow_type: &str, id: &str, input: Option<&str>) {
        let mut args = vec![
            "workflow",
            "start",
            "--task-queue",
            self.task_queue,
            "--type",
            workflow_type,
            "--workflow-id",
            id,
        ];
        if let Some(input) = input {
            args.extend(["--input", input]);
        }
        self.cli(&args)
            .unwrap_or_else(|error| panic!("{id} did not start: {error}"));
    }

    fn signal(&self, id: &str, name: &str, input: Option<&str>) {
        let mut args = vec!["workflow", "signal", "--workflow-id", id, "--name", name];
        if let Some(input) = input {
            args.extend(["--input", input]);
        }
        self.cli(&args)
            .unwrap_or_else(|error| panic!("signal {name} to {id}: {error}"));
    }

    /// A query's answer (or the CLI's error).
    fn query(&self, id: &str, name: &str) -> Value {
        match self
            .server
            .cli_json(&["workflow", "query", "--workflow-id", id, "--name", name])
        {
            Ok(answer) => answer.get("queryResult").cloned().unwrap_or(answer),
            Err(error) => json!({ "query failed": error }),
        }
    }

    /// An update's result, or whether it was rejected with the validator's message.
    fn update(&self, id: &str, name: &str, input: &str) -> Value {
        match self.server.cli_json(&[
            "workflow",
            "update",
            "execute",
            "--workflow-id",
            id,
            "--name",
            name,
            "--input",
            input,
        ]) {
            Ok(answer) => answer.get("result").cloned().unwrap_or(answer),
            Err(error) => json!({
                "rejected": true,
                "by the validator": error.contains("the limit must be positive"),
            }),
        }
    }

    /// The workflow's history (of its latest run).
    fn history(&self, id: &str) -> Vec<Value> {
        let history = self
            .server
            .cli_json(&["workflow", "show", "--workflow-id", id])
            .unwrap_or_else(|error| panic!("history of {id}: {error}"));
        history["events"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the workflow's latest run has closed; how it closed.
    fn close(&self, id: &str) -> Value {
        self.server
            .wait_for(WORKFLOW_TIMEOUT, &format!("{id} to close"), |server| {
                let description = server
                    .cli_json(&["workflow", "describe", "--workflow-id", id])
                    .ok()?;
                let status = description["workflowExecutionInfo"]["status"].as_str()?;
                (status != "WORKFLOW_EXECUTION_STATUS_RUNNING").then_some(())
            });
        let history = self.history(id);
        let last = history.last().cloned().unwrap_or_default();
        let attributes = last
            .as_object()
            .and_then(|event| {
                event
                    .iter()
                    .find(|(key, _)| key.ends_with("EventAttributes"))
                    .map(|(_, value)| value.clone())
            })
            .unwrap_or_default();
        json!({
            "event": last["eventType"],
            "result": attributes["result"],
            "failure": attributes["failure"]["message"],
            "details": attributes["details"],
        })
    }
}

/// What a scenario saw on one side, step by step, and the workflows whose histories it left.
#[derive(Default)]
struct Run {
    steps: Vec<(String, Value)>,
    workflows: Vec<String>,
}

impl Run {
    fn saw(&mut self, step: &str, value: Value) {
        self.steps.push((step.to_owned(), value));
    }
}

/// A scenario: drives its workflows on one side and says what it saw.
struct Scenario {
    name: &'static str,
    drive: fn(&Side, &str) -> Run,
    /// Whether its workflow code fails its workflow tasks (on both sides alike).
    fails_tasks: bool,
    /// Scenarios of one lane run one after the other: those moving megabytes do not share the
    /// machine's two cores with each other (a dev server starved that way loses tasks it matched,
    /// for a plain worker as for the function).
    lane: usize,
}

fn one_workflow(side: &Side, id: &str, workflow_type: &str, input: Option<&str>) -> Run {
    side.start(workflow_type, id, input);
    let mut run = Run::default();
    run.saw("closed", side.close(id));
    run.workflows.push(id.to_owned());
    run
}

fn payloads(side: &Side, id: &str) -> Run {
    one_workflow(side, id, "Payloads", Some(&NEAR_PAYLOAD_LIMIT.to_string()))
}

/// Four activities of 1.5 MB, then a timer that outlives the invocation: the 6 MB case.
fn history_over_4_mib(side: &Side, id: &str) -> Run {
    one_workflow(
        side,
        id,
        "LargeHistory",
        Some(&format!("[4, 1500000, {REPLAY_NAP_MS}]")),
    )
}

fn history_over_16_mib(side: &Side, id: &str) -> Run {
    one_workflow(
        side,
        id,
        "LargeHistory",
        Some(&format!("[9, {NEAR_PAYLOAD_LIMIT}, {REPLAY_NAP_MS}]")),
    )
}

/// 320 activities (over 1,000 events: several pages), then a timer.
fn history_of_many_pages(side: &Side, id: &str) -> Run {
    one_workflow(
        side,
        id,
        "LongHistory",
        Some(&format!("[320, 40, {REPLAY_NAP_MS}]")),
    )
}

fn messages(side: &Side, id: &str) -> Run {
    let mut run = Run::default();
    side.cli(&[
        "workflow",
        "signal-with-start",
        "--task-queue",
        side.task_queue,
        "--type",
        "Messages",
        "--workflow-id",
        id,
        "--input",
        "\"hi\"",
        "--signal-name",
        "add",
        "--signal-input",
        "\"a\"",
    ])
    .unwrap_or_else(|error| panic!("signal-with-start {id}: {error}"));
    std::thread::sleep(WORKER_GONE);
    side.signal(id, "add", Some("\"b\""));
    std::thread::sleep(WORKER_GONE);
    run.saw("query, worker gone", side.query(id, "values"));
    std::thread::sleep(WORKER_GONE);
    run.saw(
        "update accepted, worker gone",
        side.update(id, "set_limit", "5"),
    );
    run.saw("update rejected", side.update(id, "set_limit", "0"));
    run.saw("update accepted", side.update(id, "set_limit", "7"));
    side.signal(id, "add", Some("\"c\""));
    side.signal(id, "finish", None);
    run.saw("closed", side.close(id));
    std::thread::sleep(WORKER_GONE);
    run.saw("query, completed", side.query(id, "values"));
    run.workflows.push(id.to_owned());
    run
}

fn children_and_continue_as_new(side: &Side, id: &str) -> Run {
    let mut run = one_workflow(side, id, "Parent", Some("[0, 2]"));
    for round in 0..2 {
        let child = format!("{id}-child-{round}");
        run.saw(&format!("child {round}"), side.close(&child));
        run.workflows.push(child);
    }
    run
}

fn repertoire(side: &Side, id: &str) -> Run {
    let mut run = one_workflow(side, id, "Repertoire", Some("1500"));
    let description = side
        .server
        .cli_json(&["workflow", "describe", "--workflow-id", id])
        .unwrap();
    // The server adds its own (build IDs, deployment): only the workflow's is compared.
    run.saw(
        "search attribute",
        description["workflowExecutionInfo"]["searchAttributes"]["indexedFields"]
            ["ConformanceStage"]["data"]
            .clone(),
    );
    run.saw("memo", description["workflowExecutionInfo"]["memo"].clone());
    run
}

fn cancellation_and_termination(side: &Side, id: &str) -> Run {
    let mut run = Run::default();
    let cancelled = format!("{id}-cancel");
    let terminated = format!("{id}-terminate");
    side.start("Cancellable", &cancelled, None);
    side.start("Cancellable", &terminated, None);
    std::thread::sleep(WORKER_GONE);
    side.cli(&["workflow", "cancel", "--workflow-id", &cancelled])
        .unwrap();
    side.cli(&[
        "workflow",
        "terminate",
        "--workflow-id",
        &terminated,
        "--reason",
        "conformance",
    ])
    .unwrap();
    run.saw("cancelled", side.close(&cancelled));
    run.saw("terminated", side.close(&terminated));
    run.workflows.extend([cancelled, terminated]);
    run
}

/// The workflow code panics: its task is failed, and retried, until the test terminates it.
fn panicking_workflow(side: &Side, id: &str) -> Run {
    side.start("Panics", id, None);
    let mut run = Run::default();
    let failed = side.server.wait_for(
        Duration::from_secs(60),
        &format!("{id}'s failed workflow task"),
        |server| {
            let history = server
                .cli_json(&["workflow", "show", "--workflow-id", id])
                .ok()?;
            history["events"].as_array()?.iter().find_map(|event| {
                let failed = &event["workflowTaskFailedEventAttributes"];
                (!failed.is_null()).then(|| failed["failure"]["message"].clone())
            })
        },
    );
    run.saw(
        "task failed with the panic",
        json!(
            failed
                .as_str()
                .unwrap_or("")
                .contains("a bug in workflow code")
        ),
    );
    side.cli(&[
        "workflow",
        "terminate",
        "--workflow-id",
        id,
        "--reason",
        "conformance",
    ])
    .unwrap();
    run.saw("closed", side.close(id));
    run.workflows.push(id.to_owned());
    run
}

const SCENARIOS: [Scenario; 9] = [
    Scenario {
        name: "payloads",
        drive: payloads,
        fails_tasks: false,
        lane: 0,
    },
    Scenario {
        name: "history-4mib",
        drive: history_over_4_mib,
        fails_tasks: false,
        lane: 0,
    },
    Scenario {
        name: "history-16mib",
        drive: history_over_16_mib,
        fails_tasks: false,
        lane: 0,
    },
    Scenario {
        name: "history-pages",
        drive: history_of_many_pages,
        fails_tasks: false,
        lane: 1,
    },
    Scenario {
        name: "messages",
        drive: messages,
        fails_tasks: false,
        lane: 2,
    },
    Scenario {
        name: "children",
        drive: children_and_continue_as_new,
        fails_tasks: false,
        lane: 3,
    },
    Scenario {
        name: "repertoire",
        drive: repertoire,
        fails_tasks: false,
        lane: 4,
    },
    Scenario {
        name: "cancellation",
        drive: cancellation_and_termination,
        fails_tasks: false,
        lane: 2,
    },
    Scenario {
        name: "panics",
        drive: panicking_workflow,
        fails_tasks: true,
        lane: 3,
    },
];

/// The plain SDK worker polling the reference side's task queue; killed when dropped.
struct ReferenceWorker(Child);

impl ReferenceWorker {
    fn start(server: &DevServer, task_queue: &str) -> Self {
        Self(
            Command::new(env!("CARGO_BIN_EXE_conformance_worker"))
                .env("TEMPORAL_ADDRESS", &server.address)
                .env("TEMPORAL_TASK_QUEUE", task_queue)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .process_group(0)
                .spawn()
                .expect("the reference worker starts"),
        )
    }
}

impl Drop for ReferenceWorker {
    fn drop(&mut self) {
        stop_process_group(&mut self.0, Duration::from_secs(5));
    }
}

/// What a workflow's history says about its workflow tasks.
#[derive(Debug)]
struct TaskRecord {
    /// Tasks that timed out other than waiting on a sticky queue: lost or stuck.
    timed_out: usize,
    /// The timed-out tasks' events (their scheduling, start and timeout), for the failure message.
    #[allow(dead_code, reason = "read through Debug")]
    timeouts: Vec<Value>,
    /// Tasks that waited on a worker's sticky queue past its schedule-to-start timeout (1 s on
    /// the function) and went on from the normal queue: late, not lost.
    sticky_timeouts: usize,
    failed: usize,
    /// Distinct identities of the workers that started its workflow tasks.
    workers: usize,
}

fn task_record(side: &Side, id: &str) -> TaskRecord {
    let history = side.history(id);
    let count = |event_type: &str| {
        history
            .iter()
            .filter(|event| event["eventType"] == event_type)
            .count()
    };
    let mut workers: Vec<&str> = history
        .iter()
        .filter_map(|event| event["workflowTaskStartedEventAttributes"]["identity"].as_str())
        .collect();
    workers.sort();
    workers.dedup();
    let scheduled_on = |event_id: &Value| {
        history
            .iter()
            .find(|event| event["eventId"] == *event_id)
            .map(|event| event["workflowTaskScheduledEventAttributes"]["taskQueue"]["kind"].clone())
    };
    let (sticky, other): (Vec<usize>, Vec<usize>) = history
        .iter()
        .enumerate()
        .filter(|(_, event)| event["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT")
        .map(|(at, _)| at)
        .partition(|at| {
            let timed_out = &history[*at]["workflowTaskTimedOutEventAttributes"];
            timed_out["timeoutType"] == "TIMEOUT_TYPE_SCHEDULE_TO_START"
                && scheduled_on(&timed_out["scheduledEventId"])
                    == Some(json!("TASK_QUEUE_KIND_STICKY"))
        });
    TaskRecord {
        timed_out: other.len(),
        timeouts: other
            .iter()
            .map(|at| {
                let timed_out = &history[*at];
                let scheduled = &timed_out["workflowTaskTimedOutEventAttributes"]["scheduledEventId"];
                json!({
                    "timed out": timed_out,
                    "scheduled": history.iter().find(|event| event["eventId"] == *scheduled),
                    "started": history.iter().find(|event| {
                        event["workflowTaskStartedEventAttributes"]["scheduledEventId"] == *scheduled
                    }),
                })
            })
            .collect(),
        sticky_timeouts: sticky.len(),
        failed: count("EVENT_TYPE_WORKFLOW_TASK_FAILED"),
        workers: workers.len(),
    }
}

#[test]
fn every_workflow_runs_through_the_function_as_on_a_plain_sdk_worker() {
    let lambda = LocalLoop::builder(&cli_binary!(), "conformance", conformance_function())
        // 8 s of work time per invocation (after the 7 s shutdown buffer): a timer longer than
        // that ([`REPLAY_NAP`]) fires after the invocation that started it has stopped taking work,
        // however busy, so a new worker replays the history.
        .timeout_seconds(15)
        .concurrency(8)
        .task_queue("conformance-fn")
        .function_env("FIXTURE_IDLE_EXIT_MS", IDLE_EXIT_MS)
        .server_args(&["--search-attribute", conformance::SEARCH_ATTRIBUTE])
        .start();
    lambda
        .deploy(conformance_function())
        .unwrap_or_else(|error| panic!("deploy failed: {error}"));
    let reference_worker = ReferenceWorker::start(&lambda.server, "conformance-ref");
    let reference = Side {
        name: "ref",
        server: &lambda.server,
        task_queue: "conformance-ref",
    };
    let function = Side {
        name: "fn",
        server: &lambda.server,
        task_queue: "conformance-fn",
    };

    let started = Instant::now();
    // Every scenario runs to its end on both sides, also when one fails: all failures are
    // reported at once. Scenarios of one lane run one after the other, lanes side by side.
    let drive = |scenario: &Scenario, side: &Side| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (scenario.drive)(side, &side.id(scenario.name))
        }))
        .map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_default()
        })
    };
    let lanes = SCENARIOS
        .iter()
        .map(|scenario| scenario.lane)
        .max()
        .unwrap_or(0)
        + 1;
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..lanes)
            .map(|lane| {
                let (reference, function) = (&reference, &function);
                scope.spawn(move || {
                    let mut outcomes = Vec::new();
                    for scenario in SCENARIOS.iter().filter(|scenario| scenario.lane == lane) {
                        let began = Instant::now();
                        let on_reference = scope.spawn(move || drive(scenario, reference));
                        let on_function = drive(scenario, function);
                        let on_reference = on_reference.join().expect("caught");
                        outcomes.push((scenario, on_reference, on_function, began.elapsed()));
                    }
                    outcomes
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("caught"))
            .collect()
    });
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for (scenario, on_reference, on_function, took) in outcomes {
        match (on_reference, on_function) {
            (Ok(on_reference), Ok(on_function)) => {
                results.push((scenario, on_reference, on_function, took))
            }
            (on_reference, on_function) => failures.push(format!(
                "{}: did not run to its end: plain worker {:?}, function {:?}",
                scenario.name,
                on_reference.err(),
                on_function.err()
            )),
        }
    }
    drop(reference_worker);

    for (scenario, on_reference, on_function, took) in &results {
        if on_reference.steps != on_function.steps {
            failures.push(format!(
                "{}: the function saw\n  {:?}\nwhere the plain worker saw\n  {:?}",
                scenario.name, on_function.steps, on_reference.steps
            ));
        }
        let (mut workers, mut sticky_timeouts) = (Vec::new(), 0);
        for (side, run) in [(&reference, on_reference), (&function, on_function)] {
            for id in &run.workflows {
                let record = task_record(side, id);
                if side.name == "fn" {
                    workers.push(record.workers);
                    sticky_timeouts += record.sticky_timeouts;
                }
                let failed_as_expected = if scenario.fails_tasks {
                    record.failed > 0
                } else {
                    record.failed == 0
                };
                if record.timed_out > 0 || !failed_as_expected {
                    failures.push(format!(
                        "{}: workflow {id}'s tasks: {record:?} (tasks fail here: {})",
                        scenario.name, scenario.fails_tasks
                    ));
                }
            }
        }
        println!(
            "{:<14} {:>5.1} s; through the function, workers per workflow: {workers:?}, \
             sticky schedule-to-start timeouts: {sticky_timeouts}",
            scenario.name,
            took.as_secs_f64()
        );
    }
    let records = lambda.records();
    println!(
        "{} invocations for {} scenarios in {:.1} s",
        records.len(),
        SCENARIOS.len(),
        started.elapsed().as_secs_f64()
    );
    let log = std::fs::read_to_string(&lambda.log).unwrap_or_default();
    let failed_calls: u64 =
        temporal_serverless_tests::logged_numbers(&log, "invocation done", "failed_calls")
            .iter()
            .sum();
    println!("failed worker calls counted by the function: {failed_calls}");
    assert!(
        log.contains("a bug in workflow code"),
        "the panic is in the function's log"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for scenario in ["history-4mib", "history-16mib", "history-pages"] {
        let Some((_, _, on_function, _)) = results
            .iter()
            .find(|(candidate, ..)| candidate.name == scenario)
        else {
            continue;
        };
        let record = task_record(&function, &on_function.workflows[0]);
        assert!(
            record.workers >= 2,
            "{scenario}: its history was replayed by a new worker ({record:?})"
        );
    }
}
