//! `yield_now()`: asyncio's `await asyncio.sleep(0)`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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
        // The task's own waker queues it behind everything ready, once this
        // poll returns.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
