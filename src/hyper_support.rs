//! hyper 1.x on evloop (cargo feature `hyper`).
//!
//! hyper runs on any runtime that implements its `rt` traits. This module is
//! those traits for evloop, so a hyper program needs no adapter of its own:
//!
//! - [`HyperIo`] wraps any `futures_io::AsyncRead + AsyncWrite` stream
//!   ([`net::TcpStream`](crate::net::TcpStream),
//!   [`net::UnixStream`](crate::net::UnixStream), their halves, a TLS stream
//!   on top of them) as hyper's `rt::Read` / `rt::Write`.
//! - [`HyperExecutor`] is hyper's `rt::Executor`: each future hyper hands it
//!   becomes a detached task on the running loop. The futures need not be
//!   `Send` (the loop is single-threaded), so a `!Send` service works.
//! - [`HyperTimer`] is hyper's `rt::Timer` (for
//!   `http1::Builder::header_read_timeout`, HTTP/2 keep-alive, ...) on the
//!   loop's timer wheel and clock, manual clocks included.
//!
//! The feature turns on none of hyper's own features: the `rt` traits need
//! none. Enable what your program uses (`http1`, `http2`, `client`,
//! `server`) in your own `hyper` dependency; cargo merges the two.
//!
//! ## Ground rules
//!
//! - No `unsafe`. hyper reads into a buffer that may be uninitialised, and
//!   writing into one needs `unsafe`; so [`HyperIo`] reads into a scratch
//!   buffer shared by every `HyperIo` on the thread (allocated once, never
//!   zeroed again) and copies the bytes read into hyper's buffer. The cost
//!   is one `memcpy` of the bytes actually read, no per-read zeroing and no
//!   per-connection buffer. (tokio's `hyper_util::rt::TokioIo` reads in
//!   place with `unsafe`.)
//! - hyper's `rt::Sleep` must be `Send + Sync`, and evloop's
//!   [`Sleep`](crate::Sleep) is neither (it holds the loop). A
//!   [`HyperSleep`] therefore holds only its deadline, a global id and an
//!   `Arc<Mutex<_>>` the loop's timer callback fills in; the loop-side
//!   [`CallbackHandle`] stays in a thread-local table under that id, so a
//!   `HyperSleep` dropped on the loop thread cancels its timer at once.
//!   Dropped on another thread it cannot reach that table: its timer then
//!   fires at the deadline and does nothing.
//! - [`HyperExecutor::execute`] and the first poll of a [`HyperSleep`] need
//!   a running loop on the current thread and panic without one, as
//!   [`create_task`](crate::create_task) and [`sleep`](crate::sleep) do.
//!   [`HyperTimer::now`] reads the running loop's clock, or
//!   `Instant::now()` outside a loop.
//!
//! ## Example
//!
//! An HTTP/1 server and a client on one loop, with a header-read timeout
//! on the loop's timer (the dev-dependency `hyper` has `http1`, `client`
//! and `server` on):
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use evloop::net::{TcpListener, TcpStream};
//! use evloop::{HyperExecutor, HyperIo, HyperTimer};
//! use hyper::{body::Incoming, Request, Response};
//!
//! async fn hello(_req: Request<Incoming>) -> Result<Response<String>, Infallible> {
//!     Ok(Response::new("Hello, World!".to_string()))
//! }
//!
//! evloop::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let _server = evloop::create_task(async move {
//!         loop {
//!             let (stream, _) = listener.accept().await.unwrap();
//!             let conn = hyper::server::conn::http1::Builder::new()
//!                 .timer(HyperTimer)
//!                 .header_read_timeout(Duration::from_secs(5))
//!                 .serve_connection(HyperIo::new(stream), hyper::service::service_fn(hello));
//!             drop(evloop::create_task(conn));
//!         }
//!     })
//!     .abort_on_drop();
//!
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await.unwrap();
//!     hyper::rt::Executor::execute(&HyperExecutor, conn);
//!     let req = Request::builder().uri("/").header("host", "localhost").body(String::new()).unwrap();
//!     let resp = sender.send_request(req).await.unwrap();
//!     assert_eq!(resp.status(), 200);
//! });
//! ```
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{Executor, ReadBufCursor, Sleep, Timer};

use crate::CallbackHandle;

/// The most one read asks the inner stream for: hyper's read buffer starts
/// at 8 KiB and grows for large bodies, so reads may be bigger than that.
const MAX_READ: usize = 64 * 1024;

thread_local! {
    /// Scratch space for [`HyperIo`]'s reads, shared by every `HyperIo` on
    /// this thread. It is borrowed only inside one `poll_read` call (read,
    /// then copy out), so one per thread suffices; it grows to the largest
    /// read asked for (at most `MAX_READ`) and is never zeroed again.
    static READ_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A `futures_io` stream as hyper's `rt::Read` and `rt::Write`: pass
/// `HyperIo::new(stream)` where hyper wants an I/O object
/// (`serve_connection`, `handshake`).
///
/// Works with any `AsyncRead + AsyncWrite + Unpin` stream: evloop's
/// [`TcpStream`](crate::net::TcpStream) and
/// [`UnixStream`](crate::net::UnixStream), and wrappers such as TLS streams.
///
/// ```
/// use evloop::net::{TcpListener, TcpStream};
/// use evloop::HyperIo;
///
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let io = HyperIo::new(client);
///     assert!(io.get_ref().peer_addr().is_ok());
///     let _client: TcpStream = io.into_inner();
/// });
/// ```
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably (reading from it directly bypasses
    /// hyper's buffer).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for HyperIo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HyperIo").field(&self.inner).finish()
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(MAX_READ);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        let inner = Pin::new(&mut self.inner);
        READ_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => read_via(inner, cx, &mut buf, &mut scratch, want),
            // Only if the inner stream's read re-enters another `HyperIo`
            // read on this thread: use a buffer of its own.
            Err(_) => read_via(inner, cx, &mut buf, &mut Vec::new(), want),
        })
    }
}

/// Reads up to `want` bytes from `inner` into `scratch`, then into `buf`.
fn read_via<T: AsyncRead>(
    inner: Pin<&mut T>,
    cx: &mut Context<'_>,
    buf: &mut ReadBufCursor<'_>,
    scratch: &mut Vec<u8>,
    want: usize,
) -> Poll<io::Result<()>> {
    if scratch.len() < want {
        scratch.resize(want, 0);
    }
    let n = match inner.poll_read(cx, &mut scratch[..want]) {
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        Poll::Pending => return Poll::Pending,
    };
    buf.put_slice(&scratch[..n]);
    Poll::Ready(Ok(()))
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// hyper's `rt::Executor`: runs each future as a detached task on the
/// running loop, with [`create_task`](crate::create_task).
///
/// The futures need not be `Send`. Give it to hyper where a builder takes an
/// executor (`http2::Builder::new(HyperExecutor)`), or call it to drive a
/// client connection in the background:
///
/// ```
/// use evloop::HyperExecutor;
/// use hyper::rt::Executor;
/// use std::rc::Rc;
///
/// evloop::run(async {
///     let not_send = Rc::new(5);
///     HyperExecutor.execute(async move { assert_eq!(*not_send, 5) });
///     evloop::yield_now().await; // the task runs at the next tick
/// });
/// ```
///
/// # Panics
///
/// `execute` panics outside a running loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperExecutor;

impl<F> Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[track_caller]
    fn execute(&self, fut: F) {
        // Dropping the handle detaches the task; it runs to completion.
        drop(crate::create_task(fut));
    }
}

/// hyper's `rt::Timer`, on the running loop's clock and timer wheel.
///
/// ```
/// use std::time::Duration;
/// use evloop::HyperTimer;
/// use hyper::rt::Timer;
///
/// evloop::run(async {
///     let start = HyperTimer.now();
///     HyperTimer.sleep(Duration::from_millis(10)).await;
///     assert!(HyperTimer.now() - start >= Duration::from_millis(10));
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperTimer;

impl Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        let now = self.now();
        // A duration past the end of `Instant` (hyper uses `Duration::MAX`
        // for "never") is a year away, which the loop treats as never.
        let deadline = now
            .checked_add(duration)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        self.sleep_until(deadline)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HyperSleep::new(deadline))
    }

    fn now(&self) -> Instant {
        crate::try_get_running_loop().map_or_else(Instant::now, |h| h.time())
    }
}

/// What the loop's timer callback tells a [`HyperSleep`].
#[derive(Default)]
struct Shared {
    fired: bool,
    waker: Option<Waker>,
}

thread_local! {
    /// Loop-side timer handles of the armed `HyperSleep`s on this thread, by
    /// id, so that dropping one cancels its timer.
    static TIMERS: RefCell<HashMap<u64, CallbackHandle>> = RefCell::new(HashMap::new());
}

/// Ids for `TIMERS`, unique across threads so a sleep dropped on another
/// thread can never cancel that thread's timer by mistake.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The `Send + Sync` sleep [`HyperTimer`] hands to hyper: ready at its
/// deadline on the loop that first polls it.
///
/// ```
/// use std::time::Duration;
/// use evloop::{HyperSleep, HyperTimer};
///
/// fn is_send_sync<T: Send + Sync>(_: &T) {}
///
/// evloop::run(async {
///     let deadline = evloop::get_running_loop().time() + Duration::from_millis(5);
///     let sleep = HyperSleep::new(deadline);
///     is_send_sync(&sleep);
///     sleep.await;
///     assert!(hyper::rt::Timer::now(&HyperTimer) >= deadline);
/// });
/// ```
pub struct HyperSleep {
    deadline: Instant,
    shared: Arc<Mutex<Shared>>,
    /// This sleep's key in `TIMERS`, once its timer is armed.
    armed: Option<u64>,
}

impl HyperSleep {
    /// A sleep until `deadline` (on the loop's clock). Its timer is armed
    /// at the first poll.
    pub fn new(deadline: Instant) -> HyperSleep {
        HyperSleep {
            deadline,
            shared: Arc::new(Mutex::new(Shared::default())),
            armed: None,
        }
    }

    /// When it is ready.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl fmt::Debug for HyperSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperSleep")
            .field("deadline", &self.deadline)
            .field("armed", &self.armed.is_some())
            .finish_non_exhaustive()
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut shared = crate::to_thread::lock(&self.shared);
            if shared.fired {
                return Poll::Ready(());
            }
            // Stored before arming: the callback runs on this thread at a
            // later tick, so it always finds the newest waker.
            drop(crate::task::register_waker(&mut shared.waker, cx.waker()));
        }
        if self.armed.is_none() {
            let handle = crate::get_running_loop();
            if self.deadline <= handle.time() {
                return Poll::Ready(());
            }
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let shared = self.shared.clone();
            let cb = handle.call_at(self.deadline, move || {
                TIMERS.with(|t| t.borrow_mut().remove(&id));
                let waker = {
                    let mut s = crate::to_thread::lock(&shared);
                    s.fired = true;
                    s.waker.take()
                };
                // Woken outside the lock: the waker may poll at once.
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

impl Sleep for HyperSleep {}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        if let Some(id) = self.armed {
            // Removed from the table first and cancelled after the borrow
            // ends, in case cancelling drops something that sleeps. After
            // the timer fired, or on another thread, there is nothing to
            // find (see the module docs).
            if let Ok(Some(cb)) = TIMERS.try_with(|t| t.borrow_mut().remove(&id)) {
                cb.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dropping_an_armed_sleep_cancels_its_timer() {
        let mut lp = crate::EventLoop::builder().manual_clock().build().unwrap();
        lp.run_until_complete(async {
            let deadline = HyperTimer.now() + Duration::from_secs(60);
            let mut sleep = Box::pin(HyperSleep::new(deadline));
            let mut cx = Context::from_waker(futures_task::noop_waker_ref());
            assert!(sleep.as_mut().poll(&mut cx).is_pending());
            assert_eq!(TIMERS.with(|t| t.borrow().len()), 1);
            drop(sleep);
            assert_eq!(TIMERS.with(|t| t.borrow().len()), 0);
        })
        .unwrap();
    }
}
