//! A serverless worker that reports to OpenTelemetry: the SDK's worker metrics and its workflow
//! and activity spans, plus a span per invocation, to the AWS Distro for OpenTelemetry collector
//! layer on `localhost:4317` (or `OTEL_EXPORTER_OTLP_ENDPOINT`), flushed before every invocation
//! answers.
//!
//! Needs the `otel` feature: `temporal-serverless = { version = "0.1", features = ["otel"] }`.
//! Deploy with the ADOT collector layer attached to the function (its default configuration
//! receives OTLP/gRPC on `localhost:4317`). Build with
//! `OBSERVED_BUILD_ID=v1 cargo lambda build --release --bin observed`.

use std::time::Duration;
use temporal_serverless::{otel::OtelOptions, prelude::*};

pub struct Payments;

#[activities]
impl Payments {
    #[activity]
    pub async fn charge(_ctx: ActivityContext, cents: u64) -> Result<String, ActivityError> {
        Ok(format!("charged {cents} cents"))
    }
}

#[workflow(versioning = pinned)]
#[derive(Default)]
struct Payment;

#[workflow_methods]
impl Payment {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>, cents: u64) -> WorkflowResult<String> {
        let receipt = ctx
            .execute_activity(
                Payments::charge,
                cents,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(receipt)
    }
}

#[serverless_worker(deployment = "payments", build_id = env!("OBSERVED_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    worker
        .task_queue("payments")
        .register_workflow::<Payment>()
        .register_activities(Payments)
        // Metrics and traces. The service name defaults to the function's name; the metric
        // period only matters for invocations longer than it (every invocation ends with a
        // flush), so keep it under the function's timeout.
        .opentelemetry(OtelOptions::default().metric_period(Duration::from_secs(10)));
}
