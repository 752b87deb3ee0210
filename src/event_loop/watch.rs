//! asyncio's `loop.add_reader` / `add_writer`: callbacks run on the loop
//! when a file descriptor is ready, built on the reactor's registration
//! (`reactor/registration.rs`), as [`AsyncFd`](crate::AsyncFd) is. The rules
//! both share (one owner per fd per loop, deregister before close) are in
//! `reactor/fd.rs`.
//!
//! # Ground rules
//!
//! - **`add_reader` callbacks are level-triggered**, as in asyncio: the
//!   callback runs on the loop each time the fd is readable, and runs again
//!   on a later tick for as long as it stays readable (a callback that reads
//!   part of the data is called again for the rest). evloop gets that from
//!   edge-triggered epoll by **re-arming** the fd after each call
//!   (`EPOLL_CTL_MOD` with the same interest: the kernel checks the fd
//!   again and queues an event if it is ready now, edge or not). So each
//!   call costs one extra syscall, and a callback that leaves data unread is
//!   not spun on within one tick: it runs again once the loop next polls
//!   I/O. The alternative, calling the callback again and again until it
//!   reports `WouldBlock`, would need an API asyncio does not have.
//! - Callbacks may call `add_*` / `remove_*` (their own fd included): a
//!   callback that removes itself is not called again, and one replaced
//!   while running is dropped once it returns. A panicking callback is
//!   reported to the loop's exception handler and stays registered, as in
//!   asyncio (where the exception is logged).
//! - Each fd watched with `add_reader` / `add_writer` has one driver task
//!   on the loop, which waits for readiness and calls the callbacks;
//!   removing the last callback deregisters the fd at once (so the number
//!   can be reused right away) and ends the task. The loop's
//!   `tasks_alive` counts these drivers.
//!
//!
//! # Fields and who may touch them
//!
//! `WATCHES` (thread-local, as loops are) maps `(loop id, fd)` to the
//! fd's [`Watch`]; it holds weak references, the driver task holds the
//! strong one, so a closed loop (whose tasks are dropped) leaves only dead
//! entries, swept on the next `add_*`. A `Watch`'s `RefCell`s are borrowed
//! only inside this module's functions, never across a callback.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::mem;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use mio::Interest;

use super::context;
use crate::reactor::{Direction, Registration, Waiting};
use crate::Handle;

/// One callback slot of a [`Watch`].
enum Slot {
    Empty,
    Idle(Box<dyn FnMut()>),
    /// Taken out for a call; what is found here after the call decides what
    /// happens to it (still `Running`: put back; otherwise removed or
    /// replaced meanwhile: dropped).
    Running,
}

impl Slot {
    fn is_set(&self) -> bool {
        !matches!(self, Slot::Empty)
    }
}

/// An fd watched with `add_reader` / `add_writer`: its registration, its
/// callbacks and its driver task's waker.
struct Watch {
    fd: RawFd,
    /// `None` once the last callback is removed (the driver then ends).
    reg: RefCell<Option<Registration>>,
    reader: RefCell<Slot>,
    writer: RefCell<Slot>,
    /// The driver's waker, to make it look again after a change.
    waker: RefCell<Option<Waker>>,
}

thread_local! {
    static WATCHES: RefCell<HashMap<(u64, RawFd), Weak<Watch>>> = RefCell::new(HashMap::new());
}

impl Watch {
    fn slot(&self, dir: Direction) -> &RefCell<Slot> {
        match dir {
            Direction::Read => &self.reader,
            Direction::Write => &self.writer,
        }
    }

    fn wake_driver(&self) {
        crate::task::wake_slot(&self.waker);
    }

    /// Which directions with a callback are ready (their readiness is
    /// cleared: the re-arm after the calls brings it back if still so);
    /// `None` once the watch is removed.
    fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<Option<[bool; 2]>> {
        let borrowed = self.reg.borrow();
        let Some(reg) = borrowed.as_ref() else {
            return Poll::Ready(None);
        };
        let mut fired = [false; 2];
        for (i, dir) in [Direction::Read, Direction::Write].into_iter().enumerate() {
            if self.slot(dir).borrow().is_set()
                && matches!(reg.poll_ready(cx, dir, Waiting::Shared), Poll::Ready(Ok(())))
            {
                reg.clear_readiness(dir);
                fired[i] = true;
            }
        }
        if fired.contains(&true) {
            return Poll::Ready(Some(fired));
        }
        let old = self.waker.borrow_mut().replace(cx.waker().clone());
        drop(borrowed);
        drop(old);
        Poll::Pending
    }

    /// Calls `dir`'s callback once, if it is still there.
    fn call(&self, dir: Direction) {
        let taken = mem::replace(&mut *self.slot(dir).borrow_mut(), Slot::Running);
        let mut callback = match taken {
            Slot::Idle(cb) => cb,
            other => {
                *self.slot(dir).borrow_mut() = other;
                return;
            }
        };
        let result = catch_unwind(AssertUnwindSafe(&mut callback));
        let leftover = {
            let mut slot = self.slot(dir).borrow_mut();
            if matches!(*slot, Slot::Running) {
                *slot = Slot::Idle(callback);
                None
            } else {
                Some(callback)
            }
        };
        // Removed or replaced during the call: its destructor is user code,
        // run with no borrow held.
        drop(leftover);
        if let Err(payload) = result {
            let which = match dir {
                Direction::Read => "add_reader",
                Direction::Write => "add_writer",
            };
            let message = format!(
                "evloop: the {which} callback of fd {} panicked (it stays registered)",
                self.fd
            );
            context::with_current(|core| core.report(&message, Some(payload), None));
        }
    }

    /// Re-arms the fd after the calls (see the module docs). A failure means
    /// the fd was closed while registered: reported, and the watch removed.
    fn rearm(&self) {
        let failed = match self.reg.borrow().as_ref() {
            Some(reg) => reg.rearm().err(),
            None => None,
        };
        if let Some(e) = failed {
            let fd = self.fd;
            let message = format!(
                "evloop: fd {fd} was closed (or replaced) while watched by add_reader/add_writer ({e}); its \
                 callbacks are removed. Call remove_reader/remove_writer before closing an fd"
            );
            context::with_current(|core| core.report(&message, None, None));
            self.remove_all();
        }
    }

    /// Deregisters now and drops both callbacks (outside the borrows).
    fn remove_all(&self) {
        let reg = self.reg.borrow_mut().take();
        let r = mem::replace(&mut *self.reader.borrow_mut(), Slot::Empty);
        let w = mem::replace(&mut *self.writer.borrow_mut(), Slot::Empty);
        drop(reg);
        drop((r, w));
        self.wake_driver();
    }
}

/// The driver task of one watched fd: wait, call, re-arm, until removed.
async fn drive(watch: Rc<Watch>) {
    while let Some(fired) = poll_fn(|cx| watch.poll_fired(cx)).await {
        if fired[0] {
            watch.call(Direction::Read);
        }
        if fired[1] {
            watch.call(Direction::Write);
        }
        watch.rearm();
    }
}

/// The live watch of `key`: not one whose driver is gone (a closed loop)
/// or about to go (removed after its fd was found closed).
fn lookup(key: (u64, RawFd)) -> Option<Rc<Watch>> {
    let watch = WATCHES.with(|w| w.borrow().get(&key).and_then(Weak::upgrade))?;
    let live = watch.reg.borrow().is_some();
    live.then_some(watch)
}

impl Handle {
    /// Calls `callback` on the loop each time `fd` is readable: asyncio's
    /// `loop.add_reader`. Adding a reader to an fd that has one replaces its
    /// callback. Works before the loop runs too. For async code, see
    /// [`AsyncFd`](crate::AsyncFd).
    ///
    /// **Level-triggered**, as in asyncio: while the fd stays readable the
    /// callback runs again on a later tick, so it may read as little as it
    /// likes. evloop's reactor is edge-triggered; after each call it re-arms
    /// the fd (`EPOLL_CTL_MOD`, one syscall), and the kernel then reports it
    /// again at the loop's next I/O poll if it is still readable.
    ///
    /// The callback may add and remove readers and writers, its own
    /// included. A panic in it is reported to the loop's exception handler
    /// and the callback stays registered (asyncio logs and goes on). Each
    /// watched fd has one small driver task on the loop (counted by
    /// [`Stats`](crate::Stats)' `tasks_alive`).
    ///
    /// The fd stays the caller's: call [`remove_reader`](Self::remove_reader)
    /// (and `remove_writer`) **before** closing it. An fd closed while
    /// watched silently leaves epoll; when the loop notices, it reports the
    /// misuse to the exception handler and forgets the fd.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the fd is already watched by this loop otherwise
    /// (an [`AsyncFd`](crate::AsyncFd), a socket), `PermissionDenied` for a regular file,
    /// `EBADF` for a closed fd (each message names the fd and the fix);
    /// `Other` on a closed loop.
    ///
    /// ```
    /// use std::{cell::RefCell, io::{Read, Write}, os::fd::AsRawFd, rc::Rc};
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (mut a, b) = UnixStream::pair()?;
    /// b.set_nonblocking(true)?;
    /// let got = Rc::new(RefCell::new(Vec::new()));
    /// let mut lp = evloop::EventLoop::new()?;
    /// let h = lp.handle();
    /// let (sink, fd) = (got.clone(), b.as_raw_fd());
    /// h.add_reader(fd, move || {
    ///     let mut byte = [0; 1]; // one byte per call: called again for the rest
    ///     if let Ok(1) = (&b).read(&mut byte) {
    ///         sink.borrow_mut().push(byte[0]);
    ///     }
    /// })?;
    /// a.write_all(b"abc")?;
    /// lp.run_until_complete(async {
    ///     while got.borrow().len() < 3 {
    ///         evloop::yield_now().await;
    ///     }
    /// })?;
    /// assert!(h.remove_reader(fd));
    /// assert_eq!(*got.borrow(), b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_reader(&self, fd: RawFd, callback: impl FnMut() + 'static) -> io::Result<()> {
        self.add_watch(fd, Direction::Read, Box::new(callback))
    }

    /// Calls `callback` on the loop each time `fd` is writable: asyncio's
    /// `loop.add_writer`; as [`add_reader`](Self::add_reader).
    ///
    /// ```
    /// use std::{cell::Cell, os::fd::AsRawFd, rc::Rc};
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let mut lp = evloop::EventLoop::new()?;
    /// let h = lp.handle();
    /// let calls = Rc::new(Cell::new(0));
    /// let (c, h2, fd) = (calls.clone(), h.clone(), a.as_raw_fd());
    /// h.add_writer(fd, move || {
    ///     c.set(c.get() + 1);
    ///     h2.remove_writer(fd); // one call is all we wanted
    /// })?;
    /// lp.run_until_complete(async {
    ///     while calls.get() == 0 {
    ///         evloop::yield_now().await;
    ///     }
    /// })?;
    /// assert!(!h.remove_writer(fd)); // already removed
    /// assert_eq!(calls.get(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_writer(&self, fd: RawFd, callback: impl FnMut() + 'static) -> io::Result<()> {
        self.add_watch(fd, Direction::Write, Box::new(callback))
    }

    /// Stops watching `fd` for reading: asyncio's `loop.remove_reader`.
    /// Returns whether a reader was registered. If no writer remains either,
    /// the fd is deregistered at once, so it may be closed right after.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let lp = evloop::EventLoop::new()?;
    /// let h = lp.handle();
    /// h.add_reader(a.as_raw_fd(), || {})?;
    /// assert!(h.remove_reader(a.as_raw_fd()));
    /// assert!(!h.remove_reader(a.as_raw_fd())); // nothing left to remove
    /// drop(a); // closed only once it is no longer watched
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remove_reader(&self, fd: RawFd) -> bool {
        self.remove_watch(fd, Direction::Read)
    }

    /// Stops watching `fd` for writing: asyncio's `loop.remove_writer`; as
    /// [`remove_reader`](Self::remove_reader).
    pub fn remove_writer(&self, fd: RawFd) -> bool {
        self.remove_watch(fd, Direction::Write)
    }

    fn add_watch(&self, fd: RawFd, dir: Direction, callback: Box<dyn FnMut()>) -> io::Result<()> {
        let core = self.core();
        if core.is_closed() {
            return Err(io::Error::other(format!(
                "evloop: cannot watch fd {fd}: the loop is closed"
            )));
        }
        let key = (core.id(), fd);
        if let Some(watch) = lookup(key) {
            let old = mem::replace(&mut *watch.slot(dir).borrow_mut(), Slot::Idle(callback));
            // A fresh look at the fd's state, as asyncio's selector would
            // take: forget what was remembered and let the kernel report
            // what holds now.
            if let Some(reg) = watch.reg.borrow().as_ref() {
                reg.clear_readiness(dir);
                let _ = reg.rearm();
            }
            drop(old);
            watch.wake_driver();
            return Ok(());
        }
        let reg = Registration::with_driver(
            &core.io,
            fd,
            Interest::READABLE | Interest::WRITABLE,
            "fd watched by add_reader/add_writer",
        )?;
        let watch = Rc::new(Watch {
            fd,
            reg: RefCell::new(Some(reg)),
            reader: RefCell::new(Slot::Empty),
            writer: RefCell::new(Slot::Empty),
            waker: RefCell::new(None),
        });
        *watch.slot(dir).borrow_mut() = Slot::Idle(callback);
        WATCHES.with(|w| {
            let mut w = w.borrow_mut();
            w.retain(|_, watch| watch.strong_count() > 0);
            w.insert(key, Rc::downgrade(&watch));
        });
        // Detached: it ends when the last callback is removed, or is
        // dropped with the loop's other tasks when the loop closes.
        drop(core.spawn(drive(watch)));
        Ok(())
    }

    fn remove_watch(&self, fd: RawFd, dir: Direction) -> bool {
        let key = (self.core().id(), fd);
        let Some(watch) = lookup(key) else {
            return false;
        };
        let old = mem::replace(&mut *watch.slot(dir).borrow_mut(), Slot::Empty);
        let removed = old.is_set();
        drop(old);
        if !watch.reader.borrow().is_set() && !watch.writer.borrow().is_set() {
            WATCHES.with(|w| w.borrow_mut().remove(&key));
            watch.remove_all();
        }
        removed
    }
}
