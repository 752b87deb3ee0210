//! wait_for and timeout scopes.
mod common;

use std::time::Duration;

use common::{manual_loop, DropGuard, Trace};
use evloop::{sleep, timeout, timeout_at, wait_for, TimeoutError};

#[test]
fn wait_for_returns_value_before_deadline() {
    let mut lp = manual_loop();
    let out = lp
        .run_until_complete(wait_for(
            async {
                sleep(Duration::from_secs(1)).await;
                7
            },
            Duration::from_secs(2),
        ))
        .unwrap();
    assert_eq!(out, Ok(7));
}

#[test]
fn wait_for_drops_inner_future_before_returning_timeout() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    let start = lp.time();
    lp.run_until_complete(async move {
        let guard = DropGuard::new(&t, "inner");
        let t2 = t.clone();
        let slow = async move {
            let _guard = guard;
            sleep(Duration::from_secs(400)).await;
            t2.push("completed");
        };
        let res = wait_for(slow, Duration::from_secs(1)).await;
        t.push(format!("wait_for returned {res:?}"));
    })
    .unwrap();
    assert_eq!(trace.events(), ["drop inner", "wait_for returned Err(TimeoutError)"]);
    assert_eq!(lp.time() - start, Duration::from_secs(1));
}

#[test]
fn wait_for_zero_timeout_still_returns_ready_value() {
    let out = evloop::run(wait_for(async { "ready" }, Duration::ZERO));
    assert_eq!(out, Ok("ready"));
    let out = evloop::run(wait_for(sleep(Duration::from_secs(1)), Duration::ZERO));
    assert_eq!(out, Err(TimeoutError));
}

#[test]
fn timeout_scope_expires_and_reports_expired() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (res, expired) = lp
        .run_until_complete(async {
            let scope = timeout(Duration::from_secs(2));
            let res = scope.wrap(sleep(Duration::from_secs(10))).await;
            (res, scope.expired())
        })
        .unwrap();
    assert_eq!(res, Err(TimeoutError));
    assert!(expired);
    assert_eq!(lp.time() - start, Duration::from_secs(2));
}

#[test]
fn timeout_scope_reschedule_moves_deadline_earlier_while_running() {
    let mut lp = manual_loop();
    let start = lp.time();
    let res = lp
        .run_until_complete(async {
            let scope = timeout(Duration::from_secs(100));
            let mover = scope.clone();
            evloop::get_running_loop().call_later(Duration::from_secs(1), move || {
                let now = evloop::get_running_loop().time();
                mover.reschedule(Some(now + Duration::from_secs(2)));
            });
            scope.wrap(sleep(Duration::from_secs(50))).await
        })
        .unwrap();
    assert_eq!(res, Err(TimeoutError));
    assert_eq!(lp.time() - start, Duration::from_secs(3));
}

#[test]
fn timeout_scope_reschedule_none_removes_deadline() {
    let mut lp = manual_loop();
    let start = lp.time();
    let res = lp
        .run_until_complete(async {
            let scope = timeout(Duration::from_secs(1));
            let inner = scope.clone();
            scope
                .wrap(async move {
                    inner.reschedule(None);
                    sleep(Duration::from_secs(5)).await;
                    "done"
                })
                .await
        })
        .unwrap();
    assert_eq!(res, Ok("done"));
    assert_eq!(lp.time() - start, Duration::from_secs(5));
}

#[test]
fn timeout_at_none_then_set_later() {
    let mut lp = manual_loop();
    let start = lp.time();
    let res = lp
        .run_until_complete(async {
            let scope = timeout_at(None);
            assert_eq!(scope.when(), None);
            let setter = scope.clone();
            let _setter = evloop::create_task(async move {
                sleep(Duration::from_secs(1)).await;
                setter.reschedule(Some(evloop::get_running_loop().time() + Duration::from_secs(1)));
            });
            scope.wrap(sleep(Duration::from_secs(60))).await
        })
        .unwrap();
    assert_eq!(res, Err(TimeoutError));
    assert_eq!(lp.time() - start, Duration::from_secs(2));
}
