//! `temporal-serverless lambda`: a local Lambda service on loopback, so that the real Temporal
//! server's Worker Controller Instance can invoke functions on this machine exactly as it would
//! on AWS. It serves the control-plane subset the server and users call (GetFunction, Invoke)
//! and, to each function process it spawns, Lambda's Runtime API.
//!
//! Flow of one invocation: Invoke request → [`control_plane`] (payload limits, throttle or
//! queue) → [`pool`] picks a warm instance (thawing it) or starts a cold one → the instance's
//! [`runtime_api`] hands it the event → response, error, time-out or crash → [`record`] →
//! Invoke response. Back in the pool, the instance is frozen once it asks for its next event.
//!
//! It serves one developer's machine, and keeps to it: [`loopback_host`] refuses requests not
//! addressed to a loopback name (a web page's, through DNS rebinding), [`request_timeouts`]
//! bounds how long a client may take to send a request, and [`event_queue`] how much the `Event`
//! invocations waiting for an instance may hold.

pub mod control_plane;
pub mod event_queue;
pub mod function;
pub mod loopback_host;
pub mod pool;
pub mod record;
pub mod request_timeouts;
pub mod runtime_api;

use clap::Args;
use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

/// `temporal-serverless lambda` arguments.
#[derive(Args, Debug)]
pub struct LambdaArgs {
    /// Where the control plane listens; point the Temporal server's `AWS_ENDPOINT_URL_LAMBDA`
    /// here. Loopback only, and only requests addressed to a loopback name are answered (`Host`
    /// localhost, 127.x.y.z or `[::1]`), so that web pages cannot reach it through DNS rebinding.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub listen: SocketAddr,
    /// A function, as `NAME=COMMAND` (a built `bootstrap` or any `#[serverless_worker]` binary).
    /// Repeatable. Its ARN is `arn:<partition>:lambda:<region>:<account>:function:NAME`
    /// (`aws`, or the region's: `aws-cn` for `cn-north-1`, …); any qualifier
    /// (`:live`, `:3`) is accepted.
    #[arg(long = "function", value_name = "NAME=COMMAND", required = true)]
    pub functions: Vec<String>,
    /// Function timeout in seconds, as Lambda's `Timeout`: 1 to 900.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=900))]
    pub timeout: u64,
    /// Memory size in MB reported to functions (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`): 128 to
    /// 10240, as Lambda's `MemorySize`.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(128..=10240))]
    pub memory: u32,
    /// Instances per function that may run at once (Lambda's reserved concurrency), at least 1.
    /// A `RequestResponse` invoke beyond it is refused at once (429
    /// `TooManyRequestsException`); `Event` invokes queue until an instance is free, up to 10000
    /// events and 64 MiB of payload per function, and beyond that are refused too.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    pub concurrency: u64,
    /// `KEY=VALUE` set in every function's environment. Repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Region in ARNs and `AWS_REGION`.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Account in ARNs.
    #[arg(long, default_value = "000000000000")]
    pub account: String,
    /// Seconds to wait before each retry of a failed `Event` invocation. Lambda retries twice,
    /// about one and two minutes later; tests set this lower, `--event-retry-delays ''` turns
    /// retries off.
    #[arg(long, value_delimiter = ',', default_value = "60,120")]
    pub event_retry_delays: Vec<String>,
    /// Seconds an idle instance stays warm; the next invocation after that starts a cold one.
    /// Lambda keeps idle execution environments for minutes, unannounced; benchmarks set this
    /// low to measure cold starts.
    #[arg(long, default_value_t = 600)]
    pub keep_warm: u64,
    /// Append one JSON line per invocation to this file.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Do not freeze idle instances. By default an instance is stopped (SIGSTOP) once it has
    /// answered and asked for its next event, and continued (SIGCONT) when it is handed one, as
    /// Lambda freezes idle execution environments; so background work does not run between
    /// invocations and connections may die meanwhile. Turn it off to attach a debugger or a
    /// profiler to a function process, which a stopped process would confuse.
    #[arg(long)]
    pub no_freeze: bool,
}

/// Runs the service until Ctrl-C or SIGTERM, then stops every function process it started.
pub fn run(args: LambdaArgs) -> ExitCode {
    match serve_until_signal(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Checks the arguments, then serves them on a runtime of its own; what went wrong, if anything.
fn serve_until_signal(args: LambdaArgs) -> Result<(), String> {
    if !args.listen.ip().is_loopback() {
        return Err(format!(
            "--listen must be a loopback address, got {}",
            args.listen
        ));
    }
    let functions = function::parse_all(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio starts");
    runtime.block_on(serve(args, functions))
}

/// Serves `functions` on `args.listen` until a signal, then stops their processes.
async fn serve(args: LambdaArgs, functions: Vec<function::FunctionConfig>) -> Result<(), String> {
    let records = record::Sink::open(args.records.as_deref())
        .map_err(|error| format!("cannot open the records file: {error}"))?;
    let service = Arc::new(pool::Service::new(functions, records));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    for function in service.functions() {
        println!(
            "lambda: serving {} ({}) timeout={}s concurrency={} on http://{}",
            function.name,
            function.arn,
            function.timeout.as_secs(),
            function.concurrency,
            args.listen
        );
    }
    let router = control_plane::router(service.clone());
    // On a signal, stop at once: callers such as the Temporal server keep connections open,
    // so waiting for them to close would never end.
    tokio::select! {
        () = request_timeouts::serve(listener, router) => {}
        () = shutdown_signal() => {}
    }
    service.stop_all().await;
    // Give killed processes a moment to be reaped before the process exits.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

/// Why a request or response body was not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Longer than the limit; `size` is its full length (as far as it was drained).
    TooLarge { size: usize },
    /// The connection failed mid-body.
    Broken,
}

/// Reads a body of at most `limit` bytes. A longer one is drained (up to a bound) rather than
/// left unread, so that the sender, still writing, gets the error response instead of a reset
/// connection, and its full size can be reported as Lambda does. The body is held in a buffer
/// of its own size: the `Event` queue bounds what it holds by payload lengths.
pub(crate) async fn read_capped(
    mut body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, BodyError> {
    use axum::body::HttpBody;
    /// Past this, a sender is not worth draining: the connection is dropped instead.
    const DRAIN_BOUND: usize = 64 << 20;
    // Sized from `Content-Length` (which AWS's clients send): allocated once, at the body's size.
    let expected = body.size_hint().exact().map_or(0, |length| {
        usize::try_from(length).unwrap_or(usize::MAX).min(limit)
    });
    let mut kept: Vec<u8> = Vec::with_capacity(expected);
    let mut size = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|context| std::pin::Pin::new(&mut body).poll_frame(context)).await
    {
        let Ok(data) = frame.map_err(|_| BodyError::Broken)?.into_data() else {
            continue;
        };
        size += data.len();
        if size <= limit {
            kept.extend_from_slice(&data);
        } else {
            kept = Vec::new();
            if size > DRAIN_BOUND {
                break;
            }
        }
    }
    if size > limit {
        Err(BodyError::TooLarge { size })
    } else {
        // A chunked body's buffer grew as it came, to up to twice its size.
        kept.shrink_to_fit();
        Ok(kept.into())
    }
}

/// Milliseconds since the Unix epoch, the unit of Lambda's deadlines and of the records.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
