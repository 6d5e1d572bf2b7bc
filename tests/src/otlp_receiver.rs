//! An OTLP/gRPC receiver on loopback, built on the official `opentelemetry-proto` service
//! definitions (the OpenTelemetry Collector is not installable from the registries this project
//! may use). It accepts what a collector accepts and keeps what it received for assertions.

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    metrics::v1::metric::Data,
    resource::v1::Resource,
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};
use tonic::{Request, Response, Status};

/// Attributes as text, by key.
pub type Attributes = BTreeMap<String, String>;

/// One span as received.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// Span name.
    pub name: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits, empty for a root span.
    pub parent_span_id: String,
    /// The span's attributes.
    pub attributes: Attributes,
    /// The spans it links to: (trace id, span id).
    pub links: Vec<(String, String)>,
    /// The resource it was reported under.
    pub resource: Attributes,
}

/// One metric as received, with the attributes of each of its data points.
#[derive(Clone, Debug)]
pub struct ReceivedMetric {
    /// Metric name.
    pub name: String,
    /// The attributes of each data point.
    pub points: Vec<Attributes>,
    /// The resource it was reported under.
    pub resource: Attributes,
}

#[derive(Default)]
struct Received {
    spans: Mutex<Vec<ReceivedSpan>>,
    metrics: Mutex<Vec<ReceivedMetric>>,
    requests: Mutex<usize>,
}

/// A running receiver; stopped when dropped.
pub struct OtlpReceiver {
    endpoint: String,
    received: Arc<Received>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl OtlpReceiver {
    /// Listens on `127.0.0.1` at a free port.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime for the OTLP receiver");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the OTLP receiver");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Received::default());
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(received.clone())))
            .add_service(MetricsServiceServer::new(Receiver(received.clone())))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        runtime.spawn(server);
        Self {
            endpoint,
            received,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.spans.lock().unwrap().clone()
    }

    /// Every metric received so far (one entry per metric per export).
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.received.metrics.lock().unwrap().clone()
    }

    /// How many export requests arrived.
    pub fn requests(&self) -> usize {
        *self.received.requests.lock().unwrap()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Receiver(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        *self.0.requests.lock().unwrap() += 1;
        let mut spans = self.0.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_attributes(resource_spans.resource);
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push(ReceivedSpan {
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: attributes(span.attributes),
                        links: span
                            .links
                            .iter()
                            .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
                            .collect(),
                        resource: resource.clone(),
                    });
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        *self.0.requests.lock().unwrap() += 1;
        let mut metrics = self.0.metrics.lock().unwrap();
        for resource_metrics in request.into_inner().resource_metrics {
            let resource = resource_attributes(resource_metrics.resource);
            for scope_metrics in resource_metrics.scope_metrics {
                for metric in scope_metrics.metrics {
                    metrics.push(ReceivedMetric {
                        name: metric.name,
                        points: point_attributes(metric.data),
                        resource: resource.clone(),
                    });
                }
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// The attributes of each data point of a metric.
fn point_attributes(data: Option<Data>) -> Vec<Attributes> {
    // Each kind of metric has a data point type of its own, all with `attributes`.
    macro_rules! attributes_of_each {
        ($points:expr) => {
            $points
                .into_iter()
                .map(|point| attributes(point.attributes))
                .collect()
        };
    }
    match data {
        Some(Data::Sum(sum)) => attributes_of_each!(sum.data_points),
        Some(Data::Gauge(gauge)) => attributes_of_each!(gauge.data_points),
        Some(Data::Histogram(histogram)) => attributes_of_each!(histogram.data_points),
        Some(Data::ExponentialHistogram(histogram)) => attributes_of_each!(histogram.data_points),
        Some(Data::Summary(summary)) => attributes_of_each!(summary.data_points),
        None => Vec::new(),
    }
}

fn resource_attributes(resource: Option<Resource>) -> Attributes {
    attributes(
        resource
            .map(|resource| resource.attributes)
            .unwrap_or_default(),
    )
}

fn attributes(pairs: Vec<KeyValue>) -> Attributes {
    pairs
        .into_iter()
        .map(|pair| (pair.key, pair.value.map(text).unwrap_or_default()))
        .collect()
}

fn text(value: AnyValue) -> String {
    match value.value {
        Some(Value::StringValue(text)) => text,
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
