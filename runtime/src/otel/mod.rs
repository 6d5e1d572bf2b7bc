//! OpenTelemetry for Lambda workers (cargo feature `otel`): the SDK's worker metrics and its
//! workflow and activity spans, plus a span per invocation, exported over OTLP/gRPC to the AWS
//! Distro for OpenTelemetry collector layer (`localhost:4317`) and flushed before every
//! invocation answers, because Lambda freezes the process after the answer and whatever is still
//! buffered then is lost (or sent minutes late, if the instance is ever thawed).
//!
//! ```no_run
//! use std::time::Duration;
//! use temporal_serverless::{otel::OtelOptions, prelude::*};
//!
//! #[serverless_worker(deployment = "shop", build_id = "2024-06-01.1", task_queue = "orders")]
//! fn main(worker: &mut LambdaWorker) {
//!     // Metrics and traces; `opentelemetry_metrics` / `opentelemetry_tracing` for one of them.
//!     worker.opentelemetry(OtelOptions::default().metric_period(Duration::from_secs(30)));
//! }
//! ```
//!
//! The flow per process and per invocation: [`OtelOptions`] (what the user asked for) →
//! `pipeline` (exporters and providers, built once at cold start) → `core_meter` (the SDK's
//! metrics into our meter), `invocation_span` (one span per invocation, in the X-Ray trace
//! Lambda hands over) and `task_links` (its links to the workflow and activity spans it ran) →
//! `pipeline::Telemetry::flush` after the shutdown hooks.

mod core_meter;
mod invocation_span;
mod pipeline;
mod task_links;

pub(crate) use invocation_span::{InvocationFacts, InvocationSpan};
pub(crate) use pipeline::Telemetry;

use crate::LambdaWorker;
use std::time::Duration;

/// The collector endpoint when neither [`OtelOptions::endpoint`] nor
/// `OTEL_EXPORTER_OTLP_ENDPOINT` names one: the ADOT Lambda layer's OTLP/gRPC receiver.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4317";
/// The `service.name` when neither [`OtelOptions::service_name`], `OTEL_SERVICE_NAME` nor
/// `AWS_LAMBDA_FUNCTION_NAME` gives one (the same default as Temporal's Python package).
pub const DEFAULT_SERVICE_NAME: &str = "temporal-lambda-worker";
/// How often metrics are exported during an invocation (Temporal's Python package uses the
/// same). Metrics are also flushed when every invocation ends, so this matters only for
/// invocations longer than it: keep it below the function's timeout to see figures from inside
/// long invocations, and not much lower, since every export is a request to the collector.
pub const DEFAULT_METRIC_PERIOD: Duration = Duration::from_secs(10);
/// The longest an invocation waits for its telemetry to reach the collector before answering.
/// It comes out of the 2 s the shutdown buffer keeps for hooks; a dead or missing collector
/// costs at most this, once per invocation.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Where and how telemetry is exported. Every field has a Lambda default; see the constants.
#[derive(Clone, Debug)]
pub struct OtelOptions {
    endpoint: Option<String>,
    service_name: Option<String>,
    metric_period: Duration,
    flush_timeout: Duration,
}

impl Default for OtelOptions {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: None,
            metric_period: DEFAULT_METRIC_PERIOD,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
        }
    }
}

impl OtelOptions {
    /// The OTLP/gRPC endpoint, e.g. `http://localhost:4317`. Default: `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// else [`DEFAULT_ENDPOINT`].
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The `service.name` resource attribute. Default: `OTEL_SERVICE_NAME`, else
    /// `AWS_LAMBDA_FUNCTION_NAME`, else [`DEFAULT_SERVICE_NAME`].
    pub fn service_name(mut self, service_name: impl Into<String>) -> Self {
        self.service_name = Some(service_name.into());
        self
    }

    /// How often metrics are exported while an invocation runs (default
    /// [`DEFAULT_METRIC_PERIOD`]); they are flushed at its end regardless.
    pub fn metric_period(mut self, period: Duration) -> Self {
        self.metric_period = period;
        self
    }

    /// The most an invocation waits for the flush before answering (default
    /// [`DEFAULT_FLUSH_TIMEOUT`]); also each export's own timeout.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// The endpoint to export to, after the environment fallbacks (`var` reads a variable).
    pub fn resolved_endpoint(&self, var: impl Fn(&str) -> Option<String>) -> String {
        self.endpoint
            .clone()
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .filter(|endpoint| !endpoint.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
    }

    /// The `service.name` to report, after the environment fallbacks (`var` reads a variable).
    pub fn resolved_service_name(&self, var: impl Fn(&str) -> Option<String>) -> String {
        self.service_name
            .clone()
            .filter(|name| !name.is_empty())
            .or_else(|| var("OTEL_SERVICE_NAME").filter(|name| !name.is_empty()))
            .or_else(|| var("AWS_LAMBDA_FUNCTION_NAME").filter(|name| !name.is_empty()))
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned())
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.metric_period.is_zero() {
            problems.push(
                "OtelOptions::metric_period must be longer than zero (default 10 s)".to_owned(),
            );
        }
        if self.flush_timeout.is_zero() {
            problems.push(
                "OtelOptions::flush_timeout must be longer than zero, or nothing is ever flushed (default 1 s)"
                    .to_owned(),
            );
        }
        problems
    }
}

/// What [`LambdaWorker`] was asked to export, and how.
#[derive(Clone, Debug)]
pub(crate) struct OtelSetup {
    pub(crate) options: OtelOptions,
    pub(crate) metrics: bool,
    pub(crate) traces: bool,
}

impl LambdaWorker {
    /// Exports the SDK's worker metrics and traces (workflow and activity spans, one span per
    /// invocation) over OTLP/gRPC, for the ADOT collector layer: [`Self::opentelemetry_metrics`]
    /// and [`Self::opentelemetry_tracing`] in one call. Both are flushed before every invocation
    /// answers, within [`OtelOptions::flush_timeout`]. Calling more than one of the three adds
    /// their signals up; the options of the last call apply to all.
    pub fn opentelemetry(&mut self, options: OtelOptions) -> &mut Self {
        self.enable_otel(options, true, true)
    }

    /// Exports the SDK's worker metrics (`temporal_*`, each tagged with `deployment_name` and
    /// `build_id`) every [`OtelOptions::metric_period`] and at the end of every invocation.
    pub fn opentelemetry_metrics(&mut self, options: OtelOptions) -> &mut Self {
        self.enable_otel(options, true, false)
    }

    /// Exports a span per invocation (in the invocation's X-Ray trace) and the SDK's workflow
    /// and activity spans (in the trace of whoever started the workflow, through the `_tracer-data`
    /// header every Temporal SDK uses), flushed at the end of every invocation.
    pub fn opentelemetry_tracing(&mut self, options: OtelOptions) -> &mut Self {
        self.enable_otel(options, false, true)
    }

    fn enable_otel(&mut self, options: OtelOptions, metrics: bool, traces: bool) -> &mut Self {
        self.configuration_errors.extend(options.problems());
        let (metrics, traces) = match &self.otel {
            Some(earlier) => (earlier.metrics || metrics, earlier.traces || traces),
            None => (metrics, traces),
        };
        self.otel = Some(OtelSetup {
            options,
            metrics,
            traces,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn endpoint_option_then_environment_then_the_adot_layer() {
        let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")];
        let options = OtelOptions::default();
        assert_eq!(options.resolved_endpoint(env(&[])), DEFAULT_ENDPOINT);
        assert_eq!(
            options.resolved_endpoint(env(&vars)),
            "http://collector:4317"
        );
        let explicit = options.endpoint("http://127.0.0.1:9");
        assert_eq!(explicit.resolved_endpoint(env(&vars)), "http://127.0.0.1:9");
        let empty = [("OTEL_EXPORTER_OTLP_ENDPOINT", "")];
        assert_eq!(
            OtelOptions::default().resolved_endpoint(env(&empty)),
            DEFAULT_ENDPOINT
        );
    }

    #[test]
    fn service_name_option_then_otel_then_function_name_then_default() {
        let both = [
            ("OTEL_SERVICE_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-fn"),
        ];
        let function_only = [("AWS_LAMBDA_FUNCTION_NAME", "orders-fn")];
        let options = OtelOptions::default();
        assert_eq!(
            options.resolved_service_name(env(&[])),
            DEFAULT_SERVICE_NAME
        );
        assert_eq!(
            options.resolved_service_name(env(&function_only)),
            "orders-fn"
        );
        assert_eq!(options.resolved_service_name(env(&both)), "orders");
        let explicit = options.service_name("checkout");
        assert_eq!(explicit.resolved_service_name(env(&both)), "checkout");
    }

    #[test]
    fn helpers_add_up_and_reject_zero_periods() {
        let mut worker = LambdaWorker::default();
        worker.opentelemetry_metrics(OtelOptions::default());
        worker.opentelemetry_tracing(OtelOptions::default().service_name("later"));
        let setup = worker.otel.as_ref().unwrap();
        assert!(setup.metrics && setup.traces);
        assert_eq!(setup.options.service_name.as_deref(), Some("later"));
        assert!(worker.configuration_errors.is_empty());
        worker.opentelemetry(OtelOptions::default().metric_period(Duration::ZERO));
        assert!(
            worker.configuration_errors[0].contains("metric_period"),
            "{:?}",
            worker.configuration_errors
        );
    }
}
