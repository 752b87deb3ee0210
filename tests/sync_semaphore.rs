//! `evloop::sync::Semaphore`: bounded concurrency, FIFO hand-off, cancellation.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use common::{run_guarded, settle};
use evloop::sync::Semaphore;
use evloop::{create_task, sleep, EventLoop};

#[test]
fn semaphore_limits_concurrency_to_n() {
    let mut lp = EventLoop::builder().manual_clock().build().unwrap();
    let start = lp.time();
    let max = lp
        .run_until_complete(async {
            let sem = Rc::new(Semaphore::new(3));
            let now = Rc::new(Cell::new(0));
            let max = Rc::new(Cell::new(0));
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
                    create_task(async move {
                        let _permit = sem.acquire().await;
                        now.set(now.get() + 1);
                        max.set(max.get().max(now.get()));
                        sleep(Duration::from_millis(10)).await;
                        now.set(now.get() - 1);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(sem.available_permits(), 3);
            max.get()
        })
        .unwrap();
    assert_eq!(max, 3);
    // 10 jobs, 3 at a time, 10 ms each: four rounds.
    assert_eq!(lp.time() - start, Duration::from_millis(40));
}

#[test]
fn semaphore_waiters_are_served_in_fifo_order() {
    run_guarded(async {
        let sem = Rc::new(Semaphore::new(1));
        let log = Rc::new(RefCell::new(Vec::new()));
        let held = sem.acquire().await;
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (sem, log) = (sem.clone(), log.clone());
                create_task(async move {
                    let _p = sem.acquire().await;
                    log.borrow_mut().push(i);
                    evloop::yield_now().await;
                })
            })
            .collect();
        settle().await;
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn try_acquire_does_not_steal_a_handed_off_permit() {
    run_guarded(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let s = sem.clone();
        let waiter = create_task(async move {
            let _p = s.acquire().await;
        });
        settle().await;
        drop(held);
        assert_eq!(sem.available_permits(), 0, "the permit went to the waiter");
        assert!(sem.try_acquire().is_none());
        waiter.await.unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn cancelled_waiter_does_not_lose_a_permit() {
    run_guarded(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await;
        let got = Rc::new(RefCell::new(Vec::new()));
        let spawn = |i: u32| {
            let (sem, got) = (sem.clone(), got.clone());
            create_task(async move {
                let _p = sem.acquire().await;
                got.borrow_mut().push(i);
            })
        };
        let (a, b, c) = (spawn(0), spawn(1), spawn(2));
        settle().await;
        b.cancel(); // cancelled while still waiting
        settle().await;
        drop(held); // hands the permit to `a`...
        a.cancel(); // ...which is dropped before it runs: `c` must get it
        c.await.unwrap();
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(b.await.unwrap_err().is_cancelled());
        assert_eq!(*got.borrow(), [2]);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn acquire_future_dropped_after_hand_off_releases_its_permit() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let waker = futures_task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut first = Box::pin(sem.acquire());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    drop(held);
    assert_eq!(sem.available_permits(), 0);
    drop(first);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn add_permits_serves_waiters_first_then_counts() {
    run_guarded(async {
        let sem = Rc::new(Semaphore::new(0));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                create_task(async move { sem.acquire().await.forget() })
            })
            .collect();
        settle().await;
        assert!(sem.locked());
        sem.add_permits(5);
        assert_eq!(sem.available_permits(), 3);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(sem.available_permits(), 3);
        sem.release();
        assert_eq!(
            sem.available_permits(),
            4,
            "release may exceed the initial count, as in asyncio"
        );
    });
}

#[test]
fn permit_drop_and_forget() {
    let sem = Semaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_none());
    drop(a);
    assert_eq!(sem.available_permits(), 1);
    b.forget();
    assert_eq!(sem.available_permits(), 1);
    assert!(format!("{sem:?}").contains("permits: 1"));
}
