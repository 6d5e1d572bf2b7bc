//! One function process across hundreds of warm invocations, frozen between them as Lambda
//! freezes it: its threads, open files and memory stay flat, every invocation answers, and every
//! workflow completes. (`scripts/endurance` runs the same scenario for thousands.)

use temporal_serverless_tests::endurance::{self, Endurance, EnduranceReport};

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
    let warm = report.after_warm_up(WARM_UP);
    assert!(warm.len() >= 10, "{warm:?}");
    let threads = EnduranceReport::spread(&warm, |sample| sample.threads as i64);
    let fds = EnduranceReport::spread(&warm, |sample| sample.fds as i64);
    let rss_growth_kib = warm.last().unwrap().rss_kib as i64 - warm[0].rss_kib as i64;
    assert!(
        threads <= 3,
        "threads vary by {threads}:\n{}",
        report.table()
    );
    assert!(fds <= 3, "open files vary by {fds}:\n{}", report.table());
    assert!(
        rss_growth_kib <= 2048,
        "resident memory grew {rss_growth_kib} KiB after warm-up:\n{}",
        report.table()
    );
}
