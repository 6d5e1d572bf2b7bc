use temporal_serverless::prelude::*;

#[serverless_worker(deployment = DEPLOYMENT, build_id = "v1")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
static DEPLOYMENT: &str = "shop";
