//! The observer hook (`Builder::on_event`): it sees what the loop does, in the
//! order the loop does it.
//!
//! Most scripts run on a manual clock, where the whole sequence of events is
//! fixed by the code, and are checked event for event. Where a real socket or
//! another thread is involved only the part of the order the loop guarantees
//! is checked, and each such test says which part that is.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use evloop::net::{TcpListener, TcpStream};
use evloop::{EventLoop, LoopEvent};

use LoopEvent::{Cancelled, IoReady, PollEnd, PollStart, Spawn, TickEnd, TickStart, TimerFired, Wake};

/// Every event the observer saw, in order.
#[derive(Clone, Default)]
struct Recorder(Rc<RefCell<Vec<LoopEvent>>>);

impl Recorder {
    fn observer(&self) -> impl Fn(&LoopEvent) + 'static {
        let events = self.0.clone();
        move |e: &LoopEvent| events.borrow_mut().push(*e)
    }

    /// The events so far, as recorded.
    fn take(&self) -> Vec<LoopEvent> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

fn observed_manual_loop(rec: &Recorder) -> EventLoop {
    EventLoop::builder()
        .manual_clock()
        .on_event(rec.observer())
        .build()
        .unwrap()
}

const fn wake(task: u64) -> LoopEvent {
    Wake { task, remote: false }
}

const fn pending(task: u64) -> LoopEvent {
    PollEnd { task, finished: false }
}

const fn finished(task: u64) -> LoopEvent {
    PollEnd { task, finished: true }
}

#[test]
fn on_event_sees_a_timer_a_join_and_a_cancellation_in_order() {
    let rec = Recorder::default();
    let mut lp = observed_manual_loop(&rec);
    let h = lp.handle();
    let sleeper = h.create_task(evloop::sleep(Duration::from_millis(10))); // task 1
    let doomed = h.create_task(std::future::pending::<()>()); // task 2
    assert_eq!(rec.take(), [Spawn { task: 1 }, Spawn { task: 2 }]);

    lp.run_until_complete(async move {
        sleeper.await.unwrap();
        doomed.cancel();
        assert!(doomed.await.unwrap_err().is_cancelled());
    })
    .unwrap();

    #[rustfmt::skip]
    let expected = [
        // `run_until_complete` schedules its future (task 0) like any wake.
        wake(0),
        // Tick 1 runs what was queued: both tasks, then the main future.
        TickStart { n: 1, ready: 3 },
        PollStart { task: 1 }, pending(1), // arms its 10 ms timer
        PollStart { task: 2 }, pending(2),
        PollStart { task: 0 }, pending(0), // waits on `sleeper`
        TickEnd { n: 1 },
        // Nothing ready: the manual clock jumps 10 ms and the timer fires,
        // waking task 1, which runs in the same tick.
        TickStart { n: 2, ready: 0 },
        TimerFired, wake(1),
        PollStart { task: 1 }, finished(1),
        wake(0), // task 1's end wakes whoever awaits it: the main future
        TickEnd { n: 2 },
        // The main future was woken during step 5, so it runs next tick.
        TickStart { n: 3, ready: 1 },
        PollStart { task: 0 }, pending(0), // cancels `doomed`, awaits it
        TickEnd { n: 3 },
        // Cancellation drops task 2's future instead of polling it.
        TickStart { n: 4, ready: 1 },
        Cancelled { task: 2 },
        wake(0),
        TickEnd { n: 4 },
        TickStart { n: 5, ready: 1 },
        PollStart { task: 0 }, finished(0),
        TickEnd { n: 5 },
    ];
    assert_eq!(rec.take(), expected);
}

#[test]
fn on_event_shows_a_yield_waking_its_own_task_mid_poll() {
    let rec = Recorder::default();
    let mut lp = observed_manual_loop(&rec);
    let task = lp.handle().create_task(async {
        evloop::yield_now().await;
        5
    });
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), 5);
    #[rustfmt::skip]
    let expected = [
        Spawn { task: 1 },
        wake(0),
        TickStart { n: 1, ready: 2 },
        // The self-wake happens inside the poll; the task is queued behind
        // the main future and runs next tick.
        PollStart { task: 1 }, wake(1), pending(1),
        PollStart { task: 0 }, pending(0),
        TickEnd { n: 1 },
        TickStart { n: 2, ready: 1 },
        PollStart { task: 1 }, finished(1),
        wake(0),
        TickEnd { n: 2 },
        TickStart { n: 3, ready: 1 },
        PollStart { task: 0 }, finished(0),
        TickEnd { n: 3 },
    ];
    assert_eq!(rec.take(), expected);
}

#[test]
fn on_event_shows_a_timer_callback_as_a_fire_without_a_wake() {
    // Callbacks are not tasks: a `call_later` timer fires, and the callback
    // then runs without an event of its own.
    let rec = Recorder::default();
    let mut lp = observed_manual_loop(&rec);
    let h = lp.handle();
    let ran = Rc::new(RefCell::new(Vec::new()));
    let r = ran.clone();
    h.call_later(Duration::from_millis(5), move || r.borrow_mut().push("callback"));
    lp.run_until_complete(evloop::sleep(Duration::from_millis(10))).unwrap();
    assert_eq!(*ran.borrow(), ["callback"]);
    #[rustfmt::skip]
    let expected = [
        wake(0),
        TickStart { n: 1, ready: 1 },
        PollStart { task: 0 }, pending(0), // arms the 10 ms timer
        TickEnd { n: 1 },
        // 4 ms: nothing fires. The 5 ms timer (tick 160) sits on the wheel's
        // level 1, whose slots are 64 ticks (2 ms) wide, and 4 ms is when
        // its slot is cascaded down to level 0; the clock jumps there first.
        TickStart { n: 2, ready: 0 },
        TickEnd { n: 2 },
        TickStart { n: 3, ready: 0 },
        TimerFired, // 5 ms: the callback is queued and runs in this tick
        TickEnd { n: 3 },
        TickStart { n: 4, ready: 0 },
        TimerFired, wake(0), // 10 ms: the main future's sleep
        PollStart { task: 0 }, finished(0),
        TickEnd { n: 4 },
    ];
    assert_eq!(rec.take(), expected);
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
fn on_event_marks_a_wake_from_another_thread_as_remote() {
    // Exact, even though a thread is involved: whenever its wake lands (even
    // during the first poll), it goes through the remote queue, which the
    // loop drains only in step 3 of a tick; with nothing else to do, tick 2
    // blocks until it arrives.
    let rec = Recorder::default();
    let mut lp = observed_manual_loop(&rec);
    let task = lp.handle().create_task(WakeFromThread(None));
    lp.run_until_complete(task).unwrap().unwrap();
    #[rustfmt::skip]
    let expected = [
        Spawn { task: 1 },
        wake(0),
        TickStart { n: 1, ready: 2 },
        PollStart { task: 1 }, pending(1),
        PollStart { task: 0 }, pending(0),
        TickEnd { n: 1 },
        TickStart { n: 2, ready: 0 },
        Wake { task: 1, remote: true },
        PollStart { task: 1 }, finished(1),
        wake(0),
        TickEnd { n: 2 },
        TickStart { n: 3, ready: 1 },
        PollStart { task: 0 }, finished(0),
        TickEnd { n: 3 },
    ];
    assert_eq!(rec.take(), expected);
}

#[test]
fn on_event_sees_io_readiness_wake_the_reader_before_it_runs() {
    // Real sockets: how many ticks the connect and accept take is the
    // kernel's business, so only the guaranteed part is checked. The server
    // is made to wait on its read (the client writes 20 ms after
    // connecting), and the tick that wakes it must show the I/O step before
    // the run step: `IoReady`, then a wake of the server, then its poll.
    let rec = Recorder::default();
    let mut lp = EventLoop::builder().on_event(rec.observer()).build().unwrap();
    let server_id = Rc::new(RefCell::new(0));
    let sid = server_id.clone();
    lp.run_until_complete(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = evloop::create_task(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0; 5];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        });
        *sid.borrow_mut() = server.id();
        let client = TcpStream::connect(addr).await.unwrap();
        evloop::sleep(Duration::from_millis(20)).await;
        client.write_all(b"hello").await.unwrap();
        assert_eq!(&server.await.unwrap(), b"hello");
    })
    .unwrap();

    let server = *server_id.borrow();
    let events = rec.take();
    let ticks = split_ticks(&events);
    let woke_by_io = ticks.iter().any(|tick| {
        // Step 2 (I/O) and step 3 (remote) come before step 5 (run): every
        // event before the tick's first poll belongs to them or to timers.
        let first_poll = tick.iter().position(|e| matches!(e, PollStart { .. }));
        let before_run = &tick[..first_poll.unwrap_or(tick.len())];
        let io = before_run
            .iter()
            .position(|e| matches!(e, IoReady { events } if *events > 0));
        let woke = before_run.iter().position(|e| *e == wake(server));
        let polled = tick.contains(&PollStart { task: server });
        matches!((io, woke), (Some(i), Some(w)) if i < w) && polled
    });
    assert!(
        woke_by_io,
        "no tick shows IoReady -> Wake(server) -> PollStart(server): {events:#?}"
    );
}

/// The events of each tick, `TickStart` to `TickEnd` inclusive.
fn split_ticks(events: &[LoopEvent]) -> Vec<&[LoopEvent]> {
    let mut ticks = Vec::new();
    let mut start = None;
    for (i, e) in events.iter().enumerate() {
        match e {
            TickStart { .. } => start = Some(i),
            TickEnd { .. } => ticks.push(&events[start.take().expect("TickEnd without TickStart")..=i]),
            _ => {}
        }
    }
    ticks
}

#[test]
fn on_event_is_well_formed_and_agrees_with_stats() {
    // A busier script: checked for structure rather than event by event.
    let rec = Recorder::default();
    let mut lp = observed_manual_loop(&rec);
    let h = lp.handle();
    lp.run_until_complete(async {
        let tasks = (0..8u64).map(|i| {
            evloop::create_task(async move {
                for _ in 0..i % 3 {
                    evloop::yield_now().await;
                }
                evloop::sleep(Duration::from_millis(5 * (i % 4))).await;
                i
            })
        });
        let out: Vec<u64> = evloop::gather(tasks).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(out, (0..8).collect::<Vec<_>>());
        let slow = evloop::create_task(evloop::sleep(Duration::from_secs(1)));
        evloop::yield_now().await;
        slow.cancel();
        let _ = slow.await;
    })
    .unwrap();
    let events = rec.take();
    let stats = h.stats();

    // Ticks are numbered 1, 2, 3, ... and never overlap.
    let ticks = split_ticks(&events);
    assert_eq!(ticks.len() as u64, stats.ticks);
    for (i, tick) in ticks.iter().enumerate() {
        let n = i as u64 + 1;
        assert!(matches!(tick[0], TickStart { n: m, .. } if m == n));
        assert_eq!(tick[tick.len() - 1], TickEnd { n });
        assert!(!tick[1..tick.len() - 1]
            .iter()
            .any(|e| matches!(e, TickStart { .. } | TickEnd { .. })));
    }

    // Polls never nest; each PollStart is closed by its own task's PollEnd;
    // no task is polled before it was spawned or after it finished.
    let mut spawned = vec![0u64];
    let mut done = Vec::new();
    let mut open = None;
    for e in &events {
        match *e {
            Spawn { task } => spawned.push(task),
            PollStart { task } => {
                assert_eq!(open, None, "nested poll");
                assert!(spawned.contains(&task) && !done.contains(&task), "bad poll of {task}");
                open = Some(task);
            }
            PollEnd { task, finished } => {
                assert_eq!(open.take(), Some(task));
                // The main future (id 0) is not a task: `tasks_finished`
                // does not count it.
                if finished && task != 0 {
                    done.push(task);
                }
            }
            Cancelled { task } => done.push(task),
            _ => {}
        }
    }

    // The observer and the counters tell the same story.
    let count = |f: &dyn Fn(&LoopEvent) -> bool| events.iter().filter(|e| f(e)).count() as u64;
    assert_eq!(count(&|e| matches!(e, Spawn { .. })), stats.tasks_spawned);
    assert_eq!(count(&|e| matches!(e, PollStart { .. })), stats.polls);
    assert_eq!(count(&|e| matches!(e, TimerFired)), stats.timers_fired);
    let wakes = count(&|e| matches!(e, Wake { .. }));
    assert_eq!(wakes, stats.local_wakes + stats.remote_wakes);
    assert_eq!(count(&|e| matches!(e, Cancelled { .. })), 1);
    assert_eq!(done.len() as u64, stats.tasks_finished);
    assert_eq!(stats.tasks_spawned, 9);
}

#[test]
fn on_event_unset_changes_nothing_observable() {
    // The same script with and without an observer: same results, same stats
    // (timing fields aside).
    fn script(lp: &mut EventLoop) -> evloop::Stats {
        let h = lp.handle();
        lp.run_until_complete(async {
            let a = evloop::create_task(evloop::sleep(Duration::from_millis(3)));
            evloop::yield_now().await;
            a.await.unwrap();
        })
        .unwrap();
        let mut s = h.stats();
        s.time_blocked = Duration::ZERO;
        s.time_running = Duration::ZERO;
        s
    }
    let rec = Recorder::default();
    let watched = script(&mut observed_manual_loop(&rec));
    let unwatched = script(&mut common::manual_loop());
    assert_eq!(watched, unwatched);
    assert!(!rec.take().is_empty());
}
