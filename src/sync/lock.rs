//! [`Lock`]: asyncio's `Lock`, a fair mutual-exclusion lock for tasks.
//!
//! # Ground rules
//!
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
//!
//! # Fields and who may touch them
//!
//! - `State::locked`: set by a successful fast path or by a hand-off in
//!   `unlock`; cleared only by `unlock` when nobody is waiting.
//! - `State::waiters`: queued [`LockAcquire`]s; each removes its own node
//!   when it completes or is dropped.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait_list::{WaitList, WaiterKey};

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
    state: RefCell<State>,
    _not_send: PhantomData<*mut ()>,
}

struct State {
    locked: bool,
    waiters: WaitList,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// ```
    /// assert!(!evloop::sync::Lock::new().locked());
    /// ```
    pub fn new() -> Lock {
        Lock {
            state: RefCell::new(State {
                locked: false,
                waiters: WaitList::new(),
            }),
            _not_send: PhantomData,
        }
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
            waiter: None,
            done: false,
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
        let mut state = self.state.borrow_mut();
        if state.locked {
            return None;
        }
        debug_assert!(!state.waiters.has_waiting(), "a free lock has no waiters");
        state.locked = true;
        Some(LockGuard { lock: self })
    }

    /// Whether the lock is held (or handed to a waiter that has not run yet).
    ///
    /// ```
    /// let lock = evloop::sync::Lock::new();
    /// let _g = lock.try_lock();
    /// assert!(lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.state.borrow().locked
    }

    /// Releases the lock: hands it to the oldest waiter, or frees it.
    fn unlock(&self) {
        let next = {
            let mut state = self.state.borrow_mut();
            debug_assert!(state.locked, "unlock of a free lock");
            let next = state.waiters.notify_one();
            // The lock stays locked when handed off: it now belongs to `next`.
            state.locked = next.is_some();
            next
        };
        // Wake outside the borrow: a waker may run arbitrary code.
        if let Some(waker) = next {
            waker.wake();
        }
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
        if let Ok(state) = self.state.try_borrow() {
            d.field("locked", &state.locked)
                .field("waiters", &state.waiters.waiting());
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
    waiter: Option<WaiterKey>,
    done: bool,
}

impl<'a> Future for LockAcquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        assert!(!self.done, "LockAcquire polled after completion");
        let lock = self.lock;
        let mut state = lock.state.borrow_mut();
        match self.waiter {
            None if !state.locked => {
                // Free implies nobody waits (invariant), so this is fair.
                state.locked = true;
            }
            None => {
                let key = state.waiters.push_back(cx.waker());
                drop(state);
                self.waiter = Some(key);
                return Poll::Pending;
            }
            Some(key) if state.waiters.is_notified(key) => {
                // `unlock` handed us the lock; it is already marked locked.
                let _ = state.waiters.remove(key);
                self.waiter = None;
            }
            Some(key) => {
                let old = state.waiters.update_waker(key, cx.waker());
                drop(state);
                drop(old);
                return Poll::Pending;
            }
        }
        self.done = true;
        Poll::Ready(LockGuard { lock })
    }
}

impl Drop for LockAcquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            let removed = self.lock.state.borrow_mut().waiters.remove(key);
            if removed.was_notified() {
                // The lock was handed to us but we never took it: pass it on.
                self.lock.unlock();
            }
        }
    }
}

impl fmt::Debug for LockAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("queued", &self.waiter.is_some())
            .field("done", &self.done)
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

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
