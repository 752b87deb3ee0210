//! Stress: a million timers with random deadlines, half of them cancelled,
//! on a manual clock.
//!
//! Sizes: 1,000,000 timers in every build (a few seconds in the debug build
//! `cargo test` makes); 500 under Miri.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

mod common;
use common::manual_loop;

const TIMERS: usize = if cfg!(miri) { 500 } else { 1_000_000 };

/// evloop's timer wheel tick (1/32 ms): how late a manual clock may fire a
/// timer whose deadline lies inside a tick. (The deadlines here are whole
/// milliseconds, tick boundaries, so they fire exactly on time.)
const TICK: Duration = Duration::from_nanos(31_250);

/// A small deterministic generator (xorshift64*), so the test needs no deps
/// and every run sees the same deadlines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A delay spread over every level of the wheel: mostly under a minute,
/// some hours to days, a few years (beyond the wheel's span).
fn delay(rng: &mut Rng) -> Duration {
    let r = rng.next();
    let ms = match r % 16 {
        0..=9 => r % 60_000,
        10..=13 => r % (10 * 86_400_000),
        14 => r % 64,
        _ => r % (5 * 365 * 86_400_000),
    };
    Duration::from_millis(ms)
}

#[test]
fn stress_million_timers_half_cancelled_fire_in_order() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Each fired timer logs (its deadline, its index).
    let fired: Rc<RefCell<Vec<(Instant, usize)>>> = Rc::default();
    let late = Rc::new(Cell::new(0usize));
    let mut handles = Vec::with_capacity(TIMERS);
    let mut deadlines = Vec::with_capacity(TIMERS);
    for i in 0..TIMERS {
        let when = start + delay(&mut rng);
        deadlines.push(when);
        let (fired, late, h2) = (fired.clone(), late.clone(), h.clone());
        handles.push(h.call_at(when, move || {
            let now = h2.time();
            // With a manual clock a timer fires no earlier than its deadline
            // and less than one wheel tick after it.
            if now < when || now - when >= TICK {
                late.set(late.get() + 1);
            }
            fired.borrow_mut().push((when, i));
        }));
    }
    // Cancel every other timer.
    for handle in handles.iter().step_by(2) {
        handle.cancel();
    }
    let stop = h.clone();
    let end = start + Duration::from_secs(6 * 365 * 86_400);
    h.call_at(end, move || stop.stop());
    lp.run_forever().unwrap();

    let fired = fired.borrow();
    assert_eq!(late.get(), 0, "timers fired off their deadline");
    assert_eq!(fired.len(), TIMERS / 2, "exactly the uncancelled timers fire");
    assert!(fired.iter().all(|&(_, i)| i % 2 == 1), "a cancelled timer fired");
    // Deadline order, ties in scheduling order.
    assert!(fired.windows(2).all(|w| w[0] <= w[1]), "timers fired out of order");
    assert!(fired.iter().all(|&(when, i)| deadlines[i] == when));
}

#[test]
fn stress_timers_reset_repeatedly_fire_once_at_the_last_deadline() {
    // The pattern of an idle-connection timeout: each timer is cancelled and
    // re-armed many times before it finally fires.
    const N: usize = if cfg!(miri) { 50 } else { 10_000 };
    const RESETS: usize = if cfg!(miri) { 5 } else { 20 };
    let mut lp = manual_loop();
    let h = lp.handle();
    let start = lp.time();
    let mut rng = Rng(42);
    let fired: Rc<RefCell<Vec<(usize, Instant)>>> = Rc::default();
    let mut last = vec![start; N];
    let mut handles: Vec<Option<evloop::CallbackHandle>> = (0..N).map(|_| None).collect();
    for _ in 0..RESETS {
        for (i, slot) in handles.iter_mut().enumerate() {
            if let Some(old) = slot.take() {
                old.cancel();
            }
            last[i] = start + delay(&mut rng);
            let (fired, h2) = (fired.clone(), h.clone());
            *slot = Some(h.call_at(last[i], move || fired.borrow_mut().push((i, h2.time()))));
        }
    }
    let stop = h.clone();
    h.call_at(start + Duration::from_secs(6 * 365 * 86_400), move || stop.stop());
    lp.run_forever().unwrap();
    let mut fired = fired.take();
    assert_eq!(fired.len(), N, "each timer fires once, at its last deadline only");
    fired.sort_by_key(|&(i, _)| i);
    for (i, (index, at)) in fired.into_iter().enumerate() {
        assert_eq!(index, i, "timer {i} fired twice or not at all");
        assert!(at >= last[i] && at - last[i] < TICK, "timer {i} fired off its deadline");
    }
}
