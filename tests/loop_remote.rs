//! Other threads: wakers used off the loop's thread, `ThreadsafeHandle`
//! (`call_soon_threadsafe`, `stop`), and wakers that outlive their loop.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::{manual_loop, StashWaker, Trace};
use evloop::{EventLoop, RunError};

/// The state shared between a [`Signal`] future and the thread that sets it.
#[derive(Default)]
struct SignalState {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl SignalState {
    /// Sets the flag and wakes whoever waits, from any thread.
    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// Completes once its [`SignalState`] is set; the waker is stored where
/// another thread can reach it.
struct Signal(Arc<SignalState>);

impl Future for Signal {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Store the waker before checking the flag, so a set() in between
        // finds it and the wake is not lost.
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.set.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn waker_from_another_thread_wakes_a_blocked_loop() {
    let mut lp = EventLoop::new().unwrap();
    let state = Arc::new(SignalState::default());
    let remote = state.clone();
    let start = Instant::now();
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        remote.set();
    });
    // No timers, no I/O: the loop blocks in the reactor until the wake.
    lp.run_until_complete(Signal(state.clone())).unwrap();
    let elapsed = start.elapsed();
    setter.join().unwrap();
    assert!(
        elapsed >= Duration::from_millis(50),
        "woke before the signal: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "remote wake was lost or late: {elapsed:?}"
    );
}

#[test]
fn waker_from_another_thread_wakes_a_spawned_task() {
    let mut lp = EventLoop::new().unwrap();
    let state = Arc::new(SignalState::default());
    let task = lp.handle().create_task({
        let state = state.clone();
        async move {
            Signal(state).await;
            "woken"
        }
    });
    let remote = state.clone();
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        remote.set();
    });
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), "woken");
    setter.join().unwrap();
}

#[test]
fn call_soon_threadsafe_runs_on_the_loop_thread() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.handle().threadsafe();
    let loop_thread = thread::current().id();
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        for i in 0..3 {
            let tx = tx.clone();
            remote
                .call_soon_threadsafe(move || tx.send((i, thread::current().id())).unwrap())
                .unwrap();
        }
        let stopper = remote.clone();
        remote.call_soon_threadsafe(move || stopper.stop()).unwrap();
    });
    lp.run_forever().unwrap();
    worker.join().unwrap();
    let got: Vec<_> = rx.try_iter().collect();
    assert_eq!(got, [(0, loop_thread), (1, loop_thread), (2, loop_thread)]);
}

#[test]
fn stop_from_another_thread_ends_run_forever() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.handle().threadsafe();
    let start = Instant::now();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        remote.stop();
    });
    lp.run_forever().unwrap();
    let elapsed = start.elapsed();
    worker.join().unwrap();
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn stop_from_another_thread_interrupts_run_until_complete() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.handle().threadsafe();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        remote.stop();
    });
    let res = lp.run_until_complete(std::future::pending::<()>());
    worker.join().unwrap();
    assert_eq!(res, Err(RunError::Stopped));
}

#[test]
fn call_soon_threadsafe_on_a_closed_loop_returns_closed() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.handle().threadsafe();
    lp.close().unwrap();
    let dropped = Arc::new(());
    let d = dropped.clone();
    assert_eq!(remote.call_soon_threadsafe(move || drop(d)), Err(RunError::Closed));
    assert_eq!(Arc::strong_count(&dropped), 1, "refused closure was not dropped");
    // From another thread, after the loop is gone entirely.
    drop(lp);
    let res = thread::spawn(move || remote.call_soon_threadsafe(|| {}))
        .join()
        .unwrap();
    assert_eq!(res, Err(RunError::Closed));
}

/// A waker of a task on a loop that has since been dropped.
fn waker_of_dropped_loop() -> Waker {
    let mut lp = EventLoop::new().unwrap();
    let stash = std::rc::Rc::new(std::cell::RefCell::new(None));
    let _task = lp.handle().create_task(StashWaker(stash.clone()));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let waker = stash.borrow_mut().take().expect("task was polled");
    drop(_task);
    drop(lp);
    waker
}

#[test]
fn wake_after_loop_dropped_is_a_no_op_on_the_same_thread() {
    let waker = waker_of_dropped_loop();
    waker.wake_by_ref();
    // The by-value path too.
    let owned = waker.clone();
    owned.wake();
    // Also while another loop runs on this thread: the wake must not reach it.
    let mut other = manual_loop();
    let trace = Trace::new();
    let t = trace.clone();
    other
        .run_until_complete(async move {
            waker.wake_by_ref();
            evloop::yield_now().await;
            t.push("other loop fine");
        })
        .unwrap();
    assert_eq!(trace.events(), ["other loop fine"]);
}

#[test]
fn wake_after_loop_dropped_is_a_no_op_on_another_thread() {
    let waker = waker_of_dropped_loop();
    thread::spawn(move || {
        waker.wake_by_ref();
        waker.wake();
    })
    .join()
    .expect("waking a waker of a dropped loop panicked");
}

#[test]
fn wake_from_many_threads_completes_the_task() {
    let mut lp = EventLoop::new().unwrap();
    let state = Arc::new(SignalState::default());
    let fut = Signal(state.clone());
    let mut workers = Vec::new();
    for i in 0..4 {
        let s = state.clone();
        workers.push(thread::spawn(move || {
            thread::sleep(Duration::from_millis(10 * i));
            // Spurious wakes before the flag is set must be harmless.
            if let Some(w) = s.waker.lock().unwrap().as_ref() {
                w.wake_by_ref();
            }
            if i == 3 {
                s.set();
            }
        }));
    }
    lp.run_until_complete(fut).unwrap();
    for w in workers {
        w.join().unwrap();
    }
}
