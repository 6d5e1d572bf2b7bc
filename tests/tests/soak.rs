//! The short chaos soak (the full one is `scripts/soak`): workflows at random moments on the
//! whole local loop, with activities shorter and longer than the 3 s work time of a 10 s
//! function. Asserted: no workflow lost, no Lambda timeout. Workflow-task timeouts (stranded
//! tasks and the sticky queue's 1 s fallbacks, whose targets release runs meet but this debug run
//! under load does not always) and the timing figures are printed with their verdicts.
//! `SOAK_SEED` replays a run (the seed is printed).

use temporal_serverless_tests::{
    cli_binary, fixture_function,
    tools::soak::{self, SoakConfig, SoakReport},
};

fn quick() -> SoakConfig {
    let mut config = SoakConfig::quick();
    if let Some(seed) = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
    {
        config.seed = seed;
    }
    config
}

fn run(config: &SoakConfig) -> SoakReport {
    let report = soak::run(config, fixture_function!(), &cli_binary!())
        .unwrap_or_else(|error| panic!("{error}"));
    println!("{}", report.table());
    report
}

/// Fails with the table, the stalled workflows and the log's path.
fn assert_correct(report: &SoakReport) {
    let failures = report.correctness_failures();
    assert!(
        failures.is_empty(),
        "{}\n{}\nstalled workflows: {:?}\nlost: {:?}\nnot started: {:?}\nthe functions' log: {}",
        failures.join("\n"),
        report.table(),
        report.stalled_workflows,
        report.lost,
        report.start_failures,
        report.log.display()
    );
    let _ = std::fs::remove_file(&report.log);
}

#[test]
fn kills_and_cuts_lose_no_workflow() {
    kills_and_cuts(quick());
}

#[test]
fn kills_and_cuts_lose_no_workflow_by_the_server_driven_drain() {
    // Invocations then end by `ShutdownWorker` completing their polls (opted in, on task queues
    // of one partition).
    kills_and_cuts(SoakConfig {
        server_drain: true,
        ..quick()
    });
}

fn kills_and_cuts(config: SoakConfig) {
    let report = run(&config);
    assert!(report.started >= 60, "{} workflows started", report.started);
    assert!(
        report.kills >= 2 && report.cuts >= 1,
        "the scenario needs ≥ 2 kills and ≥ 1 cut, got {} and {}: were function processes busy?\n{}",
        report.kills,
        report.cuts,
        report.table()
    );
    assert_correct(&report);
}

#[test]
fn without_faults_no_workflow_is_lost() {
    let report = run(&quick().without_faults());
    assert!(report.started >= 60, "{} workflows started", report.started);
    assert_eq!(report.kills + report.cuts, 0);
    assert_correct(&report);
}
