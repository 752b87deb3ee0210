//! Executor benchmarks: evloop side by side with its peers, one criterion
//! group per workload, every runtime doing the same work in the same run.
//!
//! Peers: tokio's current-thread runtime with a `LocalSet`
//! (`spawn_local`), async-executor's `LocalExecutor` (driven by
//! `async_io::block_on`, which also runs async-io's timers), monoio with its
//! epoll `LegacyDriver` and timer driver, and futures' `LocalPool` where it
//! applies (it has no timers).
//!
//! Every runtime is timed through criterion's own async support
//! (`b.to_async(..)`): evloop through
//! [`evloop_criterion::CriterionExecutor`] (the companion crate in
//! `evloop-criterion/`, a dev-dependency), the peers through
//! [`Exec`], the same trait on a `RefCell` here.
//!
//! Workloads:
//!
//! - `spawn_join`: spawn 10,000 trivial tasks, then await every handle.
//! - `yield_many`: 1,000 tasks × 1,000 yields. evloop and tokio use their own
//!   `yield_now`; the others use [`YieldNow`] below (wake self, then pend).
//! - `ping_pong`: two tasks pass a token back and forth 100,000 hops through
//!   [`Chan`], a one-slot channel written here and shared by every runtime.
//! - `ping_pong_idle_sockets`: the same, while the runtime also holds an
//!   idle TCP listener and an idle connected TCP pair of its own socket
//!   types, as a server does. Nothing ever arrives on them, so any
//!   difference from `ping_pong` is what the runtime pays for polling its
//!   reactor between wakes (a zero-timeout `epoll_wait` per tick costs a
//!   syscall per hop). futures' `LocalPool` has no reactor and sits out.
//! - `timers_cancel`: 100,000 timers (random deadlines 1–60 s) armed by one
//!   poll each, then all dropped (cancelled). `evloop_call_later` does the
//!   same through `Handle::call_later` + `CallbackHandle::cancel`.
//! - `timers_fired`: 10,000 tasks, each sleeping a random 1–50 ms, joined.
//!   Wall time is bound by the last deadline (~50 ms), so
//!   `timers_fired_cpu` runs the same workload and reports the thread's CPU
//!   time (`CLOCK_THREAD_CPUTIME_ID`) instead: the time spent spawning,
//!   arming, firing and joining, not sleeping.
//!
//! Each runtime is built once per benchmark, outside the timed closure; one
//! iteration is one `block_on` of the workload. Every workload is checked
//! once, outside timing, for the count it must produce.
//!
//! Before criterion starts, the binary counts heap allocations per operation
//! (steady state: the second run of each workload) with a counting global
//! allocator, prints them, and writes them to `<criterion dir>/allocs.json`
//! for `examples/bench_report.rs`; it also measures the heap bytes an idle
//! spawned task and an armed timer cost (`<criterion dir>/memory.json`), and
//! whether each runtime's yield lets another task run before the yielding
//! one is polled again (`<criterion dir>/yield_streak.json`).
//! Outside those windows the allocator costs one relaxed load per call.
//!
//! Run: `cargo bench --bench executor -- --warm-up-time 1 --measurement-time 3`
//! then `cargo run --release --example bench_report`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::async_executor::AsyncExecutor;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use futures::executor::{LocalPool, LocalSpawner};
use futures::task::LocalSpawnExt;

// ----- allocation counting ------------------------------------------------

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Bytes handed out / given back while counting (a realloc counts as both).
static BYTES_IN: AtomicUsize = AtomicUsize::new(0);
static BYTES_OUT: AtomicUsize = AtomicUsize::new(0);

fn note_alloc(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES_IN.fetch_add(size, Ordering::Relaxed);
    }
}

fn note_free(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        BYTES_OUT.fetch_add(size, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; the counter has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded verbatim; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded verbatim.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        note_free(layout.size());
        // SAFETY: `ptr` came from `System`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result with the number of allocations it made.
fn count_allocs<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let (out, n, _) = count_bytes(f);
    (out, n)
}

/// Runs `f`; returns its result, its allocation count and the net heap bytes
/// it left allocated (allocated minus freed, by requested size).
fn count_bytes<T>(f: impl FnOnce() -> T) -> (T, usize, isize) {
    ALLOCS.store(0, Ordering::Relaxed);
    BYTES_IN.store(0, Ordering::Relaxed);
    BYTES_OUT.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let out = f();
    COUNTING.store(false, Ordering::Relaxed);
    let net = BYTES_IN.load(Ordering::Relaxed) as isize - BYTES_OUT.load(Ordering::Relaxed) as isize;
    (out, ALLOCS.load(Ordering::Relaxed), net)
}

// ----- workload sizes -----------------------------------------------------

const SPAWN_TASKS: u64 = 10_000;
const YIELD_TASKS: u64 = 1_000;
const YIELDS_PER_TASK: u64 = 1_000;
const PING_PONG_HOPS: u64 = 100_000;
const TIMERS: u64 = 100_000;
/// `timers_cancel` deadlines: uniform in 1–60 s.
const CANCEL_MS: (u64, u64) = (1_000, 60_000);
const FIRED: u64 = 10_000;
/// `timers_fired` deadlines: uniform in 1–50 ms.
const FIRED_MS: (u64, u64) = (1, 50);
/// Tasks / timers for the bytes-per-idle-task and bytes-per-armed-timer pass.
const MEMORY_N: usize = 10_000;

// ----- portable pieces shared by every runtime ----------------------------

/// splitmix64 with a fixed seed: the same "random" deadlines for every
/// runtime and every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        Rng(0x5EED_1234_ABCD_0042)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi` milliseconds.
    fn millis(&mut self, (lo, hi): (u64, u64)) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

/// This thread's CPU time (user + system), for `timers_fired_cpu`.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable `timespec`; the clock id is a constant
    // Linux supports. On failure `ts` stays zero and the sample is useless but
    // harmless (asserted below).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Yields once: wakes its own task, returns `Pending`, completes on the next
/// poll. What `futures_lite::future::yield_now` does; used for the runtimes
/// that have no yield of their own.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A one-slot, single-threaded channel: the sender stores the value and
/// wakes the receiver's stored waker. Identical for every runtime, so
/// `ping_pong` measures the executor's wake → poll path, not a channel.
#[derive(Default)]
struct Chan {
    value: Cell<Option<u64>>,
    waker: RefCell<Option<Waker>>,
}

impl Chan {
    fn send(&self, v: u64) {
        let old = self.value.replace(Some(v));
        debug_assert!(old.is_none(), "ping_pong is strictly alternating");
        let waker = self.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    async fn recv(&self) -> u64 {
        poll_fn(|cx| match self.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                let mut slot = self.waker.borrow_mut();
                match &*slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        })
        .await
    }
}

// ----- the runtimes behind one interface ----------------------------------

/// What a workload needs from a runtime, from inside it.
trait Spawn: Clone + 'static {
    fn spawn<F>(&self, f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;

    fn yield_now(&self) -> impl Future<Output = ()> + 'static;
}

/// Runtimes with timers, for `timers_cancel`.
trait Timers: Spawn {
    fn timer(&self, d: Duration) -> impl Future<Output = ()> + 'static;
}

/// A runtime built once per benchmark.
trait Runtime: Sized {
    type S: Spawn;
    /// What criterion drives the runtime through (`b.to_async(&exec)`).
    type Exec;
    fn spawner(&self) -> Self::S;
    fn block_on<F: Future>(&mut self, f: F) -> F::Output;
    fn into_exec(self) -> Self::Exec;
}

/// criterion's `AsyncExecutor` for a peer runtime: one `block_on` per
/// criterion batch, the same shape as evloop's own
/// [`evloop_criterion::CriterionExecutor`].
struct Exec<R>(RefCell<R>);

impl<R: Runtime> AsyncExecutor for &Exec<R> {
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.0.borrow_mut().block_on(future)
    }
}

// evloop, through the companion crate's criterion support

struct Evloop(evloop_criterion::CriterionExecutor);

#[derive(Clone)]
struct EvSpawn;

impl Spawn for EvSpawn {
    fn spawn<F>(&self, f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = evloop::create_task(f);
        async move { task.await.expect("task failed") }
    }

    fn yield_now(&self) -> impl Future<Output = ()> + 'static {
        evloop::yield_now()
    }
}

impl Timers for EvSpawn {
    fn timer(&self, d: Duration) -> impl Future<Output = ()> + 'static {
        evloop::sleep(d)
    }
}

impl Runtime for Evloop {
    type S = EvSpawn;
    type Exec = evloop_criterion::CriterionExecutor;
    fn spawner(&self) -> EvSpawn {
        EvSpawn
    }
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        AsyncExecutor::block_on(&self.0, f)
    }
    fn into_exec(self) -> evloop_criterion::CriterionExecutor {
        self.0
    }
}

fn evloop_rt() -> Evloop {
    Evloop(evloop_criterion::CriterionExecutor::new().expect("evloop loop"))
}

// monoio: epoll LegacyDriver + timer driver

struct Monoio(monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>>);

#[derive(Clone)]
struct MonoSpawn;

impl Spawn for MonoSpawn {
    fn spawn<F>(&self, f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        monoio::spawn(f)
    }

    fn yield_now(&self) -> impl Future<Output = ()> + 'static {
        // monoio 0.2 has no `yield_now`. Its harness puts a task woken
        // during its own poll at the *front* of the queue, so this polls the
        // task again at once instead of letting the others run: not a yield
        // in asyncio's or tokio's sense (`report_yield_streak` shows it).
        YieldNow(false)
    }
}

impl Timers for MonoSpawn {
    fn timer(&self, d: Duration) -> impl Future<Output = ()> + 'static {
        monoio::time::sleep(d)
    }
}

impl Runtime for Monoio {
    type S = MonoSpawn;
    type Exec = Exec<Self>;
    fn spawner(&self) -> MonoSpawn {
        MonoSpawn
    }
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn into_exec(self) -> Exec<Self> {
        Exec(RefCell::new(self))
    }
}

fn monoio_rt() -> Monoio {
    Monoio(
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("monoio runtime (LegacyDriver)"),
    )
}

// tokio: current-thread runtime + LocalSet

struct Tokio {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
}

#[derive(Clone)]
struct TokioSpawn;

impl Spawn for TokioSpawn {
    fn spawn<F>(&self, f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = tokio::task::spawn_local(f);
        async move { task.await.expect("task failed") }
    }

    fn yield_now(&self) -> impl Future<Output = ()> + 'static {
        tokio::task::yield_now()
    }
}

impl Timers for TokioSpawn {
    fn timer(&self, d: Duration) -> impl Future<Output = ()> + 'static {
        tokio::time::sleep(d)
    }
}

impl Runtime for Tokio {
    type Exec = Exec<Self>;
    fn into_exec(self) -> Exec<Self> {
        Exec(RefCell::new(self))
    }
    type S = TokioSpawn;
    fn spawner(&self) -> TokioSpawn {
        TokioSpawn
    }
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.local.block_on(&self.rt, f)
    }
}

fn tokio_rt() -> Tokio {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    Tokio {
        rt,
        local: tokio::task::LocalSet::new(),
    }
}

/// tokio with its I/O driver too, for `ping_pong_idle_sockets` (the other
/// groups keep [`tokio_rt`], which has no I/O driver to poll).
fn tokio_io_rt() -> Tokio {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    Tokio {
        rt,
        local: tokio::task::LocalSet::new(),
    }
}

// async-executor: LocalExecutor inside async_io::block_on

struct AsyncExec(&'static async_executor::LocalExecutor<'static>);

#[derive(Clone)]
struct AeSpawn(&'static async_executor::LocalExecutor<'static>);

impl Spawn for AeSpawn {
    fn spawn<F>(&self, f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.0.spawn(f)
    }

    fn yield_now(&self) -> impl Future<Output = ()> + 'static {
        YieldNow(false)
    }
}

impl Timers for AeSpawn {
    fn timer(&self, d: Duration) -> impl Future<Output = ()> + 'static {
        let t = async_io::Timer::after(d);
        async move {
            t.await;
        }
    }
}

impl Runtime for AsyncExec {
    type Exec = Exec<Self>;
    fn into_exec(self) -> Exec<Self> {
        Exec(RefCell::new(self))
    }
    type S = AeSpawn;
    fn spawner(&self) -> AeSpawn {
        AeSpawn(self.0)
    }
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        async_io::block_on(self.0.run(f))
    }
}

fn async_exec_rt() -> AsyncExec {
    // Leaked once per benchmark (a handful per run) so spawned futures can be
    // `'static` without an `Rc` clone per spawn.
    AsyncExec(Box::leak(Box::new(async_executor::LocalExecutor::new())))
}

// futures: LocalPool

struct Pool(LocalPool);

#[derive(Clone)]
struct PoolSpawn(LocalSpawner);

impl Spawn for PoolSpawn {
    fn spawn<F>(&self, f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.0.spawn_local_with_handle(f).expect("LocalPool spawn")
    }

    fn yield_now(&self) -> impl Future<Output = ()> + 'static {
        YieldNow(false)
    }
}

impl Runtime for Pool {
    type Exec = Exec<Self>;
    fn into_exec(self) -> Exec<Self> {
        Exec(RefCell::new(self))
    }
    type S = PoolSpawn;
    fn spawner(&self) -> PoolSpawn {
        PoolSpawn(self.0.spawner())
    }
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.0.run_until(f)
    }
}

fn pool_rt() -> Pool {
    Pool(LocalPool::new())
}

// ----- idle sockets, each runtime's own ------------------------------------

/// Runtimes with a reactor and TCP sockets, for `ping_pong_idle_sockets`.
trait IdleSockets: Runtime {
    /// Inside the runtime: binds a listener on `127.0.0.1:0`, connects a
    /// client to it and accepts the server side. Returns the three, to be
    /// kept open (and registered) while the benchmark runs; nothing is ever
    /// sent on them.
    fn open_idle_sockets(&mut self) -> Box<dyn Any>;
}

impl IdleSockets for Evloop {
    fn open_idle_sockets(&mut self) -> Box<dyn Any> {
        self.block_on(async {
            let listener = evloop::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("local_addr");
            let client = evloop::net::TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            Box::new((listener, client, server)) as Box<dyn Any>
        })
    }
}

impl IdleSockets for Tokio {
    fn open_idle_sockets(&mut self) -> Box<dyn Any> {
        self.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("local_addr");
            let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            Box::new((listener, client, server)) as Box<dyn Any>
        })
    }
}

impl IdleSockets for Monoio {
    fn open_idle_sockets(&mut self) -> Box<dyn Any> {
        self.block_on(async {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("local_addr");
            let client = monoio::net::TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            Box::new((listener, client, server)) as Box<dyn Any>
        })
    }
}

impl IdleSockets for AsyncExec {
    fn open_idle_sockets(&mut self) -> Box<dyn Any> {
        self.block_on(async {
            let listener = async_io::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).expect("bind");
            let addr = listener.get_ref().local_addr().expect("local_addr");
            let client = async_io::Async::<std::net::TcpStream>::connect(addr)
                .await
                .expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            Box::new((listener, client, server)) as Box<dyn Any>
        })
    }
}

// ----- workloads ----------------------------------------------------------

/// Spawns `SPAWN_TASKS` trivial tasks, awaits them all; returns the sum of
/// their outputs (one each).
async fn spawn_join<S: Spawn>(s: S) -> u64 {
    let handles: Vec<_> = (0..SPAWN_TASKS).map(|_| s.spawn(async { 1u64 })).collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await;
    }
    sum
}

/// `YIELD_TASKS` tasks, each yielding `YIELDS_PER_TASK` times; returns the
/// number of yields done.
async fn yield_many<S: Spawn>(s: S) -> u64 {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            let s2 = s.clone();
            s.spawn(async move {
                for _ in 0..YIELDS_PER_TASK {
                    s2.yield_now().await;
                }
                YIELDS_PER_TASK
            })
        })
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await;
    }
    sum
}

/// One side of `ping_pong`: receive the hop count, pass it on plus one,
/// until `PING_PONG_HOPS` sends have happened; returns the final count.
async fn relay(rx: Rc<Chan>, tx: Rc<Chan>) -> u64 {
    loop {
        let v = rx.recv().await;
        if v >= PING_PONG_HOPS {
            return v;
        }
        tx.send(v + 1);
        if v + 1 >= PING_PONG_HOPS {
            return v + 1;
        }
    }
}

/// Two tasks pass a counter back and forth `PING_PONG_HOPS` times (one hop =
/// one send, one wake, one poll of the other task); returns the hop count.
async fn ping_pong<S: Spawn>(s: S) -> u64 {
    let ab = Rc::new(Chan::default());
    let ba = Rc::new(Chan::default());
    ab.send(1); // the first hop
    let ping = s.spawn(relay(ba.clone(), ab.clone()));
    let pong = s.spawn(relay(ab, ba));
    let (a, b) = (ping.await, pong.await);
    assert_eq!(a, b);
    a
}

/// Arms `TIMERS` timers (random deadlines 1–60 s, one poll each, in the
/// runtime's task context), then drops them all; returns how many were
/// pending when dropped.
async fn timers_cancel<S: Timers>(s: S) -> u64 {
    let mut rng = Rng::new();
    let mut timers: Vec<Pin<Box<_>>> = (0..TIMERS).map(|_| Box::pin(s.timer(rng.millis(CANCEL_MS)))).collect();
    let armed = poll_fn(|cx| {
        let mut pending = 0;
        for t in timers.iter_mut() {
            pending += u64::from(t.as_mut().poll(cx).is_pending());
        }
        Poll::Ready(pending)
    })
    .await;
    drop(timers);
    armed
}

/// evloop's callback flavour: `call_later` × `TIMERS`, then `cancel` each.
async fn evloop_call_later_cancel() -> u64 {
    let h = evloop::get_running_loop();
    let mut rng = Rng::new();
    let handles: Vec<_> = (0..TIMERS)
        .map(|_| h.call_later(rng.millis(CANCEL_MS), || unreachable!("cancelled timer fired")))
        .collect();
    for cb in &handles {
        cb.cancel();
    }
    handles.iter().filter(|cb| cb.cancelled()).count() as u64
}

/// `FIRED` tasks, each sleeping a random 1–50 ms; returns how many woke.
async fn timers_fired<S: Timers>(s: S) -> u64 {
    let mut rng = Rng::new();
    let handles: Vec<_> = (0..FIRED)
        .map(|_| {
            let sleep = s.timer(rng.millis(FIRED_MS));
            s.spawn(async move {
                sleep.await;
                1u64
            })
        })
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await;
    }
    sum
}

// ----- wiring -------------------------------------------------------------

/// What criterion's "time" is for a benchmark.
#[derive(Clone, Copy)]
enum Clock {
    /// Wall time (criterion's default).
    Wall,
    /// This thread's CPU time, via `iter_custom`: excludes time blocked in
    /// the runtime's poll waiting for a deadline.
    ThreadCpu,
}

/// Checks the workload's result once, untimed, then benchmarks it through
/// criterion's async support.
fn bench<R, Fut>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    rt: R,
    expected: u64,
    clock: Clock,
    work: impl Fn(R::S) -> Fut,
) where
    R: Runtime,
    for<'a> &'a R::Exec: AsyncExecutor,
    Fut: Future<Output = u64>,
{
    bench_keeping(g, id, rt, (), expected, clock, work);
}

/// [`bench`], with `keep` (sockets, say) alive in the runtime throughout and
/// dropped inside it at the end, while the runtime still exists.
fn bench_keeping<R, K, Fut>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    mut rt: R,
    keep: K,
    expected: u64,
    clock: Clock,
    work: impl Fn(R::S) -> Fut,
) where
    R: Runtime,
    for<'a> &'a R::Exec: AsyncExecutor,
    Fut: Future<Output = u64>,
{
    let got = rt.block_on(work(rt.spawner()));
    assert_eq!(got, expected, "{id}: wrong result");
    let s = rt.spawner();
    let ex = rt.into_exec();
    let work = &work;
    g.bench_function(id, |b| match clock {
        Clock::Wall => b.to_async(&ex).iter(|| work(s.clone())),
        Clock::ThreadCpu => b.to_async(&ex).iter_custom(|iters| {
            let s = s.clone();
            async move {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    black_box(work(s.clone()).await);
                }
                thread_cpu_time() - start
            }
        }),
    });
    AsyncExecutor::block_on(&&ex, async move { drop(keep) });
}

/// `ping_pong` on `rt` with an idle listener and an idle connected pair
/// registered with it.
fn bench_idle_sockets<R>(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, id: &str, mut rt: R)
where
    R: IdleSockets,
    for<'a> &'a R::Exec: AsyncExecutor,
{
    let sockets = rt.open_idle_sockets();
    bench_keeping(g, id, rt, sockets, PING_PONG_HOPS, Clock::Wall, ping_pong);
}

fn benches(c: &mut Criterion) {
    use Clock::Wall;
    {
        let mut g = c.benchmark_group("spawn_join");
        g.throughput(Throughput::Elements(SPAWN_TASKS));
        bench(&mut g, "evloop", evloop_rt(), SPAWN_TASKS, Wall, spawn_join);
        bench(&mut g, "tokio", tokio_rt(), SPAWN_TASKS, Wall, spawn_join);
        bench(&mut g, "monoio", monoio_rt(), SPAWN_TASKS, Wall, spawn_join);
        bench(&mut g, "async_executor", async_exec_rt(), SPAWN_TASKS, Wall, spawn_join);
        bench(&mut g, "local_pool", pool_rt(), SPAWN_TASKS, Wall, spawn_join);
        g.finish();
    }
    {
        let total = YIELD_TASKS * YIELDS_PER_TASK;
        let mut g = c.benchmark_group("yield_many");
        g.throughput(Throughput::Elements(total));
        g.sample_size(10);
        bench(&mut g, "evloop", evloop_rt(), total, Wall, yield_many);
        bench(&mut g, "tokio", tokio_rt(), total, Wall, yield_many);
        bench(&mut g, "monoio", monoio_rt(), total, Wall, yield_many);
        bench(&mut g, "async_executor", async_exec_rt(), total, Wall, yield_many);
        bench(&mut g, "local_pool", pool_rt(), total, Wall, yield_many);
        g.finish();
    }
    {
        let mut g = c.benchmark_group("ping_pong");
        g.throughput(Throughput::Elements(PING_PONG_HOPS));
        g.sample_size(20);
        bench(&mut g, "evloop", evloop_rt(), PING_PONG_HOPS, Wall, ping_pong);
        bench(&mut g, "tokio", tokio_rt(), PING_PONG_HOPS, Wall, ping_pong);
        bench(&mut g, "monoio", monoio_rt(), PING_PONG_HOPS, Wall, ping_pong);
        bench(
            &mut g,
            "async_executor",
            async_exec_rt(),
            PING_PONG_HOPS,
            Wall,
            ping_pong,
        );
        bench(&mut g, "local_pool", pool_rt(), PING_PONG_HOPS, Wall, ping_pong);
        g.finish();
    }
    {
        // Target (issue 12): evloop within 10% of its own `ping_pong` and of
        // tokio in this group.
        let mut g = c.benchmark_group("ping_pong_idle_sockets");
        g.throughput(Throughput::Elements(PING_PONG_HOPS));
        g.sample_size(20);
        bench_idle_sockets(&mut g, "evloop", evloop_rt());
        bench_idle_sockets(&mut g, "tokio", tokio_io_rt());
        bench_idle_sockets(&mut g, "monoio", monoio_rt());
        bench_idle_sockets(&mut g, "async_executor", async_exec_rt());
        g.finish();
    }
    {
        let mut g = c.benchmark_group("timers_cancel");
        g.throughput(Throughput::Elements(TIMERS));
        g.sample_size(20);
        bench(&mut g, "evloop", evloop_rt(), TIMERS, Wall, timers_cancel);
        bench(&mut g, "evloop_call_later", evloop_rt(), TIMERS, Wall, |_| {
            evloop_call_later_cancel()
        });
        bench(&mut g, "tokio", tokio_rt(), TIMERS, Wall, timers_cancel);
        bench(&mut g, "monoio", monoio_rt(), TIMERS, Wall, timers_cancel);
        bench(&mut g, "async_executor", async_exec_rt(), TIMERS, Wall, timers_cancel);
        g.finish();
    }
    for (name, clock) in [("timers_fired", Wall), ("timers_fired_cpu", Clock::ThreadCpu)] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(FIRED));
        g.sample_size(10);
        bench(&mut g, "evloop", evloop_rt(), FIRED, clock, timers_fired);
        bench(&mut g, "tokio", tokio_rt(), FIRED, clock, timers_fired);
        bench(&mut g, "monoio", monoio_rt(), FIRED, clock, timers_fired);
        bench(&mut g, "async_executor", async_exec_rt(), FIRED, clock, timers_fired);
        g.finish();
    }
}

// ----- allocations per operation -----------------------------------------

/// Runs the workload twice on one runtime; returns allocations per op of the
/// second (steady-state) run.
fn allocs_per_op<R, Fut>(mut rt: R, ops: u64, work: impl Fn(R::S) -> Fut) -> f64
where
    R: Runtime,
    Fut: Future<Output = u64>,
{
    let warm = rt.block_on(work(rt.spawner()));
    let (again, n) = count_allocs(|| rt.block_on(work(rt.spawner())));
    assert_eq!(warm, again);
    n as f64 / ops as f64
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("criterion")
}

type Table = BTreeMap<&'static str, BTreeMap<&'static str, f64>>;

fn write_json(name: &str, table: &Table) {
    let json = serde_json::to_string_pretty(table).expect("serialize table");
    let dir = criterion_dir();
    if std::fs::create_dir_all(&dir).is_ok() {
        // Best effort: the timing benchmarks do not depend on this file.
        let _ = std::fs::write(dir.join(name), json);
    }
}

fn print_table(title: &str, table: &Table) {
    println!("{title}:");
    for (group, ids) in table {
        let row: Vec<String> = ids.iter().map(|(id, v)| format!("{id} {v:.2}")).collect();
        println!("  {group}: {}", row.join(", "));
    }
}

fn report_allocations() {
    let yields = YIELD_TASKS * YIELDS_PER_TASK;
    let mut table = Table::new();
    let mut put = |group, id, v| {
        table.entry(group).or_default().insert(id, v);
    };
    put(
        "spawn_join",
        "evloop",
        allocs_per_op(evloop_rt(), SPAWN_TASKS, spawn_join),
    );
    put(
        "spawn_join",
        "tokio",
        allocs_per_op(tokio_rt(), SPAWN_TASKS, spawn_join),
    );
    put(
        "spawn_join",
        "monoio",
        allocs_per_op(monoio_rt(), SPAWN_TASKS, spawn_join),
    );
    put(
        "spawn_join",
        "async_executor",
        allocs_per_op(async_exec_rt(), SPAWN_TASKS, spawn_join),
    );
    put(
        "spawn_join",
        "local_pool",
        allocs_per_op(pool_rt(), SPAWN_TASKS, spawn_join),
    );
    put("yield_many", "evloop", allocs_per_op(evloop_rt(), yields, yield_many));
    put("yield_many", "tokio", allocs_per_op(tokio_rt(), yields, yield_many));
    put("yield_many", "monoio", allocs_per_op(monoio_rt(), yields, yield_many));
    put(
        "yield_many",
        "async_executor",
        allocs_per_op(async_exec_rt(), yields, yield_many),
    );
    put("yield_many", "local_pool", allocs_per_op(pool_rt(), yields, yield_many));
    put(
        "ping_pong",
        "evloop",
        allocs_per_op(evloop_rt(), PING_PONG_HOPS, ping_pong),
    );
    put(
        "ping_pong",
        "tokio",
        allocs_per_op(tokio_rt(), PING_PONG_HOPS, ping_pong),
    );
    put(
        "ping_pong",
        "monoio",
        allocs_per_op(monoio_rt(), PING_PONG_HOPS, ping_pong),
    );
    put(
        "ping_pong",
        "async_executor",
        allocs_per_op(async_exec_rt(), PING_PONG_HOPS, ping_pong),
    );
    put(
        "ping_pong",
        "local_pool",
        allocs_per_op(pool_rt(), PING_PONG_HOPS, ping_pong),
    );
    put(
        "timers_cancel",
        "evloop",
        allocs_per_op(evloop_rt(), TIMERS, timers_cancel),
    );
    put(
        "timers_cancel",
        "evloop_call_later",
        allocs_per_op(evloop_rt(), TIMERS, |_| evloop_call_later_cancel()),
    );
    put(
        "timers_cancel",
        "tokio",
        allocs_per_op(tokio_rt(), TIMERS, timers_cancel),
    );
    put(
        "timers_cancel",
        "monoio",
        allocs_per_op(monoio_rt(), TIMERS, timers_cancel),
    );
    put(
        "timers_cancel",
        "async_executor",
        allocs_per_op(async_exec_rt(), TIMERS, timers_cancel),
    );
    put(
        "timers_fired",
        "evloop",
        allocs_per_op(evloop_rt(), FIRED, timers_fired),
    );
    put("timers_fired", "tokio", allocs_per_op(tokio_rt(), FIRED, timers_fired));
    put(
        "timers_fired",
        "monoio",
        allocs_per_op(monoio_rt(), FIRED, timers_fired),
    );
    put(
        "timers_fired",
        "async_executor",
        allocs_per_op(async_exec_rt(), FIRED, timers_fired),
    );
    print_table("heap allocations per op (steady state, second run)", &table);
    write_json("allocs.json", &table);
}

// ----- bytes per idle task and per armed timer ----------------------------

/// A latch idle tasks wait on. Its waker list is reserved before counting,
/// so registering costs the runtime's waker clone and nothing of ours.
struct Gate {
    open: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
    /// Woken when `wakers` reaches its capacity: every task is idle.
    all_idle: RefCell<Option<Waker>>,
}

impl Gate {
    fn new(capacity: usize) -> Gate {
        Gate {
            open: Cell::new(false),
            wakers: RefCell::new(Vec::with_capacity(capacity)),
            all_idle: RefCell::new(None),
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.open.get() {
                Poll::Ready(())
            } else {
                let mut wakers = self.wakers.borrow_mut();
                wakers.push(cx.waker().clone());
                if wakers.len() == wakers.capacity() {
                    if let Some(w) = self.all_idle.borrow_mut().take() {
                        w.wake();
                    }
                }
                Poll::Pending
            }
        })
        .await
    }

    fn open(&self) {
        self.open.set(true);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }
}

fn size_of_val_of<T>(_: &T) -> usize {
    std::mem::size_of::<T>()
}

/// Spawns `MEMORY_N` tasks that wait on a [`Gate`], lets each be polled once
/// (so it is idle, its waker stored), and returns the net heap bytes that
/// left allocated per task, minus the future's own size.
async fn idle_task_bytes<S: Spawn>(s: S) -> f64 {
    let gate = Rc::new(Gate::new(MEMORY_N));
    let mut handles = Vec::with_capacity(MEMORY_N);
    let mut future_size = 0;
    // Spawning and the first poll of every task, both inside the window:
    // the main task sleeps until all `MEMORY_N` have registered.
    count_bytes(|| {
        for _ in 0..MEMORY_N {
            let g = gate.clone();
            let fut = async move {
                g.wait().await;
                1u64
            };
            future_size = size_of_val_of(&fut);
            handles.push(s.spawn(fut));
        }
    });
    // Keep counting through the first polls (a runtime may allocate then);
    // the main task's own waker clone is one allocation-free `Waker`.
    COUNTING.store(true, Ordering::Relaxed);
    poll_fn(|cx| {
        if gate.wakers.borrow().len() == MEMORY_N {
            Poll::Ready(())
        } else {
            *gate.all_idle.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await;
    COUNTING.store(false, Ordering::Relaxed);
    // `count_bytes` zeroed the counters, so this covers spawns and polls.
    let net = BYTES_IN.load(Ordering::Relaxed) as isize - BYTES_OUT.load(Ordering::Relaxed) as isize;
    gate.open();
    let mut sum = 0;
    for h in handles {
        sum += h.await;
    }
    assert_eq!(sum, MEMORY_N as u64);
    net as f64 / MEMORY_N as f64 - future_size as f64
}

/// Boxes `MEMORY_N` timers (deadlines 1–60 s), then counts the net heap
/// bytes their arming polls leave allocated; returns (bytes per armed timer,
/// size of the timer future).
async fn armed_timer_bytes<S: Timers>(s: S) -> (f64, f64) {
    let mut rng = Rng::new();
    let mut timers: Vec<Pin<Box<_>>> = (0..MEMORY_N)
        .map(|_| Box::pin(s.timer(rng.millis(CANCEL_MS))))
        .collect();
    let size = std::mem::size_of_val(timers[0].as_ref().get_ref());
    let net = poll_fn(|cx| {
        let ((), _, net) = count_bytes(|| {
            for t in timers.iter_mut() {
                assert!(t.as_mut().poll(cx).is_pending());
            }
        });
        Poll::Ready(net)
    })
    .await;
    drop(timers);
    (net as f64 / MEMORY_N as f64, size as f64)
}

/// evloop's `call_later`: net bytes per armed callback (ZST closure).
async fn evloop_call_later_bytes() -> f64 {
    let h = evloop::get_running_loop();
    let mut rng = Rng::new();
    let deadlines: Vec<Duration> = (0..MEMORY_N).map(|_| rng.millis(CANCEL_MS)).collect();
    let mut handles = Vec::with_capacity(MEMORY_N);
    let ((), _, net) = count_bytes(|| {
        for d in &deadlines {
            handles.push(h.call_later(*d, || unreachable!("cancelled timer fired")));
        }
    });
    for cb in &handles {
        cb.cancel();
    }
    net as f64 / MEMORY_N as f64
}

/// Runs `f` twice on one runtime: (first run, second run).
fn twice<R: Runtime, Fut: Future>(mut rt: R, f: impl Fn(R::S) -> Fut) -> (Fut::Output, Fut::Output) {
    let a = rt.block_on(f(rt.spawner()));
    let b = rt.block_on(f(rt.spawner()));
    (a, b)
}

fn report_memory() {
    let mut table = Table::new();
    let mut tasks = |id, (cold, warm): (f64, f64)| {
        table.entry("idle_task_bytes_first_run").or_default().insert(id, cold);
        table.entry("idle_task_bytes").or_default().insert(id, warm);
    };
    tasks("evloop", twice(evloop_rt(), idle_task_bytes));
    tasks("tokio", twice(tokio_rt(), idle_task_bytes));
    tasks("monoio", twice(monoio_rt(), idle_task_bytes));
    tasks("async_executor", twice(async_exec_rt(), idle_task_bytes));
    tasks("local_pool", twice(pool_rt(), idle_task_bytes));
    let mut timers = |id, ((cold, _), (bytes, size)): ((f64, f64), (f64, f64))| {
        table.entry("armed_timer_bytes_first_run").or_default().insert(id, cold);
        table.entry("armed_timer_bytes").or_default().insert(id, bytes);
        table.entry("timer_future_size").or_default().insert(id, size);
    };
    timers("evloop", twice(evloop_rt(), armed_timer_bytes));
    timers("tokio", twice(tokio_rt(), armed_timer_bytes));
    timers("monoio", twice(monoio_rt(), armed_timer_bytes));
    timers("async_executor", twice(async_exec_rt(), armed_timer_bytes));
    let (_, cb) = twice(evloop_rt(), |_| evloop_call_later_bytes());
    table
        .entry("armed_timer_bytes")
        .or_default()
        .insert("evloop_call_later", cb);
    print_table(
        "heap bytes per idle task / armed timer (steady state unless named)",
        &table,
    );
    write_json("memory.json", &table);
}

// ----- does a yield let the other tasks run? ------------------------------

/// Two tasks each log themselves and yield, `ROUNDS` (10) times over;
/// returns the longest streak of one task's polls with no poll of the other
/// in between: 1 when a yield sends the task behind the others (asyncio's
/// `sleep(0)`); `ROUNDS` when the runtime polls the yielding task again at
/// once, which makes `yield_many` a tight loop over one task's memory
/// rather than rounds over all of them.
async fn yield_streak<S: Spawn>(s: S) -> f64 {
    const ROUNDS: usize = 10;
    let log = Rc::new(RefCell::new(Vec::new()));
    let yielder = |me: u8| {
        let (s2, log) = (s.clone(), log.clone());
        s.spawn(async move {
            for _ in 0..ROUNDS {
                log.borrow_mut().push(me);
                s2.yield_now().await;
            }
        })
    };
    let (a, b) = (yielder(0), yielder(1));
    a.await;
    b.await;
    let log = log.borrow();
    assert_eq!(log.len(), 2 * ROUNDS);
    let longest = log.chunk_by(|x, y| x == y).map(<[u8]>::len).max();
    longest.unwrap_or(0) as f64
}

fn report_yield_streak() {
    let mut table = Table::new();
    let row = table.entry("yield_many").or_default();
    row.insert("evloop", evloop_rt().block_on(yield_streak(EvSpawn)));
    let mut rt = tokio_rt();
    row.insert("tokio", rt.block_on(yield_streak(rt.spawner())));
    let mut rt = monoio_rt();
    row.insert("monoio", rt.block_on(yield_streak(rt.spawner())));
    let mut rt = async_exec_rt();
    row.insert("async_executor", rt.block_on(yield_streak(rt.spawner())));
    let mut rt = pool_rt();
    row.insert("local_pool", rt.block_on(yield_streak(rt.spawner())));
    print_table(
        "longest streak of one task's polls, two tasks yielding 10 times each",
        &table,
    );
    write_json("yield_streak.json", &table);
}

/// Runs one workload `iters` times on a fresh runtime, nothing else, for
/// instruction counts: `BENCH_ONLY=ping_pong/evloop BENCH_ITERS=6 valgrind
/// --tool=callgrind target/release/deps/executor-*` (then the same with 1
/// iteration; the difference divided by 5 × ops is the steady-state cost per op).
fn run_only(spec: &str, iters: u64) {
    fn repeat<R: Runtime, Fut: Future<Output = u64>>(rt: &mut R, iters: u64, work: impl Fn(R::S) -> Fut) {
        for _ in 0..iters {
            black_box(rt.block_on(work(rt.spawner())));
        }
    }
    fn repeat_idle<R: IdleSockets>(mut rt: R, iters: u64) {
        let sockets = rt.open_idle_sockets();
        repeat(&mut rt, iters, ping_pong);
        rt.block_on(async move { drop(sockets) });
    }
    let (group, runtime) = spec.split_once('/').expect("BENCH_ONLY=<group>/<runtime>");
    macro_rules! on_runtime {
        ($work:expr, [$($name:literal => $rt:expr),*]) => {
            match runtime {
                $($name => repeat(&mut $rt, iters, $work),)*
                other => panic!("unknown runtime {other:?} for {group}"),
            }
        };
    }
    match group {
        "spawn_join" => on_runtime!(spawn_join, ["evloop" => evloop_rt(), "tokio" => tokio_rt(),
            "monoio" => monoio_rt(), "async_executor" => async_exec_rt(), "local_pool" => pool_rt()]),
        "yield_many" => on_runtime!(yield_many, ["evloop" => evloop_rt(), "tokio" => tokio_rt(),
            "monoio" => monoio_rt(), "async_executor" => async_exec_rt(), "local_pool" => pool_rt()]),
        "ping_pong" => on_runtime!(ping_pong, ["evloop" => evloop_rt(), "tokio" => tokio_rt(),
            "monoio" => monoio_rt(), "async_executor" => async_exec_rt(), "local_pool" => pool_rt()]),
        "ping_pong_idle_sockets" => match runtime {
            "evloop" => repeat_idle(evloop_rt(), iters),
            "tokio" => repeat_idle(tokio_io_rt(), iters),
            "monoio" => repeat_idle(monoio_rt(), iters),
            "async_executor" => repeat_idle(async_exec_rt(), iters),
            other => panic!("unknown runtime {other:?} for {group}"),
        },
        "timers_cancel" => on_runtime!(timers_cancel, ["evloop" => evloop_rt(), "tokio" => tokio_rt(),
            "monoio" => monoio_rt(), "async_executor" => async_exec_rt()]),
        "timers_fired" => on_runtime!(timers_fired, ["evloop" => evloop_rt(), "tokio" => tokio_rt(),
            "monoio" => monoio_rt(), "async_executor" => async_exec_rt()]),
        other => panic!("unknown group {other:?}"),
    }
}

fn main() {
    if let Ok(spec) = std::env::var("BENCH_ONLY") {
        let iters = std::env::var("BENCH_ITERS").map_or(1, |n| n.parse().expect("BENCH_ITERS"));
        run_only(&spec, iters);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let args: Vec<String> = std::env::args().collect();
    // Skip the counting passes when criterion only lists benchmarks.
    if !args.iter().any(|a| a == "--list") {
        report_allocations();
        report_memory();
        report_yield_streak();
    }
    benches(&mut c);
    c.final_summary();
}
