//! Fault injection: panics in the places a loop cannot avoid running user
//! code — destructors while the loop closes, callbacks, timers, remote
//! callbacks, the main future, and the exception handler itself.
//!
//! The rule these pin: a panic in user code is caught and handed to the
//! exception handler, and the loop lives on; cleanup carries on past it.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use evloop::{EventLoop, RunError};

mod common;
use common::{loop_with_reports, panic_text, DropCounter, DropGuard, Trace};

/// Panics with `msg` when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

#[test]
fn close_with_a_future_that_panics_in_drop_reports_it_and_drops_the_rest() {
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    let trace = Trace::new();
    let drops = DropCounter::new();
    for i in 0..10 {
        let guard = DropGuard::new(&trace, format!("task {i}"));
        let counted = drops.guard();
        let bomb = (i % 3 == 1).then(|| PanicOnDrop("boom in drop at close"));
        drop(h.create_task(async move {
            let _g = (guard, counted, bomb);
            std::future::pending::<()>().await;
        }));
    }
    lp.run_once(Some(Duration::ZERO)).unwrap();
    lp.close().unwrap();
    assert_eq!(drops.count(), 10, "every task's future was dropped, bombs or not");
    assert_eq!(trace.len(), 10);
    let reports = reports.events();
    assert_eq!(reports.len(), 3, "{reports:?}");
    for (msg, payload) in reports {
        assert_eq!(msg, "exception while dropping a task at close");
        assert_eq!(payload.as_deref(), Some("boom in drop at close"));
    }
    assert!(lp.is_closed());
}

/// Queues six callbacks (three `call_soon`, three `call_later`) and one
/// remote callback, the closures at `bombs` panicking when dropped, then
/// closes the loop unrun; returns (closures dropped, reports).
fn close_with_panicking_closures(bombs: &[usize]) -> (usize, Vec<(String, Option<String>)>) {
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    let drops = DropCounter::new();
    for i in 0..6 {
        let counted = drops.guard();
        let bomb = bombs.contains(&i).then(|| PanicOnDrop("boom in a closure's drop"));
        if i < 3 {
            drop(h.call_soon(move || drop((counted, bomb))));
        } else {
            drop(h.call_later(Duration::from_secs(60), move || drop((counted, bomb))));
        }
    }
    let remote = std::sync::Arc::new(());
    let remote_held = remote.clone();
    h.threadsafe().call_soon_threadsafe(move || drop(remote_held)).unwrap();
    // Closing unrun: the closures are dropped, not called.
    lp.close().unwrap();
    assert_eq!(
        std::sync::Arc::strong_count(&remote),
        1,
        "the remote closure was dropped"
    );
    (drops.count(), reports.events())
}

#[test]
fn close_with_a_panicking_callback_closure_reports_it_and_drops_the_rest() {
    for bomb in [0, 4] {
        let (dropped, reports) = close_with_panicking_closures(&[bomb]);
        assert_eq!(dropped, 6, "every closure was dropped");
        assert_eq!(
            reports,
            [(
                "exception while dropping a callback at close".to_owned(),
                Some("boom in a closure's drop".to_owned())
            )]
        );
    }
}

/// Was a bug: `Core::close` dropped all leftover closures (queue, timers,
/// remote) inside one `catch_unwind`, so after the first panicking destructor
/// the rest were dropped while unwinding, a second one double-panicked and the
/// process aborted. Each closure now has its own guard.
#[test]
fn close_with_two_panicking_callback_closures_reports_both() {
    let (dropped, reports) = close_with_panicking_closures(&[1, 4]);
    assert_eq!(dropped, 6, "every closure was dropped");
    assert_eq!(reports.len(), 2, "{reports:?}");
}

#[test]
fn panicking_callbacks_of_every_kind_are_reported_and_the_loop_lives_on() {
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    let ran = Rc::new(Cell::new(0));
    h.call_soon(|| panic!("call_soon boom"));
    h.call_later(Duration::from_millis(5), || panic!("call_later boom"));
    h.threadsafe()
        .call_soon_threadsafe(|| panic!("threadsafe boom"))
        .unwrap();
    for delay in [0, 1, 10] {
        let ran = ran.clone();
        h.call_later(Duration::from_millis(delay), move || ran.set(ran.get() + 1));
    }
    let out = lp
        .run_until_complete(async {
            evloop::sleep(Duration::from_millis(20)).await;
            7
        })
        .unwrap();
    assert_eq!(out, 7);
    assert_eq!(ran.get(), 3, "callbacks after the panicking ones still ran");
    let mut got: Vec<_> = reports.events().into_iter().map(|(m, p)| (m, p.unwrap())).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("Exception in callback".to_owned(), "call_later boom".to_owned()),
            ("Exception in callback".to_owned(), "call_soon boom".to_owned()),
            ("Exception in callback".to_owned(), "threadsafe boom".to_owned()),
        ]
    );
}

#[test]
fn task_that_panics_and_then_panics_again_in_drop_is_reported_once_each() {
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    // A hand-written future: its fields are not dropped while the poll
    // unwinds (that would be a double panic, an abort), only afterwards,
    // when the loop drops the future.
    struct PanicsTwice(#[allow(dead_code)] PanicOnDrop);
    impl std::future::Future for PanicsTwice {
        type Output = ();
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            panic!("first boom, in poll");
        }
    }
    let task = h.create_task(PanicsTwice(PanicOnDrop("second boom, in drop")));
    let err = lp.run_until_complete(task).unwrap().unwrap_err();
    assert_eq!(err.panic_message(), Some("first boom, in poll"));
    assert_eq!(
        reports.events(),
        [(
            "exception while dropping a panicked task".to_owned(),
            Some("second boom, in drop".to_owned())
        )]
    );
    // The loop is fine.
    assert_eq!(lp.run_until_complete(async { 1 }).unwrap(), 1);
}

#[test]
fn detached_output_that_panics_in_drop_is_reported() {
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    drop(h.create_task(async move {
        flag.set(true);
        PanicOnDrop("boom dropping an unclaimed output")
    }));
    lp.run_until_complete(async {
        while !done.get() {
            evloop::yield_now().await;
        }
        evloop::yield_now().await;
    })
    .unwrap();
    let reports = reports.events();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].1.as_deref(), Some("boom dropping an unclaimed output"));
}

#[test]
fn panic_in_the_main_future_leaves_the_loop_usable() {
    let mut lp = EventLoop::builder().manual_clock().build().unwrap();
    let h = lp.handle();
    let bystander = h.create_task(async {
        evloop::sleep(Duration::from_millis(50)).await;
        "bystander"
    });
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        lp.run_until_complete(async {
            evloop::sleep(Duration::from_millis(10)).await;
            panic!("main boom");
        })
    }))
    .unwrap_err();
    assert_eq!(panic_text(&*caught), "main boom");
    assert!(!lp.is_running(), "the loop still thinks it is running");
    assert!(
        evloop::try_get_running_loop().is_none(),
        "the running-loop context leaked"
    );
    // Not `AlreadyRunning`: the nested-run guard was released on unwind.
    assert_eq!(lp.run_until_complete(bystander).unwrap().unwrap(), "bystander");
}

/// Observed behaviour, pinned so a change is noticed: a panic in the
/// exception handler itself is not caught (there is nobody left to report
/// it to); it propagates out of the `run_*` call, like a panic of the main
/// future, and the loop can be run again afterwards.
#[test]
fn panic_in_the_exception_handler_propagates_out_of_run_and_the_loop_survives() {
    let mut lp = EventLoop::builder()
        .manual_clock()
        .exception_handler(|ctx| panic!("handler boom: {}", ctx.message))
        .build()
        .unwrap();
    let h = lp.handle();
    let later = Rc::new(Cell::new(false));
    h.call_soon(|| panic!("callback boom"));
    let flag = later.clone();
    h.call_soon(move || flag.set(true));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| lp.run_until_complete(evloop::yield_now())))
        .expect_err("the handler's panic propagates");
    assert_eq!(panic_text(&*caught), "handler boom: Exception in callback");
    assert!(!lp.is_running());
    // The rest of the queue was left in place and runs on the next run.
    assert_eq!(lp.run_until_complete(async { 3 }), Ok(3));
    assert!(later.get(), "the callback queued behind the panicking one was lost");
    lp.close().unwrap();
    assert_eq!(lp.run_until_complete(async {}), Err(RunError::Closed));
}
