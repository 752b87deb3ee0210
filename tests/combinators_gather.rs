//! gather / gather! / try_gather: asyncio's gather semantics.
mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{count_polls, manual_loop, DropGuard, StashWaker, Trace};
use evloop::{create_task, gather, sleep, try_gather, yield_now};

#[test]
fn gather_returns_outputs_in_input_order_not_completion_order() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let out = lp
        .run_until_complete(gather([30u64, 10, 20].map(|ms| {
            let t = t.clone();
            async move {
                sleep(Duration::from_millis(ms)).await;
                t.push(format!("done {ms}"));
                ms
            }
        })))
        .unwrap();
    assert_eq!(out, [30, 10, 20]);
    assert_eq!(trace.events(), ["done 10", "done 20", "done 30"]);
}

#[test]
fn gather_runs_children_concurrently() {
    let mut lp = manual_loop();
    let start = lp.time();
    lp.run_until_complete(gather((0..100).map(|_| sleep(Duration::from_secs(1)))))
        .unwrap();
    assert_eq!(lp.time() - start, Duration::from_secs(1), "100 sleeps of 1 s overlap");
}

#[test]
fn gather_repolls_only_the_woken_child() {
    let mut lp = manual_loop();
    let wakers: Vec<_> = (0..3).map(|_| Rc::new(std::cell::RefCell::new(None))).collect();
    let mut counts = Vec::new();
    let mut children = Vec::new();
    for w in &wakers {
        let (fut, polls) = count_polls(StashWaker(w.clone()));
        counts.push(polls);
        children.push(fut);
    }
    let handle = lp.handle();
    let _gatherer = handle.create_task(gather(children));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(counts.iter().map(|c| c.get()).collect::<Vec<_>>(), [1, 1, 1]);
    wakers[1].borrow().as_ref().unwrap().wake_by_ref();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(counts.iter().map(|c| c.get()).collect::<Vec<_>>(), [1, 2, 1]);
}

#[test]
fn gather_of_tasks_collects_their_results() {
    let mut lp = manual_loop();
    let out = lp
        .run_until_complete(async {
            let tasks: Vec<_> = (0..5u32).map(|i| create_task(async move { i * i })).collect();
            gather(tasks).await
        })
        .unwrap();
    let values: Vec<u32> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(values, [0, 1, 4, 9, 16]);
}

#[test]
fn gather_of_nothing_is_empty() {
    let out: Vec<u8> = evloop::run(gather(Vec::<std::future::Ready<u8>>::new()));
    assert!(out.is_empty());
}

#[test]
fn gather_macro_returns_a_tuple_of_mixed_types() {
    let mut lp = manual_loop();
    let (a, b, c) = lp
        .run_until_complete(async {
            evloop::gather!(
                async {
                    sleep(Duration::from_secs(2)).await;
                    1u8
                },
                async { "two" },
                async {
                    yield_now().await;
                    3.0f32
                },
            )
            .await
        })
        .unwrap();
    assert_eq!((a, b, c), (1, "two", 3.0));
}

#[test]
fn try_gather_returns_first_err_at_once_and_drops_the_rest() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let start = lp.time();
    let out: Result<Vec<u32>, String> = lp
        .run_until_complete(async move {
            let slow = {
                let guard = DropGuard::new(&t, "slow");
                Box::pin(async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(100)).await;
                    Ok::<u32, String>(1)
                }) as std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, String>>>>
            };
            let failing = Box::pin(async {
                sleep(Duration::from_secs(1)).await;
                Err("broken".to_string())
            });
            try_gather([slow, failing]).await
        })
        .unwrap();
    assert_eq!(out, Err("broken".to_string()));
    assert_eq!(lp.time() - start, Duration::from_secs(1), "returned at the first Err");
    assert_eq!(trace.events(), ["drop slow"], "the slow child was dropped");
}

#[test]
fn try_gather_collects_all_oks_in_order() {
    let out: Result<Vec<u32>, ()> = evloop::run(try_gather((1..=3).map(|i| async move { Ok(i) })));
    assert_eq!(out, Ok(vec![1, 2, 3]));
}

#[test]
fn try_gather_early_return_leaves_task_children_running() {
    let mut lp = manual_loop();
    let finished = Rc::new(Cell::new(false));
    let f = finished.clone();
    lp.run_until_complete(async move {
        let survivor = create_task(async move {
            sleep(Duration::from_secs(5)).await;
            f.set(true);
            Ok::<(), ()>(())
        });
        let failing = create_task(async { Err::<(), ()>(()) });
        let wrap = |t: evloop::Task<Result<(), ()>>| async move { t.await.unwrap() };
        assert_eq!(try_gather([wrap(survivor), wrap(failing)]).await, Err(()));
        sleep(Duration::from_secs(10)).await;
    })
    .unwrap();
    assert!(
        finished.get(),
        "a Task child is detached, not cancelled, by the early return"
    );
}
