//! Deadlines: `wait_for` (asyncio.wait_for) and `timeout` scopes
//! (asyncio.timeout) whose deadline can move while they run.
//!
//! # Ground rules
//!
//! - The inner future is polled before the timer is checked, so a value that
//!   is ready at once is returned even with a zero timeout.
//! - On time-out the inner future is dropped (that is how Rust cancels)
//!   *before* the `Err(TimeoutError)` is returned.
//! - **Fair to the loop without a budget of their own.** Each poll polls the
//!   inner future once and the timer once, never in a loop, so a spinning
//!   inner future makes them return `Pending` and the loop gets its turn;
//!   the inner future's leaves spend the task's budget as usual.
//! - A [`Task`](crate::Task) passed in is only detached by that drop; pass
//!   `task.abort_on_drop()` to have the time-out cancel it, as asyncio does.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::time::{sleep, sleep_until, Sleep};

/// The deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for TimeoutError {}

/// Waits for `future` for at most `timeout`: asyncio's `wait_for(aw, timeout)`.
/// On time-out the future is dropped (cancelled) and `Err(TimeoutError)`
/// returned.
///
/// ```
/// use std::time::Duration;
/// use evloop::{sleep, wait_for, TimeoutError};
///
/// evloop::run(async {
///     let slow = sleep(Duration::from_secs(400));
///     assert_eq!(wait_for(slow, Duration::from_millis(10)).await, Err(TimeoutError));
///     assert_eq!(wait_for(async { 5 }, Duration::ZERO).await, Ok(5));
/// });
/// ```
pub async fn wait_for<F: Future>(future: F, timeout: Duration) -> Result<F::Output, TimeoutError> {
    let mut future = std::pin::pin!(future);
    let mut timer = sleep(timeout);
    let result = std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        Pin::new(&mut timer).poll(cx).map(|()| Err(TimeoutError))
    })
    .await;
    // `future` is dropped here, before the caller sees the time-out.
    result
}

/// A timeout scope, asyncio's `async with asyncio.timeout(d) as cm`: wrap
/// work with [`TimeoutScope::wrap`], and move the deadline with
/// [`reschedule`](TimeoutScope::reschedule) while it runs, even from inside.
///
/// ```
/// use std::time::Duration;
/// use evloop::{sleep, timeout};
///
/// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
/// let out = lp.run_until_complete(async {
///     let scope = timeout(Duration::from_secs(1));
///     let inner = scope.clone();
///     scope
///         .wrap(async move {
///             // Needs 2 s: push the deadline out before it hits.
///             inner.reschedule(Some(evloop::get_running_loop().time() + Duration::from_secs(5)));
///             sleep(Duration::from_secs(2)).await;
///             "finished"
///         })
///         .await
/// })?;
/// assert_eq!(out, Ok("finished"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TimeoutScope {
    inner: Rc<ScopeInner>,
}

struct ScopeInner {
    when: Cell<Option<Instant>>,
    expired: Cell<bool>,
    /// The task running `wrap`, woken to re-arm after a reschedule.
    waker: RefCell<Option<Waker>>,
}

/// A [`TimeoutScope`] whose deadline is `delay` from now (on the running
/// loop's clock).
///
/// # Panics
///
/// Outside a running loop (use [`timeout_at`] with an `Instant` there).
pub fn timeout(delay: Duration) -> TimeoutScope {
    let now = crate::get_running_loop().time();
    timeout_at(Some(now.checked_add(delay).unwrap_or(now + crate::time::FAR_FUTURE)))
}

/// A [`TimeoutScope`] with deadline `when`; `None` means no deadline yet.
pub fn timeout_at(when: Option<Instant>) -> TimeoutScope {
    TimeoutScope {
        inner: Rc::new(ScopeInner {
            when: Cell::new(when),
            expired: Cell::new(false),
            waker: RefCell::new(None),
        }),
    }
}

impl TimeoutScope {
    /// The current deadline, if any.
    pub fn when(&self) -> Option<Instant> {
        self.inner.when.get()
    }

    /// Moves the deadline (`None` removes it). Takes effect at once, also
    /// for a scope that is already running.
    pub fn reschedule(&self, when: Option<Instant>) {
        self.inner.when.set(when);
        let waker = self.inner.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the deadline hit and cancelled the wrapped work.
    pub fn expired(&self) -> bool {
        self.inner.expired.get()
    }

    /// Runs `future` under this scope's deadline.
    pub fn wrap<F: Future>(&self, future: F) -> Timeout<F> {
        Timeout {
            scope: self.clone(),
            future: Some(Box::pin(future)),
            sleep: None,
        }
    }
}

impl fmt::Debug for TimeoutScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutScope")
            .field("when", &self.when())
            .field("expired", &self.expired())
            .finish()
    }
}

/// Future returned by [`TimeoutScope::wrap`].
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F: Future> {
    scope: TimeoutScope,
    future: Option<Pin<Box<F>>>,
    /// The armed timer and the deadline it was armed for.
    sleep: Option<(Instant, Sleep)>,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(future) = this.future.as_mut() else {
            panic!("evloop::Timeout polled after completion");
        };
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            this.future = None;
            return Poll::Ready(Ok(v));
        }
        let inner = &this.scope.inner;
        *inner.waker.borrow_mut() = Some(cx.waker().clone());
        // Re-arm if the deadline moved since we last looked.
        match inner.when.get() {
            None => this.sleep = None,
            Some(when) if this.sleep.as_ref().map(|s| s.0) != Some(when) => {
                this.sleep = Some((when, sleep_until(when)))
            }
            Some(_) => {}
        }
        if let Some((_, sleep)) = this.sleep.as_mut() {
            if Pin::new(sleep).poll(cx).is_ready() {
                inner.expired.set(true);
                this.future = None; // cancel before reporting
                return Poll::Ready(Err(TimeoutError));
            }
        }
        Poll::Pending
    }
}

impl<F: Future> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("scope", &self.scope).finish()
    }
}
