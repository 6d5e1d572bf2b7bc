//! `temporal-serverless inspect` on binaries that are not serverless functions. Its behaviour on
//! the built examples is tested in `examples/tests/inspect.rs`, where those binaries are built.

use std::process::Command;

#[test]
fn inspect_rejects_a_binary_without_manifest() {
    let cli = env!("CARGO_BIN_EXE_temporal-serverless");
    // The CLI itself holds the manifest marker (to search for it) but no manifest.
    let output = Command::new(cli).arg("inspect").arg(cli).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("carries no deployment manifest"),
        "{stderr}"
    );
}

#[test]
fn inspect_reports_an_unreadable_file() {
    let cli = env!("CARGO_BIN_EXE_temporal-serverless");
    let output = Command::new(cli)
        .args(["inspect", "/nonexistent/bootstrap"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot read /nonexistent/bootstrap"),
        "{stderr}"
    );
}
