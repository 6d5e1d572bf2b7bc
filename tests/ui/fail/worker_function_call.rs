use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = current_build_id())]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
fn current_build_id() -> &'static str { "v1" }
