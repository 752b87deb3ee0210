//! asyncio's combinators: composing futures and tasks.
//!
//! | asyncio | here |
//! |---|---|
//! | `gather(*aws)` | [`gather`](crate::gather()), [`gather!`](crate::gather!), [`try_gather`](crate::try_gather) (`set.rs`, `gather.rs`) |
//! | `wait_for`, `timeout` | [`wait_for`](crate::wait_for), [`timeout`](crate::timeout()) (`timeout.rs`) |
//! | `wait`, `as_completed(timeout=)`, `shield` | [`wait`](crate::wait), [`as_completed`](crate::as_completed) (a `Stream`; `with_timeout`), [`shield`](crate::shield) (`wait.rs`) |
//! | `async with TaskGroup() as tg` | [`TaskGroup::run`](crate::TaskGroup::run) (`task_group.rs`) |
//!
//! Everything here is safe Rust built on the public task and time API plus
//! two crate-internal hooks on tasks (`poll_done`, `failed`), and the
//! cooperative budget (`task/coop.rs`).
//!
//! # Ground rules
//!
//! - **No combinator spins.** One that may poll a child more than once
//!   within a single poll of its own (`gather`, `try_gather`,
//!   `as_completed`, all through `set.rs`) spends one unit of the task's
//!   cooperative budget per child poll and returns `Pending`, with the task
//!   woken, once it is spent (128 units per task poll). The others poll each
//!   child at most once per poll (`gather!`, `wait_for`, `timeout`, `wait`,
//!   `shield`) or not at all (`TaskGroup`: its children are tasks), so a
//!   child that keeps waking itself makes them return `Pending` anyway. So
//!   [`yield_now`](crate::yield_now)'s promise holds whatever a task is
//!   wrapped in: a task that yields in a loop never starves sockets or
//!   timers.
//!
//! # Deliberate differences from asyncio
//!
//! One line each; the item docs give the reasons.
//!
//! - `wait_for(task, t)` detaches a `Task` on time-out (dropping a handle
//!   detaches); pass `task.abort_on_drop()` to cancel it as asyncio does.
//! - `TimeoutScope::reschedule` before the scope is entered is allowed
//!   (asyncio raises); after it exited it panics, as asyncio raises.
//! - `wait([])` panics where asyncio raises `ValueError`.
//! - `ReturnWhen`'s conditions are types, not enum members; only
//!   `FirstException` needs [`TaskOutcome`](crate::TaskOutcome).
//! - `as_completed(..).with_timeout(t)` drops the plain futures still
//!   missing at the deadline (a `Task` is only detached); asyncio leaves
//!   its tasks running.
//! - `shield(fut)` polls `fut` once at the call (asyncio starts the inner
//!   task on the next loop iteration).
//! - A `TaskGroup` child's `Err` or panic goes to the group's error; the
//!   child's own handle then reports cancelled (asyncio's task re-raises).
//! - Spawning into an aborting `TaskGroup` cancels the child before it runs
//!   (asyncio raises `RuntimeError`); into a finished one it panics.
//! - A `TaskGroup` body is cancelled by being dropped: it cannot catch the
//!   cancellation; a panic in the body unwinds through `run` (the children
//!   are cancelled on the way).
//! - Cancelling the task that awaits `TaskGroup::run` cancels the children
//!   without waiting for them (a destructor cannot wait; asyncio waits).
#![forbid(unsafe_code)]

mod gather;
mod set;
mod task_group;
mod timeout;
mod wait;

#[doc(hidden)]
pub use gather::MaybeDone;
pub use gather::{gather, try_gather, Gather, TryGather};
// `AsCompletedTimeout`, `ChildFailure` and `Failure` are public types that
// `lib.rs` does not re-export yet (they can be used, not named, until it
// does): hence the allowance.
pub use task_group::{ChildFailure, Failure, TaskGroup, TaskGroupError};
pub use timeout::{timeout, timeout_at, wait_for, Timeout, TimeoutError, TimeoutScope};
pub use wait::{as_completed, shield, wait, AsCompleted, AsCompletedTimeout, ReturnWhen, Shield, TaskOutcome};
