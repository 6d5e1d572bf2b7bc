//! Releases the current worker's sticky queue when its invocation starts to end.
//!
//! After a workflow task, the server sends that workflow's next task to the sticky queue of the
//! worker that ran it. Once the poll gate closes (the invocation drains, see `poll_gate`), that
//! worker polls its sticky queue no more, and a task sent there waits the sticky schedule-to-start
//! timeout before the server moves it to the normal queue (and invokes the function): about one
//! workflow in ten paid that second at a 10 s function timeout. So when the gate closes, the
//! relay tells the server at once, with the `ShutdownWorker` call the worker itself makes only
//! after the drain, naming just the sticky queue: new tasks of its workflows then go to the normal
//! queue. It carries no worker instance key, so a server that completes a worker's polls on
//! shutdown leaves the outstanding ones (and the tasks they may still bring) alone.

use prost::Message;
use std::sync::Mutex;
use temporalio_client::callback_based::GrpcRequest;
use temporalio_common::protos::temporal::api::{
    enums::v1::TaskQueueKind,
    workflowservice::v1::{PollWorkflowTaskQueueRequest, ShutdownWorkerRequest},
};

/// The sticky queue the current worker polls, as its last sticky poll named it.
#[derive(Default)]
pub(crate) struct StickyQueue {
    last_poll: Mutex<Option<StickyPoll>>,
}

/// What the release needs from a sticky poll: whom to name, and its headers (namespace,
/// authorization) for the call.
#[derive(Clone)]
struct StickyPoll {
    namespace: String,
    queue: String,
    identity: String,
    headers: tonic::codegen::http::HeaderMap,
    service: String,
}

impl StickyQueue {
    /// Looks at a `PollWorkflowTaskQueue` request on its way out; remembers it if it is sticky.
    pub(crate) fn saw_poll(&self, request: &GrpcRequest) {
        let Ok(poll) = PollWorkflowTaskQueueRequest::decode(request.proto.clone()) else {
            return;
        };
        let Some(task_queue) = poll.task_queue else {
            return;
        };
        if task_queue.kind() != TaskQueueKind::Sticky {
            return;
        }
        *self.last_poll.lock().unwrap() = Some(StickyPoll {
            namespace: poll.namespace,
            queue: task_queue.name,
            identity: poll.identity,
            headers: request.headers.clone(),
            service: request.service.clone(),
        });
    }

    /// The `ShutdownWorker` call that releases the sticky queue last polled, if any; each queue is
    /// released once.
    pub(crate) fn release_request(&self) -> Option<GrpcRequest> {
        let poll = self.last_poll.lock().unwrap().take()?;
        let message = ShutdownWorkerRequest {
            namespace: poll.namespace,
            sticky_task_queue: poll.queue,
            identity: poll.identity,
            reason: "Lambda invocation ending: its worker polls its sticky queue no more"
                .to_owned(),
            ..Default::default()
        };
        Some(GrpcRequest {
            service: poll.service,
            rpc: "ShutdownWorker".to_owned(),
            headers: poll.headers,
            proto: message.encode_to_vec().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;

    fn poll(kind: TaskQueueKind, name: &str) -> GrpcRequest {
        let message = PollWorkflowTaskQueueRequest {
            namespace: "default".to_owned(),
            task_queue: Some(TaskQueue {
                name: name.to_owned(),
                kind: kind as i32,
                ..Default::default()
            }),
            identity: "req-1@arn".to_owned(),
            ..Default::default()
        };
        GrpcRequest {
            service: "temporal.api.workflowservice.v1.WorkflowService".to_owned(),
            rpc: "PollWorkflowTaskQueue".to_owned(),
            headers: Default::default(),
            proto: message.encode_to_vec().into(),
        }
    }

    #[test]
    fn the_last_sticky_queue_polled_is_released_once() {
        let sticky = StickyQueue::default();
        sticky.saw_poll(&poll(TaskQueueKind::Normal, "orders"));
        assert!(sticky.release_request().is_none(), "no sticky poll yet");
        sticky.saw_poll(&poll(TaskQueueKind::Sticky, "req-1@arn-sticky"));
        let request = sticky.release_request().expect("a sticky queue to release");
        assert_eq!(request.rpc, "ShutdownWorker");
        let message = ShutdownWorkerRequest::decode(request.proto.clone()).unwrap();
        assert_eq!(message.sticky_task_queue, "req-1@arn-sticky");
        assert_eq!(message.namespace, "default");
        assert_eq!(message.identity, "req-1@arn");
        assert!(
            message.worker_instance_key.is_empty(),
            "polls still out must not be completed"
        );
        assert!(sticky.release_request().is_none(), "released once");
    }
}
