//! hyper 1.x on evloop: the small adapter hyper needs to run on a runtime
//! it does not know.
//!
//! - [`HyperIo`] wraps any `futures_io::AsyncRead + AsyncWrite` stream (an
//!   `evloop::net::TcpStream` or `UnixStream`) as hyper's `rt::Read` /
//!   `rt::Write`.
//! - [`EvloopExecutor`] is hyper's `rt::Executor`: each future becomes a
//!   detached `evloop::create_task` (hyper needs one for HTTP/2 and for
//!   connection pools; plain HTTP/1 connections are driven by whoever awaits
//!   them).
//! - [`EvloopTimer`] is hyper's `rt::Timer`, for timeouts such as
//!   `http1::Builder::header_read_timeout`, on the loop's timer wheel.
//!
//! Include it with `#[path = "support/hyper_rt.rs"] mod hyper_rt;` from an
//! example (or `"../examples/support/hyper_rt.rs"` from a test). It uses no
//! `unsafe`: hyper's read buffer may be uninitialised, so reads go through a
//! small stack buffer and `ReadBufCursor::put_slice` (one extra copy; a
//! production adapter reads straight into the cursor with `unsafe`).
//!
//! hyper's `Sleep` must be `Send + Sync`, and evloop's `Sleep` is neither
//! (it holds the loop). [`EvloopSleep`] therefore keeps only an id and an
//! `Arc<Mutex<_>>`; the loop-side timer handle sits in a thread-local table
//! under that id, so dropping the sleep (on the loop thread) still cancels
//! its timer at once.
#![forbid(unsafe_code)]
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::io::{AsyncRead, AsyncWrite};
use hyper::rt::{Executor, ReadBufCursor, Sleep, Timer};

/// A futures-io stream as a hyper I/O object.
#[derive(Debug)]
pub struct HyperIo<T>(pub T);

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let mut tmp = [0u8; 8 * 1024];
        let want = buf.remaining().min(tmp.len());
        let n = ready!(Pin::new(&mut self.0).poll_read(cx, &mut tmp[..want]))?;
        buf.put_slice(&tmp[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// hyper's executor: runs each future as a detached evloop task.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvloopExecutor;

impl<F> Executor<F> for EvloopExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        // Dropping the handle detaches the task; it runs to completion.
        drop(evloop::create_task(fut));
    }
}

/// hyper's timer, on the running evloop loop's clock and timer wheel.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvloopTimer;

impl Timer for EvloopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        let now = self.now();
        self.sleep_until(
            now.checked_add(duration)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
        )
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(EvloopSleep {
            deadline,
            shared: Arc::new(Mutex::new(Shared::default())),
            armed: None,
        })
    }

    fn now(&self) -> Instant {
        evloop::try_get_running_loop().map_or_else(Instant::now, |h| h.time())
    }
}

#[derive(Default)]
struct Shared {
    fired: bool,
    waker: Option<Waker>,
}

thread_local! {
    /// Loop-side timer handles of armed `EvloopSleep`s, by id.
    static TIMERS: RefCell<HashMap<u64, evloop::CallbackHandle>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// The `Send + Sync` sleep [`EvloopTimer`] hands to hyper.
pub struct EvloopSleep {
    deadline: Instant,
    shared: Arc<Mutex<Shared>>,
    /// The id of this sleep's entry in `TIMERS`, once armed.
    armed: Option<u64>,
}

impl Future for EvloopSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut shared = self.shared.lock().unwrap();
        if shared.fired {
            return Poll::Ready(());
        }
        shared.waker = Some(cx.waker().clone());
        drop(shared);
        if self.armed.is_none() {
            let handle = evloop::get_running_loop();
            if self.deadline <= handle.time() {
                return Poll::Ready(());
            }
            let id = NEXT_ID.with(|n| {
                n.set(n.get() + 1);
                n.get()
            });
            let shared = self.shared.clone();
            let cb = handle.call_at(self.deadline, move || {
                TIMERS.with(|t| t.borrow_mut().remove(&id));
                let waker = {
                    let mut s = shared.lock().unwrap();
                    s.fired = true;
                    s.waker.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            });
            TIMERS.with(|t| t.borrow_mut().insert(id, cb));
            self.armed = Some(id);
        }
        Poll::Pending
    }
}

impl Sleep for EvloopSleep {}

impl Drop for EvloopSleep {
    fn drop(&mut self) {
        if let Some(id) = self.armed {
            // On another thread (or after the timer fired) there is nothing
            // to find, and the callback only flips a flag nobody reads.
            if let Ok(Some(cb)) = TIMERS.try_with(|t| t.borrow_mut().remove(&id)) {
                cb.cancel();
            }
        }
    }
}
