//! Idle exit must not strand work. The server invokes again within milliseconds when a task finds
//! no poller, but a task that reaches a worker while it is draining, and is then neither handled
//! nor re-offered, would wait for the Worker Controller Instance's slow path (PullStats, every
//! 300 s). Workflows are started at random moments while invocations idle out every few hundred
//! milliseconds; every one must complete, and no workflow task may wait more than seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use temporal_serverless_tests::{
    cli_binary, fixture_function,
    local_loop::{LocalLoop, LoopBuilder},
    workflow_timing::WorkflowTiming,
};

/// Far below the 300 s slow path, far above the tens of milliseconds the fast path takes.
const LONGEST_ACCEPTABLE_WAIT: Duration = Duration::from_secs(3);

#[test]
fn workflows_started_around_idle_exits_all_start_within_seconds() {
    // The runtime's default: polls are drained by their deadline (see `poll_gate`), though the
    // namespace offers the server-driven drain (`worker_poll_complete_on_shutdown`, as Temporal
    // Cloud's do) and task queues have the default 4 partitions.
    race("race-q", |server| server);
}

#[test]
fn the_same_by_the_server_driven_drain() {
    // Opted in (`TEMPORAL_SERVERLESS_SERVER_DRAIN=1`): each invocation ends by `ShutdownWorker`
    // completing its polls, on task queues of one partition (with more the server loses tasks).
    race("race-completes-q", |server| server.server_drain());
}

/// Starts workflows at random moments around idle exits, on a loop `server` sets up further,
/// and bounds their waits.
fn race(task_queue: &str, server: impl FnOnce(LoopBuilder<'_>) -> LoopBuilder<'_>) {
    // Reproducible: a failing run prints its seed; TSLS_RACE_SEED replays it.
    let seed = std::env::var("TSLS_RACE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("TSLS_RACE_SEED={seed}");
    let mut random = fastrand::Rng::with_seed(seed);
    let cli = cli_binary!();
    let setup = LocalLoop::builder(&cli, "fixture", fixture_function!())
        .timeout_seconds(15)
        .concurrency(4)
        .task_queue(task_queue)
        // A short window, so that invocations end (and drain) many times during the test.
        .function_env("FIXTURE_IDLE_EXIT_MS", "300");
    let lambda = server(setup).start();
    lambda
        .deploy(fixture_function!())
        .unwrap_or_else(|error| panic!("deploy failed: {error}"));

    let mut started = Vec::new();
    for n in 0..24 {
        // Gaps from 0 to 1.2 s around a 300 ms window: starts land on busy workers, idle ones,
        // draining ones, and on none.
        std::thread::sleep(Duration::from_millis(random.u64(0..1200)));
        let id = format!("{task_queue}-{n}");
        // Each with the least time it needs to run, once its tasks are picked up.
        let (workflow_type, input, needs) = match n % 3 {
            0 => ("Greet", "\"Race\"".to_owned(), 0),
            // A timer that fires after its invocation may have idled out.
            1 => {
                let millis = random.u64(100..1500);
                ("Nap", millis.to_string(), millis)
            }
            _ => ("SlowActivity", "100".to_owned(), 100),
        };
        lambda
            .server
            .start_workflow(task_queue, workflow_type, &id, &input)
            .unwrap();
        started.push((id, workflow_type, Duration::from_millis(needs)));
    }

    let mut timings = Vec::new();
    let mut overdue = Vec::new();
    for (id, workflow_type, needs) in &started {
        let timing = lambda.server.wait_for(
            Duration::from_secs(90),
            &format!("{id} ({workflow_type}) to complete"),
            |server| WorkflowTiming::read(server, id),
        );
        println!(
            "{id:>8} {workflow_type:<12} first task after {:>5} ms, longest workflow task wait {:>5} ms, longest activity wait {:>5} ms, done in {:>5} ms",
            timing.first_task_wait.as_millis(),
            timing.longest_task_wait.as_millis(),
            timing.longest_activity_wait.as_millis(),
            timing.start_to_close.as_millis()
        );
        // Whatever the kind of task that was stranded, it shows as a late completion.
        if timing.start_to_close > *needs + LONGEST_ACCEPTABLE_WAIT {
            overdue.push(timing.clone());
        }
        timings.push(timing);
    }
    let longest_first = timings
        .iter()
        .max_by_key(|timing| timing.first_task_wait)
        .unwrap();
    let longest_any = timings
        .iter()
        .max_by_key(|timing| timing.longest_task_wait)
        .unwrap();
    let records = lambda.records();
    println!(
        "{} workflows, {} invocations; longest wait for a first workflow task {} ms ({}), for any workflow task {} ms ({})",
        timings.len(),
        records.len(),
        longest_first.first_task_wait.as_millis(),
        longest_first.workflow_id,
        longest_any.longest_task_wait.as_millis(),
        longest_any.workflow_id,
    );
    assert!(
        longest_first.first_task_wait < LONGEST_ACCEPTABLE_WAIT,
        "a first workflow task waited too long (seed {seed}): {longest_first:?}"
    );
    assert!(
        longest_any.longest_task_wait < LONGEST_ACCEPTABLE_WAIT,
        "a workflow task waited too long (seed {seed}): {longest_any:?}"
    );
    assert!(
        overdue.is_empty(),
        "workflows finished seconds later than their work needs (seed {seed}): {overdue:#?}"
    );
    assert!(
        records.len() > 2,
        "the short idle window should have ended several invocations: {records:#?}"
    );
    for record in &records {
        assert!(
            record["deadline_margin_ms"].as_i64().unwrap() > 0,
            "{record:#}"
        );
    }
    let durations: Vec<f64> = records
        .iter()
        .filter_map(|record| record["duration_ms"].as_f64())
        .collect();
    println!(
        "mean invocation duration {:.0} ms over {}",
        durations.iter().sum::<f64>() / durations.len().max(1) as f64,
        durations.len()
    );
}
