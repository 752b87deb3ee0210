//! TaskGroup: structured concurrency, first failure cancels the rest.
mod common;

use std::time::Duration;

use common::{manual_loop, DropGuard, Trace};
use evloop::{sleep, TaskGroup};

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
                let _child = group.create_task(async move {
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

#[test]
fn task_group_first_err_cancels_siblings_and_is_reported() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let start = lp.time();
    let (err, failing_id, sibling_cancelled) = lp
        .run_until_complete(async move {
            let group = TaskGroup::new();
            let sibling = group.create_task({
                let guard = DropGuard::new(&t, "sibling");
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(60)).await;
                    Ok::<(), String>(())
                }
            });
            let failing = group.create_task(async {
                sleep(Duration::from_secs(1)).await;
                Err::<(), String>("nope".into())
            });
            let failing_id = failing.id();
            let err = group.join().await.unwrap_err();
            (err, failing_id, sibling.cancelled())
        })
        .unwrap();
    assert_eq!(err.task_id, failing_id);
    assert!(!err.panicked);
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
    let mut lp = evloop::EventLoop::builder()
        .manual_clock()
        .exception_handler(|_| {})
        .build()
        .unwrap();
    let err = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            let _child = group.create_task(async {
                sleep(Duration::from_secs(30)).await;
            });
            let _p = group.create_task(async {
                sleep(Duration::from_secs(1)).await;
                if true {
                    panic!("child blew up");
                }
            });
            group.join().await
        })
        .unwrap()
        .unwrap_err();
    assert!(err.panicked);
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
            let _child = group.create_task(async move {
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
