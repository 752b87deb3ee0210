//! `wait`, `as_completed` and `shield`: watching several tasks at once.
//!
//! # Ground rules
//!
//! - `wait` never cancels anything and never takes a task's result: it hands
//!   the tasks back, sorted into `(done, pending)`, and the caller decides.
//! - A task counts as *failed* for [`ReturnWhen::FirstException`] when it
//!   panicked, was cancelled, or finished with an output whose
//!   [`TaskOutcome::is_failure`] is true (an `Err`).
//! - `as_completed` yields outputs in completion order; dropping it drops
//!   the futures not yet finished.
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

use super::set::FutureSet;
use crate::task::{Task, TaskError};
use crate::time::sleep;

/// When [`wait`] returns: asyncio's `return_when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task finishes.
    FirstCompleted,
    /// As soon as any task fails (panics, is cancelled, or returns a
    /// failure such as `Err`); if none fails, when all are done.
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// What counts as a failed result for [`ReturnWhen::FirstException`] and
/// [`TaskGroup`](crate::TaskGroup): asyncio's "the task raised".
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
pub async fn wait<T>(
    tasks: impl IntoIterator<Item = Task<T>>,
    when: ReturnWhen,
    timeout: Option<Duration>,
) -> (Vec<Task<T>>, Vec<Task<T>>)
where
    T: TaskOutcome + 'static,
{
    let tasks: Vec<Task<T>> = tasks.into_iter().collect();
    let mut timer = timeout.map(sleep);
    let mut finished = vec![false; tasks.len()];
    poll_fn(|cx| {
        let mut all = true;
        for (task, done) in tasks.iter().zip(finished.iter_mut()) {
            if !*done {
                *done = task.poll_done(cx).is_ready();
            }
            if *done {
                match when {
                    ReturnWhen::FirstCompleted => return Poll::Ready(()),
                    ReturnWhen::FirstException if task.failed() == Some(true) => return Poll::Ready(()),
                    _ => {}
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
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// Protects `future` from cancellation: asyncio's `shield`.
///
/// The future runs as its own task. Dropping (cancelling) the `Shield` only
/// stops the *waiting*; the inner task keeps running to completion.
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
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Shield(crate::create_task(future))
}

/// Future returned by [`shield`]: the inner task's result.
#[must_use = "the shielded task runs either way; await this to get its result"]
#[derive(Debug)]
pub struct Shield<T>(Task<T>);

impl<T: 'static> Future for Shield<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}
