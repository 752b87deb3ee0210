//! `evloop::sync::Queue`: FIFO delivery, bounds, nowait errors, task_done /
//! join, fairness and cancellation.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use common::{run_guarded, settle};
use evloop::sync::{Queue, QueueEmpty, QueueFull};
use evloop::{create_task, sleep, yield_now};

#[test]
fn get_returns_items_in_put_order() {
    run_guarded(async {
        let q = Queue::unbounded();
        for i in 0..10 {
            q.put(i).await;
        }
        assert_eq!(q.qsize(), 10);
        let mut got = Vec::new();
        while !q.empty() {
            got.push(q.get().await);
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn several_producers_and_consumers_deliver_every_item_once_in_order() {
    const PRODUCERS: u32 = 3;
    const CONSUMERS: u32 = 4;
    const PER_PRODUCER: u32 = 50;
    run_guarded(async {
        let q = Rc::new(Queue::new(5));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                create_task(async move {
                    for i in 0..PER_PRODUCER {
                        q.put(Some((p, i))).await;
                        if i % 3 == p {
                            yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let q = q.clone();
                create_task(async move {
                    let mut got = Vec::new();
                    while let Some(item) = q.get().await {
                        got.push(item);
                        q.task_done();
                        if got.len() as u32 % (c + 2) == 0 {
                            sleep(Duration::from_millis(1)).await;
                        }
                    }
                    q.task_done();
                    got
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        for _ in 0..CONSUMERS {
            q.put(None).await;
        }
        q.join().await;
        let mut all = Vec::new();
        for c in consumers {
            let got = c.await.unwrap();
            // Each consumer sees every producer's items in the order put.
            for p in 0..PRODUCERS {
                let seq: Vec<_> = got.iter().filter(|(pp, _)| *pp == p).map(|(_, i)| *i).collect();
                assert!(
                    seq.windows(2).all(|w| w[0] < w[1]),
                    "producer {p} out of order: {seq:?}"
                );
            }
            all.extend(got);
        }
        all.sort();
        let expected: Vec<_> = (0..PRODUCERS)
            .flat_map(|p| (0..PER_PRODUCER).map(move |i| (p, i)))
            .collect();
        assert_eq!(all, expected, "every item delivered exactly once");
        assert!(q.empty());
    });
}

#[test]
fn one_consumer_sees_each_producers_items_in_order() {
    run_guarded(async {
        let q = Rc::new(Queue::new(2));
        let producers: Vec<_> = (0..3u32)
            .map(|p| {
                let q = q.clone();
                create_task(async move {
                    for i in 0..20u32 {
                        q.put((p, i)).await;
                    }
                })
            })
            .collect();
        let mut next = [0u32; 3];
        for _ in 0..60 {
            let (p, i) = q.get().await;
            assert_eq!(i, next[p as usize]);
            next[p as usize] += 1;
        }
        for p in producers {
            p.await.unwrap();
        }
        assert_eq!(next, [20, 20, 20]);
    });
}

#[test]
fn put_blocks_while_full_and_resumes_after_get() {
    run_guarded(async {
        let q = Rc::new(Queue::new(2));
        q.put(1).await;
        q.put(2).await;
        assert!(q.full());
        let q2 = q.clone();
        let putter = create_task(async move { q2.put(3).await });
        settle().await;
        assert!(!putter.done(), "put waits while the queue is full");
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.get().await, 1);
        putter.await.unwrap();
        assert_eq!(q.get().await, 2);
        assert_eq!(q.get().await, 3);
    });
}

#[test]
fn get_blocks_while_empty() {
    run_guarded(async {
        let q = Rc::new(Queue::<u8>::unbounded());
        let q2 = q.clone();
        let getter = create_task(async move { q2.get().await });
        settle().await;
        assert!(!getter.done());
        q.put_nowait(9).unwrap();
        assert_eq!(getter.await.unwrap(), 9);
    });
}

#[test]
fn nowait_errors() {
    let q = Queue::new(1);
    assert_eq!(q.get_nowait(), Err(QueueEmpty));
    q.put_nowait("a").unwrap();
    let err: QueueFull<&str> = q.put_nowait("b").unwrap_err();
    assert_eq!(err.into_inner(), "b", "the rejected item comes back");
    assert_eq!(q.get_nowait(), Ok("a"));
    assert_eq!(QueueEmpty.to_string(), "queue is empty");
    assert_eq!(QueueFull(0).to_string(), "queue is full");
    let boxed: Box<dyn std::error::Error> = Box::new(QueueFull(vec![1]));
    assert_eq!(format!("{boxed:?}"), "QueueFull(..)");
}

#[test]
fn sizes_and_limits() {
    let q = Queue::new(3);
    assert_eq!(q.maxsize(), 3);
    assert!(q.empty() && !q.full());
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert_eq!(q.qsize(), 2);
    q.put_nowait(3).unwrap();
    assert!(q.full());
    let u = Queue::unbounded();
    for i in 0..10_000 {
        u.put_nowait(i).unwrap();
    }
    assert!(!u.full());
    assert_eq!(u.maxsize(), 0);
    assert_eq!(Queue::<()>::new(0).maxsize(), 0);
}

#[test]
fn join_waits_for_task_done_on_every_item() {
    run_guarded(async {
        let q = Rc::new(Queue::unbounded());
        q.join().await; // nothing put: immediate
        for i in 0..3 {
            q.put_nowait(i).unwrap();
        }
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                create_task(async move { q.join().await })
            })
            .collect();
        for _ in 0..3 {
            q.get().await;
        }
        settle().await;
        assert!(joiners.iter().all(|j| !j.done()), "items taken but not done");
        q.task_done();
        q.task_done();
        settle().await;
        assert!(joiners.iter().all(|j| !j.done()));
        q.task_done();
        for j in joiners {
            j.await.unwrap();
        }
        q.join().await;
    });
}

#[test]
#[should_panic(expected = "task_done() called more times than there were items put")]
fn task_done_too_many_times_panics() {
    let q = Queue::unbounded();
    q.put_nowait(1).unwrap();
    q.get_nowait().unwrap();
    q.task_done();
    q.task_done();
}

#[test]
fn getters_are_served_in_fifo_order() {
    run_guarded(async {
        let q = Rc::new(Queue::unbounded());
        let log = Rc::new(RefCell::new(Vec::new()));
        let getters: Vec<_> = (0..4)
            .map(|g| {
                let (q, log) = (q.clone(), log.clone());
                create_task(async move {
                    let item = q.get().await;
                    log.borrow_mut().push((g, item));
                })
            })
            .collect();
        settle().await;
        for i in 10..14 {
            q.put_nowait(i).unwrap();
        }
        for g in getters {
            g.await.unwrap();
        }
        assert_eq!(*log.borrow(), [(0, 10), (1, 11), (2, 12), (3, 13)]);
    });
}

#[test]
fn get_nowait_cannot_steal_an_item_handed_to_a_waiter() {
    run_guarded(async {
        let q = Rc::new(Queue::unbounded());
        let q2 = q.clone();
        let getter = create_task(async move { q2.get().await });
        settle().await;
        q.put_nowait("mine").unwrap();
        assert_eq!(q.get_nowait(), Err(QueueEmpty), "handed to the waiting getter");
        assert!(q.empty());
        assert_eq!(getter.await.unwrap(), "mine");
    });
}

#[test]
fn put_nowait_cannot_take_a_slot_promised_to_a_waiting_putter() {
    run_guarded(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(1).unwrap();
        let q2 = q.clone();
        let putter = create_task(async move { q2.put(2).await });
        settle().await;
        assert_eq!(q.get_nowait(), Ok(1));
        assert!(q.full(), "the freed slot is promised to the waiting putter");
        assert_eq!(q.put_nowait(3).unwrap_err().into_inner(), 3);
        putter.await.unwrap();
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

#[test]
fn cancelled_get_does_not_lose_an_item() {
    run_guarded(async {
        let q = Rc::new(Queue::unbounded());
        let spawn = || {
            let q = q.clone();
            create_task(async move { q.get().await })
        };
        let (a, b, c) = (spawn(), spawn(), spawn());
        settle().await;
        a.cancel(); // cancelled while waiting
        settle().await;
        q.put_nowait(1).unwrap(); // handed to `b`...
        b.cancel(); // ...which is dropped before it runs: `c` must get it
        assert_eq!(c.await.unwrap(), 1);
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(b.await.unwrap_err().is_cancelled());
        assert!(q.empty());
    });
}

#[test]
fn get_dropped_after_hand_off_puts_the_item_back_in_front() {
    let q = Queue::unbounded();
    let waker = futures_task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut get = Box::pin(q.get());
    assert!(get.as_mut().poll(&mut cx).is_pending());
    q.put_nowait(1).unwrap(); // handed to `get`
    q.put_nowait(2).unwrap(); // queued
    assert_eq!(q.qsize(), 1);
    drop(get);
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.get_nowait(), Ok(1), "the returned item is the oldest");
    assert_eq!(q.get_nowait(), Ok(2));
}

#[test]
fn handed_items_count_against_maxsize() {
    let q = Queue::new(1);
    let waker = futures_task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut get = Box::pin(q.get());
    assert!(get.as_mut().poll(&mut cx).is_pending());
    q.put_nowait(1).unwrap(); // handed to `get`, still occupies the one slot
    assert!(q.full());
    assert!(q.put_nowait(2).is_err());
    drop(get); // back into the queue, never above maxsize
    assert_eq!(q.qsize(), 1);
}

#[test]
fn cancelled_put_drops_its_item_and_passes_its_slot_on() {
    run_guarded(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(0).unwrap();
        let spawn = |i: u32| {
            let q = q.clone();
            create_task(async move { q.put(i).await })
        };
        let (a, b) = (spawn(1), spawn(2));
        settle().await;
        assert_eq!(q.get_nowait(), Ok(0)); // slot promised to `a`...
        a.cancel(); // ...which is dropped before it puts: `b` gets the slot
        b.await.unwrap();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(q.get_nowait(), Ok(2));
        assert!(q.empty());
        q.task_done();
        q.task_done();
        q.join().await; // the cancelled put never counted
    });
}
