//! The checklist, for people (one block per check) or machines (`--json`).

use super::checks::{Check, Verdict};

/// Prints the checklist.
pub fn print(checks: &[Check], json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(checks).unwrap());
        return;
    }
    for check in checks {
        let mark = match check.verdict {
            Verdict::Passed => "PASS",
            Verdict::Failed => "FAIL",
            Verdict::NotChecked => "----",
        };
        println!("[{mark}] {}: {}", check.name, check.saw);
        if let Some(fix) = &check.fix {
            let label = if check.verdict == Verdict::Failed {
                "fix"
            } else {
                "check by hand"
            };
            println!("       {label}: {fix}");
        }
    }
    let count = |verdict| {
        checks
            .iter()
            .filter(|check| check.verdict == verdict)
            .count()
    };
    println!(
        "{} passed, {} failed, {} not checked",
        count(Verdict::Passed),
        count(Verdict::Failed),
        count(Verdict::NotChecked)
    );
}
