use temporal_serverless::prelude::*;
include!("../shared/run_returns_at_once.rs");

#[workflow(versioning = "auto_upgrade")]
#[derive(Default)]
struct Checkout;
run_returns_at_once!(Checkout);

fn main() {}
