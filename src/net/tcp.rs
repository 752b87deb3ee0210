//! TCP: [`TcpListener`] and [`TcpStream`], on mio's non-blocking sockets.
//!
//! # Ground rules
//!
//! - A connect is finished when the socket turns writable *and* has a peer
//!   address; a pending socket error (`SO_ERROR`) at that point is the
//!   connect's failure (`ConnectionRefused`, `TimedOut`, ...).
//! - An `accept` error other than `WouldBlock` does not clear the
//!   listener's readiness: the pending connection stays in the backlog, and
//!   the next `accept` tries it again. That is what lets an accept loop ride
//!   out `EMFILE` (see `examples/echo_server.rs`).
#![forbid(unsafe_code)]

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{DuplexStream, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::reactor::{Direction, IoSource};

/// A TCP socket server, listening for connections: what asyncio's
/// `start_server` binds.
///
/// ```
/// use evloop::net::{TcpListener, TcpStream};
///
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server_side, peer) = listener.accept().await?;
///     assert_eq!(peer, client.local_addr()?);
///     assert_eq!(server_side.peer_addr()?, client.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    io: IoSource<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (trying each resolved address in turn) and listens.
    /// Port 0 picks a free port; see [`local_addr`](Self::local_addr).
    ///
    /// # Errors
    ///
    /// `AddrInUse` if another socket listens there, and the like.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| TcpListener::from_mio(mio::net::TcpListener::bind(addr)?))
    }

    /// Wraps a listener made with the standard library (it is switched to
    /// non-blocking mode).
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: IoSource::with_interest(listener, mio::Interest::READABLE)?,
        })
    }

    /// Waits for a connection and accepts it.
    ///
    /// # Errors
    ///
    /// The kernel's: e.g. `EMFILE` ("too many open files") when the process
    /// is out of fds; the connection stays queued and a later `accept` can
    /// still take it.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection: the building block of [`accept`](Self::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, addr) = ready!(self.io.poll_io(cx, Direction::Read, |l| l.accept()))?;
        Poll::Ready(Ok((TcpStream::from_mio(stream)?, addr)))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection: what asyncio's `open_connection` opens.
///
/// All operations take `&self`, so one task can read while another writes;
/// [`split`](Self::split) and [`into_split`](Self::into_split) make that
/// explicit. Dropping the stream closes the socket.
///
/// ```
/// use std::net::Shutdown;
/// use evloop::net::{TcpListener, TcpStream};
///
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"ping").await?;
///     client.shutdown(Shutdown::Write)?; // half-close: "that's all from me"
///     let mut got = Vec::new();
///     let mut buf = [0; 64];
///     loop {
///         let n = server.read(&mut buf).await?;
///         if n == 0 { break } // end of stream
///         got.extend_from_slice(&buf[..n]);
///     }
///     assert_eq!(got, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    io: IoSource<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn, and waits
    /// until the connection is established.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` if nothing listens there, `TimedOut`, ...: the
    /// error of the last address tried.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last_err = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(no_addresses))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| loop {
            ready!(stream.io.poll_ready(cx, Direction::Write));
            let sock = stream.io.get_ref();
            if let Some(e) = sock.take_error()? {
                return Poll::Ready(Err(e));
            }
            match sock.peer_addr() {
                Ok(_) => return Poll::Ready(Ok(())),
                // Writable but not yet connected: still in progress, which
                // is this operation's `WouldBlock`. Wait for the next edge.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => stream.io.clear_readiness(Direction::Write),
                Err(e) => return Poll::Ready(Err(e)),
            }
        })
        .await?;
        Ok(stream)
    }

    /// Wraps a connected stream made with the standard library (it is
    /// switched to non-blocking mode).
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: IoSource::new(stream)?,
        })
    }

    /// Reads some bytes into `buf`, waiting until at least one is available;
    /// `Ok(0)` means the peer closed its write side (end of stream).
    ///
    /// # Errors
    ///
    /// `ConnectionReset` if the peer reset the connection, and the like.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first, or the read's error.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        super::read_exact_with(|cx, b| self.poll_read(cx, b), buf).await
    }

    /// Writes some of `buf`, waiting until the socket accepts at least one
    /// byte, and returns how many it took.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` or `ConnectionReset` if the peer is gone, and the like.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        super::write_all_with(|cx, b| self.poll_write(cx, b), buf).await
    }

    /// Polls a read: the building block of [`read`](Self::read).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| (&*s).read(buf))
    }

    /// Polls a write: the building block of [`write`](Self::write).
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |s| (&*s).write(buf))
    }

    /// Shuts down the read, write or both directions. After
    /// `Shutdown::Write` the peer reads end of stream, and this side can
    /// still read what the peer sends.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes go out
    /// at once instead of being coalesced).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Borrows the stream as a read half and a write half, for two tasks
    /// or two branches of a `select`.
    ///
    /// ```
    /// # use evloop::net::{TcpListener, TcpStream};
    /// # evloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
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
    pub fn split(&self) -> (ReadHalf<'_, TcpStream>, WriteHalf<'_, TcpStream>) {
        super::split(self)
    }

    /// Splits the stream into owned halves that can move into separate
    /// tasks. Dropping the write half shuts down the write direction.
    ///
    /// ```
    /// # use evloop::net::{TcpListener, TcpStream};
    /// # evloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
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
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        super::into_split(self)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl super::sealed::Sealed for TcpStream {}

impl DuplexStream for TcpStream {
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
                TcpStream::poll_read(&self, cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                TcpStream::poll_write(&self, cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Bytes go straight to the kernel: there is nothing to flush.
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(Shutdown::Write))
            }
        }
    };
}
impl_stream_traits!(TcpStream);
impl_stream_traits!(&TcpStream);

/// Runs `f` on each address `addr` resolves to, until one succeeds.
pub(super) fn each_addr<T>(addr: impl ToSocketAddrs, mut f: impl FnMut(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(v) => return Ok(v),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")
}
