//! `to_thread`: results, panics, concurrency, and the loop staying live.

use std::time::{Duration, Instant};

use evloop::{to_thread, ToThreadError};

#[test]
fn to_thread_returns_the_result() {
    let v = evloop::run(async { to_thread(|| (1..=10u64).product::<u64>()).await });
    assert_eq!(v.unwrap(), 3_628_800);
}

#[test]
fn to_thread_runs_off_the_loop_thread() {
    let loop_thread = std::thread::current().id();
    let worker = evloop::run(async { to_thread(|| std::thread::current().id()).await }).unwrap();
    assert_ne!(worker, loop_thread);
}

#[test]
fn to_thread_panic_is_an_error_not_a_crash() {
    let err = evloop::run(async { to_thread(|| -> u32 { panic!("worker boom") }).await }).unwrap_err();
    assert!(matches!(err, ToThreadError::Panicked(_)));
    assert_eq!(err.panic_message(), Some("worker boom"));
    // The pool still works afterwards.
    assert_eq!(evloop::run(async { to_thread(|| 5).await }).unwrap(), 5);
}

#[test]
fn to_thread_jobs_run_concurrently_and_the_loop_keeps_ticking() {
    evloop::run(async {
        let start = Instant::now();
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
        let t = ticks.clone();
        let _ticker = evloop::create_task(async move {
            loop {
                evloop::sleep(Duration::from_millis(5)).await;
                t.set(t.get() + 1);
            }
        })
        .abort_on_drop();
        let jobs: Vec<_> = (0..4)
            .map(|i| {
                to_thread(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for j in jobs {
            sum += j.await.unwrap();
        }
        assert_eq!(sum, 6);
        // Four 100 ms jobs in parallel, not in series.
        assert!(start.elapsed() < Duration::from_millis(380), "{:?}", start.elapsed());
        assert!(ticks.get() >= 5, "the loop stalled: {} ticks", ticks.get());
    });
}

#[test]
fn to_thread_dropped_future_is_harmless() {
    evloop::run(async {
        let (tx, rx) = std::sync::mpsc::channel();
        drop(to_thread(move || tx.send(1).unwrap()));
        // The closure still runs to completion.
        assert_eq!(to_thread(move || rx.recv().unwrap()).await.unwrap(), 1);
    });
}
