//! [`RemoteTask`]: asyncio's `run_coroutine_threadsafe`. Another thread
//! hands the loop a future (or a closure that builds one on the loop's
//! thread) and gets back a handle it can block on, await from any executor,
//! or cancel.
//!
//! # Ground rules
//!
//! - **One door in.** The submission travels as one callback through the
//!   loop's remote queue ([`Remote::call_soon`]), with its bounded drain and
//!   FIFO order: work submitted after a `call_soon_threadsafe` callback runs
//!   after it. On the loop's thread the callback spawns an ordinary, detached
//!   task; nothing else of the loop is touched from outside.
//! - **The result crosses under one lock.** [`Shared`] holds the result, the
//!   other side's waker, the cancel flag and the loop-side task's waker
//!   under one `Mutex`, with a `Condvar` for blocking joins. Every decision
//!   that races (finish vs cancel, result vs waker registration) is taken
//!   under that lock, and wakers are woken after it is released.
//! - **Cancelling wins once granted.** [`RemoteTask::cancel`] returns `true`
//!   only if no result was set yet, and then the result *is* `Cancelled`: a
//!   task whose last poll returns a value after the request (the loop had
//!   not seen it yet) drops that value, as an evloop `Task` cancelled while
//!   being polled does. The request wakes the loop-side task through its
//!   `Send` waker; its next poll drops the future on the loop's thread, and
//!   only then is `Cancelled` published, so a joiner that sees it knows the
//!   destructors have run.
//! - **Nothing is left waiting.** A guard ([`Completer`]) travels with the
//!   submission from the start. If the callback or the task is dropped
//!   without finishing (the loop closed with the callback still queued, or
//!   cancelled its tasks at the end of `run`), the guard's `Drop` publishes
//!   `Cancelled`, so `join` never hangs on a loop that is gone.
//! - **Panics are results.** A panic in the builder closure or in the future
//!   is caught on the loop and handed over as [`TaskError::Panicked`]; the
//!   loop's exception handler does not see it (it was delivered, as asyncio
//!   delivers a coroutine's exception to the `concurrent.futures.Future`).
//! - **Dropping the handle detaches**, as with asyncio's
//!   `concurrent.futures.Future` and evloop's [`Task`](crate::Task): the
//!   work goes on and its result is dropped on the loop when it finishes.
//! - Unlike `to_thread`, a submission takes no [`InFlight`](super::remote::InFlight)
//!   guard: the loop does not wait for the other thread, the other thread
//!   waits for the loop.
//!
//! # Fields and who may touch them
//!
//! `Shared::state` (under its mutex): `result` is set once, by the loop
//! side ([`Completer`]), and taken once, by the handle; `waiter` is the
//! handle's waker (when awaited), `task_waker` the loop-side task's waker
//! (set at each of its pending polls), `cancel` the flag only the handle
//! raises. `Shared::done` is the `Condvar` blocking joins sleep on.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::context;
use super::remote::Remote;
use super::RunError;
use crate::task::{PanicPayload, TaskError};

struct State<T> {
    result: Option<Result<T, TaskError>>,
    /// Set once `result` was taken by the handle.
    taken: bool,
    waiter: Option<Waker>,
    task_waker: Option<Waker>,
    cancel: bool,
}

/// What the handle and the loop-side task share (see the module docs).
struct Shared<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        crate::to_thread::lock(&self.state)
    }
}

/// The loop side's promise to publish a result: publishes `Cancelled` if
/// dropped before it published anything.
struct Completer<T> {
    shared: Option<Arc<Shared<T>>>,
}

impl<T> Completer<T> {
    /// Whether cancellation was requested; if not, remembers `waker` as
    /// the one a later request wakes.
    fn cancel_requested(&self, waker: &Waker) -> bool {
        let Some(shared) = &self.shared else { return true };
        let mut state = shared.lock();
        if state.cancel {
            return true;
        }
        let old = crate::task::register_waker(&mut state.task_waker, waker);
        drop(state);
        drop(old);
        false
    }

    /// Publishes `result` (or `Cancelled`, if a cancel was granted first)
    /// and wakes the handle. A value that loses to a cancel is dropped
    /// here, outside the lock.
    fn finish(&mut self, result: Result<T, TaskError>) {
        let Some(shared) = self.shared.take() else { return };
        let mut state = shared.lock();
        let (result, lost) = match result {
            Ok(v) if state.cancel => (Err(TaskError::Cancelled), Some(v)),
            r => (r, None),
        };
        state.result = Some(result);
        let waiter = state.waiter.take();
        let task_waker = state.task_waker.take();
        drop(state);
        shared.done.notify_all();
        drop(lost);
        drop(task_waker);
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.finish(Err(TaskError::Cancelled));
    }
}

/// Queues `make` on the loop behind `remote`; on the loop's thread it is
/// called, and the future it returns runs as a detached task.
pub(super) fn submit_with<F, Fut>(remote: &Arc<Remote>, make: F) -> Result<RemoteTask<Fut::Output>, RunError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            result: None,
            taken: false,
            waiter: None,
            task_waker: None,
            cancel: false,
        }),
        done: Condvar::new(),
    });
    let completer = Completer {
        shared: Some(shared.clone()),
    };
    let callback = move || {
        // A remote callback runs on its loop's thread, while that loop runs.
        context::with_current(|core| drop(core.spawn(run(completer, make))));
    };
    // Refused (closed loop): the callback, and the completer in it, are
    // dropped here; nobody holds the handle yet, so that is moot.
    remote.call_soon(Box::new(callback)).map_err(|_| RunError::Closed)?;
    Ok(RemoteTask {
        shared,
        remote: remote.clone(),
    })
}

/// The loop-side task: builds the future, polls it until it is done or a
/// cancel is requested, and publishes what happened.
async fn run<F, Fut>(mut completer: Completer<Fut::Output>, make: F)
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let result = {
        let built = std::future::poll_fn(|cx| {
            if completer.cancel_requested(cx.waker()) {
                return Poll::Ready(None);
            }
            Poll::Ready(Some(()))
        })
        .await;
        if built.is_none() {
            // Cancelled before it started: `make` is never called.
            return; // the completer's drop publishes `Cancelled`
        }
        let fut = match catch_unwind(AssertUnwindSafe(make)) {
            Ok(fut) => fut,
            Err(p) => return completer.finish(Err(TaskError::Panicked(PanicPayload::new(p)))),
        };
        let mut fut = pin!(fut);
        std::future::poll_fn(|cx| {
            if completer.cancel_requested(cx.waker()) {
                return Poll::Ready(Err(TaskError::Cancelled));
            }
            crate::task::poll_catching(fut.as_mut(), cx).map_err(TaskError::Panicked)
        })
        .await
        // `fut` is dropped here, on the loop's thread, before the result
        // (a cancellation included) is published.
    };
    completer.finish(result);
}

/// Work submitted to a loop from another thread, seen from that thread:
/// asyncio's `concurrent.futures.Future` from `run_coroutine_threadsafe`.
///
/// Made by [`ThreadsafeHandle::submit`](crate::ThreadsafeHandle::submit)
/// and [`submit_with`](crate::ThreadsafeHandle::submit_with). It is `Send`
/// and `Sync` (for a `Send` output), so it can go anywhere:
///
/// - **[`join`](RemoteTask::join)** blocks the calling thread until the
///   result is in; [`join_timeout`](RemoteTask::join_timeout) gives up
///   after a while, [`try_join`](RemoteTask::try_join) does not wait.
/// - **await** it from any executor (it wakes through the waker it was
///   polled with, from the loop's thread).
/// - **[`cancel`](RemoteTask::cancel)** drops the future on the loop's
///   thread; the result is then [`TaskError::Cancelled`].
/// - **drop** detaches: the work goes on, its result is discarded.
///
/// The result is `Ok(value)`, or [`TaskError::Panicked`] if the future (or
/// the closure building it) panicked, or [`TaskError::Cancelled`] if it was
/// cancelled or its loop closed before it finished.
///
/// ```
/// let mut lp = evloop::EventLoop::new()?;
/// let remote = lp.handle().threadsafe();
/// let gui = std::thread::spawn(move || {
///     let answer = remote.submit(async { 6 * 7 }).unwrap().join();
///     remote.stop();
///     answer.unwrap()
/// });
/// lp.run_forever()?;
/// assert_eq!(gui.join().unwrap(), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a dropped RemoteTask detaches: the work goes on and its result is discarded; join() it, or cancel() it"]
pub struct RemoteTask<T> {
    shared: Arc<Shared<T>>,
    remote: Arc<Remote>,
}

impl<T> RemoteTask<T> {
    /// Whether the result is in (a value, a panic or a cancellation) and
    /// has not been taken yet.
    ///
    /// ```
    /// let mut lp = evloop::EventLoop::new()?;
    /// let task = lp.handle().threadsafe().submit(async { 1 })?;
    /// assert!(!task.done()); // the loop has not run yet
    /// lp.run_until_complete(evloop::yield_now())?;
    /// assert!(task.done());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn done(&self) -> bool {
        self.shared.lock().result.is_some()
    }

    /// Asks the loop to cancel the work: its future is dropped on the
    /// loop's thread at the loop's next tick (or never built, if the loop
    /// had not started it), and the result becomes [`TaskError::Cancelled`].
    /// Returns `false` if the result was already in: then nothing changes.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut lp = evloop::EventLoop::new()?;
    /// let task = lp.handle().threadsafe().submit_with(|| evloop::sleep(Duration::from_secs(60)))?;
    /// assert!(task.cancel());
    /// lp.run_until_complete(evloop::yield_now())?;
    /// assert!(task.join().unwrap_err().is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&self) -> bool {
        let mut state = self.shared.lock();
        if state.result.is_some() || state.taken {
            return false;
        }
        state.cancel = true;
        let task = state.task_waker.take();
        drop(state);
        // Not polled yet: its first poll sees the flag. The wake goes
        // through the loop's remote queue (a no-op if the loop is gone, and
        // then closing it published `Cancelled` already or will).
        if let Some(w) = task {
            w.wake();
        }
        true
    }

    /// Blocks the calling thread until the result is in, and returns it.
    ///
    /// # Panics
    ///
    /// On the thread of the loop the work was submitted to, while that loop
    /// runs: the loop could never produce the result (it would deadlock).
    /// On that thread while the loop is *not* running nothing can produce
    /// the result either, and there is no running loop to detect: this
    /// waits until another thread runs or closes the loop. Use
    /// [`try_join`](RemoteTask::try_join) between `run_once` calls there.
    ///
    /// ```
    /// let mut lp = evloop::EventLoop::new()?;
    /// let remote = lp.handle().threadsafe();
    /// let worker = std::thread::spawn(move || {
    ///     let out = remote.submit(async { "fetched" }).unwrap().join();
    ///     remote.stop();
    ///     out
    /// });
    /// lp.run_forever()?;
    /// assert_eq!(worker.join().unwrap().unwrap(), "fetched");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn join(mut self) -> Result<T, TaskError> {
        self.check_thread();
        let mut state = self.shared.lock();
        while state.result.is_none() {
            state = self.shared.done.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        drop(state);
        self.take()
    }

    /// Like [`join`](RemoteTask::join), but gives up after `timeout`:
    /// `None` if the result is not in by then (the handle stays usable).
    ///
    /// # Panics
    ///
    /// As [`join`](RemoteTask::join), and if the result was already taken.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = evloop::EventLoop::new()?; // never run
    /// let mut task = lp.handle().threadsafe().submit(async { 1 })?;
    /// assert!(task.join_timeout(Duration::from_millis(10)).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn join_timeout(&mut self, timeout: Duration) -> Option<Result<T, TaskError>> {
        self.check_thread();
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.lock();
        assert!(
            !state.taken,
            "RemoteTask::join_timeout called after the result was taken"
        );
        while state.result.is_none() {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(86_400),
            };
            if left.is_zero() {
                return None;
            }
            state = (self.shared.done.wait_timeout(state, left))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(state);
        Some(self.take())
    }

    /// The result if it is in, without waiting (asyncio's
    /// `concurrent.futures.Future.result(timeout=0)`); `None` if not yet, or
    /// if it was already taken.
    ///
    /// ```
    /// let mut lp = evloop::EventLoop::new()?;
    /// let mut task = lp.handle().threadsafe().submit(async { 5 })?;
    /// assert!(task.try_join().is_none());
    /// lp.run_until_complete(evloop::yield_now())?;
    /// assert_eq!(task.try_join().unwrap().unwrap(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_join(&mut self) -> Option<Result<T, TaskError>> {
        let mut state = self.shared.lock();
        let result = state.result.take()?;
        state.taken = true;
        Some(result)
    }

    fn take(&mut self) -> Result<T, TaskError> {
        self.try_join().expect("the result is in")
    }

    /// Panics if this thread runs the loop the work was submitted to.
    #[track_caller]
    fn check_thread(&self) {
        if context::with_current(|core| Arc::ptr_eq(&core.remote, &self.remote)) == Some(true) {
            panic!(
                "evloop: RemoteTask::join called on the thread of the loop it waits for, while that loop runs: \
                 it would wait forever. Await the RemoteTask there instead, or join it from another thread."
            );
        }
    }
}

impl<T> Future for RemoteTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.lock();
        assert!(!state.taken, "RemoteTask polled after it returned its result");
        if let Some(result) = state.result.take() {
            state.taken = true;
            return Poll::Ready(result);
        }
        let old = crate::task::register_waker(&mut state.waiter, cx.waker());
        drop(state);
        drop(old);
        Poll::Pending
    }
}

/// Terminated once the result has been taken.
impl<T> futures_core::future::FusedFuture for RemoteTask<T> {
    fn is_terminated(&self) -> bool {
        self.shared.lock().taken
    }
}

impl<T> fmt::Debug for RemoteTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("RemoteTask")
            .field("done", &state.result.is_some())
            .field("taken", &state.taken)
            .field("cancel_requested", &state.cancel)
            .finish()
    }
}
