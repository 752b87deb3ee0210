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
//! - A poll lends the task an `Arc<TaskWaker>` through
//!   [`waker_ref`](futures_task::waker_ref) (no refcount traffic). Where the
//!   `Arc` comes from: if a future kept a clone of it in an earlier poll,
//!   the task's own; otherwise the loop's one spare waker, pointed at the
//!   task. After the poll, if nobody kept a clone it becomes the spare again
//!   (a task parked on a timer or that only yields is reached by key and
//!   holds no waker); if somebody did, it is the task's until the task ends
//!   and nobody holds a clone any more. So a burst of spawned tasks, or
//!   100,000 sleepers, share one cached waker instead of one each.
//! - The task key sits in atomics so that re-pointing a recycled waker is
//!   two plain stores: the loop recycles only an `Arc` it owns alone
//!   ([`TaskWaker::recycle`]), and then no other thread can read them.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_task::ArcWake;

use crate::event_loop::context;
use crate::event_loop::remote::Remote;
use crate::task::TaskKey;

pub(crate) struct TaskWaker {
    pub(crate) loop_id: u64,
    index: AtomicUsize,
    gen: AtomicU64,
    pub(crate) remote: Arc<Remote>,
    /// This waker sits in the remote queue; see `remote.rs`.
    pub(crate) remote_queued: AtomicBool,
}

impl TaskWaker {
    pub(crate) fn new(loop_id: u64, task: TaskKey, remote: Arc<Remote>) -> TaskWaker {
        TaskWaker {
            loop_id,
            index: AtomicUsize::new(task.index),
            gen: AtomicU64::new(task.gen),
            remote,
            remote_queued: AtomicBool::new(false),
        }
    }

    /// The task this waker wakes.
    pub(crate) fn task(&self) -> TaskKey {
        TaskKey {
            index: self.index.load(Ordering::Relaxed),
            gen: self.gen.load(Ordering::Relaxed),
        }
    }

    /// Points a recycled waker at another task. Only for a waker that
    /// [`recycle`](Self::recycle) let through.
    pub(crate) fn retarget(&self, task: TaskKey) {
        self.index.store(task.index, Ordering::Relaxed);
        self.gen.store(task.gen, Ordering::Relaxed);
    }

    /// The waker, if nobody else holds it and it may be retargeted: with one
    /// strong reference (and no weak ones: evloop never makes any) no other
    /// thread can reach it any more, and the acquire fence orders every
    /// earlier use by a thread that has since dropped its clone before the
    /// retargeting stores.
    pub(crate) fn recycle(waker: Arc<TaskWaker>) -> Option<Arc<TaskWaker>> {
        (Arc::strong_count(&waker) == 1).then(|| {
            fence(Ordering::Acquire);
            waker
        })
    }
}

impl ArcWake for TaskWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if !context::schedule_local(arc_self.loop_id, arc_self.task()) {
            arc_self.remote.wake(arc_self);
        }
    }
}
