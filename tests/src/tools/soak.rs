//! The chaos soak (`scripts/soak`, and its short version in `tests/tests/soak.rs`): workflows
//! arriving at random (Poisson) moments on the whole local loop, with activities shorter and
//! longer than an invocation's work time, while busy function processes are SIGKILLed and their
//! connections to the server reset through a [`TcpProxy`]. Everything is read back from the
//! server's histories and the Lambda service's records, and checked against the targets.

use super::{
    arrivals::{self, MIXED_MILLIS, Mix, Shape},
    percentile,
    targets::Target,
};
use crate::{
    local_loop::LocalLoop, processes, tcp_proxy::TcpProxy, workflow_timing::WorkflowTiming,
};
use serde_json::{Value, json};
use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// The task queue the soak's function serves.
pub const TASK_QUEUE: &str = "soak-q";

/// p99 of completion overhead (start → close minus the activity's own time) the soak aims at:
/// one function timeout of 10 s plus a little.
pub const P99_OVERHEAD_TARGET_MS: u64 = 10_500;

/// One soak scenario.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Mean workflow arrivals per second.
    pub rate_per_second: f64,
    /// How long workflows arrive; `rate × duration` workflows are started.
    pub duration: Duration,
    /// The function's timeout.
    pub function_timeout_seconds: u64,
    /// The function's concurrency limit.
    pub concurrency: usize,
    /// SIGKILL one busy function process this often while workflows arrive.
    pub kill_every: Option<Duration>,
    /// Reset every function ↔ server connection this often while workflows arrive.
    pub cut_every: Option<Duration>,
    /// End invocations by the server-driven drain (opted in, on single-partition task queues:
    /// `LoopBuilder::server_drain`) instead of the default poll-deadline drain.
    pub server_drain: bool,
    /// Seeds arrivals, activity durations and which busy process is killed.
    pub seed: u64,
    /// How long after the last arrival every workflow may take to close.
    pub close_timeout: Duration,
}

impl SoakConfig {
    /// The full scenario: 2.5 workflows/s for 120 s (300), 10 s function timeout, concurrency
    /// 10, a busy process killed every 15 s, connections cut every 40 s.
    pub fn full() -> Self {
        Self {
            rate_per_second: 2.5,
            duration: Duration::from_secs(120),
            function_timeout_seconds: 10,
            concurrency: 10,
            kill_every: Some(Duration::from_secs(15)),
            cut_every: Some(Duration::from_secs(40)),
            server_drain: false,
            seed: fastrand::u64(..),
            close_timeout: Duration::from_secs(120),
        }
    }

    /// The short version for CI: 75 workflows over ~30 s, kills every 8 s and cuts every 12 s
    /// (≥ 2 kills, ≥ 1 cut).
    pub fn quick() -> Self {
        Self {
            duration: Duration::from_secs(30),
            kill_every: Some(Duration::from_secs(8)),
            cut_every: Some(Duration::from_secs(12)),
            ..Self::full()
        }
    }

    /// The same scenario with no fault injected.
    pub fn without_faults(self) -> Self {
        Self {
            kill_every: None,
            cut_every: None,
            ..self
        }
    }

    /// Whether any fault is injected.
    pub fn faults(&self) -> bool {
        self.kill_every.is_some() || self.cut_every.is_some()
    }

    /// How many workflows the scenario starts.
    pub fn workflows(&self) -> usize {
        (self.rate_per_second * self.duration.as_secs_f64()).round() as usize
    }

    fn json(&self) -> Value {
        json!({
            "rate_per_second": self.rate_per_second,
            "duration_s": self.duration.as_secs_f64(),
            "workflows": self.workflows(),
            "function_timeout_s": self.function_timeout_seconds,
            "concurrency": self.concurrency,
            "kill_every_s": self.kill_every.map(|every| every.as_secs_f64()),
            "cut_every_s": self.cut_every.map(|every| every.as_secs_f64()),
            "server_drain": self.server_drain,
            "seed": self.seed,
            "activity_millis": MIXED_MILLIS,
        })
    }
}

/// What a soak measured.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The scenario.
    pub config: SoakConfig,
    /// Workflows started.
    pub started: usize,
    /// Workflows the CLI failed to start, with the error.
    pub start_failures: Vec<String>,
    /// Workflows completed.
    pub completed: usize,
    /// Started workflows not completed within the close timeout.
    pub lost: Vec<String>,
    /// Per completed workflow, start → close minus its activity's own time (ms), sorted.
    pub overhead_ms: Vec<u64>,
    /// Workflow-task timeouts of kind schedule-to-start (a sticky queue's fallback).
    pub sticky_task_timeouts: usize,
    /// Workflow-task timeouts of kind start-to-close (a started task never answered: a stall).
    pub started_task_timeouts: usize,
    /// Schedule-to-start workflow-task timeouts by the workflow's activity duration (ms): whether
    /// they follow activities that outlive an invocation's work time.
    pub sticky_by_activity_ms: std::collections::BTreeMap<u64, usize>,
    /// Workflows with a start-to-close workflow-task timeout, each with which invocation started
    /// the task and when (to be found in [`SoakReport::log`]).
    pub stalled_workflows: Vec<String>,
    /// Activity attempts beyond the first.
    pub activity_retries: usize,
    /// Invocations during the run (the registration invocation excluded).
    pub invocations: usize,
    /// Invocations that missed their deadline.
    pub lambda_timeouts: usize,
    /// Invocations whose process died (the kills, and anything else).
    pub crashes: usize,
    /// Billed milliseconds of those invocations.
    pub billed_ms: u64,
    /// Busy processes SIGKILLed.
    pub kills: usize,
    /// Connection cuts.
    pub cuts: usize,
    /// Connections reset by the cuts.
    pub reset_connections: u64,
    /// Connections the proxy accepted.
    pub proxied_connections: u64,
    /// From the first arrival to the last.
    pub arrival_time: Duration,
    /// The Lambda service's and the functions' output.
    pub log: PathBuf,
}

impl SoakReport {
    /// Workflow-task timeouts of both kinds.
    pub fn task_timeouts(&self) -> usize {
        self.sticky_task_timeouts + self.started_task_timeouts
    }

    /// Every target, met or not.
    pub fn targets(&self) -> Vec<Target> {
        let lost = self.lost.len() + self.start_failures.len();
        let p99 = percentile(&self.overhead_ms, 0.99);
        let allowed_task_timeouts = self.kills + self.cuts;
        vec![
            Target {
                name: "lost workflows".to_owned(),
                value: lost.to_string(),
                goal: "0".to_owned(),
                met: lost == 0,
                correctness: true,
            },
            Target {
                name: "Lambda timeouts".to_owned(),
                value: self.lambda_timeouts.to_string(),
                goal: "0".to_owned(),
                met: self.lambda_timeouts == 0,
                correctness: true,
            },
            // A task stranded until its start-to-close timeout is one the runtime lost track of.
            // Release runs on a quiet machine meet this; a debug run with a release build beside
            // it stranded one without faults, so it is reported, not yet asserted by the test run.
            Target {
                name: "stalled workflow tasks (start-to-close timeouts)".to_owned(),
                value: self.started_task_timeouts.to_string(),
                goal: if self.config.faults() {
                    format!("≤ kills + cuts = {allowed_task_timeouts}")
                } else {
                    "0 (no faults)".to_owned()
                },
                met: self.started_task_timeouts <= allowed_task_timeouts,
                correctness: false,
            },
            // With the sticky queue's 1 s fallback as well: the target, not met yet (the
            // fallback fires for tasks sent to a worker's sticky queue while its invocation
            // drains), so reported, not asserted by the test run.
            Target {
                name: "workflow-task timeouts (with the sticky fallback)".to_owned(),
                value: self.task_timeouts().to_string(),
                goal: if self.config.faults() {
                    format!("≤ kills + cuts = {allowed_task_timeouts}")
                } else {
                    "0 (no faults)".to_owned()
                },
                met: self.task_timeouts() <= allowed_task_timeouts,
                correctness: false,
            },
            Target {
                name: "p99 completion overhead (ms)".to_owned(),
                value: p99.to_string(),
                goal: format!("≤ {P99_OVERHEAD_TARGET_MS}"),
                met: p99 <= P99_OVERHEAD_TARGET_MS,
                correctness: false,
            },
        ]
    }

    /// The loss and correctness targets missed, as readable lines (empty: all met).
    pub fn correctness_failures(&self) -> Vec<String> {
        self.targets()
            .into_iter()
            .filter(|target| target.correctness && !target.met)
            .map(|target| target.line())
            .collect()
    }

    /// Whether every target, timing included, was met.
    pub fn all_met(&self) -> bool {
        self.targets().iter().all(|target| target.met)
    }

    /// The figures and the targets as a Markdown table.
    pub fn table(&self) -> String {
        let config = &self.config;
        let overhead = &self.overhead_ms;
        let mut rows = vec![
            format!(
                "| scenario | {} workflows over {:.0} s, timeout {} s, concurrency {}, {}, {}, seed {} | |",
                self.started,
                self.arrival_time.as_secs_f64(),
                config.function_timeout_seconds,
                config.concurrency,
                if config.faults() {
                    format!(
                        "kill every {}, cut every {}",
                        config
                            .kill_every
                            .map_or("never".to_owned(), |every| format!("{every:?}")),
                        config
                            .cut_every
                            .map_or("never".to_owned(), |every| format!("{every:?}"))
                    )
                } else {
                    "no faults".to_owned()
                },
                if config.server_drain {
                    "server-driven drain"
                } else {
                    "poll-deadline drain"
                },
                config.seed
            ),
            format!(
                "| completed / lost (not started) | {} / {} ({}) | |",
                self.completed,
                self.lost.len(),
                self.start_failures.len()
            ),
            format!(
                "| completion overhead p50 / p90 / p99 / max (ms) | {} / {} / {} / {} | |",
                percentile(overhead, 0.5),
                percentile(overhead, 0.9),
                percentile(overhead, 0.99),
                overhead.last().copied().unwrap_or(0)
            ),
            format!(
                "| workflow-task timeouts: sticky schedule-to-start / start-to-close | {} / {} | |",
                self.sticky_task_timeouts, self.started_task_timeouts
            ),
            format!(
                "| schedule-to-start timeouts by activity ms | {} | |",
                self.sticky_by_activity_ms
                    .iter()
                    .map(|(millis, count)| format!("{millis}: {count}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("| activity retries | {} | |", self.activity_retries),
            format!(
                "| invocations (crashed) | {} ({}) | |",
                self.invocations, self.crashes
            ),
            format!(
                "| billed ms (per workflow) | {} ({:.0}) | |",
                self.billed_ms,
                self.billed_ms as f64 / self.started.max(1) as f64
            ),
            format!(
                "| kills / cuts (connections reset, accepted) | {} / {} ({}, {}) | |",
                self.kills, self.cuts, self.reset_connections, self.proxied_connections
            ),
        ];
        rows.extend(self.targets().iter().map(Target::row));
        let mut table = "| measure | value | target |\n|---|---|---|\n".to_owned();
        table.push_str(&rows.join("\n"));
        table.push('\n');
        table
    }

    /// The figures as JSON.
    pub fn json(&self) -> Value {
        let overhead = &self.overhead_ms;
        json!({
            "config": self.config.json(),
            "started": self.started,
            "start_failures": self.start_failures,
            "completed": self.completed,
            "lost": self.lost,
            "completion_overhead_ms": {
                "p50": percentile(overhead, 0.5),
                "p90": percentile(overhead, 0.9),
                "p99": percentile(overhead, 0.99),
                "max": overhead.last(),
            },
            "workflow_task_timeouts": {
                "sticky_schedule_to_start": self.sticky_task_timeouts,
                "start_to_close": self.started_task_timeouts,
            },
            "sticky_timeouts_by_activity_ms": self.sticky_by_activity_ms,
            "stalled_workflows": self.stalled_workflows,
            "activity_retries": self.activity_retries,
            "invocations": self.invocations,
            "lambda_timeouts": self.lambda_timeouts,
            "crashes": self.crashes,
            "billed_ms": self.billed_ms,
            "kills": self.kills,
            "cuts": self.cuts,
            "reset_connections": self.reset_connections,
            "proxied_connections": self.proxied_connections,
            "arrival_s": self.arrival_time.as_secs_f64(),
            "targets": self.targets().iter().map(Target::json).collect::<Vec<_>>(),
        })
    }
}

/// Runs `config` on a fresh local loop hosting `fixture` (the fixture function) through `cli`
/// (`temporal-serverless`); progress goes to stdout. `Err` if the loop could not be set up.
pub fn run(config: &SoakConfig, fixture: &Path, cli: &Path) -> Result<SoakReport, String> {
    let log = std::env::temp_dir().join(format!(
        "tsls-soak-{}-{}.log",
        std::process::id(),
        crate::free_port()
    ));
    let proxy: OnceLock<TcpProxy> = OnceLock::new();
    let through_proxy = |server: &str| -> String {
        proxy
            .get_or_init(|| TcpProxy::start(server))
            .address()
            .to_owned()
    };
    println!(
        "soak: seed {} — starting the dev server, the local Lambda service and the proxy",
        config.seed
    );
    let mut setup = LocalLoop::builder(cli, "fixture", fixture)
        .timeout_seconds(config.function_timeout_seconds)
        .concurrency(config.concurrency)
        .task_queue(TASK_QUEUE)
        .log(&log)
        .function_address(&through_proxy);
    if config.server_drain {
        setup = setup.server_drain();
    }
    let lambda = setup.start();
    let proxy = proxy
        .get()
        .expect("the loop asked for the functions' address");
    lambda.deploy(fixture)?;
    lambda.server.wait_for(
        Duration::from_secs(30),
        "the registration invocation's record",
        |_| (!lambda.records().is_empty()).then_some(()),
    );
    let baseline = lambda.records().len();

    let mut rng = fastrand::Rng::with_seed(config.seed);
    let arrivals = arrivals::arrivals(
        &Shape::Poisson {
            rate: config.rate_per_second,
            count: config.workflows(),
        },
        Mix::Mixed,
        &format!("soak-{}", config.seed),
        &mut rng,
    );
    let last_arrival = arrivals.last().map_or(Duration::ZERO, |arrival| arrival.at);
    println!(
        "soak: {} workflows over {:.0} s",
        arrivals.len(),
        last_arrival.as_secs_f64()
    );
    let starts = arrivals::Starts::default();
    let (mut kills, mut cuts) = (0, 0);
    let fixture_exe = fixture.canonicalize().unwrap_or_else(|_| fixture.into());
    let began = Instant::now();
    std::thread::scope(|scope| {
        let mut pending = arrivals.iter().peekable();
        let mut next_kill = config.kill_every;
        let mut kill_due = false;
        let mut next_cut = config.cut_every;
        loop {
            let now = began.elapsed();
            arrivals::start_due(
                scope,
                &mut pending,
                now,
                &lambda.server,
                TASK_QUEUE,
                &starts,
            );
            if let Some(at) = next_kill.filter(|at| *at <= now && *at <= last_arrival) {
                if kill_due {
                    println!("soak: {now:.1?} no busy function process to kill since the last");
                }
                kill_due = true;
                next_kill = config.kill_every.map(|every| at + every);
            }
            if kill_due {
                let busy = busy_processes(&lambda.log_text(), &answered(&lambda), &fixture_exe);
                if let Some(victim) = rng.choice(busy.iter()) {
                    let killed = Command::new("kill")
                        .args(["-s", "KILL", &victim.pid.to_string()])
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|status| status.success());
                    if killed {
                        kills += 1;
                        kill_due = false;
                        println!(
                            "soak: {now:.1?} SIGKILL pid {} (invocation {}, one of {} busy)",
                            victim.pid,
                            victim.request_id,
                            busy.len()
                        );
                    }
                }
            }
            if let Some(at) = next_cut.filter(|at| *at <= now && *at <= last_arrival) {
                let reset = proxy.cut_all();
                cuts += 1;
                next_cut = config.cut_every.map(|every| at + every);
                println!("soak: {now:.1?} cut {reset} connections");
            }
            let faults_left = next_kill.is_some_and(|at| at <= last_arrival)
                || next_cut.is_some_and(|at| at <= last_arrival);
            if pending.peek().is_none() && !faults_left {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let arrival_time = began.elapsed();

    println!(
        "soak: waiting (at most {:?}) for every workflow to close",
        config.close_timeout
    );
    let closing = Instant::now();
    while closing.elapsed() < config.close_timeout
        && arrivals::still_running(&lambda.server) != Some(0)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    // Invocations still running end within their timeout; a timeout is recorded only then.
    let settling = Instant::now();
    let settle_bound = Duration::from_secs(config.function_timeout_seconds + 3);
    while settling.elapsed() < settle_bound
        && !busy_processes(&lambda.log_text(), &answered(&lambda), &fixture_exe).is_empty()
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));

    println!("soak: reading {} histories", arrivals.len());
    let ids: Vec<&str> = arrivals.iter().map(|arrival| arrival.id.as_str()).collect();
    let timings = WorkflowTiming::read_all(&lambda.server, &ids);
    let records = lambda.records().split_off(baseline);
    let start_failures = starts.into_failures();
    let failed_ids = arrivals::failed_ids(&start_failures);
    let mut report = SoakReport {
        config: config.clone(),
        started: arrivals.len() - start_failures.len(),
        completed: 0,
        lost: Vec::new(),
        overhead_ms: Vec::new(),
        sticky_task_timeouts: 0,
        started_task_timeouts: 0,
        sticky_by_activity_ms: Default::default(),
        stalled_workflows: Vec::new(),
        activity_retries: 0,
        invocations: records.len(),
        lambda_timeouts: outcomes(&records, "timeout"),
        crashes: outcomes(&records, "crash"),
        billed_ms: records
            .iter()
            .filter_map(|record| record["billed_duration_ms"].as_u64())
            .sum(),
        kills,
        cuts,
        reset_connections: proxy.reset_connections(),
        proxied_connections: proxy.accepted(),
        arrival_time,
        log,
        start_failures,
    };
    for (arrival, timing) in arrivals.iter().zip(timings) {
        match timing {
            Some(timing) => {
                report.completed += 1;
                report.overhead_ms.push(
                    (timing.start_to_close.as_millis() as u64)
                        .saturating_sub(arrival.activity_millis),
                );
                report.sticky_task_timeouts += timing.sticky_task_timeouts;
                if timing.sticky_task_timeouts > 0 {
                    *report
                        .sticky_by_activity_ms
                        .entry(arrival.activity_millis)
                        .or_default() += timing.sticky_task_timeouts;
                }
                report.started_task_timeouts += timing.started_task_timeouts;
                report.activity_retries += timing.activity_retries;
                if timing.started_task_timeouts > 0 {
                    report
                        .stalled_workflows
                        .push(stall_details(&lambda, &arrival.id));
                }
            }
            None if failed_ids.contains(&arrival.id) => {}
            None => report.lost.push(arrival.id.clone()),
        }
    }
    report.overhead_ms.sort_unstable();
    Ok(report)
}

/// `<id>: <the timed-out tasks: when started, by which invocation, when timed out>`.
fn stall_details(lambda: &LocalLoop, id: &str) -> String {
    let Ok(history) = lambda
        .server
        .cli_json(&["workflow", "show", "--workflow-id", id])
    else {
        return id.to_owned();
    };
    let events = history["events"].as_array().cloned().unwrap_or_default();
    let time = |event: &Value| {
        chrono::DateTime::parse_from_rfc3339(event["eventTime"].as_str().unwrap_or_default()).ok()
    };
    let began = events.first().and_then(time);
    let since_start = |event: &Value| match (began, time(event)) {
        (Some(began), Some(at)) => format!("+{} ms", (at - began).num_milliseconds()),
        _ => "?".to_owned(),
    };
    let stalls: Vec<String> = events
        .iter()
        .filter(|event| {
            event["workflowTaskTimedOutEventAttributes"]["timeoutType"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("START_TO_CLOSE"))
        })
        .map(|timed_out| {
            let started_id = &timed_out["workflowTaskTimedOutEventAttributes"]["startedEventId"];
            let started = events.iter().find(|event| event["eventId"] == *started_id);
            format!(
                "task started {} by {}, timed out {}",
                started.map_or("?".to_owned(), since_start),
                started
                    .and_then(
                        |event| event["workflowTaskStartedEventAttributes"]["identity"].as_str()
                    )
                    .and_then(|identity| identity.split('@').next())
                    .unwrap_or("?"),
                since_start(timed_out)
            )
        })
        .collect();
    format!("{id}: {}", stalls.join("; "))
}

/// Request ids of every invocation the Lambda service has recorded (recorded when it ends).
fn answered(lambda: &LocalLoop) -> HashSet<String> {
    lambda
        .records()
        .iter()
        .filter_map(|record| record["request_id"].as_str().map(str::to_owned))
        .collect()
}

fn outcomes(records: &[Value], outcome: &str) -> usize {
    records
        .iter()
        .filter(|record| record["outcome"] == outcome)
        .count()
}

/// A function process serving an invocation.
#[derive(Debug, Clone)]
pub struct BusyProcess {
    /// Its PID.
    pub pid: u32,
    /// The invocation it serves.
    pub request_id: String,
}

/// The function processes that hold an invocation now.
///
/// The Lambda service logs `lambda: <function> <request id> START instance=… pid=<pid>` when it
/// hands an invocation over and records the invocation when it ends (`answered`). A process is
/// busy when its last START is not answered yet and it is not stopped (a frozen instance is
/// idle). Only processes running `fixture_exe` are considered: the pid is checked to be one.
pub fn busy_processes(
    service_log: &str,
    answered: &HashSet<String>,
    fixture_exe: &Path,
) -> Vec<BusyProcess> {
    let mut last_start: HashMap<u32, String> = HashMap::new();
    for line in service_log.lines() {
        if let Some((pid, request_id)) = started(line) {
            last_start.insert(pid, request_id);
        }
    }
    let running: HashSet<u32> = processes::running(fixture_exe).into_iter().collect();
    let mut busy: Vec<BusyProcess> = last_start
        .into_iter()
        .filter(|(pid, request_id)| {
            !answered.contains(request_id)
                && running.contains(pid)
                && !processes::stopped_or_gone(*pid)
        })
        .map(|(pid, request_id)| BusyProcess { pid, request_id })
        .collect();
    busy.sort_by_key(|process| process.pid);
    busy
}

/// `(pid, request id)` of a Lambda service START line.
fn started(line: &str) -> Option<(u32, String)> {
    let line = crate::strip_ansi(line);
    let mut words = line.split_whitespace();
    if words.next()? != "lambda:" {
        return None;
    }
    let request_id = words.nth(1)?.to_owned();
    if words.next()? != "START" {
        return None;
    }
    let pid = words
        .find_map(|word| word.strip_prefix("pid="))?
        .parse()
        .ok()?;
    Some((pid, request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_line_names_the_invocation_and_its_process() {
        let id = "0a1b2c3d-0001-4abc-8def-000000000001";
        assert_eq!(
            started(&format!("lambda: soak {id} START instance=ab-1 pid=4242")),
            Some((4242, id.to_owned()))
        );
        assert_eq!(
            started(&format!("lambda: soak {id} START instance=ab-1 pid=?")),
            None
        );
        assert_eq!(
            started(&format!(
                "lambda: soak {id} success instance=ab-1 warm duration=1.0ms"
            )),
            None
        );
    }

    #[test]
    fn the_quick_scenario_has_enough_workflows_and_faults() {
        let quick = SoakConfig::quick();
        assert!(quick.workflows() >= 60);
        let first_arrival_bound = quick.duration.as_secs_f64() * 0.8;
        assert!(quick.kill_every.unwrap().as_secs_f64() * 2.0 <= first_arrival_bound);
        assert!(quick.cut_every.unwrap().as_secs_f64() <= first_arrival_bound);
    }

    #[test]
    fn task_timeouts_are_allowed_only_for_faults() {
        let report = |kills, cuts, sticky, started, faults: bool| {
            let config = if faults {
                SoakConfig::quick()
            } else {
                SoakConfig::quick().without_faults()
            };
            SoakReport {
                config,
                started: 1,
                start_failures: Vec::new(),
                completed: 1,
                lost: Vec::new(),
                overhead_ms: vec![100],
                sticky_task_timeouts: sticky,
                started_task_timeouts: started,
                sticky_by_activity_ms: Default::default(),
                stalled_workflows: Vec::new(),
                activity_retries: 0,
                invocations: 1,
                lambda_timeouts: 0,
                crashes: 0,
                billed_ms: 1,
                kills,
                cuts,
                reset_connections: 0,
                proxied_connections: 0,
                arrival_time: Duration::ZERO,
                log: PathBuf::new(),
            }
        };
        assert!(report(2, 1, 2, 1, true).all_met());
        // Task timeouts beyond the faults miss the targets (the script's verdict); only loss
        // and Lambda timeouts fail the test run.
        assert!(!report(1, 1, 0, 3, true).all_met());
        assert!(report(1, 1, 0, 3, true).correctness_failures().is_empty());
        assert!(!report(1, 1, 3, 0, true).all_met());
        assert!(!report(0, 0, 0, 1, false).all_met());
        assert!(!report(0, 0, 1, 0, false).all_met());
        assert!(report(0, 0, 0, 0, false).all_met());
        assert!(report(0, 0, 0, 0, false).table().contains("PASS"));
    }
}
