//! `TaskGroup`: asyncio 3.11's structured concurrency.
//!
//! A group is a scope: [`TaskGroup::run`] runs a body that spawns children
//! into the group, and returns once the body *and* every child have
//! finished, as `async with asyncio.TaskGroup() as tg:` does.
//!
//! ```text
//!   run(body) ──► body running ──(body returns Ok)──► waiting for children ──► Ok(value)
//!                     │  ▲                                   │
//!   a child fails, or │  │ children spawn                    │ a child fails
//!   the body returns  │  │ siblings                          ▼
//!   Err               ▼  │                      aborting: every child cancelled
//!               aborting: body dropped, ───────────────────► waiting ──► Err(TaskGroupError)
//!               every child cancelled
//! ```
//!
//! # Ground rules
//!
//! - **Every child is a real task on the loop**, polled by the loop with
//!   its own cooperative budget (`task/coop.rs`); the group never polls a
//!   child itself, so a spinning child cannot starve its siblings, timers
//!   or sockets.
//! - **A child fails** when it panics, or (for [`TaskGroup::spawn_try`])
//!   returns `Err`. A child that is cancelled has not failed (asyncio: a
//!   cancelled child is not an error of the group).
//! - **The first failure aborts the group at once**: every child still
//!   running is cancelled, and the body (inside [`TaskGroup::run`]) is
//!   dropped at its next poll, which the abort wakes. As in asyncio (whose
//!   done-callback goes through `call_soon`), the abort runs as a
//!   `call_soon` callback: the tasks already queued in the failing tick
//!   still take their step, and may fail too; no time passes. A body that
//!   returns `Err` aborts the group at once. Every failure is recorded,
//!   also those that happen while the group aborts.
//! - **The group takes what failed**: each failing child's `Err` value or
//!   panic payload goes into the group's [`TaskGroupError`], with the
//!   child's task id and name, in the order of the failures. The child
//!   then ends as cancelled (its error has gone to the group), so the loop
//!   never reports it as "Task exception was never retrieved".
//! - **The scope ends when its work ends**: `run` and [`join`] return as
//!   soon as the last child is gone, and then the group is *finished*:
//!   spawning into it panics. While it aborts, a spawn is cancelled
//!   before its first poll.
//! - **Memory follows the work, not the history**: the group holds one
//!   slot (a cancel handle) per *running* child, freed when the child's
//!   future is dropped, and one entry per failure; a group that has run a
//!   million children that all finished holds nothing for them.
//! - **Handles**: [`TaskGroup`] is `Clone`; every clone spawns into the same
//!   group (a crawler's child adds the links it finds). One handle is the
//!   *owner*: the one `run` keeps, or the one [`TaskGroup::new`] returned.
//!   Dropping the owner before the scope ended (the caller was cancelled)
//!   cancels every child; only the owner may [`join`].
//!
//! # Fields and who may touch them
//!
//! - `children`: a slab of cancel handles; a slot is inserted by `spawn_*`
//!   and removed by the child's `Member` guard when its future is dropped
//!   (however it ends). Empty slab = no child running.
//! - `failures`, `body_error`: pushed by failing children and by `run`;
//!   taken once by `join`.
//! - `abort_scheduled`: set once, by the first failure, which queues the
//!   abort. `aborting`: set once, by that abort, a body error, or the
//!   owner's drop. `finished`: set once, by `join`.
//! - `waker`: the task waiting in `run`/`join`; woken by an abort and when
//!   the last child goes.
//!
//! # Differences from asyncio
//!
//! - A failing child's own handle reports [`TaskError::Cancelled`](crate::TaskError)
//!   (the error itself is in the group's error); asyncio's failed task
//!   re-raises its exception when awaited.
//! - Spawning into an aborting group cancels the new child before it runs
//!   (asyncio raises `RuntimeError`), so a child that spawns while the
//!   group shuts down needs no error path.
//! - The body is cancelled by being dropped; it cannot catch the
//!   cancellation and go on (asyncio's body may catch `CancelledError`).
//! - A panic in the body itself is not caught: it unwinds through `run`,
//!   whose owner handle cancels the children on the way.
//! - When the task awaiting `run` is cancelled (its future dropped), the
//!   children are cancelled but not waited for: a destructor cannot wait.
//!   asyncio's `__aexit__` waits for them before the cancellation goes on.
//!
//! [`join`]: TaskGroup::join

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use slab::Slab;

use crate::task::{CancelHandle, PanicPayload, Task};

/// What went wrong in a [`TaskGroup`]: asyncio's `ExceptionGroup`.
///
/// It holds the body's own error (if the body returned `Err`) and every
/// child that failed, in the order they failed.
///
/// ```
/// use evloop::TaskGroup;
///
/// let err = evloop::run(TaskGroup::run(|tg| async move {
///     let _a = tg.spawn_try(async { Err::<(), _>("a failed") });
///     let _b = tg.spawn_try(async { Err::<(), _>("b failed") });
///     Ok(())
/// }))
/// .unwrap_err();
/// assert_eq!(err.to_string(), "unhandled errors in a TaskGroup (2 sub-exceptions)");
/// let errors: Vec<&str> = err.errors().copied().collect();
/// assert_eq!(errors, ["a failed", "b failed"]);
/// ```
#[non_exhaustive]
pub struct TaskGroupError<E> {
    /// The body's own `Err`, if it returned one.
    pub body: Option<E>,
    /// Every child that failed, in the order of the failures.
    pub children: Vec<ChildFailure<E>>,
}

impl<E> TaskGroupError<E> {
    /// How many errors there are (asyncio: the sub-exceptions).
    pub fn len(&self) -> usize {
        usize::from(self.body.is_some()) + self.children.len()
    }

    /// Always `false`: a group error holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `Err` value: the body's first, then the children's.
    pub fn errors(&self) -> impl Iterator<Item = &E> {
        self.body
            .iter()
            .chain(self.children.iter().filter_map(ChildFailure::error))
    }

    /// Every panic of a child.
    pub fn panics(&self) -> impl Iterator<Item = &PanicPayload> {
        self.children.iter().filter_map(ChildFailure::panic)
    }
}

impl<E: fmt::Debug> fmt::Debug for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupError")
            .field("body", &self.body)
            .field("children", &self.children)
            .finish()
    }
}

/// `"unhandled errors in a TaskGroup (N sub-exceptions)"`, asyncio's text;
/// with `{:#}`, one line per error below it (each `Err` value with `{:?}`,
/// as Python shows each sub-exception's `repr`).
impl<E: fmt::Debug> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "unhandled errors in a TaskGroup ({n} sub-exception{s})")?;
        if f.alternate() {
            if let Some(e) = &self.body {
                write!(f, "\n  the body returned an error: {e:?}")?;
            }
            for child in &self.children {
                write!(f, "\n  {child}")?;
            }
        }
        Ok(())
    }
}

impl<E: fmt::Debug> std::error::Error for TaskGroupError<E> {}

impl<E: PartialEq> PartialEq for TaskGroupError<E> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body && self.children == other.children
    }
}

/// One failed child of a [`TaskGroup`]: which task, and how it failed.
#[non_exhaustive]
pub struct ChildFailure<E> {
    /// The child's task id ([`Task::id`]).
    pub task_id: u64,
    /// The child's name ([`Task::name`]) when it failed.
    pub name: String,
    /// How it failed.
    pub failure: Failure<E>,
}

impl<E> ChildFailure<E> {
    /// The `Err` the child returned, if that is how it failed.
    pub fn error(&self) -> Option<&E> {
        match &self.failure {
            Failure::Err(e) => Some(e),
            Failure::Panicked(_) => None,
        }
    }

    /// The child's panic, if that is how it failed.
    pub fn panic(&self) -> Option<&PanicPayload> {
        match &self.failure {
            Failure::Panicked(p) => Some(p),
            Failure::Err(_) => None,
        }
    }

    /// Whether the child panicked.
    pub fn panicked(&self) -> bool {
        self.panic().is_some()
    }
}

impl<E: fmt::Debug> fmt::Debug for ChildFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildFailure")
            .field("task_id", &self.task_id)
            .field("name", &self.name)
            .field("failure", &self.failure)
            .finish()
    }
}

/// `"<name> (task <id>) returned an error: <{:?} of the error>"`, or
/// `"... panicked: <message>"`.
impl<E: fmt::Debug> fmt::Display for ChildFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::Err(e) => write!(f, "{} (task {}) returned an error: {e:?}", self.name, self.task_id),
            Failure::Panicked(p) => match p.message() {
                Some(msg) => write!(f, "{} (task {}) panicked: {msg}", self.name, self.task_id),
                None => write!(f, "{} (task {}) panicked", self.name, self.task_id),
            },
        }
    }
}

impl<E: PartialEq> PartialEq for ChildFailure<E> {
    fn eq(&self, other: &Self) -> bool {
        self.task_id == other.task_id && self.name == other.name && self.failure == other.failure
    }
}

/// How a child of a [`TaskGroup`] failed.
#[non_exhaustive]
pub enum Failure<E> {
    /// It returned this `Err` (children spawned with [`TaskGroup::spawn_try`]).
    Err(E),
    /// It panicked.
    Panicked(PanicPayload),
}

impl<E: fmt::Debug> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Err(e) => f.debug_tuple("Err").field(e).finish(),
            Failure::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
        }
    }
}

/// Two panics are equal when their messages are.
impl<E: PartialEq> PartialEq for Failure<E> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Failure::Err(a), Failure::Err(b)) => a == b,
            (Failure::Panicked(a), Failure::Panicked(b)) => a.message() == b.message(),
            _ => false,
        }
    }
}

struct GroupState<E> {
    /// One cancel handle per running child (`None` only while `spawn_*`
    /// fills the slot in).
    children: RefCell<Slab<Option<CancelHandle>>>,
    failures: RefCell<Vec<ChildFailure<E>>>,
    body_error: RefCell<Option<E>>,
    aborting: Cell<bool>,
    /// A failure has scheduled the abort for the next tick.
    abort_scheduled: Cell<bool>,
    finished: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl<E> GroupState<E> {
    fn wake(&self) {
        crate::task::wake_slot(&self.waker);
    }

    /// Cancels every running child and wakes the scope (so `run` drops
    /// the body). Cancelling only schedules the drop for the next tick, so
    /// no child's `Member` runs while `children` is borrowed here.
    fn abort(&self) {
        if self.aborting.replace(true) {
            return;
        }
        for (_, child) in self.children.borrow().iter() {
            if let Some(handle) = child {
                handle.cancel();
            }
        }
        self.wake();
    }

    fn poll_children_gone(&self, waker: &Waker) -> Poll<()> {
        if self.children.borrow().is_empty() {
            Poll::Ready(())
        } else {
            let old = crate::task::register_waker(&mut self.waker.borrow_mut(), waker);
            drop(old);
            Poll::Pending
        }
    }
}

impl<E: 'static> GroupState<E> {
    /// Records a child's failure, and schedules the abort with `call_soon`,
    /// as asyncio's done-callback does: the tasks already queued in this
    /// tick still run their step (and may fail too), then the abort
    /// cancels the body and every child. All within the same instant.
    fn fail(this: &Rc<Self>, failure: Failure<E>) {
        let (task_id, name) = match crate::current_task() {
            Some(info) => (info.id, info.name),
            None => (0, String::from("<unknown task>")),
        };
        this.failures.borrow_mut().push(ChildFailure { task_id, name, failure });
        if !this.aborting.get() && !this.abort_scheduled.replace(true) {
            let group = this.clone();
            let _ = crate::get_running_loop().call_soon(move || group.abort());
        }
    }
}

/// Frees a child's slot when its future is dropped, however it ends.
struct Member<E> {
    group: Rc<GroupState<E>>,
    key: usize,
}

impl<E> Drop for Member<E> {
    fn drop(&mut self) {
        let empty = {
            let mut children = self.group.children.borrow_mut();
            children.remove(self.key);
            children.is_empty()
        };
        if empty {
            self.group.wake();
        }
    }
}

/// A group of tasks that live and fail together: asyncio's `TaskGroup`.
///
/// [`TaskGroup::run`] is `async with asyncio.TaskGroup() as tg:`. `E` is
/// the error type of the children spawned with
/// [`spawn_try`](TaskGroup::spawn_try) and of the body; `Infallible` (the
/// default) when only panics can fail.
///
/// - A child fails when it panics or (spawned with `spawn_try`) returns
///   `Err`; a cancelled child has not failed.
/// - The first failure (or an `Err` from the body) cancels the body and
///   every sibling at once; the group's error lists every failure with the
///   child's id and name, and the group takes them, so nothing is also
///   reported as "Task exception was never retrieved".
/// - The group is `Clone`: children spawn siblings into it. It ends when its
///   last child does; spawning into an ended group panics, into an aborting
///   one cancels the child before it runs.
/// - It holds memory only for running children and failures.
/// - Unlike asyncio, a failed child's own handle reports `Cancelled`, and a
///   body is cancelled by being dropped (it cannot catch the cancellation).
///
/// ```
/// use std::time::Duration;
/// use evloop::{sleep, TaskGroup};
///
/// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
/// let err = lp.run_until_complete(TaskGroup::run(|tg| async move {
///     let slow = tg.spawn(async { sleep(Duration::from_secs(60)).await; "never" });
///     let _fails = tg.spawn_try(async {
///         sleep(Duration::from_secs(1)).await;
///         Err::<(), _>("no such user")
///     });
///     sleep(Duration::from_secs(10)).await; // cancelled after 1 s, with `slow`
///     Ok(slow.await)
/// }))?
/// .unwrap_err();
/// assert_eq!(err.children[0].error(), Some(&"no such user"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the group's owner cancels its children; join() it, or use TaskGroup::run"]
pub struct TaskGroup<E = Infallible> {
    state: Rc<GroupState<E>>,
    /// The handle that `run` keeps or `new` returned; see the module docs.
    owner: bool,
}

impl TaskGroup {
    /// An empty group whose children fail only by panicking; this handle is
    /// its owner, to [`join`](TaskGroup::join) at the end ("leaving the
    /// `async with` block"). [`TaskGroup::run`] is the scoped form; use
    /// `TaskGroup::<E>::default()` for a group of `spawn_try` children.
    ///
    /// ```
    /// evloop::run(async {
    ///     let group = evloop::TaskGroup::new();
    ///     let child = group.spawn(async { 21 * 2 });
    ///     group.join().await.unwrap();
    ///     assert_eq!(child.await.unwrap(), 42);
    /// });
    /// ```
    pub fn new() -> TaskGroup {
        TaskGroup::default()
    }
}

impl<E> Default for TaskGroup<E> {
    /// An empty group; this handle is its owner (see [`TaskGroup::new`]).
    fn default() -> Self {
        TaskGroup {
            state: Rc::new(GroupState {
                children: RefCell::new(Slab::new()),
                failures: RefCell::new(Vec::new()),
                body_error: RefCell::new(None),
                aborting: Cell::new(false),
                abort_scheduled: Cell::new(false),
                finished: Cell::new(false),
                waker: RefCell::new(None),
            }),
            owner: true,
        }
    }
}

impl<E> Clone for TaskGroup<E> {
    /// Another handle on the same group (not its owner): it can spawn, for
    /// instance from inside a child.
    fn clone(&self) -> Self {
        TaskGroup {
            state: self.state.clone(),
            owner: false,
        }
    }
}

impl<E: 'static> TaskGroup<E> {
    /// Runs `body` with a handle on a new group, then waits for every child:
    /// asyncio's `async with asyncio.TaskGroup() as tg: ...`.
    ///
    /// Returns the body's value once the body and all children have
    /// finished without failure. When a child fails or the body returns
    /// `Err`, the body is dropped (cancelled) at once, every child is
    /// cancelled, and once all are gone `run` returns a [`TaskGroupError`]
    /// with every error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{sleep, TaskGroup};
    ///
    /// let sum = evloop::run(TaskGroup::run(|tg| async move {
    ///     let a = tg.spawn(async { sleep(Duration::from_millis(2)).await; 1 });
    ///     let b = tg.spawn(async { sleep(Duration::from_millis(1)).await; 2 });
    ///     Ok::<_, std::convert::Infallible>(a.await.unwrap() + b.await.unwrap())
    /// }));
    /// assert_eq!(sum.unwrap(), 3);
    /// ```
    pub async fn run<R, F, Fut>(body: F) -> Result<R, TaskGroupError<E>>
    where
        F: FnOnce(TaskGroup<E>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let owner = TaskGroup::<E>::default();
        let state = owner.state.clone();
        // Boxed so that it can be dropped the moment the group aborts.
        let mut body = Some(Box::pin(body(owner.clone())));
        let value = poll_fn(|cx| {
            // A failure cancels the body before it runs any further.
            if state.aborting.get() {
                return Poll::Ready(None);
            }
            let old = crate::task::register_waker(&mut state.waker.borrow_mut(), cx.waker());
            drop(old); // outside the borrow
            let Some(running) = body.as_mut() else {
                return Poll::Ready(None);
            };
            match running.as_mut().poll(cx) {
                Poll::Ready(Ok(value)) => Poll::Ready(Some(value)),
                Poll::Ready(Err(e)) => {
                    *state.body_error.borrow_mut() = Some(e);
                    state.abort();
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        drop(body);
        owner.join().await?;
        Ok(value.expect("evloop: a TaskGroup that aborted always has an error to report"))
    }

    /// Spawns `future` into the group: asyncio's `tg.create_task(coro)`.
    /// Any output type; the child fails the group only by panicking (use
    /// [`spawn_try`](TaskGroup::spawn_try) when an `Err` is a failure too).
    ///
    /// The returned [`Task`] gives the child's value. Dropping it does not
    /// take the child out of the group (the group still waits for it and
    /// cancels it on a failure); `Task`'s `#[must_use]` asks for a binding,
    /// so write `let _child = tg.spawn(..)` or `drop(tg.spawn(..))` when
    /// the value is not wanted. If the group is aborting, the child is
    /// cancelled before its first poll.
    ///
    /// # Panics
    ///
    /// When the group has finished (its `run` or `join` returned): there
    /// is no scope left to watch the child. Also outside a running loop.
    ///
    /// ```
    /// use evloop::TaskGroup;
    ///
    /// let map = evloop::run(TaskGroup::run(|tg| async move {
    ///     let t = tg.spawn(async { std::collections::HashMap::from([("a", 1)]) });
    ///     Ok::<_, std::convert::Infallible>(t.await.unwrap())
    /// }));
    /// assert_eq!(map.unwrap()["a"], 1);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_inner(async move { Ok::<_, E>(future.await) })
    }

    /// asyncio's name for [`spawn`](TaskGroup::spawn).
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn(future)
    }

    /// Spawns a fallible child: an `Err` fails the group as a panic does,
    /// and the error goes into the group's [`TaskGroupError`]. The returned
    /// [`Task`] gives the `Ok` value; a child that failed reports
    /// cancelled (the group has its error).
    ///
    /// # Panics
    ///
    /// As [`spawn`](TaskGroup::spawn).
    ///
    /// ```
    /// use evloop::TaskGroup;
    ///
    /// let err = evloop::run(TaskGroup::run(|tg| async move {
    ///     let _parse = tg.spawn_try(async { "x".parse::<u32>() });
    ///     Ok(())
    /// }))
    /// .unwrap_err();
    /// assert_eq!(err.children[0].error().unwrap().to_string(), "invalid digit found in string");
    /// ```
    #[track_caller]
    pub fn spawn_try<F, T>(&self, future: F) -> Task<T>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
    {
        self.spawn_inner(future)
    }

    #[track_caller]
    fn spawn_inner<F, T>(&self, future: F) -> Task<T>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
    {
        let group = &self.state;
        if group.finished.get() {
            panic!(
                "evloop: spawn into a TaskGroup that has finished (its run() or join() returned), so no \
                 scope is left to watch the new task; spawn while the group runs (from its body or a \
                 child), or start a new TaskGroup"
            );
        }
        let key = group.children.borrow_mut().insert(None);
        let member = Member {
            group: group.clone(),
            key,
        };
        let task = crate::create_task(async move {
            let member = member;
            let mut future = pin!(future);
            // Catch the child's panic here, so that the group, not the
            // loop's exception handler, gets it.
            let outcome = poll_fn(|cx| crate::task::poll_catching(future.as_mut(), cx)).await;
            let failure = match outcome {
                Ok(Ok(value)) => return value,
                Ok(Err(e)) => Failure::Err(e),
                Err(panic) => Failure::Panicked(panic),
            };
            // The abort this schedules cancels every child, this one
            // included: its future is dropped and the task ends cancelled,
            // its error handed to the group.
            GroupState::fail(&member.group, failure);
            if member.group.aborting.get() {
                // The abort has run already (this failure came late): it
                // will not cancel us again, so do it here.
                if let Some(Some(me)) = member.group.children.borrow().get(member.key) {
                    me.cancel();
                }
            }
            std::future::pending().await
        });
        group.children.borrow_mut()[key] = Some(CancelHandle::new(&task));
        if group.aborting.get() {
            task.cancel();
        }
        task
    }

    /// Waits for every child to finish, then reports every failure:
    /// "leaving the `async with` block" for a group made with
    /// [`TaskGroup::new`]. The group is finished afterwards.
    ///
    /// Unlike [`run`](TaskGroup::run), the code between `new` and `join`
    /// is not cancelled by a failure; it learns of it here.
    ///
    /// # Panics
    ///
    /// On a handle that is not the group's owner (a clone, or the handle
    /// `run` gives its body): the scope joins itself.
    ///
    /// ```
    /// use evloop::TaskGroup;
    ///
    /// let err = evloop::run(async {
    ///     let group = TaskGroup::new();
    ///     let _child = group.spawn(async { panic!("child blew up") });
    ///     group.join().await.unwrap_err()
    /// });
    /// assert_eq!(err.children[0].panic().unwrap().message(), Some("child blew up"));
    /// ```
    #[track_caller]
    pub fn join(self) -> impl Future<Output = Result<(), TaskGroupError<E>>> {
        assert!(
            self.owner,
            "evloop: TaskGroup::join called on a handle that is not the group's owner (a clone, or the \
             handle TaskGroup::run gives its body); the scope joins itself, so await run() or join the \
             handle TaskGroup::new returned"
        );
        async move {
            let mut this = self;
            poll_fn(|cx| this.state.poll_children_gone(cx.waker())).await;
            this.owner = false; // nothing left to cancel on drop
            let group = &this.state;
            group.finished.set(true);
            let body = group.body_error.borrow_mut().take();
            let children = std::mem::take(&mut *group.failures.borrow_mut());
            if body.is_none() && children.is_empty() {
                Ok(())
            } else {
                Err(TaskGroupError { body, children })
            }
        }
    }

    /// How many children are running (spawned and not yet gone).
    pub fn len(&self) -> usize {
        self.state.children.borrow().len()
    }

    /// Whether no child is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<E> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        // The owner dropped before the scope ended: the caller was
        // cancelled (or never joined), so the children go too.
        if self.owner {
            self.state.abort();
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("running", &self.state.children.borrow().len())
            .field("failures", &self.state.failures.borrow().len())
            .field("aborting", &self.state.aborting.get())
            .field("finished", &self.state.finished.get())
            .finish()
    }
}
