//! A task's life: cancel, done, cancelled, result, id, name, detach on drop,
//! abort_on_drop, and create_task on a closed loop.

mod common;

use std::time::Duration;

use common::{manual_loop, DropCounter, DropGuard, Trace};
use evloop::{EventLoop, TaskError};

#[test]
fn cancel_drops_the_future_at_the_next_tick() {
    let mut lp = EventLoop::new().unwrap();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "future");
    let t = trace.clone();
    let mut task = lp.handle().create_task(async move {
        let _g = g;
        t.push("started");
        std::future::pending::<()>().await;
        t.push("unreachable");
    });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["started"]);

    assert!(task.cancel());
    // Like asyncio: nothing happens until the loop gets to it.
    assert!(!task.done());
    assert!(!task.cancelled());
    assert_eq!(trace.events(), ["started"]);
    assert!(task.cancel(), "a second cancel before the tick still reports pending");

    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["started", "drop future"]);
    assert!(task.done());
    assert!(task.cancelled());
    assert!(!task.cancel(), "cancel() on a finished task returns false");
    assert!(matches!(task.result(), Some(Err(TaskError::Cancelled))));
}

#[test]
fn cancel_before_first_poll_never_runs_the_future() {
    let mut lp = EventLoop::new().unwrap();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "future");
    let t = trace.clone();
    let task = lp.handle().create_task(async move {
        let _g = g;
        t.push("ran");
    });
    assert!(task.cancel());
    let res = lp.run_until_complete(task).unwrap();
    assert!(matches!(res, Err(TaskError::Cancelled)));
    assert_eq!(trace.events(), ["drop future"]);
}

#[test]
fn cancel_wakes_an_awaiting_task_with_cancelled() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (cancelled, res) = lp
        .run_until_complete(async {
            let sleeper = evloop::create_task(async {
                evloop::sleep(Duration::from_secs(3600)).await;
                1
            });
            evloop::yield_now().await; // let the sleeper arm its timer
            let cancelled = sleeper.cancel();
            (cancelled, sleeper.await)
        })
        .unwrap();
    assert!(cancelled);
    assert!(matches!(res, Err(TaskError::Cancelled)));
    assert_eq!(
        lp.time(),
        start,
        "the awaiter waited for the sleep instead of the cancel"
    );
    assert_eq!(lp.next_timeout(), None, "cancelled sleeper left its timer armed");
}

#[test]
fn cancel_on_a_finished_task_returns_false() {
    let mut lp = EventLoop::new().unwrap();
    let mut task = lp.handle().create_task(async { 5 });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(task.done());
    assert!(!task.cancel());
    assert!(!task.cancelled());
    assert_eq!(task.result().unwrap().unwrap(), 5);
}

#[test]
fn result_is_none_while_pending_then_the_value_once() {
    let mut lp = manual_loop();
    let mut task = lp.handle().create_task(async {
        evloop::sleep(Duration::from_secs(1)).await;
        String::from("value")
    });
    assert!(task.result().is_none());
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(!task.done());
    assert!(task.result().is_none());
    lp.run_until_complete(evloop::sleep(Duration::from_secs(2))).unwrap();
    assert!(task.done());
    assert_eq!(task.result().unwrap().unwrap(), "value");
}

#[test]
fn id_is_unique_and_name_defaults_to_task_id() {
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let a = h.create_task(async {});
    let b = h.create_task(async {});
    assert_ne!(a.id(), b.id());
    assert_eq!(a.name(), format!("Task-{}", a.id()));
    a.set_name("worker");
    assert_eq!(a.name(), "worker");
    assert_eq!(b.name(), format!("Task-{}", b.id()));
    a.set_name(String::from("renamed"));
    assert_eq!(a.name(), "renamed");
}

#[test]
fn id_is_never_reused_after_a_slot_is_freed() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        let t = h.create_task(async {});
        assert!(seen.insert(t.id()), "id {} reused", t.id());
        lp.run_until_complete(t).unwrap().unwrap();
    }
}

#[test]
fn drop_handle_detaches_and_the_task_completes() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let g = DropGuard::new(&trace, "future");
    let task = lp.handle().create_task(async move {
        let _g = g;
        t.push("start");
        evloop::sleep(Duration::from_secs(1)).await;
        t.push("end");
    });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    drop(task);
    lp.run_until_complete(evloop::sleep(Duration::from_secs(5))).unwrap();
    assert_eq!(trace.events(), ["start", "end", "drop future"]);
}

#[test]
fn drop_handle_of_a_finished_task_drops_its_output() {
    let mut lp = EventLoop::new().unwrap();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "output");
    let task = lp.handle().create_task(async move { g });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(task.done());
    assert!(trace.is_empty(), "output dropped while the handle could still take it");
    drop(task);
    assert_eq!(trace.events(), ["drop output"]);
}

#[test]
fn abort_on_drop_cancels_the_task() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let g = DropGuard::new(&trace, "future");
    let guard = lp
        .handle()
        .create_task(async move {
            let _g = g;
            evloop::sleep(Duration::from_secs(1)).await;
            t.push("finished");
        })
        .abort_on_drop();
    let id = guard.id();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(!guard.done());
    assert!(id > 0);
    drop(guard);
    lp.run_until_complete(evloop::sleep(Duration::from_secs(5))).unwrap();
    assert_eq!(trace.events(), ["drop future"]);
}

#[test]
fn abort_on_drop_can_still_be_awaited() {
    let mut lp = manual_loop();
    let guard = lp
        .handle()
        .create_task(async {
            evloop::sleep(Duration::from_secs(1)).await;
            9
        })
        .abort_on_drop();
    assert_eq!(lp.run_until_complete(guard).unwrap().unwrap(), 9);
}

#[test]
fn create_task_on_a_closed_loop_drops_the_future_and_reports_cancelled() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    lp.close().unwrap();
    let drops = DropCounter::new();
    let g = drops.guard();
    let mut task = h.create_task(async move {
        let _g = g;
        1
    });
    assert_eq!(drops.count(), 1, "future not dropped at once");
    assert!(task.done());
    assert!(task.cancelled());
    assert!(!task.cancel());
    assert!(matches!(task.result(), Some(Err(TaskError::Cancelled))));
}

#[test]
fn create_task_inside_a_task_runs_on_the_same_loop() {
    let mut lp = EventLoop::new().unwrap();
    let trace = Trace::new();
    let t = trace.clone();
    let out = lp
        .run_until_complete(async move {
            let t2 = t.clone();
            let child = evloop::create_task(async move {
                t2.push("child");
                21
            });
            t.push("parent before await");
            let v = child.await.unwrap();
            t.push("parent after await");
            v * 2
        })
        .unwrap();
    assert_eq!(out, 42);
    assert_eq!(trace.events(), ["parent before await", "child", "parent after await"]);
}

#[test]
#[cfg_attr(miri, ignore = "100,000 tasks: too slow under Miri")]
fn create_task_many_all_complete() {
    const N: usize = 100_000;
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let done = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let done = done.clone();
            h.create_task(async move {
                if i % 2 == 0 {
                    evloop::yield_now().await;
                }
                done.set(done.get() + 1);
                i
            })
        })
        .collect();
    let sum = lp
        .run_until_complete(async move {
            let mut sum = 0usize;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        })
        .unwrap();
    assert_eq!(done.get(), N);
    assert_eq!(sum, N * (N - 1) / 2);
}

#[test]
fn create_task_many_detached_all_complete() {
    const N: usize = 100_000;
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let drops = DropCounter::new();
    let done = std::rc::Rc::new(std::cell::Cell::new(0usize));
    for _ in 0..N {
        let (done, g) = (done.clone(), drops.guard());
        drop(h.create_task(async move {
            let _g = g;
            evloop::yield_now().await;
            done.set(done.get() + 1);
        }));
    }
    while done.get() < N {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(drops.count(), N, "finished detached tasks were not freed");
}

#[test]
fn a_task_that_cancels_itself_and_returns_ends_cancelled_like_asyncio() {
    use std::cell::RefCell;
    use std::rc::Rc;

    let mut lp = manual_loop();
    let h = lp.handle();
    let me: Rc<RefCell<Option<evloop::Task<u32>>>> = Rc::default();
    let trace = Trace::new();
    let (m, t) = (me.clone(), trace.clone());
    let task = h.create_task(async move {
        let _guard = DropGuard::new(&t, "future dropped");
        assert!(m.borrow().as_ref().unwrap().cancel(), "pending, so cancel() succeeds");
        t.push("returned after cancel()");
        5
    });
    *me.borrow_mut() = Some(task);
    let out = lp
        .run_until_complete(async move {
            evloop::yield_now().await;
            let task = me.borrow_mut().take().unwrap();
            task.await
        })
        .unwrap();
    assert!(matches!(out, Err(TaskError::Cancelled)), "{out:?}");
    assert_eq!(trace.take(), ["returned after cancel()", "drop future dropped"]);
}
