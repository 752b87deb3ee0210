//! `FutureSet`: many futures polled concurrently inside one caller, where a
//! wake re-polls only the child that was woken. `gather`, `try_gather`,
//! `as_completed` and `wait` are thin layers over it.
//!
//! # Ground rules
//!
//! - Each child has its own waker naming its index. Waking it pushes the
//!   index onto a shared ready list (once: a child already listed is not
//!   listed twice) and wakes the parent.
//! - Children are polled once, in order, on the set's first poll; after that
//!   only listed children are polled, in the order they were woken.
//! - A finished child's future is dropped at once; its slot stays so indices
//!   keep meaning "input position".
//! - Wakers must be `Send + Sync`, so the ready list and the parent waker sit
//!   behind a `Mutex`; on the loop's thread it is never contended.
//! - **Every child poll spends one unit of the task's cooperative budget**
//!   (`task/coop.rs`), checked *before* the child is polled. A child that
//!   wakes itself (a `yield_now` loop, a budget-yield of its own) is listed
//!   again at once, so without the budget `poll_next` could re-poll it for
//!   ever and the loop would never get back to its timers and sockets. When
//!   the budget is spent, `poll_next` returns `Pending` (the task has been
//!   woken by `poll_proceed`) and every child still waiting for its poll
//!   keeps its place: first polls resume at `first_poll`, and woken children
//!   stay in `batch`, in wake order, ahead of later wakes.
//!
//! # Simplifications
//!
//! Each child is boxed (one allocation) so it can be pinned without
//! `unsafe`; futures' `FuturesUnordered` stores the future inside the waker's
//! `Arc` instead, at the price of unsafe code and a `Send` requirement.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};

use futures_task::{waker_ref, ArcWake};

use crate::task::coop;

struct Shared {
    ready: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

struct ChildWaker {
    index: usize,
    listed: AtomicBool,
    shared: Arc<Shared>,
}

impl ArcWake for ChildWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if arc_self.listed.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = &arc_self.shared;
        shared
            .ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(arc_self.index);
        let parent = shared.parent.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

struct Child<F> {
    future: Option<Pin<Box<F>>>,
    waker: Arc<ChildWaker>,
}

/// A set of futures polled concurrently; yields `(index, output)` as each
/// finishes.
pub(crate) struct FutureSet<F> {
    children: Vec<Child<F>>,
    shared: Arc<Shared>,
    started: bool,
    /// Index of the next child to poll for the first time.
    first_poll: usize,
    remaining: usize,
    /// Indices taken from the shared list, being worked through, last one
    /// next. Survives a budget-yield: these children are listed (a new wake
    /// of theirs is not recorded again), so dropping them would lose wakes.
    batch: Vec<usize>,
}

impl<F: Future> FutureSet<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> FutureSet<F> {
        let shared = Arc::new(Shared {
            ready: Mutex::new(Vec::new()),
            parent: Mutex::new(None),
        });
        let children: Vec<Child<F>> = futures
            .into_iter()
            .enumerate()
            .map(|(index, f)| Child {
                future: Some(Box::pin(f)),
                waker: Arc::new(ChildWaker {
                    index,
                    listed: AtomicBool::new(false),
                    shared: shared.clone(),
                }),
            })
            .collect();
        let remaining = children.len();
        FutureSet {
            children,
            shared,
            started: false,
            first_poll: 0,
            remaining,
            batch: Vec::new(),
        }
    }

    /// How many children have not finished.
    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    /// Drops every child not yet finished; the set then yields `None`.
    pub(crate) fn clear(&mut self) {
        for child in &mut self.children {
            child.future = None;
        }
        self.remaining = 0;
        self.first_poll = self.children.len();
        self.batch.clear();
    }

    /// Total number of children.
    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    /// Polls woken children until one finishes; `Ready(None)` when none is
    /// left, `Pending` when none of them is ready or the task's budget is
    /// spent (then the task has been woken to carry on).
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if !self.started {
            self.started = true;
            *self.shared.parent.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        } else {
            let mut parent = self.shared.parent.lock().unwrap_or_else(|e| e.into_inner());
            if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        // First polls, in input order. A budget-yield leaves `first_poll`
        // on the child not yet polled.
        while self.first_poll < self.children.len() {
            ready!(coop::poll_proceed(cx));
            let index = self.first_poll;
            self.first_poll += 1;
            if let Some(output) = self.poll_child(index) {
                return Poll::Ready(Some((index, output)));
            }
        }
        // Then only the children that were woken.
        loop {
            if self.batch.is_empty() {
                let mut ready = self.shared.ready.lock().unwrap_or_else(|e| e.into_inner());
                if ready.is_empty() {
                    return Poll::Pending;
                }
                // Reverse so that `pop` takes them in wake order.
                self.batch.extend(ready.drain(..).rev());
            }
            while let Some(&index) = self.batch.last() {
                // Check the budget before taking the index off: on a
                // budget-yield this child (still listed, so a new wake would
                // not list it again) must be polled on the next poll.
                ready!(coop::poll_proceed(cx));
                self.batch.pop();
                if let Some(output) = self.poll_child(index) {
                    return Poll::Ready(Some((index, output)));
                }
            }
        }
    }

    fn poll_child(&mut self, index: usize) -> Option<F::Output> {
        let child = &mut self.children[index];
        // Unlist before polling: a wake during the poll must list it again.
        child.waker.listed.store(false, Ordering::Release);
        let future = child.future.as_mut()?;
        let waker = waker_ref(&child.waker);
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(output) => {
                child.future = None;
                self.remaining -= 1;
                Some(output)
            }
            Poll::Pending => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker_ref;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Pending until `go` is set; counts its polls.
    struct Gate {
        go: Rc<Cell<bool>>,
        polls: Rc<Cell<u32>>,
        waker: Rc<Cell<Option<Waker>>>,
    }

    impl Future for Gate {
        type Output = u32;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls.set(self.polls.get() + 1);
            if self.go.get() {
                Poll::Ready(self.polls.get())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }

    #[test]
    fn poll_next_repolls_only_the_woken_child() {
        let gates: Vec<_> = (0..3)
            .map(|_| {
                (
                    Rc::new(Cell::new(false)),
                    Rc::new(Cell::new(0)),
                    Rc::new(Cell::new(None)),
                )
            })
            .collect();
        let mut set = FutureSet::new(gates.iter().map(|(go, polls, waker)| Gate {
            go: go.clone(),
            polls: polls.clone(),
            waker: waker.clone(),
        }));
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(set.poll_next(&mut cx).is_pending());
        gates[1].0.set(true);
        gates[1].2.take().unwrap().wake();
        assert_eq!(set.poll_next(&mut cx), Poll::Ready(Some((1, 2))));
        assert!(set.poll_next(&mut cx).is_pending());
        let polls: Vec<u32> = gates.iter().map(|g| g.1.get()).collect();
        assert_eq!(polls, [1, 2, 1], "untouched children are not re-polled");
        assert_eq!(set.remaining(), 2);
    }

    /// Wakes itself on every poll (as a `yield_now` loop does); counts its
    /// polls.
    struct Spin(Rc<Cell<u32>>);

    impl Future for Spin {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.set(self.0.get() + 1);
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn poll_next_spends_one_budget_unit_per_child_poll_and_keeps_its_place() {
        let counts: Vec<Rc<Cell<u32>>> = (0..3).map(|_| Rc::new(Cell::new(0))).collect();
        let mut set = FutureSet::new(counts.iter().map(|c| Spin(c.clone())));
        let mut cx = Context::from_waker(noop_waker_ref());
        let polls = || counts.iter().map(|c| c.get()).collect::<Vec<_>>();
        // Without a budget these children would be re-polled for ever.
        assert!(coop::with_budget(|| set.poll_next(&mut cx)).is_pending());
        // 128 polls round-robin in wake order: 0, 1, 2, 0, ...; the 129th
        // (child 2) was cut off by the budget.
        assert_eq!(polls(), [43, 43, 42]);
        // The next poll starts with child 2: no wake was lost or reordered.
        assert!(coop::with_budget(|| set.poll_next(&mut cx)).is_pending());
        assert_eq!(polls(), [86, 85, 85]);
    }

    #[test]
    fn poll_next_budget_covers_first_polls_too() {
        let counts: Vec<Rc<Cell<u32>>> = (0..200).map(|_| Rc::new(Cell::new(0))).collect();
        let mut set = FutureSet::new(counts.iter().map(|c| Spin(c.clone())));
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(coop::with_budget(|| set.poll_next(&mut cx)).is_pending());
        let polled = counts.iter().filter(|c| c.get() > 0).count();
        assert_eq!(
            polled,
            usize::from(coop::BUDGET),
            "the first 128 children, in input order"
        );
        assert!(counts[..128].iter().all(|c| c.get() == 1));
        assert!(coop::with_budget(|| set.poll_next(&mut cx)).is_pending());
        assert!(
            counts.iter().all(|c| c.get() >= 1),
            "the next poll resumed the first polls where the last one stopped"
        );
        assert_eq!(counts.iter().map(|c| c.get()).sum::<u32>(), 256);
    }
}
