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
//! - A drain takes only what was queued when it began (the queues' lengths
//!   then), and at most [`CALLBACK_BATCH`] callbacks, so threads that keep
//!   sending cannot hold the loop in its remote step: the tick goes on to
//!   its timers and run step, and the rest waits for the next tick (each
//!   later push raised `notified` again; a capped drain raises it itself).
//!   Wakes need no cap: each task's waker is queued at most once.
//! - Once `closed` is set, wakes are dropped and callbacks refused: waking a
//!   task whose loop is gone is a no-op.
//! - `in_flight` counts work handed to other threads whose result the loop
//!   still expects (`to_thread` jobs, through [`InFlight`] guards). A
//!   manual clock does not jump while it is non-zero: the result may be
//!   what ends the wait.

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_queue::SegQueue;
use futures_task::ArcWake;

use super::context;
use crate::task::{RemoteWake, WakeRef};

/// The most callbacks from other threads one tick takes on. Senders that
/// outpace the loop would otherwise make each tick longer than the last
/// (each takes all that arrived during the one before); with a cap a
/// tick's length stays bounded, so timers and tasks keep their turn, and
/// the backlog waits in the queue.
pub(crate) const CALLBACK_BATCH: usize = 1024;

/// A callback sent from another thread.
pub(crate) type RemoteCallback = Box<dyn FnOnce() + Send>;

/// What both remote queues hold. Two queues still (wakes and callbacks keep
/// their own counts and order), of one item type: one copy of
/// `SegQueue`'s push, pop and drop instead of two (issue #15). The wakes
/// queue holds only `Wake`s, the callbacks queue only `Call`s.
enum Item {
    Wake(WakeRef),
    Call(RemoteCallback),
}

pub(crate) struct Remote {
    /// `Item::Wake`s only.
    tasks: SegQueue<Item>,
    /// The main future (`run_until_complete`'s) was woken.
    main_woken: AtomicBool,
    /// `Item::Call`s only.
    callbacks: SegQueue<Item>,
    notified: AtomicBool,
    stop: AtomicBool,
    closed: AtomicBool,
    in_flight: AtomicUsize,
    waker: mio::Waker,
}

impl Remote {
    pub(crate) fn new(waker: mio::Waker) -> Remote {
        Remote {
            tasks: SegQueue::new(),
            main_woken: AtomicBool::new(false),
            callbacks: SegQueue::new(),
            notified: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            waker,
        }
    }

    /// Wakes the main future from any thread (see [`MainWaker`]).
    fn wake_main(&self) {
        if self.closed.load(Ordering::SeqCst) || self.main_woken.swap(true, Ordering::AcqRel) {
            return;
        }
        self.notify();
    }

    /// After a push: if the loop closed meanwhile, empty the queues here.
    /// A queued task may hold an `Arc` to this `Remote` (its anchor,
    /// `task/raw/waker.rs`), so one left behind in a closed loop's queue
    /// would be a reference cycle (a leak Miri finds).
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
        self.callbacks.push(Item::Call(f));
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

    /// Drains the wakes and callbacks queued when it begins, if any were
    /// signalled; what arrives meanwhile waits for the next tick.
    pub(crate) fn drain(
        &self,
        mut on_task: impl FnMut(WakeRef),
        on_main: impl FnOnce(),
        mut on_callback: impl FnMut(RemoteCallback),
    ) {
        // A plain load first: the common case (nothing sent) stays a read.
        if !self.notified.load(Ordering::Relaxed) || !self.notified.swap(false, Ordering::SeqCst) {
            return;
        }
        // Only what was queued when the drain began: a thread that keeps
        // sending must not keep the loop here (its later sends raised
        // `notified` again, so the next tick takes them). `len` may miss a
        // push still in flight; that push's `notify` comes after our swap.
        let (tasks, queued) = (self.tasks.len(), self.callbacks.len());
        let callbacks = queued.min(CALLBACK_BATCH);
        if callbacks < queued {
            // More than a tick's share: leave the rest, and the flag raised
            // (no syscall: the loop is awake) so the next tick comes back.
            self.notified.store(true, Ordering::SeqCst);
        }
        if self.main_woken.load(Ordering::Relaxed) && self.main_woken.swap(false, Ordering::AcqRel) {
            on_main();
        }
        // Each item is handed on by its kind, whichever queue it came from
        // (each holds one kind only).
        let mut take = |queue: &SegQueue<Item>| {
            match queue.pop() {
                // `WakeRef::into_task` lowers the task's `remote_queued` bit
                // before the task is scheduled: a wake racing with this
                // queues it again, at worst one extra, harmless poll.
                Some(Item::Wake(task)) => on_task(task),
                Some(Item::Call(f)) => on_callback(f),
                None => return false,
            }
            true
        };
        for _ in 0..tasks {
            if !take(&self.tasks) {
                break;
            }
        }
        for _ in 0..callbacks {
            if !take(&self.callbacks) {
                break;
            }
        }
    }

    /// Counts one piece of work on another thread whose result this loop
    /// awaits, until the guard drops. Drop the guard only *after* the
    /// result was delivered (its waker woken): the loop must never see the
    /// count fall without also seeing the wake.
    pub(crate) fn begin_work(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// Whether work handed to other threads is still under way.
    pub(crate) fn work_in_flight(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) != 0
    }

    /// Refuses further wakes and callbacks, and drops the wakes still
    /// queued; the callbacks still queued wait for [`Remote::take_closed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        while self.tasks.pop().is_some() {}
    }

    /// After [`Remote::close`]: hands each callback still queued to `each`,
    /// one at a time (no `Vec` of them: issue #15). Nothing can be added
    /// meanwhile: a sender that raced with `close` empties the queue itself.
    pub(crate) fn take_closed(&self, mut each: impl FnMut(RemoteCallback)) {
        // (The callbacks queue holds `Call`s only.)
        while let Some(item) = self.callbacks.pop() {
            if let Item::Call(f) = item {
                each(f);
            }
        }
    }
}

/// One piece of work in flight on another thread (see [`Remote::begin_work`]).
impl RemoteWake for Remote {
    /// Queues a task woken on another thread (its waker raised the task's
    /// `remote_queued` bit, so each task is queued at most once).
    fn wake_task(&self, task: WakeRef) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        self.tasks.push(Item::Wake(task));
        if !self.closed_after_push() {
            self.notify();
        }
    }
}

/// The waker of `run_until_complete`'s future, which is no task: on the
/// loop's thread, while the loop runs, it queues the main future directly;
/// anywhere else through the remote queue.
pub(crate) struct MainWaker {
    pub(crate) loop_id: u64,
    pub(crate) remote: Arc<Remote>,
}

impl ArcWake for MainWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if !context::wake_main_local(arc_self.loop_id) {
            arc_self.remote.wake_main();
        }
    }
}

pub(crate) struct InFlight(Arc<Remote>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        // A loop blocked on a manual clock waits for this: let it re-check.
        self.0.notify();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use std::rc::Rc;
    use std::task::{Poll, Waker};

    use super::*;
    use crate::task::header::{Header, State};
    use crate::task::{new_task, Owner, Stage};

    fn remote() -> (mio::Poll, Arc<Remote>) {
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        (poll, Arc::new(Remote::new(waker)))
    }

    /// A task of a loop that is not running, polled once; returns the waker
    /// it kept (a wake from here goes through `remote`).
    fn parked_task(owner: &Rc<Owner>) -> (crate::task::TaskRef, Waker) {
        let kept = Rc::new(std::cell::RefCell::new(None));
        let slot = kept.clone();
        let future = std::future::poll_fn(move |cx| {
            *slot.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        let task: crate::task::TaskRef =
            new_task(owner, Header::new(1, State::Pending), Stage::Running(future)).clone();
        assert!(task.poll().is_pending());
        let waker = kept.borrow_mut().take().unwrap();
        (task, waker)
    }

    #[test]
    fn drain_takes_only_what_was_queued_when_it_began() {
        let (_poll, remote) = remote();
        let owner = Owner::new(remote.clone());
        let (task, waker) = parked_task(&owner);
        waker.wake_by_ref();
        remote.call_soon(Box::new(|| {})).ok().unwrap();
        // Every task and callback handed over sends another at once, as a
        // thread that never stops sending would: a drain "until empty"
        // would never return.
        let (tasks, callbacks) = (Cell::new(0), Cell::new(0));
        remote.drain(
            |woken| {
                assert!(woken.into_task(&owner).is_some_and(|t| t.same(&task)));
                tasks.set(tasks.get() + 1);
                waker.wake_by_ref();
            },
            || {},
            |_| {
                callbacks.set(callbacks.get() + 1);
                remote.call_soon(Box::new(|| {})).ok().unwrap();
            },
        );
        assert_eq!((tasks.get(), callbacks.get()), (1, 1));
        // What arrived meanwhile raised the flag again, for the next tick.
        assert!(remote.pending());
        remote.drain(
            |_| tasks.set(tasks.get() + 1),
            || {},
            |_| callbacks.set(callbacks.get() + 1),
        );
        assert_eq!((tasks.get(), callbacks.get()), (2, 2));
        assert!(!remote.pending());
        remote.close();
    }

    #[test]
    fn drain_takes_at_most_a_batch_of_callbacks_and_comes_back_for_the_rest() {
        let (_poll, remote) = remote();
        for _ in 0..CALLBACK_BATCH + 10 {
            remote.call_soon(Box::new(|| {})).ok().unwrap();
        }
        let taken = Cell::new(0);
        remote.drain(|_| {}, || {}, |_| taken.set(taken.get() + 1));
        assert_eq!(taken.get(), CALLBACK_BATCH);
        assert!(remote.pending(), "the rest is flagged for the next tick");
        remote.drain(|_| {}, || {}, |_| taken.set(taken.get() + 1));
        assert_eq!(taken.get(), CALLBACK_BATCH + 10);
        assert!(!remote.pending());
    }

    #[test]
    fn in_flight_work_is_counted_until_its_guard_drops() {
        let (_poll, remote) = remote();
        assert!(!remote.work_in_flight());
        let guard = remote.begin_work();
        let other = remote.begin_work();
        assert!(remote.work_in_flight());
        drop(guard);
        assert!(remote.work_in_flight());
        drop(other);
        assert!(!remote.work_in_flight());
        assert!(remote.pending(), "the last guard wakes the loop to re-check");
    }
}
