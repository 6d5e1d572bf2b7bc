use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = "")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
