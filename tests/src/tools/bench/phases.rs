//! Where an invocation's billed time went, from the function's own log: the runtime's
//! `invocation done` line (hand-out → first poll, work, idle, drain, shutdown, hooks), the
//! `telemetry flushed` line (OpenTelemetry's flush before the answer) and the `first poll sent`
//! line (how soon after the hand-out, and after the process started, the worker polled).

use crate::{logged_numbers, strip_ansi};
use std::collections::{HashMap, HashSet};

/// (log line, field) of each phase, in the order they happen.
pub const PHASES: [(&str, &str); 7] = [
    ("invocation done", "first_poll_ms"),
    ("invocation done", "work_ms"),
    ("invocation done", "idle_ms"),
    ("invocation done", "drain_ms"),
    ("invocation done", "shutdown_ms"),
    ("invocation done", "hooks_ms"),
    ("telemetry flushed", "flush_ms"),
];

/// The mean of each of [`PHASES`] over the invocations `request_ids` of `log`, in ms per
/// invocation that logged it; `None` where none did (an older runtime, telemetry off).
pub fn phase_means(log: &str, request_ids: &HashSet<String>) -> Vec<(&'static str, Option<f64>)> {
    let theirs: String = log
        .lines()
        .filter(|line| {
            field(&strip_ansi(line), "request_id").is_some_and(|id| request_ids.contains(&id))
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    PHASES
        .iter()
        .map(|(marker, name)| {
            let values = logged_numbers(&theirs, marker, name);
            let mean = (!values.is_empty())
                .then(|| values.iter().sum::<u64>() as f64 / values.len() as f64);
            (*name, mean)
        })
        .collect()
}

/// Per invocation (request id) of `log`, hand-out → the poll gate's close (first poll + work):
/// when it started to end.
pub fn work_ends(log: &str) -> HashMap<String, u64> {
    strip_ansi(log)
        .lines()
        .filter(|line| line.contains("invocation done"))
        .filter_map(|line| {
            let ms = |name| field(line, name)?.parse::<u64>().ok();
            Some((
                field(line, "request_id")?,
                ms("first_poll_ms")? + ms("work_ms")?,
            ))
        })
        .collect()
}

/// One `first poll sent` line.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstPoll {
    /// The invocation.
    pub request_id: String,
    /// Hand-out (the handler started) → the first poll left, in µs.
    pub since_invocation_us: u64,
    /// The process started → the first poll left, in µs.
    pub since_process_us: Option<u64>,
}

/// Every `first poll sent` line of `log`.
pub fn first_polls(log: &str) -> Vec<FirstPoll> {
    strip_ansi(log)
        .lines()
        .filter(|line| line.contains("first poll sent"))
        .filter_map(|line| {
            Some(FirstPoll {
                request_id: field(line, "request_id")?,
                since_invocation_us: field(line, "since_invocation_start_us")?.parse().ok()?,
                since_process_us: field(line, "since_process_start_us")
                    .and_then(|us| us.parse().ok()),
            })
        })
        .collect()
}

/// The value of `name=value` in a plain log line (quotes removed): the span's fields
/// (`invocation{request_id=… cold=…}`) or the event's.
fn field(line: &str, name: &str) -> Option<String> {
    let pattern = format!("{name}=");
    // At a field's start, not inside another name (`x_request_id=`).
    let start = line.match_indices(&pattern).find_map(|(at, _)| {
        let before = line[..at].chars().next_back();
        (!before.is_some_and(|c| c.is_alphanumeric() || c == '_')).then_some(at)
    })? + pattern.len();
    let value = line[start..]
        .split(|c: char| c.is_whitespace() || c == '}' || c == ',')
        .next()?
        .trim_matches('"');
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
 INFO invocation{request_id=aa-1 cold=true}: first poll sent rpc=\"PollWorkflowTaskQueue\" request_id=\"aa-1\" since_invocation_start_us=1500 since_process_start_us=9000
 INFO invocation{request_id=aa-1 cold=true}: invocation done duration_ms=700 failed_hooks=0 first_poll_ms=2 work_ms=100 idle_ms=500 drain_ms=80 shutdown_ms=10 hooks_ms=0
 INFO invocation{request_id=bb-2 cold=false}: invocation done duration_ms=900 failed_hooks=0 first_poll_ms=0 work_ms=300 idle_ms=500 drain_ms=90 shutdown_ms=6 hooks_ms=1
 INFO invocation{request_id=bb-2 cold=false}: telemetry flushed flush_ms=12
 INFO invocation{request_id=cc-3 cold=false}: invocation done duration_ms=50000 failed_hooks=0 first_poll_ms=0 work_ms=9 idle_ms=9 drain_ms=9 shutdown_ms=9 hooks_ms=9
lambda: fixture aa-1 cold duration=700.2ms billed=701ms
";

    fn ids(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn phases_are_averaged_over_the_invocations_asked_for() {
        let means = phase_means(LOG, &ids(&["aa-1", "bb-2"]));
        let mean = |name: &str| means.iter().find(|(field, _)| *field == name).unwrap().1;
        assert_eq!(mean("first_poll_ms"), Some(1.0));
        assert_eq!(mean("work_ms"), Some(200.0));
        assert_eq!(mean("idle_ms"), Some(500.0));
        assert_eq!(mean("drain_ms"), Some(85.0));
        assert_eq!(mean("shutdown_ms"), Some(8.0));
        assert_eq!(mean("hooks_ms"), Some(0.5));
        assert_eq!(mean("flush_ms"), Some(12.0), "only bb-2 flushed");
    }

    #[test]
    fn a_phase_nobody_logged_is_absent() {
        let older = "INFO invocation{request_id=aa-1 cold=true}: invocation done duration_ms=7\n";
        let means = phase_means(older, &ids(&["aa-1"]));
        assert!(means.iter().all(|(_, mean)| mean.is_none()), "{means:?}");
        assert!(
            phase_means(LOG, &ids(&["zz"]))
                .iter()
                .all(|(_, mean)| mean.is_none())
        );
    }

    #[test]
    fn work_ends_are_first_poll_and_work() {
        let ends = work_ends(LOG);
        assert_eq!(ends.get("aa-1"), Some(&102));
        assert_eq!(ends.get("bb-2"), Some(&300));
        assert_eq!(ends.len(), 3);
    }

    #[test]
    fn first_polls_are_read_with_their_invocation() {
        assert_eq!(
            first_polls(LOG),
            vec![FirstPoll {
                request_id: "aa-1".to_owned(),
                since_invocation_us: 1500,
                since_process_us: Some(9000),
            }]
        );
    }

    #[test]
    fn a_field_is_not_found_inside_another_name() {
        assert_eq!(
            field("x_request_id=1 request_id=2", "request_id"),
            Some("2".into())
        );
        assert_eq!(field("x_request_id=1", "request_id"), None);
    }
}
