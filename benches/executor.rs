//! Executor benchmarks: evloop side by side with its peers, one criterion
//! group per workload, every runtime doing the same work in the same run.
//!
//! Peers: tokio's current-thread runtime with a `LocalSet`
//! (`spawn_local`), async-executor's `LocalExecutor` (driven by
//! `async_io::block_on`, which also runs async-io's timers), and futures'
//! `LocalPool` where it applies (it has no timers).
//!
//! Workloads:
//!
//! - `spawn_join`: spawn 10,000 trivial tasks, then await every handle.
//! - `yield_many`: 1,000 tasks × 1,000 yields. evloop and tokio use their own
//!   `yield_now`; the others use [`YieldNow`] below (wake self, then pend).
//! - `ping_pong`: two tasks pass a token back and forth 100,000 hops through
//!   [`Chan`], a one-slot channel written here and shared by every runtime.
//! - `timers_cancel`: 10,000 timers (deadlines spread over 1–11 s) armed by one
//!   poll each, then all dropped (cancelled). `evloop_call_later` does the
//!   same through `Handle::call_later` + `CallbackHandle::cancel`.
//!
//! Each runtime is built once per benchmark, outside the timed closure; one
//! iteration is one `block_on` of the workload. Every workload is checked
//! once, outside timing, for the count it must produce.
//!
//! Before criterion starts, the binary counts heap allocations per operation
//! (steady state: the second run of each workload) with a counting global
//! allocator, prints them, and writes them to `<criterion dir>/allocs.json`
//! for `examples/bench_report.rs`. Outside that window the allocator costs one
//! relaxed load per allocation.
//!
//! Run: `cargo bench --bench executor -- --warm-up-time 1 --measurement-time 3`
//! then `cargo run --release --example bench_report`.

use std::alloc::{GlobalAlloc, Layout, System};
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

use criterion::{BenchmarkGroup, Criterion, Throughput};
use futures::executor::{LocalPool, LocalSpawner};
use futures::task::LocalSpawnExt;

// ----- allocation counting ------------------------------------------------

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; the counter has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded verbatim; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded verbatim.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `ptr` came from `System`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result with the number of allocations it made.
fn count_allocs<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let out = f();
    COUNTING.store(false, Ordering::Relaxed);
    (out, ALLOCS.load(Ordering::Relaxed))
}

// ----- workload sizes -----------------------------------------------------

const SPAWN_TASKS: u64 = 10_000;
const YIELD_TASKS: u64 = 1_000;
const YIELDS_PER_TASK: u64 = 1_000;
const PING_PONG_HOPS: u64 = 100_000;
const TIMERS: u64 = 10_000;

// ----- portable pieces shared by every runtime ----------------------------

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
trait Runtime {
    type S: Spawn;
    fn spawner(&self) -> Self::S;
    fn block_on<F: Future>(&mut self, f: F) -> F::Output;
}

// evloop

struct Evloop(evloop::EventLoop);

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
    fn spawner(&self) -> EvSpawn {
        EvSpawn
    }
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.0.run_until_complete(f).expect("evloop run failed")
    }
}

fn evloop_rt() -> Evloop {
    Evloop(evloop::EventLoop::new().expect("evloop loop"))
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

/// Arms `TIMERS` timers (one poll each, in the runtime's task context), then
/// drops them all; returns how many were pending when dropped.
async fn timers_cancel<S: Timers>(s: S) -> u64 {
    let mut timers: Vec<Pin<Box<_>>> = (0..TIMERS)
        .map(|i| Box::pin(s.timer(Duration::from_millis(1_000 + i))))
        .collect();
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
    let handles: Vec<_> = (0..TIMERS)
        .map(|i| {
            h.call_later(Duration::from_millis(1_000 + i), || {
                unreachable!("cancelled timer fired")
            })
        })
        .collect();
    for cb in &handles {
        cb.cancel();
    }
    handles.iter().filter(|cb| cb.cancelled()).count() as u64
}

// ----- wiring -------------------------------------------------------------

/// Checks the workload's result once, untimed, then benchmarks it.
fn bench<R, Fut>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    mut rt: R,
    expected: u64,
    work: impl Fn(R::S) -> Fut,
) where
    R: Runtime,
    Fut: Future<Output = u64>,
{
    let got = rt.block_on(work(rt.spawner()));
    assert_eq!(got, expected, "{id}: wrong result");
    let s = rt.spawner();
    g.bench_function(id, |b| b.iter(|| black_box(rt.block_on(work(s.clone())))));
}

fn benches(c: &mut Criterion) {
    {
        let mut g = c.benchmark_group("spawn_join");
        g.throughput(Throughput::Elements(SPAWN_TASKS));
        bench(&mut g, "evloop", evloop_rt(), SPAWN_TASKS, spawn_join);
        bench(&mut g, "tokio", tokio_rt(), SPAWN_TASKS, spawn_join);
        bench(&mut g, "async_executor", async_exec_rt(), SPAWN_TASKS, spawn_join);
        bench(&mut g, "local_pool", pool_rt(), SPAWN_TASKS, spawn_join);
        g.finish();
    }
    {
        let total = YIELD_TASKS * YIELDS_PER_TASK;
        let mut g = c.benchmark_group("yield_many");
        g.throughput(Throughput::Elements(total));
        g.sample_size(10);
        bench(&mut g, "evloop", evloop_rt(), total, yield_many);
        bench(&mut g, "tokio", tokio_rt(), total, yield_many);
        bench(&mut g, "async_executor", async_exec_rt(), total, yield_many);
        bench(&mut g, "local_pool", pool_rt(), total, yield_many);
        g.finish();
    }
    {
        let mut g = c.benchmark_group("ping_pong");
        g.throughput(Throughput::Elements(PING_PONG_HOPS));
        g.sample_size(20);
        bench(&mut g, "evloop", evloop_rt(), PING_PONG_HOPS, ping_pong);
        bench(&mut g, "tokio", tokio_rt(), PING_PONG_HOPS, ping_pong);
        bench(&mut g, "async_executor", async_exec_rt(), PING_PONG_HOPS, ping_pong);
        bench(&mut g, "local_pool", pool_rt(), PING_PONG_HOPS, ping_pong);
        g.finish();
    }
    {
        let mut g = c.benchmark_group("timers_cancel");
        g.throughput(Throughput::Elements(TIMERS));
        bench(&mut g, "evloop", evloop_rt(), TIMERS, timers_cancel);
        bench(&mut g, "evloop_call_later", evloop_rt(), TIMERS, |_| {
            evloop_call_later_cancel()
        });
        bench(&mut g, "tokio", tokio_rt(), TIMERS, timers_cancel);
        bench(&mut g, "async_executor", async_exec_rt(), TIMERS, timers_cancel);
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

fn report_allocations() {
    let yields = YIELD_TASKS * YIELDS_PER_TASK;
    let mut table: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
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
        "async_executor",
        allocs_per_op(async_exec_rt(), TIMERS, timers_cancel),
    );

    println!("heap allocations per op (steady state, second run):");
    for (group, ids) in &table {
        let row: Vec<String> = ids.iter().map(|(id, v)| format!("{id} {v:.2}")).collect();
        println!("  {group}: {}", row.join(", "));
    }
    let json = serde_json::to_string_pretty(&table).expect("serialize allocation counts");
    let dir = criterion_dir();
    if std::fs::create_dir_all(&dir).is_ok() {
        // Best effort: the timing benchmarks do not depend on this file.
        let _ = std::fs::write(dir.join("allocs.json"), json);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let args: Vec<String> = std::env::args().collect();
    // Skip the allocation pass when criterion only lists benchmarks.
    if !args.iter().any(|a| a == "--list") {
        report_allocations();
    }
    benches(&mut c);
    c.final_summary();
}
