//! The event loop: asyncio's `BaseEventLoop`, on one thread.
//!
//! # Ground rules
//!
//! - An [`EventLoop`] is `!Send`: it and everything it runs stay on the thread
//!   that made it. [`ThreadsafeHandle`] is the only way in from elsewhere.
//! - At most one loop *runs* per thread at a time; a nested run gets
//!   [`RunError::AlreadyRunning`].
//! - Dropping a loop closes it, and closing drops every task, callback and
//!   timer it still holds, so their destructors run and nothing leaks.
//! - The loop never spins: when nothing is ready it blocks in the reactor
//!   until I/O, a remote wake, or the next timer.
//!
//! The tick itself is in `core.rs`; what it does with tasks (spawn, wake,
//! poll, finish) in `tasks.rs`; the thread-local "running loop" in
//! `context.rs`; the cross-thread queue in `remote.rs`.

pub(crate) mod context;
pub(crate) mod core;
mod handle;
pub(crate) mod instrument;
pub(crate) mod remote;
mod shutdown;
mod submit;
mod tasks;
pub(crate) mod trace;
mod watch;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_task::waker_ref;

pub use self::tasks::TaskInfo;
pub use handle::{CallbackHandle, Handle, ThreadsafeHandle};
pub use instrument::{LoopEvent, Stats};
pub use submit::RemoteTask;

use self::core::Core;
use self::instrument::{Instruments, Observer};
use crate::task::{panic_message, Task};

/// Why a loop could not run (or finish running) a future.
///
/// ```
/// use evloop::{EventLoop, RunError};
///
/// let mut lp = EventLoop::new()?;
/// lp.close()?;
/// assert_eq!(lp.run_until_complete(async {}), Err(RunError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// A loop is already running on this thread (a nested run).
    AlreadyRunning,
    /// The loop is closed.
    Closed,
    /// `stop()` was called before the future completed.
    Stopped,
    /// The operation needs a loop that is not running (e.g. `close()`).
    Running,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunError::AlreadyRunning => "cannot run an event loop while another loop is running on this thread",
            RunError::Closed => "the event loop is closed",
            RunError::Stopped => "the event loop stopped before the future completed",
            RunError::Running => "cannot close a running event loop",
        })
    }
}

impl std::error::Error for RunError {}

/// What the loop hands its exception handler: asyncio's context dict.
#[derive(Debug)]
pub struct ExceptionContext {
    /// What happened, e.g. `"Exception in callback"`.
    pub message: String,
    /// The panic payload, if a panic caused this.
    pub payload: Option<Box<dyn Any + Send>>,
    /// The task concerned, if any.
    pub task_id: Option<u64>,
}

impl ExceptionContext {
    /// The panic message, when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        self.payload.as_deref().and_then(panic_message)
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(msg) = self.panic_message() {
            write!(f, ": {msg}")?;
        }
        Ok(())
    }
}

pub(crate) type ExceptionHandler = Box<dyn Fn(ExceptionContext)>;

fn default_exception_handler(ctx: ExceptionContext) {
    eprintln!("evloop: {ctx}");
}

/// Configures an [`EventLoop`] before it is built.
///
/// ```
/// use std::time::Duration;
///
/// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
/// let start = lp.time();
/// lp.run_until_complete(evloop::sleep(Duration::from_secs(3600)))?; // returns at once
/// assert_eq!(lp.time() - start, Duration::from_secs(3600));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a Builder does nothing until .build()"]
pub struct Builder {
    manual_clock: bool,
    handler: Option<ExceptionHandler>,
    stop_on_task_panic: bool,
    debug: bool,
    slow_callback_duration: Duration,
    observer: Option<Observer>,
    trace: Option<PathBuf>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("manual_clock", &self.manual_clock)
            .field("exception_handler", &self.handler.is_some())
            .field("stop_on_task_panic", &self.stop_on_task_panic)
            .field("debug", &self.debug)
            .field("slow_callback_duration", &self.slow_callback_duration)
            .field("observer", &self.observer.is_some())
            .field("trace", &self.trace)
            .finish()
    }
}

impl Builder {
    /// Uses a manual clock: time stands still while anything is ready and
    /// jumps straight to the next timer when nothing is, so timer logic runs
    /// instantly and deterministically (tokio's paused time).
    ///
    /// It jumps to the timer wheel's tick (1/32 ms) that holds the deadline:
    /// exactly to a deadline of whole milliseconds (or any multiple of
    /// 31.25 µs), else to the end of that tick, never before the deadline.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
    /// let start = lp.time();
    /// lp.run_until_complete(evloop::sleep(Duration::from_millis(3)))?;
    /// assert_eq!(lp.time() - start, Duration::from_millis(3));
    /// lp.run_until_complete(evloop::sleep(Duration::from_micros(10)))?;
    /// assert_eq!(lp.time() - start, Duration::from_micros(3_000) + Duration::from_nanos(31_250));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn manual_clock(mut self) -> Builder {
        self.manual_clock = true;
        self
    }

    /// Replaces the exception handler, which receives panics from callbacks,
    /// panics of tasks that nobody awaited, and panicking destructors. The
    /// default prints to stderr, like asyncio's.
    pub fn exception_handler(mut self, handler: impl Fn(ExceptionContext) + 'static) -> Builder {
        self.handler = Some(Box::new(handler));
        self
    }

    /// Fail fast: a panic in any task stops the loop, and the panic resumes
    /// out of `run_until_complete` / `run_forever` / `run_once`.
    pub fn stop_on_task_panic(mut self, yes: bool) -> Builder {
        self.stop_on_task_panic = yes;
        self
    }

    /// Debug mode, asyncio's: every task poll and callback is timed, and one
    /// that holds the loop longer than
    /// [`slow_callback_duration`](Self::slow_callback_duration) (a
    /// `std::thread::sleep` in a task, say) is reported to the exception
    /// handler with the task's name, where it was spawned, the future's type
    /// and how long it took. On by default when
    /// the environment has `EVLOOP_DEBUG=1` (like `PYTHONASYNCIODEBUG`).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    ///
    /// let reports = Rc::new(RefCell::new(Vec::new()));
    /// let r = reports.clone();
    /// let mut lp = evloop::EventLoop::builder()
    ///     .debug(true)
    ///     .slow_callback_duration(Duration::from_millis(20))
    ///     .exception_handler(move |ctx| r.borrow_mut().push(ctx.message))
    ///     .build()?;
    /// let task = lp.handle().create_task(async { std::thread::sleep(Duration::from_millis(30)) });
    /// task.set_name("sleepy");
    /// lp.run_until_complete(task)?.unwrap();
    /// // "Executing Task-1 (sleepy) created at src/main.rs:9:29
    /// //  (future `rust_out::main::{{closure}}`) took 0.030 seconds"
    /// let report = &reports.borrow()[0];
    /// assert!(report.starts_with("Executing Task-1 (sleepy) created at "), "{report}");
    /// assert!(report.contains(" (future `"), "{report}");
    /// assert!(report.ends_with(" seconds"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn debug(mut self, on: bool) -> Builder {
        self.debug = on;
        self
    }

    /// How long a poll or callback may hold the loop before debug mode
    /// reports it (asyncio's `slow_callback_duration`; default 100 ms).
    pub fn slow_callback_duration(mut self, d: Duration) -> Builder {
        self.slow_callback_duration = d;
        self
    }

    /// Sets an observer that sees what the loop does, in order: tick
    /// boundaries, spawns, polls, wakes, timers firing, I/O readiness. Unset,
    /// it costs nothing but a branch.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use evloop::LoopEvent;
    ///
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// let mut lp = evloop::EventLoop::builder().on_event(move |e| s.borrow_mut().push(*e)).build()?;
    /// let task = lp.handle().create_task(async {});
    /// lp.run_until_complete(task)?.unwrap();
    /// assert!(seen.borrow().contains(&LoopEvent::PollEnd { task: 1, finished: true }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_event(mut self, observer: impl Fn(&LoopEvent) + 'static) -> Builder {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Writes a timeline of what the loop does to `path`, in Chrome's Trace
    /// Event format: open it in [Perfetto](https://ui.perfetto.dev) or
    /// `chrome://tracing`, or turn it into a picture with
    /// `cargo run --example trace -- path`. One track per task (named by its
    /// name or `Task-N`, and where it was spawned), a slice per poll, the
    /// loop's ticks, its waits in `epoll_wait`, timers firing, I/O readiness,
    /// callbacks, and an arrow from whatever woke a task to its next poll.
    /// Timestamps are the loop's clock, in microseconds since the loop was
    /// built (the same on every run on a [manual clock](Self::manual_clock)).
    ///
    /// The file is created (truncated) by [`build`](Self::build), which
    /// fails if it cannot be; `{pid}` and `{loop}` in `path` become the
    /// process id and the loop's id. It is complete, valid JSON once the
    /// loop is closed or dropped, even if a panic unwinds out of it. Off
    /// (the default), tracing costs the one branch per poll that the
    /// observer and debug mode already share.
    ///
    /// Without this call, `build` reads the path from the environment
    /// variable `EVLOOP_TRACE`, if it is set and not empty.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("evloop-doc-{}.json", std::process::id()));
    /// let mut lp = evloop::EventLoop::builder().manual_clock().trace(&path).build()?;
    /// let task = lp.handle().create_task(async { evloop::yield_now().await });
    /// lp.run_until_complete(task)?.unwrap();
    /// drop(lp); // closes the file's JSON array and flushes it
    /// let json = std::fs::read_to_string(&path)?;
    /// assert!(json.starts_with('[') && json.trim_end().ends_with(']'));
    /// assert!(json.contains(r#""name":"poll""#));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Builder {
        self.trace = Some(path.into());
        self
    }

    /// Builds the loop.
    ///
    /// # Errors
    ///
    /// When the reactor cannot be made (out of file descriptors), or the
    /// trace file cannot be created (the error names the path).
    pub fn build(self) -> io::Result<EventLoop> {
        let slow = self.debug.then_some(self.slow_callback_duration);
        let instruments = Instruments::new(self.observer, slow);
        let trace = self.trace.or_else(|| {
            let path = std::env::var_os("EVLOOP_TRACE")?;
            (!path.is_empty()).then(|| PathBuf::from(path))
        });
        let core = Core::new(
            self.manual_clock,
            self.handler,
            self.stop_on_task_panic,
            instruments,
            trace.as_deref(),
        )?;
        Ok(EventLoop {
            core,
            _not_send: PhantomData,
        })
    }
}

/// An event loop: a run queue of tasks and callbacks, a timer wheel and a
/// reactor, driven on one thread.
///
/// ```
/// let mut lp = evloop::EventLoop::new()?;
/// let task = lp.handle().create_task(async { 6 * 7 });
/// assert_eq!(lp.run_until_complete(task)?.unwrap(), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A loop stays on its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(evloop::EventLoop::new().unwrap());
/// ```
pub struct EventLoop {
    core: Rc<Core>,
    _not_send: PhantomData<*mut ()>,
}

impl EventLoop {
    /// A loop with the real clock and the default exception handler.
    pub fn new() -> io::Result<EventLoop> {
        EventLoop::builder().build()
    }

    /// A [`Builder`] for a loop with other settings.
    pub fn builder() -> Builder {
        Builder {
            manual_clock: false,
            handler: None,
            stop_on_task_panic: false,
            debug: std::env::var_os("EVLOOP_DEBUG").is_some_and(|v| v == "1"),
            slow_callback_duration: Duration::from_millis(100),
            observer: None,
            trace: None,
        }
    }

    /// A handle for scheduling work on this loop.
    pub fn handle(&self) -> Handle {
        Handle::new(self.core.clone())
    }

    /// Runs the loop until `future` completes and returns its output.
    ///
    /// Tasks still pending when it returns stay on the loop and continue the
    /// next time the loop runs.
    ///
    /// # Errors
    ///
    /// [`RunError::AlreadyRunning`] inside a running loop,
    /// [`RunError::Closed`] on a closed loop, [`RunError::Stopped`] if
    /// [`Handle::stop`] was called before `future` completed.
    ///
    /// # Panics
    ///
    /// If `future` panics, the panic propagates (as in tokio's `block_on`).
    pub fn run_until_complete<F: Future>(&mut self, future: F) -> Result<F::Output, RunError> {
        self.check_open()?;
        let _guard = context::enter(&self.core)?;
        let mut future = pin!(future);
        let main_waker = Arc::new(remote::MainWaker {
            loop_id: self.core.id(),
            remote: self.core.remote.clone(),
        });
        let waker = waker_ref(&main_waker);
        let mut output = None;
        // The first poll is queued by the main future's own waker (as a
        // local wake: the loop runs on this thread now), after clearing a
        // flag a run cut short may have left set.
        self.core.main_queued.set(false);
        waker.wake_by_ref();
        loop {
            self.core.tick(
                &mut || {
                    if output.is_none() {
                        if let Poll::Ready(v) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                            output = Some(v);
                        }
                    }
                    output.is_some()
                },
                None,
                false,
            );
            if let Some(v) = output {
                // A stop requested during this run ends with it (asyncio resets
                // `_stopping`), rather than cutting the next run short.
                self.core.remote.take_stop();
                return Ok(v);
            }
            if self.core.remote.take_stop() {
                return Err(RunError::Stopped);
            }
        }
    }

    /// Runs the loop until [`Handle::stop`] (or [`ThreadsafeHandle::stop`]).
    /// A stop requested before the call makes the loop run one tick and return.
    ///
    /// ```
    /// let mut lp = evloop::EventLoop::new()?;
    /// let h = lp.handle();
    /// h.call_soon({ let h = h.clone(); move || h.stop() });
    /// lp.run_forever()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_forever(&mut self) -> Result<(), RunError> {
        self.check_open()?;
        let _guard = context::enter(&self.core)?;
        loop {
            self.core.tick(&mut || false, None, false);
            if self.core.remote.take_stop() {
                return Ok(());
            }
        }
    }

    /// Runs exactly one tick, for hosts that drive the loop from their own
    /// loop (a game frame, a GUI idle handler). `timeout` caps how long the
    /// tick may block waiting for I/O or timers: `Some(Duration::ZERO)` never
    /// blocks, `None` blocks until something is ready.
    ///
    /// Pair it with the loop's raw fd ([`AsRawFd`]), which becomes readable
    /// when I/O or a remote wake arrives, and [`next_timeout`](Self::next_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut lp = evloop::EventLoop::new()?;
    /// let task = lp.handle().create_task(async { evloop::yield_now().await; 5 });
    /// while !task.done() {
    ///     lp.run_once(Some(Duration::ZERO))?; // one game frame's worth
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_once(&mut self, timeout: Option<Duration>) -> Result<(), RunError> {
        self.check_open()?;
        let _guard = context::enter(&self.core)?;
        self.core.tick(&mut || false, timeout, true);
        self.core.remote.take_stop();
        Ok(())
    }

    /// How long a host may wait before calling [`run_once`](Self::run_once)
    /// again if the loop's fd stays quiet: zero if work is ready, the time to
    /// the next timer, or `None` when only I/O or a remote wake can bring work.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.core.next_timeout()
    }

    /// Whether the loop is running.
    pub fn is_running(&self) -> bool {
        self.core.is_running()
    }

    /// Whether the loop is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Closes the loop, dropping every task, callback and timer it holds.
    /// Closing twice is fine.
    ///
    /// # Errors
    ///
    /// [`RunError::Running`] if the loop is running.
    pub fn close(&mut self) -> Result<(), RunError> {
        self.handle().close()
    }

    /// The loop's current time (the manual clock's, if it has one).
    pub fn time(&self) -> Instant {
        self.core.time.clock.now()
    }

    fn check_open(&self) -> Result<(), RunError> {
        if self.core.is_closed() {
            Err(RunError::Closed)
        } else {
            Ok(())
        }
    }
}

impl AsRawFd for EventLoop {
    /// The fd of the loop's `epoll` instance: readable when I/O or a remote
    /// wake is waiting, so a host's own poller can wait on it.
    fn as_raw_fd(&self) -> RawFd {
        self.core.io.reactor.borrow().as_raw_fd()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.core.close();
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Runs `future` on a new loop and returns its output: asyncio's `run()`.
///
/// When `future` completes, tasks it left behind are cancelled (their
/// futures dropped, on the loop, within the loop's context) and the loop is
/// closed.
///
/// # Panics
///
/// Inside a running loop (await the future, or `create_task` it, instead),
/// if the loop cannot be created, if `future` panics, or if the loop is
/// stopped before `future` completes.
///
/// ```
/// use std::time::Duration;
///
/// let out = evloop::run(async {
///     evloop::sleep(Duration::from_millis(1)).await;
///     "done"
/// });
/// assert_eq!(out, "done");
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    let mut lp = run_begin();
    let output = match lp.run_until_complete(future) {
        Ok(v) => v,
        Err(e) => run_failed(e),
    };
    run_end(lp);
    output
}

/// `run`'s loop. The parts of `run` that do not depend on the future's
/// type are out of line: built once, not into every caller (issue #15).
#[inline(never)]
fn run_begin() -> EventLoop {
    if context::current().is_some() {
        panic!(
            "evloop::run() cannot be called from a running event loop; .await the future or create_task() it instead"
        );
    }
    EventLoop::new().expect("evloop::run(): could not create the event loop")
}

/// `run`'s end: cancels what the future left behind, lets the
/// cancellations run, and closes the loop.
#[inline(never)]
fn run_end(mut lp: EventLoop) {
    lp.core.cancel_all();
    let _ = lp.run_once(Some(Duration::ZERO));
    let _ = lp.close();
}

#[cold]
#[inline(never)]
fn run_failed(e: RunError) -> ! {
    panic!("evloop::run(): {e}")
}

/// The loop running on this thread: asyncio's `get_running_loop()`.
///
/// # Panics
///
/// When no loop is running on this thread.
///
/// ```
/// evloop::run(async {
///     let handle = evloop::get_running_loop();
///     assert!(handle.is_running());
/// });
/// ```
#[track_caller]
pub fn get_running_loop() -> Handle {
    try_get_running_loop().expect(NO_LOOP)
}

/// Schedules `future` on the running loop: asyncio's `create_task`.
///
/// The task starts on the loop's next tick, after tasks created before it.
///
/// # Panics
///
/// Outside a running loop; use [`Handle::create_task`](crate::Handle::create_task)
/// to schedule on a loop that is not running yet.
///
/// ```
/// let sum = evloop::run(async {
///     let a = evloop::create_task(async { 1 });
///     let b = evloop::create_task(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(sum, 3);
/// ```
#[track_caller]
pub fn create_task<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let at = std::panic::Location::caller();
    context::with_current(|core| core.spawn_at(future, at)).expect(NO_LOOP)
}

/// The panic message of everything that needs a running loop and finds none.
pub(crate) const NO_LOOP: &str =
    "no evloop event loop is running on this thread (call this from inside evloop::run or run_until_complete)";

/// The task being polled right now on this thread's loop: asyncio's
/// `current_task()`. `None` outside a task (in a callback, or no loop).
///
/// ```
/// evloop::run(async {
///     let t = evloop::create_task(async { evloop::current_task().unwrap().id });
///     let id = t.id();
///     assert_eq!(t.await.unwrap(), id);
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    context::with_current(|core| core.current_task()).flatten()
}

/// Every unfinished task of this thread's running loop: asyncio's
/// `all_tasks()`.
///
/// # Panics
///
/// When no loop is running on this thread.
///
/// ```
/// evloop::run(async {
///     let t = evloop::create_task(evloop::sleep(std::time::Duration::from_millis(5)));
///     t.set_name("napper");
///     let names: Vec<String> = evloop::all_tasks().into_iter().map(|t| t.name).collect();
///     assert_eq!(names, ["napper"]);
///     t.await.unwrap();
/// });
/// ```
pub fn all_tasks() -> Vec<TaskInfo> {
    get_running_loop().all_tasks()
}

/// The loop running on this thread, or `None`.
///
/// ```
/// assert!(evloop::try_get_running_loop().is_none());
/// ```
pub fn try_get_running_loop() -> Option<Handle> {
    context::current().map(Handle::new)
}
