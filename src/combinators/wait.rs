//! `wait`, `as_completed` and `shield`: watching several tasks at once.
//!
//! # Ground rules
//!
//! - `wait` never cancels anything and never takes a task's result: it hands
//!   the tasks back, sorted into `(done, pending)`, and the caller decides.
//! - `wait` takes at least one task: an empty set panics at the call
//!   (asyncio raises `ValueError`), pointing at the caller's line.
//! - Each `return_when` condition is a type (`ReturnWhen::FirstCompleted`
//!   reads as asyncio's enum member), so that only
//!   [`ReturnWhen::FirstException`] needs [`TaskOutcome`]: a task counts
//!   as *failed* when it panicked, was cancelled, or finished with an
//!   output whose [`TaskOutcome::is_failure`] is true (an `Err`). The other
//!   two take tasks of any output type.
//! - `as_completed` yields outputs in completion order; dropping it drops
//!   the futures not yet finished. It is a `futures_core::Stream`. With
//!   [`AsCompleted::with_timeout`], the deadline starts at the first poll;
//!   when it passes, the unfinished futures are dropped at once and one
//!   `Err(TimeoutError)` is yielded for each (asyncio: each remaining
//!   awaitable raises `TimeoutError`).
//! - `shield` polls its argument once, at the call, with a waker that does
//!   nothing, so a finished task comes back at the first poll (asyncio's
//!   `shield` returns a done future as it is); a pending one goes on as its
//!   own task, whose first poll registers the real waker. A panic in that
//!   first poll is re-raised inside the task.
//! - **Fair to the loop.** `as_completed` re-polls woken children inside one
//!   poll, so each child poll spends one unit of the task's cooperative
//!   budget (`set.rs`, `task/coop.rs`). `wait` and `shield` look at each
//!   task at most once per poll (tasks are polled by the loop, with budgets
//!   of their own) and so cannot spin; they spend none.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use futures_core::Stream;

use super::set::FutureSet;
use super::timeout::TimeoutError;
use crate::task::{Task, TaskError};
use crate::time::{sleep, Sleep};

/// When [`wait`] returns: asyncio's `return_when`.
///
/// Each condition is its own type, so that only
/// [`FirstException`](ReturnWhen::FirstException) asks what a failure is
/// ([`TaskOutcome`]): [`FirstCompleted`](ReturnWhen::FirstCompleted) and
/// [`AllCompleted`](ReturnWhen::AllCompleted) accept tasks of any output
/// type (`HashMap`s, tuples, ...). Write them as asyncio does:
/// `ReturnWhen::FirstCompleted`.
///
/// ```
/// use std::collections::HashMap;
/// use evloop::{create_task, wait, ReturnWhen};
///
/// evloop::run(async {
///     let maps = (0..3).map(|i| create_task(async move { HashMap::from([(i, i * 10)]) }));
///     let (done, pending) = wait(maps, ReturnWhen::AllCompleted, None).await;
///     assert_eq!((done.len(), pending.len()), (3, 0));
/// });
/// ```
#[allow(non_snake_case)]
pub mod ReturnWhen {
    use super::TaskOutcome;
    use crate::task::Task;

    /// Return as soon as any task finishes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct FirstCompleted;

    /// Return as soon as any task fails (panics, is cancelled, or returns a
    /// failure such as `Err`, see [`TaskOutcome`]); if none fails, when all
    /// are done.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct FirstException;

    /// Return when every task has finished.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct AllCompleted;

    mod sealed {
        pub trait Sealed {}
    }
    impl sealed::Sealed for FirstCompleted {}
    impl sealed::Sealed for FirstException {}
    impl sealed::Sealed for AllCompleted {}

    /// A `return_when` condition for tasks with output `T`: implemented by
    /// the three conditions of this module, and sealed.
    pub trait Condition<T>: sealed::Sealed {
        /// Whether the finished `task` makes [`wait`](crate::wait) return.
        #[doc(hidden)]
        fn returns_at(&self, task: &Task<T>) -> bool;
    }

    impl<T> Condition<T> for FirstCompleted {
        fn returns_at(&self, _: &Task<T>) -> bool {
            true
        }
    }

    impl<T> Condition<T> for AllCompleted {
        fn returns_at(&self, _: &Task<T>) -> bool {
            false
        }
    }

    impl<T: TaskOutcome> Condition<T> for FirstException {
        fn returns_at(&self, task: &Task<T>) -> bool {
            task.failed(&mut TaskOutcome::is_failure) == Some(true)
        }
    }
}

/// What counts as a failed result for [`ReturnWhen::FirstException`]:
/// asyncio's "the task raised". (Nothing else needs it: the other
/// conditions, and [`TaskGroup`](crate::TaskGroup), take any output.)
///
/// A task "raises" in Rust by panicking (always a failure) or by returning
/// an `Err`. Implement this for your own output types; `false` means none of
/// its values is a failure.
///
/// ```
/// use evloop::TaskOutcome;
///
/// struct Reply { status: u16 }
/// impl TaskOutcome for Reply {
///     fn is_failure(&self) -> bool { self.status >= 500 }
/// }
/// assert!(Reply { status: 503 }.is_failure());
/// assert!(Err::<(), _>("boom").is_failure());
/// ```
pub trait TaskOutcome {
    /// Whether this output means the task failed.
    fn is_failure(&self) -> bool;
}

impl<T, E> TaskOutcome for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

macro_rules! never_failure {
    ($($t:ty),* $(,)?) => {
        $(impl TaskOutcome for $t {
            fn is_failure(&self) -> bool {
                false
            }
        })*
    };
}

never_failure!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    std::time::Duration,
    std::time::Instant,
);

impl<T> TaskOutcome for Option<T> {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T> TaskOutcome for Vec<T> {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<A, B> TaskOutcome for (A, B) {
    fn is_failure(&self) -> bool {
        false
    }
}

/// Waits for `tasks` until `when` is met or `timeout` passes, and returns
/// them as `(done, pending)`: asyncio's `wait(aws, timeout, return_when)`.
///
/// Pending tasks are **not** cancelled; the results stay inside the tasks
/// (await a done task, or use [`Task::result`], to get one).
///
/// ```
/// use std::time::Duration;
/// use evloop::{create_task, sleep, wait, ReturnWhen};
///
/// evloop::run(async {
///     let fast = create_task(async { sleep(Duration::from_millis(1)).await; 1 });
///     let slow = create_task(async { sleep(Duration::from_secs(60)).await; 2 });
///     let (done, pending) = wait([fast, slow], ReturnWhen::FirstCompleted, None).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     for t in &pending {
///         t.cancel(); // wait leaves that to us
///     }
///     wait(pending, ReturnWhen::AllCompleted, None).await;
/// });
/// ```
///
/// # Panics
///
/// When `tasks` is empty (asyncio raises `ValueError`): there is nothing to
/// wait for, and returning `([], [])` at once would hide a bug in the
/// caller. Check for an empty set before calling.
///
/// ```should_panic
/// # evloop::run(async {
/// let none: Vec<evloop::Task<()>> = Vec::new();
/// let _ = evloop::wait(none, evloop::ReturnWhen::AllCompleted, None); // panics
/// # });
/// ```
#[track_caller]
pub fn wait<T, W>(
    tasks: impl IntoIterator<Item = Task<T>>,
    when: W,
    timeout: Option<Duration>,
) -> impl Future<Output = (Vec<Task<T>>, Vec<Task<T>>)>
where
    T: 'static,
    W: ReturnWhen::Condition<T>,
{
    let tasks: Vec<Task<T>> = tasks.into_iter().collect();
    assert!(
        !tasks.is_empty(),
        "evloop::wait called with no tasks (asyncio raises ValueError: Set of Tasks/Futures is empty); \
         there is nothing to wait for, so check for an empty set before calling wait"
    );
    wait_nonempty(tasks, when, timeout)
}

async fn wait_nonempty<T, W>(tasks: Vec<Task<T>>, when: W, timeout: Option<Duration>) -> (Vec<Task<T>>, Vec<Task<T>>)
where
    T: 'static,
    W: ReturnWhen::Condition<T>,
{
    let mut timer = timeout.map(sleep);
    let mut finished = vec![false; tasks.len()];
    poll_fn(|cx| {
        let mut all = true;
        for (task, done) in tasks.iter().zip(finished.iter_mut()) {
            if !*done {
                *done = task.poll_done(cx).is_ready();
            }
            if *done {
                if when.returns_at(task) {
                    return Poll::Ready(());
                }
            } else {
                all = false;
            }
        }
        if all {
            return Poll::Ready(());
        }
        match timer.as_mut() {
            Some(t) => Pin::new(t).poll(cx),
            None => Poll::Pending,
        }
    })
    .await;
    let (done, pending): (Vec<_>, Vec<_>) = tasks.into_iter().partition(Task::done);
    (done, pending)
}

/// Runs `futures` concurrently and yields their outputs in completion
/// order: asyncio's `as_completed`.
///
/// Read it with [`next`](AsCompleted::next), or as a
/// [`futures_core::Stream`] (`StreamExt::next` and friends). For asyncio's
/// `timeout=` argument, see [`with_timeout`](AsCompleted::with_timeout).
///
/// ```
/// use std::time::Duration;
/// use evloop::{as_completed, sleep};
///
/// let order = evloop::run(async {
///     let mut results = as_completed([30u64, 10, 20].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut order = Vec::new();
///     while let Some(ms) = results.next().await {
///         order.push(ms);
///     }
///     order
/// });
/// assert_eq!(order, [10, 20, 30]);
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    AsCompleted {
        set: FutureSet::new(futures),
    }
}

/// The stream of outputs returned by [`as_completed`].
#[must_use = "streams do nothing unless polled; dropping AsCompleted drops (cancels) the futures not yet finished"]
pub struct AsCompleted<F: Future> {
    set: FutureSet<F>,
}

impl<F: Future> AsCompleted<F> {
    /// The next output to complete, or `None` when all have been yielded.
    pub async fn next(&mut self) -> Option<F::Output> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Poll form of [`next`](Self::next).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.set.poll_next(cx).map(|next| next.map(|(_, output)| output))
    }

    /// How many outputs are still to come.
    pub fn remaining(&self) -> usize {
        self.set.remaining()
    }

    /// Gives the whole stream a deadline `timeout` from its first poll:
    /// asyncio's `as_completed(aws, timeout=...)`.
    ///
    /// Items become `Result<F::Output, TimeoutError>`. Outputs that arrive
    /// in time are `Ok`; once the deadline passes, the futures not yet
    /// finished are dropped at once and the stream yields one
    /// `Err(TimeoutError)` for each of them (asyncio: each remaining
    /// awaitable raises `TimeoutError`), then ends. Dropping cancels a plain
    /// future; a [`Task`] is only detached and keeps running, as asyncio's
    /// tasks do.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{as_completed, sleep, TimeoutError};
    ///
    /// let items = evloop::run(async {
    ///     let mut results = as_completed([10u64, 5_000, 20].map(|ms| async move {
    ///         sleep(Duration::from_millis(ms)).await;
    ///         ms
    ///     }))
    ///     .with_timeout(Duration::from_millis(100));
    ///     let mut items = Vec::new();
    ///     while let Some(item) = results.next().await {
    ///         items.push(item);
    ///     }
    ///     items
    /// });
    /// assert_eq!(items, [Ok(10), Ok(20), Err(TimeoutError)]);
    /// ```
    pub fn with_timeout(self, timeout: Duration) -> AsCompletedTimeout<F> {
        AsCompletedTimeout {
            inner: self,
            timeout,
            timer: None,
            timed_out: 0,
        }
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        AsCompleted::poll_next(self.get_mut(), cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// [`as_completed`] with a deadline, from [`AsCompleted::with_timeout`].
#[must_use = "streams do nothing unless polled; dropping this drops (cancels) the futures not yet finished"]
pub struct AsCompletedTimeout<F: Future> {
    inner: AsCompleted<F>,
    timeout: Duration,
    /// Armed on the first poll.
    timer: Option<Sleep>,
    /// `Err(TimeoutError)`s still to yield after the deadline.
    timed_out: usize,
}

impl<F: Future> AsCompletedTimeout<F> {
    /// The next item: an output in time, `Err(TimeoutError)` for each one
    /// still missing at the deadline, then `None`.
    pub async fn next(&mut self) -> Option<Result<F::Output, TimeoutError>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Poll form of [`next`](Self::next).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<F::Output, TimeoutError>>> {
        if self.timed_out > 0 {
            self.timed_out -= 1;
            return Poll::Ready(Some(Err(TimeoutError)));
        }
        if let Poll::Ready(next) = self.inner.poll_next(cx) {
            return Poll::Ready(next.map(Ok));
        }
        let timeout = self.timeout;
        let timer = self.timer.get_or_insert_with(|| sleep(timeout));
        if Pin::new(timer).poll(cx).is_ready() {
            let missing = self.inner.remaining();
            // Drop the unfinished futures now, before reporting.
            self.inner.set.clear();
            if missing == 0 {
                return Poll::Ready(None);
            }
            self.timed_out = missing - 1;
            return Poll::Ready(Some(Err(TimeoutError)));
        }
        Poll::Pending
    }

    /// How many items are still to come (outputs or time-outs).
    pub fn remaining(&self) -> usize {
        self.inner.remaining() + self.timed_out
    }
}

impl<F: Future> Stream for AsCompletedTimeout<F> {
    type Item = Result<F::Output, TimeoutError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        AsCompletedTimeout::poll_next(self.get_mut(), cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl<F: Future> fmt::Debug for AsCompletedTimeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("remaining", &self.remaining())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Protects `future` from cancellation: asyncio's `shield`.
///
/// The future runs as its own task. Dropping (cancelling) the `Shield` only
/// stops the *waiting*; the inner task keeps running to completion.
///
/// `shield` polls `future` once straight away (with a waker that does
/// nothing; its task polls it again on the next tick), as asyncio's
/// `shield` returns a finished future as it is: a [`Task`] that has already
/// finished, or any future that is ready at once, makes the `Shield` ready
/// on its first poll. A panic in that first poll is caught and raised
/// again inside the task, where it would have happened.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use evloop::{shield, sleep, wait_for};
///
/// let finished = Rc::new(Cell::new(false));
/// let f = finished.clone();
/// evloop::run(async move {
///     let inner = shield(async move { sleep(Duration::from_millis(20)).await; f.set(true) });
///     assert!(wait_for(inner, Duration::from_millis(1)).await.is_err()); // the outer wait gave up
///     sleep(Duration::from_millis(40)).await;
/// });
/// assert!(finished.get()); // the shielded work still finished
/// ```
#[track_caller]
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(futures_task::noop_waker_ref());
    match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(output)) => Shield(ShieldState::Ready(Some(output))),
        Ok(Poll::Pending) => Shield(ShieldState::Task(crate::create_task(future))),
        Err(panic) => Shield(ShieldState::Task(crate::create_task(async move {
            std::panic::resume_unwind(panic)
        }))),
    }
}

/// Future returned by [`shield`]: the inner task's result.
#[must_use = "the shielded task runs either way; await this to get its result"]
pub struct Shield<T>(ShieldState<T>);

enum ShieldState<T> {
    /// The argument finished in `shield` itself.
    Ready(Option<T>),
    Task(Task<T>),
}

// The output is never pinned (it is moved out as a value), so a `Shield` can
// be moved whatever `T` is.
impl<T> Unpin for Shield<T> {}

impl<T: 'static> Future for Shield<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            ShieldState::Ready(output) => {
                Poll::Ready(Ok(output.take().expect("evloop::Shield polled after completion")))
            }
            ShieldState::Task(task) => Pin::new(task).poll(cx),
        }
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ShieldState::Ready(_) => f.debug_tuple("Shield").field(&"ready").finish(),
            ShieldState::Task(task) => f.debug_tuple("Shield").field(task).finish(),
        }
    }
}
