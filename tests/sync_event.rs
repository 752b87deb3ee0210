//! `evloop::sync::Event`: asyncio's `Event` semantics.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{run_guarded, settle};
use evloop::create_task;
use evloop::sync::Event;

#[test]
fn set_wakes_all_waiters_in_fifo_order() {
    run_guarded(async {
        let ev = Rc::new(Event::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (ev, log) = (ev.clone(), log.clone());
                create_task(async move {
                    ev.wait().await;
                    log.borrow_mut().push(i);
                })
            })
            .collect();
        settle().await;
        assert!(log.borrow().is_empty(), "nobody wakes before set");
        ev.set();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.borrow(), [0, 1, 2, 3]);
    });
}

#[test]
fn wait_on_set_event_completes_at_once() {
    run_guarded(async {
        let ev = Event::new();
        ev.set();
        ev.wait().await;
        ev.wait().await;
        assert!(ev.is_set());
    });
}

#[test]
fn clear_blocks_later_waiters() {
    run_guarded(async {
        let ev = Rc::new(Event::new());
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        let e = ev.clone();
        let waiter = create_task(async move { e.wait().await });
        settle().await;
        assert!(!waiter.done());
        ev.set();
        waiter.await.unwrap();
    });
}

#[test]
fn set_then_clear_still_wakes_notified_waiters() {
    // asyncio resolves each waiter's future in set(); a clear() before the
    // waiter runs does not take the wake-up back.
    run_guarded(async {
        let ev = Rc::new(Event::new());
        let e = ev.clone();
        let waiter = create_task(async move { e.wait().await });
        settle().await;
        ev.set();
        ev.clear();
        waiter.await.unwrap();
        assert!(!ev.is_set());
    });
}

#[test]
fn set_twice_is_harmless() {
    run_guarded(async {
        let ev = Event::new();
        ev.set();
        ev.set();
        assert!(ev.is_set());
    });
}

#[test]
fn cancelled_waiter_leaves_the_others_unharmed() {
    run_guarded(async {
        let ev = Rc::new(Event::new());
        let spawn = |ev: Rc<Event>| create_task(async move { ev.wait().await });
        let a = spawn(ev.clone());
        let b = spawn(ev.clone());
        let c = spawn(ev.clone());
        settle().await;
        b.cancel();
        settle().await;
        ev.set();
        a.await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        c.await.unwrap();
    });
}

#[test]
fn wait_future_dropped_before_poll_is_harmless() {
    let ev = Event::new();
    drop(ev.wait());
    ev.set();
    assert!(format!("{ev:?}").contains("set: true"));
}
