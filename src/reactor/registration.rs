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
//!   it is, the syscall runs; `WouldBlock` clears the readiness (and only
//!   `WouldBlock` does) and the check repeats, storing the waker this time.
//!   Between the check and the clear no `epoll_wait` can run (one thread, no
//!   `.await` in between), so no event can slip between them and be lost.
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
        let mut reactor = self.core.reactor.borrow_mut();
        reactor.sources[self.key].readiness &= !dir.mask();
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
