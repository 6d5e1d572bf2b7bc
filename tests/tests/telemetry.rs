//! OpenTelemetry on the local loop: the fixture function (with `FIXTURE_OTEL=1`) exports to a
//! real OTLP/gRPC receiver on loopback while the dev server's Worker Controller Instance invokes
//! it through the local Lambda service. The fixture's metric period (10 min) is far longer than
//! the test, so what the receiver holds when an invocation's record appears (the record is
//! written after the answer) came from the flush before that answer.

use serde_json::Value;
use std::{
    collections::{HashMap, HashSet},
    net::TcpListener,
    time::{Duration, Instant},
};
use temporal_serverless_tests::{
    cli_binary, fixture_function,
    local_loop::LocalLoop,
    logged_numbers,
    otlp_receiver::{OtlpReceiver, ReceivedSpan},
    strip_ansi,
};

/// What a run saw: every invocation's record, and for each invocation (by request id) the
/// spans the receiver held right after its record appeared — records are written after the
/// answer, so those spans were sent before it.
struct Run {
    lambda: LocalLoop,
    records: Vec<Value>,
    spans_at_answer: HashMap<String, Vec<ReceivedSpan>>,
}

/// Starts the loop with telemetry exported to `endpoint` (where `receiver`, if any, listens),
/// deploys, runs `workflows` Greet workflows, and returns once they have completed and every
/// invocation the function logged has answered.
fn run_workflows(
    task_queue: &str,
    endpoint: &str,
    workflows: usize,
    receiver: Option<&OtlpReceiver>,
) -> Run {
    let lambda = LocalLoop::builder(&cli_binary!(), "fixture", fixture_function!())
        .timeout_seconds(15)
        .concurrency(2)
        .task_queue(task_queue)
        .function_env("FIXTURE_OTEL", "1")
        .function_env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .start();
    lambda
        .deploy(fixture_function!())
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
    let mut spans_at_answer = HashMap::new();
    let mut completed = false;
    let started = Instant::now();
    loop {
        let records = lambda.records();
        let answered: HashSet<String> = records
            .iter()
            .map(|record| record["request_id"].as_str().unwrap().to_owned())
            .collect();
        if let Some(receiver) = receiver {
            let new: Vec<&String> = answered
                .iter()
                .filter(|id| !spans_at_answer.contains_key(*id))
                .collect();
            if !new.is_empty() {
                let spans = receiver.spans();
                for id in new {
                    spans_at_answer.insert(id.clone(), spans.clone());
                }
            }
        }
        completed = completed || ids.iter().all(|id| lambda.server.is_completed(id));
        if completed && invocations_logged(&lambda).is_subset(&answered) {
            return Run {
                lambda,
                records,
                spans_at_answer,
            };
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "workflows completed: {completed}; invocations answered: {answered:?}, logged: {:?}\n{}",
            invocations_logged(&lambda),
            lambda.log_tail(60)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The request ids of the invocations the function has logged from (each logs while it runs).
fn invocations_logged(lambda: &LocalLoop) -> HashSet<String> {
    let log = strip_ansi(&std::fs::read_to_string(&lambda.log).unwrap_or_default());
    log.split("requestId=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
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
    let Run {
        lambda,
        records,
        spans_at_answer,
    } = run_workflows("otel-q", receiver.endpoint(), 3, Some(&receiver));
    let spans = receiver.spans();
    // The metric period is 10 minutes: any metric here came from a flush.
    let metrics = receiver.metrics();
    let build_id = env!("FIXTURE_BUILD_ID");

    // A span per invocation, in the X-Ray trace the Lambda service handed over, received
    // before the invocation answered, together with the task spans it links to.
    for record in &records {
        let request_id = record["request_id"].as_str().unwrap();
        let before_answer = &spans_at_answer[request_id];
        let span = span_of(before_answer, request_id).unwrap_or_else(|| {
            panic!(
                "no invocation span for {request_id} by its answer; spans then: {:#?}",
                before_answer
                    .iter()
                    .map(|span| &span.name)
                    .collect::<Vec<_>>()
            )
        });
        for (trace_id, span_id) in &span.links {
            assert!(
                before_answer
                    .iter()
                    .any(|task| &task.trace_id == trace_id && &task.span_id == span_id),
                "{request_id} links to span {span_id}, which had not arrived by its answer"
            );
        }
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
    let Run {
        lambda, records, ..
    } = run_workflows(task_queue, endpoint, 2, None);
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
