//! [`Registration`]: one source's slot in the reactor; [`Waiters`]: the FIFO
//! list of tasks waiting for one direction of it; and [`IoSource`]: a mio
//! source paired with its registration, with the readiness dance that every
//! socket and pipe type shares.
//!
//! # Ground rules
//!
//! - A registration belongs to one loop and stays with it (it keeps the
//!   loop's I/O side, its [`Driver`], alive until it is dropped). It is bound when made inside a
//!   running loop, or for a loop named by a `Handle`; one made with no loop
//!   running is bound at its first poll, to the loop running then (see
//!   [Lazy registration](#lazy-registration)). Using it anywhere else panics
//!   at once, naming the object, both loops and the fix (see
//!   [Cross-loop use](#cross-loop-use)): its wakers could never fire there.
//! - The fd is registered through `mio::unix::SourceFd`, by number: sockets,
//!   pipes and a user's `AsyncFd` all go the same way, and registering needs
//!   only `&self`, which is what makes lazy registration possible. The
//!   owner keeps the fd open while registered and drops the registration
//!   first ([`IoSource`] declares `reg` before `source`).
//! - An operation first checks the remembered readiness. If the direction is
//!   not ready, the task's waker joins that direction's waiter list and the
//!   operation is pending. If it is, the operation spends one unit of the
//!   task's cooperative budget (`task/coop.rs`; when the budget is spent the
//!   task is woken and the operation returns `Pending` without the syscall),
//!   then the syscall runs; `WouldBlock` clears the readiness and the check
//!   repeats, joining the list this time. Between the check and the clear no
//!   `epoll_wait` can run (one thread, no `.await` in between), so no event
//!   can slip between them and be lost.
//! - **A direction has waiters only while it is not ready.** Waiters join
//!   only when the readiness check fails, and the only thing that sets
//!   readiness, an event in `Reactor::poll`, takes every waiter of the
//!   directions it makes ready, in FIFO order. So an operation that finds
//!   its direction ready knows its old entry (if it had one) is gone.
//! - **Many waiters per direction, all woken on an edge.** Tasks sharing one
//!   listener or one UDP socket each wait in the list, oldest first. An edge
//!   wakes all of them, in the order they joined: the first to run takes the
//!   connection or datagram, the others find `WouldBlock` and join again.
//!   Waking only one could lose the wake-up if that one had been cancelled
//!   in the meantime, and the loop cannot tell how many connections or
//!   datagrams one edge stands for; waking all costs one extra poll per
//!   surplus waiter, and only when tasks really share a source.
//! - Two kinds of waiter:
//!   - an **owned** entry, held by the futures the async methods return
//!     (`accept`, `read`, `write`, `recv_from`, `send_to`, `connect`, ...,
//!     all through [`IoSource::io`] / [`IoSource::stream_io`]). The future
//!     keeps the entry's id, refreshes its waker in place when polled again,
//!     and removes it when dropped, so cancelled waiters never pile up: a
//!     listener that sees a million cancelled `accept`s holds none of them.
//!   - a **shared** entry, for the `poll_*` methods (`poll_read`,
//!     `poll_recv_from`, the `futures-io` impls) which keep no state between
//!     calls. A waker that `will_wake` one already listed is not added
//!     again; the entry leaves the list at the next edge (or with the
//!     source), so it can outlive a cancelled operation until then, bounded
//!     by the number of distinct tasks that polled.
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
//! - Dropping a [`Registration`] (an [`IoSource`] drops it before its
//!   source) deregisters the fd from `epoll` *before* the fd is closed,
//!   then frees the slot (and drops its waiters' wakers outside the
//!   reactor's borrow).
//! - Registering fails with a message that names the fd and the fix when
//!   the kernel says `EEXIST` (the fd is already watched by this loop:
//!   another `AsyncFd`, a socket, `add_reader`) or `EPERM` (epoll cannot
//!   watch it: a regular file).
//!
//! # Fields and who may touch them
//!
//! [`Waiters`] lives in the reactor's `ScheduledIo`, behind `Driver::reactor`'s
//! `RefCell`. Registrations add, refresh and remove entries; only
//! `Reactor::poll` takes them all. A waker replaced or removed here is
//! dropped after the borrow is released (its destructor is foreign code).
//!
//! # Implementation
//!
//! A waiter list is a `VecDeque` of `(id, waker)` in the order they joined,
//! with ids from a per-list counter, so the list is sorted by id and an
//! owned entry is found by binary search. Draining it on an edge keeps its
//! capacity, so a socket with one waiter at a time allocates once, on its
//! first wait. Tokio keeps an intrusive linked list of waiters in each
//! future (no allocation at all, O(1) removal) at the price of `unsafe`
//! pinned pointers; async-io keeps a slab of wakers per direction plus one
//! "tick" waker for the `poll_*` API, which, like tokio's `poll_*_ready`,
//! remembers only the last task.
//!
//! # Lazy registration
//!
//! A host program sets up its sockets before it starts a loop. Such a
//! registration holds the fd and interest and nothing else; the first
//! [`Registration::poll_ready`] registers it with the running loop (or
//! returns that registration's error; with no loop running it panics, as a
//! use outside any loop always did). From then on it is bound, exactly as
//! if it had been made on that loop. asyncio's objects bind to the first
//! loop that uses them the same way; tokio instead panics at creation
//! outside a runtime. Creating inside a running loop still registers at
//! once, so errors show where they always did and the reactor's
//! bookkeeping (one slot per live socket) is unchanged.
//!
//! # Cross-loop use
//!
//! Every readiness check first asks whether the registration's loop is the
//! one running (`Driver::is_running`: at most one loop runs on a thread, and a
//! registration never leaves its loop's thread, so "my loop is running"
//! means "my loop is the running one"). That is one `Cell<bool>` read on a
//! driver the check dereferences anyway; only on failure does it look up the
//! running loop, for the message.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::{ready, Driver, ScheduledIo};
use crate::task::coop;

const NO_LOOP: &str = "(like every evloop I/O object: socket, pipe, child process, AsyncFd) must be used inside a \
                       running evloop event loop (evloop::run or EventLoop::run_until_complete); it may be created \
                       before the loop runs, and then registers with the first loop that polls it";

const CROSS_LOOP_FIX: &str = "create it inside the loop that uses it (or before any loop runs: it then joins the \
                              first loop that polls it), or pass data between loops through a channel / \
                              ThreadsafeHandle";

/// `EEXIST` and `EPERM`, the same on Linux and the BSDs (the standard
/// library names no errno values, and this crate takes no `libc`).
const EEXIST: i32 = 17;
const EPERM: i32 = 1;

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

/// One task waiting in a [`Waiters`] list.
struct Waiter {
    /// Unique within its list; ids grow in joining order.
    id: u64,
    waker: Waker,
    /// Added by a `poll_*` call (no owner to remove it), rather than owned
    /// by a future.
    shared: bool,
}

/// The tasks waiting for one direction of one source, oldest first. See
/// the module docs for owned and shared entries.
#[derive(Default)]
pub(crate) struct Waiters {
    list: VecDeque<Waiter>,
    next_id: u64,
}

impl Waiters {
    fn push(&mut self, waker: &Waker, shared: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.list.push_back(Waiter {
            id,
            waker: waker.clone(),
            shared,
        });
        id
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.list.binary_search_by_key(&id, |w| w.id).ok()
    }

    /// Makes sure the owned entry `slot` names holds `waker`, adding it at
    /// the back if it is gone (or was never added). Returns the waker it
    /// replaced, for the caller to drop outside the borrow.
    fn register_owned(&mut self, slot: &mut Option<u64>, waker: &Waker) -> Option<Waker> {
        if let Some(i) = slot.and_then(|id| self.position(id)) {
            let entry = &mut self.list[i];
            if entry.waker.will_wake(waker) {
                return None;
            }
            return Some(mem::replace(&mut entry.waker, waker.clone()));
        }
        *slot = Some(self.push(waker, false));
        None
    }

    /// Adds `waker` as a shared entry unless one that `will_wake` it is
    /// already listed.
    fn register_shared(&mut self, waker: &Waker) {
        if !self.list.iter().any(|w| w.shared && w.waker.will_wake(waker)) {
            self.push(waker, true);
        }
    }

    /// Removes the owned entry `id`, if it is still listed.
    fn remove(&mut self, id: u64) -> Option<Waker> {
        let i = self.position(id)?;
        self.list.remove(i).map(|w| w.waker)
    }

    /// Moves every waker onto `woken`, oldest first, keeping the capacity.
    /// Out of line: the reactor calls it for either direction (issue #15).
    #[inline(never)]
    pub(crate) fn take_all(&mut self, woken: &mut Vec<Waker>) {
        // `pop_front`, not `drain(..)`: `Drain`, its drop guard and
        // `wrap_copy` cost ~1.5 KB of code for nothing here (issue #15).
        while let Some(w) = self.list.pop_front() {
            woken.push(w.waker);
        }
    }

    /// How many tasks wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no task waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The list's allocated capacity (for the tests that check it does not
    /// grow).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.list.capacity()
    }
}

/// How an operation waits: its place in a [`Waiters`] list.
pub(crate) enum Waiting<'a> {
    /// A `poll_*` call: a shared entry, de-duplicated with `will_wake`.
    Shared,
    /// A future's own entry; the id lives in the future (`None`: not listed).
    Owned(&'a mut Option<u64>),
}

impl Waiting<'_> {
    fn reborrow(&mut self) -> Waiting<'_> {
        match self {
            Waiting::Shared => Waiting::Shared,
            Waiting::Owned(slot) => Waiting::Owned(slot),
        }
    }
}

/// A source's slot in a loop's reactor: bound to a loop when made inside a
/// running one (or for a given loop), otherwise at its first poll, by the
/// loop running then. Deregisters the fd and frees the slot on drop.
pub(crate) struct Registration {
    /// The loop and slot, once registered (see [Lazy registration](#lazy-registration)).
    bound: OnceCell<Bound>,
    /// The fd as registered with epoll (through `mio::unix::SourceFd`). The
    /// owner keeps it open for as long as this registration lives.
    fd: RawFd,
    interest: Interest,
    /// What the user calls the object ("TcpListener"), for error messages.
    kind: &'static str,
}

/// A registration's loop and its slot in that loop's reactor.
struct Bound {
    driver: Rc<Driver>,
    key: usize,
}

impl Registration {
    /// A registration of `fd`, a `kind` ("TcpListener", ...), for
    /// `interest`: with the running loop's reactor if a loop is running,
    /// else with the first loop that polls it.
    ///
    /// # Errors
    ///
    /// Registering with the running loop failed (see [`Registration::bind`]).
    pub(crate) fn new(fd: RawFd, interest: Interest, kind: &'static str) -> io::Result<Registration> {
        let reg = Registration::unbound(fd, interest, kind);
        if let Some(driver) = super::current() {
            reg.bind(driver)?;
        }
        Ok(reg)
    }

    /// A registration of `fd` with `driver`'s reactor, now, whether or not
    /// that loop is running.
    pub(crate) fn with_driver(
        driver: &Rc<Driver>,
        fd: RawFd,
        interest: Interest,
        kind: &'static str,
    ) -> io::Result<Registration> {
        let reg = Registration::unbound(fd, interest, kind);
        reg.bind(driver.clone())?;
        Ok(reg)
    }

    fn unbound(fd: RawFd, interest: Interest, kind: &'static str) -> Registration {
        Registration {
            bound: OnceCell::new(),
            fd,
            interest,
            kind,
        }
    }

    /// Registers the fd with `driver`'s reactor. Call only while unbound.
    ///
    /// # Errors
    ///
    /// The kernel's, with a message that names the fd and the fix for the
    /// two that misuse causes: `AlreadyExists` (`EEXIST`) when the fd is
    /// already registered with this loop (by another `AsyncFd`, socket or
    /// `add_reader`), `PermissionDenied` (`EPERM`) for an fd epoll cannot
    /// watch (a regular file or a directory).
    fn bind(&self, driver: Rc<Driver>) -> io::Result<&Bound> {
        let mut reactor = driver.reactor.borrow_mut();
        let key = reactor.sources.insert(ScheduledIo::default());
        let registered = reactor
            .registry()
            .register(&mut SourceFd(&self.fd), Token(key), self.interest);
        if let Err(e) = registered {
            reactor.sources.remove(key);
            return Err(self.explain(e, driver.loop_id()));
        }
        drop(reactor);
        let bound = Bound { driver, key };
        // Unbound until now, and no `.await` or user code in between.
        Ok(self.bound.get_or_init(|| bound))
    }

    /// The kernel's error `e` from registering, with the misuse it stands
    /// for spelt out.
    fn explain(&self, e: io::Error, loop_id: u64) -> io::Error {
        let (kind, fd) = (self.kind, self.fd);
        let why = match e.raw_os_error() {
            Some(EEXIST) => format!(
                "fd {fd} is already registered with event loop #{loop_id} (by another AsyncFd, an evloop socket \
                 or Handle::add_reader/add_writer): an fd can be watched by one owner per loop; drop the other \
                 owner (or call remove_reader/remove_writer) first, or share one AsyncFd"
            ),
            Some(EPERM) => format!(
                "fd {fd} cannot be watched by epoll (a regular file or a directory is always ready: read it \
                 directly or through evloop::to_thread)"
            ),
            _ => format!("fd {fd}"),
        };
        io::Error::new(
            e.kind(),
            format!("evloop: could not register this {kind} with the loop's reactor: {why}: {e}"),
        )
    }

    /// The loop and slot to poll on: the registration's own loop, which
    /// must be the running one, or, the first time, the running loop.
    ///
    /// # Panics
    ///
    /// If the registration's loop is not running, or no loop is running
    /// (see the module docs).
    #[track_caller]
    fn polled(&self) -> io::Result<&Bound> {
        match self.bound.get() {
            Some(bound) if bound.driver.is_running() => Ok(bound),
            Some(bound) => bound.wrong_loop(self.kind),
            None => match super::current() {
                Some(driver) => self.bind(driver),
                None => {
                    let kind = self.kind;
                    panic!("evloop: a {kind} {NO_LOOP}")
                }
            },
        }
    }

    /// The loop and slot, for operations that come after a successful
    /// [`poll_ready`](Self::poll_ready) (which bound it).
    fn bound(&self) -> &Bound {
        self.bound
            .get()
            .expect("evloop: an I/O registration was used before its first poll (a bug in evloop)")
    }

    /// Ready if `dir` has readiness; otherwise puts the task in `dir`'s
    /// waiter list as `waiting` says and returns `Pending`. The first call
    /// of an unbound registration registers it with the running loop; the
    /// error of that is returned.
    ///
    /// # Panics
    ///
    /// If the registration's loop is not the running loop, or none runs
    /// (see the module docs).
    #[track_caller]
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        waiting: Waiting<'_>,
    ) -> Poll<io::Result<()>> {
        let bound = self.polled()?;
        let mut reactor = bound.driver.reactor.borrow_mut();
        let io = &mut reactor.sources[bound.key];
        if io.readiness & dir.mask() != 0 {
            // The edge that set this readiness took every waiter of `dir`,
            // this operation's own entry included.
            debug_assert!(io.waiters(dir).is_empty(), "waiters listed on a ready direction");
            if let Waiting::Owned(slot) = waiting {
                *slot = None;
            }
            return Poll::Ready(Ok(()));
        }
        let list = io.waiters(dir);
        let old = match waiting {
            Waiting::Shared => {
                list.register_shared(cx.waker());
                None
            }
            Waiting::Owned(slot) => list.register_owned(slot, cx.waker()),
        };
        drop(reactor);
        // A replaced waker is dropped outside the borrow: its destructor is
        // foreign code.
        drop(old);
        Poll::Pending
    }

    /// Removes an owned waiter entry (a future that stopped waiting).
    fn remove_waiter(&self, dir: Direction, id: u64) {
        let Some(bound) = self.bound.get() else { return };
        // `try_`: the reactor is never borrowed while user code runs (which
        // is where a drop comes from), but a leak beats a panic in a
        // destructor if that ever changes.
        let old = match bound.driver.reactor.try_borrow_mut() {
            Ok(mut reactor) => reactor.sources[bound.key].waiters(dir).remove(id),
            Err(_) => None,
        };
        drop(old);
    }

    /// Forgets `dir`'s readiness. Call only after the operation returned
    /// `WouldBlock`: the kernel sends the next edge when that changes.
    pub(crate) fn clear_readiness(&self, dir: Direction) {
        self.clear_bits(dir.mask());
    }

    fn clear_bits(&self, bits: u8) {
        let bound = self.bound();
        let mut reactor = bound.driver.reactor.borrow_mut();
        reactor.sources[bound.key].readiness &= !bits;
    }

    /// Re-arms the fd (`EPOLL_CTL_MOD` with the same interest): the kernel
    /// checks it again and queues an event if it is ready *now*, even
    /// though no new edge happened. What turns edge-triggered epoll into
    /// asyncio's level-triggered callbacks (`fd.rs`).
    pub(crate) fn rearm(&self) -> io::Result<()> {
        let bound = self.bound();
        let reactor = bound.driver.reactor.borrow();
        reactor
            .registry()
            .reregister(&mut SourceFd(&self.fd), Token(bound.key), self.interest)
    }
}

impl Bound {
    /// The panic for a registration used away from its loop. Cold: only
    /// misuse gets here.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn wrong_loop(&self, kind: &str) -> ! {
        let home = self.driver.loop_id();
        let closed = if self.driver.is_closed() {
            ", which is closed,"
        } else {
            ""
        };
        match super::current().map(|driver| driver.loop_id()) {
            Some(running) => panic!(
                "evloop: this {kind} is attached to a different loop: it was registered with event loop \
                 #{home}{closed} and is used on event loop #{running}, whose reactor never hears of it; \
                 {CROSS_LOOP_FIX}"
            ),
            None => panic!(
                "evloop: this {kind} was registered with event loop #{home}{closed} and is used with no running \
                 loop (no running loop can wake it); {CROSS_LOOP_FIX}"
            ),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(bound) = self.bound.take() else { return };
        // `try_`: as in `remove_waiter`.
        let waiters = match bound.driver.reactor.try_borrow_mut() {
            Ok(mut reactor) => {
                // The owner drops its fd after this (field order): the fd
                // leaves epoll while it is still open. Fails only if it is
                // already closed (misuse, see `fd.rs`); either way epoll no
                // longer watches it.
                let _ = reactor.registry().deregister(&mut SourceFd(&self.fd));
                let io = reactor.sources.remove(bound.key);
                Some((io.readers, io.writers))
            }
            Err(_) => None,
        };
        drop(waiters);
    }
}

/// An owned waiter entry's id, removed from its list when dropped: what
/// keeps a cancelled operation from leaving its waker behind.
struct OwnedWaiter<'a> {
    reg: &'a Registration,
    dir: Direction,
    id: Option<u64>,
}

impl Drop for OwnedWaiter<'_> {
    fn drop(&mut self) {
        // `None` on every completed operation (it found its direction ready,
        // which means the edge already took its entry): no borrow then.
        if let Some(id) = self.id {
            self.reg.remove_waiter(self.dir, id);
        }
    }
}

/// A source (a mio socket or pipe) with its registration: the building
/// block of every socket and pipe type.
pub(crate) struct IoSource<S: AsRawFd> {
    // Declared (so dropped) before `source`: the fd leaves epoll while it is
    // still open.
    reg: Registration,
    source: S,
}

impl<S: AsRawFd> IoSource<S> {
    /// Registers `source`, a `kind` ("TcpStream", ...), for both directions:
    /// with the running loop, or with the first loop that polls it.
    ///
    /// # Errors
    ///
    /// Registering with the running loop failed.
    pub(crate) fn new(source: S, kind: &'static str) -> io::Result<IoSource<S>> {
        IoSource::with_interest(source, Interest::READABLE | Interest::WRITABLE, kind)
    }

    /// Registers `source` for `interest` only (a pipe end has one direction).
    pub(crate) fn with_interest(source: S, interest: Interest, kind: &'static str) -> io::Result<IoSource<S>> {
        let reg = Registration::new(source.as_raw_fd(), interest, kind)?;
        Ok(IoSource { reg, source })
    }

    /// Deregisters the source and gives it back, still open.
    pub(crate) fn into_inner(self) -> S {
        let IoSource { reg, source } = self;
        drop(reg);
        source
    }

    /// The registration, for readiness the caller manages itself (`fd.rs`).
    pub(crate) fn registration(&self) -> &Registration {
        &self.reg
    }

    /// The mio source.
    pub(crate) fn get_ref(&self) -> &S {
        &self.source
    }

    /// Runs the non-blocking operation `f` when `dir` is ready, retrying
    /// after each `WouldBlock` (which clears the readiness) and `EINTR`.
    /// Each attempt spends one unit of the task's cooperative budget. A
    /// pending call leaves a shared waiter entry (see the module docs).
    #[track_caller]
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut f: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_as(cx, dir, Waiting::Shared, &mut f)
    }

    #[track_caller]
    fn poll_io_as<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut waiting: Waiting<'_>,
        f: &mut impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            ready!(self.poll_ready_as(cx, dir, waiting.reborrow()))?;
            match f(&self.source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.reg.clear_readiness(dir),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// [`poll_io`](Self::poll_io) for a stream's `read` or `write`: with
    /// `short_of = Some(len)` (TCP, `len` bytes asked) a short transfer
    /// (`0 < n < len`) also clears `dir`'s plain readiness bit, so the next
    /// operation waits for the next edge instead of making a syscall that
    /// returns `WouldBlock`. See the module docs for why that loses no
    /// wake-up, and for which sockets it holds (`None` for the others).
    #[track_caller]
    pub(crate) fn poll_stream_io(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        short_of: Option<usize>,
        mut f: impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_stream_io_as(cx, dir, short_of, Waiting::Shared, &mut f)
    }

    #[track_caller]
    fn poll_stream_io_as(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        short_of: Option<usize>,
        waiting: Waiting<'_>,
        f: &mut impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let result = self.poll_io_as(cx, dir, waiting, f);
        if let (Poll::Ready(Ok(n)), Some(len)) = (&result, short_of) {
            if 0 < *n && *n < len {
                self.reg.clear_bits(dir.ready_bit());
            }
        }
        result
    }

    /// [`poll_io`](Self::poll_io) as a future that owns its waiter entry and
    /// removes it when dropped.
    pub(crate) async fn io<R>(&self, dir: Direction, mut f: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        let mut waiter = self.waiter(dir);
        poll_fn(|cx| self.poll_io_as(cx, dir, Waiting::Owned(&mut waiter.id), &mut f)).await
    }

    /// [`poll_stream_io`](Self::poll_stream_io) as a future that owns its
    /// waiter entry and removes it when dropped.
    pub(crate) async fn stream_io(
        &self,
        dir: Direction,
        short_of: Option<usize>,
        mut f: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut waiter = self.waiter(dir);
        poll_fn(|cx| self.poll_stream_io_as(cx, dir, short_of, Waiting::Owned(&mut waiter.id), &mut f)).await
    }

    /// Waits until `dir` is ready, without doing the operation (`AsyncFd`'s
    /// `readable` / `writable`): the same waiter list and budget as
    /// [`io`](Self::io), and the caller clears the readiness when its own
    /// operation reports `WouldBlock`.
    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        let mut waiter = self.waiter(dir);
        poll_fn(|cx| self.poll_ready_as(cx, dir, Waiting::Owned(&mut waiter.id))).await
    }

    /// [`ready`](Self::ready) for hand-written futures: a pending poll leaves
    /// a shared waiter entry.
    #[track_caller]
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<()>> {
        self.poll_ready_as(cx, dir, Waiting::Shared)
    }

    /// Ready once `dir` is ready *and* the task's budget allows one more
    /// step: every operation's way in. A spent budget wakes the task and
    /// leaves the readiness as it is, so the next poll goes straight on.
    #[track_caller]
    fn poll_ready_as(&self, cx: &mut Context<'_>, dir: Direction, waiting: Waiting<'_>) -> Poll<io::Result<()>> {
        ready!(self.reg.poll_ready(cx, dir, waiting))?;
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(()))
    }

    fn waiter(&self, dir: Direction) -> OwnedWaiter<'_> {
        OwnedWaiter {
            reg: &self.reg,
            dir,
            id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::Waiters;

    /// A distinct waker per instance (`will_wake` compares the `Arc`).
    struct Named;
    impl Wake for Named {
        fn wake(self: Arc<Self>) {}
    }

    fn wakers(n: usize) -> Vec<Waker> {
        (0..n).map(|_| Waker::from(Arc::new(Named))).collect()
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Waker::will_wake compares vtable addresses, which Miri does not keep unique"
    )]
    fn waiters_take_all_in_joining_order_and_keep_capacity() {
        let w = wakers(4);
        let mut list = Waiters::default();
        let mut slots = [None; 3];
        for (slot, waker) in slots.iter_mut().zip(&w) {
            assert!(list.register_owned(slot, waker).is_none());
        }
        list.register_shared(&w[3]);
        list.register_shared(&w[3]);
        assert_eq!(list.len(), 4, "a shared waker that will_wake one listed is not added");
        // The middle one leaves (a cancelled future).
        assert!(list.remove(slots[1].unwrap()).is_some());
        assert!(list.remove(slots[1].unwrap()).is_none(), "removing twice is harmless");
        let mut woken = Vec::new();
        let cap = list.capacity();
        list.take_all(&mut woken);
        let order: Vec<_> = woken
            .iter()
            .map(|k| [&w[0], &w[2], &w[3]].iter().position(|x| x.will_wake(k)))
            .collect();
        assert_eq!(order, [Some(0), Some(1), Some(2)]);
        assert!(list.is_empty());
        assert_eq!(list.capacity(), cap);
        // An entry taken by an edge is added again, at the back.
        assert!(list.register_owned(&mut slots[2], &w[2]).is_none());
        assert!(list.register_owned(&mut slots[0], &w[0]).is_none());
        assert_eq!(list.len(), 2);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Waker::will_wake compares vtable addresses, which Miri does not keep unique"
    )]
    fn waiters_refresh_an_owned_entry_in_place() {
        let w = wakers(2);
        let mut list = Waiters::default();
        let mut slot = None;
        assert!(list.register_owned(&mut slot, &w[0]).is_none());
        let id = slot;
        assert!(list.register_owned(&mut slot, &w[0]).is_none());
        let old = list.register_owned(&mut slot, &w[1]).expect("the old waker comes back");
        assert!(old.will_wake(&w[0]));
        assert_eq!((slot, list.len()), (id, 1), "same entry, same place");
    }
}
