//! Shutting a loop down: asyncio's "cancel the leftovers" and `close()`.
//!
//! # Ground rules
//!
//! - `cancel_all` only *requests* cancellation: the futures drop at the
//!   loop's next tick, on the loop, inside its context (what `run()` does
//!   after its main future returns).
//! - `close` refuses new work first, then moves every task, queued job and
//!   timer out of its container before dropping any of them: destructors
//!   may call back into the loop (a `Task` handle dropping, a `Sleep`
//!   cancelling its timer) and must find empty containers, not borrowed
//!   ones. Callbacks from other threads are popped last, one at a time:
//!   their queue is lock-free (nothing to find borrowed) and, once closed,
//!   takes nothing new.
//! - Every user value is dropped in its own `catch_unwind` guard
//!   (`Core::drop_guarded`): a panicking destructor is reported and the rest
//!   are still dropped (two panics under one guard would abort).
//! - Whoever awaits a task from outside the loop is woken, and learns the
//!   task was cancelled, instead of waiting for ever.

use std::mem;

use super::core::{Core, Job};
use super::instrument::bump;
use crate::task::header::State;
use crate::time::TimerEntry;

impl Core {
    /// Cancels every live task (their futures drop at the next tick).
    pub(crate) fn cancel_all(&self) {
        for task in self.owner.tasks().to_vec() {
            self.cancel_task(&task);
        }
    }

    /// Closes the loop: refuses new work and drops every task, callback and
    /// timer, running their destructors here, one by one, each guarded so a
    /// panicking destructor is reported and the rest are still dropped.
    pub(crate) fn close(&self) {
        if self.io.close() {
            return;
        }
        self.remote.close();
        // Move everything out first: destructors may call back into the loop
        // (a `Task` handle dropping, a `Sleep` cancelling its timer), and they
        // must find empty containers, not borrowed ones.
        let queue = mem::take(&mut *self.run_queue.borrow_mut());
        let timers = self.time.drain();
        // Last, so that nothing can unwind while the list is a `Vec` (one
        // copy of its drop glue fewer: issue #15).
        let tasks = self.owner.tasks().take_all();
        for task in tasks {
            let header = &task.header;
            if !header.is_finished() {
                header.state.set(State::Cancelled);
                bump(&self.instruments.counters.tasks_finished);
            }
            let id = Some(header.id());
            self.drop_guarded("exception while dropping a task at close", || task.discard(), id);
            // Whoever awaits the task (from outside this loop's run, say) learns
            // it was cancelled instead of waiting forever.
            if let Some(join) = header.join_waker.take() {
                self.wake_guarded(join);
            }
        }
        // A callback's closure lives in a cell shared with its `CallbackHandle`:
        // take it out, or it would outlive the loop for as long as the handle.
        // One at a time, each dropped before the next is taken.
        let queued = queue.iter().filter_map(|job| match job {
            Job::Callback(cell) => Some(cell),
            _ => None,
        });
        let timed = timers.iter().filter_map(|entry| match entry {
            TimerEntry::Call(cell) => Some(cell),
            TimerEntry::Wake(_) => None,
        });
        for cell in queued.chain(timed) {
            if let Some(closure) = cell.f.take() {
                self.drop_callback(closure);
            }
        }
        self.remote.take_closed(|f| self.drop_callback(f));
        self.drop_guarded(
            "exception while dropping a callback at close",
            || drop((queue, timers)),
            None,
        );
        // Last: what closing woke or dropped is in the trace too.
        self.instruments.trace(|t| t.finish());
    }

    /// Drops a callback's closure at close, guarded: one copy of the guard
    /// for local and remote callbacks alike (issue #15).
    fn drop_callback(&self, closure: Box<dyn FnOnce()>) {
        self.drop_guarded("exception while dropping a callback at close", || drop(closure), None);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.close();
        self.bequeath();
    }
}
