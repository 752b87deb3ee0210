//! `sleep` and `sleep_until`: on the manual clock for the logic, on the real
//! clock where real time is the point.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use common::{manual_loop, CountingWaker, DropGuard, Trace};
use evloop::{sleep, sleep_until, yield_now, EventLoop};

#[test]
fn sleep_on_manual_clock_finishes_at_once_and_advances_time_exactly() {
    let mut lp = manual_loop();
    let start_loop = lp.time();
    let start_wall = Instant::now();
    lp.run_until_complete(sleep(Duration::from_secs(3600))).unwrap();
    assert_eq!(lp.time() - start_loop, Duration::from_secs(3600));
    assert!(
        start_wall.elapsed() < Duration::from_secs(5),
        "manual clock slept for real"
    );
}

#[test]
fn sleep_sequential_on_manual_clock_adds_up() {
    let mut lp = manual_loop();
    let start = lp.time();
    let h = lp.handle();
    let stamps = lp
        .run_until_complete(async move {
            let mut stamps = Vec::new();
            for ms in [1u64, 10, 100, 1000, 10_000] {
                sleep(Duration::from_millis(ms)).await;
                stamps.push((h.time() - start).as_millis());
            }
            stamps
        })
        .unwrap();
    assert_eq!(stamps, [1, 11, 111, 1111, 11_111]);
}

#[test]
fn sleep_several_sleepers_interleave_deterministically() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let trace = Trace::new();
    // (name, period in ms, rounds)
    let sleepers = [("a", 300u64, 3), ("b", 200, 4), ("c", 500, 2)];
    let tasks: Vec<_> = sleepers
        .iter()
        .map(|&(name, period, rounds)| {
            let (t, h2) = (trace.clone(), h.clone());
            h.create_task(async move {
                for _ in 0..rounds {
                    sleep(Duration::from_millis(period)).await;
                    t.push(format!("{name}@{}", (h2.time() - start).as_millis()));
                }
            })
        })
        .collect();
    lp.run_until_complete(async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    // Ties (600 ms: a and b; 1000 ms: c) resolve in the order the timers were
    // armed: at 400 ms b re-armed for 600 after a had armed for 600 at 300.
    assert_eq!(
        trace.events(),
        ["b@200", "a@300", "b@400", "c@500", "a@600", "b@600", "b@800", "a@900", "c@1000"]
    );
    assert_eq!(lp.time() - start, Duration::from_millis(1000));
}

#[test]
fn sleep_equal_deadlines_wake_in_insertion_order() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let deadline = lp.time() + Duration::from_millis(1234);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let t = trace.clone();
            h.create_task(async move {
                sleep_until(deadline).await;
                t.push(format!("{i}"));
            })
        })
        .collect();
    lp.run_until_complete(async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    assert_eq!(trace.events(), ["0", "1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(lp.time(), deadline);
}

#[test]
fn sleep_manual_clock_stands_still_while_tasks_are_ready() {
    let mut lp = manual_loop();
    let start = lp.time();
    let h = lp.handle();
    let busy = h.create_task(async {
        for _ in 0..50 {
            yield_now().await;
        }
    });
    let h2 = h.clone();
    let sleeper = h.create_task(async move {
        sleep(Duration::from_secs(1)).await;
        h2.time()
    });
    lp.run_until_complete(busy).unwrap().unwrap();
    assert_eq!(lp.time(), start, "clock moved while a task was ready");
    let woke_at = lp.run_until_complete(sleeper).unwrap().unwrap();
    assert_eq!(woke_at - start, Duration::from_secs(1));
}

#[test]
fn sleep_until_a_past_instant_completes_at_once() {
    let mut lp = manual_loop();
    let before = lp.time();
    lp.run_until_complete(sleep(Duration::from_secs(5))).unwrap();
    let now = lp.time();
    let polls = lp
        .run_until_complete(async move {
            let mut s = pin!(sleep_until(before));
            let waker = Waker::from(CountingWaker::new());
            let ready = s.as_mut().poll(&mut Context::from_waker(&waker)).is_ready();
            (ready, s.is_elapsed())
        })
        .unwrap();
    assert_eq!(polls, (true, true));
    lp.run_until_complete(sleep_until(now)).unwrap();
    assert_eq!(lp.time(), now, "a deadline already reached must not move the clock");
    assert_eq!(lp.next_timeout(), None, "a past deadline armed a timer");
}

#[test]
fn sleep_zero_yields_once_like_asyncio_sleep_0() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (first, second, wakes) = lp
        .run_until_complete(async {
            let mut s = pin!(sleep(Duration::ZERO));
            let counting = CountingWaker::new();
            let waker = Waker::from(counting.clone());
            let mut cx = Context::from_waker(&waker);
            let first = s.as_mut().poll(&mut cx).is_ready();
            let second = s.as_mut().poll(&mut cx).is_ready();
            (first, second, counting.wakes())
        })
        .unwrap();
    assert_eq!((first, second), (false, true), "pending once, then ready");
    assert_eq!(wakes, 1, "the yield woke its task");
    assert_eq!(lp.time(), start, "no timer, no clock movement");
    assert_eq!(lp.next_timeout(), None, "no timer armed");
}

#[test]
fn sleep_zero_lets_every_other_ready_task_run_first() {
    let order = common::run_guarded(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let other = evloop::create_task(async move { l.borrow_mut().push("other") });
        log.borrow_mut().push("before");
        sleep(Duration::ZERO).await;
        log.borrow_mut().push("after");
        other.await.unwrap();
        log.take()
    });
    assert_eq!(order, ["before", "other", "after"]);
}

#[test]
fn sleep_repolled_with_a_new_waker_wakes_only_the_latest() {
    let mut lp = manual_loop();
    let start = lp.time();
    let (first, second) = (CountingWaker::new(), CountingWaker::new());
    let (w1, w2) = (Waker::from(first.clone()), Waker::from(second.clone()));
    let elapsed = lp
        .run_until_complete(async move {
            let mut s = Box::pin(sleep(Duration::from_secs(1)));
            assert!(s.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
            assert!(s.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
            assert!(s.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
            // Outlive the sleep's deadline; the loop fires its timer meanwhile.
            sleep(Duration::from_secs(2)).await;
            let ready = s.as_mut().poll(&mut Context::from_waker(&w2)).is_ready();
            (ready, s.is_elapsed())
        })
        .unwrap();
    assert_eq!(elapsed, (true, true));
    assert_eq!(
        first.wakes(),
        0,
        "the replaced waker was woken: a second timer entry leaked"
    );
    assert_eq!(second.wakes(), 1);
    assert_eq!(lp.time() - start, Duration::from_secs(2));
    assert_eq!(lp.next_timeout(), None, "a timer entry is left over");
}

#[test]
fn sleep_dropped_while_pending_leaves_no_timer() {
    let mut lp = manual_loop();
    let start = lp.time();
    let counting = CountingWaker::new();
    let waker = Waker::from(counting.clone());
    lp.run_until_complete(async move {
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        assert!(s.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        assert!(evloop::get_running_loop().time() + Duration::from_secs(1) < s.deadline().unwrap());
        drop(s);
    })
    .unwrap();
    assert_eq!(lp.next_timeout(), None, "dropped sleep left its timer in the wheel");
    // Nothing left to jump to: the manual clock stays put and nobody is woken.
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(lp.time(), start);
    assert_eq!(counting.wakes(), 0);
}

#[test]
fn sleep_in_a_cancelled_task_never_fires() {
    let mut lp = manual_loop();
    let trace = Trace::new();
    let (t, g) = (trace.clone(), DropGuard::new(&trace, "sleeper"));
    let task = lp.handle().create_task(async move {
        let _g = g;
        sleep(Duration::from_secs(10)).await;
        t.push("woke");
    });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(
        lp.next_timeout(),
        Some(Duration::ZERO),
        "manual clock: a timer is armed"
    );
    task.cancel();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["drop sleeper"]);
    assert_eq!(lp.next_timeout(), None);
}

#[test]
fn sleep_reset_moves_the_deadline() {
    let mut lp = manual_loop();
    let start = lp.time();
    let h = lp.handle();
    let woke = lp
        .run_until_complete(async move {
            let mut s = Box::pin(sleep(Duration::from_secs(10)));
            let counting = CountingWaker::new();
            let w = Waker::from(counting);
            assert!(s.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
            s.as_mut().reset(h.time() + Duration::from_secs(2));
            s.await;
            h.time()
        })
        .unwrap();
    assert_eq!(woke - start, Duration::from_secs(2));
    assert_eq!(lp.next_timeout(), None, "reset left the old timer armed");
}

#[test]
fn sleep_created_outside_a_loop_counts_from_its_first_poll() {
    let mut lp = manual_loop();
    let s = sleep(Duration::from_secs(5));
    assert_eq!(s.deadline(), None);
    lp.run_until_complete(sleep(Duration::from_secs(100))).unwrap();
    let first_poll = lp.time();
    lp.run_until_complete(s).unwrap();
    assert_eq!(lp.time() - first_poll, Duration::from_secs(5));
}

#[test]
fn sleep_real_clock_takes_at_least_the_duration() {
    let mut lp = EventLoop::new().unwrap();
    let start = Instant::now();
    lp.run_until_complete(sleep(Duration::from_millis(100))).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(100), "woke early: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(200), "woke late: {elapsed:?}");
}

/// A sleep is measured from its own call on the real clock, not from some
/// earlier reading (the start of the tick, the last time the wheel moved):
/// after the thread has been busy, and after the wheel has sat empty while
/// real time passed, sleeps still take at least their duration.
#[test]
fn sleep_real_clock_counts_from_the_call_after_busy_and_idle_spells() {
    let mut lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        // Arm and fire one timer so the wheel has a tick, then leave it empty.
        sleep(Duration::from_millis(2)).await;
        for busy in [Duration::from_millis(30), Duration::from_millis(65)] {
            // Busy inside this poll: time moves, the wheel does not.
            std::thread::sleep(busy);
            for d in [1, 3, 20] {
                let d = Duration::from_millis(d);
                let start = Instant::now();
                sleep(d).await;
                let took = start.elapsed();
                assert!(took >= d, "sleep({d:?}) after {busy:?} busy woke after {took:?}");
            }
        }
    })
    .unwrap();
}

#[test]
fn sleep_real_clock_is_not_starved_by_a_self_waking_task() {
    let mut lp = EventLoop::new().unwrap();
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let spins = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let (st, sp) = (stop.clone(), spins.clone());
    let spinner = lp.handle().create_task(async move {
        while !st.get() {
            sp.set(sp.get() + 1);
            yield_now().await;
        }
    });
    let elapsed = lp
        .run_until_complete(async {
            let start = Instant::now();
            sleep(Duration::from_millis(10)).await;
            let elapsed = start.elapsed();
            stop.set(true);
            elapsed
        })
        .unwrap();
    lp.run_until_complete(spinner).unwrap().unwrap();
    assert!(elapsed >= Duration::from_millis(10), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(50),
        "timer delayed by a busy task: {elapsed:?}"
    );
    assert!(spins.get() > 1, "the spinner never ran alongside the timer");
}

#[test]
fn sleep_many_real_sleepers_wake_in_deadline_order() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let trace = Trace::new();
    let tasks: Vec<_> = [30u64, 10, 20, 5]
        .into_iter()
        .map(|ms| {
            let t = trace.clone();
            h.create_task(async move {
                sleep(Duration::from_millis(ms)).await;
                t.push(format!("{ms}"));
            })
        })
        .collect();
    lp.run_until_complete(async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    assert_eq!(trace.events(), ["5", "10", "20", "30"]);
}

/// evloop's timer wheel tick (1/32 ms): a deadline inside a tick fires at
/// that tick's end.
const TICK: Duration = Duration::from_nanos(31_250);

#[test]
fn sleep_sub_millisecond_deadlines_fire_at_their_own_tick_in_order() {
    // Sleeps of every size around the tick, all made at the same instant.
    // On the manual clock each ends exactly at the end of the tick its
    // deadline lies in (the deadline itself when it is a tick boundary):
    // never before the deadline, less than a tick after it. Across ticks
    // they end in deadline order; within one tick, in the order they armed.
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let trace: Trace<(u64, Duration)> = Trace::default();
    let nanos = [
        1_000_001u64,
        40_000,
        10_000,
        1_000_000,
        31_250,
        1,
        62_500,
        40_000,
        999_999,
    ];
    let tasks: Vec<_> = nanos
        .into_iter()
        .map(|n| {
            let (t, h2) = (trace.clone(), h.clone());
            h.create_task(async move {
                sleep(Duration::from_nanos(n)).await;
                t.push((n, h2.time() - start));
            })
        })
        .collect();
    lp.run_until_complete(async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    let ns = Duration::from_nanos;
    assert_eq!(
        trace.events(),
        [
            (10_000, TICK),
            (31_250, TICK),
            (1, TICK),
            (40_000, 2 * TICK),
            (62_500, 2 * TICK),
            (40_000, 2 * TICK),
            // Same tick, so armed order: within a tick exact deadlines are
            // not compared (asyncio's heap would put 999,999 ns first).
            (1_000_000, ns(1_000_000)),
            (999_999, ns(1_000_000)),
            (1_000_001, ns(1_000_000) + TICK),
        ]
    );
    for (n, at) in trace.events() {
        assert!(at >= ns(n) && at - ns(n) < TICK, "{n} ns ended at {at:?}");
    }
}

#[test]
fn sleep_timeout_wait_for_and_call_later_never_end_early_on_the_real_clock() {
    // Around and below the reactor's 1 ms granularity and the wheel's tick,
    // where rounding could go the wrong way. Only "not before the deadline"
    // is asserted: how late a wake comes depends on the machine's load.
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let early: Rc<RefCell<Vec<String>>> = Rc::default();
    let early2 = early.clone();
    lp.run_until_complete(async move {
        let us = Duration::from_micros;
        for d in [us(1), us(20), us(40), us(999), us(1000), us(1010), us(1040), us(2500)] {
            for _ in 0..5 {
                let start = Instant::now();
                sleep(d).await;
                if start.elapsed() < d {
                    early2
                        .borrow_mut()
                        .push(format!("sleep({d:?}) after {:?}", start.elapsed()));
                }

                let start = Instant::now();
                let deadline = h.time() + d;
                sleep_until(deadline).await;
                if h.time() < deadline {
                    early2
                        .borrow_mut()
                        .push(format!("sleep_until(+{d:?}) after {:?}", start.elapsed()));
                }

                let start = Instant::now();
                let timed_out = evloop::wait_for(std::future::pending::<()>(), d).await.is_err();
                if !timed_out || start.elapsed() < d {
                    early2
                        .borrow_mut()
                        .push(format!("wait_for({d:?}) after {:?}", start.elapsed()));
                }

                let start = Instant::now();
                let timed_out = evloop::timeout(d).wrap(std::future::pending::<()>()).await.is_err();
                if !timed_out || start.elapsed() < d {
                    early2
                        .borrow_mut()
                        .push(format!("timeout({d:?}) after {:?}", start.elapsed()));
                }

                let start = Instant::now();
                let took = Rc::new(std::cell::Cell::new(None));
                let t = took.clone();
                h.call_later(d, move || t.set(Some(start.elapsed())));
                while took.get().is_none() {
                    sleep(us(100)).await;
                }
                if took.get().unwrap() < d {
                    early2
                        .borrow_mut()
                        .push(format!("call_later({d:?}) after {:?}", took.get().unwrap()));
                }
            }
        }
    })
    .unwrap();
    assert!(
        early.borrow().is_empty(),
        "ended before the deadline: {:?}",
        early.borrow()
    );
}

#[test]
fn timeout_and_wait_for_end_at_the_end_of_the_deadline_tick_on_a_manual_clock() {
    // The combinators arm the same wheel: a deadline inside a tick times out
    // at that tick's end, one on a tick boundary exactly there.
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let ends = lp
        .run_until_complete(async move {
            let mut ends = Vec::new();
            for us in [1010u64, 1000] {
                let d = Duration::from_micros(us);
                let t0 = h.time();
                assert!(evloop::wait_for(std::future::pending::<()>(), d).await.is_err());
                ends.push(h.time() - t0);
                let t0 = h.time();
                assert!(evloop::timeout(d).wrap(std::future::pending::<()>()).await.is_err());
                ends.push(h.time() - t0);
            }
            ends
        })
        .unwrap();
    let ns = Duration::from_nanos;
    // The first starts at 0; the others start where the previous ended, on
    // a tick boundary, so each is measured from a tick.
    assert_eq!(ends, [ns(1_031_250), ns(1_031_250), ns(1_000_000), ns(1_000_000)]);
    assert_eq!(lp.time() - start, ns(4_062_500));
}
