//! A failed call of the worker's, as the relay saw it: classified, logged once (the RPC, the
//! status code and its message through the redaction rule) and counted in the invocation's
//! `invocation done` line and span. The SDK retries what can be retried and logs its own
//! retries late (from the fifth attempt on); without this a failure that repeats on every attempt
//! (an answer too large, say) is a stuck workflow nobody can see.

use crate::{redact, server_call, task_observer::TaskObserver, worker_rpc::WorkerRpc};
use tonic::{Code, Status};

/// What kind of failure a call met, which says what the user can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureClass {
    /// A message over a size limit: it fails the same way on every attempt.
    TooLarge,
    /// A task poll that ran into its deadline: a task handed to it in its last moment is lost
    /// until its timeout.
    PollDeadline,
    /// The connection failed or was cut; the SDK retries.
    Connection,
    /// The server refused the call (a task gone or timed out, a bad request, no permission).
    Refused,
}

impl FailureClass {
    pub(crate) fn of(rpc: WorkerRpc, status: &Status) -> Self {
        match status.code() {
            Code::OutOfRange | Code::ResourceExhausted
                if ["too large", "larger than", "size limit"]
                    .iter()
                    .any(|wording| status.message().contains(wording)) =>
            {
                Self::TooLarge
            }
            Code::DeadlineExceeded | Code::Cancelled if rpc.is_task_poll() => Self::PollDeadline,
            Code::Unavailable | Code::Cancelled | Code::Unknown => Self::Connection,
            _ => Self::Refused,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too large",
            Self::PollDeadline => "poll deadline",
            Self::Connection => "connection",
            Self::Refused => "refused",
        }
    }
}

/// Logs a failed call of the worker's once and counts it; calls the relay does not name (a
/// client's, the deployment guard's) are their caller's to report.
pub(crate) fn report(rpc: WorkerRpc, status: &Status, observer: &TaskObserver) {
    if rpc == WorkerRpc::Other {
        return;
    }
    observer.call_failed();
    let class = FailureClass::of(rpc, status);
    let message = redact::text(status.message());
    match class {
        FailureClass::TooLarge => tracing::error!(
            rpc = rpc.name(),
            code = ?status.code(),
            class = class.as_str(),
            message,
            max_incoming_bytes = server_call::max_incoming(),
            "a worker call failed on a message size limit, and will on every attempt: an answer \
             larger than the limit needs {} raised (bytes); a request the server refuses needs \
             smaller payloads",
            server_call::MAX_INCOMING_VARIABLE
        ),
        FailureClass::PollDeadline => tracing::warn!(
            rpc = rpc.name(),
            code = ?status.code(),
            class = class.as_str(),
            message,
            "a task poll ended at its deadline: a task handed to it in its last moment waits for its timeout"
        ),
        FailureClass::Connection | FailureClass::Refused => tracing::warn!(
            rpc = rpc.name(),
            code = ?status.code(),
            class = class.as_str(),
            message,
            "a worker call failed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_what_the_user_can_do() {
        let class = FailureClass::of;
        let poll = WorkerRpc::PollWorkflowTaskQueue;
        let complete = WorkerRpc::RespondWorkflowTaskCompleted;
        assert_eq!(
            class(
                poll,
                &Status::out_of_range(
                    "Error, decoded message length too large: found 6005018 bytes, the limit is: 4194304 bytes"
                )
            ),
            FailureClass::TooLarge
        );
        assert_eq!(
            class(
                complete,
                &Status::resource_exhausted(
                    "grpc: received message larger than max (5000000 vs. 4194304)"
                )
            ),
            FailureClass::TooLarge
        );
        // A gzip-compressed answer is measured as it is decompressed.
        assert_eq!(
            class(
                poll,
                &Status::resource_exhausted(
                    "Error decompressing: size limit, of 2097152 bytes, exceeded while decompressing message"
                )
            ),
            FailureClass::TooLarge
        );
        assert_eq!(
            class(poll, &Status::deadline_exceeded("")),
            FailureClass::PollDeadline
        );
        assert_eq!(
            class(complete, &Status::deadline_exceeded("")),
            FailureClass::Refused
        );
        assert_eq!(
            class(complete, &Status::unavailable("connection reset")),
            FailureClass::Connection
        );
        assert_eq!(
            class(complete, &Status::not_found("workflow task not found")),
            FailureClass::Refused
        );
        assert_eq!(
            class(
                complete,
                &Status::resource_exhausted("namespace rate limit")
            ),
            FailureClass::Refused
        );
    }

    #[test]
    fn a_workers_failed_call_is_counted_and_a_client_call_is_not() {
        let observer = TaskObserver::default();
        report(
            WorkerRpc::GetWorkflowExecutionHistory,
            &Status::unavailable("reset"),
            &observer,
        );
        report(
            WorkerRpc::Other,
            &Status::not_found("no such deployment"),
            &observer,
        );
        assert_eq!(observer.failed_calls(), 1);
    }
}
