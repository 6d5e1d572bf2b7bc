//! What a panic during an invocation does: it fails that invocation with a classified error
//! (`TemporalServerless.Panic`) and leaves the process serving. Lambda would otherwise get
//! `lambda_runtime`'s generic diagnostic, and a panicking timer task would leave the worker
//! running until the invocation is abandoned.

use crate::error::ServerlessError;
use futures::FutureExt;
use std::{any::Any, future::Future, panic::AssertUnwindSafe};

/// The message a panic carries, if it carries one.
pub(crate) fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| message.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Runs `invocation`, turning a panic inside it into [`ServerlessError::Panic`]. Logs nothing:
/// the panic hook has logged the panic where it happened, and the failed invocation is logged
/// with the rest (`logging::invocation_failed`).
pub(crate) async fn caught<T>(
    invocation: impl Future<Output = Result<T, ServerlessError>>,
) -> Result<T, ServerlessError> {
    AssertUnwindSafe(invocation)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(ServerlessError::Panic(message(&*panic))))
}

/// Calls its function when dropped — also while a panic unwinds.
pub(crate) struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnDrop<F> {
    pub(crate) fn new(call: F) -> Self {
        Self(Some(call))
    }
}

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    #[tokio::test]
    async fn a_panic_becomes_a_classified_error() {
        let answer: Result<(), _> = caught(async { panic!("index out of bounds") }).await;
        let error = answer.unwrap_err();
        assert_eq!(error.error_type(), "TemporalServerless.Panic");
        assert!(error.to_string().contains("index out of bounds"), "{error}");
        let answer = caught(async { Ok::<_, ServerlessError>(7) }).await;
        assert_eq!(answer.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_panicking_task_still_calls_its_on_drop() {
        let called = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let called = called.clone();
            async move {
                let _shutdown = OnDrop::new(move || called.store(true, Ordering::SeqCst));
                panic!("timer bug");
            }
        });
        assert!(task.await.unwrap_err().is_panic());
        assert!(called.load(Ordering::SeqCst));
    }
}
