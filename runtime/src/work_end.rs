//! When an invocation's worker stops: at the end of the work time, or earlier once it has held
//! no task for the idle window (the server invokes again within milliseconds when new work finds
//! no poller, so waiting out the deadline would only be billed). Either way the polls are drained
//! first (see `poll_gate`): a task they bring is handled — and, before the work time is over,
//! the worker keeps serving — so none is lost.

use crate::{
    end_policy::Window,
    poll_gate::{DRAIN_TIMEOUT, PollGate},
    task_observer::TaskObserver,
};
use std::time::Duration;
use tokio::time::Instant;

/// How long after the drain a task its last poll brought may take to reach the worker and be
/// answered, even past the work time: shut down before, the worker would drop it (see
/// [`answer_what_is_in_hand`]).
const IN_HAND_GRACE: Duration = Duration::from_secs(1);

/// How long before the work time ends a drain the server completes starts: a round trip, and
/// time to answer a task the last polls bring.
const SERVER_DRAIN_LEAD: Duration = Duration::from_millis(500);

/// How often the worker's idleness is looked at.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// How often, once the polls are drained, the worker is checked for tasks still in hand: the
/// answer ends the invocation, so this adds directly to its billed time.
const HAND_CHECK_INTERVAL: Duration = Duration::from_millis(5);

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

/// How the work of an invocation ended: why, and when its last drain began (for the phase
/// breakdown the invocation logs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkEnd {
    pub(crate) reason: StopReason,
    /// When the gate closed for the last time: the drain ran from here to the end.
    pub(crate) drain_started: Instant,
    /// How long the worker had been idle when that drain began.
    pub(crate) idle: Duration,
}

impl WorkEnd {
    /// Why the work ended, as the invocation's span and log say it.
    pub(crate) fn describe(&self, window: Window) -> String {
        match (self.reason, window.idle, window.learned_from) {
            (StopReason::Idle, Some(idle), Some(gaps)) => format!(
                "idle after {} ms (window {} ms, learned from {gaps} gaps)",
                self.idle.as_millis(),
                idle.as_millis()
            ),
            (StopReason::Idle, Some(idle), None) => format!(
                "idle after {} ms (window {} ms, configured)",
                self.idle.as_millis(),
                idle.as_millis()
            ),
            _ => self.reason.as_str().to_owned(),
        }
    }
}

/// Waits until the worker should stop, with its polls drained; the caller then shuts it down.
///
/// An idle end is only taken while the work time left before the drain must start anyway is more
/// than `end_cost` (what an end costs: its drain, shutdown and the next start): ending closer to
/// it saves less billed time than the extra invocation costs. Where polls drain by their deadline
/// (an end costs about a second) that keeps a short function timeout's invocations to their work
/// time, which is then cheaper than any idle end.
pub(crate) async fn wait_for_work_end(
    work_time: Duration,
    idle_exit: Option<Duration>,
    end_cost: Duration,
    observer: &TaskObserver,
    gate: &PollGate,
) -> WorkEnd {
    let started = Instant::now();
    let work_ends = started + work_time;
    let drain_from = || drain_start(gate, started, work_time);
    let idle = || {
        idle_exit
            .zip(observer.idle_for())
            .is_some_and(|(window, idle)| idle >= window)
    };
    // Asked only before a drain: once one has run, its cost is paid, and only work coming back
    // may keep the worker serving.
    let worth_ending = || drain_from().saturating_duration_since(Instant::now()) > end_cost;
    loop {
        let now = Instant::now();
        let over = now >= drain_from();
        let was_idle = idle() && worth_ending();
        if !was_idle && !over {
            tokio::time::sleep(
                IDLE_CHECK_INTERVAL.min(drain_from().saturating_duration_since(now)),
            )
            .await;
            continue;
        }
        let (drain_started, idle_then) = (now, observer.idle_for().unwrap_or_default());
        // Closing also releases the worker at the server (see `worker_release`); when the
        // server completes its polls, they come back within a round trip, and it refuses the
        // worker's polls from then on: that drain is final.
        let final_drain = gate.server_completes_polls();
        let drained = drain(gate).await;
        if !over && !idle() && !final_drain {
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
        answer_what_is_in_hand(observer, work_ends).await;
        let reason = if was_idle && !over {
            StopReason::Idle
        } else {
            StopReason::WorkTimeOver
        };
        return WorkEnd {
            reason,
            drain_started,
            idle: idle_then,
        };
    }
}

/// When the drain must start. Polls must be back when the work time ends and the worker is shut
/// down: a drain by the polls' deadline takes up to `DRAIN_TIMEOUT`, one the server completes a
/// round trip (the lead leaves time to answer what the last polls bring). A short work time
/// still polls for half of it. Known once the worker has described the namespace, before its
/// first poll.
fn drain_start(gate: &PollGate, started: Instant, work_time: Duration) -> Instant {
    let lead = if gate.server_completes_polls() {
        SERVER_DRAIN_LEAD
    } else {
        DRAIN_TIMEOUT
    };
    (started + work_time)
        .checked_sub(lead)
        .unwrap_or(started)
        .max(started + work_time / 2)
}

/// Closes the gate and waits for the polls to come back, at most [`DRAIN_TIMEOUT`]; says whether
/// they did. A poll sent just before the gate closed comes back about 1.5 s later (see
/// `POLL_DEADLINE`), which a short work time (its drain starts at half of it) does not leave:
/// the drain then runs past the work time, by at most `DRAIN_TIMEOUT` − half the shortest work
/// time (1.5 s), out of the graceful shutdown's share of the buffer (the worker is abandoned at
/// the end of the graceful period all the same, so the answer still comes before the deadline).
async fn drain(gate: &PollGate) -> bool {
    gate.close();
    tokio::time::timeout(DRAIN_TIMEOUT, gate.drained())
        .await
        .is_ok()
}

/// Waits, within the work time or [`IN_HAND_GRACE`] after the drain, whichever is later, until
/// the worker holds no task. A poll that came back during the drain may have brought one.
/// Shutting the worker down now would lose it: Core drops a task it has polled but not yet
/// handed to the worker, and the server waits out the task's timeout (10 s for a workflow task).
/// So the worker answers what it holds first; an activity that outlasts the bound is the
/// graceful shutdown's to end.
async fn answer_what_is_in_hand(observer: &TaskObserver, work_ends: Instant) {
    let until = work_ends.max(Instant::now() + IN_HAND_GRACE);
    while observer.in_flight() != 0 && Instant::now() < until {
        tokio::time::sleep(HAND_CHECK_INTERVAL.min(until - Instant::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker_rpc::WorkerRpc;

    #[tokio::test(start_paused = true)]
    async fn without_polls_the_work_time_ends_the_worker() {
        let (observer, gate) = (TaskObserver::default(), PollGate::default());
        observer.invocation_started(std::time::Instant::now(), "r");
        let started = Instant::now();
        let reason = when_ends_cost_nothing(
            Duration::from_secs(10),
            Some(Duration::from_millis(500)),
            &observer,
            &gate,
        )
        .await
        .reason;
        // Not idle before the first poll: the work time decides, minus the drain.
        assert_eq!(reason, StopReason::WorkTimeOver);
        assert_eq!(started.elapsed(), Duration::from_secs(10) - DRAIN_TIMEOUT);
    }

    /// [`wait_for_work_end`] where an end costs nothing (any idle end is worth taking).
    async fn when_ends_cost_nothing(
        work_time: Duration,
        idle_exit: Option<Duration>,
        observer: &TaskObserver,
        gate: &PollGate,
    ) -> WorkEnd {
        wait_for_work_end(work_time, idle_exit, Duration::ZERO, observer, gate).await
    }

    /// An invocation's observer and gate, its worker polling for workflow tasks.
    fn polling() -> (std::sync::Arc<TaskObserver>, std::sync::Arc<PollGate>) {
        let observer = std::sync::Arc::new(TaskObserver::default());
        observer.invocation_started(std::time::Instant::now(), "r");
        observer.poll_sent(WorkerRpc::PollWorkflowTaskQueue);
        (observer, std::sync::Arc::new(PollGate::default()))
    }

    /// Waits for the work end of `work_time` without idle exit, in a task of its own.
    fn ending_in_background(
        observer: &std::sync::Arc<TaskObserver>,
        gate: &std::sync::Arc<PollGate>,
        work_time: Duration,
    ) -> tokio::task::JoinHandle<StopReason> {
        let (observer, gate) = (observer.clone(), gate.clone());
        tokio::spawn(async move {
            when_ends_cost_nothing(work_time, None, &observer, &gate)
                .await
                .reason
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_brought_by_a_draining_poll_is_answered_before_the_worker_stops() {
        use crate::poll_gate::Admission;
        let (observer, gate) = polling();
        let Admission::Forward(poll) = gate.admit().await else {
            panic!("an open gate forwards polls");
        };
        let started = Instant::now();
        let ending = ending_in_background(&observer, &gate, Duration::from_secs(4));
        // The drain starts at 2 s (half of a short work time); the poll comes back with a task.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        observer.task_received(b"task");
        drop(poll);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !ending.is_finished(),
            "the worker holds a task: stopping it now would lose the task"
        );
        observer.task_answered(b"task", false);
        assert_eq!(ending.await.unwrap(), StopReason::WorkTimeOver);
        assert!(
            started.elapsed() < Duration::from_millis(2700),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_sent_just_before_a_short_drain_is_waited_for_past_the_work_time() {
        use crate::poll_gate::Admission;
        let (observer, gate) = polling();
        let started = Instant::now();
        let ending = ending_in_background(&observer, &gate, Duration::from_secs(3));
        // The drain of a 3 s work time starts at 1.5 s; a poll leaves just before, and the server
        // answers it 1.5 s later, past the work time.
        tokio::time::sleep(Duration::from_millis(1490)).await;
        let Admission::Forward(poll) = gate.admit().await else {
            panic!("the gate is still open");
        };
        tokio::time::sleep(Duration::from_millis(1700)).await;
        assert!(
            !ending.is_finished(),
            "shutting down now would cancel the poll and strand a task it brings"
        );
        drop(poll);
        assert_eq!(ending.await.unwrap(), StopReason::WorkTimeOver);
        assert!(started.elapsed() <= Duration::from_millis(3200));
    }

    /// The shortest work time allowed (just over 1 s): its drain starts at 0.6 s, a poll admitted
    /// just before comes back 1.5 s later, past the work time, with a task; the worker neither
    /// stops with the poll out nor before it has answered the task.
    #[tokio::test(start_paused = true)]
    async fn at_the_shortest_work_time_a_task_brought_by_the_last_poll_is_not_stranded() {
        use crate::poll_gate::Admission;
        let (observer, gate) = polling();
        let started = Instant::now();
        let work_time = Duration::from_millis(1200);
        let ending = ending_in_background(&observer, &gate, work_time);
        tokio::time::sleep(Duration::from_millis(590)).await;
        let Admission::Forward(poll) = gate.admit().await else {
            panic!("the gate is still open");
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !ending.is_finished(),
            "shut down at {:?} with the poll out: the task it brings would be stranded",
            started.elapsed()
        );
        observer.task_received(b"workflow task");
        drop(poll);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !ending.is_finished(),
            "shutting down with the task in hand would drop it"
        );
        observer.task_answered(b"workflow task", false);
        assert_eq!(ending.await.unwrap(), StopReason::WorkTimeOver);
        assert!(
            started.elapsed() <= work_time + DRAIN_TIMEOUT,
            "within the graceful period: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_held_past_the_work_time_is_left_to_the_graceful_shutdown() {
        let (observer, gate) = (TaskObserver::default(), PollGate::default());
        observer.invocation_started(std::time::Instant::now(), "r");
        observer.poll_sent(WorkerRpc::PollActivityTaskQueue);
        observer.task_received(b"long activity");
        let started = Instant::now();
        let reason = when_ends_cost_nothing(Duration::from_secs(4), None, &observer, &gate)
            .await
            .reason;
        assert_eq!(reason, StopReason::WorkTimeOver);
        assert_eq!(started.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_worker_stops_after_the_window_once_its_polls_are_back() {
        let (observer, gate) = (TaskObserver::default(), PollGate::default());
        observer.invocation_started(std::time::Instant::now(), "r");
        observer.poll_sent(WorkerRpc::PollWorkflowTaskQueue);
        let reason = when_ends_cost_nothing(
            Duration::from_secs(10),
            Some(Duration::ZERO),
            &observer,
            &gate,
        )
        .await
        .reason;
        assert_eq!(reason, StopReason::Idle);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), gate.admit())
                .await
                .is_err(),
            "the gate stays closed: the worker is about to shut down"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_idle_end_when_the_work_time_left_is_worth_less_than_an_end() {
        // 3 s of work time, drained by poll deadline from 1.5 s: idle after 500 ms, 1 s is left.
        // An end that costs 1.2 s is worth less than holding on; one that costs 200 ms is not.
        for (end_cost, expected) in [(1200, StopReason::WorkTimeOver), (200, StopReason::Idle)] {
            let (observer, gate) = polling();
            let started = Instant::now();
            let end = wait_for_work_end(
                Duration::from_secs(3),
                Some(Duration::from_millis(500)),
                Duration::from_millis(end_cost),
                &observer,
                &gate,
            )
            .await;
            assert_eq!(end.reason, expected, "an end costing {end_cost} ms");
            let ended_at = started.elapsed();
            assert_eq!(
                ended_at < Duration::from_millis(600),
                expected == StopReason::Idle,
                "{ended_at:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_the_server_completes_is_final_and_starts_late() {
        use crate::poll_gate::Admission;
        use std::sync::Arc;
        let (observer, gate) = (
            Arc::new(TaskObserver::default()),
            Arc::new(PollGate::default()),
        );
        gate.set_server_completes_polls(true);
        gate.allow_server_drain(true);
        observer.invocation_started(std::time::Instant::now(), "r");
        observer.poll_sent(WorkerRpc::PollWorkflowTaskQueue);
        let Admission::Forward(poll) = gate.admit().await else {
            panic!("an open gate forwards polls");
        };
        let started = Instant::now();
        let ending = tokio::spawn({
            let (observer, gate) = (observer.clone(), gate.clone());
            async move {
                when_ends_cost_nothing(
                    Duration::from_secs(10),
                    Some(Duration::from_millis(100)),
                    &observer,
                    &gate,
                )
                .await
            }
        });
        // Idle for the window: the gate closes and the server completes the poll, which brings a
        // task (matched just before).
        tokio::time::sleep(Duration::from_millis(120)).await;
        observer.task_received(b"task");
        drop(poll);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!ending.is_finished(), "the task is answered first");
        observer.task_answered(b"task", false);
        let end = ending.await.unwrap();
        assert_eq!(end.reason, StopReason::Idle);
        assert!(started.elapsed() < Duration::from_millis(250));
        assert!(
            tokio::time::timeout(Duration::from_millis(10), gate.admit())
                .await
                .is_err(),
            "not reopened: the server refuses this worker's polls now"
        );

        // Without idle exit, work goes on until just before the work time ends.
        let (observer, gate) = (TaskObserver::default(), PollGate::default());
        gate.set_server_completes_polls(true);
        gate.allow_server_drain(true);
        observer.invocation_started(std::time::Instant::now(), "r");
        observer.poll_sent(WorkerRpc::PollWorkflowTaskQueue);
        let started = Instant::now();
        when_ends_cost_nothing(Duration::from_secs(10), None, &observer, &gate).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(10) - SERVER_DRAIN_LEAD
        );
    }
}
