//! `evloop::sync::Condition`: notify(n), notify_all, wait_for, cancellation.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{run_guarded, settle};
use evloop::sync::{Condition, Lock};
use evloop::{create_task, Task};

/// `n` tasks that each wait once on `cond` and then log their index.
fn waiters(n: u32, cond: &Rc<Condition>, log: &Rc<RefCell<Vec<u32>>>) -> Vec<Task<()>> {
    (0..n)
        .map(|i| {
            let (cond, log) = (cond.clone(), log.clone());
            create_task(async move {
                let guard = cond.lock().await;
                let _guard = cond.wait(guard).await;
                log.borrow_mut().push(i);
            })
        })
        .collect()
}

#[test]
fn notify_one_wakes_one_waiter_at_a_time_in_fifo_order() {
    run_guarded(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks = waiters(3, &cond, &log);
        settle().await;
        assert!(!cond.locked(), "waiting releases the lock");
        for expected in [vec![0], vec![0, 1], vec![0, 1, 2]] {
            {
                let _g = cond.lock().await;
                cond.notify(1);
            }
            settle().await;
            assert_eq!(*log.borrow(), expected);
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn notify_n_wakes_n() {
    run_guarded(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let _tasks = waiters(4, &cond, &log);
        settle().await;
        {
            let _g = cond.lock().await;
            cond.notify(2);
        }
        settle().await;
        assert_eq!(*log.borrow(), [0, 1]);
    });
}

#[test]
fn notify_all_wakes_all_waiters() {
    run_guarded(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks = waiters(4, &cond, &log);
        settle().await;
        {
            let _g = cond.lock().await;
            cond.notify_all();
            settle().await;
            assert!(log.borrow().is_empty(), "woken waiters still need the lock");
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.borrow(), [0, 1, 2, 3]);
    });
}

#[test]
fn wait_for_returns_once_the_predicate_holds() {
    run_guarded(async {
        let cond = Rc::new(Condition::new());
        let value = Rc::new(Cell::new(0));
        let checks = Rc::new(Cell::new(0));
        let waiter = {
            let (cond, value, checks) = (cond.clone(), value.clone(), checks.clone());
            create_task(async move {
                let guard = cond.lock().await;
                let guard = cond
                    .wait_for(guard, || {
                        checks.set(checks.get() + 1);
                        value.get() >= 3
                    })
                    .await;
                assert!(guard.lock().locked());
                value.get()
            })
        };
        for _ in 0..5 {
            settle().await;
            let _g = cond.lock().await;
            value.set(value.get() + 1);
            cond.notify_all();
        }
        assert_eq!(waiter.await.unwrap(), 3);
        assert_eq!(checks.get(), 4, "checked first and after each of three wake-ups");
    });
}

#[test]
fn wait_for_with_true_predicate_does_not_wait() {
    run_guarded(async {
        let cond = Condition::new();
        let guard = cond.lock().await;
        let _guard = cond.wait_for(guard, || true).await;
        assert!(cond.locked());
    });
}

#[test]
fn cancelled_notified_waiter_passes_the_notification_on() {
    run_guarded(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = waiters(2, &cond, &log);
        settle().await;
        let guard = cond.lock().await;
        cond.notify(1); // goes to waiter 0...
        tasks[0].cancel(); // ...which is cancelled before it can act on it
        drop(guard);
        settle().await;
        assert_eq!(*log.borrow(), [1], "waiter 1 got the notification instead");
        assert!(tasks.remove(0).await.unwrap_err().is_cancelled());
    });
}

#[test]
fn cancelled_waiting_waiter_is_skipped() {
    run_guarded(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks = waiters(3, &cond, &log);
        settle().await;
        tasks[0].cancel();
        settle().await;
        {
            let _g = cond.lock().await;
            cond.notify(1);
        }
        settle().await;
        assert_eq!(*log.borrow(), [1]);
    });
}

#[test]
fn conditions_can_share_a_lock() {
    // A bounded buffer with asyncio's two-condition pattern.
    run_guarded(async {
        let lock = Rc::new(Lock::new());
        let not_empty = Rc::new(Condition::with_lock(lock.clone()));
        let not_full = Rc::new(Condition::with_lock(lock.clone()));
        let buf = Rc::new(RefCell::new(Vec::new()));
        let producer = {
            let (not_empty, not_full, buf) = (not_empty.clone(), not_full.clone(), buf.clone());
            create_task(async move {
                for i in 0..10 {
                    let guard = not_full.lock().await;
                    let _guard = not_full.wait_for(guard, || buf.borrow().len() < 2).await;
                    buf.borrow_mut().push(i);
                    not_empty.notify(1);
                }
            })
        };
        let mut got = Vec::new();
        while got.len() < 10 {
            let guard = not_empty.lock().await;
            let _guard = not_empty.wait_for(guard, || !buf.borrow().is_empty()).await;
            got.push(buf.borrow_mut().remove(0));
            not_full.notify(1);
        }
        producer.await.unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    });
}

#[test]
#[should_panic(expected = "without holding the lock")]
fn notify_without_the_lock_panics() {
    Condition::new().notify(1);
}

#[test]
#[should_panic(expected = "guard of another Lock")]
fn wait_with_a_foreign_guard_panics() {
    let cond = Condition::new();
    let other = Lock::new();
    let guard = other.try_lock().unwrap();
    drop(cond.wait(guard));
}
