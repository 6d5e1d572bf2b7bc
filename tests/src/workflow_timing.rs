//! How long a workflow waited, read from its history as the server recorded it (server clocks
//! only, so the figures do not depend on when the test process happened to look).

use crate::dev_server::DevServer;
use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use std::time::Duration;

/// The waits of one completed workflow.
#[derive(Debug, Clone)]
pub struct WorkflowTiming {
    /// Workflow id.
    pub workflow_id: String,
    /// When the execution started (ms since the Unix epoch, the server's clock).
    pub started_at_ms: i64,
    /// Execution started → its first workflow task started (picked up by a worker).
    pub first_task_wait: Duration,
    /// The longest any of its workflow tasks waited from scheduled to started.
    pub longest_task_wait: Duration,
    /// The longest any of its activity tasks waited from scheduled to started.
    pub longest_activity_wait: Duration,
    /// Execution started → execution completed.
    pub start_to_close: Duration,
    /// Every event, as (kind, milliseconds since the execution started), for failure messages.
    pub timeline: Vec<(String, i64)>,
    /// Workflow tasks that timed out before a worker started them (schedule-to-start: a sticky
    /// queue nobody polled; the task moves to the normal queue).
    pub sticky_task_timeouts: usize,
    /// Workflow tasks a worker started and never answered (start-to-close: a stall).
    pub started_task_timeouts: usize,
    /// Activity attempts beyond the first.
    pub activity_retries: usize,
    /// Where its time went, summed over its tasks.
    pub spent: TimeSpent,
    /// Each workflow task scheduled for a sticky queue: whose, and whether it timed out there.
    pub sticky_waits: Vec<StickyWait>,
}

/// A workflow task scheduled for a sticky queue. The server schedules a workflow's next task for
/// the sticky queue of the worker that completed its last one (unless it was unstuck), and starts
/// the sticky schedule-to-start timeout then; if that worker's queue is gone (released), the task
/// goes to the normal queue at once, but the timeout still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickyWait {
    /// When the task was scheduled (ms since the Unix epoch, the server's clock).
    pub scheduled_at_ms: i64,
    /// The worker that completed the workflow's previous task (its identity up to the `@`: the
    /// runtime's identity is `<request_id>@<function ARN>`).
    pub owner: Option<String>,
    /// No worker started it within the sticky schedule-to-start timeout.
    pub timed_out: bool,
}

/// A workflow's time by what it was waiting for, each summed over its tasks (a task's wait runs
/// from its first scheduling, so a sticky timeout's second of waiting counts as waiting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeSpent {
    /// Workflow tasks scheduled → started: no worker was polling (no instance, or one draining).
    pub workflow_task_wait: Duration,
    /// Workflow tasks started → completed: a worker ran the workflow code (a replay included).
    pub workflow_task_run: Duration,
    /// Activity tasks scheduled → started.
    pub activity_wait: Duration,
    /// Activity tasks started → completed (the activity's own time and its report).
    pub activity_run: Duration,
}

impl WorkflowTiming {
    /// Reads `workflow_id`'s history; `None` until it has completed.
    pub fn read(server: &DevServer, workflow_id: &str) -> Option<Self> {
        let history = server
            .cli_json(&["workflow", "show", "--workflow-id", workflow_id])
            .ok()?;
        Self::from_history(workflow_id, &history)
    }

    /// [`WorkflowTiming::read`] of every id, in order, by a few threads at once (each read is a
    /// CLI process).
    pub fn read_all(server: &DevServer, workflow_ids: &[&str]) -> Vec<Option<Self>> {
        const READERS: usize = 4;
        let chunk = workflow_ids.len().div_ceil(READERS).max(1);
        std::thread::scope(|scope| {
            let readers: Vec<_> = workflow_ids
                .chunks(chunk)
                .map(|ids| {
                    scope.spawn(move || {
                        ids.iter()
                            .map(|id| Self::read(server, id))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            readers
                .into_iter()
                .flat_map(|reader| reader.join().unwrap())
                .collect()
        })
    }

    fn from_history(workflow_id: &str, history: &Value) -> Option<Self> {
        let events: Vec<(String, DateTime<FixedOffset>)> = history["events"]
            .as_array()?
            .iter()
            .filter_map(|event| {
                Some((
                    event_kind(event["eventType"].as_str()?),
                    DateTime::parse_from_rfc3339(event["eventTime"].as_str()?).ok()?,
                ))
            })
            .collect();
        let time_of = |kind: &str| {
            events
                .iter()
                .find(|(event, _)| event == kind)
                .map(|(_, at)| *at)
        };
        let started = time_of("workflowexecutionstarted")?;
        let completed = time_of("workflowexecutioncompleted")?;
        let first_task = time_of("workflowtaskstarted")?;
        Some(Self {
            workflow_id: workflow_id.to_owned(),
            started_at_ms: started.timestamp_millis(),
            first_task_wait: between(started, first_task),
            longest_task_wait: longest_wait(&events, "workflowtask"),
            longest_activity_wait: longest_wait(&events, "activitytask"),
            start_to_close: between(started, completed),
            timeline: events
                .iter()
                .map(|(kind, at)| (kind.clone(), (*at - started).num_milliseconds()))
                .collect(),
            sticky_task_timeouts: task_timeouts(history, "SCHEDULE_TO_START"),
            started_task_timeouts: task_timeouts(history, "START_TO_CLOSE"),
            // The history keeps only the last attempt's ActivityTaskStarted: attempt N means N - 1
            // attempts before it.
            activity_retries: history["events"]
                .as_array()?
                .iter()
                .filter_map(|event| event["activityTaskStartedEventAttributes"]["attempt"].as_u64())
                .map(|attempt| attempt.saturating_sub(1) as usize)
                .sum(),
            sticky_waits: sticky_waits(history),
            spent: TimeSpent {
                workflow_task_wait: total_between(
                    &events,
                    "workflowtaskscheduled",
                    "workflowtaskstarted",
                ),
                workflow_task_run: total_between(
                    &events,
                    "workflowtaskstarted",
                    "workflowtaskcompleted",
                ),
                activity_wait: total_between(
                    &events,
                    "activitytaskscheduled",
                    "activitytaskstarted",
                ),
                activity_run: total_between(
                    &events,
                    "activitytaskstarted",
                    "activitytaskcompleted",
                ),
            },
        })
    }
}

/// `EVENT_TYPE_WORKFLOW_TASK_STARTED` and `WorkflowTaskStarted` both → `workflowtaskstarted`.
fn event_kind(event_type: &str) -> String {
    event_type
        .trim_start_matches("EVENT_TYPE_")
        .replace('_', "")
        .to_lowercase()
}

/// Workflow tasks timed out with `timeoutType` `TIMEOUT_TYPE_<kind>`.
fn task_timeouts(history: &Value, kind: &str) -> usize {
    history["events"].as_array().map_or(0, |events| {
        events
            .iter()
            .filter_map(|event| {
                event["workflowTaskTimedOutEventAttributes"]["timeoutType"].as_str()
            })
            .filter(|timeout| timeout.trim_start_matches("TIMEOUT_TYPE_") == kind)
            .count()
    })
}

/// The longest time from a task's first scheduling to a worker starting it. A workflow task that
/// timed out on a sticky queue is scheduled again; its wait runs from the first scheduling.
fn longest_wait(events: &[(String, DateTime<FixedOffset>)], task: &str) -> Duration {
    let (scheduled_kind, started_kind) = (format!("{task}scheduled"), format!("{task}started"));
    let mut longest = Duration::ZERO;
    let mut scheduled = None;
    for (kind, at) in events {
        if *kind == scheduled_kind {
            scheduled.get_or_insert(*at);
        } else if *kind == started_kind
            && let Some(scheduled) = scheduled.take()
        {
            longest = longest.max(between(scheduled, *at));
        }
    }
    longest
}

/// The workflow tasks of `history` scheduled for a sticky queue, whose it was, and whether they
/// timed out schedule-to-start.
fn sticky_waits(history: &Value) -> Vec<StickyWait> {
    let mut waits: Vec<StickyWait> = Vec::new();
    let mut owner = None;
    let mut last_was_sticky = false;
    for event in history["events"].as_array().into_iter().flatten() {
        let kind = event_kind(event["eventType"].as_str().unwrap_or_default());
        match kind.as_str() {
            "workflowtaskcompleted" => {
                owner = event["workflowTaskCompletedEventAttributes"]["identity"]
                    .as_str()
                    .map(|identity| identity.split('@').next().unwrap_or(identity).to_owned());
            }
            "workflowtaskscheduled" => {
                let queue_kind =
                    &event["workflowTaskScheduledEventAttributes"]["taskQueue"]["kind"];
                last_was_sticky = queue_kind
                    .as_str()
                    .is_some_and(|kind| kind.ends_with("STICKY"))
                    || queue_kind.as_i64() == Some(2);
                let at = event["eventTime"]
                    .as_str()
                    .and_then(|time| DateTime::parse_from_rfc3339(time).ok());
                if last_was_sticky && let Some(at) = at {
                    waits.push(StickyWait {
                        scheduled_at_ms: at.timestamp_millis(),
                        owner: owner.clone(),
                        timed_out: false,
                    });
                }
            }
            "workflowtasktimedout"
                if last_was_sticky
                    && event["workflowTaskTimedOutEventAttributes"]["timeoutType"]
                        .as_str()
                        .is_some_and(|timeout| timeout.ends_with("SCHEDULE_TO_START")) =>
            {
                if let Some(wait) = waits.last_mut() {
                    wait.timed_out = true;
                }
            }
            _ => {}
        }
    }
    waits
}

/// The sum, over each `to` event, of the time since the first `from` event not yet matched by one.
fn total_between(events: &[(String, DateTime<FixedOffset>)], from: &str, to: &str) -> Duration {
    let mut total = Duration::ZERO;
    let mut since = None;
    for (kind, at) in events {
        if kind == from {
            since.get_or_insert(*at);
        } else if kind == to
            && let Some(since) = since.take()
        {
            total += between(since, *at);
        }
    }
    total
}

fn between(from: DateTime<FixedOffset>, to: DateTime<FixedOffset>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn waits_come_from_event_times() {
        let history = json!({"events": [
            {"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "eventTime": "2026-11-22T01:00:00.000Z"},
            {"eventType": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED", "eventTime": "2026-11-22T01:00:00.000Z"},
            {"eventType": "EVENT_TYPE_WORKFLOW_TASK_STARTED", "eventTime": "2026-11-22T01:00:00.040Z"},
            {"eventType": "EVENT_TYPE_WORKFLOW_TASK_COMPLETED", "eventTime": "2026-11-22T01:00:00.050Z",
             "workflowTaskCompletedEventAttributes": {"identity": "req-1@arn:aws:lambda:us-east-1:1:function:f"}},
            {"eventType": "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "eventTime": "2026-11-22T01:00:00.050Z"},
            {"eventType": "EVENT_TYPE_ACTIVITY_TASK_STARTED", "eventTime": "2026-11-22T01:00:00.060Z"},
            {"eventType": "WorkflowTaskScheduled", "eventTime": "2026-11-22T01:00:01.000Z",
             "workflowTaskScheduledEventAttributes": {"taskQueue": {"name": "req-1@arn-sticky", "kind": "TASK_QUEUE_KIND_STICKY"}}},
            {"eventType": "WorkflowTaskTimedOut", "eventTime": "2026-11-22T01:00:01.100Z",
             "workflowTaskTimedOutEventAttributes": {"timeoutType": "TIMEOUT_TYPE_SCHEDULE_TO_START"}},
            {"eventType": "WorkflowTaskScheduled", "eventTime": "2026-11-22T01:00:01.100Z"},
            {"eventType": "WorkflowTaskStarted", "eventTime": "2026-11-22T01:00:01.250Z"},
            {"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", "eventTime": "2026-11-22T01:00:01.300Z"},
        ]});
        let timing = WorkflowTiming::from_history("w", &history).unwrap();
        assert_eq!(timing.started_at_ms, 1_795_309_200_000);
        assert_eq!(timing.first_task_wait, Duration::from_millis(40));
        assert_eq!(timing.longest_task_wait, Duration::from_millis(250));
        assert_eq!(timing.longest_activity_wait, Duration::from_millis(10));
        assert_eq!(timing.start_to_close, Duration::from_millis(1300));
        assert_eq!(
            (timing.sticky_task_timeouts, timing.started_task_timeouts),
            (1, 0)
        );
        assert_eq!(timing.activity_retries, 0);
        assert_eq!(
            timing.sticky_waits,
            [StickyWait {
                scheduled_at_ms: 1_795_309_201_000,
                owner: Some("req-1".to_owned()),
                timed_out: true,
            }]
        );
        assert_eq!(
            timing.spent,
            TimeSpent {
                // 40 ms, then 250 ms from the first of the two schedulings.
                workflow_task_wait: Duration::from_millis(290),
                // The second task has not completed in this history.
                workflow_task_run: Duration::from_millis(10),
                activity_wait: Duration::from_millis(10),
                activity_run: Duration::ZERO,
            }
        );
    }

    #[test]
    fn an_open_workflow_has_no_timing_yet() {
        let history = json!({"events": [
            {"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "eventTime": "2026-11-22T01:00:00Z"},
        ]});
        assert!(WorkflowTiming::from_history("w", &history).is_none());
    }
}
