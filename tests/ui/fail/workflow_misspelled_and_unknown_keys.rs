use temporal_serverless::prelude::*;

#[workflow(versoning = pinned, retries = 3)]
#[derive(Default)]
struct Checkout;

#[workflow_methods]
impl Checkout {
    #[run]
    async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        Ok(())
    }
}

fn main() {}
