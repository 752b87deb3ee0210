//! `evloop::sync::Lock`: mutual exclusion, FIFO hand-off, cancellation.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use evloop::sync::Lock;
use evloop::{create_task, sleep, EventLoop};

/// Runs `fut` on a fresh loop with the manual clock. A deadlock fails the
/// test at once instead of hanging it: with nothing left to run, the manual
/// clock jumps to the one-hour guard timer.
fn run<F: Future>(fut: F) -> F::Output {
    let mut lp = EventLoop::builder().manual_clock().build().unwrap();
    let mut fut = std::pin::pin!(fut);
    let mut guard = std::pin::pin!(sleep(Duration::from_secs(3600)));
    let guarded = std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(out);
        }
        assert!(guard.as_mut().poll(cx).is_pending(), "deadlock: every task is blocked");
        std::task::Poll::Pending
    });
    lp.run_until_complete(guarded).unwrap()
}

/// Lets every other task run until all are blocked.
async fn settle() {
    sleep(Duration::from_millis(1)).await;
}

#[test]
fn lock_gives_mutual_exclusion_across_awaits() {
    run(async {
        let lock = Rc::new(Lock::new());
        let inside = Rc::new(Cell::new(0));
        let max = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (lock, inside, max) = (lock.clone(), inside.clone(), max.clone());
                create_task(async move {
                    for _ in 0..3 {
                        let _guard = lock.lock().await;
                        inside.set(inside.get() + 1);
                        max.set(max.get().max(inside.get()));
                        sleep(Duration::from_millis(10)).await;
                        inside.set(inside.get() - 1);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max.get(), 1);
        assert!(!lock.locked());
    });
}

#[test]
fn lock_waiters_acquire_in_fifo_order() {
    run(async {
        let lock = Rc::new(Lock::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.lock().await;
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (lock, log) = (lock.clone(), log.clone());
                create_task(async move {
                    let _guard = lock.lock().await;
                    log.borrow_mut().push(i);
                    evloop::yield_now().await;
                })
            })
            .collect();
        settle().await;
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn lock_reacquire_after_unlock_queues_behind_waiters() {
    // The releasing task cannot barge back in front of a waiter.
    run(async {
        let lock = Rc::new(Lock::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.lock().await;
        let waiter = {
            let (lock, log) = (lock.clone(), log.clone());
            create_task(async move {
                let _g = lock.lock().await;
                log.borrow_mut().push("waiter");
            })
        };
        settle().await;
        drop(guard);
        assert!(lock.locked(), "handed to the waiter, not freed");
        assert!(lock.try_lock().is_none(), "try_lock must not steal a handed-off lock");
        let _again = lock.lock().await;
        log.borrow_mut().push("main");
        waiter.await.unwrap();
        assert_eq!(*log.borrow(), ["waiter", "main"]);
    });
}

#[test]
fn cancelled_waiter_does_not_deadlock_the_next() {
    run(async {
        let lock = Rc::new(Lock::new());
        let acquired = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.lock().await;
        let spawn = |i: u32| {
            let (lock, acquired) = (lock.clone(), acquired.clone());
            create_task(async move {
                let _g = lock.lock().await;
                acquired.borrow_mut().push(i);
            })
        };
        let (a, b, c) = (spawn(0), spawn(1), spawn(2));
        settle().await;
        assert!(b.cancel());
        settle().await;
        drop(guard);
        a.await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        c.await.unwrap();
        assert_eq!(*acquired.borrow(), [0, 2]);
        assert!(!lock.locked());
    });
}

#[test]
fn waiter_cancelled_after_hand_off_passes_the_lock_on() {
    run(async {
        let lock = Rc::new(Lock::new());
        let acquired = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.lock().await;
        let spawn = |i: u32| {
            let (lock, acquired) = (lock.clone(), acquired.clone());
            create_task(async move {
                let _g = lock.lock().await;
                acquired.borrow_mut().push(i);
            })
        };
        let (a, b) = (spawn(0), spawn(1));
        settle().await;
        drop(guard); // the lock now belongs to `a`...
        a.cancel(); // ...which is dropped before it runs
        b.await.unwrap();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(*acquired.borrow(), [1]);
        assert!(!lock.locked());
    });
}

#[test]
fn lock_future_dropped_after_hand_off_passes_the_lock_on() {
    // Deterministic version of the above, without relying on the order in
    // which the loop processes a cancel and a wake-up.
    run(async {
        let lock = Rc::new(Lock::new());
        let guard = lock.lock().await;
        let mut first = Box::pin(lock.lock());
        let waker = futures_task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(first.as_mut().poll(&mut cx).is_pending());
        let l = lock.clone();
        let second = create_task(async move {
            let _g = l.lock().await;
        });
        settle().await;
        drop(guard);
        drop(first);
        second.await.unwrap();
        assert!(!lock.locked());
    });
}

#[test]
fn try_lock_and_locked() {
    let lock = Lock::new();
    assert!(!lock.locked());
    let g = lock.try_lock().unwrap();
    assert!(lock.locked());
    assert!(lock.try_lock().is_none());
    assert!(std::ptr::eq(g.lock(), &lock));
    drop(g);
    assert!(!lock.locked());
    assert!(format!("{lock:?}").contains("locked: false"));
}
