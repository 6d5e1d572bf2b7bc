//! The Worker Deployment versioning behavior each workflow type declares, carried as a constant
//! so that a workflow without one cannot be registered.

/// How executions of a workflow type move between Worker Deployment Versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VersioningBehavior {
    /// Each execution runs to completion on the version that started it
    /// (`#[workflow(versioning = pinned)]`). Safe for any code change, at the cost of keeping old
    /// versions invocable until their executions finish.
    Pinned,
    /// Executions move to the deployment's current version at their next workflow task
    /// (`#[workflow(versioning = auto_upgrade)]`). Code changes must stay replay-compatible
    /// (patching), as without versioning.
    AutoUpgrade,
}

impl VersioningBehavior {
    /// The name the Temporal API and CLI use (`PINNED`, `AUTO_UPGRADE`).
    pub const fn api_name(self) -> &'static str {
        match self {
            Self::Pinned => "PINNED",
            Self::AutoUpgrade => "AUTO_UPGRADE",
        }
    }
}

impl std::fmt::Display for VersioningBehavior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.api_name())
    }
}

/// A workflow declared through `#[workflow(versioning = ..)]`.
///
/// Implemented only by that attribute: it is what lets [`crate::LambdaWorker::register_workflow`]
/// refuse, at compile time, a workflow whose versioning behavior nobody decided.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no declared versioning behavior, so it cannot run on a serverless worker",
    label = "declared without `#[temporal_serverless::workflow(versioning = ..)]`",
    note = "declare the struct with `#[workflow(versioning = pinned)]` or `#[workflow(versioning = auto_upgrade)]` \
            from `temporal_serverless::prelude`, instead of the SDK's `#[workflow]`"
)]
pub trait ServerlessWorkflow {
    /// The behavior the workflow declared.
    const VERSIONING_BEHAVIOR: VersioningBehavior;
}
