//! The loop's cross-thread half: what other threads may touch.
//!
//! # Ground rules
//!
//! - This is the only part of a loop that is `Send + Sync`. Everything else
//!   lives in [`Core`](super::core::Core) on the loop's thread.
//! - A wake or callback from another thread is pushed onto a lock-free
//!   `crossbeam` queue, then `notified` is raised. A task's waker is queued
//!   at most once until the loop takes it off again (its `remote_queued`
//!   bit), so a thread that wakes a task in a tight loop cannot grow the
//!   queue or keep a tick draining it; only the thread that raises
//!   it from `false` writes to the `mio::Waker` (one syscall per batch, not
//!   per wake).
//! - The loop lowers `notified` with a `swap` *before* draining the queues:
//!   a push that saw `notified == true` and skipped the syscall is then
//!   ordered before the drain, so it cannot be lost.
//! - Once `closed` is set, wakes are dropped and callbacks refused: waking a
//!   task whose loop is gone is a no-op.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_queue::SegQueue;

use crate::task::waker::TaskWaker;
use crate::task::TaskKey;

/// A callback sent from another thread.
pub(crate) type RemoteCallback = Box<dyn FnOnce() + Send>;

pub(crate) struct Remote {
    tasks: SegQueue<Arc<TaskWaker>>,
    callbacks: SegQueue<RemoteCallback>,
    notified: AtomicBool,
    stop: AtomicBool,
    closed: AtomicBool,
    waker: mio::Waker,
}

impl Remote {
    pub(crate) fn new(waker: mio::Waker) -> Remote {
        Remote {
            tasks: SegQueue::new(),
            callbacks: SegQueue::new(),
            notified: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker,
        }
    }

    /// Queues a task wake from any thread, unless that waker is queued
    /// already (the loop will poll the task once for both wakes).
    pub(crate) fn wake(&self, waker: &Arc<TaskWaker>) {
        if self.closed.load(Ordering::SeqCst) || waker.remote_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        self.tasks.push(waker.clone());
        if self.closed_after_push() {
            return;
        }
        self.notify();
    }

    /// After a push: if the loop closed meanwhile, empty the queues here.
    /// A queued waker holds an `Arc` to this `Remote`, so one left behind in
    /// a closed loop's queue would be a reference cycle (a leak Miri finds).
    /// The fences pair with `close`'s: either `close` drains after our push,
    /// or we see `closed` here and drain ourselves.
    fn closed_after_push(&self) -> bool {
        fence(Ordering::SeqCst);
        if !self.closed.load(Ordering::SeqCst) {
            return false;
        }
        while self.tasks.pop().is_some() {}
        while self.callbacks.pop().is_some() {}
        true
    }

    /// Queues a callback from any thread; gives it back if the loop is closed.
    /// A callback racing with `close` may be dropped without running, as in
    /// asyncio.
    pub(crate) fn call_soon(&self, f: RemoteCallback) -> Result<(), RemoteCallback> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(f);
        }
        self.callbacks.push(f);
        if !self.closed_after_push() {
            self.notify();
        }
        Ok(())
    }

    /// Asks the loop to stop after its current tick.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify();
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Consumes a stop request. Checked after every tick, so the common
    /// answer (no stop) is a plain load, not a locked swap.
    pub(crate) fn take_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed) && self.stop.swap(false, Ordering::SeqCst)
    }

    /// Whether something was queued since the loop last drained.
    pub(crate) fn pending(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    fn notify(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            // The loop may be blocked in `epoll_wait`; an error here means the
            // eventfd is gone with the loop, which makes the wake moot.
            let _ = self.waker.wake();
        }
    }

    /// Drains queued wakes and callbacks, if any were signalled.
    pub(crate) fn drain(&self, mut on_task: impl FnMut(TaskKey), mut on_callback: impl FnMut(RemoteCallback)) {
        // A plain load first: the common case (nothing sent) stays a read.
        if !self.notified.load(Ordering::Relaxed) || !self.notified.swap(false, Ordering::SeqCst) {
            return;
        }
        while let Some(waker) = self.tasks.pop() {
            // Lowered before the task is scheduled: a wake racing with this
            // queues the waker again, at worst one extra, harmless poll. A
            // swap, not a store: a waking thread that found the bit already
            // up skipped the push, and this read of its write is what makes
            // the state it published before waking visible to the poll.
            waker.remote_queued.swap(false, Ordering::AcqRel);
            on_task(waker.task());
        }
        while let Some(f) = self.callbacks.pop() {
            on_callback(f);
        }
    }

    /// Refuses further wakes and callbacks; returns the callbacks still queued.
    pub(crate) fn close(&self) -> Vec<RemoteCallback> {
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        while self.tasks.pop().is_some() {}
        std::iter::from_fn(|| self.callbacks.pop()).collect()
    }
}
