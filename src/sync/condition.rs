//! [`Condition`]: asyncio's `Condition`, a [`Lock`] plus a queue of tasks
//! waiting to be notified.
//!
//! # Ground rules
//!
//! - [`Condition::wait`] takes the [`LockGuard`] by value: it can only be
//!   called with the lock held, and it gives the lock up while waiting. It
//!   queues itself *before* releasing the lock (both happen in one poll, with
//!   no await in between), so a notify sent after the release cannot be
//!   missed.
//! - Notified waiters reacquire the lock through the lock's own FIFO queue,
//!   in the order they were notified; `wait` returns the new guard.
//! - [`Condition::notify`] wakes the `n` oldest waiters; a waiter is
//!   notified at most once. Like asyncio, notifying requires the lock to be
//!   held (checked: it panics otherwise).
//! - **The budget comes from the lock.** [`Condition::wait`] always waits
//!   (returns `Pending` at least once), so it cannot spin; taking the lock,
//!   in [`Condition::lock`] or when a notified waiter takes it back, spends
//!   the cooperative budget as [`Lock`] does.
//! - **Cancellation passes the notification on.** A [`ConditionWait`]
//!   dropped after it was notified but before it returned notifies the next
//!   waiter instead, as asyncio 3.13 does: a lost wake-up would be a hang,
//!   while an extra one is a spurious wake-up, which condition-variable
//!   users must tolerate anyway (use [`Condition::wait_for`]).
//!
//! # Fields and who may touch them
//!
//! - `lock`: shared with whoever made the condition with
//!   [`Condition::with_lock`]; only locked and unlocked through its guards.
//! - `waiters`: queued [`ConditionWait`]s; `notify` marks them, each removes
//!   its own node.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::lock::{Lock, LockAcquire, LockGuard};
use super::wait_list::{WaitList, WaiterKey, Wakeups};

/// A condition variable for tasks: asyncio's `Condition`.
///
/// Tasks hold the condition's [`Lock`] ([`lock`](Condition::lock)), check
/// some state, and if they must wait call [`wait`](Condition::wait), which
/// releases the lock until another task calls [`notify`](Condition::notify)
/// or [`notify_all`](Condition::notify_all), then takes it back.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use evloop::sync::Condition;
///
/// evloop::run(async {
///     let cond = Rc::new(Condition::new());
///     let ready = Rc::new(Cell::new(false));
///     let consumer = {
///         let (cond, ready) = (cond.clone(), ready.clone());
///         evloop::create_task(async move {
///             let guard = cond.lock().await;
///             let _guard = cond.wait_for(guard, || ready.get()).await;
///             "consumed"
///         })
///     };
///     evloop::yield_now().await;
///     {
///         let _guard = cond.lock().await;
///         ready.set(true);
///         cond.notify_all();
///     }
///     assert_eq!(consumer.await.unwrap(), "consumed");
/// });
/// ```
///
/// A `Condition` belongs to its loop's thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(evloop::sync::Condition::new());
/// ```
pub struct Condition {
    lock: Rc<Lock>,
    waiters: RefCell<WaitList>,
    _not_send: PhantomData<*mut ()>,
}

impl Condition {
    /// A condition with its own new [`Lock`].
    ///
    /// ```
    /// let cond = evloop::sync::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn new() -> Condition {
        Condition::with_lock(Rc::new(Lock::new()))
    }

    /// A condition on an existing lock, which may be shared with other
    /// conditions (asyncio's `Condition(lock)`).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use evloop::sync::{Condition, Lock};
    ///
    /// let lock = Rc::new(Lock::new());
    /// let not_empty = Condition::with_lock(lock.clone());
    /// let not_full = Condition::with_lock(lock.clone());
    /// let _guard = lock.try_lock().unwrap();
    /// assert!(not_empty.locked() && not_full.locked());
    /// ```
    pub fn with_lock(lock: Rc<Lock>) -> Condition {
        Condition {
            lock,
            waiters: RefCell::new(WaitList::new()),
            _not_send: PhantomData,
        }
    }

    /// Waits for the underlying lock: the same as `Lock::lock`.
    ///
    /// ```
    /// evloop::run(async {
    ///     let cond = evloop::sync::Condition::new();
    ///     let _guard = cond.lock().await;
    ///     assert!(cond.locked());
    /// });
    /// ```
    pub fn lock(&self) -> LockAcquire<'_> {
        self.lock.lock()
    }

    /// Takes the underlying lock if it is free: the same as `Lock::try_lock`.
    ///
    /// ```
    /// let cond = evloop::sync::Condition::new();
    /// let guard = cond.try_lock();
    /// assert!(guard.is_some() && cond.try_lock().is_none());
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        self.lock.try_lock()
    }

    /// Whether the underlying lock is held.
    ///
    /// ```
    /// assert!(!evloop::sync::Condition::new().locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock held by `guard`, waits until notified, then takes
    /// the lock back and returns the new guard.
    ///
    /// Wake-ups may be spurious (see the module docs): re-check the state
    /// after waking, or use [`wait_for`](Condition::wait_for).
    ///
    /// # Panics
    ///
    /// If `guard` holds a different [`Lock`] than this condition's.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use evloop::sync::Condition;
    ///
    /// evloop::run(async {
    ///     let cond = Rc::new(Condition::new());
    ///     let c = cond.clone();
    ///     let notifier = evloop::create_task(async move {
    ///         let _guard = c.lock().await;
    ///         c.notify(1);
    ///     });
    ///     let guard = cond.lock().await;
    ///     let guard = cond.wait(guard).await; // lets the notifier in
    ///     drop(guard);
    ///     notifier.await.unwrap();
    /// });
    /// ```
    pub fn wait<'a>(&'a self, guard: LockGuard<'a>) -> ConditionWait<'a> {
        assert!(
            std::ptr::eq(guard.lock, &*self.lock),
            "Condition::wait called with a guard of another Lock"
        );
        ConditionWait {
            cond: self,
            stage: Stage::Start(guard),
        }
    }

    /// Waits until `predicate` returns `true`: checks it first, with the
    /// lock held, and after every wake-up. Returns the guard, lock held.
    ///
    /// asyncio's `wait_for` returns the predicate's value; here the
    /// predicate reads state the caller can read again, and the guard is
    /// what the caller needs back.
    ///
    /// # Panics
    ///
    /// If `guard` holds a different [`Lock`] than this condition's.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use evloop::sync::Condition;
    ///
    /// evloop::run(async {
    ///     let cond = Rc::new(Condition::new());
    ///     let count = Rc::new(Cell::new(0));
    ///     let (c, n) = (cond.clone(), count.clone());
    ///     let counter = evloop::create_task(async move {
    ///         for _ in 0..3 {
    ///             let _guard = c.lock().await;
    ///             n.set(n.get() + 1);
    ///             c.notify_all();
    ///         }
    ///     });
    ///     let guard = cond.lock().await;
    ///     let guard = cond.wait_for(guard, || count.get() == 3).await;
    ///     assert_eq!(count.get(), 3);
    ///     drop(guard);
    ///     counter.await.unwrap();
    /// });
    /// ```
    pub async fn wait_for<'a, P>(&'a self, mut guard: LockGuard<'a>, mut predicate: P) -> LockGuard<'a>
    where
        P: FnMut() -> bool,
    {
        while !predicate() {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes the `n` longest-waiting tasks (fewer if fewer wait). Each
    /// takes the lock back in turn once the caller releases it.
    ///
    /// # Panics
    ///
    /// If the lock is not held (asyncio raises `RuntimeError`).
    ///
    /// ```
    /// let cond = evloop::sync::Condition::new();
    /// let _guard = cond.try_lock().unwrap();
    /// cond.notify(1); // nobody waits: does nothing
    /// ```
    pub fn notify(&self, n: usize) {
        assert!(self.locked(), "Condition::notify called without holding the lock");
        self.notify_unchecked(n);
    }

    /// Wakes every waiting task.
    ///
    /// # Panics
    ///
    /// If the lock is not held (asyncio raises `RuntimeError`).
    ///
    /// ```
    /// let cond = evloop::sync::Condition::new();
    /// let _guard = cond.try_lock().unwrap();
    /// cond.notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    fn notify_unchecked(&self, n: usize) {
        let mut wakeups = Wakeups::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            for _ in 0..n {
                match waiters.notify_one() {
                    Some(w) => wakeups.push(w),
                    None => break,
                }
            }
        }
        wakeups.wake();
    }
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Condition");
        d.field("lock", &self.lock);
        if let Ok(waiters) = self.waiters.try_borrow() {
            d.field("waiters", &waiters.waiting());
        }
        d.finish_non_exhaustive()
    }
}

/// Future returned by [`Condition::wait`]; resolves to the reacquired
/// [`LockGuard`].
///
/// ```
/// use std::rc::Rc;
///
/// evloop::run(async {
///     let cond = Rc::new(evloop::sync::Condition::new());
///     let c = cond.clone();
///     let notifier = evloop::create_task(async move {
///         let _g = c.lock().await;
///         c.notify_all()
///     });
///     let guard = cond.lock().await;
///     let wait: evloop::sync::ConditionWait<'_> = cond.wait(guard);
///     drop(wait.await);
///     notifier.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless awaited; dropping this releases the lock"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    stage: Stage<'a>,
}

enum Stage<'a> {
    /// Not polled yet: still holding the caller's lock.
    Start(LockGuard<'a>),
    /// Queued on the condition, lock released.
    Waiting(WaiterKey),
    /// Notified; taking the lock back.
    Reacquiring(LockAcquire<'a>),
    Done,
}

impl<'a> Future for ConditionWait<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let cond = self.cond;
        loop {
            match std::mem::replace(&mut self.stage, Stage::Done) {
                Stage::Start(guard) => {
                    // Queue first, then release: no notify can slip between.
                    let key = cond.waiters.borrow_mut().push_back(cx.waker());
                    self.stage = Stage::Waiting(key);
                    drop(guard); // may hand the lock to another task
                    return Poll::Pending;
                }
                Stage::Waiting(key) => {
                    let mut waiters = cond.waiters.borrow_mut();
                    if waiters.is_notified(key) {
                        let _ = waiters.remove(key);
                        drop(waiters);
                        self.stage = Stage::Reacquiring(cond.lock.lock());
                        continue;
                    }
                    let old = waiters.update_waker(key, cx.waker());
                    drop(waiters);
                    drop(old);
                    self.stage = Stage::Waiting(key);
                    return Poll::Pending;
                }
                Stage::Reacquiring(mut acquire) => match Pin::new(&mut acquire).poll(cx) {
                    Poll::Ready(guard) => return Poll::Ready(guard),
                    Poll::Pending => {
                        self.stage = Stage::Reacquiring(acquire);
                        return Poll::Pending;
                    }
                },
                Stage::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        let notified = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Waiting(key) => {
                let removed = self.cond.waiters.borrow_mut().remove(key);
                removed.was_notified()
            }
            // Dropping the acquire passes the lock on if it was handed to us.
            Stage::Reacquiring(acquire) => {
                drop(acquire);
                true
            }
            Stage::Start(_) | Stage::Done => false,
        };
        if notified {
            // We were notified but will never act on it: pass it on, so a
            // notify(1) is not swallowed by a cancelled task.
            self.cond.notify_unchecked(1);
        }
    }
}

impl fmt::Debug for ConditionWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Start(_) => "start",
            Stage::Waiting(_) => "waiting",
            Stage::Reacquiring(_) => "reacquiring",
            Stage::Done => "done",
        };
        f.debug_struct("ConditionWait").field("stage", &stage).finish()
    }
}
