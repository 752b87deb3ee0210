//! A task's header: the part of its allocation the loop reads without
//! knowing the future's type, and its life cycle.
//!
//! ```text
//!              spawn (1)
//!                 |
//!                 v
//!   +-------> [Pending] --poll returns Ready (2)--> [Done] ----------+
//!   |  wake (3)   |  |                                               |
//!   +-------------+  +--poll panics (4)-----------> [Panicked] -----+--> result taken or
//!                 |                                                  |    dropped (5)
//!                 +--cancel(), next tick (6)------> [Cancelled] ----+
//! ```
//!
//! 1. `Core::spawn` (`event_loop/tasks.rs`): one block holds this header and
//!    the future (`raw/mod.rs`); the loop's task list and the run queue each
//!    keep a counted `TaskRef`, the [`Task`] handle a third. `queued` starts
//!    set.
//! 2. `Core::run_task`: the future stores its output in place.
//! 3. A wake reaches the block through the waker itself (`raw/waker.rs`) and
//!    pushes a `TaskRef` on the run queue unless `queued` is already set.
//! 4. The panic is caught; the future is dropped in place; the payload waits
//!    in `panic`.
//! 5. `Task::poll` moves the result out, sets `joined` and takes the task
//!    off the list. A detached task's result is dropped and the task taken
//!    off the list the moment it finishes; an unclaimed panic is reported
//!    then. A handle dropped after its loop is gone reports it through what
//!    the loop left its `Owner` (`Bequest`, `event_loop/tasks.rs`).
//! 6. `Task::cancel` sets `cancel_requested` and queues the task; when the run
//!    queue reaches it, the future is dropped instead of polled.
//!
//! # Invariants
//!
//! - The task list holds every task whose result may still be wanted: the
//!   pending ones, and finished ones whose handle has neither taken the
//!   result nor been dropped (`close` drops those results too). A wake
//!   queues only a `Pending` one: `Core::schedule_task` checks the state.
//! - Every field is a `Cell` read and written only on the loop's thread, by
//!   the loop and the task's handle, never while user code runs inside the
//!   same call: no borrow can be outstanding when another begins.
//!
//! [`Task`]: crate::Task

use std::any::Any;
use std::cell::Cell;
use std::panic::Location;
use std::task::Waker;

/// Where a task is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Pending,
    Done,
    Panicked,
    Cancelled,
}

/// In `#[repr(C)]` order, so that the flags a poll and a wake read come
/// last, next to the vtable and the stage (`raw/mod.rs`, "Layout").
#[repr(C)]
pub(crate) struct Header {
    /// The task's id: unique within its loop, never reused.
    id: u64,
    /// What most tasks never have, boxed so that the common task's
    /// allocation stays small.
    rare: Cell<Option<Box<Rare>>>,
    /// Who is awaiting the `Task` handle (read when the task finishes).
    pub(crate) join_waker: Cell<Option<Waker>>,
    pub(crate) state: Cell<State>,
    /// The task is on the run queue; a second wake must not push it again.
    pub(crate) queued: Cell<bool>,
    pub(crate) cancel_requested: Cell<bool>,
    /// The `Task` handle was dropped: discard the result as soon as it exists.
    pub(crate) detached: Cell<bool>,
    /// The `Task` handle took the result (kept here rather than in the
    /// handle, so that a handle is one pointer).
    pub(crate) joined: Cell<bool>,
}

#[derive(Default)]
struct Rare {
    name: Option<Box<str>>,
    /// The payload of a panic, until the handle takes it.
    panic: Option<Box<dyn Any + Send>>,
    /// Where the task was created (`create_task`'s caller), kept in debug
    /// mode only, for the slow-poll report.
    spawned_at: Option<&'static Location<'static>>,
}

impl Header {
    pub(crate) fn new(id: u64, state: State) -> Header {
        Header {
            id,
            state: Cell::new(state),
            queued: Cell::new(state == State::Pending),
            cancel_requested: Cell::new(false),
            detached: Cell::new(false),
            joined: Cell::new(false),
            join_waker: Cell::new(None),
            rare: Cell::new(None),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.get() != State::Pending
    }

    /// Runs `f` on the rare fields, creating them if needed.
    fn with_rare<R>(&self, f: impl FnOnce(&mut Rare) -> R) -> R {
        let mut rare = self.rare.take().unwrap_or_default();
        let r = f(&mut rare);
        self.rare.set(Some(rare));
        r
    }

    /// The task's name, if one was set.
    pub(crate) fn name(&self) -> Option<String> {
        let rare = self.rare.take()?;
        let copy = rare.name.as_deref().map(str::to_owned);
        self.rare.set(Some(rare));
        copy
    }

    /// The name as asyncio shows it: the one set, else `Task-<id>`.
    pub(crate) fn display_name(&self) -> String {
        self.name().unwrap_or_else(|| format!("Task-{}", self.id()))
    }

    pub(crate) fn set_name(&self, name: Box<str>) {
        self.with_rare(|rare| rare.name = Some(name));
    }

    pub(crate) fn set_spawned_at(&self, at: &'static Location<'static>) {
        self.with_rare(|rare| rare.spawned_at = Some(at));
    }

    /// Where the task was created, if that was recorded (debug mode).
    pub(crate) fn spawned_at(&self) -> Option<&'static Location<'static>> {
        let rare = self.rare.take()?;
        let at = rare.spawned_at;
        self.rare.set(Some(rare));
        at
    }

    pub(crate) fn set_panic(&self, payload: Box<dyn Any + Send>) {
        self.with_rare(|rare| rare.panic = Some(payload));
    }

    /// The panic payload, once.
    pub(crate) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        let mut rare = self.rare.take()?;
        let payload = rare.panic.take();
        self.rare.set(Some(rare));
        payload
    }

    /// The handle of a pending task was dropped: the task runs on, and
    /// nobody is waiting for it any more.
    pub(crate) fn detach(&self) {
        self.detached.set(true);
        drop(self.join_waker.take());
    }

    /// Registers `waker` to be woken when the task finishes. Returns the
    /// waker it replaces, for the caller to drop outside any borrow.
    pub(crate) fn set_join_waker(&self, waker: &Waker) -> Option<Waker> {
        let mut slot = self.join_waker.take();
        let old = super::register_waker(&mut slot, waker);
        self.join_waker.set(slot);
        old
    }
}
