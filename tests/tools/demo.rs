//! The one-command demo (`scripts/demo`): the real Temporal dev server decides when to invoke a
//! Rust Lambda function served by our local Lambda service, and a batch of workflows of both
//! versioning behaviors completes. Prints live status, then a summary; exits 0 only if every
//! workflow completed. Everything it starts is stopped at the end, on failure, and on Ctrl-C.
//!
//! `demo <bootstrap> <temporal-serverless CLI> [workflows]`

use serde_json::Value;
use std::{
    path::PathBuf,
    process::ExitCode,
    sync::atomic::Ordering,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use temporal_serverless_tests::{
    local_loop::LocalLoop,
    tools::{ctrl_c_flag, percentile},
};

const TASK_QUEUE: &str = "shop";
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(120);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `"2026-11-21T23:43:21.804445888Z"` → milliseconds since the Unix epoch.
fn rfc3339_ms(value: &Value) -> Option<u64> {
    let time = chrono::DateTime::parse_from_rfc3339(value.as_str()?).ok()?;
    u64::try_from(time.timestamp_millis()).ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(bootstrap), Some(cli)) = (
        args.get(1).map(PathBuf::from),
        args.get(2).map(PathBuf::from),
    ) else {
        eprintln!("usage: demo <bootstrap> <temporal-serverless CLI> [workflows]");
        return ExitCode::FAILURE;
    };
    let workflows: usize = args
        .get(3)
        .and_then(|count| count.parse().ok())
        .unwrap_or(20);
    // Ctrl-C: stop waiting; dropping the loop stops everything it started.
    let interrupted = ctrl_c_flag();

    println!(
        "demo: starting the Temporal dev server (Worker Controller Instance on) and the local Lambda service"
    );
    let lambda = LocalLoop::builder(&cli, "shop", &bootstrap)
        .timeout_seconds(30)
        .concurrency(4)
        .start();
    println!(
        "demo: dev server on {}, Lambda service on http://{}",
        lambda.server.address, lambda.lambda.address
    );
    match lambda.deploy(&bootstrap) {
        Ok(output) => print!("{output}"),
        Err(error) => {
            eprintln!("demo: deploy failed: {error}");
            return ExitCode::FAILURE;
        }
    }
    // The registration invocation (made by the server right after create-version) ends after
    // its idle window; count it apart from the work.
    let registration_started = Instant::now();
    while lambda.records().is_empty() && registration_started.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let registration_invocations = lambda.records().len();

    println!("demo: starting {workflows} workflows (Checkout: PINNED, Newsletter: AUTO_UPGRADE)");
    let batch_started_ms = now_ms();
    let ids: Vec<String> = (0..workflows).map(|n| format!("demo-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let (workflow_type, input) = if n % 2 == 0 {
            ("Checkout", format!("\"order-{n}\""))
        } else {
            ("Newsletter", format!("\"subscriber-{n}\""))
        };
        if let Err(error) = lambda
            .server
            .start_workflow(TASK_QUEUE, workflow_type, id, &input)
        {
            eprintln!("demo: {error}");
            return ExitCode::FAILURE;
        }
    }

    let started = Instant::now();
    let mut completed: Vec<(String, Value)> = Vec::new();
    let mut pending: Vec<String> = ids.clone();
    while !pending.is_empty()
        && started.elapsed() < COMPLETION_TIMEOUT
        && !interrupted.load(Ordering::SeqCst)
    {
        pending.retain(|id| {
            match lambda
                .server
                .cli_json(&["workflow", "describe", "--workflow-id", id])
            {
                Ok(description)
                    if description["workflowExecutionInfo"]["status"]
                        == "WORKFLOW_EXECUTION_STATUS_COMPLETED" =>
                {
                    completed.push((id.clone(), description));
                    false
                }
                _ => true,
            }
        });
        let records = lambda.records();
        let work: Vec<&Value> = records.iter().skip(registration_invocations).collect();
        let cold = work.iter().filter(|record| record["cold"] == true).count();
        println!(
            "[{:5.1}s] workflows {:>3}/{workflows} completed | invocations finished {} ({} cold, {} warm)",
            started.elapsed().as_secs_f64(),
            completed.len(),
            work.len(),
            cold,
            work.len() - cold
        );
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    // Invocations are recorded when they end: an idle invocation ends after its idle window.
    let settle_started = Instant::now();
    let mut records = lambda.records();
    let mut unchanged_since = Instant::now();
    while settle_started.elapsed() < Duration::from_secs(40)
        && unchanged_since.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(250));
        let latest = lambda.records();
        if latest.len() != records.len() {
            records = latest;
            unchanged_since = Instant::now();
        }
    }
    let work: Vec<&Value> = records.iter().skip(registration_invocations).collect();
    let first_invocation_ms = work
        .iter()
        .filter_map(|record| record["started_at_ms"].as_u64())
        .filter(|at| *at >= batch_started_ms)
        .min();
    let mut completion_ms: Vec<u64> = completed
        .iter()
        .filter_map(|(_, description)| {
            let info = &description["workflowExecutionInfo"];
            Some(rfc3339_ms(&info["closeTime"])?.saturating_sub(rfc3339_ms(&info["startTime"])?))
        })
        .collect();
    completion_ms.sort_unstable();
    let billed_ms: u64 = work
        .iter()
        .filter_map(|record| record["billed_duration_ms"].as_u64())
        .sum();
    let cold = work.iter().filter(|record| record["cold"] == true).count();
    let timeouts = records
        .iter()
        .filter(|record| record["outcome"] == "timeout")
        .count();
    println!();
    println!("summary");
    println!(
        "  workflows completed          {}/{workflows}",
        completed.len()
    );
    println!(
        "  invocations                  {} (+{registration_invocations} registration)",
        work.len()
    );
    println!("  cold starts                  {cold}");
    println!("  timeouts                     {timeouts}");
    println!(
        "  first workflow start → first invocation   {}",
        first_invocation_ms
            .map(|at| format!("{} ms", at - batch_started_ms))
            .unwrap_or_else(|| "none".to_owned())
    );
    println!(
        "  workflow start → completion  p50 {} ms, p90 {} ms, max {} ms",
        percentile(&completion_ms, 0.5),
        percentile(&completion_ms, 0.9),
        completion_ms.last().copied().unwrap_or(0)
    );
    println!("  billed duration              {billed_ms} ms in all");
    drop(lambda);
    if completed.len() == workflows {
        println!("demo: every workflow completed; everything started was stopped");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "demo: {} workflows did not complete: {}",
            pending.len(),
            pending.join(", ")
        );
        ExitCode::FAILURE
    }
}
