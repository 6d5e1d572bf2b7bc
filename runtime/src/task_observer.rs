//! What the worker of the current invocation is doing, as seen from its gRPC calls (the
//! versioning relay reports them): when its first poll left, how many tasks it holds, how many it
//! answered, and since when it has been idle. The invocation uses it to log latency, to report
//! tasks completed, and to end early when there is nothing to do (idle exit).

use std::{
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// When the process started (first use, which `run_function` makes at start-up).
static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// The current invocation's worker activity.
pub(crate) struct TaskObserver {
    /// The current invocation's start and request id, until its first poll.
    invocation_started: Mutex<Option<(Instant, String)>>,
    tasks_completed: AtomicU64,
    in_flight: AtomicI64,
    /// The first poll of the invocation, or the last task received or answered; `None` before
    /// the first poll, so that a slow start is not taken for idleness.
    last_activity: Mutex<Option<Instant>>,
}

impl Default for TaskObserver {
    fn default() -> Self {
        Self {
            invocation_started: Mutex::default(),
            tasks_completed: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            last_activity: Mutex::new(None),
        }
    }
}

impl TaskObserver {
    /// Records the process start; call once, as early as possible.
    pub(crate) fn process_started() {
        PROCESS_START.get_or_init(Instant::now);
    }

    /// An invocation began: the next poll is its first, and counters restart.
    pub(crate) fn invocation_started(&self, at: Instant, request_id: &str) {
        *self.invocation_started.lock().unwrap() = Some((at, request_id.to_owned()));
        *self.last_activity.lock().unwrap() = None;
        self.tasks_completed.store(0, Ordering::Relaxed);
        self.in_flight.store(0, Ordering::Relaxed);
    }

    pub(crate) fn poll_sent(&self, rpc: &str) {
        if let Some((started, request_id)) = self.invocation_started.lock().unwrap().take() {
            *self.last_activity.lock().unwrap() = Some(Instant::now());
            let since_process_start_us = PROCESS_START
                .get()
                .map(|start| start.elapsed().as_micros() as u64);
            // Polls run outside the invocation's span (in the SDK's tasks): name it here.
            tracing::info!(
                rpc,
                request_id,
                since_invocation_start_us = started.elapsed().as_micros() as u64,
                since_process_start_us,
                "first poll sent"
            );
        }
    }

    pub(crate) fn task_received(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        *self.last_activity.lock().unwrap() = Some(Instant::now());
    }

    pub(crate) fn task_answered(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.tasks_completed.fetch_add(1, Ordering::Relaxed);
        *self.last_activity.lock().unwrap() = Some(Instant::now());
    }

    /// Tasks answered since the invocation started.
    pub(crate) fn tasks_completed(&self) -> u64 {
        self.tasks_completed.load(Ordering::Relaxed)
    }

    /// How long the worker has held no task, or `None` while it holds one or has not polled yet.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        self.last_activity
            .lock()
            .unwrap()
            .map(|last_activity| last_activity.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_only_without_tasks_in_hand() {
        let observer = TaskObserver::default();
        observer.invocation_started(Instant::now(), "r");
        assert_eq!(observer.idle_for(), None, "not idle before the first poll");
        observer.poll_sent("PollWorkflowTaskQueue");
        assert!(observer.idle_for().is_some());
        observer.task_received();
        assert_eq!(observer.idle_for(), None);
        observer.task_answered();
        assert!(observer.idle_for().unwrap() < Duration::from_secs(1));
        assert_eq!(observer.tasks_completed(), 1);
        observer.invocation_started(Instant::now(), "r");
        assert_eq!(observer.tasks_completed(), 0);
    }
}
