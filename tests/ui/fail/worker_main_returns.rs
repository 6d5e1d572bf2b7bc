use temporal_serverless::prelude::*;

#[serverless_worker(deployment = "shop", build_id = "v1")]
fn main(worker: &mut LambdaWorker) -> Result<(), String> {
    worker.task_queue("checkout");
    Ok(())
}
