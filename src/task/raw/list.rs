//! The loop's task list: every task whose result may still be wanted, linked
//! through the blocks themselves. Used by `close` (cancel and drop them all)
//! and `all_tasks`; a wake never looks here (it holds the block itself).
//!
//! # Ground rules
//!
//! - The list holds one `TaskRef` of each task in it. Each loop has one
//!   list, in its `Owner` (made there and nowhere else), and a task can only
//!   be in its own loop's: so "linked, and of this list's loop" is
//!   membership, and removing a task from a list it is not in does nothing.
//! - The list's `TaskRef`s hold their blocks' owner, which holds the list:
//!   a cycle the loop breaks with [`TaskList::take_all`] when it closes.
//! - Linking and unlinking are a few pointer writes: no allocation, no
//!   search. Order is the order of insertion.
//! - Nothing here runs user code: what the list lets go of is returned to
//!   the caller, to be dropped outside any borrow.
//!
//! # Safety
//!
//! Every pointer in a list (`head`, `tail`, and the links of the blocks in
//! it) names a block the list holds a `TaskRef` of, so it is live. A list
//! and its blocks are on one thread: both `TaskList` and `TaskRef` are
//! `!Send`.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::mem;
use std::ptr::NonNull;

use super::{TaskCell, TaskRef};

/// A block's place in a list.
pub(super) struct Links {
    prev: Cell<Option<NonNull<TaskCell>>>,
    next: Cell<Option<NonNull<TaskCell>>>,
}

impl Links {
    pub(super) fn new() -> Links {
        Links {
            prev: Cell::new(None),
            next: Cell::new(None),
        }
    }
}

pub(crate) struct TaskList {
    /// The loop's link ([`TaskCell::link`]): what names the loop.
    link: *const (),
    head: Cell<Option<NonNull<TaskCell>>>,
    tail: Cell<Option<NonNull<TaskCell>>>,
}

/// The cell behind a pointer from a list.
///
/// # Safety
///
/// `cell` came from a list that still holds it (module docs), and the
/// reference is not used after the list lets go of it.
unsafe fn at<'a>(cell: NonNull<TaskCell>) -> &'a TaskCell {
    // SAFETY: the caller's promise: the list's `TaskRef` keeps it live.
    unsafe { cell.as_ref() }
}

impl TaskList {
    /// The list of the loop whose link is `link` (`Owner::new` only).
    pub(super) fn new(link: *const ()) -> TaskList {
        TaskList {
            link,
            head: Cell::new(None),
            tail: Cell::new(None),
        }
    }

    /// Appends `task`, keeping the reference.
    ///
    /// # Panics
    ///
    /// If `task` is in the list already, or of another loop.
    pub(crate) fn push(&self, task: TaskRef) {
        let links = &task.links;
        assert!(!task.linked.get(), "a task is in its loop's list once");
        assert!(task.link() == self.link, "a task goes in its own loop's list");
        task.linked.set(true);
        links.prev.set(self.tail.get());
        links.next.set(None);
        let cell = task.cell;
        match self.tail.get() {
            // SAFETY: the tail is in this list.
            Some(tail) => unsafe { at(tail) }.links.next.set(Some(cell)),
            None => self.head.set(Some(cell)),
        }
        self.tail.set(Some(cell));
        // The list's reference, given back by `remove` or `take_all`.
        mem::forget(task);
    }

    /// Takes `task` out, returning the list's reference; `None` if it is not
    /// in this list.
    pub(crate) fn remove(&self, task: &TaskRef) -> Option<TaskRef> {
        let links = &task.links;
        if !task.linked.get() || task.link() != self.link {
            return None;
        }
        let (prev, next) = (links.prev.take(), links.next.take());
        match prev {
            // SAFETY: `task`'s neighbours are in this list too.
            Some(prev) => unsafe { at(prev) }.links.next.set(next),
            None => self.head.set(next),
        }
        match next {
            // SAFETY: as for `prev`.
            Some(next) => unsafe { at(next) }.links.prev.set(prev),
            None => self.tail.set(prev),
        }
        task.linked.set(false);
        // SAFETY: the reference `push` kept, handed over once: the block is
        // no longer linked.
        Some(unsafe { TaskRef::adopt(task.cell) })
    }

    /// A reference to every task in the list, in order.
    pub(crate) fn to_vec(&self) -> Vec<TaskRef> {
        let mut all = Vec::new();
        let mut next = self.head.get();
        while let Some(cell) = next {
            // SAFETY: `cell` is in this list, so live.
            let task = unsafe { TaskRef::counted(cell) };
            next = task.links.next.get();
            all.push(task);
        }
        all
    }

    /// Empties the list, handing its references to the caller.
    pub(crate) fn take_all(&self) -> Vec<TaskRef> {
        let mut all = Vec::new();
        let mut next = self.head.take();
        self.tail.set(None);
        while let Some(cell) = next {
            // SAFETY: `cell` is in this list until the `adopt` below.
            let task = unsafe { at(cell) };
            next = task.links.next.take();
            task.links.prev.set(None);
            task.linked.set(false);
            // SAFETY: the list's reference, handed over once, as it unlinks.
            all.push(unsafe { TaskRef::adopt(cell) });
        }
        all
    }
}

impl Drop for TaskList {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}
