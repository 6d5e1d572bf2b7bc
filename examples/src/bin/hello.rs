//! The smallest serverless worker: one pinned workflow and one activity.
//!
//! Build with `HELLO_BUILD_ID=v1 cargo lambda build --release --bin hello` (or plain
//! `cargo build`), then `temporal-serverless inspect target/.../hello` prints the version it
//! carries.

use std::time::Duration;
use temporal_serverless::prelude::*;

pub struct Greetings;

#[activities]
impl Greetings {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }
}

#[workflow(versioning = pinned)]
#[derive(Default)]
struct Hello;

#[workflow_methods]
impl Hello {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                Greetings::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(greeting)
    }
}

#[serverless_worker(deployment = "hello", build_id = env!("HELLO_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    worker
        .task_queue("hello")
        .register_workflow::<Hello>()
        .register_activities(Greetings);
}
