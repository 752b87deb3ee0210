//! Waiting on any file descriptor: [`AsyncFd`] (tokio's `AsyncFd`) for
//! async code; callback code has [`Handle::add_reader`](crate::Handle::add_reader) /
//! [`Handle::add_writer`](crate::Handle::add_writer) (asyncio's, in `event_loop/watch.rs`), built on
//! the same registration. Both use the loop's reactor, like the sockets do;
//! an inotify fd, a signalfd, a serial port or a database client's socket
//! all fit.
//!
//! # Ground rules
//!
//! - **One owner per fd per loop.** epoll watches an fd once per epoll
//!   instance, so an fd already watched by this loop (another `AsyncFd`, an
//!   evloop socket, `add_reader`) is refused with an `AlreadyExists` error
//!   that names the fd and the fix. An fd epoll cannot watch (a regular
//!   file, a directory: always "ready") is refused with `PermissionDenied`.
//! - **Deregister before close.** The fd must stay open while it is
//!   registered. [`AsyncFd`] owns its `T`, so its drop deregisters and only
//!   then drops (closes) `T`, and [`AsyncFd::into_inner`] deregisters and
//!   hands `T` back open. With `add_reader` the fd is the caller's: call
//!   [`Handle::remove_reader`](crate::Handle::remove_reader) / [`Handle::remove_writer`](crate::Handle::remove_writer) before closing
//!   it. An fd closed while registered is silently dropped from epoll by
//!   the kernel (its callback never runs again); when the loop notices (a
//!   re-arm fails) it reports the misuse to the exception handler and
//!   forgets the fd. Worse, a new fd that reuses the number is then watched
//!   under the old registration's name, which is why the rule matters.
//! - **`AsyncFd` is edge-triggered and remembers.** [`AsyncFd::readable`]
//!   returns at once while the reactor remembers the direction as ready,
//!   and waits for the next edge otherwise. Readiness is forgotten only
//!   when the user says so: [`AsyncFdReadyGuard::clear_ready`], or
//!   [`try_io`](AsyncFdReadyGuard::try_io) / [`AsyncFd::read_with`] seeing
//!   `WouldBlock`. Clear it only after `WouldBlock` (or a short read on a
//!   stream that proves the buffer drained), or the next edge may never
//!   come: the kernel sends one per change, not per wait.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::task::{Context, Poll};

use super::{Direction, IoSource};

/// A file descriptor registered with the loop's reactor, so that tasks can
/// wait for it to become readable or writable: tokio's `AsyncFd`, and the
/// async side of asyncio's `loop.add_reader`.
///
/// `T` is anything that owns or names an fd (`AsRawFd`): a pipe end, an
/// inotify or signalfd handle, a serial port, a socket made by another
/// library. It should be in non-blocking mode: the operations run in
/// [`try_io`](AsyncFdReadyGuard::try_io) and [`read_with`](Self::read_with)
/// must return `WouldBlock` rather than block the loop.
///
/// Made inside a running loop, it registers at once (and reports errors
/// there); made before any loop runs, it registers with the first loop that
/// polls it. Dropping it, or [`into_inner`](Self::into_inner), deregisters
/// the fd before `T` is dropped or handed back: never close the fd behind
/// its back (a `T` that does not own the fd, such as a bare `RawFd`, must
/// outlive the `AsyncFd`).
///
/// # Readiness
///
/// Edge-triggered, and remembered: [`readable`](Self::readable) returns at
/// once while the loop remembers the fd as readable, and otherwise waits for
/// the kernel's next edge. Readiness is forgotten only when you say so:
/// [`AsyncFdReadyGuard::clear_ready`], or [`try_io`](AsyncFdReadyGuard::try_io)
/// and [`read_with`](Self::read_with) seeing `WouldBlock`. Clear it only
/// after `WouldBlock`, or the next wait may last forever: the kernel sends
/// one edge per change, not one per wait.
///
/// One fd number can have one owner per loop (epoll's rule): an fd already
/// watched by this loop (another `AsyncFd`, an evloop socket,
/// [`Handle::add_reader`](crate::Handle::add_reader)) is refused with `AlreadyExists`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use evloop::AsyncFd;
///
/// evloop::run(async {
///     let (a, mut b) = UnixStream::pair()?;
///     a.set_nonblocking(true)?;
///     let a = AsyncFd::new(a)?;
///     b.write_all(b"hi")?;
///     let mut buf = [0; 8];
///     let n = loop {
///         let mut guard = a.readable().await?;
///         // `WouldBlock` clears the readiness and waits again.
///         match guard.try_io(|s| (&*s).read(&mut buf)) {
///             Ok(result) => break result?,
///             Err(_would_block) => continue,
///         }
///     };
///     assert_eq!(&buf[..n], b"hi");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AsyncFd<T: AsRawFd> {
    io: IoSource<T>,
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner`'s fd for both directions.
    ///
    /// # Errors
    ///
    /// Inside a running loop, registering failed: `AlreadyExists` if the
    /// fd is already watched by this loop, `PermissionDenied` for a regular
    /// file, ... (the message names the fd and the fix). Outside a loop
    /// these come from the first [`readable`](Self::readable) /
    /// [`writable`](Self::writable) instead.
    ///
    /// ```
    /// use evloop::AsyncFd;
    ///
    /// evloop::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    ///     let first = AsyncFd::new(a.try_clone()?)?; // a dup: another fd number
    ///     let fd = std::os::fd::AsRawFd::as_raw_fd(&*first);
    ///     // Two owners of one fd number: refused, with the fix in the message.
    ///     let err = AsyncFd::new(fd).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    ///     assert!(err.to_string().contains(&format!("fd {fd} is already registered")));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        Ok(AsyncFd {
            io: IoSource::new(inner, "AsyncFd")?,
        })
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.io.get_ref()
    }

    /// Deregisters the fd and returns the wrapped value, fd still open.
    ///
    /// ```
    /// use evloop::AsyncFd;
    ///
    /// evloop::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    ///     let a = AsyncFd::new(a)?.into_inner();
    ///     let again = AsyncFd::new(a)?; // registered afresh: no `AlreadyExists`
    ///     drop(again);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(self) -> T {
        self.io.into_inner()
    }

    /// Waits until the fd is readable (or at end of stream, or has an
    /// error) and returns a guard for reading it. Returns at once if the
    /// reactor remembers it as readable; dropping the guard keeps that.
    /// Spends one unit of the task's cooperative budget when ready.
    ///
    /// # Errors
    ///
    /// Only for an `AsyncFd` made outside a loop: its registration's error
    /// (see [`new`](Self::new)).
    ///
    /// # Panics
    ///
    /// When awaited on a loop other than its own, or outside any loop.
    pub async fn readable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.io.ready(Direction::Read).await?;
        Ok(self.guard(Direction::Read))
    }

    /// Waits until the fd is writable (or closed, or has an error); as
    /// [`readable`](Self::readable).
    ///
    /// ```
    /// use std::io::Write;
    /// use evloop::AsyncFd;
    ///
    /// evloop::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    ///     a.set_nonblocking(true)?;
    ///     let a = AsyncFd::new(a)?;
    ///     let n = a.write_with(|s| (&*s).write(b"ping")).await?;
    ///     assert_eq!(n, 4);
    ///     let _guard = a.writable().await?; // still writable: at once
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn writable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.io.ready(Direction::Write).await?;
        Ok(self.guard(Direction::Write))
    }

    /// Polls for readability: [`readable`](Self::readable) for hand-written
    /// futures. A pending poll leaves the task's waker listed until the next
    /// readiness event (once per task, however often it polls).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::io::Write;
    /// use evloop::AsyncFd;
    ///
    /// evloop::run(async {
    ///     let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    ///     let a = AsyncFd::new(a)?;
    ///     b.write_all(b"!")?;
    ///     poll_fn(|cx| a.poll_read_ready(cx).map_ok(drop)).await?;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<AsyncFdReadyGuard<'_, T>>> {
        self.io
            .poll_ready(cx, Direction::Read)
            .map_ok(|()| self.guard(Direction::Read))
    }

    /// Polls for writability, as [`poll_read_ready`](Self::poll_read_ready).
    #[track_caller]
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<AsyncFdReadyGuard<'_, T>>> {
        self.io
            .poll_ready(cx, Direction::Write)
            .map_ok(|()| self.guard(Direction::Write))
    }

    /// Runs the non-blocking read `f` once the fd is readable, clearing the
    /// readiness and waiting again each time it returns `WouldBlock`
    /// (`Interrupted` retries at once): the usual loop around
    /// [`readable`](Self::readable) and [`try_io`](AsyncFdReadyGuard::try_io).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use evloop::AsyncFd;
    ///
    /// evloop::run(async {
    ///     let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    ///     a.set_nonblocking(true)?;
    ///     let a = AsyncFd::new(a)?;
    ///     let writer = std::thread::spawn(move || b.write_all(b"late"));
    ///     let mut buf = [0; 4];
    ///     let n = a.read_with(|s| (&*s).read(&mut buf)).await?;
    ///     assert!(n > 0 && buf[..n] == b"late"[..n]);
    ///     writer.join().unwrap()
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_with<R>(&self, f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io.io(Direction::Read, f).await
    }

    /// Runs the non-blocking write `f` once the fd is writable, as
    /// [`read_with`](Self::read_with).
    pub async fn write_with<R>(&self, f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io.io(Direction::Write, f).await
    }

    fn guard(&self, dir: Direction) -> AsyncFdReadyGuard<'_, T> {
        AsyncFdReadyGuard { fd: self, dir }
    }
}

impl<T: AsRawFd> std::ops::Deref for AsyncFd<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.get_ref()
    }
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd").field("fd", &self.as_raw_fd()).finish()
    }
}

/// Proof that an [`AsyncFd`] was ready in one direction, from
/// [`AsyncFd::readable`] / [`AsyncFd::writable`]. Dropping it keeps the
/// readiness; [`clear_ready`](Self::clear_ready) (or
/// [`try_io`](Self::try_io) seeing `WouldBlock`) forgets it, so the next
/// wait lasts until the kernel's next edge.
pub struct AsyncFdReadyGuard<'a, T: AsRawFd> {
    fd: &'a AsyncFd<T>,
    dir: Direction,
}

impl<'a, T: AsRawFd> AsyncFdReadyGuard<'a, T> {
    /// Forgets the readiness: say so after the fd returned `WouldBlock`
    /// (clearing it any earlier can lose the only edge the kernel sends).
    ///
    /// ```
    /// use std::io::Read;
    /// use evloop::AsyncFd;
    ///
    /// evloop::run(async {
    ///     let (a, b) = std::os::unix::net::UnixStream::pair()?;
    ///     a.set_nonblocking(true)?;
    ///     let a = AsyncFd::new(a)?;
    ///     drop(b); // end of stream: readable at once
    ///     let mut guard = a.readable().await?;
    ///     assert_eq!((&*a).read(&mut [0; 8])?, 0);
    ///     guard.clear_ready(); // the next `readable` waits for a new edge
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn clear_ready(&mut self) {
        self.fd.io.registration().clear_readiness(self.dir);
    }

    /// Runs the non-blocking operation `f` on the wrapped value. If it
    /// returns `WouldBlock`, clears the readiness and returns
    /// `Err(TryIoError)`: wait again. Any other result (`Interrupted`
    /// included) is returned as `Ok(result)`.
    pub fn try_io<R>(&mut self, f: impl FnOnce(&'a T) -> io::Result<R>) -> Result<io::Result<R>, TryIoError> {
        match f(self.fd.get_ref()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            result => Ok(result),
        }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &'a T {
        self.fd.get_ref()
    }
}

impl<T: AsRawFd> fmt::Debug for AsyncFdReadyGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdReadyGuard")
            .field("fd", &self.fd.as_raw_fd())
            .field("direction", &self.dir)
            .finish()
    }
}

/// The operation given to [`AsyncFdReadyGuard::try_io`] would block; the
/// readiness is cleared, so wait again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryIoError(());

impl fmt::Display for TryIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation would block; readiness cleared")
    }
}

impl std::error::Error for TryIoError {}
