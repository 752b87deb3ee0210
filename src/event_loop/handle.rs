//! Handles to a loop: [`Handle`] on the loop's thread, [`ThreadsafeHandle`]
//! from anywhere, and [`CallbackHandle`] for a scheduled callback.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::Core;
use super::instrument::Stats;
use super::remote::Remote;
use super::submit::RemoteTask;
use super::tasks::TaskInfo;
use super::RunError;
use crate::task::Task;
use crate::time::wheel::TimerKey;
use crate::time::{CallbackCell, TimerEntry, Timers};

/// A cheap, cloneable reference to a loop, for use on the loop's thread:
/// schedule tasks and callbacks, stop the loop, read its clock.
///
/// Get one from [`EventLoop::handle`](crate::EventLoop::handle) or, inside
/// the loop, [`get_running_loop`](crate::get_running_loop).
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
///
/// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
/// let h = lp.handle();
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// h.call_later(Duration::from_secs(2), move || l.borrow_mut().push("later"));
/// let l = log.clone();
/// h.call_soon(move || l.borrow_mut().push("soon"));
/// lp.run_until_complete(evloop::sleep(Duration::from_secs(3)))?;
/// assert_eq!(*log.borrow(), ["soon", "later"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    core: Rc<Core>,
}

impl Handle {
    pub(crate) fn new(core: Rc<Core>) -> Handle {
        Handle { core }
    }

    /// The loop behind the handle, for the building blocks that extend
    /// `Handle` from their own modules (fds, signals).
    pub(crate) fn core(&self) -> &Rc<Core> {
        &self.core
    }

    /// Schedules `future` as a task on this loop. It starts when the loop
    /// next runs, after tasks created before it. On a closed loop nothing is
    /// scheduled: the future is dropped and the handle reports `Cancelled`.
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future)
    }

    /// Schedules `f` to run on the next tick, after what is already queued
    /// (callbacks and tasks run in FIFO order, `call_soon_threadsafe`
    /// callbacks sent before this call included, as in asyncio).
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> CallbackHandle {
        let cell = new_cell(f);
        if !self.core.is_closed() {
            self.core.call_soon(cell.clone());
        } else {
            cell.cancel();
        }
        CallbackHandle { cell, timer: None }
    }

    /// Schedules `f` to run `delay` from now.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> CallbackHandle {
        let now = self.core.time.clock.now();
        self.call_at(
            now.checked_add(delay).unwrap_or_else(|| now + crate::time::FAR_FUTURE),
            f,
        )
    }

    /// Schedules `f` to run at `when` (on this loop's clock). Callbacks due at
    /// the same time run in the order they were scheduled.
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> CallbackHandle {
        let cell = new_cell(f);
        if self.core.is_closed() {
            cell.cancel();
            return CallbackHandle { cell, timer: None };
        }
        let tick = self.core.time.clock.deadline_tick(when);
        let key = self.core.time.arm(tick, TimerEntry::Call(cell.clone()));
        CallbackHandle {
            cell,
            timer: Some((Rc::downgrade(&self.core.time), key)),
        }
    }

    /// Asks the loop to stop: `run_forever` returns after the current tick,
    /// `run_until_complete` returns [`RunError::Stopped`] if its future is not done.
    pub fn stop(&self) {
        self.core.remote.stop();
    }

    /// The loop's current time.
    pub fn time(&self) -> Instant {
        self.core.time.clock.now()
    }

    /// Whether the loop is running.
    pub fn is_running(&self) -> bool {
        self.core.is_running()
    }

    /// Whether the loop is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Closes the loop (see [`EventLoop::close`](crate::EventLoop::close)).
    ///
    /// # Errors
    ///
    /// [`RunError::Running`] if the loop is running: asyncio's "Cannot close
    /// a running event loop".
    pub fn close(&self) -> Result<(), RunError> {
        if self.core.is_running() {
            return Err(RunError::Running);
        }
        self.core.close();
        Ok(())
    }

    /// What the loop has done so far: ticks, polls, wakes, tasks, timers,
    /// I/O events, time blocked and running. Always on; plain counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The task being polled right now (asyncio's `current_task()`), or
    /// `None` in a callback or outside the loop.
    pub fn current_task(&self) -> Option<TaskInfo> {
        self.core.current_task()
    }

    /// Every task of this loop that has not finished (asyncio's `all_tasks()`).
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        self.core.all_tasks()
    }

    /// A `Send + Sync` handle for other threads.
    pub fn threadsafe(&self) -> ThreadsafeHandle {
        ThreadsafeHandle {
            remote: self.core.remote.clone(),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("loop", &self.core.id()).finish()
    }
}

fn new_cell(f: impl FnOnce() + 'static) -> Rc<CallbackCell> {
    Rc::new(CallbackCell {
        f: Cell::new(Some(Box::new(f))),
        cancelled: Cell::new(false),
    })
}

impl CallbackCell {
    fn cancel(&self) {
        self.cancelled.set(true);
        drop(self.f.take());
    }
}

/// A scheduled callback that can still be cancelled: asyncio's `Handle` /
/// `TimerHandle`.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// let cb = lp.handle().call_later(Duration::from_secs(1), move || r.set(true));
/// cb.cancel();
/// assert!(cb.cancelled());
/// lp.run_until_complete(evloop::sleep(Duration::from_secs(2)))?;
/// assert!(!ran.get());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CallbackHandle {
    cell: Rc<CallbackCell>,
    timer: Option<(Weak<Timers>, TimerKey)>,
}

impl CallbackHandle {
    /// Cancels the callback if it has not run yet; its closure is dropped at
    /// once, and a timer's wheel entry is freed.
    pub fn cancel(&self) {
        self.cell.cancel();
        if let Some((timers, key)) = &self.timer {
            if let Some(timers) = timers.upgrade() {
                drop(timers.cancel(*key));
            }
        }
    }

    /// Whether [`cancel`](Self::cancel) was called (or the loop was closed
    /// when it was scheduled).
    pub fn cancelled(&self) -> bool {
        self.cell.cancelled.get()
    }
}

impl fmt::Debug for CallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHandle")
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A `Send + Sync` handle to a loop, for other threads:
/// `call_soon_threadsafe`, `stop`, and [`submit`](ThreadsafeHandle::submit)
/// (asyncio's `run_coroutine_threadsafe`).
///
/// Everything it sends goes through the loop's remote queue, in FIFO order,
/// and wakes the loop if it is blocked.
///
/// ```
/// let mut lp = evloop::EventLoop::new()?;
/// let remote = lp.handle().threadsafe();
/// let (tx, rx) = std::sync::mpsc::channel();
/// let worker = std::thread::spawn(move || {
///     remote.call_soon_threadsafe(move || tx.send(42).unwrap()).unwrap();
///     remote.stop();
/// });
/// lp.run_forever()?;
/// worker.join().unwrap();
/// assert_eq!(rx.recv().unwrap(), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ThreadsafeHandle {
    remote: Arc<Remote>,
}

impl ThreadsafeHandle {
    /// Schedules `f` on the loop's thread, waking the loop if it is blocked.
    ///
    /// # Errors
    ///
    /// [`RunError::Closed`] if the loop is closed (`f` is dropped).
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<(), RunError> {
        self.remote.call_soon(Box::new(f)).map_err(|_| RunError::Closed)
    }

    /// Asks the loop to stop after its current tick, waking it if blocked.
    pub fn stop(&self) {
        self.remote.stop();
    }

    /// Runs `future` as a task on the loop and hands back a [`RemoteTask`]
    /// that this (or any) thread can block on, await or cancel: asyncio's
    /// `asyncio.run_coroutine_threadsafe(coro, loop)`.
    ///
    /// The task is created on the loop's next tick, after what was sent
    /// before. Most futures that use the loop are not `Send` (an `async`
    /// block that awaits [`sleep`](crate::sleep), a socket or a
    /// [`Task`](crate::Task) holds an `Rc`): build those on the loop's
    /// thread with [`submit_with`](ThreadsafeHandle::submit_with), which
    /// is asyncio's "pass the coroutine, not a running task".
    ///
    /// # Errors
    ///
    /// [`RunError::Closed`] if the loop is closed (`future` is dropped). A
    /// loop that closes before the task finishes makes the result
    /// [`TaskError::Cancelled`](crate::TaskError::Cancelled).
    ///
    /// ```
    /// let mut lp = evloop::EventLoop::new()?;
    /// let remote = lp.handle().threadsafe();
    /// let gui = std::thread::spawn(move || {
    ///     let (tx, rx) = futures::channel::oneshot::channel();
    ///     std::thread::spawn(move || tx.send("data").unwrap());
    ///     let fetch = remote.submit(async { rx.await.unwrap() }); // a Send future
    ///     let data = fetch.unwrap().join().unwrap();
    ///     remote.stop();
    ///     data
    /// });
    /// lp.run_forever()?;
    /// assert_eq!(gui.join().unwrap(), "data");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit<F>(&self, future: F) -> Result<RemoteTask<F::Output>, RunError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.submit_with(move || future)
    }

    /// Calls `make` on the loop's thread and runs the future it returns as
    /// a task there; the future need not be `Send` (only `make` and the
    /// output travel between threads). Otherwise as
    /// [`submit`](ThreadsafeHandle::submit); a panic in `make` is reported
    /// as [`TaskError::Panicked`](crate::TaskError::Panicked).
    ///
    /// # Errors
    ///
    /// [`RunError::Closed`] if the loop is closed (`make` is dropped).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    ///
    /// let mut lp = evloop::EventLoop::new()?;
    /// let remote = lp.handle().threadsafe();
    /// let worker = std::thread::spawn(move || {
    ///     let task = remote.submit_with(|| async {
    ///         let count = Rc::new(Cell::new(0)); // !Send, fine on the loop
    ///         for _ in 0..3 {
    ///             count.set(count.get() + 1);
    ///             evloop::sleep(Duration::from_millis(1)).await; // !Send too
    ///         }
    ///         count.get()
    ///     });
    ///     let n = task.unwrap().join().unwrap();
    ///     remote.stop();
    ///     n
    /// });
    /// lp.run_forever()?;
    /// assert_eq!(worker.join().unwrap(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_with<M, F>(&self, make: M) -> Result<RemoteTask<F::Output>, RunError>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        super::submit::submit_with(&self.remote, make)
    }
}

impl fmt::Debug for ThreadsafeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreadsafeHandle")
    }
}
