use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "my shop", build_id = "v1\n")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
