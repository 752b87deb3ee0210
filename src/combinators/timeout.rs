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
//! - **Nested scopes: the outermost expired one reports.** While a
//!   [`Timeout`] or a [`wait_for`] (asyncio's `wait_for` is a timeout
//!   scope) polls its future it is listed on a per-thread stack of
//!   enclosing scopes. A scope whose deadline passes while an enclosing
//!   scope's deadline has passed too (same instant, or earlier) does not
//!   report: it drops its future, marks itself expired and returns
//!   `Pending`, and the enclosing scope, which checks its deadline right
//!   after, reports the time-out. So with equal deadlines the caller of the
//!   outer scope sees `Err(TimeoutError)`, as in asyncio, where both expire
//!   and the inner one re-raises the cancellation to the outer. Expiry is
//!   read from the loop's clock (`now >= when`), so both scopes agree on
//!   it in the same tick.
//! - **A scope is entered once and exits once.** Its first wrapped poll
//!   enters it; finishing, timing out or being dropped exits it. Moving the
//!   deadline of an exited scope is a misuse and panics (asyncio raises
//!   `RuntimeError`); moving it before the scope is entered is allowed (in
//!   Rust the scope exists before `wrap`, asyncio's only after `async with`).

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

/// Waits for `future` for at most `timeout`, then drops it; a [`Task`](crate::Task)
/// passed in is only detached and **keeps running** (asyncio cancels it):
/// pass `task.abort_on_drop()` to get asyncio's behaviour.
///
/// asyncio's `wait_for(aw, timeout)`. On time-out the future is dropped
/// (that is how Rust cancels) before `Err(TimeoutError)` is returned.
/// Dropping a `Task` handle detaches the task (as everywhere in evloop), so
/// for a task the drop stops only the waiting; an
/// [`AbortOnDrop`](crate::AbortOnDrop) guard cancels it.
///
/// ```
/// use std::time::Duration;
/// use evloop::{create_task, sleep, wait_for, TimeoutError};
///
/// evloop::run(async {
///     let slow = sleep(Duration::from_secs(400));
///     assert_eq!(wait_for(slow, Duration::from_millis(10)).await, Err(TimeoutError));
///     assert_eq!(wait_for(async { 5 }, Duration::ZERO).await, Ok(5));
///
///     // asyncio's behaviour for a task: the time-out cancels it.
///     let task = create_task(sleep(Duration::from_secs(400)));
///     let id = task.id();
///     assert!(wait_for(task.abort_on_drop(), Duration::from_millis(10)).await.is_err());
///     evloop::yield_now().await; // the cancellation lands on the next tick
///     assert!(evloop::all_tasks().iter().all(|t| t.id != id));
/// });
/// ```
pub async fn wait_for<F: Future>(future: F, timeout: Duration) -> Result<F::Output, TimeoutError> {
    // In an `Option` so that a time-out deferred to an enclosing scope can
    // drop the future in place and stay pending.
    let mut future = std::pin::pin!(Some(future));
    let mut timer = sleep(timeout);
    // The deadline on the loop's clock, so that nesting with timeout
    // scopes follows their rule (asyncio's `wait_for` is a timeout scope).
    let deadline = loop_now().and_then(|now| now.checked_add(timeout));
    let result = std::future::poll_fn(|cx| {
        let Some(inner) = future.as_mut().as_pin_mut() else {
            return Poll::Pending; // deferred: the enclosing scope reports
        };
        let polled = {
            let _listed = deadline.map(Enclosing::at);
            inner.poll(cx)
        };
        if let Poll::Ready(v) = polled {
            return Poll::Ready(Ok(v));
        }
        let now = loop_now();
        let fired = Pin::new(&mut timer).poll(cx).is_ready();
        let due = fired || matches!((now, deadline), (Some(now), Some(at)) if now >= at);
        if !due {
            return Poll::Pending;
        }
        future.set(None); // cancel before reporting
        if now.is_some_and(enclosing_expired) {
            return Poll::Pending;
        }
        Poll::Ready(Err(TimeoutError))
    })
    .await;
    // `future` was dropped on a time-out already, before the caller sees it.
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
    /// Where the scope is in its one life; see the ground rules.
    phase: Cell<Phase>,
    /// The task running `wrap`, woken to re-arm after a reschedule.
    waker: RefCell<Option<Waker>>,
}

/// The life of a [`TimeoutScope`]: asyncio's `CREATED`, `ENTERED`, and the
/// finished states (`EXPIRED`, `EXITED`) folded into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No wrapped future has been polled yet.
    Created,
    /// A wrapped future is running.
    Entered,
    /// The wrapped future finished, timed out or was dropped.
    Exited,
}

thread_local! {
    /// The scopes whose wrapped future is being polled right now on this
    /// thread, outermost first (see "Nested scopes" in the ground rules).
    static ENCLOSING: RefCell<Vec<Deadline>> = const { RefCell::new(Vec::new()) };
}

/// An entry of [`ENCLOSING`]: a scope (whose deadline may move while it
/// runs), or a `wait_for`'s fixed deadline.
enum Deadline {
    Scope(Rc<ScopeInner>),
    At(Instant),
}

impl Deadline {
    fn passed(&self, now: Instant) -> bool {
        match self {
            Deadline::Scope(scope) => scope.when.get().is_some_and(|when| when <= now),
            Deadline::At(at) => *at <= now,
        }
    }
}

/// Lists a scope on [`ENCLOSING`] for as long as it lives (a poll of its
/// wrapped future); unlists it even if that poll panics.
struct Enclosing;

impl Enclosing {
    fn enter(scope: &Rc<ScopeInner>) -> Enclosing {
        ENCLOSING.with(|s| s.borrow_mut().push(Deadline::Scope(scope.clone())));
        Enclosing
    }

    fn at(deadline: Instant) -> Enclosing {
        ENCLOSING.with(|s| s.borrow_mut().push(Deadline::At(deadline)));
        Enclosing
    }
}

impl Drop for Enclosing {
    fn drop(&mut self) {
        let _ = ENCLOSING.try_with(|s| s.borrow_mut().pop());
    }
}

/// Whether a scope enclosing the current poll has reached its deadline.
fn enclosing_expired(now: Instant) -> bool {
    ENCLOSING.with(|s| s.borrow().iter().any(|outer| outer.passed(now)))
}

/// The running loop's clock, if a loop runs on this thread (read through
/// the loop's thread-local, without making a `Handle`: this runs on every
/// poll of a `wait_for`).
fn loop_now() -> Option<Instant> {
    crate::time::now()
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
            phase: Cell::new(Phase::Created),
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
    ///
    /// # Panics
    ///
    /// When the scope has exited (its wrapped future finished, timed out or
    /// was dropped): asyncio raises `RuntimeError` there, and a deadline
    /// moved after the fact would silently do nothing. Create a new scope
    /// with [`timeout`] instead.
    ///
    /// ```should_panic
    /// evloop::run(async {
    ///     let scope = evloop::timeout(std::time::Duration::from_secs(1));
    ///     scope.wrap(async {}).await.unwrap();
    ///     scope.reschedule(None); // panics: the scope has exited
    /// });
    /// ```
    #[track_caller]
    pub fn reschedule(&self, when: Option<Instant>) {
        if self.inner.phase.get() == Phase::Exited {
            panic!(
                "evloop: TimeoutScope::reschedule called on a scope that has already exited (its wrapped \
                 future finished, timed out or was dropped), so the new deadline would apply to nothing; \
                 reschedule only while the wrapped work runs, or start a new scope with evloop::timeout()"
            );
        }
        self.inner.when.set(when);
        crate::task::wake_slot(&self.inner.waker);
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
            deferred: false,
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
    /// Expired while an enclosing scope had expired too: the future is
    /// gone and the enclosing scope reports; this one stays `Pending`.
    deferred: bool,
}

impl<F: Future> Timeout<F> {
    /// Marks the scope exited (once) and drops the wrapped future.
    fn exit(&mut self) {
        self.future = None;
        if self.scope.inner.phase.get() == Phase::Entered {
            self.scope.inner.phase.set(Phase::Exited);
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.deferred {
            // Only reachable if the enclosing scope did not finish in the
            // poll that deferred to it; stay quiet, it will report.
            return Poll::Pending;
        }
        let Some(future) = this.future.as_mut() else {
            panic!("evloop::Timeout polled after completion");
        };
        let inner = this.scope.inner.clone();
        if inner.phase.get() == Phase::Created {
            inner.phase.set(Phase::Entered);
        }
        let polled = {
            let _listed = Enclosing::enter(&inner);
            future.as_mut().poll(cx)
        };
        if let Poll::Ready(v) = polled {
            this.exit();
            return Poll::Ready(Ok(v));
        }
        *inner.waker.borrow_mut() = Some(cx.waker().clone());
        // Re-arm if the deadline moved since we last looked.
        match inner.when.get() {
            None => this.sleep = None,
            Some(when) if this.sleep.as_ref().map(|s| s.0) != Some(when) => {
                this.sleep = Some((when, sleep_until(when)))
            }
            Some(_) => {}
        }
        // The clock decides, so that nested scopes with one deadline agree
        // in the same tick; the timer is what wakes us.
        let now = loop_now();
        let due = match this.sleep.as_mut() {
            Some((when, sleep)) => Pin::new(sleep).poll(cx).is_ready() || now.is_some_and(|now| now >= *when),
            None => false,
        };
        {
            if due {
                inner.expired.set(true);
                this.exit(); // cancel before reporting
                if now.is_some_and(enclosing_expired) {
                    // An enclosing scope expired too: it is the one the
                    // caller sees (asyncio's rule), and it checks its own
                    // deadline as soon as this poll returns.
                    this.deferred = true;
                    return Poll::Pending;
                }
                return Poll::Ready(Err(TimeoutError));
            }
        }
        Poll::Pending
    }
}

impl<F: Future> Drop for Timeout<F> {
    fn drop(&mut self) {
        self.exit();
    }
}

impl<F: Future> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("scope", &self.scope).finish()
    }
}
