//! The tools behind `scripts/bench`, `scripts/soak`, `scripts/endurance` and `scripts/demo`:
//! long runs on the harness that measure and report against targets, not tests. Their mains are
//! the package's `tools/*.rs` binaries; `tests/tests/soak.rs` and `tests/tests/endurance.rs` run
//! short versions of the soak and the endurance run as tests.

pub mod arrivals;
pub mod bench;
pub mod endurance;
pub mod soak;
pub mod targets;

/// A flag set when the process gets Ctrl-C (SIGINT), which then no longer ends it: a driver
/// stops waiting when it is set, and what it started is stopped as it is dropped.
pub fn ctrl_c_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let set = flag.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        set.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    flag
}

/// `git describe --always --dirty` of the working directory's tree (a dirty one is marked):
/// what a driver's binaries were built from when a script built them just before.
pub fn described_commit() -> Option<String> {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|commit| !commit.is_empty())
}

/// The value at `fraction` (0.0–1.0) of `sorted`, nearest rank; 0 for an empty slice.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}
