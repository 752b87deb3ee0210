//! Watching the loop: counters ([`Stats`]), an observer hook ([`LoopEvent`]),
//! debug mode's slow-callback detector, and the trace writer (`trace.rs`).
//!
//! # Ground rules
//!
//! - Everything the loop measures goes through [`Instruments`]; the tick
//!   calls it at fixed points and keeps no metrics of its own.
//! - The counters are plain `Cell<u64>`s bumped on the loop's thread: always
//!   on, a few instructions each, never a syscall or an atomic.
//! - The observer is an `Option`: unset, an event costs one predictable
//!   branch and the event is never even built (events are made by closures).
//! - Debug mode reads the clock around each poll and callback, and only then.
//! - The trace writer, when there is one, sees every event the observer
//!   sees, plus a few of its own hooks (reactor polls, callbacks, task
//!   names) reached through [`Instruments::trace`]; it too is behind
//!   `hooked`.
//! - A panicking observer never unwinds into the loop: the panic is caught
//!   where the event is sent and reported to the exception handler at the
//!   end of the tick ("exception in the on_event observer").
//!
//! # Fields and who may touch them
//!
//! Only the loop thread, through `&self` (the cells make that possible
//! without borrows that could fail).

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::trace::{Tracer, TracerSlot};

/// Counters of what a loop has done since it was made: read them with
/// [`Handle::stats`](crate::Handle::stats).
///
/// ```
/// use std::time::Duration;
///
/// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
/// let h = lp.handle();
/// lp.run_until_complete(async {
///     let t = evloop::create_task(evloop::sleep(Duration::from_secs(1)));
///     t.await.unwrap();
/// })?;
/// let stats = h.stats();
/// assert_eq!(stats.tasks_spawned, 1);
/// assert_eq!(stats.timers_fired, 1);
/// assert_eq!(stats.tasks_alive, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Ticks run (asyncio's `_run_once` iterations).
    pub ticks: u64,
    /// Task polls (the main future of `run_until_complete` included).
    pub polls: u64,
    /// Callbacks run (`call_soon`, `call_later`, `call_soon_threadsafe`).
    pub callbacks: u64,
    /// Wake calls on the loop's own thread while it runs (a repeated wake of
    /// a task already queued counts too; it queues nothing).
    pub local_wakes: u64,
    /// Wakes that came through the cross-thread queue.
    pub remote_wakes: u64,
    /// Tasks created.
    pub tasks_spawned: u64,
    /// Tasks whose future has not finished (or been dropped) yet.
    pub tasks_alive: u64,
    /// Tasks that finished: returned, panicked or were cancelled.
    pub tasks_finished: u64,
    /// Timers armed right now.
    pub timers_armed: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Timers disarmed before firing.
    pub timers_cancelled: u64,
    /// I/O readiness events delivered by the reactor.
    pub io_events: u64,
    /// Times the reactor was polled (one `epoll_wait` each). While tasks
    /// are ready this grows by one per 61 jobs run, not per tick.
    pub io_polls: u64,
    /// Time spent blocked in the reactor waiting for something to happen.
    pub time_blocked: Duration,
    /// Time spent inside `run_*` calls, not blocked.
    pub time_running: Duration,
}

/// What the loop is doing, as seen by an observer set with
/// [`Builder::on_event`](crate::Builder::on_event). Task ids are those of
/// [`Task::id`](crate::Task::id); the main future of `run_until_complete` has
/// id 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopEvent {
    /// A tick begins: `n` is its number, `ready` how many jobs are queued.
    TickStart {
        /// The tick's number, from 1.
        n: u64,
        /// Jobs queued when the tick began.
        ready: usize,
    },
    /// The tick ends.
    TickEnd {
        /// The tick's number.
        n: u64,
    },
    /// A task was created.
    Spawn {
        /// The new task's id.
        task: u64,
    },
    /// A task is about to be polled.
    PollStart {
        /// The task's id.
        task: u64,
    },
    /// A task's poll returned.
    PollEnd {
        /// The task's id.
        task: u64,
        /// Whether the task finished (returned or panicked).
        finished: bool,
    },
    /// A task was queued by a wake.
    Wake {
        /// The task's id.
        task: u64,
        /// Whether the wake came from another thread.
        remote: bool,
    },
    /// A timer fired.
    TimerFired,
    /// The reactor delivered I/O readiness events.
    IoReady {
        /// How many.
        events: usize,
    },
    /// A task's future was dropped by a cancellation.
    Cancelled {
        /// The task's id.
        task: u64,
    },
}

pub(crate) type Observer = Box<dyn Fn(&LoopEvent)>;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) ticks: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) callbacks: Cell<u64>,
    pub(crate) local_wakes: Cell<u64>,
    pub(crate) remote_wakes: Cell<u64>,
    pub(crate) tasks_spawned: Cell<u64>,
    pub(crate) tasks_finished: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
    pub(crate) io_events: Cell<u64>,
    pub(crate) io_polls: Cell<u64>,
    pub(crate) blocked: Cell<Duration>,
    pub(crate) running: Cell<Duration>,
    /// When the current run began, while the loop runs.
    pub(crate) run_started: Cell<Option<Instant>>,
}

/// Adds one to a counter. Built with `--cfg evloop_uninstrumented` (only
/// `benches/instrument_overhead.sh` does that, to measure what the
/// instruments cost), counters stay at zero and hooks are off.
#[inline(always)]
pub(crate) fn bump(cell: &Cell<u64>) {
    if !cfg!(evloop_uninstrumented) {
        cell.set(cell.get() + 1);
    }
}

/// What `Instruments` holds that needs dropping: the observer, the trace
/// writer, a caught panic of the observer.
#[derive(Default)]
struct Owned {
    observer: Option<Observer>,
    /// The trace file's writer, when tracing.
    tracer: TracerSlot,
    /// A panic of the observer, caught, waiting to be reported.
    observer_panic: Cell<Option<Box<dyn Any + Send>>>,
}

/// A value whose drop is one out-of-line call. Drop glue is built into
/// every codegen unit that drops its type: `Instruments` (and `Core` around
/// it) are dropped in several, and each copy would otherwise carry the
/// glue of the observer, the tracer and a panic payload (issue #15). `Core`
/// is dropped both through its `Rc` and through the `Rc<dyn TaskHost>`
/// the task layer's thread-local holds, so its containers sit in one too.
pub(crate) struct ColdDrop<T: Default>(ManuallyDrop<T>);

impl<T: Default> ColdDrop<T> {
    pub(crate) fn new(value: T) -> ColdDrop<T> {
        ColdDrop(ManuallyDrop::new(value))
    }

    /// Moves the value out, leaving the default.
    pub(crate) fn take_inner(&mut self) -> T {
        std::mem::take(&mut *self.0)
    }
}

impl<T: Default> Default for ColdDrop<T> {
    fn default() -> ColdDrop<T> {
        ColdDrop::new(T::default())
    }
}

impl<T: Default> std::ops::Deref for ColdDrop<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Default> Drop for ColdDrop<T> {
    #[inline(never)]
    fn drop(&mut self) {
        drop(std::mem::take(&mut *self.0));
    }
}

/// The loop's instruments: counters, observer, debug settings.
pub(crate) struct Instruments {
    pub(crate) counters: Counters,
    /// Observer set, debug mode or tracing on: the one flag the hot path tests.
    hooked: bool,
    /// The observer, the tracer, the observer's panic.
    owned: ColdDrop<Owned>,
    /// `Some(threshold)` in debug mode.
    slow: Option<Duration>,
    /// When the task poll under way began (debug mode).
    pub(crate) poll_started: Cell<Option<Instant>>,
}

impl Instruments {
    pub(crate) fn new(observer: Option<Observer>, slow: Option<Duration>) -> Instruments {
        Instruments {
            counters: Counters::default(),
            hooked: observer.is_some() || slow.is_some(),
            owned: ColdDrop(ManuallyDrop::new(Owned {
                observer,
                ..Owned::default()
            })),
            slow,
            poll_started: Cell::new(None),
        }
    }

    /// Turns tracing on (the loop is being built).
    pub(crate) fn set_tracer(&mut self, tracer: TracerSlot) {
        self.owned.0.tracer = tracer;
        self.hooked = true;
    }

    /// Whether an observer, debug mode or tracing is on. Hot paths test this once
    /// and skip all of the rest when it is false.
    #[inline(always)]
    pub(crate) fn hooked(&self) -> bool {
        !cfg!(evloop_uninstrumented) && self.hooked
    }

    /// Tells the observer, if any; `event` is only built when there is one.
    #[inline(always)]
    pub(crate) fn event(&self, event: impl FnOnce() -> LoopEvent) {
        if self.hooked() {
            self.send(event());
        }
    }

    /// Hands the event to the tracer and the observer, whichever is set.
    /// Out of line: one copy, not one per place that sends an event.
    #[cold]
    #[inline(never)]
    fn send(&self, event: LoopEvent) {
        if let Some(tracer) = self.owned.0.tracer.get() {
            tracer.event(&event);
        }
        if let Some(observer) = self.owned.0.observer.as_deref() {
            self.tell(observer, event);
        }
    }

    /// Runs `hook` on the trace writer, if tracing: the tracer's own hooks,
    /// for what the observer's events do not say.
    #[inline(always)]
    pub(crate) fn trace(&self, hook: impl FnOnce(&Tracer)) {
        if self.hooked() {
            if let Some(tracer) = self.owned.0.tracer.get() {
                hook(tracer);
            }
        }
    }

    /// Whether spawns should record their caller's location (debug mode
    /// or tracing: the reports and the trace name it).
    #[inline(always)]
    pub(crate) fn spawn_sites(&self) -> bool {
        self.slow.is_some() || self.owned.0.tracer.get().is_some()
    }

    /// Calls the observer, catching its panic: events are sent from the
    /// middle of the loop's bookkeeping (between marking a task as polled
    /// and polling it, say), and an unwind there would leave that half
    /// done. The first panic of a tick is kept for the loop to report.
    #[cold]
    #[inline(never)]
    fn tell(&self, observer: &dyn Fn(&LoopEvent), event: LoopEvent) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| observer(&event))) {
            let first = self.owned.0.observer_panic.take().unwrap_or(payload);
            self.owned.0.observer_panic.set(Some(first));
        }
    }

    /// The observer's panic since the last call, if it panicked.
    pub(crate) fn take_observer_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.owned.0.observer_panic.take()
    }

    /// In debug mode, the instant a poll or callback started.
    pub(crate) fn start_timing(&self) -> Option<Instant> {
        self.slow.map(|_| Instant::now())
    }

    /// In debug mode, how long a poll or callback held the loop, if that was
    /// longer than the slow-callback threshold.
    pub(crate) fn slow_since(&self, started: Option<Instant>) -> Option<Duration> {
        let took = started?.elapsed();
        (took >= self.slow?).then_some(took)
    }

    pub(crate) fn run_started(&self) {
        self.counters.run_started.set(Some(Instant::now()));
    }

    pub(crate) fn run_ended(&self) {
        if let Some(start) = self.counters.run_started.take() {
            let c = &self.counters;
            c.running.set(c.running.get() + start.elapsed());
        }
    }

    pub(crate) fn add_blocked(&self, d: Duration) {
        let c = &self.counters;
        c.blocked.set(c.blocked.get() + d);
    }

    /// A snapshot; the loop supplies what only its containers know: `alive`
    /// (tasks spawned minus finished), `armed` (its wheel's length) and
    /// `cancelled` (timers disarmed, counted by `time::Timers`).
    pub(crate) fn snapshot(&self, alive: u64, armed: u64, cancelled: u64) -> Stats {
        let c = &self.counters;
        let in_run = c.run_started.get().map_or(Duration::ZERO, |s| s.elapsed());
        let total = c.running.get() + in_run;
        Stats {
            ticks: c.ticks.get(),
            polls: c.polls.get(),
            callbacks: c.callbacks.get(),
            local_wakes: c.local_wakes.get(),
            remote_wakes: c.remote_wakes.get(),
            tasks_spawned: c.tasks_spawned.get(),
            tasks_alive: alive,
            tasks_finished: c.tasks_finished.get(),
            timers_armed: armed,
            timers_fired: c.timers_fired.get(),
            timers_cancelled: cancelled,
            io_events: c.io_events.get(),
            io_polls: c.io_polls.get(),
            time_blocked: c.blocked.get(),
            time_running: total.saturating_sub(c.blocked.get()),
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ticks, {} polls, {} callbacks; wakes {} local / {} remote; tasks {} spawned, {} alive, {} finished; \
             timers {} armed, {} fired, {} cancelled; {} I/O events in {} polls; {:?} blocked, {:?} running",
            self.ticks,
            self.polls,
            self.callbacks,
            self.local_wakes,
            self.remote_wakes,
            self.tasks_spawned,
            self.tasks_alive,
            self.tasks_finished,
            self.timers_armed,
            self.timers_fired,
            self.timers_cancelled,
            self.io_events,
            self.io_polls,
            self.time_blocked,
            self.time_running
        )
    }
}
