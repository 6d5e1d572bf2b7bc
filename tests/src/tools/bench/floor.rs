//! The least any scheduler could be billed for a run's arrivals: every activity starts the moment
//! its workflow arrives and runs its own length, with no overhead at all, on instances of
//! [`SLOTS`] activity slots each, so that `n` activities running at once need ⌈n / slots⌉
//! instances. The floor is the integral of that over time. (Activity time / slots alone would
//! assume perfect packing, which arrivals at random moments do not allow.)

/// Activity slots per instance: the runtime's default of 2 concurrent activities.
pub const SLOTS: usize = 2;

/// The floor, in instance-milliseconds, of `activities` = (start ms on any one clock, length
/// ms), on instances of `slots` slots.
pub fn floor_ms(activities: &[(i64, u64)], slots: usize) -> u64 {
    assert!(slots > 0, "an instance has at least one slot");
    // (+1 at a start, -1 at an end); at one moment the ends first, so that back-to-back
    // activities never count twice (the width at a moment is zero anyway).
    let mut changes: Vec<(i64, i64)> = activities
        .iter()
        .filter(|(_, length)| *length > 0)
        .flat_map(|(start, length)| [(*start, 1), (start + *length as i64, -1)])
        .collect();
    changes.sort_unstable();
    let mut running: i64 = 0;
    let mut floor = 0;
    for pair in changes.windows(2) {
        running += pair[0].1;
        let width = (pair[1].0 - pair[0].0) as u64;
        floor += width * (running as u64).div_ceil(slots as u64);
    }
    floor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_activity_costs_its_length() {
        assert_eq!(floor_ms(&[(500, 1000)], 2), 1000);
    }

    #[test]
    fn two_at_once_share_an_instance_and_a_third_needs_another() {
        assert_eq!(floor_ms(&[(0, 1000), (0, 1000)], 2), 1000);
        assert_eq!(floor_ms(&[(0, 1000), (0, 1000), (0, 1000)], 2), 2000);
        assert_eq!(floor_ms(&[(0, 1000), (0, 1000), (0, 1000)], 1), 3000);
    }

    #[test]
    fn overlaps_pack_only_where_they_overlap() {
        // 1 running for 0–500, 2 for 500–1000, 1 for 1000–1500.
        assert_eq!(floor_ms(&[(0, 1000), (500, 1000)], 2), 1500);
        // 3 running for 200–300: two instances there.
        assert_eq!(
            floor_ms(&[(0, 400), (100, 400), (200, 100)], 2),
            100 + 100 + 2 * 100 + 100 + 100
        );
    }

    #[test]
    fn gaps_and_zero_length_activities_cost_nothing() {
        assert_eq!(floor_ms(&[(0, 100), (10_000, 100), (5_000, 0)], 2), 200);
        assert_eq!(floor_ms(&[(0, 0)], 2), 0);
        assert_eq!(floor_ms(&[], 2), 0);
    }

    #[test]
    fn back_to_back_activities_are_one_instance_throughout() {
        assert_eq!(floor_ms(&[(0, 100), (100, 100), (200, 100)], 2), 300);
    }

    #[test]
    fn the_order_of_the_arrivals_does_not_matter() {
        let activities = [(700, 2500), (0, 50), (100, 4000), (120, 300), (90, 1000)];
        let mut reversed = activities;
        reversed.reverse();
        assert_eq!(floor_ms(&activities, 2), floor_ms(&reversed, 2));
    }
}
