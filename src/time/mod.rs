//! Time: the clock, the timer wheel, and [`sleep`].
//!
//! A loop's [`Timers`] (its clock and wheel) live here, in an `Rc` the loop
//! and every armed [`Sleep`] share; a `Sleep` finds the running loop's
//! through this module's own thread-local, which the loop sets while it
//! runs (`event_loop/context.rs`). So time depends on nothing of the loop's:
//! the loop fires what the wheel returns (tick step 4, `event_loop/core.rs`).
//!
//! # Ground rules
//!
//! - The wheel (`wheel.rs`) is pure: it files payloads under integer ticks
//!   and knows nothing of `Instant`s, wakers or loops. The clock (`clock.rs`)
//!   converts at the edge: 1 tick = 1/32 ms (31.25 µs), counted from the
//!   loop's creation.
//! - A timer fires once its deadline's tick has passed: never before its
//!   deadline, and after it by less than a tick plus the reactor's wait
//!   granularity (epoll counts milliseconds: see `mio_timeout` in
//!   `src/reactor/mod.rs`). On an idle loop a `sleep(1 ms)` takes about
//!   1.08 ms; a sleep shorter than 1 ms takes about 1.08 ms too.
//! - A [`Sleep`] arms at most one timer, on its first pending poll; polling
//!   it again with another waker swaps the waker in place (no new entry), and
//!   dropping it disarms the timer at once.
//! - A deadline already past completes on the first poll without arming a
//!   timer (spending one unit of the task's cooperative budget, so a loop
//!   over past deadlines still yields every 128); a zero duration ([`sleep`] of `Duration::ZERO`, asyncio's
//!   `sleep(0)`) yields once instead, without a timer either.
//! - A [`Sleep`] is 32 bytes, because every task that sleeps holds one (an
//!   `async` block that awaits one it captured holds two): its deadline is
//!   one `i64` of nanoseconds, counted from the loop clock's origin once the
//!   sleep knows its loop, and before that (a [`sleep_until`]) from a
//!   process-wide epoch. Deadlines saturate ~292 years out.
//! - A [`Sleep`] is a `futures_core::future::FusedFuture`: terminated once
//!   elapsed, so `futures::select!` takes one without `.fuse()`. Polling it
//!   again after that still returns `Ready` at once (it never panics).

pub(crate) mod clock;
pub(crate) mod wheel;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use clock::Clock;
use wheel::{TimerKey, Wheel};

/// A loop's timers: its clock and its wheel.
pub(crate) struct Timers {
    pub(crate) clock: Clock,
    wheel: RefCell<Wheel<TimerEntry>>,
    /// Timers disarmed before they fired, for `Stats`.
    cancelled: Cell<u64>,
}

impl Timers {
    pub(crate) fn new(manual_clock: bool) -> Timers {
        Timers {
            clock: Clock::new(manual_clock),
            wheel: RefCell::new(Wheel::new()),
            cancelled: Cell::new(0),
        }
    }

    /// Files `entry` for tick `tick`. A wheel that was empty first catches
    /// up with the clock (see [`Wheel::catch_up`]), the one clock read a
    /// timer may cost here, paid once per idle spell.
    #[inline]
    pub(crate) fn arm(&self, tick: u64, entry: TimerEntry) -> TimerKey {
        let mut wheel = self.wheel.borrow_mut();
        if wheel.is_empty() {
            wheel.catch_up(self.clock.now_tick(self.clock.now()));
        }
        wheel.insert(tick, entry)
    }

    /// Disarms a timer; `None` if it already fired or was disarmed.
    pub(crate) fn cancel(&self, key: TimerKey) -> Option<TimerEntry> {
        // `try_` because a destructor may run while the wheel is being drained.
        let entry = self.wheel.try_borrow_mut().ok()?.remove(key);
        if entry.is_some() {
            self.cancelled.set(self.cancelled.get() + 1);
        }
        entry
    }

    /// Timers disarmed before they fired, so far.
    pub(crate) fn cancelled(&self) -> u64 {
        self.cancelled.get()
    }

    /// Timers armed right now.
    pub(crate) fn len(&self) -> usize {
        self.wheel.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.wheel.borrow().is_empty()
    }

    /// The instant of the wheel's next expiration (timer or cascade).
    pub(crate) fn next_expiration(&self) -> Option<Instant> {
        let tick = self.wheel.borrow().next_expiration()?.1;
        Some(self.clock.tick_instant(tick))
    }

    /// Moves every timer due by `now` (a tick) into `fired`.
    pub(crate) fn poll(&self, now: u64, fired: &mut Vec<TimerEntry>) {
        self.wheel.borrow_mut().poll(now, fired);
    }

    /// Takes every timer out (the loop is closing).
    pub(crate) fn drain(&self) -> wheel::Drained<TimerEntry> {
        self.wheel.borrow_mut().drain()
    }
}

thread_local! {
    /// The timers of the loop running on this thread, if one runs.
    static CURRENT: RefCell<Option<Rc<Timers>>> = const { RefCell::new(None) };
}

/// Makes `timers` the running loop's (the loop's `enter`), or none (its
/// exit).
pub(crate) fn set_current(timers: Option<Rc<Timers>>) {
    // `try_with`: a loop dropped during thread exit has nothing to set.
    let _ = CURRENT.try_with(|current| *current.borrow_mut() = timers);
}

/// The running loop's timers, if a loop runs on this thread.
fn current() -> Option<Rc<Timers>> {
    CURRENT.try_with(|current| current.borrow().clone()).ok().flatten()
}

/// The running loop's clock reading, if a loop runs on this thread.
pub(crate) fn now() -> Option<Instant> {
    CURRENT
        .try_with(|current| current.borrow().as_ref().map(|t| t.clock.now()))
        .ok()
        .flatten()
}

/// Stands in for "never" where an `Instant` overflow would occur (~30 years).
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A duration in nanoseconds, saturating at `i64::MAX` (~292 years).
#[inline]
fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// `to - from` in nanoseconds, negative if `to` is earlier (saturating).
fn signed_nanos(from: Instant, to: Instant) -> i64 {
    match to.checked_duration_since(from) {
        Some(d) => nanos(d),
        None => nanos(from.duration_since(to)).saturating_neg(),
    }
}

/// `n` nanoseconds after (before, if negative) `base`; `base` itself if that
/// instant cannot be represented.
fn offset(base: Instant, n: i64) -> Instant {
    let d = Duration::from_nanos(n.unsigned_abs());
    let t = if n >= 0 {
        base.checked_add(d)
    } else {
        base.checked_sub(d)
    };
    t.unwrap_or(base)
}

/// The instant a [`sleep_until`] deadline is stored relative to, until the
/// sleep meets its loop: the first time any sleep asked (one per process).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Waits for `duration`: asyncio's `await asyncio.sleep(d)`.
///
/// Measured from the call on the running loop's clock (or, if no loop is
/// running yet, from the first poll). A zero duration yields: the task goes
/// to the back of the run queue and resumes next tick, exactly like
/// [`yield_now`](crate::yield_now), as asyncio's `sleep(0)` does. A duration
/// beyond ~292 years from the loop's creation is cut to that.
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
    match current() {
        Some(timers) => {
            // One clock read, kept as an offset from the loop's origin: the
            // first poll turns it into a wheel tick without touching an
            // `Instant` again.
            let now = nanos(timers.clock.elapsed());
            Sleep {
                deadline: now.saturating_add(nanos(duration)),
                timers: Some(timers),
                timer: if duration.is_zero() {
                    Timer::of(State::Yield)
                } else {
                    Timer::of(State::Since)
                },
            }
        }
        None => Sleep {
            deadline: nanos(duration),
            timers: None,
            timer: Timer::of(State::After),
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
        deadline: signed_nanos(epoch(), deadline),
        timers: None,
        timer: Timer::of(State::At),
    }
}

/// What a [`Sleep`]'s `deadline` means and where its timer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A zero-length sleep not yet polled: its first poll yields to the loop
    /// (asyncio's `sleep(0)`); the deadline is as in `Since`.
    Yield,
    /// Not armed; the deadline is nanoseconds after the loop clock's origin
    /// (`timers` is set), computed ahead of a clock reading: it had not passed
    /// then, so the first poll arms without reading the clock (if that poll
    /// comes late, the wheel fires the timer on its next tick).
    Since,
    /// Not armed; the deadline is nanoseconds after [`epoch`], an instant
    /// whether it has passed is checked on the first poll.
    At,
    /// Made outside a loop; the deadline is a duration in nanoseconds,
    /// measured from the first poll on the loop's clock.
    After,
    /// Armed (the key's halves are in [`Timer`]); the deadline is as in `Since`.
    Armed,
    /// Completed; the deadline is as in `Since`.
    Elapsed,
}

/// A [`State`] and, when armed, the timer's key, packed into 16 bytes (an
/// `Option<TimerKey>` and a tag would take 24, because the key's padding
/// cannot hold the tag).
#[derive(Clone, Copy)]
struct Timer {
    state: State,
    index: u32,
    /// Meaningful only when armed; a key's generation is never 0, so
    /// turning the halves back into a key cannot fail (no `expect` on the
    /// timer path, issue #15).
    gen: NonZeroU64,
}

impl Timer {
    const ELAPSED: Timer = Timer::of(State::Elapsed);

    const fn of(state: State) -> Timer {
        Timer {
            state,
            index: 0,
            gen: NonZeroU64::MIN,
        }
    }

    fn armed(key: TimerKey) -> Timer {
        let (index, gen) = key.into_raw();
        Timer {
            state: State::Armed,
            index,
            gen,
        }
    }

    /// The key of the armed timer, if one is armed.
    fn key(self) -> Option<TimerKey> {
        (self.state == State::Armed).then(|| TimerKey::from_raw(self.index, self.gen))
    }
}

/// Future returned by [`sleep`] and [`sleep_until`].
///
/// 32 bytes: the loop, the deadline in nanoseconds (what it is counted from
/// depends on the state), and the state with the timer's key.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    /// The timers of the loop whose wheel the timer goes on (known at
    /// creation inside a loop, else found at the first poll). Set in every
    /// state but `At` and `After`.
    timers: Option<Rc<Timers>>,
    /// Nanoseconds; see [`State`] for what from.
    deadline: i64,
    timer: Timer,
}

impl Sleep {
    /// The instant this sleep ends, once known (it is fixed at creation
    /// inside a loop, or at first poll otherwise).
    pub fn deadline(&self) -> Option<Instant> {
        match (self.timer.state, &self.timers) {
            (State::At, _) => Some(offset(epoch(), self.deadline)),
            (State::After, _) => None,
            (_, Some(timers)) => Some(offset(timers.clock.origin(), self.deadline)),
            (_, None) => None,
        }
    }

    /// Whether the sleep has completed.
    pub fn is_elapsed(&self) -> bool {
        self.timer.state == State::Elapsed
    }

    /// Moves the deadline (earlier or later), re-arming if needed.
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = signed_nanos(epoch(), deadline);
        self.timer = Timer::of(State::At);
    }

    fn disarm(&mut self) {
        if let (Some(key), Some(timers)) = (self.timer.key(), &self.timers) {
            self.timer = Timer::of(State::Since);
            drop(timers.cancel(key));
        }
    }
}

/// Terminated once elapsed, so `futures::select!` takes a `Sleep` as is
/// (a sleep [`reset`](Sleep::reset) after elapsing runs again).
///
/// ```
/// use std::time::Duration;
/// use futures::{future::FutureExt, select};
///
/// evloop::run(async {
///     let mut tick = std::pin::pin!(evloop::sleep(Duration::from_millis(1)));
///     let mut never = std::future::pending::<()>().fuse();
///     select! {
///         () = tick => {}
///         () = never => unreachable!(),
///     }
///     assert!(futures::future::FusedFuture::is_terminated(&*tick));
/// });
/// ```
impl futures_core::future::FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.is_elapsed()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match this.timer.state {
            State::Elapsed => return Poll::Ready(()),
            State::Yield => {
                this.timer = Timer::ELAPSED;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            _ => {}
        }
        if let Some(key) = this.timer.key() {
            let timers = this.timers.as_ref().expect("an armed sleep knows its loop");
            let mut wheel = timers.wheel.borrow_mut();
            let Some(entry) = wheel.payload_mut(key) else {
                // The entry is gone: it fired (the wheel removes what it fires).
                drop(wheel);
                this.timer = Timer::ELAPSED;
                return Poll::Ready(());
            };
            // Still armed: make sure the latest waker is the one woken. (A
            // Sleep's timer never holds a callback.)
            debug_assert!(matches!(entry, TimerEntry::Wake(_)));
            let current = matches!(entry, TimerEntry::Wake(waker) if waker.will_wake(cx.waker()));
            let old = (!current).then(|| std::mem::replace(entry, TimerEntry::Wake(cx.waker().clone())));
            drop(wheel);
            drop(old);
            return Poll::Pending;
        }
        let timers = this
            .timers
            .get_or_insert_with(|| current().expect("evloop::sleep polled outside a running evloop event loop"));
        // From here on the deadline counts from the clock's origin.
        match this.timer.state {
            State::At => {
                let deadline = signed_nanos(timers.clock.origin(), offset(epoch(), this.deadline));
                if deadline <= nanos(timers.clock.elapsed()) {
                    // Ready at once, and again and again for a loop over
                    // deadlines already past: a leaf the budget covers. A
                    // spent budget leaves the state as it was.
                    ready!(crate::task::coop::poll_proceed(cx));
                    this.deadline = deadline;
                    this.timer = Timer::ELAPSED;
                    return Poll::Ready(());
                }
                this.deadline = deadline;
            }
            State::After => {
                let after = this.deadline;
                this.deadline = nanos(timers.clock.elapsed()).saturating_add(after);
                if after == 0 {
                    this.timer = Timer::ELAPSED;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            _ => {}
        }
        // Positive: `Since` was made from a non-zero duration, `At` and
        // `After` were just checked against the clock.
        let since = Duration::from_nanos(this.deadline.unsigned_abs());
        let entry = TimerEntry::Wake(cx.waker().clone());
        this.timer = Timer::armed(timers.arm(Clock::since_tick(since), entry));
        Poll::Pending
    }
}

/// What a timer on the loop's wheel holds, and so does when it fires (the
/// tick's step 4 in `event_loop/core.rs`).
pub(crate) enum TimerEntry {
    /// Wake this waker: a `Sleep`'s.
    Wake(Waker),
    /// Queue this callback: `call_later` and `call_at`.
    Call(Rc<CallbackCell>),
}

/// A callback scheduled with `call_soon`, `call_later` or `call_at`,
/// shared with its cancellable handle: what the run queue runs and a timer
/// may hold.
pub(crate) struct CallbackCell {
    pub(crate) f: Cell<Option<Box<dyn FnOnce()>>>,
    pub(crate) cancelled: Cell<bool>,
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("armed", &self.timer.key().is_some())
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
        assert_eq!(std::mem::size_of::<Sleep>(), 32);
        assert_eq!(wheel::entry_bytes::<TimerEntry>(), 48);
    }

    /// The nanosecond deadline gives back the exact `Instant` it was made
    /// from, before and after the sleep meets its loop, even one earlier
    /// than the epoch or the loop; far deadlines saturate instead of panicking.
    #[test]
    fn deadline_round_trips_exactly_and_saturates() {
        let past = Instant::now();
        let mut lp = crate::EventLoop::builder().manual_clock().build().unwrap();
        let later = lp.time() + Duration::new(3, 7);
        lp.run_until_complete(async move {
            let mut early = Box::pin(sleep_until(past));
            assert_eq!(early.deadline(), Some(past));
            early.as_mut().await;
            assert_eq!(early.deadline(), Some(past));
            let mut s = Box::pin(sleep(Duration::from_secs(1)));
            s.as_mut().reset(later);
            assert_eq!(s.deadline(), Some(later));
            s.as_mut().await;
            assert_eq!(s.deadline(), Some(later));
            let forever = sleep(Duration::MAX);
            assert!(forever.deadline().unwrap() > later + Duration::from_secs(86_400 * 365 * 200));
        })
        .unwrap();
        // The manual clock jumps to the wheel tick: 7 ns past a whole second
        // lies inside the tick that ends 1/32 ms after that second.
        assert_eq!(lp.time() - later, clock::TICK - Duration::from_nanos(7));
    }
}
