//! Stress: loops created and dropped 10,000 times leak neither memory nor
//! file descriptors.
//!
//! A counting `#[global_allocator]` tracks the bytes live on this thread;
//! after the churn they must be back where they started, within a small
//! tolerance for one-time thread-local initialisation (which the warm-up
//! round absorbs). This file holds one test only, so no other test's
//! allocations run alongside the measurement.
//!
//! Sizes: 10,000 loops in every build (a few seconds in the debug build
//! `cargo test` makes); 20 under Miri.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live_bytes;

const LOOPS: usize = if cfg!(miri) { 20 } else { 10_000 };
/// Bytes that may stay live after the churn (lazily grown thread-locals).
const TOLERANCE: isize = 4096;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Open file descriptors of this process (Linux), or `None` where unknown.
fn open_fds() -> Option<usize> {
    if cfg!(miri) {
        return None;
    }
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// One loop's life: tasks (finished, pending, cancelled), a timer, a
/// callback, a remote wake, and work still queued when the loop is dropped.
fn churn_once(i: usize) {
    let mut lp = EventLoop::builder().manual_clock().build().unwrap();
    let h = lp.handle();
    let log = Rc::new(RefCell::new(Vec::new()));
    let done = h.create_task({
        let log = log.clone();
        async move {
            evloop::sleep(Duration::from_millis(5)).await;
            log.borrow_mut().push(i);
            i
        }
    });
    // Still pending when the loop goes: dropped at close.
    let parked = h.create_task(evloop::sleep(Duration::from_secs(3600)));
    let cancelled = h.create_task(std::future::pending::<()>());
    cancelled.cancel();
    h.call_soon({
        let log = log.clone();
        move || log.borrow_mut().push(usize::MAX)
    });
    let _never = h.call_later(Duration::from_secs(60), || unreachable!());
    h.threadsafe().call_soon_threadsafe(|| {}).unwrap();
    assert_eq!(lp.run_until_complete(done).unwrap().unwrap(), i);
    drop(parked);
    drop(lp);
    assert_eq!(log.borrow().len(), 2);
}

#[test]
fn stress_ten_thousand_loops_created_and_dropped_leak_nothing() {
    // Warm-up: thread-locals, the allocator's own state, lazy statics.
    for i in 0..3 {
        churn_once(i);
    }
    let fds_before = open_fds();
    let before = live_bytes();
    for i in 0..LOOPS {
        churn_once(i);
    }
    let after = live_bytes();
    let fds_after = open_fds();
    let leaked = after - before;
    assert!(
        leaked.abs() <= TOLERANCE,
        "{leaked} bytes still live after {LOOPS} loops (before: {before}, after: {after})"
    );
    assert_eq!(fds_before, fds_after, "file descriptors leaked");
}
