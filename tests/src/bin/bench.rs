//! The benchmark (`scripts/bench`): the whole serverless loop on this machine with a release
//! build — the real dev server invokes the fixture function through our local Lambda service —
//! measured from the service's invocation records, the function's own log and the server's
//! workflow histories. Prints a table and writes JSON.
//!
//! `bench <fixture_function> <temporal-serverless CLI> <json out>`

use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};
use temporal_serverless_tests::{
    local_loop::{LocalLoop, LoopExtras},
    logged_numbers,
    otlp_receiver::OtlpReceiver,
    percentile, strip_ansi,
    workflow_timing::WorkflowTiming,
};

const TASK_QUEUE: &str = "bench-q";
const TIMEOUT_SECONDS: u64 = 30;
/// Instances idle longer than this are reclaimed, so that waiting a little longer gives a cold
/// start.
const KEEP_WARM_SECONDS: u64 = 8;
const BURST: usize = 40;
/// Idle window (500 ms by default) + drain (≤ 1.5 s) + slack: after this, every invocation has
/// ended; shorter than the keep-warm time, so the next invocation is warm.
const SETTLE: Duration = Duration::from_secs(5);

/// What one scenario measured.
struct Scenario {
    name: &'static str,
    timings: Vec<WorkflowTiming>,
    invocations: Vec<Value>,
}

impl Scenario {
    fn start_to_close_ms(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self
            .timings
            .iter()
            .map(|timing| timing.start_to_close.as_millis() as u64)
            .collect();
        all.sort_unstable();
        all
    }

    fn billed_ms(&self) -> u64 {
        self.invocations
            .iter()
            .filter_map(|record| record["billed_duration_ms"].as_u64())
            .sum()
    }

    fn json(&self) -> Value {
        let times = self.start_to_close_ms();
        json!({
            "workflows": self.timings.len(),
            "start_to_close_ms": {
                "p50": percentile(&times, 0.5),
                "p90": percentile(&times, 0.9),
                "max": times.last(),
            },
            "invocations": self.invocations.len(),
            "cold_invocations": self.invocations.iter().filter(|record| record["cold"] == true).count(),
            "billed_ms": self.billed_ms(),
            "billed_ms_per_workflow": self.billed_ms() as f64 / self.timings.len().max(1) as f64,
        })
    }
}

/// `first poll sent` lines of the function's log: request id → µs since the invocation started
/// and since the process started.
fn first_polls(log: &Path) -> Vec<(String, u64, Option<u64>)> {
    let raw = std::fs::read_to_string(log).unwrap_or_default();
    let text = strip_ansi(&raw);
    let field = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!("{name}="))? + name.len() + 1;
        Some(
            line[start..]
                .split(|c: char| c.is_whitespace() || c == '}' || c == ',')
                .next()?
                .trim_matches('"')
                .to_owned(),
        )
    };
    text.lines()
        .filter(|line| line.contains("first poll sent"))
        .filter_map(|line| {
            Some((
                field(line, "request_id")?,
                field(line, "since_invocation_start_us")?.parse().ok()?,
                field(line, "since_process_start_us").and_then(|us| us.parse().ok()),
            ))
        })
        .collect()
}

struct Bench {
    lambda: LocalLoop,
    log: PathBuf,
    next_id: usize,
}

impl Bench {
    fn start_workflows(&mut self, count: usize) -> Vec<String> {
        let ids: Vec<String> = (0..count)
            .map(|n| format!("bench-{}", self.next_id + n))
            .collect();
        self.next_id += count;
        let server = &self.lambda.server;
        // In parallel, as a burst would arrive: each start is a CLI process of ~100 ms.
        std::thread::scope(|scope| {
            for chunk in ids.chunks(8) {
                scope.spawn(move || {
                    for id in chunk {
                        server
                            .start_workflow(TASK_QUEUE, "Greet", id, "\"bench\"")
                            .expect("workflow start");
                    }
                });
            }
        });
        ids
    }

    fn run(&mut self, name: &'static str, count: usize) -> Scenario {
        let before = self.lambda.records().len();
        let ids = self.start_workflows(count);
        let timings = ids
            .iter()
            .map(|id| {
                self.lambda
                    .server
                    .wait_for(Duration::from_secs(120), id, |server| {
                        WorkflowTiming::read(server, id)
                    })
            })
            .collect();
        std::thread::sleep(SETTLE);
        let invocations = self.lambda.records().split_off(before);
        Scenario {
            name,
            timings,
            invocations,
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, fixture, cli, out] = args.as_slice() else {
        eprintln!("usage: bench <fixture_function> <temporal-serverless CLI> <json out>");
        return ExitCode::FAILURE;
    };
    let (fixture, cli) = (PathBuf::from(fixture), PathBuf::from(cli));
    let log = std::env::temp_dir().join(format!("tsls-bench-{}.log", std::process::id()));
    let keep_warm = KEEP_WARM_SECONDS.to_string();
    // To compare idle windows without rebuilding: FIXTURE_IDLE_EXIT_MS is passed on.
    let idle_exit_ms = std::env::var("FIXTURE_IDLE_EXIT_MS").unwrap_or_default();
    let mut function_env = vec![("TEMPORAL_TASK_QUEUE", TASK_QUEUE)];
    if !idle_exit_ms.is_empty() {
        function_env.push(("FIXTURE_IDLE_EXIT_MS", &idle_exit_ms));
    }
    // BENCH_OTEL=1: the same run with OpenTelemetry on, exporting to a receiver on loopback, to
    // see what metrics, traces and the per-invocation flush cost.
    let receiver = std::env::var_os("BENCH_OTEL").map(|_| OtlpReceiver::start());
    if let Some(receiver) = &receiver {
        function_env.push(("FIXTURE_OTEL", "1"));
        function_env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()));
    }
    println!("bench: starting the dev server and the local Lambda service");
    let lambda = LocalLoop::start_with(
        &cli,
        "fixture",
        &fixture,
        TIMEOUT_SECONDS,
        10,
        &function_env,
        LoopExtras {
            service_args: &["--keep-warm", &keep_warm],
            log: Some(&log),
            ..LoopExtras::default()
        },
    );
    if let Err(error) = lambda.deploy(&fixture, true) {
        eprintln!("bench: deploy failed: {error}");
        return ExitCode::FAILURE;
    }
    let mut bench = Bench {
        lambda,
        log,
        next_id: 0,
    };
    std::thread::sleep(SETTLE);
    let registration = bench.lambda.records();
    let cool_down = Duration::from_secs(KEEP_WARM_SECONDS + 1);
    println!("bench: one workflow, warm");
    let warm = bench.run("one workflow, warm", 1);
    std::thread::sleep(cool_down);
    println!("bench: one workflow, cold");
    let cold = bench.run("one workflow, cold", 1);
    std::thread::sleep(cool_down);
    println!("bench: burst of {BURST}, from cold");
    let burst = bench.run("burst of 40, from cold", BURST);
    println!("bench: one workflow, warm, after the burst");
    let after = bench.run("one workflow, warm after the burst", 1);

    let records = bench.lambda.records();
    let polls = first_polls(&bench.log);
    let first_poll_of = |record: &Value| {
        polls
            .iter()
            .find(|(request_id, _, _)| record["request_id"] == request_id.as_str())
    };
    // Cold: process spawn → first `invocation/next` (the service) + handler start → first poll
    // (the function).
    let cold_starts: Vec<(f64, f64)> = records
        .iter()
        .filter(|record| record["cold"] == true)
        .filter_map(|record| {
            let init = record["init_duration_ms"].as_f64()?;
            let (_, since_invocation, _) = first_poll_of(record)?;
            Some((
                init + *since_invocation as f64 / 1000.0,
                *since_invocation as f64 / 1000.0,
            ))
        })
        .collect();
    let warm_polls: Vec<f64> = records
        .iter()
        .filter(|record| record["cold"] == false)
        .filter_map(|record| Some(first_poll_of(record)?.1 as f64 / 1000.0))
        .collect();
    let rss_cold = registration
        .first()
        .and_then(|record| record["max_memory_used_mb"].as_f64());
    let rss_after_burst = after
        .invocations
        .iter()
        .filter_map(|record| record["max_memory_used_mb"].as_f64())
        .fold(None, |max: Option<f64>, mb| {
            Some(max.map_or(mb, |max| max.max(mb)))
        });
    let tasks_before_after = burst.timings.len() * 3;
    let margins: Vec<i64> = records
        .iter()
        .filter_map(|record| record["deadline_margin_ms"].as_i64())
        .collect();
    let timeouts = records
        .iter()
        .filter(|record| record["outcome"] == "timeout")
        .count();
    let stripped = stripped_size(&fixture);

    let max_of = |values: &[f64]| values.iter().cloned().fold(f64::NAN, f64::max);
    let min_of = |values: &[f64]| values.iter().cloned().fold(f64::NAN, f64::min);
    let spawn_to_poll: Vec<f64> = cold_starts.iter().map(|(total, _)| *total).collect();
    println!();
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| cold start: process spawn → first poll (ms, min–max of {}) | {:.1}–{:.1} | < 50 |",
        spawn_to_poll.len(),
        min_of(&spawn_to_poll),
        max_of(&spawn_to_poll)
    );
    println!(
        "| warm invocation → first poll (ms, min–max of {}) | {:.2}–{:.2} | < 5 |",
        warm_polls.len(),
        min_of(&warm_polls),
        max_of(&warm_polls)
    );
    println!(
        "| peak RSS, cold (registration invocation) (MB) | {} | < 32 |",
        rss_cold.map_or("?".to_owned(), |mb| format!("{mb:.1}"))
    );
    println!(
        "| peak RSS, warm after {tasks_before_after} tasks (MB) | {} | < 32 |",
        rss_after_burst.map_or("?".to_owned(), |mb| format!("{mb:.1}"))
    );
    for scenario in [&warm, &cold, &burst, &after] {
        let times = scenario.start_to_close_ms();
        println!(
            "| {}: start → completion p50 / p90 / max (ms) | {} / {} / {} | |",
            scenario.name,
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            times.last().copied().unwrap_or(0)
        );
        println!(
            "| {}: invocations (cold), billed ms, billed ms per workflow | {} ({}), {}, {:.0} | |",
            scenario.name,
            scenario.invocations.len(),
            scenario
                .invocations
                .iter()
                .filter(|record| record["cold"] == true)
                .count(),
            scenario.billed_ms(),
            scenario.billed_ms() as f64 / scenario.timings.len().max(1) as f64
        );
    }
    println!(
        "| deadline − response, smallest (ms) over {} invocations; timeouts | {}; {} | > 0; 0 |",
        margins.len(),
        margins.iter().min().copied().unwrap_or(0),
        timeouts
    );
    println!(
        "| stripped bootstrap (MB) | {} | |",
        stripped.map_or("?".to_owned(), |bytes| format!(
            "{:.1}",
            bytes as f64 / 1_048_576.0
        ))
    );

    let flushes = {
        let log = std::fs::read_to_string(&bench.log).unwrap_or_default();
        let mut flushes = logged_numbers(&log, "telemetry flushed", "flush_ms");
        flushes.sort_unstable();
        flushes
    };
    if let Some(receiver) = &receiver {
        println!(
            "| OpenTelemetry: flush before the answer p50 / max (ms); spans, metric series received | {} / {}; {}, {} | |",
            percentile(&flushes, 0.5),
            flushes.last().copied().unwrap_or(0),
            receiver.spans().len(),
            receiver.metrics().len()
        );
    }

    let report = json!({
        "opentelemetry": receiver.is_some(),
        "telemetry_flush_ms": flushes,
        "cold_start_spawn_to_first_poll_ms": spawn_to_poll,
        "cold_start_handler_to_first_poll_ms": cold_starts.iter().map(|(_, handler)| *handler).collect::<Vec<_>>(),
        "warm_invocation_to_first_poll_ms": warm_polls,
        "peak_rss_mb": { "cold": rss_cold, "warm_after_burst": rss_after_burst, "tasks_before": tasks_before_after },
        "scenarios": {
            "one_warm": warm.json(),
            "one_cold": cold.json(),
            "burst_40_from_cold": burst.json(),
            "one_warm_after_burst": after.json(),
        },
        "deadline_margin_ms_min": margins.iter().min(),
        "timeouts": timeouts,
        "stripped_bootstrap_bytes": stripped,
        "invocations": records,
    });
    if let Err(error) = std::fs::write(out, serde_json::to_string_pretty(&report).unwrap()) {
        eprintln!("bench: cannot write {out}: {error}");
        return ExitCode::FAILURE;
    }
    println!("\nbench: JSON written to {out}");
    let _ = std::fs::remove_file(&bench.log);
    if timeouts > 0 || margins.iter().any(|margin| *margin < 0) {
        eprintln!("bench: an invocation missed its deadline");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The size of a stripped copy of `binary` (`strip` from binutils).
fn stripped_size(binary: &Path) -> Option<u64> {
    let copy = std::env::temp_dir().join(format!("tsls-bench-bootstrap-{}", std::process::id()));
    std::fs::copy(binary, &copy).ok()?;
    let status = std::process::Command::new("strip")
        .arg(&copy)
        .status()
        .ok()?;
    let size = status
        .success()
        .then(|| std::fs::metadata(&copy).ok().map(|meta| meta.len()))
        .flatten();
    let _ = std::fs::remove_file(&copy);
    size
}
