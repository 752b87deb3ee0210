//! [`Semaphore`]: asyncio's `Semaphore`, a counter of permits for tasks.
//!
//! # Ground rules
//!
//! - **Hand-off, not barging.** A released permit goes straight to the
//!   oldest waiter (which is marked notified) instead of back into the
//!   counter, so [`Semaphore::try_acquire`] and newcomers cannot take it
//!   first, and waiters are served in strict FIFO order.
//! - **Cancellation never loses a permit.** A [`SemaphoreAcquire`] dropped
//!   after a permit was handed to it releases that permit, which goes on to
//!   the next waiter.
//! - Invariant: `permits > 0` implies nobody is waiting (every permit that
//!   could serve a waiter has been handed to one).
//! - **The fast path spends one unit of the task's cooperative budget**
//!   (`task/coop.rs`): an acquire that finds a free permit checks the budget
//!   before taking it. When the budget is spent it returns `Pending` having
//!   taken nothing and queued nowhere (the task is woken and tries again on
//!   a later tick), so no permit is lost or held idle; a task that acquires
//!   and releases in a loop thus lets the loop run everything else every
//!   128 acquires. Another task may take the free permit meanwhile: the
//!   yielding acquire had not queued, so that is no barging. A waiter that
//!   was handed a permit is not charged: it already waited once.
//!
//! # Fields and who may touch them
//!
//! - `State::permits`: free permits. Decremented by a fast-path acquire;
//!   incremented by `add_permits` only for permits left over after every
//!   waiter has been served.
//! - `State::waiters`: queued [`SemaphoreAcquire`]s; each removes its own
//!   node when it completes or is dropped.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::wait_list::{WaitList, WaiterKey, Wakeups};
use crate::task::coop;

/// A counter of permits that limits how many tasks proceed at once:
/// asyncio's `Semaphore`.
///
/// [`acquire`](Semaphore::acquire) waits for a permit and returns a
/// [`SemaphorePermit`] that gives it back when dropped. Waiters are served
/// in FIFO order (see the module docs).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use evloop::sync::Semaphore;
///
/// evloop::run(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let (now, max) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..5)
///         .map(|_| {
///             let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
///             evloop::create_task(async move {
///                 let _permit = sem.acquire().await;
///                 now.set(now.get() + 1);
///                 max.set(max.get().max(now.get()));
///                 evloop::yield_now().await;
///                 now.set(now.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(max.get(), 2);
/// });
/// ```
///
/// A `Semaphore` belongs to its loop's thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(evloop::sync::Semaphore::new(1));
/// ```
pub struct Semaphore {
    state: RefCell<State>,
    _not_send: PhantomData<*mut ()>,
}

struct State {
    permits: usize,
    waiters: WaitList,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    ///
    /// ```
    /// assert_eq!(evloop::sync::Semaphore::new(3).available_permits(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: RefCell::new(State {
                permits,
                waiters: WaitList::new(),
            }),
            _not_send: PhantomData,
        }
    }

    /// Waits for a permit; the returned [`SemaphorePermit`] releases it when
    /// dropped.
    ///
    /// Dropping the returned future while it waits gives up the place in
    /// the queue; if a permit had already been handed to it, the permit goes
    /// on to the next waiter.
    ///
    /// ```
    /// evloop::run(async {
    ///     let sem = evloop::sync::Semaphore::new(1);
    ///     let permit = sem.acquire().await;
    ///     assert_eq!(sem.available_permits(), 0);
    ///     drop(permit);
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            sem: self,
            waiter: None,
            done: false,
        }
    }

    /// Takes a permit if one is free, without waiting.
    ///
    /// A permit released while tasks wait goes to the oldest of them, so
    /// `try_acquire` never takes a permit from under a waiter.
    ///
    /// ```
    /// let sem = evloop::sync::Semaphore::new(1);
    /// let permit = sem.try_acquire().expect("one is free");
    /// assert!(sem.try_acquire().is_none());
    /// drop(permit);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut state = self.state.borrow_mut();
        if state.permits == 0 {
            return None;
        }
        debug_assert!(!state.waiters.has_waiting(), "free permits imply no waiters");
        state.permits -= 1;
        Some(SemaphorePermit { sem: self })
    }

    /// How many permits are free right now (permits already handed to a
    /// waiter that has not run yet are not counted).
    ///
    /// ```
    /// let sem = evloop::sync::Semaphore::new(2);
    /// let _p = sem.try_acquire();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Whether an [`acquire`](Semaphore::acquire) would have to wait:
    /// asyncio's `Semaphore.locked()`.
    ///
    /// ```
    /// let sem = evloop::sync::Semaphore::new(1);
    /// let _p = sem.try_acquire();
    /// assert!(sem.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.available_permits() == 0
    }

    /// Adds one permit: asyncio's `Semaphore.release()`. Like asyncio's
    /// (unbounded) `Semaphore`, this may raise the count above its initial
    /// value. Prefer dropping a [`SemaphorePermit`]; use this to give back
    /// a permit that was [`forget`](SemaphorePermit::forget)-ed.
    ///
    /// ```
    /// let sem = evloop::sync::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        self.add_permits(1);
    }

    /// Adds `n` permits, handing them to waiters first (oldest first).
    ///
    /// # Panics
    ///
    /// If the count of free permits would overflow `usize`.
    ///
    /// ```
    /// let sem = evloop::sync::Semaphore::new(0);
    /// sem.add_permits(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut wakeups = Wakeups::new();
        {
            let mut state = self.state.borrow_mut();
            let mut left = n;
            while left > 0 {
                // Hand-off: the permit now belongs to this waiter.
                match state.waiters.notify_one() {
                    Some(w) => wakeups.push(w),
                    None => break,
                }
                left -= 1;
            }
            state.permits = state
                .permits
                .checked_add(left)
                .expect("Semaphore::add_permits: permit count overflows usize");
        }
        wakeups.wake();
    }

    /// Free permits and waiting tasks, for `Debug`; `None` while the state
    /// is borrowed.
    pub(super) fn counts(&self) -> Option<(usize, usize)> {
        let state = self.state.try_borrow().ok()?;
        Some((state.permits, state.waiters.waiting()))
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Semaphore");
        if let Some((permits, waiters)) = self.counts() {
            d.field("permits", &permits).field("waiters", &waiters);
        }
        d.finish_non_exhaustive()
    }
}

/// Future returned by [`Semaphore::acquire`]; resolves to a
/// [`SemaphorePermit`].
///
/// ```
/// evloop::run(async {
///     let sem = evloop::sync::Semaphore::new(1);
///     let acquire: evloop::sync::SemaphoreAcquire<'_> = sem.acquire();
///     let _permit = acquire.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    sem: &'a Semaphore,
    pub(super) waiter: Option<WaiterKey>,
    pub(super) done: bool,
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        assert!(!self.done, "SemaphoreAcquire polled after completion");
        let sem = self.sem;
        let mut state = sem.state.borrow_mut();
        match self.waiter {
            None if state.permits > 0 => {
                // Fast path: one budget unit, spent *before* taking the
                // permit, with the borrow released (a spent budget wakes the
                // task, and a waker may run foreign code). On a budget-yield
                // nothing was taken or queued: the permit stays free.
                drop(state);
                ready!(coop::poll_proceed(cx));
                // `Ready` ran no code, so the permit is still free.
                state = sem.state.borrow_mut();
                debug_assert!(state.permits > 0, "nothing ran since the check");
                // Free permits imply nobody waits (invariant), so this is fair.
                state.permits -= 1;
            }
            None => {
                let key = state.waiters.push_back(cx.waker());
                drop(state);
                self.waiter = Some(key);
                return Poll::Pending;
            }
            Some(key) if state.waiters.is_notified(key) => {
                // A permit was handed to us; it never went back to `permits`.
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
        Poll::Ready(SemaphorePermit { sem })
    }
}

impl Drop for SemaphoreAcquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            let removed = self.sem.state.borrow_mut().waiters.remove(key);
            if removed.was_notified() {
                // A permit was handed to us but never used: pass it on.
                self.sem.release();
            }
        }
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("queued", &self.waiter.is_some())
            .field("done", &self.done)
            .finish()
    }
}

/// One permit of a [`Semaphore`], released when dropped.
///
/// ```
/// let sem = evloop::sync::Semaphore::new(1);
/// {
///     let _permit = sem.try_acquire().unwrap();
///     assert_eq!(sem.available_permits(), 0);
/// }
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Consumes the permit without releasing it: the semaphore keeps one
    /// permit fewer until [`Semaphore::release`] is called.
    ///
    /// ```
    /// let sem = evloop::sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
