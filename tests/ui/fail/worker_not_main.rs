use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = "v1")]
fn start(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
fn main() {}
