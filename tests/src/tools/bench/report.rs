//! The benchmark's tables, targets and JSON, from the cells it measured.

use super::{
    plan::{Drain, Policy},
    run::Cell,
    sticky::OwnerState,
};
use crate::{
    tools::{percentile, targets::Target},
    workflow_timing::TimeSpent,
};
use serde_json::{Value, json};

/// Billed time at steady traffic may exceed the floor by this factor.
const STEADY_FLOOR_FACTOR: f64 = 1.2;
/// A burst at a 60 s timeout bills at least this many times less than hold.
const BURST_FACTOR_AT_60: f64 = 30.0;
/// Completion overhead p99 at steady traffic, and by how much it may exceed hold's.
const STEADY_P99_MS: u64 = 150;
const STEADY_P99_OVER_HOLD_MS: u64 = 50;

/// The measured cells and what they are compared with.
pub struct Report<'a> {
    cells: &'a [Cell],
}

impl<'a> Report<'a> {
    /// The report of `cells`.
    pub fn new(cells: &'a [Cell]) -> Self {
        Self { cells }
    }

    /// The hold cell `cell` is compared with.
    fn hold_of(&self, cell: &Cell) -> Option<&'a Cell> {
        self.cells.iter().find(|other| {
            other.policy == Policy::Hold
                && other.not_measured.is_none()
                && (other.timeout_seconds, other.drain, other.load, other.mix)
                    == (cell.timeout_seconds, cell.drain, cell.load, cell.mix)
        })
    }

    /// Billed per workflow against hold's, for the same load.
    pub fn ratio_to_hold(&self, cell: &Cell) -> Option<f64> {
        let hold = self.hold_of(cell)?;
        (hold.billed_ms() > 0).then(|| cell.billed_per_workflow() / hold.billed_per_workflow())
    }

    fn measured_workflow_cells(&self) -> impl Iterator<Item = &'a Cell> {
        self.cells
            .iter()
            .filter(|cell| !cell.no_work && cell.not_measured.is_none())
    }

    /// The main table: per load and policy, billed time against hold and the floor, latency,
    /// and what went wrong.
    pub fn table(&self) -> String {
        let mut table = String::from(
            "| timeout | drain | load | mix | policy | workflows | billed ms / workflow | × hold \
             | invocations | cold | overhead p50 / p90 / p99 ms | floor ms / workflow | billed / floor \
             | sticky t/o | start-to-close t/o | lost | Lambda t/o |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for cell in self.cells.iter().filter(|cell| !cell.no_work) {
            let head = row_head(cell);
            if let Some(why) = &cell.not_measured {
                table.push_str(&format!("{head} not measured: {why} |\n"));
                continue;
            }
            let floor = cell.floor_per_workflow();
            let overhead = &cell.overhead_ms;
            table.push_str(&format!(
                "{head} {} | {:.0} | {} | {} | {} | {} / {} / {} | {:.0} | {} | {} | {} | {} | {} |\n",
                cell.workflows,
                cell.billed_per_workflow(),
                optional(self.ratio_to_hold(cell), 2),
                cell.invocations.len(),
                cell.cold_starts(),
                percentile(overhead, 0.5),
                percentile(overhead, 0.9),
                percentile(overhead, 0.99),
                floor,
                optional(
                    (floor > 0.0).then(|| cell.billed_per_workflow() / floor),
                    2
                ),
                cell.sticky_timeouts,
                cell.start_to_close_timeouts,
                cell.lost_or_not_started(),
                cell.lambda_timeouts()
            ));
        }
        table
    }

    /// An invocation with no workflow pending, per group and policy.
    pub fn no_work_table(&self) -> String {
        let mut table =
            String::from("| timeout | drain | policy | billed ms (no work) |\n|---|---|---|---|\n");
        for cell in self.cells.iter().filter(|cell| cell.no_work) {
            table.push_str(&format!(
                "| {} s | {} | {} | {} |\n",
                cell.timeout_seconds,
                cell.drain.name(),
                cell.policy.name(),
                match &cell.not_measured {
                    Some(why) => format!("- ({why})"),
                    None => cell.billed_ms().to_string(),
                }
            ));
        }
        table
    }

    /// Where the billed time went: mean ms per invocation of each phase.
    pub fn phase_table(&self) -> String {
        let mut table = String::from(
            "| timeout | drain | load | mix | policy | invocations | billed ms / invocation \
             | first poll | work | idle | drain | shutdown | hooks | flush |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for cell in self.cells.iter().filter(|cell| cell.not_measured.is_none()) {
            let phases: Vec<String> = cell
                .phases
                .iter()
                .map(|(_, mean)| optional(*mean, 0))
                .collect();
            table.push_str(&format!(
                "{} {} | {} | {} |\n",
                row_head(cell),
                cell.invocations.len(),
                optional(
                    (!cell.invocations.is_empty())
                        .then(|| cell.billed_ms() as f64 / cell.invocations.len() as f64),
                    0
                ),
                phases.join(" | ")
            ));
        }
        table
    }

    /// Where the slowest completions' overhead went: per cell, the slowest 1 % of its workflows
    /// (at least one) by completion overhead, and the mean of each part of it.
    pub fn tail_table(&self) -> String {
        let mut table = String::from(
            "| timeout | drain | load | mix | policy | slowest | overhead ms \
             | workflow tasks waiting for a worker | workflow tasks running \
             | activities waiting | activities past their own time | other |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for cell in self.measured_workflow_cells() {
            let Some(tail) = Tail::of(cell) else { continue };
            table.push_str(&format!(
                "{} {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
                row_head(cell),
                tail.workflows,
                tail.overhead_ms,
                tail.workflow_task_wait_ms,
                tail.workflow_task_run_ms,
                tail.activity_wait_ms,
                tail.activity_overrun_ms,
                tail.other_ms(),
            ));
        }
        table
    }

    /// Per cell, the workflow tasks scheduled for a sticky queue by what the queue's worker was
    /// doing then, and how many of them timed out.
    pub fn sticky_table(&self) -> String {
        let mut table = String::from(
            "| timeout | drain | load | mix | policy | owner working | owner ending | owner gone \
             | owner unknown | timed out |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for cell in self.measured_workflow_cells() {
            let count = |state| {
                cell.sticky_schedulings
                    .iter()
                    .filter(|scheduling| scheduling.owner_state == state)
                    .count()
            };
            table.push_str(&format!(
                "{} {} | {} | {} | {} | {} |\n",
                row_head(cell),
                count(OwnerState::Working),
                count(OwnerState::Ending),
                count(OwnerState::Gone),
                count(OwnerState::Unknown),
                cell.sticky_timeouts,
            ));
        }
        table
    }

    /// Every sticky timeout: what its sticky queue's owner was doing when the task was
    /// scheduled, and the workflow's history.
    pub fn sticky_timeouts(&self) -> String {
        let mut text = String::new();
        for cell in self.measured_workflow_cells() {
            for timeout in cell
                .sticky_schedulings
                .iter()
                .filter(|scheduling| scheduling.wait.timed_out)
            {
                let events: Vec<String> = timeout
                    .timeline
                    .iter()
                    .map(|(event, ms)| format!("{event} {ms}"))
                    .collect();
                text.push_str(&format!(
                    "- {} {}: owner {} ({}) when scheduled; {}\n",
                    cell.label(),
                    timeout.workflow_id,
                    timeout.wait.owner.as_deref().unwrap_or("?"),
                    timeout.owner_state.name(),
                    events.join(", ")
                ));
            }
        }
        text
    }

    /// Instance figures over every invocation of the run: cold and warm start to first poll,
    /// memory, the deadline's margin.
    pub fn instance_table(&self, stripped_bytes: Option<u64>) -> String {
        let figures = self.instance_figures();
        let range = |values: &[f64], decimals: usize| match (
            values.iter().cloned().reduce(f64::min),
            values.iter().cloned().reduce(f64::max),
        ) {
            (Some(min), Some(max)) => format!("{min:.decimals$}–{max:.decimals$}"),
            _ => "-".to_owned(),
        };
        [
            "| measure | value | target |".to_owned(),
            "|---|---|---|".to_owned(),
            format!(
                "| cold start: process spawn → first poll (ms, min–max of {}) | {} | < 50 |",
                figures.cold_spawn_to_poll_ms.len(),
                range(&figures.cold_spawn_to_poll_ms, 1)
            ),
            format!(
                "| warm invocation → first poll (ms, min–max of {}) | {} | < 5 |",
                figures.warm_to_poll_ms.len(),
                range(&figures.warm_to_poll_ms, 2)
            ),
            format!(
                "| peak RSS, largest (MB) | {} | < 32 |",
                optional(figures.peak_rss_mb, 1)
            ),
            format!(
                "| deadline − answer, smallest (ms) over {} invocations | {} | > 0 |",
                figures.invocations,
                figures
                    .smallest_margin_ms
                    .map_or("-".to_owned(), |margin| margin.to_string())
            ),
            format!(
                "| stripped bootstrap (MB) | {} | |",
                optional(stripped_bytes.map(|bytes| bytes as f64 / 1_048_576.0), 1)
            ),
        ]
        .join("\n")
            + "\n"
    }

    fn instance_figures(&self) -> InstanceFigures {
        let mut figures = InstanceFigures::default();
        for cell in self.cells {
            for record in &cell.invocations {
                figures.invocations += 1;
                if let Some(margin) = record["deadline_margin_ms"].as_i64() {
                    figures.smallest_margin_ms =
                        Some(figures.smallest_margin_ms.map_or(margin, |m| m.min(margin)));
                }
                if let Some(mb) = record["max_memory_used_mb"].as_f64() {
                    figures.peak_rss_mb = Some(figures.peak_rss_mb.map_or(mb, |m| m.max(mb)));
                }
                let Some(poll) = cell
                    .first_polls
                    .iter()
                    .find(|poll| record["request_id"] == poll.request_id.as_str())
                else {
                    continue;
                };
                let to_poll_ms = poll.since_invocation_us as f64 / 1000.0;
                if record["cold"] == true {
                    if let Some(init) = record["init_duration_ms"].as_f64() {
                        figures.cold_spawn_to_poll_ms.push(init + to_poll_ms);
                    }
                } else {
                    figures.warm_to_poll_ms.push(to_poll_ms);
                }
            }
        }
        figures
    }

    /// Every target of the issue, for the runtime's default policy (the fixed windows and hold
    /// are what it is compared with); losses, Lambda timeouts and sticky timeouts for every
    /// policy.
    pub fn targets(&self) -> Vec<Target> {
        let ours: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|cell| cell.policy == Policy::Default && cell.not_measured.is_none())
            .collect();
        let mut targets = Vec::new();
        for cell in ours
            .iter()
            .filter(|cell| cell.load == "steady" && cell.mix == "mixed")
        {
            let (billed, floor) = (cell.billed_per_workflow(), cell.floor_per_workflow());
            targets.push(Target {
                name: format!("{}: billed ≤ {STEADY_FLOOR_FACTOR} × floor", cell.label()),
                value: format!(
                    "{billed:.0} ms = {:.2} × floor ({floor:.0})",
                    billed / floor
                ),
                goal: format!("≤ {:.0}", STEADY_FLOOR_FACTOR * floor),
                met: billed <= STEADY_FLOOR_FACTOR * floor,
                correctness: false,
            });
        }
        let compared: Vec<(&Cell, f64)> = ours
            .iter()
            .filter(|cell| !cell.no_work)
            .filter_map(|cell| Some((*cell, self.ratio_to_hold(cell)?)))
            .collect();
        let above_hold: Vec<String> = compared
            .iter()
            .filter(|(_, ratio)| *ratio > 1.0)
            .map(|(cell, ratio)| format!("{} × {ratio:.2}", cell.label()))
            .collect();
        targets.push(Target {
            name: "never more billed than hold".to_owned(),
            value: if above_hold.is_empty() {
                format!("{} cells at or below hold", compared.len())
            } else {
                above_hold.join("; ")
            },
            goal: "every cell ≤ 1 × hold".to_owned(),
            met: above_hold.is_empty() && !compared.is_empty(),
            correctness: false,
        });
        for cell in ours
            .iter()
            .filter(|cell| cell.load == "burst" && cell.timeout_seconds == 60)
        {
            let times_less = self.ratio_to_hold(cell).map(|ratio| 1.0 / ratio);
            targets.push(Target {
                name: format!("{}: times less billed than hold", cell.label()),
                value: optional(times_less, 1),
                goal: format!("≥ {BURST_FACTOR_AT_60}"),
                met: times_less.is_some_and(|times| times >= BURST_FACTOR_AT_60),
                correctness: false,
            });
        }
        for cell in ours.iter().filter(|cell| cell.no_work) {
            let limit = match cell.drain {
                Drain::Server => 100,
                Drain::Deadline => 300,
            };
            targets.push(Target {
                name: format!("{}: invocation with no work, billed ms", cell.label()),
                value: cell.billed_ms().to_string(),
                goal: format!("< {limit}"),
                met: cell.billed_ms() < limit && !cell.invocations.is_empty(),
                correctness: false,
            });
        }
        for cell in ours.iter().filter(|cell| cell.load == "steady") {
            let p99 = percentile(&cell.overhead_ms, 0.99);
            let hold_p99 = self
                .hold_of(cell)
                .map(|hold| percentile(&hold.overhead_ms, 0.99));
            let limit = hold_p99.map_or(STEADY_P99_MS, |hold| {
                STEADY_P99_MS.min(hold + STEADY_P99_OVER_HOLD_MS)
            });
            targets.push(Target {
                name: format!("{}: completion overhead p99 (ms)", cell.label()),
                value: format!(
                    "{p99} (hold {})",
                    hold_p99.map_or("-".to_owned(), |p99| p99.to_string())
                ),
                goal: format!("≤ {STEADY_P99_MS} and ≤ hold + {STEADY_P99_OVER_HOLD_MS}"),
                met: p99 <= limit,
                correctness: false,
            });
        }
        let every = |name: &str, count: fn(&Cell) -> usize, correctness: bool| {
            let (total, cells): (usize, Vec<String>) =
                self.measured_workflow_cells()
                    .fold((0, Vec::new()), |(total, mut cells), cell| {
                        let counted = count(cell);
                        if counted > 0 {
                            cells.push(format!("{}: {counted}", cell.label()));
                        }
                        (total + counted, cells)
                    });
            Target {
                name: format!("{name}, every cell and policy"),
                value: if cells.is_empty() {
                    total.to_string()
                } else {
                    format!("{total} ({})", cells.join("; "))
                },
                goal: "0".to_owned(),
                met: total == 0,
                correctness,
            }
        };
        targets.push(every("lost workflows", Cell::lost_or_not_started, true));
        targets.push(every("Lambda timeouts", Cell::lambda_timeouts, false));
        targets.push(every("sticky timeouts", |cell| cell.sticky_timeouts, false));
        let failed: Vec<String> = self
            .cells
            .iter()
            .filter(|cell| {
                cell.not_measured.is_some() && !(cell.no_work && cell.policy == Policy::Hold)
            })
            .map(|cell| {
                format!(
                    "{}: {}",
                    cell.label(),
                    cell.not_measured.as_deref().unwrap_or_default()
                )
            })
            .collect();
        targets.push(Target {
            name: "cells measured".to_owned(),
            value: if failed.is_empty() {
                "all".to_owned()
            } else {
                failed.join("; ")
            },
            goal: "all".to_owned(),
            met: failed.is_empty(),
            correctness: true,
        });
        targets
    }

    /// Every cell's figures, its invocations' records included.
    pub fn cells_json(&self) -> Vec<Value> {
        self.cells
            .iter()
            .map(|cell| {
                let overhead = &cell.overhead_ms;
                let floor = cell.floor_per_workflow();
                json!({
                    "timeout_s": cell.timeout_seconds,
                    "drain": cell.drain.name(),
                    "load": cell.load,
                    "mix": cell.mix,
                    "policy": cell.policy.name(),
                    "not_measured": cell.not_measured,
                    "workflows": cell.workflows,
                    "billed_ms": cell.billed_ms(),
                    "billed_ms_per_workflow": cell.billed_per_workflow(),
                    "ratio_to_hold": self.ratio_to_hold(cell),
                    "invocations": cell.invocations.len(),
                    "cold_starts": cell.cold_starts(),
                    "completion_overhead_ms": {
                        "p50": percentile(overhead, 0.5),
                        "p90": percentile(overhead, 0.9),
                        "p99": percentile(overhead, 0.99),
                        "max": overhead.last(),
                    },
                    "floor_ms_per_workflow": floor,
                    "billed_over_floor": (floor > 0.0).then(|| cell.billed_per_workflow() / floor),
                    "sticky_timeouts": cell.sticky_timeouts,
                    "sticky_schedulings": sticky_counts(cell),
                    "sticky_timed_out": cell.sticky_schedulings.iter().filter(|scheduling| scheduling.wait.timed_out).map(|timeout| json!({
                        "workflow_id": timeout.workflow_id,
                        "owner": timeout.wait.owner,
                        "owner_state": timeout.owner_state.name(),
                        "scheduled_at_ms": timeout.wait.scheduled_at_ms,
                        "timeline": timeout.timeline,
                    })).collect::<Vec<_>>(),
                    "slowest_completions": Tail::of(cell).map(|tail| json!({
                        "workflows": tail.workflows,
                        "overhead_ms": tail.overhead_ms,
                        "workflow_task_wait_ms": tail.workflow_task_wait_ms,
                        "workflow_task_run_ms": tail.workflow_task_run_ms,
                        "activity_wait_ms": tail.activity_wait_ms,
                        "activity_overrun_ms": tail.activity_overrun_ms,
                        "other_ms": tail.other_ms(),
                    })),
                    "start_to_close_timeouts": cell.start_to_close_timeouts,
                    "activity_retries": cell.activity_retries,
                    "lost": cell.lost,
                    "start_failures": cell.start_failures,
                    "lambda_timeouts": cell.lambda_timeouts(),
                    "phase_means_ms": cell.phases.iter().map(|(name, mean)| (name.to_string(), json!(mean))).collect::<serde_json::Map<_, _>>(),
                    "wall_s": cell.wall.as_secs_f64(),
                    "records": cell.invocations,
                })
            })
            .collect()
    }

    /// The instance figures as JSON.
    pub fn instance_json(&self, stripped_bytes: Option<u64>) -> Value {
        let figures = self.instance_figures();
        json!({
            "cold_start_spawn_to_first_poll_ms": figures.cold_spawn_to_poll_ms,
            "warm_invocation_to_first_poll_ms": figures.warm_to_poll_ms,
            "peak_rss_mb": figures.peak_rss_mb,
            "deadline_margin_ms_min": figures.smallest_margin_ms,
            "stripped_bootstrap_bytes": stripped_bytes,
        })
    }
}

/// The columns every table's row starts with: `| timeout | drain | load | mix | policy |`.
fn row_head(cell: &Cell) -> String {
    format!(
        "| {} s | {} | {} | {} | {} |",
        cell.timeout_seconds,
        cell.drain.name(),
        cell.load,
        cell.mix,
        cell.policy.name()
    )
}

/// A cell's workflow tasks scheduled for a sticky queue, by what the queue's owner was doing.
fn sticky_counts(cell: &Cell) -> Value {
    let counts: serde_json::Map<String, Value> = [
        OwnerState::Working,
        OwnerState::Ending,
        OwnerState::Gone,
        OwnerState::Unknown,
    ]
    .into_iter()
    .map(|state| {
        let count = cell
            .sticky_schedulings
            .iter()
            .filter(|scheduling| scheduling.owner_state == state)
            .count();
        (state.name().to_owned(), json!(count))
    })
    .collect();
    Value::Object(counts)
}

/// The slowest 1 % of a cell's completions (at least one), by completion overhead, and the mean of
/// each part of their overhead.
#[derive(Debug, PartialEq)]
struct Tail {
    workflows: usize,
    overhead_ms: f64,
    workflow_task_wait_ms: f64,
    workflow_task_run_ms: f64,
    activity_wait_ms: f64,
    /// Activity started → completed beyond the activity's own time.
    activity_overrun_ms: f64,
}

impl Tail {
    fn of(cell: &Cell) -> Option<Self> {
        let mut slowest: Vec<_> = cell.spent.iter().collect();
        slowest.sort_by_key(|(overhead, ..)| std::cmp::Reverse(*overhead));
        slowest.truncate(cell.spent.len().div_ceil(100));
        if slowest.is_empty() {
            return None;
        }
        let mean = |part: &dyn Fn(&(u64, TimeSpent, u64)) -> f64| {
            slowest.iter().map(|workflow| part(workflow)).sum::<f64>() / slowest.len() as f64
        };
        let ms = |duration: std::time::Duration| duration.as_secs_f64() * 1000.0;
        Some(Self {
            workflows: slowest.len(),
            overhead_ms: mean(&|(overhead, ..)| *overhead as f64),
            workflow_task_wait_ms: mean(&|(_, spent, _)| ms(spent.workflow_task_wait)),
            workflow_task_run_ms: mean(&|(_, spent, _)| ms(spent.workflow_task_run)),
            activity_wait_ms: mean(&|(_, spent, _)| ms(spent.activity_wait)),
            activity_overrun_ms: mean(&|(_, spent, own)| {
                (ms(spent.activity_run) - *own as f64).max(0.0)
            }),
        })
    }

    /// What the parts do not account for: the server's own steps between events.
    fn other_ms(&self) -> f64 {
        self.overhead_ms
            - self.workflow_task_wait_ms
            - self.workflow_task_run_ms
            - self.activity_wait_ms
            - self.activity_overrun_ms
    }
}

#[derive(Default)]
struct InstanceFigures {
    invocations: usize,
    cold_spawn_to_poll_ms: Vec<f64>,
    warm_to_poll_ms: Vec<f64>,
    peak_rss_mb: Option<f64>,
    smallest_margin_ms: Option<i64>,
}

/// `value` with `decimals`, or `-`.
fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_owned(), |value| format!("{value:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cell(load: &'static str, policy: Policy, timeout: u64, billed: &[u64]) -> Cell {
        Cell {
            load,
            mix: if load == "no work" { "-" } else { "mixed" },
            timeout_seconds: timeout,
            drain: Drain::Server,
            policy,
            no_work: load == "no work",
            workflows: if load == "no work" { 0 } else { 10 },
            start_failures: Vec::new(),
            lost: Vec::new(),
            overhead_ms: vec![20, 40, 100],
            spent: Vec::new(),
            sticky_timeouts: 0,
            sticky_schedulings: Vec::new(),
            start_to_close_timeouts: 0,
            activity_retries: 0,
            // Ten activities of 1000 ms, one after the other: floor 1000 ms per workflow.
            activities: (0..10).map(|n| (n * 1000, 1000)).collect(),
            invocations: billed
                .iter()
                .map(|ms| json!({"billed_duration_ms": ms, "cold": false, "outcome": "success"}))
                .collect(),
            phases: Vec::new(),
            first_polls: Vec::new(),
            wall: Duration::ZERO,
            not_measured: None,
        }
    }

    fn target<'a>(targets: &'a [Target], name: &str) -> &'a Target {
        targets
            .iter()
            .find(|target| target.name.contains(name))
            .unwrap_or_else(|| panic!("no target {name}: {targets:?}"))
    }

    #[test]
    fn cells_are_compared_with_hold_and_the_floor() {
        let cells = vec![
            cell("steady", Policy::Default, 10, &[5000, 6000]),
            cell("steady", Policy::Hold, 10, &[22_000]),
            cell("burst", Policy::Default, 60, &[1000]),
            cell("burst", Policy::Hold, 60, &[40_000]),
            cell("no work", Policy::Default, 10, &[80]),
            Cell {
                not_measured: Some("holds its whole work time".to_owned()),
                ..cell("no work", Policy::Hold, 10, &[])
            },
        ];
        let report = Report::new(&cells);
        assert_eq!(report.ratio_to_hold(&cells[0]), Some(0.5));
        let targets = report.targets();
        // 1100 ms per workflow against a floor of 1000.
        assert!(target(&targets, "billed ≤ 1.2 × floor").met);
        assert!(target(&targets, "never more billed than hold").met);
        assert!(target(&targets, "times less billed than hold").met, "40 ×");
        assert!(target(&targets, "no work").met);
        assert!(target(&targets, "overhead p99").met);
        assert!(
            target(&targets, "cells measured").met,
            "hold's no-work is skipped on purpose"
        );
        assert!(targets.iter().all(|target| target.met), "{targets:?}");
        assert!(
            report
                .table()
                .contains("| 10 s | server | steady | mixed | default | 10 | 1100 | 0.50 |")
        );
        assert!(
            report
                .no_work_table()
                .contains("| 10 s | server | default | 80 |")
        );
    }

    #[test]
    fn misses_are_reported_and_only_losses_and_unmeasured_cells_fail_the_run() {
        let mut slow = cell("steady", Policy::Default, 10, &[30_000]);
        slow.overhead_ms = vec![100, 400, 900];
        slow.sticky_timeouts = 2;
        let cells = vec![
            slow,
            cell("steady", Policy::Hold, 10, &[20_000]),
            cell("no work", Policy::Default, 10, &[150]),
        ];
        let targets = Report::new(&cells).targets();
        assert!(!target(&targets, "billed ≤ 1.2 × floor").met);
        assert!(!target(&targets, "never more billed than hold").met);
        assert!(!target(&targets, "no work").met, "server drain: < 100");
        assert!(!target(&targets, "overhead p99").met);
        assert!(!target(&targets, "sticky timeouts").met);
        assert!(targets.iter().filter(|t| !t.met).all(|t| !t.correctness));

        let mut lost = cell("steady", Policy::Hold, 10, &[20_000]);
        lost.lost = vec!["bench-4-7".to_owned()];
        let broken = Cell {
            not_measured: Some("the loop did not start".to_owned()),
            ..cell("burst", Policy::Default, 10, &[])
        };
        let targets = Report::new(&[lost, broken]).targets();
        let failing: Vec<&str> = targets
            .iter()
            .filter(|t| !t.met && t.correctness)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            failing,
            ["lost workflows, every cell and policy", "cells measured"]
        );
    }

    #[test]
    fn the_slowest_completions_are_broken_down_by_what_they_waited_for() {
        let spent = |wait, run, activity_wait, activity_run| TimeSpent {
            workflow_task_wait: Duration::from_millis(wait),
            workflow_task_run: Duration::from_millis(run),
            activity_wait: Duration::from_millis(activity_wait),
            activity_run: Duration::from_millis(activity_run),
        };
        let mut steady = cell("steady", Policy::Default, 10, &[1000]);
        // 150 fast completions and two slow ones: the slowest 1 % is the two.
        steady.spent = (0..150)
            .map(|_| (30, spent(10, 10, 5, 105), 100))
            .chain([
                (1200, spent(1000, 150, 20, 1030), 1000),
                (800, spent(700, 50, 10, 40), 0),
            ])
            .collect();
        assert_eq!(
            Tail::of(&steady),
            Some(Tail {
                workflows: 2,
                overhead_ms: 1000.0,
                workflow_task_wait_ms: 850.0,
                workflow_task_run_ms: 100.0,
                activity_wait_ms: 15.0,
                activity_overrun_ms: 35.0,
            })
        );
        let cells = [steady];
        let table = Report::new(&cells).tail_table();
        assert!(
            table.contains(
                "| 10 s | server | steady | mixed | default | 2 | 1000 | 850 | 100 | 15 | 35 | 0 |"
            ),
            "{table}"
        );
    }
}
