use temporal_serverless::prelude::*;

#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
struct Checkout;

#[workflow_methods]
impl Checkout {
    #[run]
    async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        Ok(())
    }
}

#[serverless_worker(
    deployment = concat!("shop-", "eu"),
    build_id = concat!("v", env!("TS_UI_BUILD_ID"), "-", 7),
    task_queue = "checkout"
)]
fn main(worker: &mut LambdaWorker) {
    worker.register_workflow::<Checkout>();
}
