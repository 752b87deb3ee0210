//! # evloop
//!
//! A small, single-threaded async executor built from Python asyncio's
//! parts: an event loop with a run queue, a `mio` reactor, a hierarchical
//! timer wheel, tasks with handles, and asyncio's vocabulary on top. If you
//! know asyncio, this table is the map; `ARCHITECTURE.md` in the repository
//! walks through how each piece works.
//!
//! ## asyncio → evloop
//!
//! | asyncio | evloop |
//! |---|---|
//! | `asyncio.run(main())` | [`run`] |
//! | `asyncio.new_event_loop()` | [`EventLoop::new`], [`EventLoop::builder`] → [`Builder`] |
//! | `loop.run_until_complete(f)` | [`EventLoop::run_until_complete`] |
//! | `loop.run_forever()` / `loop.stop()` | [`EventLoop::run_forever`] / [`Handle::stop`] |
//! | `loop._run_once()` | [`EventLoop::run_once`], [`EventLoop::next_timeout`] |
//! | `loop.is_running()`, `is_closed()`, `close()` | [`EventLoop::is_running`], [`EventLoop::is_closed`], [`EventLoop::close`] |
//! | `loop.time()` | [`EventLoop::time`], [`Handle::time`] |
//! | `asyncio.get_running_loop()` | [`get_running_loop`], [`try_get_running_loop`] → [`Handle`] |
//! | `asyncio.create_task(coro)` | [`create_task`], [`Handle::create_task`] → [`Task`] |
//! | `Task.cancel()`, `done()`, `cancelled()`, `result()` | [`Task::cancel`], [`Task::done`], [`Task::cancelled`], [`Task::result`]; awaiting gives [`TaskError`] on failure |
//! | `Task.get_name()` / `set_name()` | [`Task::name`] / [`Task::set_name`] |
//! | `asyncio.current_task()`, `all_tasks()` | [`current_task`], [`all_tasks`] → [`TaskInfo`] |
//! | `asyncio.Future()` | [`evloop::future::Future`](crate::future::Future) (named by its module: the crate root's `Future` is the std trait, so `use evloop::*` is safe) |
//! | `asyncio.sleep(d)` / `asyncio.sleep(0)` | [`sleep`], [`sleep_until`] / `sleep(Duration::ZERO)` or [`yield_now`] (both yield) |
//! | `asyncio.gather(*aws)` | [`gather()`] (a `Vec`), [`gather!`] (a tuple), [`try_gather`] |
//! | `asyncio.wait_for(aw, t)` | [`wait_for`] → [`TimeoutError`]; a [`Task`] passed in is detached on time-out, not cancelled: pass `task.abort_on_drop()` for asyncio's behaviour |
//! | `asyncio.timeout(t)`, `timeout_at(when)` | [`timeout()`], [`timeout_at`] → [`TimeoutScope`] |
//! | `asyncio.wait(aws, return_when=...)` | [`wait`] with [`ReturnWhen`]; an empty set panics (asyncio: `ValueError`) |
//! | `asyncio.as_completed(aws, timeout=t)` | [`as_completed`] (a `futures_core::Stream`), [`AsCompleted::with_timeout`] |
//! | `asyncio.shield(aw)` | [`shield`] |
//! | `async with asyncio.TaskGroup() as tg:` | [`TaskGroup::run`]`(\|tg\| async move { .. })` → [`TaskGroupError`] listing every [`ChildFailure`] |
//! | `loop.call_soon / call_later / call_at` | [`Handle::call_soon`], [`Handle::call_later`], [`Handle::call_at`] → [`CallbackHandle`] |
//! | `loop.call_soon_threadsafe` | [`ThreadsafeHandle::call_soon_threadsafe`] (from [`Handle::threadsafe`]) |
//! | `asyncio.to_thread(f)`, `loop.run_in_executor` | [`to_thread`] |
//! | `asyncio.Event`, `Lock`, `Semaphore`, `Condition`, `Queue` | [`sync::Event`], [`sync::Lock`], [`sync::Semaphore`], [`sync::Condition`], [`sync::Queue`] |
//! | `asyncio.open_connection`, `start_server` | [`net::TcpStream::connect`], [`net::TcpListener`] |
//! | `open_unix_connection`, datagram endpoints | [`net::UnixStream`], [`net::UnixListener`], [`net::UdpSocket`] |
//! | `asyncio.StreamReader` | [`net::StreamReader`] |
//! | `asyncio.create_subprocess_exec` | [`process::Command`] |
//! | `proc.wait()`, `proc.kill()`, tokio's `kill_on_drop` | [`process::Child::wait`] (no polling), [`process::Child::kill`], [`process::Command::kill_on_drop`] |
//! | `loop.add_signal_handler`, `remove_signal_handler` | `Handle::add_signal_handler`, `Handle::remove_signal_handler`, `signal::ctrl_c`, `signal::signal` (feature `signal`) |
//! | `loop.set_exception_handler` | [`Builder::exception_handler`] → [`ExceptionContext`] |
//! | debug mode, `loop.slow_callback_duration`, `PYTHONASYNCIODEBUG` | [`Builder::debug`], [`Builder::slow_callback_duration`], `EVLOOP_DEBUG=1` |
//! | (none) loop counters | [`Handle::stats`] → [`Stats`] |
//! | (none) an observer of the loop's steps | [`Builder::on_event`] → [`LoopEvent`] |
//! | (none) a paused clock for tests | [`Builder::manual_clock`] |
//!
//! Rust has no exceptions: a task "raises" by panicking (caught; the loop
//! lives on and the handle yields [`TaskError::Panicked`]) or by returning an
//! `Err`. Cancelling a task drops its future on the loop's next tick, and
//! dropping a [`Task`] handle detaches the task, as in asyncio.
//!
//! Where asyncio raises for misuse, evloop panics with a message naming the
//! misuse and the fix: a [`Task`] or socket awaited on a loop other than its
//! own ("attached to a different loop"), an empty [`wait`], rescheduling a
//! timeout scope that has exited, spawning into a finished [`TaskGroup`].
//!
//! ## A first program
//!
//! The seed's `countasync`: three tasks print "One", sleep without blocking
//! the loop, then print "Two". All three sleep at once.
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
//! ## Watching the loop
//!
//! The same program on a manual clock (no real waiting), with the loop's
//! counters read afterwards. Every tick runs the jobs that were ready when
//! it began: the main future, then the three tasks it spawned, then the
//! tasks again when their timers fire, and the main future once more.
//! `examples/timeline.rs` prints the whole timeline with
//! [`Builder::on_event`]; `examples/trace.rs` draws it from the trace file
//! that [`Builder::trace`] (or `EVLOOP_TRACE=path`) writes.
//!
//! ```
//! use std::time::Duration;
//!
//! let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
//! let handle = lp.handle();
//! lp.run_until_complete(async {
//!     let tasks = (0..3).map(|_| evloop::create_task(evloop::sleep(Duration::from_millis(10))));
//!     evloop::gather(tasks).await;
//! })?;
//! let stats = handle.stats();
//! assert_eq!((stats.tasks_spawned, stats.timers_fired, stats.tasks_alive), (3, 3, 0));
//! assert_eq!(stats.polls, 1 + 3 + 3 + 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Reading order
//!
//! The loop's modules are layered, each importing only those to its left:
//! `task` ← `time` ← `reactor` ← `event_loop` (`ARCHITECTURE.md`, "Layers").
//!
//! 1. `src/event_loop/core.rs`: the tick and the run queue; `tasks.rs`: the
//!    loop's side of a task's life cycle (spawn, wake, poll, finish);
//!    `src/event_loop/mod.rs` and `handle.rs`: the public face of the loop;
//!    `context.rs`: entering a run, which sets each layer's thread-local;
//!    `shutdown.rs`: close.
//! 2. `src/task/mod.rs`: `TaskHost`, the loop as tasks see it, and where
//!    local wakes enter; `src/task/header.rs`: a task's life cycle;
//!    `src/task/raw/mod.rs`: a task's one block, its layout and life cycle,
//!    and the one module with `unsafe` code, and why;
//!    `src/task/raw/waker.rs`: wakers, a `RawWaker` over the block;
//!    `src/task/raw/list.rs`: the loop's list of its tasks;
//!    `src/task/raw/recycle.rs`: the loop's cache of task blocks;
//!    `src/task/coop.rs`: the cooperative budget.
//! 3. `src/time/wheel.rs`: the timer wheel; `src/time/clock.rs`: the clock;
//!    `src/time/mod.rs`: `Timers` and `sleep`.
//! 4. `src/reactor/mod.rs` and `registration.rs`: where the loop blocks
//!    (`Driver`), and how a socket waits for readiness; `fd.rs`: `AsyncFd`;
//!    `src/event_loop/watch.rs`: `add_reader` / `add_writer`.
//! 5. `src/event_loop/remote.rs`: how other threads get in; `submit.rs`:
//!    handing the loop work from another thread.
//! 6. `src/event_loop/instrument.rs`: stats, the observer and debug mode;
//!    `src/event_loop/trace.rs`, the trace file they feed.
//! 7. `src/combinators/`: `set.rs` first, then gather, timeout, wait,
//!    task_group; and `src/future.rs`, asyncio's `Future`.
//! 8. `src/sync/`: `wait_list.rs` first, then event, lock, semaphore,
//!    condition, queue.
//! 9. `src/net/`, `src/process.rs` and `src/to_thread.rs`: the world
//!    outside the loop.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod combinators;
mod event_loop;
pub mod future;
#[cfg(feature = "hyper")]
mod hyper_support;
pub mod net;
pub mod process;
mod reactor;
#[cfg(feature = "signal")]
pub mod signal;
mod task;
mod time;
mod to_thread;

pub use event_loop::{
    all_tasks, create_task, current_task, get_running_loop, run, try_get_running_loop, Builder, CallbackHandle,
    EventLoop, ExceptionContext, Handle, LoopEvent, RemoteTask, RunError, Stats, TaskInfo, ThreadsafeHandle,
};
pub use reactor::{AsyncFd, AsyncFdReadyGuard, TryIoError};
pub use task::{yield_now, AbortOnDrop, PanicPayload, Task, TaskError, YieldNow};
pub use time::{sleep, sleep_until, Sleep};
pub use to_thread::{to_thread, ToThread, ToThreadError};

pub use combinators::{
    as_completed, gather, shield, timeout, timeout_at, try_gather, wait, wait_for, AsCompleted, AsCompletedTimeout,
    ChildFailure, Failure, Gather, ReturnWhen, Shield, TaskGroup, TaskGroupError, TaskOutcome, Timeout, TimeoutError,
    TimeoutScope, TryGather,
};
pub use future::FutureError;
/// `std::future::Future`, the trait (as `futures::Future` re-exports it), so
/// that `use evloop::*;` brings the trait every `impl Future` needs and never
/// another `Future`. asyncio's `Future` is [`future::Future`].
pub use std::future::Future;

#[cfg(feature = "hyper")]
pub use hyper_support::{HyperExecutor, HyperIo, HyperSleep, HyperTimer};

#[doc(hidden)]
pub mod __private {
    pub use crate::combinators::MaybeDone;
    pub use std::future::poll_fn;
}
pub mod sync;

/// The README's examples, compiled and run as doc-tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
