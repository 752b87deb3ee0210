//! Unix domain stream sockets: [`UnixListener`] and [`UnixStream`].
//!
//! # Ground rules
//!
//! - Same readiness rules as TCP (`tcp.rs`); a connect finishes when the
//!   socket is writable and reports no error.
//! - Binding creates the socket file; dropping the listener does not remove
//!   it (as with std and asyncio): delete it yourself when done.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{DuplexStream, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::reactor::{Direction, IoSource};

/// A Unix domain socket server: asyncio's `start_unix_server`.
///
/// ```
/// use evloop::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("evloop-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// evloop::run(async {
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let (server, _addr) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    io: IoSource<mio::net::UnixListener>,
}

impl UnixListener {
    /// Creates the socket file at `path` and listens on it.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the file exists.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_mio(mio::net::UnixListener::bind(path)?)
    }

    /// Wraps a listener made with the standard library (it is switched to
    /// non-blocking mode).
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        UnixListener::from_mio(mio::net::UnixListener::from_std(listener))
    }

    fn from_mio(listener: mio::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: IoSource::with_interest(listener, mio::Interest::READABLE)?,
        })
    }

    /// Waits for a connection and accepts it.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection: the building block of [`accept`](Self::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (stream, addr) = ready!(self.io.poll_io(cx, Direction::Read, |l| l.accept()))?;
        Poll::Ready(Ok((UnixStream::from_mio(stream)?, addr)))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix domain stream socket: asyncio's `open_unix_connection`.
///
/// The same operations as [`TcpStream`](super::TcpStream), all on `&self`.
///
/// ```
/// use evloop::net::UnixStream;
///
/// evloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    io: IoSource<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path` and waits until connected.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no such file, `ConnectionRefused` if nobody
    /// listens on it.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream::from_mio(mio::net::UnixStream::connect(path)?)?;
        poll_fn(|cx| {
            ready!(stream.io.poll_ready(cx, Direction::Write));
            match stream.io.get_ref().take_error()? {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Ready(Ok(())),
            }
        })
        .await?;
        Ok(stream)
    }

    /// A connected pair of sockets, like `socketpair(2)`.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a)?, UnixStream::from_mio(b)?))
    }

    /// Wraps a connected stream made with the standard library (it is
    /// switched to non-blocking mode).
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_mio(mio::net::UnixStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: IoSource::new(stream)?,
        })
    }

    /// Reads some bytes into `buf`; `Ok(0)` at end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Reads exactly `buf.len()` bytes (`UnexpectedEof` if the stream ends first).
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        super::read_exact_with(|cx, b| self.poll_read(cx, b), buf).await
    }

    /// Writes some of `buf`, returning how many bytes were written.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        super::write_all_with(|cx, b| self.poll_write(cx, b), buf).await
    }

    /// Polls a read.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| (&*s).read(buf))
    }

    /// Polls a write.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |s| (&*s).write(buf))
    }

    /// Shuts down the read, write or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Borrows the stream as a read half and a write half.
    pub fn split(&self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        super::split(self)
    }

    /// Splits the stream into owned halves that can move into separate
    /// tasks. Dropping the write half shuts down the write direction.
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        super::into_split(self)
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl super::sealed::Sealed for UnixStream {}

impl DuplexStream for UnixStream {
    fn poll_read_shared(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read(cx, buf)
    }
    fn poll_write_shared(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write(cx, buf)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

macro_rules! impl_stream_traits {
    ($ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                UnixStream::poll_read(&self, cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                UnixStream::poll_write(&self, cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(Shutdown::Write))
            }
        }
    };
}
impl_stream_traits!(UnixStream);
impl_stream_traits!(&UnixStream);
