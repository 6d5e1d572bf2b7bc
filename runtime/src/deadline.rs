//! Deadline arithmetic for one invocation, pure so that tests drive it without sleeping.
//!
//! work time = time remaining before Lambda's deadline − shutdown deadline buffer. The worker
//! polls during the work time, then drains within the buffer, so the invocation answers before
//! Lambda would kill it.
//!
//! A local emulator does not send a deadline Lambda could send: `cargo lambda watch` sends
//! `Lambda-Runtime-Deadline-Ms: 600000`, a constant (1970). A deadline before the process started,
//! or further ahead than Lambda's longest timeout allows, is taken for an emulator's: the
//! invocation works for the local work time ([`LOCAL_WORK_TIME_VARIABLE`], default
//! [`DEFAULT_LOCAL_WORK_TIME`]) instead of failing as too short. A real deadline that is short,
//! or already past, still fails.

use std::time::Duration;

/// Lambda's longest function timeout: no invocation has more time than this.
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);
/// Work time at or below which an invocation is refused: it could not finish even one task.
pub const MIN_WORK_TIME: Duration = Duration::from_secs(1);
/// Work time below which a warning is logged: long activities will not fit.
pub const WARN_WORK_TIME: Duration = Duration::from_secs(5);
/// How far past [`LAMBDA_MAX_TIMEOUT`] a deadline may lie and still be taken for Lambda's: the
/// event reaches the process a little after Lambda set the deadline, and the clocks may differ
/// by a little. A deadline further ahead is an emulator's.
pub const DEADLINE_SLACK: Duration = Duration::from_secs(60);
/// Seconds an invocation works when its deadline is an emulator's (see [`Deadline::Local`]).
pub const LOCAL_WORK_TIME_VARIABLE: &str = "TEMPORAL_SERVERLESS_LOCAL_WORK_TIME";
/// The local work time without [`LOCAL_WORK_TIME_VARIABLE`]: long enough for a workflow with a
/// few short activities; the idle exit ends an invocation with nothing to do much sooner.
pub const DEFAULT_LOCAL_WORK_TIME: Duration = Duration::from_secs(60);

/// The deadline an invocation works to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The deadline Lambda sent (milliseconds since the Unix epoch); it may be short or past.
    Lambda(u64),
    /// The one sent cannot be Lambda's (a local emulator's): the local work time plus the
    /// shutdown deadline buffer from the invocation's start.
    Local {
        /// The deadline worked to, milliseconds since the Unix epoch.
        deadline_ms: u64,
        /// The deadline the emulator sent.
        sent_ms: u64,
        /// Why it cannot be Lambda's.
        reason: NotLambda,
    },
}

/// Why a deadline cannot be Lambda's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotLambda {
    /// It lies before the process started; Lambda sets an invocation's deadline after the
    /// process asked for the invocation.
    BeforeProcessStart,
    /// It lies further ahead than Lambda's longest timeout plus [`DEADLINE_SLACK`].
    TooFarAhead,
}

impl NotLambda {
    /// The reason, for a log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeProcessStart => "it lies before this process started",
            Self::TooFarAhead => "it lies more than Lambda's longest timeout (900 s) ahead",
        }
    }
}

impl Deadline {
    /// Milliseconds since the Unix epoch.
    pub fn ms(self) -> u64 {
        match self {
            Self::Lambda(deadline_ms) | Self::Local { deadline_ms, .. } => deadline_ms,
        }
    }
}

/// The deadline of an invocation that arrived at `now_ms` with `sent_ms` from the Runtime API, in
/// a process that started at `process_started_ms` (all milliseconds since the Unix epoch).
pub fn invocation_deadline(
    sent_ms: u64,
    now_ms: u64,
    process_started_ms: u64,
    local_work_time: Duration,
    buffer: Duration,
) -> Deadline {
    let latest_real =
        now_ms.saturating_add((LAMBDA_MAX_TIMEOUT + DEADLINE_SLACK).as_millis() as u64);
    let reason = if sent_ms < process_started_ms {
        NotLambda::BeforeProcessStart
    } else if sent_ms > latest_real {
        NotLambda::TooFarAhead
    } else {
        return Deadline::Lambda(sent_ms);
    };
    let local = local_work_time.saturating_add(buffer).as_millis();
    Deadline::Local {
        deadline_ms: now_ms.saturating_add(u64::try_from(local).unwrap_or(u64::MAX)),
        sent_ms,
        reason,
    }
}

/// The local work time from [`LOCAL_WORK_TIME_VARIABLE`]'s value, whole seconds from 2 to 900
/// (Lambda's bounds: a work time must exceed [`MIN_WORK_TIME`]); [`DEFAULT_LOCAL_WORK_TIME`]
/// when unset or empty.
pub fn local_work_time(value: Option<&str>) -> Result<Duration, String> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(DEFAULT_LOCAL_WORK_TIME);
    };
    match value.parse::<u64>() {
        Ok(seconds) if (2..=LAMBDA_MAX_TIMEOUT.as_secs()).contains(&seconds) => {
            Ok(Duration::from_secs(seconds))
        }
        _ => Err(format!(
            "{LOCAL_WORK_TIME_VARIABLE}={value:?} is not a work time: give whole seconds from 2 to {}, e.g. {LOCAL_WORK_TIME_VARIABLE}=60, or unset it for {} s",
            LAMBDA_MAX_TIMEOUT.as_secs(),
            DEFAULT_LOCAL_WORK_TIME.as_secs()
        )),
    }
}

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

    const STARTED_MS: u64 = 1_800_000_000_000;
    const NOW_MS: u64 = STARTED_MS + 5_000;
    const LOCAL: Duration = Duration::from_secs(60);

    #[test]
    fn an_emulators_deadline_gives_the_local_work_time() {
        // cargo lambda watch's constant: 600 s after the epoch.
        let deadline = invocation_deadline(600_000, NOW_MS, STARTED_MS, LOCAL, BUFFER);
        assert_eq!(
            deadline,
            Deadline::Local {
                deadline_ms: NOW_MS + 67_000,
                sent_ms: 600_000,
                reason: NotLambda::BeforeProcessStart,
            }
        );
        let plan = plan(remaining(deadline.ms(), NOW_MS), BUFFER).unwrap();
        assert_eq!(plan.work_time, LOCAL);
        // Far ahead: a year, or u64::MAX.
        for sent_ms in [NOW_MS + 365 * 86_400_000, u64::MAX] {
            let deadline = invocation_deadline(sent_ms, NOW_MS, STARTED_MS, LOCAL, BUFFER);
            assert!(
                matches!(
                    deadline,
                    Deadline::Local { reason: NotLambda::TooFarAhead, deadline_ms, .. }
                        if deadline_ms == NOW_MS + 67_000
                ),
                "{deadline:?}"
            );
        }
        assert!(
            invocation_deadline(0, u64::MAX, STARTED_MS, Duration::MAX, BUFFER).ms() == u64::MAX
        );
    }

    #[test]
    fn every_deadline_lambda_could_send_is_kept() {
        let longest = NOW_MS + (LAMBDA_MAX_TIMEOUT + DEADLINE_SLACK).as_millis() as u64;
        // Short, expired after the process started, the longest timeout, with slack.
        for sent_ms in [
            NOW_MS + 3_000,
            NOW_MS,
            STARTED_MS,
            NOW_MS + 900_000,
            longest,
        ] {
            assert_eq!(
                invocation_deadline(sent_ms, NOW_MS, STARTED_MS, LOCAL, BUFFER),
                Deadline::Lambda(sent_ms)
            );
        }
        assert!(matches!(
            invocation_deadline(longest + 1, NOW_MS, STARTED_MS, LOCAL, BUFFER),
            Deadline::Local { .. }
        ));
        // A real but short deadline still fails as too short.
        let short = invocation_deadline(NOW_MS + 8_000, NOW_MS, STARTED_MS, LOCAL, BUFFER);
        assert!(plan(remaining(short.ms(), NOW_MS), BUFFER).is_err());
        let expired = invocation_deadline(STARTED_MS + 1, NOW_MS, STARTED_MS, LOCAL, BUFFER);
        assert!(plan(remaining(expired.ms(), NOW_MS), BUFFER).is_err());
    }

    #[test]
    fn the_local_work_time_is_whole_seconds_within_lambdas_bounds() {
        assert_eq!(local_work_time(None), Ok(DEFAULT_LOCAL_WORK_TIME));
        assert_eq!(local_work_time(Some(" ")), Ok(DEFAULT_LOCAL_WORK_TIME));
        assert_eq!(local_work_time(Some("2")), Ok(Duration::from_secs(2)));
        assert_eq!(local_work_time(Some("900")), Ok(LAMBDA_MAX_TIMEOUT));
        for wrong in ["1", "901", "30s", "-5", "1.5"] {
            let message = local_work_time(Some(wrong)).unwrap_err();
            assert!(
                message.contains(LOCAL_WORK_TIME_VARIABLE) && message.contains("2 to 900"),
                "{message}"
            );
        }
    }

    #[test]
    fn remaining_saturates_past_the_deadline() {
        assert_eq!(remaining(10_000, 4_000), Duration::from_secs(6));
        assert_eq!(remaining(4_000, 10_000), Duration::ZERO);
    }
}
