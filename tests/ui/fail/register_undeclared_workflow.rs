use temporal_serverless::prelude::*;
include!("../shared/run_returns_at_once.rs");

// Declared with the SDK's own attribute: a valid SDK workflow, but no versioning behavior.
#[temporalio_macros::workflow]
#[derive(Default)]
struct Legacy;
run_returns_at_once!(Legacy);

#[serverless_worker(deployment = "shop", build_id = "v1")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("legacy").register_workflow::<Legacy>();
}
