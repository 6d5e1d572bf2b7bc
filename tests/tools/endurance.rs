//! The endurance run (`scripts/endurance`): one function process across thousands of warm
//! invocations, frozen between them, sampled every 100. Prints a table and writes JSON; exits
//! non-zero if threads or open files vary by more than 3 after warm-up, resident memory grows by
//! more than 2 MB, or an invocation or workflow fails.
//!
//! `endurance <fixture_function> <build id> <invocations> <json out>`

use std::process::ExitCode;
use temporal_serverless_tests::tools::endurance::{self, Endurance};

const WARM_UP: usize = 100;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, fixture, build_id, invocations, json_out] = args.as_slice() else {
        eprintln!("usage: endurance <fixture_function> <build id> <invocations> <json out>");
        return ExitCode::FAILURE;
    };
    let Ok(invocations) = invocations.parse() else {
        eprintln!("invocations must be a number, got {invocations}");
        return ExitCode::FAILURE;
    };
    let mut plan = Endurance::new(invocations, "endurance-tool-q");
    plan.sample_every = 100;
    let report = endurance::run(fixture.as_ref(), build_id, &plan, |sample| {
        eprintln!(
            "after {:>5} invocations: {} threads, {} fds, {:.2} MiB",
            sample.invocations,
            sample.threads,
            sample.fds,
            sample.rss_kib as f64 / 1024.0
        )
    });
    println!("{}", report.table());
    let flatness = report.flatness(WARM_UP);
    println!(
        "after {WARM_UP} invocations: {} (targets: threads and fds within 3, resident memory +2048 KiB \
         at most); {} failed invocations; {}/{} workflows completed; invocation p50: idle {} ms, \
         working {} ms",
        match &flatness {
            Ok(flat) => format!(
                "threads vary by {}, fds by {}, resident memory grew {} KiB",
                flat.threads, flat.fds, flat.rss_growth_kib
            ),
            Err(problem) => problem.clone(),
        },
        report.failures.len(),
        report.workflows_completed,
        report.workflows_started,
        report.json()["idle_invocation_ms_p50"],
        report.json()["working_invocation_ms_p50"],
    );
    let mut json = report.json();
    if let Ok(flat) = &flatness {
        json["threads_spread"] = flat.threads.into();
        json["fds_spread"] = flat.fds.into();
        json["rss_growth_kib"] = flat.rss_growth_kib.into();
    }
    if let Err(error) = std::fs::write(json_out, json.to_string()) {
        eprintln!("cannot write {json_out}: {error}");
    }
    let healthy =
        report.failures.is_empty() && report.workflows_completed == report.workflows_started;
    if flatness.is_ok() && healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
