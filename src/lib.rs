//! # evloop
//!
//! A small, single-threaded async executor built from Python asyncio's
//! parts: an event loop with a run queue, a `mio` reactor, a hierarchical
//! timer wheel, tasks with handles, and asyncio's vocabulary on top.
//!
//! ```
//! use std::time::Duration;
//!
//! async fn count(log: std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>) {
//!     log.borrow_mut().push("One");
//!     evloop::sleep(Duration::from_millis(10)).await;
//!     log.borrow_mut().push("Two");
//! }
//!
//! let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
//! evloop::run(async {
//!     let tasks: Vec<_> = (0..3).map(|_| evloop::create_task(count(log.clone()))).collect();
//!     for t in tasks {
//!         t.await.unwrap();
//!     }
//! });
//! assert_eq!(*log.borrow(), ["One", "One", "One", "Two", "Two", "Two"]);
//! ```
//!
//! ## asyncio → evloop
//!
//! | asyncio | evloop |
//! |---|---|
//! | `asyncio.run(main())` | [`run`] |
//! | `asyncio.new_event_loop()` | [`EventLoop::new`], [`EventLoop::builder`] |
//! | `loop.run_until_complete(f)` | [`EventLoop::run_until_complete`] |
//! | `loop.run_forever()` / `loop.stop()` | [`EventLoop::run_forever`] / [`Handle::stop`] |
//! | `loop._run_once()` | [`EventLoop::run_once`] |
//! | `loop.is_running()`, `is_closed()`, `close()` | [`EventLoop::is_running`], [`EventLoop::is_closed`], [`EventLoop::close`] |
//! | `asyncio.get_running_loop()` | [`get_running_loop`], [`try_get_running_loop`] |
//! | `asyncio.create_task(coro)` | [`create_task`] → [`Task`] |
//! | `Task.cancel()`, `done()`, `cancelled()`, `result()` | [`Task::cancel`], [`Task::done`], [`Task::cancelled`], [`Task::result`] |
//! | `asyncio.sleep(d)` / `asyncio.sleep(0)` | [`sleep`], [`sleep_until`] / [`yield_now`] |
//! | `loop.call_soon / call_later / call_at` | [`Handle::call_soon`], [`Handle::call_later`], [`Handle::call_at`] → [`CallbackHandle`] |
//! | `loop.call_soon_threadsafe` | [`ThreadsafeHandle::call_soon_threadsafe`] |
//! | `loop.set_exception_handler` | [`Builder::exception_handler`] |
//!
//! ## Reading order
//!
//! 1. `src/event_loop/core.rs`: the tick, the run queue, task bookkeeping.
//! 2. `src/task/slot.rs`: a task's life cycle; `src/task/waker.rs`: wakers.
//! 3. `src/time/wheel.rs`: the timer wheel; `src/time/clock.rs`: the clock.
//! 4. `src/reactor/mod.rs`: where the loop blocks.
//! 5. `src/event_loop/remote.rs`: how other threads get in.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod combinators;
#[cfg(feature = "criterion")]
mod criterion_support;
mod event_loop;
mod future;
pub mod net;
pub mod process;
mod reactor;
mod task;
mod time;
mod to_thread;

pub use event_loop::{
    all_tasks, current_task, get_running_loop, run, try_get_running_loop, Builder, CallbackHandle, EventLoop,
    ExceptionContext, Handle, LoopEvent, RunError, Stats, TaskInfo, ThreadsafeHandle,
};
pub use task::{create_task, yield_now, AbortOnDrop, Task, TaskError, YieldNow};
pub use time::{sleep, sleep_until, Sleep};
pub use to_thread::{to_thread, ToThread, ToThreadError};

pub use combinators::{
    as_completed, gather, shield, timeout, timeout_at, try_gather, wait, wait_for, AsCompleted, Gather, ReturnWhen,
    Shield, TaskGroup, TaskGroupError, TaskOutcome, Timeout, TimeoutError, TimeoutScope, TryGather,
};
pub use future::{Future, FutureError};

#[cfg(feature = "criterion")]
pub use criterion_support::CriterionExecutor;

#[doc(hidden)]
pub mod __private {
    pub use crate::combinators::MaybeDone;
    pub use std::future::poll_fn;
}
pub mod sync;
