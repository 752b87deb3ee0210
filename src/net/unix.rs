//! Unix domain stream sockets: [`UnixListener`] and [`UnixStream`].
//!
//! # Ground rules
//!
//! - Same readiness rules as TCP (`tcp.rs`), except that a short read or
//!   write does not clear readiness (only `WouldBlock` does); a connect
//!   finishes when the socket is writable and reports no error.
//! - Binding creates the socket file; dropping the listener does not remove
//!   it (as with std and asyncio): delete it yourself when done.
#![forbid(unsafe_code)]

use std::io;
use std::os::unix::net::SocketAddr;
use std::path::Path;

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
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_mio(mio::net::UnixListener::bind(path)?)
    }

    /// Wraps a listener made with the standard library (it is switched to
    /// non-blocking mode).
    ///
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        UnixListener::from_mio(mio::net::UnixListener::from_std(listener))
    }
}

super::stream::listener_methods!(UnixListener, mio::net::UnixListener, UnixStream, SocketAddr);

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
    /// Unlike TCP, a Unix stream `recv` can stop short with more bytes
    /// queued and no new edge coming (at out-of-band data, and with
    /// `SO_PASSCRED` where two writers' bytes meet): a short read proves
    /// nothing, so readiness is cleared only on `WouldBlock` (see
    /// `reactor/registration.rs`).
    const SHORT_TRANSFER_DRAINS: bool = false;

    /// Connects to the socket at `path` and waits until connected.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no such file, `ConnectionRefused` if nobody
    /// listens on it.
    ///
    /// # Panics
    ///
    /// When awaited outside a running evloop loop.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream::from_mio(mio::net::UnixStream::connect(path)?)?;
        stream
            .io
            .io(Direction::Write, |sock| match sock.take_error()? {
                Some(e) => Err(e),
                None => Ok(()),
            })
            .await?;
        Ok(stream)
    }

    /// A connected pair of sockets, like `socketpair(2)`.
    ///
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a)?, UnixStream::from_mio(b)?))
    }

    /// Wraps a connected stream made with the standard library (it is
    /// switched to non-blocking mode).
    ///
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_mio(mio::net::UnixStream::from_std(stream))
    }

    fn from_mio(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: IoSource::new(stream, "UnixStream")?,
        })
    }
}

super::stream::stream_methods!(
    UnixStream,
    SocketAddr,
    [
        " # use evloop::net::UnixStream;",
        " # evloop::run(async {",
        " # let (client, server) = UnixStream::pair()?;"
    ]
);
