//! Stress: four threads send a million wakes to tasks on a running loop.
//!
//! Sizes: 4 threads x 250,000 wakes = 1,000,000 in every build (a few
//! seconds in the debug build `cargo test` makes); 4 x 64 under Miri.
//!
//! Each task waits for a counter, shared with one sender thread, to reach
//! its target. The thread bumps the counter and then wakes the task, so a
//! wake that is lost leaves the task parked forever: a watchdog thread stops
//! the loop after a generous deadline, which turns a lost wake into a test
//! failure instead of a hang.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use evloop::{EventLoop, RunError};

const THREADS: usize = 4;
const WAKES_PER_THREAD: usize = if cfg!(miri) { 64 } else { 250_000 };
/// Tasks per thread: the thread round-robins its wakes over them.
const TASKS_PER_THREAD: usize = 8;

/// Completes once `count` has reached `target`; hands its first waker out
/// through `tx` so the sender thread can reach it.
struct WaitForCount {
    count: Arc<AtomicUsize>,
    target: usize,
    tx: Option<(usize, mpsc::Sender<(usize, Waker)>)>,
    polls: Arc<AtomicUsize>,
}

impl Future for WaitForCount {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if let Some((k, tx)) = self.tx.take() {
            tx.send((k, cx.waker().clone())).unwrap();
        }
        if self.count.load(Ordering::Acquire) >= self.target {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a wall-clock watchdog; see stress_remote_wakes_miri for the Miri variant"
)]
fn stress_million_remote_wakes_from_four_threads_are_never_lost() {
    run_stress(Some(Duration::from_secs(120)));
}

/// The same, without the wall-clock watchdog (Miri's clock is virtual).
#[test]
#[cfg_attr(not(miri), ignore = "the Miri-sized variant")]
fn stress_remote_wakes_miri() {
    run_stress(None);
}

fn run_stress(watchdog: Option<Duration>) {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let polls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..THREADS {
        let (tx, rx) = mpsc::channel::<(usize, Waker)>();
        let mut counts = Vec::new();
        for k in 0..TASKS_PER_THREAD {
            let count = Arc::new(AtomicUsize::new(0));
            // Each task gets `WAKES_PER_THREAD / TASKS_PER_THREAD` wakes, the
            // counter reaching its target with the last one.
            tasks.push(h.create_task(WaitForCount {
                count: count.clone(),
                target: WAKES_PER_THREAD / TASKS_PER_THREAD,
                tx: Some((k, tx.clone())),
                polls: polls.clone(),
            }));
            counts.push(count);
        }
        drop(tx);
        senders.push(thread::spawn(move || {
            // Wait until every task of ours has been polled once and sent its waker.
            let mut wakers: Vec<(usize, Waker)> = rx.iter().take(TASKS_PER_THREAD).collect();
            wakers.sort_by_key(|&(k, _)| k);
            let wakers: Vec<Waker> = wakers.into_iter().map(|(_, w)| w).collect();
            for n in 0..WAKES_PER_THREAD {
                let k = n % TASKS_PER_THREAD;
                counts[k].fetch_add(1, Ordering::Release);
                wakers[k].wake_by_ref();
            }
        }));
    }
    let finished = Arc::new(AtomicBool::new(false));
    if let Some(limit) = watchdog {
        let (stop, finished) = (h.threadsafe(), finished.clone());
        thread::spawn(move || {
            let step = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while waited < limit && !finished.load(Ordering::Acquire) {
                thread::sleep(step);
                waited += step;
            }
            stop.stop();
        });
    }
    let result = lp.run_until_complete(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    finished.store(true, Ordering::Release);
    for s in senders {
        s.join().unwrap();
    }
    assert_ne!(
        result,
        Err(RunError::Stopped),
        "a remote wake was lost: tasks still parked at the deadline"
    );
    result.unwrap();
    // Wakes coalesce: never more polls than wakes (plus each task's first poll).
    let total_polls = polls.load(Ordering::Relaxed);
    assert!(total_polls <= THREADS * (WAKES_PER_THREAD + TASKS_PER_THREAD));
}
