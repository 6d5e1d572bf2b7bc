use temporal_serverless::prelude::*;

#[workflow(versioning = pinned, name = "checkout")]
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
