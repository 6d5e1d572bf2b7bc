//! When workflows arrive and what they run: the load shapes the benchmark and the soak start
//! workflows in, the activity lengths they draw, and starting them on a loop at their moments.
//! Seeded, so that every policy of a benchmark cell, and every replay of a soak, sees the same
//! arrivals.

use crate::dev_server::DevServer;
use serde_json::Value;
use std::{
    iter::Peekable,
    sync::{
        Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::Scope,
    time::{Duration, Instant},
};

/// The workflow every arrival starts: `SlowActivity(ms)` runs one activity sleeping `ms`.
pub const WORKFLOW_TYPE: &str = "SlowActivity";

/// The activity lengths (ms) of the mixed load: many short, some longer than the 3 s work time a
/// 10 s function has, so that activities outlive the invocation that started them (mean 894 ms).
pub const MIXED_MILLIS: [u64; 9] = [0, 0, 50, 100, 100, 300, 1000, 2500, 4000];

/// The longest activity of the short load.
pub const SHORT_MAX_MILLIS: u64 = 100;

/// What each workflow's activity runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Drawn from [`MIXED_MILLIS`].
    Mixed,
    /// Uniform over 0–[`SHORT_MAX_MILLIS`] ms.
    Short,
}

impl Mix {
    /// One activity length (ms).
    pub fn draw(self, rng: &mut fastrand::Rng) -> u64 {
        match self {
            Mix::Mixed => MIXED_MILLIS[rng.usize(..MIXED_MILLIS.len())],
            Mix::Short => rng.u64(..=SHORT_MAX_MILLIS),
        }
    }

    /// `mixed`, `short`.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Mixed => "mixed",
            Mix::Short => "short",
        }
    }
}

/// How workflow starts are spread over time.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `count` workflows at once.
    Burst { count: usize },
    /// `count` workflows at random (Poisson) moments: exponential gaps at `rate` per second.
    Poisson { rate: f64, count: usize },
    /// `count` workflows, one at the start and then one after each gap drawn uniformly between
    /// `min_gap` and `max_gap`.
    Trickle {
        count: usize,
        min_gap: Duration,
        max_gap: Duration,
    },
    /// Poisson arrivals whose rate rises linearly from 0 to `peak` per second over the first half
    /// of `duration` and falls back to 0 over the second.
    Ramp { peak: f64, duration: Duration },
    /// Poisson arrivals at `background` per second for `duration`, plus `spike` workflows at once
    /// every `every`, the first at half of `every`.
    Spikes {
        background: f64,
        spike: usize,
        every: Duration,
        duration: Duration,
    },
}

impl Shape {
    /// The moments (from the start) and activity lengths (ms), in time order. For each workflow
    /// the moment is drawn before its activity, so that a Poisson schedule replays the soak's
    /// seeds of before this module.
    pub fn schedule(&self, mix: Mix, rng: &mut fastrand::Rng) -> Vec<(Duration, u64)> {
        let gap = |rng: &mut fastrand::Rng, rate: f64| -(1.0 - rng.f64()).ln() / rate;
        let mut schedule = Vec::new();
        match self {
            Shape::Burst { count } => {
                for _ in 0..*count {
                    schedule.push((Duration::ZERO, mix.draw(rng)));
                }
            }
            Shape::Poisson { rate, count } => {
                let mut at = 0.0;
                for _ in 0..*count {
                    at += gap(rng, *rate);
                    schedule.push((Duration::from_secs_f64(at), mix.draw(rng)));
                }
            }
            Shape::Trickle {
                count,
                min_gap,
                max_gap,
            } => {
                let mut at = Duration::ZERO;
                for _ in 0..*count {
                    schedule.push((at, mix.draw(rng)));
                    at += *min_gap + (*max_gap - *min_gap).mul_f64(rng.f64());
                }
            }
            Shape::Ramp { peak, duration } => {
                // Thinning: candidates at the peak rate, each kept with probability rate(t)/peak.
                let (half, end) = (duration.as_secs_f64() / 2.0, duration.as_secs_f64());
                let mut at = 0.0;
                loop {
                    at += gap(rng, *peak);
                    if at >= end {
                        break;
                    }
                    let rate_fraction = if at < half {
                        at / half
                    } else {
                        (end - at) / half
                    };
                    if rng.f64() < rate_fraction {
                        schedule.push((Duration::from_secs_f64(at), mix.draw(rng)));
                    }
                }
            }
            Shape::Spikes {
                background,
                spike,
                every,
                duration,
            } => {
                let mut at = 0.0;
                loop {
                    at += gap(rng, *background);
                    if at >= duration.as_secs_f64() {
                        break;
                    }
                    schedule.push((Duration::from_secs_f64(at), mix.draw(rng)));
                }
                let mut spike_at = *every / 2;
                while spike_at < *duration {
                    for _ in 0..*spike {
                        schedule.push((spike_at, mix.draw(rng)));
                    }
                    spike_at += *every;
                }
                schedule.sort_by_key(|(at, _)| *at);
            }
        }
        schedule
    }
}

/// One workflow to start.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// When, from the first moment of the schedule's run.
    pub at: Duration,
    /// Its workflow id.
    pub id: String,
    /// Its activity's length (ms).
    pub activity_millis: u64,
}

/// `shape`'s arrivals with `mix`'s activities, ids `<id_prefix>-<n>`.
pub fn arrivals(shape: &Shape, mix: Mix, id_prefix: &str, rng: &mut fastrand::Rng) -> Vec<Arrival> {
    shape
        .schedule(mix, rng)
        .into_iter()
        .enumerate()
        .map(|(n, (at, activity_millis))| Arrival {
            at,
            id: format!("{id_prefix}-{n}"),
            activity_millis,
        })
        .collect()
}

/// At most this many starts run at once for one schedule: each is a CLI process of ~100 ms and
/// ~90 MB, and a burst of 40 (times the benchmark's loops) at once would take gigabytes.
pub const MAX_CONCURRENT_STARTS: usize = 8;

/// The workflow starts of one schedule: how many run now, and those that failed.
#[derive(Default)]
pub struct Starts {
    running: Mutex<usize>,
    one_ended: Condvar,
    failures: Mutex<Vec<String>>,
}

impl Starts {
    /// The starts that failed, as `<id>: <error>`.
    pub fn into_failures(self) -> Vec<String> {
        self.failures.into_inner().unwrap()
    }

    fn start(&self, server: &DevServer, task_queue: &str, arrival: &Arrival) {
        {
            let mut running = self.running.lock().unwrap();
            while *running >= MAX_CONCURRENT_STARTS {
                running = self.one_ended.wait(running).unwrap();
            }
            *running += 1;
        }
        let started = server.start_workflow(
            task_queue,
            WORKFLOW_TYPE,
            &arrival.id,
            &arrival.activity_millis.to_string(),
        );
        *self.running.lock().unwrap() -= 1;
        self.one_ended.notify_one();
        if let Err(error) = started {
            self.failures
                .lock()
                .unwrap()
                .push(format!("{}: {error}", arrival.id));
        }
    }
}

/// Starts every arrival of `pending` due by `now` (time since the schedule began), each in its
/// own thread of `scope`, so that arrivals keep their moments (at most
/// [`MAX_CONCURRENT_STARTS`] at once); failures are kept in `starts`.
pub fn start_due<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    pending: &mut Peekable<std::slice::Iter<'env, Arrival>>,
    now: Duration,
    server: &'env DevServer,
    task_queue: &'env str,
    starts: &'env Starts,
) {
    while let Some(arrival) = pending.next_if(|arrival| arrival.at <= now) {
        scope.spawn(move || starts.start(server, task_queue, arrival));
    }
}

/// Starts `arrivals` at their moments and returns once every start has been answered, or once
/// `stop` is set (the arrivals not due by then are not started): how long that took, and the
/// starts that failed (see [`start_due`]).
pub fn start_all(
    arrivals: &[Arrival],
    server: &DevServer,
    task_queue: &str,
    stop: &AtomicBool,
) -> (Duration, Vec<String>) {
    let starts = Starts::default();
    let began = Instant::now();
    std::thread::scope(|scope| {
        let mut pending = arrivals.iter().peekable();
        while pending.peek().is_some() && !stop.load(Ordering::Relaxed) {
            start_due(
                scope,
                &mut pending,
                began.elapsed(),
                server,
                task_queue,
                &starts,
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (began.elapsed(), starts.into_failures())
}

/// `<id>` of each `<id>: <error>` in `failures`.
pub fn failed_ids(failures: &[String]) -> std::collections::HashSet<String> {
    failures
        .iter()
        .filter_map(|failure| failure.split(':').next().map(str::to_owned))
        .collect()
}

/// Workflows of [`WORKFLOW_TYPE`] still running on `server`; `None` if the server did not say.
pub fn still_running(server: &DevServer) -> Option<u64> {
    let count = server
        .cli_json(&[
            "workflow",
            "count",
            "--query",
            &format!("WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus='Running'"),
        ])
        .ok()?;
    match &count["count"] {
        Value::String(text) => text.parse().ok(),
        // proto3 JSON leaves a zero out: `{}`.
        Value::Null if count.is_object() => Some(0),
        other => other.as_u64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(schedule: &[(Duration, u64)]) -> Vec<f64> {
        schedule.iter().map(|(at, _)| at.as_secs_f64()).collect()
    }

    fn in_order(schedule: &[(Duration, u64)]) -> bool {
        schedule.windows(2).all(|pair| pair[0].0 <= pair[1].0)
    }

    #[test]
    fn poisson_arrivals_come_at_the_mean_rate_with_every_duration_and_replay() {
        let shape = Shape::Poisson {
            rate: 2.5,
            count: 300,
        };
        let schedule = shape.schedule(Mix::Mixed, &mut fastrand::Rng::with_seed(7));
        assert_eq!(schedule.len(), 300);
        let last = schedule.last().unwrap().0.as_secs_f64();
        assert!(
            (90.0..150.0).contains(&last),
            "300 arrivals at 2.5/s took {last} s"
        );
        assert!(in_order(&schedule));
        for millis in MIXED_MILLIS {
            assert!(schedule.iter().any(|(_, drawn)| *drawn == millis));
        }
        let again = shape.schedule(Mix::Mixed, &mut fastrand::Rng::with_seed(7));
        assert_eq!(again, schedule, "seeded");
    }

    #[test]
    fn a_poisson_schedule_draws_as_the_soak_always_has() {
        // The soak's seeds replay: a gap, then an activity, per workflow.
        let mut rng = fastrand::Rng::with_seed(1010);
        let gap = -(1.0 - rng.f64()).ln() / 2.5;
        let millis = MIXED_MILLIS[rng.usize(..MIXED_MILLIS.len())];
        let schedule = Shape::Poisson {
            rate: 2.5,
            count: 1,
        }
        .schedule(Mix::Mixed, &mut fastrand::Rng::with_seed(1010));
        assert_eq!(schedule, vec![(Duration::from_secs_f64(gap), millis)]);
    }

    #[test]
    fn a_burst_arrives_at_once() {
        let schedule =
            Shape::Burst { count: 40 }.schedule(Mix::Mixed, &mut fastrand::Rng::with_seed(1));
        assert_eq!(schedule.len(), 40);
        assert!(schedule.iter().all(|(at, _)| at.is_zero()));
    }

    #[test]
    fn a_trickle_keeps_its_gaps() {
        let schedule = Shape::Trickle {
            count: 200,
            min_gap: Duration::from_secs(3),
            max_gap: Duration::from_secs(20),
        }
        .schedule(Mix::Mixed, &mut fastrand::Rng::with_seed(2));
        assert_eq!(schedule.len(), 200);
        assert!(schedule[0].0.is_zero());
        let gaps: Vec<f64> = seconds(&schedule)
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .collect();
        assert!(
            gaps.iter().all(|gap| (3.0..=20.0).contains(gap)),
            "{gaps:?}"
        );
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((10.0..13.0).contains(&mean), "mean gap {mean}");
    }

    #[test]
    fn a_ramp_is_busiest_in_the_middle() {
        let schedule = Shape::Ramp {
            peak: 5.0,
            duration: Duration::from_secs(120),
        }
        .schedule(Mix::Mixed, &mut fastrand::Rng::with_seed(3));
        // Expected 0.5 × 120 s × 5/s = 300.
        assert!((240..360).contains(&schedule.len()), "{}", schedule.len());
        assert!(in_order(&schedule));
        let within = |from: f64, to: f64| {
            seconds(&schedule)
                .iter()
                .filter(|at| (from..to).contains(*at))
                .count()
        };
        // Expected 12.5 in each 10 s at either end, 112.5 in the 30 s around the peak.
        assert!(within(0.0, 10.0) < 30, "{}", within(0.0, 10.0));
        assert!(within(110.0, 120.0) < 30, "{}", within(110.0, 120.0));
        assert!(within(45.0, 75.0) > 80, "{}", within(45.0, 75.0));
        assert!(seconds(&schedule).iter().all(|at| *at < 120.0));
    }

    #[test]
    fn spikes_stand_on_a_background() {
        let schedule = Shape::Spikes {
            background: 0.2,
            spike: 20,
            every: Duration::from_secs(40),
            duration: Duration::from_secs(120),
        }
        .schedule(Mix::Short, &mut fastrand::Rng::with_seed(4));
        assert!(in_order(&schedule));
        for spike in [20, 60, 100] {
            let at_once = schedule
                .iter()
                .filter(|(at, _)| *at == Duration::from_secs(spike))
                .count();
            assert_eq!(at_once, 20, "spike at {spike} s");
        }
        // 60 in the spikes, ~24 in the background.
        assert!((70..110).contains(&schedule.len()), "{}", schedule.len());
        assert!(
            schedule
                .iter()
                .all(|(_, millis)| *millis <= SHORT_MAX_MILLIS)
        );
    }

    #[test]
    fn arrivals_are_named_in_order() {
        let arrivals = arrivals(
            &Shape::Burst { count: 3 },
            Mix::Short,
            "bench-x",
            &mut fastrand::Rng::with_seed(5),
        );
        let ids: Vec<&str> = arrivals.iter().map(|arrival| arrival.id.as_str()).collect();
        assert_eq!(ids, ["bench-x-0", "bench-x-1", "bench-x-2"]);
    }

    #[test]
    fn failed_ids_are_the_ids_before_the_colon() {
        let failures = vec!["a-1: temporal workflow start: refused".to_owned()];
        assert!(failed_ids(&failures).contains("a-1"));
    }
}
