//! The worker's connection to the server, relayed: every gRPC call the worker makes passes
//! through [`WorkerRpcRelay`] (installed where the SDK lets us, `ConnectionOptions::
//! service_override`) on its way to the real server, which it reaches over a channel set up as
//! the SDK's own would be (TLS, the TLS server name as HTTP/2 authority, keep-alive also while
//! idle). On the way it does four things, and nothing else to any call:
//!
//! - **gates task polls**: they go out only as the [`PollGate`] allows, with its short deadline,
//!   so that an invocation can end without cancelling a poll;
//! - **observes tasks**: it tells the [`TaskObserver`] when the worker's task polls leave and
//!   which tasks (by token) arrive and are answered;
//! - **stamps versioning behavior**: `temporalio-sdk` 1.1 reports `Unspecified` for every
//!   workflow task and Core substitutes one worker-wide default, so a worker that registers a
//!   PINNED and an AUTO_UPGRADE workflow cannot express both; worse, with no default the server
//!   sees versioned tasks without a behavior and keeps rescheduling them. The relay remembers
//!   which workflow type each polled workflow task belongs to and stamps that type's behavior on
//!   every attempt of the task's `RespondWorkflowTaskCompleted` (the client retries an attempt
//!   that failed with UNAVAILABLE; the type is forgotten once the server accepts or refuses the
//!   completion);
//! - **releases the worker** at the server when the gate closes (see `worker_release`).
//!
//! Which calls it acts on is [`WorkerRpc`]'s to say; every other call, client long polls
//! included, passes untouched.

use crate::{
    call_failure,
    oversized_task::Oversized,
    poll_gate::{Admission, POLL_DEADLINE, PollGate},
    server_call::{self, Server},
    task_observer::TaskObserver,
    versioning::VersioningBehavior,
    worker_release::{WorkerPolls, WorkflowRun},
    worker_rpc::{AnswerOutcome, ReceivedKind, WorkerRpc},
};
use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use prost::Message;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Weak},
    time::Duration,
};
use temporalio_client::{
    ConnectionOptions, GrpcCompression,
    callback_based::{CallbackBasedGrpcService, GrpcRequest, GrpcSuccessResponse},
};
use temporalio_common::protos::temporal::api::{
    enums::v1::{CommandType, TaskQueueType, VersioningBehavior as ProtoBehavior},
    workflowservice::v1::{DescribeNamespaceResponse, RespondWorkflowTaskCompletedRequest},
};
use tonic::{
    Code, Status,
    transport::{ClientTlsConfig, Endpoint, Uri},
};

/// How many workflow tasks' types are remembered. A worker holds at most its
/// `max_outstanding_workflow_tasks` (10 by default) at once, and an entry leaves when its task's
/// completion is accepted or refused; the cap only bounds tasks never answered (a worker that
/// shut down with one), evicting the oldest first so that live entries survive.
const MAX_TRACKED_TASKS: usize = 1_000;

/// The relay of the worker's gRPC calls: a channel to the real server plus what it must remember
/// between calls.
#[derive(Clone)]
pub(crate) struct WorkerRpcRelay {
    server: Server,
    behaviors: Arc<BTreeMap<String, VersioningBehavior>>,
    task_types: Arc<Mutex<TaskTypes>>,
    observer: Arc<TaskObserver>,
    gate: Arc<PollGate>,
    polls: Arc<WorkerPolls>,
}

impl WorkerRpcRelay {
    /// A relay to the server `options` point at (TLS as configured there); the channel connects
    /// lazily, on the first call.
    pub(crate) fn new(
        options: &ConnectionOptions,
        behaviors: &BTreeMap<&'static str, VersioningBehavior>,
        observer: Arc<TaskObserver>,
        gate: Arc<PollGate>,
    ) -> Result<Self, String> {
        Ok(Self {
            server: Server::new(
                ChannelSettings::of(options)?
                    .endpoint(options)?
                    .connect_lazy(),
                options.grpc_compression == GrpcCompression::Gzip,
            ),
            behaviors: Arc::new(
                behaviors
                    .iter()
                    .map(|(name, behavior)| (name.to_string(), *behavior))
                    .collect(),
            ),
            task_types: Default::default(),
            observer,
            gate,
            polls: Default::default(),
        })
    }

    /// The `service_override` that routes a connection through this relay. Also starts, on the
    /// current tokio runtime, the release of the worker at the server whenever the gate closes
    /// (see `worker_release`).
    pub(crate) fn into_service(self) -> CallbackBasedGrpcService {
        tokio::spawn(release_workers(
            self.gate.clone(),
            Arc::downgrade(&self.polls),
            self.server.clone(),
            self.observer.clone(),
        ));
        CallbackBasedGrpcService {
            callback: Arc::new(move |request| {
                let relay = self.clone();
                Box::pin(async move { relay.call(request).await }) as BoxFuture<'static, _>
            }),
        }
    }

    async fn call(&self, mut request: GrpcRequest) -> Result<GrpcSuccessResponse, Status> {
        let rpc = WorkerRpc::parse(&request.service, &request.rpc);
        // Outstanding until its answer has been looked at, so that a task it brings counts as
        // received before the poll counts as back.
        let _outstanding = if rpc.is_task_poll() {
            match self.gate.admit().await {
                Admission::Forward(outstanding) => Some(outstanding),
                // An empty message is a poll that found nothing, in every Poll*Response.
                Admission::AnswerEmpty => {
                    return Ok(GrpcSuccessResponse {
                        headers: Default::default(),
                        proto: Vec::new(),
                    });
                }
            }
        } else {
            None
        };
        let answered = rpc.answered_token(&request.proto);
        let schedules_activity = self.on_the_way_out(rpc, &mut request)?;
        let poll = rpc.is_task_poll().then(|| server_call::copy(&request));
        let sent = std::time::Instant::now();
        let result = match (self.forward(request, rpc.is_task_poll()).await, &poll) {
            (Ok(answer), Some(poll))
                if let Some(oversized) = Oversized::check(rpc, &answer.proto) =>
            {
                Err(oversized.fail_task(poll, &self.server).await)
            }
            (result, _) => result,
        };
        trace_call(rpc, sent.elapsed(), &result);
        if let Err(status) = &result {
            call_failure::report(rpc, status, &self.observer);
        }
        self.on_the_way_back(rpc, &result);
        self.observe(rpc, answered.as_deref(), schedules_activity, &result);
        result
    }

    /// What a call changes before it leaves: a completion is rewritten (see
    /// [`Self::rewrite_completion`]; returns whether it schedules an activity), the worker's
    /// `ShutdownWorker` releases held polls, and a task poll is noted (for the release and the
    /// observer).
    fn on_the_way_out(&self, rpc: WorkerRpc, request: &mut GrpcRequest) -> Result<bool, Status> {
        let polled = match rpc {
            WorkerRpc::RespondWorkflowTaskCompleted => {
                let schedules_activity;
                (request.proto, schedules_activity) =
                    self.rewrite_completion(&request.proto, !self.gate.is_open())?;
                return Ok(schedules_activity);
            }
            // Core waits for its polls after this call when the namespace completes polls on
            // shutdown; held polls must then come back.
            WorkerRpc::ShutdownWorker => {
                self.gate.release();
                return Ok(false);
            }
            WorkerRpc::PollWorkflowTaskQueue => TaskQueueType::Workflow,
            WorkerRpc::PollActivityTaskQueue => TaskQueueType::Activity,
            WorkerRpc::PollNexusTaskQueue => TaskQueueType::Nexus,
            _ => return Ok(false),
        };
        self.polls
            .saw_poll(request, polled, self.gate.closes_so_far());
        self.observer.poll_sent(rpc);
        Ok(false)
    }

    /// What a call's result tells the relay itself: whether the server completes polls on
    /// shutdown.
    fn on_the_way_back(&self, rpc: WorkerRpc, result: &Result<GrpcSuccessResponse, Status>) {
        if rpc == WorkerRpc::DescribeNamespace
            && let Ok(response) = result
        {
            // The worker asks once per connection, before its first poll.
            self.gate
                .set_server_completes_polls(completes_polls_on_shutdown(&response.proto));
        }
    }

    /// Records what a call's response means: the task it hands the worker, and what became of
    /// the task it answered. A task stays remembered (for the behavior the next attempt must
    /// carry too) and in hand until its answer is accepted or refused for good.
    fn observe(
        &self,
        rpc: WorkerRpc,
        answered: Option<&[u8]>,
        schedules_activity: bool,
        result: &Result<GrpcSuccessResponse, Status>,
    ) {
        // The answer first: the next workflow task a completion may bring is then in hand
        // whatever its token.
        let outcome = AnswerOutcome::of(result);
        if let Some(token) = answered
            && outcome != AnswerOutcome::MayBeRetried
        {
            if matches!(
                rpc,
                WorkerRpc::RespondWorkflowTaskCompleted | WorkerRpc::RespondWorkflowTaskFailed
            ) {
                self.task_types.lock().remove(token);
            }
            match outcome {
                AnswerOutcome::Accepted => self.observer.task_answered(token, schedules_activity),
                _ => self.observer.task_refused(token),
            }
        }
        if let Ok(response) = result
            && let Some(task) = rpc.received_task(&response.proto)
        {
            // A legacy query's answer carries no behavior: nothing to remember for it.
            self.observer.received(&task);
            if let ReceivedKind::WorkflowTask {
                workflow_type,
                run_id,
            } = task.kind
            {
                let run = task.workflow_id.map(|workflow_id| WorkflowRun {
                    workflow_id,
                    run_id,
                });
                self.task_types
                    .lock()
                    .insert(task.token, workflow_type, run);
            }
        }
    }

    /// Rewrites a completion on its way out: sets the declared behavior on a completion the SDK
    /// left `Unspecified` (every attempt is stamped: the type is forgotten only once the server
    /// has taken it). Also says whether the completion schedules an activity (its task is then
    /// due, see `task_observer`).
    ///
    /// While the worker is ending (`worker_ending`: the gate is not open), the completion also
    /// asks for no sticky queue. The worker's sticky queue was released when the gate closed
    /// (`worker_release`), but a completion with sticky attributes would tie its workflow to that
    /// queue again, and the workflow's next task (an activity's result, often handled by another
    /// instance) would wait the sticky schedule-to-start timeout there. Without them the server
    /// sends the next task to the normal queue; the worker that answers it replays the history,
    /// which an ending worker's successor must do anyway.
    fn rewrite_completion(
        &self,
        proto: &Bytes,
        worker_ending: bool,
    ) -> Result<(Bytes, bool), Status> {
        let mut completion =
            RespondWorkflowTaskCompletedRequest::decode(proto.clone()).map_err(|error| {
                Status::internal(format!("worker relay: undecodable completion: {error}"))
            })?;
        let unstick = worker_ending && completion.sticky_attributes.is_some();
        if unstick {
            completion.sticky_attributes = None;
        }
        let task_types = self.task_types.lock();
        if let Some(run) = task_types.run(&completion.task_token) {
            let closes = completion.commands.iter().any(|command| {
                matches!(
                    command.command_type(),
                    CommandType::CompleteWorkflowExecution
                        | CommandType::FailWorkflowExecution
                        | CommandType::CancelWorkflowExecution
                        | CommandType::ContinueAsNewWorkflowExecution
                )
            });
            self.polls
                .completed(run, completion.sticky_attributes.is_some() && !closes);
        }
        let behavior = task_types
            .get(&completion.task_token)
            .and_then(|name| self.behaviors.get(name));
        drop(task_types);
        let stamp = match behavior {
            Some(behavior) if completion.versioning_behavior() == ProtoBehavior::Unspecified => {
                completion.set_versioning_behavior(match behavior {
                    VersioningBehavior::Pinned => ProtoBehavior::Pinned,
                    VersioningBehavior::AutoUpgrade => ProtoBehavior::AutoUpgrade,
                });
                true
            }
            _ => false,
        };
        let schedules_activity = completion
            .commands
            .iter()
            .any(|command| command.command_type() == CommandType::ScheduleActivityTask);
        // Unchanged completions go out as the SDK encoded them.
        let sent = if stamp || unstick {
            completion.encode_to_vec().into()
        } else {
            proto.clone()
        };
        Ok((sent, schedules_activity))
    }

    /// Sends a call on to the server; a task poll with the short deadline the server answers it
    /// empty before (see `poll_gate`).
    async fn forward(
        &self,
        request: GrpcRequest,
        is_task_poll: bool,
    ) -> Result<GrpcSuccessResponse, Status> {
        self.server
            .call(request, is_task_poll.then_some(POLL_DEADLINE))
            .await
    }
}

/// How long a release call may take: it only helps while the worker's workflows are being
/// scheduled (a task on a sticky queue moves to the normal queue by itself after 1 s); one stuck
/// longer must not outlive the invocation it belongs to.
const RELEASE_DEADLINE: Duration = Duration::from_secs(5);

/// Releases the worker at the server each time the gate closes (see `worker_release`), for as
/// long as the relay that saw its polls lives (a new connection brings a new relay and its own
/// release).
async fn release_workers(
    gate: Arc<PollGate>,
    polls: Weak<WorkerPolls>,
    server: Server,
    observer: Arc<TaskObserver>,
) {
    let mut closes = gate.closes();
    while closes.changed().await.is_ok() {
        let close = *closes.borrow_and_update();
        let Some(polls) = polls.upgrade() else {
            return;
        };
        let release = polls.release_request(gate.server_completes_polls(), close);
        let unsticks = polls.unstick_requests(close);
        drop(polls);
        // The sticky queue first: once its workflows are unstuck, the server refuses a sticky
        // poll's start of their tasks as obsolete and drops the task until its sticky timeout (a
        // task scheduled just before the unstick and taken by the still-outstanding sticky poll
        // just after: 4 in a full bench run). Released, the queue holds no poll, and a task
        // scheduled meanwhile goes to the normal queue.
        if let Some(release) = release {
            let sent = std::time::Instant::now();
            let result = server.call(release, Some(RELEASE_DEADLINE)).await;
            trace_call(WorkerRpc::ShutdownWorker, sent.elapsed(), &result);
            if let Err(status) = result {
                // The server then falls back on the sticky queue's timeout and the polls'
                // deadline, as it would without this.
                call_failure::report(WorkerRpc::ShutdownWorker, &status, &observer);
            }
        }
        if !unsticks.is_empty() {
            let runs = unsticks.len();
            let results = futures::future::join_all(
                unsticks
                    .into_iter()
                    .map(|unstick| server.call(unstick, Some(RELEASE_DEADLINE))),
            )
            .await;
            // A run that closed meanwhile is refused (NotFound): nothing left to unstick.
            let mut closed = 0;
            for status in results.iter().filter_map(|result| result.as_ref().err()) {
                if status.code() == Code::NotFound {
                    closed += 1;
                } else {
                    call_failure::report(WorkerRpc::ResetStickyTaskQueue, status, &observer);
                }
            }
            tracing::debug!(runs, closed, "unstuck the worker's workflows");
        }
    }
}

/// The runtime's own trace of the worker's calls, at DEBUG: which poll brought which workflow's
/// task, and how each answer fared. A stalled task is found by its workflow id here.
fn trace_call(rpc: WorkerRpc, took: Duration, result: &Result<GrpcSuccessResponse, Status>) {
    if rpc == WorkerRpc::Other || !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let took_ms = took.as_millis() as u64;
    match result {
        Ok(response) => match rpc.received_task(&response.proto) {
            Some(task) => tracing::debug!(
                rpc = rpc.name(),
                took_ms,
                workflow_id = task.workflow_id.as_deref().unwrap_or(""),
                task = ?task.kind,
                "worker call brought a task"
            ),
            None => tracing::debug!(rpc = rpc.name(), took_ms, "worker call done"),
        },
        Err(status) => tracing::debug!(
            rpc = rpc.name(),
            took_ms,
            code = ?status.code(),
            "worker call failed"
        ),
    }
}

/// Whether a `DescribeNamespace` answer advertises that the server completes a worker's polls on
/// `ShutdownWorker`.
fn completes_polls_on_shutdown(response: &[u8]) -> bool {
    DescribeNamespaceResponse::decode(response)
        .ok()
        .and_then(|response| response.namespace_info)
        .and_then(|info| info.capabilities)
        .is_some_and(|capabilities| capabilities.worker_poll_complete_on_shutdown)
}

/// Workflow task tokens awaiting an accepted or refused completion, mapped to their workflow
/// type and run, evicted oldest first beyond [`MAX_TRACKED_TASKS`].
#[derive(Default)]
struct TaskTypes {
    /// Token → (insertion number, workflow type, run).
    by_token: HashMap<Vec<u8>, (u64, String, Option<WorkflowRun>)>,
    /// Insertion number → token, oldest first.
    by_age: BTreeMap<u64, Vec<u8>>,
    inserted: u64,
}

impl TaskTypes {
    fn insert(&mut self, token: Vec<u8>, workflow_type: String, run: Option<WorkflowRun>) {
        self.remove(&token);
        self.inserted += 1;
        self.by_age.insert(self.inserted, token.clone());
        self.by_token
            .insert(token, (self.inserted, workflow_type, run));
        while self.by_token.len() > MAX_TRACKED_TASKS {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.by_token.remove(&oldest);
        }
    }

    fn get(&self, token: &[u8]) -> Option<&str> {
        self.by_token
            .get(token)
            .map(|(_, workflow_type, _)| workflow_type.as_str())
    }

    fn run(&self, token: &[u8]) -> Option<&WorkflowRun> {
        self.by_token
            .get(token)
            .and_then(|(_, _, run)| run.as_ref())
    }

    fn remove(&mut self, token: &[u8]) {
        if let Some((inserted, ..)) = self.by_token.remove(token) {
            self.by_age.remove(&inserted);
        }
    }
}

/// How the relay's channel differs from a bare endpoint at the target, set as the SDK's own
/// connection sets it (`temporalio-client`'s `Connection::connect`), so that routing the worker
/// through the relay changes nothing on the wire.
#[derive(Debug, PartialEq)]
struct ChannelSettings {
    /// The HTTP/2 `:authority` (and scheme), when not the target's: the TLS server name when
    /// one overrides the target's host — a proxy or private endpoint routes by it — unless the
    /// connection names an origin itself.
    origin: Option<Uri>,
    /// HTTP/2 keep-alive pings, also while no call is open: an idle worker's connection is
    /// exactly the one that must be found dead (cut while the process was frozen) before the
    /// next invocation's first poll waits on it.
    keep_alive: Option<Http2KeepAlive>,
}

#[derive(Debug, PartialEq)]
struct Http2KeepAlive {
    interval: Duration,
    timeout: Duration,
    while_idle: bool,
}

impl ChannelSettings {
    fn of(options: &ConnectionOptions) -> Result<Self, String> {
        let tls_server_name = options
            .tls_options
            .as_ref()
            .and_then(|tls| tls.domain.as_ref());
        let origin = match (&options.override_origin, tls_server_name) {
            (Some(origin), _) => Some(origin.clone()),
            (None, Some(server_name)) => Some(server_name_origin(server_name)?),
            (None, None) => None,
        };
        let keep_alive = options
            .keep_alive
            .as_ref()
            .map(|keep_alive| Http2KeepAlive {
                interval: keep_alive.interval,
                timeout: keep_alive.timeout,
                while_idle: true,
            });
        Ok(Self { origin, keep_alive })
    }

    /// The endpoint to the server `options` point at, with TLS as configured there.
    fn endpoint(self, options: &ConnectionOptions) -> Result<Endpoint, String> {
        let mut endpoint =
            Endpoint::from_shared(options.target.to_string()).map_err(|error| error.to_string())?;
        if let Some(timeout) = options.connect_timeout {
            endpoint = endpoint.connect_timeout(timeout);
        }
        if let Some(keep_alive) = self.keep_alive {
            endpoint = endpoint
                .keep_alive_while_idle(keep_alive.while_idle)
                .http2_keep_alive_interval(keep_alive.interval)
                .keep_alive_timeout(keep_alive.timeout);
        }
        if let Some(origin) = self.origin {
            endpoint = endpoint.origin(origin);
        }
        if let Some(tls) = &options.tls_options {
            let mut config = ClientTlsConfig::new();
            // As the SDK: a configured CA replaces the system's roots, and a custom verifier
            // replaces both.
            if tls.server_cert_verifier.is_none() {
                config = match &tls.server_root_ca_cert {
                    Some(ca) => config.ca_certificate(tonic::transport::Certificate::from_pem(ca)),
                    None => config.with_native_roots(),
                };
            }
            if let Some(domain) = &tls.domain {
                config = config.domain_name(domain.clone());
            }
            if let Some(client) = &tls.client_tls_options {
                config = config.identity(tonic::transport::Identity::from_pem(
                    &client.client_cert,
                    &client.client_private_key,
                ));
            }
            endpoint = match &tls.server_cert_verifier {
                Some(verifier) => endpoint.tls_config_with_verifier(config, verifier.clone()),
                None => endpoint.tls_config(config),
            }
            .map_err(|error| error.to_string())?;
        }
        Ok(endpoint)
    }
}

/// The origin that makes a TLS server name the HTTP/2 authority.
fn server_name_origin(server_name: &str) -> Result<Uri, String> {
    format!("https://{server_name}").parse().map_err(|error| {
        format!(
            "the TLS server name `{server_name}` is not a host name ({error}); set \
             TEMPORAL_TLS_SERVER_NAME (or `server_name` in the profile's tls table) to the host \
             name on the server's certificate"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_client::{ClientKeepAliveOptions, TlsOptions, Url};
    use temporalio_common::protos::temporal::api::{
        command::v1::Command,
        common::v1::{WorkflowExecution, WorkflowType},
        query::v1::WorkflowQuery,
        taskqueue::v1::{StickyExecutionAttributes, TaskQueue},
        workflowservice::v1::{
            PollWorkflowTaskQueueRequest, PollWorkflowTaskQueueResponse,
            ResetStickyTaskQueueRequest, RespondQueryTaskCompletedRequest,
            RespondWorkflowTaskCompletedResponse, RespondWorkflowTaskFailedRequest,
            RespondWorkflowTaskFailedResponse,
        },
    };
    use tonic::Code;

    /// A relay to a port nobody listens on: these tests never reach a server. (Its channel needs
    /// a runtime, hence `tokio::test` also where nothing is awaited.)
    fn relay() -> WorkerRpcRelay {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options =
            ConnectionOptions::new(Url::parse(&format!("http://127.0.0.1:{port}")).unwrap())
                .build();
        let behaviors = BTreeMap::from([
            ("Checkout", VersioningBehavior::Pinned),
            ("Browse", VersioningBehavior::AutoUpgrade),
        ]);
        WorkerRpcRelay::new(&options, &behaviors, Default::default(), Default::default()).unwrap()
    }

    fn response(message: impl Message) -> Result<GrpcSuccessResponse, Status> {
        Ok(GrpcSuccessResponse {
            headers: Default::default(),
            proto: message.encode_to_vec(),
        })
    }

    fn workflow_task(token: &[u8], workflow_type: &str) -> PollWorkflowTaskQueueResponse {
        PollWorkflowTaskQueueResponse {
            task_token: token.to_vec(),
            workflow_type: Some(WorkflowType {
                name: workflow_type.into(),
            }),
            ..Default::default()
        }
    }

    /// The worker's workflow poll brought this task.
    fn polled(relay: &WorkerRpcRelay, token: &[u8], workflow_type: &str) {
        relay.observe(
            WorkerRpc::PollWorkflowTaskQueue,
            None,
            false,
            &response(workflow_task(token, workflow_type)),
        );
    }

    /// The behavior the relay puts on a completion of the task with `token`.
    fn stamped(relay: &WorkerRpcRelay, token: &[u8]) -> ProtoBehavior {
        let completion = RespondWorkflowTaskCompletedRequest {
            task_token: token.to_vec(),
            identity: "worker".into(),
            ..Default::default()
        };
        let stamped = relay
            .rewrite_completion(&completion.encode_to_vec().into(), false)
            .unwrap()
            .0;
        RespondWorkflowTaskCompletedRequest::decode(stamped)
            .unwrap()
            .versioning_behavior()
    }

    fn unavailable() -> Result<GrpcSuccessResponse, Status> {
        Err(Status::unavailable("connection reset"))
    }

    #[tokio::test]
    async fn every_attempt_of_a_completion_carries_the_behavior() {
        let relay = relay();
        polled(&relay, b"t1", "Checkout");
        polled(&relay, b"t2", "Browse");
        assert_eq!(relay.observer.in_flight(), 2);

        let complete = WorkerRpc::RespondWorkflowTaskCompleted;
        assert_eq!(stamped(&relay, b"t1"), ProtoBehavior::Pinned);
        // The client retries the attempt that failed with UNAVAILABLE: the same behavior again.
        relay.observe(complete, Some(b"t1"), false, &unavailable());
        assert_eq!(stamped(&relay, b"t1"), ProtoBehavior::Pinned);
        assert_eq!(relay.observer.in_flight(), 2, "t1 is still in hand");
        relay.observe(
            complete,
            Some(b"t1"),
            false,
            &response(RespondWorkflowTaskCompletedResponse::default()),
        );
        assert_eq!(
            stamped(&relay, b"t1"),
            ProtoBehavior::Unspecified,
            "forgotten once accepted"
        );
        assert_eq!(stamped(&relay, b"t2"), ProtoBehavior::AutoUpgrade);
        assert_eq!(relay.observer.in_flight(), 1);
        assert_eq!(relay.observer.tasks_completed(), 1);
    }

    #[tokio::test]
    async fn a_behavior_the_completion_already_carries_is_kept() {
        let relay = relay();
        polled(&relay, b"t1", "Checkout");
        let mut completion = RespondWorkflowTaskCompletedRequest {
            task_token: b"t1".to_vec(),
            ..Default::default()
        };
        completion.set_versioning_behavior(ProtoBehavior::AutoUpgrade);
        let proto: Bytes = completion.encode_to_vec().into();
        assert_eq!(relay.rewrite_completion(&proto, false).unwrap().0, proto);
    }

    #[tokio::test]
    async fn an_ending_worker_asks_for_no_sticky_queue() {
        let relay = relay();
        polled(&relay, b"t1", "Checkout");
        let completion = RespondWorkflowTaskCompletedRequest {
            task_token: b"t1".to_vec(),
            sticky_attributes: Some(StickyExecutionAttributes {
                worker_task_queue: Some(TaskQueue {
                    name: "req-1@arn-sticky".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let proto: Bytes = completion.encode_to_vec().into();
        let sent = |worker_ending| {
            RespondWorkflowTaskCompletedRequest::decode(
                relay.rewrite_completion(&proto, worker_ending).unwrap().0,
            )
            .unwrap()
        };

        let working = sent(false);
        assert!(
            working.sticky_attributes.is_some(),
            "a working worker stays sticky"
        );
        assert_eq!(working.versioning_behavior(), ProtoBehavior::Pinned);
        let ending = sent(true);
        assert_eq!(ending.sticky_attributes, None);
        assert_eq!(ending.versioning_behavior(), ProtoBehavior::Pinned);
        assert_eq!(ending.task_token, b"t1");
    }

    #[tokio::test]
    async fn the_workflows_a_working_worker_kept_sticky_are_unstuck_at_its_release() {
        let relay = relay();
        let poll = PollWorkflowTaskQueueRequest {
            namespace: "default".into(),
            task_queue: Some(TaskQueue {
                name: "orders".into(),
                ..Default::default()
            }),
            worker_instance_key: "k1".into(),
            ..Default::default()
        };
        relay.polls.saw_poll(
            &GrpcRequest {
                service: "temporal.api.workflowservice.v1.WorkflowService".into(),
                rpc: "PollWorkflowTaskQueue".into(),
                headers: Default::default(),
                proto: poll.encode_to_vec().into(),
            },
            TaskQueueType::Workflow,
            0,
        );
        let complete = |token: &[u8], workflow_id: &str, closes: bool, worker_ending: bool| {
            relay.observe(
                WorkerRpc::PollWorkflowTaskQueue,
                None,
                false,
                &response(PollWorkflowTaskQueueResponse {
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: workflow_id.into(),
                        run_id: format!("{workflow_id}-run"),
                    }),
                    ..workflow_task(token, "Checkout")
                }),
            );
            let command = if closes {
                CommandType::CompleteWorkflowExecution
            } else {
                CommandType::ScheduleActivityTask
            };
            let completion = RespondWorkflowTaskCompletedRequest {
                task_token: token.to_vec(),
                sticky_attributes: Some(Default::default()),
                commands: vec![Command {
                    command_type: command as i32,
                    ..Default::default()
                }],
                ..Default::default()
            };
            relay
                .rewrite_completion(&completion.encode_to_vec().into(), worker_ending)
                .unwrap();
        };
        complete(b"t1", "stays", false, false);
        complete(b"t2", "closes", false, false);
        complete(b"t3", "closes", true, false);
        complete(b"t4", "ending", false, false);
        complete(b"t5", "ending", false, true);
        let unstuck: Vec<String> = relay
            .polls
            .unstick_requests(1)
            .into_iter()
            .map(|request| {
                ResetStickyTaskQueueRequest::decode(request.proto)
                    .unwrap()
                    .execution
                    .unwrap()
                    .workflow_id
            })
            .collect();
        assert_eq!(
            unstuck,
            ["stays"],
            "a closed workflow has no next task; an ending worker's completion asked for no \
             sticky queue"
        );
    }

    #[tokio::test]
    async fn a_completion_brings_the_next_task_into_hand() {
        let relay = relay();
        let complete = WorkerRpc::RespondWorkflowTaskCompleted;
        polled(&relay, b"t1", "Checkout");
        relay.observe(
            complete,
            Some(b"t1"),
            false,
            &response(RespondWorkflowTaskCompletedResponse {
                workflow_task: Some(workflow_task(b"t2", "Checkout")),
                ..Default::default()
            }),
        );
        assert_eq!(relay.observer.in_flight(), 1);
        assert_eq!(relay.observer.idle_for(), None);
        assert_eq!(stamped(&relay, b"t2"), ProtoBehavior::Pinned);
    }

    #[tokio::test]
    async fn a_failed_workflow_task_is_forgotten_once_the_failure_is_taken() {
        let relay = relay();
        polled(&relay, b"t1", "Checkout");
        let fail = WorkerRpc::RespondWorkflowTaskFailed;
        let request = RespondWorkflowTaskFailedRequest {
            task_token: b"t1".to_vec(),
            ..Default::default()
        }
        .encode_to_vec();
        let token = fail.answered_token(&request);
        relay.observe(fail, token.as_deref(), false, &unavailable());
        assert_eq!(stamped(&relay, b"t1"), ProtoBehavior::Pinned);
        relay.observe(
            fail,
            token.as_deref(),
            false,
            &response(RespondWorkflowTaskFailedResponse::default()),
        );
        assert_eq!(stamped(&relay, b"t1"), ProtoBehavior::Unspecified);
        assert_eq!(relay.observer.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_refused_completion_releases_its_task() {
        let relay = relay();
        polled(&relay, b"t1", "Checkout");
        relay.observe(
            WorkerRpc::RespondWorkflowTaskCompleted,
            Some(b"t1"),
            false,
            &Err(Status::new(Code::NotFound, "workflow task not found")),
        );
        assert_eq!(stamped(&relay, b"t1"), ProtoBehavior::Unspecified);
        assert_eq!(relay.observer.in_flight(), 0);
        assert_eq!(relay.observer.tasks_completed(), 0);
    }

    #[tokio::test]
    async fn a_legacy_query_is_held_until_answered_but_not_remembered() {
        let relay = relay();
        let query = PollWorkflowTaskQueueResponse {
            query: Some(WorkflowQuery {
                query_type: "status".into(),
                ..Default::default()
            }),
            ..workflow_task(b"q1", "Checkout")
        };
        relay.observe(
            WorkerRpc::PollWorkflowTaskQueue,
            None,
            false,
            &response(query),
        );
        assert_eq!(relay.observer.in_flight(), 1);
        assert!(
            relay.task_types.lock().get(b"q1").is_none(),
            "its answer carries no behavior"
        );
        let answer = WorkerRpc::RespondQueryTaskCompleted;
        let request = RespondQueryTaskCompletedRequest {
            task_token: b"q1".to_vec(),
            ..Default::default()
        }
        .encode_to_vec();
        relay.observe(
            answer,
            answer.answered_token(&request).as_deref(),
            false,
            &response(RespondWorkflowTaskFailedResponse::default()),
        );
        assert_eq!(relay.observer.in_flight(), 0);
        assert_eq!(relay.observer.tasks_completed(), 1);
    }

    #[test]
    fn the_oldest_task_types_make_room_for_new_ones() {
        let mut task_types = TaskTypes::default();
        let token = |n: usize| n.to_be_bytes().to_vec();
        for n in 0..MAX_TRACKED_TASKS + 10 {
            task_types.insert(token(n), format!("type {n}"), None);
        }
        assert_eq!(task_types.by_token.len(), MAX_TRACKED_TASKS);
        assert_eq!(task_types.by_age.len(), MAX_TRACKED_TASKS);
        assert!(task_types.get(&token(9)).is_none(), "the oldest went");
        assert_eq!(task_types.get(&token(10)), Some("type 10"));
        assert_eq!(
            task_types.get(&token(MAX_TRACKED_TASKS + 9)),
            Some(format!("type {}", MAX_TRACKED_TASKS + 9).as_str())
        );
        task_types.remove(&token(10));
        assert_eq!(task_types.by_age.len(), MAX_TRACKED_TASKS - 1);
        // A token remembered again counts as new.
        task_types.insert(token(11), "again".into(), None);
        task_types.insert(token(0), "new".into(), None);
        task_types.insert(token(1), "new".into(), None);
        assert_eq!(task_types.get(&token(11)), Some("again"));
        assert!(task_types.get(&token(12)).is_none());
    }

    fn request(rpc: &str) -> GrpcRequest {
        GrpcRequest {
            service: "temporal.api.workflowservice.v1.WorkflowService".into(),
            rpc: rpc.into(),
            headers: Default::default(),
            proto: Bytes::new(),
        }
    }

    #[tokio::test]
    async fn only_the_workers_task_polls_wait_at_a_closed_gate() {
        let relay = relay();
        relay.gate.close();
        // A client long poll goes straight on (to a port nobody listens on).
        let update = tokio::time::timeout(
            Duration::from_secs(10),
            relay.call(request("PollWorkflowExecutionUpdate")),
        )
        .await
        .expect("a client long poll is not held");
        assert_eq!(update.unwrap_err().code(), Code::Unavailable);

        let held = tokio::spawn({
            let relay = relay.clone();
            async move { relay.call(request("PollWorkflowTaskQueue")).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!held.is_finished(), "a task poll waits at the closed gate");
        relay.gate.release();
        let empty = held.await.unwrap().expect("answered empty on release");
        assert!(empty.proto.is_empty());
        assert_eq!(relay.gate.outstanding(), 0);
        assert_eq!(relay.observer.in_flight(), 0);
    }

    fn options(target: &str) -> ConnectionOptions {
        ConnectionOptions::new(Url::parse(target).unwrap()).build()
    }

    #[test]
    fn the_channel_is_set_up_as_the_sdks_own() {
        let plain = options("http://localhost:7233");
        assert_eq!(
            ChannelSettings::of(&plain).unwrap(),
            ChannelSettings {
                origin: None,
                keep_alive: Some(Http2KeepAlive {
                    interval: ClientKeepAliveOptions::default().interval,
                    timeout: ClientKeepAliveOptions::default().timeout,
                    while_idle: true,
                }),
            },
            "the SDK's default keep-alive, also while idle"
        );

        let mut tls = options("https://10.0.0.7:7233");
        tls.tls_options = Some(
            TlsOptions::builder()
                .domain("ns.a1b2c.tmprl.cloud".to_owned())
                .build(),
        );
        tls.keep_alive = None;
        let settings = ChannelSettings::of(&tls).unwrap();
        assert_eq!(
            settings.origin,
            Some(Uri::from_static("https://ns.a1b2c.tmprl.cloud")),
            "the TLS server name is the authority"
        );
        assert_eq!(settings.keep_alive, None);

        tls.override_origin = Some(Uri::from_static("https://gateway.internal"));
        assert_eq!(
            ChannelSettings::of(&tls).unwrap().origin,
            Some(Uri::from_static("https://gateway.internal")),
            "an origin the connection names wins"
        );

        tls.override_origin = None;
        tls.tls_options = Some(
            TlsOptions::builder()
                .domain("not a host".to_owned())
                .build(),
        );
        let error = ChannelSettings::of(&tls).unwrap_err();
        assert!(error.contains("`not a host`"), "{error}");
    }

    #[test]
    fn the_endpoint_targets_the_server() {
        let options = options("http://localhost:7233");
        let endpoint = ChannelSettings::of(&options)
            .unwrap()
            .endpoint(&options)
            .unwrap();
        assert_eq!(endpoint.uri(), &Uri::from_static("http://localhost:7233/"));
    }

    #[test]
    fn the_namespace_description_says_whether_the_server_completes_polls() {
        use temporalio_common::protos::temporal::api::namespace::v1::{
            NamespaceInfo, namespace_info::Capabilities,
        };
        let described = |completes: Option<bool>| {
            DescribeNamespaceResponse {
                namespace_info: Some(NamespaceInfo {
                    name: "default".into(),
                    capabilities: completes.map(|completes| Capabilities {
                        worker_poll_complete_on_shutdown: completes,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec()
        };
        assert!(completes_polls_on_shutdown(&described(Some(true))));
        assert!(!completes_polls_on_shutdown(&described(Some(false))));
        assert!(
            !completes_polls_on_shutdown(&described(None)),
            "an older server"
        );
        assert!(!completes_polls_on_shutdown(b"\xff garbage"));
    }
}
