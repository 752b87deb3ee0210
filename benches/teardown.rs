//! Dropping a loop that still holds 100,000 pending tasks, side by side:
//! evloop's `EventLoop`, async-executor's `LocalExecutor` (smol's), and
//! tokio's current-thread runtime with a `LocalSet`.
//!
//! Each iteration builds a fresh runtime, spawns `TASKS` tasks that each hold
//! a small buffer and wait forever, polls each once (so every task is parked,
//! as in a server being shut down), and then times only the drop. Run with
//! `cargo bench --bench teardown`; `BENCHMARKS.md` reports the ratios.

use std::future::pending;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

const TASKS: usize = 100_000;

/// A parked task: owns a little state, as a real one would, and never ends.
async fn parked(state: [u64; 4]) {
    black_box(&state);
    pending::<()>().await;
}

fn evloop_drop() -> Duration {
    let mut lp = evloop::EventLoop::new().expect("build a loop");
    lp.run_until_complete(async {
        for i in 0..TASKS {
            drop(evloop::create_task(parked([i as u64; 4]))); // detached
        }
        evloop::sleep(Duration::ZERO).await; // every task polled once
    })
    .expect("spawn round");
    let start = Instant::now();
    drop(lp);
    start.elapsed()
}

fn async_executor_drop() -> Duration {
    let ex = async_executor::LocalExecutor::new();
    for i in 0..TASKS {
        ex.spawn(parked([i as u64; 4])).detach();
    }
    while ex.try_tick() {}
    let start = Instant::now();
    drop(ex);
    start.elapsed()
}

fn tokio_drop() -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("build a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        for i in 0..TASKS {
            drop(tokio::task::spawn_local(parked([i as u64; 4])));
        }
        tokio::task::yield_now().await;
    });
    let start = Instant::now();
    drop(local);
    drop(rt);
    start.elapsed()
}

fn teardown(c: &mut Criterion) {
    let mut g = c.benchmark_group("drop_loop_100k_tasks");
    g.sample_size(10);
    for (id, run) in [
        ("evloop", evloop_drop as fn() -> Duration),
        ("async-executor", async_executor_drop),
        ("tokio", tokio_drop),
    ] {
        g.bench_function(id, |b| b.iter_custom(|iters| (0..iters).map(|_| run()).sum()));
    }
    g.finish();
}

criterion_group!(benches, teardown);
criterion_main!(benches);
