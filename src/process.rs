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
//! - Dropping a [`Child`] neither kills nor reaps the process (as with
//!   `std`); call [`Child::kill`] and [`Child::wait`] for that.
//!
//! # Implementation: waiting for exit
//!
//! A production runtime learns that a child exited from `SIGCHLD` or a
//! Linux `pidfd` (tokio uses both). Neither is reachable from `std` and
//! `mio` without `unsafe` code or a `libc` dependency, so [`Child::wait`]
//! polls the non-blocking `try_wait` (`waitpid(WNOHANG)`) on a timer,
//! backing off from 1 ms to [`WAIT_POLL_MAX`]. That is correct and never
//! blocks the loop; it costs up to `WAIT_POLL_MAX` of latency for a
//! long-running child and a timer wake-up per interval while waiting. It also
//! leaves the `std::process::Child` on the loop's thread, so a wait can be
//! abandoned (say by `wait_for`) and followed by [`Child::kill`].
//! (Handing the blocking `wait()` to [`to_thread`](crate::to_thread) would
//! wake up sooner, but then the child is on another thread until it exits,
//! and cannot be killed meanwhile.)
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Output, Stdio};
use std::task::{Context, Poll};
use std::time::Duration;

use mio::unix::pipe::{Receiver, Sender};

use crate::reactor::{Direction, IoSource};

/// The longest interval between two exit checks in [`Child::wait`].
pub const WAIT_POLL_MAX: Duration = Duration::from_millis(50);

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
                child,
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
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// A running (or finished, not yet reaped) child process.
pub struct Child {
    child: std::process::Child,
    /// The child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIGKILL` (a child already reaped is not signalled).
    pub fn kill(&mut self) -> io::Result<()> {
        self.child.kill()
    }

    /// The exit status, if the child has exited; never blocks.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits for the child to exit, without blocking the loop (see the
    /// module docs for how). Closes the child's stdin first, as `std` does,
    /// so a child reading it sees end of input.
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
        let mut delay = Duration::from_millis(1);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            crate::sleep(delay).await;
            delay = (delay * 2).min(WAIT_POLL_MAX);
        }
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
