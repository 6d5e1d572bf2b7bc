//! Both versioning behaviors in one worker, with activities, a workflow type named by
//! `#[run(name = ..)]`, and a literal build ID. (A workflow calling an activity is the examples'
//! subject: `examples/src/bin/shop.rs` is this worker with real work in it.)

use temporal_serverless::prelude::*;
include!("../shared/run_returns_at_once.rs");

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
struct Checkout;
run_returns_at_once!(Checkout);

#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
struct Newsletter;
run_returns_at_once!(Newsletter, name = "newsletter");

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
