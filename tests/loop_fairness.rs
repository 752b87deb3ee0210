//! The loop's own share of fairness and liveness (issue #12): when the
//! reactor is polled, how much of the remote queue one tick takes, wakers
//! and observers that panic, closing a loop under a foreign awaiter, tasks
//! awaited on the wrong loop, and the manual clock with work in flight.
//! The leaves' budget has its own files (`coop_budget`, `net_fairness`).

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::{loop_with_reports, manual_loop, panic_text, within, CountingWaker};
use evloop::net::{TcpListener, TcpStream};
use evloop::{sleep, yield_now, EventLoop, LoopEvent, TaskError};

/// Two tasks passing a number back and forth `hops` times through plain
/// cells: each hop is one wake, so one tick.
async fn ping_pong(hops: u32) {
    let ball = Rc::new(Cell::new(0u32));
    let waiting: Rc<RefCell<Option<Waker>>> = Rc::default();
    let player = |parity: u32| {
        let (ball, waiting) = (ball.clone(), waiting.clone());
        std::future::poll_fn(move |cx| loop {
            let n = ball.get();
            if n >= hops {
                if let Some(w) = waiting.borrow_mut().take() {
                    w.wake();
                }
                return Poll::Ready(());
            }
            if n % 2 != parity {
                *waiting.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            ball.set(n + 1);
            if let Some(w) = waiting.borrow_mut().take() {
                w.wake();
            }
        })
    };
    let a = evloop::create_task(player(0));
    let b = evloop::create_task(player(1));
    a.await.unwrap();
    b.await.unwrap();
}

// ----- point 3: the reactor is not polled on every tick -----------------

#[test]
#[cfg_attr(miri, ignore = "sockets are not available under Miri")]
fn idle_sockets_cost_no_syscall_per_tick_while_tasks_are_ready() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let hops = 6_100;
    let (ticks, polls) = lp
        .run_until_complete(async move {
            // An idle listener and an idle connected pair stay registered.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let before = h.stats();
            ping_pong(hops).await;
            let after = h.stats();
            drop((client, server));
            (after.ticks - before.ticks, after.io_polls - before.io_polls)
        })
        .unwrap();
    assert!(ticks >= u64::from(hops), "each hop is a tick: {ticks} ticks");
    // One poll per 61 jobs, plus a little slack for the hand-off at the ends.
    assert!(
        polls <= u64::from(hops) / 61 + 10,
        "{polls} reactor polls for {ticks} ticks: the reactor is polled on every tick"
    );
}

#[test]
#[cfg_attr(miri, ignore = "sockets are not available under Miri")]
fn io_is_still_noticed_while_other_tasks_keep_the_queue_full() {
    within(Duration::from_secs(20), "a read while another task spins", || {
        evloop::run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let got = Rc::new(Cell::new(false));
            let g = got.clone();
            let spinner = evloop::create_task(async move {
                let mut yields = 0u64;
                while !g.get() {
                    yield_now().await;
                    yields += 1;
                }
                yields
            });
            let reader = evloop::create_task(async move {
                let mut buf = [0; 4];
                server.read_exact(&mut buf).await.unwrap();
                got.set(true);
                buf
            });
            sleep(Duration::from_millis(5)).await;
            client.write_all(b"ping").await.unwrap();
            assert_eq!(&reader.await.unwrap(), b"ping");
            let yields = spinner.await.unwrap();
            assert!(yields > 0, "the spinner ran alongside");
        })
    });
}

// ----- point 5: the remote step takes only what was queued ---------------

#[test]
fn a_thread_flooding_call_soon_threadsafe_does_not_stall_timers_or_tasks() {
    within(Duration::from_secs(30), "the loop under a callback flood", || {
        let mut lp = EventLoop::new().unwrap();
        let remote = lp.handle().threadsafe();
        let stop = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicUsize::new(0));
        // One sender, as fast as it can. (The drain's bound itself is
        // pinned deterministically by `remote::tests`; more senders than the
        // loop can keep up with grow the queue whatever the drain does.)
        let floods: Vec<_> = (0..1)
            .map(|_| {
                let (stop, ran, remote) = (stop.clone(), ran.clone(), remote.clone());
                thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(15);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let ran = ran.clone();
                        if remote
                            .call_soon_threadsafe(move || {
                                ran.fetch_add(1, Ordering::Relaxed);
                            })
                            .is_err()
                        {
                            break;
                        }
                    }
                })
            })
            .collect();
        let (late, hops) = lp
            .run_until_complete(async {
                // Let the flood get going first.
                while ran.load(Ordering::Relaxed) < 1000 {
                    yield_now().await;
                }
                let other = evloop::create_task(async {
                    let mut hops = 0u32;
                    for _ in 0..100 {
                        yield_now().await;
                        hops += 1;
                    }
                    hops
                });
                let start = Instant::now();
                sleep(Duration::from_millis(50)).await;
                let late = start.elapsed();
                (late, other.await.unwrap())
            })
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        for flood in floods {
            flood.join().unwrap();
        }
        assert_eq!(hops, 100, "another task ran to the end during the flood");
        assert!(late < Duration::from_secs(2), "a 50 ms timer fired after {late:?}");
    });
}

#[test]
fn threads_waking_tasks_in_a_tight_loop_do_not_stall_the_tick() {
    within(Duration::from_secs(30), "the loop under a wake flood", || {
        let mut lp = EventLoop::new().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let late = lp
            .run_until_complete(async {
                // Two threads, each waking its own 32 parked tasks round and
                // round: a task the drain takes off the queue is back on it
                // before the drain reaches the end.
                let mut floods = Vec::new();
                let mut parked = Vec::new();
                for _ in 0..2 {
                    let (tx, rx) = mpsc::channel::<Waker>();
                    for _ in 0..32 {
                        let tx = tx.clone();
                        let sent = Cell::new(false);
                        parked.push(evloop::create_task(std::future::poll_fn(move |cx| {
                            if !sent.replace(true) {
                                tx.send(cx.waker().clone()).unwrap();
                            }
                            Poll::<()>::Pending
                        })));
                    }
                    let stop = stop.clone();
                    floods.push(thread::spawn(move || {
                        let wakers: Vec<Waker> = rx.iter().take(32).collect();
                        let deadline = Instant::now() + Duration::from_secs(15);
                        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                            for waker in &wakers {
                                waker.wake_by_ref();
                            }
                        }
                    }));
                }
                yield_now().await;
                let start = Instant::now();
                sleep(Duration::from_millis(50)).await;
                let late = start.elapsed();
                stop.store(true, Ordering::Relaxed);
                for t in parked {
                    t.cancel();
                }
                for f in floods {
                    f.join().unwrap();
                }
                late
            })
            .unwrap();
        assert!(late < Duration::from_secs(2), "a 50 ms timer fired after {late:?}");
    });
}

// ----- point 6: failures that must not lose other work -------------------

/// A waker that panics when woken: a foreign executor's, gone wrong.
struct PanickyWaker;

impl Wake for PanickyWaker {
    fn wake(self: Arc<Self>) {
        panic!("a foreign waker panicked");
    }
}

/// Polls `inner` with [`PanickyWaker`] instead of the task's waker.
struct ForeignPoll<F>(Pin<Box<F>>);

impl<F: Future> Future for ForeignPoll<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(PanickyWaker));
        self.0.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[test]
fn a_panicking_foreign_waker_on_a_timer_is_reported_and_later_wakes_still_happen() {
    let (mut lp, reports) = loop_with_reports();
    let out = lp
        .run_until_complete(async {
            // Armed first, so it fires first at the shared deadline.
            let foreign = evloop::create_task(ForeignPoll(Box::pin(sleep(Duration::from_secs(1)))));
            yield_now().await;
            let ours = evloop::create_task(async {
                sleep(Duration::from_secs(1)).await;
                "woken"
            });
            let out = ours.await.unwrap();
            foreign.cancel();
            out
        })
        .unwrap();
    assert_eq!(out, "woken");
    let reports = reports.events();
    assert!(
        reports
            .iter()
            .any(|(msg, p)| msg.contains("waker") && p.as_deref() == Some("a foreign waker panicked")),
        "the waker's panic was reported: {reports:?}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "sockets are not available under Miri")]
fn a_panicking_foreign_waker_on_a_socket_does_not_lose_the_next_sockets_wake() {
    let (mut lp, reports) = common::real_loop_with_reports();
    let got = within_loop(&mut lp);
    assert_eq!(&got, b"bb");
    assert!(
        reports.events().iter().any(|(msg, _)| msg.contains("waker")),
        "{:?}",
        reports.events()
    );

    fn within_loop(lp: &mut EventLoop) -> [u8; 2] {
        lp.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let a_client = TcpStream::connect(addr).await.unwrap();
            let (a_server, _) = listener.accept().await.unwrap();
            let b_client = TcpStream::connect(addr).await.unwrap();
            let (b_server, _) = listener.accept().await.unwrap();
            let a_server = Rc::new(a_server);
            let a = a_server.clone();
            let foreign = evloop::create_task(ForeignPoll(Box::pin(async move {
                let mut buf = [0; 2];
                a.read_exact(&mut buf).await.unwrap();
            })));
            let ours = evloop::create_task(async move {
                let mut buf = [0; 2];
                evloop::wait_for(b_server.read_exact(&mut buf), Duration::from_secs(5))
                    .await
                    .expect("the second socket's wake was lost")
                    .unwrap();
                buf
            });
            yield_now().await;
            yield_now().await;
            // Both become readable in one reactor poll, the foreign one first.
            a_client.write_all(b"aa").await.unwrap();
            b_client.write_all(b"bb").await.unwrap();
            let got = ours.await.unwrap();
            foreign.cancel();
            got
        })
        .unwrap()
    }
}

#[test]
fn a_panicking_observer_is_reported_and_the_task_it_interrupted_still_runs() {
    let reports = common::Reports::default();
    let armed = Rc::new(Cell::new(true));
    let a = armed.clone();
    let mut lp = EventLoop::builder()
        .manual_clock()
        .exception_handler(common::reporter(&reports))
        .on_event(move |e| {
            if matches!(e, LoopEvent::PollStart { task: 1 }) && a.replace(false) {
                panic!("observer bug");
            }
        })
        .build()
        .unwrap();
    let h = lp.handle();
    let task = h.create_task(async {
        for _ in 0..3 {
            sleep(Duration::from_millis(10)).await;
        }
        7
    });
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), 7);
    assert!(!armed.get(), "the observer did panic");
    assert_eq!(
        reports.events(),
        [(
            "exception in the on_event observer".to_owned(),
            Some("observer bug".to_owned())
        )]
    );
}

#[test]
fn close_wakes_an_awaiter_polling_from_outside_the_loop() {
    let mut lp = manual_loop();
    let mut task = pin!(lp.handle().create_task(std::future::pending::<()>()));
    let counting = CountingWaker::new();
    let waker = Waker::from(counting.clone());
    let mut cx = Context::from_waker(&waker);
    // Awaited by another executor (here: by hand) while the loop is idle.
    assert!(task.as_mut().poll(&mut cx).is_pending());
    lp.close().unwrap();
    assert_eq!(counting.wakes(), 1, "close woke the awaiter");
    assert!(matches!(
        task.as_mut().poll(&mut cx),
        Poll::Ready(Err(TaskError::Cancelled))
    ));
}

// ----- point 7: a task awaited on the wrong loop --------------------------

#[test]
fn awaiting_a_task_on_another_loop_panics_naming_both_loops() {
    within(
        Duration::from_secs(20),
        "a task awaited on another loop",
        awaited_on_another_loop,
    );
}

fn awaited_on_another_loop() {
    let a = EventLoop::new().unwrap();
    let task = a.handle().create_task(std::future::pending::<()>());
    task.set_name("fetcher");
    let mut b = EventLoop::new().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = b.run_until_complete(task);
    }));
    let msg = panic_text(caught.expect_err("awaiting on loop b must panic").as_ref());
    assert!(msg.contains("fetcher"), "names the task: {msg}");
    assert!(msg.contains("belongs to event loop"), "names its loop: {msg}");
    assert!(msg.contains("awaited on event loop"), "names the other loop: {msg}");
    assert!(
        msg.contains("Await a task on the loop that created it"),
        "says the fix: {msg}"
    );
    // Inside one of b's tasks the panic is that task's error, as any panic is.
    let a_task = a.handle().create_task(std::future::pending::<()>());
    let inner = b
        .run_until_complete(async move { evloop::create_task(a_task).await })
        .unwrap();
    let err = inner.unwrap_err();
    assert!(
        err.panic_message().is_some_and(|m| m.contains("awaited on event loop")),
        "{err:?}"
    );
}

#[test]
fn a_task_awaited_after_its_loop_was_dropped_reports_cancelled() {
    let a = EventLoop::new().unwrap();
    let task = a.handle().create_task(std::future::pending::<()>());
    drop(a);
    let out = EventLoop::new().unwrap().run_until_complete(task).unwrap();
    assert!(matches!(out, Err(TaskError::Cancelled)), "{out:?}");
}

// ----- point 8: the manual clock waits for work in flight ---------------

#[test]
fn manual_clock_does_not_jump_past_a_to_thread_in_flight() {
    within(Duration::from_secs(20), "wait_for(to_thread) on a manual clock", || {
        let mut lp = manual_loop();
        let h = lp.handle();
        lp.run_until_complete(async move {
            let start = h.time();
            let out = evloop::wait_for(
                evloop::to_thread(|| {
                    thread::sleep(Duration::from_millis(50));
                    42
                }),
                Duration::from_secs(1),
            )
            .await;
            assert_eq!(out.expect("timed out on a clock that jumped").unwrap(), 42);
            assert!(h.time() - start < Duration::from_secs(1), "the clock did not jump");
            // With the work done, the clock jumps again at once.
            sleep(Duration::from_secs(3600)).await;
            assert!(h.time() - start >= Duration::from_secs(3600));
        })
        .unwrap();
    });
}

#[test]
fn manual_clock_waits_for_a_to_thread_whose_future_was_dropped() {
    within(Duration::from_secs(20), "a dropped to_thread on a manual clock", || {
        let mut lp = manual_loop();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        lp.run_until_complete(async move {
            drop(evloop::to_thread(move || {
                thread::sleep(Duration::from_millis(30));
                d.store(true, Ordering::SeqCst);
            }));
            // No result will be delivered, but the clock still waits for the
            // closure before jumping this timer's hour.
            sleep(Duration::from_secs(3600)).await;
        })
        .unwrap();
        assert!(done.load(Ordering::SeqCst), "the clock jumped while the closure ran");
    });
}
