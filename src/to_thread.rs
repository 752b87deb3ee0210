//! [`to_thread`]: asyncio's `to_thread` / `run_in_executor`: run a blocking
//! closure on a worker thread and await its result on the loop.
//!
//! # Ground rules
//!
//! - No thread exists until the first `to_thread` call (the loop itself
//!   stays single-threaded). The pool then grows one thread at a time, only
//!   when a job arrives and every worker is busy, up to [`MAX_WORKERS`];
//!   beyond that jobs wait in the queue. A worker idle for [`IDLE_TIMEOUT`]
//!   exits, so an idle program holds no threads.
//! - The result travels back through a `Mutex` shared with the awaiting
//!   future, and the worker wakes the future's waker. For an evloop task that
//!   waker is `Send + Sync`: from a worker it goes through the loop's remote
//!   queue and interrupts the loop's `epoll_wait`. Result and waker sit under
//!   one lock, so a result can never land between "no result yet" and
//!   "waker stored" and be missed.
//! - A panic in the closure is caught on the worker and handed to the awaiting
//!   side as [`ToThreadError::Panicked`]; the worker lives on.
//! - Under a manual clock, time stands still while a closure started from
//!   the loop is running: the loop waits for its result instead of jumping
//!   to the next timer, so `wait_for(to_thread(f), 1 s)` does not time out
//!   just because the clock could jump.
//! - Dropping the future does not stop the closure (a running thread cannot
//!   be cancelled); its result is dropped on the worker when it finishes.
//!
//! # Fields and who may touch them
//!
//! `Pool::state` (queue, idle count, thread count) is guarded by its mutex;
//! workers sleep on `Pool::cond` and are signalled once per queued job.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::task::PanicPayload;

/// The most worker threads the pool runs at once.
pub const MAX_WORKERS: usize = 16;

/// How long an idle worker waits for a job before it exits.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct PoolState {
    queue: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

struct Pool {
    state: Mutex<PoolState>,
    cond: Condvar,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Locks `m`, taking a poisoned lock as it is. For the crate's mutexes, none
/// of which user code runs under: here, jobs run outside every lock and
/// their panics are caught; elsewhere (`process`, `submit`, `hyper_support`)
/// wakers are woken and values dropped only after the guard is gone. So a
/// poisoned mutex still holds consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    fn get() -> &'static Pool {
        POOL.get_or_init(|| Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                idle: 0,
                threads: 0,
            }),
            cond: Condvar::new(),
        })
    }

    /// Queues `job`, starting a worker if none is idle. Fails only if no
    /// worker exists and none could be started.
    fn submit(&'static self, job: Job) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        state.queue.push_back(job);
        if state.idle >= state.queue.len() || state.threads >= MAX_WORKERS {
            drop(state);
            self.cond.notify_one();
            return Ok(());
        }
        state.threads += 1;
        drop(state);
        let spawned = std::thread::Builder::new()
            .name("evloop-to_thread".into())
            .spawn(move || self.work());
        if let Err(e) = spawned {
            let mut state = lock(&self.state);
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody would ever run it: take the job back (it is the
                // last one, and every earlier one was taken when a worker
                // existed) and report.
                state.queue.pop_back();
                return Err(e);
            }
        }
        Ok(())
    }

    fn work(&self) {
        let mut state = lock(&self.state);
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // The job catches the closure's panics itself; this guards
                // the worker against a panicking destructor of an unclaimed
                // result.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                state = lock(&self.state);
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .cond
                .wait_timeout(state, IDLE_TIMEOUT)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Why [`to_thread`] produced no value.
#[non_exhaustive]
pub enum ToThreadError {
    /// The closure panicked; this is the panic.
    Panicked(PanicPayload),
    /// No worker thread could be started.
    Spawn(std::io::Error),
}

impl ToThreadError {
    /// The panic message, when the closure panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            ToThreadError::Panicked(p) => p.message(),
            ToThreadError::Spawn(_) => None,
        }
    }
}

impl fmt::Debug for ToThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToThreadError::Panicked(_) => f
                .debug_tuple("Panicked")
                .field(&self.panic_message().unwrap_or(".."))
                .finish(),
            ToThreadError::Spawn(e) => f.debug_tuple("Spawn").field(e).finish(),
        }
    }
}

impl fmt::Display for ToThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToThreadError::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "to_thread closure panicked: {msg}"),
                None => f.write_str("to_thread closure panicked"),
            },
            ToThreadError::Spawn(e) => write!(f, "could not start a to_thread worker: {e}"),
        }
    }
}

impl std::error::Error for ToThreadError {}

struct Shared<T> {
    result: Option<Result<T, ToThreadError>>,
    waker: Option<Waker>,
}

/// Future returned by [`to_thread`].
#[must_use = "futures do nothing unless awaited (the closure runs anyway)"]
pub struct ToThread<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

impl<T> fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToThread")
            .field("done", &lock(&self.shared).result.is_some())
            .finish()
    }
}

/// Runs the blocking closure `f` on a worker thread and resolves to its
/// result: asyncio's `await asyncio.to_thread(f)`.
///
/// The closure starts at once (not when first polled). Works with any
/// executor, and outside one too: only the wake-up goes through the waker.
///
/// # Errors
///
/// [`ToThreadError::Panicked`] if `f` panics (the loop carries on);
/// [`ToThreadError::Spawn`] if no worker thread could be started.
///
/// ```
/// let answer = evloop::run(async {
///     evloop::to_thread(|| {
///         std::thread::sleep(std::time::Duration::from_millis(5)); // blocking is fine here
///         6 * 7
///     })
///     .await
/// });
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub fn to_thread<F, T>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = Arc::new(Mutex::new(Shared {
        result: None,
        waker: None,
    }));
    let theirs = shared.clone();
    // Tells a manual clock to wait for this result instead of jumping past it.
    let in_flight = crate::event_loop::context::with_current(|core| core.remote.begin_work());
    let job: Job = Box::new(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .map_err(|p| ToThreadError::Panicked(PanicPayload::new(p)));
        let waker = {
            let mut s = lock(&theirs);
            s.result = Some(result);
            s.waker.take()
        };
        // Woken outside the lock: the waker may take its own locks.
        if let Some(w) = waker {
            w.wake();
        }
        // Only now, after the wake: see `Remote::begin_work`.
        drop(in_flight);
    });
    if let Err(e) = Pool::get().submit(job) {
        lock(&shared).result = Some(Err(ToThreadError::Spawn(e)));
    }
    ToThread { shared }
}

impl<T> Future for ToThread<T> {
    type Output = Result<T, ToThreadError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = lock(&self.shared);
        if let Some(result) = s.result.take() {
            return Poll::Ready(result);
        }
        let old = crate::task::register_waker(&mut s.waker, cx.waker());
        drop(s);
        drop(old);
        Poll::Pending
    }
}
