//! The reactor: one `mio::Poll` per loop, where the loop blocks when it has
//! nothing to run.
//!
//! # Ground rules
//!
//! - The loop blocks here and nowhere else; an idle loop sleeps in
//!   `epoll_wait` and uses no CPU.
//! - Token [`WAKE_TOKEN`] belongs to the `mio::Waker` through which other
//!   threads interrupt the wait (see `event_loop/remote.rs`); its events carry
//!   no information beyond "look at the remote queue", which the loop does
//!   on every tick anyway.
//! - An interrupted wait (`EINTR`) is an empty wait, not an error.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use mio::{Events, Poll, Token};

/// The token of the loop's `mio::Waker`.
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    sources: usize,
}

impl Reactor {
    /// A reactor and the waker that interrupts its wait.
    pub(crate) fn new() -> io::Result<(Reactor, mio::Waker)> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let reactor = Reactor {
            poll,
            events: Events::with_capacity(1024),
            sources: 0,
        };
        Ok((reactor, waker))
    }

    /// Whether any I/O source is registered (if not, a zero-timeout poll can
    /// report nothing the remote queue does not already tell).
    pub(crate) fn has_sources(&self) -> bool {
        self.sources > 0
    }

    /// Waits up to `timeout` (`None`: until something happens).
    pub(crate) fn poll(&mut self, timeout: Option<Duration>) {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // epoll_wait fails only on a bad fd or bad arguments: a bug here.
            Err(e) => panic!("evloop: waiting for I/O failed: {e}"),
        }
    }
}

impl AsRawFd for Reactor {
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}
