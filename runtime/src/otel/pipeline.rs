//! The exporters and providers, built once per process at cold start (inside the tokio runtime:
//! the OTLP/gRPC exporter's channel needs it), and the bounded flush that ends every invocation.

use super::{
    OtelSetup,
    core_meter::LambdaCoreMeter,
    invocation_span::{InvocationFacts, InvocationSpan},
    task_links::{SDK_SCOPE, TaskSpanLinks},
};
use crate::{error::ServerlessError, manifest::Manifest, redact};
use opentelemetry::{KeyValue, metrics::MeterProvider as _, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::{PeriodicReader, SdkMeterProvider},
    trace::{BatchSpanProcessor, Sampler, SdkTracerProvider, Tracer},
};
use std::{sync::Arc, time::Duration};
use temporalio_client::ClientOptions;
use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_sdk::opentelemetry::{OpenTelemetryPlugin, WorkflowIdGenerator};

/// The instrumentation scope of our own spans and of the SDK's worker metrics.
const SCOPE: &str = "temporal-serverless";

/// A process's telemetry: what exports, where to, and how long a flush may take.
pub(crate) struct Telemetry {
    endpoint: String,
    flush_timeout: Duration,
    metrics: Option<(SdkMeterProvider, Arc<dyn CoreMeter>)>,
    traces: Option<(SdkTracerProvider, Tracer)>,
    task_spans: TaskSpanLinks,
}

impl Telemetry {
    /// Builds the exporters for `setup`. Nothing is sent yet: the gRPC channel connects on the
    /// first export, so a missing collector does not slow the cold start.
    pub(crate) fn start(
        setup: &OtelSetup,
        manifest: &Manifest<'_>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ServerlessError> {
        let endpoint = setup.options.resolved_endpoint(&var);
        let resource = resource(&setup.options.resolved_service_name(&var), manifest, &var);
        let metrics = setup
            .metrics
            .then(|| meter_provider(setup, manifest, &endpoint, resource.clone()))
            .transpose()?;
        let task_spans = TaskSpanLinks::default();
        let traces = setup
            .traces
            .then(|| tracer_provider(setup, &endpoint, &task_spans, resource))
            .transpose()?;
        Ok(Self {
            endpoint,
            flush_timeout: setup.options.flush_timeout,
            metrics,
            traces,
            task_spans,
        })
    }

    /// The meter the SDK's runtime records its worker metrics into, if metrics are on.
    pub(crate) fn core_meter(&self) -> Option<Arc<dyn CoreMeter>> {
        self.metrics.as_ref().map(|(_, meter)| meter.clone())
    }

    /// `options` with the SDK's OpenTelemetry plugin, if traces are on: workflow and activity
    /// spans for every worker made from the client.
    pub(crate) fn instrument_client(&self, options: ClientOptions) -> ClientOptions {
        let Some((provider, _)) = &self.traces else {
            return options;
        };
        let plugin = OpenTelemetryPlugin::builder()
            .tracer(provider.tracer(SDK_SCOPE))
            .build();
        ClientOptions::new(options.namespace)
            .data_converter(options.data_converter)
            .client_interceptors(options.client_interceptors)
            .plugin(plugin)
            .build()
    }

    /// Starts the invocation's span, if traces are on.
    pub(crate) fn start_invocation(&self, facts: InvocationFacts<'_>) -> Option<InvocationSpan> {
        let (_, tracer) = self.traces.as_ref()?;
        // Task spans of an earlier invocation that ended after its span did are not this one's.
        self.task_spans.drain();
        Some(InvocationSpan::start(tracer, facts))
    }

    /// Ends the invocation's span, linked to the task spans that ended during it. Called once
    /// the invocation's worker has shut down: the task spans still open then (a workflow evicted
    /// while it waits) are closed too, see `task_links`.
    pub(crate) fn end_invocation(
        &self,
        span: InvocationSpan,
        counts: crate::telemetry::InvocationCounts,
        error: Option<&str>,
    ) {
        self.task_spans.close_unfinished();
        span.end(counts, error, self.task_spans.drain());
    }

    /// The most [`Self::flush`] may take.
    pub(crate) fn flush_timeout(&self) -> Duration {
        self.flush_timeout
    }

    /// Sends what is buffered (spans and metrics, at once) and waits for the collector, at most
    /// `bound`. On error or timeout the telemetry of this invocation is lost, never the answer.
    pub(crate) async fn flush(&self, bound: Duration) -> Result<(), String> {
        // Each provider's flush blocks its thread until the exporter answers; both run at once,
        // so that a slow span export does not use up the metrics' time too.
        let traces = self.traces.as_ref().map(|(provider, _)| {
            let provider = provider.clone();
            flush_on_own_thread("spans", move || provider.force_flush())
        });
        let metrics = self.metrics.as_ref().map(|(provider, _)| {
            let provider = provider.clone();
            flush_on_own_thread("metrics", move || provider.force_flush())
        });
        let flushes = futures::future::join_all(traces.into_iter().chain(metrics));
        let problems: Vec<String> = match tokio::time::timeout(bound, flushes).await {
            Ok(results) => results
                .into_iter()
                .filter_map(|result| match result {
                    Ok(Ok(())) => None,
                    Ok(Err(problem)) => Some(problem),
                    Err(panicked) => Some(panicked.to_string()),
                })
                .collect(),
            Err(_) => vec![format!("no answer within {} ms", bound.as_millis())],
        };
        if problems.is_empty() {
            Ok(())
        } else {
            Err(undelivered(&self.endpoint, &problems))
        }
    }
}

/// The warning for telemetry the collector did not take. The endpoint may carry a credential in
/// its userinfo or query (a hosted collector's), and the exporters' errors may quote it: both go
/// through the redaction rule, the endpoint as an address (every query value masked).
fn undelivered(endpoint: &str, problems: &[String]) -> String {
    let shown = redact::url(endpoint);
    format!(
        "telemetry not delivered to {shown} ({}); is the collector running (the ADOT layer \
         attached to the function, or OTEL_EXPORTER_OTLP_ENDPOINT right)?",
        redact::text(&problems.join("; ").replace(endpoint, &shown))
    )
}

/// Runs a provider's blocking `force_flush` on a thread of its own; its error names `what`.
fn flush_on_own_thread(
    what: &'static str,
    force_flush: impl FnOnce() -> OTelSdkResult + Send + 'static,
) -> tokio::task::JoinHandle<Result<(), String>> {
    tokio::task::spawn_blocking(move || force_flush().map_err(|error| format!("{what}: {error}")))
}

/// The error for an exporter that cannot be built for `endpoint`, the endpoint masked as in
/// [`undelivered`].
fn cannot_export(endpoint: &str, error: &dyn std::fmt::Display) -> ServerlessError {
    let shown = redact::url(endpoint);
    let error = error.to_string().replace(endpoint, &shown);
    ServerlessError::Configure(format!(
        "OpenTelemetry cannot export to {shown} ({error}); set OtelOptions::endpoint or \
         OTEL_EXPORTER_OTLP_ENDPOINT to the collector's OTLP/gRPC address, e.g. {}",
        super::DEFAULT_ENDPOINT
    ))
}

/// The metrics pipeline: an OTLP exporter read every metric period, and the meter the SDK
/// records its worker metrics into, tagged with the version.
fn meter_provider(
    setup: &OtelSetup,
    manifest: &Manifest<'_>,
    endpoint: &str,
    resource: Resource,
) -> Result<(SdkMeterProvider, Arc<dyn CoreMeter>), ServerlessError> {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(setup.options.flush_timeout)
        .build()
        .map_err(|error| cannot_export(endpoint, &error))?;
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(setup.options.metric_period)
                .build(),
        )
        .with_resource(resource)
        .build();
    let tags = vec![
        KeyValue::new("deployment_name", manifest.deployment_name.to_owned()),
        KeyValue::new("build_id", manifest.build_id.to_owned()),
    ];
    let meter = LambdaCoreMeter::new(provider.meter(SCOPE), tags);
    Ok((provider, Arc::new(meter) as Arc<dyn CoreMeter>))
}

/// The traces pipeline: an OTLP exporter behind a batch processor that `task_spans` watches, and
/// our tracer.
fn tracer_provider(
    setup: &OtelSetup,
    endpoint: &str,
    task_spans: &TaskSpanLinks,
    resource: Resource,
) -> Result<(SdkTracerProvider, Tracer), ServerlessError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(setup.options.flush_timeout)
        .build()
        .map_err(|error| cannot_export(endpoint, &error))?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(task_spans.around(BatchSpanProcessor::builder(exporter).build()))
        // The SDK's plugin needs it: workflow spans get the same IDs on replay.
        .with_id_generator(WorkflowIdGenerator::default())
        // Not parent-based: Lambda's `Sampled=0` (active tracing off) would drop it all.
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer(SCOPE);
    Ok((provider, tracer))
}

/// Who is reporting: the service, the Worker Deployment Version, and the Lambda function.
fn resource(
    service_name: &str,
    manifest: &Manifest<'_>,
    var: impl Fn(&str) -> Option<String>,
) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.version", manifest.build_id.to_owned()),
        KeyValue::new(
            "temporal.worker_deployment_name",
            manifest.deployment_name.to_owned(),
        ),
        KeyValue::new("temporal.worker_build_id", manifest.build_id.to_owned()),
        KeyValue::new("cloud.provider", "aws"),
        KeyValue::new("cloud.platform", "aws_lambda"),
    ];
    for (key, variable) in [
        ("cloud.region", "AWS_REGION"),
        ("faas.name", "AWS_LAMBDA_FUNCTION_NAME"),
        ("faas.version", "AWS_LAMBDA_FUNCTION_VERSION"),
    ] {
        if let Some(value) = var(variable).filter(|value| !value.is_empty()) {
            attributes.push(KeyValue::new(key, value));
        }
    }
    Resource::builder_empty()
        .with_service_name(service_name.to_owned())
        .with_attributes(attributes)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{otel::OtelOptions, redact::SENTINEL};

    const MANIFEST: Manifest<'static> = Manifest {
        deployment_name: "shop",
        build_id: "v7",
    };

    fn setup(options: OtelOptions) -> OtelSetup {
        OtelSetup {
            options,
            metrics: true,
            traces: true,
        }
    }

    #[tokio::test]
    async fn an_endpoint_that_is_no_uri_fails_the_cold_start_with_the_fix() {
        let options = OtelOptions::default().endpoint("http://[not a host]:4317");
        let Err(error) = Telemetry::start(&setup(options), &MANIFEST, |_| None) else {
            panic!("an invalid endpoint was accepted");
        };
        let message = error.to_string();
        assert!(message.contains("http://[not a host]:4317"), "{message}");
        assert!(message.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{message}");
    }

    #[tokio::test]
    async fn a_missing_collector_costs_the_cold_start_nothing_and_the_flush_its_bound() {
        // Port 9 (discard) is closed on loopback: nothing answers there.
        let options = OtelOptions::default().endpoint("http://127.0.0.1:9");
        let telemetry = Telemetry::start(&setup(options), &MANIFEST, |_| None).unwrap();
        assert!(telemetry.core_meter().is_some());
        // Something to send: an invocation's span.
        let span = telemetry
            .start_invocation(InvocationFacts {
                request_id: "r-1",
                invoked_function_arn: "arn:aws:lambda:us-east-1:1:function:shop:live",
                xray_trace_header: None,
                cold: true,
            })
            .unwrap();
        telemetry.end_invocation(span, Default::default(), None);
        let bound = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let error = telemetry.flush(bound).await.unwrap_err();
        assert!(
            started.elapsed() < bound + Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        assert!(error.contains("http://127.0.0.1:9"), "{error}");
    }

    #[test]
    fn the_undelivered_warning_masks_the_endpoints_credentials() {
        let endpoint = format!(
            "https://collector:{SENTINEL}@otel.example.com:4317/?api-key={SENTINEL}&tenant=t1"
        );
        let problems = [format!("spans: transport error connecting to {endpoint}")];
        let warning = undelivered(&endpoint, &problems);
        assert!(!warning.contains("SENTINEL"), "{warning}");
        let shown = "https://collector:***@otel.example.com:4317/?api-key=***&tenant=***";
        assert!(
            warning.starts_with(&format!("telemetry not delivered to {shown} (spans: "))
                && warning.contains(&format!("connecting to {shown})")),
            "{warning}"
        );
    }

    #[test]
    fn the_resource_names_the_version_and_the_function() {
        let env = |name: &str| {
            [
                ("AWS_REGION", "eu-west-1"),
                ("AWS_LAMBDA_FUNCTION_NAME", "shop-fn"),
            ]
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
        };
        let resource = resource("shop-service", &MANIFEST, env);
        let get = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(key))
                .map(|value| value.to_string())
        };
        assert_eq!(get("service.name").as_deref(), Some("shop-service"));
        assert_eq!(get("service.version").as_deref(), Some("v7"));
        assert_eq!(
            get("temporal.worker_deployment_name").as_deref(),
            Some("shop")
        );
        assert_eq!(get("cloud.region").as_deref(), Some("eu-west-1"));
        assert_eq!(get("faas.name").as_deref(), Some("shop-fn"));
        assert_eq!(get("faas.version"), None);
    }
}
