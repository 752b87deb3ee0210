//! [`ToSocketAddrs`]: what [`TcpStream::connect`](super::TcpStream::connect)
//! accepts, and how it is resolved without blocking the loop.
//!
//! # Ground rules
//!
//! - Literal addresses never leave the loop thread and start no thread: a
//!   `SocketAddr` (V4 or V6), `(IpAddr, u16)` and the like, a string that
//!   parses as a socket address (`"127.0.0.1:80"`, `"[::1]:80"`), a
//!   `(host, port)` pair whose host parses as an IP address, a slice of
//!   addresses.
//! - Anything else is a name, resolved by the system resolver
//!   (`getaddrinfo`, through `std::net::ToSocketAddrs`) on the
//!   [`to_thread`](crate::to_thread) pool, as asyncio's `getaddrinfo` runs
//!   in the loop's executor. A slow DNS server then holds one worker thread,
//!   never the loop: other tasks, timers and I/O go on, and the connect
//!   future can be dropped (a time-out) while the lookup runs (its result
//!   is then dropped on the worker).
//! - The trait is sealed: evloop decides which types are literals. It is
//!   implemented for the types std's `ToSocketAddrs` is (owned and
//!   borrowed strings included), not for user types: a user type resolves
//!   itself (on a thread if it blocks) and passes a `SocketAddr`.
//!
//! # Implementation
//!
//! Tokio's `tokio::net::ToSocketAddrs` has the same shape (a sealed trait
//! whose strings and names go to `spawn_blocking`); smol's `async-net`
//! does the same with `blocking::unblock`.
#![forbid(unsafe_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::{to_thread, ToThreadError};

pub(crate) mod sealed {
    use std::net::SocketAddr;

    /// Where an address comes from: at hand, or from a lookup.
    #[derive(Debug)]
    pub enum Lookup {
        /// Literal addresses, in the order to try them.
        Ready(Vec<SocketAddr>),
        /// `"host:port"`, for the resolver.
        Name(String),
        /// A host name and a port, for the resolver.
        HostPort(String, u16),
    }

    /// The sealed half of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Resolve {
        /// What resolving `self` takes.
        fn lookup(&self) -> Lookup;
    }
}

use sealed::{Lookup, Resolve};

/// An address [`TcpStream::connect`](super::TcpStream::connect) can
/// resolve without blocking the loop: literal addresses at once, on the
/// loop thread; host names on the [`to_thread`](crate::to_thread) pool.
/// Implemented for the types `std::net::ToSocketAddrs` is implemented for
/// (`SocketAddr`, `(IpAddr, u16)`, `&str`, `String`, `(&str, u16)`,
/// `&[SocketAddr]`, ...). Sealed.
///
/// ```
/// use evloop::net::{TcpListener, TcpStream};
///
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let port = listener.local_addr()?.port();
///     // A literal: parsed on the loop thread, no thread involved.
///     let a = TcpStream::connect(format!("127.0.0.1:{port}")).await?;
///     // A name: looked up on the to_thread pool while the loop runs on.
///     let b = TcpStream::connect(("localhost", port)).await?;
///     drop((a, b));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: Resolve {}

impl<T: Resolve + ?Sized> ToSocketAddrs for T {}

macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl Resolve for $ty {
            fn lookup(&self) -> Lookup {
                Lookup::Ready(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}
literal!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl Resolve for [SocketAddr] {
    fn lookup(&self) -> Lookup {
        Lookup::Ready(self.to_vec())
    }
}

impl<const N: usize> Resolve for [SocketAddr; N] {
    fn lookup(&self) -> Lookup {
        Lookup::Ready(self.to_vec())
    }
}

impl Resolve for Vec<SocketAddr> {
    fn lookup(&self) -> Lookup {
        Lookup::Ready(self.clone())
    }
}

impl Resolve for str {
    fn lookup(&self) -> Lookup {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Lookup::Ready(vec![addr]),
            Err(_) => Lookup::Name(self.to_owned()),
        }
    }
}

impl Resolve for String {
    fn lookup(&self) -> Lookup {
        self.as_str().lookup()
    }
}

fn host_port(host: &str, port: u16) -> Lookup {
    match host.parse::<IpAddr>() {
        Ok(ip) => Lookup::Ready(vec![SocketAddr::new(ip, port)]),
        Err(_) => Lookup::HostPort(host.to_owned(), port),
    }
}

impl Resolve for (&str, u16) {
    fn lookup(&self) -> Lookup {
        host_port(self.0, self.1)
    }
}

impl Resolve for (String, u16) {
    fn lookup(&self) -> Lookup {
        host_port(&self.0, self.1)
    }
}

impl<T: Resolve + ?Sized> Resolve for &T {
    fn lookup(&self) -> Lookup {
        (**self).lookup()
    }
}

/// The addresses `addr` stands for: at once for literals, from the
/// resolver on the `to_thread` pool for names.
pub(crate) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    let lookup = match addr.lookup() {
        Lookup::Ready(addrs) => return Ok(addrs),
        lookup => lookup,
    };
    let resolved = to_thread(move || -> io::Result<Vec<SocketAddr>> {
        use std::net::ToSocketAddrs as _;
        match lookup {
            Lookup::Ready(addrs) => Ok(addrs),
            Lookup::Name(name) => Ok(name.to_socket_addrs()?.collect()),
            Lookup::HostPort(host, port) => Ok((host.as_str(), port).to_socket_addrs()?.collect()),
        }
    })
    .await;
    match resolved {
        Ok(result) => result,
        Err(ToThreadError::Spawn(e)) => Err(e),
        // The system resolver does not panic; if it ever does, say so.
        Err(e) => Err(io::Error::other(format!("evloop: name resolution failed: {e}"))),
    }
}
