use std::time::Duration;
use temporal_serverless::prelude::*;

pub struct Payments;

#[activities]
impl Payments {
    #[activity]
    pub async fn charge(_ctx: ActivityContext, order: String) -> Result<String, ActivityError> {
        Ok(format!("charged {order}"))
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
    #[run(name = "newsletter")]
    pub async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        Ok(())
    }
}

#[serverless_worker(deployment = "shop", build_id = "2024-06-01.1")]
fn main(worker: &mut LambdaWorker) {
    worker
        .task_queue("checkout")
        .register_workflow::<Checkout>()
        .register_workflow::<Newsletter>()
        .register_activities(Payments);
    assert_eq!(
        worker.versioning_behaviors().get("Checkout"),
        Some(&VersioningBehavior::Pinned)
    );
    assert_eq!(
        worker.versioning_behaviors().get("newsletter"),
        Some(&VersioningBehavior::AutoUpgrade)
    );
}
