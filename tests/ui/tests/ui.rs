//! Compile-time contract: every misuse of the attributes fails with an actionable message
//! (`fail/*.rs` + `fail/*.stderr`), and the accepted forms compile and configure a worker
//! (`pass/*.rs`, binaries of this package, run with `TEMPORAL_SERVERLESS_DRY_RUN=1`, which
//! configures, prints what the function would serve and exits).

use std::process::Command;

/// The rustflags trybuild 1.0 gives rustc when it checks the cases (`src/rustflags.rs` and
/// `build_all_tests` in its `src/cargo.rs`).
const TRYBUILD_CHECK_RUSTFLAGS: &[&str] = &[
    "--cfg",
    "trybuild",
    "--verbose",
    "-A",
    "dead_code",
    "--diagnostic-width=140",
];

/// Only compile-fail cases, so trybuild checks them (`cargo check`, no code generation) in one
/// cargo run.
#[test]
fn misuse_fails_to_compile_with_an_actionable_message() {
    // Set before trybuild spawns cargo, which inherits them; no other test in this binary reads
    // them. The `TS_UI_*` are read by `env!` in the cases.
    //
    // trybuild first checks the dependencies, then the cases, and gives the second cargo run one
    // rustflag more (`--diagnostic-width`): cargo would check every dependency twice, in two
    // builds with different flags. `CARGO_ENCODED_RUSTFLAGS` takes precedence over the flags
    // trybuild passes as config, so both runs get the second run's flags and share one build.
    unsafe {
        std::env::set_var("TS_UI_BUILD_ID_WITH_SPACE", "build 7");
        std::env::set_var("TS_UI_EMPTY", "");
        std::env::set_var(
            "CARGO_ENCODED_RUSTFLAGS",
            TRYBUILD_CHECK_RUSTFLAGS.join("\x1f"),
        );
    }
    trybuild::TestCases::new().compile_fail("fail/*.rs");
}

/// Runs an accepted form with a dry run and checks what it printed, one line per item of
/// `expected`; fails unless it exited 0.
fn assert_dry_run_prints(binary: &str, expected: &[&str]) {
    let output = Command::new(binary)
        .env(temporal_serverless::DRY_RUN_VARIABLE, "1")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {binary}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{binary} exited with {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: String = expected.iter().map(|line| format!("{line}\n")).collect();
    assert_eq!(stdout, expected);
}

#[test]
fn concat_of_literals_and_env_for_build_id_and_a_task_queue_in_the_attribute() {
    assert_dry_run_prints(
        env!("CARGO_BIN_EXE_concat_build_id_and_task_queue"),
        &[
            "deployment=shop-eu build_id=v2024.06.01-7 task_queue=checkout",
            "workflow Checkout versioning=AUTO_UPGRADE",
        ],
    );
}

#[test]
fn env_build_id_with_the_task_queue_set_in_main() {
    assert_dry_run_prints(
        env!("CARGO_BIN_EXE_env_build_id"),
        &[
            "deployment=shop build_id=2024.06.01 task_queue=checkout",
            "workflow Checkout versioning=PINNED",
        ],
    );
}

/// The case's main also asserts each workflow's behavior; a failed assertion fails the dry run.
#[test]
fn both_behaviors_and_activities_with_a_literal_build_id() {
    assert_dry_run_prints(
        env!("CARGO_BIN_EXE_mixed_behaviors_literal_build_id"),
        &[
            "deployment=shop build_id=2024-06-01.1 task_queue=checkout",
            "workflow Checkout versioning=PINNED",
            "workflow newsletter versioning=AUTO_UPGRADE",
        ],
    );
}
