use temporal_serverless::prelude::*;
include!("../shared/run_returns_at_once.rs");

#[workflow(versoning = pinned, retries = 3)]
#[derive(Default)]
struct Checkout;
run_returns_at_once!(Checkout);

fn main() {}
