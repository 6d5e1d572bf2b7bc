//! The chaos soak (`scripts/soak`): workflows at random moments on the whole local loop while
//! busy function processes are killed and their connections cut; prints a table of the figures
//! against their targets, writes JSON, and exits non-zero if a target is missed.
//!
//! `soak <fixture_function> <temporal-serverless CLI> [options]`, options:
//! `--quick` (75 workflows over ~30 s, kill every 8 s, cut every 12 s), `--rate PER_S`,
//! `--duration S`, `--timeout S` (function timeout), `--concurrency N`, `--kill-every S`,
//! `--cut-every S`, `--no-faults`, `--server-drain`, `--seed N`, `--json PATH`
//! (default `target/soak.json`).

use std::{path::PathBuf, process::ExitCode, time::Duration};
use temporal_serverless_tests::tools::soak::{self, SoakConfig};

const USAGE: &str = "usage: soak <fixture_function> <temporal-serverless CLI> [--quick] \
[--rate PER_S] [--duration S] [--timeout S] [--concurrency N] [--kill-every S] [--cut-every S] \
[--no-faults] [--server-drain] [--seed N] [--json PATH]";

struct Options {
    fixture: PathBuf,
    cli: PathBuf,
    config: SoakConfig,
    json: PathBuf,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let [fixture, cli, flags @ ..] = args else {
        return Err(USAGE.to_owned());
    };
    let mut config = if flags.iter().any(|flag| flag == "--quick") {
        SoakConfig::quick()
    } else {
        SoakConfig::full()
    };
    let mut json = PathBuf::from("target/soak.json");
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let mut value = |what: &str| -> Result<String, String> {
            flags
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs {what}\n{USAGE}"))
        };
        let seconds = |text: String| -> Result<Duration, String> {
            text.parse::<f64>()
                .ok()
                .filter(|seconds| *seconds > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{flag}: `{text}` is not a positive number of seconds"))
        };
        let number = |text: String| -> Result<u64, String> {
            text.parse()
                .map_err(|_| format!("{flag}: `{text}` is not a whole number"))
        };
        match flag.as_str() {
            "--quick" => {}
            "--rate" => {
                config.rate_per_second = value("workflows per second")?
                    .parse::<f64>()
                    .ok()
                    .filter(|rate| *rate > 0.0)
                    .ok_or_else(|| format!("{flag} needs a positive rate"))?
            }
            "--duration" => config.duration = seconds(value("seconds")?)?,
            "--timeout" => config.function_timeout_seconds = number(value("seconds")?)?,
            "--concurrency" => config.concurrency = number(value("a count")?)? as usize,
            "--kill-every" => config.kill_every = Some(seconds(value("seconds")?)?),
            "--cut-every" => config.cut_every = Some(seconds(value("seconds")?)?),
            "--no-faults" => config = config.without_faults(),
            "--server-drain" => config.server_drain = true,
            "--seed" => config.seed = number(value("a number")?)?,
            "--json" => json = PathBuf::from(value("a path")?),
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if flags_say_no_faults(args) {
        config = config.without_faults();
    }
    Ok(Options {
        fixture: fixture.into(),
        cli: cli.into(),
        config,
        json,
    })
}

/// `--no-faults` wins over `--kill-every` / `--cut-every`, wherever it stands.
fn flags_say_no_faults(args: &[String]) -> bool {
    args.iter().any(|arg| arg == "--no-faults")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("soak: {message}");
            return ExitCode::from(2);
        }
    };
    // What the binaries were built from when run by scripts/soak.
    let commit = temporal_serverless_tests::tools::described_commit();
    let report = match soak::run(&options.config, &options.fixture, &options.cli) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("soak: the loop could not be set up: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    println!("commit {}", commit.as_deref().unwrap_or("?"));
    print!("{}", report.table());
    if !report.stalled_workflows.is_empty() {
        println!("\nworkflows with a start-to-close workflow-task timeout:");
        for stall in &report.stalled_workflows {
            println!("  {stall}");
        }
    }
    if !report.lost.is_empty() {
        println!("\nlost: {}", report.lost.join(", "));
    }
    let mut json = report.json();
    json["commit"] = commit.into();
    json["log"] = report.log.display().to_string().into();
    if let Err(error) = std::fs::write(&options.json, serde_json::to_string_pretty(&json).unwrap())
    {
        eprintln!("soak: cannot write {}: {error}", options.json.display());
        return ExitCode::FAILURE;
    }
    println!(
        "\nsoak: JSON written to {}; the functions' log is {}",
        options.json.display(),
        report.log.display()
    );
    if report.all_met() {
        ExitCode::SUCCESS
    } else {
        eprintln!("soak: a target was missed");
        ExitCode::FAILURE
    }
}
