//! A counting `#[global_allocator]` for tests that check memory behaviour:
//! per thread, the bytes live and the number of allocation calls.
//!
//! A test file includes it with
//! `#[path = "common/counting_alloc.rs"] mod counting_alloc;` and declares
//! `#[global_allocator] static ALLOC: counting_alloc::Counting = counting_alloc::Counting;`.
//! The counters are thread-local, so tests running on other threads (the
//! test harness runs them in parallel) never disturb a measurement.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to [`System`], counting as it goes.
pub struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread. `const` and
    /// `Cell`: touching it never allocates, so the allocator cannot recurse.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Calls to `alloc`, `alloc_zeroed` and `realloc` made by this thread.
    static CALLS: Cell<usize> = const { Cell::new(0) };
    /// The most `LIVE` has been since [`reset_peak`].
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: during thread teardown the slots may already be gone.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

/// Starts a new peak measurement from the bytes live now.
pub fn reset_peak() {
    PEAK.with(|peak| peak.set(live_bytes()));
}

/// The most bytes this thread held at once since [`reset_peak`].
pub fn peak_bytes() -> isize {
    PEAK.with(Cell::get)
}

fn count_call() {
    let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
}

/// Bytes live on this thread (allocated minus freed since it started).
pub fn live_bytes() -> isize {
    LIVE.with(Cell::get)
}

/// Allocation calls (including reallocations) made by this thread so far.
pub fn allocations() -> usize {
    CALLS.with(Cell::get)
}

// SAFETY: forwards every call to `System` unchanged; the bookkeeping only
// touches `const` thread-local `Cell`s, which neither allocate nor panic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count_call();
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count_call();
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count_call();
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}
