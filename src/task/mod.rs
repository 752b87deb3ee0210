//! Tasks: futures the loop owns and drives, and the [`Task`] handles that
//! await them.
//!
//! # Ground rules
//!
//! - A task is one block (`raw/`): a header, then its future, later
//!   its output. It lives on the loop's thread, so the future need not be
//!   `Send`; its destructor runs on the loop's thread.
//! - A task's waker, its [`Task`] handle and the loop all point at the
//!   task's block itself (`raw/`). A waker that outlives its task keeps the
//!   memory, not the future, and its wake does nothing.
//! - Dropping a [`Task`] handle *detaches* the task: it keeps running, as in
//!   asyncio and tokio. [`Task::cancel`] or [`Task::abort_on_drop`] stop it.
//! - A panic inside a task is caught; the loop lives on and the handle
//!   yields [`TaskError::Panicked`].
//! - A [`Task`] is one pointer, to its block. It reaches the loop through
//!   the block's `Owner`, weakly: a handle does not keep its loop alive.
//!   Once the loop is gone every task has finished (closing cancels them),
//!   and a panic a handle never retrieved still reaches the loop's exception
//!   handler, which the loop left the owner as it went.
//! - A [`Task`] is awaited on its own loop. Awaiting a pending one while
//!   another evloop loop runs on the thread panics with a message naming
//!   both loops (asyncio's "attached to a different loop"), instead of
//!   waiting for ever. Closing a loop wakes whoever awaits its tasks, which
//!   then report [`TaskError::Cancelled`].
//!
//! - A [`Task`] (and [`AbortOnDrop`]) is a
//!   `futures_core::future::FusedFuture`, terminated once its result has
//!   been taken, so `futures::select!` takes one without `.fuse()` and
//!   never polls it after it returned.
//!
//! The life cycle of a task is drawn in `header.rs`.

pub(crate) mod coop;
mod error;
pub(crate) mod header;
mod raw;
mod yield_now;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

pub(crate) use error::{panic_message, poll_catching};
pub use error::{PanicPayload, TaskError};
pub(crate) use raw::{new_task, JoinRef, Owner, Polling, RemoteWake, Stage, TaskRef, WakeRef, Woken};
pub use yield_now::{yield_now, YieldNow};

use header::{Header, State};

/// What a task's handle and waker need from the loop that runs them: the
/// one interface the task layer sees of the loop (`event_loop::Core`
/// implements it in `event_loop/tasks.rs`), so that this module imports
/// nothing of the loop's.
pub(crate) trait TaskHost {
    /// The loop's id ([`Owner::id`]).
    fn loop_id(&self) -> u64;
    /// A task's waker was woken on this thread while this loop runs: queue
    /// the task if it is one of this loop's; `false` if it is not (the wake
    /// then goes through its own loop's remote queue).
    fn wake_local(&self, task: &Woken<'_>) -> bool;
    /// [`Task::cancel`].
    fn cancel(&self, task: &TaskRef) -> bool;
    /// The handle was dropped with the result unclaimed: drop it (reporting
    /// a panic nobody retrieved) and release the task.
    fn discard_result(&self, task: &TaskRef);
}

thread_local! {
    /// The loop running on this thread, as its tasks see it.
    static RUNNING: RefCell<Option<Rc<dyn TaskHost>>> = const { RefCell::new(None) };
}

/// Makes `host` the loop running on this thread (the loop's `enter`), or
/// none (its exit).
pub(crate) fn set_running(host: Option<Rc<dyn TaskHost>>) {
    // `try_with`: a loop dropped during thread exit has nothing to set.
    let _ = RUNNING.try_with(|running| *running.borrow_mut() = host);
}

/// Where a task waker woken on this thread goes first (`raw/waker.rs`):
/// the running loop, if there is one and the task is its own.
#[inline]
pub(crate) fn wake_local(task: &Woken<'_>) -> bool {
    RUNNING
        .try_with(|running| running.borrow().as_ref().is_some_and(|host| host.wake_local(task)))
        .unwrap_or(false)
}

/// The id of the loop running on this thread, if one runs.
fn running_loop_id() -> Option<u64> {
    RUNNING
        .try_with(|running| running.borrow().as_ref().map(|host| host.loop_id()))
        .ok()
        .flatten()
}

/// A handle to a spawned task: asyncio's `Task`, tokio's `JoinHandle`.
///
/// Awaiting it gives `Ok(value)`, or `Err(TaskError)` if the task panicked or
/// was cancelled.
///
/// - **await**: wait for the result.
/// - **drop**: detach; the task keeps running and its result is discarded.
/// - **[`cancel`](Task::cancel)**: drop the task's future at the next tick.
/// - **[`abort_on_drop`](Task::abort_on_drop)**: cancel when the guard drops.
///
/// ```
/// use std::time::Duration;
/// use evloop::{sleep, TaskError};
///
/// evloop::run(async {
///     let slow = evloop::create_task(async { sleep(Duration::from_secs(60)).await; 1 });
///     assert!(slow.cancel());
///     assert!(matches!(slow.await, Err(TaskError::Cancelled)));
/// });
/// ```
///
/// A `Task` belongs to its loop's thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// evloop::run(async { assert_send(evloop::create_task(async {})) });
/// ```
#[must_use = "a dropped Task keeps running detached; .await it, or use abort_on_drop() to cancel on drop"]
pub struct Task<T> {
    /// The task's block: one pointer. The loop is reached through the
    /// block's owner, and "result taken" is a header flag, so a handle costs
    /// what tokio's and monoio's do (issue #15: `spawn_join`).
    cell: JoinRef<T>,
}

impl<T> Task<T> {
    pub(crate) fn new(cell: JoinRef<T>) -> Task<T> {
        Task { cell }
    }

    fn header(&self) -> &Header {
        &self.cell.header
    }

    /// The task's id, unique within its loop and never reused.
    pub fn id(&self) -> u64 {
        self.header().id()
    }

    /// The task's name: the one given with [`set_name`](Task::set_name), or
    /// `Task-<id>` as in asyncio.
    pub fn name(&self) -> String {
        self.header().display_name()
    }

    /// Names the task (shown in error reports).
    pub fn set_name(&self, name: impl Into<String>) {
        self.header().set_name(name.into().into_boxed_str());
    }

    /// Whether the task has finished: returned, panicked or been cancelled.
    pub fn done(&self) -> bool {
        self.header().is_finished()
    }

    /// Whether the task ended by cancellation. Like asyncio, this becomes
    /// `true` only once the cancellation has been carried out (next tick).
    pub fn cancelled(&self) -> bool {
        self.header().state.get() == State::Cancelled
    }

    /// Requests cancellation: the task's future is dropped at the loop's next
    /// tick, and awaiting the handle then gives [`TaskError::Cancelled`].
    /// Returns `false` if the task had already finished.
    ///
    /// A task cancelled while it is being polled (it cancels itself, or
    /// something it calls does) ends cancelled even if that poll returns a
    /// value, as in asyncio: the value is dropped.
    pub fn cancel(&self) -> bool {
        cancel(&self.cell)
    }

    /// Whether the result has been taken (by awaiting the handle or by
    /// [`Task::result`]).
    fn joined(&self) -> bool {
        self.header().joined.get()
    }

    /// The result, if the task has finished and it was not taken yet:
    /// asyncio's `Task.result()`, with `None` where asyncio raises
    /// `InvalidStateError` (not done yet), and also once the result has been
    /// taken (by this call or by awaiting the handle).
    pub fn result(&mut self) -> Option<Result<T, TaskError>> {
        if self.joined() || !self.done() {
            return None;
        }
        Some(self.take_result())
    }

    /// Moves the result of a finished task out of it.
    fn take_result(&mut self) -> Result<T, TaskError> {
        let header = &self.cell.header;
        header.joined.set(true);
        // Off the loop's task list, without asking the loop (issue #15:
        // spawn_join).
        self.cell.leave_list();
        match header.state.get() {
            State::Done => self.cell.take().ok_or(TaskError::Cancelled),
            State::Panicked => match header.take_panic() {
                Some(payload) => Err(TaskError::Panicked(PanicPayload::new(payload))),
                None => Err(TaskError::Cancelled),
            },
            State::Cancelled | State::Pending => Err(TaskError::Cancelled),
        }
    }

    /// `Ready` once the task has finished, else registers `cx`'s waker: the
    /// first half of awaiting the handle, and all of it for `wait` and
    /// `shield`, which watch tasks without taking results.
    #[track_caller]
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.done() {
            return Poll::Ready(());
        }
        self.check_loop();
        drop(self.header().set_join_waker(cx.waker()));
        Poll::Pending
    }

    /// Panics if another evloop loop is running on this thread: this task
    /// only moves when its own loop runs, so waiting for it from another
    /// loop would hang (asyncio: "attached to a different loop"). Awaiting
    /// it from outside any loop (another executor, a host between
    /// `run_once` calls) is allowed: its loop may run meanwhile.
    #[track_caller]
    fn check_loop(&self) {
        let ours = self.cell.loop_id();
        let Some(running) = running_loop_id() else {
            return;
        };
        if running != ours {
            panic!(
                "evloop: {} belongs to event loop {ours} but was awaited on event loop {running}, which \
                 cannot drive it (it would wait forever). Await a task on the loop that created it, or \
                 send its result to the other loop through a channel or a ThreadsafeHandle.",
                self.name()
            );
        }
    }

    /// Whether the finished task failed: panicked, was cancelled, or
    /// `failure` says so of its output. `None` while it runs. Once the
    /// result has been taken only a cancellation is known.
    pub(crate) fn failed(&self, failure: &mut dyn FnMut(&T) -> bool) -> Option<bool> {
        match self.header().state.get() {
            State::Pending => None,
            State::Panicked | State::Cancelled => Some(true),
            State::Done => Some(self.cell.peek(failure).unwrap_or(false)),
        }
    }

    /// Wraps the handle so that dropping it cancels the task (tokio's
    /// `AbortOnDrop`; by default a dropped handle detaches, as in asyncio).
    ///
    /// ```
    /// evloop::run(async {
    ///     let guard = evloop::create_task(std::future::pending::<()>()).abort_on_drop();
    ///     drop(guard); // the task is cancelled at the next tick
    /// });
    /// ```
    pub fn abort_on_drop(self) -> AbortOnDrop<T> {
        AbortOnDrop(self)
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.joined(), "evloop::Task polled again after it returned its result");
        std::task::ready!(self.poll_done(cx));
        Poll::Ready(self.take_result())
    }
}

/// Terminated once the result has been taken (by awaiting the handle or by
/// [`Task::result`]), so `futures::select!` skips a finished branch instead
/// of polling it again.
///
/// ```
/// use std::time::Duration;
/// use futures::select;
///
/// evloop::run(async {
///     let mut quick = evloop::create_task(async { 1 });
///     let mut slow = evloop::create_task(evloop::sleep(Duration::from_secs(60)));
///     let first = select! {
///         r = quick => r.unwrap(),
///         _ = slow => unreachable!(),
///     };
///     assert_eq!(first, 1);
///     assert!(futures::future::FusedFuture::is_terminated(&quick));
///     slow.cancel();
/// });
/// ```
impl<T> futures_core::future::FusedFuture for Task<T> {
    fn is_terminated(&self) -> bool {
        self.joined()
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if !self.done() {
            self.header().detach();
        } else if !self.joined() {
            if let Some(host) = self.cell.host() {
                host.discard_result(&self.cell);
            }
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("done", &self.done())
            .finish()
    }
}

/// A [`Task`] that is cancelled when this guard is dropped.
///
/// ```
/// use std::time::Duration;
///
/// evloop::run(async {
///     let guard = evloop::create_task(evloop::sleep(Duration::from_secs(60))).abort_on_drop();
///     let id = guard.id();
///     drop(guard); // the sleeping task is cancelled at the next tick
///     # let _ = id;
/// });
/// ```
#[must_use = "dropping the guard cancels the task at once"]
#[derive(Debug)]
pub struct AbortOnDrop<T>(Task<T>);

impl<T> Deref for AbortOnDrop<T> {
    type Target = Task<T>;
    fn deref(&self) -> &Task<T> {
        &self.0
    }
}

impl<T> DerefMut for AbortOnDrop<T> {
    fn deref_mut(&mut self) -> &mut Task<T> {
        &mut self.0
    }
}

impl<T: 'static> Future for AbortOnDrop<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T: 'static> futures_core::future::FusedFuture for AbortOnDrop<T> {
    fn is_terminated(&self) -> bool {
        self.0.joined()
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Cancels a task without owning its handle (dropping it does nothing).
pub(crate) struct CancelHandle {
    task: TaskRef,
}

impl CancelHandle {
    pub(crate) fn new<T>(task: &Task<T>) -> CancelHandle {
        CancelHandle {
            task: TaskRef::clone(&task.cell),
        }
    }

    pub(crate) fn cancel(&self) -> bool {
        cancel(&self.task)
    }
}

/// [`Task::cancel`], through the task's loop. No loop: it is gone, and
/// closing it finished every task, so there is nothing to cancel.
fn cancel(task: &TaskRef) -> bool {
    task.host().is_some_and(|host| host.cancel(task))
}

/// Takes the waker out of `slot` and wakes it, the borrow released first:
/// a waker is foreign code and may reach back into the same cell.
pub(crate) fn wake_slot(slot: &std::cell::RefCell<Option<Waker>>) {
    let waker = slot.borrow_mut().take();
    if let Some(w) = waker {
        w.wake();
    }
}

/// Replaces `slot`'s waker with `waker` unless it would wake the same task;
/// returns the old waker so the caller can drop it outside any borrow.
pub(crate) fn register_waker(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(old) if old.will_wake(waker) => None,
        _ => slot.replace(waker.clone()),
    }
}
