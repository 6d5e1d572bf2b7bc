use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = option_env!("SHOP_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
