//! The timer wheel seen through the public API: ordering across levels,
//! ties, cancellation, far-future and past deadlines.

mod common;

use std::time::Duration;

use common::{manual_loop, Trace};

/// A small deterministic generator (64-bit LCG) for reproducible "random" deadlines.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn call_later_many_random_timers_fire_sorted_and_on_time() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let fired: Trace<(u64, usize, u128)> = Trace::default();
    let mut rng = Lcg(0x5eed);
    let mut expected = Vec::new();
    for i in 0..5_000 {
        // Mostly spread over ~20 minutes, with many exact ties.
        let ms = match rng.next() % 4 {
            0 => rng.next() % 100,
            1 => (rng.next() % 50) * 1000,
            _ => rng.next() % 1_200_000,
        };
        expected.push((ms, i, ms as u128));
        let (f, h2) = (fired.clone(), h.clone());
        h.call_later(Duration::from_millis(ms), move || {
            f.push((ms, i, (h2.time() - start).as_millis()));
        });
    }
    lp.run_until_complete(evloop::sleep(Duration::from_secs(1300))).unwrap();
    expected.sort();
    assert_eq!(fired.len(), expected.len());
    assert!(fired.events() == expected, "timers fired out of order or off time");
}

#[test]
fn call_later_cancelled_timers_never_fire_and_free_the_wheel() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let mut rng = Lcg(7);
    let mut handles = Vec::new();
    for i in 0..1_000 {
        let t = trace.clone();
        let ms = rng.next() % 100_000;
        handles.push((
            i,
            h.call_later(Duration::from_millis(ms), move || t.push(format!("{i}"))),
        ));
    }
    // Cancel every timer except those with i % 10 == 0.
    for (i, cb) in &handles {
        if i % 10 != 0 {
            cb.cancel();
        }
    }
    lp.run_until_complete(evloop::sleep(Duration::from_secs(200))).unwrap();
    let mut fired: Vec<usize> = trace.events().iter().map(|s| s.parse().unwrap()).collect();
    fired.sort();
    let expected: Vec<usize> = (0..1_000).step_by(10).collect();
    assert_eq!(fired, expected);
    assert_eq!(lp.next_timeout(), None);

    // Cancel all of them before any fires: the manual clock has nowhere to jump.
    let start = lp.time();
    let handles: Vec<_> = (0..100)
        .map(|i| h.call_later(Duration::from_secs(i + 1), || panic!("cancelled timer fired")))
        .collect();
    for cb in &handles {
        cb.cancel();
    }
    assert_eq!(lp.next_timeout(), None, "cancelled timers still occupy the wheel");
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(lp.time(), start);
}

#[test]
fn call_at_a_past_instant_fires_on_the_next_tick_without_moving_the_clock() {
    let mut lp = manual_loop();
    let h = lp.handle();
    lp.run_until_complete(evloop::sleep(Duration::from_secs(10))).unwrap();
    let now = lp.time();
    let trace = Trace::new();
    let t = trace.clone();
    h.call_at(now - Duration::from_secs(5), move || t.push("past"));
    let t = trace.clone();
    h.call_at(now, move || t.push("now"));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(trace.events(), ["past", "now"]);
    assert_eq!(lp.time(), now);
}

#[test]
fn call_later_beyond_the_wheel_span_fires_exactly_on_time() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let trace = Trace::new();
    // The wheel spans 64^6 ticks of 1/32 ms (~25 days); these are parked
    // and re-filed, some many times.
    let far = [
        Duration::from_secs(3 * 365 * 86_400),
        Duration::from_secs(5 * 365 * 86_400 + 17),
        Duration::from_millis(64u64.pow(6) + 1),
        // One tick beyond the span.
        Duration::from_nanos((64u64.pow(6) + 1) * 31_250),
    ];
    for d in far {
        let (t, h2) = (trace.clone(), h.clone());
        h.call_later(d, move || t.push(format!("{:?}", h2.time() - start)));
    }
    lp.run_until_complete(evloop::sleep(Duration::from_secs(6 * 365 * 86_400)))
        .unwrap();
    let mut expected = far;
    expected.sort();
    let expected: Vec<String> = expected.iter().map(|d| format!("{d:?}")).collect();
    assert_eq!(trace.events(), expected);
}

#[test]
fn call_later_scheduled_from_a_timer_fires_later_in_order() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let trace = Trace::new();
    let (t, h2) = (trace.clone(), h.clone());
    h.call_later(Duration::from_millis(100), move || {
        t.push(format!("outer@{}", (h2.time() - start).as_millis()));
        for (delay, name) in [(50u64, "b"), (0, "zero"), (25, "a")] {
            let (t, h3) = (t.clone(), h2.clone());
            h2.call_later(Duration::from_millis(delay), move || {
                t.push(format!("{name}@{}", (h3.time() - start).as_millis()))
            });
        }
    });
    lp.run_until_complete(evloop::sleep(Duration::from_secs(1))).unwrap();
    assert_eq!(trace.events(), ["outer@100", "zero@100", "a@125", "b@150"]);
}

#[test]
fn call_later_sub_millisecond_delay_never_fires_early() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let trace = Trace::new();
    let (t, h2) = (trace.clone(), h.clone());
    for delay in [1510, 1500] {
        let (t, h2) = (t.clone(), h2.clone());
        h.call_later(Duration::from_micros(delay), move || {
            t.push(format!("{delay} µs at {:?}", h2.time() - start));
        });
    }
    lp.run_until_complete(evloop::sleep(Duration::from_millis(10))).unwrap();
    // A wheel tick is 1/32 ms: 1.5 ms is a tick boundary (tick 48) and fires
    // exactly on time; 1.51 ms lies inside tick 49 and rounds up to its end,
    // 1.53125 ms, never down.
    assert_eq!(trace.events(), ["1500 µs at 1.5ms", "1510 µs at 1.53125ms"]);
}
