//! Links from the invocation's span to the workflow and activity spans it ran. Those spans
//! cannot be children of the invocation: they belong to the trace of whoever started the
//! workflow (propagated in the `_tracer-data` header), and a workflow's spans must keep the same
//! IDs on replay in another invocation. A link keeps both: from the invocation (in Lambda's X-Ray
//! trace) a viewer reaches every task it executed.

use opentelemetry::trace::{SpanContext, SpanKind};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{Span, SpanData, SpanProcessor},
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// The instrumentation scope of the spans the SDK's plugin makes: the pipeline names the tracer
/// it gives the plugin so, and a span in this scope is one of the tasks an invocation ran.
pub(super) const SDK_SCOPE: &str = "temporalio-sdk";

/// More links than this on one span help nobody, and bound the memory a long invocation takes.
const MAX_LINKS: usize = 64;

/// Collects the task spans ended since it was last drained. One invocation runs at a time per
/// Lambda process, so every task span that ends belongs to the running invocation.
#[derive(Clone, Debug, Default)]
pub(super) struct TaskSpanLinks {
    ended: Arc<Mutex<Vec<(SpanContext, String)>>>,
}

impl TaskSpanLinks {
    /// The task spans ended since the last call (span context and name), and forgets them.
    pub(super) fn drain(&self) -> Vec<(SpanContext, String)> {
        std::mem::take(&mut *self.ended.lock().unwrap())
    }
}

impl SpanProcessor for TaskSpanLinks {
    fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        // The SDK's plugin makes workflow, activity and handler executions server spans.
        let is_task =
            span.instrumentation_scope.name() == SDK_SCOPE && span.span_kind == SpanKind::Server;
        if is_task {
            let mut ended = self.ended.lock().unwrap();
            if ended.len() < MAX_LINKS {
                ended.push((span.span_context, span.name.into_owned()));
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
