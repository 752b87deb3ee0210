//! The task table: every task of a loop whose result may still be wanted,
//! by [`TaskKey`]. The life cycle it serves is drawn in `header.rs`.
//!
//! # Ground rules
//!
//! - The table holds the pending tasks, and the finished ones whose handle
//!   has neither taken the result nor been dropped (`close` drops those
//!   results too). A slot is freed by [`TaskTable::release`] once nobody can
//!   ask for the result.
//! - A key is a slab index plus the task's id, which is never reused within
//!   a loop: a stale key (an old waker's) never reaches the task that now
//!   occupies its slot, because the lookup checks the id as a generation.
//! - The slab is never borrowed while user code runs (a poll, a waker, a
//!   destructor): every method takes what it needs and lets go, and what it
//!   removes is dropped after the borrow ends. Lookups use `try_borrow`
//!   anyway, so a wake from a destructor during `take_all` finds nothing
//!   rather than panicking.
//!
//! # Fields and who may touch them
//!
//! Only the loop (`event_loop/tasks.rs`, `shutdown.rs`), through these
//! methods, on its own thread.

use std::cell::{Cell, RefCell};

use slab::Slab;

use super::{TaskKey, TaskRef};

pub(crate) struct TaskTable {
    slab: RefCell<Slab<TaskRef>>,
    next_id: Cell<u64>,
}

impl TaskTable {
    pub(crate) fn new() -> TaskTable {
        TaskTable {
            slab: RefCell::new(Slab::new()),
            next_id: Cell::new(1),
        }
    }

    /// A fresh task id (ids start at 1; 0 is the main future's).
    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Files a new task under a free slot: `make` builds it from its key
    /// and returns the table's reference and whatever the caller keeps.
    pub(crate) fn insert<R>(&self, id: u64, make: impl FnOnce(TaskKey) -> (TaskRef, R)) -> R {
        let mut slab = self.slab.borrow_mut();
        let entry = slab.vacant_entry();
        let key = TaskKey {
            index: entry.key(),
            gen: id,
        };
        let (task, kept) = make(key);
        entry.insert(task);
        kept
    }

    /// The task `key` names, if it is still pending.
    #[inline]
    pub(crate) fn pending(&self, key: TaskKey) -> Option<TaskRef> {
        let slab = self.slab.try_borrow().ok()?;
        let task = slab.get(key.index)?;
        (task.header.key.gen == key.gen && !task.header.is_finished()).then(|| task.clone())
    }

    /// Frees `key`'s slot if it still holds that task.
    pub(crate) fn release(&self, key: TaskKey) {
        let removed = {
            let mut slab = self.slab.borrow_mut();
            let ours = slab.get(key.index).is_some_and(|t| t.header.key == key);
            ours.then(|| slab.remove(key.index))
        };
        // Dropped outside the borrow: a task's destructor is user code.
        drop(removed);
    }

    /// Every pending task, in slab order.
    pub(crate) fn all_pending(&self) -> Vec<TaskRef> {
        (self.slab.borrow().iter())
            .filter(|(_, task)| !task.header.is_finished())
            .map(|(_, task)| task.clone())
            .collect()
    }

    /// Empties the table, handing every task to the caller (`close`).
    pub(crate) fn take_all(&self) -> Slab<TaskRef> {
        std::mem::take(&mut *self.slab.borrow_mut())
    }
}
