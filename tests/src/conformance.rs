//! The workflows of the conformance suite (`tests/tests/conformance.rs`), compiled into both of
//! its workers: the function (`src/bin/conformance_function.rs`, through the runtime and its
//! relay) and the reference (`src/bin/conformance_worker.rs`, a plain SDK worker). Each exercises
//! one part of what a worker does; sizes are the server's limits, not the smallest that pass.

use std::time::Duration;
use temporal_serverless::prelude::*;
use temporal_serverless::sdk::{
    ActivityCancellationType, ActivityExecutionError, ApplicationFailure, CancellableFuture,
    ChildWorkflowOptions, ContinueAsNewOptions, MemoValue, TimerResult, WorkflowCancellationToken,
    WorkflowTermination, common::RetryPolicy, common::search_attributes::SearchAttributeKey,
    workflows::join_all,
};

/// A keyword search attribute the suite's dev server registers ([`SEARCH_ATTRIBUTE`]).
pub const STAGE: SearchAttributeKey<String> = SearchAttributeKey::keyword("ConformanceStage");
/// The `temporal server start-dev --search-attribute` that registers [`STAGE`].
pub const SEARCH_ATTRIBUTE: &str = "ConformanceStage=Keyword";

/// `len` bytes of text that depend on `seed`: large, and different per activity.
pub fn blob(len: usize, seed: u64) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| {
            alphabet[((i as u64).wrapping_mul(31).wrapping_add(seed * 7) % 36) as usize] as char
        })
        .collect()
}

/// A short digest of a text (FNV-1a), so that a workflow can return what it saw without
/// returning the megabytes.
pub fn digest(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf29ce484222325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3)
    });
    format!("{}:{hash:016x}", text.len())
}

pub struct ConformanceActivities;

#[activities]
impl ConformanceActivities {
    /// Returns its input reversed: as large an answer as its input.
    #[activity]
    pub async fn reverse(_ctx: ActivityContext, text: String) -> Result<String, ActivityError> {
        Ok(text.chars().rev().collect())
    }

    /// Makes a blob of `len` bytes: a large result.
    #[activity]
    pub async fn make_blob(
        _ctx: ActivityContext,
        len_and_seed: (u64, u64),
    ) -> Result<String, ActivityError> {
        Ok(blob(len_and_seed.0 as usize, len_and_seed.1))
    }

    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }

    /// Fails (retryably) until its attempt `succeed_on`, then returns the attempt.
    #[activity]
    pub async fn flaky(ctx: ActivityContext, succeed_on: u32) -> Result<u32, ActivityError> {
        let attempt = ctx.info().attempt;
        if attempt < succeed_on {
            return Err(ActivityError::application(ApplicationFailure::new(
                format!("attempt {attempt} fails"),
            )));
        }
        Ok(attempt)
    }

    /// Fails for good.
    #[activity]
    pub async fn refuse(_ctx: ActivityContext, why: String) -> Result<String, ActivityError> {
        Err(ActivityError::application(
            ApplicationFailure::non_retryable(why),
        ))
    }

    /// Heartbeats every `step_ms` for `steps` steps, stopping when cancelled; returns the steps
    /// done.
    #[activity]
    pub async fn beat(
        ctx: ActivityContext,
        steps_and_ms: (u32, u64),
    ) -> Result<u32, ActivityError> {
        let (steps, step_ms) = steps_and_ms;
        for step in 0..steps {
            tokio::select! {
                _ = ctx.cancelled() => return Err(ActivityError::cancelled()),
                _ = tokio::time::sleep(Duration::from_millis(step_ms)) => {}
            }
            ctx.record_heartbeat(step + 1).await.map_err(|error| {
                ActivityError::application(ApplicationFailure::new(error.to_string()))
            })?;
        }
        Ok(steps)
    }
}

fn timeout(seconds: u64) -> ActivityOptions {
    ActivityOptions::start_to_close_timeout(Duration::from_secs(seconds))
}

/// An activity input and result of `len` bytes each (the server allows 2 MB per payload).
#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct Payloads;

#[workflow_methods]
impl Payloads {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, len: u64) -> WorkflowResult<String> {
        let sent = blob(len as usize, 1);
        let reversed = ctx
            .execute_activity(ConformanceActivities::reverse, sent, timeout(30))
            .await?;
        Ok(digest(&reversed))
    }
}

/// `activities` activities of `len` bytes each, then a timer of `nap_ms`: the history grows by
/// `activities × len`, and the timer's task (after the function ended idle) is handed to a new
/// worker with all of it.
#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
pub struct LargeHistory;

#[workflow_methods]
impl LargeHistory {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        shape: (u64, u64, u64),
    ) -> WorkflowResult<Vec<String>> {
        let (activities, len, nap_ms) = shape;
        let mut digests = Vec::new();
        for seed in 0..activities {
            let made = ctx
                .execute_activity(ConformanceActivities::make_blob, (len, seed), timeout(30))
                .await?;
            digests.push(digest(&made));
        }
        ctx.timer(Duration::from_millis(nap_ms)).await;
        Ok(digests)
    }
}

/// `count` activities, `batch` at a time, then a timer: a history of several pages.
#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct LongHistory;

#[workflow_methods]
impl LongHistory {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        shape: (u64, u64, u64),
    ) -> WorkflowResult<u64> {
        let (count, batch, nap_ms) = shape;
        let mut greeted = 0;
        let mut next = 0;
        while next < count {
            let names: Vec<String> = (next..count.min(next + batch))
                .map(|n| n.to_string())
                .collect();
            next += names.len() as u64;
            let greetings =
                join_all(names.into_iter().map(|name| {
                    ctx.execute_activity(ConformanceActivities::greet, name, timeout(30))
                }))
                .await;
            for greeting in greetings {
                greeting?;
                greeted += 1;
            }
        }
        ctx.timer(Duration::from_millis(nap_ms)).await;
        Ok(greeted)
    }
}

/// Signals, queries and updates: collects what `add` signals until `finish`.
#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct Messages {
    values: Vec<String>,
    limit: u32,
    finished: bool,
}

#[workflow_methods]
impl Messages {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, greeting: String) -> WorkflowResult<String> {
        ctx.wait_condition(|state: &Self| state.finished).await?;
        Ok(ctx.state(|state| {
            format!(
                "{greeting}: {} (limit {})",
                state.values.join(","),
                state.limit
            )
        }))
    }

    #[signal]
    pub fn add(&mut self, _ctx: &mut SyncWorkflowContext<Self>, value: String) {
        self.values.push(value);
    }

    #[signal]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.finished = true;
    }

    #[query]
    pub fn values(&self, _ctx: &WorkflowContextView) -> Vec<String> {
        self.values.clone()
    }

    #[update_validator(set_limit)]
    fn validate_set_limit(
        &self,
        _ctx: &WorkflowContextView,
        limit: &u32,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if *limit == 0 {
            Err("the limit must be positive".into())
        } else {
            Ok(())
        }
    }

    /// Sets the limit; returns the one before.
    #[update]
    pub fn set_limit(&mut self, _ctx: &mut SyncWorkflowContext<Self>, limit: u32) -> u32 {
        std::mem::replace(&mut self.limit, limit)
    }
}

/// A pinned parent that runs an auto-upgrade child and continues as new until `rounds`.
#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct Parent;

#[workflow_methods]
impl Parent {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        round_and_rounds: (u64, u64),
    ) -> WorkflowResult<u64> {
        let (round, rounds) = round_and_rounds;
        let child_id = format!("{}-child-{round}", ctx.workflow_id());
        let child = ctx
            .start_child_workflow(
                Child::run,
                (round, 0),
                ChildWorkflowOptions::workflow_id(child_id),
            )
            .await?;
        let doubled = child.result().await?;
        if round + 1 < rounds {
            ctx.continue_as_new((round + 1, rounds), ContinueAsNewOptions::default())?;
        }
        Ok(doubled)
    }
}

/// Doubles its number after a timer, continuing as new once on the way.
#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
pub struct Child;

#[workflow_methods]
impl Child {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        number_and_run: (u64, u64),
    ) -> WorkflowResult<u64> {
        let (number, run) = number_and_run;
        ctx.timer(Duration::from_millis(300)).await;
        if run == 0 {
            ctx.continue_as_new((number, 1), ContinueAsNewOptions::default())?;
        }
        Ok(number * 2 + 1)
    }
}

/// The rest of a worker's repertoire, one after the other: a local activity, a timer, retries
/// with backoff, a non-retryable failure, a heartbeating activity, a cancelled one, search
/// attributes and memo. Returns what each step saw.
#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
pub struct Repertoire;

#[workflow_methods]
impl Repertoire {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, nap_ms: u64) -> WorkflowResult<Vec<String>> {
        let mut seen = Vec::new();
        let local = ctx
            .execute_local_activity(
                ConformanceActivities::greet,
                "local".to_owned(),
                LocalActivityOptions::builder()
                    .start_to_close_timeout(Duration::from_secs(10))
                    .build(),
            )
            .await?;
        seen.push(local);

        seen.push(format!(
            "{:?}",
            ctx.timer(Duration::from_millis(nap_ms)).await
        ));

        let retries = RetryPolicy::builder()
            .initial_interval(Duration::from_millis(200))
            .backoff_coefficient(2.0)
            .maximum_attempts(5)
            .build();
        let attempt = ctx
            .execute_activity(
                ConformanceActivities::flaky,
                3_u32,
                ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
                    .retry_policy(retries)
                    .build(),
            )
            .await?;
        seen.push(format!("succeeded on attempt {attempt}"));

        match ctx
            .execute_activity(ConformanceActivities::refuse, "no".to_owned(), timeout(10))
            .await
        {
            Err(ActivityExecutionError::Failed(failure)) => {
                seen.push(format!("failed for good: {:?}", failure.retry_state()))
            }
            other => seen.push(format!("expected a failure, got {other:?}")),
        }

        let beats = ctx
            .execute_activity(
                ConformanceActivities::beat,
                (5, 300),
                ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
                    .heartbeat_timeout(Duration::from_secs(2))
                    .build(),
            )
            .await?;
        seen.push(format!("heartbeat {beats} steps"));

        let long = ctx.execute_activity(
            ConformanceActivities::beat,
            (200, 100),
            ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
                .heartbeat_timeout(Duration::from_secs(1))
                .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
                .build(),
        );
        ctx.timer(Duration::from_millis(500)).await;
        long.cancel();
        match long.await {
            Err(ActivityExecutionError::Cancelled(_)) => seen.push("cancelled".to_owned()),
            other => seen.push(format!("expected a cancellation, got {other:?}")),
        }

        ctx.upsert_search_attributes([STAGE.value_set("repertoire".to_owned())]);
        ctx.upsert_memo([("note", Some(MemoValue::new("remembered".to_owned())))])
            .map_err(ApplicationFailure::new)?;
        let stage: Option<String> = ctx.search_attributes().get(&STAGE);
        let note: Option<String> = ctx.memo().get("note").map_err(ApplicationFailure::new)?;
        seen.push(format!("stage {stage:?}, note {note:?}"));
        Ok(seen)
    }
}

/// Waits (an hour) to be cancelled or terminated; cleans up with an activity when cancelled.
#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct Cancellable;

#[workflow_methods]
impl Cancellable {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        if ctx.timer(Duration::from_secs(3600)).await == TimerResult::Cancelled {
            ctx.execute_activity(
                ConformanceActivities::greet,
                "cleanup".to_owned(),
                ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
                    .cancellation_token(WorkflowCancellationToken::new())
                    .build(),
            )
            .await?;
            return Err(WorkflowTermination::cancelled());
        }
        Ok("never cancelled".to_owned())
    }
}

/// A bug in workflow code: its task must be reported failed, not left to time out.
#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
pub struct Panics;

#[workflow_methods]
impl Panics {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        panic!("conformance: a bug in workflow code")
    }
}

/// Calls `$register!(Type)` for each workflow of the suite: one list for both workers, which
/// register them each its own way.
#[macro_export]
macro_rules! for_each_conformance_workflow {
    ($register:ident) => {
        $register!($crate::conformance::Payloads);
        $register!($crate::conformance::LargeHistory);
        $register!($crate::conformance::LongHistory);
        $register!($crate::conformance::Messages);
        $register!($crate::conformance::Parent);
        $register!($crate::conformance::Child);
        $register!($crate::conformance::Repertoire);
        $register!($crate::conformance::Cancellable);
        $register!($crate::conformance::Panics);
    };
}
