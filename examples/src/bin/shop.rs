//! A function mixing both versioning behaviors: `Checkout` is pinned (an execution finishes on
//! the build that started it), `Newsletter` auto-upgrades (it moves to the current build at its
//! next workflow task).

use std::time::Duration;
use temporal_serverless::prelude::*;

pub struct Payments;

#[activities]
impl Payments {
    #[activity]
    pub async fn charge(_ctx: ActivityContext, order: String) -> Result<String, ActivityError> {
        Ok(format!("receipt for {order}"))
    }
}

#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct Checkout;

#[workflow_methods]
impl Checkout {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, order: String) -> WorkflowResult<String> {
        let receipt = ctx
            .execute_activity(
                Payments::charge,
                order,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(receipt)
    }
}

#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
pub struct Newsletter;

#[workflow_methods]
impl Newsletter {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        subscriber: String,
    ) -> WorkflowResult<String> {
        ctx.timer(Duration::from_secs(1)).await;
        Ok(format!("newsletter sent to {subscriber}"))
    }
}

#[serverless_worker(deployment = "shop", build_id = env!("SHOP_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    worker
        .task_queue("shop")
        .register_workflow::<Checkout>()
        .register_workflow::<Newsletter>()
        .register_activities(Payments);
}
