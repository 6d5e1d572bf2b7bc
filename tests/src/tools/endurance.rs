//! Endurance: one function process serving hundreds or thousands of warm invocations, frozen
//! between them as Lambda freezes an idle execution environment (SIGSTOP after the answer,
//! SIGCONT before the next event). Invocations are mixed: most find no work (the server invoked,
//! another instance took the task), every `workflow_every`-th runs workflows with activities.
//! Threads, open file descriptors and resident memory are sampled from `/proc` as it goes, so a
//! resource that grows per invocation shows as a slope. Shared by `tests/tests/endurance.rs` (in
//! the test run) and the `endurance` tool (`scripts/endurance`, thousands of invocations).

use crate::{
    dev_server::DevServer,
    function_process::FunctionProcess,
    runtime_api::{Outcome, RuntimeApi},
};
use serde_json::{Value, json};
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

/// Deployment and build the fixture function carries.
const DEPLOYMENT: &str = "fixture";

/// An invocation that finds no work: its deadline leaves just over the minimum work time after
/// the default shutdown buffer (graceful 5 s + 2 s), so that it costs about a second.
const IDLE_TIMEOUT: Duration = Duration::from_millis(8_200);
/// An invocation that runs workflows: 3 s of work time, far more than they need.
const WORK_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct Endurance {
    /// Warm invocations after the registration invocation.
    pub invocations: usize,
    /// Every this many invocations, one runs workflows.
    pub workflow_every: usize,
    /// Workflows started before each working invocation (a Greet and a SlowActivity each pair).
    pub workflows_per_invocation: usize,
    /// A sample of the process every this many invocations.
    pub sample_every: usize,
    /// Freeze the process between invocations, as Lambda does.
    pub freeze: bool,
    /// The task queue (one per run, so runs do not share work).
    pub task_queue: String,
}

impl Endurance {
    /// `invocations` warm invocations, one in five running two workflows, sampled every 25,
    /// frozen in between.
    pub fn new(invocations: usize, task_queue: &str) -> Self {
        Self {
            invocations,
            workflow_every: 5,
            workflows_per_invocation: 2,
            sample_every: 25,
            freeze: true,
            task_queue: task_queue.to_owned(),
        }
    }
}

/// The process's resources after some invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Invocations answered so far (warm ones; the registration invocation not counted).
    pub invocations: usize,
    /// OS threads (`/proc/PID/task`).
    pub threads: usize,
    /// Open file descriptors (`/proc/PID/fd`).
    pub fds: usize,
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kib: u64,
}

impl Sample {
    /// Reads the process's numbers now.
    pub fn of(pid: u32, invocations: usize) -> Self {
        let count = |dir: &str| {
            std::fs::read_dir(format!("/proc/{pid}/{dir}"))
                .map(|entries| entries.count())
                .unwrap_or(0)
        };
        let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0);
        Self {
            invocations,
            threads: count("task"),
            fds: count("fd"),
            rss_kib,
        }
    }
}

/// Samples after warm-up below which flatness cannot be judged.
const MIN_WARM_SAMPLES: usize = 5;

/// How much the process varied after warm-up.
#[derive(Debug, Clone, Copy)]
pub struct Flatness {
    /// Most minus fewest threads.
    pub threads: i64,
    /// Most minus fewest open file descriptors.
    pub fds: i64,
    /// Last minus first resident memory, KiB.
    pub rss_growth_kib: i64,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct EnduranceReport {
    /// Samples in order, the first right after the registration invocation.
    pub samples: Vec<Sample>,
    /// Invocations that did not answer with a response (request id, outcome).
    pub failures: Vec<(String, String)>,
    /// Workflows started, and those completed by the end.
    pub workflows_started: usize,
    /// Workflows completed by the end.
    pub workflows_completed: usize,
    /// Durations of the warm invocations that found no work / ran workflows, milliseconds.
    pub idle_ms: Vec<u64>,
    /// See `idle_ms`.
    pub working_ms: Vec<u64>,
    /// The function's output, for diagnosis.
    pub output: String,
}

impl EnduranceReport {
    /// The samples from `warm_up` invocations on: after the caches, pools and the connection
    /// have reached their size.
    pub fn after_warm_up(&self, warm_up: usize) -> Vec<Sample> {
        self.samples
            .iter()
            .copied()
            .filter(|sample| sample.invocations >= warm_up)
            .collect()
    }

    /// Whether the process stayed flat from `warm_up` invocations on: threads and open files
    /// within 3, resident memory grown by at most 2 MB. An error says what grew, or that too few
    /// samples were taken to tell.
    pub fn flatness(&self, warm_up: usize) -> Result<Flatness, String> {
        let warm = self.after_warm_up(warm_up);
        if warm.len() < MIN_WARM_SAMPLES {
            return Err(format!(
                "{} samples after {warm_up} invocations; at least {MIN_WARM_SAMPLES} are needed to tell",
                warm.len()
            ));
        }
        let flatness = Flatness {
            threads: Self::spread(&warm, |sample| sample.threads as i64),
            fds: Self::spread(&warm, |sample| sample.fds as i64),
            rss_growth_kib: warm[warm.len() - 1].rss_kib as i64 - warm[0].rss_kib as i64,
        };
        if flatness.threads > 3 || flatness.fds > 3 || flatness.rss_growth_kib > 2048 {
            return Err(format!(
                "not flat after {warm_up} invocations: {flatness:?}"
            ));
        }
        Ok(flatness)
    }

    /// Largest minus smallest of `field` over `samples`.
    pub fn spread(samples: &[Sample], field: impl Fn(&Sample) -> i64) -> i64 {
        let values: Vec<i64> = samples.iter().map(field).collect();
        values.iter().max().copied().unwrap_or(0) - values.iter().min().copied().unwrap_or(0)
    }

    /// The samples as a table.
    pub fn table(&self) -> String {
        let mut table = String::from("invocations  threads  fds  rss_mib\n");
        for sample in &self.samples {
            table.push_str(&format!(
                "{:>11}  {:>7}  {:>3}  {:>7.2}\n",
                sample.invocations,
                sample.threads,
                sample.fds,
                sample.rss_kib as f64 / 1024.0
            ));
        }
        table
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        json!({
            "samples": self.samples.iter().map(|sample| json!({
                "invocations": sample.invocations,
                "threads": sample.threads,
                "fds": sample.fds,
                "rss_kib": sample.rss_kib,
            })).collect::<Vec<_>>(),
            "failures": self.failures.len(),
            "workflows_started": self.workflows_started,
            "workflows_completed": self.workflows_completed,
            "idle_invocation_ms_p50": median(&self.idle_ms),
            "working_invocation_ms_p50": median(&self.working_ms),
        })
    }
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    super::percentile(&sorted, 0.5)
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {name} {pid} failed");
}

/// Runs `plan` against a fresh dev server with the function binary `fixture` (a
/// `#[serverless_worker]` of the fixture deployment, built with `build_id`). `progress` is called
/// with every sample as it is taken.
pub fn run(
    fixture: &Path,
    build_id: &str,
    plan: &Endurance,
    mut progress: impl FnMut(&Sample),
) -> EnduranceReport {
    let server = DevServer::start_default();
    let api = RuntimeApi::start();
    let function = FunctionProcess::of(fixture)
        .server(&server.address)
        .task_queue(&plan.task_queue)
        // No Worker Controller on this server: the version is registered by polling.
        .guard_off()
        // Invocations end soon after their work, as the defaults would, only sooner.
        .env("FIXTURE_IDLE_EXIT_MS", "50")
        .env("RUST_LOG", "warn")
        .spawn(&api);
    let pid = function.pid();
    let mut report = EnduranceReport::default();
    let registration = api.invoke(json!({}), WORK_TIMEOUT);
    assert!(
        matches!(registration.outcome, Outcome::Response(_)),
        "registration invocation: {:?}\n{}",
        registration.outcome,
        function.output()
    );
    server.make_current(DEPLOYMENT, build_id);
    let sample = Sample::of(pid, 0);
    progress(&sample);
    report.samples.push(sample);
    let mut pending: Vec<String> = Vec::new();
    for number in 1..=plan.invocations {
        let working = number % plan.workflow_every == 0;
        if working {
            for index in 0..plan.workflows_per_invocation {
                let id = format!("{}-{number}-{index}", plan.task_queue);
                let (workflow_type, input) = if index % 2 == 0 {
                    ("Greet", "\"Endurance\"")
                } else {
                    ("SlowActivity", "200")
                };
                server
                    .start_workflow(&plan.task_queue, workflow_type, &id, input)
                    .expect("the workflow starts");
                pending.push(id);
                report.workflows_started += 1;
            }
        }
        if plan.freeze {
            signal(pid, "CONT");
        }
        let started = Instant::now();
        let invocation = api.invoke(json!({}), if working { WORK_TIMEOUT } else { IDLE_TIMEOUT });
        let elapsed = started.elapsed().as_millis() as u64;
        if plan.freeze {
            signal(pid, "STOP");
        }
        if working {
            report.working_ms.push(elapsed);
        } else {
            report.idle_ms.push(elapsed);
        }
        if !matches!(invocation.outcome, Outcome::Response(_)) {
            report
                .failures
                .push((invocation.request_id, format!("{:?}", invocation.outcome)));
        }
        if number % plan.sample_every == 0 {
            let sample = Sample::of(pid, number);
            progress(&sample);
            report.samples.push(sample);
        }
    }
    if plan.freeze {
        signal(pid, "CONT");
    }
    // Work a working invocation left (an activity's retry, a task it could not finish) is
    // finished by a few more invocations, as the server would invoke for it.
    for _ in 0..5 {
        pending.retain(|id| !server.is_completed(id));
        if pending.is_empty() {
            break;
        }
        let _ = api.invoke(json!({}), WORK_TIMEOUT);
    }
    pending.retain(|id| !server.is_completed(id));
    report.workflows_completed = report.workflows_started - pending.len();
    report.output = function.output();
    report
}
