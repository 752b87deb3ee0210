//! UDP: [`UdpSocket`], datagrams on mio's non-blocking socket.
//!
//! # Ground rules
//!
//! - One operation is one datagram: a receive buffer smaller than the
//!   datagram truncates it (the rest is lost), as with the kernel's
//!   `recvfrom`.
//! - Any number of tasks may send or receive on one socket; they are woken
//!   in the order they began to wait, and each receive takes one datagram.
//! - On a connected socket, an ICMP "port unreachable" for an earlier send
//!   surfaces as `ConnectionRefused` from a later `send` or `recv`.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use super::tcp::each_addr;
use crate::reactor::{Direction, IoSource};

/// A UDP socket: asyncio's `create_datagram_endpoint`, as a plain object.
///
/// ```
/// use evloop::net::UdpSocket;
///
/// evloop::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    io: IoSource<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (trying each resolved address in turn). Port 0 picks
    /// a free port.
    ///
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| UdpSocket::from_mio(mio::net::UdpSocket::bind(addr)?))
    }

    /// Wraps a socket made with the standard library (it is switched to
    /// non-blocking mode).
    ///
    /// # Before the loop runs
    ///
    /// Works outside a running loop too: the socket then registers with the
    /// first loop that polls it (see [`net`](crate::net#ground-rules)).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::from_mio(mio::net::UdpSocket::from_std(socket))
    }

    fn from_mio(socket: mio::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: IoSource::new(socket, "UdpSocket")?,
        })
    }

    /// Sends one datagram to `target`, returning the bytes sent.
    ///
    /// # Panics
    ///
    /// When awaited on any loop but the one that made the socket (as every
    /// operation here).
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.io(Direction::Write, |s| s.send_to(buf, target)).await
    }

    /// Receives one datagram, returning its length and sender.
    ///
    /// Any number of tasks may wait on one socket (say, sharing it through an
    /// `Rc`); each datagram goes to one of them, longest-waiting first.
    /// Dropping the future leaves nothing behind and takes no datagram.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(Direction::Read, |s| s.recv_from(buf)).await
    }

    /// Polls [`recv_from`](Self::recv_from). A pending poll leaves the task's
    /// waker listed until the next datagram arrives (once per task, however
    /// often it polls).
    #[track_caller]
    pub fn poll_recv_from(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv_from(buf))
    }

    /// Polls [`send_to`](Self::send_to), as
    /// [`poll_recv_from`](Self::poll_recv_from) does.
    #[track_caller]
    pub fn poll_send_to(&self, cx: &mut Context<'_>, buf: &[u8], target: SocketAddr) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |s| s.send_to(buf, target))
    }

    /// Sets the default destination for [`send`](Self::send) and limits
    /// [`recv`](Self::recv) to datagrams from `addr`. Does no I/O.
    ///
    /// ```
    /// use evloop::net::UdpSocket;
    ///
    /// evloop::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.connect(b.local_addr()?)?;
    ///     b.connect(a.local_addr()?)?;
    ///     a.send(b"hi").await?;
    ///     let mut buf = [0; 8];
    ///     let n = b.recv(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"hi");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.get_ref().connect(addr)
    }

    /// Sends one datagram to the connected address.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives one datagram from the connected address.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |s| s.recv(buf)).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected address (`NotConnected` if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Allows sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

super::stream::fd_impls!(UdpSocket);
