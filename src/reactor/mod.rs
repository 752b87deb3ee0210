//! The reactor: one `mio::Poll` per loop, where the loop blocks when it has
//! nothing to run, plus the table of I/O sources it watches.
//!
//! # Ground rules
//!
//! - The loop blocks here and nowhere else; an idle loop sleeps in
//!   `epoll_wait` and uses no CPU.
//! - Token [`WAKE_TOKEN`] belongs to the `mio::Waker` through which other
//!   threads interrupt the wait (see `event_loop/remote.rs`); its events carry
//!   no information beyond "look at the remote queue", which the loop does
//!   on every tick anyway.
//! - Every other token is the index of a [`ScheduledIo`] in the `sources`
//!   slab. A `Registration` (`registration.rs`) owns its slot and frees it when dropped, so the
//!   slab never grows past the number of live sources.
//! - Sources are registered **edge-triggered** (mio's only mode): an event
//!   means "something changed", so readiness is remembered here and cleared
//!   only when an operation reports `WouldBlock` (see
//!   `Registration::clear_readiness`), or when a TCP read or write moves
//!   fewer bytes than asked, which proves the same thing without the extra
//!   syscall (see `IoSource::poll_stream_io` for why that is safe). Clearing
//!   on anything else could lose the only event the kernel will ever send.
//! - [`Reactor::poll`] never wakes a task itself: it hands the wakers back to
//!   the loop, which wakes them after releasing its borrow of the reactor, so
//!   a waker that touches I/O cannot hit a `RefCell` already borrowed.
//! - An interrupted wait (`EINTR`) is an empty wait, not an error.
//!
//! # Fields and who may touch them
//!
//! `Reactor` lives in `Core::reactor` (a `RefCell`) on the loop's thread.
//! `poll` fills in readiness and takes wakers; registrations set wakers,
//! read and clear readiness, and free their slot. All of it happens on the
//! loop's thread, so no atomics are needed, and no borrow is held across
//! user code.
//!
//! # Implementation
//!
//! This is tokio's `ScheduledIo` and async-io's `Source` with the
//! multi-threading taken out: readiness is a plain bit set, and each source
//! has one read waker and one write waker (the last task to wait in a
//! direction is the one woken; two tasks reading one socket at once is a
//! bug in the caller, as with every runtime). A slot freed and reused between
//! two polls could in principle receive a stale event meant for its previous
//! owner; `epoll` drops pending events of a deregistered fd, and a spurious
//! readiness is harmless anyway, because the operation then returns
//! `WouldBlock` and clears it.

#![forbid(unsafe_code)]

mod registration;

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::task::Waker;
use std::time::Duration;

use mio::{Events, Poll, Token};
use slab::Slab;

pub(crate) use registration::{Direction, IoSource};

/// The token of the loop's `mio::Waker`.
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

/// Readiness bits of one source.
pub(crate) mod ready {
    /// The source may be read (or accepted from) without blocking.
    pub(crate) const READABLE: u8 = 1 << 0;
    /// The source may be written (or a connect has finished).
    pub(crate) const WRITABLE: u8 = 1 << 1;
    /// The peer closed its write side: reads return EOF. Sticky.
    pub(crate) const READ_CLOSED: u8 = 1 << 2;
    /// Our write side is closed (or the peer is gone). Sticky.
    pub(crate) const WRITE_CLOSED: u8 = 1 << 3;
    /// The socket has a pending error; the next operation reports it.
    pub(crate) const ERROR: u8 = 1 << 4;
}

/// The reactor's record of one registered source.
#[derive(Default)]
pub(crate) struct ScheduledIo {
    /// `ready::*` bits seen since they were last cleared.
    pub(crate) readiness: u8,
    /// The task waiting to read, if any.
    pub(crate) reader: Option<Waker>,
    /// The task waiting to write, if any.
    pub(crate) writer: Option<Waker>,
}

pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    pub(crate) sources: Slab<ScheduledIo>,
}

impl Reactor {
    /// A reactor and the waker that interrupts its wait.
    pub(crate) fn new() -> io::Result<(Reactor, mio::Waker)> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let reactor = Reactor {
            poll,
            events: Events::with_capacity(1024),
            sources: Slab::new(),
        };
        Ok((reactor, waker))
    }

    /// Whether any I/O source is registered (if not, a zero-timeout poll can
    /// report nothing the remote queue does not already tell).
    pub(crate) fn has_sources(&self) -> bool {
        !self.sources.is_empty()
    }

    pub(crate) fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    /// Waits up to `timeout` (`None`: until something happens), records the
    /// readiness each event reports, and pushes the wakers of the tasks
    /// waiting for it onto `woken`. The caller wakes them after releasing
    /// its borrow of the reactor.
    /// Returns how many readiness events it delivered (not counting the
    /// remote waker's).
    pub(crate) fn poll(&mut self, timeout: Option<Duration>, woken: &mut Vec<Waker>) -> usize {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return 0,
            // epoll_wait fails only on a bad fd or bad arguments: a bug here.
            Err(e) => panic!("evloop: waiting for I/O failed: {e}"),
        }
        let mut delivered = 0;
        for event in self.events.iter() {
            if event.token() == WAKE_TOKEN {
                continue;
            }
            // A source deregistered since the kernel queued the event: ignore.
            let Some(io) = self.sources.get_mut(event.token().0) else {
                continue;
            };
            delivered += 1;
            let mut bits = 0;
            if event.is_readable() {
                bits |= ready::READABLE;
            }
            if event.is_writable() {
                bits |= ready::WRITABLE;
            }
            if event.is_read_closed() {
                bits |= ready::READ_CLOSED;
            }
            if event.is_write_closed() {
                bits |= ready::WRITE_CLOSED;
            }
            if event.is_error() {
                bits |= ready::ERROR;
            }
            io.readiness |= bits;
            if bits & Direction::Read.mask() != 0 {
                woken.extend(io.reader.take());
            }
            if bits & Direction::Write.mask() != 0 {
                woken.extend(io.writer.take());
            }
        }
        delivered
    }
}

impl AsRawFd for Reactor {
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use crate::event_loop::context;

    fn live_sources() -> (usize, usize) {
        context::with_current(|core| {
            let r = core.reactor.borrow();
            (r.sources.len(), r.sources.capacity())
        })
        .unwrap()
    }

    #[test]
    fn dropped_streams_free_their_slots() {
        crate::run(async {
            let listener = crate::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (base, _) = live_sources();
            assert_eq!(base, 1);
            let mut cap_after_warmup = 0;
            for i in 0..10_000 {
                let client = crate::net::TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                assert_eq!(live_sources().0, 3);
                drop(client);
                drop(server);
                assert_eq!(live_sources().0, 1);
                if i == 10 {
                    cap_after_warmup = live_sources().1;
                }
            }
            assert_eq!(live_sources().1, cap_after_warmup, "the slab grew");
        });
    }

    #[test]
    fn readiness_survives_until_would_block() {
        // Two messages arrive in one event; a reader that takes them one
        // small read at a time must still see the second without a new event.
        crate::run(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = crate::net::TcpStream::connect(addr).await.unwrap();
            let (mut peer, _) = listener.accept().unwrap();
            peer.write_all(b"abcd").unwrap();
            let mut buf = [0; 2];
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ab");
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"cd");
            drop(client);
            let mut rest = Vec::new();
            peer.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty());
        });
    }
}
