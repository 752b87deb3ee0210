//! TCP: [`TcpListener`] and [`TcpStream`], on mio's non-blocking sockets.
//!
//! # Ground rules
//!
//! - A connect is finished when the socket turns writable *and* has a peer
//!   address; a pending socket error (`SO_ERROR`) at that point is the
//!   connect's failure (`ConnectionRefused`, `TimedOut`, ...).
//! - A short read or write (more than zero bytes, fewer than asked) means
//!   the receive queue is empty or the send buffer full: it clears the
//!   direction's readiness like `WouldBlock` does, without the syscall that
//!   would return `WouldBlock` (end-of-stream and error bits stay).
//! - Waiting for a connect goes through the same waiter list and budget as
//!   any write (`reactor/registration.rs`).
//! - Any number of tasks may `accept` on one listener; each connection goes
//!   to one of them, longest-waiting first.
//! - An `accept` error other than `WouldBlock` does not clear the
//!   listener's readiness: the pending connection stays in the backlog, and
//!   the next `accept` tries it again. That is what lets an accept loop ride
//!   out `EMFILE` (see `examples/echo_server.rs`).
#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

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
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| TcpListener::from_mio(mio::net::TcpListener::bind(addr)?))
    }

    /// Wraps a listener made with the standard library (it is switched to
    /// non-blocking mode).
    ///
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }
}

super::stream::listener_methods!(TcpListener, mio::net::TcpListener, TcpStream, SocketAddr);

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
    /// A TCP `recv` returns fewer bytes than asked only once the receive
    /// queue is empty, and a `send` takes fewer than offered only when the
    /// send buffer is full; either way the kernel sends a new edge when that
    /// changes. So a short read or write clears readiness, which saves the
    /// `WouldBlock` syscall per wake-up (see `reactor/registration.rs`).
    const SHORT_TRANSFER_DRAINS: bool = true;

    /// Connects to `addr`, trying each resolved address in turn, and waits
    /// until the connection is established: asyncio's `open_connection`.
    ///
    /// Literal addresses (`SocketAddr`, `"127.0.0.1:80"`, `"[::1]:80"`,
    /// `("10.0.0.1", 80)`) are used as they are; a host name is resolved on
    /// the [`to_thread`](crate::to_thread) pool, as asyncio runs
    /// `getaddrinfo` in its executor, so a slow DNS server never blocks the
    /// loop (see [`ToSocketAddrs`](super::ToSocketAddrs)).
    ///
    /// # Errors
    ///
    /// The resolver's error for a name that does not resolve;
    /// `ConnectionRefused` if nothing listens there, `TimedOut`, ...: the
    /// error of the last address tried.
    ///
    /// # Panics
    ///
    /// When awaited outside a running evloop loop.
    pub async fn connect(addr: impl super::ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last_err = None;
        for addr in super::addr::resolve(&addr).await? {
            match TcpStream::connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(no_addresses))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        stream
            .io
            .io(Direction::Write, |sock| {
                if let Some(e) = sock.take_error()? {
                    return Err(e);
                }
                match sock.peer_addr() {
                    Ok(_) => Ok(()),
                    // Writable but not yet connected: still in progress, which
                    // is this operation's `WouldBlock` (clear the readiness and
                    // wait for the next edge).
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(stream)
    }

    /// Wraps a connected stream made with the standard library (it is
    /// switched to non-blocking mode).
    ///
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: IoSource::new(stream, "TcpStream")?,
        })
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
}

super::stream::stream_methods!(
    TcpStream,
    SocketAddr,
    [
        " # use evloop::net::{TcpListener, TcpStream};",
        " # evloop::run(async {",
        " # let listener = TcpListener::bind(\"127.0.0.1:0\")?;",
        " # let client = TcpStream::connect(listener.local_addr()?).await?;",
        " # let (server, _) = listener.accept().await?;",
    ]
);

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
