//! The worker's gRPC calls the worker relay acts on, named once as a type, and the few fields
//! it reads from their messages.
//!
//! Everything else the connection carries is [`WorkerRpc::Other`] and passes untouched — in
//! particular client long polls such as `PollWorkflowExecutionUpdate`, which must neither go
//! through the poll gate nor get the short poll deadline.
//!
//! The fields are read through small views of the messages (same field tags, everything else
//! skipped), so that a workflow task's history or an activity's result is not decoded to find a
//! task token.

use prost::Message as _;
use tonic::{Code, Status};

/// The gRPC service of every call below.
const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

/// A call of the worker's connection, as far as the relay cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkerRpc {
    PollWorkflowTaskQueue,
    PollActivityTaskQueue,
    PollNexusTaskQueue,
    RespondWorkflowTaskCompleted,
    RespondWorkflowTaskFailed,
    /// The answer to a legacy query task (a workflow poll answer with `query` set).
    RespondQueryTaskCompleted,
    RespondActivityTaskCompleted,
    RespondActivityTaskFailed,
    RespondActivityTaskCanceled,
    RespondNexusTaskCompleted,
    RespondNexusTaskFailed,
    ShutdownWorker,
    /// A page of a workflow's history, which a worker replaying it fetches beyond the first.
    GetWorkflowExecutionHistory,
    /// A running activity's heartbeat (its answer also says whether it was cancelled).
    RecordActivityTaskHeartbeat,
    /// The relay's own call at a worker's release: its workflows' next tasks go to the normal
    /// queue (see `worker_release`).
    ResetStickyTaskQueue,
    /// The worker's first call: the namespace's capabilities are in its answer.
    DescribeNamespace,
    /// Any other call, passed through as it is.
    Other,
}

/// Every named call with its method name: one table for parsing and naming.
const NAMED: [(&str, WorkerRpc); 16] = [
    ("PollWorkflowTaskQueue", WorkerRpc::PollWorkflowTaskQueue),
    ("PollActivityTaskQueue", WorkerRpc::PollActivityTaskQueue),
    ("PollNexusTaskQueue", WorkerRpc::PollNexusTaskQueue),
    (
        "RespondWorkflowTaskCompleted",
        WorkerRpc::RespondWorkflowTaskCompleted,
    ),
    (
        "RespondWorkflowTaskFailed",
        WorkerRpc::RespondWorkflowTaskFailed,
    ),
    (
        "RespondQueryTaskCompleted",
        WorkerRpc::RespondQueryTaskCompleted,
    ),
    (
        "RespondActivityTaskCompleted",
        WorkerRpc::RespondActivityTaskCompleted,
    ),
    (
        "RespondActivityTaskFailed",
        WorkerRpc::RespondActivityTaskFailed,
    ),
    (
        "RespondActivityTaskCanceled",
        WorkerRpc::RespondActivityTaskCanceled,
    ),
    (
        "RespondNexusTaskCompleted",
        WorkerRpc::RespondNexusTaskCompleted,
    ),
    ("RespondNexusTaskFailed", WorkerRpc::RespondNexusTaskFailed),
    ("ShutdownWorker", WorkerRpc::ShutdownWorker),
    (
        "GetWorkflowExecutionHistory",
        WorkerRpc::GetWorkflowExecutionHistory,
    ),
    (
        "RecordActivityTaskHeartbeat",
        WorkerRpc::RecordActivityTaskHeartbeat,
    ),
    ("ResetStickyTaskQueue", WorkerRpc::ResetStickyTaskQueue),
    ("DescribeNamespace", WorkerRpc::DescribeNamespace),
];

impl WorkerRpc {
    /// The call a gRPC path (`/service/method`, as its two parts) names.
    pub(crate) fn parse(service: &str, method: &str) -> Self {
        if service != WORKFLOW_SERVICE {
            return Self::Other;
        }
        NAMED
            .iter()
            .find(|(name, _)| *name == method)
            .map_or(Self::Other, |(_, rpc)| *rpc)
    }

    /// The method name, for logs (`"Other"` for any other call).
    pub(crate) fn name(self) -> &'static str {
        NAMED
            .iter()
            .find(|(_, rpc)| *rpc == self)
            .map_or("Other", |(name, _)| name)
    }

    /// A long poll for a task of the worker's own task queues: held by the poll gate, given the
    /// short poll deadline.
    pub(crate) fn is_task_poll(self) -> bool {
        matches!(
            self,
            Self::PollWorkflowTaskQueue | Self::PollActivityTaskQueue | Self::PollNexusTaskQueue
        )
    }

    /// The task token a call answers, read from its request; `None` for calls that answer no
    /// task (and for a request that does not decode, which the server will reject anyway).
    pub(crate) fn answered_token(self, request: &[u8]) -> Option<Vec<u8>> {
        let token = match self {
            Self::RespondWorkflowTaskCompleted
            | Self::RespondWorkflowTaskFailed
            | Self::RespondQueryTaskCompleted
            | Self::RespondActivityTaskCompleted
            | Self::RespondActivityTaskFailed
            | Self::RespondActivityTaskCanceled => TokenAt1::decode(request).ok()?.task_token,
            Self::RespondNexusTaskCompleted | Self::RespondNexusTaskFailed => {
                TokenAt3::decode(request).ok()?.task_token
            }
            _ => return None,
        };
        (!token.is_empty()).then_some(token)
    }

    /// The task a call's response hands the worker: a poll's task, or the next workflow task the
    /// server may return with a completion. `None` when the response carries none (an empty
    /// poll).
    pub(crate) fn received_task(self, response: &[u8]) -> Option<ReceivedTask> {
        let workflow_task = match self {
            Self::PollWorkflowTaskQueue => WorkflowTaskView::decode(response).ok()?,
            Self::RespondWorkflowTaskCompleted => {
                CompletedResponseView::decode(response)
                    .ok()?
                    .workflow_task?
            }
            Self::PollActivityTaskQueue => {
                let activity = ActivityTaskView::decode(response).ok()?;
                return (!activity.task_token.is_empty()).then(|| ReceivedTask {
                    token: activity.task_token,
                    kind: ReceivedKind::ActivityTask,
                    workflow_id: activity
                        .workflow_execution
                        .map(|execution| execution.workflow_id),
                });
            }
            Self::PollNexusTaskQueue => {
                let token = TokenAt1::decode(response).ok()?.task_token;
                return (!token.is_empty()).then_some(ReceivedTask {
                    token,
                    kind: ReceivedKind::Other,
                    workflow_id: None,
                });
            }
            _ => return None,
        };
        if workflow_task.task_token.is_empty() {
            return None;
        }
        let run_id = workflow_task
            .workflow_execution
            .as_ref()
            .map(|execution| execution.run_id.clone())
            .unwrap_or_default();
        let kind = match (workflow_task.query, workflow_task.workflow_type) {
            (Some(_), _) => ReceivedKind::LegacyQuery,
            (None, Some(workflow_type)) => ReceivedKind::WorkflowTask {
                workflow_type: workflow_type.name,
                run_id,
            },
            (None, None) => ReceivedKind::Other,
        };
        Some(ReceivedTask {
            token: workflow_task.task_token,
            kind,
            workflow_id: workflow_task
                .workflow_execution
                .map(|execution| execution.workflow_id),
        })
    }
}

/// A task the worker received.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReceivedTask {
    pub(crate) token: Vec<u8>,
    pub(crate) kind: ReceivedKind,
    /// The workflow it belongs to (a Nexus task belongs to none).
    pub(crate) workflow_id: Option<String>,
}

/// What a received task is, as far as stamping completions goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReceivedKind {
    /// A workflow task, completed with `RespondWorkflowTaskCompleted` carrying its behavior; the
    /// run it belongs to (with the task's `workflow_id`) is what a release unsticks.
    WorkflowTask {
        workflow_type: String,
        run_id: String,
    },
    /// A legacy query, answered with `RespondQueryTaskCompleted`, which carries no behavior.
    LegacyQuery,
    /// An activity task: its answer makes the server send its workflow a workflow task.
    ActivityTask,
    /// A Nexus task.
    Other,
}

/// What an answer's attempt did for the task it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerOutcome {
    /// The server took the answer: the task is done.
    Accepted,
    /// The server refused it for good (the task timed out, was cancelled, the request is
    /// invalid): the client does not retry, so the worker no longer holds the task.
    Refused,
    /// It failed in a way the client retries: the task is still the worker's, and the next
    /// attempt must look the same (carry the same behavior).
    MayBeRetried,
}

impl AnswerOutcome {
    /// Classifies an attempt's result by the codes `temporalio-client` retries.
    pub(crate) fn of<T>(result: &Result<T, Status>) -> Self {
        match result {
            Ok(_) => Self::Accepted,
            Err(status) => match status.code() {
                Code::DataLoss
                | Code::Internal
                | Code::Unknown
                | Code::ResourceExhausted
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unavailable
                | Code::Cancelled
                | Code::DeadlineExceeded => Self::MayBeRetried,
                _ => Self::Refused,
            },
        }
    }
}

/// The task token of the answers whose token is field 1 (and of activity and Nexus polls'
/// responses).
#[derive(Clone, PartialEq, prost::Message)]
struct TokenAt1 {
    #[prost(bytes = "vec", tag = "1")]
    task_token: Vec<u8>,
}

/// The task token of `RespondNexusTask*Request`, field 3.
#[derive(Clone, PartialEq, prost::Message)]
struct TokenAt3 {
    #[prost(bytes = "vec", tag = "3")]
    task_token: Vec<u8>,
}

/// `PollWorkflowTaskQueueResponse` without its history.
#[derive(Clone, PartialEq, prost::Message)]
struct WorkflowTaskView {
    #[prost(bytes = "vec", tag = "1")]
    task_token: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    workflow_execution: Option<ExecutionView>,
    #[prost(message, optional, tag = "3")]
    workflow_type: Option<WorkflowTypeView>,
    #[prost(message, optional, tag = "10")]
    query: Option<Present>,
}

/// `PollActivityTaskQueueResponse`: its token and its workflow.
#[derive(Clone, PartialEq, prost::Message)]
struct ActivityTaskView {
    #[prost(bytes = "vec", tag = "1")]
    task_token: Vec<u8>,
    #[prost(message, optional, tag = "4")]
    workflow_execution: Option<ExecutionView>,
}

/// `WorkflowExecution`.
#[derive(Clone, PartialEq, prost::Message)]
struct ExecutionView {
    #[prost(string, tag = "1")]
    workflow_id: String,
    #[prost(string, tag = "2")]
    run_id: String,
}

/// `WorkflowType`.
#[derive(Clone, PartialEq, prost::Message)]
struct WorkflowTypeView {
    #[prost(string, tag = "1")]
    name: String,
}

/// A message that is only checked for presence; its fields are skipped.
#[derive(Clone, PartialEq, prost::Message)]
struct Present {}

/// `RespondWorkflowTaskCompletedResponse`: the next workflow task, when the server returns one.
#[derive(Clone, PartialEq, prost::Message)]
struct CompletedResponseView {
    #[prost(message, optional, tag = "1")]
    workflow_task: Option<WorkflowTaskView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::{
        common::v1::{Payload, Payloads, WorkflowExecution, WorkflowType},
        history::v1::History,
        query::v1::WorkflowQuery,
        workflowservice::v1::{
            PollActivityTaskQueueResponse, PollNexusTaskQueueResponse,
            PollWorkflowTaskQueueResponse, RespondActivityTaskCanceledRequest,
            RespondActivityTaskCompletedRequest, RespondActivityTaskFailedRequest,
            RespondNexusTaskCompletedRequest, RespondNexusTaskFailedRequest,
            RespondQueryTaskCompletedRequest, RespondWorkflowTaskCompletedRequest,
            RespondWorkflowTaskCompletedResponse, RespondWorkflowTaskFailedRequest,
        },
    };

    #[test]
    fn only_the_workers_task_polls_are_task_polls() {
        let rpc = |method| WorkerRpc::parse(WORKFLOW_SERVICE, method);
        for method in [
            "PollWorkflowTaskQueue",
            "PollActivityTaskQueue",
            "PollNexusTaskQueue",
        ] {
            assert!(rpc(method).is_task_poll(), "{method}");
            assert_eq!(rpc(method).name(), method);
        }
        // Client long polls: their own deadlines, never held.
        for method in ["PollWorkflowExecutionUpdate", "PollActivityExecution"] {
            assert_eq!(rpc(method), WorkerRpc::Other, "{method}");
            assert!(!rpc(method).is_task_poll());
        }
        // Named so that its failures are reported (a replay's history pages), never held.
        assert_eq!(
            rpc("GetWorkflowExecutionHistory"),
            WorkerRpc::GetWorkflowExecutionHistory
        );
        assert!(!rpc("GetWorkflowExecutionHistory").is_task_poll());
        assert_eq!(
            WorkerRpc::parse(
                "temporal.api.operatorservice.v1.OperatorService",
                "ShutdownWorker"
            ),
            WorkerRpc::Other,
            "another service's method of the same name"
        );
        assert_eq!(rpc("ShutdownWorker"), WorkerRpc::ShutdownWorker);
        for (name, rpc) in NAMED {
            assert_eq!(WorkerRpc::parse(WORKFLOW_SERVICE, name), rpc);
            assert_eq!(rpc.name(), name);
        }
    }

    /// Every answer to a task, each carrying `token`.
    fn answers(token: &[u8]) -> Vec<(WorkerRpc, Vec<u8>)> {
        let mut answers = Vec::from(workflow_answers(token.to_vec()));
        answers.extend(activity_answers(token.to_vec()));
        answers.extend(nexus_answers(token.to_vec()));
        answers
    }

    fn workflow_answers(task_token: Vec<u8>) -> [(WorkerRpc, Vec<u8>); 3] {
        [
            (
                WorkerRpc::RespondWorkflowTaskCompleted,
                RespondWorkflowTaskCompletedRequest {
                    task_token: task_token.clone(),
                    identity: "worker".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                WorkerRpc::RespondWorkflowTaskFailed,
                RespondWorkflowTaskFailedRequest {
                    task_token: task_token.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                WorkerRpc::RespondQueryTaskCompleted,
                RespondQueryTaskCompletedRequest {
                    task_token: task_token.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ]
    }

    /// An activity's completion with a large result, which the view skips.
    fn activity_answers(task_token: Vec<u8>) -> [(WorkerRpc, Vec<u8>); 3] {
        let large_result = Some(Payloads {
            payloads: vec![Payload {
                data: vec![7; 4096],
                ..Default::default()
            }],
        });
        [
            (
                WorkerRpc::RespondActivityTaskCompleted,
                RespondActivityTaskCompletedRequest {
                    task_token: task_token.clone(),
                    result: large_result,
                    identity: "worker".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                WorkerRpc::RespondActivityTaskFailed,
                RespondActivityTaskFailedRequest {
                    task_token: task_token.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                WorkerRpc::RespondActivityTaskCanceled,
                RespondActivityTaskCanceledRequest {
                    task_token: task_token.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ]
    }

    fn nexus_answers(task_token: Vec<u8>) -> [(WorkerRpc, Vec<u8>); 2] {
        [
            (
                WorkerRpc::RespondNexusTaskCompleted,
                RespondNexusTaskCompletedRequest {
                    namespace: "default".into(),
                    identity: "worker".into(),
                    task_token: task_token.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                WorkerRpc::RespondNexusTaskFailed,
                RespondNexusTaskFailedRequest {
                    namespace: "default".into(),
                    identity: "worker".into(),
                    task_token,
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ]
    }

    #[test]
    fn answers_name_their_task_token() {
        let token = b"token-1".to_vec();
        for (rpc, request) in &answers(&token) {
            assert_eq!(rpc.answered_token(request), Some(token.clone()), "{rpc:?}");
            assert_eq!(WorkerRpc::ShutdownWorker.answered_token(request), None);
            assert_eq!(WorkerRpc::Other.answered_token(request), None);
        }
    }

    #[test]
    fn workflow_responses_name_the_task_they_hand_over() {
        let workflow_task = PollWorkflowTaskQueueResponse {
            task_token: b"wf".to_vec(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "order-1".into(),
                run_id: "run".into(),
            }),
            workflow_type: Some(WorkflowType {
                name: "Checkout".into(),
            }),
            history: Some(History {
                events: vec![Default::default(); 50],
            }),
            attempt: 2,
            ..Default::default()
        };
        assert_eq!(
            WorkerRpc::PollWorkflowTaskQueue.received_task(&workflow_task.encode_to_vec()),
            Some(ReceivedTask {
                token: b"wf".to_vec(),
                kind: ReceivedKind::WorkflowTask {
                    workflow_type: "Checkout".into(),
                    run_id: "run".into(),
                },
                workflow_id: Some("order-1".into()),
            })
        );
        let legacy_query = PollWorkflowTaskQueueResponse {
            task_token: b"query".to_vec(),
            query: Some(WorkflowQuery {
                query_type: "status".into(),
                ..Default::default()
            }),
            ..workflow_task.clone()
        };
        assert_eq!(
            WorkerRpc::PollWorkflowTaskQueue
                .received_task(&legacy_query.encode_to_vec())
                .map(|task| task.kind),
            Some(ReceivedKind::LegacyQuery)
        );
        let next = RespondWorkflowTaskCompletedResponse {
            workflow_task: Some(workflow_task.clone()),
            ..Default::default()
        };
        assert_eq!(
            WorkerRpc::RespondWorkflowTaskCompleted
                .received_task(&next.encode_to_vec())
                .map(|task| task.token),
            Some(b"wf".to_vec())
        );
        assert_eq!(
            WorkerRpc::RespondWorkflowTaskCompleted
                .received_task(&RespondWorkflowTaskCompletedResponse::default().encode_to_vec()),
            None
        );
    }

    #[test]
    fn polls_for_activities_and_nexus_tasks_name_the_task_they_hand_over() {
        let activity = PollActivityTaskQueueResponse {
            task_token: b"act".to_vec(),
            activity_id: "1".into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "order-1".into(),
                run_id: "run".into(),
            }),
            ..Default::default()
        };
        assert_eq!(
            WorkerRpc::PollActivityTaskQueue.received_task(&activity.encode_to_vec()),
            Some(ReceivedTask {
                token: b"act".to_vec(),
                kind: ReceivedKind::ActivityTask,
                workflow_id: Some("order-1".into()),
            })
        );
        let nexus = PollNexusTaskQueueResponse {
            task_token: b"nexus".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            WorkerRpc::PollNexusTaskQueue
                .received_task(&nexus.encode_to_vec())
                .map(|task| task.token),
            Some(b"nexus".to_vec())
        );
        // An empty poll: the server had nothing (or the gate answered it).
        for poll in [
            WorkerRpc::PollWorkflowTaskQueue,
            WorkerRpc::PollActivityTaskQueue,
            WorkerRpc::PollNexusTaskQueue,
        ] {
            assert_eq!(poll.received_task(&[]), None, "{poll:?}");
        }
    }

    #[test]
    fn only_codes_the_client_retries_leave_the_task_pending() {
        assert_eq!(AnswerOutcome::of(&Ok(())), AnswerOutcome::Accepted);
        for code in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
        ] {
            assert_eq!(
                AnswerOutcome::of::<()>(&Err(Status::new(code, ""))),
                AnswerOutcome::MayBeRetried
            );
        }
        for code in [
            Code::NotFound,
            Code::InvalidArgument,
            Code::FailedPrecondition,
        ] {
            assert_eq!(
                AnswerOutcome::of::<()>(&Err(Status::new(code, ""))),
                AnswerOutcome::Refused
            );
        }
    }
}
