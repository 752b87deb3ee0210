//! Running a loop: `run_until_complete`, `run_forever`/`stop`, `run_once`,
//! `is_running`, `is_closed`, `close`, dropping a loop, and its raw fd.

mod common;

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use common::{count_polls, manual_loop, DropGuard, StashWaker, Trace};
use evloop::{yield_now, EventLoop, TaskError};

#[test]
fn run_until_complete_returns_the_value() {
    let mut lp = EventLoop::new().unwrap();
    assert_eq!(lp.run_until_complete(async { 6 * 7 }).unwrap(), 42);
    let s = lp
        .run_until_complete(async {
            yield_now().await;
            String::from("after a yield")
        })
        .unwrap();
    assert_eq!(s, "after a yield");
}

#[test]
fn run_until_complete_awaits_a_task_handle() {
    let mut lp = manual_loop();
    let task = lp.handle().create_task(async {
        evloop::sleep(Duration::from_secs(1)).await;
        "slept"
    });
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), "slept");
}

#[test]
fn run_until_complete_leaves_pending_tasks_for_the_next_run() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let task = lp.handle().create_task(async move {
        t.push("started");
        evloop::sleep(Duration::from_secs(10)).await;
        t.push("finished");
        7
    });
    lp.run_until_complete(evloop::sleep(Duration::from_secs(1))).unwrap();
    assert_eq!(trace.events(), ["started"]);
    assert!(!task.done());
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), 7);
    assert_eq!(trace.events(), ["started", "finished"]);
}

#[test]
fn run_forever_returns_after_stop() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let t = trace.clone();
    let h2 = h.clone();
    let _task = h.create_task(async move {
        for i in 0..3 {
            t.push(format!("tick {i}"));
            evloop::sleep(Duration::from_secs(1)).await;
        }
        h2.stop();
        t.push("stop requested");
    });
    lp.run_forever().unwrap();
    assert_eq!(trace.events(), ["tick 0", "tick 1", "tick 2", "stop requested"]);
    assert!(!lp.is_running());
}

#[test]
fn run_forever_after_stop_runs_exactly_one_tick() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let trace = Trace::new();
    let (t, h2) = (trace.clone(), h.clone());
    h.call_soon(move || {
        t.push("first tick");
        let t = t.clone();
        // Scheduled during the first tick: runs on the second, which must not happen.
        h2.call_soon(move || t.push("second tick"));
    });
    h.stop();
    lp.run_forever().unwrap();
    assert_eq!(trace.events(), ["first tick"]);
    // The stop was consumed: the next run_forever runs until the next stop.
    let h3 = h.clone();
    h.call_soon(move || h3.stop());
    lp.run_forever().unwrap();
    assert_eq!(trace.events(), ["first tick", "second tick"]);
}

#[test]
fn run_once_runs_exactly_one_tick_without_blocking() {
    let mut lp = EventLoop::new().unwrap();
    let trace = Trace::new();
    let t = trace.clone();
    // Created before the loop runs: starts on the first tick.
    let task = lp.handle().create_task(async move {
        for i in 0..3 {
            t.push(format!("poll {i}"));
            yield_now().await; // resumes on the next tick
        }
        t.push("done");
        "finished"
    });
    let start = std::time::Instant::now();
    let mut ticks = 0;
    while !task.done() {
        lp.run_once(Some(Duration::ZERO)).unwrap();
        ticks += 1;
        assert_eq!(trace.len(), ticks, "each tick polls the task exactly once");
        assert!(ticks <= 10, "task never finished");
    }
    assert_eq!(ticks, 4, "three yields then completion");
    assert_eq!(trace.events(), ["poll 0", "poll 1", "poll 2", "done"]);
    // Nothing is ready now: a zero-timeout tick must still return at once.
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(1), "run_once(Some(ZERO)) blocked");
    let mut task = task;
    assert_eq!(task.result().unwrap().unwrap(), "finished");
}

#[test]
fn run_once_with_a_timeout_waits_at_most_that_long() {
    let mut lp = EventLoop::new().unwrap();
    let start = std::time::Instant::now();
    lp.run_once(Some(Duration::from_millis(30))).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(25), "returned too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "blocked too long: {elapsed:?}");
}

#[test]
fn run_once_polls_a_pending_task_only_when_woken() {
    let mut lp = EventLoop::new().unwrap();
    let stash = Rc::new(std::cell::RefCell::new(None));
    let (fut, polls) = count_polls(StashWaker(stash.clone()));
    let _task = lp.handle().create_task(fut);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 1);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 1, "an unwoken task is not polled again");
    stash.borrow().as_ref().unwrap().wake_by_ref();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(polls.get(), 2);
}

#[test]
fn is_running_is_true_only_inside_the_loop() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    assert!(!lp.is_running());
    assert!(!h.is_running());
    let seen = lp
        .run_until_complete(async {
            let inner = evloop::get_running_loop();
            (inner.is_running(), h.is_running())
        })
        .unwrap();
    assert_eq!(seen, (true, true));
    assert!(!lp.is_running());
    assert!(!h.is_running());
}

#[test]
fn is_closed_after_close_and_close_is_idempotent() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    assert!(!lp.is_closed());
    assert!(!h.is_closed());
    lp.close().unwrap();
    assert!(lp.is_closed());
    assert!(h.is_closed());
    lp.close().unwrap();
    assert!(lp.is_closed());
}

#[test]
fn close_drops_every_task_callback_and_timer() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let token = Rc::new(());

    // A task that has started and is parked on a timer.
    let (g, tok) = (DropGuard::new(&trace, "sleeping task"), token.clone());
    let sleeping = h.create_task(async move {
        let _g = g;
        let _tok = tok;
        evloop::sleep(Duration::from_secs(60)).await;
    });
    // A task parked forever with no timer.
    let (g, tok) = (DropGuard::new(&trace, "parked task"), token.clone());
    let parked = h.create_task(async move {
        let _g = g;
        let _tok = tok;
        std::future::pending::<()>().await;
    });
    // A finished task whose output nobody took.
    let out = DropGuard::new(&trace, "unclaimed output");
    let finished = h.create_task(async move { out });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(finished.done());
    assert!(trace.is_empty(), "nothing dropped yet: {:?}", trace.events());

    // Work scheduled but never run: a task, a callback, a timer, a remote callback.
    let (g, tok) = (DropGuard::new(&trace, "unstarted task"), token.clone());
    let unstarted = h.create_task(async move {
        let _g = g;
        let _tok = tok;
    });
    let (g, tok) = (DropGuard::new(&trace, "call_soon"), token.clone());
    h.call_soon(move || drop((g, tok)));
    let (g, tok) = (DropGuard::new(&trace, "call_later"), token.clone());
    h.call_later(Duration::from_secs(5), move || drop((g, tok)));
    let remote_guard = std::sync::Arc::new(());
    let rg = remote_guard.clone();
    h.threadsafe().call_soon_threadsafe(move || drop(rg)).unwrap();

    lp.close().unwrap();
    let mut dropped = trace.events();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            "drop call_later",
            "drop call_soon",
            "drop parked task",
            "drop sleeping task",
            "drop unclaimed output",
            "drop unstarted task",
        ]
    );
    assert_eq!(Rc::strong_count(&token), 1, "close leaked a capture");
    assert_eq!(std::sync::Arc::strong_count(&remote_guard), 1, "remote callback leaked");
    for task in [&sleeping, &parked, &unstarted] {
        assert!(task.done());
        assert!(task.cancelled());
    }
    let mut finished = finished;
    assert!(matches!(finished.result(), Some(Err(TaskError::Cancelled))));
}

#[test]
fn close_drops_callbacks_whose_handles_are_still_held() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "soon");
    let soon = h.call_soon(move || drop(g));
    let g = DropGuard::new(&trace, "later");
    let later = h.call_later(Duration::from_secs(1), move || drop(g));
    lp.close().unwrap();
    let mut dropped = trace.events();
    dropped.sort();
    assert_eq!(
        dropped,
        ["drop later", "drop soon"],
        "closures outlived the closed loop"
    );
    drop((soon, later));
}

#[test]
fn drop_closes_the_loop_and_runs_destructors() {
    let lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "task");
    let task = h.create_task(async move {
        let _g = g;
        evloop::sleep(Duration::from_secs(1)).await;
    });
    let g = DropGuard::new(&trace, "callback");
    h.call_later(Duration::from_secs(1), move || drop(g));
    drop(lp);
    assert!(h.is_closed(), "a handle outliving the loop sees it closed");
    let mut dropped = trace.events();
    dropped.sort();
    assert_eq!(dropped, ["drop callback", "drop task"]);
    assert!(task.cancelled());
}

#[test]
fn drop_breaks_cycles_through_handles_held_by_tasks() {
    let lp = manual_loop();
    let h = lp.handle();
    let token = Rc::new(());
    let tok = token.clone();
    let inner = h.clone();
    // The task holds a handle to its own loop, and a callback holds another.
    let _task = h.create_task(async move {
        let _tok = tok;
        let _inner = inner;
        std::future::pending::<()>().await;
    });
    let (tok, inner) = (token.clone(), h.clone());
    h.call_later(Duration::from_secs(1), move || drop((tok, inner)));
    drop(h);
    drop(lp);
    assert_eq!(Rc::strong_count(&token), 1, "loop leaked through a cycle");
}

/// Whether `fd` is readable right now, asked the way a host's poller would
/// (a fresh registration reports the fd's current readiness).
fn fd_readable(fd: std::os::fd::RawFd, wait: Duration) -> bool {
    let mut poll = mio::Poll::new().unwrap();
    let mut events = mio::Events::with_capacity(8);
    poll.registry()
        .register(&mut mio::unix::SourceFd(&fd), mio::Token(0), mio::Interest::READABLE)
        .unwrap();
    poll.poll(&mut events, Some(wait)).unwrap();
    events.iter().any(|e| e.token() == mio::Token(0) && e.is_readable())
}

#[test]
#[cfg_attr(miri, ignore = "Miri's epoll cannot watch another epoll fd")]
fn as_raw_fd_is_valid_and_readable_after_a_remote_wake() {
    let mut lp = EventLoop::new().unwrap();
    let fd = lp.as_raw_fd();
    assert!(fd >= 0);
    assert!(!fd_readable(fd, Duration::ZERO), "fd readable before anything happened");

    let remote = lp.handle().threadsafe();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        remote.call_soon_threadsafe(move || tx.send("ran").unwrap()).unwrap();
    });
    // Wait on the loop's fd the way a host would: with a poller of its own.
    assert!(
        fd_readable(fd, Duration::from_secs(5)),
        "loop fd did not become readable after call_soon_threadsafe"
    );
    worker.join().unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(rx.try_recv(), Ok("ran"));
    assert_eq!(lp.next_timeout(), None, "idle loop with no timers has no timeout");
}

#[test]
#[cfg_attr(miri, ignore = "Miri's epoll cannot watch another epoll fd")]
fn as_raw_fd_is_quiet_again_once_run_once_handled_the_wake() {
    let mut lp = EventLoop::new().unwrap();
    let fd = lp.as_raw_fd();
    let remote = lp.handle().threadsafe();
    for round in 0..3 {
        remote.call_soon_threadsafe(|| {}).unwrap();
        assert!(fd_readable(fd, Duration::ZERO), "round {round}: wake not signalled");
        lp.run_once(Some(Duration::ZERO)).unwrap();
        // A host waiting level-triggered on the fd would otherwise spin.
        assert!(
            !fd_readable(fd, Duration::ZERO),
            "round {round}: fd still readable with nothing to do"
        );
    }
}

#[test]
fn next_timeout_reports_ready_work_and_timers() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    assert_eq!(lp.next_timeout(), None);
    h.call_soon(|| {});
    assert_eq!(lp.next_timeout(), Some(Duration::ZERO));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(lp.next_timeout(), None);
    let cb = h.call_later(Duration::from_secs(10), || {});
    let t = lp.next_timeout().expect("a timer is armed");
    assert!(t > Duration::from_secs(5) && t <= Duration::from_secs(10), "{t:?}");
    cb.cancel();
    assert_eq!(lp.next_timeout(), None);
}
