//! Networking: asyncio's `open_connection` / `start_server` world as types.
//!
//! - [`TcpListener`] and [`TcpStream`] for TCP over IPv4 and IPv6.
//! - [`UdpSocket`] for datagrams.
//! - [`UnixListener`] and [`UnixStream`] for Unix domain stream sockets.
//! - [`StreamReader`], a buffered reader with `read_line`, `read_until` and
//!   `read_exact`, like asyncio's `StreamReader`.
//!
//! ```
//! use evloop::net::{TcpListener, TcpStream};
//!
//! evloop::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = evloop::create_task(async move {
//!         let (stream, _peer) = listener.accept().await?;
//!         let mut buf = [0; 5];
//!         stream.read_exact(&mut buf).await?;
//!         stream.write_all(&buf).await // echo it back
//!     });
//!     let client = TcpStream::connect(addr).await?;
//!     client.write_all(b"hello").await?;
//!     let mut buf = [0; 5];
//!     client.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"hello");
//!     server.await.unwrap()
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Ground rules
//!
//! - Every socket is made, used and dropped on the loop that made it: it is
//!   registered with that loop's reactor when created (which panics outside
//!   a running loop) and deregistered when dropped.
//! - Operations take `&self`: one task may read while another writes the
//!   same stream (that is all [`TcpStream::split`] does). Two tasks reading
//!   the same stream at once is allowed but only the last one to wait is
//!   woken, so do not.
//! - Errors are the kernel's, as `io::Error`s with their real kinds:
//!   `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, `AddrInUse`, ...
//!   A peer that resets the connection while a task waits makes the wait end
//!   with the error, never hang.
//! - Streams implement `futures_io::AsyncRead` and `AsyncWrite`, so crates
//!   built on the `futures` traits work on them; `poll_close` shuts down the
//!   write side.
//! - Name resolution in `bind` / `connect` uses `ToSocketAddrs`, which blocks
//!   for host names other than literals and `/etc/hosts` entries. A
//!   production runtime resolves on a thread; here you can do that yourself
//!   with [`to_thread`](crate::to_thread) and pass a `SocketAddr`.
#![forbid(unsafe_code)]

mod stream_reader;
mod tcp;
mod udp;
mod unix;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

pub use stream_reader::StreamReader;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

mod sealed {
    pub trait Sealed {}
}

/// A byte stream whose two directions can be used by different tasks:
/// [`TcpStream`] and [`UnixStream`]. Its methods are the ones the halves
/// returned by `split` / `into_split` need; call the streams' own methods
/// instead.
pub trait DuplexStream: sealed::Sealed {
    #[doc(hidden)]
    fn poll_read_shared(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn poll_write_shared(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn shutdown_write(&self) -> io::Result<()>;
}

/// Reads until `buf` is full; `UnexpectedEof` if the stream ends first.
pub(crate) async fn read_exact_with(
    mut poll_read: impl FnMut(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    mut buf: &mut [u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| poll_read(cx, buf)).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream ended before the buffer was filled",
            ));
        }
        buf = &mut std::mem::take(&mut buf)[n..];
    }
    Ok(())
}

/// Writes all of `buf`; `WriteZero` if the stream stops accepting bytes.
pub(crate) async fn write_all_with(
    mut poll_write: impl FnMut(&mut Context<'_>, &[u8]) -> Poll<io::Result<usize>>,
    mut buf: &[u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "stream accepted no more bytes",
            ));
        }
        buf = &buf[n..];
    }
    Ok(())
}

macro_rules! half_io_methods {
    (read) => {
        /// Reads some bytes into `buf`; `Ok(0)` at end of stream.
        pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
            poll_fn(|cx| self.0.poll_read_shared(cx, buf)).await
        }

        /// Reads exactly `buf.len()` bytes (`UnexpectedEof` if the stream ends first).
        pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
            read_exact_with(|cx, b| self.0.poll_read_shared(cx, b), buf).await
        }
    };
    (write) => {
        /// Writes some of `buf`, returning how many bytes were written.
        pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
            poll_fn(|cx| self.0.poll_write_shared(cx, buf)).await
        }

        /// Writes all of `buf`.
        pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
            write_all_with(|cx, b| self.0.poll_write_shared(cx, b), buf).await
        }

        /// Shuts down the write direction: the peer reads end of stream.
        pub fn shutdown(&self) -> io::Result<()> {
            self.0.shutdown_write()
        }
    };
}

/// The reading half of a stream, borrowed from it by `split()`.
#[derive(Debug)]
pub struct ReadHalf<'a, S>(&'a S);

/// The writing half of a stream, borrowed from it by `split()`.
#[derive(Debug)]
pub struct WriteHalf<'a, S>(&'a S);

/// The reading half of a stream, owned, from `into_split()`.
#[derive(Debug)]
pub struct OwnedReadHalf<S>(Rc<S>);

/// The writing half of a stream, owned, from `into_split()`. Dropping it
/// shuts down the write direction (the peer reads end of stream), as the
/// whole stream's drop would.
#[derive(Debug)]
pub struct OwnedWriteHalf<S: DuplexStream>(Rc<S>);

impl<S: DuplexStream> ReadHalf<'_, S> {
    half_io_methods!(read);
}
impl<S: DuplexStream> OwnedReadHalf<S> {
    half_io_methods!(read);
}
impl<S: DuplexStream> WriteHalf<'_, S> {
    half_io_methods!(write);
}
impl<S: DuplexStream> OwnedWriteHalf<S> {
    half_io_methods!(write);
}

impl<S: DuplexStream> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        // Already shut down, or the peer is gone: nothing to report.
        let _ = self.0.shutdown_write();
    }
}

pub(crate) fn split<S: DuplexStream>(stream: &S) -> (ReadHalf<'_, S>, WriteHalf<'_, S>) {
    (ReadHalf(stream), WriteHalf(stream))
}

pub(crate) fn into_split<S: DuplexStream>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let stream = Rc::new(stream);
    (OwnedReadHalf(stream.clone()), OwnedWriteHalf(stream))
}

macro_rules! impl_async_read {
    ($ty:ty) => {
        impl<S: DuplexStream> futures_io::AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.0.poll_read_shared(cx, buf)
            }
        }
    };
}
macro_rules! impl_async_write {
    ($ty:ty) => {
        impl<S: DuplexStream> futures_io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.0.poll_write_shared(cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.0.shutdown_write())
            }
        }
    };
}
impl_async_read!(ReadHalf<'_, S>);
impl_async_read!(OwnedReadHalf<S>);
impl_async_write!(WriteHalf<'_, S>);
impl_async_write!(OwnedWriteHalf<S>);
