//! Task wakers: a stale waker never reaches the task now in its slot, and a
//! task already queued is not queued twice.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use common::{count_polls, StashWaker};
use evloop::EventLoop;

type Stash = Rc<RefCell<Option<Waker>>>;

fn stash() -> Stash {
    Rc::new(RefCell::new(None))
}

fn wake(stash: &Stash) {
    stash.borrow().as_ref().expect("a waker was stashed").wake_by_ref();
}

#[test]
fn waker_stale_does_not_wake_the_task_now_in_its_slot() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();

    // Task A finishes at once; we keep a clone of its waker.
    let a_waker = stash();
    let a = h.create_task({
        let s = a_waker.clone();
        std::future::poll_fn(move |cx| {
            *s.borrow_mut() = Some(cx.waker().clone());
            std::task::Poll::Ready(())
        })
    });
    lp.run_until_complete(a).unwrap().unwrap(); // A is done and its slot freed

    // Task B takes the freed slot and parks without arranging a wake.
    let b_waker = stash();
    let (b, b_polls) = count_polls(StashWaker(b_waker.clone()));
    let _b = h.create_task(b);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(b_polls.get(), 1);

    // Stale wake from outside the running loop (the remote path).
    wake(&a_waker);
    for _ in 0..3 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(b_polls.get(), 1, "A's stale waker polled B (remote path)");

    // Stale wake from inside the running loop (the local path).
    let s = a_waker.clone();
    h.call_soon(move || wake(&s));
    for _ in 0..3 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(b_polls.get(), 1, "A's stale waker polled B (local path)");

    // Control: B's own waker does reach B.
    wake(&b_waker);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(b_polls.get(), 2);
}

#[test]
fn waker_stale_after_cancel_does_not_wake_a_new_task() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let a_waker = stash();
    let a = h.create_task(StashWaker(a_waker.clone()));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(a.cancel());
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(a.cancelled());
    drop(a); // frees the slot

    let (b, b_polls) = count_polls(StashWaker(stash()));
    let _b = h.create_task(b);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    wake(&a_waker);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(b_polls.get(), 1);
}

#[test]
fn wake_many_times_in_one_tick_polls_once_remote_path() {
    let mut lp = EventLoop::new().unwrap();
    let w = stash();
    let (fut, polls) = count_polls(StashWaker(w.clone()));
    let _task = lp.handle().create_task(fut);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 1);
    // The loop is not running, so these go through the remote queue.
    for _ in 0..100 {
        wake(&w);
    }
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 2);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 2, "duplicate wakes queued the task again");
}

#[test]
fn wake_many_times_in_one_tick_polls_once_local_path() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let w = stash();
    let (fut, polls) = count_polls(StashWaker(w.clone()));
    let _task = h.create_task(fut);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let w2 = w.clone();
    h.call_soon(move || {
        for _ in 0..100 {
            wake(&w2);
            // The by-value path too.
            let owned = w2.borrow().as_ref().unwrap().clone();
            owned.wake();
        }
    });
    lp.run_once(Some(Duration::ZERO)).unwrap(); // runs the callback; the task is queued
    assert_eq!(polls.get(), 1);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 2);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 2, "duplicate wakes queued the task again");
}

#[test]
fn wake_during_own_poll_polls_once_next_tick() {
    let mut lp = EventLoop::new().unwrap();
    let (fut, polls) = count_polls(std::future::poll_fn(|cx| {
        for _ in 0..10 {
            cx.waker().wake_by_ref();
        }
        std::task::Poll::<()>::Pending
    }));
    let _task = lp.handle().create_task(fut);
    for tick in 1..=5 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
        assert_eq!(polls.get(), tick, "one poll per tick");
    }
}
