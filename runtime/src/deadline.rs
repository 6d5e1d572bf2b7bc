//! Deadline arithmetic for one invocation, pure so that tests drive it without sleeping.
//!
//! work time = time remaining before Lambda's deadline − shutdown deadline buffer. The worker
//! polls during the work time, then drains within the buffer, so the invocation answers before
//! Lambda would kill it.

use std::time::Duration;

/// Lambda's longest function timeout: no invocation has more time than this.
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);
/// Work time at or below which an invocation is refused: it could not finish even one task.
pub const MIN_WORK_TIME: Duration = Duration::from_secs(1);
/// Work time below which a warning is logged: long activities will not fit.
pub const WARN_WORK_TIME: Duration = Duration::from_secs(5);

/// How an invocation will spend the time it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkPlan {
    /// Time left before Lambda's deadline when the invocation started.
    pub remaining: Duration,
    /// Time kept back for draining and shutdown hooks.
    pub buffer: Duration,
    /// Time the worker polls for.
    pub work_time: Duration,
    /// Whether the work time is short enough to warn about.
    pub short: bool,
}

/// The deadline leaves no useful work time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "deadline too short: {remaining_ms} ms remain before Lambda's deadline and the shutdown deadline \
     buffer is {buffer_ms} ms, leaving {work_ms} ms of work time (more than {min_ms} ms needed); \
     raise the function's timeout (aws lambda update-function-configuration --timeout), or lower \
     the graceful shutdown with `worker.graceful_shutdown(..)`",
    remaining_ms = remaining.as_millis(),
    buffer_ms = buffer.as_millis(),
    work_ms = remaining.saturating_sub(*buffer).as_millis(),
    min_ms = MIN_WORK_TIME.as_millis()
)]
pub struct DeadlineTooShort {
    /// Time left before the deadline.
    pub remaining: Duration,
    /// The shutdown deadline buffer.
    pub buffer: Duration,
}

/// Plans an invocation with `remaining` time before its deadline.
pub fn plan(remaining: Duration, buffer: Duration) -> Result<WorkPlan, DeadlineTooShort> {
    let work_time = remaining.saturating_sub(buffer);
    if work_time <= MIN_WORK_TIME {
        return Err(DeadlineTooShort { remaining, buffer });
    }
    Ok(WorkPlan {
        remaining,
        buffer,
        work_time,
        short: work_time < WARN_WORK_TIME,
    })
}

/// Time from `now_ms` until `deadline_ms` (both milliseconds since the Unix epoch), zero if past.
pub fn remaining(deadline_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUFFER: Duration = Duration::from_secs(7);

    #[test]
    fn work_time_is_remaining_minus_buffer() {
        let plan = plan(Duration::from_secs(30), BUFFER).unwrap();
        assert_eq!(plan.work_time, Duration::from_secs(23));
        assert!(!plan.short);
    }

    #[test]
    fn short_work_time_warns_and_one_second_or_less_fails() {
        assert!(plan(Duration::from_millis(11_999), BUFFER).unwrap().short);
        assert!(!plan(Duration::from_secs(12), BUFFER).unwrap().short);
        assert!(plan(Duration::from_millis(8_001), BUFFER).is_ok());
        let error = plan(Duration::from_secs(8), BUFFER).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("8000 ms remain"), "{message}");
        assert!(message.contains("buffer is 7000 ms"), "{message}");
        assert!(
            message.contains("--timeout") && message.contains("graceful_shutdown"),
            "{message}"
        );
        assert!(plan(Duration::from_secs(3), BUFFER).is_err());
    }

    #[test]
    fn any_buffer_plans_without_overflow() {
        let error = plan(LAMBDA_MAX_TIMEOUT, Duration::MAX).unwrap_err();
        assert!(error.to_string().contains("leaving 0 ms"), "{error}");
        assert!(plan(Duration::MAX, Duration::MAX).is_err());
        assert_eq!(
            plan(Duration::MAX, BUFFER).unwrap().work_time,
            Duration::MAX - BUFFER
        );
    }

    #[test]
    fn remaining_saturates_past_the_deadline() {
        assert_eq!(remaining(10_000, 4_000), Duration::from_secs(6));
        assert_eq!(remaining(4_000, 10_000), Duration::ZERO);
    }
}
