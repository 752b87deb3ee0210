//! Stress: a thousand tasks cancelled while parked on timers, on
//! `evloop::sync` primitives and on sockets.
//!
//! Cancelling a task drops the future it is parked in. Afterwards nothing of
//! it may remain: its timer is gone (the loop has nothing left to wait for),
//! its place in a wait list is gone (a release or `set` goes to a live
//! waiter, never to a dead one, so nothing is lost), and its socket
//! registration is gone (the socket still works for a new reader).
//!
//! Sizes: 1,000 tasks per primitive in every build; 40 under Miri, which
//! runs none of the socket test.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use evloop::sync::{Event, Lock, Queue, Semaphore};
use evloop::{EventLoop, Task};

mod common;
use common::{manual_loop, DropCounter};

const N: usize = if cfg!(miri) { 40 } else { 1_000 };

/// Runs the loop until nothing is ready (manual clock: timers included).
fn settle(lp: &mut EventLoop) {
    for _ in 0..4 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
}

fn cancel_all<T>(tasks: &[Task<T>]) {
    for t in tasks {
        assert!(t.cancel());
    }
}

#[test]
fn stress_cancel_tasks_parked_on_timers_frees_every_timer() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let drops = DropCounter::new();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let guard = drops.guard();
            h.create_task(async move {
                let _guard = guard;
                evloop::sleep(Duration::from_millis(1 + (i as u64 * 7919) % 10_000_000)).await;
                unreachable!("a cancelled sleeper woke");
            })
        })
        .collect();
    lp.run_once(Some(Duration::ZERO)).unwrap(); // every task parks on its timer
    assert_eq!(
        lp.next_timeout().map(|t| t.is_zero()),
        Some(true),
        "timers armed (manual clock: zero)"
    );
    cancel_all(&tasks);
    settle(&mut lp);
    assert_eq!(drops.count(), N, "every cancelled future was dropped");
    assert!(tasks.iter().all(Task::cancelled));
    // No timer is left armed: with nothing ready, the loop would wait forever.
    assert_eq!(lp.next_timeout(), None, "a cancelled task's timer is still armed");
}

#[test]
fn stress_cancel_half_the_lock_waiters_the_rest_get_it_in_order() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let lock = Rc::new(Lock::new());
    let order = Rc::new(RefCell::new(Vec::new()));
    let holder = {
        let lock = lock.clone();
        h.create_task(async move {
            let _g = lock.lock().await;
            std::future::pending::<()>().await;
        })
    };
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(lock.locked());
    let waiters: Vec<_> = (0..N)
        .map(|i| {
            let (lock, order) = (lock.clone(), order.clone());
            h.create_task(async move {
                let _g = lock.lock().await;
                order.borrow_mut().push(i);
                evloop::yield_now().await; // hold it across a tick
            })
        })
        .collect();
    settle(&mut lp);
    // Cancel the even waiters, the head of the queue among them.
    for w in waiters.iter().step_by(2) {
        assert!(w.cancel());
    }
    // Release while the cancellations are still pending, then let it all run.
    assert!(holder.cancel());
    for _ in 0..4 * N {
        lp.run_once(Some(Duration::ZERO)).unwrap();
        if waiters.iter().all(Task::done) {
            break;
        }
    }
    let expected: Vec<usize> = (1..N).step_by(2).collect();
    assert_eq!(*order.borrow(), expected, "live waiters got the lock in FIFO order");
    assert!(!lock.locked(), "the lock was left held by a cancelled waiter");
    assert!(lock.try_lock().is_some());
}

#[test]
fn stress_cancel_lock_waiter_after_the_lock_was_handed_to_it() {
    // The race the hand-off design must get right: the lock is handed to the
    // oldest waiter at release, and that waiter is cancelled before it runs.
    let mut lp = manual_loop();
    let h = lp.handle();
    let lock = Rc::new(Lock::new());
    let got = Rc::new(Cell::new(0usize));
    let first = {
        let lock = lock.clone();
        h.create_task(async move {
            let _g = lock.lock().await;
            std::future::pending::<()>().await;
        })
    };
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let waiters: Vec<_> = (0..N)
        .map(|_| {
            let (lock, got) = (lock.clone(), got.clone());
            h.create_task(async move {
                let _g = lock.lock().await;
                got.set(got.get() + 1);
            })
        })
        .collect();
    settle(&mut lp);
    // Cancel the holder and, in the same tick, every other waiter: each
    // release hands the lock to a waiter that is then dropped unrun.
    assert!(first.cancel());
    lp.run_once(Some(Duration::ZERO)).unwrap();
    for w in waiters.iter().step_by(2) {
        w.cancel();
    }
    for _ in 0..4 * N {
        lp.run_once(Some(Duration::ZERO)).unwrap();
        if waiters.iter().all(Task::done) {
            break;
        }
    }
    assert!(
        waiters.iter().all(Task::done),
        "a waiter is stuck: the lock was lost with a cancelled one"
    );
    assert!(got.get() >= N / 2);
    assert!(!lock.locked());
}

#[test]
fn stress_cancel_event_waiters_then_set_wakes_only_the_live_ones() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let event = Rc::new(Event::new());
    let woke = Rc::new(Cell::new(0usize));
    let drops = DropCounter::new();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (event, woke, guard) = (event.clone(), woke.clone(), drops.guard());
            h.create_task(async move {
                let _guard = guard;
                event.wait().await;
                woke.set(woke.get() + 1);
            })
        })
        .collect();
    settle(&mut lp);
    for t in tasks.iter().step_by(2) {
        t.cancel();
    }
    settle(&mut lp);
    assert_eq!(drops.count(), N / 2);
    event.set();
    settle(&mut lp);
    assert_eq!(woke.get(), N / 2, "exactly the live waiters woke");
    assert_eq!(drops.count(), N);
    assert!(tasks.iter().all(Task::done));
}

#[test]
fn stress_cancel_semaphore_waiters_loses_no_permit() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let sem = Rc::new(Semaphore::new(3));
    let ran = Rc::new(Cell::new(0usize));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (sem, ran) = (sem.clone(), ran.clone());
            h.create_task(async move {
                let _p = sem.acquire().await;
                evloop::yield_now().await;
                ran.set(ran.get() + 1);
            })
        })
        .collect();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    // Three hold permits now; cancel every third task, holders included.
    for t in tasks.iter().step_by(3) {
        t.cancel();
    }
    for _ in 0..4 * N {
        lp.run_once(Some(Duration::ZERO)).unwrap();
        if tasks.iter().all(Task::done) {
            break;
        }
    }
    assert!(tasks.iter().all(Task::done), "a waiter is stuck: a permit was lost");
    assert_eq!(ran.get(), N - N.div_ceil(3));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn stress_cancel_queue_putters_and_getters_loses_no_item() {
    let mut lp = manual_loop();
    let h = lp.handle();
    // Putters parked on a full queue.
    let q = Rc::new(Queue::new(1));
    q.put_nowait(usize::MAX).unwrap();
    let putters: Vec<_> = (0..N)
        .map(|i| {
            let q = q.clone();
            h.create_task(async move { q.put(i).await })
        })
        .collect();
    settle(&mut lp);
    for t in putters.iter().step_by(2) {
        t.cancel();
    }
    settle(&mut lp);
    let got: Rc<RefCell<Vec<usize>>> = Rc::default();
    let drain = {
        let (q, got) = (q.clone(), got.clone());
        h.create_task(async move {
            for _ in 0..=N / 2 {
                let item = q.get().await;
                got.borrow_mut().push(item);
            }
        })
    };
    lp.run_until_complete(drain).unwrap().unwrap();
    let mut expected = vec![usize::MAX];
    expected.extend((1..N).step_by(2));
    assert_eq!(*got.borrow(), expected, "exactly the live putters' items, in order");
    assert!(q.empty());

    // Getters parked on an empty queue.
    let q = Rc::new(Queue::unbounded());
    let got: Rc<RefCell<Vec<usize>>> = Rc::default();
    let getters: Vec<_> = (0..N)
        .map(|_| {
            let (q, got) = (q.clone(), got.clone());
            h.create_task(async move {
                let item = q.get().await;
                got.borrow_mut().push(item);
            })
        })
        .collect();
    settle(&mut lp);
    for t in getters.iter().step_by(2) {
        t.cancel();
    }
    // Items put right away: some are handed to getters cancelled in this same tick.
    for i in 0..N / 2 {
        q.put_nowait(i).unwrap();
    }
    settle(&mut lp);
    let mut got = got.take();
    got.sort_unstable();
    assert_eq!(got, (0..N / 2).collect::<Vec<_>>(), "every item reached a live getter");
    assert!(getters.iter().all(Task::done));
    assert!(q.empty());
}

/// How many sockets this test may open: 1,000 unless the fd limit is low.
fn socket_budget() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1024);
    N.min(soft.saturating_sub(200) / 2 * 2)
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn stress_cancel_tasks_parked_on_sockets_leaves_the_sockets_usable() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let n = socket_budget();
    // I/O objects register with the running loop, so make them inside it.
    let streams: Vec<Rc<evloop::net::UnixStream>> = lp
        .run_until_complete(async move {
            (0..n / 2)
                .map(|_| evloop::net::UnixStream::pair().unwrap())
                .flat_map(|(a, b)| [Rc::new(a), Rc::new(b)])
                .collect()
        })
        .unwrap();
    let drops = DropCounter::new();
    let readers: Vec<_> = streams
        .iter()
        .map(|s| {
            let (s, guard) = (s.clone(), drops.guard());
            h.create_task(async move {
                let _guard = guard;
                let mut buf = [0u8; 16];
                let _ = s.read(&mut buf).await;
                unreachable!("a cancelled reader read");
            })
        })
        .collect();
    for _ in 0..3 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    cancel_all(&readers);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(drops.count(), n, "every cancelled reader was dropped");
    assert!(readers.iter().all(Task::cancelled));

    // Every socket still works: write to each, read with a fresh task.
    let streams_ref = streams.clone();
    let total = lp
        .run_until_complete(async move {
            for pair in streams_ref.chunks(2) {
                pair[0].write_all(b"ping").await.unwrap();
                pair[1].write_all(b"pong").await.unwrap();
            }
            let mut total = 0;
            for s in &streams_ref {
                let mut buf = [0u8; 4];
                s.read_exact(&mut buf).await.unwrap();
                total += buf.len();
            }
            total
        })
        .unwrap();
    assert_eq!(total, 4 * n);
}
