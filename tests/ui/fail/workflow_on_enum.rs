use temporal_serverless::prelude::*;

#[workflow(versioning = pinned)]
enum Checkout {
    Started,
}

fn main() {}
