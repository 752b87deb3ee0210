//! The hot paths allocate what the performance brief allows and no more:
//! nothing per poll, per yield, per wake or per timer once the loop is warm,
//! at most one allocation per spawned task, and none for a task whose block
//! an earlier task of the same size class left in the thread's cache.
//!
//! A counting `#[global_allocator]` counts this thread's allocation calls
//! (the counters are thread-local, so tests running in parallel on other
//! threads do not disturb them). Each test runs one round of its workload
//! to grow the loop's containers (run queue, slab, timer wheel, waker pool)
//! to the size the workload needs, then counts a second, identical round:
//! it may allocate the values the test itself creates, and nothing else,
//! however many operations it does: its tasks reuse the first round's
//! blocks (`src/task/raw/recycle.rs`), except those too large to cache.
//!
//! Sizes: 1,000 operations per task and round; 20 under Miri.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use evloop::{sleep, yield_now, EventLoop, Handle};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

const N: usize = if cfg!(miri) { 20 } else { 1_000 };

/// Runs `round` twice on a fresh manual-clock loop; returns the allocation
/// calls this thread made during the second run.
fn second_round_allocations<F, Fut>(round: F) -> usize
where
    F: Fn(Handle) -> Fut + 'static,
    Fut: Future<Output = ()>,
{
    let mut lp = EventLoop::builder().manual_clock().build().expect("build a loop");
    let h = lp.handle();
    lp.run_until_complete(async move {
        round(h.clone()).await;
        let before = allocations();
        round(h).await;
        allocations() - before
    })
    .expect("the loop runs")
}

#[test]
fn yielding_allocates_nothing_per_yield() {
    // Three tasks take turns, so every yield goes through the run queue
    // behind the others.
    let allocs = second_round_allocations(|h| async move {
        let yielder = || async {
            for _ in 0..N {
                yield_now().await;
            }
        };
        let tasks = [
            h.create_task(yielder()),
            h.create_task(yielder()),
            h.create_task(yielder()),
        ];
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(
        allocs, 0,
        "allocations for 3 tasks (blocks reused) yielding {N} times each"
    );
}

/// A one-slot channel that stores the receiver's waker, as a user's own
/// synchronisation type would.
#[derive(Default)]
struct Slot {
    value: Cell<Option<usize>>,
    waker: RefCell<Option<Waker>>,
}

impl Slot {
    fn send(&self, v: usize) {
        self.value.set(Some(v));
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    async fn recv(&self) -> usize {
        poll_fn(|cx| match self.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                let mut slot = self.waker.borrow_mut();
                if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *slot = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }
}

/// Passes a counter back and forth until it reaches `last`.
async fn relay(rx: Rc<Slot>, tx: Rc<Slot>, last: usize) {
    loop {
        let v = rx.recv().await;
        if v >= last {
            return;
        }
        tx.send(v + 1);
        if v + 1 >= last {
            return;
        }
    }
}

#[test]
fn cross_task_wakes_allocate_nothing() {
    // Each hop clones or reuses the receiver's waker and wakes the other
    // task through it.
    let allocs = second_round_allocations(|h| async move {
        let (a, b) = (Rc::new(Slot::default()), Rc::new(Slot::default()));
        let ping = h.create_task(relay(a.clone(), b.clone(), 2 * N));
        let pong = h.create_task(relay(b, a.clone(), 2 * N));
        let before = h.stats();
        a.send(1);
        ping.await.unwrap();
        pong.await.unwrap();
        // And no syscall: every wake stayed on the loop's thread, none went
        // through the cross-thread queue (which writes to the reactor's fd).
        let after = h.stats();
        // Every send but the first (made before the tasks ran) wakes one.
        assert!(after.local_wakes - before.local_wakes >= 2 * N as u64 - 2);
        assert_eq!(after.remote_wakes, before.remote_wakes);
    });
    assert_eq!(
        allocs,
        2,
        "allocations for 2 Rc<Slot>, 2 tasks (blocks reused) and {} hops",
        2 * N
    );
}

#[test]
fn spawning_reuses_the_last_rounds_blocks() {
    let allocs = second_round_allocations(|h| async move {
        let handles: Vec<_> = (0..N).map(|i| h.create_task(async move { i })).collect();
        let mut sum = 0;
        for t in handles {
            sum += t.await.unwrap();
        }
        assert_eq!(sum, (0..N).sum::<usize>());
    });
    assert_eq!(
        allocs, 1,
        "allocations for {N} tasks (blocks reused) and the Vec of their handles"
    );
}

#[test]
fn spawning_a_task_too_large_to_cache_allocates_once() {
    // A future holding 1 KiB is past the cache's largest class: each task
    // of the second round gets a block of its own from the allocator.
    let allocs = second_round_allocations(|h| async move {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let big = [i as u8; 1024];
                h.create_task(async move {
                    yield_now().await;
                    big.iter().map(|&b| b as usize).sum::<usize>()
                })
            })
            .collect();
        for (i, t) in handles.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), (i as u8) as usize * 1024);
        }
    });
    assert_eq!(
        allocs,
        N + 1,
        "allocations for {N} large tasks and the Vec of their handles"
    );
}

#[test]
fn sleeping_allocates_nothing_per_timer() {
    // Tasks with different periods, so their timers land in different
    // wheel slots and levels and fire in different ticks.
    let allocs = second_round_allocations(|h| async move {
        let sleeper = |ms| async move {
            for _ in 0..N {
                sleep(Duration::from_millis(ms)).await;
            }
        };
        let tasks = [
            h.create_task(sleeper(1)),
            h.create_task(sleeper(3)),
            h.create_task(sleeper(70)),
            h.create_task(sleeper(70)),
        ];
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(
        allocs, 0,
        "allocations for 4 tasks (blocks reused) sleeping {N} times each"
    );
}
