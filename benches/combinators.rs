//! Combinator benchmarks: `gather` beside `futures::future::join_all` and
//! tokio's `JoinSet`, in the same criterion groups.
//!
//! - `gather_ready`: 10,000 futures that are ready at once, joined inside one
//!   task. evloop's `gather` and futures' `join_all` both run on an evloop
//!   loop, so only the combinator differs.
//! - `gather_tasks`: 10,000 spawned trivial tasks joined: evloop's `gather`
//!   over `Task` handles, tokio's `JoinSet` (current-thread runtime +
//!   `LocalSet`), and `join_all` over tokio's `JoinHandle`s.
//!
//! Run: `cargo bench --bench combinators -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const N: usize = 10_000;

fn gather_ready(c: &mut Criterion) {
    let mut group = c.benchmark_group("gather_ready");
    group.throughput(Throughput::Elements(N as u64));
    let mut lp = evloop::EventLoop::new().unwrap();
    group.bench_function("evloop_gather", |b| {
        b.iter(|| {
            let out = lp
                .run_until_complete(evloop::gather((0..N).map(|i| async move { black_box(i) })))
                .unwrap();
            assert_eq!(out.len(), N);
        })
    });
    group.bench_function("futures_join_all", |b| {
        b.iter(|| {
            let out = lp
                .run_until_complete(futures::future::join_all((0..N).map(|i| async move { black_box(i) })))
                .unwrap();
            assert_eq!(out.len(), N);
        })
    });
    group.finish();
}

fn gather_tasks(c: &mut Criterion) {
    let mut group = c.benchmark_group("gather_tasks");
    group.throughput(Throughput::Elements(N as u64));
    let mut lp = evloop::EventLoop::new().unwrap();
    group.bench_function("evloop_gather", |b| {
        b.iter(|| {
            let out = lp
                .run_until_complete(async {
                    let tasks: Vec<_> = (0..N)
                        .map(|i| evloop::create_task(async move { black_box(i) }))
                        .collect();
                    evloop::gather(tasks).await
                })
                .unwrap();
            assert_eq!(out.len(), N);
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let local = tokio::task::LocalSet::new();
    group.bench_function("tokio_joinset", |b| {
        b.iter(|| {
            let n = local.block_on(&rt, async {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..N {
                    set.spawn_local(async move { black_box(i) });
                }
                let mut n = 0;
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                    n += 1;
                }
                n
            });
            assert_eq!(n, N);
        })
    });
    group.bench_function("tokio_join_all", |b| {
        b.iter(|| {
            let out = local.block_on(&rt, async {
                let handles: Vec<_> = (0..N)
                    .map(|i| tokio::task::spawn_local(async move { black_box(i) }))
                    .collect();
                futures::future::join_all(handles).await
            });
            assert_eq!(out.len(), N);
        })
    });
    group.finish();
}

criterion_group!(benches, gather_ready, gather_tasks);
criterion_main!(benches);
