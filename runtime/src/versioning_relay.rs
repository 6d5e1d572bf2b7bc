//! Delivers each workflow type's declared versioning behavior to the server.
//!
//! `temporalio-sdk` 1.1 reports `Unspecified` for every workflow task and Core substitutes one
//! worker-wide default, so a worker that registers a PINNED and an AUTO_UPGRADE workflow cannot
//! express both; worse, with no default the server sees versioned tasks without a behavior and
//! keeps rescheduling them. The relay sits where the SDK lets us (`ConnectionOptions::
//! service_override`): every gRPC call of the connection passes through it to the real server
//! unchanged, except that it remembers which workflow type each polled workflow task belongs to
//! and stamps that type's behavior on the task's `RespondWorkflowTaskCompleted`.
//!
//! Being on the path of every call, it also tells the [`TaskObserver`] when polls leave and
//! tasks arrive and are answered, and lets polls through only as the [`PollGate`] allows, with
//! its short deadline, so that an invocation can end without cancelling a poll.

use crate::{
    poll_gate::{Admission, POLL_DEADLINE, PollGate},
    task_observer::TaskObserver,
    versioning::VersioningBehavior,
};
use bytes::{Buf, BufMut, Bytes};
use futures::future::BoxFuture;
use prost::Message;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};
use temporalio_client::{
    ConnectionOptions,
    callback_based::{CallbackBasedGrpcService, GrpcRequest, GrpcSuccessResponse},
};
use temporalio_common::protos::temporal::api::{
    enums::v1::VersioningBehavior as ProtoBehavior,
    workflowservice::v1::{
        PollActivityTaskQueueResponse, PollNexusTaskQueueResponse, PollWorkflowTaskQueueResponse,
        RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskCompletedResponse,
        RespondWorkflowTaskFailedRequest,
    },
};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataMap,
    transport::{Channel, ClientTlsConfig, Endpoint},
};

/// Workflow task tokens awaiting completion, mapped to their workflow type. Entries leave when the
/// task is completed or failed; the cap only guards against tasks abandoned by a crash.
const MAX_TRACKED_TASKS: usize = 10_000;

/// The calls that answer a task the worker received.
const ANSWERS: &[&str] = &[
    "RespondWorkflowTaskCompleted",
    "RespondWorkflowTaskFailed",
    "RespondQueryTaskCompleted",
    "RespondActivityTaskCompleted",
    "RespondActivityTaskFailed",
    "RespondActivityTaskCanceled",
    "RespondNexusTaskCompleted",
    "RespondNexusTaskFailed",
];

/// The relay: a channel to the real server plus what it must remember between calls.
#[derive(Clone)]
pub(crate) struct VersioningRelay {
    channel: Channel,
    behaviors: Arc<BTreeMap<String, VersioningBehavior>>,
    task_types: Arc<Mutex<HashMap<Vec<u8>, String>>>,
    observer: Arc<TaskObserver>,
    gate: Arc<PollGate>,
}

impl VersioningRelay {
    /// A relay to the server `options` point at (TLS as configured there); the channel connects
    /// lazily, on the first call.
    pub(crate) fn new(
        options: &ConnectionOptions,
        behaviors: &BTreeMap<&'static str, VersioningBehavior>,
        observer: Arc<TaskObserver>,
        gate: Arc<PollGate>,
    ) -> Result<Self, String> {
        let mut endpoint =
            Endpoint::from_shared(options.target.to_string()).map_err(|error| error.to_string())?;
        if let Some(timeout) = options.connect_timeout {
            endpoint = endpoint.connect_timeout(timeout);
        }
        if let Some(keep_alive) = &options.keep_alive {
            endpoint = endpoint
                .http2_keep_alive_interval(keep_alive.interval)
                .keep_alive_timeout(keep_alive.timeout);
        }
        if let Some(tls) = &options.tls_options {
            let mut config = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &tls.server_root_ca_cert {
                config = config.ca_certificate(tonic::transport::Certificate::from_pem(ca));
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
            endpoint = endpoint
                .tls_config(config)
                .map_err(|error| error.to_string())?;
        }
        Ok(Self {
            channel: endpoint.connect_lazy(),
            behaviors: Arc::new(
                behaviors
                    .iter()
                    .map(|(name, behavior)| (name.to_string(), *behavior))
                    .collect(),
            ),
            task_types: Default::default(),
            observer,
            gate,
        })
    }

    /// The `service_override` that routes a connection through this relay.
    pub(crate) fn into_service(self) -> CallbackBasedGrpcService {
        CallbackBasedGrpcService {
            callback: Arc::new(move |request| {
                let relay = self.clone();
                Box::pin(async move { relay.call(request).await }) as BoxFuture<'static, _>
            }),
        }
    }

    async fn call(&self, mut request: GrpcRequest) -> Result<GrpcSuccessResponse, Status> {
        let rpc = request.rpc.clone();
        let is_poll = rpc.starts_with("Poll");
        if is_poll && self.gate.admit().await == Admission::AnswerEmpty {
            // An empty message is a poll that found nothing, in every Poll*Response.
            return Ok(GrpcSuccessResponse {
                headers: Default::default(),
                proto: Vec::new(),
            });
        }
        // Outstanding until its answer has been looked at, so that a task it brings counts as
        // received before the poll counts as back.
        let _outstanding = is_poll.then(|| self.gate.outstanding_poll());
        match rpc.as_str() {
            "RespondWorkflowTaskCompleted" => {
                request.proto = self.stamp_behavior(&request.proto)?
            }
            "RespondWorkflowTaskFailed" => {
                if let Ok(failed) = RespondWorkflowTaskFailedRequest::decode(request.proto.clone())
                {
                    self.task_types.lock().unwrap().remove(&failed.task_token);
                }
            }
            // Core waits for its polls after this call when the namespace completes polls on
            // shutdown; held polls must then come back.
            "ShutdownWorker" => self.gate.release(),
            rpc if rpc.starts_with("Poll") => self.observer.poll_sent(rpc),
            _ => {}
        }
        if ANSWERS.contains(&rpc.as_str()) {
            self.observer.task_answered();
        }
        let response = self.forward(request, is_poll).await?;
        let proto = response.proto.as_slice();
        let received = match rpc.as_str() {
            "PollWorkflowTaskQueue" => {
                PollWorkflowTaskQueueResponse::decode(proto)
                    .ok()
                    .map(|task| {
                        self.remember(&task);
                        !task.task_token.is_empty() || task.query.is_some()
                    })
            }
            // The server may hand the next task straight back instead of through a poll.
            "RespondWorkflowTaskCompleted" => RespondWorkflowTaskCompletedResponse::decode(proto)
                .ok()
                .and_then(|completed| completed.workflow_task)
                .map(|task| {
                    self.remember(&task);
                    !task.task_token.is_empty()
                }),
            "PollActivityTaskQueue" => PollActivityTaskQueueResponse::decode(proto)
                .ok()
                .map(|task| !task.task_token.is_empty()),
            "PollNexusTaskQueue" => PollNexusTaskQueueResponse::decode(proto)
                .ok()
                .map(|task| !task.task_token.is_empty()),
            _ => None,
        };
        if received == Some(true) {
            self.observer.task_received();
        }
        Ok(response)
    }

    fn remember(&self, task: &PollWorkflowTaskQueueResponse) {
        let Some(workflow_type) = &task.workflow_type else {
            return;
        };
        if task.task_token.is_empty() {
            return;
        }
        let mut task_types = self.task_types.lock().unwrap();
        if task_types.len() >= MAX_TRACKED_TASKS {
            task_types.clear();
        }
        task_types.insert(task.task_token.clone(), workflow_type.name.clone());
    }

    /// Sets the declared behavior on a completion the SDK left `Unspecified`.
    fn stamp_behavior(&self, proto: &Bytes) -> Result<Bytes, Status> {
        let mut completion =
            RespondWorkflowTaskCompletedRequest::decode(proto.clone()).map_err(|error| {
                Status::internal(format!("versioning relay: undecodable completion: {error}"))
            })?;
        let workflow_type = self
            .task_types
            .lock()
            .unwrap()
            .remove(&completion.task_token);
        let behavior = workflow_type
            .as_deref()
            .and_then(|name| self.behaviors.get(name));
        match behavior {
            Some(behavior) if completion.versioning_behavior() == ProtoBehavior::Unspecified => {
                completion.set_versioning_behavior(match behavior {
                    VersioningBehavior::Pinned => ProtoBehavior::Pinned,
                    VersioningBehavior::AutoUpgrade => ProtoBehavior::AutoUpgrade,
                });
                Ok(completion.encode_to_vec().into())
            }
            _ => Ok(proto.clone()),
        }
    }

    async fn forward(
        &self,
        request: GrpcRequest,
        is_poll: bool,
    ) -> Result<GrpcSuccessResponse, Status> {
        let path = format!("/{}/{}", request.service, request.rpc)
            .parse()
            .map_err(|error| Status::internal(format!("versioning relay: bad path: {error}")))?;
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|error| Status::unavailable(format!("versioning relay: {error}")))?;
        let mut call = tonic::Request::new(request.proto);
        *call.metadata_mut() = MetadataMap::from_headers(request.headers);
        if is_poll {
            // The server answers it empty before this deadline; see `poll_gate`.
            call.set_timeout(POLL_DEADLINE);
        }
        let response = grpc.unary(call, path, RawCodec).await?;
        let (metadata, proto, _) = response.into_parts();
        Ok(GrpcSuccessResponse {
            headers: metadata.into_headers(),
            proto: proto.to_vec(),
        })
    }
}

/// Passes protobuf bytes through untouched.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
