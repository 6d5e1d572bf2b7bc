//! The task spans of the running invocation: the workflow and activity spans the SDK's plugin
//! makes, between the plugin and the exporter's processor.
//!
//! Links: the invocation's span links to the task spans that ended during it. Those spans cannot
//! be children of the invocation: they belong to the trace of whoever started the workflow
//! (propagated in the `_tracer-data` header), and a workflow's spans must keep the same IDs on
//! replay in another invocation. A link keeps both: from the invocation (in Lambda's X-Ray trace)
//! a viewer reaches every task it executed.
//!
//! Unfinished spans: the plugin starts `RunWorkflow` when a workflow first runs and ends it when
//! the workflow returns. A workflow still waiting (on an activity, a timer, a signal) when its
//! invocation ends is evicted with the worker, and its span is not ended then: the SDK keeps it
//! (temporalio-sdk 1.1, `OpenTelemetryWorkflowInterceptor::workflow_context`). The later
//! invocation that finishes the workflow replays its start and so records no span at all. The
//! span would never reach the collector; so the invocation's end closes every task span still
//! open in a copy with the same IDs (flagged [`UNFINISHED_ATTRIBUTE`]), which the next flush
//! exports, and the original is dropped should it ever end.

use opentelemetry::{
    KeyValue,
    trace::{SpanContext, SpanId, SpanKind, TraceId},
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{Span, SpanData, SpanProcessor},
};
use parking_lot::Mutex;
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, SystemTime},
};

/// The instrumentation scope of the spans the SDK's plugin makes: the pipeline names the tracer
/// it gives the plugin so, and a span in this scope is one of the tasks an invocation ran.
pub(super) const SDK_SCOPE: &str = "temporalio-sdk";

/// Set on the copy of a task span that was still open when its invocation ended.
pub(super) const UNFINISHED_ATTRIBUTE: &str = "temporal.unfinished_at_invocation_end";

/// More links than this on one span help nobody, and bound the memory a long invocation takes.
const MAX_LINKS: usize = 64;

/// How many closed copies are remembered, so that their originals are dropped should they end.
/// The SDK never ends those it keeps; the bound is for the memory of a long-lived process.
const MAX_CLOSED: usize = 1_024;

type SpanKey = (TraceId, SpanId);

/// The pipeline's handle on the task spans: the links of the running invocation, and the close
/// of the spans it leaves open. Shares its state with the [`TaskSpans`] processor from
/// [`TaskSpanLinks::around`].
#[derive(Clone, Debug, Default)]
pub(super) struct TaskSpanLinks {
    state: Arc<Mutex<TaskSpanState>>,
}

#[derive(Debug, Default)]
struct TaskSpanState {
    /// Task spans ended since the last drain (span context and name), to link to.
    ended: Vec<(SpanContext, String)>,
    /// Task spans started and not ended, as they were when they started.
    open: HashMap<SpanKey, SpanData>,
    /// Closed copies of open spans, for the exporter's processor at the next flush.
    closed: Vec<SpanData>,
    /// The spans closed by copy, oldest first: their originals are not exported.
    closed_keys: VecDeque<SpanKey>,
}

impl TaskSpanState {
    fn link(&mut self, context: SpanContext, name: String) {
        if self.ended.len() < MAX_LINKS {
            self.ended.push((context, name));
        }
    }
}

impl TaskSpanLinks {
    /// The processor to give the tracer provider: it watches the task spans and passes every
    /// span on to `exporting` (the batch processor).
    pub(super) fn around<P: SpanProcessor>(&self, exporting: P) -> TaskSpans<P> {
        TaskSpans {
            exporting,
            state: self.state.clone(),
        }
    }

    /// The task spans ended since the last call (span context and name), and forgets them.
    pub(super) fn drain(&self) -> Vec<(SpanContext, String)> {
        std::mem::take(&mut self.state.lock().ended)
    }

    /// Ends the task spans still open, as copies ended now and flagged [`UNFINISHED_ATTRIBUTE`]
    /// (the next flush exports them), and links to them. Called when the invocation's worker has
    /// shut down: no task of this process goes on after that.
    pub(super) fn close_unfinished(&self) {
        let mut state = self.state.lock();
        let now = SystemTime::now();
        let open: Vec<(SpanKey, SpanData)> = state.open.drain().collect();
        for (key, mut span) in open {
            span.end_time = now.max(span.start_time);
            span.attributes
                .push(KeyValue::new(UNFINISHED_ATTRIBUTE, true));
            state.link(span.span_context.clone(), span.name.to_string());
            state.closed.push(span);
            if state.closed_keys.len() == MAX_CLOSED {
                state.closed_keys.pop_front();
            }
            state.closed_keys.push_back(key);
        }
    }
}

/// The span processor between the SDK's plugin and the exporter's processor `P`.
#[derive(Debug)]
pub(super) struct TaskSpans<P> {
    exporting: P,
    state: Arc<Mutex<TaskSpanState>>,
}

/// Whether a span is a task an invocation ran: the SDK's plugin makes workflow, activity and
/// handler executions server spans.
fn is_task(span: &SpanData) -> bool {
    span.instrumentation_scope.name() == SDK_SCOPE && span.span_kind == SpanKind::Server
}

fn key_of(span: &SpanData) -> SpanKey {
    (span.span_context.trace_id(), span.span_context.span_id())
}

impl<P: SpanProcessor> SpanProcessor for TaskSpans<P> {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        if let Some(data) = span.exported_data().filter(is_task) {
            self.state.lock().open.insert(key_of(&data), data);
        }
        self.exporting.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if is_task(&span) {
            let key = key_of(&span);
            let mut state = self.state.lock();
            if let Some(at) = state.closed_keys.iter().position(|closed| *closed == key) {
                // Its copy was exported when its invocation ended.
                state.closed_keys.remove(at);
                return;
            }
            state.open.remove(&key);
            state.link(span.span_context.clone(), span.name.to_string());
        }
        self.exporting.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        let closed = std::mem::take(&mut self.state.lock().closed);
        for span in closed {
            self.exporting.on_end(span);
        }
        self.exporting.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporting.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.exporting.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    /// The exporter's processor as the task spans see it: what reaches it, and its flushes.
    #[derive(Clone, Debug, Default)]
    struct Received {
        spans: Arc<Mutex<Vec<SpanData>>>,
    }

    impl SpanProcessor for Received {
        fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}

        fn on_end(&self, span: SpanData) {
            self.spans.lock().push(span);
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    fn pipeline() -> (SdkTracerProvider, TaskSpanLinks, Received) {
        let links = TaskSpanLinks::default();
        let received = Received::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(links.around(received.clone()))
            .build();
        (provider, links, received)
    }

    fn names(spans: &[SpanData]) -> Vec<String> {
        spans.iter().map(|span| span.name.to_string()).collect()
    }

    #[test]
    fn ended_task_spans_are_linked_and_exported_once() {
        let (provider, links, received) = pipeline();
        let sdk = provider.tracer(SDK_SCOPE);
        sdk.span_builder("RunActivity:greet")
            .with_kind(SpanKind::Server)
            .start(&sdk)
            .end();
        // Client spans (the workflow's calls) and our own scope's spans are no tasks.
        sdk.span_builder("StartActivity:greet")
            .with_kind(SpanKind::Client)
            .start(&sdk)
            .end();
        let ours = provider.tracer("temporal-serverless");
        ours.span_builder("invocation")
            .with_kind(SpanKind::Server)
            .start(&ours)
            .end();
        links.close_unfinished();
        provider.force_flush().unwrap();
        let linked: Vec<String> = links.drain().into_iter().map(|(_, name)| name).collect();
        assert_eq!(linked, ["RunActivity:greet"]);
        assert_eq!(
            names(&received.spans.lock()),
            ["RunActivity:greet", "StartActivity:greet", "invocation"]
        );
    }

    #[test]
    fn a_task_span_left_open_is_closed_by_copy_and_its_original_dropped() {
        let (provider, links, received) = pipeline();
        let sdk = provider.tracer(SDK_SCOPE);
        // As the SDK holds the span of a workflow evicted while it waits.
        let mut held = sdk
            .span_builder("RunWorkflow:Greet")
            .with_kind(SpanKind::Server)
            .start(&sdk);
        let id = held.span_context().span_id();
        links.close_unfinished();
        let linked = links.drain();
        assert_eq!(linked.len(), 1);
        assert_eq!(linked[0].0.span_id(), id);
        assert!(received.spans.lock().is_empty(), "exported at the flush");
        provider.force_flush().unwrap();
        {
            let spans = received.spans.lock();
            assert_eq!(names(&spans), ["RunWorkflow:Greet"]);
            assert_eq!(spans[0].span_context.span_id(), id);
            assert!(spans[0].end_time >= spans[0].start_time);
            assert!(
                spans[0]
                    .attributes
                    .contains(&KeyValue::new(UNFINISHED_ATTRIBUTE, true)),
                "{:?}",
                spans[0].attributes
            );
        }
        // Should the SDK end it after all, its copy stands alone.
        held.end();
        provider.force_flush().unwrap();
        assert_eq!(received.spans.lock().len(), 1);
        assert!(links.drain().is_empty());
        // Nothing is left open for the next invocation to close.
        links.close_unfinished();
        provider.force_flush().unwrap();
        assert_eq!(received.spans.lock().len(), 1);
    }
}
