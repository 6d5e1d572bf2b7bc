//! The conformance suite's function: its workflows (`temporal_serverless_tests::conformance`)
//! through the runtime, its relay and the local Lambda service. `FIXTURE_IDLE_EXIT_MS` sets the
//! idle window (the suite shortens it, so that a workflow's steps land on different workers).

use std::time::Duration;
use temporal_serverless::prelude::*;
use temporal_serverless_tests::{
    conformance::ConformanceActivities, for_each_conformance_workflow,
};

#[serverless_worker(deployment = "conformance", build_id = env!("FIXTURE_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    macro_rules! register {
        ($workflow:ty) => {
            worker.register_workflow::<$workflow>();
        };
    }
    for_each_conformance_workflow!(register);
    worker.register_activities(ConformanceActivities);
    if let Ok(millis) = std::env::var("FIXTURE_IDLE_EXIT_MS") {
        let millis = millis
            .parse()
            .unwrap_or_else(|_| panic!("FIXTURE_IDLE_EXIT_MS={millis}: milliseconds"));
        worker.idle_exit(Some(Duration::from_millis(millis)));
    }
}
