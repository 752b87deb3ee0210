//! Fault injection: wakers used where a loop no longer is. A waker kept
//! after its loop is dropped and then woken, cloned and dropped, from the
//! loop's thread and from others, including while the loop is being torn
//! down; wakes fired from destructors during close.
//!
//! The rule these pin: waking a task whose loop is gone is a no-op, never a
//! crash, a hang, or a wake delivered to a different loop.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Waker;
use std::thread;
use std::time::Duration;

mod common;
use common::{count_polls, loop_with_reports, manual_loop, StashWaker};

/// A loop that ran one task until it parked, then was dropped; returns the
/// task's waker, which now names a loop that no longer exists.
fn orphaned_waker() -> Waker {
    let mut lp = manual_loop();
    let stash = Rc::new(RefCell::new(None));
    drop(lp.handle().create_task(StashWaker(stash.clone())));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    drop(lp);
    let waker = stash.borrow_mut().take().expect("the task was polled");
    waker
}

#[test]
fn orphaned_waker_woken_on_the_same_thread_is_a_no_op() {
    let waker = orphaned_waker();
    for _ in 0..100 {
        waker.wake_by_ref();
        let owned = waker.clone(); // wake by value: the other vtable entry
        owned.wake();
        drop(waker.clone());
    }
    // Also while another loop runs here: the wake must not reach its tasks.
    let mut other = manual_loop();
    let (probe, polls) = count_polls(StashWaker(Rc::default()));
    let _probe = other.handle().create_task(probe);
    let w = waker.clone();
    other
        .run_until_complete(async move {
            evloop::yield_now().await;
            w.wake_by_ref();
            evloop::yield_now().await;
            w.wake();
            evloop::yield_now().await;
        })
        .unwrap();
    assert_eq!(polls.get(), 1, "an orphaned waker polled a task of another loop");
    waker.wake();
}

#[test]
fn orphaned_waker_woken_from_other_threads_is_a_no_op() {
    let waker = orphaned_waker();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let waker = waker.clone();
            thread::spawn(move || {
                for _ in 0..if cfg!(miri) { 10 } else { 10_000 } {
                    waker.wake_by_ref();
                    let owned = waker.clone();
                    owned.wake();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a wake after the loop was gone panicked");
    }
}

#[test]
fn wakes_racing_with_loop_teardown_do_not_crash() {
    // Threads hammer a task's waker while its loop is dropped under them.
    const ROUNDS: usize = if cfg!(miri) { 3 } else { 200 };
    const WAKES: usize = if cfg!(miri) { 20 } else { 2_000 };
    for _ in 0..ROUNDS {
        let mut lp = manual_loop();
        let stash = Rc::new(RefCell::new(None));
        drop(lp.handle().create_task(StashWaker(stash.clone())));
        lp.run_once(Some(Duration::ZERO)).unwrap();
        let waker = stash.borrow_mut().take().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (waker, stop, started) = (waker.clone(), stop.clone(), started_tx.clone());
                thread::spawn(move || {
                    started.send(()).unwrap();
                    // Bounded: every remote wake is queued (there is no
                    // de-duplication across threads), so an unbounded spin
                    // would outrun the loop's drain; see RELIABILITY.md.
                    for _ in 0..WAKES {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        waker.wake_by_ref();
                    }
                })
            })
            .collect();
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
        // Run a little with remote wakes arriving, then tear down mid-stream.
        for _ in 0..3 {
            lp.run_once(Some(Duration::ZERO)).unwrap();
        }
        drop(lp);
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("a wake racing with teardown panicked");
        }
    }
}

#[test]
fn wakes_from_destructors_during_close_are_harmless() {
    // Task A's future holds task B's waker and wakes it when dropped: at
    // close, A's destructor wakes a task in a loop that is being torn down.
    struct WakeOnDrop(Rc<RefCell<Option<Waker>>>);
    impl Drop for WakeOnDrop {
        fn drop(&mut self) {
            if let Some(w) = self.0.borrow_mut().take() {
                w.wake_by_ref();
                w.wake();
            }
        }
    }
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    for _ in 0..10 {
        let b_waker = Rc::new(RefCell::new(None));
        drop(h.create_task(StashWaker(b_waker.clone())));
        let guard = WakeOnDrop(b_waker);
        drop(h.create_task(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
    }
    lp.run_once(Some(Duration::ZERO)).unwrap();
    lp.close().unwrap();
    assert!(reports.is_empty(), "{:?}", reports.events());
}

#[test]
fn wakes_from_a_cancelled_tasks_destructor_reach_live_tasks() {
    // The same, but on a live loop: a cancelled task's destructor wakes
    // another task, which must then run (the wake is not lost in the
    // middle of the loop's bookkeeping).
    struct WakeOnDrop(Rc<RefCell<Option<Waker>>>);
    impl Drop for WakeOnDrop {
        fn drop(&mut self) {
            if let Some(w) = self.0.borrow_mut().take() {
                w.wake();
            }
        }
    }
    let mut lp = manual_loop();
    let h = lp.handle();
    let b_waker = Rc::new(RefCell::new(None));
    let (b, b_polls) = count_polls(StashWaker(b_waker.clone()));
    let _b = h.create_task(b);
    let guard = WakeOnDrop(b_waker);
    let a = h.create_task(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(b_polls.get(), 1);
    a.cancel();
    for _ in 0..3 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(b_polls.get(), 2, "the wake from a destructor was lost");
}

/// Was a bug: every remote wake was pushed onto the loop's cross-thread
/// queue, even for a task already queued, and a tick drained that queue until
/// it was empty. A thread that kept waking one task (a busy producer) could
/// push faster than the loop popped, so the tick never ended: timers and
/// other tasks starved and the queue grew without bound. A waker is now
/// queued at most once until the loop takes it off. This floods for at most
/// three seconds and checks that one `run_once` came back well before that.
#[test]
#[cfg_attr(miri, ignore = "wall-clock bound")]
fn run_once_returns_while_another_thread_floods_wakes() {
    use std::time::Instant;
    let mut lp = manual_loop();
    let stash = Rc::new(RefCell::new(None));
    drop(lp.handle().create_task(StashWaker(stash.clone())));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let waker = stash.borrow_mut().take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let (stop, waker, started) = (stop.clone(), waker.clone(), started_tx.clone());
            thread::spawn(move || {
                let start = Instant::now();
                started.send(()).unwrap();
                // Check the clock only now and then: the flood must be fast.
                while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(3) {
                    for _ in 0..1024 {
                        waker.wake_by_ref();
                    }
                }
            })
        })
        .collect();
    started_rx.recv().unwrap();
    started_rx.recv().unwrap();
    let t0 = Instant::now();
    for _ in 0..3 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    assert!(
        took < Duration::from_secs(1),
        "three ticks took {took:?} while a thread flooded wakes"
    );
}
