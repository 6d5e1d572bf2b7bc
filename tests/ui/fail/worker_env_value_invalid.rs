use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = env!("TS_UI_BUILD_ID_WITH_SPACE"))]
fn main(worker: &mut LambdaWorker) {
    worker.task_queue("checkout");
}
