//! [`Event`]: asyncio's `Event`, a flag that tasks can wait on.
//!
//! # Ground rules
//!
//! - [`Event::set`] notifies *every* waiter queued at that moment. A notified
//!   waiter completes even if the flag is cleared again before it runs
//!   (asyncio resolves the waiter's future on `set()`, so the same holds).
//! - [`Event::wait`] on a set event completes on its first poll without
//!   queueing, spending one unit of the task's cooperative budget
//!   (`task/coop.rs`). When the budget is spent it returns `Pending` instead
//!   (the task is woken and polls it again on a later tick) without having
//!   queued: that next poll looks at the flag afresh, so a `clear` in
//!   between makes it wait. A task waiting on a set event in a loop thus
//!   lets the loop run everything else every 128 waits. A waiter woken by
//!   `set` is not charged: it already waited once.
//! - A dropped waiter just leaves the list: an event grants nothing that
//!   could be lost.
//!
//! # Fields and who may touch them
//!
//! - `State::set`: the flag; written only by `set` and `clear`.
//! - `State::waiters`: queued [`EventWait`]s; each removes its own node.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::wait_list::{WaitList, WaiterKey, Wakeups};
use crate::task::coop;

/// A flag that tasks can wait on: asyncio's `Event`.
///
/// Initially clear. [`set`](Event::set) wakes every task waiting in
/// [`wait`](Event::wait); waits that start while the flag is set complete at
/// once, until [`clear`](Event::clear).
///
/// ```
/// use std::rc::Rc;
/// use evloop::sync::Event;
///
/// evloop::run(async {
///     let ready = Rc::new(Event::new());
///     let r = ready.clone();
///     let waiter = evloop::create_task(async move { r.wait().await; "woken" });
///     evloop::yield_now().await; // the waiter is now waiting
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "woken");
/// });
/// ```
///
/// An `Event` belongs to its loop's thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(evloop::sync::Event::new());
/// ```
pub struct Event {
    state: RefCell<State>,
    _not_send: PhantomData<*mut ()>,
}

struct State {
    set: bool,
    waiters: WaitList,
}

impl Event {
    /// A new, clear event.
    ///
    /// ```
    /// assert!(!evloop::sync::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event {
            state: RefCell::new(State {
                set: false,
                waiters: WaitList::new(),
            }),
            _not_send: PhantomData,
        }
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// let ev = evloop::sync::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state.borrow().set
    }

    /// Sets the flag and wakes every waiting task (in the order they began
    /// waiting). Does nothing if already set.
    ///
    /// ```
    /// use evloop::sync::Event;
    ///
    /// evloop::run(async {
    ///     let ev = Event::new();
    ///     ev.set();
    ///     ev.wait().await; // completes at once
    /// });
    /// ```
    pub fn set(&self) {
        let mut wakeups = Wakeups::new();
        {
            let mut state = self.state.borrow_mut();
            if state.set {
                return;
            }
            state.set = true;
            while let Some(w) = state.waiters.notify_one() {
                wakeups.push(w);
            }
        }
        wakeups.wake();
    }

    /// Clears the flag: later [`wait`](Event::wait)s block until the next
    /// [`set`](Event::set). Waiters already woken still complete.
    ///
    /// ```
    /// let ev = evloop::sync::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// Waits until the flag is set; completes at once if it already is.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use evloop::sync::Event;
    ///
    /// evloop::run(async {
    ///     let ev = Rc::new(Event::new());
    ///     let e = ev.clone();
    ///     let setter = evloop::create_task(async move { e.set() });
    ///     ev.wait().await;
    ///     assert!(ev.is_set());
    ///     setter.await.unwrap();
    /// });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            waiter: None,
            done: false,
        }
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Event");
        if let Ok(state) = self.state.try_borrow() {
            d.field("set", &state.set).field("waiters", &state.waiters.waiting());
        }
        d.finish_non_exhaustive()
    }
}

/// Future returned by [`Event::wait`].
///
/// ```
/// let ev = evloop::sync::Event::new();
/// ev.set();
/// let wait: evloop::sync::EventWait<'_> = ev.wait();
/// evloop::run(wait);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    waiter: Option<WaiterKey>,
    done: bool,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        assert!(!self.done, "EventWait polled after completion");
        let event = self.event;
        let mut state = event.state.borrow_mut();
        let ready = match self.waiter {
            None if state.set => {
                // Fast path: one budget unit, spent with the borrow released
                // (a spent budget wakes the task). On a budget-yield the wait
                // has not begun: it looks at the flag again on its next poll.
                drop(state);
                ready!(coop::poll_proceed(cx));
                true
            }
            None => {
                let key = state.waiters.push_back(cx.waker());
                drop(state);
                self.waiter = Some(key);
                return Poll::Pending;
            }
            Some(key) if state.waiters.is_notified(key) => {
                let _ = state.waiters.remove(key);
                true
            }
            Some(key) => {
                let old = state.waiters.update_waker(key, cx.waker());
                drop(state);
                drop(old);
                false
            }
        };
        if ready {
            self.waiter = None;
            self.done = true;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            // Nothing to pass on: a set event stays set for everyone.
            let removed = self.event.state.borrow_mut().waiters.remove(key);
            drop(removed);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("queued", &self.waiter.is_some())
            .field("done", &self.done)
            .finish()
    }
}
