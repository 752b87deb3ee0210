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
//! - A socket belongs to one loop. Made inside a running loop, it is
//!   registered with that loop's reactor at once; made before any loop runs
//!   (`bind`, `from_std`, `pair` in a host program's set-up code), it is
//!   registered with the first loop that polls it, as asyncio's objects bind
//!   to the loop that first uses them. Calls that do no I/O
//!   (`local_addr`, `set_nodelay`, ...) work either way. It is deregistered
//!   when dropped. Polling it anywhere but its loop (another loop, after its
//!   loop was closed or dropped) panics at once with a message that names
//!   the socket type and both loops, and so does a first poll with no loop
//!   running, instead of waiting forever for a wake-up no reactor would
//!   send. Pass data between loops through a channel or a
//!   [`ThreadsafeHandle`](crate::ThreadsafeHandle), not sockets.
//!
//!   ```
//!   use evloop::net::{TcpListener, TcpStream};
//!
//!   // Set-up before the loop: bind, learn the port, hand it out.
//!   let listener = TcpListener::bind("127.0.0.1:0")?;
//!   let addr = listener.local_addr()?;
//!   let client = std::thread::spawn(move || std::net::TcpStream::connect(addr));
//!   evloop::run(async {
//!       let (_conn, peer) = listener.accept().await?; // registers here
//!       assert_eq!(peer, client.join().unwrap()?.local_addr()?);
//!       Ok::<(), std::io::Error>(())
//!   })?;
//!   # Ok::<(), std::io::Error>(())
//!   ```
//! - Operations take `&self`: one task may read while another writes the
//!   same stream (that is all [`TcpStream::split`] does), and any number of
//!   tasks may wait on one socket at once, in each direction: tasks that
//!   share an `Rc<TcpListener>` and all call `accept`, or an
//!   `Rc<UdpSocket>` and all call `recv_from`, each get their own
//!   connection or datagram, in the order they began to wait. A dropped
//!   (cancelled) operation leaves nothing behind.
//! - Every read, write, accept, send and receive that finds its socket
//!   ready spends one unit of the task's cooperative budget (128 per poll,
//!   see `task/coop.rs`): a task whose socket is always ready (a peer
//!   writing faster than it reads, connections arriving faster than it
//!   accepts) still returns to the loop every 128 operations, so timers and
//!   other tasks keep running.
//! - Errors are the kernel's, as `io::Error`s with their real kinds:
//!   `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, `AddrInUse`, ...
//!   A peer that resets the connection while a task waits makes the wait end
//!   with the error, never hang.
//! - Streams implement `futures_io::AsyncRead` and `AsyncWrite`, so crates
//!   built on the `futures` traits work on them; `poll_close` shuts down the
//!   write side.
//! - [`TcpStream::connect`] never blocks the loop on name resolution:
//!   literal addresses are parsed on the loop thread, host names are
//!   resolved on the [`to_thread`](crate::to_thread) pool (asyncio runs
//!   `getaddrinfo` in its executor the same way; see [`ToSocketAddrs`]).
//!   The `bind` constructors are plain functions and take std's
//!   `ToSocketAddrs`, which blocks for a host name other than a literal or
//!   an `/etc/hosts` entry: bind to a literal address (or resolve first
//!   with [`to_thread`](crate::to_thread)).
#![forbid(unsafe_code)]

mod addr;
mod stream;
mod stream_reader;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub(crate) use stream::{read_exact_with, write_all_with};
pub use stream::{DuplexStream, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use stream_reader::{LimitOverrun, StreamReader};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
