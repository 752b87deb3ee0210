//! A task's one allocation, and the one place in evloop that needs `unsafe`.
//!
//! # Layout
//!
//! A spawned task is one block, laid out as `Typed<F>`:
//!
//! ```text
//!  +---------------------------- TaskCell ----------------------------+-------------------+
//!  | header: Header | refs: Cell<usize> | vtable: &'static Vtable       | stage: RefCell<   |
//!  | (what the loop reads: key, state, flags, wakers)                  |  Stage<F>>        |
//!  +-------------------------------------------------------------------+-------------------+
//! ```
//!
//! The loop holds it as a [`TaskRef`] (a pointer to the `TaskCell` prefix,
//! whatever `F` is), the `Task<T>` handle as a [`JoinRef<T>`] (the same
//! pointer, typed by the output it may take out). The header
//! is a plain field access; polling, dropping and taking the output go
//! through the vtable the block was made with. `refs` counts the
//! `TaskRef`s (a `JoinRef` holds one), as `Rc` would; unlike `Rc`, the block
//! comes from [`recycle`], so a burst of short tasks reuses the blocks of
//! the last burst instead of going to `malloc` for each.
//!
//! # Life cycle of the block
//!
//! ```text
//!  new_task ──(1)──> refs = 1 (the JoinRef) ──(2) clone/drop──> refs = n ≥ 1
//!                                                                      │
//!        (3) last TaskRef dropped: refs = 0                            │
//!        ──> vtable.destroy: drop header and stage in place ──> recycle::free
//! ```
//!
//! 1. [`new_task`] allocates the block, writes the cell and the stage, and
//!    returns the handle's [`JoinRef`]; the loop clones its `TaskRef` out.
//! 2. Clones and drops move `refs`; nothing else does.
//! 3. The drop that brings `refs` to 0 destroys the block: the stage (the
//!    future or output, if still there) and the header are dropped in
//!    place, and the memory goes back to the cache, even if a destructor
//!    panics.
//!
//! # Safety
//!
//! The argument, once, for every block below:
//!
//! - **Valid pointer.** A `TaskRef`'s pointer is the start of a live
//!   `Typed<F>` block for the `F` its vtable was made for: `new_task` sets
//!   both from one `F` and nothing changes either later. The block stays
//!   allocated while `refs > 0`, and every access goes through a `TaskRef`
//!   (which holds one count) or happens in `destroy` (which runs once, at
//!   0). `Typed<F>` is `#[repr(C)]` with the `TaskCell` first, so the block's
//!   start is also the cell's, and casting between the two pointer types
//!   keeps the provenance of the whole block.
//! - **No `&mut` ever.** Only shared references to the cell and the stage
//!   are made; all mutation goes through `Cell` and `RefCell`. A `TaskRef` is
//!   `!Send` (it holds a raw pointer), so `refs`, a plain `Cell`, is only
//!   touched on the loop's thread.
//! - **Pinning.** The future never moves once written: the block is never
//!   moved or reallocated; the stage leaves `Running` only by assignment in
//!   place (`*stage = ...`), which drops `F` where it lies; the one move out
//!   of the stage, in `take`, happens only after checking that the stage is
//!   `Done`, which holds no `F`.
//!
//! Miri runs the task, waker and stress tests over this module (`.ci/run`).
#![allow(unsafe_code)]

mod recycle;

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use super::header::Header;

/// What every task block starts with, whatever its future.
pub(crate) struct TaskCell {
    pub(crate) header: Header,
    /// The `TaskRef`s alive (a `JoinRef` holds one).
    refs: Cell<usize>,
    vtable: &'static Vtable,
}

/// A task block: the cell, then the stage.
#[repr(C)]
struct Typed<F: Future> {
    cell: TaskCell,
    stage: RefCell<Stage<F>>,
}

/// A task body: the future while it runs, its output once it has finished.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Done(F::Output),
    /// The future was dropped (cancelled, panicked) or the output taken.
    Gone,
}

/// What the loop does with a task without knowing its future's type.
///
/// The stage is borrowed only inside these functions, and neither the loop
/// nor a handle calls one from inside another for the same task (a poll
/// never overlaps a take or a discard: the task is `Pending` while polled,
/// and a handle only takes from a finished task). A destructor that reaches
/// back into its own task finds the stage borrowed; every function but
/// `poll` then does nothing rather than panic.
struct Vtable {
    /// Polls the future; `Ready` once it has finished and stored its output.
    poll: unsafe fn(NonNull<TaskCell>, &mut Context<'_>) -> Poll<()>,
    /// Drops the future or the output in place. Callers guard it: a
    /// destructor may panic.
    discard: unsafe fn(NonNull<TaskCell>),
    /// Drops the block's contents in place and frees it (refs reached 0).
    destroy: unsafe fn(NonNull<TaskCell>),
    /// The future's type (`std::any::type_name`), for reports and traces:
    /// read through the vtable, so no task stores it.
    type_name: fn() -> &'static str,
    /// Moves the output, if there is one, into `*out`, an
    /// `Option<F::Output>` (`JoinRef<T>` knows `T` is `F::Output`).
    take: unsafe fn(NonNull<TaskCell>, out: *mut ()),
    /// `check` applied to the output (a `&F::Output` behind the pointer),
    /// if the task finished and the output is still there.
    peek: unsafe fn(NonNull<TaskCell>, check: ErasedCheck<'_>) -> Option<bool>,
}

/// A test of an output, given a pointer to it.
type ErasedCheck<'a> = &'a mut dyn FnMut(*const ()) -> bool;

impl<F: Future> Typed<F> {
    const VTABLE: Vtable = Vtable {
        poll: Self::poll,
        discard: Self::discard,
        destroy: Self::destroy,
        type_name: std::any::type_name::<F>,
        take: Self::take,
        peek: Self::peek,
    };

    /// The block `cell` starts.
    ///
    /// # Safety
    ///
    /// `cell` is a live `Typed<F>` block for this `F` (module docs: it is
    /// one if it came from a `TaskRef` with `Self::VTABLE`).
    unsafe fn stage<'a>(cell: NonNull<TaskCell>) -> &'a RefCell<Stage<F>> {
        // SAFETY: by the caller's promise the block is a live `Typed<F>`;
        // only shared references to it are ever made.
        unsafe { &cell.cast::<Typed<F>>().as_ref().stage }
    }

    /// # Safety
    ///
    /// As for [`Typed::stage`].
    unsafe fn poll(cell: NonNull<TaskCell>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the caller's promise.
        let stage = unsafe { Self::stage(cell) };
        // Cannot fail: see `Vtable`. A poll is never re-entered.
        let mut stage = stage.borrow_mut();
        let Stage::Running(future) = &mut *stage else {
            return Poll::Ready(());
        };
        // SAFETY: `F` is pinned in the task's block and never moved (module
        // docs): it stays at this address until it is dropped in place below
        // or by `discard`.
        let future = unsafe { Pin::new_unchecked(future) };
        match future.poll(cx) {
            Poll::Ready(output) => {
                *stage = Stage::Done(output);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// # Safety
    ///
    /// As for [`Typed::stage`].
    unsafe fn discard(cell: NonNull<TaskCell>) {
        // SAFETY: the caller's promise.
        if let Ok(mut stage) = unsafe { Self::stage(cell) }.try_borrow_mut() {
            *stage = Stage::Gone;
        }
    }

    /// # Safety
    ///
    /// As for [`Typed::stage`], and `out` points to a live
    /// `Option<F::Output>`.
    unsafe fn take(cell: NonNull<TaskCell>, out: *mut ()) {
        // SAFETY: the caller's promise.
        let Ok(mut stage) = unsafe { Self::stage(cell) }.try_borrow_mut() else {
            return;
        };
        if !matches!(*stage, Stage::Done(_)) {
            return; // never move a `Running` future: it is pinned
        }
        if let Stage::Done(output) = mem::replace(&mut *stage, Stage::Gone) {
            // SAFETY: the caller's promise: `out` is a live, writable
            // `Option<F::Output>`; assigning drops its old value in place.
            unsafe { *out.cast::<Option<F::Output>>() = Some(output) };
        }
    }

    /// # Safety
    ///
    /// As for [`Typed::stage`]; `check` reads its pointer as a
    /// `&F::Output`.
    unsafe fn peek(cell: NonNull<TaskCell>, check: ErasedCheck<'_>) -> Option<bool> {
        // SAFETY: the caller's promise.
        match &*unsafe { Self::stage(cell) }.try_borrow().ok()? {
            Stage::Done(output) => Some(check(ptr::from_ref(output).cast())),
            _ => None,
        }
    }

    /// # Safety
    ///
    /// As for [`Typed::stage`], and no reference into the block is used
    /// after this call (refs reached 0: nobody holds one).
    unsafe fn destroy(cell: NonNull<TaskCell>) {
        /// Frees the block even if a destructor in it panics.
        struct Free(NonNull<TaskCell>, Layout);
        impl Drop for Free {
            fn drop(&mut self) {
                // SAFETY: the block came from `recycle::alloc` with this
                // layout in `new_task`, and its contents are dropped (or
                // being unwound past) and never used again.
                unsafe { recycle::free(self.0.cast(), self.1) };
            }
        }
        let _free = Free(cell, Layout::new::<Typed<F>>());
        // SAFETY: the block is a live, initialised `Typed<F>` (caller's
        // promise) that nobody references any more; it is dropped once, here.
        unsafe { ptr::drop_in_place(cell.cast::<Typed<F>>().as_ptr()) };
    }
}

/// Makes a task block holding `header` and `stage`; returns the handle's
/// view of it (clone the loop's [`TaskRef`] out of it).
pub(crate) fn new_task<F: Future>(header: Header, stage: Stage<F>) -> JoinRef<F::Output> {
    let block = recycle::alloc(Layout::new::<Typed<F>>()).cast::<Typed<F>>();
    let typed = Typed {
        cell: TaskCell {
            header,
            refs: Cell::new(1),
            vtable: &Typed::<F>::VTABLE,
        },
        stage: RefCell::new(stage),
    };
    // SAFETY: `block` is fresh memory with `Typed<F>`'s layout, written once
    // here before any reference to it exists.
    unsafe { block.as_ptr().write(typed) };
    JoinRef {
        task: TaskRef { cell: block.cast() },
        output: PhantomData,
    }
}

/// The loop's view of a task: a counted pointer to its block.
pub(crate) struct TaskRef {
    cell: NonNull<TaskCell>,
}

impl TaskRef {
    /// Polls the future; `Ready` once it has finished and stored its output.
    #[inline]
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `self` keeps the block alive, and the vtable is the one it
        // was made with (module docs).
        unsafe { (self.vtable.poll)(self.cell, cx) }
    }

    /// Drops the future or the output in place. A destructor may panic:
    /// callers guard it.
    pub(crate) fn discard(&self) {
        // SAFETY: as in `poll`.
        unsafe { (self.vtable.discard)(self.cell) }
    }

    /// The future's type, as `std::any::type_name` spells it.
    pub(crate) fn type_name(&self) -> &'static str {
        (self.vtable.type_name)()
    }
}

impl Deref for TaskRef {
    type Target = TaskCell;

    #[inline]
    fn deref(&self) -> &TaskCell {
        // SAFETY: `self` keeps the block alive (module docs); the reference
        // lives no longer than `self`.
        unsafe { self.cell.as_ref() }
    }
}

impl Clone for TaskRef {
    #[inline]
    fn clone(&self) -> TaskRef {
        let refs = self.refs.get();
        if refs == usize::MAX {
            // As `Rc`: a count this high means clones were leaked on purpose.
            std::process::abort();
        }
        self.refs.set(refs + 1);
        TaskRef { cell: self.cell }
    }
}

impl Drop for TaskRef {
    #[inline]
    fn drop(&mut self) {
        let refs = self.refs.get() - 1;
        self.refs.set(refs);
        if refs == 0 {
            // SAFETY: this was the last `TaskRef`, so nobody else can reach
            // the block; the vtable is the block's own.
            unsafe { (self.vtable.destroy)(self.cell) }
        }
    }
}

/// The handle's view of a task whose output is `T`: made only by
/// [`new_task`], for a future whose output is `T`.
pub(crate) struct JoinRef<T> {
    task: TaskRef,
    output: PhantomData<fn() -> T>,
}

impl<T> JoinRef<T> {
    /// Moves the output out, once; `None` if there is none (yet, or any
    /// more).
    pub(crate) fn take(&self) -> Option<T> {
        let mut out: Option<T> = None;
        // SAFETY: `self.task` keeps the block alive, its vtable is its own,
        // and its `F::Output` is `T` (`new_task` made this `JoinRef<T>`), so
        // `out` is the `Option<F::Output>` `take` writes.
        unsafe { (self.task.vtable.take)(self.task.cell, ptr::from_mut(&mut out).cast()) };
        out
    }

    /// `check` applied to the output, if the task finished and the output
    /// is still there.
    pub(crate) fn peek(&self, check: &mut dyn FnMut(&T) -> bool) -> Option<bool> {
        // SAFETY: as in `take`: the pointer `peek` passes is a `&F::Output`,
        // that is a `&T`, borrowed for the call.
        let mut check = |output: *const ()| check(unsafe { &*output.cast::<T>() });
        // SAFETY: `self.task` keeps the block alive; its vtable is its own.
        unsafe { (self.task.vtable.peek)(self.task.cell, &mut check) }
    }
}

impl<T> Deref for JoinRef<T> {
    type Target = TaskRef;

    #[inline]
    fn deref(&self) -> &TaskRef {
        &self.task
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::header::State;
    use crate::task::TaskKey;
    use futures_task::noop_waker_ref;
    use std::rc::Rc;

    fn cell<F: Future + 'static>(future: F) -> JoinRef<F::Output> {
        let key = TaskKey { index: 0, gen: 1 };
        new_task(Header::new(key, State::Pending), Stage::Running(future))
    }

    #[test]
    fn polls_a_self_referential_future_in_place_and_keeps_output() {
        let join = cell(async {
            let local = [1u8, 2, 3];
            let borrowed = &local;
            crate::yield_now().await;
            borrowed.iter().map(|&b| b as u32).sum::<u32>()
        });
        let body: TaskRef = join.clone();
        let mut cx = Context::from_waker(noop_waker_ref());
        assert_eq!(join.take(), None, "no output while running");
        assert!(body.poll(&mut cx).is_pending());
        assert!(body.poll(&mut cx).is_ready());
        assert_eq!(join.peek(&mut |&v| v == 6), Some(true));
        assert_eq!(join.take(), Some(6));
        assert_eq!(join.take(), None, "output is moved out once");
    }

    #[test]
    fn finishing_and_discarding_drop_in_place() {
        let guard = Rc::new(());
        let held = guard.clone();
        let done = cell(async move {
            let _held = held;
            7u8
        });
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(done.poll(&mut cx).is_ready());
        assert_eq!(Rc::strong_count(&guard), 1, "future's captures dropped on finish");

        let held = guard.clone();
        let running = cell(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        assert!(running.poll(&mut cx).is_pending());
        running.discard();
        assert_eq!(Rc::strong_count(&guard), 1, "discard drops a running future");
        assert!(running.poll(&mut cx).is_ready(), "a discarded body is never polled");
    }

    #[test]
    fn the_last_reference_drops_future_output_and_header() {
        let guard = Rc::new(());
        let (in_future, in_output) = (guard.clone(), guard.clone());
        let pending = cell(async move {
            let _held = in_future;
            std::future::pending::<()>().await;
        });
        let second: TaskRef = pending.clone();
        let finished = cell(async move { in_output });
        assert!(finished.poll(&mut Context::from_waker(noop_waker_ref())).is_ready());
        assert_eq!(Rc::strong_count(&guard), 3);
        drop(pending);
        assert_eq!(Rc::strong_count(&guard), 3, "a TaskRef still holds the block");
        drop(second);
        drop(finished);
        assert_eq!(Rc::strong_count(&guard), 1, "future and output dropped with the block");
    }

    #[test]
    fn a_panicking_destructor_still_frees_the_block() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let task = cell(async {
            let _bomb = Bomb;
            std::future::pending::<()>().await;
        });
        assert!(task.poll(&mut Context::from_waker(noop_waker_ref())).is_pending());
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(task)));
        assert!(unwound.is_err());
        // Miri reports a leak if the block was not freed.
    }

    #[test]
    fn blocks_are_reused_by_the_next_task() {
        let first = cell(async { 1u32 });
        let addr = first.cell;
        drop(first);
        let second = cell(async { 2u32 });
        assert_eq!(
            second.cell, addr,
            "same size class: the cached block is handed out again"
        );
    }
}
