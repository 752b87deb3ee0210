//! The loop's side of a task's life cycle: spawn, wake, poll, finish,
//! release. The states and transitions are drawn in `task/header.rs`; the
//! task's memory and its own life cycle in `task/raw/mod.rs`, its waker in
//! `task/raw/waker.rs`; the loop's list of its tasks in `task/raw/list.rs`.
//! The tick that calls into this file is `core.rs`; shutting every task
//! down is `shutdown.rs`.
//!
//! # Ground rules
//!
//! - A task is on the run queue at most once: a wake pushes it only if its
//!   `queued` flag was clear, and a poll clears the flag first.
//! - A task that wakes itself while being polled (`yield_now`) is not queued
//!   then: `self_woken` is set, and `run_task` queues it after the poll.
//! - A finished task leaves the task list once nobody can ask for its
//!   result: the handle took it, or the handle was dropped (detached).
//! - A task's handle reaches the loop weakly, through the block's owner: it
//!   does not keep the loop alive. When the loop goes, it leaves the owner a
//!   `Bequest` holding its exception handler, so a handle dropped later with
//!   a panic nobody retrieved is still reported there.
//! - User code (a poll, a destructor, a waker) never runs while a container
//!   of the loop is borrowed; every user value is dropped under its own
//!   `catch_unwind` guard (`Core::drop_guarded`).
//!
//! # Fields and who may touch them
//!
//! The `Core` fields these methods use (`owner` and its task list,
//! `run_queue`, `polling`, `self_woken`, `main_queued`, `fatal`) are the
//! loop's; only
//! `core.rs`, this file and `shutdown.rs` touch them, on the loop's thread.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::task::Poll;

use super::core::{report_to, Core, Job};
use super::instrument::{bump, LoopEvent};
use super::trace;
use super::ExceptionHandler;
use crate::task::coop;
use crate::task::header::{Header, State};
use crate::task::{new_task, Stage, Task, TaskHost, TaskRef, Woken};

/// How reports name a task: its name, else `Task-<id>` as in asyncio.
#[inline(never)]
fn task_label(id: u64, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("Task-{id} ({name})"),
        None => format!("Task-{id}"),
    }
}

/// Where a task comes from, as reports add it after the task's name:
/// ` created at src/main.rs:9:29 (future `main::{{closure}}`)`. The place is
/// known in debug mode or while tracing (spawns record it then); the
/// future's type always.
#[inline(never)]
fn origin(header: &Header, future: &str) -> String {
    match header.spawned_at() {
        Some(at) => format!(" created at {at} (future `{future}`)"),
        None => format!(" (future `{future}`)"),
    }
}

/// A task's id and name, as `current_task` and `all_tasks` report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id ([`Task::id`]).
    pub id: u64,
    /// The task's name ([`Task::name`]).
    pub name: String,
}

impl TaskInfo {
    fn of(header: &Header) -> TaskInfo {
        TaskInfo {
            id: header.id(),
            name: header.display_name(),
        }
    }
}

impl Core {
    #[track_caller]
    pub(crate) fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_at(future, Location::caller())
    }

    /// `spawn`, called from `at` (what debug mode and traces show).
    pub(crate) fn spawn_at<F>(&self, future: F, at: &'static Location<'static>) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = self.next_task_id();
        if self.is_closed() {
            // Nothing runs on a closed loop: the handle reports `Cancelled`,
            // and the future is dropped here.
            drop(future);
            let cell = new_task::<F>(&self.owner, Header::new(id, State::Cancelled), Stage::Gone);
            return Task::new(cell);
        }
        let cell = new_task(&self.owner, Header::new(id, State::Pending), Stage::Running(future));
        self.owner.tasks().push(TaskRef::clone(&cell));
        let task = TaskRef::clone(&cell);
        if self.instruments.spawn_sites() {
            // asyncio's debug mode shows where a slow task was created; the
            // trace names the task's track with it.
            task.header.set_spawned_at(at);
        }
        // Behind what other threads sent before, as asyncio's one FIFO
        // (its `create_task` is a `call_soon`).
        self.take_remote();
        self.run_queue.borrow_mut().push_back(Job::Task(task));
        bump(&self.instruments.counters.tasks_spawned);
        self.instruments.event(|| LoopEvent::Spawn { task: id });
        Task::new(cell)
    }

    /// The main future was woken: queues it, once.
    pub(crate) fn wake_main(&self, remote: bool) {
        self.count_wake(0, remote);
        if !self.main_queued.replace(true) {
            self.run_queue.borrow_mut().push_back(Job::Main);
        }
    }

    /// Puts a woken task on the run queue, once.
    pub(super) fn schedule_task(&self, task: TaskRef, remote: bool) {
        self.count_wake(task.header.id(), remote);
        if self.polling.is(&task) {
            // The task woke itself while being polled (`yield_now`):
            // `run_task` queues it once the poll returns.
            self.self_woken.set(true);
            return;
        }
        // A finished task's wake is moot.
        if !task.header.is_finished() {
            self.enqueue(task);
        }
    }

    /// Pushes `task` on the run queue unless it is there already.
    #[inline]
    fn enqueue(&self, task: TaskRef) {
        if !task.header.queued.replace(true) {
            self.run_queue.borrow_mut().push_back(Job::Task(task));
        }
    }

    #[inline]
    fn count_wake(&self, task: u64, remote: bool) {
        let counters = &self.instruments.counters;
        bump(if remote {
            &counters.remote_wakes
        } else {
            &counters.local_wakes
        });
        self.instruments.event(|| LoopEvent::Wake { task, remote });
    }

    pub(crate) fn cancel_task(&self, task: &TaskRef) -> bool {
        if task.header.is_finished() {
            return false;
        }
        task.header.cancel_requested.set(true);
        self.enqueue(task.clone());
        true
    }

    /// Polls one task. See `task/header.rs` for the states this moves between.
    /// `HOOKED` (observer set or debug mode) is a type parameter so that the
    /// plain build of this function carries no hook code at all: the tick
    /// picks the version once per step.
    pub(super) fn run_task<const HOOKED: bool>(&self, task: TaskRef) {
        let header = &task.header;
        if header.is_finished() {
            return;
        }
        header.queued.set(false);
        if header.cancel_requested.get() {
            self.end_cancelled(&task);
            return;
        }
        bump(&self.instruments.counters.polls);
        if HOOKED {
            self.before_poll(&task);
        }
        let result = self.polling.run(&task, || {
            coop::refill();
            panic::catch_unwind(AssertUnwindSafe(|| task.poll()))
        });
        let self_woken = self.self_woken.replace(false);
        if HOOKED {
            self.after_poll(&task, !matches!(result, Ok(Poll::Pending)));
        }
        match result {
            Ok(Poll::Pending) => {
                // `queued` may already be set if the task was cancelled
                // during its own poll.
                if self_woken {
                    self.enqueue(task);
                }
            }
            // Cancelled during its own last poll (by itself, say) and then
            // returned without awaiting again: asyncio ends such a task
            // cancelled, and so do we. Its output is dropped.
            Ok(Poll::Ready(())) if header.cancel_requested.get() => self.end_cancelled(&task),
            Ok(Poll::Ready(())) => self.finish(&task, State::Done),
            Err(payload) => self.task_panicked(&task, payload),
        }
    }

    /// A task's poll panicked: it ends `Panicked`. Out of line and cold:
    /// `run_task` is built twice into the tick (issue #15).
    #[cold]
    #[inline(never)]
    fn task_panicked(&self, task: &TaskRef, payload: Box<dyn Any + Send>) {
        let payload = if self.stop_on_task_panic {
            self.fatal.set(Some(payload));
            Box::new("re-raised out of the loop (stop_on_task_panic)") as Box<dyn Any + Send>
        } else {
            payload
        };
        task.header.set_panic(payload);
        // A future that panicked is not polled again; dropping it may
        // panic too, which must not take the loop down.
        self.drop_guarded(
            "exception while dropping a panicked task",
            || task.discard(),
            Some(task.header.id()),
        );
        self.finish(task, State::Panicked);
    }

    /// Carries out a cancellation: drops the task's future (or the output a
    /// cancelled last poll produced) and ends it `Cancelled`.
    fn end_cancelled(&self, task: &TaskRef) {
        let id = task.header.id();
        self.instruments.event(|| LoopEvent::Cancelled { task: id });
        self.drop_guarded("exception while dropping a cancelled task", || task.discard(), Some(id));
        self.finish(task, State::Cancelled);
    }

    /// The observer's `PollStart` and debug mode's timer, then its slow-poll
    /// report and `PollEnd`: kept out of line, with the start time in a cell
    /// rather than on `run_task`'s stack, so the hot path carries one bool.
    #[cold]
    #[inline(never)]
    fn before_poll(&self, task: &TaskRef) {
        let id = task.header.id();
        self.instruments.trace(|tracer| {
            tracer.name_task(id, trace::TaskLabel::of(&task.header, task.type_name()));
        });
        self.instruments.event(|| LoopEvent::PollStart { task: id });
        self.instruments.poll_started.set(self.instruments.start_timing());
    }

    #[cold]
    #[inline(never)]
    fn after_poll(&self, task: &TaskRef, finished: bool) {
        let id = task.header.id();
        if let Some(took) = self.instruments.slow_since(self.instruments.poll_started.take()) {
            let mut label = task_label(id, task.header.name().as_deref());
            label.push_str(&origin(&task.header, task.type_name()));
            self.report_slow(&label, took, Some(id));
        }
        self.instruments.event(|| LoopEvent::PollEnd { task: id, finished });
    }

    /// Records how a task ended and wakes whoever awaits it. A detached
    /// task's result is discarded and its slot freed at once; otherwise the
    /// slot stays until the handle takes the result or is dropped.
    #[inline]
    fn finish(&self, task: &TaskRef, state: State) {
        let header = &task.header;
        header.state.set(state);
        bump(&self.instruments.counters.tasks_finished);
        if header.detached.get() {
            self.discard_result(task);
        }
        if let Some(w) = header.join_waker.take() {
            self.wake_guarded(w);
        }
    }

    /// Nobody will take a finished task's result (it finished detached, or
    /// its handle was dropped): [`discard_unclaimed`], reporting to this
    /// loop. Out of line, so that `finish` stays small enough to inline into
    /// both builds of `run_task` (issue #15: `spawn_join`).
    #[cold]
    #[inline(never)]
    fn discard_result(&self, task: &TaskRef) {
        discard_unclaimed(task, &|message, payload| {
            self.report(message, Some(payload), Some(task.header.id()))
        });
    }

    /// Id and name of the task being polled right now.
    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        self.polling.current().map(|task| TaskInfo::of(&task.header))
    }

    /// Id and name of every task that has not finished, in spawn order.
    pub(crate) fn all_tasks(&self) -> Vec<TaskInfo> {
        (self.owner.tasks().to_vec().iter())
            .filter(|task| !task.header.is_finished())
            .map(|task| TaskInfo::of(&task.header))
            .collect()
    }
}

/// Drops a finished task's result that nobody will take and takes the task
/// off its loop's list, handing `report` what went wrong: a panic nobody
/// retrieved (asyncio's "Task exception was never retrieved"), or one in
/// the output's destructor.
fn discard_unclaimed(task: &TaskRef, report: &dyn Fn(&str, Box<dyn Any + Send>)) {
    let header = &task.header;
    if let Some(payload) = header.take_panic() {
        let msg = format!(
            "Task exception was never retrieved ({}){}",
            header.display_name(),
            origin(header, task.type_name())
        );
        report(&msg, payload);
    }
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| task.discard())) {
        report("exception while dropping a task's output", payload);
    }
    task.leave_list();
}

/// What a loop leaves the handles of its tasks when it goes (`Drop for
/// Core`), since a handle reaches its loop weakly: closing has finished
/// every task by then, so all that is left is a result dropped unclaimed,
/// reported through the loop's exception handler as the loop would have.
struct Bequest {
    id: u64,
    /// `None`: the default handler.
    handler: Option<ExceptionHandler>,
}

impl TaskHost for Bequest {
    fn loop_id(&self) -> u64 {
        self.id
    }

    fn wake_local(&self, _: &Woken<'_>) -> bool {
        false
    }

    fn cancel(&self, _: &TaskRef) -> bool {
        false
    }

    fn discard_result(&self, task: &TaskRef) {
        let id = Some(task.header.id());
        discard_unclaimed(task, &|message, payload| {
            report_to(self.handler.as_ref(), message, Some(payload), id)
        });
    }
}

impl Core {
    /// Hands the exception handler to the handles still out, as the loop
    /// goes (its `Drop`, after `close`).
    pub(super) fn bequeath(&mut self) {
        // Blocks still hold the owner: their handles may still drop results.
        if Rc::strong_count(&self.owner) > 1 {
            let handler = self.handler.take_inner();
            let id = self.id();
            self.owner.bequeath(Rc::new(Bequest { id, handler }));
        }
    }
}

/// The loop as its tasks' handles and wakers see it (`task/mod.rs`).
impl TaskHost for Core {
    fn loop_id(&self) -> u64 {
        self.id()
    }

    #[inline]
    fn wake_local(&self, woken: &Woken<'_>) -> bool {
        if !woken.belongs_to(&self.owner) {
            return false;
        }
        // `None`: the task is over and released; the wake is moot.
        if let Some(task) = woken.upgrade(&self.owner) {
            self.schedule_task(task, false);
        }
        true
    }

    fn cancel(&self, task: &TaskRef) -> bool {
        self.cancel_task(task)
    }

    fn discard_result(&self, task: &TaskRef) {
        Core::discard_result(self, task);
    }
}
