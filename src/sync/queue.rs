//! [`Queue`]: asyncio's `Queue`, a FIFO channel between tasks, optionally
//! bounded, with `task_done`/`join` accounting.
//!
//! # Ground rules
//!
//! - **Items are handed off.** While a getter waits, the queue is empty.
//!   When an item arrives it is moved *out of the queue and into the oldest
//!   waiting getter's node*, so the oldest getter gets the oldest item, and
//!   [`Queue::get_nowait`] (or any later getter) cannot take it first.
//! - **Slots are promised.** While a putter waits, the queue is full. When
//!   a slot frees up it is *reserved* for the oldest waiting putter, which
//!   puts its item when it next runs; [`Queue::put_nowait`] cannot take a
//!   reserved slot. Putters woken together put in the order they run, which
//!   is the order they were woken.
//! - **Cancellation loses nothing.** A [`QueueGet`] dropped after an item
//!   was handed to it puts the item back at the *front* of the queue (it is
//!   older than anything there), from where it goes to the next getter. A
//!   [`QueuePut`] dropped before it put its item drops the item, never puts
//!   it (as in asyncio), and passes its reserved slot on.
//! - Invariants: getters wait only while `items` is empty; putters wait only
//!   while there is no unreserved room; `settle` restores both after every
//!   change.
//! - **Shutdown ends the conversation** (asyncio 3.13's `shutdown`). Once
//!   `shut_down` is set nothing new goes in: every waiting getter and
//!   putter is woken with an empty grant (a getter's `None`, a putter's
//!   `false`, told apart from an item or a promised slot), and every put
//!   fails. Getters drain what was queued, then fail. The fallible forms
//!   are [`Queue::send`], [`Queue::recv`] and [`Queue::stream`] (which
//!   ends); [`Queue::put`] and [`Queue::get`] keep their asyncio-before-3.13
//!   output types and panic where asyncio raises `QueueShutDown`, so code
//!   that never shuts a queue down is unchanged. An `immediate` shutdown
//!   drops the queued items (outside the borrow) and counts them done for
//!   `join`; items already handed to a woken getter stay that getter's.
//! - **Fast paths spend one unit of the task's cooperative budget**
//!   (`task/coop.rs`): a `put` that finds room, a `get` that finds an item
//!   and a `join` with nothing unfinished each check the budget *before*
//!   touching the queue. When the budget is spent they return `Pending`
//!   having changed nothing (the item stays with the putter or first in the
//!   queue, nothing is reserved or queued) and the task is woken to try
//!   again on a later tick. So a task that puts and gets in a loop lets the
//!   loop run everything else every 128 operations. Meanwhile another task
//!   may use the room or take the item: the yielding call had not queued,
//!   so that is no barging. Waiters that were handed an item or a slot are
//!   not charged: they already waited once.
//!
//! # Fields and who may touch them
//!
//! - `items`: queued items nobody has been promised.
//! - `handed`: items moved into notified getters' nodes and not yet taken.
//!   They still occupy capacity. `settle` raises it; a getter lowers it when
//!   it takes its item or gives it back on drop.
//! - `reserved`: slots promised to notified putters. `settle` raises it; a
//!   putter lowers it when it puts or when it is dropped.
//! - `unfinished`: items put and not yet marked done; raised by every put,
//!   lowered by `task_done`; `joiners` are all woken when it reaches zero.
//! - `shut_down`, `immediate`: set once by `shutdown`, never cleared.
//! - `getters`, `putters`, `joiners`: wait lists; each future removes its
//!   own node.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::wait_list::{Removed, WaitList, WaiterKey, Wakeups};
use crate::task::coop;

/// A first-in first-out queue between tasks: asyncio's `Queue`.
///
/// A `maxsize` of 0 means unbounded. [`put`](Queue::put) waits while a
/// bounded queue is full; [`get`](Queue::get) waits while it is empty.
/// Waiting getters and putters are served in FIFO order, and a cancelled
/// waiter never loses an item (see the module docs).
///
/// ```
/// use std::rc::Rc;
/// use evloop::sync::Queue;
///
/// evloop::run(async {
///     let q = Rc::new(Queue::new(2));
///     let producer = {
///         let q = q.clone();
///         evloop::create_task(async move {
///             for i in 0..5 {
///                 q.put(i).await; // waits while 2 items are queued
///             }
///         })
///     };
///     let mut got = Vec::new();
///     for _ in 0..5 {
///         got.push(q.get().await);
///     }
///     producer.await.unwrap();
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// });
/// ```
///
/// A `Queue` belongs to its loop's thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(evloop::sync::Queue::<u8>::unbounded());
/// ```
pub struct Queue<T> {
    state: RefCell<State<T>>,
    _not_send: PhantomData<*mut ()>,
}

struct State<T> {
    items: VecDeque<T>,
    maxsize: usize,
    handed: usize,
    reserved: usize,
    unfinished: usize,
    shut_down: bool,
    immediate: bool,
    /// A notified getter holds `Some(item)` (handed to it) or `None` (woken
    /// by [`Queue::shutdown`]).
    getters: WaitList<Option<T>>,
    /// A notified putter holds `true` (a slot was promised to it) or
    /// `false` (woken by [`Queue::shutdown`]).
    putters: WaitList<bool>,
    joiners: WaitList,
}

impl<T> State<T> {
    /// Whether a new item may go in now without taking a promised slot.
    fn has_room(&self) -> bool {
        self.maxsize == 0 || self.items.len() + self.handed + self.reserved < self.maxsize
    }

    fn push(&mut self, item: T, wakeups: &mut Wakeups) {
        self.items.push_back(item);
        self.unfinished += 1;
        self.settle(wakeups);
    }

    /// Restores the invariants after any change: hands queued items to
    /// waiting getters (oldest item to oldest getter), then promises free
    /// slots to waiting putters.
    fn settle(&mut self, wakeups: &mut Wakeups) {
        while self.getters.has_waiting() {
            let Some(item) = self.items.pop_front() else { break };
            match self.getters.notify_one_with(Some(item)) {
                Ok(w) => wakeups.push(w),
                Err(_) => unreachable!("a getter is waiting"),
            }
            self.handed += 1;
        }
        while self.putters.has_waiting() && self.has_room() {
            if let Ok(w) = self.putters.notify_one_with(true) {
                wakeups.push(w);
            }
            self.reserved += 1;
        }
    }

    /// Counts items dropped by an immediate shutdown as done (asyncio
    /// does), waking the joiners if that leaves nothing unfinished.
    fn forget(&mut self, dropped: usize, wakeups: &mut Wakeups) {
        self.unfinished -= dropped.min(self.unfinished);
        if self.unfinished == 0 {
            while let Some(w) = self.joiners.notify_one() {
                wakeups.push(w);
            }
        }
    }
}

impl<T> Queue<T> {
    /// A queue holding at most `maxsize` items; 0 means unbounded.
    ///
    /// ```
    /// let q = evloop::sync::Queue::<u32>::new(10);
    /// assert_eq!(q.maxsize(), 10);
    /// ```
    pub fn new(maxsize: usize) -> Queue<T> {
        Queue {
            state: RefCell::new(State {
                items: VecDeque::new(),
                maxsize,
                handed: 0,
                reserved: 0,
                unfinished: 0,
                shut_down: false,
                immediate: false,
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
            }),
            _not_send: PhantomData,
        }
    }

    /// A queue without a size limit: [`put`](Queue::put) never waits.
    ///
    /// ```
    /// let q = evloop::sync::Queue::unbounded();
    /// for i in 0..1000 {
    ///     q.put_nowait(i).unwrap();
    /// }
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn unbounded() -> Queue<T> {
        Queue::new(0)
    }

    /// The size limit given at creation (0 = unbounded).
    ///
    /// ```
    /// assert_eq!(evloop::sync::Queue::<()>::new(3).maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.state.borrow().maxsize
    }

    /// How many items a [`get_nowait`](Queue::get_nowait) could take now.
    ///
    /// Items already handed to a woken getter that has not run yet are not
    /// counted (they are no longer on offer), though they still take up
    /// capacity until that getter runs.
    ///
    /// ```
    /// let q = evloop::sync::Queue::unbounded();
    /// q.put_nowait('a').unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.state.borrow().items.len()
    }

    /// Whether [`get_nowait`](Queue::get_nowait) would fail.
    ///
    /// ```
    /// let q = evloop::sync::Queue::unbounded();
    /// assert!(q.empty());
    /// q.put_nowait(1).unwrap();
    /// assert!(!q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.state.borrow().items.is_empty()
    }

    /// Whether [`put_nowait`](Queue::put_nowait) would fail: the queued
    /// items, the items handed to woken getters and the slots promised to
    /// woken putters add up to `maxsize`. Never true when unbounded.
    ///
    /// ```
    /// let q = evloop::sync::Queue::new(1);
    /// q.put_nowait(1).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        !self.state.borrow().has_room()
    }

    /// Puts `item` at the back, waiting while the queue is full.
    ///
    /// Dropping the returned future before it completes drops `item`
    /// without putting it, and passes on any slot promised to it.
    ///
    /// # Panics
    ///
    /// When polled after the queue was [shut down](Queue::shutdown), a
    /// waiting put included (asyncio raises `QueueShutDown`). Use
    /// [`send`](Queue::send) where the queue may be shut down.
    ///
    /// ```
    /// evloop::run(async {
    ///     let q = evloop::sync::Queue::new(1);
    ///     q.put("hello").await;
    ///     assert_eq!(q.get().await, "hello");
    /// });
    /// ```
    pub fn put(&self, item: T) -> QueuePut<'_, T> {
        QueuePut(PutOp::new(self, item))
    }

    /// Like [`put`](Queue::put), but a [shut-down](Queue::shutdown) queue
    /// gives the item back in [`QueueShutDown`] instead of panicking: at
    /// once, or when the shutdown wakes a `send` waiting for room (asyncio
    /// 3.13's `put` raising `QueueShutDown`).
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// evloop::run(async {
    ///     let q = Rc::new(evloop::sync::Queue::new(1));
    ///     q.send("a").await.unwrap();
    ///     let waiting = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move { q.send("b").await })
    ///     };
    ///     evloop::yield_now().await; // the send is waiting for room
    ///     q.shutdown(false);
    ///     assert_eq!(waiting.await.unwrap().unwrap_err().into_inner(), "b");
    /// });
    /// ```
    pub fn send(&self, item: T) -> QueueSend<'_, T> {
        QueueSend(PutOp::new(self, item))
    }

    /// Puts `item` at the back if there is room now; otherwise gives it back
    /// in [`QueueFull`]. A slot promised to a woken putter is not room, and
    /// a [shut-down](Queue::shutdown) queue has no room at all
    /// ([`is_shutdown`](Queue::is_shutdown) tells the two apart).
    ///
    /// ```
    /// let q = evloop::sync::Queue::new(1);
    /// q.put_nowait(1).unwrap();
    /// let err = q.put_nowait(2).unwrap_err();
    /// assert_eq!(err.into_inner(), 2);
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        let mut wakeups = Wakeups::new();
        {
            let mut state = self.state.borrow_mut();
            if state.shut_down || !state.has_room() {
                return Err(QueueFull(item));
            }
            state.push(item, &mut wakeups);
        }
        wakeups.wake();
        Ok(())
    }

    /// Takes the item at the front, waiting while the queue is empty.
    ///
    /// Dropping the returned future after an item was handed to it puts the
    /// item back at the front, for the next getter: no item is lost.
    ///
    /// # Panics
    ///
    /// When polled after the queue was [shut down](Queue::shutdown) with
    /// nothing left to drain, a waiting get included (asyncio raises
    /// `QueueShutDown`). Use [`recv`](Queue::recv) or
    /// [`stream`](Queue::stream) where the queue may be shut down.
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// evloop::run(async {
    ///     let q = Rc::new(evloop::sync::Queue::unbounded());
    ///     let q2 = q.clone();
    ///     let producer = evloop::create_task(async move { q2.put_nowait(7).unwrap() });
    ///     assert_eq!(q.get().await, 7);
    ///     producer.await.unwrap();
    /// });
    /// ```
    pub fn get(&self) -> QueueGet<'_, T> {
        QueueGet(GetOp::new(self))
    }

    /// Like [`get`](Queue::get), but once the queue is
    /// [shut down](Queue::shutdown) and drained it fails with
    /// [`QueueShutDown`] instead of panicking: at once, or when the shutdown
    /// wakes a `recv` waiting on an empty queue. Items queued before a
    /// non-immediate shutdown are still delivered first.
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// evloop::run(async {
    ///     let q = Rc::new(evloop::sync::Queue::<u8>::unbounded());
    ///     let consumer = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move {
    ///             let mut n = 0;
    ///             while let Ok(item) = q.recv().await {
    ///                 n += item;
    ///             }
    ///             n // the producer is gone: the loop ended
    ///         })
    ///     };
    ///     q.put_nowait(2).unwrap();
    ///     q.put_nowait(3).unwrap();
    ///     q.shutdown(false);
    ///     assert_eq!(consumer.await.unwrap(), 5);
    /// });
    /// ```
    pub fn recv(&self) -> QueueRecv<'_, T> {
        QueueRecv(GetOp::new(self))
    }

    /// The consumer side as a `futures_core::Stream` (and `FusedStream`):
    /// one [`recv`](Queue::recv) per item, ending once the queue is shut
    /// down and drained. Several streams (and getters) on one queue share
    /// the items in FIFO order.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use std::rc::Rc;
    ///
    /// evloop::run(async {
    ///     let q = Rc::new(evloop::sync::Queue::new(2));
    ///     let producer = {
    ///         let q = q.clone();
    ///         evloop::create_task(async move {
    ///             for i in 0..5 {
    ///                 q.put(i).await;
    ///             }
    ///             q.shutdown(false); // "no more items"
    ///         })
    ///     };
    ///     let doubled: Vec<i32> = q.stream().map(|i| i * 2).collect().await;
    ///     assert_eq!(doubled, [0, 2, 4, 6, 8]);
    ///     producer.await.unwrap();
    /// });
    /// ```
    pub fn stream(&self) -> QueueStream<'_, T> {
        QueueStream {
            queue: self,
            get: None,
            ended: false,
        }
    }

    /// Shuts the queue down: asyncio 3.13's `Queue.shutdown(immediate)`.
    ///
    /// From now on every put fails ([`send`](Queue::send) with
    /// [`QueueShutDown`], [`put`](Queue::put) by panicking,
    /// [`put_nowait`](Queue::put_nowait) with [`QueueFull`]), and so do the
    /// putters waiting for room, which are woken. Getters drain what is
    /// still queued and then fail ([`recv`](Queue::recv) with
    /// [`QueueShutDown`], [`stream`](Queue::stream) by ending); getters
    /// waiting on an empty queue are woken and fail at once.
    ///
    /// With `immediate`, the queued items are dropped too (after the
    /// queue's borrow ends), each counted as done for
    /// [`join`](Queue::join), whose waiters are released once nothing is
    /// unfinished; getters then fail at once. Items already handed to a
    /// woken getter are that getter's (it has them, as if it had run).
    /// Without `immediate`, `join` still waits for
    /// [`task_done`](Queue::task_done) on every item. Shutting down twice
    /// is harmless (a later `immediate` still drops what is left).
    ///
    /// ```
    /// let q = evloop::sync::Queue::unbounded();
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// assert!(q.put_nowait(3).is_err());
    /// assert_eq!(q.get_nowait(), Ok(1)); // still drained
    /// q.shutdown(true);
    /// assert!(q.empty()); // the rest was dropped
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let mut wakeups = Wakeups::new();
        let dropped = {
            let mut state = self.state.borrow_mut();
            state.shut_down = true;
            let dropped = if immediate {
                state.immediate = true;
                let dropped = std::mem::take(&mut state.items);
                state.forget(dropped.len(), &mut wakeups);
                dropped
            } else {
                VecDeque::new()
            };
            // Getters wait only on an empty queue, so they have nothing to
            // drain: wake them to fail. Putters fail too.
            while let Ok(w) = state.getters.notify_one_with(None) {
                wakeups.push(w);
            }
            while let Ok(w) = state.putters.notify_one_with(false) {
                wakeups.push(w);
            }
            dropped
        };
        // User destructors run outside the borrow, then the wakes.
        drop(dropped);
        wakeups.wake();
    }

    /// Whether [`shutdown`](Queue::shutdown) was called (asyncio 3.13's
    /// `is_shutdown`).
    ///
    /// ```
    /// let q = evloop::sync::Queue::<()>::unbounded();
    /// assert!(!q.is_shutdown());
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.state.borrow().shut_down
    }

    /// Takes the item at the front if there is one; items already handed to
    /// woken getters are theirs and cannot be taken.
    ///
    /// ```
    /// let q = evloop::sync::Queue::unbounded();
    /// assert!(q.get_nowait().is_err());
    /// q.put_nowait(5).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(5));
    /// ```
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        let mut wakeups = Wakeups::new();
        let item = {
            let mut state = self.state.borrow_mut();
            let item = state.items.pop_front().ok_or(QueueEmpty)?;
            state.settle(&mut wakeups);
            item
        };
        wakeups.wake();
        Ok(item)
    }

    /// Marks one item taken from the queue as processed: asyncio's
    /// `Queue.task_done()`. When every item ever put has been marked done,
    /// every task waiting in [`join`](Queue::join) wakes.
    ///
    /// # Panics
    ///
    /// If called more times than items were put (asyncio raises
    /// `ValueError`).
    ///
    /// ```
    /// let q = evloop::sync::Queue::unbounded();
    /// q.put_nowait(1).unwrap();
    /// q.get_nowait().unwrap();
    /// q.task_done();
    /// ```
    pub fn task_done(&self) {
        let mut wakeups = Wakeups::new();
        {
            let mut state = self.state.borrow_mut();
            assert!(
                state.unfinished > 0,
                "Queue::task_done() called more times than there were items put"
            );
            state.unfinished -= 1;
            if state.unfinished == 0 {
                while let Some(w) = state.joiners.notify_one() {
                    wakeups.push(w);
                }
            }
        }
        wakeups.wake();
    }

    /// Waits until every item ever put has been marked with
    /// [`task_done`](Queue::task_done): asyncio's `Queue.join()`. Completes
    /// at once if there is nothing unfinished.
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// evloop::run(async {
    ///     let q = Rc::new(evloop::sync::Queue::unbounded());
    ///     for i in 0..3 {
    ///         q.put_nowait(i).unwrap();
    ///     }
    ///     let worker = q.clone();
    ///     let _worker = evloop::create_task(async move {
    ///         loop {
    ///             let _item = worker.get().await;
    ///             worker.task_done();
    ///         }
    ///     })
    ///     .abort_on_drop(); // the worker never returns: cancel it at the end
    ///     q.join().await;
    ///     assert!(q.empty());
    /// });
    /// ```
    pub fn join(&self) -> QueueJoin<'_, T> {
        QueueJoin {
            queue: self,
            waiter: None,
            done: false,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Queue");
        if let Ok(state) = self.state.try_borrow() {
            d.field("qsize", &state.items.len())
                .field("maxsize", &state.maxsize)
                .field("handed", &state.handed)
                .field("reserved", &state.reserved)
                .field("unfinished", &state.unfinished)
                .field("shut_down", &state.shut_down)
                .field("getters", &state.getters.waiting())
                .field("putters", &state.putters.waiting());
        }
        d.finish_non_exhaustive()
    }
}

/// A pending `put`: the shared half of [`QueuePut`] and [`QueueSend`].
struct PutOp<'a, T> {
    queue: &'a Queue<T>,
    /// `Some` until put; the item is never pinned, so `PutOp` is `Unpin`.
    item: Option<T>,
    waiter: Option<WaiterKey>,
}

impl<T> Unpin for PutOp<'_, T> {}

impl<'a, T> PutOp<'a, T> {
    fn new(queue: &'a Queue<T>, item: T) -> PutOp<'a, T> {
        PutOp {
            queue,
            item: Some(item),
            waiter: None,
        }
    }

    /// The `Debug` of the public future wrapping this op.
    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("queued", &self.waiter.is_some())
            .field("done", &self.item.is_none())
            .finish()
    }

    /// `Ready(Err(item))` once the queue is shut down.
    fn poll_put(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), T>> {
        assert!(self.item.is_some(), "QueuePut polled after completion");
        let queue = self.queue;
        let mut wakeups = Wakeups::new();
        {
            let mut state = queue.state.borrow_mut();
            if state.shut_down {
                // Woken by the shutdown, or a slot was promised just before
                // it: either way this put fails (asyncio: `QueueShutDown`).
                let removed = self.waiter.take().map(|key| state.putters.remove(key));
                if let Some(Removed::Notified(true)) = removed {
                    state.reserved -= 1;
                }
                drop(state);
                drop(removed);
                return Poll::Ready(Err(self.item.take().expect("checked above")));
            }
            match self.waiter {
                None if state.has_room() => {
                    // Fast path: one budget unit, spent before the item goes
                    // in, with the borrow released (a spent budget wakes the
                    // task). On a budget-yield the item stays with us and no
                    // slot was reserved; the next poll looks again.
                    drop(state);
                    ready!(coop::poll_proceed(cx));
                    // `Ready` ran no code, so the room is still there.
                    state = queue.state.borrow_mut();
                    debug_assert!(state.has_room(), "nothing ran since the check");
                    // Room implies no putter waits (invariant), so this is fair.
                }
                None => {
                    let key = state.putters.push_back(cx.waker());
                    drop(state);
                    self.waiter = Some(key);
                    return Poll::Pending;
                }
                Some(key) if state.putters.is_notified(key) => {
                    // A slot was promised to us: use it.
                    let _ = state.putters.remove(key);
                    state.reserved -= 1;
                    self.waiter = None;
                }
                Some(key) => {
                    let old = state.putters.update_waker(key, cx.waker());
                    drop(state);
                    drop(old);
                    return Poll::Pending;
                }
            }
            let item = self.item.take().expect("checked above");
            state.push(item, &mut wakeups);
        }
        wakeups.wake();
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for PutOp<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.waiter.take() else { return };
        let mut wakeups = Wakeups::new();
        let removed = {
            let mut state = self.queue.state.borrow_mut();
            let removed = state.putters.remove(key);
            if let Removed::Notified(true) = removed {
                // Pass the promised slot on to the next putter, if any.
                state.reserved -= 1;
                state.settle(&mut wakeups);
            }
            removed
        };
        drop(removed);
        wakeups.wake();
        // `self.item` is dropped after this, outside any borrow.
    }
}

/// Future returned by [`Queue::put`].
///
/// ```
/// evloop::run(async {
///     let q = evloop::sync::Queue::unbounded();
///     let put: evloop::sync::QueuePut<'_, i32> = q.put(1);
///     put.await;
///     assert_eq!(q.qsize(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless awaited; dropping this drops the item"]
pub struct QueuePut<'a, T>(PutOp<'a, T>);

impl<T> Future for QueuePut<'_, T> {
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match ready!(self.0.poll_put(cx)) {
            Ok(()) => Poll::Ready(()),
            Err(_item) => panic!(
                "evloop: Queue::put on a queue that was shut down (asyncio raises QueueShutDown); \
                 use Queue::send where the queue may be shut down"
            ),
        }
    }
}

impl<T> fmt::Debug for QueuePut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("QueuePut", f)
    }
}

/// Future returned by [`Queue::send`]: a `put` that reports a shut-down
/// queue instead of panicking.
///
/// ```
/// evloop::run(async {
///     let q = evloop::sync::Queue::unbounded();
///     let send: evloop::sync::QueueSend<'_, i32> = q.send(1);
///     send.await.unwrap();
///     q.shutdown(false);
///     assert_eq!(q.send(2).await.unwrap_err().into_inner(), 2);
/// });
/// ```
#[must_use = "futures do nothing unless awaited; dropping this drops the item"]
pub struct QueueSend<'a, T>(PutOp<'a, T>);

impl<T> Future for QueueSend<'_, T> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_put(cx).map_err(QueueShutDown)
    }
}

impl<T> fmt::Debug for QueueSend<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("QueueSend", f)
    }
}

/// A pending `get`: the shared half of [`QueueGet`], [`QueueRecv`] and
/// [`QueueStream`].
struct GetOp<'a, T> {
    queue: &'a Queue<T>,
    waiter: Option<WaiterKey>,
    done: bool,
}

impl<'a, T> GetOp<'a, T> {
    fn new(queue: &'a Queue<T>) -> GetOp<'a, T> {
        GetOp {
            queue,
            waiter: None,
            done: false,
        }
    }

    /// The `Debug` of the public future wrapping this op.
    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("queued", &self.waiter.is_some())
            .field("done", &self.done)
            .finish()
    }

    /// `Ready(Err(..))` once the queue is shut down and has nothing left.
    fn poll_get(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, QueueShutDown>> {
        assert!(!self.done, "QueueGet polled after completion");
        let queue = self.queue;
        let mut wakeups = Wakeups::new();
        let item = {
            let mut state = queue.state.borrow_mut();
            let item = match self.waiter {
                None if !state.items.is_empty() => {
                    // Fast path: one budget unit, spent before the item is
                    // taken, with the borrow released (a spent budget wakes
                    // the task). On a budget-yield the item stays first in
                    // the queue and nothing is queued; the next poll looks
                    // again.
                    drop(state);
                    ready!(coop::poll_proceed(cx));
                    state = queue.state.borrow_mut();
                    // Items queued imply no getter waits (invariant), so this is fair.
                    state
                        .items
                        .pop_front()
                        .expect("`Ready` ran no code: the item is still queued")
                }
                None if state.shut_down => {
                    self.done = true;
                    return Poll::Ready(Err(QueueShutDown(())));
                }
                None => {
                    let key = state.getters.push_back(cx.waker());
                    drop(state);
                    self.waiter = Some(key);
                    return Poll::Pending;
                }
                Some(key) if state.getters.is_notified(key) => {
                    self.waiter = None;
                    match state.getters.remove(key) {
                        Removed::Notified(Some(item)) => {
                            state.handed -= 1;
                            item
                        }
                        // Woken by the shutdown. An item a cancelled getter
                        // gave back since then is still ours to drain.
                        _ => match state.items.pop_front() {
                            Some(item) => item,
                            None => {
                                self.done = true;
                                return Poll::Ready(Err(QueueShutDown(())));
                            }
                        },
                    }
                }
                Some(key) => {
                    let old = state.getters.update_waker(key, cx.waker());
                    drop(state);
                    drop(old);
                    return Poll::Pending;
                }
            };
            // Capacity freed: promise it to a waiting putter.
            state.settle(&mut wakeups);
            item
        };
        self.done = true;
        wakeups.wake();
        Poll::Ready(Ok(item))
    }
}

impl<T> Drop for GetOp<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.waiter.take() else { return };
        let mut wakeups = Wakeups::new();
        let (waiting, dropped) = {
            let mut state = self.queue.state.borrow_mut();
            match state.getters.remove(key) {
                Removed::Notified(Some(item)) if state.immediate => {
                    // Handed over before an immediate shutdown, never
                    // taken: dropped like the rest of the queue's items.
                    state.handed -= 1;
                    state.forget(1, &mut wakeups);
                    (None, Some(item))
                }
                Removed::Notified(Some(item)) => {
                    // An item was handed to us and never taken: it is older
                    // than anything queued, so it goes back to the front,
                    // and on to the next waiting getter if there is one.
                    state.handed -= 1;
                    state.items.push_front(item);
                    state.settle(&mut wakeups);
                    (None, None)
                }
                Removed::Notified(None) => (None, None),
                Removed::Waiting(waker) => (Some(waker), None),
            }
        };
        drop(waiting);
        drop(dropped);
        wakeups.wake();
    }
}

/// Future returned by [`Queue::get`].
///
/// ```
/// evloop::run(async {
///     let q = evloop::sync::Queue::unbounded();
///     q.put_nowait("x").unwrap();
///     let get: evloop::sync::QueueGet<'_, &str> = q.get();
///     assert_eq!(get.await, "x");
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueueGet<'a, T>(GetOp<'a, T>);

impl<T> Future for QueueGet<'_, T> {
    type Output = T;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match ready!(self.0.poll_get(cx)) {
            Ok(item) => Poll::Ready(item),
            Err(_) => panic!(
                "evloop: Queue::get on a queue that was shut down and is empty (asyncio raises \
                 QueueShutDown); use Queue::recv or Queue::stream where the queue may be shut down"
            ),
        }
    }
}

impl<T> fmt::Debug for QueueGet<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("QueueGet", f)
    }
}

/// Future returned by [`Queue::recv`]: a `get` that reports a shut-down,
/// drained queue instead of panicking.
///
/// ```
/// evloop::run(async {
///     let q = evloop::sync::Queue::unbounded();
///     q.put_nowait(1).unwrap();
///     q.shutdown(false);
///     let recv: evloop::sync::QueueRecv<'_, i32> = q.recv();
///     assert_eq!(recv.await, Ok(1)); // what was queued is still delivered
///     assert!(q.recv().await.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueueRecv<'a, T>(GetOp<'a, T>);

impl<T> Future for QueueRecv<'_, T> {
    type Output = Result<T, QueueShutDown>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_get(cx)
    }
}

impl<T> fmt::Debug for QueueRecv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("QueueRecv", f)
    }
}

/// The consumer side of a [`Queue`] as a `futures_core::Stream`: yields
/// items in FIFO order and ends once the queue is shut down and drained.
/// Made by [`Queue::stream`].
///
/// Each item is one `get` (same fairness, same budget, same hand-off); an
/// item handed to the stream while it is dropped goes back to the queue.
/// Mark items done with [`Queue::task_done`] as usual.
///
/// ```
/// use futures::StreamExt;
///
/// evloop::run(async {
///     let q = evloop::sync::Queue::unbounded();
///     for i in 1..=3 {
///         q.put_nowait(i).unwrap();
///     }
///     q.shutdown(false);
///     let got: Vec<i32> = q.stream().collect().await;
///     assert_eq!(got, [1, 2, 3]);
/// });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct QueueStream<'a, T> {
    queue: &'a Queue<T>,
    get: Option<GetOp<'a, T>>,
    ended: bool,
}

impl<T> futures_core::Stream for QueueStream<'_, T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let queue = this.queue;
        let get = this.get.get_or_insert_with(|| GetOp::new(queue));
        let result = ready!(get.poll_get(cx));
        this.get = None;
        match result {
            Ok(item) => Poll::Ready(Some(item)),
            Err(_) => {
                this.ended = true;
                Poll::Ready(None)
            }
        }
    }
}

/// Terminated once the stream has ended (the queue shut down and drained).
impl<T> futures_core::stream::FusedStream for QueueStream<'_, T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T> fmt::Debug for QueueStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("queued", &self.get.as_ref().is_some_and(|g| g.waiter.is_some()))
            .field("ended", &self.ended)
            .finish()
    }
}

/// Future returned by [`Queue::join`].
///
/// ```
/// evloop::run(async {
///     let q = evloop::sync::Queue::<u8>::unbounded();
///     let join: evloop::sync::QueueJoin<'_, u8> = q.join();
///     join.await; // nothing unfinished: completes at once
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueueJoin<'a, T> {
    queue: &'a Queue<T>,
    waiter: Option<WaiterKey>,
    done: bool,
}

impl<T> Future for QueueJoin<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        assert!(!self.done, "QueueJoin polled after completion");
        let queue = self.queue;
        let mut state = queue.state.borrow_mut();
        match self.waiter {
            None if state.unfinished == 0 => {
                // Fast path: one budget unit (borrow released first, as a
                // spent budget wakes the task). On a budget-yield the join
                // has not begun; the next poll looks at the count again.
                drop(state);
                ready!(coop::poll_proceed(cx));
            }
            None => {
                let key = state.joiners.push_back(cx.waker());
                drop(state);
                self.waiter = Some(key);
                return Poll::Pending;
            }
            // Like asyncio, a woken joiner completes even if more items were
            // put since the count reached zero.
            Some(key) if state.joiners.is_notified(key) => {
                let _ = state.joiners.remove(key);
                self.waiter = None;
            }
            Some(key) => {
                let old = state.joiners.update_waker(key, cx.waker());
                drop(state);
                drop(old);
                return Poll::Pending;
            }
        }
        self.done = true;
        Poll::Ready(())
    }
}

impl<T> Drop for QueueJoin<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            // Nothing to pass on: every joiner is woken together.
            let removed = self.queue.state.borrow_mut().joiners.remove(key);
            drop(removed);
        }
    }
}

impl<T> fmt::Debug for QueueJoin<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin")
            .field("queued", &self.waiter.is_some())
            .field("done", &self.done)
            .finish()
    }
}

/// [`Queue::put_nowait`] found no room; the rejected item is inside.
///
/// ```
/// let q = evloop::sync::Queue::new(1);
/// q.put_nowait("a").unwrap();
/// let err = q.put_nowait("b").unwrap_err();
/// assert_eq!(err.to_string(), "queue is full");
/// assert_eq!(err.0, "b");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct QueueFull<T>(pub T);

impl<T> QueueFull<T> {
    /// The item that did not fit.
    ///
    /// ```
    /// let err = evloop::sync::QueueFull(3);
    /// assert_eq!(err.into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Like std's `SendError`: no `T: Debug` bound, so `?` works for any T.
        f.write_str("QueueFull(..)")
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T> Error for QueueFull<T> {}

/// The queue was [shut down](Queue::shutdown): asyncio 3.13's
/// `QueueShutDown`. From [`Queue::send`] it carries the item that was not
/// put; from [`Queue::recv`] it carries nothing (`T = ()`).
///
/// ```
/// evloop::run(async {
///     let q = evloop::sync::Queue::unbounded();
///     q.shutdown(false);
///     let err = q.send("late").await.unwrap_err();
///     assert_eq!(err.to_string(), "queue is shut down");
///     assert_eq!(err.into_inner(), "late");
///     assert_eq!(q.recv().await, Err(evloop::sync::QueueShutDown(())));
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> QueueShutDown<T> {
    /// The item that was not put (`()` for a failed get).
    ///
    /// ```
    /// assert_eq!(evloop::sync::QueueShutDown(4).into_inner(), 4);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No `T: Debug` bound, like `QueueFull`.
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is shut down")
    }
}

impl<T> Error for QueueShutDown<T> {}

/// [`Queue::get_nowait`] found no item on offer.
///
/// ```
/// let q = evloop::sync::Queue::<u8>::unbounded();
/// let err = q.get_nowait().unwrap_err();
/// assert_eq!(err.to_string(), "queue is empty");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEmpty;

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl Error for QueueEmpty {}
