//! Run-only ticks (`Core::next_tick_only_runs`): when the next tick's steps
//! 1-4 could find nothing to do, `tick` runs that tick's jobs at once
//! instead of returning. Nothing a program can see may change: the same
//! jobs in the same order, the same tick count, and every reason to stop
//! going round (a stop, a timer, another thread's wake) still heard.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evloop::{yield_now, EventLoop, LoopEvent};

/// Three tasks yield in turn and log each step; returns the log and the
/// loop's tick and poll counts. With `observed`, an observer is set, which
/// turns run-only ticks off.
fn three_yielders(observed: bool) -> (Vec<(u32, u32)>, u64, u64) {
    let mut builder = EventLoop::builder();
    if observed {
        builder = builder.on_event(|_: &LoopEvent| {});
    }
    let mut lp = builder.build().unwrap();
    let h = lp.handle();
    let log = Rc::new(RefCell::new(Vec::new()));
    let before = h.stats();
    lp.run_until_complete({
        let log = log.clone();
        async move {
            let tasks: Vec<_> = (0..3)
                .map(|t| {
                    let log = log.clone();
                    evloop::create_task(async move {
                        for step in 0..5 {
                            log.borrow_mut().push((t, step));
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }
    })
    .unwrap();
    let after = h.stats();
    let log = log.borrow().clone();
    (log, after.ticks - before.ticks, after.polls - before.polls)
}

#[test]
fn run_only_ticks_keep_order_and_tick_count() {
    let (fast, fast_ticks, fast_polls) = three_yielders(false);
    let (observed, observed_ticks, observed_polls) = three_yielders(true);
    // Round-robin: every task's step n before any task's step n + 1.
    let expected: Vec<_> = (0..5).flat_map(|step| (0..3).map(move |t| (t, step))).collect();
    assert_eq!(fast, expected);
    assert_eq!(observed, expected);
    assert_eq!(fast_ticks, observed_ticks, "a run-only tick counts as a tick");
    assert_eq!(fast_polls, observed_polls);
    assert!(fast_ticks >= 6, "one tick per round of yields, at least: {fast_ticks}");
}

#[test]
fn a_stop_asked_by_a_task_ends_run_forever_while_another_spins() {
    common::within(Duration::from_secs(10), "run_forever with a spinning task", || {
        let mut lp = EventLoop::new().unwrap();
        let h = lp.handle();
        let spinning = Rc::new(RefCell::new(true));
        let spinner = h.create_task({
            let spinning = spinning.clone();
            async move {
                while *spinning.borrow() {
                    yield_now().await;
                }
            }
        });
        let stopper = h.create_task({
            let h = h.clone();
            async move {
                for _ in 0..10 {
                    yield_now().await;
                }
                h.stop();
            }
        });
        lp.run_forever().unwrap();
        assert!(stopper.done(), "the stop came from the stopper, after its yields");
        assert!(!spinner.done(), "the spinner was still going when the loop stopped");
        *spinning.borrow_mut() = false;
        lp.run_until_complete(spinner).unwrap().unwrap();
    });
}

#[test]
fn a_timer_fires_while_tasks_keep_the_queue_busy() {
    common::within(Duration::from_secs(10), "a timer beside spinning tasks", || {
        let mut lp = EventLoop::new().unwrap();
        let elapsed = lp
            .run_until_complete(async {
                let done = Rc::new(RefCell::new(false));
                let spinners: Vec<_> = (0..2)
                    .map(|_| {
                        let done = done.clone();
                        evloop::create_task(async move {
                            while !*done.borrow() {
                                yield_now().await;
                            }
                        })
                    })
                    .collect();
                let start = Instant::now();
                evloop::sleep(Duration::from_millis(20)).await;
                *done.borrow_mut() = true;
                for s in spinners {
                    s.await.unwrap();
                }
                start.elapsed()
            })
            .unwrap();
        assert!(elapsed >= Duration::from_millis(20), "never early: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "the timer was heard: {elapsed:?}");
    });
}

#[test]
fn another_threads_wake_is_heard_while_tasks_keep_the_queue_busy() {
    common::within(Duration::from_secs(10), "a remote call beside spinning tasks", || {
        let mut lp = EventLoop::new().unwrap();
        let remote = lp.handle().threadsafe();
        let heard = Arc::new(AtomicBool::new(false));
        lp.run_until_complete({
            let heard = heard.clone();
            async move {
                let spinner = evloop::create_task({
                    let heard = heard.clone();
                    async move {
                        while !heard.load(Ordering::SeqCst) {
                            yield_now().await;
                        }
                    }
                });
                let sender = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(10));
                    remote
                        .call_soon_threadsafe(move || heard.store(true, Ordering::SeqCst))
                        .unwrap();
                });
                spinner.await.unwrap();
                sender.join().unwrap();
            }
        })
        .unwrap();
        assert!(heard.load(Ordering::SeqCst));
    });
}

#[test]
fn run_once_runs_one_tick_even_while_tasks_keep_the_queue_busy() {
    // A host driving the loop (a game frame, a GUI idle handler) gets control
    // back after each `run_once`, also with `None` (no cap on blocking): a
    // task that yields for ever must not keep it inside one call.
    common::within(Duration::from_secs(10), "run_once beside a spinning task", || {
        let mut lp = EventLoop::new().unwrap();
        let h = lp.handle();
        let spins = Rc::new(RefCell::new(0u32));
        let spinner = h.create_task({
            let spins = spins.clone();
            async move {
                loop {
                    *spins.borrow_mut() += 1;
                    yield_now().await;
                }
            }
        });
        for timeout in [None, Some(Duration::ZERO), None] {
            let (ticks, seen) = (h.stats().ticks, *spins.borrow());
            lp.run_once(timeout).unwrap();
            assert_eq!(h.stats().ticks, ticks + 1, "one tick per run_once({timeout:?})");
            assert_eq!(*spins.borrow(), seen + 1, "one poll of the spinner per tick");
        }
        spinner.cancel();
        lp.run_once(Some(Duration::ZERO)).unwrap();
        assert!(spinner.cancelled());
    });
}
