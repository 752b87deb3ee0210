//! [`Registration`]: one source's slot in the reactor, and [`IoSource`]: a
//! mio source paired with its registration, with the readiness dance that
//! every socket and pipe type shares.
//!
//! # Ground rules
//!
//! - A registration is made on the running loop and stays with that loop
//!   (it keeps the loop's core alive until it is dropped).
//! - An operation first checks the remembered readiness. If the direction is
//!   not ready, the task's waker is stored and the operation is pending. If
//!   it is, the syscall runs; `WouldBlock` clears the readiness and the check
//!   repeats, storing the waker this time. Between the check and the clear no
//!   `epoll_wait` can run (one thread, no `.await` in between), so no event
//!   can slip between them and be lost.
//! - One more thing clears readiness, for TCP streams only
//!   ([`IoSource::poll_stream_io`]): a *short* transfer, more than zero bytes
//!   but fewer than asked. It clears the plain `READABLE` / `WRITABLE` bit,
//!   never the sticky closed and error bits. That saves the read that would
//!   only return `WouldBlock` (one syscall per wake-up of a request/response
//!   stream). Why it loses no wake-up, on Linux:
//!   - a TCP `recv` returns fewer bytes than asked only once the receive
//!     queue (and the socket backlog) is empty, and a `send` accepts fewer
//!     than offered only when the send buffer is full (it then flags the
//!     socket `SOCK_NOSPACE`). The one exception is TCP urgent data
//!     (`MSG_OOB`): a read stops short at the urgent mark, and bytes queued
//!     behind it would wait for the peer's next send. evloop has no urgent
//!     data API, and tokio, which applies the same rule, has lived with it;
//!   - every later arrival of data (`sk_data_ready`), and the freeing of
//!     send space on a `SOCK_NOSPACE` socket (`sk_write_space`), wakes the
//!     socket's wait queue, which queues a new edge-triggered event even if
//!     an earlier one was already delivered, and no `epoll_wait` runs
//!     between the syscall and the clear (as above);
//!   - end of stream and errors are reported once, so their bits must
//!     survive: after data + FIN, the short read of the data is followed by a
//!     read that returns 0, not by a wait for an event that never comes.
//!
//!   Not for datagrams (a short `recv` is just a small datagram, with more
//!   queued), and not for Unix stream sockets: their `recv` also stops short,
//!   with more bytes queued and no new event coming, at out-of-band data and,
//!   with `SO_PASSCRED`, where two writers' bytes meet. Tokio applies the
//!   rule to all its epoll/kqueue streams (`PollEvented::poll_read` /
//!   `poll_write`).
//! - Dropping an [`IoSource`] deregisters the fd from `epoll` *before* the fd
//!   is closed, then frees the slot.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use mio::event::Source;
use mio::{Interest, Token};

use super::{ready, ScheduledIo};
use crate::event_loop::context;
use crate::event_loop::core::Core;
use crate::task::register_waker;

const NO_LOOP: &str = "evloop: I/O objects (sockets, pipes, child processes) must be created inside a running \
                       evloop event loop (evloop::run or EventLoop::run_until_complete)";

/// Which half of a source an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Reads, accepts, receives.
    Read,
    /// Writes, sends, finishing a connect.
    Write,
}

impl Direction {
    /// The readiness bits that let an operation in this direction proceed
    /// (it then reports data, EOF or the error).
    pub(crate) fn mask(self) -> u8 {
        match self {
            Direction::Read => ready::READABLE | ready::READ_CLOSED | ready::ERROR,
            Direction::Write => ready::WRITABLE | ready::WRITE_CLOSED | ready::ERROR,
        }
    }

    /// The plain "data / space available" bit of this direction, without the
    /// sticky closed and error bits: what a short transfer clears.
    fn ready_bit(self) -> u8 {
        match self {
            Direction::Read => ready::READABLE,
            Direction::Write => ready::WRITABLE,
        }
    }
}

/// A source's slot in the running loop's reactor. Frees the slot on drop.
pub(crate) struct Registration {
    core: Rc<Core>,
    key: usize,
}

impl Registration {
    /// Registers `source` with the running loop's reactor.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub(crate) fn new<S: Source + ?Sized>(source: &mut S, interest: Interest) -> io::Result<Registration> {
        let core = context::current().expect(NO_LOOP);
        let mut reactor = core.reactor.borrow_mut();
        let key = reactor.sources.insert(ScheduledIo::default());
        if let Err(e) = reactor.registry().register(source, Token(key), interest) {
            reactor.sources.remove(key);
            return Err(e);
        }
        drop(reactor);
        Ok(Registration { core, key })
    }

    /// Ready if `dir` has readiness; otherwise stores the task's waker for
    /// that direction and returns `Pending`.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<()> {
        let mut reactor = self.core.reactor.borrow_mut();
        let io = &mut reactor.sources[self.key];
        if io.readiness & dir.mask() != 0 {
            return Poll::Ready(());
        }
        let slot = match dir {
            Direction::Read => &mut io.reader,
            Direction::Write => &mut io.writer,
        };
        let old = register_waker(slot, cx.waker());
        drop(reactor);
        // A replaced waker is dropped outside the borrow: its destructor is
        // foreign code.
        drop(old);
        Poll::Pending
    }

    /// Forgets `dir`'s readiness. Call only after the operation returned
    /// `WouldBlock`: the kernel sends the next edge when that changes.
    pub(crate) fn clear_readiness(&self, dir: Direction) {
        self.clear_bits(dir.mask());
    }

    fn clear_bits(&self, bits: u8) {
        let mut reactor = self.core.reactor.borrow_mut();
        reactor.sources[self.key].readiness &= !bits;
    }

    fn deregister<S: Source + ?Sized>(&self, source: &mut S) {
        if let Ok(reactor) = self.core.reactor.try_borrow() {
            // Fails only if the fd was never registered or is already
            // closed; either way epoll no longer watches it.
            let _ = reactor.registry().deregister(source);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // `try_`: the reactor is never borrowed while user code (which is
        // where a drop comes from) runs, but a leak beats a panic in a
        // destructor if that ever changes.
        let wakers = match self.core.reactor.try_borrow_mut() {
            Ok(mut reactor) => {
                let io = reactor.sources.remove(self.key);
                Some((io.reader, io.writer))
            }
            Err(_) => None,
        };
        drop(wakers);
    }
}

/// A mio source registered with the running loop: the building block of
/// every socket and pipe type.
pub(crate) struct IoSource<S: Source> {
    source: S,
    reg: Registration,
}

impl<S: Source> IoSource<S> {
    /// Registers `source` for both directions.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub(crate) fn new(source: S) -> io::Result<IoSource<S>> {
        IoSource::with_interest(source, Interest::READABLE | Interest::WRITABLE)
    }

    /// Registers `source` for `interest` only (a pipe end has one direction).
    pub(crate) fn with_interest(mut source: S, interest: Interest) -> io::Result<IoSource<S>> {
        let reg = Registration::new(&mut source, interest)?;
        Ok(IoSource { source, reg })
    }

    /// The mio source.
    pub(crate) fn get_ref(&self) -> &S {
        &self.source
    }

    /// See [`Registration::poll_ready`].
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<()> {
        self.reg.poll_ready(cx, dir)
    }

    /// See [`Registration::clear_readiness`].
    pub(crate) fn clear_readiness(&self, dir: Direction) {
        self.reg.clear_readiness(dir)
    }

    /// Runs the non-blocking operation `f` when `dir` is ready, retrying
    /// after each `WouldBlock` (which clears the readiness) and `EINTR`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut f: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self.reg.poll_ready(cx, dir).is_pending() {
                return Poll::Pending;
            }
            match f(&self.source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.reg.clear_readiness(dir),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// [`poll_io`](Self::poll_io) for a TCP stream's `read` or `write` of
    /// `len` bytes: a short transfer (`0 < n < len`) also clears `dir`'s
    /// plain readiness bit, so the next operation waits for the next edge
    /// instead of making a syscall that returns `WouldBlock`. See the module
    /// docs for why that loses no wake-up, and for which sockets it holds.
    pub(crate) fn poll_stream_io(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        len: usize,
        f: impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let result = self.poll_io(cx, dir, f);
        if let Poll::Ready(Ok(n)) = result {
            if 0 < n && n < len {
                self.reg.clear_bits(dir.ready_bit());
            }
        }
        result
    }

    /// [`poll_io`](Self::poll_io) as a future.
    pub(crate) async fn io<R>(&self, dir: Direction, mut f: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_io(cx, dir, &mut f)).await
    }
}

impl<S: Source> Drop for IoSource<S> {
    fn drop(&mut self) {
        // Before the fields drop: the fd must leave epoll while it is open.
        self.reg.deregister(&mut self.source);
    }
}
