//! Misuse gets a clear error or panic message, never a hang.

mod common;

use std::panic::catch_unwind;
use std::time::Duration;

use common::{manual_loop, panic_text};
use evloop::{EventLoop, RunError};

#[test]
fn run_until_complete_inside_a_running_loop_is_already_running() {
    let mut lp = EventLoop::new().unwrap();
    let (a, b, c) = lp
        .run_until_complete(async {
            let mut inner = EventLoop::new().unwrap();
            let a = inner.run_until_complete(async { 1 });
            let b = inner.run_forever();
            let c = inner.run_once(Some(Duration::ZERO));
            (a, b, c)
        })
        .unwrap();
    assert_eq!(a, Err(RunError::AlreadyRunning));
    assert_eq!(b, Err(RunError::AlreadyRunning));
    assert_eq!(c, Err(RunError::AlreadyRunning));
    // The outer loop is still this thread's running loop afterwards.
    let still = lp
        .run_until_complete(async {
            let mut inner = EventLoop::new().unwrap();
            let _ = inner.run_until_complete(async {});
            evloop::yield_now().await;
            evloop::get_running_loop().is_running()
        })
        .unwrap();
    assert!(still);
}

#[test]
fn run_until_complete_inside_a_task_is_already_running() {
    let mut lp = EventLoop::new().unwrap();
    let task = lp.handle().create_task(async {
        let mut inner = EventLoop::new().unwrap();
        inner.run_until_complete(async { 1 })
    });
    assert_eq!(
        lp.run_until_complete(task).unwrap().unwrap(),
        Err(RunError::AlreadyRunning)
    );
}

#[test]
fn run_on_a_closed_loop_is_closed() {
    let mut lp = EventLoop::new().unwrap();
    lp.close().unwrap();
    assert_eq!(lp.run_until_complete(async { 1 }), Err(RunError::Closed));
    assert_eq!(lp.run_forever(), Err(RunError::Closed));
    assert_eq!(lp.run_once(Some(Duration::ZERO)), Err(RunError::Closed));
    assert_eq!(lp.run_once(None), Err(RunError::Closed), "a closed loop must not block");
}

#[test]
fn run_until_complete_stopped_before_the_future_finished_is_stopped() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let stopper = h.clone();
    h.call_later(Duration::from_secs(1), move || stopper.stop());
    let res = lp.run_until_complete(evloop::sleep(Duration::from_secs(10)));
    assert_eq!(res, Err(RunError::Stopped));
    // The stop was consumed; the loop runs normally afterwards.
    assert_eq!(lp.run_until_complete(async { 3 }).unwrap(), 3);
}

#[test]
fn run_until_complete_after_stop_is_stopped_after_one_tick() {
    let mut lp = EventLoop::new().unwrap();
    let polls = std::rc::Rc::new(std::cell::Cell::new(0));
    let p = polls.clone();
    lp.handle().stop();
    let res = lp.run_until_complete(async move {
        p.set(p.get() + 1);
        evloop::yield_now().await;
        p.set(p.get() + 1);
    });
    assert_eq!(res, Err(RunError::Stopped));
    assert_eq!(polls.get(), 1, "exactly one tick ran");
}

#[test]
fn close_while_running_is_running() {
    let mut lp = EventLoop::new().unwrap();
    let res = lp
        .run_until_complete(async { evloop::get_running_loop().close() })
        .unwrap();
    assert_eq!(res, Err(RunError::Running));
    assert!(!lp.is_closed());
    lp.close().unwrap();
    assert!(lp.is_closed());
}

#[test]
fn run_inside_a_running_loop_panics_with_a_reason() {
    let mut lp = EventLoop::new().unwrap();
    let msg = lp
        .run_until_complete(async {
            let caught = catch_unwind(|| evloop::run(async { 1 })).unwrap_err();
            panic_text(caught.as_ref())
        })
        .unwrap();
    assert!(msg.contains("evloop::run()"), "{msg}");
    assert!(msg.contains("running event loop"), "{msg}");
}

#[test]
fn run_outside_a_loop_returns_the_output_and_cancels_leftovers() {
    let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
    struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let f = Flag(dropped.clone());
    let out = evloop::run(async move {
        drop(evloop::create_task(async move {
            let _f = f;
            std::future::pending::<()>().await;
        }));
        evloop::yield_now().await;
        "out"
    });
    assert_eq!(out, "out");
    assert!(dropped.get(), "leftover task not cancelled by run()");
    assert!(evloop::try_get_running_loop().is_none());
}

#[test]
fn get_running_loop_outside_a_loop_panics_with_a_clear_message() {
    let caught = catch_unwind(evloop::get_running_loop).unwrap_err();
    let msg = panic_text(caught.as_ref());
    assert!(msg.contains("no evloop event loop is running"), "{msg}");
}

#[test]
fn try_get_running_loop_is_none_outside_and_some_inside() {
    assert!(evloop::try_get_running_loop().is_none());
    let mut lp = EventLoop::new().unwrap();
    let inside = lp
        .run_until_complete(async { evloop::try_get_running_loop().is_some() })
        .unwrap();
    assert!(inside);
    assert!(evloop::try_get_running_loop().is_none());
}

#[test]
fn create_task_outside_a_loop_panics() {
    let caught = catch_unwind(|| drop(evloop::create_task(async {}))).unwrap_err();
    assert!(panic_text(caught.as_ref()).contains("no evloop event loop is running"));
}

#[test]
fn run_error_display_names_what_went_wrong() {
    assert!(RunError::AlreadyRunning.to_string().contains("another loop is running"));
    assert!(RunError::Closed.to_string().contains("closed"));
    assert!(RunError::Stopped
        .to_string()
        .contains("stopped before the future completed"));
    assert!(RunError::Running
        .to_string()
        .contains("cannot close a running event loop"));
}

#[test]
fn run_until_complete_consumes_a_stop_from_its_final_tick() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let h2 = h.clone();
    // Stop requested in the very tick the future completes: the run succeeds...
    assert_eq!(
        lp.run_until_complete(async move {
            h2.stop();
            1
        }),
        Ok(1)
    );
    // ...and the request ends with that run (as asyncio resets `_stopping`).
    assert_eq!(lp.run_until_complete(evloop::sleep(Duration::from_secs(1))), Ok(()));
    // Likewise a stop made before a run whose future completes in its first tick.
    h.stop();
    assert_eq!(lp.run_until_complete(async { 2 }), Ok(2));
    assert_eq!(lp.run_until_complete(evloop::sleep(Duration::from_secs(1))), Ok(()));
}
