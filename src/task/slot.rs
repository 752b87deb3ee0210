//! A task's record in the loop's slab, and its life cycle.
//!
//! ```text
//!              spawn (1)
//!                 |
//!                 v
//!   +-------> [Pending] --poll returns Ready (2)--> [Done] ----------+
//!   |  wake (3)   |  |                                               |
//!   +-------------+  +--poll panics (4)-----------> [Panicked] -----+--> slot freed (5)
//!                 |                                                  |
//!                 +--cancel(), next tick (6)------> [Cancelled] ----+
//! ```
//!
//! 1. `Core::spawn`: the slot is inserted with `queued = true` and its key
//!    pushed on the run queue.
//! 2. `Core::run_task`: the body stores its output in place (see `raw.rs`).
//! 3. A wake pushes the key on the run queue unless `queued` is already set.
//! 4. The panic is caught; the future is dropped; the payload is kept.
//! 5. `Task::poll` moves the result out and frees the slot; the handle
//!    keeps the little it needs to answer `done`, `cancelled` and `name`.
//! 6. `Task::cancel` sets `cancel_requested` and queues the task; when the run
//!    queue reaches it, the future is dropped instead of polled.
//!
//! The slot is freed when the task has finished *and* its [`Task`](crate::Task)
//! handle has taken the result or is gone (dropped, or never kept: a detached
//! task frees its slot the moment it finishes).
//!
//! # Fields and who may touch them
//!
//! All fields belong to the loop thread and are reached through
//! `Core::tasks`. `body` and `waker` are `None` while the task is being
//! polled (the loop holds them on its stack so that the slab is not borrowed
//! during user code).

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Waker;

use super::raw::Runnable;
use super::waker::TaskWaker;

/// Where a task is in its life cycle.
pub(crate) enum Outcome {
    Pending,
    Done,
    Panicked(Box<dyn Any + Send>),
    Cancelled,
}

pub(crate) struct TaskSlot {
    /// The task's id: unique per loop, also the generation of this slot.
    pub(crate) id: u64,
    pub(crate) body: Option<Pin<Box<dyn Runnable>>>,
    pub(crate) waker: Option<Arc<TaskWaker>>,
    pub(crate) outcome: Outcome,
    /// The key is on the run queue; a second wake must not push it again.
    pub(crate) queued: bool,
    pub(crate) cancel_requested: bool,
    /// The `Task` handle was dropped: free the slot as soon as the task ends.
    pub(crate) detached: bool,
    /// Who is awaiting the `Task` handle.
    pub(crate) join_waker: Option<Waker>,
    pub(crate) name: Option<Box<str>>,
}

impl TaskSlot {
    pub(crate) fn is_finished(&self) -> bool {
        !matches!(self.outcome, Outcome::Pending)
    }
}
