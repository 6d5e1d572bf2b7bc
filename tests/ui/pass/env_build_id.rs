use temporal_serverless::prelude::*;

#[workflow(versioning = pinned)]
#[derive(Default)]
struct Checkout;

#[workflow_methods]
impl Checkout {
    #[run]
    async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        Ok(())
    }
}

#[serverless_worker(deployment = "shop", build_id = env!("TS_UI_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    worker
        .task_queue("checkout")
        .register_workflow::<Checkout>();
}
