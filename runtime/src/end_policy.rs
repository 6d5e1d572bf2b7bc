//! How long an idle worker waits for more work before its invocation ends.
//!
//! Waiting is billed by the millisecond. Ending is billed too, once: the drain and shutdown now,
//! and the next invocation's start (hand-out to first poll) when work comes back. Which is cheaper
//! depends on the gap before the next task, unknown when the choice is made: ski rental. Waiting
//! exactly as long as an end costs is never worse than twice the best choice in hindsight; knowing
//! how the gaps fall does better. So each warm instance remembers the gaps it has seen (between a
//! task's answer and the next task, within an invocation or across a freeze) and what its ends
//! cost, and picks the window with the least expected cost over those gaps, within bounds.
//! `idle_exit(Some(window))` fixes the window; `idle_exit(None)` holds every invocation to its
//! work time.

use std::{collections::VecDeque, time::Duration};

/// The shortest learned window: ending sooner than this gains nothing measurable.
const MIN_WINDOW: Duration = Duration::from_millis(20);
/// The longest learned window: past it, a gap is worth an end whatever an end costs here.
const MAX_WINDOW: Duration = Duration::from_secs(2);
/// What an end is assumed to cost before this instance has measured one, its drain not yet known
/// (a process's first invocation).
const INITIAL_END_COST: Duration = Duration::from_millis(300);
/// The same where the server completes polls on shutdown: a round trip, the shutdown and the
/// next invocation's start (tens of ms on loopback; room for a server in another region).
const INITIAL_SERVER_DRAIN_END_COST: Duration = Duration::from_millis(100);
/// The same where polls drain by their deadline: the drain waits for the outstanding polls (up
/// to 1.5 s; about 1 s measured on the local loop).
const INITIAL_DEADLINE_DRAIN_END_COST: Duration = Duration::from_secs(1);
/// Gaps remembered: enough to see the traffic's shape, few enough to follow it when it changes.
const REMEMBERED_GAPS: usize = 64;
/// Below this many gaps, the window is the end cost (the choice that needs no knowledge).
const GAPS_TO_LEARN: usize = 8;
/// Weight of the newest end's cost in the running estimate.
const END_COST_WEIGHT: f64 = 0.25;

/// The idle window as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdleExit {
    /// Learned from this instance's gaps and end costs (the default).
    Learned,
    /// Fixed by `idle_exit(Some(window))`.
    After(Duration),
    /// `idle_exit(None)`: never end early.
    Never,
}

/// The window chosen for one invocation, and where it came from (for the span and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) idle: Option<Duration>,
    /// Gaps it was learned from; `None` when configured.
    pub(crate) learned_from: Option<usize>,
}

/// What a warm instance has seen: the gaps before its tasks and what its ends cost.
#[derive(Debug)]
pub(crate) struct EndPolicy {
    config: IdleExit,
    gaps: VecDeque<Duration>,
    /// What ends have cost here; `None` until one was measured.
    end_cost: Option<Duration>,
}

impl EndPolicy {
    pub(crate) fn new(config: IdleExit) -> Self {
        Self {
            config,
            gaps: VecDeque::with_capacity(REMEMBERED_GAPS),
            end_cost: None,
        }
    }

    /// A task came after the worker had been idle for `gap`.
    pub(crate) fn saw_gap(&mut self, gap: Duration) {
        if self.gaps.len() == REMEMBERED_GAPS {
            self.gaps.pop_front();
        }
        self.gaps.push_back(gap);
    }

    /// An end cost this much: drain, shutdown and hooks, plus the next start's hand-out to first
    /// poll. The first measure replaces the assumption; later ones are blended in.
    pub(crate) fn saw_end_cost(&mut self, cost: Duration) {
        self.end_cost = Some(self.end_cost.map_or(cost, |known| {
            Duration::from_secs_f64(
                known.as_secs_f64() * (1.0 - END_COST_WEIGHT)
                    + cost.as_secs_f64() * END_COST_WEIGHT,
            )
        }));
    }

    /// What an end is estimated to cost; `server_drain`: whether the server completes polls on
    /// shutdown, if known.
    pub(crate) fn end_cost(&self, server_drain: Option<bool>) -> Duration {
        self.end_cost.unwrap_or(match server_drain {
            Some(true) => INITIAL_SERVER_DRAIN_END_COST,
            Some(false) => INITIAL_DEADLINE_DRAIN_END_COST,
            None => INITIAL_END_COST,
        })
    }

    /// The window for the next invocation (`server_drain` as for [`EndPolicy::end_cost`]).
    pub(crate) fn window(&self, server_drain: Option<bool>) -> Window {
        match self.config {
            IdleExit::After(window) => Window {
                idle: Some(window),
                learned_from: None,
            },
            IdleExit::Never => Window {
                idle: None,
                learned_from: None,
            },
            IdleExit::Learned => Window {
                idle: Some(self.learned_window(self.end_cost(server_drain))),
                learned_from: Some(self.gaps.len()),
            },
        }
    }

    fn learned_window(&self, end: Duration) -> Duration {
        if self.gaps.len() < GAPS_TO_LEARN {
            return end.clamp(MIN_WINDOW, MAX_WINDOW);
        }
        // The best threshold is 0 or one of the gaps: the expected cost only changes slope there.
        let expected_cost = |window: Duration| -> Duration {
            self.gaps
                .iter()
                .map(|&gap| if gap <= window { gap } else { window + end })
                .sum::<Duration>()
        };
        std::iter::once(MIN_WINDOW)
            .chain(
                self.gaps
                    .iter()
                    .copied()
                    .filter(|gap| (MIN_WINDOW..=MAX_WINDOW).contains(gap)),
            )
            .min_by_key(|&window| (expected_cost(window), window))
            .unwrap_or(MIN_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn learned(end_cost: u64, gaps: &[u64]) -> Duration {
        let mut policy = EndPolicy::new(IdleExit::Learned);
        policy.end_cost = Some(ms(end_cost));
        for &gap in gaps {
            policy.saw_gap(ms(gap));
        }
        policy.window(None).idle.unwrap()
    }

    #[test]
    fn without_knowledge_the_window_is_what_an_end_costs() {
        assert_eq!(learned(250, &[]), ms(250));
        assert_eq!(learned(250, &[10, 20, 30]), ms(250));
        assert_eq!(learned(5, &[]), MIN_WINDOW, "bounded below");
        assert_eq!(learned(60_000, &[]), MAX_WINDOW, "bounded above");
    }

    #[test]
    fn short_gaps_are_waited_for() {
        // Work comes back within 150 ms every time, and an end costs 300 ms: wait.
        assert_eq!(
            learned(300, &[100, 150, 120, 90, 110, 130, 140, 150]),
            ms(150)
        );
    }

    #[test]
    fn long_gaps_end_at_once() {
        // Work comes back after seconds: every millisecond waited is lost.
        assert_eq!(
            learned(
                300,
                &[5_000, 8_000, 3_000, 12_000, 4_000, 6_000, 9_000, 7_000]
            ),
            MIN_WINDOW
        );
    }

    #[test]
    fn mixed_gaps_wait_for_the_short_ones_when_they_are_worth_it() {
        // Half the gaps are 100 ms, half 10 s; an end costs 300 ms. Waiting 100 ms costs
        // 4 × 100 + 4 × (100 + 300) = 2,000; ending at once 8 × (20 + 300) = 2,560.
        let gaps = [100, 10_000, 100, 10_000, 100, 10_000, 100, 10_000];
        assert_eq!(learned(300, &gaps), ms(100));
        // With ends that cost 20 ms, waiting for them is not worth it any more.
        assert_eq!(learned(20, &gaps), MIN_WINDOW);
    }

    #[test]
    fn configured_windows_are_kept() {
        let mut policy = EndPolicy::new(IdleExit::After(ms(500)));
        policy.saw_gap(ms(1));
        assert_eq!(
            policy.window(Some(true)),
            Window {
                idle: Some(ms(500)),
                learned_from: None
            }
        );
        assert_eq!(
            EndPolicy::new(IdleExit::Never).window(Some(true)).idle,
            None
        );
    }

    #[test]
    fn the_end_cost_follows_what_ends_cost() {
        let mut policy = EndPolicy::new(IdleExit::Learned);
        assert_eq!(policy.end_cost(None), INITIAL_END_COST);
        assert_eq!(policy.end_cost(Some(true)), INITIAL_SERVER_DRAIN_END_COST);
        assert_eq!(
            policy.end_cost(Some(false)),
            INITIAL_DEADLINE_DRAIN_END_COST
        );
        policy.saw_end_cost(ms(40));
        assert_eq!(
            policy.end_cost(None),
            ms(40),
            "the first measure replaces the assumption"
        );
        policy.saw_end_cost(ms(200));
        assert_eq!(
            policy.end_cost(Some(true)),
            ms(80),
            "later ones are blended in"
        );
        for _ in 0..30 {
            policy.saw_end_cost(ms(40));
        }
        assert!(
            policy.end_cost(Some(true)) < ms(45),
            "{:?}",
            policy.end_cost(Some(true))
        );
    }

    #[test]
    fn before_any_end_the_window_is_what_an_end_is_assumed_to_cost_in_its_drain() {
        let policy = EndPolicy::new(IdleExit::Learned);
        assert_eq!(policy.window(None).idle, Some(INITIAL_END_COST));
        assert_eq!(
            policy.window(Some(true)).idle,
            Some(INITIAL_SERVER_DRAIN_END_COST)
        );
    }

    #[test]
    fn old_gaps_are_forgotten() {
        let mut policy = EndPolicy::new(IdleExit::Learned);
        for _ in 0..REMEMBERED_GAPS {
            policy.saw_gap(ms(100));
        }
        for _ in 0..REMEMBERED_GAPS {
            policy.saw_gap(ms(20_000));
        }
        assert_eq!(policy.window(None).idle, Some(MIN_WINDOW));
    }
}
