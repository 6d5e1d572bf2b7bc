//! Where a sticky timeout came from: what the worker whose sticky queue the task was meant for
//! was doing when the server scheduled it. A task meant for a worker still at work waited on a
//! live sticky queue that did not take it; one meant for a worker that had started to end (its
//! sticky queue released at the gate's close) went to the normal queue at once and waited there
//! for any worker, with the sticky timeout running all the same.

use super::phases;
use crate::workflow_timing::StickyWait;
use serde_json::Value;
use std::collections::HashMap;

/// What the sticky queue's owner was doing when the task was scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Its invocation had not started to end: its worker polled its sticky queue.
    Working,
    /// Its invocation was draining or shutting down: its sticky queue was released.
    Ending,
    /// Its invocation had ended.
    Gone,
    /// No record or log line of the owner (not a worker of this load).
    Unknown,
}

impl OwnerState {
    /// `working`, `ending`, `gone`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            OwnerState::Working => "working",
            OwnerState::Ending => "ending",
            OwnerState::Gone => "gone",
            OwnerState::Unknown => "unknown",
        }
    }
}

/// One workflow task scheduled for a sticky queue, with its workflow's history.
#[derive(Debug, Clone)]
pub struct StickyScheduling {
    /// The workflow.
    pub workflow_id: String,
    /// Its history as (event, ms since the workflow started).
    pub timeline: Vec<(String, i64)>,
    /// The task.
    pub wait: StickyWait,
    /// What its sticky queue's owner was doing when it was scheduled.
    pub owner_state: OwnerState,
}

/// When each invocation (request id) started and began to end, and when it ended, in ms since
/// the Unix epoch.
pub struct Lives(HashMap<String, (i64, i64, i64)>);

impl Lives {
    /// From the Lambda service's `records` (start, duration) and the function's `log` (hand-out
    /// → first poll and work, whose sum is when the poll gate closed).
    pub fn new(records: &[Value], log: &str) -> Self {
        let work_ends = phases::work_ends(log);
        Self(
            records
                .iter()
                .filter_map(|record| {
                    let id = record["request_id"].as_str()?;
                    let started = record["started_at_ms"].as_i64()?;
                    let ended = started + record["duration_ms"].as_f64()?.ceil() as i64;
                    let ending = started + *work_ends.get(id)? as i64;
                    Some((id.to_owned(), (started, ending, ended)))
                })
                .collect(),
        )
    }

    /// What `wait`'s owner was doing when its task was scheduled.
    pub fn owner_state(&self, wait: &StickyWait) -> OwnerState {
        let Some((_, ending, ended)) = wait.owner.as_ref().and_then(|owner| self.0.get(owner))
        else {
            return OwnerState::Unknown;
        };
        match wait.scheduled_at_ms {
            at if at < *ending => OwnerState::Working,
            at if at < *ended => OwnerState::Ending,
            _ => OwnerState::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_owner_is_placed_by_its_invocation_record_and_log() {
        let records =
            [json!({"request_id": "r-1", "started_at_ms": 10_000, "duration_ms": 2999.2})];
        let log = " INFO invocation{request_id=r-1 cold=false}: invocation done duration_ms=2999 \
                   first_poll_ms=100 work_ms=1400 idle_ms=500 drain_ms=1000 shutdown_ms=499\n";
        let lives = Lives::new(&records, log);
        let at = |ms: i64, owner: &str| {
            lives.owner_state(&StickyWait {
                scheduled_at_ms: ms,
                owner: Some(owner.to_owned()),
                timed_out: false,
            })
        };
        assert_eq!(at(11_499, "r-1"), OwnerState::Working);
        assert_eq!(
            at(11_500, "r-1"),
            OwnerState::Ending,
            "the gate closed at 1500"
        );
        assert_eq!(at(12_999, "r-1"), OwnerState::Ending);
        assert_eq!(at(13_000, "r-1"), OwnerState::Gone);
        assert_eq!(at(11_000, "r-2"), OwnerState::Unknown);
    }
}
