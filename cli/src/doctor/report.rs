//! The checklist, for people (one block per check) or machines (`--json`). What a check saw can
//! quote the server and the function (the Worker Controller's failed activities carry the
//! function's `errorMessage`): secrets are masked in both forms
//! ([`temporal_serverless::redact`]).

use super::checks::{Check, Verdict};
use std::fmt::Write;
use temporal_serverless::redact;

/// Prints the checklist.
pub fn print(checks: &[Check], json: bool) {
    print!("{}", render(checks, json));
}

/// The checklist as [`print()`] prints it.
pub fn render(checks: &[Check], json: bool) -> String {
    let checks: Vec<Check> = checks.iter().map(redacted).collect();
    if json {
        return format!("{}\n", serde_json::to_string_pretty(&checks).unwrap());
    }
    let mut text = String::new();
    for check in &checks {
        let mark = match check.verdict {
            Verdict::Passed => "PASS",
            Verdict::Warning => "WARN",
            Verdict::Failed => "FAIL",
            Verdict::NotChecked => "----",
        };
        writeln!(text, "[{mark}] {}: {}", check.name, check.saw).unwrap();
        if let Some(fix) = &check.fix {
            let label = if check.verdict == Verdict::NotChecked {
                "check by hand"
            } else {
                "fix"
            };
            writeln!(text, "       {label}: {fix}").unwrap();
        }
    }
    let count = |verdict| {
        checks
            .iter()
            .filter(|check| check.verdict == verdict)
            .count()
    };
    writeln!(
        text,
        "{} passed, {} warning(s), {} failed, {} not checked",
        count(Verdict::Passed),
        count(Verdict::Warning),
        count(Verdict::Failed),
        count(Verdict::NotChecked)
    )
    .unwrap();
    text
}

/// `check` with its secrets masked.
fn redacted(check: &Check) -> Check {
    Check {
        saw: redact::text(&check.saw),
        fix: check.fix.as_deref().map(redact::text),
        ..check.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporal_serverless::redact::SENTINEL;

    #[test]
    fn quoted_failures_never_show_a_secret_in_text_or_json() {
        // As the controller's history quotes a function's errorMessage and a server's echo.
        redact::remember(&format!("{SENTINEL}-known"));
        let checks = [
            Check {
                name: "controller history",
                verdict: Verdict::Failed,
                saw: format!(
                    "1 failed activities: InvokeFunction: TemporalServerless.Configuration: \
                     3 | api_key = \"{SENTINEL} | ValidateFunction: \
                     -----BEGIN PRIVATE KEY-----\nMII{SENTINEL}\n-----END PRIVATE KEY-----"
                ),
                fix: Some(format!("rerun with the key {SENTINEL}-known")),
            },
            Check {
                name: "version exists",
                verdict: Verdict::Passed,
                saw: "Worker Deployment Version fixture:1 exists".to_owned(),
                fix: None,
            },
        ];
        for json in [false, true] {
            let report = render(&checks, json);
            assert!(!report.contains("SENTINEL"), "{report}");
            assert!(report.contains("api_key = \\\"***") || report.contains("api_key = \"***"));
            assert!(report.contains("fixture:1 exists"), "{report}");
        }
        let json: serde_json::Value = serde_json::from_str(&render(&checks, true)).unwrap();
        assert_eq!(json[0]["verdict"], "failed", "{json:#}");
    }

    #[test]
    fn a_warning_shows_its_fix_and_is_counted_apart() {
        let checks = [
            Check {
                name: "drain",
                verdict: Verdict::Warning,
                saw: "by poll deadline".to_owned(),
                fix: Some("set the dynamic config".to_owned()),
            },
            Check {
                name: "function logs",
                verdict: Verdict::NotChecked,
                saw: "needs AWS credentials".to_owned(),
                fix: Some("aws logs tail".to_owned()),
            },
        ];
        let text = render(&checks, false);
        assert!(
            text.contains("[WARN] drain: by poll deadline\n       fix: set the dynamic config\n"),
            "{text}"
        );
        assert!(
            text.contains("       check by hand: aws logs tail\n"),
            "{text}"
        );
        assert!(
            text.ends_with("0 passed, 1 warning(s), 0 failed, 1 not checked\n"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&render(&checks, true)).unwrap();
        assert_eq!(json[0]["verdict"], "warning", "{json:#}");
    }
}
