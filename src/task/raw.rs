//! A task's one allocation, and the one place in evloop that needs `unsafe`.
//!
//! # Layout
//!
//! A spawned task is one `Rc<TaskCell<RefCell<Stage<F>>>>`: the [`Header`]
//! the loop reads, then the stage, which holds the future `F` while the task
//! runs and its output once it has finished. The loop sees it through
//! [`TaskRef`] (`Rc<TaskCell<dyn Body>>`), the `Task<T>` handle through
//! [`JoinRef<T>`] (`Rc<TaskCell<dyn Output<T>>>`): two views of the same
//! allocation, made by unsized coercion, so the header is a plain field
//! access and only polling and taking the output go through a vtable.
//!
//! # Safety
//!
//! One block: the projection `&mut F` → `Pin<&mut F>` in [`Body::poll`].
//! It is sound because `F` never moves once the cell is built:
//!
//! - the cell lives in an `Rc` that is never unwrapped (no `try_unwrap`,
//!   `into_inner` or `get_mut` on it anywhere in the crate), so the stage's
//!   address is fixed until the allocation is freed;
//! - the stage leaves `Running` only by assignment in place
//!   (`*stage = ...`), which drops `F` where it lies;
//! - the one move out of the stage, in [`Output::take`], happens only after
//!   checking the stage is `Done`, which holds no `F`.
//!
//! Miri runs the task tests over this module (`cargo +nightly miri test`).
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::header::Header;

/// A task: its header, then its stage (`RefCell<Stage<F>>`, or a `dyn` view
/// of it).
pub(crate) struct TaskCell<S: ?Sized> {
    pub(crate) header: Header,
    pub(crate) stage: S,
}

/// The loop's view of a task.
pub(crate) type TaskRef = Rc<TaskCell<dyn Body>>;

/// The handle's view of a task whose output is `T`.
pub(crate) type JoinRef<T> = Rc<TaskCell<dyn Output<T>>>;

/// A task body: the future while it runs, its output once it has finished.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Done(F::Output),
    /// The future was dropped (cancelled, panicked) or the output taken.
    Gone,
}

impl<F: Future> TaskCell<RefCell<Stage<F>>> {
    pub(crate) fn new(header: Header, stage: Stage<F>) -> Rc<Self> {
        Rc::new(TaskCell {
            header,
            stage: RefCell::new(stage),
        })
    }
}

/// What the loop does with a task body without knowing its type.
///
/// The stage is borrowed only inside these methods, and neither the loop nor
/// a handle calls one from inside another for the same task (a poll never
/// overlaps a take or a discard: the task is `Pending` while polled, and a
/// handle only takes from a finished task). A destructor that reaches back
/// into its own task finds the stage borrowed; every method but `poll`
/// then does nothing rather than panic.
pub(crate) trait Body {
    /// Polls the future; `Ready` once it has finished and stored its output.
    fn poll(&self, cx: &mut Context<'_>) -> Poll<()>;

    /// Drops the future or the output in place. Callers guard it: a
    /// destructor may panic.
    fn discard(&self);

    /// The future's type (`std::any::type_name`), for reports and traces:
    /// read through the vtable, so no task stores it.
    fn type_name(&self) -> &'static str;
}

/// What a `Task<T>` handle reads out of its task.
pub(crate) trait Output<T>: Body {
    /// Moves the output out, once.
    fn take(&self) -> Option<T>;

    /// `check` applied to the output, if the task finished and the output is
    /// still here.
    fn peek(&self, check: &mut dyn FnMut(&T) -> bool) -> Option<bool>;
}

impl<F: Future> Body for RefCell<Stage<F>> {
    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Cannot fail: see the trait's docs. A poll is never re-entered.
        let mut stage = self.borrow_mut();
        let Stage::Running(future) = &mut *stage else {
            return Poll::Ready(());
        };
        // SAFETY: `F` is pinned in the task's `Rc` allocation and never moved
        // (module docs): it stays at this address until it is dropped in
        // place below or by `discard`.
        let future = unsafe { Pin::new_unchecked(future) };
        match future.poll(cx) {
            Poll::Ready(output) => {
                *stage = Stage::Done(output);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn discard(&self) {
        if let Ok(mut stage) = self.try_borrow_mut() {
            *stage = Stage::Gone;
        }
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<F>()
    }
}

impl<F: Future> Output<F::Output> for RefCell<Stage<F>> {
    fn take(&self) -> Option<F::Output> {
        let mut stage = self.try_borrow_mut().ok()?;
        if !matches!(*stage, Stage::Done(_)) {
            return None; // never move a `Running` future: it is pinned
        }
        match mem::replace(&mut *stage, Stage::Gone) {
            Stage::Done(output) => Some(output),
            _ => None,
        }
    }

    fn peek(&self, check: &mut dyn FnMut(&F::Output) -> bool) -> Option<bool> {
        match &*self.try_borrow().ok()? {
            Stage::Done(output) => Some(check(output)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::header::State;
    use crate::task::TaskKey;
    use futures_task::noop_waker_ref;

    fn cell<F: Future + 'static>(future: F) -> Rc<TaskCell<RefCell<Stage<F>>>> {
        let key = TaskKey { index: 0, gen: 1 };
        TaskCell::new(Header::new(key, State::Pending), Stage::Running(future))
    }

    #[test]
    fn polls_a_self_referential_future_in_place_and_keeps_output() {
        let task = cell(async {
            let local = [1u8, 2, 3];
            let borrowed = &local;
            crate::yield_now().await;
            borrowed.iter().map(|&b| b as u32).sum::<u32>()
        });
        let (body, join): (TaskRef, JoinRef<u32>) = (task.clone(), task);
        let mut cx = Context::from_waker(noop_waker_ref());
        assert_eq!(join.stage.take(), None, "no output while running");
        assert!(body.stage.poll(&mut cx).is_pending());
        assert!(body.stage.poll(&mut cx).is_ready());
        assert_eq!(join.stage.peek(&mut |&v| v == 6), Some(true));
        assert_eq!(join.stage.take(), Some(6));
        assert_eq!(join.stage.take(), None, "output is moved out once");
    }

    #[test]
    fn finishing_and_discarding_drop_in_place() {
        let guard = Rc::new(());
        let held = guard.clone();
        let done: TaskRef = cell(async move {
            let _held = held;
            7u8
        });
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(done.stage.poll(&mut cx).is_ready());
        assert_eq!(Rc::strong_count(&guard), 1, "future's captures dropped on finish");

        let held = guard.clone();
        let running: TaskRef = cell(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        assert!(running.stage.poll(&mut cx).is_pending());
        running.stage.discard();
        assert_eq!(Rc::strong_count(&guard), 1, "discard drops a running future");
        assert!(
            running.stage.poll(&mut cx).is_ready(),
            "a discarded body is never polled"
        );
    }
}
