//! # temporal-serverless
//!
//! Run a Temporal Worker inside AWS Lambda, with the Worker Deployment contract checked when the
//! function is compiled rather than when it is invoked.
//!
//! ```no_run
//! use temporal_serverless::prelude::*;
//!
//! #[workflow(versioning = pinned)]
//! #[derive(Default)]
//! pub struct Checkout;
//!
//! #[workflow_methods]
//! impl Checkout {
//!     #[run]
//!     pub async fn run(_ctx: &mut WorkflowContext<Self>, order: String) -> WorkflowResult<String> {
//!         Ok(format!("checked out {order}"))
//!     }
//! }
//!
//! #[serverless_worker(deployment = "shop", build_id = "2024-06-01.1")]
//! fn main(worker: &mut LambdaWorker) {
//!     worker.task_queue("checkout").register_workflow::<Checkout>();
//! }
//! ```
//!
//! - [`workflow`]: the SDK's workflow attribute plus a required `versioning = pinned |
//!   auto_upgrade`; [`LambdaWorker::register_workflow`] accepts only workflows declared with it.
//! - [`serverless_worker`]: generates the Lambda `main`. `deployment` and `build_id` must be
//!   compile-time constants; they are validated at compile time and embedded in the binary
//!   ([`manifest`]), where `temporal-serverless inspect` reads them back.

#![warn(missing_docs)]

mod call_failure;
pub mod config;
pub mod deadline;
mod deployment_guard;
mod end_policy;
mod error;
mod function;
mod hooks;
mod init_error;
pub mod lambda_arn;
mod lambda_worker;
mod logging;
pub mod manifest;
#[cfg(feature = "otel")]
pub mod otel;
mod oversized_task;
mod panics;
mod poll_gate;
pub mod redact;
mod server_call;
mod task_observer;
mod telemetry;
pub mod version_checks;
mod versioning;
mod work_end;
mod worker_relay;
mod worker_release;
mod worker_rpc;

pub use deployment_guard::{GUARD_VARIABLE, is_namespace_not_found};
pub use error::ServerlessError;
pub use function::DRY_RUN_VARIABLE;
pub use hooks::HookError;
pub use lambda_worker::*;
pub use poll_gate::SERVER_DRAIN_VARIABLE;
pub use temporal_serverless_macros::{serverless_worker, workflow};
pub use versioning::{ServerlessWorkflow, VersioningBehavior};

/// The README's code blocks, compiled as doctests so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Everything a workflow and worker author needs, in one import.
pub mod prelude {
    pub use crate::{
        LambdaWorker, ServerlessWorkflow, VersioningBehavior, serverless_worker, workflow,
    };
    pub use temporalio_macros::{
        activities, activity, init, query, run, signal, update, workflow_methods,
    };
    pub use temporalio_sdk::{
        ActivityOptions, LocalActivityOptions, SyncWorkflowContext, WorkflowContext,
        WorkflowContextView, WorkflowResult,
        activities::{ActivityContext, ActivityError},
    };
}

/// The Temporal SDK crates, for what the prelude does not cover.
pub mod sdk {
    pub use temporalio_client as client;
    pub use temporalio_common as common;
    pub use temporalio_sdk::*;
}

/// Used by generated code only; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::function::{FunctionSpec, run_function};
    pub use crate::manifest::{Key, check_compile_time_value, encode_manifest, manifest_len};
    pub use temporalio_macros as sdk_macros;
}
