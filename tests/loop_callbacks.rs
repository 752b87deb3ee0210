//! Callbacks: `call_soon` (FIFO, shared with tasks), `call_later` / `call_at`
//! (deadline order, ties in insertion order), cancellation, and panics.

mod common;

use std::time::Duration;

use common::{loop_with_reports, manual_loop, DropGuard, Trace};
use evloop::EventLoop;

#[test]
fn call_soon_runs_callbacks_in_fifo_order() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let trace = Trace::new();
    for i in 0..10 {
        let t = trace.clone();
        h.call_soon(move || t.push(format!("cb {i}")));
    }
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let expected: Vec<String> = (0..10).map(|i| format!("cb {i}")).collect();
    assert_eq!(trace.events(), expected);
}

#[test]
fn call_soon_from_a_callback_runs_on_the_next_tick() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let trace = Trace::new();
    let (t, h2) = (trace.clone(), h.clone());
    h.call_soon(move || {
        t.push("outer");
        let t2 = t.clone();
        h2.call_soon(move || t2.push("inner"));
    });
    let t = trace.clone();
    h.call_soon(move || t.push("second"));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["outer", "second"]);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["outer", "second", "inner"]);
}

#[test]
fn create_task_starts_tasks_in_creation_order_interleaved_with_callbacks() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let trace = Trace::new();
    let mut tasks = Vec::new();
    for i in 0..3 {
        let t = trace.clone();
        tasks.push(h.create_task(async move { t.push(format!("task {i}")) }));
        let t = trace.clone();
        h.call_soon(move || t.push(format!("cb {i}")));
    }
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["task 0", "cb 0", "task 1", "cb 1", "task 2", "cb 2"]);
    assert!(tasks.iter().all(|t| t.done()));
}

#[test]
fn call_later_fires_in_deadline_order_at_the_exact_deadline() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let trace = Trace::new();
    // Spread across several wheel levels, scheduled out of order.
    let delays_ms = [5_000u64, 3, 70, 300_000, 1, 4_096, 64, 20_000_000, 262_144];
    for ms in delays_ms {
        let (t, h2) = (trace.clone(), h.clone());
        h.call_later(Duration::from_millis(ms), move || {
            let at = (h2.time() - start).as_millis();
            t.push(format!("{ms}ms@{at}"));
        });
    }
    lp.run_until_complete(evloop::sleep(Duration::from_millis(30_000_000)))
        .unwrap();
    let mut sorted = delays_ms;
    sorted.sort();
    let expected: Vec<String> = sorted.iter().map(|ms| format!("{ms}ms@{ms}")).collect();
    assert_eq!(trace.events(), expected);
}

#[test]
fn call_at_equal_deadlines_fire_in_insertion_order() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let at = lp.time() + Duration::from_millis(250);
    let later = lp.time() + Duration::from_millis(500);
    for i in 0..5 {
        let t = trace.clone();
        h.call_at(later, move || t.push(format!("later {i}")));
        let t = trace.clone();
        h.call_at(at, move || t.push(format!("at {i}")));
    }
    // Same deadline as `at`, but through call_later: still insertion order.
    let t = trace.clone();
    h.call_later(Duration::from_millis(250), move || t.push("at via call_later"));
    lp.run_until_complete(evloop::sleep(Duration::from_secs(1))).unwrap();
    assert_eq!(
        trace.events(),
        [
            "at 0",
            "at 1",
            "at 2",
            "at 3",
            "at 4",
            "at via call_later",
            "later 0",
            "later 1",
            "later 2",
            "later 3",
            "later 4"
        ]
    );
}

#[test]
fn call_later_runs_after_call_soon_even_with_zero_delay() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let t = trace.clone();
    h.call_later(Duration::ZERO, move || t.push("later(0)"));
    let t = trace.clone();
    h.call_soon(move || t.push("soon"));
    lp.run_until_complete(evloop::sleep(Duration::from_millis(5))).unwrap();
    assert_eq!(trace.events(), ["soon", "later(0)"]);
}

#[test]
fn cancel_call_later_never_runs_and_drops_the_closure_at_once() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "closure");
    let t = trace.clone();
    let cb = h.call_later(Duration::from_secs(1), move || {
        let _g = g;
        t.push("ran");
    });
    let t = trace.clone();
    let kept = h.call_later(Duration::from_secs(1), move || t.push("kept ran"));
    assert!(!cb.cancelled());
    cb.cancel();
    assert!(cb.cancelled());
    assert_eq!(trace.events(), ["drop closure"], "closure not dropped by cancel()");
    lp.run_until_complete(evloop::sleep(Duration::from_secs(2))).unwrap();
    assert_eq!(trace.events(), ["drop closure", "kept ran"]);
    assert!(!kept.cancelled());
    cb.cancel(); // twice is harmless
    kept.cancel(); // after it ran: harmless
}

#[test]
fn cancel_call_soon_never_runs() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "closure");
    let t = trace.clone();
    let cb = h.call_soon(move || {
        let _g = g;
        t.push("ran");
    });
    cb.cancel();
    assert_eq!(trace.events(), ["drop closure"]);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["drop closure"]);
}

#[test]
fn cancel_call_later_from_an_earlier_callback_prevents_it() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let t = trace.clone();
    let victim = h.call_later(Duration::from_secs(2), move || t.push("victim"));
    let t = trace.clone();
    h.call_later(Duration::from_secs(1), move || {
        victim.cancel();
        t.push("canceller");
    });
    lp.run_until_complete(evloop::sleep(Duration::from_secs(3))).unwrap();
    assert_eq!(trace.events(), ["canceller"]);
}

#[test]
fn call_soon_panic_goes_to_exception_handler_and_loop_lives_on() {
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    let trace = Trace::new();
    h.call_soon(|| panic!("callback boom"));
    let t = trace.clone();
    h.call_soon(move || t.push("next callback"));
    let t = trace.clone();
    h.call_later(Duration::from_secs(1), move || panic!("timer boom {}", t.len()));
    let out = lp
        .run_until_complete(async {
            evloop::sleep(Duration::from_secs(2)).await;
            "survived"
        })
        .unwrap();
    assert_eq!(out, "survived");
    assert_eq!(trace.events(), ["next callback"]);
    assert_eq!(
        reports.events(),
        [
            ("Exception in callback".to_owned(), Some("callback boom".to_owned())),
            ("Exception in callback".to_owned(), Some("timer boom 1".to_owned())),
        ]
    );
}

#[test]
fn call_soon_on_a_closed_loop_is_cancelled_and_dropped() {
    let mut lp = manual_loop();
    let h = lp.handle();
    lp.close().unwrap();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "soon");
    let soon = h.call_soon(move || drop(g));
    let g = DropGuard::new(&trace, "later");
    let later = h.call_later(Duration::from_secs(1), move || drop(g));
    assert!(soon.cancelled());
    assert!(later.cancelled());
    assert_eq!(trace.events(), ["drop soon", "drop later"]);
}

#[test]
fn call_soon_threadsafe_on_the_loop_thread_keeps_fifo_with_call_soon() {
    use std::sync::{Arc, Mutex};

    // asyncio keeps both in one FIFO: A, then B, then C, in call order.
    let mut lp = manual_loop();
    let h = lp.handle();
    let ts = h.threadsafe();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b, c) = (log.clone(), log.clone(), log.clone());
    h.call_soon(move || a.lock().unwrap().push("A call_soon"));
    ts.call_soon_threadsafe(move || b.lock().unwrap().push("B call_soon_threadsafe"))
        .unwrap();
    h.call_soon(move || c.lock().unwrap().push("C call_soon"));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["A call_soon", "B call_soon_threadsafe", "C call_soon"]
    );
}

#[test]
fn call_soon_threadsafe_from_a_finished_thread_runs_before_later_call_soon() {
    use std::sync::{Arc, Mutex};

    let mut lp = manual_loop();
    let h = lp.handle();
    let ts = h.threadsafe();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    std::thread::spawn(move || {
        ts.call_soon_threadsafe(move || l.lock().unwrap().push("from the thread"))
            .unwrap()
    })
    .join()
    .unwrap();
    let l = log.clone();
    h.call_soon(move || l.lock().unwrap().push("call_soon"));
    let l = log.clone();
    let task = h.create_task(async move { l.lock().unwrap().push("create_task") });
    lp.run_until_complete(task).unwrap().unwrap();
    assert_eq!(*log.lock().unwrap(), ["from the thread", "call_soon", "create_task"]);
}
