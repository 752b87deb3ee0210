//! A hierarchical timing wheel, pure: it knows integer ticks, not `Instant`s.
//!
//! # Implementation
//!
//! The wheel is Varghese and Lauck's hierarchical timing wheel ("Hashed and
//! Hierarchical Timing Wheels", SOSP 1987), in the shape tokio's timer made
//! popular: [`LEVELS`] levels of 64 slots each. A slot on level `n` covers
//! `64^n` ticks, so level 0 has one slot per tick (1/32 ms in evloop, so 2
//! ms per level-0 rotation) and the whole wheel spans `64^6` ticks (about 25
//! days in evloop; the wheel itself does not care). An entry lives on
//! the lowest level whose slot width still separates its deadline from the
//! wheel's current tick (`elapsed`); when time reaches a slot on a higher
//! level, the slot is emptied and its entries drop ("cascade") to lower levels.
//!
//! Each slot is a circular doubly linked list threaded by index through one
//! array of links, whose first [`LISTS`] nodes are the slots' list heads and
//! the rest one per entry; an entry's deadline, sequence number and payload
//! sit in a parallel array. A head in the same array as the entries means
//! unlinking never needs to know which slot an entry is on (its neighbours
//! are enough), so an entry carries no slot id: 8 bytes of links plus
//! `16 + size_of::<T>()` of data. Insert and cancel are O(1) and allocate
//! nothing beyond the arrays' amortised growth; freed entries are reused
//! through a free list. A 64-bit `occupied` mask per level finds the next
//! non-empty slot with one `trailing_zeros`.
//!
//! # Ground rules
//!
//! - `elapsed` never goes backwards; an entry whose deadline is already past is
//!   stored as due "now" and fires on the next [`Wheel::poll`].
//! - Entries fire in deadline order, and entries with the same deadline fire in
//!   insertion order (every entry carries a sequence number, its key's
//!   generation). Every slot's list is kept sorted by sequence number: a new
//!   entry has the highest one and goes at the tail, and an entry re-filed by
//!   a cascade is placed by its number. A level-0 slot holds one tick's
//!   timers, so firing it in list order is firing in insertion order.
//! - A removed entry never fires, and its slot in the arrays is freed at once.
//! - A deadline beyond the wheel's span is parked on the top level and
//!   re-filed each time its slot comes round, until it is in range.
//!
//! # Fields and who may touch them
//!
//! Only the owning loop touches a wheel, through `&mut self`: there is no
//! interior mutability here, so no borrow can fail inside.

use std::num::NonZeroU64;

/// Number of levels. `64^LEVELS` ticks is the span the wheel can file exactly.
pub(crate) const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Number of slot lists, hence of list heads at the start of `links`.
const LISTS: usize = LEVELS * SLOTS;
/// Deadlines further than this from `elapsed` are filed as if they were this far.
const MAX_SPAN: u64 = (1 << (SLOT_BITS * LEVELS as u32)) - 1;
const NIL: u32 = u32::MAX;

/// Names one armed timer. The generation makes a key stale once its entry
/// fired or was removed, even if the slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    gen: NonZeroU64,
}

impl TimerKey {
    /// The key's two halves (index, generation), for a holder that packs
    /// them next to state of its own instead of paying for the padding.
    #[inline]
    pub(crate) fn into_raw(self) -> (u32, NonZeroU64) {
        (self.index, self.gen)
    }

    /// The key whose halves [`TimerKey::into_raw`] returned.
    #[inline]
    pub(crate) fn from_raw(index: u32, gen: NonZeroU64) -> TimerKey {
        TimerKey { index, gen }
    }
}

/// A node's neighbours in its circular list (node indices into `links`).
/// A vacant entry's `next` links the free list instead.
#[derive(Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

struct Entry<T> {
    when: u64,
    /// Insertion sequence number (never 0), or 0 when the entry is vacant.
    gen: u64,
    payload: Option<T>,
}

/// Every timer a wheel held, taken out by [`Wheel::drain`]: dropping it
/// drops their payloads.
pub(crate) struct Drained<T>(Vec<Entry<T>>);

impl<T> Drained<T> {
    /// The payloads.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter().filter_map(|e| e.payload.as_ref())
    }
}

/// The timing wheel. `T` is what a timer carries (a waker, a callback).
pub(crate) struct Wheel<T> {
    elapsed: u64,
    /// The next entry's sequence number (never 0: no `expect` on the
    /// timer path, issue #15).
    next_gen: NonZeroU64,
    len: usize,
    /// First vacant entry, or `NIL`.
    free: u32,
    occupied: [u64; LEVELS],
    /// `LISTS` list heads (node `level * SLOTS + slot`), then entry `i` at
    /// node `LISTS + i`.
    links: Vec<Link>,
    entries: Vec<Entry<T>>,
}

/// Bytes an armed timer carrying a `T` takes in the wheel (links + entry).
#[cfg(test)]
pub(crate) fn entry_bytes<T>() -> usize {
    std::mem::size_of::<Link>() + std::mem::size_of::<Entry<T>>()
}

/// The level on which a deadline `when` is filed, seen from tick `elapsed`:
/// the level of the highest bit in which the two differ.
#[inline]
fn level_for(elapsed: u64, when: u64) -> usize {
    // OR-ing in the level-0 mask makes "same slot as now" land on level 0.
    let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros() as usize;
    (significant / SLOT_BITS as usize).min(LEVELS - 1)
}

/// The slot index of `when` on `level`.
#[inline]
fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1)
}

/// Ticks covered by one slot on `level`.
fn slot_range(level: usize) -> u64 {
    1 << (level as u32 * SLOT_BITS)
}

/// The node of entry `index`.
#[inline]
fn node(index: u32) -> usize {
    LISTS + index as usize
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Wheel {
            elapsed: 0,
            next_gen: NonZeroU64::MIN,
            len: 0,
            free: NIL,
            occupied: [0; LEVELS],
            links: Self::heads(),
            entries: Vec::new(),
        }
    }

    /// Every list head, pointing at itself (an empty list). Out of line:
    /// `new` and `drain` share one copy of the loop (issue #15).
    #[inline(never)]
    fn heads() -> Vec<Link> {
        (0..LISTS as u32).map(|n| Link { prev: n, next: n }).collect()
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms a timer for tick `when` (clamped to "now" if already past).
    #[inline]
    pub(crate) fn insert(&mut self, when: u64, payload: T) -> TimerKey {
        let when = when.max(self.elapsed);
        let key_gen = self.next_gen;
        self.next_gen = key_gen.saturating_add(1);
        let gen = key_gen.get();
        let index = if self.free != NIL {
            let index = self.free;
            self.free = self.links[node(index)].next;
            let entry = &mut self.entries[index as usize];
            entry.when = when;
            entry.gen = gen;
            // A vacant entry's payload is `None`: nothing to drop.
            debug_assert!(entry.payload.is_none());
            std::mem::forget(entry.payload.replace(payload));
            index
        } else {
            let entry = Entry {
                when,
                gen,
                payload: Some(payload),
            };
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&i| i < NIL - LISTS as u32)
                .expect("more than 4 billion timers armed at once");
            self.entries.push(entry);
            self.links.push(Link { prev: NIL, next: NIL });
            index
        };
        self.len += 1;
        self.file(index, when, None);
        TimerKey { index, gen: key_gen }
    }

    /// Moves an empty wheel's current tick up to `now` (no-op otherwise).
    ///
    /// The loop polls (and so advances) the wheel only while it holds
    /// timers, so after an idle spell `elapsed` lags the clock, and a timer
    /// filed against it lands on a needlessly high level and cascades on
    /// its way down. An empty wheel has nothing to fire or cascade, so it
    /// can jump for free.
    pub(crate) fn catch_up(&mut self, now: u64) {
        if self.len == 0 {
            self.elapsed = self.elapsed.max(now);
        }
    }

    /// Disarms a timer, returning its payload, or `None` if the key is stale
    /// (the timer already fired or was removed).
    #[inline]
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        if entry.gen != key.gen.get() {
            return None;
        }
        entry.gen = 0;
        let payload = entry.payload.take();
        self.unlink(key.index);
        self.release(key.index);
        payload
    }

    /// Whether the timer is still armed.
    #[cfg(test)]
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        matches!(self.entries.get(key.index as usize), Some(e) if e.gen == key.gen.get())
    }

    /// Mutable access to an armed timer's payload (to swap a waker).
    #[inline]
    pub(crate) fn payload_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some(e) if e.gen == key.gen.get() => e.payload.as_mut(),
            _ => None,
        }
    }

    /// The tick at which the wheel next has work: a timer to fire, or a slot
    /// to cascade. `None` when no timer is armed.
    pub(crate) fn next_expiration(&self) -> Option<(usize, u64)> {
        // Lower levels always expire first: everything on level n lies within
        // the current level-(n+1) slot, which is before any other slot there.
        (0..LEVELS).find_map(|level| self.level_expiration(level).map(|t| (level, t)))
    }

    fn level_expiration(&self, level: usize) -> Option<u64> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let range = slot_range(level);
        let now_slot = slot_for(self.elapsed, level);
        // Above level 0 the current slot can hold only the top level's parked
        // far-future entries, which belong to the next rotation: search from
        // the slot after it, so they come last rather than hiding the others.
        let start = if level == 0 { now_slot } else { (now_slot + 1) % SLOTS };
        let slot = (occupied.rotate_right(start as u32).trailing_zeros() as usize + start) % SLOTS;
        let level_range = range << SLOT_BITS;
        let level_start = self.elapsed & !(level_range - 1);
        let mut deadline = level_start + slot as u64 * range;
        // A slot "behind" the current one is in the next rotation. On levels
        // above 0 the current slot is never occupied except for the top
        // level's parked far-future entries, which also belong to the next
        // rotation.
        if deadline < self.elapsed || (level > 0 && deadline == self.elapsed) {
            deadline += level_range;
        }
        debug_assert!(deadline >= self.elapsed);
        Some(deadline)
    }

    /// Advances to tick `now`, pushing the payloads of every timer due at or
    /// before `now` onto `fired`, in deadline order, ties in insertion order.
    pub(crate) fn poll(&mut self, now: u64, fired: &mut Vec<T>) {
        while let Some((level, tick)) = self.next_expiration() {
            if tick > now {
                break;
            }
            self.elapsed = tick;
            let slot = slot_for(tick, level);
            let head = (level * SLOTS + slot) as u32;
            // Detach the whole list; its nodes still chain to `head` at the end.
            let mut n = std::mem::replace(&mut self.links[head as usize], Link { prev: head, next: head }).next;
            self.occupied[level] &= !(1 << slot);
            while n != head {
                let next = self.links[n as usize].next;
                let index = n - LISTS as u32;
                let entry = &mut self.entries[index as usize];
                if level == 0 {
                    // One tick per level-0 slot, and the list is in insertion order.
                    debug_assert_eq!(entry.when, tick);
                    entry.gen = 0;
                    if let Some(payload) = entry.payload.take() {
                        fired.push(payload);
                    }
                    self.release(index);
                } else {
                    let (when, gen) = (entry.when, entry.gen);
                    self.file(index, when, Some(gen));
                }
                n = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Removes every timer, returning their payloads (used when a loop
    /// closes). The entries go out as they are, vacant ones included: no
    /// `Vec` of payloads is built (issue #15).
    pub(crate) fn drain(&mut self) -> Drained<T> {
        self.occupied = [0; LEVELS];
        self.links = Self::heads();
        self.free = NIL;
        self.len = 0;
        Drained(std::mem::take(&mut self.entries))
    }

    /// Links entry `index` (deadline `when`) into the slot its deadline calls
    /// for. A new entry (`refile` is `None`) goes at the tail; one re-filed by
    /// a cascade (`Some(its sequence number)`) goes after the last entry with
    /// a lower number, which keeps every list in insertion order.
    #[inline]
    fn file(&mut self, index: u32, when: u64, refile: Option<u64>) {
        let elapsed = self.elapsed;
        let placed = when.min(elapsed.saturating_add(MAX_SPAN));
        let level = level_for(elapsed, placed);
        let slot = slot_for(placed, level);
        let head = (level * SLOTS + slot) as u32;
        let mut after = self.links[head as usize].prev;
        if let Some(gen) = refile {
            while after != head && self.entries[(after - LISTS as u32) as usize].gen > gen {
                after = self.links[after as usize].prev;
            }
        }
        let before = self.links[after as usize].next;
        let n = node(index) as u32;
        self.links[n as usize] = Link {
            prev: after,
            next: before,
        };
        self.links[after as usize].next = n;
        self.links[before as usize].prev = n;
        self.occupied[level] |= 1 << slot;
    }

    /// Takes entry `index` out of its slot's list, clearing the slot's
    /// `occupied` bit if the list is left empty.
    #[inline]
    fn unlink(&mut self, index: u32) {
        let Link { prev, next } = self.links[node(index)];
        self.links[prev as usize].next = next;
        self.links[next as usize].prev = prev;
        // Only an emptied list leaves a node whose neighbours are both its
        // head; heads are the nodes below `LISTS`.
        if prev == next && (prev as usize) < LISTS {
            let (level, slot) = (prev as usize / SLOTS, prev as usize % SLOTS);
            self.occupied[level] &= !(1 << slot);
        }
    }

    /// Puts vacant entry `index` on the free list.
    #[inline]
    fn release(&mut self, index: u32) {
        self.links[node(index)].next = self.free;
        self.free = index;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(wheel: &mut Wheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        wheel.poll(now, &mut out);
        out
    }

    #[test]
    fn level_for_picks_highest_differing_bit() {
        assert_eq!(level_for(0, 0), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(100, 101), 0);
        assert_eq!(level_for(0, u64::MAX), LEVELS - 1);
    }

    #[test]
    fn slot_for_masks_level_bits() {
        assert_eq!(slot_for(5, 0), 5);
        assert_eq!(slot_for(64 + 5, 0), 5);
        assert_eq!(slot_for(64 * 3 + 5, 1), 3);
    }

    #[test]
    fn poll_fires_in_deadline_order_then_insertion_order() {
        let mut w = Wheel::new();
        w.insert(300, 1);
        w.insert(5, 2);
        w.insert(300, 3);
        w.insert(70_000, 4);
        w.insert(5, 5);
        assert_eq!(fire(&mut w, 4), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 5), vec![2, 5]);
        assert_eq!(fire(&mut w, 1000), vec![1, 3]);
        assert_eq!(fire(&mut w, 69_999), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 70_000), vec![4]);
        assert!(w.is_empty());
    }

    #[test]
    fn cascaded_entry_keeps_insertion_order_against_younger_one() {
        let mut w = Wheel::new();
        // Filed on level 1 now, cascades into level 0 later.
        w.insert(100, 1);
        assert_eq!(fire(&mut w, 90), Vec::<u32>::new());
        // Same deadline, filed straight on level 0, but inserted later.
        w.insert(100, 2);
        assert_eq!(fire(&mut w, 100), vec![1, 2]);
    }

    #[test]
    fn remove_prevents_firing_and_frees_entry() {
        let mut w = Wheel::new();
        let a = w.insert(10, 1);
        let b = w.insert(10, 2);
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(w.remove(a), None);
        assert_eq!(w.len(), 1);
        assert_eq!(fire(&mut w, 10), vec![2]);
        assert!(!w.contains(b));
    }

    #[test]
    fn past_deadline_fires_on_next_poll() {
        let mut w = Wheel::new();
        fire(&mut w, 1000);
        w.insert(3, 7);
        assert_eq!(w.next_expiration().map(|e| e.1), Some(1000));
        assert_eq!(fire(&mut w, 1000), vec![7]);
    }

    #[test]
    fn far_future_deadline_is_parked_and_fires_exactly() {
        let mut w = Wheel::new();
        let far = MAX_SPAN * 3 + 12_345;
        w.insert(far, 1);
        w.insert(MAX_SPAN + 1, 2);
        let mut seen = Vec::new();
        // Jump from expiration to expiration, as an idle loop would.
        while let Some((_, t)) = w.next_expiration() {
            for v in fire(&mut w, t) {
                seen.push((v, t));
            }
        }
        assert_eq!(seen, vec![(2, MAX_SPAN + 1), (1, far)]);
    }

    #[test]
    fn parked_entry_keeps_insertion_order_against_younger_one() {
        // 1 is parked on the top level (out of range); 2 is armed for the
        // same tick once it is in range, filed straight where it belongs,
        // and 1 is re-filed beside it later: 1 must still fire first.
        let mut w = Wheel::new();
        let when = MAX_SPAN * 2 + 5;
        w.insert(when, 1);
        assert_eq!(fire(&mut w, MAX_SPAN + 10), Vec::<u32>::new());
        w.insert(when, 2);
        w.insert(when, 3);
        let mut seen = Vec::new();
        while let Some((_, t)) = w.next_expiration() {
            seen.extend(fire(&mut w, t).into_iter().map(|v| (v, t)));
        }
        assert_eq!(seen, vec![(1, when), (2, when), (3, when)]);
    }

    #[test]
    fn empty_wheel_catches_up_but_a_busy_one_does_not() {
        let mut w = Wheel::new();
        w.catch_up(1000);
        w.insert(1010, 1);
        // Filed from tick 1000: level 0, no cascade on the way.
        assert_eq!(w.next_expiration(), Some((0, 1010)));
        w.catch_up(1005);
        assert_eq!(w.elapsed, 1000);
        assert_eq!(fire(&mut w, 1010), vec![1]);
    }

    #[test]
    fn stale_key_does_not_touch_reused_slot() {
        let mut w = Wheel::new();
        let a = w.insert(1, 1);
        assert_eq!(fire(&mut w, 1), vec![1]);
        let b = w.insert(2, 2);
        assert_eq!(w.remove(a), None);
        assert!(w.contains(b));
    }
}

/// Property tests: the wheel against a model that is obviously right, a
/// `BTreeMap` ordered by (deadline, insertion sequence).
///
/// Random interleavings of insert, remove (cancel), reset (remove + insert)
/// and advance must fire exactly the model's timers, in the model's order.
/// Advances are biased towards the places where a wheel goes wrong: level
/// boundaries (64, 4096, 262144 ticks, ...), jumps from one expiration to the
/// next as an idle manual-clock loop makes them, and deadlines beyond the
/// wheel's span (`64^6` ticks).
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Boundaries worth landing on, just before, or just after.
    const EDGES: [u64; 6] = [64, 4096, 262_144, 1 << 24, 1 << 30, 1 << 36];

    /// A distance in ticks: small, near a level boundary, or far beyond the span.
    fn distance() -> impl Strategy<Value = u64> {
        prop_oneof![
            6 => 0u64..70,
            3 => (0..EDGES.len(), -2i64..=2).prop_map(|(i, d)| EDGES[i].saturating_add_signed(d)),
            2 => 0u64..300_000,
            1 => (1u64..4).prop_map(|k| MAX_SPAN * k + 17),
            1 => 0u64..(MAX_SPAN * 3),
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Arm a timer `distance` ticks from now.
        Insert(u64),
        /// Arm a timer `back` ticks in the past (it is due at once).
        InsertPast(u64),
        /// Cancel the `n % live`-th armed timer.
        Remove(usize),
        /// Cancel the `n % live`-th armed timer and arm it again, `distance` from now.
        Reset(usize, u64),
        /// Advance the clock by `distance` and poll.
        Advance(u64),
        /// Advance to the wheel's next expiration and poll (an idle manual clock).
        JumpNext,
        /// Cancel a timer that already fired or was removed (a stale key).
        RemoveStale(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => distance().prop_map(Op::Insert),
            1 => (0u64..100).prop_map(Op::InsertPast),
            3 => any::<usize>().prop_map(Op::Remove),
            2 => (any::<usize>(), distance()).prop_map(|(n, d)| Op::Reset(n, d)),
            4 => distance().prop_map(Op::Advance),
            3 => Just(Op::JumpNext),
            1 => any::<usize>().prop_map(Op::RemoveStale),
        ]
    }

    /// The model: what should be armed, keyed the way it should fire.
    #[derive(Default)]
    struct Model {
        now: u64,
        seq: u64,
        armed: BTreeMap<(u64, u64), u32>,
        /// Model key and wheel key of each armed timer, by id.
        keys: BTreeMap<u32, ((u64, u64), TimerKey)>,
        /// Keys whose timers have fired or been removed.
        stale: Vec<TimerKey>,
    }

    impl Model {
        fn insert(&mut self, wheel: &mut Wheel<u32>, id: u32, when: u64) {
            let key = (when.max(self.now), self.seq);
            self.seq += 1;
            self.armed.insert(key, id);
            self.keys.insert(id, (key, wheel.insert(when, id)));
        }

        fn nth(&self, n: usize) -> Option<u32> {
            let len = self.keys.len();
            (len > 0).then(|| *self.keys.keys().nth(n % len).unwrap())
        }

        fn remove(&mut self, wheel: &mut Wheel<u32>, id: u32) -> Result<(), TestCaseError> {
            let (key, timer) = self.keys.remove(&id).unwrap();
            self.armed.remove(&key);
            prop_assert_eq!(wheel.remove(timer), Some(id), "an armed timer is removable");
            prop_assert!(!wheel.contains(timer));
            self.stale.push(timer);
            Ok(())
        }

        /// Advances both to `now` and checks that the same timers fire.
        fn advance(&mut self, wheel: &mut Wheel<u32>, now: u64) -> Result<(), TestCaseError> {
            self.now = now;
            let later = self.armed.split_off(&(now + 1, 0));
            let due = std::mem::replace(&mut self.armed, later);
            let expected: Vec<u32> = due.into_values().collect();
            for id in &expected {
                let (_, timer) = self.keys.remove(id).unwrap();
                self.stale.push(timer);
            }
            let mut fired = Vec::new();
            wheel.poll(now, &mut fired);
            prop_assert_eq!(fired, expected, "fired at tick {}", now);
            Ok(())
        }

        fn check(&self, wheel: &Wheel<u32>) -> Result<(), TestCaseError> {
            prop_assert_eq!(wheel.len(), self.armed.len());
            prop_assert_eq!(wheel.is_empty(), self.armed.is_empty());
            for (key, timer) in self.keys.values() {
                prop_assert!(wheel.contains(*timer));
                prop_assert_eq!(wheel.entries[timer.index as usize].when, key.0);
            }
            match (wheel.next_expiration(), self.armed.keys().next()) {
                (None, None) => {}
                (Some((_, tick)), Some(&(first, _))) => {
                    // The next expiration may be a cascade before the first
                    // deadline, never after it, and never in the past.
                    prop_assert!(tick >= self.now, "next expiration {} is before now {}", tick, self.now);
                    prop_assert!(
                        tick <= first,
                        "next expiration {} is after the first deadline {}",
                        tick,
                        first
                    );
                }
                (got, want) => prop_assert!(false, "next_expiration {:?} but model's first {:?}", got, want),
            }
            Ok(())
        }
    }

    fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut wheel = Wheel::new();
        let mut model = Model::default();
        let mut next_id = 0u32;
        for op in ops {
            match op {
                Op::Insert(d) => {
                    model.insert(&mut wheel, next_id, model.now + d);
                    next_id += 1;
                }
                Op::InsertPast(back) => {
                    model.insert(&mut wheel, next_id, model.now.saturating_sub(back));
                    next_id += 1;
                }
                Op::Remove(n) => {
                    if let Some(id) = model.nth(n) {
                        model.remove(&mut wheel, id)?;
                    }
                }
                Op::Reset(n, d) => {
                    if let Some(id) = model.nth(n) {
                        model.remove(&mut wheel, id)?;
                        model.insert(&mut wheel, id, model.now + d);
                    }
                }
                Op::Advance(d) => model.advance(&mut wheel, model.now + d)?,
                Op::JumpNext => {
                    if let Some((_, tick)) = wheel.next_expiration() {
                        model.advance(&mut wheel, tick)?;
                    }
                }
                Op::RemoveStale(n) => {
                    if !model.stale.is_empty() {
                        let timer = model.stale[n % model.stale.len()];
                        prop_assert_eq!(wheel.remove(timer), None, "a stale key removes nothing");
                    }
                }
            }
            model.check(&wheel)?;
        }
        // Drain: jumping from expiration to expiration fires everything left,
        // each at its own deadline.
        let mut jumps = 0;
        while let Some((_, tick)) = wheel.next_expiration() {
            model.advance(&mut wheel, tick)?;
            model.check(&wheel)?;
            jumps += 1;
            prop_assert!(jumps < 100_000, "draining the wheel does not terminate");
        }
        prop_assert!(
            model.armed.is_empty(),
            "wheel empty but model still has {:?}",
            model.armed
        );
        Ok(())
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            // Miri is ~1000x slower: a few cases still exercise every path.
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn wheel_fires_like_the_model(ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 20 } else { 200 })) {
            run(ops)?;
        }
    }

    /// Found by `wheel_fires_like_the_model`: a far-future timer parked in the
    /// top level's current slot hid every other top-level timer, so a
    /// 12-day timer armed next to a "forever" one fired two years late.
    #[test]
    fn parked_far_future_timer_does_not_hide_an_earlier_top_level_timer() {
        let mut w = Wheel::new();
        w.insert(1 << 30, 1);
        let mut fired = Vec::new();
        w.poll(1, &mut fired);
        w.insert(u64::MAX / 2, 2);
        assert_eq!(w.next_expiration().map(|e| e.1), Some(1 << 30));
        w.poll(1 << 30, &mut fired);
        assert_eq!(fired, vec![1]);
    }

    /// A hand-picked walk across every level boundary, as a regression guard
    /// independent of the random generator.
    #[test]
    fn wheel_fires_like_the_model_across_each_level_boundary() {
        let mut ops = Vec::new();
        for level in 1..LEVELS as u32 {
            let edge = 1u64 << (SLOT_BITS * level);
            for d in [edge - 1, edge, edge + 1] {
                ops.push(Op::Insert(d));
            }
            ops.push(Op::Advance(edge - 2));
            ops.push(Op::Insert(1));
            ops.push(Op::Insert(3));
            ops.push(Op::JumpNext);
            ops.push(Op::Advance(1));
            ops.push(Op::Advance(1));
        }
        ops.push(Op::Insert(MAX_SPAN * 2 + 5));
        ops.push(Op::Insert(MAX_SPAN + 1));
        run(ops).unwrap();
    }
}
