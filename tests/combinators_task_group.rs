//! TaskGroup: asyncio 3.11's structured concurrency. A failing child cancels
//! the body and its siblings at once, children spawn siblings, the group's
//! error carries every failure, and a long-lived group forgets finished
//! children.
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::{manual_loop, DropGuard, Trace};
use evloop::{sleep, EventLoop, TaskGroup};

/// A manual-clock loop that records what reaches the exception handler.
fn recording_loop() -> (EventLoop, Rc<RefCell<Vec<String>>>) {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    let lp = EventLoop::builder()
        .manual_clock()
        .exception_handler(move |ctx| r.borrow_mut().push(format!("{ctx:?}")))
        .build()
        .unwrap();
    (lp, reports)
}

#[test]
fn task_group_join_waits_for_every_child() {
    let mut lp = manual_loop();
    let start = lp.time();
    let trace = Trace::new();
    let t = trace.clone();
    let res = lp
        .run_until_complete(async move {
            let group = TaskGroup::new();
            for s in [3u64, 1, 2] {
                let t = t.clone();
                let _child = group.spawn(async move {
                    sleep(Duration::from_secs(s)).await;
                    t.push(format!("child {s}"));
                });
            }
            group.join().await
        })
        .unwrap();
    assert_eq!(res, Ok(()));
    assert_eq!(trace.events(), ["child 1", "child 2", "child 3"]);
    assert_eq!(lp.time() - start, Duration::from_secs(3));
}

// Updated for the new API: `Err` children are spawned with `spawn_try`, and
// the error lists every failed child (it was `{task_id, panicked}`).
#[test]
fn task_group_first_err_cancels_siblings_and_is_reported() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let start = lp.time();
    let (err, failing_id, sibling_cancelled) = lp
        .run_until_complete(async move {
            let group = TaskGroup::<String>::default();
            let sibling = group.spawn_try({
                let guard = DropGuard::new(&t, "sibling");
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(60)).await;
                    Ok(())
                }
            });
            let failing = group.spawn_try(async {
                sleep(Duration::from_secs(1)).await;
                Err::<(), String>("nope".into())
            });
            let failing_id = failing.id();
            let err = group.join().await.unwrap_err();
            (err, failing_id, sibling.cancelled())
        })
        .unwrap();
    assert_eq!(err.children.len(), 1);
    assert_eq!(err.children[0].task_id, failing_id);
    assert_eq!(err.children[0].error(), Some(&"nope".to_string()));
    assert!(!err.children[0].panicked());
    assert!(sibling_cancelled);
    assert_eq!(trace.events(), ["drop sibling"]);
    assert_eq!(
        lp.time() - start,
        Duration::from_secs(1),
        "join returned once the cancellation landed"
    );
}

#[test]
fn task_group_panic_is_a_failure() {
    let (mut lp, _reports) = recording_loop();
    let err = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            let _child = group.spawn(async {
                sleep(Duration::from_secs(30)).await;
            });
            let _p = group.spawn(async {
                sleep(Duration::from_secs(1)).await;
                if true {
                    panic!("child blew up");
                }
            });
            group.join().await
        })
        .unwrap()
        .unwrap_err();
    assert!(err.children[0].panicked());
    assert_eq!(err.children[0].panic().unwrap().message(), Some("child blew up"));
}

#[test]
fn task_group_dropped_without_join_cancels_children() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    lp.run_until_complete(async move {
        {
            let group = TaskGroup::new();
            let guard = DropGuard::new(&t, "child");
            let _child = group.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(60)).await;
            });
        }
        evloop::yield_now().await;
        evloop::yield_now().await;
    })
    .unwrap();
    assert_eq!(trace.events(), ["drop child"]);
}

/// asyncio: a child that fails while the body awaits cancels the body and
/// every sibling at once; the group raises as soon as they are gone.
#[test]
fn task_group_run_child_failure_cancels_the_sleeping_body_at_once() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let start = lp.time();
    let res = lp
        .run_until_complete(TaskGroup::run(move |tg| async move {
            let _body = DropGuard::new(&t, "body");
            let guard = DropGuard::new(&t, "sibling");
            let _sibling = tg.spawn_try(async move {
                let _guard = guard;
                sleep(Duration::from_secs(60)).await;
                Ok(())
            });
            let _failing = tg.spawn_try(async {
                sleep(Duration::from_secs(1)).await;
                Err::<(), _>("child failed")
            });
            sleep(Duration::from_secs(10)).await;
            t.push("body finished its sleep");
            Ok("body value")
        }))
        .unwrap();
    let err = res.unwrap_err();
    assert_eq!(err.errors().copied().collect::<Vec<_>>(), ["child failed"]);
    assert_eq!(
        lp.time() - start,
        Duration::from_secs(1),
        "not after the body's 10 s sleep"
    );
    let mut events = trace.events();
    events.sort();
    assert_eq!(events, ["drop body", "drop sibling"]);
}

/// A child spawns siblings into its own group: a crawler adding links.
#[test]
fn task_group_children_spawn_siblings() {
    async fn crawl(tg: TaskGroup, page: u32, seen: Rc<RefCell<Vec<u32>>>) {
        sleep(Duration::from_millis(u64::from(page))).await;
        seen.borrow_mut().push(page);
        if page < 8 {
            for link in [page * 2, page * 2 + 1] {
                let _child = tg.spawn(crawl(tg.clone(), link, seen.clone()));
            }
        }
    }
    let mut lp = manual_loop();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let res = lp
        .run_until_complete(TaskGroup::run(move |tg| async move {
            let _crawler = tg.spawn(crawl(tg.clone(), 1, s));
            Ok(())
        }))
        .unwrap();
    assert_eq!(res, Ok(()));
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(
        seen,
        (1..16).collect::<Vec<_>>(),
        "every page, found by children, was crawled"
    );
}

/// The group's error carries every failure (asyncio's ExceptionGroup):
/// `Err` values and panic payloads, with task ids and names, and the loop
/// does not also report them as "never retrieved".
#[test]
fn task_group_error_carries_every_failure_and_nothing_is_reported_twice() {
    let (mut lp, reports) = recording_loop();
    let err = lp
        .run_until_complete(TaskGroup::run(|tg| async move {
            // All three fail in their first step, in the same tick: as in
            // asyncio, each takes its step before the abort lands.
            let a = tg.spawn_try(async { Err::<(), _>("a failed".to_string()) });
            a.set_name("fetch-a");
            let b = tg.spawn(async {
                if true {
                    panic!("b blew up");
                }
            });
            b.set_name("fetch-b");
            let _c = tg.spawn_try(async { Err::<(), _>("c failed".to_string()) });
            drop((a, b)); // dropped handles: nobody else will look
            sleep(Duration::from_secs(5)).await;
            Ok(())
        }))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.len(), 3);
    assert_eq!(err.children[0].name, "fetch-a");
    assert_eq!(err.children[0].error().map(String::as_str), Some("a failed"));
    assert_eq!(err.children[1].name, "fetch-b");
    assert_eq!(err.children[1].panic().and_then(|p| p.message()), Some("b blew up"));
    assert_eq!(err.children[2].name, format!("Task-{}", err.children[2].task_id));
    assert_eq!(
        err.errors().map(String::as_str).collect::<Vec<_>>(),
        ["a failed", "c failed"]
    );
    assert_eq!(err.panics().count(), 1);
    let mut ids: Vec<u64> = err.children.iter().map(|c| c.task_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct tasks");
    assert_eq!(err.to_string(), "unhandled errors in a TaskGroup (3 sub-exceptions)");
    let long = format!("{err:#}");
    assert!(long.contains("fetch-b (task "), "{long}");
    assert!(long.contains("panicked: b blew up"), "{long}");
    assert!(
        reports.borrow().is_empty(),
        "the group took the failures; the loop reported {:?}",
        reports.borrow()
    );
}

/// A failed child's handle reports cancelled: its error is in the group's.
#[test]
fn task_group_failed_childs_handle_reports_cancelled() {
    let (mut lp, reports) = recording_loop();
    let (cancelled, err_len) = lp
        .run_until_complete(async {
            let group = TaskGroup::<&str>::default();
            let child = group.spawn_try(async { Err::<(), _>("bad") });
            let err = group.join().await.unwrap_err();
            (child.await.unwrap_err().is_cancelled(), err.len())
        })
        .unwrap();
    assert!(cancelled);
    assert_eq!(err_len, 1);
    assert!(reports.borrow().is_empty());
}

/// asyncio: an exception in the `async with` body cancels the children and
/// waits for them before the block is left.
#[test]
fn task_group_body_error_cancels_children_and_waits_for_them() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let start = lp.time();
    let err = lp
        .run_until_complete(async move {
            let t2 = t.clone();
            let res = TaskGroup::run(move |tg| async move {
                let guard = DropGuard::new(&t2, "child");
                let _child = tg.spawn_try(async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(60)).await;
                    Ok(())
                });
                sleep(Duration::from_secs(1)).await;
                Err::<(), _>("body gave up")
            })
            .await;
            t.push("run returned");
            res.unwrap_err()
        })
        .unwrap();
    assert_eq!(err.body, Some("body gave up"));
    assert!(err.children.is_empty(), "a cancelled child is not a failure");
    assert_eq!(err.to_string(), "unhandled errors in a TaskGroup (1 sub-exception)");
    assert_eq!(
        trace.events(),
        ["drop child", "run returned"],
        "the child was gone before run returned"
    );
    assert_eq!(lp.time() - start, Duration::from_secs(1));
}

/// Spawning into a finished group is refused.
#[test]
#[should_panic(expected = "spawn into a TaskGroup that has finished")]
fn task_group_spawn_after_finish_panics() {
    let mut lp = manual_loop();
    lp.run_until_complete(async {
        let leaked = Rc::new(RefCell::new(None));
        let l = leaked.clone();
        TaskGroup::run(move |tg| async move {
            *l.borrow_mut() = Some(tg.clone());
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap();
        let tg: TaskGroup = leaked.borrow_mut().take().unwrap();
        let _child = tg.spawn(async {});
    })
    .unwrap();
}

/// A spawn into a group that is aborting is cancelled before it runs.
#[test]
fn task_group_spawn_while_aborting_is_cancelled_before_it_runs() {
    let mut lp = manual_loop();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let res = lp
        .run_until_complete(TaskGroup::run(move |tg| async move {
            let tg2 = tg.clone();
            let _spawner = tg.spawn_try(async move {
                sleep(Duration::from_secs(2)).await;
                // By now the group aborts (the other child failed at 1 s):
                // unreachable, this child was cancelled.
                let _late = tg2.spawn(async move { r.set(true) });
                Ok(())
            });
            let _failing = tg.spawn_try(async {
                sleep(Duration::from_secs(1)).await;
                Err::<(), _>("failed")
            });
            Ok(())
        }))
        .unwrap();
    assert_eq!(res.unwrap_err().len(), 1);
    assert!(!ran.get());
}

/// `spawn` takes any output (foreign types included), no wrapper needed.
#[test]
fn task_group_accepts_any_output_type() {
    use std::collections::HashMap;
    let mut lp = manual_loop();
    let out = lp
        .run_until_complete(TaskGroup::run(|tg| async move {
            let map = tg.spawn(async { HashMap::from([("k", 1)]) });
            let triple = tg.spawn(async { (1u8, "two", 3.0f32) });
            let fallible = tg.spawn_try(async { Ok::<_, std::io::Error>(vec![1, 2]) });
            Ok((
                map.await.unwrap()["k"],
                triple.await.unwrap().1,
                fallible.await.unwrap(),
            ))
        }))
        .unwrap();
    assert_eq!(out.unwrap(), (1, "two", vec![1, 2]));
}

/// A long-lived group forgets finished children: 200,000 of them leave no
/// running entry behind, and the group's slot storage stays at the peak
/// concurrency (1,000), not the history.
#[test]
fn task_group_forgets_finished_children() {
    let mut lp = manual_loop();
    let (peak, after) = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            let mut peak = 0;
            for _batch in 0..200 {
                for _ in 0..1_000 {
                    let _child = group.spawn(async {});
                }
                peak = peak.max(group.len());
                while !group.is_empty() {
                    evloop::yield_now().await;
                }
            }
            let after = group.len();
            group.join().await.unwrap();
            (peak, after)
        })
        .unwrap();
    assert_eq!(peak, 1_000);
    assert_eq!(after, 0);
}

/// Cancelling the task that awaits `run` cancels the group's children.
#[test]
fn task_group_run_cancelled_from_outside_cancels_children() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    lp.run_until_complete(async move {
        let outer = evloop::create_task(TaskGroup::run(move |tg| async move {
            let guard = DropGuard::new(&t, "child");
            let _child = tg.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(60)).await;
            });
            Ok::<_, std::convert::Infallible>(())
        }));
        sleep(Duration::from_secs(1)).await;
        outer.cancel();
        assert!(outer.await.unwrap_err().is_cancelled());
        evloop::yield_now().await;
    })
    .unwrap();
    assert_eq!(trace.events(), ["drop child"]);
}

/// Only the owner joins; the body's handle (a clone) cannot.
#[test]
#[should_panic(expected = "TaskGroup::join called on a handle that is not the group's owner")]
fn task_group_join_on_a_clone_panics() {
    let mut lp = manual_loop();
    lp.run_until_complete(async {
        let _ = TaskGroup::run(|tg| async move {
            drop(tg.join());
            Ok::<_, std::convert::Infallible>(())
        })
        .await;
    })
    .unwrap();
}
