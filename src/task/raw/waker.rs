//! A task's waker: a `RawWaker` over the task's own block, counted in the
//! block. All of evloop's waker handling is in this file.
//!
//! # The two counts
//!
//! A block has two reference counts (`mod.rs` draws the life cycle):
//!
//! - `refs`, a `Cell`, counts the loop's [`TaskRef`]s. They live on the
//!   loop's thread and hold the *local side*: the header, the future or
//!   output, and the [`Owner`].
//! - `wakers`, atomic, counts the `Waker`s over the block, wherever they
//!   are, plus one for the local side as a whole while `refs > 0`. It holds
//!   the memory: the block is freed when it reaches 0, on whatever thread
//!   drops the last waker.
//!
//! So a waker that outlives its task is harmless: it still points at live
//! memory, and its wake finds `refs == 0` and does nothing. The future is
//! always dropped on the loop's thread, even when the last waker is dropped
//! elsewhere.
//!
//! # What a wake does
//!
//! - On the loop's thread, while the loop runs: the task goes straight onto
//!   the run queue (`task::wake_local`, through the loop's `TaskHost`).
//!   No atomics, no syscall.
//! - Anywhere else (another thread, or the loop's thread while the loop is
//!   not running): the block goes into the loop's remote queue
//!   ([`RemoteWake`]), at most once until the loop drains it
//!   (`remote_queued`), and the loop is woken from its I/O wait.
//!
//! # Reaching the loop from another thread
//!
//! The block keeps a plain pointer to its loop's link (which holds the
//! [`RemoteWake`]). The loop's [`Owner`] holds the `Arc` behind it, and the
//! local side of every block holds the owner: while `refs > 0` the link is
//! alive. When `refs` reaches 0 and wakers are still out, the block first
//! takes a count of that `Arc` of its own (the *anchor*), then lets the
//! owner go; the anchor is given back when the block is freed. So whoever
//! holds a waker can always reach the remote, for as long as they hold it,
//! even after the loop is gone.
//!
//! # Safety
//!
//! Besides the module-level argument in `mod.rs`:
//!
//! - **Held count.** Every function here runs for a caller that holds one
//!   count of `wakers` (a `Waker`, a [`WakeRef`], a [`Woken`] borrowed from a
//!   waker, or the local side's), so the block's memory is live throughout.
//! - **Threads.** Off the loop's thread only `shared` is touched (through
//!   raw pointers, never a `&TaskCell`): atomics, and fields written once
//!   before the block was shared. The local side (`refs`, header, stage,
//!   owner) is touched only where a `&Owner` of the block's loop is at hand
//!   (`Owner` is `!Sync`, so that is the loop's thread) or through a
//!   `TaskRef` (which is `!Send`).
//! - **Anchor.** Written once, on the loop's thread, before the local
//!   side's count is released with `Release`; read only by whoever frees the
//!   block, after an `Acquire` fence.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::cell::{OnceCell, UnsafeCell};
use std::marker::PhantomData;
use std::mem;
use std::ptr::{self, NonNull};
use std::rc::{Rc, Weak};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable};

use super::{recycle, TaskCell, TaskList, TaskRef};
use crate::task::TaskHost;

/// Where wakes from other threads go: the loop's remote queue.
pub(crate) trait RemoteWake: Send + Sync {
    /// Queues `task` for the loop's thread and wakes the loop.
    fn wake_task(&self, task: WakeRef);
}

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// A loop, as its tasks know it. `!Send` and `!Sync`: a `&Owner` exists
/// only on the loop's thread, which is what lets a wake there touch the
/// task's local side.
pub(crate) struct Owner {
    /// The loop's id, unique in the process.
    id: u64,
    link: Arc<LoopLink>,
    /// Every task of the loop whose result may still be wanted (`list.rs`).
    tasks: TaskList,
    /// The loop's freed task blocks, for its next tasks.
    pub(super) cache: recycle::Cache,
    /// The loop itself, for what a handle asks of it ([`Owner::host`]):
    /// weak, since the loop holds its owner, so a task handle does not keep
    /// its loop alive. Unset only in tests.
    host: OnceCell<Weak<dyn TaskHost>>,
    /// What the loop left the handles still out when it went.
    heir: OnceCell<Rc<dyn TaskHost>>,
    _loop_thread: PhantomData<*const ()>,
}

/// What a waker on any thread needs of its loop: its remote queue. Its
/// address also names the loop, for as long as a block points at it
/// ([`belongs_to`]).
struct LoopLink {
    remote: Arc<dyn RemoteWake>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        mem::replace(&mut self.cache, recycle::Cache::new()).retire();
    }
}

impl Owner {
    pub(crate) fn new(remote: Arc<dyn RemoteWake>) -> Rc<Owner> {
        let id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(LoopLink { remote });
        Rc::new(Owner {
            id,
            tasks: TaskList::new(Arc::as_ptr(&link).cast()),
            link,
            cache: recycle::Cache::for_new_loop(),
            host: OnceCell::new(),
            heir: OnceCell::new(),
            _loop_thread: PhantomData,
        })
    }

    /// The loop's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The loop's task list.
    pub(crate) fn tasks(&self) -> &TaskList {
        &self.tasks
    }

    /// Names the loop this owner's handles reach (once, as it is built;
    /// later calls do nothing).
    pub(crate) fn set_host(&self, host: Weak<dyn TaskHost>) {
        let _ = self.host.set(host);
    }

    /// What the loop leaves its tasks' handles when it goes (once): they
    /// reach `heir` from then on.
    pub(crate) fn bequeath(&self, heir: Rc<dyn TaskHost>) {
        let _ = self.heir.set(heir);
    }

    /// The loop, or what it left when it went; `None` only for an owner
    /// that never had one.
    pub(crate) fn host(&self) -> Option<Rc<dyn TaskHost>> {
        match self.heir.get() {
            Some(heir) => Some(heir.clone()),
            None => self.host.get()?.upgrade(),
        }
    }
}

/// The part of a block any thread may touch.
pub(super) struct Shared {
    /// Wakers alive, plus one for the local side while `refs > 0`.
    wakers: AtomicU32,
    /// The block sits in the remote queue; a second remote wake adds nothing.
    remote_queued: AtomicBool,
    /// The loop's link, an `Arc` the owner holds: alive while the local side
    /// holds the owner, and after that while the block holds a count of its
    /// own (`anchored`).
    link: *const LoopLink,
    /// The block holds a count of `link`'s `Arc` (its local side is gone).
    anchored: UnsafeCell<bool>,
}

// SAFETY: `wakers` and `remote_queued` are atomics; `link` is written once,
// before the block is shared, and only read after; the pointee of `link` is
// `Sync`; `anchored` is written and read under the protocol in the module
// docs ("Anchor").
unsafe impl Sync for Shared {}

impl Shared {
    /// The address of the loop's link: what names the loop.
    pub(super) fn link(&self) -> *const () {
        self.link.cast()
    }

    /// The shared part of a new block of `owner`'s loop, counting the local
    /// side.
    pub(super) fn new(owner: &Owner) -> Shared {
        Shared {
            wakers: AtomicU32::new(1),
            remote_queued: AtomicBool::new(false),
            link: Arc::as_ptr(&owner.link),
            anchored: UnsafeCell::new(false),
        }
    }
}

/// The shared part of `cell`'s block.
///
/// # Safety
///
/// The caller holds a count of `wakers` ("Held count"), for as long as it
/// uses the reference.
unsafe fn shared<'a>(cell: NonNull<TaskCell>) -> &'a Shared {
    // SAFETY: the block is live (caller's promise); a projection through
    // the raw pointer makes no reference to the rest of the cell, which the
    // loop's thread may be using.
    unsafe { &*ptr::addr_of!((*cell.as_ptr()).shared) }
}

/// One more count of `wakers`.
#[inline]
fn add_waker(shared: &Shared) {
    if shared.wakers.fetch_add(1, Ordering::Relaxed) > u32::MAX / 2 {
        // As `Arc`: a count this high means wakers were leaked on purpose.
        std::process::abort();
    }
}

/// Whether `cell`'s task belongs to `owner`'s loop: whether it points at
/// that loop's link. A link outlives every block pointing at it (module
/// docs), so its address names one loop for as long as the comparison can
/// be made.
///
/// # Safety
///
/// As for [`shared`].
unsafe fn belongs_to(cell: NonNull<TaskCell>, owner: &Owner) -> bool {
    // SAFETY: the caller's promise.
    ptr::eq(unsafe { shared(cell) }.link, Arc::as_ptr(&owner.link))
}

/// The vtable of every task waker. A `static`, so every waker over a block
/// carries the same address, and `Waker::will_wake` compares them right.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker over `cell` that holds no count: the one a poll lends.
pub(super) fn raw(cell: NonNull<TaskCell>) -> RawWaker {
    RawWaker::new(cell.as_ptr().cast_const().cast(), &VTABLE)
}

unsafe fn clone(data: *const ()) -> RawWaker {
    let cell = cell_of(data);
    // SAFETY: a waker is being cloned, so its count is held.
    let shared = unsafe { shared(cell) };
    add_waker(shared);
    raw(cell)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: the caller gives up a waker, whose count is held until the
    // drop below.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let cell = cell_of(data);
    // On the loop's own thread, while it runs: straight to its run queue.
    let woken = Woken {
        cell,
        _waker: PhantomData,
    };
    if super::super::wake_local(&woken) {
        return;
    }
    // Anywhere else: through the loop's remote queue, once until drained.
    // SAFETY: the waker being woken holds a count.
    let shared = unsafe { shared(cell) };
    if shared.remote_queued.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the link is alive while the block's local side is, and the
    // anchor keeps it alive after that (module docs); the waker being woken
    // keeps the block, and so the anchor, for the whole call. The queue gets
    // a count of its own, so ours is not given up before `wake_task` returns.
    let link = unsafe { &*shared.link };
    link.remote.wake_task(WakeRef::new(cell));
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker being dropped gives up its count.
    unsafe { release(cell_of(data)) }
}

fn cell_of(data: *const ()) -> NonNull<TaskCell> {
    // Never null: `raw` made `data` from a `NonNull`.
    NonNull::new(data.cast_mut())
        .expect("task waker over a null block")
        .cast()
}

/// Gives up one count of `wakers`, freeing the block if it was the last.
///
/// # Safety
///
/// The caller holds that count and does not use the block afterwards.
unsafe fn release(cell: NonNull<TaskCell>) {
    // SAFETY: the caller holds a count until the `fetch_sub`.
    let shared = unsafe { shared(cell) };
    if shared.wakers.fetch_sub(1, Ordering::Release) == 1 {
        // Every other holder's uses happen before the free.
        fence(Ordering::Acquire);
        // SAFETY: that was the last count: nobody else holds the block.
        unsafe { free(cell) }
    }
}

/// Frees the block's memory (its local side is already dropped), and the
/// anchor with it.
///
/// # Safety
///
/// The last count of `wakers` was just given up by the caller.
unsafe fn free(cell: NonNull<TaskCell>) {
    // SAFETY: nobody else holds the block (caller's promise): its fields are
    // ours to read; an anchor is the block's own count of the link's `Arc`.
    // No cache at hand (this may be any thread, and the loop may be gone).
    unsafe {
        let shared = shared(cell);
        let link = shared.link;
        let anchored = *shared.anchored.get();
        recycle::free_uncached(cell.cast(), layout(cell));
        if anchored {
            Arc::decrement_strong_count(link);
        }
    }
}

/// The layout the block was allocated with (its vtable's).
///
/// # Safety
///
/// The caller holds the block's memory.
unsafe fn layout(cell: NonNull<TaskCell>) -> Layout {
    // SAFETY: the caller's promise; the vtable is written once by `new_task`.
    unsafe { (*ptr::addr_of!((*cell.as_ptr()).vtable)).layout }
}

/// The local side is gone (`refs` reached 0, header and stage dropped):
/// lets the owner go and gives up the local side's count, anchoring the
/// remote first if wakers are still out.
///
/// # Safety
///
/// Called once per block, on the loop's thread, by the `TaskRef` drop that
/// brought `refs` to 0; the block is not used by the caller afterwards.
pub(super) unsafe fn release_local(cell: NonNull<TaskCell>) {
    // SAFETY: the local side's count is still held.
    let shared = unsafe { shared(cell) };
    // SAFETY: the owner is moved out once, here; nothing reads it after
    // `refs` reached 0.
    let owner: Rc<Owner> = unsafe { ptr::read(ptr::addr_of!((*cell.as_ptr()).owner)) };
    // No waker is out (and none can be made: it takes a waker or a
    // `TaskRef`): free at once, with no atomic read-modify-write.
    if shared.wakers.load(Ordering::Acquire) == 1 {
        // SAFETY: ours was the only count, and nothing was anchored: the
        // memory goes back to the loop's cache.
        unsafe { owner.cache.free(cell.cast(), layout(cell)) };
        return;
    }
    // SAFETY: the owner holds the link's `Arc`, so there is a count to add
    // to; `anchored` is written once, here, before the local side's count
    // is released ("Anchor").
    unsafe {
        Arc::increment_strong_count(shared.link);
        *shared.anchored.get() = true;
    }
    drop(owner);
    // SAFETY: the local side's count, given up.
    unsafe { release(cell) };
}

/// A task woken by one of its wakers, borrowed for the wake: what
/// `TaskHost::wake_local` gets.
pub(crate) struct Woken<'a> {
    cell: NonNull<TaskCell>,
    _waker: PhantomData<&'a ()>,
}

impl Woken<'_> {
    /// Whether the task belongs to `owner`'s loop.
    #[inline]
    pub(crate) fn belongs_to(&self, owner: &Owner) -> bool {
        // SAFETY: the waker being woken holds a count for `'a`.
        unsafe { belongs_to(self.cell, owner) }
    }

    /// The task, if it belongs to `owner`'s loop and its local side is
    /// still there (`refs > 0`).
    pub(crate) fn upgrade(&self, owner: &Owner) -> Option<TaskRef> {
        // SAFETY: the waker being woken holds a count for `'a`.
        unsafe { upgrade(self.cell, owner) }
    }
}

/// A `TaskRef` of `cell`, if it belongs to `owner`'s loop and `refs > 0`.
///
/// # Safety
///
/// The caller holds a count of `wakers`.
unsafe fn upgrade(cell: NonNull<TaskCell>, owner: &Owner) -> Option<TaskRef> {
    // SAFETY: the caller holds a count.
    if !unsafe { belongs_to(cell, owner) } {
        return None;
    }
    // SAFETY: `&Owner` exists only on its loop's thread (it is `!Sync`), and
    // a block of its loop was made there (`new_task` takes a `&Rc<Owner>`,
    // which is `!Send`): this thread owns the local side, so reading `refs`
    // races with nothing.
    let refs = unsafe { &*ptr::addr_of!((*cell.as_ptr()).refs) };
    // `refs == 0`: the task is over, its header dropped; the wake is moot.
    (refs.get() > 0).then(|| TaskRef::counted(cell))
}

/// One count of `wakers`, in the loop's remote queue: a wake from another
/// thread on its way to the loop's thread. `Send`.
pub(crate) struct WakeRef {
    cell: NonNull<TaskCell>,
}

// SAFETY: a `WakeRef` touches only the shared part, which is `Sync`, except
// in `into_task`, which checks it is on the loop's thread first.
unsafe impl Send for WakeRef {}

impl WakeRef {
    fn new(cell: NonNull<TaskCell>) -> WakeRef {
        // SAFETY: made while a waker's count is held (`wake_by_ref`), so
        // there is a count to add to.
        add_waker(unsafe { shared(cell) });
        WakeRef { cell }
    }

    /// Arrived on the loop's thread: clears the queued flag (a wake from now
    /// on queues the task again) and gives the task, if it belongs to
    /// `owner`'s loop and is not over.
    pub(crate) fn into_task(self, owner: &Owner) -> Option<TaskRef> {
        // SAFETY: `self` holds a count until it is dropped at the end.
        unsafe {
            // A swap, not a store: it reads the last thread's `swap(true)`,
            // so what that thread wrote before its wake (and may have found
            // the task still queued) is visible to the poll that follows.
            shared(self.cell).remote_queued.swap(false, Ordering::AcqRel);
            upgrade(self.cell, owner)
        }
    }
}

impl Drop for WakeRef {
    fn drop(&mut self) {
        // SAFETY: `self`'s count, given up.
        unsafe { release(self.cell) }
    }
}
