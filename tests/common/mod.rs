//! Shared helpers for the integration tests: a trace recorder, drop guards,
//! a poll-counting future, a waker that counts wakes, and loop constructors.
//!
//! Each test file pulls these in with `mod common;`; not every file uses every
//! helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use evloop::{EventLoop, ExceptionContext};

/// An ordered log of events, shared between the test and the code it drives.
#[derive(Debug)]
pub struct Trace<T = String>(Rc<RefCell<Vec<T>>>);

impl<T> Clone for Trace<T> {
    fn clone(&self) -> Self {
        Trace(self.0.clone())
    }
}

impl<T> Default for Trace<T> {
    fn default() -> Self {
        Trace(Rc::new(RefCell::new(Vec::new())))
    }
}

impl Trace<String> {
    /// A trace of strings, the usual kind (use `default()` for others).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Clone> Trace<T> {
    pub fn push(&self, event: impl Into<T>) {
        self.0.borrow_mut().push(event.into());
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<T> {
        self.0.borrow().clone()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Removes and returns the events so far.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// Records `"drop <label>"` in a trace when dropped: move one into a future
/// or closure to observe exactly when its destructor runs.
#[derive(Debug)]
pub struct DropGuard {
    label: String,
    trace: Trace,
}

impl DropGuard {
    pub fn new(trace: &Trace, label: impl Into<String>) -> DropGuard {
        DropGuard {
            label: label.into(),
            trace: trace.clone(),
        }
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.trace.push(format!("drop {}", self.label));
    }
}

/// Counts destructors: every guard made by [`DropCounter::guard`] adds one
/// when dropped.
#[derive(Clone, Debug, Default)]
pub struct DropCounter(Rc<Cell<usize>>);

impl DropCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn guard(&self) -> CountedGuard {
        CountedGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.get()
    }
}

#[derive(Debug)]
pub struct CountedGuard(Rc<Cell<usize>>);

impl Drop for CountedGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A shared poll counter, read by the test while the future runs elsewhere.
#[derive(Clone, Debug, Default)]
pub struct PollCount(Rc<Cell<usize>>);

impl PollCount {
    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// Wraps a future and counts how many times it is polled.
#[derive(Debug)]
pub struct CountPolls<F> {
    inner: Pin<Box<F>>,
    count: PollCount,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.count.0.set(self.count.0.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

/// `fut`, counting its polls in the returned [`PollCount`].
pub fn count_polls<F: Future>(fut: F) -> (CountPolls<F>, PollCount) {
    let count = PollCount::default();
    let wrapped = CountPolls {
        inner: Box::pin(fut),
        count: count.clone(),
    };
    (wrapped, count)
}

/// A future that stays pending forever and stores the latest waker it was
/// polled with, so a test can wake its task by hand.
#[derive(Debug)]
pub struct StashWaker(pub Rc<RefCell<Option<Waker>>>);

impl Future for StashWaker {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A `Send + Sync` waker that counts its wakes (for polling futures by hand).
#[derive(Debug, Default)]
pub struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub fn new() -> Arc<CountingWaker> {
        Arc::new(CountingWaker::default())
    }

    pub fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A loop on a manual clock: timers fire instantly and deterministically.
pub fn manual_loop() -> EventLoop {
    EventLoop::builder()
        .manual_clock()
        .build()
        .expect("build a manual-clock loop")
}

/// What an exception handler received: the message and the panic message.
pub type Reports = Trace<(String, Option<String>)>;

/// A manual-clock loop whose exception handler records into the returned trace.
pub fn loop_with_reports() -> (EventLoop, Reports) {
    let reports = Reports::default();
    let lp = EventLoop::builder()
        .manual_clock()
        .exception_handler(reporter(&reports))
        .build()
        .expect("build a loop");
    (lp, reports)
}

/// A real-clock loop whose exception handler records into the returned
/// trace: for tests that wait on I/O, where a manual clock would jump
/// straight to their time-outs.
pub fn real_loop_with_reports() -> (EventLoop, Reports) {
    let reports = Reports::default();
    let lp = EventLoop::builder()
        .exception_handler(reporter(&reports))
        .build()
        .expect("build a loop");
    (lp, reports)
}

/// An exception handler that records into `reports`.
pub fn reporter(reports: &Reports) -> impl Fn(ExceptionContext) + 'static {
    let reports = reports.clone();
    move |ctx: ExceptionContext| {
        let msg = ctx.panic_message().map(str::to_owned);
        reports.push((ctx.message, msg));
    }
}

/// The text of a panic payload caught with `catch_unwind`.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&'static str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".to_owned())
}

/// Runs `fut` on a fresh [`manual_loop`]. A deadlock fails the test at once
/// instead of hanging it: with nothing left to run, the manual clock jumps to
/// the one-hour guard timer.
pub fn run_guarded<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut guard = std::pin::pin!(evloop::sleep(Duration::from_secs(3600)));
    let guarded = std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        assert!(guard.as_mut().poll(cx).is_pending(), "deadlock: every task is blocked");
        Poll::Pending
    });
    manual_loop().run_until_complete(guarded).unwrap()
}

/// Lets every other task run until all are blocked (the manual clock only
/// moves when nothing is ready).
pub async fn settle() {
    evloop::sleep(Duration::from_millis(1)).await;
}

/// Builds `examples/<name>.rs` in this test's profile and target directory;
/// returns the binary's path.
pub fn build_example(name: &str) -> std::path::PathBuf {
    // This test runs from `<target>/<profile>/deps/<test>-<hash>`.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", name])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo");
    assert!(status.success(), "cargo build --example {name} failed");
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "no example binary at {}", bin.display());
    bin
}

/// Runs `body` on a thread of its own and returns its result, failing the
/// test if it has not finished within `limit`: a hang (a loop that never
/// gets back to its tick) becomes a failure, not a stuck test run. The
/// thread is then left running; the process ends with the suite. A panic
/// in `body` is re-raised here.
pub fn within<T: Send + 'static>(limit: Duration, what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("within: {what}"))
        .spawn(move || {
            let _ = tx.send(body());
        })
        .expect("spawn the test's thread");
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still running after {limit:?}"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sent nothing and did not panic"),
        },
    }
}
