//! `yield_now()`: asyncio's `await asyncio.sleep(0)`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::event_loop::context;

/// Gives the loop a chance to run everything else that is ready, then
/// resumes: asyncio's `await asyncio.sleep(0)`.
///
/// The task goes to the back of the run queue and runs again on the *next*
/// tick, after the loop has polled for I/O and fired due timers, so a task
/// that yields in a loop never starves sockets or timers.
///
/// ```
/// let order = evloop::run(async {
///     let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
///     let l = log.clone();
///     let other = evloop::create_task(async move { l.borrow_mut().push("other") });
///     log.borrow_mut().push("before");
///     evloop::yield_now().await;
///     log.borrow_mut().push("after");
///     other.await.unwrap();
///     log.take()
/// });
/// assert_eq!(order, ["before", "other", "after"]);
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        yield_to_loop(cx);
        Poll::Pending
    }
}

/// Wakes the polled task so that, once its poll returns `Pending`, it goes
/// to the back of the run queue: the whole of a yield.
pub(crate) fn yield_to_loop(cx: &Context<'_>) {
    // Polled by one of our tasks with its own waker: raise the loop's
    // self-wake flag directly, which is all the waker would end up doing.
    if !context::wake_polled_task(cx.waker()) {
        cx.waker().wake_by_ref();
    }
}
