//! criterion's async benchmarks on evloop.
//!
//! criterion drives async code through its [`AsyncExecutor`] trait: one
//! `block_on(&self, future)` per iteration batch. [`CriterionExecutor`] is
//! that trait for evloop: it owns one [`EventLoop`] and runs each future with
//! [`EventLoop::run_until_complete`], so a benchmark reuses the loop (its
//! task slab, run queue and timer wheel stay warm) exactly as `b.to_async(&rt)`
//! reuses a tokio runtime.
//!
//! See [`CriterionExecutor`] for an example.
//!
//! ## Ground rules
//!
//! - `block_on` needs `&mut EventLoop` but criterion's trait gives `&self`,
//!   so the loop sits in a `RefCell`. A `block_on` from inside a running
//!   `block_on` (nested runs are an error in asyncio too) panics with a
//!   message saying so rather than with a bare borrow error.
//! - A run that fails (the loop was stopped or closed) panics: a benchmark
//!   has no way to report the error and must not time a broken iteration.
//! - A crate of its own, not a feature of evloop: criterion 0.8's dependency
//!   tree needs Rust 1.86 and edition 2024, and evloop's `rust-version`
//!   must hold for every feature combination a dependent can turn on
//!   (`.ci/msrv-check.sh`). Before this crate, the type was
//!   `evloop::CriterionExecutor` behind evloop's `criterion` feature; it is
//!   now `evloop_criterion::CriterionExecutor`, with the same API.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;

use criterion::async_executor::AsyncExecutor;

use evloop::{EventLoop, Handle};

/// An [`EventLoop`] usable as criterion's `AsyncExecutor`:
/// `b.to_async(&executor).iter(|| async { ... })`.
///
/// `!Send`, like the loop it owns: create it on the thread that runs the
/// benchmark.
///
/// ```
/// use criterion::Criterion;
/// use evloop_criterion::CriterionExecutor;
///
/// fn bench_spawn(c: &mut Criterion) {
///     let ex = CriterionExecutor::new().unwrap();
///     c.bench_function("spawn_join", |b| {
///         b.to_async(&ex).iter(|| async {
///             evloop::create_task(async { 1 }).await.unwrap()
///         })
///     });
/// }
/// # // A doctest cannot run criterion's full harness; run the body once.
/// # let ex = CriterionExecutor::new().unwrap();
/// # use criterion::async_executor::AsyncExecutor;
/// # assert_eq!(ex.block_on(async { evloop::create_task(async { 1 }).await.unwrap() }), 1);
/// # let _ = bench_spawn;
/// ```
pub struct CriterionExecutor {
    lp: RefCell<EventLoop>,
}

impl CriterionExecutor {
    /// A fresh loop with default settings.
    pub fn new() -> io::Result<CriterionExecutor> {
        EventLoop::new().map(CriterionExecutor::from)
    }

    /// The loop's handle, to spawn or schedule from outside `block_on`.
    pub fn handle(&self) -> Handle {
        self.lp.borrow().handle()
    }

    /// Gives the loop back (to close it, or to keep using it directly).
    pub fn into_inner(self) -> EventLoop {
        self.lp.into_inner()
    }
}

impl From<EventLoop> for CriterionExecutor {
    /// Wraps a loop built elsewhere (e.g. by [`EventLoop::builder`]).
    fn from(lp: EventLoop) -> CriterionExecutor {
        CriterionExecutor { lp: RefCell::new(lp) }
    }
}

impl fmt::Debug for CriterionExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CriterionExecutor").finish_non_exhaustive()
    }
}

impl AsyncExecutor for CriterionExecutor {
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        let mut lp = self
            .lp
            .try_borrow_mut()
            .expect("CriterionExecutor::block_on called from inside its own block_on (nested runs are not allowed)");
        match lp.run_until_complete(future) {
            Ok(out) => out,
            Err(e) => panic!("CriterionExecutor::block_on: the loop did not finish the future: {e:?}"),
        }
    }
}

impl AsyncExecutor for &CriterionExecutor {
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        (**self).block_on(future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_runs_tasks_and_reuses_the_loop() {
        let ex = CriterionExecutor::new().unwrap();
        for i in 0..3 {
            let out = ex.block_on(async move { evloop::create_task(async move { i * 2 }).await.unwrap() });
            assert_eq!(out, i * 2);
        }
        assert!(!ex.into_inner().is_closed());
    }

    #[test]
    #[should_panic(expected = "nested runs")]
    fn block_on_nested_panics_clearly() {
        let ex = CriterionExecutor::new().unwrap();
        // Through the `&CriterionExecutor` impl, as `b.to_async(&ex)` uses it.
        ex.block_on(async { <&CriterionExecutor as AsyncExecutor>::block_on(&&ex, async {}) });
    }
}
