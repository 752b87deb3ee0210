//! The one place in evloop that needs `unsafe`: storing a task's future and,
//! once it finishes, its output in the same heap allocation.
//!
//! # Why
//!
//! A spawned task is one `Pin<Box<Stage<F>>>`. While the task runs the box
//! holds the future `F`; when `F` returns, the box is overwritten in place
//! with `F::Output` and keeps it until the [`Task`](crate::Task) handle takes
//! it. Doing that in safe Rust needs a second allocation (a boxed future plus
//! a separate output slot), and one allocation per spawned task is the floor
//! the spawn benchmark is judged against.
//!
//! # Safety
//!
//! Two projections, both argued at the block:
//!
//! - `Pin<&mut Stage<F>>` → `Pin<&mut F>` in [`Stage::poll_run`]: `F` is
//!   structurally pinned. It is never moved out of the box; it is only ever
//!   dropped in place, by [`Pin::set`] when the stage becomes `Finished`.
//! - `Pin<&mut Stage<F>>` → `&mut Stage<F>` in [`Stage::take_output`]: only the
//!   `Finished` variant is touched, which holds no `F` (it was dropped in
//!   place), and the output it holds is not structurally pinned.
//!
//! Miri runs the task tests over this module (`cargo +nightly miri test`).
#![allow(unsafe_code)]

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A type-erased task body: a future that can be polled to completion and
/// then asked for its output.
pub(crate) trait Runnable {
    /// Polls the future; `Ready` once it has finished and stored its output.
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;

    /// Moves the finished output into `out`, which must be an
    /// `&mut Option<Output>`; leaves `out` untouched otherwise.
    fn take_output(self: Pin<&mut Self>, out: &mut dyn Any);

    /// The finished output, if any, for a look without taking it.
    fn output(&self) -> Option<&dyn Any>;
}

/// A task body: the future while it runs, its output once it has finished.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Option<F::Output>),
}

impl<F> Runnable for Stage<F>
where
    F: Future,
    F::Output: 'static,
{
    fn poll_run(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `F` is structurally pinned inside `Stage`: this module never
        // moves it out (it has no method that takes `Stage` by value or swaps
        // it while `Running`), and the only way it leaves is `Pin::set` below,
        // which drops it in place. So a `Pin<&mut F>` upholds the pin contract.
        let future = unsafe {
            match self.as_mut().get_unchecked_mut() {
                Stage::Running(future) => Pin::new_unchecked(future),
                Stage::Finished(_) => return Poll::Ready(()),
            }
        };
        match future.poll(cx) {
            Poll::Ready(output) => {
                self.set(Stage::Finished(Some(output)));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn take_output(self: Pin<&mut Self>, out: &mut dyn Any) {
        // SAFETY: we only read and write the `Finished` variant, which holds
        // no `F` (it was dropped in place by `Pin::set`), and its output is not
        // structurally pinned, so moving it out breaks no pin guarantee. The
        // `Running` variant is left untouched.
        let this = unsafe { self.get_unchecked_mut() };
        if let Stage::Finished(output) = this {
            if let Some(out) = out.downcast_mut::<Option<F::Output>>() {
                *out = output.take();
            }
        }
    }

    fn output(&self) -> Option<&dyn Any> {
        match self {
            Stage::Finished(Some(output)) => Some(output),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker_ref;
    use std::rc::Rc;

    #[test]
    fn stage_polls_a_self_referential_future_and_keeps_output() {
        let mut stage: Pin<Box<dyn Runnable>> = Box::pin(Stage::Running(async {
            let local = [1u8, 2, 3];
            let borrowed = &local;
            crate::yield_now().await;
            borrowed.iter().map(|&b| b as u32).sum::<u32>()
        }));
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut out: Option<u32> = None;
        stage.as_mut().take_output(&mut out);
        assert_eq!(out, None, "no output while running");
        assert!(stage.as_mut().poll_run(&mut cx).is_pending());
        assert!(stage.as_mut().poll_run(&mut cx).is_ready());
        stage.as_mut().take_output(&mut out);
        assert_eq!(out, Some(6));
        let mut again: Option<u32> = None;
        stage.as_mut().take_output(&mut again);
        assert_eq!(again, None, "output is moved out once");
    }

    #[test]
    fn finishing_drops_the_future_in_place() {
        let guard = Rc::new(());
        let held = guard.clone();
        let mut stage: Pin<Box<dyn Runnable>> = Box::pin(Stage::Running(async move {
            let _held = held;
            7u8
        }));
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(stage.as_mut().poll_run(&mut cx).is_ready());
        assert_eq!(Rc::strong_count(&guard), 1, "future's captures dropped on finish");
    }
}
