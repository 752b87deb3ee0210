//! `Queue::shutdown` (asyncio 3.13): puts fail, gets drain then fail,
//! waiting producers and consumers are woken with the error, `join`
//! waiters are released by an immediate shutdown; and the queue's consumer
//! side as a `futures_core::Stream` that ends after shutdown. Every test
//! runs under `run_guarded`: a consumer left waiting forever fails the
//! test instead of hanging it.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{run_guarded, settle, DropCounter};
use evloop::create_task;
use evloop::sync::{Queue, QueueShutDown};
use futures::stream::FusedStream;
use futures::StreamExt;

#[test]
fn shutdown_wakes_waiting_consumers_with_the_error() {
    run_guarded(async {
        let q = Rc::new(Queue::<u32>::unbounded());
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                create_task(async move { q.recv().await })
            })
            .collect();
        settle().await; // all three wait on the empty queue
        q.shutdown(false);
        for c in consumers {
            assert_eq!(c.await.unwrap(), Err(QueueShutDown(())));
        }
    });
}

#[test]
fn shutdown_wakes_waiting_producers_and_gives_their_items_back() {
    run_guarded(async {
        let q = Rc::new(Queue::new(1));
        q.send("kept").await.unwrap();
        let producers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|item| {
                let q = q.clone();
                create_task(async move { q.send(item).await.map_err(QueueShutDown::into_inner) })
            })
            .collect();
        settle().await; // both wait for room
        q.shutdown(false);
        let mut back = Vec::new();
        for p in producers {
            back.push(p.await.unwrap().unwrap_err());
        }
        assert_eq!(back, ["a", "b"]);
        assert_eq!(q.recv().await, Ok("kept"), "what was queued is drained");
        assert!(q.recv().await.is_err());
    });
}

#[test]
fn shutdown_fails_a_putter_whose_slot_was_promised_but_not_used() {
    run_guarded(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(0).unwrap();
        let p = {
            let q = q.clone();
            create_task(async move { q.send(1).await })
        };
        settle().await;
        // Frees a slot and promises it to the waiting putter, which has not
        // run yet; the shutdown comes first.
        assert_eq!(q.get_nowait(), Ok(0));
        q.shutdown(false);
        assert_eq!(p.await.unwrap().unwrap_err().into_inner(), 1);
        assert!(q.empty() && !q.full(), "the promised slot was released");
    });
}

#[test]
fn shutdown_then_get_drains_remaining_items_then_fails() {
    run_guarded(async {
        let q = Queue::unbounded();
        for i in 0..3 {
            q.put_nowait(i).unwrap();
        }
        q.shutdown(false);
        assert!(q.is_shutdown());
        assert_eq!(q.send(9).await.unwrap_err().into_inner(), 9);
        assert_eq!(q.put_nowait(9).unwrap_err().into_inner(), 9);
        assert_eq!(q.get().await, 0, "get still drains");
        assert_eq!(q.recv().await, Ok(1));
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.recv().await, Err(QueueShutDown(())));
        // join still waits for task_done on the drained items.
        for _ in 0..3 {
            q.task_done();
        }
        q.join().await;
    });
}

#[test]
fn shutdown_immediate_drops_items_fails_gets_and_releases_join() {
    run_guarded(async {
        let q = Rc::new(Queue::unbounded());
        let drops = DropCounter::new();
        for _ in 0..4 {
            q.put_nowait(drops.guard()).unwrap();
        }
        let joined = Rc::new(Cell::new(false));
        let joiner = {
            let (q, joined) = (q.clone(), joined.clone());
            create_task(async move {
                q.join().await;
                joined.set(true);
            })
        };
        settle().await;
        assert!(!joined.get());
        q.shutdown(true);
        assert_eq!(drops.count(), 4, "the queued items were dropped");
        assert!(q.recv().await.is_err(), "nothing left to drain");
        joiner.await.unwrap();
        assert!(joined.get(), "join was released");
    });
}

#[test]
fn shutdown_immediate_drops_an_item_handed_to_a_getter_that_is_then_dropped() {
    run_guarded(async {
        let q = Rc::new(Queue::unbounded());
        let drops = DropCounter::new();
        let getter = {
            let q = q.clone();
            create_task(async move { q.recv().await.map(drop) })
        };
        settle().await;
        q.put_nowait(drops.guard()).unwrap(); // handed to the waiting getter
        q.shutdown(true);
        getter.cancel(); // before it runs: the handed item comes back
        settle().await;
        assert_eq!(drops.count(), 1);
        assert!(q.empty());
        q.join().await; // counted as done
    });
}

#[test]
#[should_panic(expected = "use Queue::recv or Queue::stream")]
fn get_on_a_shut_down_empty_queue_panics_with_a_clear_message() {
    evloop::run(async {
        let q = Queue::<u8>::unbounded();
        q.shutdown(false);
        q.get().await;
    });
}

#[test]
#[should_panic(expected = "use Queue::send")]
fn put_on_a_shut_down_queue_panics_with_a_clear_message() {
    evloop::run(async {
        let q = Queue::unbounded();
        q.shutdown(false);
        q.put(1).await;
    });
}

#[test]
fn stream_yields_in_order_and_ends_after_shutdown() {
    run_guarded(async {
        let q = Rc::new(Queue::new(2));
        let producer = {
            let q = q.clone();
            create_task(async move {
                for i in 0..10 {
                    q.put(i).await;
                }
                q.shutdown(false);
            })
        };
        let mut stream = q.stream();
        let mut got = Vec::new();
        while let Some(i) = stream.next().await {
            got.push(i);
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(stream.is_terminated());
        assert_eq!(stream.next().await, None, "fused: stays ended");
        producer.await.unwrap();
    });
}

#[test]
fn stream_waiting_on_an_empty_queue_ends_when_it_is_shut_down() {
    run_guarded(async {
        let q = Rc::new(Queue::<u8>::unbounded());
        let consumer = {
            let q = q.clone();
            create_task(async move { q.stream().count().await })
        };
        settle().await;
        q.put_nowait(1).unwrap();
        settle().await;
        q.shutdown(false);
        assert_eq!(consumer.await.unwrap(), 1);
    });
}

#[test]
fn streams_share_items_fifo_and_a_dropped_stream_gives_its_item_back() {
    run_guarded(async {
        let q = Rc::new(Queue::unbounded());
        let mut a = q.stream();
        let mut b = q.stream();
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        assert_eq!(a.next().await, Some(1));
        assert_eq!(b.next().await, Some(2));
        // A stream waiting in `select!` that loses the race and is dropped
        // after an item was handed to it must not lose the item.
        let waiting = {
            let q = q.clone();
            create_task(async move {
                let mut s = q.stream();
                s.next().await
            })
        };
        settle().await;
        q.put_nowait(3).unwrap();
        waiting.cancel();
        settle().await;
        assert_eq!(q.get_nowait(), Ok(3));
    });
}
