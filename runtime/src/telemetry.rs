//! The function's telemetry as the process and each invocation see it: one seam, whatever the
//! build. Without the `otel` feature these types hold nothing and every method does nothing;
//! with it they drive [`crate::otel`] (exporters started at cold start, the SDK's metrics and
//! spans, a span per invocation, a flush before each answer). The feature's `#[cfg]`s live in
//! this file, so the invocation's path reads the same in both builds.

#[cfg(feature = "otel")]
use crate::otel;
use crate::{error::ServerlessError, lambda_worker::LambdaWorker, manifest::Manifest};
use serde_json::Value;
use std::{marker::PhantomData, time::Duration};
use temporalio_client::ClientOptions;
use temporalio_common::telemetry::TelemetryOptions;

/// The process's exporters, if the configure body asked for any (never without `otel`).
pub(crate) struct ProcessTelemetry {
    #[cfg(feature = "otel")]
    exporters: Option<otel::Telemetry>,
}

impl ProcessTelemetry {
    /// Starts the exporters `worker` asked for. Call inside the tokio runtime: the OTLP/gRPC
    /// exporters' channels need it.
    pub(crate) fn start(
        worker: &LambdaWorker,
        manifest: &Manifest<'_>,
    ) -> Result<Self, ServerlessError> {
        #[cfg(feature = "otel")]
        let telemetry = Self {
            exporters: worker
                .otel
                .as_ref()
                .map(|setup| {
                    otel::Telemetry::start(setup, manifest, |name| std::env::var(name).ok())
                })
                .transpose()?,
        };
        #[cfg(not(feature = "otel"))]
        let telemetry = {
            let _ = (worker, manifest);
            Self {}
        };
        Ok(telemetry)
    }

    /// The SDK runtime's telemetry: its worker metrics into our meter, when metrics are on;
    /// `None` leaves the SDK's default.
    pub(crate) fn sdk_telemetry_options(&self) -> Option<TelemetryOptions> {
        #[cfg(feature = "otel")]
        if let Some(meter) = self
            .exporters
            .as_ref()
            .and_then(otel::Telemetry::core_meter)
        {
            return Some(TelemetryOptions::builder().metrics(meter).build());
        }
        None
    }

    /// The client options with the SDK's tracing plugin, when traces are on.
    pub(crate) fn instrument_client(&self, options: ClientOptions) -> ClientOptions {
        #[cfg(feature = "otel")]
        if let Some(exporters) = &self.exporters {
            return exporters.instrument_client(options);
        }
        options
    }

    /// Starts an invocation's telemetry: its span, when traces are on.
    pub(crate) fn start_invocation(
        &self,
        context: &lambda_runtime::Context,
        cold: bool,
    ) -> InvocationTelemetry<'_> {
        #[cfg(feature = "otel")]
        let span = self.exporters.as_ref().and_then(|exporters| {
            exporters.start_invocation(otel::InvocationFacts {
                request_id: &context.request_id,
                invoked_function_arn: &context.invoked_function_arn,
                xray_trace_header: context.xray_trace_id.as_deref(),
                cold,
            })
        });
        #[cfg(not(feature = "otel"))]
        let _ = (context, cold);
        InvocationTelemetry {
            process: PhantomData,
            #[cfg(feature = "otel")]
            exporters: self.exporters.as_ref(),
            #[cfg(feature = "otel")]
            span,
        }
    }
}

/// What a dry run prints about telemetry: the line describing the exporters `worker` asked for,
/// if any.
pub(crate) fn dry_run_line(worker: &LambdaWorker) -> Option<String> {
    #[cfg(feature = "otel")]
    if let Some(setup) = &worker.otel {
        let var = |name: &str| std::env::var(name).ok();
        return Some(format!(
            "opentelemetry metrics={} traces={} endpoint={} service_name={}",
            setup.metrics,
            setup.traces,
            setup.options.resolved_endpoint(var),
            setup.options.resolved_service_name(var)
        ));
    }
    let _ = worker;
    None
}

/// One invocation's telemetry, from its start to the flush before its answer.
pub(crate) struct InvocationTelemetry<'process> {
    process: PhantomData<&'process ProcessTelemetry>,
    #[cfg(feature = "otel")]
    exporters: Option<&'process otel::Telemetry>,
    #[cfg(feature = "otel")]
    span: Option<otel::InvocationSpan>,
}

impl InvocationTelemetry<'_> {
    /// The last step before the answer, after the shutdown hooks: ends the invocation's span
    /// (recording its trace id on the current `tracing` span) and flushes spans and metrics,
    /// because Lambda freezes the process once it has the answer. Bounded by the flush timeout
    /// and by `time_left` (read once the span has ended), so a dead collector cannot make the
    /// invocation miss its deadline.
    pub(crate) async fn finish(
        self,
        answer: &Result<Value, ServerlessError>,
        counts: InvocationCounts,
        time_left: impl FnOnce() -> Duration,
    ) {
        #[cfg(feature = "otel")]
        if let Some(exporters) = self.exporters {
            if let Some(span) = self.span {
                tracing::Span::current().record("trace_id", span.trace_id().to_string());
                let error = answer.as_ref().err().map(ServerlessError::redacted_message);
                exporters.end_invocation(span, counts, error.as_deref());
            }
            flush(exporters, time_left().min(exporters.flush_timeout())).await;
        }
        #[cfg(not(feature = "otel"))]
        let _ = (self.process, answer, counts, time_left);
    }
}

/// Flushes what the exporters hold, within `bound`, and says how it went.
#[cfg(feature = "otel")]
async fn flush(exporters: &otel::Telemetry, bound: Duration) {
    let flushing = std::time::Instant::now();
    match exporters.flush(bound).await {
        Ok(()) => tracing::info!(
            flush_ms = flushing.elapsed().as_millis() as u64,
            "telemetry flushed"
        ),
        Err(problem) => tracing::warn!(
            flush_ms = flushing.elapsed().as_millis() as u64,
            "{problem}"
        ),
    }
}

/// What an invocation's span reports it did.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) struct InvocationCounts {
    /// Tasks received and answered, the answer accepted.
    pub(crate) tasks_completed: u64,
    /// The worker's calls that failed (see `call_failure`).
    pub(crate) failed_calls: u64,
}
