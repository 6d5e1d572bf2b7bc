//! Shutdown hooks: run after an invocation's worker has stopped and before the invocation
//! answers, in registration order. A failing hook is logged and the rest still run, because one
//! broken flush must not keep the others (telemetry, connections) from theirs.

use futures::{FutureExt, future::BoxFuture};
use std::panic::AssertUnwindSafe;

/// What a hook may fail with.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// One registered hook.
pub(crate) enum ShutdownHook {
    Sync(Box<dyn Fn() -> Result<(), HookError> + Send + Sync>),
    Async(Box<dyn Fn() -> BoxFuture<'static, Result<(), HookError>> + Send + Sync>),
}

/// Runs every hook in order; returns how many failed. A hook that panics has failed like one that
/// returned an error: the invocation still answers and the process keeps serving.
pub(crate) async fn run_all(hooks: &[ShutdownHook]) -> usize {
    let mut failed = 0;
    for (index, hook) in hooks.iter().enumerate() {
        let result = match hook {
            ShutdownHook::Sync(hook) => std::panic::catch_unwind(AssertUnwindSafe(hook))
                .unwrap_or_else(|panic| Err(panicked(&*panic))),
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
    use std::sync::{Arc, Mutex};

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
            ShutdownHook::Sync(Box::new(record("first", false))),
            ShutdownHook::Sync(Box::new(record("failing", true))),
            ShutdownHook::Async(Box::new(async_hook)),
            ShutdownHook::Sync(Box::new(|| panic!("sync hook bug"))),
            ShutdownHook::Async(Box::new(|| Box::pin(async { panic!("async hook bug") }))),
            ShutdownHook::Sync(Box::new(record("last", false))),
        ];
        assert_eq!(run_all(&hooks).await, 3, "an error and two panics");
        let hooks = [ShutdownHook::Sync(Box::new(|| panic!("named bug")))];
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
