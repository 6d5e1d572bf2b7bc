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

use crate::redact;
use lambda_runtime::tracing::subscriber::{self, EnvFilter, filter::LevelFilter, fmt::MakeWriter};
use std::{io::Write, str::FromStr};

/// Installs the subscriber, after remembering the secrets in the process's environment (e.g.
/// `TEMPORAL_API_KEY`, Lambda's `AWS_SECRET_ACCESS_KEY`) so that no line prints them. Does
/// nothing if a subscriber is already installed.
pub(crate) fn init() {
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
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
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
