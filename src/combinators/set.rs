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
use std::task::{Context, Poll, Waker};

use futures_task::{waker_ref, ArcWake};

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
    /// Indices taken from the shared list, being worked through.
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

    /// Total number of children.
    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    /// Polls woken children until one finishes; `Ready(None)` when none is
    /// left, `Pending` when none of them is ready.
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
        // First polls, in input order.
        while self.first_poll < self.children.len() {
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
            while let Some(index) = self.batch.pop() {
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
}
