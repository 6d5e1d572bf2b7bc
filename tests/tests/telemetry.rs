//! OpenTelemetry on the local loop: the fixture function (with `FIXTURE_OTEL=1`) exports to a
//! real OTLP/gRPC receiver on loopback while the dev server's Worker Controller Instance invokes
//! it through the local Lambda service. The fixture's metric period (10 min) is far longer than
//! the test, so what the receiver holds when an invocation's record appears (the record is
//! written after the answer) came from the flush before that answer.

use chrono::DateTime;
use serde_json::Value;
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use temporal_serverless_tests::{
    cli_beside,
    local_loop::LocalLoop,
    logged_numbers,
    otlp_receiver::{OtlpReceiver, ReceivedSpan},
};

fn fixture() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fixture_function"))
}

fn cli() -> PathBuf {
    cli_beside(fixture())
}

/// Starts the loop with telemetry exported to `endpoint`, deploys, runs `workflows` Greet
/// workflows to completion, and returns the loop and the records of every invocation up to the
/// one that completed the last workflow.
fn run_workflows(task_queue: &str, endpoint: &str, workflows: usize) -> (LocalLoop, Vec<Value>) {
    let lambda = LocalLoop::start(
        &cli(),
        "fixture",
        fixture(),
        15,
        2,
        &[
            ("TEMPORAL_TASK_QUEUE", task_queue),
            ("FIXTURE_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ],
    );
    lambda
        .deploy(fixture(), true)
        .unwrap_or_else(|error| panic!("deploy failed: {error}"));
    let ids: Vec<String> = (0..workflows)
        .map(|n| format!("{task_queue}-{n}"))
        .collect();
    for id in &ids {
        lambda
            .server
            .start_workflow(task_queue, "Greet", id, "\"Telemetry\"")
            .unwrap();
    }
    let mut last_close_ms = 0;
    for id in &ids {
        lambda
            .server
            .wait_until_completed(id, Duration::from_secs(60));
        last_close_ms = last_close_ms.max(close_time_ms(&lambda, id));
    }
    // The invocation that completed the last workflow answers after that workflow closed.
    let started = Instant::now();
    loop {
        let records = lambda.records();
        let ended_after_close = records.iter().any(|record| {
            record["started_at_ms"].as_f64().unwrap() + record["duration_ms"].as_f64().unwrap()
                >= last_close_ms as f64
        });
        if ended_after_close {
            return (lambda, records);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no invocation that ended after the last workflow closed, within 30 s: {records:#?}\n{}",
            lambda.log_tail(60)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn close_time_ms(lambda: &LocalLoop, id: &str) -> u64 {
    let description = lambda
        .server
        .cli_json(&["workflow", "describe", "--workflow-id", id])
        .unwrap();
    let close_time = description["workflowExecutionInfo"]["closeTime"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} has a close time: {description:#}"));
    DateTime::parse_from_rfc3339(close_time)
        .unwrap()
        .timestamp_millis() as u64
}

fn span_of<'a>(spans: &'a [ReceivedSpan], request_id: &str) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|span| {
        span.name == "invocation"
            && span
                .attributes
                .get("faas.invocation_id")
                .map(String::as_str)
                == Some(request_id)
    })
}

#[test]
fn metrics_and_spans_reach_the_collector_before_each_invocation_answers() {
    let receiver = OtlpReceiver::start();
    let (lambda, records) = run_workflows("otel-q", receiver.endpoint(), 3);
    // Read at once: everything asserted below arrived before these records were written.
    let spans = receiver.spans();
    let metrics = receiver.metrics();
    let build_id = env!("FIXTURE_BUILD_ID");

    // A span per invocation, in the X-Ray trace the Lambda service handed over.
    for record in &records {
        let request_id = record["request_id"].as_str().unwrap();
        let span = span_of(&spans, request_id).unwrap_or_else(|| {
            panic!(
                "no invocation span for {request_id} by its answer; spans: {:#?}",
                spans.iter().map(|span| &span.name).collect::<Vec<_>>()
            )
        });
        let header = record["trace_header"].as_str().unwrap();
        let root = header
            .split(';')
            .find_map(|field| field.strip_prefix("Root=1-"))
            .unwrap()
            .replace('-', "");
        let parent = header
            .split(';')
            .find_map(|field| field.strip_prefix("Parent="))
            .unwrap();
        assert_eq!(span.trace_id, root, "trace id from {header}");
        assert_eq!(span.parent_span_id, parent, "parent from {header}");
        assert_eq!(
            span.attributes.get("faas.coldstart").map(String::as_str),
            Some(if record["cold"] == true {
                "true"
            } else {
                "false"
            })
        );
    }

    // The SDK's workflow and activity spans.
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
    assert!(
        names
            .iter()
            .any(|name| name.contains("Greet") && name.contains("Workflow")),
        "a workflow span: {names:?}"
    );
    assert!(
        names
            .iter()
            .any(|name| name.contains("Activity") && name.contains("greet")),
        "an activity span: {names:?}"
    );

    // The invocation links to every workflow and activity execution it ran.
    let links: Vec<&(String, String)> = spans
        .iter()
        .filter(|span| span.name == "invocation")
        .flat_map(|span| &span.links)
        .collect();
    let executions: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|span| {
            span.name.starts_with("RunWorkflow:") || span.name.starts_with("RunActivity:")
        })
        .collect();
    let count = |prefix: &str| {
        executions
            .iter()
            .filter(|span| span.name.starts_with(prefix))
            .count()
    };
    assert!(
        count("RunWorkflow:Greet") >= 3 && count("RunActivity:") >= 3,
        "3 workflows, 3 activities: {names:?}"
    );
    for execution in executions {
        assert!(
            links.contains(&&(execution.trace_id.clone(), execution.span_id.clone())),
            "an invocation links to {} ({}): {links:?}",
            execution.name,
            execution.span_id
        );
    }

    // Every span and metric under the function's resource.
    for resource in spans
        .iter()
        .map(|span| &span.resource)
        .chain(metrics.iter().map(|metric| &metric.resource))
    {
        // No OTEL_SERVICE_NAME: the function's name, as Lambda sets it.
        assert_eq!(
            resource.get("service.name").map(String::as_str),
            Some("fixture"),
            "{resource:?}"
        );
        assert_eq!(
            resource
                .get("temporal.worker_deployment_name")
                .map(String::as_str),
            Some("fixture")
        );
        assert_eq!(
            resource.get("temporal.worker_build_id").map(String::as_str),
            Some(build_id)
        );
        assert_eq!(
            resource.get("cloud.platform").map(String::as_str),
            Some("aws_lambda")
        );
    }

    // The SDK's worker metrics, each data point tagged with the deployment and build.
    let names: Vec<&str> = metrics.iter().map(|metric| metric.name.as_str()).collect();
    for expected in [
        "temporal_workflow_completed",
        "temporal_activity_execution_latency",
    ] {
        assert!(names.contains(&expected), "{expected} among {names:?}");
    }
    let points: Vec<_> = metrics
        .iter()
        .filter(|metric| metric.name.starts_with("temporal_"))
        .flat_map(|metric| &metric.points)
        .collect();
    assert!(!points.is_empty());
    for point in points {
        assert_eq!(
            point.get("deployment_name").map(String::as_str),
            Some("fixture"),
            "{point:?}"
        );
        assert_eq!(
            point.get("build_id").map(String::as_str),
            Some(build_id),
            "{point:?}"
        );
    }
    let mut kinds: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    let mut metric_names = names.clone();
    metric_names.sort();
    metric_names.dedup();
    println!(
        "telemetry: {} invocations, flushes took {:?} ms, {} export requests; {} spans {kinds:?}; {} metric series {metric_names:?}",
        records.len(),
        flush_times(&lambda, "telemetry flushed"),
        receiver.requests(),
        spans.len(),
        metrics.len(),
    );
}

#[test]
fn a_collector_that_never_answers_costs_at_most_the_flush_timeout() {
    // Accepts connections (the kernel completes the handshake) and never reads: the exporter's
    // requests hang, the worst a dead collector can do.
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", black_hole.local_addr().unwrap());
    answers_in_time_without_collector("never answering", "otel-hung-q", &endpoint);
    drop(black_hole);
}

#[test]
fn a_missing_collector_costs_at_most_the_flush_timeout() {
    // A port nobody listens on: connections are refused, as when the ADOT layer is not attached.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    answers_in_time_without_collector("missing", "otel-missing-q", &endpoint);
}

/// Runs workflows with telemetry going to `endpoint`, where no collector works: every invocation
/// still answers successfully before its deadline, says the telemetry was not delivered, and
/// gave up on it within the flush timeout.
fn answers_in_time_without_collector(what: &str, task_queue: &str, endpoint: &str) {
    let (lambda, records) = run_workflows(task_queue, endpoint, 2);
    for record in &records {
        assert_eq!(record["outcome"], "success", "{record:#}");
        let margin = record["deadline_margin_ms"].as_i64().unwrap();
        assert!(
            margin > 0,
            "answered {margin} ms before the deadline: {record:#}"
        );
    }
    let failed_flushes = flush_times(&lambda, "telemetry not delivered");
    assert!(
        failed_flushes.len() >= records.len(),
        "every invocation says its telemetry was not delivered: {failed_flushes:?}\n{}",
        lambda.log_tail(40)
    );
    // The flush timeout is 1 s; the rest is timer slack on a loaded 2-core machine.
    for flush_ms in &failed_flushes {
        assert!(
            *flush_ms <= 1_500,
            "a flush took {flush_ms} ms: {failed_flushes:?}"
        );
    }
    let durations: Vec<f64> = records
        .iter()
        .map(|record| record["duration_ms"].as_f64().unwrap())
        .collect();
    println!(
        "collector {what}: flushes gave up after {failed_flushes:?} ms; invocations took {durations:?} ms"
    );
}

/// `flush_ms` of the function's log lines that contain `marker`.
fn flush_times(lambda: &LocalLoop, marker: &str) -> Vec<u64> {
    let log = std::fs::read_to_string(&lambda.log).unwrap_or_default();
    logged_numbers(&log, marker, "flush_ms")
}
