//! The loop's clock: real time, or a manual clock that only moves when told.
//!
//! # Ground rules
//!
//! - Both clocks are monotonic and report `Instant`s, so user code never
//!   knows which one it runs on.
//! - The manual clock starts at the loop's creation instant and moves only
//!   through [`Clock::advance_to`], which the loop calls when it has nothing
//!   ready and a timer is armed (it jumps straight to the deadline's tick).
//! - Conversion to wheel ticks happens here and only here. One tick is
//!   [`TICK`], 1/32 ms (31.25 µs), counted from the origin. Deadlines round
//!   *up*, "now" rounds *down*, so a timer never fires before its `Instant`.
//!
//! # Implementation
//!
//! Why 1/32 ms. A deadline waits for its tick, so the tick is what rounding
//! to the wheel adds to every sleep: with 1 ms ticks a `sleep(1 ms)` became
//! a 2 ms wait once the reactor rounded its timeout up to whole
//! milliseconds as well. The reactor now waits the whole milliseconds of a
//! timeout that overshoots them by at most a tick, and spins through
//! whatever of that tick the kernel's timer slack on `epoll_wait` (50 µs by
//! default on Linux) did not cover (see `mio_timeout` in
//! `src/reactor/mod.rs`). So the tick should stay below the slack, and it
//! bounds the spin. 1/32 ms rather than a power of two of nanoseconds:
//! whole milliseconds (and every multiple of 31.25 µs) are exact ticks, so
//! a manual clock stepping through `sleep(10 ms)` still reads whole
//! milliseconds, and the conversions stay one division by a constant, as
//! they were with 1 ms ticks. The price: the wheel's span, `64^6` ticks, is about 25 days
//! (deadlines beyond it still fire exactly; they are re-filed once per
//! span), and a timer sits up to one level higher than with 1 ms ticks
//! (level 1 from 2 ms, level 2 from 128 ms, level 3 from 8.2 s), so it may
//! cascade once more on its way down the wheel (about 30 to 70 instructions
//! per timer in the benchmarks; BENCHMARKS.md, "Timer precision").

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One wheel tick: 1/32 ms.
pub(crate) const TICK: Duration = Duration::from_nanos(TICK_NANOS as u64);
const TICK_NANOS: u32 = 31_250;
const TICKS_PER_SEC: u64 = 1_000_000_000 / TICK_NANOS as u64;

/// Which clock a loop reads. Chosen with [`Builder::manual_clock`](crate::Builder::manual_clock).
///
/// A clone reads the same time: the trace writer (`event_loop/trace.rs`)
/// keeps one to stamp its events with the loop's time, manual or real.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    origin: Instant,
    /// `Some(offset from origin)` for a manual clock, shared by the clones.
    manual: Option<Rc<Cell<Duration>>>,
}

impl Clock {
    pub(crate) fn new(manual: bool) -> Clock {
        Clock {
            origin: Instant::now(),
            manual: manual.then(|| Rc::new(Cell::new(Duration::ZERO))),
        }
    }

    /// The instant the clock counts from (the loop's creation).
    pub(crate) fn origin(&self) -> Instant {
        self.origin
    }

    pub(crate) fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    pub(crate) fn now(&self) -> Instant {
        match &self.manual {
            Some(offset) => self.origin + offset.get(),
            None => Instant::now(),
        }
    }

    /// Moves a manual clock forward to `t` (never backwards). No-op on a real clock.
    pub(crate) fn advance_to(&self, t: Instant) {
        if let Some(offset) = &self.manual {
            let target = t.saturating_duration_since(self.origin);
            if target > offset.get() {
                offset.set(target);
            }
        }
    }

    /// Time since the origin, read now: what a relative deadline is measured
    /// from. Cheaper than `now()` followed by a subtraction for a deadline
    /// that is going to be turned into a tick anyway.
    pub(crate) fn elapsed(&self) -> Duration {
        match &self.manual {
            Some(offset) => offset.get(),
            None => Instant::now().saturating_duration_since(self.origin),
        }
    }

    /// How long after the origin `t` is (zero if before it).
    pub(crate) fn since(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
    }

    /// The wheel tick at which a timer for `deadline` may fire (rounded up).
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        Self::since_tick(self.since(deadline))
    }

    /// The wheel tick at which a timer for `since` after the origin may fire:
    /// whole ticks, rounded up (saturating at `u64::MAX`).
    pub(crate) fn since_tick(since: Duration) -> u64 {
        let part = u64::from(since.subsec_nanos().div_ceil(TICK_NANOS));
        since.as_secs().saturating_mul(TICKS_PER_SEC).saturating_add(part)
    }

    /// The tick that has fully passed at `now` (rounded down).
    pub(crate) fn now_tick(&self, now: Instant) -> u64 {
        let since = self.since(now);
        let part = u64::from(since.subsec_nanos() / TICK_NANOS);
        since.as_secs().saturating_mul(TICKS_PER_SEC).saturating_add(part)
    }

    /// The `Instant` at which `tick` begins.
    pub(crate) fn tick_instant(&self, tick: u64) -> Instant {
        // In range for every tick: `tick / TICKS_PER_SEC` seconds, and the
        // rest below one second's worth of nanoseconds.
        let since = Duration::new(tick / TICKS_PER_SEC, (tick % TICKS_PER_SEC) as u32 * TICK_NANOS);
        self.origin
            .checked_add(since)
            .unwrap_or_else(|| self.origin + Duration::from_secs(u32::MAX as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_tick_rounds_up_and_now_tick_rounds_down() {
        let c = Clock::new(true);
        // 1.5 ms is 48 ticks exactly; 1.51 ms lies inside tick 49.
        let t = c.now() + Duration::from_micros(1510);
        assert_eq!(c.deadline_tick(t), 49);
        assert_eq!(c.now_tick(t), 48);
        let exact = c.now() + Duration::from_millis(3);
        assert_eq!(c.deadline_tick(exact), 96);
        assert_eq!(c.now_tick(exact), 96);
        assert_eq!(Clock::since_tick(Duration::new(2, 999_999_999)), 96_000);
        assert_eq!(Clock::since_tick(Duration::new(2, 1)), 64_001);
        assert_eq!(Clock::since_tick(Duration::new(2, 31_250)), 64_001);
        assert_eq!(Clock::since_tick(Duration::new(2, 31_251)), 64_002);
        assert_eq!(Clock::since_tick(Duration::MAX), u64::MAX);
        assert_eq!(c.now_tick(c.now() + Duration::new(2, 999_999_999)), 95_999);
    }

    /// Every tick maps to the instant it begins, and back: a deadline on a
    /// tick boundary neither gains nor loses a tick, and whole milliseconds
    /// are tick boundaries.
    #[test]
    fn tick_instant_round_trips() {
        let c = Clock::new(true);
        for tick in [0, 1, 31, 32, 33, 31_999, 32_000, 32_001, 1 << 36, (1 << 36) + 7] {
            let at = c.tick_instant(tick);
            assert_eq!(c.deadline_tick(at), tick);
            assert_eq!(c.now_tick(at), tick);
            assert_eq!(c.now_tick(at - Duration::from_nanos(1)), tick.saturating_sub(1));
        }
        assert_eq!(c.tick_instant(32) - c.origin(), Duration::from_millis(1));
        assert_eq!(c.tick_instant(1) - c.origin(), TICK);
        // The largest tick a deadline can have does not panic.
        let _ = c.tick_instant(u64::MAX);
    }

    #[test]
    fn manual_clock_moves_only_forward() {
        let c = Clock::new(true);
        let start = c.now();
        c.advance_to(start + Duration::from_secs(5));
        c.advance_to(start + Duration::from_secs(1));
        assert_eq!(c.now() - start, Duration::from_secs(5));
    }
}
