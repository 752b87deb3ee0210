//! Stress: a million tasks through one loop.
//!
//! Sizes: 1,000,000 tasks in every build, including the debug build that
//! `cargo test` makes (it takes a few seconds there); 1,000 under Miri.

use std::cell::Cell;
use std::rc::Rc;

use evloop::EventLoop;

/// Tasks per run: the million, scaled down only under Miri.
const TASKS: usize = if cfg!(miri) { 1_000 } else { 1_000_000 };

#[test]
fn stress_million_tasks_each_run_exactly_once() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let runs = Rc::new(Cell::new(0usize));
    let sum = lp
        .run_until_complete(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let runs = runs.clone();
                    h.create_task(async move {
                        runs.set(runs.get() + 1);
                        i as u64
                    })
                })
                .collect();
            let mut sum = 0u64;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        })
        .unwrap();
    assert_eq!(runs.get(), TASKS);
    assert_eq!(sum, (TASKS as u64 - 1) * TASKS as u64 / 2);
}

#[test]
fn stress_million_detached_tasks_that_yield_are_all_dropped() {
    // Detached tasks that each yield once: the run queue holds a million
    // entries at its peak, and every slot is freed when the task ends.
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let finished = Rc::new(Cell::new(0usize));
    for _ in 0..TASKS {
        let finished = finished.clone();
        drop(h.create_task(async move {
            evloop::yield_now().await;
            finished.set(finished.get() + 1);
        }));
    }
    let probe = finished.clone();
    lp.run_until_complete(async move {
        while probe.get() < TASKS {
            evloop::yield_now().await;
        }
    })
    .unwrap();
    assert_eq!(finished.get(), TASKS);
    // Every future (and its `Rc` clone) is gone: nothing is held for them.
    assert_eq!(Rc::strong_count(&finished), 1);
}
