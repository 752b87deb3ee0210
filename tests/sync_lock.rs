//! `evloop::sync::Lock`: mutual exclusion, FIFO hand-off, cancellation.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use common::{run_guarded, settle};
use evloop::sync::Lock;
use evloop::{create_task, sleep, Task};

#[test]
fn lock_gives_mutual_exclusion_across_awaits() {
    run_guarded(async {
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
    run_guarded(async {
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
    run_guarded(async {
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

/// A task that takes `lock`, logs `i` in `acquired`, and unlocks.
fn locker(lock: &Rc<Lock>, acquired: &Rc<RefCell<Vec<u32>>>, i: u32) -> Task<()> {
    let (lock, acquired) = (lock.clone(), acquired.clone());
    create_task(async move {
        let _g = lock.lock().await;
        acquired.borrow_mut().push(i);
    })
}

#[test]
fn cancelled_waiter_does_not_deadlock_the_next() {
    run_guarded(async {
        let lock = Rc::new(Lock::new());
        let acquired = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.lock().await;
        let spawn = |i| locker(&lock, &acquired, i);
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
    run_guarded(async {
        let lock = Rc::new(Lock::new());
        let acquired = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.lock().await;
        let spawn = |i| locker(&lock, &acquired, i);
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
    run_guarded(async {
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
