use temporal_serverless::prelude::*;
include!("../shared/run_returns_at_once.rs");

#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
struct Checkout;
run_returns_at_once!(Checkout);

#[serverless_worker(
    deployment = concat!("shop-", "eu"),
    build_id = concat!("v", env!("TS_UI_BUILD_ID"), "-", 7),
    task_queue = "checkout"
)]
fn main(worker: &mut LambdaWorker) {
    worker.register_workflow::<Checkout>();
}
