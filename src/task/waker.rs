//! Task wakers: `Send + Sync`, built with `futures-task`'s [`ArcWake`].
//!
//! # Ground rules
//!
//! - A waker names its task by [`TaskKey`] (slab index + generation), never
//!   by pointer, so a waker that outlives its task is harmless: the
//!   generation no longer matches and the wake is ignored.
//! - On the loop's own thread, while the loop runs, a wake goes straight to
//!   the local run queue: a thread-local lookup, no atomics, no syscall.
//! - Anywhere else (another thread, or the loop's thread while the loop is
//!   not running) the wake goes through [`Remote`], which interrupts a
//!   blocked `mio::Poll`.
//! - One `Arc<TaskWaker>` is made per task and lent to every poll with
//!   [`waker_ref`](futures_task::waker_ref), so a poll costs no refcount
//!   traffic. When a task ends and nobody kept a clone, the loop recycles the
//!   `Arc` for the next task, so spawning needs no waker allocation.

use std::sync::Arc;

use std::sync::atomic::AtomicBool;

use futures_task::ArcWake;

use crate::event_loop::context;
use crate::event_loop::remote::Remote;
use crate::task::TaskKey;

pub(crate) struct TaskWaker {
    pub(crate) loop_id: u64,
    pub(crate) task: TaskKey,
    pub(crate) remote: Arc<Remote>,
    /// This waker sits in the remote queue; see `remote.rs`.
    pub(crate) remote_queued: AtomicBool,
}

impl TaskWaker {
    pub(crate) fn new(loop_id: u64, task: TaskKey, remote: Arc<Remote>) -> TaskWaker {
        TaskWaker {
            loop_id,
            task,
            remote,
            remote_queued: AtomicBool::new(false),
        }
    }
}

impl ArcWake for TaskWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if !context::schedule_local(arc_self.loop_id, arc_self.task) {
            arc_self.remote.wake(arc_self);
        }
    }
}
