//! wait / as_completed / shield: asyncio's semantics.
mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{manual_loop, DropGuard, Trace};
use evloop::{as_completed, create_task, shield, sleep, wait, wait_for, ReturnWhen, Task};

fn sleeper(secs: u64) -> Task<u64> {
    create_task(async move {
        sleep(Duration::from_secs(secs)).await;
        secs
    })
}

#[test]
fn wait_first_completed_returns_after_the_first_and_leaves_pending_running() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (done, pending) = lp
        .run_until_complete(async {
            let (done, pending) = wait([sleeper(3), sleeper(1), sleeper(2)], ReturnWhen::FirstCompleted, None).await;
            let ids: Vec<bool> = pending.iter().map(|t| t.cancelled() || t.done()).collect();
            assert_eq!(ids, [false, false], "pending tasks are neither cancelled nor done");
            (done, pending)
        })
        .unwrap();
    assert_eq!(lp.time() - start, Duration::from_secs(1));
    assert_eq!(done.len(), 1);
    // The pending ones keep running and finish on their own.
    let results = lp.run_until_complete(async { evloop::gather(pending).await }).unwrap();
    let results: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results, [3, 2]);
    let mut done = done;
    assert_eq!(done[0].result().unwrap().unwrap(), 1);
}

#[test]
fn wait_all_completed_waits_for_every_task() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (done, pending) = lp
        .run_until_complete(async { wait([sleeper(3), sleeper(1)], ReturnWhen::AllCompleted, None).await })
        .unwrap();
    assert_eq!((done.len(), pending.len()), (2, 0));
    assert_eq!(lp.time() - start, Duration::from_secs(3));
}

#[test]
fn wait_first_exception_returns_at_a_returned_err() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (done, pending) = lp
        .run_until_complete(async {
            let ok = create_task(async {
                sleep(Duration::from_secs(1)).await;
                Ok::<u32, String>(1)
            });
            let bad = create_task(async {
                sleep(Duration::from_secs(2)).await;
                Err::<u32, String>("bad".into())
            });
            let slow = create_task(async {
                sleep(Duration::from_secs(10)).await;
                Ok::<u32, String>(3)
            });
            wait([ok, bad, slow], ReturnWhen::FirstException, None).await
        })
        .unwrap();
    assert_eq!(lp.time() - start, Duration::from_secs(2));
    assert_eq!((done.len(), pending.len()), (2, 1));
}

#[test]
fn wait_first_exception_counts_panics_and_cancellations() {
    let mut lp = evloop::EventLoop::builder()
        .manual_clock()
        .exception_handler(|_| {})
        .build()
        .unwrap();
    let (done, pending) = lp
        .run_until_complete(async {
            let panicking = create_task(async {
                sleep(Duration::from_secs(1)).await;
                panic!("boom")
            });
            wait([panicking, sleeper(5)], ReturnWhen::FirstException, None).await
        })
        .unwrap();
    assert_eq!((done.len(), pending.len()), (1, 1));
    let (done, pending) = lp
        .run_until_complete(async {
            let cancelled = sleeper(5);
            cancelled.cancel();
            wait([cancelled, sleeper(7)], ReturnWhen::FirstException, None).await
        })
        .unwrap();
    assert_eq!((done.len(), pending.len()), (1, 1));
    assert!(done[0].cancelled());
}

#[test]
fn wait_first_exception_without_failure_behaves_as_all_completed() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (done, pending) = lp
        .run_until_complete(async { wait([sleeper(1), sleeper(4)], ReturnWhen::FirstException, None).await })
        .unwrap();
    assert_eq!((done.len(), pending.len()), (2, 0));
    assert_eq!(lp.time() - start, Duration::from_secs(4));
}

#[test]
fn wait_with_timeout_returns_partial_sets() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (done, pending) = lp
        .run_until_complete(async {
            let tasks = [sleeper(1), sleeper(5), sleeper(2)];
            wait(tasks, ReturnWhen::AllCompleted, Some(Duration::from_millis(2500))).await
        })
        .unwrap();
    assert_eq!(lp.time() - start, Duration::from_millis(2500));
    assert_eq!((done.len(), pending.len()), (2, 1));
    assert!(!pending[0].cancelled(), "a timeout does not cancel");
}

#[test]
fn as_completed_yields_in_completion_order() {
    let mut lp = manual_loop();
    let order = lp
        .run_until_complete(async {
            let mut it = as_completed([3u64, 1, 2].map(|s| async move {
                sleep(Duration::from_secs(s)).await;
                s
            }));
            let mut order = Vec::new();
            while let Some(s) = it.next().await {
                order.push(s);
            }
            order
        })
        .unwrap();
    assert_eq!(order, [1, 2, 3]);
}

#[test]
fn shield_keeps_inner_task_running_when_outer_is_cancelled() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let finished = Rc::new(Cell::new(false));
    let f = finished.clone();
    lp.run_until_complete(async move {
        let outer = create_task(async move {
            let _guard = DropGuard::new(&t, "outer");
            shield(async move {
                sleep(Duration::from_secs(2)).await;
                f.set(true);
            })
            .await
        });
        sleep(Duration::from_secs(1)).await;
        outer.cancel();
        assert!(outer.await.unwrap_err().is_cancelled());
        sleep(Duration::from_secs(5)).await;
    })
    .unwrap();
    assert_eq!(trace.events(), ["drop outer"]);
    assert!(finished.get(), "the shielded work ran to completion");
}

#[test]
fn wait_for_on_abort_on_drop_task_cancels_the_task() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let (timed_out, cancelled) = lp
        .run_until_complete(async move {
            let task = create_task(async move {
                let _guard = DropGuard::new(&t, "inner task");
                sleep(Duration::from_secs(400)).await;
            });
            let id = task.id();
            let res = wait_for(task.abort_on_drop(), Duration::from_secs(1)).await;
            evloop::yield_now().await; // the cancellation lands on the next tick
            (res.is_err(), id)
        })
        .unwrap();
    assert!(timed_out);
    let _ = cancelled;
    assert_eq!(trace.events(), ["drop inner task"]);
}

/// asyncio's `wait(set())` raises `ValueError`; an empty set is a misuse.
#[test]
#[should_panic(expected = "evloop::wait called with no tasks")]
fn wait_empty_set_panics() {
    evloop::run(async {
        let none: Vec<Task<u32>> = Vec::new();
        let _ = wait(none, ReturnWhen::FirstCompleted, None).await;
    });
}

/// `FirstCompleted` and `AllCompleted` take any output type, foreign ones
/// included (only `FirstException` asks what a failure is).
#[test]
fn wait_accepts_any_output_type() {
    use std::collections::HashMap;
    let mut lp = manual_loop();
    let (maps, tuples) = lp
        .run_until_complete(async {
            let maps = (0..3u32).map(|i| create_task(async move { HashMap::from([(i, i * 10)]) }));
            let (maps, _) = wait(maps, ReturnWhen::AllCompleted, None).await;
            let tuples = [create_task(async { (1u8, "one", 1.0f32) })];
            let (tuples, _) = wait(tuples, ReturnWhen::FirstCompleted, None).await;
            (maps.len(), tuples.len())
        })
        .unwrap();
    assert_eq!((maps, tuples), (3, 1));
}

/// asyncio's `shield` returns a finished future as it is: awaiting it does
/// not wait for another turn of the loop.
#[test]
fn shield_of_finished_task_is_ready_at_first_poll() {
    use std::future::{poll_fn, Future};
    use std::pin::Pin;
    use std::task::Poll;
    let mut lp = manual_loop();
    let first_poll = lp
        .run_until_complete(async {
            let task = create_task(async { 7 });
            evloop::yield_now().await;
            assert!(task.done());
            let mut shielded = shield(task);
            poll_fn(|cx| Poll::Ready(Pin::new(&mut shielded).poll(cx))).await
        })
        .unwrap();
    match first_poll {
        Poll::Ready(Ok(Ok(7))) => {}
        other => panic!("expected Ready(Ok(Ok(7))) at the first poll, got {other:?}"),
    }
}

/// A panic in the shielded future's first poll stays inside its task.
#[test]
fn shield_panic_in_first_poll_is_the_tasks() {
    let mut lp = evloop::EventLoop::builder()
        .manual_clock()
        .exception_handler(|_| {})
        .build()
        .unwrap();
    let err = lp
        .run_until_complete(async { shield(async { panic!("shielded boom") }).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.panic_message(), Some("shielded boom"));
}

/// asyncio's `as_completed(aws, timeout=t)`: the awaitables still missing
/// at the deadline raise `TimeoutError`.
#[test]
fn as_completed_with_timeout_yields_timeouts_for_the_missing() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let start = lp.time();
    let items = lp
        .run_until_complete(async move {
            let mut results = as_completed([1u64, 50, 2, 60].map(|s| {
                let guard = DropGuard::new(&t, format!("{s}"));
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(s)).await;
                    s
                }
            }))
            .with_timeout(Duration::from_secs(10));
            let mut items = Vec::new();
            while let Some(item) = results.next().await {
                items.push(item);
            }
            items
        })
        .unwrap();
    assert_eq!(
        items,
        [Ok(1), Ok(2), Err(evloop::TimeoutError), Err(evloop::TimeoutError)]
    );
    assert_eq!(lp.time() - start, Duration::from_secs(10));
    assert_eq!(trace.events(), ["drop 1", "drop 2", "drop 50", "drop 60"]);
}

/// `as_completed` is a `futures_core::Stream`, with or without a timeout.
#[test]
fn as_completed_is_a_stream() {
    use futures::StreamExt;
    let mut lp = manual_loop();
    let (plain, timed) = lp
        .run_until_complete(async {
            let plain: Vec<u64> = as_completed([3u64, 1, 2].map(|s| async move {
                sleep(Duration::from_secs(s)).await;
                s
            }))
            .collect()
            .await;
            let timed: Vec<Result<u64, evloop::TimeoutError>> = as_completed([1u64, 9].map(|s| async move {
                sleep(Duration::from_secs(s)).await;
                s
            }))
            .with_timeout(Duration::from_secs(5))
            .collect()
            .await;
            (plain, timed)
        })
        .unwrap();
    assert_eq!(plain, [1, 2, 3]);
    assert_eq!(timed, [Ok(1), Err(evloop::TimeoutError)]);
}
