//! One span per invocation, placed in the X-Ray trace Lambda hands over in
//! `Lambda-Runtime-Trace-Id` (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`):
//! the root's 32 hex digits are the OpenTelemetry trace ID and `Parent` the parent span, which
//! is how X-Ray and OpenTelemetry backends join the function's span to Lambda's own segment.
//! X-Ray's `Sampled` flag is not obeyed: with active tracing off Lambda says `Sampled=0`, and a
//! user who asked for traces should still get them.

use opentelemetry::{
    Context, KeyValue,
    trace::{
        Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
        TraceState, Tracer as _,
    },
};
use opentelemetry_sdk::trace::{Span, Tracer};

/// The invocation's span; ended by [`InvocationSpan::end`] before the flush.
pub(crate) struct InvocationSpan {
    span: Span,
}

/// What the invocation span records about one invocation.
pub(crate) struct InvocationFacts<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) invoked_function_arn: &'a str,
    pub(crate) xray_trace_header: Option<&'a str>,
    pub(crate) cold: bool,
}

impl InvocationSpan {
    pub(crate) fn start(tracer: &Tracer, facts: InvocationFacts<'_>) -> Self {
        let mut attributes = vec![
            // OpenTelemetry's FaaS semantic conventions.
            KeyValue::new("faas.invocation_id", facts.request_id.to_owned()),
            KeyValue::new("faas.coldstart", facts.cold),
            KeyValue::new("faas.trigger", "other"),
            KeyValue::new("cloud.resource_id", facts.invoked_function_arn.to_owned()),
        ];
        let parent = match facts.xray_trace_header {
            Some(header) => {
                attributes.push(KeyValue::new("aws.xray.trace_header", header.to_owned()));
                parse_xray_header(header)
                    .map(|parent| Context::new().with_remote_span_context(parent))
                    .unwrap_or_default()
            }
            None => Context::new(),
        };
        let span = tracer
            .span_builder("invocation")
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        Self { span }
    }

    /// The trace the span belongs to (the X-Ray trace, when Lambda named one).
    pub(crate) fn trace_id(&self) -> TraceId {
        self.span.span_context().trace_id()
    }

    /// Ends the span with how the invocation went and links to the task spans it ran.
    pub(crate) fn end(
        mut self,
        counts: crate::telemetry::InvocationCounts,
        error: Option<&str>,
        task_spans: Vec<(SpanContext, String)>,
    ) {
        self.span.set_attribute(KeyValue::new(
            "temporal.tasks_completed",
            counts.tasks_completed as i64,
        ));
        self.span.set_attribute(KeyValue::new(
            "temporal.failed_calls",
            counts.failed_calls as i64,
        ));
        for (task_span, name) in task_spans {
            self.span
                .add_link(task_span, vec![KeyValue::new("temporal.span_name", name)]);
        }
        if let Some(error) = error {
            self.span.set_status(Status::error(error.to_owned()));
        }
        self.span.end();
    }
}

/// The parent span named by an X-Ray trace header, if it names a root and a parent.
pub(crate) fn parse_xray_header(header: &str) -> Option<SpanContext> {
    let mut trace_id = None;
    let mut parent_id = None;
    for field in header.split(';') {
        match field.trim().split_once('=') {
            // `1-<8 hex digits of epoch seconds>-<24 hex digits>`
            Some(("Root", root)) => {
                let mut parts = root.splitn(3, '-');
                if parts.next() != Some("1") {
                    return None;
                }
                let (time, random) = (parts.next()?, parts.next()?);
                if time.len() != 8 || random.len() != 24 {
                    return None;
                }
                trace_id = TraceId::from_hex(&format!("{time}{random}")).ok();
            }
            Some(("Parent", parent)) if parent.len() == 16 => {
                parent_id = SpanId::from_hex(parent).ok();
            }
            _ => {}
        }
    }
    let context = SpanContext::new(
        trace_id?,
        parent_id?,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_root_and_parent_become_the_remote_parent() {
        let parent = parse_xray_header(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
        )
        .unwrap();
        assert_eq!(
            parent.trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(parent.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(parent.is_remote());
        assert!(parent.is_sampled(), "Sampled=0 is not obeyed");
    }

    #[test]
    fn headers_without_a_usable_root_or_parent_give_no_parent() {
        for header in [
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3f;Parent=53995c3f42cd8ad8",
            "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz995c3f42cd8ad8",
            "",
        ] {
            assert!(parse_xray_header(header).is_none(), "{header}");
        }
    }
}
