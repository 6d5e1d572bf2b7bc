//! Shutdown hooks: run after an invocation's worker has stopped and before the invocation
//! answers, in registration order. A failing hook is logged and the rest still run, because one
//! broken flush must not keep the others (telemetry, connections) from theirs. A synchronous
//! hook runs on a blocking thread, so that the invocation's bound on the hooks (a timeout around
//! [`run_all`]) can end the wait even while the hook blocks: run on the invocation's own thread,
//! a hook stuck in a blocking call would hold the answer past Lambda's deadline.

use futures::{FutureExt, future::BoxFuture};
use std::{panic::AssertUnwindSafe, sync::Arc};

/// What a hook may fail with.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// One registered hook.
pub(crate) enum ShutdownHook {
    Sync(Arc<dyn Fn() -> Result<(), HookError> + Send + Sync>),
    Async(Box<dyn Fn() -> BoxFuture<'static, Result<(), HookError>> + Send + Sync>),
}

/// Runs every hook in order; returns how many failed. A hook that panics has failed like one that
/// returned an error: the invocation still answers and the process keeps serving.
pub(crate) async fn run_all(hooks: &[ShutdownHook]) -> usize {
    let mut failed = 0;
    for (index, hook) in hooks.iter().enumerate() {
        let result = match hook {
            ShutdownHook::Sync(hook) => {
                let hook = hook.clone();
                // The invocation's span goes along: what the hook logs (a panic too) is the
                // invocation's.
                let span = tracing::Span::current();
                tokio::task::spawn_blocking(move || {
                    span.in_scope(|| {
                        std::panic::catch_unwind(AssertUnwindSafe(|| hook()))
                            .unwrap_or_else(|panic| Err(panicked(&*panic)))
                    })
                })
                .await
                .unwrap_or_else(|error| Err(format!("could not run: {error}").into()))
            }
            ShutdownHook::Async(hook) => AssertUnwindSafe(async { hook().await })
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panicked(&*panic))),
        };
        if let Err(error) = result {
            failed += 1;
            tracing::error!(hook = index, %error, "shutdown hook failed; running the remaining hooks");
        }
    }
    failed
}

/// A panic's message, as the error of the hook that panicked.
fn panicked(panic: &(dyn std::any::Any + Send)) -> HookError {
    format!("panicked: {}", crate::panics::message(panic)).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::Mutex, time::Duration};

    /// A hook stuck in a blocking call (a flush to an endpoint that never answers) cannot hold
    /// the invocation: the bound around the hooks ends the wait. On one worker thread, as in
    /// Lambda's smallest memory sizes: the blocked hook must not block the timer either.
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocking_hook_is_left_behind_at_the_bound() {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = Mutex::new(blocked);
        let hooks = [ShutdownHook::Sync(Arc::new(move || {
            let _ = blocked
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20));
            Ok(())
        }))];
        let started = std::time::Instant::now();
        let bounded = tokio::time::timeout(Duration::from_millis(300), run_all(&hooks)).await;
        assert!(bounded.is_err(), "the bound ended the wait");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "ended at the bound, not when the hook returned: {:?}",
            started.elapsed()
        );
        // Lets the hook return, so that the test's runtime is not kept waiting on its thread.
        drop(release);
    }

    #[tokio::test]
    async fn run_in_order_and_survive_failures() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let record = |name: &'static str, fail: bool| {
            let order = order.clone();
            move || -> Result<(), HookError> {
                order.lock().unwrap().push(name);
                if fail {
                    Err(format!("{name} failed").into())
                } else {
                    Ok(())
                }
            }
        };
        let async_hook = {
            let order = order.clone();
            move || -> BoxFuture<'static, Result<(), HookError>> {
                let order = order.clone();
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    order.lock().unwrap().push("async");
                    Ok(())
                })
            }
        };
        let hooks = vec![
            ShutdownHook::Sync(Arc::new(record("first", false))),
            ShutdownHook::Sync(Arc::new(record("failing", true))),
            ShutdownHook::Async(Box::new(async_hook)),
            ShutdownHook::Sync(Arc::new(|| panic!("sync hook bug"))),
            ShutdownHook::Async(Box::new(|| Box::pin(async { panic!("async hook bug") }))),
            ShutdownHook::Sync(Arc::new(record("last", false))),
        ];
        assert_eq!(run_all(&hooks).await, 3, "an error and two panics");
        let hooks = [ShutdownHook::Sync(Arc::new(|| panic!("named bug")))];
        let error = std::panic::catch_unwind(AssertUnwindSafe(|| match &hooks[0] {
            ShutdownHook::Sync(hook) => hook(),
            ShutdownHook::Async(_) => unreachable!(),
        }))
        .unwrap_err();
        assert_eq!(panicked(&*error).to_string(), "panicked: named bug");
        assert_eq!(
            *order.lock().unwrap(),
            vec!["first", "failing", "async", "last"]
        );
    }
}
