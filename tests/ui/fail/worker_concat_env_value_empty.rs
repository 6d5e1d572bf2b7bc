use temporal_serverless::prelude::*;

#[serverless_worker(deployment = concat!(env!("TS_UI_EMPTY"), env!("TS_UI_EMPTY")), build_id = "v1")]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
