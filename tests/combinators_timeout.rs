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

/// asyncio: `async with timeout(d): async with timeout(d): await sleep(..)`
/// raises `TimeoutError` out of the *outer* block; both scopes expire.
#[test]
fn timeout_scopes_nested_with_one_deadline_the_outer_reports() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (res, inner_expired, outer_expired) = lp
        .run_until_complete(async {
            let outer = timeout(Duration::from_secs(2));
            let inner = timeout_at(outer.when());
            let inner2 = inner.clone();
            let res = outer
                .wrap(async move { inner2.wrap(sleep(Duration::from_secs(10))).await })
                .await;
            (res, inner.expired(), outer.expired())
        })
        .unwrap();
    assert_eq!(res, Err(TimeoutError), "the outer scope reports the time-out");
    assert!(inner_expired && outer_expired, "both scopes expired");
    assert_eq!(lp.time() - start, Duration::from_secs(2));
}

/// The inner scope with the earlier deadline still reports on its own.
#[test]
fn timeout_scopes_nested_inner_earlier_reports_inside() {
    let mut lp = manual_loop();
    let res = lp
        .run_until_complete(async {
            let outer = timeout(Duration::from_secs(5));
            outer
                .wrap(async {
                    timeout(Duration::from_secs(1))
                        .wrap(sleep(Duration::from_secs(10)))
                        .await
                })
                .await
        })
        .unwrap();
    assert_eq!(res, Ok(Err(TimeoutError)));
}

/// asyncio raises `RuntimeError` for `reschedule` on a finished `Timeout`.
#[test]
#[should_panic(expected = "reschedule called on a scope that has already exited")]
fn timeout_scope_reschedule_after_exit_panics() {
    let mut lp = manual_loop();
    lp.run_until_complete(async {
        let scope = timeout(Duration::from_secs(1));
        assert_eq!(scope.wrap(async { 1 }).await, Ok(1));
        scope.reschedule(Some(evloop::get_running_loop().time() + Duration::from_secs(5)));
    })
    .unwrap();
}

/// Rescheduling before the scope is entered is fine (the scope is built
/// before `wrap` in Rust).
#[test]
fn timeout_scope_reschedule_before_enter_is_allowed() {
    let mut lp = manual_loop();
    let start = lp.time();
    let res = lp
        .run_until_complete(async {
            let scope = timeout_at(None);
            scope.reschedule(Some(evloop::get_running_loop().time() + Duration::from_secs(1)));
            scope.wrap(sleep(Duration::from_secs(5))).await
        })
        .unwrap();
    assert_eq!(res, Err(TimeoutError));
    assert_eq!(lp.time() - start, Duration::from_secs(1));
}

/// A `Task` given to `wait_for` is detached by the time-out and keeps
/// running (dropping a `Task` detaches); `abort_on_drop()` cancels it, as
/// asyncio's `wait_for` does.
#[test]
fn wait_for_task_detaches_on_timeout_and_abort_on_drop_cancels() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    lp.run_until_complete(async move {
        let worker = |label: &'static str| {
            let t = t.clone();
            evloop::create_task(async move {
                sleep(Duration::from_secs(2)).await;
                t.push(format!("{label} finished"));
            })
        };
        let res = wait_for(worker("detached"), Duration::from_secs(1)).await;
        assert!(matches!(res, Err(TimeoutError)));
        let res = wait_for(worker("aborted").abort_on_drop(), Duration::from_secs(1)).await;
        assert!(matches!(res, Err(TimeoutError)));
        sleep(Duration::from_secs(5)).await;
    })
    .unwrap();
    assert_eq!(
        trace.events(),
        ["detached finished"],
        "only the abort_on_drop task was cancelled"
    );
}

/// asyncio 3.12's `wait_for` is a timeout scope: nested with a scope of the
/// same deadline, the outer one reports, whichever of the two it is.
#[test]
fn wait_for_and_timeout_scope_nested_with_one_deadline_the_outer_reports() {
    let mut lp = manual_loop();
    let (outer_scope, outer_wait_for) = lp
        .run_until_complete(async {
            let outer = timeout(Duration::from_secs(2));
            let a = outer
                .wrap(wait_for(sleep(Duration::from_secs(10)), Duration::from_secs(2)))
                .await;
            let b = wait_for(
                async {
                    timeout(Duration::from_secs(2))
                        .wrap(sleep(Duration::from_secs(10)))
                        .await
                },
                Duration::from_secs(2),
            )
            .await;
            (a, b)
        })
        .unwrap();
    assert_eq!(
        outer_scope,
        Err(TimeoutError),
        "the outer scope reports, not the inner wait_for"
    );
    assert_eq!(
        outer_wait_for,
        Err(TimeoutError),
        "the outer wait_for reports, not the inner scope"
    );
}
