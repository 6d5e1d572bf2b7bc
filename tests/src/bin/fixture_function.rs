//! The Lambda function the end-to-end tests invoke: workflows of both versioning behaviors and
//! an activity whose duration the test chooses. The task queue comes from `TEMPORAL_TASK_QUEUE`
//! so that each test uses its own; `FIXTURE_IDLE_EXIT_MS` sets the idle window (tests that
//! provoke many idle exits shorten it; the benchmark compares fixed windows), `none` holds every
//! invocation to the end of its work time (`idle_exit(None)`), `learned` learns it
//! (`idle_exit_learned()`). `FIXTURE_OTEL=1` turns OpenTelemetry on, exporting to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` with a metric period far longer than any invocation, so that what
//! the collector receives by an invocation's answer can only come from the end-of-invocation flush.
//! `FIXTURE_PANICKING_HOOK=1` registers a shutdown hook that panics.

use std::time::Duration;
use temporal_serverless::prelude::*;

pub struct FixtureActivities;

#[activities]
impl FixtureActivities {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }

    #[activity]
    pub async fn sleep_for(_ctx: ActivityContext, millis: u64) -> Result<u64, ActivityError> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(millis)
    }
}

#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct Greet;

#[workflow_methods]
impl Greet {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                FixtureActivities::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(greeting)
    }
}

/// How much longer than its sleep `SlowActivity`'s activity may take before it is retried.
const ACTIVITY_TIMEOUT_MARGIN: Duration = Duration::from_secs(3);

#[workflow(versioning = auto_upgrade)]
#[derive(Default)]
pub struct SlowActivity;

#[workflow_methods]
impl SlowActivity {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, millis: u64) -> WorkflowResult<u64> {
        // A timeout that fits the activity, as a real one would: an attempt lost with its
        // process (a kill, a Lambda timeout) is retried within seconds, not a minute later.
        let timeout = Duration::from_millis(millis) + ACTIVITY_TIMEOUT_MARGIN;
        let slept = ctx
            .execute_activity(
                FixtureActivities::sleep_for,
                millis,
                ActivityOptions::start_to_close_timeout(timeout),
            )
            .await?;
        Ok(slept)
    }
}

/// Sleeps on a durable timer: its second workflow task comes when the timer fires, possibly
/// after the invocation that ran the first has ended.
#[workflow(versioning = pinned)]
#[derive(Default)]
pub struct Nap;

#[workflow_methods]
impl Nap {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, millis: u64) -> WorkflowResult<u64> {
        ctx.timer(Duration::from_millis(millis)).await;
        Ok(millis)
    }
}

#[serverless_worker(deployment = "fixture", build_id = env!("FIXTURE_BUILD_ID"))]
fn main(worker: &mut LambdaWorker) {
    worker
        .register_workflow::<Greet>()
        .register_workflow::<SlowActivity>()
        .register_workflow::<Nap>()
        .register_activities(FixtureActivities);
    match std::env::var("FIXTURE_IDLE_EXIT_MS").ok().as_deref() {
        None => {}
        Some("none") => {
            worker.idle_exit(None);
        }
        Some("learned") => {
            worker.idle_exit_learned();
        }
        // A typo must not quietly run the default policy under another policy's name.
        Some(value) => match value.parse() {
            Ok(millis) => {
                worker.idle_exit(Some(Duration::from_millis(millis)));
            }
            Err(_) => panic!("FIXTURE_IDLE_EXIT_MS={value}: milliseconds or `none`"),
        },
    }
    if std::env::var_os("FIXTURE_PANICKING_HOOK").is_some() {
        worker.on_shutdown(|| -> Result<(), std::io::Error> { panic!("fixture hook bug") });
    }
    if std::env::var_os("FIXTURE_OTEL").is_some() {
        worker.opentelemetry(
            temporal_serverless::otel::OtelOptions::default()
                .metric_period(Duration::from_secs(600)),
        );
    }
}
