//! The function's log subscriber: Lambda's default format (level from `AWS_LAMBDA_LOG_LEVEL`,
//! else `RUST_LOG`, else INFO; JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`; no timestamps, since
//! CloudWatch stamps each line; no targets), with two differences from
//! `lambda_runtime::tracing::init_default_subscriber`:
//!
//! - no ANSI colour codes: Lambda has no terminal, and CloudWatch shows the escape codes as
//!   garbage (`tracing-subscriber` colours by default when its `ansi` feature is on, which the
//!   Temporal SDK turns on);
//! - every line passes through [`redact::text`] before it is written, so a secret that reaches a
//!   log line through any library's message is masked there (see [`crate::redact`]).
//!
//! A failed invocation is logged as one error line carrying its `error_type` (what Lambda records,
//! and what `temporal-serverless doctor` looks for in CloudWatch) and its redacted message
//! ([`invocation_failed`]); `lambda_runtime`'s own line for a handler's error is filtered out, so
//! that the failure is logged, and counted, once.
//!
//! Panics are logged through it too: an invocation's panic and a shutdown hook's are caught and
//! answered (see `panics` and `hooks`), but Rust's default hook would first print the message
//! straight to stderr, unmasked, without the request id, and as a line that is not JSON.

use crate::{error::ServerlessError, redact};
use lambda_runtime::tracing::subscriber::{self, EnvFilter, filter::LevelFilter, fmt::MakeWriter};
use std::{io::Write, str::FromStr};

/// Installs the subscriber, after remembering the secrets in the process's environment (e.g.
/// `TEMPORAL_API_KEY`, Lambda's `AWS_SECRET_ACCESS_KEY`) so that no line prints them, and a
/// panic hook that logs through whichever subscriber is installed. Keeps a subscriber that is
/// already installed.
pub(crate) fn init() {
    std::panic::set_hook(Box::new(log_panic));
    redact::remember_process_environment();
    let var = |name: &str| std::env::var(name).ok();
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .and_then(|level| LevelFilter::from_str(&level).ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_env_filter(filter(level))
        .with_writer(RedactingStdout);
    let installed =
        if var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("json")) {
            builder.json().try_init()
        } else {
            builder.try_init()
        };
    // Already installed (a test, or a user's main that set up its own): keep that one.
    drop(installed);
}

/// Where `lambda_runtime` logs a handler's error (as `Diagnostic { error_type: .., .. }`, unstructured)
/// and a panic that escaped the handler (which `panics::caught` never lets happen): off, since
/// [`invocation_failed`] logs every failure.
const HANDLER_ERROR_TARGET_OFF: &str = "lambda_runtime::layers::panic=off";

/// `level` unless `RUST_LOG` says otherwise, and `lambda_runtime`'s handler-error line off
/// whatever it says.
fn filter(level: LevelFilter) -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy()
        .add_directive(
            HANDLER_ERROR_TARGET_OFF
                .parse()
                .expect("a valid filter directive"),
        )
}

/// The one line a failed invocation logs: its error type, as Lambda records it, and its message,
/// redacted (the writer redacts again).
pub(crate) fn invocation_failed(error: &ServerlessError) {
    tracing::error!(
        error = %error.redacted_message(),
        error_type = %error.error_type(),
        "the invocation failed"
    );
}

/// A panic as one error line, in the span it happened in (so with the invocation's request id).
/// The backtrace only when `RUST_BACKTRACE` asks for one, as with Rust's default hook.
fn log_panic(panic: &std::panic::PanicHookInfo<'_>) {
    let message = crate::panics::message(panic.payload());
    let location = panic
        .location()
        .map(ToString::to_string)
        .unwrap_or_default();
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        tracing::error!(panic = %message, location, %backtrace, "panicked");
    } else {
        tracing::error!(panic = %message, location, "panicked");
    }
}

/// Standard output, one redacted event at a time.
struct RedactingStdout;

impl<'writer> MakeWriter<'writer> for RedactingStdout {
    type Writer = RedactingLine;

    fn make_writer(&'writer self) -> Self::Writer {
        RedactingLine(Vec::new())
    }
}

/// One event's formatted text, collected and written, redacted, when the formatter drops it
/// (`tracing-subscriber` formats an event whole, then writes it through one writer).
struct RedactingLine(Vec<u8>);

impl Write for RedactingLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = redact::text(&String::from_utf8_lossy(&self.0));
        // Nowhere to report a failed log write to.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::SENTINEL;
    use std::sync::{Arc, Mutex};

    /// Lines written through the function's filter, into memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_invocation_is_one_error_line_with_its_error_type_and_no_secret() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_ansi(false)
            .with_env_filter(filter(LevelFilter::INFO))
            .with_writer(move || writer.clone())
            .finish();
        let error = ServerlessError::Worker(format!("bad config: api_key = \"{SENTINEL}\""));
        tracing::subscriber::with_default(subscriber, || {
            invocation_failed(&error);
            // What lambda_runtime's catch-panic layer logs for the same error.
            tracing::error!(target: "lambda_runtime::layers::panic", "{:?}", lambda_runtime::Diagnostic::from(error));
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(
            lines[0].starts_with(
                "ERROR the invocation failed error=the Temporal worker failed: bad config"
            ) && lines[0].ends_with("error_type=TemporalServerless.Worker"),
            "{text}"
        );
        assert!(!text.contains("SENTINEL"), "{text}");
    }
}
