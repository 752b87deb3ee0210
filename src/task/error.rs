//! Why a task produced no value: [`TaskError`], and [`PanicPayload`], a
//! caught panic that can travel as an error.
//!
//! # Ground rules
//!
//! - Every public error type is `Send + Sync + 'static`, so `?` can turn it
//!   into `Box<dyn Error + Send + Sync>` or `anyhow::Error`. A panic payload
//!   is only `Send`; [`PanicPayload`] keeps it behind a `Mutex` (which is
//!   `Sync` for any `Send` content) and its message beside it, readable
//!   without the lock.
//! - The enums are `#[non_exhaustive]`: a later kind of failure is not a
//!   breaking change.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

/// Why a [`Task`](crate::Task) produced no value.
///
/// ```
/// use evloop::TaskError;
///
/// let err = evloop::run(async {
///     evloop::create_task(async { panic!("boom") }).await.unwrap_err()
/// });
/// assert!(matches!(err, TaskError::Panicked(_)));
/// assert_eq!(err.panic_message(), Some("boom"));
/// // Send + Sync: `?` into the usual boxed error works.
/// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
/// assert_eq!(boxed.to_string(), "task panicked: boom");
/// ```
#[non_exhaustive]
pub enum TaskError {
    /// The task was cancelled (or its loop closed) before it finished.
    Cancelled,
    /// The task's future panicked; this is the panic.
    Panicked(PanicPayload),
}

impl TaskError {
    /// Whether this is [`TaskError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// The panic message, when the task panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            TaskError::Panicked(payload) => payload.message(),
            TaskError::Cancelled => None,
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked(_) => f
                .debug_tuple("Panicked")
                .field(&self.panic_message().unwrap_or(".."))
                .finish(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl std::error::Error for TaskError {}

/// A caught panic: the payload `panic!` produced, and its message if it was
/// a string. `Send + Sync`, unlike the bare payload.
///
/// ```
/// let err = evloop::run(async {
///     evloop::create_task(async { panic!("boom") }).await.unwrap_err()
/// });
/// let evloop::TaskError::Panicked(panic) = err else { unreachable!() };
/// assert_eq!(panic.message(), Some("boom"));
/// // The original payload, e.g. for `std::panic::resume_unwind`:
/// let payload = panic.into_inner();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
/// ```
pub struct PanicPayload {
    message: Option<Box<str>>,
    payload: Mutex<Box<dyn Any + Send>>,
}

impl PanicPayload {
    pub(crate) fn new(payload: Box<dyn Any + Send>) -> PanicPayload {
        PanicPayload {
            message: panic_message(payload.as_ref()).map(Into::into),
            payload: Mutex::new(payload),
        }
    }

    /// The panic message, when the payload is a string (as `panic!("...")`
    /// makes it).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The payload itself, e.g. to re-raise it with
    /// `std::panic::resume_unwind`.
    pub fn into_inner(self) -> Box<dyn Any + Send> {
        self.payload.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PanicPayload")
            .field(&self.message().unwrap_or(".."))
            .finish()
    }
}

/// Polls `future`, catching a panic as a [`PanicPayload`]: for the places
/// that hand a future's panic to someone other than the loop (a
/// `TaskGroup`, a `RemoteTask`), which would otherwise report it.
pub(crate) fn poll_catching<F: Future + ?Sized>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, PanicPayload>> {
    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(PanicPayload::new(panic))),
    }
}

/// The text of a panic payload, if it is a string (as `panic!` makes it).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn errors_are_send_and_sync() {
        assert_send_sync::<TaskError>();
        assert_send_sync::<PanicPayload>();
        assert_send_sync::<crate::ToThreadError>();
    }
}
