use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = 1.5)]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
