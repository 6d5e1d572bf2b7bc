use temporal_serverless::prelude::*;

#[serverless_worker()]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
