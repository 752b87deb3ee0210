//! The cooperative budget: how a task that is always ready still lets the
//! loop get to everything else.
//!
//! A cooperative loop only regains control when a task's poll returns. A
//! task whose every `.await` completes at once (a socket whose peer writes
//! faster than it reads, a queue that is never empty, a combinator whose
//! children keep waking each other) would never return, and timers, I/O
//! and every other task would stop with it. So each task poll gets a
//! budget, and every *leaf* that can be ready again and again spends one
//! unit of it each time it does work. A leaf that finds the budget spent
//! wakes its task and returns `Pending`: the task goes to the back of the
//! run queue, exactly as if it had called [`yield_now`](crate::yield_now),
//! and resumes on the next tick after the loop has polled I/O and fired
//! timers.
//!
//! # Ground rules
//!
//! - **The unit** is one step of a leaf that made (or tried to make)
//!   progress: one socket read, write, accept, send or receive attempt that
//!   reaches the syscall; one fast-path acquire, put, get or wait of a
//!   `sync` primitive; one `sleep_until` of a deadline already past; one
//!   child poll inside `gather`, `try_gather` and
//!   `as_completed` (a `TaskGroup`'s children are tasks, each with its own
//!   budget).
//! - **The number** is [`BUDGET`] = 128 units per task poll, the number
//!   tokio settled on: large enough that a task moving data in a tight loop
//!   amortises a trip round the run queue over many operations (the cost
//!   is one extra tick per 128 steps), small enough that one such task
//!   holds the loop for well under a millisecond between ticks.
//! - The loop refills the budget before each task poll (and each poll of
//!   `run_until_complete`'s future) and makes it unconstrained again when
//!   its run step ends and when a run ends, even by unwinding. Outside the
//!   loop's run step (a future polled by hand or by another executor) the
//!   budget is unconstrained: leaves never yield.
//! - A spent leaf wakes its task *before* returning `Pending`, so the task is
//!   always polled again: the budget can delay work, never lose it.
//! - Leaves that wait for something external (a timer, a waiter list) are
//!   not budgeted on their pending path; they return `Pending` anyway.
//!
//! # Fields and who may touch them
//!
//! One thread-local `Cell<Option<u8>>`: `None` = unconstrained, `Some(n)` =
//! `n` units left. Only [`refill`] and [`unconstrain`] set it; only
//! [`poll_proceed`] lowers it.
//!
//! To change the number, change [`BUDGET`]; `RELIABILITY.md` lists what
//! depends on it.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Units of work one task poll may do before its leaves start yielding.
pub(crate) const BUDGET: u8 = 128;

thread_local! {
    static LEFT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Gives the task about to be polled a fresh budget of [`BUDGET`] units:
/// one thread-local store, on the hot path of every task poll.
#[inline]
pub(crate) fn refill() {
    LEFT.with(|left| left.set(Some(BUDGET)));
}

/// Makes the budget unconstrained again: called by the loop once its run
/// step is over, and when a run ends (also by unwinding), so code polled
/// outside the loop's polls never yields for budget.
#[inline]
pub(crate) fn unconstrain() {
    let _ = LEFT.try_with(|left| left.set(None));
}

/// Spends one unit for a leaf that is about to do work. `Pending` (with the
/// task already woken) when the budget is spent: the leaf must then return
/// `Pending` without doing the work.
///
/// Call it where the leaf knows it can proceed (readiness is there, the
/// primitive is free), just before doing the step.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let spent = LEFT
        .try_with(|left| match left.get() {
            None => false,
            Some(0) => true,
            Some(n) => {
                left.set(Some(n - 1));
                false
            }
        })
        .unwrap_or(false);
    if spent {
        cx.waker().wake_by_ref();
        Poll::Pending
    } else {
        Poll::Ready(())
    }
}

/// Runs `poll` as the loop runs a task poll: with a full budget, and
/// unconstrained after. For unit tests that poll by hand.
#[cfg(test)]
pub(crate) fn with_budget<R>(poll: impl FnOnce() -> R) -> R {
    refill();
    let out = poll();
    unconstrain();
    out
}

/// Units left in this poll, `None` outside a budgeted poll. For tests.
#[cfg(test)]
pub(crate) fn left() -> Option<u8> {
    LEFT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use super::*;

    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn poll_proceed_is_unconstrained_outside_a_budgeted_poll() {
        let mut cx = Context::from_waker(futures_task::noop_waker_ref());
        for _ in 0..10_000 {
            assert_eq!(poll_proceed(&mut cx), Poll::Ready(()));
        }
        assert_eq!(left(), None);
    }

    #[test]
    fn poll_proceed_yields_after_budget_units_and_wakes_the_task() {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        refill();
        let mut ready = 0;
        while poll_proceed(&mut cx).is_ready() {
            ready += 1;
            assert!(ready <= usize::from(BUDGET), "the budget never ran out");
        }
        unconstrain();
        assert_eq!(ready, usize::from(BUDGET));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "a spent leaf wakes its task once");
        assert_eq!(left(), None, "unconstrained after the run step");
    }

    #[test]
    fn refill_gives_each_poll_a_whole_budget() {
        let mut cx = Context::from_waker(futures_task::noop_waker_ref());
        refill();
        assert!(poll_proceed(&mut cx).is_ready());
        assert_eq!(left(), Some(BUDGET - 1));
        refill();
        assert_eq!(left(), Some(BUDGET));
        unconstrain();
        assert_eq!(left(), None);
    }

    #[test]
    fn a_loop_leaves_the_budget_unconstrained_even_when_its_main_future_panics() {
        let result = std::panic::catch_unwind(|| crate::run(async { panic!("inside a poll") }));
        assert!(result.is_err());
        assert_eq!(left(), None);
    }
}
