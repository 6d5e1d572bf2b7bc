//! A task the server handed the worker in an answer larger than the SDK accepts
//! (`TEMPORAL_MAX_INCOMING_GRPC_BYTES`): the SDK's own client would fail the poll and never see the
//! task, which the server has recorded as started, so the task would wait for its timeout and be
//! handed out again, forever, with nothing in the history to say why. The relay reads the task's
//! token from the answer instead and fails the task to the server with the cause, which the
//! history then shows; the worker's poll fails as the SDK's own client's would.

use crate::{
    server_call::{self, Server},
    worker_rpc::{ReceivedKind, WorkerRpc},
};
use prost::Message;
use std::time::Duration;
use temporalio_client::callback_based::GrpcRequest;
use temporalio_common::protos::temporal::api::{
    deployment::v1::WorkerDeploymentOptions,
    enums::v1::WorkflowTaskFailedCause,
    failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo},
    workflowservice::v1::{RespondActivityTaskFailedRequest, RespondWorkflowTaskFailedRequest},
};
use tonic::Status;

/// What a task poll says of the worker that sent it: the same fields, with the same numbers, in
/// the workflow and the activity poll.
#[derive(Clone, PartialEq, prost::Message)]
struct PollerView {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(string, tag = "3")]
    identity: String,
    #[prost(message, optional, tag = "6")]
    deployment_options: Option<WorkerDeploymentOptions>,
}

/// How long failing the task may take.
const FAIL_DEADLINE: Duration = Duration::from_secs(10);

/// The failure's type, as the history shows it.
pub(crate) const FAILURE_TYPE: &str = "TemporalServerless.AnswerTooLarge";

/// What a task poll's answer holds when it is larger than the SDK accepts.
pub(crate) struct Oversized {
    /// The task's token and kind, if the answer carried one.
    task: Option<(Vec<u8>, ReceivedKind)>,
    size: usize,
}

impl Oversized {
    /// `Some` when a task poll's answer is larger than the SDK accepts.
    pub(crate) fn check(rpc: WorkerRpc, answer: &[u8]) -> Option<Self> {
        if !rpc.is_task_poll() || answer.len() <= server_call::max_incoming() {
            return None;
        }
        Some(Self {
            task: rpc
                .received_task(answer)
                .map(|task| (task.token, task.kind)),
            size: answer.len(),
        })
    }

    fn message(&self) -> String {
        format!(
            "the server handed this task to a Lambda worker in an answer of {} bytes, over the {} \
             bytes the worker accepts: set {} higher (bytes) in the function's environment, or \
             keep the history smaller (smaller payloads, continue-as-new)",
            self.size,
            server_call::max_incoming(),
            server_call::MAX_INCOMING_VARIABLE
        )
    }

    /// The call that fails the task to the server with the cause, made with what the worker's
    /// poll carried (namespace, identity, deployment, headers); `None` for an answer with no task
    /// in it, or a poll that does not decode.
    pub(crate) fn fail_request(&self, poll: &GrpcRequest) -> Option<GrpcRequest> {
        let (token, kind) = self.task.as_ref()?;
        let poll_message = PollerView::decode(poll.proto.clone()).ok()?;
        let failure = Some(Failure {
            message: self.message(),
            source: "temporal-serverless".to_owned(),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: FAILURE_TYPE.to_owned(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        });
        let (rpc, proto) = if *kind == ReceivedKind::ActivityTask {
            (
                "RespondActivityTaskFailed",
                RespondActivityTaskFailedRequest {
                    task_token: token.clone(),
                    failure,
                    identity: poll_message.identity,
                    namespace: poll_message.namespace,
                    deployment_options: poll_message.deployment_options,
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        } else {
            (
                "RespondWorkflowTaskFailed",
                RespondWorkflowTaskFailedRequest {
                    task_token: token.clone(),
                    cause: WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure as i32,
                    failure,
                    identity: poll_message.identity,
                    namespace: poll_message.namespace,
                    deployment_options: poll_message.deployment_options,
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        };
        Some(GrpcRequest {
            service: poll.service.clone(),
            rpc: rpc.to_owned(),
            headers: poll.headers.clone(),
            proto: proto.into(),
        })
    }

    /// Fails the task to the server (if the answer carried one); the failure the worker's poll
    /// gets then says so (it is logged once, as every failed call, by `call_failure`).
    pub(crate) async fn fail_task(&self, poll: &GrpcRequest, server: &Server) -> Status {
        let failed_to_server = match self.fail_request(poll) {
            Some(request) => server
                .call(request, Some(FAIL_DEADLINE))
                .await
                .map_err(|status| format!("could not fail it to the server: {status}")),
            None => Err("no task in it".to_owned()),
        };
        let mut message = format!(
            "answer too large: {} bytes, the limit is {} ({}); ",
            self.size,
            server_call::max_incoming(),
            server_call::MAX_INCOMING_VARIABLE
        );
        match failed_to_server {
            Ok(_) => message.push_str("its task was failed to the server with the cause"),
            Err(why) => message.push_str(&why),
        }
        Status::out_of_range(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::{
        common::v1::WorkflowType,
        workflowservice::v1::{
            PollActivityTaskQueueResponse, PollWorkflowTaskQueueRequest,
            PollWorkflowTaskQueueResponse,
        },
    };

    fn poll(rpc: &str) -> GrpcRequest {
        GrpcRequest {
            service: "temporal.api.workflowservice.v1.WorkflowService".into(),
            rpc: rpc.into(),
            headers: Default::default(),
            proto: PollWorkflowTaskQueueRequest {
                namespace: "default".into(),
                identity: "req-1@arn".into(),
                deployment_options: Some(WorkerDeploymentOptions {
                    deployment_name: "shop".into(),
                    build_id: "b1".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec()
            .into(),
        }
    }

    fn oversized(rpc: WorkerRpc, answer: Vec<u8>) -> Oversized {
        Oversized {
            task: rpc
                .received_task(&answer)
                .map(|task| (task.token, task.kind)),
            size: answer.len(),
        }
    }

    #[test]
    fn only_a_task_polls_answer_over_the_limit_is_oversized() {
        assert!(Oversized::check(WorkerRpc::PollWorkflowTaskQueue, b"small").is_none());
        assert!(
            Oversized::check(WorkerRpc::GetWorkflowExecutionHistory, b"small").is_none(),
            "only task polls carry a task to fail"
        );
    }

    #[test]
    fn a_workflow_task_is_failed_with_the_cause_as_the_worker_that_polled() {
        let answer = PollWorkflowTaskQueueResponse {
            task_token: b"t1".to_vec(),
            workflow_type: Some(WorkflowType {
                name: "Checkout".into(),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let request = oversized(WorkerRpc::PollWorkflowTaskQueue, answer)
            .fail_request(&poll("PollWorkflowTaskQueue"))
            .unwrap();
        assert_eq!(request.rpc, "RespondWorkflowTaskFailed");
        let failed = RespondWorkflowTaskFailedRequest::decode(request.proto).unwrap();
        assert_eq!(failed.task_token, b"t1");
        assert_eq!(failed.identity, "req-1@arn");
        assert_eq!(failed.namespace, "default");
        assert_eq!(failed.deployment_options.unwrap().build_id, "b1");
        let failure = failed.failure.unwrap();
        assert!(
            failure.message.contains(server_call::MAX_INCOMING_VARIABLE),
            "{}",
            failure.message
        );
        assert!(matches!(
            failure.failure_info,
            Some(FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo { r#type, .. }))
                if r#type == FAILURE_TYPE
        ));
    }

    #[test]
    fn an_activity_task_is_failed_as_an_activity() {
        let answer = PollActivityTaskQueueResponse {
            task_token: b"a1".to_vec(),
            ..Default::default()
        }
        .encode_to_vec();
        let request = oversized(WorkerRpc::PollActivityTaskQueue, answer)
            .fail_request(&poll("PollActivityTaskQueue"))
            .unwrap();
        assert_eq!(request.rpc, "RespondActivityTaskFailed");
        let failed = RespondActivityTaskFailedRequest::decode(request.proto).unwrap();
        assert_eq!(failed.task_token, b"a1");
        assert_eq!(failed.identity, "req-1@arn");
    }

    #[test]
    fn an_empty_answer_has_no_task_to_fail() {
        let empty = oversized(WorkerRpc::PollWorkflowTaskQueue, Vec::new());
        assert!(empty.fail_request(&poll("PollWorkflowTaskQueue")).is_none());
    }
}
