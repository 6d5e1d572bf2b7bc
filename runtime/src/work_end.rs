//! When an invocation's worker stops: at the end of the work time, or earlier once it has held
//! no task for the idle window (the server invokes again within milliseconds when new work finds
//! no poller, so waiting out the deadline would only be billed). Either way the polls are drained
//! first (see `poll_gate`): a task they bring is handled — and, before the work time is over,
//! the worker keeps serving — so none is lost.

use crate::{
    poll_gate::{DRAIN_TIMEOUT, PollGate},
    task_observer::TaskObserver,
};
use std::time::Duration;
use tokio::time::Instant;

/// How often the worker's idleness is looked at.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Why the worker was stopped, as recorded on the invocation's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// No task for the idle window.
    Idle,
    /// The work time ended.
    WorkTimeOver,
}

impl StopReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::WorkTimeOver => "work time over",
        }
    }
}

/// Waits until the worker should stop, with its polls drained; the caller then shuts it down.
pub(crate) async fn wait_for_work_end(
    work_time: Duration,
    idle_exit: Option<Duration>,
    observer: &TaskObserver,
    gate: &PollGate,
) -> StopReason {
    let started = Instant::now();
    let work_ends = started + work_time;
    // Polls must be back when the work time ends and the worker is shut down; a short work time
    // still polls for half of it.
    let drain_from = work_ends
        .checked_sub(DRAIN_TIMEOUT)
        .unwrap_or(started)
        .max(started + work_time / 2);
    let idle = || {
        idle_exit
            .zip(observer.idle_for())
            .is_some_and(|(window, idle)| idle >= window)
    };
    loop {
        let now = Instant::now();
        let over = now >= drain_from;
        let was_idle = idle();
        if was_idle || over {
            gate.close();
            let bound = DRAIN_TIMEOUT.min(work_ends.saturating_duration_since(now));
            let drained = tokio::time::timeout(bound, gate.drained()).await.is_ok();
            if !over && !idle() {
                // A poll came back with work: keep serving.
                gate.open();
                continue;
            }
            if !drained {
                tracing::warn!(
                    outstanding_polls = gate.outstanding(),
                    "polls did not come back in time; shutting down with them outstanding"
                );
            }
            return if was_idle && !over {
                StopReason::Idle
            } else {
                StopReason::WorkTimeOver
            };
        }
        tokio::time::sleep(IDLE_CHECK_INTERVAL.min(drain_from - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn without_polls_the_work_time_ends_the_worker() {
        let (observer, gate) = (TaskObserver::default(), PollGate::default());
        observer.invocation_started(std::time::Instant::now(), "r");
        let started = Instant::now();
        let reason = wait_for_work_end(
            Duration::from_secs(10),
            Some(Duration::from_millis(500)),
            &observer,
            &gate,
        )
        .await;
        // Not idle before the first poll: the work time decides, minus the drain.
        assert_eq!(reason, StopReason::WorkTimeOver);
        assert_eq!(started.elapsed(), Duration::from_secs(10) - DRAIN_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_worker_stops_after_the_window_once_its_polls_are_back() {
        let (observer, gate) = (TaskObserver::default(), PollGate::default());
        observer.invocation_started(std::time::Instant::now(), "r");
        observer.poll_sent("PollWorkflowTaskQueue");
        let reason = wait_for_work_end(
            Duration::from_secs(10),
            Some(Duration::ZERO),
            &observer,
            &gate,
        )
        .await;
        assert_eq!(reason, StopReason::Idle);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), gate.admit())
                .await
                .is_err(),
            "the gate stays closed: the worker is about to shut down"
        );
    }
}
