use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", buildid = "v1")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
