//! Running a [`Plan`]: for each group, one loop per policy (its own dev server and Lambda
//! service, the policy set through the fixture's `FIXTURE_IDLE_EXIT_MS`), all running the same
//! loads with the same arrivals at the same moments: each load starts when every policy's loop
//! has finished the one before (every invocation ended), so that the policies share the
//! machine's noise and no invocation of one load is billed to the next.

use super::{
    floor,
    phases::{self, FirstPoll},
    plan::{Drain, Group, Load, Plan, Policy},
    sticky::{Lives, OwnerState, StickyScheduling},
};
use crate::{
    local_loop::LocalLoop,
    processes,
    tools::arrivals,
    workflow_timing::{TimeSpent, WorkflowTiming},
};
use serde_json::{Value, json};
use std::{
    collections::HashSet,
    panic::AssertUnwindSafe,
    path::Path,
    sync::{
        Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// The task queue the fixture serves.
pub const TASK_QUEUE: &str = "bench-q";
/// The function's concurrency limit (20 activity slots).
const CONCURRENCY: usize = 10;
/// How long after its last start a load's workflows may take to close.
const CLOSE_BOUND: Duration = Duration::from_secs(120);
/// No instance busy for this long: every invocation has ended (an answered instance is frozen
/// within milliseconds).
const QUIET: Duration = Duration::from_secs(1);
/// How long a loop waits for its siblings to finish a load before it goes on alone.
const RENDEZVOUS_BOUND: Duration = Duration::from_secs(15 * 60);

/// What one load measured under one policy.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The load's name (`steady`, …).
    pub load: &'static str,
    /// The activity mix (`-` for no work).
    pub mix: &'static str,
    /// The function's timeout.
    pub timeout_seconds: u64,
    /// How polls ended.
    pub drain: Drain,
    /// The end policy.
    pub policy: Policy,
    /// An invocation with no work, not workflows.
    pub no_work: bool,
    /// Workflows the load started (or tried to).
    pub workflows: usize,
    /// Starts the CLI failed, as `<id>: <error>`.
    pub start_failures: Vec<String>,
    /// Started workflows not completed within the close bound.
    pub lost: Vec<String>,
    /// Per completed workflow, start → close minus its activity's own time (ms), sorted.
    pub overhead_ms: Vec<u64>,
    /// Per completed workflow, its overhead (ms, as in `overhead_ms`), where its time went, and
    /// its activity's own time (ms): what [`Report::tail_table`](super::report::Report) breaks
    /// the slowest completions down with.
    pub spent: Vec<(u64, TimeSpent, u64)>,
    /// Workflow tasks timed out before a worker took them (a sticky queue's 1 s fallback).
    pub sticky_timeouts: usize,
    /// Every workflow task scheduled for a sticky queue, with its workflow's history and what
    /// the queue's owner was doing (those that timed out among them).
    pub sticky_schedulings: Vec<StickyScheduling>,
    /// Workflow tasks a worker took and never answered.
    pub start_to_close_timeouts: usize,
    /// Activity attempts beyond the first.
    pub activity_retries: usize,
    /// Per completed workflow, (server start ms, activity ms): the floor's input.
    pub activities: Vec<(i64, u64)>,
    /// The Lambda service's records of the load's invocations.
    pub invocations: Vec<Value>,
    /// Mean ms per invocation of each phase (see [`phases::PHASES`]).
    pub phases: Vec<(&'static str, Option<f64>)>,
    /// The load's invocations' `first poll sent` lines.
    pub first_polls: Vec<FirstPoll>,
    /// Wall time of the load, from its start to its last invocation's end.
    pub wall: Duration,
    /// Why it was not measured (a failure of the harness, or not meaningful for the policy).
    pub not_measured: Option<String>,
}

impl Cell {
    fn new(group: &Group, load: &Load, policy: Policy) -> Self {
        Self {
            load: load.name(),
            mix: load.mix_name(),
            timeout_seconds: group.timeout_seconds,
            drain: group.drain,
            policy,
            no_work: matches!(load, Load::NoWork),
            workflows: 0,
            start_failures: Vec::new(),
            lost: Vec::new(),
            overhead_ms: Vec::new(),
            spent: Vec::new(),
            sticky_timeouts: 0,
            sticky_schedulings: Vec::new(),
            start_to_close_timeouts: 0,
            activity_retries: 0,
            activities: Vec::new(),
            invocations: Vec::new(),
            phases: Vec::new(),
            first_polls: Vec::new(),
            wall: Duration::ZERO,
            not_measured: None,
        }
    }

    fn not_measured(group: &Group, load: &Load, policy: Policy, why: String) -> Self {
        Self {
            not_measured: Some(why),
            ..Self::new(group, load, policy)
        }
    }

    /// Billed ms of its invocations (each rounded up to the ms, as Lambda bills).
    pub fn billed_ms(&self) -> u64 {
        self.invocations
            .iter()
            .filter_map(|record| record["billed_duration_ms"].as_u64())
            .sum()
    }

    /// Billed ms per workflow started (the no-work invocation: its billed ms).
    pub fn billed_per_workflow(&self) -> f64 {
        self.billed_ms() as f64 / self.workflows.max(1) as f64
    }

    /// Cold starts among its invocations.
    pub fn cold_starts(&self) -> usize {
        self.outcomes(|record| record["cold"] == true)
    }

    /// Invocations that missed their deadline.
    pub fn lambda_timeouts(&self) -> usize {
        self.outcomes(|record| record["outcome"] == "timeout")
    }

    /// Workflows lost, or not even started.
    pub fn lost_or_not_started(&self) -> usize {
        self.lost.len() + self.start_failures.len()
    }

    /// The floor per workflow (ms): see [`floor`].
    pub fn floor_per_workflow(&self) -> f64 {
        floor::floor_ms(&self.activities, floor::SLOTS) as f64 / self.workflows.max(1) as f64
    }

    fn outcomes(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.invocations
            .iter()
            .filter(|record| matches(record))
            .count()
    }

    /// `10 s server default steady mixed`: which cell this is, for progress and failures.
    pub fn label(&self) -> String {
        format!(
            "{} s {} {} {} {}",
            self.timeout_seconds,
            self.drain.name(),
            self.policy.name(),
            self.load,
            self.mix
        )
    }
}

/// The binaries, and where telemetry goes.
pub struct Tools<'a> {
    /// The fixture function.
    pub fixture: &'a Path,
    /// `temporal-serverless`.
    pub cli: &'a Path,
    /// The OTLP endpoint the fixture exports to (OpenTelemetry on), or `None`.
    pub otel_endpoint: Option<&'a str>,
    /// Where each loop's log (the Lambda service's and the functions' output) is kept.
    pub log_dir: &'a Path,
    /// More environment for the function (e.g. a runtime option to try), in every loop.
    pub function_env: &'a [(String, String)],
}

/// Runs every group of `plan`, one after the other; `stop` (Ctrl-C) ends it early, cells not run
/// marked so. Progress goes to stdout.
pub fn run_plan(plan: &Plan, tools: &Tools<'_>, stop: &AtomicBool) -> Vec<Cell> {
    plan.groups
        .iter()
        .flat_map(|group| {
            println!(
                "bench: {} s timeout, {} drain: {} loads × {} policies",
                group.timeout_seconds,
                group.drain.name(),
                group.loads.len(),
                plan.policies.len()
            );
            run_group(plan, group, tools, stop)
        })
        .collect()
}

fn run_group(plan: &Plan, group: &Group, tools: &Tools<'_>, stop: &AtomicBool) -> Vec<Cell> {
    let rendezvous = Rendezvous::new(plan.policies.len());
    std::thread::scope(|scope| {
        let loops: Vec<_> = plan
            .policies
            .iter()
            .map(|policy| {
                let rendezvous = &rendezvous;
                scope.spawn(move || {
                    let cells = run_policy(plan, group, *policy, tools, rendezvous, stop);
                    rendezvous.leave();
                    cells
                })
            })
            .collect();
        let mut cells: Vec<Cell> = loops
            .into_iter()
            .flat_map(|running| running.join().unwrap_or_default())
            .collect();
        // Load by load, policies in the plan's order.
        let position = |cell: &Cell| {
            let load = group
                .loads
                .iter()
                .position(|load| load.name() == cell.load && load.mix_name() == cell.mix);
            let policy = plan
                .policies
                .iter()
                .position(|policy| *policy == cell.policy);
            (load, policy)
        };
        cells.sort_by_key(position);
        cells
    })
}

/// One policy's loop through the group's loads.
fn run_policy(
    plan: &Plan,
    group: &Group,
    policy: Policy,
    tools: &Tools<'_>,
    rendezvous: &Rendezvous,
    stop: &AtomicBool,
) -> Vec<Cell> {
    let interrupted = |load: &Load| Cell::not_measured(group, load, policy, "interrupted".into());
    if stop.load(Ordering::Relaxed) {
        return group.loads.iter().map(interrupted).collect();
    }
    let log = tools.log_dir.join(format!(
        "{}s-{}-{}.log",
        group.timeout_seconds,
        group.drain.name(),
        policy.name()
    ));
    let started =
        std::panic::catch_unwind(AssertUnwindSafe(|| start_loop(group, policy, tools, &log)))
            .unwrap_or_else(|panic| Err(panic_message(panic)));
    let mut lambda = match started {
        Ok(lambda) => lambda,
        Err(why) => {
            eprintln!(
                "bench: {} s {} {}: the loop did not start: {why}",
                group.timeout_seconds,
                group.drain.name(),
                policy.name()
            );
            return group
                .loads
                .iter()
                .map(|load| Cell::not_measured(group, load, policy, format!("no loop: {why}")))
                .collect();
        }
    };
    let exe = tools
        .fixture
        .canonicalize()
        .unwrap_or_else(|_| tools.fixture.into());
    let mut cells = Vec::new();
    for (index, load) in group.loads.iter().enumerate() {
        rendezvous.wait(RENDEZVOUS_BOUND, stop);
        if stop.load(Ordering::Relaxed) {
            cells.push(interrupted(load));
            continue;
        }
        let measured = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let context = LoadContext {
                plan,
                group,
                policy,
                index,
                exe: &exe,
                stop,
            };
            run_load(&mut lambda, load, &context)
        }));
        let cell = measured
            .unwrap_or_else(|panic| Cell::not_measured(group, load, policy, panic_message(panic)));
        println!("bench: {}", progress_line(&cell));
        cells.push(cell);
    }
    cells
}

/// A loop for `policy`, deployed, its registration invocation ended.
fn start_loop(
    group: &Group,
    policy: Policy,
    tools: &Tools<'_>,
    log: &Path,
) -> Result<LocalLoop, String> {
    let mut setup = LocalLoop::builder(tools.cli, "fixture", tools.fixture)
        .timeout_seconds(group.timeout_seconds)
        .concurrency(CONCURRENCY)
        .task_queue(TASK_QUEUE)
        .log(log);
    if group.drain == Drain::Server {
        setup = setup.server_drain();
    }
    if let Some(idle_exit) = policy.fixture_idle_exit() {
        setup = setup.function_env("FIXTURE_IDLE_EXIT_MS", &idle_exit);
    }
    if let Some(endpoint) = tools.otel_endpoint {
        setup = setup
            .function_env("FIXTURE_OTEL", "1")
            .function_env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    for (name, value) in tools.function_env {
        setup = setup.function_env(name, value);
    }
    let lambda = setup.start();
    lambda.deploy(tools.fixture)?;
    // The record is written when the invocation ends: a held one (hold at 60 s) works 53 s.
    lambda.server.wait_for(
        Duration::from_secs(group.timeout_seconds + 30),
        "the registration invocation's record",
        |_| (!lambda.records().is_empty()).then_some(()),
    );
    let exe = tools
        .fixture
        .canonicalize()
        .unwrap_or_else(|_| tools.fixture.into());
    if !quiesce(&lambda, &exe, quiesce_bound(group)) {
        return Err("the registration invocation did not end".to_owned());
    }
    Ok(lambda)
}

/// What a load runs in.
struct LoadContext<'a> {
    plan: &'a Plan,
    group: &'a Group,
    policy: Policy,
    /// Its place in the group: workflow ids are unique per loop.
    index: usize,
    exe: &'a Path,
    stop: &'a AtomicBool,
}

fn run_load(lambda: &mut LocalLoop, load: &Load, context: &LoadContext<'_>) -> Cell {
    let (group, policy) = (context.group, context.policy);
    let mut cell = Cell::new(group, load, policy);
    let began = Instant::now();
    let (shape, mix, from_cold) = match load {
        Load::NoWork if policy == Policy::Hold => {
            cell.not_measured = Some("holds its whole work time".to_owned());
            return cell;
        }
        Load::NoWork => {
            let baseline = lambda.records().len();
            // Synchronous: answered when the invocation ends (bounded by the function's timeout).
            // Through the version's ARN, as the server invokes (another ARN is guarded again).
            let (status, head, body) =
                lambda
                    .lambda
                    .invoke(&lambda.function_arn, "RequestResponse", json!({}));
            if status != 200 || head.contains("x-amz-function-error") {
                cell.not_measured = Some(format!("the invocation failed: {status} {body}"));
            }
            quiesce(lambda, context.exe, quiesce_bound(group));
            collect_invocations(&mut cell, lambda, baseline);
            if cell.invocations.len() != 1 {
                cell.not_measured = Some(format!(
                    "{} invocations recorded instead of 1",
                    cell.invocations.len()
                ));
            }
            cell.wall = began.elapsed();
            return cell;
        }
        Load::Workflows {
            shape,
            mix,
            from_cold,
            ..
        } => (shape, *mix, *from_cold),
    };
    if from_cold {
        lambda.restart_lambda();
    }
    let baseline = lambda.records().len();
    let mut rng = fastrand::Rng::with_seed(load.seed(context.plan.seed));
    let arrivals = arrivals::arrivals(shape, mix, &format!("bench-{}", context.index), &mut rng);
    cell.workflows = arrivals.len();
    let (_, failures) = arrivals::start_all(&arrivals, &lambda.server, TASK_QUEUE, context.stop);
    let closing = Instant::now();
    while closing.elapsed() < CLOSE_BOUND
        && !context.stop.load(Ordering::Relaxed)
        && arrivals::still_running(&lambda.server) != Some(0)
    {
        std::thread::sleep(Duration::from_millis(250));
    }
    quiesce(lambda, context.exe, quiesce_bound(group));
    cell.wall = began.elapsed();
    let ids: Vec<&str> = arrivals.iter().map(|arrival| arrival.id.as_str()).collect();
    let timings = WorkflowTiming::read_all(&lambda.server, &ids);
    let not_started = arrivals::failed_ids(&failures);
    for (arrival, timing) in arrivals.iter().zip(timings) {
        match timing {
            Some(timing) => {
                let overhead = (timing.start_to_close.as_millis() as u64)
                    .saturating_sub(arrival.activity_millis);
                cell.overhead_ms.push(overhead);
                cell.spent
                    .push((overhead, timing.spent, arrival.activity_millis));
                cell.sticky_timeouts += timing.sticky_task_timeouts;
                for wait in &timing.sticky_waits {
                    cell.sticky_schedulings.push(StickyScheduling {
                        workflow_id: timing.workflow_id.clone(),
                        timeline: timing.timeline.clone(),
                        wait: wait.clone(),
                        owner_state: OwnerState::Unknown,
                    });
                }
                cell.start_to_close_timeouts += timing.started_task_timeouts;
                cell.activity_retries += timing.activity_retries;
                cell.activities
                    .push((timing.started_at_ms, arrival.activity_millis));
            }
            None if not_started.contains(&arrival.id) => {}
            None => cell.lost.push(arrival.id.clone()),
        }
    }
    cell.overhead_ms.sort_unstable();
    cell.start_failures = failures;
    collect_invocations(&mut cell, lambda, baseline);
    cell
}

/// The load's invocations (records after `baseline`) and what the function logged of them.
fn collect_invocations(cell: &mut Cell, lambda: &LocalLoop, baseline: usize) {
    cell.invocations = lambda
        .records()
        .split_off(baseline.min(lambda.records().len()));
    let request_ids: HashSet<String> = cell
        .invocations
        .iter()
        .filter_map(|record| record["request_id"].as_str().map(str::to_owned))
        .collect();
    let log = std::fs::read_to_string(&lambda.log).unwrap_or_default();
    cell.phases = phases::phase_means(&log, &request_ids);
    let lives = Lives::new(&cell.invocations, &log);
    for scheduling in &mut cell.sticky_schedulings {
        scheduling.owner_state = lives.owner_state(&scheduling.wait);
    }
    cell.first_polls = phases::first_polls(&log)
        .into_iter()
        .filter(|poll| request_ids.contains(&poll.request_id))
        .collect();
}

/// The longest an invocation can still last once its work is done: a held one, its work time.
fn quiesce_bound(group: &Group) -> Duration {
    group.work_time() + Duration::from_secs(20)
}

/// Waits until no instance of `lambda`'s service holds an invocation for [`QUIET`], at most
/// `bound`; whether it did.
fn quiesce(lambda: &LocalLoop, exe: &Path, bound: Duration) -> bool {
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    while started.elapsed() < bound {
        if processes::busy_children(lambda.lambda.pid(), exe).is_empty() {
            if quiet_since.get_or_insert_with(Instant::now).elapsed() >= QUIET {
                return true;
            }
        } else {
            quiet_since = None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn progress_line(cell: &Cell) -> String {
    if let Some(why) = &cell.not_measured {
        return format!("{}: not measured ({why})", cell.label());
    }
    format!(
        "{}: {} workflows, {} invocations ({} cold), {:.0} billed ms per workflow, {} lost, {:.0} s",
        cell.label(),
        cell.workflows,
        cell.invocations.len(),
        cell.cold_starts(),
        cell.billed_per_workflow(),
        cell.lost_or_not_started(),
        cell.wall.as_secs_f64()
    )
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Where the loops of a group wait for each other before each load. A loop that ends early
/// leaves, so that the others do not wait for it; a loop waits at most a bound, and not once
/// `stop` is set.
struct Rendezvous {
    state: Mutex<RendezvousState>,
    changed: Condvar,
}

struct RendezvousState {
    parties: usize,
    arrived: usize,
    round: u64,
}

impl Rendezvous {
    fn new(parties: usize) -> Self {
        Self {
            state: Mutex::new(RendezvousState {
                parties,
                arrived: 0,
                round: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn wait(&self, bound: Duration, stop: &AtomicBool) {
        let mut state = self.state.lock().unwrap();
        state.arrived += 1;
        let round = state.round;
        self.release_if_complete(&mut state);
        let started = Instant::now();
        while state.round == round && started.elapsed() < bound && !stop.load(Ordering::Relaxed) {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(200))
                .unwrap()
                .0;
        }
        if state.round == round {
            // Gone on alone: no longer expected in this round.
            state.arrived -= 1;
        }
    }

    fn leave(&self) {
        let mut state = self.state.lock().unwrap();
        state.parties -= 1;
        self.release_if_complete(&mut state);
    }

    fn release_if_complete(&self, state: &mut RendezvousState) {
        if state.arrived >= state.parties && state.arrived > 0 {
            state.arrived = 0;
            state.round += 1;
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn loops_start_each_load_together_and_one_that_leaves_is_not_waited_for() {
        let rendezvous = Arc::new(Rendezvous::new(3));
        let stop = AtomicBool::new(false);
        let order = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for party in 0..3u64 {
                let (rendezvous, stop, order) = (&rendezvous, &stop, &order);
                scope.spawn(move || {
                    for load in 0..3u64 {
                        if party == 2 && load == 1 {
                            rendezvous.leave();
                            return;
                        }
                        rendezvous.wait(Duration::from_secs(10), stop);
                        order.lock().unwrap().push((load, party));
                        // The slow party: the others wait for it.
                        std::thread::sleep(Duration::from_millis(20 * party));
                    }
                    rendezvous.leave();
                });
            }
        });
        let order = order.into_inner().unwrap();
        // Every party passed load n before any passed load n + 1.
        let loads: Vec<u64> = order.iter().map(|(load, _)| *load).collect();
        assert!(loads.windows(2).all(|pair| pair[0] <= pair[1]), "{order:?}");
        assert_eq!(order.len(), 3 + 2 + 2);
    }

    #[test]
    fn a_wait_is_bounded() {
        let rendezvous = Rendezvous::new(2);
        let started = Instant::now();
        rendezvous.wait(Duration::from_millis(300), &AtomicBool::new(false));
        assert!(started.elapsed() < Duration::from_secs(5));
        // Gone on alone: the other party arriving later is not released by a stale count.
        assert_eq!(rendezvous.state.lock().unwrap().arrived, 0);
    }
}
