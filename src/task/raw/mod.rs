//! A task's one allocation, its waker, and the one place in evloop that
//! needs `unsafe`.
//!
//! # Layout
//!
//! A spawned task is one block, laid out as `Typed<F>`:
//!
//! ```text
//!  +----------------------------------- TaskCell ------------------------------------+------------+
//!  | shared: wakers, remote_queued, anchored, link  (any thread)                       | stage:     |
//!  | links | owner | header (id, rare, join waker, flags) | refs | vtable (loop thread) | Unsafe-    |
//!  |                                                                                   | Cell<      |
//!  |                                                                                   | Stage<F>>  |
//!  +-----------------------------------------------------------------------------------+------------+
//! ```
//!
//! For a small future the block is 112 bytes. What a poll and a wake read
//! (the header's join waker and flags, the count of `TaskRef`s, the vtable)
//! sits together right before the stage, so a poll touches as few cache
//! lines as the block's placement allows (callgrind's cache model: 5.9 →
//! 5.2 L1 read misses per spawn+join, `spawn_join` in `BENCHMARKS.md`).
//!
//! The loop holds it as a [`TaskRef`] (a pointer to the `TaskCell` prefix,
//! whatever `F` is), the `Task<T>` handle as a [`JoinRef<T>`] (the same
//! pointer, typed by the output it may take out), and a `Waker` is a
//! `RawWaker` over the same pointer (`waker.rs`). The header is a plain
//! field access; polling, dropping and taking the output go through the
//! vtable the block was made with. Memory comes from [`recycle`], so a
//! burst of short tasks reuses the blocks of the last burst instead of
//! going to `malloc` for each. The loop's list of its tasks is linked
//! through the blocks (`list.rs`).
//!
//! # Life cycle of the block
//!
//! ```text
//!  new_task ──(1)──> refs = 1, wakers = 1 ──(2) TaskRef clone/drop──> refs = n ≥ 1
//!                                          ──(3) Waker clone/drop───> wakers = 1 + m
//!                                                                         │
//!     (4) last TaskRef dropped, on the loop's thread: refs = 0            │
//!     ──> header, stage and owner dropped in place; wakers -= 1 ──────────┤
//!                                                                         │
//!     (5) wakers = 0, on any thread (the last Waker, or (4) itself)       │
//!     ──> recycle::free                                              <────┘
//! ```
//!
//! 1. [`new_task`] allocates the block, writes the cell and the stage, and
//!    returns the handle's [`JoinRef`]; the loop clones its `TaskRef`s out.
//!    `wakers` starts at 1: the local side's count.
//! 2. `TaskRef` clones and drops move `refs`, on the loop's thread.
//! 3. `Waker` clones and drops move `wakers`, on any thread. The waker a
//!    poll lends its task holds no count (the poll's `TaskRef` does).
//! 4. The drop that brings `refs` to 0 drops the task's contents in place,
//!    on the loop's thread, even if a destructor panics; a wake that comes
//!    later finds `refs == 0` and does nothing.
//! 5. The last count of `wakers` frees the memory (nothing is left to drop
//!    but the anchor, `waker.rs`). With no waker out, (4) does this at once.
//!
//! # Safety
//!
//! The argument, once, for every block below:
//!
//! - **Valid pointer.** A `TaskRef`'s pointer is the start of a live
//!   `Typed<F>` block for the `F` its vtable was made for: `new_task` sets
//!   both from one `F` and nothing changes either later. The contents stay
//!   while `refs > 0`, the memory while `wakers > 0`, and every `TaskRef`
//!   holds one of `refs`, while the local side holds one of `wakers`.
//!   `Typed<F>` is `#[repr(C)]` with the `TaskCell` first, so the block's
//!   start is also the cell's, and casting between the two pointer types
//!   keeps the provenance of the whole block.
//! - **One `&mut`, borrowed like a `RefCell`.** Only shared references to
//!   the cell are made; its mutation goes through `Cell`s and atomics. The
//!   stage is reached as `&mut` only in `Typed::with_stage`, while the
//!   cell's `stage_busy` flag is set: the flag and the `UnsafeCell` are a
//!   `RefCell` split in two, its flag kept in the cell's padding. A
//!   `TaskRef` is `!Send` (it holds a raw pointer), so `refs` and the local
//!   side are only touched on the loop's thread; other threads touch only
//!   `shared` (`waker.rs`).
//! - **Pinning.** The future never moves once written: the block is never
//!   moved or reallocated; the stage leaves `Running` only by assignment in
//!   place (`*stage = ...`), which drops `F` where it lies; the one move out
//!   of the stage, in `take`, happens only after checking that the stage is
//!   `Done`, which holds no `F`.
//!
//! Miri runs the task, waker and stress tests over this module (`.ci/run`),
//! wakers woken and dropped on other threads after their task and their
//! loop are gone included.
#![allow(unsafe_code)]

mod list;
mod recycle;
mod waker;

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

pub(crate) use list::TaskList;
pub(crate) use waker::{Owner, RemoteWake, WakeRef, Woken};

use super::header::Header;

/// What every task block starts with, whatever its future. In
/// `#[repr(C)]` order: what only spawning, other threads and the end of the
/// task touch first; then the header, whose flags come last; then what every
/// poll and wake touches, right before the stage ("Layout").
#[repr(C)]
pub(crate) struct TaskCell {
    /// What any thread may touch (`waker.rs`).
    shared: waker::Shared,
    /// The block's place in its loop's `TaskList`.
    links: list::Links,
    /// The task's loop, held by the local side.
    owner: Rc<Owner>,
    pub(crate) header: Header,
    /// The `TaskRef`s alive (a `JoinRef` holds one).
    refs: Cell<u32>,
    /// The block is in its loop's `TaskList` (kept here, in `refs`'
    /// padding, rather than with the links).
    linked: Cell<bool>,
    /// The stage is borrowed ([`Typed::with_stage`]): a `RefCell`'s flag,
    /// kept here in the padding rather than in a `RefCell` of its own.
    stage_busy: Cell<bool>,
    vtable: &'static Vtable,
}

/// A task block: the cell, then the stage.
#[repr(C)]
struct Typed<F: Future> {
    cell: TaskCell,
    /// Reached only through [`Typed::with_stage`], one borrow at a time.
    /// A `RefCell` would add its 8-byte flag here: a small task's block
    /// would be 128 bytes instead of 112, and `malloc` would lay blocks out
    /// 144 bytes apart instead of 128 (a quarter of a cache line more per
    /// task at each pass over the blocks: `spawn_join` in `BENCHMARKS.md`).
    stage: UnsafeCell<Stage<F>>,
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
    /// Drops the header and the stage in place (`refs` reached 0).
    drop_local: unsafe fn(NonNull<TaskCell>),
    /// The block's layout, to free it without knowing `F`.
    layout: Layout,
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
        drop_local: Self::drop_local,
        layout: Layout::new::<Typed<F>>(),
        type_name: std::any::type_name::<F>,
        take: Self::take,
        peek: Self::peek,
    };

    /// Runs `f` on the stage of the block `cell` starts, unless the stage
    /// is borrowed already (a destructor reaching back into its own task):
    /// then `None`. The borrow ends when `f` returns or unwinds.
    ///
    /// # Safety
    ///
    /// `cell` is a `Typed<F>` block for this `F` whose contents are live
    /// (module docs: it is one if it came from a `TaskRef` with
    /// `Self::VTABLE`), on the loop's thread.
    unsafe fn with_stage<R>(cell: NonNull<TaskCell>, f: impl FnOnce(&mut Stage<F>) -> R) -> Option<R> {
        /// Clears the flag, also when `f` unwinds.
        struct Borrow<'a>(&'a Cell<bool>);
        impl Drop for Borrow<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        // SAFETY: by the caller's promise the block is a live `Typed<F>`;
        // only shared references to it are made.
        let typed = unsafe { cell.cast::<Typed<F>>().as_ref() };
        if typed.cell.stage_busy.replace(true) {
            return None;
        }
        let _borrow = Borrow(&typed.cell.stage_busy);
        // SAFETY: the stage is reached only here, and the flag was clear and
        // stays set until `_borrow` drops: no other reference to it exists.
        // The flag is a `Cell` of the local side, so this is the loop's
        // thread and no other thread races for it.
        Some(f(unsafe { &mut *typed.stage.get() }))
    }

    /// # Safety
    ///
    /// As for [`Typed::with_stage`].
    unsafe fn poll(cell: NonNull<TaskCell>, cx: &mut Context<'_>) -> Poll<()> {
        let poll_stage = |stage: &mut Stage<F>| {
            let Stage::Running(future) = stage else {
                return Poll::Ready(());
            };
            // SAFETY: `F` is pinned in the task's block and never moved
            // (module docs): it stays at this address until it is dropped in
            // place below or by `discard`.
            let future = unsafe { Pin::new_unchecked(future) };
            match future.poll(cx) {
                Poll::Ready(output) => {
                    *stage = Stage::Done(output);
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        };
        // SAFETY: the caller's promise.
        let polled = unsafe { Self::with_stage(cell, poll_stage) };
        // See `Vtable`: a poll is never re-entered, so the stage is free.
        polled.expect("evloop: a task's poll re-entered itself")
    }

    /// # Safety
    ///
    /// As for [`Typed::with_stage`].
    unsafe fn discard(cell: NonNull<TaskCell>) {
        // SAFETY: the caller's promise.
        unsafe { Self::with_stage(cell, |stage| *stage = Stage::Gone) };
    }

    /// # Safety
    ///
    /// As for [`Typed::with_stage`], and `out` points to a live
    /// `Option<F::Output>`.
    unsafe fn take(cell: NonNull<TaskCell>, out: *mut ()) {
        let take_output = |stage: &mut Stage<F>| {
            if !matches!(stage, Stage::Done(_)) {
                return; // never move a `Running` future: it is pinned
            }
            if let Stage::Done(output) = mem::replace(stage, Stage::Gone) {
                // SAFETY: the caller's promise: `out` is a live, writable
                // `Option<F::Output>`; assigning drops its old value in place.
                unsafe { *out.cast::<Option<F::Output>>() = Some(output) };
            }
        };
        // SAFETY: the caller's promise.
        unsafe { Self::with_stage(cell, take_output) };
    }

    /// # Safety
    ///
    /// As for [`Typed::with_stage`]; `check` reads its pointer as a
    /// `&F::Output`.
    unsafe fn peek(cell: NonNull<TaskCell>, check: ErasedCheck<'_>) -> Option<bool> {
        // SAFETY: the caller's promise.
        unsafe {
            Self::with_stage(cell, |stage| match stage {
                Stage::Done(output) => Some(check(ptr::from_ref(output).cast())),
                _ => None,
            })
        }
        .flatten()
    }

    /// # Safety
    ///
    /// As for [`Typed::with_stage`], and `refs` has just reached 0: no reference
    /// into the contents is used after this call.
    unsafe fn drop_local(cell: NonNull<TaskCell>) {
        /// Drops the stage even if the header's destructor panics.
        struct DropStage<F: Future>(NonNull<Typed<F>>);
        impl<F: Future> Drop for DropStage<F> {
            fn drop(&mut self) {
                // SAFETY: the caller's promise: the stage is live, dropped
                // once, here, and never used again.
                unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*self.0.as_ptr()).stage)) }
            }
        }
        let typed = cell.cast::<Typed<F>>();
        let _stage = DropStage(typed);
        // SAFETY: as for the stage; the header is dropped once, here.
        unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*typed.as_ptr()).cell.header)) };
    }
}

/// Makes a task block of `owner`'s loop holding `header` and `stage`;
/// returns the handle's view of it (clone the loop's [`TaskRef`] out of it).
pub(crate) fn new_task<F: Future>(owner: &Rc<Owner>, header: Header, stage: Stage<F>) -> JoinRef<F::Output> {
    let block = owner.cache.alloc(Layout::new::<Typed<F>>()).cast::<Typed<F>>();
    let typed = Typed {
        cell: TaskCell {
            shared: waker::Shared::new(owner),
            header,
            owner: owner.clone(),
            refs: Cell::new(1),
            linked: Cell::new(false),
            stage_busy: Cell::new(false),
            links: list::Links::new(),
            vtable: &Typed::<F>::VTABLE,
        },
        stage: UnsafeCell::new(stage),
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
    /// A new reference to the block at `cell`.
    ///
    /// # Safety
    ///
    /// `cell` is a block whose contents are live (`refs > 0`), on the
    /// loop's thread.
    unsafe fn counted(cell: NonNull<TaskCell>) -> TaskRef {
        // SAFETY: the caller's promise.
        let task = ManuallyDrop::new(TaskRef { cell });
        TaskRef::clone(&task)
    }

    /// Takes over a count of `refs` somebody gave up (a list's).
    ///
    /// # Safety
    ///
    /// As for [`TaskRef::counted`], and that count is handed over once.
    unsafe fn adopt(cell: NonNull<TaskCell>) -> TaskRef {
        TaskRef { cell }
    }

    /// Polls the future with the task's own waker; `Ready` once it has
    /// finished and stored its output.
    #[inline]
    pub(crate) fn poll(&self) -> Poll<()> {
        // SAFETY: a waker over the block, lent for the poll and never
        // dropped, so it takes no count: `self` holds the contents, and
        // with them the local side's count of `wakers`, for the whole poll.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(waker::raw(self.cell)) });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: `self` keeps the block alive, and the vtable is the one it
        // was made with (module docs).
        unsafe { (self.vtable.poll)(self.cell, &mut cx) }
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

    /// The address of the task's loop's link: what names the loop.
    fn link(&self) -> *const () {
        self.shared.link()
    }

    /// The id of the task's loop.
    pub(crate) fn loop_id(&self) -> u64 {
        self.owner.id()
    }

    /// The task's loop, as its handle reaches it ([`Owner::host`]).
    pub(crate) fn host(&self) -> Option<Rc<dyn crate::task::TaskHost>> {
        self.owner.host()
    }

    /// Takes the task off its loop's task list (its result was taken, or
    /// nobody will take it). Nothing if it is not on it.
    pub(crate) fn leave_list(&self) {
        // Not the last reference: `self` is one.
        drop(self.owner.tasks().remove(self));
    }

    /// Whether two references name the same task.
    #[cfg(test)]
    pub(crate) fn same(&self, other: &TaskRef) -> bool {
        self.cell == other.cell
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
        if refs == u32::MAX {
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
            release_local(self.cell);
        }
    }
}

/// (4) in the life cycle: drops the contents, then gives up the local
/// side's count of `wakers`, even if a destructor panics.
#[cold]
fn release_local(cell: NonNull<TaskCell>) {
    struct Release(NonNull<TaskCell>);
    impl Drop for Release {
        fn drop(&mut self) {
            // SAFETY: once per block, on the loop's thread, after the last
            // `TaskRef` (the one being dropped); the block is not used after.
            unsafe { waker::release_local(self.0) }
        }
    }
    let _release = Release(cell);
    // SAFETY: `refs` just reached 0, so nobody else reaches the contents;
    // the vtable is the block's own.
    unsafe { ((*ptr::addr_of!((*cell.as_ptr()).vtable)).drop_local)(cell) }
}

/// The task being polled, for the loop to recognise a self-wake and answer
/// `current_task`: set only for the length of a poll.
pub(crate) struct Polling {
    task: Cell<Option<NonNull<TaskCell>>>,
}

impl Polling {
    pub(crate) fn new() -> Polling {
        Polling { task: Cell::new(None) }
    }

    /// Runs `poll` with `task` as the task being polled (restoring the one
    /// before, if polls nest, even on a panic).
    #[inline]
    pub(crate) fn run<R>(&self, task: &TaskRef, poll: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Polling, Option<NonNull<TaskCell>>);
        impl Drop for Restore<'_> {
            #[inline]
            fn drop(&mut self) {
                self.0.task.set(self.1);
            }
        }
        let _restore = Restore(self, self.task.replace(Some(task.cell)));
        poll()
    }

    /// Whether `task` is the task being polled.
    #[inline]
    pub(crate) fn is(&self, task: &TaskRef) -> bool {
        self.task.get() == Some(task.cell)
    }

    /// The task being polled, if any.
    pub(crate) fn current(&self) -> Option<TaskRef> {
        // SAFETY: the slot is set only inside `run`, whose `&TaskRef`
        // keeps the block's contents live until it is restored.
        self.task.get().map(|cell| unsafe { TaskRef::counted(cell) })
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
    use std::cell::RefCell;
    use std::sync::{Arc, Mutex};

    /// A loop's remote queue, for tests: keeps what other threads (or a
    /// thread where no loop runs) woke.
    #[derive(Default)]
    struct Inbox(Mutex<Vec<WakeRef>>);

    impl RemoteWake for Inbox {
        fn wake_task(&self, task: WakeRef) {
            self.0.lock().unwrap().push(task);
        }
    }

    impl Inbox {
        fn take(&self) -> Vec<WakeRef> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    fn owner() -> (Rc<Owner>, Arc<Inbox>) {
        let inbox = Arc::new(Inbox::default());
        (Owner::new(inbox.clone()), inbox)
    }

    fn cell<F: Future + 'static>(owner: &Rc<Owner>, future: F) -> JoinRef<F::Output> {
        new_task(owner, Header::new(1, State::Pending), Stage::Running(future))
    }

    /// A future that keeps a clone of its waker in `slot`, and never ends.
    fn keeps_waker(slot: &Rc<RefCell<Option<Waker>>>) -> impl Future<Output = ()> {
        let slot = slot.clone();
        std::future::poll_fn(move |cx| {
            *slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    #[test]
    fn polls_a_self_referential_future_in_place_and_keeps_output() {
        let (owner, inbox) = owner();
        let join = cell(&owner, async {
            let local = [1u8, 2, 3];
            let borrowed = &local;
            crate::yield_now().await;
            borrowed.iter().map(|&b| b as u32).sum::<u32>()
        });
        let body: TaskRef = join.clone();
        assert_eq!(join.take(), None, "no output while running");
        assert!(body.poll().is_pending());
        let woken = inbox.take();
        assert_eq!(
            woken.len(),
            1,
            "the yield woke the task (through the remote: no loop runs)"
        );
        assert!(woken
            .into_iter()
            .next()
            .unwrap()
            .into_task(&owner)
            .is_some_and(|t| t.same(&body)));
        assert!(body.poll().is_ready());
        assert_eq!(join.peek(&mut |&v| v == 6), Some(true));
        assert_eq!(join.take(), Some(6));
        assert_eq!(join.take(), None, "output is moved out once");
    }

    #[test]
    fn finishing_and_discarding_drop_in_place() {
        let (owner, _inbox) = owner();
        let guard = Rc::new(());
        let held = guard.clone();
        let done = cell(&owner, async move {
            let _held = held;
            7u8
        });
        assert!(done.poll().is_ready());
        assert_eq!(Rc::strong_count(&guard), 1, "future's captures dropped on finish");

        let held = guard.clone();
        let running = cell(&owner, async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        assert!(running.poll().is_pending());
        running.discard();
        assert_eq!(Rc::strong_count(&guard), 1, "discard drops a running future");
        assert!(running.poll().is_ready(), "a discarded body is never polled");
    }

    #[test]
    fn the_stage_is_borrowed_one_at_a_time_without_a_flag_of_its_own() {
        // No `RefCell` flag between the cell and the stage.
        type Small = std::future::Ready<u64>;
        assert_eq!(
            mem::size_of::<Typed<Small>>(),
            mem::size_of::<TaskCell>() + mem::size_of::<Stage<Small>>()
        );
        let (owner, _inbox) = owner();
        // A poll that panics gives the stage back: the task can still be
        // discarded, and is never polled again.
        let guard = Rc::new(());
        let held = guard.clone();
        let panics = cell(&owner, async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        assert!(panics.poll().is_pending());
        let mut first = true;
        let boom = cell(
            &owner,
            std::future::poll_fn(move |_| {
                if std::mem::take(&mut first) {
                    panic!("poll boom");
                }
                Poll::Ready(())
            }),
        );
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| boom.poll())).is_err());
        assert!(boom.poll().is_ready(), "the borrow ended with the unwinding poll");
        panics.discard();
        assert_eq!(Rc::strong_count(&guard), 1, "discarded after another task's panic");
        // A destructor that reaches back into its own task while the stage is
        // borrowed (here: dropped by `discard`) finds it busy, and its own
        // `discard` does nothing: the future is dropped once.
        struct ReachBack(Rc<RefCell<Option<TaskRef>>>, Rc<Cell<u32>>);
        impl Drop for ReachBack {
            fn drop(&mut self) {
                self.1.set(self.1.get() + 1);
                if let Some(task) = self.0.borrow_mut().take() {
                    task.discard();
                }
            }
        }
        let (slot, drops) = (Rc::new(RefCell::new(None)), Rc::new(Cell::new(0)));
        let reach = ReachBack(slot.clone(), drops.clone());
        let task = cell(&owner, async move {
            let _reach = reach;
            std::future::pending::<u8>().await
        });
        assert!(task.poll().is_pending());
        *slot.borrow_mut() = Some(TaskRef::clone(&task));
        task.discard();
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn the_last_reference_drops_future_output_and_header() {
        let (owner, _inbox) = owner();
        let guard = Rc::new(());
        let (in_future, in_output) = (guard.clone(), guard.clone());
        let pending = cell(&owner, async move {
            let _held = in_future;
            std::future::pending::<()>().await;
        });
        let second: TaskRef = pending.clone();
        let finished = cell(&owner, async move { in_output });
        assert!(finished.poll().is_ready());
        assert_eq!(Rc::strong_count(&guard), 3);
        drop(pending);
        assert_eq!(Rc::strong_count(&guard), 3, "a TaskRef still holds the block");
        drop(second);
        drop(finished);
        assert_eq!(Rc::strong_count(&guard), 1, "future and output dropped with the block");
        assert_eq!(Rc::strong_count(&owner), 1, "and the blocks' hold on the owner");
    }

    #[test]
    fn a_panicking_destructor_still_frees_the_block() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let (owner, _inbox) = owner();
        let task = cell(&owner, async {
            let _bomb = Bomb;
            std::future::pending::<()>().await;
        });
        assert!(task.poll().is_pending());
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(task)));
        assert!(unwound.is_err());
        assert_eq!(Rc::strong_count(&owner), 1, "the owner is let go all the same");
        // Miri reports a leak if the block was not freed.
    }

    #[test]
    fn blocks_are_reused_by_the_next_task() {
        let (owner, _inbox) = owner();
        let first = cell(&owner, async { 1u32 });
        let addr = first.cell;
        drop(first);
        let second = cell(&owner, async { 2u32 });
        assert_eq!(
            second.cell, addr,
            "same size class: the cached block is handed out again"
        );
    }

    #[test]
    fn the_next_loop_on_the_thread_reuses_a_dropped_loops_blocks() {
        let (first, _inbox) = owner();
        let task = cell(&first, async { 1u32 });
        let addr = task.cell;
        drop(task);
        drop(first);
        let (second, _inbox) = owner();
        let task = cell(&second, async { 2u32 });
        assert_eq!(task.cell, addr, "the dropped loop's cache was handed on");
    }

    #[test]
    fn a_waker_outliving_its_task_keeps_the_memory_not_the_future() {
        let (owner, inbox) = owner();
        let guard = Rc::new(());
        let held = guard.clone();
        let slot = Rc::new(RefCell::new(None));
        let parked = keeps_waker(&slot);
        let task = cell(&owner, async move {
            let _held = held;
            parked.await;
        });
        assert!(task.poll().is_pending());
        let waker = slot.borrow_mut().take().expect("the future kept its waker");
        drop(task);
        assert_eq!(
            Rc::strong_count(&guard),
            1,
            "the future is dropped with the last TaskRef"
        );
        assert_eq!(Rc::strong_count(&owner), 1, "the owner too");
        waker.wake_by_ref();
        let woken = inbox.take();
        assert_eq!(woken.len(), 1);
        assert!(
            woken.into_iter().next().unwrap().into_task(&owner).is_none(),
            "a wake of a finished task finds nothing"
        );
        drop(waker); // frees the block; Miri reports a leak otherwise
    }

    #[test]
    fn wakes_from_another_thread_queue_the_task_once() {
        let (owner, inbox) = owner();
        let slot = Rc::new(RefCell::new(None));
        let task: TaskRef = cell(&owner, keeps_waker(&slot)).clone();
        assert!(task.poll().is_pending());
        let waker = slot.borrow_mut().take().unwrap();
        std::thread::scope(|s| {
            for _ in 0..3 {
                let waker = waker.clone();
                s.spawn(move || waker.wake());
            }
        });
        let woken = inbox.take();
        assert_eq!(woken.len(), 1, "queued once until the loop takes it");
        let back = woken.into_iter().next().unwrap().into_task(&owner);
        assert!(back.is_some_and(|t| t.same(&task)));
        std::thread::scope(|s| {
            s.spawn(|| waker.wake_by_ref());
        });
        assert_eq!(inbox.take().len(), 1, "taken off: the next wake queues it again");
    }

    #[test]
    fn the_last_waker_may_be_dropped_on_another_thread_after_the_loop_is_gone() {
        let (owner, inbox) = owner();
        let slot = Rc::new(RefCell::new(None));
        let task = cell(&owner, keeps_waker(&slot));
        assert!(task.poll().is_pending());
        let waker = slot.borrow_mut().take().unwrap();
        drop(task);
        drop(owner);
        assert_eq!(Arc::strong_count(&inbox), 2, "the block anchors the remote");
        let inbox_there = inbox.clone();
        std::thread::spawn(move || {
            waker.wake_by_ref();
            drop(inbox_there.take());
            drop(waker);
        })
        .join()
        .unwrap();
        assert_eq!(Arc::strong_count(&inbox), 1, "freeing the block let the anchor go");
    }

    #[test]
    fn a_wake_from_a_loop_that_does_not_own_the_task_is_refused() {
        let (other, _other_inbox) = owner();
        let (owner, inbox) = owner();
        let slot = Rc::new(RefCell::new(None));
        let task: TaskRef = cell(&owner, keeps_waker(&slot)).clone();
        assert!(task.poll().is_pending());
        slot.borrow_mut().take().unwrap().wake();
        let woken = inbox.take().pop().unwrap();
        assert!(woken.into_task(&other).is_none(), "another loop cannot take our task");
    }

    #[test]
    fn the_list_keeps_order_and_removes_only_its_own() {
        let (other, _other_inbox) = owner();
        let (owner, _inbox) = owner();
        let tasks: Vec<TaskRef> = (0..3).map(|_| cell(&owner, async {}).clone()).collect();
        let list = owner.tasks();
        for task in &tasks {
            list.push(task.clone());
        }
        assert!(other.tasks().remove(&tasks[1]).is_none(), "not in that loop's list");
        assert!(list.remove(&tasks[1]).is_some());
        assert!(list.remove(&tasks[1]).is_none(), "removed once");
        let left = list.to_vec();
        assert_eq!(left.len(), 2);
        assert!(left[0].same(&tasks[0]) && left[1].same(&tasks[2]));
        drop(left);
        list.push(tasks[1].clone());
        let all = list.take_all();
        assert_eq!(all.len(), 3);
        assert!(all[2].same(&tasks[1]), "pushed again, at the end");
        assert!(list.to_vec().is_empty());
        drop(all);
        assert_eq!(tasks[0].refs.get(), 1, "the list gave its references back");
    }

    #[test]
    #[should_panic(expected = "its own loop's list")]
    fn a_task_cannot_join_another_loops_list() {
        let (other, _other_inbox) = owner();
        let (owner, _inbox) = owner();
        let task: TaskRef = cell(&owner, async {}).clone();
        other.tasks().push(task);
    }

    #[test]
    fn polling_names_the_task_only_during_its_poll() {
        let (owner, _inbox) = owner();
        let task: TaskRef = cell(&owner, async {}).clone();
        let polling = Polling::new();
        assert!(polling.current().is_none());
        let inside = polling.run(&task, || polling.current().is_some_and(|t| t.same(&task)));
        assert!(inside);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            polling.run(&task, || panic!("poll panicked"))
        }));
        assert!(unwound.is_err());
        assert!(
            polling.current().is_none() && !polling.is(&task),
            "restored after a panic"
        );
    }
}
