//! The record of every invocation: one JSON line (to a file, for tools and tests) and one
//! readable log line (to stdout, for people).

use serde::Serialize;
use std::{fs::File, io::Write, path::Path, sync::Mutex};

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The function posted a response.
    Success,
    /// The function posted an error.
    Error,
    /// The function did not answer by its deadline; the instance was killed.
    Timeout,
    /// The process failed to initialise (exited, or posted `init/error`) or exited during the
    /// invocation; the instance is gone.
    Crash,
}

/// One invocation.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationRecord {
    /// Lambda request id.
    pub request_id: String,
    /// The `Lambda-Runtime-Trace-Id` handed to the function (X-Ray).
    pub trace_header: String,
    /// Function name.
    pub function: String,
    /// Instance that ran it.
    pub instance: String,
    /// Whether the instance was started for it.
    pub cold: bool,
    /// `Event`, `RequestResponse`.
    pub invocation_type: String,
    /// Process start to its first `invocation/next`, for cold starts.
    pub init_duration_ms: Option<f64>,
    /// Event handed over to answer.
    pub duration_ms: f64,
    /// Duration rounded up to the millisecond, as Lambda bills it.
    pub billed_duration_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Unless it succeeded, the error type the caller got (the function's own, or Lambda's:
    /// `Sandbox.Timedout`, `Runtime.ExitError`, `Function.ResponseSizeTooLarge`, …).
    pub error_type: Option<String>,
    /// Unless it succeeded, the error document's `errorMessage`.
    pub error_message: Option<String>,
    /// Deadline minus answer time (negative: late).
    pub deadline_margin_ms: i64,
    /// Peak resident memory of the instance so far (`VmHWM`), in MB.
    pub max_memory_used_mb: Option<f64>,
    /// Milliseconds since the Unix epoch when the event was handed over.
    pub started_at_ms: u64,
}

impl InvocationRecord {
    fn log_line(&self) -> String {
        format!(
            "lambda: {} {} {}{} instance={} {}{} duration={:.1}ms billed={}ms margin={}ms max_memory={}",
            self.function,
            self.request_id,
            serde_json::to_string(&self.outcome)
                .unwrap()
                .trim_matches('"'),
            self.error_type
                .as_deref()
                .map(|error_type| format!(" error={error_type}"))
                .unwrap_or_default(),
            self.instance,
            if self.cold { "cold" } else { "warm" },
            self.init_duration_ms
                .map(|init| format!(" init={init:.1}ms"))
                .unwrap_or_default(),
            self.duration_ms,
            self.billed_duration_ms,
            self.deadline_margin_ms,
            self.max_memory_used_mb
                .map(|mb| format!("{mb:.1}MB"))
                .unwrap_or_else(|| "?".to_owned()),
        )
    }
}

/// Where records go.
pub struct Sink {
    file: Option<Mutex<File>>,
}

impl Sink {
    /// Appends to `path` if given.
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let file = path
            .map(|path| File::options().create(true).append(true).open(path))
            .transpose()?;
        Ok(Self {
            file: file.map(Mutex::new),
        })
    }

    /// Says that `instance` (process `pid`) took the invocation `request_id`, as Lambda's
    /// `START RequestId:` line does, with the process added: which process to look at (a
    /// debugger, `/proc`, a fault injected) while the invocation runs.
    pub fn started(&self, function: &str, request_id: &str, instance: &str, pid: Option<u32>) {
        let pid = pid.map_or_else(|| "?".to_owned(), |pid| pid.to_string());
        println!("lambda: {function} {request_id} START instance={instance} pid={pid}");
    }

    /// Writes one record.
    pub fn write(&self, record: &InvocationRecord) {
        println!("{}", record.log_line());
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap();
            let _ = writeln!(file, "{}", serde_json::to_string(record).unwrap());
            let _ = file.flush();
        }
    }
}

/// Peak resident set of a process, from `/proc/<pid>/status`.
pub fn max_memory_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
