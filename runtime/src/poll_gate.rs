//! When the worker's polls may reach the server, so that an invocation can end without losing a
//! task.
//!
//! A long poll cancelled by the client can lose a task: if the server hands the poll a task while
//! the cancellation is in flight, it records the task as started and waits for an answer that
//! never comes, until the task's timeout (10 s for a workflow task, the start-to-close timeout —
//! possibly hours — for an activity). Core cancels its outstanding polls when a worker shuts
//! down (unless the namespace completes polls on shutdown, which is off by default), and an
//! invocation that ends every few seconds would hit that window again and again: the idle-exit
//! race test saw it about once per 70 workflows.
//!
//! So polls are never cancelled while they can still be matched. The relay gives every poll a
//! short server-side deadline ([`POLL_DEADLINE`]), after which the server itself answers it empty.
//! To end an invocation, the gate is closed: polls the worker sends from then on are held back
//! (never reaching the server), and the invocation waits until the outstanding ones have come
//! back — with a task, which the worker then handles, or empty. Only then is the worker shut
//! down; the held polls are dropped or answered empty, and nothing is lost.

use parking_lot::Mutex;
use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};
use tokio::sync::{Notify, watch};

/// The deadline the relay puts on every poll. The server answers a long poll empty one second
/// before its deadline and rejects deadlines under two seconds; 2.5 s makes outstanding polls
/// come back within about 1.5 s of the gate closing. (The server logs at WARN that the deadline
/// is under its "critical" 10 s; that is the price of ending invocations without losing tasks.)
pub(crate) const POLL_DEADLINE: Duration = Duration::from_millis(2500);

/// Set to `1` to end invocations by the server-driven drain where the namespace offers it
/// (`worker_poll_complete_on_shutdown`): an end then takes about a round trip instead of up to
/// 1.5 s. Any other value, or none, keeps the poll-deadline drain.
///
/// Not the default because the server loses tasks in it. When `ShutdownWorker` completes the
/// polls, a poll that a partition of the task queue had forwarded to its root is cancelled, and
/// if the root has just matched it with a task, the task is recorded as started but its
/// response dropped: the task waits for its timeout (10 s for a workflow task, the start-to-close
/// timeout — possibly hours — for an activity). Task queues have 4 partitions by default, and
/// Temporal Cloud's more. On the idle-exit race test (an invocation ending every few hundred
/// milliseconds) the dev server 1.32 lost no task with 1 partition in 14 runs, and tasks in 4 of
/// 14 runs with 8 (5 in 336 workflows). With 1 partition, or a server that fixes this, the
/// server-driven drain is safe.
pub const SERVER_DRAIN_VARIABLE: &str = "TEMPORAL_SERVERLESS_SERVER_DRAIN";

/// The longest the invocation waits for outstanding polls to come back once the gate is closed.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_millis(2000);

/// Whether polls pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Polls go to the server.
    Open,
    /// New polls wait; outstanding ones finish on their own.
    Closed,
    /// Waiting polls are answered empty (the worker is shutting down and waits for its polls).
    Released,
}

/// What the relay does with a poll.
pub(crate) enum Admission<'a> {
    /// Send it to the server; it counts as outstanding until the guard is dropped.
    Forward(OutstandingPoll<'a>),
    /// Answer it empty, as a server does when a worker shuts down.
    AnswerEmpty,
}

/// The gate, shared by the relay (which asks it) and the invocation (which opens and closes it).
pub(crate) struct PollGate {
    state: watch::Sender<State>,
    outstanding: AtomicUsize,
    came_back: Notify,
    /// How many times the gate has closed (see [`PollGate::closes`]).
    closes: watch::Sender<u64>,
    /// Whether the server completes the worker's outstanding polls when told it shuts down (the
    /// namespace's `worker_poll_complete_on_shutdown`, as its description said).
    server_completes_polls: AtomicBool,
    /// Whether the namespace has been described in this process (so the drain is known).
    described: AtomicBool,
    /// Whether the drain may rely on that (only when [`SERVER_DRAIN_VARIABLE`] opts in).
    server_drain_allowed: AtomicBool,
    /// Serialises state changes with admissions: a poll is admitted and counted as outstanding
    /// in one step, so once [`PollGate::close`] returns, every poll that may still reach the
    /// server is counted, and the drain cannot see 0 with one on its way.
    changes: Mutex<()>,
}

impl Default for PollGate {
    fn default() -> Self {
        Self {
            state: watch::Sender::new(State::Open),
            outstanding: AtomicUsize::new(0),
            came_back: Notify::new(),
            closes: watch::Sender::new(0),
            server_completes_polls: AtomicBool::new(false),
            described: AtomicBool::new(false),
            server_drain_allowed: AtomicBool::new(false),
            changes: Mutex::new(()),
        }
    }
}

impl PollGate {
    /// Lets polls through (a new invocation, or work arrived while draining).
    pub(crate) fn open(&self) {
        self.set(State::Open);
    }

    /// Holds back new polls; outstanding ones come back within [`POLL_DEADLINE`].
    pub(crate) fn close(&self) {
        self.set(State::Closed);
        self.closes.send_modify(|closes| *closes += 1);
    }

    /// Whether polls go to the server: false once the invocation has started to end.
    pub(crate) fn is_open(&self) -> bool {
        *self.state.borrow() == State::Open
    }

    /// Answers held polls empty: the worker is shutting down and waits for them.
    pub(crate) fn release(&self) {
        let _changes = self.changes.lock();
        if *self.state.borrow() == State::Closed {
            self.state.send_replace(State::Released);
        }
    }

    fn set(&self, state: State) {
        let _changes = self.changes.lock();
        self.state.send_replace(state);
    }

    /// Waits until a poll may be sent — then counts it as outstanding — or must be answered
    /// empty.
    pub(crate) async fn admit(&self) -> Admission<'_> {
        let mut state = self.state.subscribe();
        loop {
            {
                let _changes = self.changes.lock();
                match *state.borrow_and_update() {
                    State::Open => return Admission::Forward(self.outstanding_poll()),
                    State::Released => return Admission::AnswerEmpty,
                    State::Closed => {}
                }
            }
            if state.changed().await.is_err() {
                return Admission::AnswerEmpty;
            }
        }
    }

    /// Counts a poll as outstanding until the returned guard is dropped.
    fn outstanding_poll(&self) -> OutstandingPoll<'_> {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        OutstandingPoll(self)
    }

    /// Changes each time the gate closes (an invocation is about to end); a close while the
    /// receiver is busy is seen at its next `changed()`, none is missed.
    pub(crate) fn closes(&self) -> watch::Receiver<u64> {
        self.closes.subscribe()
    }

    /// How many times the gate has closed so far.
    pub(crate) fn closes_so_far(&self) -> u64 {
        *self.closes.borrow()
    }

    /// Records whether the server completes outstanding polls on `ShutdownWorker`.
    pub(crate) fn set_server_completes_polls(&self, completes: bool) {
        self.server_completes_polls
            .store(completes, Ordering::SeqCst);
        self.described.store(true, Ordering::SeqCst);
    }

    /// How invocations end, once the namespace has been described (`None` before: a process's
    /// first invocation starts its timer before its worker asks): `Some(true)` by the
    /// server-driven drain, `Some(false)` by poll deadline.
    pub(crate) fn drain_known(&self) -> Option<bool> {
        self.described
            .load(Ordering::SeqCst)
            .then(|| self.server_completes_polls())
    }

    /// Lets the drain rely on the server completing polls, when it does.
    pub(crate) fn allow_server_drain(&self, allowed: bool) {
        self.server_drain_allowed.store(allowed, Ordering::SeqCst);
    }

    /// Whether invocations end by a server-driven drain: the server completes outstanding polls
    /// on `ShutdownWorker` and it is allowed. Such a drain takes a round trip, and must be the
    /// invocation's last (the server refuses the worker's polls for 30 s after it).
    pub(crate) fn server_completes_polls(&self) -> bool {
        self.server_completes_polls.load(Ordering::SeqCst)
            && self.server_drain_allowed.load(Ordering::SeqCst)
    }

    /// Polls at the server right now.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::SeqCst)
    }

    /// Resolves once no poll is outstanding.
    pub(crate) async fn drained(&self) {
        loop {
            let came_back = self.came_back.notified();
            if self.outstanding() == 0 {
                return;
            }
            came_back.await;
        }
    }
}

/// A poll at the server.
pub(crate) struct OutstandingPoll<'a>(&'a PollGate);

impl Drop for OutstandingPoll<'_> {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.0.came_back.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn forwarded(admission: &Admission<'_>) -> bool {
        matches!(admission, Admission::Forward(_))
    }

    #[tokio::test(start_paused = true)]
    async fn closed_gate_holds_polls_until_opened_or_released() {
        let gate = Arc::new(PollGate::default());
        assert!(forwarded(&gate.admit().await));
        gate.close();
        let held = tokio::spawn({
            let gate = gate.clone();
            async move { forwarded(&gate.admit().await) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!held.is_finished(), "a closed gate holds polls");
        assert_eq!(gate.outstanding(), 0, "a held poll is not at the server");
        gate.open();
        assert!(held.await.unwrap());

        gate.close();
        let held = tokio::spawn({
            let gate = gate.clone();
            async move { forwarded(&gate.admit().await) }
        });
        tokio::task::yield_now().await;
        gate.release();
        assert!(!held.await.unwrap(), "released: answered empty");
        assert_eq!(gate.outstanding(), 0, "an empty answer is not outstanding");
        gate.open();
        gate.release();
        assert!(
            forwarded(&gate.admit().await),
            "release only applies to a closed gate"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_forwarded_poll_counts_from_its_admission() {
        let gate = Arc::new(PollGate::default());
        // Admitted, not yet sent: the gate closes before the relay gets to send it.
        let admission = gate.admit().await;
        gate.close();
        assert_eq!(
            gate.outstanding(),
            1,
            "the drain must wait for a poll admitted before the close"
        );
        let drained = tokio::spawn({
            let gate = gate.clone();
            async move { gate.drained().await }
        });
        tokio::time::sleep(POLL_DEADLINE).await;
        assert!(!drained.is_finished(), "the poll is still on its way");
        drop(admission);
        tokio::time::timeout(Duration::from_millis(1), drained)
            .await
            .expect("drained once the poll came back")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn drained_waits_for_outstanding_polls() {
        let gate = Arc::new(PollGate::default());
        gate.drained().await;
        let poll = gate.outstanding_poll();
        let drained = tokio::spawn({
            let gate = gate.clone();
            async move { gate.drained().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!drained.is_finished());
        drop(poll);
        tokio::time::timeout(Duration::from_secs(1), drained)
            .await
            .expect("drained once the poll came back")
            .unwrap();
    }
}
