//! The loop's side of task wakers: which `Arc<TaskWaker>` a poll lends its
//! task, and how the loop recognises that waker when a future hands it back
//! (`yield_now`, a `Sleep` arming its timer). `TaskWaker` itself, and what a
//! wake does, is in `task/waker.rs`.
//!
//! # Ground rules
//!
//! - A poll lends the task's own waker if a future kept a clone of it in an
//!   earlier poll; otherwise the *spare*, re-pointed at the task. After the
//!   poll, a waker nobody kept a clone of goes back to being the spare (the
//!   spare in the pool if the slot is taken), so tasks that finish at once
//!   or park on their own timer share one cached waker instead of one each.
//!   Fast path justified by `spawn_join` and `sleep_100k` in
//!   `BENCHMARKS.md` (one `Arc` per burst instead of one per task).
//! - An `Arc` someone else still holds is never re-pointed: its clones must
//!   go on naming their task ([`TaskWaker::recycle`]).
//! - The waker lent to the poll under way is recognised by its data pointer
//!   *and* its vtable, both recorded from the `Waker` the poll gets: a
//!   foreign waker that happens to share the address can never pass. (The
//!   vtable is recorded per poll, not once: codegen may duplicate the
//!   static, and a copy taken elsewhere made every check miss, sending
//!   each `yield_now` down the full wake path: +50 Ir per yield.)
//!
//! # Fields and who may touch them
//!
//! All `Cell`s on the loop's thread, touched only by `Core::run_task`
//! (lend, take back), `Core::finish` (recycle) and `Core::close` (clear).

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::task::{RawWakerVTable, Waker};

use super::remote::Remote;
use crate::task::header::Header;
use crate::task::waker::TaskWaker;
use crate::task::TaskKey;

pub(crate) struct WakerCache {
    loop_id: u64,
    remote: Arc<Remote>,
    /// The data pointer and vtable of the waker lent to the poll under way.
    lent: Cell<*const ()>,
    vtable: Cell<&'static RawWakerVTable>,
    /// The last waker recycled, first in line for the next task.
    spare: Cell<Option<Arc<TaskWaker>>>,
    /// The rest of the recycled wakers. Not capped: it never holds more
    /// wakers than there were tasks alive at once.
    pool: RefCell<Vec<Arc<TaskWaker>>>,
}

impl WakerCache {
    pub(crate) fn new(loop_id: u64, remote: Arc<Remote>) -> WakerCache {
        // Placeholders until the first poll (`waker_task` asks only while a
        // task is being polled, and each poll records its own waker first).
        let vtable = futures_task::noop_waker_ref().vtable();
        WakerCache {
            loop_id,
            remote,
            vtable: Cell::new(vtable),
            lent: Cell::new(std::ptr::null()),
            spare: Cell::new(None),
            pool: RefCell::new(Vec::new()),
        }
    }

    /// The waker for a poll of the task: the one a future kept a clone of,
    /// else the spare, pointed at the task.
    #[inline]
    pub(crate) fn lend(&self, header: &Header) -> Arc<TaskWaker> {
        match header.waker.take() {
            Some(own) => own,
            None => match self.spare.take() {
                Some(spare) => {
                    spare.retarget(header.key);
                    spare
                }
                None => self.fresh(header.key),
            },
        }
    }

    /// Records the waker about to be lent to a poll, data pointer and
    /// vtable both, taken from the very `Waker` the poll gets: a vtable
    /// captured anywhere else may be another copy of the same static
    /// (codegen duplicates them across units), and the check would miss.
    #[inline]
    pub(crate) fn mark_lent(&self, waker: &Waker) {
        self.lent.set(waker.data());
        self.vtable.set(waker.vtable());
    }

    #[cold]
    fn fresh(&self, key: TaskKey) -> Arc<TaskWaker> {
        match self.pool.borrow_mut().pop() {
            Some(pooled) => {
                pooled.retarget(key);
                pooled
            }
            None => Arc::new(TaskWaker::new(self.loop_id, key, self.remote.clone())),
        }
    }

    /// After a poll (unless the task woke itself and runs again next tick,
    /// when it simply keeps the waker): if a future kept a clone, the task
    /// keeps the waker; if not, it is recycled, and a parked task holds no
    /// waker at all (a timer reaches it by key).
    #[inline]
    pub(crate) fn take_back(&self, header: &Header, waker: Arc<TaskWaker>) {
        if Arc::strong_count(&waker) == 1 {
            self.recycle(waker);
        } else {
            header.waker.set(Some(waker));
        }
    }

    /// A waker back to the spare slot (the pool, if the spare is taken),
    /// unless somebody still holds a clone.
    pub(crate) fn recycle(&self, waker: Arc<TaskWaker>) {
        if let Some(waker) = TaskWaker::recycle(waker) {
            if let Some(other) = self.spare.replace(Some(waker)) {
                self.pool.borrow_mut().push(other);
            }
        }
    }

    /// Whether `waker` is the one lent to the poll under way.
    #[inline]
    pub(crate) fn is_lent(&self, waker: &Waker) -> bool {
        waker.data() == self.lent.get() && std::ptr::eq(waker.vtable(), self.vtable.get())
    }

    /// Drops every cached waker (the loop is closing).
    pub(crate) fn clear(&self) {
        self.pool.borrow_mut().clear();
        self.spare.take();
    }
}
