//! One invocation, as its steps: deadline → work plan → connect (or reuse the connection) →
//! guard the version → a worker for the binary's own version until `work_end` says stop → its
//! shutdown and drain → shutdown hooks → what the invocation taught the end policy, and its
//! `invocation done` line → telemetry → answer.

use super::{ABANDON_GRACE, ANSWER_RESERVE, MAX_CONNECT_TIME, Process, now_ms};
use crate::{
    deadline::{self, WorkPlan},
    deployment_guard,
    end_policy::Window,
    error::ServerlessError,
    hooks, panics,
    telemetry::InvocationCounts,
    work_end::{self, WorkEnd},
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::{sync::atomic::Ordering, time::Duration, time::Instant};
use temporalio_client::Client;
use temporalio_sdk::Worker;
use tokio::task::JoinHandle;
use tracing::{Instrument, field::Empty};

/// How an invocation's worker ended, and what it leaves for the rest of the invocation.
struct WorkerRun {
    /// Dropped with the rest of the invocation, after the hooks.
    _worker: Worker,
    /// What the worker's `run` returned (`Ok` also when it was abandoned).
    outcome: Result<(), String>,
    /// The work-end timer's panic, if it panicked.
    timer_panic: Option<String>,
    /// The timer's result and when it told the worker to stop (absent if the worker stopped
    /// first).
    work_end: Option<(WorkEnd, tokio::time::Instant)>,
    /// When the worker's `run` returned (or was abandoned).
    stopped: tokio::time::Instant,
    /// The idle window the invocation worked with, and the end cost it was chosen for.
    window: Window,
    end_cost: Duration,
}

/// The shutdown hooks' result: how many failed (all of them if they overran), and when they
/// started.
struct HooksRun {
    failed: usize,
    started: Instant,
}

impl Process {
    /// Serves one invocation, telemetry included.
    pub(super) async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, ServerlessError> {
        let started = Instant::now();
        let context = event.context;
        self.observer
            .invocation_started(started, &context.request_id);
        self.gate.open();
        let cold = self.cold.swap(false, Ordering::Relaxed);
        let span = invocation_span(&context, cold);
        let telemetry = self.telemetry.start_invocation(&context, cold);
        let deadline_ms = span.in_scope(|| self.deadline(&context).ms());
        let answer = self
            .serve(&context, deadline_ms, started, cold)
            .instrument(span.clone())
            .await;
        let time_left =
            || deadline::remaining(deadline_ms, now_ms()).saturating_sub(ANSWER_RESERVE);
        telemetry
            .finish(
                &answer,
                InvocationCounts {
                    tasks_completed: self.observer.tasks_completed(),
                    failed_calls: self.observer.failed_calls(),
                },
                time_left,
            )
            .instrument(span)
            .await;
        answer
    }

    /// The invocation up to its answer: plan → connect → guard → worker → work end → drain →
    /// hooks.
    async fn serve(
        &self,
        context: &Context,
        deadline_ms: u64,
        started: Instant,
        cold: bool,
    ) -> Result<Value, ServerlessError> {
        let plan = self.plan(deadline_ms)?;
        let connect_bound = (plan.work_time / 2).min(MAX_CONNECT_TIME);
        let client = self.client(connect_bound).await?;
        self.guard_version(&client, &context.invoked_function_arn, connect_bound)
            .await?;
        let run = self.work(client, context, &plan, started).await?;
        let hooks = self.run_hooks(deadline_ms).await;
        if self.gate.outstanding() > 0 {
            tracing::warn!(
                outstanding_polls = self.gate.outstanding(),
                "answering with polls outstanding: a task handed to them now waits for its timeout"
            );
        }
        let tasks_completed = self.observer.tasks_completed();
        tracing::Span::current().record("tasks_completed", tasks_completed);
        tracing::Span::current().record("failed_calls", self.observer.failed_calls());
        run.outcome.clone().map_err(ServerlessError::Worker)?;
        if let Some(message) = run.timer_panic.clone() {
            return Err(ServerlessError::Panic(message));
        }
        self.report(&run, &hooks, started, cold);
        Ok(json!({
            "deployment": self.manifest.deployment_name,
            "build_id": self.manifest.build_id,
            "cold": cold,
            "work_time_ms": plan.work_time.as_millis() as u64,
            "failed_hooks": hooks.failed,
            "tasks_completed": tasks_completed,
        }))
    }

    /// The invocation's work time, recorded on its span, with a warning when it is short.
    fn plan(&self, deadline_ms: u64) -> Result<WorkPlan, ServerlessError> {
        let plan = deadline::plan(
            deadline::remaining(deadline_ms, now_ms()),
            self.worker.shutdown_deadline_buffer(),
        )?;
        tracing::Span::current().record("work_time_ms", plan.work_time.as_millis() as u64);
        if plan.short {
            tracing::warn!(
                work_time_ms = plan.work_time.as_millis() as u64,
                "little work time: activities longer than this will finish in a later invocation; raise the function's timeout"
            );
        }
        Ok(plan)
    }

    /// Runs the deployment guard, if it is on and has not passed yet for the invoked ARN.
    /// Before any poll: a poll could create the version without a compute provider.
    async fn guard_version(
        &self,
        client: &Client,
        invoked_function_arn: &str,
        bound: Duration,
    ) -> Result<(), ServerlessError> {
        let guarded_already = self.guard_passed_for.lock().as_deref() == Some(invoked_function_arn);
        if !self.guard || guarded_already {
            return Ok(());
        }
        let checking = Instant::now();
        let verdict = tokio::time::timeout(
            bound,
            deployment_guard::check(client, &self.manifest, invoked_function_arn),
        )
        .await
        .unwrap_or_else(|_| {
            Ok(deployment_guard::Checked::Unverified(format!(
                "no answer within {} ms",
                bound.as_millis()
            )))
        });
        // A failed verdict's error type is left to the invocation's one error line, so that a
        // search of the logs for `TemporalServerless.*` counts each failure once.
        tracing::info!(
            guard_ms = checking.elapsed().as_millis() as u64,
            verdict = ?verdict.as_ref().map_err(|_| "failed"),
            "deployment guard"
        );
        if matches!(
            verdict?,
            deployment_guard::Checked::Passed | deployment_guard::Checked::NotLambda
        ) {
            *self.guard_passed_for.lock() = Some(invoked_function_arn.to_owned());
        }
        Ok(())
    }

    /// Runs a worker for the binary's own version until the work-end timer stops it and it has
    /// shut down (or is abandoned), then takes it out of the client's registry of workers.
    async fn work(
        &self,
        client: Client,
        context: &Context,
        plan: &WorkPlan,
        started: Instant,
    ) -> Result<WorkerRun, ServerlessError> {
        let identity = format!("{}@{}", context.request_id, context.invoked_function_arn);
        let options =
            self.worker
                .worker_options(&self.task_queue, identity, self.deployment_options());
        // The client's registry of its workers: each invocation's worker must leave it when it
        // ends, or the registry keeps it (and what it holds) for the life of the process.
        let registry = client.connection().workers();
        let mut worker = Worker::new(&self.runtime, client, options)
            .map_err(|error| ServerlessError::Worker(error.to_string()))?;
        let (window, end_cost) = {
            // Known from the second invocation on (the worker describes the namespace first).
            let server_drain = self.gate.drain_known();
            let policy = self.end_policy.lock();
            (policy.window(server_drain), policy.end_cost(server_drain))
        };
        let work_time = plan.work_time.saturating_sub(started.elapsed());
        let timer =
            self.start_work_end_timer(worker.shutdown_handle(), work_time, window, end_cost);
        // Aborted however this ends, so that a timer cannot outlive its invocation and close the
        // gate on the next one.
        let _timer_abort = panics::OnDrop::new({
            let abort = timer.abort_handle();
            move || abort.abort()
        });
        let outcome = self.run_worker(&mut worker, plan, started).await;
        let stopped = tokio::time::Instant::now();
        let (timer_panic, work_end) = stop_timer(timer).await;
        // What Core's `finalize_shutdown` does last; the SDK's `run` never calls it. Fails only
        // if the worker never registered.
        if let Err(error) = registry.finalize_unregister(worker.worker_instance_key()) {
            tracing::debug!(%error, "worker was not registered with the client");
        }
        if outcome.is_err() {
            // A connection broken while the process was frozen shows up here; the next
            // invocation connects afresh.
            *self.client.lock().await = None;
        }
        Ok(WorkerRun {
            _worker: worker,
            outcome,
            timer_panic,
            work_end,
            stopped,
            window,
            end_cost,
        })
    }

    /// The task that waits for the work to end (idle or work time over, polls drained) and then
    /// shuts the worker down.
    fn start_work_end_timer(
        &self,
        shutdown: impl FnOnce() + Send + 'static,
        work_time: Duration,
        window: Window,
        end_cost: Duration,
    ) -> JoinHandle<(WorkEnd, tokio::time::Instant)> {
        let (observer, gate) = (self.observer.clone(), self.gate.clone());
        tokio::spawn(
            async move {
                // Shuts the worker down however this task ends, a panic included: otherwise the
                // worker would run on until the invocation is abandoned.
                let _shutdown = panics::OnDrop::new(shutdown);
                let end =
                    work_end::wait_for_work_end(work_time, window.idle, end_cost, &observer, &gate)
                        .await;
                tracing::Span::current().record("stop_reason", end.describe(window));
                // The worker is told to stop as this task ends.
                (end, tokio::time::Instant::now())
            }
            .instrument(tracing::Span::current()),
        )
    }

    /// Runs the worker until it has shut down: polls ended, in-flight tasks finished or
    /// cancelled after the graceful period. An activity that ignores its cancellation would hold
    /// `run` past Lambda's deadline, so the worker is abandoned at the end of the graceful period
    /// (plus a little), keeping the rest of the buffer for the hooks and the answer. Polls have
    /// stopped by then; only such activities are left, and their attempts time out and are
    /// retried by the server.
    async fn run_worker(
        &self,
        worker: &mut Worker,
        plan: &WorkPlan,
        started: Instant,
    ) -> Result<(), String> {
        let stop_by = (plan.work_time + self.worker.graceful_shutdown + ABANDON_GRACE)
            .saturating_sub(started.elapsed());
        match tokio::time::timeout(stop_by, worker.run()).await {
            Ok(outcome) => outcome.map_err(|error| error.to_string()),
            Err(_) => {
                tracing::Span::current().record(
                    "stop_reason",
                    "abandoned activities that ignored cancellation",
                );
                tracing::warn!(
                    graceful_shutdown_ms = self.worker.graceful_shutdown.as_millis() as u64,
                    "in-flight activities did not stop after cancellation; answering without them so the \
                     invocation ends before its deadline (their attempts will be retried). Make long \
                     activities heartbeat and honour cancellation"
                );
                Ok(())
            }
        }
    }

    /// Runs the shutdown hooks within the time left before the answer.
    async fn run_hooks(&self, deadline_ms: u64) -> HooksRun {
        let started = Instant::now();
        let hook_time = deadline::remaining(deadline_ms, now_ms()).saturating_sub(ANSWER_RESERVE);
        let failed = match tokio::time::timeout(
            hook_time,
            hooks::run_all(&self.worker.shutdown_hooks),
        )
        .await
        {
            Ok(failed) => failed,
            Err(_) => {
                tracing::error!(
                    hook_time_ms = hook_time.as_millis() as u64,
                    "shutdown hooks overran; answering without waiting for them"
                );
                self.worker.shutdown_hooks.len()
            }
        };
        HooksRun { failed, started }
    }

    /// What a successful invocation leaves: what it taught the end policy, and its
    /// `invocation done` line.
    fn report(&self, run: &WorkerRun, hooks: &HooksRun, started: Instant, cold: bool) {
        let phases = Phases::of(
            started.into(),
            self.observer.first_poll(),
            run.work_end,
            run.stopped,
        );
        let hooks_ms = hooks.started.elapsed().as_millis() as u64;
        let ended_idle = run
            .work_end
            .is_some_and(|(end, _)| end.reason == work_end::StopReason::Idle);
        self.learn(&phases, hooks_ms, cold, ended_idle);
        tracing::info!(
            duration_ms = started.elapsed().as_millis() as u64,
            failed_hooks = hooks.failed,
            failed_calls = self.observer.failed_calls(),
            first_poll_ms = phases.first_poll_ms,
            work_ms = phases.work_ms,
            idle_ms = phases.idle_ms,
            drain_ms = phases.drain_ms,
            shutdown_ms = phases.shutdown_ms,
            hooks_ms,
            idle_window_ms = run.window.idle.map(|idle| idle.as_millis() as u64),
            end_cost_ms = run.end_cost.as_millis() as u64,
            "invocation done"
        );
    }

    /// Tells the end policy what this invocation saw: the gaps before its tasks, and, if it ended
    /// idle, what that end cost (drain, shutdown, hooks, and a warm start's hand-out to first
    /// poll, which the next invocation pays again). An end at the work time is no choice, and its
    /// shutdown includes activities still running: no measure of what ending idle costs. Nor is a
    /// cold invocation's: its worker's first shutdown can do once-per-process work (up to ~230 ms
    /// seen, against 1–3 ms warm), which would hold the learned window up for many invocations.
    fn learn(&self, phases: &Phases, hooks_ms: u64, cold: bool, ended_idle: bool) {
        let mut policy = self.end_policy.lock();
        for gap in self.observer.take_gaps() {
            policy.saw_gap(gap);
        }
        if ended_idle && !cold {
            policy.saw_end_cost(Duration::from_millis(
                phases.drain_ms + phases.shutdown_ms + hooks_ms + phases.first_poll_ms,
            ));
        }
    }

    /// The deadline the invocation works to: Lambda's, or, when the one sent cannot be Lambda's
    /// (a local emulator's, see [`deadline::invocation_deadline`]), the local work time's, with a
    /// warning the first time in the process.
    fn deadline(&self, context: &Context) -> deadline::Deadline {
        let deadline = deadline::invocation_deadline(
            context.deadline,
            now_ms(),
            self.started_ms,
            self.local_work_time,
            self.worker.shutdown_deadline_buffer(),
        );
        if let deadline::Deadline::Local {
            sent_ms, reason, ..
        } = deadline
            && !self.local_deadline_warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                sent_deadline_ms = sent_ms,
                local_work_time_s = self.local_work_time.as_secs(),
                "the invocation's deadline cannot be Lambda's ({}): a local emulator such as `cargo lambda watch` sends such a deadline, so each invocation works for {} s instead (set {} to change it); on Lambda this never happens",
                reason.as_str(),
                self.local_work_time.as_secs(),
                deadline::LOCAL_WORK_TIME_VARIABLE,
            );
        }
        deadline
    }
}

/// The invocation's `tracing` span; its empty fields are recorded as the invocation learns them.
fn invocation_span(context: &Context, cold: bool) -> tracing::Span {
    tracing::info_span!(
        "invocation",
        request_id = %context.request_id,
        cold,
        work_time_ms = Empty,
        tasks_completed = Empty,
        failed_calls = Empty,
        stop_reason = Empty,
        trace_id = Empty,
    )
}

/// Stops the work-end timer (if the worker stopped first) and takes its result: its panic's
/// message, or the work end it saw and when it told the worker to stop.
async fn stop_timer(
    timer: JoinHandle<(WorkEnd, tokio::time::Instant)>,
) -> (Option<String>, Option<(WorkEnd, tokio::time::Instant)>) {
    timer.abort();
    let (timer_panic, work_end) = match timer.await {
        Ok(end) => (None, Some(end)),
        Err(error) if error.is_panic() => (Some(panics::message(&*error.into_panic())), None),
        Err(_) => (None, None),
    };
    if let Some(message) = &timer_panic {
        tracing::error!(panic = %message, "the invocation's work-end timer panicked; the worker was shut down");
    }
    (timer_panic, work_end)
}

/// Where an invocation's time went, in ms, as its `invocation done` line reports it: from the
/// hand-out to the first poll, work (to the last drain's start, of which `idle_ms` at its end),
/// the drain, and the worker's shutdown (graceful period included).
#[derive(Debug, Default, PartialEq)]
struct Phases {
    first_poll_ms: u64,
    work_ms: u64,
    idle_ms: u64,
    drain_ms: u64,
    shutdown_ms: u64,
}

impl Phases {
    /// `work_end` is the timer's result and when it told the worker to stop (absent if the
    /// worker stopped first); `stopped` is when the worker's `run` returned.
    fn of(
        started: tokio::time::Instant,
        first_poll: Option<tokio::time::Instant>,
        work_end: Option<(WorkEnd, tokio::time::Instant)>,
        stopped: tokio::time::Instant,
    ) -> Self {
        let ms = |from: tokio::time::Instant, to: tokio::time::Instant| {
            to.saturating_duration_since(from).as_millis() as u64
        };
        let working_from = first_poll.unwrap_or(started);
        let Some((end, stop_told)) = work_end else {
            return Self {
                first_poll_ms: ms(started, working_from),
                work_ms: ms(working_from, stopped),
                ..Self::default()
            };
        };
        Self {
            first_poll_ms: ms(started, working_from),
            work_ms: ms(working_from, end.drain_started),
            idle_ms: end.idle.as_millis() as u64,
            drain_ms: ms(end.drain_started, stop_told),
            shutdown_ms: ms(stop_told, stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_split_the_invocation_at_first_poll_drain_and_stop() {
        let started = tokio::time::Instant::now();
        let at = |ms| started + Duration::from_millis(ms);
        let end = work_end::WorkEnd {
            reason: work_end::StopReason::Idle,
            drain_started: at(700),
            idle: Duration::from_millis(500),
        };
        assert_eq!(
            Phases::of(started, Some(at(30)), Some((end, at(760))), at(790)),
            Phases {
                first_poll_ms: 30,
                work_ms: 670,
                idle_ms: 500,
                drain_ms: 60,
                shutdown_ms: 30,
            }
        );
        // A worker that stopped by itself (an error) before the timer did: all of it is work.
        assert_eq!(
            Phases::of(started, None, None, at(400)),
            Phases {
                work_ms: 400,
                ..Phases::default()
            }
        );
    }
}
