use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = "v1", build_id = "v2")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
