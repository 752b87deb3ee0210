//! evloop::future::Future: asyncio.Future's contract.
mod common;

use std::time::Duration;

use common::{manual_loop, Trace};
use evloop::FutureError;

#[test]
fn future_cancel_marks_done_and_cancelled() {
    let fut = evloop::future::Future::<u8>::new();
    assert!(!fut.done());
    assert!(fut.cancel());
    assert!(fut.done());
    assert!(fut.cancelled());
    assert!(!fut.cancel(), "cancel() is false once done");
    assert_eq!(fut.result(), Err(FutureError::Cancelled));
}

#[test]
fn future_set_result_twice_is_an_error() {
    let fut = evloop::future::Future::new();
    assert_eq!(fut.result(), Err(FutureError::Pending));
    fut.set_result(1).unwrap();
    assert_eq!(fut.set_result(2), Err(FutureError::AlreadyDone));
    assert_eq!(fut.result(), Ok(1));
    assert!(!fut.cancel());
}

#[test]
fn future_await_wakes_every_waiter() {
    let mut lp = manual_loop();
    let out = lp
        .run_until_complete(async {
            let fut = evloop::future::Future::new();
            let waiters: Vec<_> = (0..3).map(|_| evloop::create_task(fut.clone())).collect();
            let setter = fut.clone();
            evloop::get_running_loop().call_later(Duration::from_secs(1), move || setter.set_result("hi").unwrap());
            evloop::gather(waiters).await
        })
        .unwrap();
    let out: Vec<_> = out.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(out, [Ok("hi"), Ok("hi"), Ok("hi")]);
}

#[test]
fn future_await_after_cancel_is_cancelled_error() {
    let out = evloop::run(async {
        let fut = evloop::future::Future::<u8>::new();
        let c = fut.clone();
        evloop::get_running_loop().call_soon(move || {
            c.cancel();
        });
        fut.await
    });
    assert_eq!(out, Err(FutureError::Cancelled));
}

#[test]
fn future_done_callbacks_are_scheduled_with_call_soon_in_order() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    lp.run_until_complete(async move {
        let fut = evloop::future::Future::new();
        let t1 = t.clone();
        fut.add_done_callback(move |f| t1.push(format!("cb1 {:?}", f.result())));
        let t2 = t.clone();
        fut.add_done_callback(move |f| t2.push(format!("cb2 {:?}", f.result())));
        fut.set_result(5).unwrap();
        t.push("after set_result");
        evloop::yield_now().await;
        // Already done: still scheduled, not called inline.
        let t3 = t.clone();
        fut.add_done_callback(move |_| t3.push("cb3"));
        t.push("after add on done");
        evloop::yield_now().await;
    })
    .unwrap();
    assert_eq!(
        trace.events(),
        ["after set_result", "cb1 Ok(5)", "cb2 Ok(5)", "after add on done", "cb3"]
    );
}
