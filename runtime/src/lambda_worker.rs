//! [`LambdaWorker`]: what `fn main(worker: &mut LambdaWorker)` configures, pre-filled with the
//! defaults that suit a Worker living inside one Lambda invocation.

use crate::{
    deadline,
    end_policy::IdleExit,
    hooks::{HookError, ShutdownHook},
    versioning::{ServerlessWorkflow, VersioningBehavior},
};
use std::future::Future;
use std::{collections::BTreeMap, time::Duration};
use temporalio_sdk::{
    WorkerOptions,
    activities::ActivityImplementer,
    runtime::{
        PollerBehavior,
        worker_tuner::{FixedSizeSlotSupplier, TunerHolder},
    },
    workflows::WorkflowImplementation,
};

/// Default maximum concurrent activity executions: a Lambda instance has a fraction of a core
/// and a few hundred MB, so two activities at a time is what Temporal's Lambda packages use.
pub const DEFAULT_MAX_CONCURRENT_ACTIVITIES: usize = 2;
/// Default maximum concurrent workflow tasks (cheap, CPU-bound replays).
pub const DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS: usize = 10;
/// Default maximum concurrent local activities.
pub const DEFAULT_MAX_CONCURRENT_LOCAL_ACTIVITIES: usize = 2;
/// Default maximum concurrent Nexus tasks.
pub const DEFAULT_MAX_CONCURRENT_NEXUS_TASKS: usize = 5;
/// Default concurrent workflow task polls (the SDK needs at least 2 when workflows are cached).
pub const DEFAULT_WORKFLOW_POLLERS: usize = 2;
/// Default concurrent activity task polls.
pub const DEFAULT_ACTIVITY_POLLERS: usize = 1;
/// Default concurrent Nexus task polls.
pub const DEFAULT_NEXUS_POLLERS: usize = 1;
/// Default time in-flight activities get to finish once the work time is over, before they are
/// cancelled.
pub const DEFAULT_GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(5);
/// Extra time kept back, beyond the graceful shutdown, for the worker to stop and the shutdown
/// hooks to run before Lambda's deadline.
pub const SHUTDOWN_HOOK_ALLOWANCE: Duration = Duration::from_secs(2);
/// The graceful shutdown must be shorter than this: with the [`SHUTDOWN_HOOK_ALLOWANCE`], a
/// longer one leaves no work time ([`deadline::MIN_WORK_TIME`]) in even Lambda's longest timeout
/// ([`deadline::LAMBDA_MAX_TIMEOUT`], 900 s), so every invocation would be refused.
pub const GRACEFUL_SHUTDOWN_LIMIT: Duration = Duration::from_secs(
    deadline::LAMBDA_MAX_TIMEOUT.as_secs()
        - SHUTDOWN_HOOK_ALLOWANCE.as_secs()
        - deadline::MIN_WORK_TIME.as_secs(),
);
/// How long a workflow task may wait on a worker's sticky queue (see `worker_options`).
const STICKY_QUEUE_TIMEOUT: Duration = Duration::from_secs(1);
/// Default idle window: an invocation whose worker has held no task this long ends early (after
/// draining its polls, up to 1.5 s more). The server invokes again within 15–45 ms when a task
/// finds no poller, so a short window costs little latency per end, but at steady traffic each
/// end makes the next workflow wait for a new invocation. Measured with `scripts/bench` (release,
/// local loop), 2 s against 500 ms: one warm workflow completed in 54 against 60 ms, an
/// invocation that ends idle billed 3.04 against 1.54 s, and a burst of 40 from cold cost 741
/// against 444 billed ms per workflow.
pub const DEFAULT_IDLE_EXIT: Duration = Duration::from_millis(500);
/// Default number of workflows kept in the sticky cache between tasks.
pub const DEFAULT_MAX_CACHED_WORKFLOWS: usize = 30;

/// The Worker configuration of a Lambda function, filled in by the `main` that
/// `#[serverless_worker]` annotates.
///
/// The configure body runs once per process (cold start), not per invocation: registering
/// activities may build clients or pools that warm invocations should reuse, and Lambda bills the
/// time a warm invocation spends repeating it.
///
/// Worker Deployment Versioning is always on (the deployment and build ID come from the
/// attribute) and eager activity execution is always off: an activity eagerly handed to an
/// instance that Lambda is about to freeze would wait until its timeout.
pub struct LambdaWorker {
    pub(crate) task_queue: Option<String>,
    pub(crate) identity: Option<String>,
    pub(crate) options: WorkerOptions,
    pub(crate) behaviors: BTreeMap<&'static str, VersioningBehavior>,
    pub(crate) max_concurrent_activities: usize,
    pub(crate) max_concurrent_workflow_tasks: usize,
    pub(crate) max_concurrent_local_activities: usize,
    pub(crate) max_concurrent_nexus_tasks: usize,
    pub(crate) workflow_pollers: usize,
    pub(crate) activity_pollers: usize,
    pub(crate) nexus_pollers: usize,
    pub(crate) graceful_shutdown: Duration,
    pub(crate) max_cached_workflows: usize,
    pub(crate) configuration_errors: Vec<String>,
    pub(crate) shutdown_hooks: Vec<ShutdownHook>,
    pub(crate) idle_exit: IdleExit,
    #[cfg(feature = "otel")]
    pub(crate) otel: Option<crate::otel::OtelSetup>,
}

impl Default for LambdaWorker {
    fn default() -> Self {
        Self {
            task_queue: None,
            identity: None,
            // The task queue is filled in per invocation, once it is known.
            options: WorkerOptions::new(String::new()).build(),
            behaviors: BTreeMap::new(),
            max_concurrent_activities: DEFAULT_MAX_CONCURRENT_ACTIVITIES,
            max_concurrent_workflow_tasks: DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS,
            max_concurrent_local_activities: DEFAULT_MAX_CONCURRENT_LOCAL_ACTIVITIES,
            max_concurrent_nexus_tasks: DEFAULT_MAX_CONCURRENT_NEXUS_TASKS,
            workflow_pollers: DEFAULT_WORKFLOW_POLLERS,
            activity_pollers: DEFAULT_ACTIVITY_POLLERS,
            nexus_pollers: DEFAULT_NEXUS_POLLERS,
            graceful_shutdown: DEFAULT_GRACEFUL_SHUTDOWN,
            max_cached_workflows: DEFAULT_MAX_CACHED_WORKFLOWS,
            configuration_errors: Vec::new(),
            shutdown_hooks: Vec::new(),
            idle_exit: IdleExit::After(DEFAULT_IDLE_EXIT),
            #[cfg(feature = "otel")]
            otel: None,
        }
    }
}

impl LambdaWorker {
    /// Polls this task queue. Overrides `TEMPORAL_TASK_QUEUE`; `task_queue = ".."` in
    /// `#[serverless_worker]` overrides both.
    pub fn task_queue(&mut self, task_queue: impl Into<String>) -> &mut Self {
        self.task_queue = Some(task_queue.into());
        self
    }

    /// Registers a workflow declared with `#[workflow(versioning = ..)]`; its behavior is
    /// reported to the server for every task of that type.
    pub fn register_workflow<W>(&mut self) -> &mut Self
    where
        W: ServerlessWorkflow + WorkflowImplementation,
        <W::Run as temporalio_common::WorkflowDefinition>::Input: Send,
    {
        match self.options.register_workflow::<W>() {
            Ok(_) => {
                self.behaviors.insert(W::name(), W::VERSIONING_BEHAVIOR);
            }
            Err(error) => self
                .configuration_errors
                .push(format!("cannot register workflow `{}`: {error}", W::name())),
        }
        self
    }

    /// Registers every activity of an `#[activities]` implementer.
    pub fn register_activities<A: ActivityImplementer>(&mut self, instance: A) -> &mut Self {
        self.options.register_activities(instance);
        self
    }

    /// Overrides the worker identity (default `<request id>@<invoked function ARN>`).
    pub fn identity(&mut self, identity: impl Into<String>) -> &mut Self {
        self.identity = Some(identity.into());
        self
    }

    /// Maximum concurrent activity executions (default
    /// [`DEFAULT_MAX_CONCURRENT_ACTIVITIES`] = 2).
    pub fn max_concurrent_activities(&mut self, slots: usize) -> &mut Self {
        self.max_concurrent_activities = slots;
        self
    }

    /// Maximum concurrent workflow tasks (default [`DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS`] = 10).
    pub fn max_concurrent_workflow_tasks(&mut self, slots: usize) -> &mut Self {
        self.max_concurrent_workflow_tasks = slots;
        self
    }

    /// Maximum concurrent local activities (default
    /// [`DEFAULT_MAX_CONCURRENT_LOCAL_ACTIVITIES`] = 2).
    pub fn max_concurrent_local_activities(&mut self, slots: usize) -> &mut Self {
        self.max_concurrent_local_activities = slots;
        self
    }

    /// Maximum concurrent Nexus tasks (default [`DEFAULT_MAX_CONCURRENT_NEXUS_TASKS`] = 5).
    pub fn max_concurrent_nexus_tasks(&mut self, slots: usize) -> &mut Self {
        self.max_concurrent_nexus_tasks = slots;
        self
    }

    /// Concurrent polls per task type: workflow (default 2), activity (1), Nexus (1).
    pub fn pollers(&mut self, workflow: usize, activity: usize, nexus: usize) -> &mut Self {
        self.workflow_pollers = workflow;
        self.activity_pollers = activity;
        self.nexus_pollers = nexus;
        self
    }

    /// Time in-flight activities get once the work time is over (default
    /// [`DEFAULT_GRACEFUL_SHUTDOWN`] = 5 s). The shutdown deadline buffer grows with it. At or
    /// above [`GRACEFUL_SHUTDOWN_LIMIT`] (897 s) no invocation could work: a configuration error,
    /// and the default is kept.
    pub fn graceful_shutdown(&mut self, period: Duration) -> &mut Self {
        if period >= GRACEFUL_SHUTDOWN_LIMIT {
            self.configuration_errors.push(format!(
                "graceful_shutdown({period:?}) is out of range: it must be shorter than {} s, so that with the {} s kept for \
                 shutdown hooks some work time is left in Lambda's longest timeout ({} s); a few seconds is usual \
                 (default {} s), and long activities should heartbeat instead",
                GRACEFUL_SHUTDOWN_LIMIT.as_secs(),
                SHUTDOWN_HOOK_ALLOWANCE.as_secs(),
                deadline::LAMBDA_MAX_TIMEOUT.as_secs(),
                DEFAULT_GRACEFUL_SHUTDOWN.as_secs(),
            ));
            return self;
        }
        self.graceful_shutdown = period;
        self
    }

    /// Ends an invocation once its worker has held no task for `window` (default
    /// [`DEFAULT_IDLE_EXIT`] = 500 ms); `None` keeps every invocation until its work time is
    /// over, as Temporal's other Lambda packages do (Lambda bills the idle time). Either way an
    /// invocation never ends while one of its workflows' next task is due (an activity just
    /// answered, or one just scheduled).
    pub fn idle_exit(&mut self, window: Option<Duration>) -> &mut Self {
        self.idle_exit = window.map_or(IdleExit::Never, IdleExit::After);
        self
    }

    /// Learns the idle window per warm instance instead: from the gaps between the tasks it has
    /// seen and what its own ends cost, the window with the least expected billed time (ski
    /// rental, between 20 ms and 2 s). Experimental: it bills less for sparse traffic, but it
    /// weighs billed time only, and ends that a longer window would have avoided cost the next
    /// workflows the re-invocation's latency (see the README's cost section).
    pub fn idle_exit_learned(&mut self) -> &mut Self {
        self.idle_exit = IdleExit::Learned;
        self
    }

    /// Workflows kept in the sticky cache (default [`DEFAULT_MAX_CACHED_WORKFLOWS`] = 30).
    pub fn max_cached_workflows(&mut self, workflows: usize) -> &mut Self {
        self.max_cached_workflows = workflows;
        self
    }

    /// Runs `hook` at the end of every invocation, after the worker has stopped and before the
    /// invocation answers (flush telemetry, return pooled connections). Hooks run in
    /// registration order; a failing hook is logged and the others still run. The hook runs on
    /// a blocking thread: one that blocks past the time left before Lambda's deadline is left
    /// behind (it keeps its thread) and the invocation answers in time.
    pub fn on_shutdown<E>(
        &mut self,
        hook: impl Fn() -> Result<(), E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        E: Into<HookError>,
    {
        self.shutdown_hooks
            .push(ShutdownHook::Sync(std::sync::Arc::new(move || {
                hook().map_err(Into::into)
            })));
        self
    }

    /// Like [`on_shutdown`](Self::on_shutdown), for a hook that awaits.
    pub fn on_shutdown_async<F, E>(
        &mut self,
        hook: impl Fn() -> F + Send + Sync + 'static,
    ) -> &mut Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HookError>,
    {
        self.shutdown_hooks
            .push(ShutdownHook::Async(Box::new(move || {
                let future = hook();
                Box::pin(async move { future.await.map_err(Into::into) })
            })));
        self
    }

    /// The time kept back before Lambda's deadline: graceful shutdown +
    /// [`SHUTDOWN_HOOK_ALLOWANCE`] (default 7 s).
    pub fn shutdown_deadline_buffer(&self) -> Duration {
        self.graceful_shutdown
            .saturating_add(SHUTDOWN_HOOK_ALLOWANCE)
    }

    /// The versioning behavior declared by each registered workflow type, by type name.
    pub fn versioning_behaviors(&self) -> &BTreeMap<&'static str, VersioningBehavior> {
        &self.behaviors
    }

    /// Problems found while configuring (e.g. a workflow registered twice); a function with any
    /// fails its cold start with these messages.
    pub fn configuration_errors(&self) -> &[String] {
        &self.configuration_errors
    }

    /// The SDK worker options for one invocation.
    pub(crate) fn worker_options(
        &self,
        task_queue: &str,
        identity: String,
        deployment: temporalio_common::worker::WorkerDeploymentOptions,
    ) -> WorkerOptions {
        let mut options = self.options.clone();
        options.task_queue = task_queue.to_owned();
        options.client_identity_override = Some(self.identity.clone().unwrap_or(identity));
        options.deployment_options = deployment;
        options.max_cached_workflows = self.max_cached_workflows;
        options.tuner = TunerHolder::builder()
            .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(
                self.max_concurrent_workflow_tasks,
            ))
            .activity_task_slot_supplier(FixedSizeSlotSupplier::new(self.max_concurrent_activities))
            .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(
                self.max_concurrent_local_activities,
            ))
            .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(self.max_concurrent_nexus_tasks))
            .build()
            .into();
        options.workflow_task_poller_behavior =
            Some(PollerBehavior::SimpleMaximum(self.workflow_pollers));
        options.activity_task_poller_behavior =
            Some(PollerBehavior::SimpleMaximum(self.activity_pollers));
        options.nexus_task_poller_behavior =
            Some(PollerBehavior::SimpleMaximum(self.nexus_pollers));
        options.graceful_shutdown_period = Some(self.graceful_shutdown);
        // A workflow task sent to the sticky queue of a worker that has just ended its invocation
        // waits there until this timeout before any worker may take it; then, on the normal
        // queue, it finds no poller and the server invokes the function at once. Lambda workers
        // end often, so the SDK's 10 s would be paid often (the idle-exit test saw it).
        options.sticky_queue_schedule_to_start_timeout = STICKY_QUEUE_TIMEOUT;
        // Always off: see the type's documentation.
        options.max_eager_activity_reservations_per_workflow_task = 0;
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_of_range_graceful_shutdown_is_a_configuration_error() {
        let mut worker = LambdaWorker::default();
        worker.graceful_shutdown(Duration::MAX);
        assert_eq!(worker.configuration_errors().len(), 1);
        let error = &worker.configuration_errors()[0];
        assert!(
            error.contains("graceful_shutdown") && error.contains("shorter than 897 s"),
            "{error}"
        );
        // The default stays, so nothing computed from it can overflow before the error is seen.
        assert_eq!(worker.graceful_shutdown, DEFAULT_GRACEFUL_SHUTDOWN);
        assert_eq!(worker.shutdown_deadline_buffer(), Duration::from_secs(7));

        let mut worker = LambdaWorker::default();
        worker.graceful_shutdown(GRACEFUL_SHUTDOWN_LIMIT);
        assert_eq!(worker.configuration_errors().len(), 1);
    }

    #[test]
    fn the_longest_graceful_shutdown_still_leaves_work_time_in_the_longest_timeout() {
        let mut worker = LambdaWorker::default();
        worker.graceful_shutdown(GRACEFUL_SHUTDOWN_LIMIT - Duration::from_millis(1));
        assert!(worker.configuration_errors().is_empty());
        let plan = deadline::plan(
            deadline::LAMBDA_MAX_TIMEOUT,
            worker.shutdown_deadline_buffer(),
        )
        .unwrap();
        assert!(plan.work_time > deadline::MIN_WORK_TIME, "{plan:?}");
    }

    #[test]
    fn any_idle_window_is_accepted() {
        // The idle window is only compared with how long the worker has been idle, never added
        // to: one longer than any work time just never ends an invocation early.
        let mut worker = LambdaWorker::default();
        worker.idle_exit(Some(Duration::MAX)).idle_exit(None);
        assert!(worker.configuration_errors().is_empty());
    }
}
