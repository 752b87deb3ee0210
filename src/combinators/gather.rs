//! `gather`, `try_gather` and `gather!`: asyncio's `gather(*aws)`.
//!
//! # Ground rules
//!
//! - Outputs come back in *input* order, whatever the completion order.
//! - Children run concurrently inside the caller's task (no task is spawned);
//!   a wake re-polls only the child that was woken (see `set.rs`).
//! - **Fair to the loop.** `gather` and `try_gather` re-poll woken children
//!   inside one poll of their own, so each child poll spends one unit of the
//!   task's cooperative budget (`task/coop.rs`, 128 per task poll); when it
//!   is spent they return `Pending` with the task woken, and resume where
//!   they stopped. A child that wakes itself in a loop (a `yield_now` loop
//!   waiting for a sibling's timer) therefore never keeps the loop from its
//!   timers and sockets, as [`yield_now`](crate::yield_now) promises.
//!   `gather!` polls each child at most once per poll, so a child that
//!   wakes itself makes it return `Pending` anyway; it needs no budget.
//! - On an early return (`try_gather`'s first `Err`), inline children are
//!   dropped, which cancels them. Children that are [`Task`](crate::Task)
//!   handles are detached by the drop and keep running, as asyncio's
//!   `gather` leaves its other tasks running.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::set::FutureSet;

/// Runs `futures` concurrently and returns their outputs in input order.
///
/// ```
/// use std::time::Duration;
/// use evloop::{gather, sleep};
///
/// let out = evloop::run(async {
///     gather([3u64, 1, 2].map(|n| async move {
///         sleep(Duration::from_millis(n)).await;
///         n * 10
///     }))
///     .await
/// });
/// assert_eq!(out, [30, 10, 20]); // input order, not completion order
/// ```
pub fn gather<I>(futures: I) -> Gather<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let set = FutureSet::new(futures);
    let outputs = std::iter::repeat_with(|| None).take(set.len()).collect();
    Gather { set, outputs }
}

/// Future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    set: FutureSet<F>,
    outputs: Vec<Option<F::Output>>,
}

impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        while let Poll::Ready(next) = this.set.poll_next(cx) {
            match next {
                Some((index, output)) => this.outputs[index] = Some(output),
                None => {
                    let outputs = std::mem::take(&mut this.outputs);
                    return Poll::Ready(outputs.into_iter().map(|o| o.expect("every child finished")).collect());
                }
            }
        }
        Poll::Pending
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("remaining", &self.set.remaining())
            .finish()
    }
}

/// Like [`gather`] over futures returning `Result`, but returns the first
/// `Err` as soon as it happens (the other inline children are dropped).
///
/// ```
/// use std::time::Duration;
///
/// let out = evloop::run(evloop::try_gather([1u64, 2, 3].map(|n| async move {
///     evloop::sleep(Duration::from_millis(n)).await;
///     if n == 2 { Err(format!("item {n} failed")) } else { Ok(n) }
/// })));
/// assert_eq!(out, Err("item 2 failed".to_string()));
/// ```
pub fn try_gather<I, T, E>(futures: I) -> TryGather<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryGather(gather(futures))
}

/// Future returned by [`try_gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryGather<F: Future>(Gather<F>);

impl<F, T, E> Future for TryGather<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut self.0;
        while let Poll::Ready(next) = this.set.poll_next(cx) {
            match next {
                Some((_, Err(e))) => return Poll::Ready(Err(e)),
                Some((index, ok)) => this.outputs[index] = Some(ok),
                None => {
                    let outputs = std::mem::take(&mut this.outputs);
                    return Poll::Ready(Ok(outputs
                        .into_iter()
                        .map(|o| match o {
                            Some(Ok(v)) => v,
                            _ => unreachable!("every child finished with Ok"),
                        })
                        .collect()));
                }
            }
        }
        Poll::Pending
    }
}

impl<F: Future> fmt::Debug for TryGather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TryGather").field(&self.0).finish()
    }
}

/// One `gather!` child: the future until it finishes, then its output.
#[doc(hidden)]
#[derive(Debug)]
pub enum MaybeDone<F: Future> {
    Future(Pin<Box<F>>),
    Done(Option<F::Output>),
}

impl<F: Future> MaybeDone<F> {
    #[doc(hidden)]
    pub fn new(future: F) -> Self {
        MaybeDone::Future(Box::pin(future))
    }

    /// Polls if still running; `true` once finished.
    #[doc(hidden)]
    pub fn poll_done(&mut self, cx: &mut Context<'_>) -> bool {
        if let MaybeDone::Future(f) = self {
            match f.as_mut().poll(cx) {
                Poll::Ready(v) => *self = MaybeDone::Done(Some(v)),
                Poll::Pending => return false,
            }
        }
        true
    }

    #[doc(hidden)]
    pub fn take(&mut self) -> F::Output {
        match self {
            MaybeDone::Done(v) => v.take().expect("gather! output taken once"),
            MaybeDone::Future(_) => unreachable!("gather! output taken before it finished"),
        }
    }
}

/// Runs futures of different types concurrently and returns their outputs as
/// a tuple: `gather!(a, b, c).await` is asyncio's `await gather(a, b, c)`.
///
/// All children are polled on each wake (there are only a few of them);
/// [`gather`] is the one that re-polls only the woken child.
///
/// ```
/// let (n, s) = evloop::run(async { evloop::gather!(async { 1 }, async { "two" }).await });
/// assert_eq!((n, s), (1, "two"));
/// ```
#[macro_export]
macro_rules! gather {
    // Internal: count positions with `_` markers, so each future can be
    // named in the tuple by "skip this many, take the next".
    (@acc ($($count:tt)*) [$( ($($skip:tt)*) $e:expr, )*] $head:expr $(, $tail:expr)*) => {
        $crate::gather!(@acc ($($count)* _) [$( ($($skip)*) $e, )* ($($count)*) $head,] $($tail),*)
    };
    (@acc ($($count:tt)*) [$( ($($skip:tt)*) $e:expr, )*]) => {{
        let mut futures = ( $( $crate::__private::MaybeDone::new($e), )* );
        $crate::__private::poll_fn(move |cx| {
            let mut done = true;
            $(
                let ( $($skip,)* fut, .. ) = &mut futures;
                done &= fut.poll_done(cx);
            )*
            if !done {
                return ::std::task::Poll::Pending;
            }
            ::std::task::Poll::Ready(( $( {
                let ( $($skip,)* fut, .. ) = &mut futures;
                fut.take()
            }, )* ))
        })
    }};
    ($($e:expr),+ $(,)?) => {
        $crate::gather!(@acc () [] $($e),+)
    };
}
