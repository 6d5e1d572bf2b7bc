//! What the worker of the current invocation is doing, as seen from its gRPC calls (the
//! worker relay reports them): when its first poll left, which tasks it holds, how many it
//! answered, and since when it has been idle. The invocation uses it to log latency, to report
//! tasks completed, and to end early when there is nothing to do (idle exit).
//!
//! Tasks are tracked by task token, not counted: an answer can be sent more than once (the
//! client retries an attempt that failed with UNAVAILABLE), and an activity abandoned by an
//! earlier invocation's worker can complete during this one. A count would be driven down by
//! both, and idle exit would then stop a worker that still holds a task. So a task is held from
//! the response that brought its token until an answer with that token succeeds (or is refused
//! for good), and an answer for a token this invocation never received changes nothing.

use crate::worker_rpc::{ReceivedKind, ReceivedTask, WorkerRpc};
use parking_lot::Mutex;
use std::{collections::HashMap, sync::OnceLock, time::Duration};
use tokio::time::Instant;

/// How long a workflow's next task is waited for after the task that makes the server send it
/// (an activity's answer, a workflow task that scheduled an activity): it usually comes within
/// milliseconds, and an invocation that ended in between would make it wait for the next one.
/// Past this, the task went to another instance or is not coming soon.
pub(crate) const FOLLOW_UP_WAIT: Duration = Duration::from_millis(500);

/// When the process started (first use, which `run_function` makes at start-up).
static PROCESS_START: OnceLock<std::time::Instant> = OnceLock::new();

/// The current invocation's worker activity.
#[derive(Default)]
pub(crate) struct TaskObserver {
    /// The current invocation's start and request id, until its first poll.
    invocation_started: Mutex<Option<(std::time::Instant, String)>>,
    tasks: Mutex<Tasks>,
    gaps: Mutex<Gaps>,
}

/// The gaps between tasks, across invocations (a frozen instance's gap includes the freeze): what
/// the end policy learns from.
#[derive(Default)]
struct Gaps {
    /// Since when the worker has held nothing after answering a task.
    idle_since: Option<Instant>,
    seen: Vec<Duration>,
}

/// A task in hand.
struct Held {
    workflow_id: Option<String>,
    activity: bool,
}

/// The current invocation's tasks.
#[derive(Default)]
struct Tasks {
    /// The tasks received and not yet answered, by token.
    in_flight: HashMap<Vec<u8>, Held>,
    /// Workflows whose next task is due (see [`FOLLOW_UP_WAIT`]), since when.
    follow_ups: HashMap<String, Instant>,
    /// Tasks received in this invocation whose answer the server accepted.
    completed: u64,
    /// The worker's calls that failed in this invocation (see `call_failure`).
    failed_calls: u64,
    /// The first poll of the invocation, or the last task received or answered; `None` before
    /// the first poll, so that a slow start is not taken for idleness.
    last_activity: Option<Instant>,
    /// When the invocation's first poll left.
    first_poll: Option<Instant>,
}

impl TaskObserver {
    /// Records the process start; call once, as early as possible.
    pub(crate) fn process_started() {
        PROCESS_START.get_or_init(std::time::Instant::now);
    }

    /// An invocation began: the next poll is its first, and what it holds starts empty (a task
    /// of an earlier invocation's worker is no longer this invocation's to wait for).
    pub(crate) fn invocation_started(&self, at: std::time::Instant, request_id: &str) {
        *self.invocation_started.lock() = Some((at, request_id.to_owned()));
        *self.tasks.lock() = Tasks::default();
    }

    /// A task poll left for the server (`rpc` is named in the first poll's log line).
    pub(crate) fn poll_sent(&self, rpc: WorkerRpc) {
        if let Some((started, request_id)) = self.invocation_started.lock().take() {
            {
                let mut tasks = self.tasks.lock();
                tasks.last_activity = Some(Instant::now());
                tasks.first_poll = tasks.last_activity;
            }
            let since_process_start_us = PROCESS_START
                .get()
                .map(|start| start.elapsed().as_micros() as u64);
            // Polls run outside the invocation's span (in the SDK's tasks): name it here.
            tracing::info!(
                rpc = rpc.name(),
                request_id,
                since_invocation_start_us = started.elapsed().as_micros() as u64,
                since_process_start_us,
                "first poll sent"
            );
        }
    }

    /// A response handed the worker the task with this token (of no workflow in particular).
    #[cfg(test)]
    pub(crate) fn task_received(&self, token: &[u8]) {
        self.received(&ReceivedTask {
            token: token.to_vec(),
            kind: ReceivedKind::Other,
            workflow_id: None,
        });
    }

    /// A response handed the worker this task.
    pub(crate) fn received(&self, task: &ReceivedTask) {
        let now = Instant::now();
        let mut tasks = self.tasks.lock();
        let followed_up = task
            .workflow_id
            .as_ref()
            .is_some_and(|workflow| tasks.follow_ups.remove(workflow).is_some());
        if tasks.in_flight.is_empty() {
            let mut gaps = self.gaps.lock();
            if let Some(since) = gaps.idle_since.take()
                && !followed_up
            {
                gaps.seen.push(now - since);
            }
        }
        tasks.in_flight.insert(
            task.token.clone(),
            Held {
                workflow_id: task.workflow_id.clone(),
                activity: task.kind == ReceivedKind::ActivityTask,
            },
        );
        tasks.last_activity = Some(now);
    }

    /// The server accepted an answer for the task with this token. Counted once per task of this
    /// invocation; an answer for a token it does not hold (a late answer of an earlier
    /// invocation's task, or a repeat) changes nothing. `schedules_activity`: the answer is a
    /// workflow task's completion that scheduled an activity.
    pub(crate) fn task_answered(&self, token: &[u8], schedules_activity: bool) {
        let mut tasks = self.tasks.lock();
        if let Some(held) = tasks.in_flight.remove(token) {
            tasks.completed += 1;
            // The server now sends the workflow its next task: after an activity, a workflow
            // task; after a workflow task that scheduled one, the activity.
            if (held.activity || schedules_activity)
                && let Some(workflow) = held.workflow_id
            {
                tasks.follow_ups.insert(workflow, Instant::now());
            }
            self.after_answer(&mut tasks);
        }
    }

    /// The server refused an answer for good (the task timed out or is gone): the worker no
    /// longer holds the task, but it was not completed.
    pub(crate) fn task_refused(&self, token: &[u8]) {
        let mut tasks = self.tasks.lock();
        if tasks.in_flight.remove(token).is_some() {
            self.after_answer(&mut tasks);
        }
    }

    fn after_answer(&self, tasks: &mut Tasks) {
        let now = Instant::now();
        tasks.last_activity = Some(now);
        if tasks.in_flight.is_empty() {
            self.gaps.lock().idle_since = Some(now);
        }
    }

    /// The gaps seen since the last call: how long the worker held nothing before a task came
    /// (not counting a workflow's next task that was due, see [`FOLLOW_UP_WAIT`]).
    pub(crate) fn take_gaps(&self) -> Vec<Duration> {
        std::mem::take(&mut self.gaps.lock().seen)
    }

    /// When the invocation's first poll left, if it has.
    pub(crate) fn first_poll(&self) -> Option<Instant> {
        self.tasks.lock().first_poll
    }

    /// Tasks received in this invocation and accepted by the server.
    pub(crate) fn tasks_completed(&self) -> u64 {
        self.tasks.lock().completed
    }

    /// One of the worker's calls failed (it has been logged).
    pub(crate) fn call_failed(&self) {
        self.tasks.lock().failed_calls += 1;
    }

    /// The worker's calls that failed in this invocation.
    pub(crate) fn failed_calls(&self) -> u64 {
        self.tasks.lock().failed_calls
    }

    /// Tasks received in this invocation and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.tasks.lock().in_flight.len()
    }

    /// How long the worker has held no task, or `None` while it holds one or has not polled yet.
    /// A workflow whose next task is due counts as a task in hand, for [`FOLLOW_UP_WAIT`] at most.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        let mut tasks = self.tasks.lock();
        if !tasks.in_flight.is_empty() {
            return None;
        }
        tasks
            .follow_ups
            .retain(|_, since| since.elapsed() < FOLLOW_UP_WAIT);
        if !tasks.follow_ups.is_empty() {
            return None;
        }
        tasks
            .last_activity
            .map(|last_activity| last_activity.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> TaskObserver {
        let observer = TaskObserver::default();
        observer.invocation_started(std::time::Instant::now(), "r");
        observer.poll_sent(WorkerRpc::PollWorkflowTaskQueue);
        observer
    }

    /// A panic while the observer's state is locked (a bug anywhere on a thread that holds it)
    /// must not fail every later invocation of the warm process.
    #[test]
    fn a_panic_while_its_state_is_locked_does_not_break_the_next_invocation() {
        let observer = std::sync::Arc::new(started());
        let holder = observer.clone();
        let panicked = std::thread::spawn(move || {
            let _tasks = holder.tasks.lock();
            panic!("a bug while the state is locked");
        })
        .join();
        assert!(panicked.is_err());
        observer.invocation_started(std::time::Instant::now(), "next");
        observer.call_failed();
        assert_eq!(observer.failed_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_only_without_tasks_in_hand() {
        let observer = TaskObserver::default();
        observer.invocation_started(std::time::Instant::now(), "r");
        assert_eq!(observer.idle_for(), None, "not idle before the first poll");
        observer.poll_sent(WorkerRpc::PollWorkflowTaskQueue);
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(observer.idle_for(), Some(Duration::from_millis(300)));
        observer.task_received(b"a");
        assert_eq!(observer.idle_for(), None);
        assert_eq!(observer.in_flight(), 1);
        tokio::time::advance(Duration::from_millis(100)).await;
        observer.task_answered(b"a", false);
        assert_eq!(observer.idle_for(), Some(Duration::ZERO));
        assert_eq!((observer.in_flight(), observer.tasks_completed()), (0, 1));
        observer.invocation_started(std::time::Instant::now(), "r");
        assert_eq!(observer.tasks_completed(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_answers_leave_the_other_tasks_in_hand() {
        let observer = started();
        observer.task_received(b"activity");
        observer.task_received(b"workflow task");
        observer.task_answered(b"activity", false);
        // The client repeats an answer whose first attempt the server took (its response was
        // lost): the workflow task is still in hand.
        observer.task_answered(b"activity", false);
        observer.task_refused(b"activity");
        assert_eq!(observer.in_flight(), 1);
        assert_eq!(observer.idle_for(), None, "still holds the workflow task");
        assert_eq!(observer.tasks_completed(), 1, "one task, answered twice");
        observer.task_answered(b"workflow task", false);
        assert_eq!((observer.in_flight(), observer.tasks_completed()), (0, 2));
        assert!(observer.idle_for().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_of_an_earlier_invocation_changes_nothing() {
        let observer = started();
        observer.task_received(b"abandoned activity");
        // Its worker shut down without it; the next invocation starts.
        observer.invocation_started(std::time::Instant::now(), "r2");
        observer.poll_sent(WorkerRpc::PollActivityTaskQueue);
        observer.task_received(b"new task");
        tokio::time::advance(Duration::from_millis(100)).await;
        observer.task_answered(b"abandoned activity", false);
        assert_eq!(observer.in_flight(), 1);
        assert_eq!(observer.idle_for(), None, "the new task is still in hand");
        assert_eq!(observer.tasks_completed(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_answer_releases_the_task_without_counting_it() {
        let observer = started();
        observer.task_received(b"timed out");
        tokio::time::advance(Duration::from_millis(100)).await;
        observer.task_refused(b"timed out");
        assert_eq!(observer.in_flight(), 0);
        assert_eq!(observer.idle_for(), Some(Duration::ZERO));
        assert_eq!(observer.tasks_completed(), 0);
    }

    fn task(token: &[u8], kind: ReceivedKind, workflow: &str) -> ReceivedTask {
        ReceivedTask {
            token: token.to_vec(),
            kind,
            workflow_id: Some(workflow.to_owned()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_workflows_next_task_is_waited_for_after_its_activity() {
        let observer = started();
        observer.received(&task(b"act", ReceivedKind::ActivityTask, "wf-1"));
        observer.task_answered(b"act", false);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(observer.idle_for(), None, "wf-1's workflow task is due");
        observer.received(&task(
            b"wft",
            ReceivedKind::WorkflowTask {
                workflow_type: "T".into(),
                run_id: "run-1".into(),
            },
            "wf-1",
        ));
        observer.task_answered(b"wft", true);
        assert_eq!(
            observer.idle_for(),
            None,
            "it scheduled an activity: due too"
        );
        tokio::time::advance(FOLLOW_UP_WAIT).await;
        assert_eq!(
            observer.idle_for(),
            Some(FOLLOW_UP_WAIT),
            "not forever: the activity went elsewhere"
        );
        assert!(
            observer.take_gaps().is_empty(),
            "a due task's wait is no gap between tasks"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gaps_are_measured_from_the_last_answer_across_invocations() {
        let observer = started();
        observer.task_received(b"a");
        tokio::time::advance(Duration::from_millis(50)).await;
        observer.task_answered(b"a", false);
        tokio::time::advance(Duration::from_millis(300)).await;
        observer.task_received(b"b");
        observer.task_answered(b"b", false);
        // The invocation ends; the instance is frozen; the next one brings a task 2 s later.
        tokio::time::advance(Duration::from_secs(2)).await;
        observer.invocation_started(std::time::Instant::now(), "r2");
        observer.poll_sent(WorkerRpc::PollWorkflowTaskQueue);
        observer.task_received(b"c");
        assert_eq!(
            observer.take_gaps(),
            vec![Duration::from_millis(300), Duration::from_secs(2)]
        );
        assert!(observer.take_gaps().is_empty(), "taken once");
    }
}
