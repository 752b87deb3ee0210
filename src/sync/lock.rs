//! [`Lock`]: asyncio's `Lock`, a fair mutual-exclusion lock for tasks.
//!
//! # Ground rules
//!
//! - **A lock is a one-permit [`Semaphore`].** Holding the lock is holding
//!   that permit; a [`LockGuard`] owns it and gives it back when dropped.
//!   So the semaphore's guarantees are the lock's:
//! - **Hand-off, not barging.** When the holder unlocks and a task is
//!   waiting, the lock passes straight to the oldest waiter: `locked` stays
//!   `true` and that waiter is marked notified. Nobody else, not even
//!   [`Lock::try_lock`] or the task that just unlocked, can take it in
//!   between. So waiters acquire in strict FIFO order. (asyncio gets the
//!   same effect differently: `acquire()` refuses to take a free lock while
//!   non-cancelled waiters are queued.)
//! - **Cancellation never loses the lock.** A [`LockAcquire`] dropped after
//!   the lock was handed to it unlocks, which hands the lock to the next
//!   waiter. A dropped waiter that was still waiting just leaves the queue.
//! - Invariant: `!locked` implies nobody is waiting.
//! - **Budgeted like the semaphore.** Taking a free lock spends one unit of
//!   the task's cooperative budget (`task/coop.rs`), checked before the lock
//!   is taken; when the budget is spent the acquire returns `Pending` having
//!   taken nothing and queued nowhere, and the task is woken to try again on
//!   a later tick. So `loop { lock.lock().await; }` lets the loop run
//!   everything else every 128 acquires.
//!
//! # Fields and who may touch them
//!
//! - `Lock::sem`: made with one permit, which only [`LockAcquire`] and
//!   [`Lock::try_lock`] take, each into a [`LockGuard`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit};

/// A mutual-exclusion lock for tasks: asyncio's `Lock`.
///
/// Unlike [`std::sync::Mutex`] it guards no data (keep that in a `RefCell`
/// or `Cell` next to it); it orders *tasks*, which may hold it across
/// `.await`s. [`lock`](Lock::lock) gives a [`LockGuard`] that unlocks when
/// dropped. Waiters acquire in FIFO order (see the module docs).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use evloop::sync::Lock;
///
/// evloop::run(async {
///     let lock = Rc::new(Lock::new());
///     let inside = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let (lock, inside) = (lock.clone(), inside.clone());
///             evloop::create_task(async move {
///                 let _guard = lock.lock().await;
///                 inside.set(inside.get() + 1);
///                 assert_eq!(inside.get(), 1); // alone in here
///                 evloop::yield_now().await;
///                 inside.set(inside.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
/// });
/// ```
///
/// A `Lock` belongs to its loop's thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(evloop::sync::Lock::new());
/// ```
pub struct Lock {
    sem: Semaphore,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// ```
    /// assert!(!evloop::sync::Lock::new().locked());
    /// ```
    pub fn new() -> Lock {
        Lock { sem: Semaphore::new(1) }
    }

    /// Waits for the lock and returns a guard that unlocks when dropped.
    ///
    /// Dropping the returned future while it waits gives up the place in
    /// the queue; if the lock had already been handed to it, the lock goes
    /// on to the next waiter.
    ///
    /// ```
    /// evloop::run(async {
    ///     let lock = evloop::sync::Lock::new();
    ///     let guard = lock.lock().await;
    ///     assert!(lock.locked());
    ///     drop(guard);
    ///     assert!(!lock.locked());
    /// });
    /// ```
    pub fn lock(&self) -> LockAcquire<'_> {
        LockAcquire {
            lock: self,
            acquire: self.sem.acquire(),
        }
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// Returns `None` while it is held, which includes the moment between an
    /// unlock and the next waiter running: the lock already belongs to that
    /// waiter, so `try_lock` cannot jump the queue.
    ///
    /// ```
    /// let lock = evloop::sync::Lock::new();
    /// let guard = lock.try_lock().expect("free");
    /// assert!(lock.try_lock().is_none());
    /// drop(guard);
    /// assert!(lock.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        let permit = self.sem.try_acquire()?;
        Some(LockGuard {
            lock: self,
            _permit: permit,
        })
    }

    /// Whether the lock is held (or handed to a waiter that has not run yet).
    ///
    /// ```
    /// let lock = evloop::sync::Lock::new();
    /// let _g = lock.try_lock();
    /// assert!(lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }
}

impl Default for Lock {
    fn default() -> Lock {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        if let Some((permits, waiters)) = self.sem.counts() {
            d.field("locked", &(permits == 0)).field("waiters", &waiters);
        }
        d.finish_non_exhaustive()
    }
}

/// Future returned by [`Lock::lock`]; resolves to a [`LockGuard`].
///
/// ```
/// evloop::run(async {
///     let lock = evloop::sync::Lock::new();
///     let acquire: evloop::sync::LockAcquire<'_> = lock.lock();
///     let _guard = acquire.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a> {
    lock: &'a Lock,
    acquire: SemaphoreAcquire<'a>,
}

impl<'a> Future for LockAcquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        assert!(!self.acquire.done, "LockAcquire polled after completion");
        // Dropping a handed-off `acquire` unlocks: the semaphore passes the
        // permit on, so cancellation needs no code here.
        let permit = ready!(Pin::new(&mut self.acquire).poll(cx));
        Poll::Ready(LockGuard {
            lock: self.lock,
            _permit: permit,
        })
    }
}

impl fmt::Debug for LockAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("queued", &self.acquire.waiter.is_some())
            .field("done", &self.acquire.done)
            .finish()
    }
}

/// Proof that the [`Lock`] is held; unlocks (handing the lock to the next
/// waiter, if any) when dropped.
///
/// ```
/// evloop::run(async {
///     let lock = evloop::sync::Lock::new();
///     {
///         let _guard = lock.lock().await;
///         assert!(lock.locked());
///     } // unlocked here
///     assert!(!lock.locked());
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    pub(super) lock: &'a Lock,
    _permit: SemaphorePermit<'a>,
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    ///
    /// ```
    /// let lock = evloop::sync::Lock::new();
    /// let guard = lock.try_lock().unwrap();
    /// assert!(std::ptr::eq(guard.lock(), &lock));
    /// ```
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
