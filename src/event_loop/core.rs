//! The loop's state and its tick: asyncio's `BaseEventLoop._run_once`.
//!
//! # One tick
//!
//! 1. **Timeout.** Zero if anything is ready (run queue, remote wakes, a
//!    pending stop), else until the next timer, else forever.
//! 2. **I/O.** Block in `mio::Poll` for that long and wake the I/O waiters.
//!    With no I/O source registered and a zero timeout the syscall is skipped:
//!    there is nothing it could report that `Remote::pending` does not. Except
//!    under `run_once`: there the poll also clears the epoll fd's readiness,
//!    which the host is waiting on.
//! 3. **Remote wakes.** Drain what other threads sent.
//! 4. **Timers.** Fire every timer due by now (a manual clock first jumps to
//!    the next deadline when nothing is ready).
//! 5. **Run.** Run the runnables that were queued when this step began, and
//!    no more: what they wake runs next tick, after the next I/O poll. (When
//!    that next tick's steps 1-4 could find nothing to do, its step 5 runs
//!    right away, in the same call: `next_tick_only_runs`.)
//!
//! A task job is polled by `run_task`, in `tasks.rs`, with the rest of the
//! loop's side of a task's life cycle (spawn, wake, finish).
//!
//! # Fields and who may touch them
//!
//! `Core` lives in an `Rc` on the loop's thread. Its fields are touched by
//! this file, `tasks.rs` and `shutdown.rs` (`impl Core` blocks of their
//! own). Every `RefCell` here is borrowed only inside `Core`'s own methods and released before any user
//! code runs (a poll, a callback, a waker, a destructor): futures and
//! payloads are moved out of the borrow first and dropped or called after.
//! That is what makes the borrows unable to fail.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::instrument::{bump, ColdDrop, Instruments, LoopEvent, Stats};
use super::remote::Remote;
use super::trace::Tracer;
use super::{default_exception_handler, ExceptionContext, ExceptionHandler};
use crate::reactor::{Driver, Reactor};
use crate::task::coop;
use crate::task::{Owner, Polling, TaskRef};
use crate::time::{CallbackCell, TimerEntry, Timers};

/// While jobs are ready, the reactor is polled (without blocking) once every
/// this many jobs run, and whenever the run queue is empty at a tick's start.
/// A tick that runs tasks passing values through channels or `sync`
/// primitives then costs no syscall; I/O readiness is noticed at most this
/// many jobs late. Tokio's current-thread runtime uses the same number
/// (`event_interval`).
pub(crate) const IO_INTERVAL: usize = 61;

/// One entry of the run queue.
pub(crate) enum Job {
    Task(TaskRef),
    Callback(Rc<CallbackCell>),
    Main,
}

pub(crate) struct Core {
    /// The loop as its tasks know it: its id and remote queue.
    pub(super) owner: Rc<Owner>,
    pub(crate) remote: Arc<Remote>,
    /// The clock and the timer wheel, shared with every armed `Sleep`.
    pub(crate) time: Rc<Timers>,
    /// The reactor and the loop state I/O sources check (running,
    /// closed), shared with every registration.
    pub(crate) io: Rc<Driver>,
    /// Ids for new tasks (1, 2, ...; 0 is the main future's).
    next_task_id: Cell<u64>,
    pub(super) run_queue: ColdDrop<RefCell<VecDeque<Job>>>,
    /// The task being polled right now.
    pub(super) polling: Polling,
    /// The task being polled woke itself (`yield_now`): `run_task` queues
    /// it once the poll returns.
    pub(super) self_woken: Cell<bool>,
    /// Scratch buffer for fired timers, kept to avoid an allocation per tick.
    fired: ColdDrop<RefCell<Vec<TimerEntry>>>,
    /// Scratch buffer for the wakers of ready I/O, likewise.
    io_woken: ColdDrop<RefCell<Vec<Waker>>>,
    pub(super) main_queued: Cell<bool>,
    /// Jobs run since the reactor was last polled (see [`IO_INTERVAL`]).
    jobs_since_io: Cell<usize>,
    /// The exception handler set with `Builder::exception_handler`;
    /// `None`: the default, which prints to stderr.
    pub(super) handler: ColdDrop<Option<ExceptionHandler>>,
    pub(super) stop_on_task_panic: bool,
    pub(crate) instruments: Instruments,
    /// A task panic to re-raise from `run_*` (with `stop_on_task_panic`).
    pub(super) fatal: ColdDrop<Cell<Option<Box<dyn Any + Send>>>>,
}

/// Hands an error to `handler`, or to the default one (stderr) if none was
/// set: [`Core::report`], and what a gone loop left its handles (`tasks.rs`).
pub(super) fn report_to(
    handler: Option<&ExceptionHandler>,
    message: &str,
    payload: Option<Box<dyn Any + Send>>,
    task: Option<u64>,
) {
    let ctx = ExceptionContext {
        message: message.to_owned(),
        payload,
        task_id: task,
    };
    match handler {
        Some(handler) => handler(ctx),
        None => default_exception_handler(ctx),
    }
}

impl Core {
    pub(crate) fn new(
        manual_clock: bool,
        handler: Option<ExceptionHandler>,
        stop_on_task_panic: bool,
        mut instruments: Instruments,
        trace: Option<&Path>,
    ) -> std::io::Result<Rc<Core>> {
        let (reactor, waker) = Reactor::new()?;
        let remote = Arc::new(Remote::new(waker));
        let owner = Owner::new(remote.clone());
        let io = Rc::new(Driver::new(reactor, owner.id()));
        let time = Rc::new(Timers::new(manual_clock));
        // The reactor goes into its `Rc` first and the tracer is made before
        // the `Core`: a failure here drops a few `Rc`s, not a `Reactor` or a
        // half-built `Core` (one copy of each one's drop glue fewer: issue
        // #15). `Rc::new` keeps a landing pad that drops the `Core` should
        // the allocation unwind; with its containers behind `ColdDrop`
        // that glue is a few calls, smaller than `new_cyclic`'s closure.
        // Nothing was spawned yet, so `close` would have had nothing to do.
        if let Some(path) = trace {
            instruments.set_tracer(Tracer::create(path, owner.id(), time.clock.clone())?);
        }
        let core = Rc::new(Core {
            io,
            owner,
            remote,
            time,
            next_task_id: Cell::new(1),
            run_queue: ColdDrop::default(),
            polling: Polling::new(),
            self_woken: Cell::new(false),
            fired: ColdDrop::default(),
            io_woken: ColdDrop::default(),
            main_queued: Cell::new(false),
            jobs_since_io: Cell::new(0),
            handler: ColdDrop::new(handler),
            stop_on_task_panic,
            instruments,
            fatal: ColdDrop::default(),
        });
        // A task handle reaches its loop through the owner, weakly.
        core.owner
            .set_host(Rc::downgrade(&core) as std::rc::Weak<dyn crate::task::TaskHost>);
        Ok(core)
    }

    pub(crate) fn id(&self) -> u64 {
        self.owner.id()
    }

    /// A fresh task id (ids start at 1; 0 is the main future's).
    pub(super) fn next_task_id(&self) -> u64 {
        let id = self.next_task_id.get();
        self.next_task_id.set(id + 1);
        id
    }

    pub(crate) fn is_running(&self) -> bool {
        self.io.is_running()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.io.is_closed()
    }

    // ----- tasks ---------------------------------------------------------

    /// Wakes a waker that may be foreign code (any executor's, a combinator's),
    /// reporting a panic instead of letting it unwind through the loop and
    /// lose the wakes that were to follow it.
    pub(super) fn wake_guarded(&self, waker: Waker) {
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| waker.wake())) {
            self.report("exception in a waker", Some(p), None);
        }
    }

    /// Runs `drop_it` (which drops user values: a future, an output, a
    /// closure), reporting a panicking destructor instead of letting it
    /// unwind through the loop. One value per call: two panicking
    /// destructors under one guard would panic during unwinding and abort
    /// the process.
    pub(super) fn drop_guarded(&self, what: &str, drop_it: impl FnOnce(), task: Option<u64>) {
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(drop_it)) {
            self.report(what, Some(p), task);
        }
    }

    // ----- callbacks -----------------------------------------------------

    /// `call_soon`: queues `cell` behind everything sent so far, from any
    /// thread. asyncio keeps `call_soon` and `call_soon_threadsafe` in one
    /// FIFO, so what other threads (or this one, through a
    /// `ThreadsafeHandle`) sent before this call is taken in first.
    pub(crate) fn call_soon(&self, cell: Rc<CallbackCell>) {
        self.take_remote();
        self.push_callback(cell);
    }

    /// Moves what other threads sent (wakes and callbacks) onto the run
    /// queue: step 3 of the tick, and the catch-up before a local push.
    pub(super) fn take_remote(&self) {
        if self.remote.pending() {
            self.remote.drain(
                |task| {
                    if let Some(task) = task.into_task(&self.owner) {
                        self.schedule_task(task, true);
                    }
                },
                || self.wake_main(true),
                |f| {
                    self.push_callback(Rc::new(CallbackCell {
                        f: Cell::new(Some(f)),
                        cancelled: Cell::new(false),
                    }))
                },
            );
        }
    }

    pub(crate) fn push_callback(&self, cell: Rc<CallbackCell>) {
        self.run_queue.borrow_mut().push_back(Job::Callback(cell));
    }

    fn run_callback(&self, cell: &CallbackCell) {
        if let Some(f) = cell.f.take() {
            bump(&self.instruments.counters.callbacks);
            let started = self.instruments.start_timing();
            self.instruments.trace(|t| t.callback_begin());
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(f)) {
                self.report("Exception in callback", Some(p), None);
            }
            self.instruments.trace(|t| t.callback_end());
            if let Some(took) = self.instruments.slow_since(started) {
                self.report_slow("a callback", took, None);
            }
        }
    }

    /// Debug mode's report of a poll or callback that held the loop too long
    /// (asyncio's "Executing <Task ...> took 0.150 seconds").
    pub(super) fn report_slow(&self, what: &str, took: Duration, task: Option<u64>) {
        let message = format!("Executing {what} took {:.3} seconds", took.as_secs_f64());
        self.report(&message, None, task);
    }

    /// Counters, plus the live numbers only the containers know.
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.instruments.counters;
        let alive = c.tasks_spawned.get() - c.tasks_finished.get();
        self.instruments
            .snapshot(alive, self.time.len() as u64, self.time.cancelled())
    }

    /// Hands an error to the loop's exception handler.
    pub(crate) fn report(&self, message: &str, payload: Option<Box<dyn Any + Send>>, task: Option<u64>) {
        report_to(self.handler.as_ref(), message, payload, task);
    }

    // ----- the tick ------------------------------------------------------

    /// How long the next tick may block: zero if anything is ready, until the
    /// next timer (zero on a manual clock, which jumps instead), or forever.
    #[inline]
    pub(crate) fn next_timeout(&self) -> Option<Duration> {
        let ready = !self.run_queue.borrow().is_empty() || self.remote.pending() || self.remote.stop_requested();
        if ready {
            return Some(Duration::ZERO);
        }
        let next = self.time.next_expiration()?;
        if self.time.clock.is_manual() {
            // A manual clock jumps instead of waiting, unless another thread is
            // still working on a result: then wait for it (for ever if need be;
            // its guard wakes us when the work ends).
            (!self.remote.work_in_flight()).then_some(Duration::ZERO)
        } else {
            Some(next.saturating_duration_since(self.time.clock.now()))
        }
    }

    /// One iteration of the loop. `main` polls `run_until_complete`'s future;
    /// `cap` bounds how long the I/O poll may block; `once` (`run_once`) asks
    /// for exactly one tick, so no run-only tick follows in the same call.
    pub(crate) fn tick(&self, main: &mut dyn FnMut() -> bool, cap: Option<Duration>, once: bool) {
        let counters = &self.instruments.counters;
        bump(&counters.ticks);
        self.instruments.event(|| LoopEvent::TickStart {
            n: counters.ticks.get(),
            ready: self.run_queue.borrow().len(),
        });

        // 1. How long may we block?
        let mut timeout = self.next_timeout();
        if let Some(cap) = cap {
            timeout = Some(timeout.map_or(cap, |t| t.min(cap)));
        }

        // 2. I/O.
        // A host driving the loop with `run_once` waits on our epoll fd, which
        // stays readable until `epoll_wait` harvests the remote waker's event:
        // poll on every `run_once` tick, or a level-triggered host would spin.
        // With jobs ready, a zero-timeout poll is made only every
        // `IO_INTERVAL` jobs or once the run queue has emptied, and never
        // when no source is registered (it could report nothing the remote
        // flag does not).
        if timeout != Some(Duration::ZERO) || cap.is_some() || self.io_poll_due() {
            self.poll_io(timeout);
        }

        // 3. Remote wakes and callbacks.
        self.take_remote();

        // 4. Timers.
        if !self.time.is_empty() {
            self.fire_timers();
        }

        // 5. Run what was ready when this step began, and no more: what these
        // jobs wake lands behind them, for the next tick. Popping one at a
        // time leaves the rest queued if a panic unwinds out of a job.
        let hooked = self.instruments.hooked();
        loop {
            let ready = self.run_queue.borrow().len();
            // Wrapping is harmless: it can only happen with no source
            // registered, when the count is never read.
            self.jobs_since_io.set(self.jobs_since_io.get().wrapping_add(ready));
            let main_finished = if hooked {
                self.run_ready::<true>(ready, main)
            } else {
                self.run_ready::<false>(ready, main)
            };
            if hooked || once || main_finished || !self.next_tick_only_runs() {
                break;
            }
            // Steps 1-4 of the next tick would find nothing to do: run its
            // step 5 now. It counts as a tick all the same. (Fast path, one
            // place: `ping_pong` in BENCHMARKS.md, where every hop is a tick.)
            bump(&counters.ticks);
        }
        // Between polls (callbacks, the host's code) nothing is budgeted.
        coop::unconstrain();
        self.instruments.event(|| LoopEvent::TickEnd {
            n: self.instruments.counters.ticks.get(),
        });
        if hooked {
            if let Some(payload) = self.instruments.take_observer_panic() {
                self.report("exception in the on_event observer", Some(payload), None);
            }
        }
        if self.stop_on_task_panic {
            if let Some(payload) = self.fatal.take() {
                panic::resume_unwind(payload);
            }
        }
    }

    /// Step 2: polls the reactor (blocking up to `timeout`) and wakes the
    /// I/O waiters. Out of line: it does not run on a tick that only runs
    /// jobs, and the tick stays small (issue #15).
    #[inline(never)]
    fn poll_io(&self, timeout: Option<Duration>) {
        let counters = &self.instruments.counters;
        self.jobs_since_io.set(0);
        bump(&counters.io_polls);
        let mut woken = mem::take(&mut *self.io_woken.borrow_mut());
        let blocking = timeout != Some(Duration::ZERO);
        let started = blocking.then(Instant::now);
        self.instruments.trace(|t| t.io_wait_begin(timeout));
        let events = self.io.reactor.borrow_mut().poll(timeout, &mut woken);
        self.instruments.trace(|t| t.io_wait_end(events));
        if let Some(started) = started {
            self.instruments.add_blocked(started.elapsed());
        }
        if events > 0 {
            let c = &counters.io_events;
            c.set(c.get() + events as u64);
            self.instruments.event(|| LoopEvent::IoReady { events });
        }
        // Woken after the reactor's borrow is released: a waker is foreign
        // code and may register or drop I/O sources. Each one guarded: a
        // panicking waker must not lose the edge-triggered wakes queued
        // behind it, which the kernel will not send again. Popped from
        // the back of the reversed list rather than drained: no `Drain`
        // and its drop guard in the tick (issue #15).
        woken.reverse();
        while let Some(waker) = woken.pop() {
            self.wake_guarded(waker);
        }
        *self.io_woken.borrow_mut() = woken;
    }

    /// Step 4: fires every timer due by now (a manual clock first jumps to
    /// the next deadline when nothing is ready). Inlined: it runs on every
    /// tick that has timers armed (`timers_fired` in BENCHMARKS.md).
    #[inline(always)]
    fn fire_timers(&self) {
        let counters = &self.instruments.counters;
        let clock = &self.time.clock;
        if clock.is_manual() && self.run_queue.borrow().is_empty() && !self.remote.work_in_flight() {
            if let Some(t) = self.time.next_expiration() {
                clock.advance_to(t);
            }
        }
        let now = clock.now_tick(clock.now());
        let mut fired = mem::take(&mut *self.fired.borrow_mut());
        self.time.poll(now, &mut fired);
        // In the order the wheel fired them (see the I/O wakers above).
        fired.reverse();
        while let Some(entry) = fired.pop() {
            bump(&counters.timers_fired);
            self.instruments.event(|| LoopEvent::TimerFired);
            match entry {
                TimerEntry::Wake(waker) => self.wake_guarded(waker),
                TimerEntry::Call(cell) => self.push_callback(cell),
            }
        }
        *self.fired.borrow_mut() = fired;
    }

    /// Whether step 2 must poll the reactor although jobs are ready (a zero
    /// timeout): every `IO_INTERVAL` jobs, or once the run queue has
    /// emptied, and only with a source registered (with none, the poll could
    /// report nothing the remote flag does not).
    #[inline]
    fn io_poll_due(&self) -> bool {
        (self.jobs_since_io.get() >= IO_INTERVAL || self.run_queue.borrow().is_empty())
            && self.io.reactor.borrow().has_sources()
    }

    /// Whether the next tick would only run jobs: some are queued (so it
    /// would not block), the I/O poll is not due, no timer is armed, no other
    /// thread sent anything or asked to stop, and the loop does not stop on
    /// a task's panic (which the tick re-raises at its end).
    #[inline]
    fn next_tick_only_runs(&self) -> bool {
        !self.stop_on_task_panic
            && !self.run_queue.borrow().is_empty()
            && !self.io_poll_due()
            && self.time.is_empty()
            && !self.remote.pending()
            && !self.remote.stop_requested()
    }

    /// Step 5: runs `ready` jobs off the front of the queue; returns whether
    /// the main future finished. Built twice, with and without hooks (see
    /// `run_task`).
    fn run_ready<const HOOKED: bool>(&self, ready: usize, main: &mut dyn FnMut() -> bool) -> bool {
        let mut main_finished = false;
        for _ in 0..ready {
            let Some(job) = self.run_queue.borrow_mut().pop_front() else {
                break;
            };
            match job {
                Job::Task(task) => self.run_task::<HOOKED>(task),
                Job::Callback(cell) => self.run_callback(&cell),
                Job::Main => {
                    self.main_queued.set(false);
                    bump(&self.instruments.counters.polls);
                    if HOOKED {
                        self.instruments.event(|| LoopEvent::PollStart { task: 0 });
                        self.instruments.poll_started.set(self.instruments.start_timing());
                    }
                    coop::refill();
                    let finished = main();
                    main_finished |= finished;
                    if HOOKED {
                        if let Some(took) = self.instruments.slow_since(self.instruments.poll_started.take()) {
                            self.report_slow("the main future", took, None);
                        }
                        self.instruments.event(|| LoopEvent::PollEnd { task: 0, finished });
                    }
                }
            }
        }
        main_finished
    }
}
