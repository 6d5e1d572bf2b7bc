//! Tells the server, the moment an invocation starts to end, that the current worker is going:
//! its sticky queue always, and its outstanding polls when the server can complete them.
//!
//! After a workflow task, the server sends that workflow's next task to the sticky queue of the
//! worker that ran it. Once the poll gate closes (the invocation drains, see `poll_gate`), that
//! worker polls its sticky queue no more, and a task sent there would wait the sticky
//! schedule-to-start timeout (1 s) before the server moved it to the normal queue. So when the gate
//! closes, the relay sends the `ShutdownWorker` call the worker itself makes only after the drain,
//! naming the sticky queue: new tasks of its workflows go to the normal queue at once.
//!
//! A workflow whose task this worker completed still names the sticky queue at the server, so
//! its next task (an activity's result that arrives after the gate closed) is scheduled for that
//! queue with the sticky schedule-to-start timeout running: the released queue sends it on to the
//! normal queue at once, but if no worker starts it there within the timeout (every instance busy
//! or ending in a burst), it times out and is scheduled again, behind every task that came after
//! it. So once the sticky queue is released, the release also unsticks each such workflow
//! (`ResetStickyTaskQueue`, which the server applies in memory, without a write): its next task
//! goes to the normal queue with no timeout. Not before: the server refuses a sticky poll's start
//! of an unstuck workflow's task as obsolete and drops the task until its sticky timeout, so a task
//! scheduled just before the unstick and taken by the worker's still-outstanding sticky poll just
//! after would wait 1 s.
//!
//! A server whose namespace advertises `worker_poll_complete_on_shutdown` also completes, empty,
//! every outstanding poll that carries the worker instance key named in the call, in about one
//! round trip: the drain then waits for a round trip instead of the polls' deadline. Without the
//! capability the call must not name the key (nothing would happen anyway), and polls come back
//! by their deadline. The server refuses polls with that key for 30 s afterwards, so a drain that
//! names it is the invocation's last: each invocation's worker has a key of its own.
//!
//! A release belongs to the worker that polled before the gate closed: each worker is recorded
//! with the number of closes before its first poll, and the release for the n-th close names
//! only a worker first seen before it, so that a release handled late can never release the
//! next invocation's worker.

use crate::worker_rpc::WorkerRpc;
use parking_lot::Mutex;
use prost::Message;
use std::collections::HashSet;
use temporalio_client::callback_based::GrpcRequest;
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{TaskQueueKind, TaskQueueType},
    workflowservice::v1::{ResetStickyTaskQueueRequest, ShutdownWorkerRequest},
};

/// How many workflows a worker keeps stuck to its sticky queue at most: its cache holds 30 by
/// default; the bound only keeps a worker that never ends from growing the set.
const MAX_STICKY_RUNS: usize = 10_000;

/// A workflow run, as `ResetStickyTaskQueue` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct WorkflowRun {
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
}

/// What the current worker's polls said about it.
#[derive(Default)]
pub(crate) struct WorkerPolls {
    seen: Mutex<Option<Seen>>,
}

/// What a release needs: whom to name, and the headers (namespace, authorization) for the call.
#[derive(Clone, Default)]
struct Seen {
    /// How many times the gate had closed when this worker first polled.
    closes_before: u64,
    namespace: String,
    identity: String,
    worker_instance_key: String,
    /// The normal task queue the worker polls.
    task_queue: String,
    /// Which kinds of task it polls there.
    types: Vec<TaskQueueType>,
    /// The sticky queue of its last sticky poll, until released.
    sticky_queue: Option<String>,
    /// The open workflows whose last completion by this worker kept them on its sticky queue.
    sticky_runs: HashSet<WorkflowRun>,
    headers: tonic::codegen::http::HeaderMap,
    service: String,
}

/// The fields every task poll request shares (`Poll{Workflow,Activity,Nexus}TaskQueueRequest`).
#[derive(Clone, PartialEq, prost::Message)]
struct PollView {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(message, optional, tag = "2")]
    task_queue: Option<TaskQueueView>,
    #[prost(string, tag = "3")]
    identity: String,
    #[prost(string, tag = "8")]
    worker_instance_key: String,
}

/// `TaskQueue`: its name and kind.
#[derive(Clone, PartialEq, prost::Message)]
struct TaskQueueView {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(enumeration = "TaskQueueKind", tag = "2")]
    kind: i32,
}

impl WorkerPolls {
    /// Looks at a task poll on its way out (`kind`: which task queue type it polls), sent after
    /// the gate had closed `closes` times.
    pub(crate) fn saw_poll(&self, request: &GrpcRequest, kind: TaskQueueType, closes: u64) {
        let Ok(poll) = PollView::decode(request.proto.clone()) else {
            return;
        };
        let Some(task_queue) = poll.task_queue else {
            return;
        };
        let mut seen = self.seen.lock();
        let seen = seen.get_or_insert_with(Seen::default);
        if seen.worker_instance_key != poll.worker_instance_key {
            // Another worker (the next invocation's): forget the last one's queues.
            *seen = Seen {
                closes_before: closes,
                ..Seen::default()
            };
        }
        seen.namespace = poll.namespace;
        seen.identity = poll.identity;
        seen.worker_instance_key = poll.worker_instance_key;
        seen.headers = request.headers.clone();
        seen.service = request.service.clone();
        if task_queue.kind() == TaskQueueKind::Sticky {
            seen.sticky_queue = Some(task_queue.name);
            return;
        }
        seen.task_queue = task_queue.name;
        if !seen.types.contains(&kind) {
            seen.types.push(kind);
        }
    }

    /// Notes a workflow task completion on its way out: `sticky` when it keeps its workflow on
    /// the worker's sticky queue (it asks for one and does not close the workflow).
    pub(crate) fn completed(&self, run: &WorkflowRun, sticky: bool) {
        let mut seen = self.seen.lock();
        let Some(seen) = seen.as_mut() else {
            return;
        };
        if !sticky {
            seen.sticky_runs.remove(run);
        } else if seen.sticky_runs.len() < MAX_STICKY_RUNS {
            seen.sticky_runs.insert(run.clone());
        }
    }

    /// The `ResetStickyTaskQueue` calls that unstick every workflow the worker kept on its
    /// sticky queue (once each), for the `close`-th close of the gate: none if the worker
    /// polled first after it.
    pub(crate) fn unstick_requests(&self, close: u64) -> Vec<GrpcRequest> {
        let mut seen = self.seen.lock();
        let Some(seen) = seen.as_mut().filter(|seen| seen.closes_before < close) else {
            return Vec::new();
        };
        seen.sticky_runs
            .drain()
            .map(|run| GrpcRequest {
                service: seen.service.clone(),
                rpc: "ResetStickyTaskQueue".to_owned(),
                headers: seen.headers.clone(),
                proto: ResetStickyTaskQueueRequest {
                    namespace: seen.namespace.clone(),
                    execution: Some(WorkflowExecution {
                        workflow_id: run.workflow_id,
                        run_id: run.run_id,
                    }),
                }
                .encode_to_vec()
                .into(),
            })
            .collect()
    }

    /// The `ShutdownWorker` call that releases the worker, for the `close`-th close of the
    /// gate: its sticky queue (once), and, when the server completes polls, its outstanding
    /// polls. `None` when there is nothing to release, or the worker polled first after it.
    pub(crate) fn release_request(
        &self,
        server_completes_polls: bool,
        close: u64,
    ) -> Option<GrpcRequest> {
        let mut seen = self.seen.lock();
        let seen = seen.as_mut().filter(|seen| seen.closes_before < close)?;
        let complete_polls = server_completes_polls
            && !seen.worker_instance_key.is_empty()
            && !seen.task_queue.is_empty();
        let sticky_queue = seen.sticky_queue.take();
        if sticky_queue.is_none() && !complete_polls {
            return None;
        }
        let mut message = ShutdownWorkerRequest {
            namespace: seen.namespace.clone(),
            sticky_task_queue: sticky_queue.unwrap_or_default(),
            identity: seen.identity.clone(),
            reason: "Lambda invocation ending: its worker polls no more".to_owned(),
            ..Default::default()
        };
        if complete_polls {
            message.worker_instance_key = seen.worker_instance_key.clone();
            message.task_queue = seen.task_queue.clone();
            message.task_queue_types = seen.types.iter().map(|kind| *kind as i32).collect();
        }
        Some(GrpcRequest {
            service: seen.service.clone(),
            rpc: WorkerRpc::ShutdownWorker.name().to_owned(),
            headers: seen.headers.clone(),
            proto: message.encode_to_vec().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::{
        taskqueue::v1::TaskQueue,
        workflowservice::v1::{PollActivityTaskQueueRequest, PollWorkflowTaskQueueRequest},
    };

    const SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

    fn queue(kind: TaskQueueKind, name: &str) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: name.to_owned(),
            kind: kind as i32,
            ..Default::default()
        })
    }

    fn workflow_poll(kind: TaskQueueKind, name: &str, key: &str) -> GrpcRequest {
        let message = PollWorkflowTaskQueueRequest {
            namespace: "default".to_owned(),
            task_queue: queue(kind, name),
            identity: "req-1@arn".to_owned(),
            worker_instance_key: key.to_owned(),
            ..Default::default()
        };
        request("PollWorkflowTaskQueue", message)
    }

    fn activity_poll(name: &str, key: &str) -> GrpcRequest {
        let message = PollActivityTaskQueueRequest {
            namespace: "default".to_owned(),
            task_queue: queue(TaskQueueKind::Normal, name),
            identity: "req-1@arn".to_owned(),
            worker_instance_key: key.to_owned(),
            ..Default::default()
        };
        request("PollActivityTaskQueue", message)
    }

    fn request(rpc: &str, message: impl Message) -> GrpcRequest {
        GrpcRequest {
            service: SERVICE.to_owned(),
            rpc: rpc.to_owned(),
            headers: Default::default(),
            proto: message.encode_to_vec().into(),
        }
    }

    fn decoded(request: GrpcRequest) -> ShutdownWorkerRequest {
        assert_eq!(request.rpc, "ShutdownWorker");
        ShutdownWorkerRequest::decode(request.proto).unwrap()
    }

    #[test]
    fn without_the_capability_only_the_sticky_queue_is_released_once() {
        let polls = WorkerPolls::default();
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Normal, "orders", "k1"),
            TaskQueueType::Workflow,
            0,
        );
        assert!(
            polls.release_request(false, 1).is_none(),
            "no sticky poll yet"
        );
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Sticky, "req-1@arn-sticky", "k1"),
            TaskQueueType::Workflow,
            0,
        );
        let message = decoded(polls.release_request(false, 1).expect("a sticky queue"));
        assert_eq!(message.sticky_task_queue, "req-1@arn-sticky");
        assert_eq!(message.namespace, "default");
        assert_eq!(message.identity, "req-1@arn");
        assert!(
            message.worker_instance_key.is_empty(),
            "polls still out must be left to come back with what they bring"
        );
        assert!(polls.release_request(false, 1).is_none(), "released once");
    }

    #[test]
    fn with_the_capability_the_polls_of_the_worker_are_named() {
        let polls = WorkerPolls::default();
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Normal, "orders", "k1"),
            TaskQueueType::Workflow,
            0,
        );
        polls.saw_poll(&activity_poll("orders", "k1"), TaskQueueType::Activity, 0);
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Sticky, "req-1@arn-sticky", "k1"),
            TaskQueueType::Workflow,
            0,
        );
        let message = decoded(polls.release_request(true, 1).unwrap());
        assert_eq!(message.worker_instance_key, "k1");
        assert_eq!(message.task_queue, "orders");
        assert_eq!(
            message.task_queue_types,
            vec![
                TaskQueueType::Workflow as i32,
                TaskQueueType::Activity as i32
            ]
        );
        assert_eq!(message.sticky_task_queue, "req-1@arn-sticky");
    }

    #[test]
    fn the_next_workers_polls_replace_the_last_ones() {
        let polls = WorkerPolls::default();
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Sticky, "old-sticky", "k1"),
            TaskQueueType::Workflow,
            0,
        );
        polls.saw_poll(&activity_poll("orders", "k2"), TaskQueueType::Activity, 0);
        let message = decoded(polls.release_request(true, 1).unwrap());
        assert_eq!(message.worker_instance_key, "k2");
        assert_eq!(
            message.sticky_task_queue, "",
            "k1's sticky queue is not k2's"
        );
        assert_eq!(
            message.task_queue_types,
            vec![TaskQueueType::Activity as i32]
        );
    }

    #[test]
    fn a_late_release_never_names_the_next_invocations_worker() {
        let polls = WorkerPolls::default();
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Sticky, "first-sticky", "k1"),
            TaskQueueType::Workflow,
            0,
        );
        polls.completed(
            &WorkflowRun {
                workflow_id: "wf".to_owned(),
                run_id: "wf-run".to_owned(),
            },
            true,
        );
        // The gate closed (1) and reopened; the next invocation's worker polls before the
        // release for close 1 is handled.
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Sticky, "second-sticky", "k2"),
            TaskQueueType::Workflow,
            1,
        );
        assert!(
            polls.release_request(true, 1).is_none(),
            "k2 is not close 1's"
        );
        assert!(polls.unstick_requests(1).is_empty());
        // Its own close releases it.
        let message = decoded(polls.release_request(false, 2).unwrap());
        assert_eq!(message.sticky_task_queue, "second-sticky");
    }

    #[test]
    fn the_workflows_kept_on_the_sticky_queue_are_unstuck_once() {
        let polls = WorkerPolls::default();
        let run = |id: &str| WorkflowRun {
            workflow_id: id.to_owned(),
            run_id: format!("{id}-run"),
        };
        polls.completed(&run("before-any-poll"), true);
        polls.saw_poll(
            &workflow_poll(TaskQueueKind::Normal, "orders", "k1"),
            TaskQueueType::Workflow,
            0,
        );
        polls.completed(&run("wf-1"), true);
        polls.completed(&run("wf-2"), true);
        polls.completed(&run("wf-2"), false);
        polls.completed(&run("wf-3"), true);
        let mut unstuck: Vec<_> = polls
            .unstick_requests(1)
            .into_iter()
            .map(|request| {
                assert_eq!(request.rpc, "ResetStickyTaskQueue");
                assert_eq!(request.service, SERVICE);
                let message = ResetStickyTaskQueueRequest::decode(request.proto).unwrap();
                assert_eq!(message.namespace, "default");
                let execution = message.execution.unwrap();
                (execution.workflow_id, execution.run_id)
            })
            .collect();
        unstuck.sort();
        assert_eq!(
            unstuck,
            [
                ("wf-1".to_owned(), "wf-1-run".to_owned()),
                ("wf-3".to_owned(), "wf-3-run".to_owned())
            ],
            "wf-2's last completion left the sticky queue; the one before any poll has no worker"
        );
        assert!(polls.unstick_requests(1).is_empty(), "unstuck once");
    }
}
