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
use std::time::{Duration, Instant};

/// Which clock a loop reads. Chosen with [`Builder::manual_clock`](crate::Builder::manual_clock).
#[derive(Debug)]
pub(crate) struct Clock {
    origin: Instant,
    /// `Some(offset from origin)` for a manual clock.
    manual: Option<Cell<Duration>>,
}

impl Clock {
    pub(crate) fn new(manual: bool) -> Clock {
        Clock {
            origin: Instant::now(),
            manual: manual.then(|| Cell::new(Duration::ZERO)),
        }
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

    /// The wheel tick at which a timer for `deadline` may fire (rounded up).
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        let d = deadline.saturating_duration_since(self.origin);
        let ms = d.as_millis();
        let ms = if d.subsec_nanos() % 1_000_000 != 0 { ms + 1 } else { ms };
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    /// The tick that has fully passed at `now` (rounded down).
    pub(crate) fn now_tick(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
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
