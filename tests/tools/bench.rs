//! The load-shape benchmark (`scripts/bench`; see `temporal_serverless_tests::tools::bench`):
//! prints the tables and the targets, writes JSON, and exits non-zero only if a workflow was lost
//! or a cell could not be measured (timing targets are figures, not asserts).
//!
//! `bench <fixture_function> <temporal-serverless CLI> <json out> [options]`, options:
//! `--quick` (single and 30 s of steady traffic at 10 s, both drain modes, < 5 min),
//! `--policies default,hold,learned,100,500,2000` (default: `default,hold`; a number is a fixed
//! idle window in ms), `--shapes single,burst,steady,trickle,ramp,spikes`, `--timeouts 10,60`,
//! `--drains server,deadline`, `--seed N`, `--env K=V` (more environment for the function in
//! every loop, e.g. a runtime option to try; repeatable). `BENCH_OTEL=1`: OpenTelemetry on,
//! exporting to a receiver on loopback (adds the flush to the phases).

use serde_json::json;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};
use temporal_serverless_tests::{
    otlp_receiver::OtlpReceiver,
    tools::bench::{
        plan::{Drain, Plan, Policy},
        report::Report,
        run::{self, Tools},
    },
};

const USAGE: &str = "usage: bench <fixture_function> <temporal-serverless CLI> <json out> \
[--quick] [--policies default,hold,learned,100,500,2000] \
[--shapes single,burst,steady,trickle,ramp,spikes] [--timeouts 10,60] [--drains server,deadline] \
[--seed N] [--env K=V]...";

struct Options {
    fixture: PathBuf,
    cli: PathBuf,
    json: PathBuf,
    quick: bool,
    plan: Plan,
    function_env: Vec<(String, String)>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let [fixture, cli, json, flags @ ..] = args else {
        return Err(USAGE.to_owned());
    };
    let quick = flags.iter().any(|flag| flag == "--quick");
    let mut seed = fastrand::u64(..);
    let mut policies = None;
    let (mut shapes, mut timeouts, mut drains) = (None, None, None);
    let mut function_env = Vec::new();
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let mut list = || -> Result<Vec<String>, String> {
            let value = flags
                .next()
                .ok_or_else(|| format!("{flag} needs a comma-separated list\n{USAGE}"))?;
            Ok(value
                .split(',')
                .map(|item| item.trim().to_owned())
                .collect())
        };
        match flag.as_str() {
            "--quick" => {}
            "--policies" => {
                let parsed = list()?
                    .iter()
                    .map(|policy| Policy::parse(policy))
                    .collect::<Result<Vec<_>, _>>()?;
                policies = Some(parsed);
            }
            "--shapes" => {
                let known = ["single", "burst", "steady", "trickle", "ramp", "spikes"];
                let parsed = list()?;
                if let Some(unknown) = parsed.iter().find(|shape| !known.contains(&shape.as_str()))
                {
                    return Err(format!("unknown shape `{unknown}`\n{USAGE}"));
                }
                shapes = Some(parsed);
            }
            "--timeouts" => {
                let parsed = list()?
                    .iter()
                    .map(|timeout| {
                        timeout
                            .parse::<u64>()
                            .map_err(|_| format!("--timeouts: `{timeout}` is not whole seconds"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                timeouts = Some(parsed);
            }
            "--drains" => {
                let parsed = list()?
                    .iter()
                    .map(|drain| match drain.as_str() {
                        "server" => Ok(Drain::Server),
                        "deadline" => Ok(Drain::Deadline),
                        other => Err(format!("--drains: `{other}` is `server` or `deadline`")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                drains = Some(parsed);
            }
            "--env" => {
                let value = flags.next().ok_or(format!("--env needs K=V\n{USAGE}"))?;
                let (key, value) = value
                    .split_once('=')
                    .ok_or(format!("--env: `{value}` is not K=V"))?;
                function_env.push((key.to_owned(), value.to_owned()));
            }
            "--seed" => {
                let value = flags
                    .next()
                    .ok_or(format!("--seed needs a number\n{USAGE}"))?;
                seed = value
                    .parse()
                    .map_err(|_| format!("--seed: `{value}` is not a whole number"))?;
            }
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    let mut plan = if quick {
        Plan::quick(seed)
    } else {
        Plan::full(seed)
    }
    .only(timeouts.as_deref(), drains.as_deref(), shapes.as_deref());
    if let Some(policies) = policies {
        plan.policies = policies;
    }
    if plan.groups.is_empty() || plan.policies.is_empty() {
        return Err("nothing to run: the options left no load or no policy".to_owned());
    }
    Ok(Options {
        fixture: fixture.into(),
        cli: cli.into(),
        json: json.into(),
        quick,
        plan,
        function_env,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bench: {message}");
            return ExitCode::from(2);
        }
    };
    // Ctrl-C: no more loads start; the loops are dropped, which stops everything they started.
    let stop = temporal_serverless_tests::tools::ctrl_c_flag();
    let commit = temporal_serverless_tests::tools::described_commit();
    let plan = &options.plan;
    let expected = plan.expected_duration();
    for (key, value) in &options.function_env {
        println!("bench: the function runs with {key}={value}");
    }
    println!(
        "bench: commit {}, seed {}, policies {}, about {:.0} min at most",
        commit.as_deref().unwrap_or("?"),
        plan.seed,
        plan.policies
            .iter()
            .map(|policy| policy.name())
            .collect::<Vec<_>>()
            .join(", "),
        expected.as_secs_f64() / 60.0
    );
    let receiver = std::env::var_os("BENCH_OTEL").map(|_| OtlpReceiver::start());
    // Beside the JSON, this run's only: a log is appended to as its loop restarts its service.
    let log_dir = options.json.with_extension("logs");
    let _ = std::fs::remove_dir_all(&log_dir);
    if let Err(error) = std::fs::create_dir_all(&log_dir) {
        eprintln!("bench: cannot create {}: {error}", log_dir.display());
        return ExitCode::FAILURE;
    }
    let tools = Tools {
        fixture: &options.fixture,
        cli: &options.cli,
        otel_endpoint: receiver.as_ref().map(OtlpReceiver::endpoint),
        log_dir: &log_dir,
        function_env: &options.function_env,
    };
    let began = Instant::now();
    let cells = run::run_plan(plan, &tools, &stop);
    let wall = began.elapsed();
    let report = Report::new(&cells);
    let targets = report.targets();
    let stripped = stripped_size(&options.fixture);

    println!(
        "\ncommit {}, seed {}, {:.1} min{}\n",
        commit.as_deref().unwrap_or("?"),
        plan.seed,
        wall.as_secs_f64() / 60.0,
        if options.quick { " (quick)" } else { "" }
    );
    print!("{}", report.table());
    println!("\nAn invocation with no workflow pending:\n");
    print!("{}", report.no_work_table());
    println!("\nWhere the billed time went (mean ms per invocation; - where not logged):\n");
    print!("{}", report.phase_table());
    println!("\nWhere the slowest 1 % of completions' overhead went (mean ms):\n");
    print!("{}", report.tail_table());
    println!(
        "\nWorkflow tasks scheduled for a sticky queue, by what the queue's worker was doing \
         (an ending one has released it and unstuck its workflows):\n"
    );
    print!("{}", report.sticky_table());
    let sticky = report.sticky_timeouts();
    if !sticky.is_empty() {
        println!(
            "\nSticky timeouts: what the worker the task was meant for was doing when it was \
             scheduled, and the workflow's history (event, ms since start):\n"
        );
        print!("{sticky}");
    }
    println!("\nInstances:\n");
    print!("{}", report.instance_table(stripped));
    if let Some(receiver) = &receiver {
        println!(
            "\nOpenTelemetry: {} spans, {} metric series received",
            receiver.spans().len(),
            receiver.metrics().len()
        );
    }
    println!("\nTargets:\n\n| measure | value | target |\n|---|---|---|");
    for target in &targets {
        println!("{}", target.row());
    }

    let document = json!({
        "commit": commit,
        "seed": plan.seed,
        "quick": options.quick,
        "policies": plan.policies.iter().map(|policy| policy.name()).collect::<Vec<_>>(),
        "function_env": options.function_env.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>(),
        "opentelemetry": receiver.is_some(),
        "expected_duration_s": expected.as_secs_f64(),
        "wall_s": wall.as_secs_f64(),
        "cells": report.cells_json(),
        "instances": report.instance_json(stripped),
        "targets": targets.iter().map(|target| target.json()).collect::<Vec<_>>(),
    });
    if let Err(error) = std::fs::write(
        &options.json,
        serde_json::to_string_pretty(&document).unwrap(),
    ) {
        eprintln!("bench: cannot write {}: {error}", options.json.display());
        return ExitCode::FAILURE;
    }
    println!(
        "\nbench: JSON written to {}; the functions' logs are in {}",
        options.json.display(),
        log_dir.display()
    );
    let failures: Vec<String> = targets
        .iter()
        .filter(|target| target.correctness && !target.met)
        .map(|target| target.line())
        .collect();
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("bench: {}", failures.join("\nbench: "));
        ExitCode::FAILURE
    }
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
