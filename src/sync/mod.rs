//! asyncio's synchronization primitives, for tasks on one loop:
//! [`Event`], [`Lock`], [`Semaphore`], [`Queue`] and [`Condition`].
//!
//! ```
//! use std::rc::Rc;
//! use evloop::sync::{Event, Queue};
//!
//! evloop::run(async {
//!     let jobs = Rc::new(Queue::new(4));
//!     let started = Rc::new(Event::new());
//!     let worker = {
//!         let (jobs, started) = (jobs.clone(), started.clone());
//!         evloop::create_task(async move {
//!             started.set();
//!             let mut sum = 0;
//!             loop {
//!                 let n = jobs.get().await;
//!                 jobs.task_done();
//!                 if n == 0 {
//!                     return sum; // 0 means "no more jobs"
//!                 }
//!                 sum += n;
//!             }
//!         })
//!     };
//!     started.wait().await;
//!     for n in [1, 2, 3, 4, 5, 0] {
//!         jobs.put(n).await; // waits while 4 jobs are queued
//!     }
//!     jobs.join().await; // every job has been marked done
//!     assert_eq!(worker.await.unwrap(), 15);
//! });
//! ```
//!
//! # Ground rules
//!
//! - **One thread.** State lives in `Cell`/`RefCell`, with no atomics and
//!   no `unsafe`; every type here is `!Send` and `!Sync`. Share a primitive
//!   between tasks with `Rc`. The futures borrow the primitive, and guards
//!   and permits release it when dropped.
//! - **No borrow is held across user code.** Every waker leaves a wait list
//!   as a value and is woken (or dropped) only after the primitive's
//!   `RefCell` borrow ends; items given back to callers are dropped by them.
//! - **FIFO, no barging.** Waiters are queued in the order they first
//!   waited, and whatever a release frees (the lock, a permit, an item, a
//!   queue slot) is *handed to the oldest waiter at the moment of release*.
//!   Until that waiter runs, nobody else can take it: not a `try_*` /
//!   `*_nowait` call, not a newcomer, not the task that released it. This is
//!   asyncio's fairness, obtained by hand-off instead of asyncio's "a free
//!   lock may not be taken while waiters are queued" checks.
//! - **Cancellation never loses anything.** Cancelling a task drops the
//!   future it is waiting in. A dropped waiter leaves the queue; if
//!   something had already been handed to it, it passes that on to the next
//!   waiter (a queue item goes back to the front of the queue).
//! - **Fair to the loop.** Every fast path (a `wait` on a set [`Event`], a
//!   free [`Lock`] or [`Semaphore`] permit, a [`Queue`] `put` with room or
//!   `get` with an item, a `join` with nothing unfinished) spends one unit
//!   of the task's cooperative budget (`task/coop.rs`, 128 per task poll).
//!   When it is spent the call returns `Pending` *before* taking or queueing
//!   anything, and the task is woken to try again on a later tick: no
//!   permit, item or notification is lost, and since the call had not
//!   queued, a task that gets in first meanwhile is not barging. So a task
//!   that only ever finds its primitives ready still lets other tasks,
//!   timers and I/O run every 128 operations. A waiter that was handed
//!   something is not charged (it already waited once); `try_*` and
//!   `*_nowait` calls, which never wait, are not charged either.
//! - **A queue can be shut down** ([`Queue::shutdown`], asyncio 3.13):
//!   producers and consumers waiting on it are woken and learn it through
//!   [`QueueShutDown`] (or a [`QueueStream`] that ends) instead of waiting
//!   forever. The other primitives have no such state, as in asyncio.
//! - **Wake-ups are not loans.** [`Event::set`], [`Condition::notify`] and
//!   task-done accounting ([`Queue::join`]) wake waiters that then complete
//!   even if the state changed again before they ran, as in asyncio.
//!
//! # Fields and who may touch them
//!
//! Each primitive keeps its state in one `RefCell`, borrowed only inside
//! its own methods and its futures' `poll`/`drop`, never across a call out.
//! The waiter queues are `wait_list::WaitList`s: a waiter's node belongs to
//! the future that pushed it, which alone removes it. Each file documents
//! its own fields.
//!
//! # Reading order
//!
//! `wait_list.rs` (the FIFO every primitive queues on), then `event.rs`,
//! `semaphore.rs` (the hand-off pattern), `lock.rs` (a one-permit
//! semaphore), `condition.rs` (built on the lock), and `queue.rs` (hand-off
//! in two directions).
//!
//! Not provided (yet): asyncio's `BoundedSemaphore`, `Barrier`,
//! `PriorityQueue` and `LifoQueue`.
#![forbid(unsafe_code)]

mod condition;
mod event;
mod lock;
mod queue;
mod semaphore;
mod wait_list;

pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use queue::{
    Queue, QueueEmpty, QueueFull, QueueGet, QueueJoin, QueuePut, QueueRecv, QueueSend, QueueShutDown, QueueStream,
};
pub use semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit};
