//! One function process across hundreds of warm invocations, frozen between them as Lambda
//! freezes it: its threads, open files and memory stay flat, every invocation answers, and every
//! workflow completes. (`scripts/endurance` runs the same scenario for thousands.)

use temporal_serverless_tests::tools::endurance::{self, Endurance};

/// Invocations before the process is taken to have reached its working size (connection,
/// runtime threads, workflow cache, allocator arenas).
const WARM_UP: usize = 50;

#[test]
fn a_warm_process_stays_flat_over_three_hundred_invocations() {
    let plan = Endurance::new(300, "endurance-q");
    let report = endurance::run(
        env!("CARGO_BIN_EXE_fixture_function").as_ref(),
        env!("FIXTURE_BUILD_ID"),
        &plan,
        |sample| println!("{sample:?}"),
    );
    println!("{}", report.table());
    println!("{}", report.json());
    assert!(
        report.failures.is_empty(),
        "invocations that did not answer: {:?}\n{}",
        report.failures,
        report.output
    );
    assert_eq!(
        report.workflows_completed, report.workflows_started,
        "every workflow completes\n{}",
        report.output
    );
    if let Err(problem) = report.flatness(WARM_UP) {
        panic!("{problem}\n{}", report.table());
    }
}
