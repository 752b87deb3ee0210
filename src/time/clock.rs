//! The loop's clock: real time, or a manual clock that only moves when told.
//!
//! # Ground rules
//!
//! - Both clocks are monotonic and report `Instant`s, so user code never
//!   knows which one it runs on.
//! - The manual clock starts at the loop's creation instant and moves only
//!   through [`Clock::advance_to`], which the loop calls when it has nothing
//!   ready and a timer is armed (it jumps straight to the deadline).
//! - Conversion to wheel ticks (milliseconds since the origin) happens here
//!   and only here: deadlines round *up*, "now" rounds *down*, so a timer
//!   never fires before its `Instant`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

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
    /// whole milliseconds, rounded up (saturating at `u64::MAX`).
    pub(crate) fn since_tick(since: Duration) -> u64 {
        let part = u64::from(since.subsec_nanos().div_ceil(1_000_000));
        since.as_secs().saturating_mul(1000).saturating_add(part)
    }

    /// The tick that has fully passed at `now` (rounded down).
    pub(crate) fn now_tick(&self, now: Instant) -> u64 {
        let since = self.since(now);
        let part = u64::from(since.subsec_millis());
        since.as_secs().saturating_mul(1000).saturating_add(part)
    }

    /// The `Instant` at which `tick` begins.
    pub(crate) fn tick_instant(&self, tick: u64) -> Instant {
        self.origin
            .checked_add(Duration::from_millis(tick))
            .unwrap_or_else(|| self.origin + Duration::from_secs(u32::MAX as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_tick_rounds_up_and_now_tick_rounds_down() {
        let c = Clock::new(true);
        let t = c.now() + Duration::from_micros(1500);
        assert_eq!(c.deadline_tick(t), 2);
        assert_eq!(c.now_tick(t), 1);
        let exact = c.now() + Duration::from_millis(3);
        assert_eq!(c.deadline_tick(exact), 3);
        assert_eq!(c.now_tick(exact), 3);
        assert_eq!(Clock::since_tick(Duration::new(2, 999_999_999)), 3000);
        assert_eq!(Clock::since_tick(Duration::new(2, 1)), 2001);
        assert_eq!(Clock::since_tick(Duration::MAX), u64::MAX);
        assert_eq!(c.now_tick(c.now() + Duration::new(2, 999_999_999)), 2999);
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
