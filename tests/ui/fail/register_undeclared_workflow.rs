use temporal_serverless::prelude::*;

// Declared with the SDK's own attribute: a valid SDK workflow, but no versioning behavior.
#[temporalio_macros::workflow]
#[derive(Default)]
struct Legacy;

#[workflow_methods]
impl Legacy {
    #[run]
    async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        Ok(())
    }
}

#[serverless_worker(deployment = "shop", build_id = "v1")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("legacy").register_workflow::<Legacy>();
}
