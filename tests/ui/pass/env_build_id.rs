use temporal_serverless::prelude::*;
include!("../shared/run_returns_at_once.rs");

#[workflow(versioning = pinned)]
#[derive(Default)]
struct Checkout;
run_returns_at_once!(Checkout);

#[serverless_worker(deployment = "shop", build_id = env!("TS_UI_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    worker
        .task_queue("checkout")
        .register_workflow::<Checkout>();
}
