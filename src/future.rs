//! [`Future<T>`](Future): asyncio's `Future`, a result slot that some code
//! fills in and other code awaits. Named by its module,
//! `evloop::future::Future`, so that `use evloop::*;` never shadows
//! `std::future::Future` (the crate root re-exports that trait instead, as
//! `futures::Future` does).
//!
//! ```edition2024
//! use evloop::*; // its `Future` is the std trait, the prelude's own
//!
//! struct Ready;
//! impl Future for Ready {
//!     type Output = u8;
//!     fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<u8> {
//!         std::task::Poll::Ready(7)
//!     }
//! }
//! assert_eq!(run(Ready), 7);
//! let slot = evloop::future::Future::<u8>::new();
//! # drop(slot);
//! ```
//!
//! # Ground rules
//!
//! - A future moves once from *pending* to *done* (a result) or *cancelled*,
//!   and never back; a second `set_result` or a `cancel` after that is
//!   refused.
//! - Every awaiter and done-callback is told, in the order they registered.
//!   Callbacks are always scheduled with `call_soon` on the loop, never
//!   called inline, even when the future is already done (as in asyncio).
//! - It is a cheap `Rc` handle: clone it to share; awaiting a clone yields a
//!   clone of the result (so `T: Clone` to await or read it).
//! - Awaiting a done future completes at once, spending one unit of the
//!   task's cooperative budget (`task/coop.rs`); when the budget is spent it
//!   returns `Pending` and the task, already woken, gets the result on a
//!   later tick. So a task that awaits done futures in a loop still lets the
//!   loop run everything else every 128 awaits. A pending future is not
//!   charged: it returns `Pending` anyway.
//! - Not to be confused with `std::future::Future`: it is kept out of the
//!   crate root (and so out of `use evloop::*`) on purpose; name it
//!   `evloop::future::Future`, or import it under another name
//!   (`use evloop::future::Future as AioFuture;`).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use crate::event_loop::Handle;
use crate::task::coop;

/// Why a [`Future`] operation was refused: asyncio's `InvalidStateError` and
/// `CancelledError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FutureError {
    /// The future is still pending (`result()` too early).
    Pending,
    /// The future already has a result or was cancelled (`set_result` twice).
    AlreadyDone,
    /// The future was cancelled.
    Cancelled,
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FutureError::Pending => "invalid state: the future has no result yet",
            FutureError::AlreadyDone => "invalid state: the future is already done",
            FutureError::Cancelled => "the future was cancelled",
        })
    }
}

impl std::error::Error for FutureError {}

enum State<T> {
    Pending,
    Done(T),
    Cancelled,
}

type DoneCallback<T> = Box<dyn FnOnce(&Future<T>)>;

struct Inner<T> {
    state: State<T>,
    waiters: Vec<Waker>,
    callbacks: Vec<DoneCallback<T>>,
    /// The loop that runs the callbacks: the one running at creation, else
    /// the one running when the future completes.
    handle: Option<Handle>,
}

/// asyncio's `Future`: a result slot with `set_result`, `cancel`, `done`,
/// `cancelled`, `result` and `add_done_callback`, which can be awaited.
///
/// ```
/// let fut = evloop::future::Future::<u32>::new();
/// assert!(fut.cancel());
/// assert!(fut.done());
/// assert!(fut.cancelled());
///
/// let answer = evloop::run(async {
///     let fut = evloop::future::Future::new();
///     let setter = fut.clone();
///     evloop::get_running_loop().call_soon(move || setter.set_result(42).unwrap());
///     fut.await
/// });
/// assert_eq!(answer, Ok(42));
/// ```
pub struct Future<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Default for Future<T> {
    fn default() -> Self {
        Future::new()
    }
}

impl<T: 'static> Future<T> {
    /// A pending future, bound to the running loop if there is one.
    pub fn new() -> Future<T> {
        Future {
            inner: Rc::new(RefCell::new(Inner {
                state: State::Pending,
                waiters: Vec::new(),
                callbacks: Vec::new(),
                handle: crate::try_get_running_loop(),
            })),
        }
    }

    /// Sets the result and wakes every awaiter.
    ///
    /// # Errors
    ///
    /// [`FutureError::AlreadyDone`] if it already has a result or was
    /// cancelled; the value is dropped.
    pub fn set_result(&self, value: T) -> Result<(), FutureError> {
        self.complete(State::Done(value))
    }

    /// Cancels the future; `false` if it was already done.
    pub fn cancel(&self) -> bool {
        self.complete(State::Cancelled).is_ok()
    }

    /// Whether it has a result or was cancelled.
    pub fn done(&self) -> bool {
        !matches!(self.inner.borrow().state, State::Pending)
    }

    /// Whether it was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(self.inner.borrow().state, State::Cancelled)
    }

    /// Calls `callback(&future)` on the loop once the future is done, via
    /// `call_soon` (also when it is already done).
    ///
    /// # Panics
    ///
    /// If the future is done, no loop is running and none was running when
    /// the future was made: there is no loop to schedule the callback on.
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T>) + 'static) {
        let mut inner = self.inner.borrow_mut();
        if let State::Pending = inner.state {
            inner.callbacks.push(Box::new(callback));
            return;
        }
        let handle = inner.handle.clone().or_else(crate::try_get_running_loop);
        drop(inner);
        let handle =
            handle.expect("evloop::future::Future::add_done_callback needs an event loop to schedule the callback on");
        let this = self.clone();
        handle.call_soon(move || callback(&this));
    }

    fn complete(&self, new: State<T>) -> Result<(), FutureError> {
        let (waiters, callbacks, handle) = {
            let mut inner = self.inner.borrow_mut();
            if !matches!(inner.state, State::Pending) {
                return Err(FutureError::AlreadyDone);
            }
            inner.state = new;
            let handle = inner.handle.clone().or_else(crate::try_get_running_loop);
            (
                std::mem::take(&mut inner.waiters),
                std::mem::take(&mut inner.callbacks),
                handle,
            )
        };
        for w in waiters {
            w.wake();
        }
        if !callbacks.is_empty() {
            let handle = handle.expect("evloop::future::Future has done-callbacks but no event loop to run them on");
            for callback in callbacks {
                let this = self.clone();
                handle.call_soon(move || callback(&this));
            }
        }
        Ok(())
    }
}

impl<T: Clone + 'static> Future<T> {
    /// The result: asyncio's `result()`.
    ///
    /// # Errors
    ///
    /// [`FutureError::Pending`] while pending, [`FutureError::Cancelled`]
    /// once cancelled.
    pub fn result(&self) -> Result<T, FutureError> {
        match &self.inner.borrow().state {
            State::Pending => Err(FutureError::Pending),
            State::Done(v) => Ok(v.clone()),
            State::Cancelled => Err(FutureError::Cancelled),
        }
    }
}

impl<T: Clone> std::future::Future for Future<T> {
    /// The result, or [`FutureError::Cancelled`].
    type Output = Result<T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.inner.borrow_mut();
        if let State::Pending = inner.state {
            if !inner.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                inner.waiters.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        // Done: one budget unit, spent with the borrow released (a spent
        // budget wakes the task, and a waker may run foreign code). A done
        // future stays done, so a budget-yield loses nothing.
        drop(inner);
        ready!(coop::poll_proceed(cx));
        match &self.inner.borrow().state {
            State::Done(v) => Poll::Ready(Ok(v.clone())),
            State::Cancelled => Poll::Ready(Err(FutureError::Cancelled)),
            State::Pending => unreachable!("a done future never goes back to pending"),
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner.borrow().state {
            State::Pending => "pending",
            State::Done(_) => "done",
            State::Cancelled => "cancelled",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}
