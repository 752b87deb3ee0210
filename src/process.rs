//! Subprocesses: asyncio's `create_subprocess_exec`, on top of
//! `std::process::Command`.
//!
//! ```
//! use evloop::process::Command;
//!
//! let out = evloop::run(async { Command::new("echo").arg("hello").output().await })?;
//! assert!(out.status.success());
//! assert_eq!(out.stdout, b"hello\n");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Ground rules
//!
//! - The child's piped stdin, stdout and stderr become non-blocking mio
//!   pipes registered with the running loop, so reading and writing them
//!   never blocks the loop.
//! - [`Child::wait`] learns of the exit when it happens, without polling:
//!   a *reaper thread* blocks in `waitpid` for that child and wakes the
//!   waiting task (see [Implementation](#implementation-waiting-for-exit)).
//!   The cost is **one OS thread per child being waited on**, alive from the
//!   first `wait` that finds the child running until the child exits (a
//!   thread blocked in `waitpid` uses no CPU; its stack is mostly untouched
//!   virtual memory). Nothing is spawned for a child that has already exited.
//! - A wait can be abandoned (say by [`wait_for`](crate::wait_for)) and
//!   followed by [`Child::kill`] or another `wait`: the reaper thread stays
//!   until the exit, and the next `wait` takes its result.
//! - **Dropping a [`Child`]** that has not been reaped:
//!   - with [`Command::kill_on_drop`]`(true)`, sends it `SIGKILL`, then
//!     reaps it (in the background, so the drop does not block);
//!   - otherwise lets it run on (as `std` and tokio do), and a reaper thread
//!     reaps it when it exits, so **no zombie is left behind**. A dropped
//!     child that never exits keeps its reaper thread until the program
//!     ends. Only if the thread cannot be spawned (the system is out of
//!     threads) is the child left to become a zombie, as `std` would leave it.
//!
//! # Implementation: waiting for exit
//!
//! A production runtime learns that a child exited from a Linux `pidfd` in
//! the reactor, or from `SIGCHLD` (tokio uses both; tokio's orphan queue
//! reaps dropped children on the next `SIGCHLD`). `pidfd` is not in stable
//! `std` yet and would need `unsafe` `libc` calls, which evloop keeps out of
//! everything but its raw task; `SIGCHLD` needs a signal handler, which only
//! the optional `signal` feature has. So the exit is learned the portable
//! way: a thread per waited child, blocked in `std::process::Child::wait`,
//! sets the status and wakes the task's waker (`Send + Sync`: from another
//! thread it goes through the loop's remote queue and interrupts
//! `epoll_wait`), so the task resumes within a tick of the exit. (Before,
//! `wait` polled `try_wait` on a backing-off timer, and noticed a child that
//! exits after 200 ms at 213 ms or later.)
//!
//! While a reaper thread waits, it owns the `std::process::Child`, so
//! [`Child::kill`] (and `kill_on_drop`) cannot call `std`'s `kill` on it;
//! they send `SIGKILL` by pid with the shell's `kill` builtin instead
//! (`sh -c 'kill -s KILL "$1"'`: a short fork and exec, once; `sh` is on
//! every Unix, unlike a `kill` binary). The process cannot have been reaped
//! and its pid reused before that, except in the instant between the
//! reaper's `waitpid` returning and it recording the status (the state's
//! lock, held across the kill, keeps the status from being recorded, not
//! the `waitpid` from returning). Linux hands out pids cyclically up to
//! `pid_max` (32768 by default, 4194304 on most distributions), so a reuse
//! within that instant would take tens of thousands of process creations.
//!
//! # Fields and who may touch them
//!
//! A [`Child`] shares an `ExitState` with its reaper thread, under a mutex:
//! the `std::process::Child` (taken by the reaper while it waits, given
//! back with the status), the exit status once known, and the waker of the
//! task in [`Child::wait`]. The status is set once, by whoever reaps
//! (`try_wait` on the loop, or the reaper thread), and never changes.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use mio::unix::pipe::{Receiver, Sender};

use crate::reactor::{Direction, IoSource};
use crate::to_thread::lock;

/// A process builder: `std::process::Command` whose children's pipes are
/// asynchronous.
///
/// ```
/// use std::process::Stdio;
/// use evloop::process::Command;
///
/// evloop::run(async {
///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
///     let stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"meow").await?;
///     drop(stdin); // EOF for cat
///     let mut out = Vec::new();
///     child.stdout.as_ref().unwrap().read_to_end(&mut out).await?;
///     assert_eq!(out, b"meow");
///     assert!(child.wait().await?.success());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Command {
    inner: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program`, with `std`'s defaults (inherited
    /// stdio, inherited environment and working directory).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the child's stdin (`Stdio::piped()` gives [`Child::stdin`]).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Sets the child's stdout (`Stdio::piped()` gives [`Child::stdout`]).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Sets the child's stderr (`Stdio::piped()` gives [`Child::stderr`]).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] kills the process (`SIGKILL`) if it is
    /// still running (tokio's name; default `false`). Either way a dropped
    /// child is reaped in the background, so it leaves no zombie (see the
    /// [module docs](self)).
    ///
    /// ```
    /// use evloop::process::Command;
    ///
    /// evloop::run(async {
    ///     let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
    ///     drop(child); // killed now, reaped in the background
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The wrapped `std` command, for settings not mirrored here
    /// (`std::os::unix::process::CommandExt`, ...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// Starts the child. Its piped stdio are registered with the running
    /// loop.
    ///
    /// # Errors
    ///
    /// `NotFound` if the program does not exist, and the like.
    ///
    /// # Panics
    ///
    /// Outside a running evloop loop.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut child = self.inner.spawn()?;
        let stdin = child.stdin.take().map(ChildStdin::new).transpose();
        let stdout = child.stdout.take().map(|p| ChildStdout::new(p.into())).transpose();
        let stderr = child.stderr.take().map(|p| ChildStderr::new(p.into())).transpose();
        match (stdin, stdout, stderr) {
            (Ok(stdin), Ok(stdout), Ok(stderr)) => Ok(Child {
                pid: child.id(),
                exit: Arc::new(Mutex::new(ExitState {
                    child: Some(child),
                    status: None,
                    waker: None,
                })),
                kill_on_drop: self.kill_on_drop,
                stdin,
                stdout,
                stderr,
            }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                // Do not leave a child we cannot talk to running.
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Runs the child to completion, collecting its stdout and stderr.
    /// As with `std`, stdin defaults to null and stdout/stderr to piped
    /// unless set (the defaults are written into this `Command`).
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.stderr(Stdio::piped());
        }
        self.spawn()?.wait_with_output().await
    }

    /// Runs the child to completion and returns its exit status.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }
}

impl From<std::process::Command> for Command {
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            kill_on_drop: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// A running (or finished, not yet reaped) child process. Dropping it
/// kills it only with [`Command::kill_on_drop`]; either way it is reaped in
/// the background (see the [module docs](self)).
pub struct Child {
    pid: u32,
    exit: Arc<Mutex<ExitState>>,
    kill_on_drop: bool,
    /// The child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
}

/// What a [`Child`] shares with its reaper thread.
struct ExitState {
    /// `None` while a reaper thread holds it (blocked in `wait`).
    child: Option<std::process::Child>,
    /// Set once, when the child is reaped; an error of `wait` is kept as
    /// kind and message (`io::Error` is not `Clone`).
    status: Option<Result<ExitStatus, (io::ErrorKind, String)>>,
    /// The task in `Child::wait`, woken by the reaper.
    waker: Option<Waker>,
}

fn status_result(status: &Result<ExitStatus, (io::ErrorKind, String)>) -> io::Result<ExitStatus> {
    match status {
        Ok(s) => Ok(*s),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

/// Starts a thread that blocks until `child` exits, records the status in
/// `exit` and wakes the waiting task.
fn spawn_reaper(exit: Arc<Mutex<ExitState>>, mut child: std::process::Child) -> Result<(), std::process::Child> {
    // The closure owns the child; if the thread cannot start, get it back.
    let slot = Arc::new(Mutex::new(None::<std::process::Child>));
    let pid = child.id();
    let handoff = slot.clone();
    *lock(&handoff) = Some(child);
    let spawned = std::thread::Builder::new()
        .name(format!("evloop-reaper-{pid}"))
        .spawn(move || {
            let Some(mut child) = lock(&handoff).take() else {
                return;
            };
            let status = child.wait().map_err(|e| (e.kind(), e.to_string()));
            let waker = {
                let mut st = lock(&exit);
                st.status = Some(status);
                // Back with its status cached, so `std`'s `kill` on it is a
                // no-op from now on.
                st.child = Some(child);
                st.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(_) => {
            child = lock(&slot).take().expect("the thread never ran");
            Err(child)
        }
    }
}

/// `SIGKILL` by pid, for a child a reaper thread is blocked on (see the
/// module docs for why this is safe from pid reuse).
fn kill_by_pid(pid: u32) -> io::Result<()> {
    let out = std::process::Command::new("sh")
        .args(["-c", "kill -s KILL \"$1\"", "sh", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "evloop: `kill -s KILL {pid}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Child {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Sends `SIGKILL` (a child already reaped is not signalled). Works
    /// while a [`Child::wait`] is pending or was abandoned, too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::process::Command;
    ///
    /// evloop::run(async {
    ///     let mut child = Command::new("sleep").arg("30").spawn()?;
    ///     assert!(evloop::wait_for(child.wait(), Duration::from_millis(20)).await.is_err());
    ///     child.kill()?;
    ///     assert!(!child.wait().await?.success());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        let mut st = lock(&self.exit);
        if st.status.is_some() {
            return Ok(());
        }
        match st.child.as_mut() {
            Some(child) => child.kill(),
            // A reaper thread holds the child and has not seen it exit; the
            // lock keeps it from recording the exit meanwhile, but not from
            // reaping: see the module docs.
            None => kill_by_pid(self.pid),
        }
    }

    /// The exit status, if the child has exited; never blocks.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let mut st = lock(&self.exit);
        if let Some(status) = &st.status {
            return status_result(status).map(Some);
        }
        match st.child.as_mut() {
            Some(child) => {
                let status = child.try_wait()?;
                if let Some(s) = status {
                    st.status = Some(Ok(s));
                }
                Ok(status)
            }
            // The reaper thread has not seen the exit yet.
            None => Ok(None),
        }
    }

    /// Waits for the child to exit, without blocking the loop, and learns
    /// of the exit as it happens (through a reaper thread: see the module
    /// docs). Closes the child's stdin first, as `std` does, so a child
    /// reading it sees end of input.
    ///
    /// ```
    /// use evloop::process::Command;
    ///
    /// let status = evloop::run(async { Command::new("sh").args(["-c", "exit 3"]).spawn()?.wait().await })?;
    /// assert_eq!(status.code(), Some(3));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let mut st = lock(&self.exit);
        if let Some(status) = &st.status {
            return Poll::Ready(status_result(status));
        }
        // The waker goes in before the reaper can look for it (it takes
        // the lock we hold to record the status), so the wake-up cannot be
        // missed.
        drop(crate::task::register_waker(&mut st.waker, cx.waker()));
        let Some(child) = st.child.as_mut() else {
            return Poll::Pending; // a reaper thread is waiting already
        };
        if let Some(s) = child.try_wait()? {
            st.status = Some(Ok(s));
            st.waker = None;
            return Poll::Ready(Ok(s));
        }
        let child = st.child.take().expect("checked above");
        drop(st);
        if let Err(child) = spawn_reaper(self.exit.clone(), child) {
            lock(&self.exit).child = Some(child);
            return Poll::Ready(Err(io::Error::other(
                "evloop: could not start a thread to wait for the child process",
            )));
        }
        Poll::Pending
    }

    /// Closes stdin, reads stdout and stderr to their ends (both at once, so
    /// a child filling one pipe while we wait on the other cannot
    /// deadlock), then waits for the exit.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (out, err) = (self.stdout.take(), self.stderr.take());
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (mut out_done, mut err_done) = (out.is_none(), err.is_none());
        poll_fn(|cx| {
            if !out_done {
                if let Poll::Ready(r) = poll_drain(&out.as_ref().unwrap().io, cx, &mut stdout) {
                    r?;
                    out_done = true;
                }
            }
            if !err_done {
                if let Poll::Ready(r) = poll_drain(&err.as_ref().unwrap().io, cx, &mut stderr) {
                    r?;
                    err_done = true;
                }
            }
            if out_done && err_done {
                Poll::Ready(Ok::<(), io::Error>(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = self.wait().await?;
        Ok(Output { status, stdout, stderr })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let mut st = lock(&self.exit);
        if st.status.is_some() {
            return; // reaped
        }
        if self.kill_on_drop {
            let _ = match st.child.as_mut() {
                Some(child) => child.kill(),
                None => kill_by_pid(self.pid),
            };
        }
        let Some(mut child) = st.child.take() else {
            return; // a reaper thread is waiting; it reaps
        };
        if let Ok(Some(_)) = child.try_wait() {
            return; // exited and reaped just now
        }
        drop(st);
        // Not reaped yet: a reaper thread does it when the child exits. If
        // no thread can be started, the child is left as `std` leaves it.
        let _ = spawn_reaper(self.exit.clone(), child);
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("pid", &self.id()).finish()
    }
}

/// Reads `pipe` into `buf` until end of stream.
fn poll_drain(pipe: &IoSource<Receiver>, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
    const CHUNK: usize = 8 * 1024;
    loop {
        let len = buf.len();
        buf.resize(len + CHUNK, 0);
        let r = pipe.poll_io(cx, Direction::Read, |p| (&*p).read(&mut buf[len..]));
        let n = match &r {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(len + n);
        match r {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// The child's stdin: a non-blocking pipe. Dropping it closes the pipe,
/// which the child reads as end of input.
pub struct ChildStdin {
    io: IoSource<Sender>,
}

impl ChildStdin {
    fn new(pipe: std::process::ChildStdin) -> io::Result<ChildStdin> {
        let pipe = Sender::from(pipe);
        pipe.set_nonblocking(true)?;
        Ok(ChildStdin {
            io: IoSource::with_interest(pipe, mio::Interest::WRITABLE, "ChildStdin")?,
        })
    }

    /// Writes some of `buf`, returning how many bytes the pipe took.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` if the child closed its stdin (or exited).
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        crate::net::write_all_with(|cx, b| self.poll_write(cx, b), buf).await
    }

    /// Polls a write.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |p| (&*p).write(buf))
    }
}

impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ChildStdin::poll_write(&self, cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A pipe has no half-close; drop the ChildStdin to close it.
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChildStdin")
    }
}

macro_rules! output_pipe {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The child's ", $what, ": a non-blocking pipe.")]
        pub struct $name {
            io: IoSource<Receiver>,
        }

        impl $name {
            fn new(pipe: Receiver) -> io::Result<$name> {
                pipe.set_nonblocking(true)?;
                Ok($name {
                    io: IoSource::with_interest(pipe, mio::Interest::READABLE, stringify!($name))?,
                })
            }

            /// Reads some bytes; `Ok(0)` once the child closed its end.
            pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                poll_fn(|cx| self.poll_read(cx, buf)).await
            }

            /// Reads exactly `buf.len()` bytes (`UnexpectedEof` if the pipe
            /// closes first).
            pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
                crate::net::read_exact_with(|cx, b| self.poll_read(cx, b), buf).await
            }

            /// Reads until the child closes its end, appending to `buf`;
            /// returns the number of bytes read.
            pub async fn read_to_end(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
                let start = buf.len();
                poll_fn(|cx| poll_drain(&self.io, cx, buf)).await?;
                Ok(buf.len() - start)
            }

            /// Polls a read.
            pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.io.poll_io(cx, Direction::Read, |p| (&*p).read(buf))
            }
        }

        impl futures_io::AsyncRead for $name {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                $name::poll_read(&self, cx, buf)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}
output_pipe!(ChildStdout, "stdout");
output_pipe!(ChildStderr, "stderr");
