//! `ThreadsafeHandle::submit` / `submit_with` (asyncio's
//! `run_coroutine_threadsafe`): work handed to a loop from another thread,
//! its result joined, awaited or cancelled from there. Every blocking join
//! has a timeout, so a lost wake fails the test instead of hanging it.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use evloop::{EventLoop, RemoteTask, RunError, TaskError, ThreadsafeHandle};

/// Long enough for a loaded CI machine, short enough to fail fast.
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `lp` until `body` (on its own thread) returns, then stops the loop;
/// returns what `body` returned. A watchdog stops the loop if the body
/// takes longer than [`PATIENCE`] so that a hang becomes a failure.
fn with_loop_thread<R: Send + 'static>(
    lp: &mut EventLoop,
    body: impl FnOnce(ThreadsafeHandle) -> R + Send + 'static,
) -> R {
    let remote = lp.handle().threadsafe();
    let worker = thread::spawn(move || {
        let out = body(remote.clone());
        remote.stop();
        out
    });
    let watchdog = lp
        .handle()
        .call_later(PATIENCE * 2, || panic!("watchdog: the test body never finished"));
    lp.run_forever().unwrap();
    watchdog.cancel();
    worker.join().expect("the thread's body panicked")
}

fn join<T>(mut task: RemoteTask<T>) -> Result<T, TaskError> {
    task.join_timeout(PATIENCE)
        .expect("no result within the patience timeout")
}

#[test]
fn submit_from_a_thread_join_gets_the_value() {
    let mut lp = EventLoop::new().unwrap();
    let got = with_loop_thread(&mut lp, |remote| {
        let task = remote
            .submit_with(|| async {
                evloop::sleep(Duration::from_millis(5)).await;
                evloop::get_running_loop().is_running()
            })
            .unwrap();
        join(task)
    });
    assert!(got.unwrap(), "the future ran on the loop");
}

#[test]
fn submit_join_blocks_until_the_loop_delivers() {
    let mut lp = EventLoop::new().unwrap();
    let got = with_loop_thread(&mut lp, |remote| {
        // `join` itself (no timeout) wakes through the condvar.
        remote.submit(async { 40 + 2 }).unwrap().join()
    });
    assert_eq!(got.unwrap(), 42);
}

#[test]
fn submit_awaited_from_another_executor() {
    let mut lp = EventLoop::new().unwrap();
    let got = with_loop_thread(&mut lp, |remote| {
        let task = remote
            .submit_with(|| async {
                evloop::sleep(Duration::from_millis(5)).await;
                "via the waker"
            })
            .unwrap();
        // futures' block_on parks the thread until the task's waker fires.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || tx.send(futures::executor::block_on(task)));
        rx.recv_timeout(PATIENCE)
            .expect("the awaiting executor was never woken")
    });
    assert_eq!(got.unwrap(), "via the waker");
}

#[test]
fn submit_with_builds_a_non_send_future_on_the_loop_thread() {
    let mut lp = EventLoop::new().unwrap();
    let loop_thread = thread::current().id();
    let got = with_loop_thread(&mut lp, move |remote| {
        let task = remote
            .submit_with(move || {
                assert_eq!(thread::current().id(), loop_thread, "built on the loop's thread");
                let shared = Rc::new(Cell::new(0));
                async move {
                    let children: Vec<_> = (1..=3)
                        .map(|i| {
                            let shared = shared.clone();
                            evloop::create_task(async move { shared.set(shared.get() + i) })
                        })
                        .collect();
                    for child in children {
                        child.await.unwrap();
                    }
                    shared.get()
                }
            })
            .unwrap();
        join(task)
    });
    assert_eq!(got.unwrap(), 6);
}

/// Sets its flag when dropped, recording the thread it was dropped on.
struct DropFlag(Arc<AtomicBool>, thread::ThreadId);

impl Drop for DropFlag {
    fn drop(&mut self) {
        assert_eq!(thread::current().id(), self.1, "dropped on the loop's thread");
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancel_from_the_thread_drops_the_future_on_the_loop_and_join_says_cancelled() {
    let mut lp = EventLoop::new().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let flag = dropped.clone();
    let loop_thread = thread::current().id();
    let got = with_loop_thread(&mut lp, move |remote| {
        let task = remote
            .submit_with(move || {
                let guard = DropFlag(flag, loop_thread);
                async move {
                    let _guard = guard;
                    started_tx.send(()).unwrap();
                    evloop::sleep(Duration::from_secs(3600)).await;
                    "never"
                }
            })
            .unwrap();
        started_rx.recv_timeout(PATIENCE).expect("the task never started");
        assert!(task.cancel(), "not finished: the cancel is granted");
        let out = join(task);
        (out, dropped.load(Ordering::SeqCst))
    });
    let (out, dropped_before_result) = got;
    assert!(matches!(out, Err(TaskError::Cancelled)), "{out:?}");
    assert!(
        dropped_before_result,
        "the future was dropped before Cancelled was published"
    );
}

#[test]
fn cancel_before_the_loop_runs_never_builds_the_future() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.handle().threadsafe();
    let built = Arc::new(AtomicBool::new(false));
    let b = built.clone();
    let task = remote
        .submit_with(move || {
            b.store(true, Ordering::SeqCst);
            async {}
        })
        .unwrap();
    assert!(task.cancel());
    lp.run_until_complete(common::settle()).unwrap();
    assert!(!built.load(Ordering::SeqCst));
    assert!(matches!(join(task), Err(TaskError::Cancelled)));
}

#[test]
fn cancel_after_the_result_is_in_returns_false_and_keeps_it() {
    let mut lp = EventLoop::new().unwrap();
    let task = lp.handle().threadsafe().submit(async { 9 }).unwrap();
    lp.run_until_complete(common::settle()).unwrap();
    assert!(task.done());
    assert!(!task.cancel());
    assert_eq!(join(task).unwrap(), 9);
}

#[test]
fn submit_to_a_closed_loop_is_an_error() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.handle().threadsafe();
    lp.close().unwrap();
    let err = thread::spawn(move || remote.submit(async { 1 }).map(drop).unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err, RunError::Closed);
}

#[test]
fn loop_closed_with_the_submission_queued_or_running_gives_cancelled() {
    // Still queued in the remote queue when the loop closes.
    let lp = EventLoop::new().unwrap();
    let queued = lp.handle().threadsafe().submit(async { 1 }).unwrap();
    // Started, then left pending when the loop closes.
    let mut lp2 = EventLoop::new().unwrap();
    let running = lp2.handle().threadsafe().submit(std::future::pending::<()>()).unwrap();
    lp2.run_until_complete(common::settle()).unwrap();
    let on_other_thread = thread::spawn(move || (join(queued), join(running)));
    drop(lp);
    lp2.close().unwrap();
    let (queued, running) = on_other_thread.join().unwrap();
    assert!(matches!(queued, Err(TaskError::Cancelled)), "{queued:?}");
    assert!(matches!(running, Err(TaskError::Cancelled)), "{running:?}");
}

#[test]
fn a_panic_surfaces_as_panicked_and_the_loop_lives_on() {
    let mut lp = EventLoop::new().unwrap();
    let (in_future, in_builder, after) = with_loop_thread(&mut lp, |remote| {
        let a = remote
            .submit_with(|| async {
                evloop::yield_now().await;
                panic!("fetch failed")
            })
            .map(join);
        let b = remote
            .submit_with(|| -> std::future::Ready<()> { panic!("could not build") })
            .map(join);
        let c = remote.submit(async { "still alive" }).map(join);
        (a.unwrap(), b.unwrap(), c.unwrap())
    });
    let err = in_future.unwrap_err();
    assert!(matches!(err, TaskError::Panicked(_)));
    assert_eq!(err.panic_message(), Some("fetch failed"));
    assert_eq!(in_builder.unwrap_err().panic_message(), Some("could not build"));
    assert_eq!(after.unwrap(), "still alive");
}

#[test]
fn join_timeout_gives_up_and_the_handle_stays_usable() {
    let mut lp = EventLoop::new().unwrap();
    let mut task = lp.handle().threadsafe().submit(async { 3 }).unwrap();
    assert!(task.join_timeout(Duration::from_millis(20)).is_none());
    assert!(task.try_join().is_none());
    lp.run_until_complete(common::settle()).unwrap();
    assert_eq!(task.join_timeout(Duration::ZERO).unwrap().unwrap(), 3);
}

#[test]
fn dropping_the_handle_detaches_the_work_goes_on() {
    let mut lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    drop(
        lp.handle()
            .threadsafe()
            .submit_with(move || async move {
                evloop::yield_now().await;
                r.store(true, Ordering::SeqCst);
            })
            .unwrap(),
    );
    lp.run_until_complete(common::settle()).unwrap();
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
#[should_panic(expected = "on the thread of the loop it waits for")]
fn join_on_the_loops_own_thread_while_it_runs_panics_instead_of_deadlocking() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.handle().threadsafe();
    lp.run_until_complete(async move {
        let task = remote.submit(async { 1 }).unwrap();
        let _ = task.join();
    })
    .unwrap();
}

#[test]
fn remote_task_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RemoteTask<String>>();
}

/// Cancels race with results finishing on the loop: whatever `cancel`
/// answered must agree with what `join` then reports, and no join hangs.
#[test]
fn cancel_racing_completion_agrees_with_join_and_never_hangs() {
    let mut lp = EventLoop::new().unwrap();
    let mismatches = with_loop_thread(&mut lp, |remote| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let remote = remote.clone();
                thread::spawn(move || {
                    let mut bad = 0;
                    for i in 0..200u32 {
                        let task = remote
                            .submit_with(move || async move {
                                if i % 3 == 0 {
                                    evloop::yield_now().await;
                                }
                                i
                            })
                            .unwrap();
                        if (i + t) % 7 == 0 {
                            thread::yield_now();
                        }
                        let granted = task.cancel();
                        match join(task) {
                            Ok(v) if !granted && v == i => {}
                            Err(TaskError::Cancelled) if granted => {}
                            _ => bad += 1,
                        }
                    }
                    bad
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum::<u32>()
    });
    assert_eq!(mismatches, 0);
}
