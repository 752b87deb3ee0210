//! Unix signals (feature `signal`): asyncio's `loop.add_signal_handler` /
//! `remove_signal_handler` as [`Handle`] methods, and awaitable receivers:
//! [`ctrl_c`], [`signal`] and [`signals`].
//!
//! A CLI that shuts down cleanly on Ctrl-C or `SIGTERM`:
//!
//! ```no_run
//! use evloop::signal::{signals, SignalKind};
//!
//! evloop::run(async {
//!     let mut stop = signals([SignalKind::INTERRUPT, SignalKind::TERMINATE])?;
//!     let server = evloop::create_task(async { /* serve */ });
//!     let kind = stop.recv().await;
//!     eprintln!("{kind}: shutting down");
//!     server.cancel();
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Ground rules
//!
//! - **Signals are process-wide.** A signal is delivered to the process, not
//!   to a loop, and it is not consumed by whoever sees it first: every
//!   receiver and every handler listening for it, on any loop of any thread,
//!   is told of each delivery. Two loops that both call
//!   [`Handle::add_signal_handler`] for `SIGINT` both run their callbacks.
//! - **Deliveries coalesce**, as POSIX signals do: a receiver learns "this
//!   signal arrived at least once since you last looked". Three quick
//!   `SIGUSR1`s may wake a waiting [`Signal::recv`] once.
//! - **Only what arrives after registration counts.** [`signal`] and
//!   [`Handle::add_signal_handler`] install the process-level hook when
//!   called (not when first awaited); [`ctrl_c`] is an `async fn`, so it
//!   installs it when first polled. A receiver does not need a running loop
//!   to be created: it joins the reactor of the loop it is first polled on,
//!   and stays with that loop (polling it on another panics, as for sockets).
//! - **The default action is replaced, for good.** While any receiver or
//!   handler for a signal exists, the signal's default action does not
//!   happen: `SIGINT` and `SIGTERM` no longer end the process, which is the
//!   point. When the last one is dropped or removed, the OS-level handler
//!   stays installed (signal-hook never uninstalls it) and the signal is from
//!   then on *ignored*, not fatal. A program that wants "a second Ctrl-C
//!   kills" keeps listening and exits itself (`std::process::exit`).
//! - **Refused signals**: `SIGKILL` and `SIGSTOP` cannot be caught, and a
//!   handler for `SIGSEGV`, `SIGILL` or `SIGFPE` cannot make the faulting
//!   code safe to resume (signal-hook's `FORBIDDEN` list). Asking for one of
//!   them, or for a number that is no signal, is an
//!   [`io::ErrorKind::InvalidInput`] error naming the signal.
//! - Nothing here runs in the signal handler but signal-hook's
//!   async-signal-safe part: it records the signal and writes a byte to a
//!   self-pipe (a Unix socket pair), whose read end is a source in the
//!   loop's reactor. Callbacks run on the loop's thread, in a task, like any
//!   other code; they may block the loop as any callback can.
//!
//! # Fields and who may touch them
//!
//! A [`Signal`] owns one signal-hook `Signals` instance (one self-pipe and
//! one registered action per signal), first unregistered, then moved into an
//! `IoSource` at its first poll. Handlers added through a [`Handle`] live in
//! a thread-local table, one row per loop (held by a `Weak`, so the table
//! never keeps a loop alive), mapping a signal to the stop flag of the task
//! that runs the callback.
//!
//! # Implementation
//!
//! One self-pipe per receiver, as signal-hook's `SignalDelivery` gives it:
//! simple, and each receiver sees every delivery. Tokio shares one pipe per
//! process and fans deliveries out through a broadcast slot per signal, which
//! saves a socket pair and a registered action per receiver; with the
//! handful of receivers a program has, the difference does not show.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use mio::Interest;
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

use crate::event_loop::core::Core;
use crate::reactor::{Direction, IoSource};
use crate::Handle;

/// A Unix signal number, with names for the common ones.
///
/// ```
/// use evloop::signal::SignalKind;
///
/// assert_eq!(SignalKind::TERMINATE.as_raw(), 15);
/// assert_eq!(SignalKind::from_raw(2), SignalKind::INTERRUPT);
/// assert_eq!(SignalKind::USER_DEFINED1.to_string(), "SIGUSR1");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// `SIGINT`: Ctrl-C in a terminal.
    pub const INTERRUPT: SignalKind = SignalKind(signal_hook::consts::SIGINT);
    /// `SIGTERM`: a polite request to stop (`kill`, systemd, Kubernetes).
    pub const TERMINATE: SignalKind = SignalKind(signal_hook::consts::SIGTERM);
    /// `SIGHUP`: the terminal went away; daemons often reload on it.
    pub const HANGUP: SignalKind = SignalKind(signal_hook::consts::SIGHUP);
    /// `SIGQUIT`: Ctrl-\ in a terminal.
    pub const QUIT: SignalKind = SignalKind(signal_hook::consts::SIGQUIT);
    /// `SIGUSR1`: for the application's own use.
    pub const USER_DEFINED1: SignalKind = SignalKind(signal_hook::consts::SIGUSR1);
    /// `SIGUSR2`: for the application's own use.
    pub const USER_DEFINED2: SignalKind = SignalKind(signal_hook::consts::SIGUSR2);
    /// `SIGCHLD`: a child process stopped or exited.
    pub const CHILD: SignalKind = SignalKind(signal_hook::consts::SIGCHLD);
    /// `SIGWINCH`: the terminal was resized.
    pub const WINDOW_CHANGE: SignalKind = SignalKind(signal_hook::consts::SIGWINCH);
    /// `SIGPIPE`: a write to a pipe or socket with no reader.
    pub const PIPE: SignalKind = SignalKind(signal_hook::consts::SIGPIPE);
    /// `SIGALRM`: a timer set with `alarm`.
    pub const ALARM: SignalKind = SignalKind(signal_hook::consts::SIGALRM);

    /// The signal with number `signum` (not checked here: [`signal`] refuses
    /// numbers that are no signal, or that cannot be handled).
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// `Ok` if a handler may be installed for this signal; otherwise the
    /// `InvalidInput` error that [`signal`] returns.
    fn check(self) -> io::Result<()> {
        if signal_hook::consts::FORBIDDEN.contains(&self.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "evloop: {self} ({}) cannot be handled: SIGKILL and SIGSTOP cannot be caught, and a handler \
                     for SIGSEGV, SIGILL or SIGFPE cannot make the faulting code safe to resume",
                    self.0
                ),
            ));
        }
        // signal-hook panics past its table (128 entries); the OS refuses
        // the rest (`sigaction` fails with EINVAL).
        if !(1..128).contains(&self.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("evloop: {} is not a signal number", self.0),
            ));
        }
        Ok(())
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match signal_hook::low_level::signal_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalKind({self}, {})", self.0)
    }
}

/// A receiver for `kind`: each [`Signal::recv`] completes when the signal
/// has arrived (at least once) since the previous one. The process-level
/// hook is installed now; see the module docs for what that changes.
///
/// # Errors
///
/// `InvalidInput` for `SIGKILL`, `SIGSTOP`, `SIGSEGV`, `SIGILL`, `SIGFPE`
/// and numbers that are no signal; the OS's error if it refuses the handler.
///
/// ```
/// use evloop::signal::{signal, SignalKind};
///
/// evloop::run(async {
///     let mut usr1 = signal(SignalKind::USER_DEFINED1)?;
///     signal_hook::low_level::raise(SignalKind::USER_DEFINED1.as_raw())?;
///     assert_eq!(usr1.recv().await, SignalKind::USER_DEFINED1);
///     Ok::<(), std::io::Error>(())
/// })?;
/// assert!(signal(SignalKind::from_raw(9)).is_err()); // SIGKILL
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    signals([kind])
}

/// One receiver for several signals: [`Signal::recv`] says which one
/// arrived. The usual shutdown trigger is
/// `signals([SignalKind::INTERRUPT, SignalKind::TERMINATE])`.
///
/// # Errors
///
/// As [`signal`], for the first signal refused (none is installed then).
///
/// ```
/// use evloop::signal::{signals, SignalKind};
///
/// evloop::run(async {
///     let mut sig = signals([SignalKind::USER_DEFINED1, SignalKind::USER_DEFINED2])?;
///     signal_hook::low_level::raise(SignalKind::USER_DEFINED2.as_raw())?;
///     assert_eq!(sig.recv().await, SignalKind::USER_DEFINED2);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signals(kinds: impl IntoIterator<Item = SignalKind>) -> io::Result<Signal> {
    let mut list: Vec<SignalKind> = Vec::new();
    for kind in kinds {
        kind.check()?;
        if !list.contains(&kind) {
            list.push(kind);
        }
    }
    let (read, write) = UnixStream::pair()?;
    // The handler's write must never block (signal-hook also sends with
    // MSG_DONTWAIT); the loop's reads must not either.
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    let signals = SignalDelivery::with_pipe(read, write, SignalOnly, list.iter().map(|k| k.0)).map_err(|e| {
        let names: Vec<String> = list.iter().map(ToString::to_string).collect();
        io::Error::new(
            e.kind(),
            format!("evloop: installing a handler for {}: {e}", names.join(", ")),
        )
    })?;
    Ok(Signal {
        kinds: list,
        source: Pipe::Unregistered(signals),
        ready: VecDeque::new(),
    })
}

/// Completes at the next Ctrl-C (`SIGINT`), as tokio's `ctrl_c`. The hook is
/// installed when the future is first polled; for "from now on" semantics,
/// create a [`signal`]`(SignalKind::INTERRUPT)` receiver early instead.
///
/// # Errors
///
/// If the OS refuses the handler.
///
/// ```no_run
/// evloop::run(async {
///     evloop::signal::ctrl_c().await?;
///     println!("bye");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::INTERRUPT)?.recv().await;
    Ok(())
}

/// A signal receiver, from [`signal`] or [`signals`]: a never-ending
/// stream of deliveries ([`Signal::recv`], or `futures_core::Stream`).
/// Dropping it removes its hook (see the module docs for what the signal
/// does then).
///
/// ```
/// use futures::StreamExt;
/// use evloop::signal::{signal, SignalKind};
///
/// evloop::run(async {
///     let mut usr1 = signal(SignalKind::USER_DEFINED1)?;
///     signal_hook::low_level::raise(SignalKind::USER_DEFINED1.as_raw())?;
///     assert_eq!(usr1.next().await, Some(SignalKind::USER_DEFINED1));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signal {
    kinds: Vec<SignalKind>,
    source: Pipe,
    /// Signals reported by the self-pipe and not yet returned by `recv`
    /// (one poll can report several kinds).
    ready: VecDeque<SignalKind>,
}

enum Pipe {
    /// Hook installed, not yet in a reactor (no loop polled it yet).
    Unregistered(Signals),
    Registered(IoSource<SelfPipe>),
    /// Only while moving from the first state to the second.
    Moving,
}

/// signal-hook's side of one receiver: the signals' recorded flags and the
/// self-pipe's read end.
type Signals = SignalDelivery<UnixStream, SignalOnly>;

/// [`Signals`] behind a `RefCell`, with the read end's fd for the reactor:
/// `IoSource` hands its closure a shared reference, and reading the pipe
/// needs `&mut`.
struct SelfPipe(RefCell<Signals>, RawFd);

impl AsRawFd for SelfPipe {
    fn as_raw_fd(&self) -> RawFd {
        self.1
    }
}

impl Signal {
    /// Waits for the next delivery of one of this receiver's signals and
    /// returns which. Cancel-safe: a delivery is never lost by dropping the
    /// future.
    ///
    /// ```
    /// use evloop::signal::{signal, SignalKind};
    ///
    /// evloop::run(async {
    ///     let mut usr2 = signal(SignalKind::USER_DEFINED2)?;
    ///     evloop::get_running_loop().call_soon(|| {
    ///         signal_hook::low_level::raise(SignalKind::USER_DEFINED2.as_raw()).unwrap();
    ///     });
    ///     usr2.recv().await;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn recv(&mut self) -> SignalKind {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery (the `poll_*` form of [`Signal::recv`]).
    /// Registers the receiver with the running loop on the first call.
    ///
    /// # Panics
    ///
    /// Outside a running loop, or on a loop other than the one that polled
    /// it first; if the reactor refuses the self-pipe (out of memory).
    #[track_caller]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<SignalKind> {
        loop {
            if let Some(kind) = self.ready.pop_front() {
                return Poll::Ready(kind);
            }
            let io = self.io();
            let batch = io.poll_io(cx, Direction::Read, |pipe| {
                // Drains the pipe (to EAGAIN), then takes the recorded
                // signals. A signal landing after the drain writes a new
                // byte, which the edge-triggered reactor reports as a new
                // event, so nothing slips between the two.
                let kinds: Vec<SignalKind> = pipe.0.borrow_mut().pending().map(SignalKind).collect();
                if kinds.is_empty() {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(kinds)
                }
            });
            match batch {
                Poll::Ready(Ok(kinds)) => self.ready.extend(kinds),
                // Reading the self-pipe reports no errors (signal-hook
                // ignores them), so this is only for completeness.
                Poll::Ready(Err(e)) => panic!("evloop: reading the signal self-pipe failed: {e}"),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The signals this receiver listens for.
    pub fn kinds(&self) -> &[SignalKind] {
        &self.kinds
    }

    #[track_caller]
    fn io(&mut self) -> &IoSource<SelfPipe> {
        if let Pipe::Unregistered(_) = self.source {
            let Pipe::Unregistered(signals) = std::mem::replace(&mut self.source, Pipe::Moving) else {
                unreachable!()
            };
            let io = {
                let fd = signals.get_read().as_raw_fd();
                IoSource::with_interest(SelfPipe(RefCell::new(signals), fd), Interest::READABLE, "Signal")
            }
            .unwrap_or_else(|e| panic!("evloop: registering a signal receiver with the loop failed: {e}"));
            self.source = Pipe::Registered(io);
        }
        match &self.source {
            Pipe::Registered(io) => io,
            _ => unreachable!("a Signal's pipe is registered above"),
        }
    }
}

impl futures_core::Stream for Signal {
    type Item = SignalKind;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SignalKind>> {
        self.get_mut().poll_recv(cx).map(Some)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kinds", &self.kinds).finish()
    }
}

/// The stop flag of one handler task.
#[derive(Default)]
struct Stop {
    stopped: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Stop {
    fn stop(&self) {
        self.stopped.set(true);
        crate::task::wake_slot(&self.waker);
    }
}

/// One loop's handlers.
struct LoopHandlers {
    core: Weak<Core>,
    by_signal: HashMap<i32, Rc<Stop>>,
}

thread_local! {
    /// Handlers added through `Handle::add_signal_handler`, per loop (loops
    /// never leave their thread, so a thread-local table sees all of a
    /// loop's handlers).
    static HANDLERS: RefCell<Vec<LoopHandlers>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `core`'s row of the table, creating it if needed; forgets
/// the rows of loops that are gone.
fn with_handlers<R>(core: &Rc<Core>, f: impl FnOnce(&mut HashMap<i32, Rc<Stop>>) -> R) -> R {
    HANDLERS.with(|table| {
        let mut table = table.borrow_mut();
        table.retain(|row| row.core.strong_count() > 0);
        let i = match table
            .iter()
            .position(|row| std::ptr::eq(row.core.as_ptr(), Rc::as_ptr(core)))
        {
            Some(i) => i,
            None => {
                table.push(LoopHandlers {
                    core: Rc::downgrade(core),
                    by_signal: HashMap::new(),
                });
                table.len() - 1
            }
        };
        f(&mut table[i].by_signal)
    })
}

/// asyncio's `loop.add_signal_handler` / `remove_signal_handler`.
impl Handle {
    /// Calls `callback` on this loop each time `kind` is delivered to the
    /// process (deliveries in quick succession may coalesce into one call),
    /// replacing this loop's earlier handler for `kind`, as asyncio does.
    /// The hook is installed now, so a signal that arrives before the loop
    /// runs is handled once it does. The callback runs in a task of its own
    /// (named after the signal); a panic in it ends that handler and goes to
    /// the loop's exception handler. See the [module docs](crate::signal)
    /// for which signals are allowed, the default action, and several loops.
    ///
    /// # Errors
    ///
    /// As [`signal`]: `InvalidInput` for `SIGKILL`, `SIGSTOP`, `SIGSEGV`,
    /// `SIGILL`, `SIGFPE` and numbers that are no signal. An error on a
    /// closed loop, as asyncio raises.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use evloop::signal::SignalKind;
    ///
    /// let mut lp = evloop::EventLoop::new()?;
    /// let handle = lp.handle();
    /// let got = Rc::new(Cell::new(false));
    /// let (g, h) = (got.clone(), handle.clone());
    /// handle.add_signal_handler(SignalKind::USER_DEFINED1, move || {
    ///     g.set(true);
    ///     h.stop();
    /// })?;
    /// signal_hook::low_level::raise(SignalKind::USER_DEFINED1.as_raw())?;
    /// let _ = lp.run_forever(); // until the handler stops the loop
    /// assert!(got.get());
    /// assert!(handle.remove_signal_handler(SignalKind::USER_DEFINED1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_signal_handler(&self, kind: SignalKind, mut callback: impl FnMut() + 'static) -> io::Result<()> {
        if self.is_closed() {
            // asyncio raises RuntimeError("Event loop is closed").
            return Err(io::Error::other(format!(
                "evloop: add_signal_handler({kind}) on a closed loop: nothing would ever run the callback"
            )));
        }
        let mut receiver = signal(kind)?;
        let stop = Rc::new(Stop::default());
        let old = with_handlers(self.core(), |map| map.insert(kind.0, stop.clone()));
        if let Some(old) = old {
            old.stop();
        }
        let task = self.create_task(async move {
            poll_fn(|cx| loop {
                if stop.stopped.get() {
                    return Poll::Ready(());
                }
                match receiver.poll_recv(cx) {
                    // The callback may remove this very handler: the loop
                    // checks the flag before waiting again.
                    Poll::Ready(_) => callback(),
                    Poll::Pending => {
                        let old = crate::task::register_waker(&mut stop.waker.borrow_mut(), cx.waker());
                        drop(old);
                        return Poll::Pending;
                    }
                }
            })
            .await;
        });
        task.set_name(format!("signal handler for {kind}"));
        // Detached: the table's stop flag is how it ends.
        drop(task);
        Ok(())
    }

    /// Removes this loop's handler for `kind`; `true` if there was one. The
    /// handler's task ends at the loop's next tick and its hook is removed;
    /// the signal is then ignored unless other receivers exist (see the
    /// [module docs](crate::signal)).
    ///
    /// ```
    /// use evloop::signal::SignalKind;
    ///
    /// let lp = evloop::EventLoop::new()?;
    /// let handle = lp.handle();
    /// assert!(!handle.remove_signal_handler(SignalKind::HANGUP));
    /// handle.add_signal_handler(SignalKind::HANGUP, || {})?;
    /// assert!(handle.remove_signal_handler(SignalKind::HANGUP));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remove_signal_handler(&self, kind: SignalKind) -> bool {
        match with_handlers(self.core(), |map| map.remove(&kind.0)) {
            Some(stop) => {
                stop.stop();
                true
            }
            None => false,
        }
    }
}
