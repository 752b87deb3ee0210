//! `Handle::stats()`: the loop's counters match what a script did, exactly.
//!
//! The scripted runs are on a manual clock, where every tick is determined by
//! the code, so even `ticks` and `polls` are exact; the comments walk through
//! them. Real time appears only where it is the point: `time_blocked` must
//! grow while the loop waits on a real timer.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{manual_loop, StashWaker};
use evloop::net::{TcpListener, TcpStream};
use evloop::{EventLoop, Stats};

#[test]
fn stats_start_at_zero() {
    let lp = manual_loop();
    assert_eq!(lp.handle().stats(), Stats::default());
}

#[test]
fn stats_count_a_scripted_run_exactly() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let h2 = h.clone();
    let mid = lp
        .run_until_complete(async move {
            // Tick 1 (the main future's first poll).
            let a = evloop::create_task(evloop::sleep(Duration::from_millis(10)));
            let b = evloop::create_task(evloop::sleep(Duration::from_millis(20)));
            let c = evloop::create_task(evloop::sleep(Duration::from_millis(30)));
            h2.call_later(Duration::from_millis(5), || {});
            h2.call_later(Duration::from_millis(40), || {}).cancel(); // cancelled timer 1
            h2.call_soon(|| {});
            evloop::yield_now().await;
            // Tick 2: a, b and c armed their timers, the call_soon callback ran.
            let mid = h2.stats();
            // Tick 3 (4 ms) runs nothing: the wheel cascades the slot that
            // holds the 5 ms callback (tick 160, on level 1, whose slots are
            // 2 ms wide) down to level 0. a, b and c lie on slot boundaries.
            a.await.unwrap(); // ticks 4 (5 ms callback), 5 (a), 6 (main)
            b.await.unwrap(); // ticks 7 (b), 8 (main)
            c.cancel(); // tick 9 drops c, disarming its sleep: cancelled timer 2
            assert!(c.await.unwrap_err().is_cancelled()); // tick 10
            mid
        })
        .unwrap();

    // `Stats` is `#[non_exhaustive]`: build the expectation field by field.
    let mut expected = Stats::default();
    expected.ticks = 2;
    expected.polls = 5; // main, a, b, c, main
    expected.callbacks = 1;
    expected.local_wakes = 2; // run_until_complete scheduling its future, then its yield_now
    expected.tasks_spawned = 3;
    expected.tasks_alive = 3;
    expected.timers_armed = 4; // the 5 ms callback, a, b, c
    expected.timers_cancelled = 1;
    expected.time_running = mid.time_running;
    assert_eq!(mid, expected);

    let end = h.stats();
    let mut expected = Stats::default();
    expected.ticks = 10;
    // main x5 (ticks 1, 2, 6, 8, 10), a, b and c once each in tick 2, then a
    // and b once more when their timers fire; c is dropped, not polled, when
    // cancelled.
    expected.polls = 10;
    expected.callbacks = 2;
    // + the timer wakes of a and b, + three wakes of main, by a, b and c
    // finishing.
    expected.local_wakes = 7;
    expected.tasks_spawned = 3;
    expected.tasks_finished = 3;
    expected.timers_fired = 3; // the 5 ms callback, a, b
    expected.timers_cancelled = 2;
    // A manual clock never blocks: it jumps to the next timer. So
    // `time_blocked` stays zero, and `time_running` is whatever it is.
    expected.time_running = end.time_running;
    assert_eq!(end, expected);
}

#[test]
fn stats_count_n_spawned_m_fired_k_cancelled() {
    for (n, cancel_every) in [(1u64, 2u64), (10, 3), (50, 5)] {
        let mut lp = manual_loop();
        let h = lp.handle();
        lp.run_until_complete(async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| evloop::create_task(evloop::sleep(Duration::from_millis(1 + i))))
                .collect();
            evloop::yield_now().await; // every task arms its timer
            let mut cancelled = 0;
            for (i, t) in tasks.iter().enumerate() {
                if i as u64 % cancel_every == 0 {
                    t.cancel();
                    cancelled += 1;
                }
            }
            for t in tasks {
                let _ = t.await;
            }
            cancelled
        })
        .unwrap();
        let k = n.div_ceil(cancel_every);
        let s = h.stats();
        assert_eq!(s.tasks_spawned, n);
        assert_eq!(s.tasks_finished, n);
        assert_eq!(s.tasks_alive, 0);
        assert_eq!(s.timers_cancelled, k, "n = {n}");
        assert_eq!(s.timers_fired, n - k, "n = {n}");
        assert_eq!(s.timers_armed, 0);
    }
}

#[test]
fn stats_tasks_alive_and_finished_follow_the_tasks() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let forever = h.create_task(std::future::pending::<()>());
    let quick = h.create_task(async {});
    let napper = h.create_task(evloop::sleep(Duration::from_secs(1)));
    let s = h.stats();
    assert_eq!((s.tasks_spawned, s.tasks_alive, s.tasks_finished), (3, 3, 0));

    lp.run_until_complete(quick).unwrap().unwrap();
    let s = h.stats();
    assert_eq!((s.tasks_alive, s.tasks_finished, s.timers_armed), (2, 1, 1));

    lp.run_until_complete(napper).unwrap().unwrap();
    let s = h.stats();
    assert_eq!((s.tasks_alive, s.tasks_finished, s.timers_armed), (1, 2, 0));

    // A task still pending when the loop closes is dropped, and counted as
    // finished.
    lp.close().unwrap();
    let s = h.stats();
    assert_eq!((s.tasks_spawned, s.tasks_alive, s.tasks_finished), (3, 0, 3));
    drop(forever);
}

#[test]
fn stats_count_callbacks_but_not_cancelled_ones() {
    let mut lp = manual_loop();
    let h = lp.handle();
    h.call_soon(|| {});
    h.call_soon(|| {}).cancel();
    h.call_later(Duration::from_millis(1), || {});
    let remote = h.threadsafe();
    std::thread::spawn(move || remote.call_soon_threadsafe(|| {}).unwrap())
        .join()
        .unwrap();
    lp.run_until_complete(evloop::sleep(Duration::from_millis(2))).unwrap();
    let s = h.stats();
    assert_eq!(s.callbacks, 3, "call_soon, call_later, call_soon_threadsafe");
    assert_eq!(s.timers_fired, 2, "the call_later timer and the sleep");
    assert_eq!(s.remote_wakes, 0, "a remote callback is not a wake");
}

#[test]
fn stats_polls_count_each_poll_of_a_known_script() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let task = h.create_task(async {
        for _ in 0..4 {
            evloop::yield_now().await;
        }
    });
    lp.run_until_complete(task).unwrap().unwrap();
    let s = h.stats();
    // The task: 5 polls (4 yields, then done). The main future (the task's
    // handle): polled in tick 1, and once more after the task woke it.
    assert_eq!(s.polls, 5 + 2);
    // Ticks 1..=5 poll the task; tick 6 polls the main future.
    assert_eq!(s.ticks, 6);
    // 4 self-wakes, the main future's first scheduling, its wake by the task.
    assert_eq!(s.local_wakes, 4 + 2);
}

/// Pending on its first poll, after handing its waker to a thread that
/// wakes it; ready on the next.
struct WakeFromThread(Option<JoinHandle<()>>);

impl Future for WakeFromThread {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.take() {
            Some(thread) => {
                thread.join().unwrap();
                Poll::Ready(())
            }
            None => {
                let waker = cx.waker().clone();
                self.0 = Some(std::thread::spawn(move || waker.wake()));
                Poll::Pending
            }
        }
    }
}

#[test]
fn stats_tell_local_wakes_from_remote_ones() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let remote = h.create_task(WakeFromThread(None));
    let local = h.create_task(evloop::yield_now());
    lp.run_until_complete(async {
        remote.await.unwrap();
        local.await.unwrap();
    })
    .unwrap();
    let s = h.stats();
    assert_eq!(s.remote_wakes, 1, "the thread's wake");
    // The yield's self-wake, main's scheduling, and main woken by `remote`
    // finishing (`local` was done before main awaited it).
    assert_eq!(s.local_wakes, 3);
}

#[test]
fn stats_count_a_wake_from_the_loop_thread_while_stopped_as_remote() {
    // A waker used on the loop's own thread while the loop is not running
    // cannot reach the run queue directly; it takes the remote path.
    let mut lp = manual_loop();
    let h = lp.handle();
    let stash = Rc::new(std::cell::RefCell::new(None));
    let task = h.create_task(StashWaker(stash.clone()));
    lp.run_until_complete(evloop::yield_now()).unwrap();
    let before = h.stats();
    stash.borrow_mut().take().expect("the task was polled").wake();
    lp.run_until_complete(evloop::yield_now()).unwrap();
    let after = h.stats();
    assert_eq!(after.remote_wakes - before.remote_wakes, 1);
    assert_eq!(after.polls - before.polls, 1 + 2, "the woken task, and main twice");
    drop(task);
}

#[test]
fn stats_count_io_events_of_a_tcp_exchange() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    lp.run_until_complete(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = evloop::create_task(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0; 4];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
        });
        let client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.await.unwrap();
    })
    .unwrap();
    let s = h.stats();
    assert!(s.io_events > 0, "{s}");
    assert_eq!(s.remote_wakes, 0, "readiness is delivered on the loop's thread: {s}");
}

#[test]
fn stats_time_blocked_grows_while_waiting_on_a_real_timer() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let before = h.stats();
    lp.run_until_complete(evloop::sleep(Duration::from_millis(50))).unwrap();
    let after = h.stats();
    let blocked = after.time_blocked - before.time_blocked;
    // The loop spends the 50 ms in `epoll_wait`; allow for early returns.
    assert!(blocked >= Duration::from_millis(40), "blocked only {blocked:?}");
    assert!(blocked < Duration::from_secs(10), "blocked {blocked:?}");
    // Inside the run, time is either blocked or running.
    let total = after.time_running + after.time_blocked;
    assert!(total >= Duration::from_millis(50), "{after}");
    assert_eq!(after.timers_fired, 1);
}

#[test]
fn stats_display_names_every_counter() {
    let mut s = Stats::default();
    s.ticks = 1;
    s.polls = 2;
    s.callbacks = 3;
    s.tasks_spawned = 4;
    let text = s.to_string();
    assert!(text.starts_with("1 ticks, 2 polls, 3 callbacks;"), "{text}");
    assert!(text.contains("tasks 4 spawned"), "{text}");
}
