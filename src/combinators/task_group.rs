//! `TaskGroup`: asyncio's structured concurrency.
//!
//! # Ground rules
//!
//! - Every child is a real task on the loop, tracked by the group.
//! - The first child to fail (panic, or finish with an output whose
//!   [`TaskOutcome::is_failure`] is true) is recorded, and every other child
//!   is cancelled at once.
//! - [`TaskGroup::join`] ("leaving the `async with` block") waits for every
//!   child, including the cancelled ones, to be gone, then reports the first
//!   failure.
//! - Dropping a group without joining it cancels the children still running.
//! - **Fair to the loop.** The group never polls its children itself: each
//!   is a task polled by the loop, with its own cooperative budget
//!   (`task/coop.rs`), and `join` only looks at a counter. So a child that
//!   spins on `yield_now` or on always-ready primitives cannot keep the loop
//!   from its siblings, timers or sockets.
//!
//! # Simplification
//!
//! asyncio also cancels the body of the `async with` block on a failure and
//! raises an `ExceptionGroup` of every failure; here the body is the
//! caller's own code, which learns of the failure from `join`, and only the
//! first failure is reported (the other handles still hold theirs).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::wait::TaskOutcome;
use crate::task::Task;

/// Why a [`TaskGroup`] failed: its first failing child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskGroupError {
    /// The id of the child that failed first.
    pub task_id: u64,
    /// Whether it panicked (otherwise it returned a failure such as `Err`).
    pub panicked: bool,
}

impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.panicked { "panicked" } else { "returned an error" };
        write!(
            f,
            "task {} of the group {how}; the other tasks were cancelled",
            self.task_id
        )
    }
}

impl std::error::Error for TaskGroupError {}

#[derive(Default)]
struct GroupState {
    /// Children still alive (their future not yet dropped).
    alive: Cell<usize>,
    failure: Cell<Option<(u64, bool)>>,
    /// Handles used to cancel the others on a failure.
    cancels: RefCell<Vec<Box<dyn Fn() -> bool>>>,
    waker: RefCell<Option<Waker>>,
}

impl GroupState {
    fn fail(&self, task_id: u64, panicked: bool) {
        if self.failure.get().is_none() {
            self.failure.set(Some((task_id, panicked)));
            // Take the list so no borrow is held while tasks are cancelled.
            let cancels = std::mem::take(&mut *self.cancels.borrow_mut());
            for cancel in &cancels {
                cancel();
            }
        }
    }
}

/// Marks a child gone when its future ends, however it ends.
struct Member {
    group: Rc<GroupState>,
    /// Filled in once the task exists (before its first poll).
    task_id: Rc<Cell<u64>>,
    finished: bool,
}

impl Drop for Member {
    fn drop(&mut self) {
        if !self.finished && std::thread::panicking() {
            self.group.fail(self.task_id.get(), true);
        }
        self.group.alive.set(self.group.alive.get() - 1);
        if self.group.alive.get() == 0 {
            let waker = self.group.waker.borrow_mut().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// A group of tasks that live and fail together: asyncio's `TaskGroup`.
///
/// ```
/// use std::time::Duration;
/// use evloop::{sleep, TaskGroup};
///
/// evloop::run(async {
///     let group = TaskGroup::new();
///     let slow = group.create_task(async { sleep(Duration::from_secs(60)).await; Ok::<(), &str>(()) });
///     let _child = group.create_task(async { Err::<(), _>("failed") });
///     let err = group.join().await.unwrap_err();
///     assert!(!err.panicked);
///     assert!(slow.cancelled()); // the failure cancelled its sibling
/// });
/// ```
#[derive(Default)]
pub struct TaskGroup {
    state: Rc<GroupState>,
}

impl TaskGroup {
    /// An empty group.
    pub fn new() -> TaskGroup {
        TaskGroup::default()
    }

    /// Spawns `future` as a member of the group. If the group has already
    /// failed, the new task is cancelled straight away.
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: TaskOutcome + 'static,
    {
        let state = self.state.clone();
        state.alive.set(state.alive.get() + 1);
        let task_id = Rc::new(Cell::new(0));
        let mut member = Member {
            group: state,
            task_id: task_id.clone(),
            finished: false,
        };
        let task = crate::create_task(async move {
            let output = future.await;
            member.finished = true;
            if output.is_failure() {
                member.group.fail(member.task_id.get(), false);
            }
            output
        });
        task_id.set(task.id());
        if self.state.failure.get().is_some() {
            task.cancel();
        } else {
            let handle = crate::task::CancelHandle::new(&task);
            self.state.cancels.borrow_mut().push(Box::new(move || handle.cancel()));
        }
        task
    }

    /// Waits for every child to finish, then reports the first failure.
    pub async fn join(self) -> Result<(), TaskGroupError> {
        poll_fn(|cx| {
            if self.state.alive.get() == 0 {
                Poll::Ready(())
            } else {
                *self.state.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        match self.state.failure.get() {
            Some((task_id, panicked)) => Err(TaskGroupError { task_id, panicked }),
            None => Ok(()),
        }
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        let cancels = std::mem::take(&mut *self.state.cancels.borrow_mut());
        for cancel in &cancels {
            cancel();
        }
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("alive", &self.state.alive.get())
            .field("failed", &self.state.failure.get().is_some())
            .finish()
    }
}
