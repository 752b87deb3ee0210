//! The reactor: one `mio::Poll` per loop, where the loop blocks when it has
//! nothing to run, plus the table of I/O sources it watches.
//!
//! # Ground rules
//!
//! - The loop blocks here and nowhere else; an idle loop sleeps in
//!   `epoll_wait` and uses no CPU, except for at most one timer tick
//!   (31.25 µs) of zero-timeout polls after a wait cut short to whole
//!   milliseconds ended before its timer (`Reactor::wait_time`).
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
//! - Each direction of a source has a FIFO list of waiters (any number of
//!   tasks), and holds waiters only while it is not ready: an event that
//!   makes a direction ready takes all of its waiters, oldest first. A
//!   future that stops waiting removes its own entry, so cancelled waits
//!   leave nothing behind (`registration.rs` has the details).
//! - [`Reactor::poll`] never wakes a task itself: it hands the wakers back to
//!   the loop, which wakes them after releasing its borrow of the reactor, so
//!   a waker that touches I/O cannot hit a `RefCell` already borrowed.
//! - A source is used only on the loop that registered it: a poll anywhere
//!   else (another loop, after its loop closed, no loop at all) panics with
//!   a message naming the object, both loops and the fix.
//! - An interrupted wait (`EINTR`) is an empty wait, not an error.
//! - A wait is in whole milliseconds, and may end up to one wheel tick
//!   before the timeout the loop asked for (`mio_timeout` says when and
//!   why). Nothing relies on a wait lasting its full timeout: the loop fires
//!   only timers whose tick has passed, and otherwise waits again.
//! - Any fd a user brings (`fd.rs`: [`AsyncFd`], `Handle::add_reader` /
//!   `add_writer`) is registered like a socket, through the same
//!   `Registration`, so the same rules hold: one owner per fd per loop
//!   (`EEXIST` is refused with a message naming the fd), deregistered before
//!   it is closed, edge-triggered readiness remembered until `WouldBlock`.
//!   The asyncio-style callbacks get level-triggered behaviour by re-arming
//!   the fd after each call (`event_loop/watch.rs` explains).
//!
//! # Fields and who may touch them
//!
//! `Reactor` lives in `Driver::reactor` (a `RefCell`) on the loop's thread.
//! `poll` fills in readiness and takes waiters; registrations add, refresh
//! and remove waiters, read and clear readiness, and free their slot. All of it happens on the
//! loop's thread, so no atomics are needed, and no borrow is held across
//! user code.
//!
//! # Implementation
//!
//! This is tokio's `ScheduledIo` and async-io's `Source` with the
//! multi-threading taken out: readiness is a plain bit set, and each source
//! has a FIFO list of read waiters and one of write waiters
//! (`registration.rs`: many tasks may share a listener or a UDP socket, and
//! an edge wakes all the waiters of the direction it makes ready, oldest
//! first). A slot freed and reused between
//! two polls could in principle receive a stale event meant for its previous
//! owner; `epoll` drops pending events of a deregistered fd, and a spurious
//! readiness is harmless anyway, because the operation then returns
//! `WouldBlock` and clears it.

#![forbid(unsafe_code)]

mod fd;
mod registration;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use slab::Slab;

use crate::time::clock::TICK;

pub use fd::{AsyncFd, AsyncFdReadyGuard, TryIoError};
use registration::Waiters;
pub(crate) use registration::{Direction, IoSource, Registration, Waiting};

/// A loop's I/O side, shared by the loop and every registration bound to
/// it: the reactor, and what a registration must know of its loop (which
/// one, whether it runs, whether it is closed). The loop sets the flags;
/// a registration finds the running loop's driver through this module's
/// thread-local, which the loop's `enter` sets. So the reactor depends on
/// nothing of the loop's.
pub(crate) struct Driver {
    pub(crate) reactor: RefCell<Reactor>,
    loop_id: u64,
    running: Cell<bool>,
    closed: Cell<bool>,
}

impl Driver {
    pub(crate) fn new(reactor: Reactor, loop_id: u64) -> Driver {
        Driver {
            reactor: RefCell::new(reactor),
            loop_id,
            running: Cell::new(false),
            closed: Cell::new(false),
        }
    }

    /// The id of the loop this is the I/O side of.
    pub(crate) fn loop_id(&self) -> u64 {
        self.loop_id
    }

    /// Whether the loop runs (on this thread, the only one it can run on).
    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Marks the loop closed; `true` if it already was.
    pub(crate) fn close(&self) -> bool {
        self.closed.replace(true)
    }
}

thread_local! {
    /// The I/O side of the loop running on this thread, if one runs.
    static CURRENT: RefCell<Option<Rc<Driver>>> = const { RefCell::new(None) };
}

/// Makes `driver` the running loop's I/O side (the loop's `enter`), or none
/// (its exit), raising and lowering the `running` flags to match.
pub(crate) fn set_current(driver: Option<Rc<Driver>>) {
    if let Some(driver) = &driver {
        driver.running.set(true);
    }
    // `try_with`: a loop dropped during thread exit has nothing to set.
    let old = CURRENT.try_with(|current| current.replace(driver)).ok().flatten();
    if let Some(old) = old {
        old.running.set(false);
    }
}

/// The running loop's I/O side, if a loop runs on this thread.
pub(crate) fn current() -> Option<Rc<Driver>> {
    CURRENT.try_with(|current| current.borrow().clone()).ok().flatten()
}

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
    /// The tasks waiting to read (or accept, or receive), oldest first.
    /// Non-empty only while the read direction is not ready.
    pub(crate) readers: Waiters,
    /// The tasks waiting to write (or send, or finish a connect), oldest
    /// first. Non-empty only while the write direction is not ready.
    pub(crate) writers: Waiters,
}

impl ScheduledIo {
    /// The waiter list of `dir`.
    pub(crate) fn waiters(&mut self, dir: Direction) -> &mut Waiters {
        match dir {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    pub(crate) sources: Slab<ScheduledIo>,
    /// Set while a wait cut short to whole milliseconds (see
    /// [`mio_timeout`]) is owed its tail: the instant it was asked to end.
    cut_until: Option<Instant>,
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
            cut_until: None,
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

    /// Waits about `timeout` (`None`: until something happens; see
    /// [`mio_timeout`] for "about"), records the readiness each event
    /// reports, and pushes the wakers of the tasks waiting for it onto
    /// `woken`. The caller wakes them after releasing its borrow of the
    /// reactor.
    /// Returns how many readiness events it delivered (not counting the
    /// remote waker's).
    pub(crate) fn poll(&mut self, timeout: Option<Duration>, woken: &mut Vec<Waker>) -> usize {
        let timeout = timeout.map(|t| self.wait_time(t, Instant::now));
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
            // Every waiter of a direction this event makes ready, oldest
            // first: which of them finds data is for the run queue to decide
            // (see `registration.rs` for why not just the first).
            if bits & Direction::Read.mask() != 0 {
                io.readers.take_all(woken);
            }
            if bits & Direction::Write.mask() != 0 {
                io.writers.take_all(woken);
            }
        }
        delivered
    }

    /// How long to ask epoll to wait when the loop asks to wait `timeout`:
    /// [`mio_timeout`], or zero while the tail of a wait it cut short is
    /// still owed.
    ///
    /// A cut wait that ended before its tail (the kernel's timer slack did
    /// not cover it) leaves the loop less than a tick short of its timer.
    /// epoll can wait no less than 1 ms, so that tail is waited out with
    /// zero-timeout polls instead: a spin of at most one tick (31.25 µs),
    /// and only after a cut wait ran its whole milliseconds. A wait ended
    /// early by I/O, or a loop whose next timer is further off, owes
    /// nothing and waits as usual.
    fn wait_time(&mut self, timeout: Duration, now: impl Fn() -> Instant) -> Duration {
        if let Some(until) = self.cut_until.take() {
            let now = now();
            if timeout <= TICK && now < until && until - now <= TICK {
                self.cut_until = Some(until);
                return Duration::ZERO;
            }
        }
        let wait = mio_timeout(timeout);
        if wait < timeout {
            // The clock is read only here and above: a wait that is not
            // cut costs nothing extra.
            self.cut_until = now().checked_add(timeout);
        }
        wait
    }
}

impl AsRawFd for Reactor {
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}

/// The timeout to hand `mio::Poll::poll` for a wait of `timeout`.
///
/// `epoll_wait` counts whole milliseconds, and mio rounds a timeout up to
/// the next one, so that a wait never ends before it was asked to. The loop
/// asks to wait until the next timer's wheel tick, and that tick is the
/// timer's deadline rounded up by less than one [`TICK`]: a `sleep(1 ms)`
/// made just before the wait asks for 1 ms and a few microseconds, which mio
/// would make 2 ms. So when a timeout exceeds a whole number of
/// milliseconds by at most one tick, ask for the whole milliseconds: the
/// kernel's timer slack on the wait (50 µs by default on Linux) usually
/// covers the difference. When it does not (a busy machine's other timers
/// end the slack early), the wait ends up to one tick early; the loop finds
/// the timer not yet due (it fires a timer only once its tick has passed),
/// and [`Reactor::wait_time`] spins through the rest rather than let mio
/// make it one more millisecond. A timeout further past a whole
/// millisecond, or below one millisecond, is left to mio to round up.
///
/// That is the cost of staying on mio's whole milliseconds with no unsafe
/// code: a wait that does not fall just after a millisecond boundary (a
/// sleep shorter than 1 ms, or one made well before the loop waits) can end
/// up to 1 ms late. A timer fd registered with the reactor, or
/// `epoll_pwait2`, would wait to the microsecond, at the price of unsafe
/// FFI (or a new dependency) and, for the timer fd, syscalls per wait:
/// async-io's `polling` makes a `timerfd_settime` and an `epoll_ctl` before
/// every `epoll_wait` that has a timeout (it could skip them while the
/// earliest deadline stays the same).
fn mio_timeout(timeout: Duration) -> Duration {
    let whole = Duration::new(timeout.as_secs(), timeout.subsec_millis() * 1_000_000);
    if whole.is_zero() || timeout - whole > TICK {
        timeout
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::Direction;

    fn live_sources() -> (usize, usize) {
        super::current()
            .map(|driver| {
                let r = driver.reactor.borrow();
                (r.sources.len(), r.sources.capacity())
            })
            .unwrap()
    }

    /// Whole milliseconds pass through, a timeout just past one (by at most
    /// a tick) is cut back to it, and anything else is left for mio to
    /// round up.
    #[test]
    fn mio_timeout_cuts_at_most_a_tick_past_a_whole_millisecond() {
        use super::{mio_timeout, TICK};
        use std::time::Duration;
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        assert_eq!(mio_timeout(Duration::ZERO), Duration::ZERO);
        assert_eq!(mio_timeout(us(10)), us(10));
        assert_eq!(mio_timeout(us(999)), us(999));
        assert_eq!(mio_timeout(ms(1)), ms(1));
        assert_eq!(mio_timeout(ms(1) + us(5)), ms(1));
        assert_eq!(mio_timeout(ms(1) + TICK), ms(1));
        let past = ms(1) + TICK + Duration::from_nanos(1);
        assert_eq!(mio_timeout(past), past);
        assert_eq!(mio_timeout(ms(1) + us(500)), ms(1) + us(500));
        assert_eq!(mio_timeout(Duration::new(7, 3_000_010)), Duration::new(7, 3_000_000));
        assert_eq!(mio_timeout(Duration::MAX), Duration::MAX);
    }

    /// After a wait cut to whole milliseconds, the loop's next short wait
    /// spins (zero timeout) while the cut tail is owed, and only then; an
    /// uncut wait, or a wait ended early by I/O, owes nothing.
    #[test]
    fn wait_time_spins_only_through_the_tail_of_a_cut_wait() {
        use super::{Reactor, TICK};
        use std::time::{Duration, Instant};
        let us = Duration::from_micros;
        let (mut r, _waker) = Reactor::new().unwrap();
        let t0 = Instant::now();
        let at = |d: Duration| move || t0 + d;
        // Not cut: nothing owed.
        assert_eq!(r.wait_time(us(1500), at(us(0))), us(1500));
        assert_eq!(r.wait_time(us(10), at(us(1500))), us(10));
        // Cut from 1.01 ms to 1 ms at t0: owed until t0 + 1.01 ms.
        assert_eq!(r.wait_time(us(1010), at(us(0))), us(1000));
        // The wait ran its millisecond: the 10 µs left are spun through.
        assert_eq!(r.wait_time(us(8), at(us(1002))), Duration::ZERO);
        assert_eq!(r.wait_time(us(3), at(us(1007))), Duration::ZERO);
        // Tail paid: the next timer is waited for as usual.
        assert_eq!(r.wait_time(us(20), at(us(1011))), us(20));
        // Cut again, but I/O ends the wait after 0.3 ms: nothing is spun,
        // and the next wait is cut afresh.
        assert_eq!(r.wait_time(us(1010), at(us(2000))), us(1000));
        assert_eq!(r.wait_time(us(710), at(us(2300))), us(710));
        assert_eq!(r.wait_time(TICK, at(us(2300) + us(710) - TICK)), TICK);
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

    /// (waiters, capacity) of the read direction of source `key`.
    fn read_waiters(key: usize) -> (usize, usize) {
        super::current()
            .map(|driver| {
                let mut r = driver.reactor.borrow_mut();
                let w = r.sources[key].waiters(Direction::Read);
                (w.len(), w.capacity())
            })
            .unwrap()
    }

    fn only_source_key() -> usize {
        super::current()
            .map(|driver| {
                let r = driver.reactor.borrow();
                assert_eq!(r.sources.len(), 1);
                r.sources.iter().next().unwrap().0
            })
            .unwrap()
    }

    /// Polls `fut` once with the task's waker and returns whether it is pending.
    async fn poll_once<F: std::future::Future>(fut: F) -> bool {
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
    }

    #[test]
    fn cancelled_accepts_leave_no_waiters_behind() {
        crate::run(async {
            let listener = crate::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let key = only_source_key();
            for _ in 0..10_000 {
                assert!(poll_once(listener.accept()).await);
            }
            let (len, cap) = read_waiters(key);
            assert_eq!(len, 0, "a dropped accept left its waiter");
            assert!(cap <= 4, "the waiter list grew to {cap}");
            // A live one is listed, once, however often it is polled.
            let mut accept = std::pin::pin!(listener.accept());
            for _ in 0..100 {
                assert!(poll_once(accept.as_mut()).await);
            }
            assert_eq!(read_waiters(key).0, 1);
        });
    }

    #[test]
    fn repeated_poll_calls_by_one_task_list_it_once() {
        crate::run(async {
            let socket = crate::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let key = only_source_key();
            let mut buf = [0; 8];
            for _ in 0..1000 {
                let pending =
                    std::future::poll_fn(|cx| std::task::Poll::Ready(socket.poll_recv_from(cx, &mut buf).is_pending()))
                        .await;
                assert!(pending);
            }
            assert_eq!(read_waiters(key).0, 1);
        });
    }

    #[test]
    fn an_always_ready_read_yields_once_the_budget_is_spent() {
        crate::run(async {
            let (a, b) = crate::net::UnixStream::pair().unwrap();
            a.write_all(&[1; 32 * 1024]).await.unwrap();
            let mut buf = [0; 64];
            b.read_exact(&mut buf[..1]).await.unwrap(); // readiness is known
            crate::yield_now().await; // a fresh budget
            let mut reads = 0;
            std::future::poll_fn(|cx| loop {
                match b.poll_read(cx, &mut buf) {
                    std::task::Poll::Ready(Ok(64)) => reads += 1,
                    std::task::Poll::Pending => return std::task::Poll::Ready(()),
                    other => panic!("unexpected {other:?}"),
                }
            })
            .await;
            assert_eq!(reads, usize::from(crate::task::coop::BUDGET));
            // The data is still there for the next poll.
            b.read_exact(&mut buf).await.unwrap();
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
