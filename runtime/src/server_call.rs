//! One call of the worker's, sent to the server as the SDK's own client would send it, and its
//! answer handed back in the shape the SDK's client reads.
//!
//! The relay replaces only the SDK's channel (`ConnectionOptions::service_override`): the SDK's
//! client still adds its headers, per-call timeouts and retries above it, and decodes what the
//! relay returns with its own tonic client. What that channel would have done on the wire is
//! this module's to do the same way:
//!
//! - **answer size**: the SDK accepts answers up to 128 MiB (`TEMPORAL_MAX_INCOMING_GRPC_BYTES`
//!   overrides it); tonic's default is 4 MiB, and a workflow task whose history is larger (a few
//!   activities with megabyte results) would fail its poll on every attempt until it times out
//!   (a task poll's answer over a lowered limit is read, to fail its task: `oversized_task`);
//! - **compression**: gzip both ways, as the SDK's default, turned off for good when the server
//!   refuses it (as the SDK falls back at connect);
//! - **the answer's shape**: tonic's `unary` merges the trailers into the answer's metadata; a
//!   `grpc-status` among the headers makes the SDK's client take the answer for trailers-only and
//!   apply tonic's 4 MiB default again, and a `grpc-encoding` makes it refuse an answer that is
//!   no longer compressed. Those are the transport's, not the call's: they stay here;
//! - **a call cut by the connection** (GOAWAY, reset) is `Cancelled` with a transport error as
//!   its source, which the SDK's retry recognises; the source does not survive the hand-back, so
//!   it is returned as `Unavailable`, which the SDK retries the same way.

use bytes::{Buf, BufMut, Bytes};
use std::{
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use temporalio_client::callback_based::{GrpcRequest, GrpcSuccessResponse};
use tonic::{
    Code, Status,
    codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataMap,
    transport::Channel,
};

/// The variable the SDK's client reads for the largest answer it accepts, in bytes.
pub(crate) const MAX_INCOMING_VARIABLE: &str = "TEMPORAL_MAX_INCOMING_GRPC_BYTES";
/// The SDK's default for [`MAX_INCOMING_VARIABLE`].
const DEFAULT_MAX_INCOMING: usize = 128 * 1024 * 1024;

/// Headers of an answer that describe its transport, not its content (see the module docs).
const TRANSPORT_HEADERS: [&str; 5] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
    "content-type",
];

/// The largest answer accepted, as the SDK's client reads it (once per process).
pub(crate) fn max_incoming() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| parse_max_incoming(std::env::var(MAX_INCOMING_VARIABLE).ok().as_deref()))
}

fn parse_max_incoming(value: Option<&str>) -> usize {
    value
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_MAX_INCOMING)
}

/// The server, as the relay reaches it: its channel, and whether it takes gzip.
#[derive(Clone)]
pub(crate) struct Server {
    channel: Channel,
    gzip: std::sync::Arc<AtomicBool>,
}

impl Server {
    /// Calls over `channel`, compressed with gzip unless `gzip` is false (the connection opted
    /// out, as the SDK's `grpc_compression` allows).
    pub(crate) fn new(channel: Channel, gzip: bool) -> Self {
        Self {
            channel,
            gzip: std::sync::Arc::new(AtomicBool::new(gzip)),
        }
    }

    /// Sends one call and returns the server's answer, its content untouched; `deadline`
    /// replaces the call's own timeout.
    pub(crate) async fn call(
        &self,
        request: GrpcRequest,
        deadline: Option<Duration>,
    ) -> Result<GrpcSuccessResponse, Status> {
        let gzip = self.gzip.load(Ordering::Relaxed);
        let retry = gzip.then(|| copy(&request));
        match self.send(request, deadline, gzip).await {
            Err(status)
                if let Some(request) = retry
                    && refuses_compression(&status) =>
            {
                // As the SDK at connect: a server that cannot decompress is called plainly.
                self.gzip.store(false, Ordering::Relaxed);
                tracing::info!(
                    "the server does not take gzip-compressed calls; the worker's calls go uncompressed"
                );
                self.send(request, deadline, false).await
            }
            result => result,
        }
    }

    async fn send(
        &self,
        request: GrpcRequest,
        deadline: Option<Duration>,
        gzip: bool,
    ) -> Result<GrpcSuccessResponse, Status> {
        let path = format!("/{}/{}", request.service, request.rpc)
            .parse()
            .map_err(|error| Status::internal(format!("worker relay: bad path: {error}")))?;
        // At least the SDK's default, even when the user lowered the limit: the relay reads an
        // answer over the limit whole, so that a task in it can be failed with the cause
        // (`oversized_task`) instead of left to time out.
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(max_incoming().max(DEFAULT_MAX_INCOMING));
        if gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready()
            .await
            .map_err(|error| Status::unavailable(format!("worker relay: {error}")))?;
        let mut call = tonic::Request::new(request.proto);
        *call.metadata_mut() = MetadataMap::from_headers(request.headers);
        if let Some(deadline) = deadline {
            call.set_timeout(deadline);
        }
        let response = grpc
            .unary(call, path, RawCodec)
            .await
            .map_err(|mut status| {
                // A failure's metadata is the answer's headers too.
                for name in TRANSPORT_HEADERS {
                    status.metadata_mut().remove(name);
                }
                transport_cut_as_unavailable(status)
            })?;
        let (metadata, proto, _) = response.into_parts();
        let mut headers = metadata.into_headers();
        strip_transport_headers(&mut headers);
        Ok(GrpcSuccessResponse {
            headers,
            proto: proto.to_vec(),
        })
    }
}

fn strip_transport_headers(headers: &mut tonic::codegen::http::HeaderMap) {
    for name in TRANSPORT_HEADERS {
        headers.remove(name);
    }
}

/// A copy of a call (`GrpcRequest` is not `Clone`; its message is shared, not copied).
pub(crate) fn copy(request: &GrpcRequest) -> GrpcRequest {
    GrpcRequest {
        service: request.service.clone(),
        rpc: request.rpc.clone(),
        headers: request.headers.clone(),
        proto: request.proto.clone(),
    }
}

/// Whether a failed call says the server cannot take compressed calls (the SDK's test).
fn refuses_compression(status: &Status) -> bool {
    let message = status.message().to_lowercase();
    status.code() == Code::Unimplemented
        && ["decompress", "grpc-encoding", "compressor"]
            .iter()
            .any(|word| message.contains(word))
}

/// A call the connection cut (`Cancelled` with a transport error as its source) as
/// `Unavailable`: the SDK retries both, but tells the first by its source, which is lost when the
/// status is handed back through the service override.
fn transport_cut_as_unavailable(status: Status) -> Status {
    let cut = status.code() == Code::Cancelled && {
        let mut source = std::error::Error::source(&status);
        let mut transport = false;
        while let Some(error) = source {
            if error.is::<tonic::transport::Error>() || error.is::<std::io::Error>() {
                transport = true;
                break;
            }
            source = error.source();
        }
        transport
    };
    if cut {
        Status::unavailable(format!("connection cut: {}", status.message()))
    } else {
        status
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_answer_is_the_sdks() {
        assert_eq!(parse_max_incoming(None), 128 * 1024 * 1024);
        assert_eq!(parse_max_incoming(Some("1000")), 1000);
        assert_eq!(
            parse_max_incoming(Some("lots")),
            128 * 1024 * 1024,
            "as the SDK: an unreadable value is ignored"
        );
    }

    #[test]
    fn a_server_without_gzip_is_recognised_as_the_sdk_does() {
        assert!(refuses_compression(&Status::unimplemented(
            "grpc: Decompressor is not installed for grpc-encoding \"gzip\""
        )));
        assert!(!refuses_compression(&Status::unimplemented(
            "unknown method PollNexusTaskQueue"
        )));
        assert!(!refuses_compression(&Status::internal("grpc-encoding")));
    }

    #[test]
    fn only_a_call_the_transport_cut_becomes_unavailable() {
        // As tonic reports a stream the connection reset: `Cancelled`, the I/O error its source.
        let mut cut = Status::cancelled("h2 protocol error: stream reset");
        cut.set_source(std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        )));
        assert_eq!(transport_cut_as_unavailable(cut).code(), Code::Unavailable);
        let timeout = Status::cancelled("Timeout expired");
        assert_eq!(
            transport_cut_as_unavailable(timeout).code(),
            Code::Cancelled
        );
    }
}
