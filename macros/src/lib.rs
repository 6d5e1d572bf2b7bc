//! Procedural macros for `temporal-serverless`.
//!
//! Depend on the `temporal-serverless` crate, which re-exports these attributes; generated code
//! names everything through `::temporal_serverless::__private`, so this crate is never named by
//! users. Each attribute follows the same flow: tokens → parsed model (`*::parse`) → validated
//! model (errors collected in `diagnostics::Diagnostics`) → generated tokens (`*::expand`).

mod compile_time_string;
mod diagnostics;
mod serverless_worker;
mod suggest;
mod workflow;

use proc_macro::TokenStream;

/// Declares a Temporal workflow together with its Worker Deployment versioning behavior.
///
/// `#[workflow(versioning = pinned)]` or `#[workflow(versioning = auto_upgrade)]`; the key is
/// required. See the `temporal-serverless` crate documentation.
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    workflow::expand(args.into(), item.into()).into()
}

/// Turns `fn main(worker: &mut LambdaWorker) { .. }` into a Lambda function that runs a Temporal
/// Worker for the given Worker Deployment Version on every invocation.
///
/// `#[serverless_worker(deployment = "shop", build_id = env!("SHOP_BUILD_ID"))]`. See the
/// `temporal-serverless` crate documentation.
#[proc_macro_attribute]
pub fn serverless_worker(args: TokenStream, item: TokenStream) -> TokenStream {
    serverless_worker::expand(args.into(), item.into()).into()
}
