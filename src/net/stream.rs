//! What [`TcpStream`](super::TcpStream) and [`UnixStream`](super::UnixStream)
//! share: the [`DuplexStream`] trait, the halves that `split` and
//! `into_split` return, and the `stream_methods!` macro that writes the two
//! streams' common methods and trait impls once (`listener_methods!` does
//! the same for the two listeners).
//!
//! # Ground rules
//!
//! - A stream type is a struct with one field, `io: IoSource<S>` (registered
//!   under the type's name, which cross-loop panics quote), where `S`
//!   is a mio stream socket (`&S` is `Read + Write` and `S` has
//!   `shutdown`, `local_addr` and `peer_addr`), plus an associated
//!   `const SHORT_TRANSFER_DRAINS: bool`: whether a short read or write
//!   proves the socket drained / full, so that it may clear readiness (see
//!   `IoSource::poll_stream_io`). The macro needs nothing else; the type's
//!   own file adds what differs (connecting, `pair`, `set_nodelay`, ...).
//! - The async methods (`read`, `write`, `read_exact`, `write_all`,
//!   `accept`) own their waiter entry and remove it when dropped; the
//!   `poll_*` methods, the `futures-io` impls and the split halves leave a
//!   de-duplicated shared entry (see `reactor/registration.rs`). Either way
//!   each attempt spends one unit of the task's cooperative budget.
//! - Every stream and listener implements `AsRawFd` and `AsFd` (for
//!   socket options evloop does not wrap); the fd is already watched by
//!   its loop, so it cannot also go to an `AsyncFd` or `add_reader` on
//!   that loop (`AlreadyExists`).
//! - A macro rather than a generic `Stream<S>`: the public types stay two
//!   plain structs, and no mio type shows in the public API.
#![forbid(unsafe_code)]

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A byte stream whose two directions can be used by different tasks:
/// [`TcpStream`](super::TcpStream) and [`UnixStream`](super::UnixStream).
/// Its methods are the ones the halves returned by `split` / `into_split`
/// need; call the streams' own methods instead.
pub trait DuplexStream: sealed::Sealed {
    #[doc(hidden)]
    fn poll_read_shared(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn poll_write_shared(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn shutdown_write(&self) -> io::Result<()>;
}

/// The error of a `read_exact` that met the end of the stream.
pub(crate) fn early_eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "stream ended before the buffer was filled",
    )
}

/// The error of a `write_all` whose stream stopped taking bytes.
pub(crate) fn write_zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "stream accepted no more bytes")
}

/// Reads until `buf` is full; `UnexpectedEof` if the stream ends first.
pub(crate) async fn read_exact_with(
    mut poll_read: impl FnMut(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    mut buf: &mut [u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| poll_read(cx, buf)).await?;
        if n == 0 {
            return Err(early_eof());
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
            return Err(write_zero());
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

/// `AsRawFd` and `AsFd` for a socket type whose one field is `io:
/// IoSource<S>`: every socket type in `net` (the streams and listeners
/// through their macros, `UdpSocket` directly).
macro_rules! fd_impls {
    ($name:ident) => {
        impl std::os::fd::AsRawFd for $name {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.get_ref().as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $name {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.get_ref().as_fd()
            }
        }
    };
}
pub(crate) use fd_impls;

/// Writes the methods and trait impls shared by the stream types (see the
/// module docs): `stream_methods!(TcpStream, SocketAddr, [hidden doctest
/// lines that bind a connected `client` and `server`])`.
macro_rules! stream_methods {
    ($name:ident, $addr:ty, [$($setup:literal),* $(,)?]) => {
        impl $name {
            /// Reads some bytes into `buf`, waiting until at least one is available;
            /// `Ok(0)` means the peer closed its write side (end of stream).
            ///
            /// Several tasks may wait on one stream; they are woken in the order they
            /// began to wait. Dropping the future cancels the read and leaves nothing
            /// behind.
            ///
            /// # Errors
            ///
            /// `ConnectionReset` if the peer reset the connection, and the like.
            ///
            /// # Panics
            ///
            /// When awaited on any loop but the one that made the stream.
            pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let short_of = Self::SHORT_TRANSFER_DRAINS.then_some(buf.len());
                self.io
                    .stream_io(crate::reactor::Direction::Read, short_of, |s| {
                        std::io::Read::read(&mut &*s, &mut *buf)
                    })
                    .await
            }

            /// Reads exactly `buf.len()` bytes.
            ///
            /// # Errors
            ///
            /// `UnexpectedEof` if the stream ends first, or the read's error.
            pub async fn read_exact(&self, mut buf: &mut [u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    let n = self.read(buf).await?;
                    if n == 0 {
                        return Err(crate::net::stream::early_eof());
                    }
                    buf = &mut std::mem::take(&mut buf)[n..];
                }
                Ok(())
            }

            /// Writes some of `buf`, waiting until the socket accepts at least one
            /// byte, and returns how many it took.
            ///
            /// # Errors
            ///
            /// `BrokenPipe` or `ConnectionReset` if the peer is gone, and the like.
            ///
            /// # Panics
            ///
            /// When awaited on any loop but the one that made the stream.
            pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
                let short_of = Self::SHORT_TRANSFER_DRAINS.then_some(buf.len());
                self.io
                    .stream_io(crate::reactor::Direction::Write, short_of, |s| {
                        std::io::Write::write(&mut &*s, buf)
                    })
                    .await
            }

            /// Writes all of `buf`.
            ///
            /// # Errors
            ///
            /// As [`write`](Self::write).
            pub async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    let n = self.write(buf).await?;
                    if n == 0 {
                        return Err(crate::net::stream::write_zero());
                    }
                    buf = &buf[n..];
                }
                Ok(())
            }

            /// Polls a read: what the `AsyncRead` impl and the split halves use.
            /// A pending poll leaves the task's waker listed until the next
            /// readiness event (once per task, however often it polls).
            ///
            /// # Panics
            ///
            /// When polled on any loop but the one that made the stream.
            #[track_caller]
            pub fn poll_read(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let short_of = Self::SHORT_TRANSFER_DRAINS.then_some(buf.len());
                self.io
                    .poll_stream_io(cx, crate::reactor::Direction::Read, short_of, |s| {
                        std::io::Read::read(&mut &*s, &mut *buf)
                    })
            }

            /// Polls a write: what the `AsyncWrite` impl and the split halves use.
            /// A pending poll leaves the task's waker listed until the next
            /// readiness event (once per task, however often it polls).
            ///
            /// # Panics
            ///
            /// When polled on any loop but the one that made the stream.
            #[track_caller]
            pub fn poll_write(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let short_of = Self::SHORT_TRANSFER_DRAINS.then_some(buf.len());
                self.io
                    .poll_stream_io(cx, crate::reactor::Direction::Write, short_of, |s| {
                        std::io::Write::write(&mut &*s, buf)
                    })
            }

            /// Shuts down the read, write or both directions. After
            /// `Shutdown::Write` the peer reads end of stream, and this side can
            /// still read what the peer sends.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.io.get_ref().shutdown(how)
            }

            /// The remote address.
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                self.io.get_ref().peer_addr()
            }

            /// The local address.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.io.get_ref().local_addr()
            }

            /// Borrows the stream as a read half and a write half, for two tasks
            /// or two branches of a `select`.
            ///
            /// ```
            $(#[doc = $setup])*
            /// let (rd, wr) = server.split();
            /// client.write_all(b"x").await?;
            /// let mut b = [0];
            /// rd.read_exact(&mut b).await?;
            /// wr.write_all(&b).await?;
            /// client.read_exact(&mut b).await?;
            /// assert_eq!(&b, b"x");
            /// # Ok::<(), std::io::Error>(())
            /// # })?;
            /// # Ok::<(), std::io::Error>(())
            /// ```
            pub fn split(&self) -> (crate::net::ReadHalf<'_, $name>, crate::net::WriteHalf<'_, $name>) {
                crate::net::stream::split(self)
            }

            /// Splits the stream into owned halves that can move into separate
            /// tasks. Dropping the write half shuts down the write direction.
            ///
            /// ```
            $(#[doc = $setup])*
            /// let (rd, wr) = client.into_split();
            /// let writer = evloop::create_task(async move { wr.write_all(b"hi").await });
            /// let mut b = [0; 2];
            /// server.read_exact(&mut b).await?;
            /// server.write_all(&b).await?;
            /// rd.read_exact(&mut b).await?;
            /// assert_eq!(&b, b"hi");
            /// writer.await.unwrap()?;
            /// # Ok::<(), std::io::Error>(())
            /// # })?;
            /// # Ok::<(), std::io::Error>(())
            /// ```
            pub fn into_split(self) -> (crate::net::OwnedReadHalf<$name>, crate::net::OwnedWriteHalf<$name>) {
                crate::net::stream::into_split(self)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("local_addr", &self.local_addr().ok())
                    .field("peer_addr", &self.peer_addr().ok())
                    .finish()
            }
        }

        crate::net::stream::fd_impls!($name);

        impl crate::net::stream::sealed::Sealed for $name {}

        impl crate::net::DuplexStream for $name {
            fn poll_read_shared(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read(cx, buf)
            }
            fn poll_write_shared(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write(cx, buf)
            }
            fn shutdown_write(&self) -> std::io::Result<()> {
                self.shutdown(std::net::Shutdown::Write)
            }
        }

        crate::net::stream::stream_methods!(@futures_io $name, $name);
        crate::net::stream::stream_methods!(@futures_io $name, &$name);
    };
    (@futures_io $name:ident, $ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $name::poll_read(&self, cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $name::poll_write(&self, cx, buf)
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Bytes go straight to the kernel: there is nothing to flush.
                std::task::Poll::Ready(Ok(()))
            }
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}
pub(crate) use stream_methods;

/// Writes what [`TcpListener`](super::TcpListener) and
/// [`UnixListener`](super::UnixListener) share:
/// `listener_methods!(TcpListener, mio::net::TcpListener, TcpStream, SocketAddr)`
/// for a struct with one field, `io: IoSource<mio::net::TcpListener>`.
macro_rules! listener_methods {
    ($name:ident, $mio:ty, $stream:ident, $addr:ty) => {
        impl $name {
            fn from_mio(listener: $mio) -> std::io::Result<$name> {
                Ok($name {
                    io: crate::reactor::IoSource::with_interest(listener, mio::Interest::READABLE, stringify!($name))?,
                })
            }

            /// Waits for a connection and accepts it.
            ///
            /// Any number of tasks may wait on one listener (say, sharing it
            /// through an `Rc`): each connection goes to one of them, the one
            /// that has waited longest first. Dropping the future (a time-out, a
            /// cancelled task) leaves nothing behind and takes no connection.
            ///
            /// # Errors
            ///
            /// The kernel's: e.g. `EMFILE` ("too many open files") when the process
            /// is out of fds; the connection stays queued and a later `accept` can
            /// still take it.
            ///
            /// # Panics
            ///
            /// When awaited on any loop but the one that made the listener.
            pub async fn accept(&self) -> std::io::Result<($stream, $addr)> {
                let (stream, addr) = self
                    .io
                    .io(crate::reactor::Direction::Read, |l| l.accept())
                    .await?;
                Ok(($stream::from_mio(stream)?, addr))
            }

            /// Polls for a connection: [`accept`](Self::accept) for hand-written
            /// futures. A pending poll leaves the task's waker listed until the
            /// next connection arrives (once per task, however often it polls).
            ///
            /// # Panics
            ///
            /// When polled on any loop but the one that made the listener.
            #[track_caller]
            pub fn poll_accept(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<($stream, $addr)>> {
                let poll = self
                    .io
                    .poll_io(cx, crate::reactor::Direction::Read, |l| l.accept());
                let (stream, addr) = std::task::ready!(poll)?;
                std::task::Poll::Ready(Ok(($stream::from_mio(stream)?, addr)))
            }

            /// The address the listener is bound to.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.io.get_ref().local_addr()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("local_addr", &self.local_addr().ok())
                    .finish()
            }
        }

        crate::net::stream::fd_impls!($name);
    };
}
pub(crate) use listener_methods;
