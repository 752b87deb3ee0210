//! Time: the clock, the timer wheel, and [`sleep`].
//!
//! # Ground rules
//!
//! - The wheel (`wheel.rs`) is pure: it files payloads under integer ticks
//!   and knows nothing of `Instant`s, wakers or loops. The clock (`clock.rs`)
//!   converts at the edge: 1 tick = 1 ms since the loop was created.
//! - A [`Sleep`] arms at most one timer, on its first pending poll; polling
//!   it again with another waker swaps the waker in place (no new entry), and
//!   dropping it disarms the timer at once.
//! - A deadline already past completes on the first poll without arming a
//!   timer.

pub(crate) mod clock;
pub(crate) mod wheel;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::event_loop::context;
use crate::event_loop::core::{Core, TimerEntry};
use clock::Clock;
use wheel::TimerKey;

/// Stands in for "never" where an `Instant` overflow would occur (~30 years).
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `d` after `now` on the loop's clock, or `FAR_FUTURE` after it if that
/// overflows.
fn after(now: Duration, d: Duration) -> Duration {
    now.checked_add(d).unwrap_or_else(|| now + FAR_FUTURE)
}

/// Waits for `duration`: asyncio's `await asyncio.sleep(d)`.
///
/// Measured from the call on the running loop's clock (or, if no loop is
/// running yet, from the first poll). A zero duration completes at once; use
/// [`yield_now`](crate::yield_now) to give other tasks a turn.
///
/// # Panics
///
/// When polled outside a running evloop loop.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// evloop::run(evloop::sleep(Duration::from_millis(20)));
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    match context::current() {
        Some(core) => {
            // One clock read, kept as an offset from the loop's origin: the
            // first poll turns it into a wheel tick without touching an
            // `Instant` again.
            let now = core.clock.elapsed();
            Sleep {
                deadline: Deadline::Since(after(now, duration)),
                core: Some(core),
                timer: if duration.is_zero() {
                    Timer::ELAPSED
                } else {
                    Timer::IDLE
                },
            }
        }
        None => Sleep {
            deadline: Deadline::After(duration),
            core: None,
            timer: Timer::IDLE,
        },
    }
}

/// Waits until `deadline` (on the loop's clock). A deadline already past
/// completes on the first poll without arming a timer.
///
/// ```
/// use std::time::Duration;
///
/// let mut lp = evloop::EventLoop::builder().manual_clock().build()?;
/// let at = lp.time() + Duration::from_secs(10);
/// lp.run_until_complete(evloop::sleep_until(at))?;
/// assert_eq!(lp.time(), at);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Deadline::At(deadline),
        core: None,
        timer: Timer::IDLE,
    }
}

#[derive(Clone, Copy, Debug)]
enum Deadline {
    /// An instant: whether it has passed is checked on the first poll.
    At(Instant),
    /// This long after the loop clock's origin (`core` is set), computed
    /// ahead of a clock reading: it had not passed then, so the first poll
    /// arms without reading the clock (if that poll comes late, the wheel
    /// fires the timer on its next tick).
    Since(Duration),
    /// Made outside a loop: resolved against the loop's clock on first poll.
    After(Duration),
}

/// Where a sleep's timer stands, in the 16 bytes of an `Option<TimerKey>`:
/// not armed yet (`None`), armed (its key), or elapsed (a key that names no
/// timer, ever).
#[derive(Clone, Copy)]
struct Timer(Option<TimerKey>);

impl Timer {
    const IDLE: Timer = Timer(None);
    const ELAPSED: Timer = Timer(Some(TimerKey::NEVER));

    fn is_elapsed(self) -> bool {
        matches!(self.0, Some(key) if key.is_never())
    }

    /// The key of the armed timer, if one is armed.
    fn armed(self) -> Option<TimerKey> {
        self.0.filter(|key| !key.is_never())
    }
}

/// Future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Deadline,
    /// The loop whose wheel the timer goes on (known at creation inside a
    /// loop, else found at the first poll).
    core: Option<Rc<Core>>,
    timer: Timer,
}

impl Sleep {
    /// The instant this sleep ends, once known (it is fixed at creation
    /// inside a loop, or at first poll otherwise).
    pub fn deadline(&self) -> Option<Instant> {
        match (self.deadline, &self.core) {
            (Deadline::At(t), _) => Some(t),
            (Deadline::Since(since), Some(core)) => Some(core.clock.instant_at(since)),
            (Deadline::Since(_) | Deadline::After(_), _) => None,
        }
    }

    /// Whether the sleep has completed.
    pub fn is_elapsed(&self) -> bool {
        self.timer.is_elapsed()
    }

    /// Moves the deadline (earlier or later), re-arming if needed.
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = Deadline::At(deadline);
        self.timer = Timer::IDLE;
    }

    fn disarm(&mut self) {
        if let (Some(key), Some(core)) = (self.timer.armed(), &self.core) {
            self.timer = Timer::IDLE;
            drop(core.cancel_timer(key));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some(key) = this.timer.0 {
            if key.is_never() {
                return Poll::Ready(());
            }
            let core = this.core.as_ref().expect("an armed sleep knows its loop");
            let mut timers = core.timers.borrow_mut();
            let Some(entry) = timers.payload_mut(key) else {
                // The entry is gone: it fired (the wheel removes what it fires).
                drop(timers);
                this.timer = Timer::ELAPSED;
                return Poll::Ready(());
            };
            // Still armed: make sure the latest waker is the one woken.
            let current = match entry {
                TimerEntry::Task(task) => core.waker_task(cx.waker()) == Some(*task),
                TimerEntry::Wake(waker) => waker.will_wake(cx.waker()),
                TimerEntry::Call(_) => unreachable!("a Sleep's timer never holds a callback"),
            };
            let old = (!current).then(|| std::mem::replace(entry, core.timer_entry(cx.waker())));
            drop(timers);
            drop(old);
            return Poll::Pending;
        }
        let core = this.core.get_or_insert_with(|| {
            context::current().expect("evloop::sleep polled outside a running evloop event loop")
        });
        // The deadline as an offset from the clock's origin.
        let since = match this.deadline {
            Deadline::Since(since) => since,
            Deadline::At(t) => {
                let since = core.clock.since(t);
                if since <= core.clock.elapsed() {
                    this.timer = Timer::ELAPSED;
                    return Poll::Ready(());
                }
                since
            }
            Deadline::After(d) => {
                let now = core.clock.elapsed();
                let since = after(now, d);
                this.deadline = Deadline::Since(since);
                if d.is_zero() {
                    this.timer = Timer::ELAPSED;
                    return Poll::Ready(());
                }
                since
            }
        };
        let entry = core.timer_entry(cx.waker());
        this.timer = Timer(Some(arm(core, Clock::since_tick(since), entry)));
        Poll::Pending
    }
}

/// Files `entry` on `core`'s wheel for tick `tick`. A wheel that was empty
/// first catches up with the clock (see [`Wheel::catch_up`](wheel::Wheel::catch_up)),
/// the one clock read a timer may cost here, paid once per idle spell.
#[inline]
pub(crate) fn arm(core: &Core, tick: u64, entry: TimerEntry) -> TimerKey {
    let mut timers = core.timers.borrow_mut();
    if timers.is_empty() {
        timers.catch_up(core.clock.now_tick(core.clock.now()));
    }
    timers.insert(tick, entry)
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("armed", &self.timer.armed().is_some())
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future is boxed or embedded in every task that sleeps, and the
    /// wheel entry is per armed timer: keep both from growing unnoticed.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn sleep_and_wheel_entry_sizes() {
        assert_eq!(std::mem::size_of::<Sleep>(), 48);
        assert_eq!(wheel::entry_bytes::<TimerEntry>(), 48);
    }
}
