//! What the benchmark runs: groups of loads at one function timeout and drain mode, each run
//! once per end policy.

use crate::tools::arrivals::{Mix, Shape};
use std::time::Duration;

/// The graceful shutdown and shutdown deadline buffer of the runtime's defaults: an invocation's
/// work time is the function timeout minus this.
const SHUTDOWN_DEADLINE_BUFFER: Duration = Duration::from_secs(7);

/// How an invocation decides to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    /// The runtime's default end policy.
    Default,
    /// `idle_exit(None)`: every invocation holds to the end of its work time, as the other SDKs'
    /// Lambda workers do. The reference every cell is compared with.
    Hold,
    /// `idle_exit(Some(ms))`: a fixed idle window.
    Window(u64),
    /// `idle_exit_learned()`: the window learned from the gaps an instance has seen.
    Learned,
}

impl Policy {
    /// `default`, `hold`, `learned` or milliseconds of a fixed window.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "default" => Ok(Policy::Default),
            "hold" => Ok(Policy::Hold),
            "learned" => Ok(Policy::Learned),
            millis => millis.parse().map(Policy::Window).map_err(|_| {
                format!("policy `{millis}`: `default`, `hold`, `learned` or an idle window in ms")
            }),
        }
    }

    /// `default`, `hold`, `learned`, `500ms`.
    pub fn name(self) -> String {
        match self {
            Policy::Default => "default".to_owned(),
            Policy::Hold => "hold".to_owned(),
            Policy::Learned => "learned".to_owned(),
            Policy::Window(millis) => format!("{millis}ms"),
        }
    }

    /// The fixture's `FIXTURE_IDLE_EXIT_MS` for this policy (none: the runtime's default).
    pub fn fixture_idle_exit(self) -> Option<String> {
        match self {
            Policy::Default => None,
            Policy::Hold => Some("none".to_owned()),
            Policy::Learned => Some("learned".to_owned()),
            Policy::Window(millis) => Some(millis.to_string()),
        }
    }
}

/// How the server treats a worker's outstanding polls when it shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Drain {
    /// The server completes them on `ShutdownWorker` (the namespace capability
    /// `worker_poll_complete_on_shutdown`, Temporal Cloud's), and the function opts in to ending
    /// that way, on single-partition task queues (`LoopBuilder::server_drain`).
    Server,
    /// They run to their deadline (the runtime's default).
    Deadline,
}

impl Drain {
    /// `server`, `deadline`.
    pub fn name(self) -> &'static str {
        match self {
            Drain::Server => "server",
            Drain::Deadline => "deadline",
        }
    }
}

/// One step of a group: what is offered to the function.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// One invocation with no workflow pending, invoked directly (as the server does when a task
    /// it invoked for was taken by a running instance meanwhile).
    NoWork,
    /// Workflows arriving in `shape`, each running one activity drawn from `mix`.
    Workflows {
        /// `single warm`, `burst`, …
        name: &'static str,
        /// When they arrive.
        shape: Shape,
        /// What their activities run for.
        mix: Mix,
        /// Every instance is gone first (the Lambda service is started again).
        from_cold: bool,
    },
}

impl Load {
    /// The row's name.
    pub fn name(&self) -> &'static str {
        match self {
            Load::NoWork => "no work",
            Load::Workflows { name, .. } => name,
        }
    }

    /// The mix's name (`-` for no work).
    pub fn mix_name(&self) -> &'static str {
        match self {
            Load::NoWork => "-",
            Load::Workflows { mix, .. } => mix.name(),
        }
    }

    /// The shape it belongs to, for `--shapes`: `single` (warm, cold, and the no-work
    /// invocation), `burst`, `steady`, `trickle`, `ramp`, `spikes`.
    pub fn family(&self) -> &'static str {
        self.name()
            .split(' ')
            .next()
            .map_or("", |first| match first {
                "no" => "single",
                other => other,
            })
    }

    /// The seed of its arrivals, from the run's: the same in every group, so that a load's
    /// arrivals are the same at both timeouts and in both drain modes.
    pub fn seed(&self, run_seed: u64) -> u64 {
        // FNV-1a over the name and the mix.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.name().bytes().chain(self.mix_name().bytes()) {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
        hash ^ run_seed
    }

    /// From its first arrival to its last (the arrivals' own span).
    fn arrival_span(&self) -> Duration {
        let Load::Workflows { shape, .. } = self else {
            return Duration::ZERO;
        };
        match shape {
            Shape::Burst { .. } => Duration::ZERO,
            Shape::Poisson { rate, count } => Duration::from_secs_f64(*count as f64 / rate),
            Shape::Trickle {
                count,
                min_gap,
                max_gap,
            } => (*min_gap + *max_gap) / 2 * count.saturating_sub(1) as u32,
            Shape::Ramp { duration, .. } | Shape::Spikes { duration, .. } => *duration,
        }
    }
}

/// The loads of one function timeout and drain mode, in the order they run.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The function's timeout.
    pub timeout_seconds: u64,
    /// How polls end.
    pub drain: Drain,
    /// In order.
    pub loads: Vec<Load>,
}

impl Group {
    /// Work time of an invocation: how long a held one lasts.
    pub fn work_time(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds).saturating_sub(SHUTDOWN_DEADLINE_BUFFER)
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// In order.
    pub groups: Vec<Group>,
    /// Each group runs once per policy, all at once.
    pub policies: Vec<Policy>,
    /// Seeds every load's arrivals.
    pub seed: u64,
}

/// Steady traffic: Poisson at 2.5/s for 120 s (300 workflows).
const STEADY_RATE: f64 = 2.5;
const STEADY: Duration = Duration::from_secs(120);
/// The quick run's steady traffic lasts this long.
const QUICK_STEADY: Duration = Duration::from_secs(30);

fn workflows(name: &'static str, shape: Shape, mix: Mix, from_cold: bool) -> Load {
    Load::Workflows {
        name,
        shape,
        mix,
        from_cold,
    }
}

fn steady(mix: Mix, duration: Duration) -> Load {
    workflows(
        "steady",
        Shape::Poisson {
            rate: STEADY_RATE,
            count: (STEADY_RATE * duration.as_secs_f64()).round() as usize,
        },
        mix,
        false,
    )
}

/// One workflow on a warm instance, one invocation with no work, one workflow from cold.
fn single() -> Vec<Load> {
    vec![
        workflows("single warm", Shape::Burst { count: 1 }, Mix::Mixed, false),
        Load::NoWork,
        workflows("single cold", Shape::Burst { count: 1 }, Mix::Mixed, true),
    ]
}

/// Every shape, the mixed activities (and the short ones at steady).
fn every_shape() -> Vec<Load> {
    let mut loads = single();
    loads.extend([
        workflows("burst", Shape::Burst { count: 40 }, Mix::Mixed, true),
        steady(Mix::Mixed, STEADY),
        steady(Mix::Short, STEADY),
        workflows(
            "trickle",
            Shape::Trickle {
                count: 8,
                min_gap: Duration::from_secs(3),
                max_gap: Duration::from_secs(20),
            },
            Mix::Mixed,
            false,
        ),
        workflows(
            "ramp",
            Shape::Ramp {
                peak: 5.0,
                duration: Duration::from_secs(120),
            },
            Mix::Mixed,
            false,
        ),
        workflows(
            "spikes",
            Shape::Spikes {
                background: 0.2,
                spike: 20,
                every: Duration::from_secs(40),
                duration: Duration::from_secs(120),
            },
            Mix::Mixed,
            false,
        ),
    ]);
    loads
}

impl Plan {
    /// Every shape at 10 s and 60 s with the poll-deadline drain (the runtime's default); single
    /// and steady also with the server-driven one; default against hold.
    pub fn full(seed: u64) -> Self {
        let mut both_drains = single();
        both_drains.push(steady(Mix::Mixed, STEADY));
        Self {
            groups: [10, 60]
                .into_iter()
                .map(|timeout_seconds| Group {
                    timeout_seconds,
                    drain: Drain::Deadline,
                    loads: every_shape(),
                })
                .chain([10, 60].into_iter().map(|timeout_seconds| Group {
                    timeout_seconds,
                    drain: Drain::Server,
                    loads: both_drains.clone(),
                }))
                .collect(),
            policies: vec![Policy::Default, Policy::Hold],
            seed,
        }
    }

    /// Single and 30 s of steady traffic at 10 s, in both drain modes; default against hold.
    pub fn quick(seed: u64) -> Self {
        let mut loads = single();
        loads.push(steady(Mix::Mixed, QUICK_STEADY));
        Self {
            groups: [Drain::Server, Drain::Deadline]
                .into_iter()
                .map(|drain| Group {
                    timeout_seconds: 10,
                    drain,
                    loads: loads.clone(),
                })
                .collect(),
            policies: vec![Policy::Default, Policy::Hold],
            seed,
        }
    }

    /// Only the groups at these timeouts, in these drain modes, and the loads of these shapes
    /// (`None`: all); groups left empty are dropped.
    pub fn only(
        mut self,
        timeouts: Option<&[u64]>,
        drains: Option<&[Drain]>,
        families: Option<&[String]>,
    ) -> Self {
        self.groups.retain(|group| {
            timeouts.is_none_or(|timeouts| timeouts.contains(&group.timeout_seconds))
                && drains.is_none_or(|drains| drains.contains(&group.drain))
        });
        for group in &mut self.groups {
            group.loads.retain(|load| {
                families.is_none_or(|families| families.iter().any(|f| f == load.family()))
            });
        }
        self.groups.retain(|group| !group.loads.is_empty());
        self
    }

    /// A rough bound on the run's wall time: per group, the loop's start and the registration
    /// invocation, then per load its arrivals, the time to close its workflows, the longest
    /// invocation's end (a held one lasts the whole work time) and reading the histories.
    pub fn expected_duration(&self) -> Duration {
        let holds = self
            .policies
            .iter()
            .any(|policy| matches!(policy, Policy::Hold));
        let setup = Duration::from_secs(20);
        let per_load = Duration::from_secs(12);
        self.groups
            .iter()
            .map(|group| {
                let longest_end = if holds {
                    group.work_time()
                } else {
                    Duration::from_secs(3)
                };
                setup
                    + longest_end
                    + group
                        .loads
                        .iter()
                        .map(|load| match load {
                            // Not measured for hold (it is the work time by definition).
                            Load::NoWork => Duration::from_secs(3),
                            _ => load.arrival_span() + longest_end + per_load,
                        })
                        .sum::<Duration>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_name_what_the_fixture_reads() {
        assert_eq!(Policy::parse("default"), Ok(Policy::Default));
        assert_eq!(Policy::parse("hold"), Ok(Policy::Hold));
        assert_eq!(Policy::parse("500"), Ok(Policy::Window(500)));
        assert_eq!(Policy::parse("learned"), Ok(Policy::Learned));
        assert_eq!(
            Policy::Learned.fixture_idle_exit().as_deref(),
            Some("learned")
        );
        assert!(Policy::parse("50O").is_err());
        assert_eq!(Policy::Default.fixture_idle_exit(), None);
        assert_eq!(Policy::Hold.fixture_idle_exit().as_deref(), Some("none"));
        assert_eq!(
            Policy::Window(2000).fixture_idle_exit().as_deref(),
            Some("2000")
        );
        assert_eq!(Policy::Window(100).name(), "100ms");
    }

    #[test]
    fn the_full_run_covers_the_matrix_within_its_time() {
        let plan = Plan::full(1);
        let cells: Vec<(u64, Drain, &str, &str)> = plan
            .groups
            .iter()
            .flat_map(|group| {
                group.loads.iter().map(move |load| {
                    (
                        group.timeout_seconds,
                        group.drain,
                        load.name(),
                        load.mix_name(),
                    )
                })
            })
            .collect();
        for timeout in [10, 60] {
            for name in [
                "single warm",
                "single cold",
                "burst",
                "trickle",
                "ramp",
                "spikes",
            ] {
                assert!(cells.contains(&(timeout, Drain::Deadline, name, "mixed")));
            }
            assert!(cells.contains(&(timeout, Drain::Deadline, "steady", "short")));
            for drain in [Drain::Server, Drain::Deadline] {
                assert!(cells.contains(&(timeout, drain, "steady", "mixed")));
                assert!(cells.contains(&(timeout, drain, "no work", "-")));
                assert!(cells.contains(&(timeout, drain, "single warm", "mixed")));
            }
        }
        assert_eq!(plan.policies, [Policy::Default, Policy::Hold]);
        let full = plan.expected_duration();
        assert!(full < Duration::from_secs(45 * 60), "{full:?}");
        let quick = Plan::quick(1).expected_duration();
        assert!(quick < Duration::from_secs(5 * 60), "{quick:?}");
    }

    #[test]
    fn a_load_draws_the_same_arrivals_in_every_group_and_others_differ() {
        let plan = Plan::full(42);
        let steady_seeds: Vec<u64> = plan
            .groups
            .iter()
            .flat_map(|group| &group.loads)
            .filter(|load| load.name() == "steady" && load.mix_name() == "mixed")
            .map(|load| load.seed(plan.seed))
            .collect();
        assert_eq!(steady_seeds.len(), 4);
        assert!(steady_seeds.iter().all(|seed| *seed == steady_seeds[0]));
        let short = steady(Mix::Short, STEADY).seed(42);
        assert_ne!(short, steady_seeds[0]);
        assert_ne!(steady(Mix::Mixed, STEADY).seed(43), steady_seeds[0]);
    }

    #[test]
    fn only_keeps_the_shapes_timeouts_and_drains_asked_for() {
        let plan = Plan::full(1).only(
            Some(&[10]),
            Some(&[Drain::Server]),
            Some(&["single".to_owned()]),
        );
        assert_eq!(plan.groups.len(), 1);
        let names: Vec<&str> = plan.groups[0].loads.iter().map(Load::name).collect();
        assert_eq!(names, ["single warm", "no work", "single cold"]);
        assert!(
            Plan::full(1)
                .only(None, None, Some(&["burst".to_owned()]))
                .groups
                .iter()
                .all(|group| group.drain == Drain::Deadline)
        );
    }
}
