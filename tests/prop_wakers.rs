//! Property tests of the run queue and wakers, through the public API.
//!
//! Random sequences of wakes (from a callback on the loop thread, from the
//! test thread while the loop is idle, and from another thread that gets the
//! waker over a channel), cancels, completions and detaches, interleaved
//! with ticks, must never:
//!
//! - poll a task while it is already being polled,
//! - lose a wake: a live task woken after its last poll is polled again,
//! - poll a task that finished or was cancelled.
//!
//! Every event (a poll, a wake) takes a number from one global counter, so
//! "polled after the wake" is a comparison of two numbers.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use evloop::{EventLoop, Task};
use proptest::prelude::*;

mod common;
use common::manual_loop;

const TASKS: usize = 6;

/// What the test knows about one task, shared with its probe future.
#[derive(Default)]
struct Probe {
    in_poll: Cell<bool>,
    polls: Cell<usize>,
    last_poll: Cell<u64>,
    last_wake: Cell<u64>,
    finish: Cell<bool>,
    finished: Cell<bool>,
    dropped: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Shared by every probe: the event counter and the violations seen.
#[derive(Default)]
struct World {
    seq: Cell<u64>,
    violations: RefCell<Vec<String>>,
}

impl World {
    fn tick(&self) -> u64 {
        self.seq.set(self.seq.get() + 1);
        self.seq.get()
    }

    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }
}

/// The task body: records its polls; finishes when told to.
struct ProbeFuture {
    id: usize,
    probe: Rc<Probe>,
    world: Rc<World>,
}

impl Future for ProbeFuture {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let (p, w) = (&self.probe, &self.world);
        if p.in_poll.replace(true) {
            w.violation(format!("task {} polled while being polled", self.id));
        }
        if p.finished.get() {
            w.violation(format!("task {} polled after it finished", self.id));
        }
        p.polls.set(p.polls.get() + 1);
        p.last_poll.set(w.tick());
        *p.waker.borrow_mut() = Some(cx.waker().clone());
        let out = if p.finish.get() {
            p.finished.set(true);
            Poll::Ready(self.id)
        } else {
            Poll::Pending
        };
        p.in_poll.set(false);
        out
    }
}

impl Drop for ProbeFuture {
    fn drop(&mut self) {
        self.probe.dropped.set(true);
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Wake from a callback running on the loop (the local path).
    WakeOnLoop(usize),
    /// Wake from the test thread while the loop is idle (the remote path).
    WakeIdle(usize),
    /// Wake from another thread, the waker sent over a channel.
    WakeFromThread(usize),
    /// Wake twice from the loop and once from a thread, all before one tick.
    WakeStorm(usize),
    Cancel(usize),
    /// Let the task return on its next poll, and wake it.
    Complete(usize),
    /// Drop the task's handle (detach).
    Detach(usize),
    Tick,
    Settle,
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TASKS;
    prop_oneof![
        3 => t.clone().prop_map(Op::WakeOnLoop),
        3 => t.clone().prop_map(Op::WakeIdle),
        2 => t.clone().prop_map(Op::WakeFromThread),
        1 => t.clone().prop_map(Op::WakeStorm),
        1 => t.clone().prop_map(Op::Cancel),
        1 => t.clone().prop_map(Op::Complete),
        1 => t.prop_map(Op::Detach),
        3 => Just(Op::Tick),
        2 => Just(Op::Settle),
    ]
}

struct Harness {
    lp: EventLoop,
    world: Rc<World>,
    probes: Vec<Rc<Probe>>,
    tasks: Vec<Option<Task<usize>>>,
    /// Polls seen when the task was cancelled (a successful cancel).
    cancelled_at: Vec<Option<usize>>,
    to_thread: mpsc::Sender<(Waker, mpsc::Sender<()>)>,
}

impl Harness {
    fn new(to_thread: mpsc::Sender<(Waker, mpsc::Sender<()>)>) -> Harness {
        let lp = manual_loop();
        let world = Rc::new(World::default());
        let probes: Vec<Rc<Probe>> = (0..TASKS).map(|_| Rc::default()).collect();
        let tasks = (0..TASKS)
            .map(|id| {
                Some(lp.handle().create_task(ProbeFuture {
                    id,
                    probe: probes[id].clone(),
                    world: world.clone(),
                }))
            })
            .collect();
        Harness {
            lp,
            world,
            probes,
            tasks,
            cancelled_at: vec![None; TASKS],
            to_thread,
        }
    }

    fn waker(&self, i: usize) -> Option<Waker> {
        self.probes[i].waker.borrow().clone()
    }

    /// Records a wake about to happen (before it can cause a poll).
    fn note_wake(&self, i: usize) {
        self.probes[i].last_wake.set(self.world.tick());
    }

    fn wake_on_loop(&self, i: usize) {
        if let Some(w) = self.waker(i) {
            let (probe, world) = (self.probes[i].clone(), self.world.clone());
            self.lp.handle().call_soon(move || {
                probe.last_wake.set(world.tick());
                w.wake();
            });
        }
    }

    fn wake_from_thread(&self, i: usize) {
        if let Some(w) = self.waker(i) {
            self.note_wake(i);
            let (ack_tx, ack_rx) = mpsc::channel();
            self.to_thread.send((w, ack_tx)).unwrap();
            ack_rx.recv().unwrap();
        }
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::WakeOnLoop(i) => self.wake_on_loop(i),
            Op::WakeIdle(i) => {
                if let Some(w) = self.waker(i) {
                    self.note_wake(i);
                    w.wake_by_ref();
                }
            }
            Op::WakeFromThread(i) => self.wake_from_thread(i),
            Op::WakeStorm(i) => {
                self.wake_on_loop(i);
                self.wake_on_loop(i);
                self.wake_from_thread(i);
            }
            Op::Cancel(i) => {
                if let Some(t) = &self.tasks[i] {
                    if t.cancel() {
                        self.cancelled_at[i].get_or_insert(self.probes[i].polls.get());
                    }
                }
            }
            Op::Complete(i) => {
                self.probes[i].finish.set(true);
                if let Some(w) = self.waker(i) {
                    self.note_wake(i);
                    w.wake();
                }
            }
            Op::Detach(i) => drop(self.tasks[i].take()),
            Op::Tick => self.lp.run_once(Some(Duration::ZERO)).unwrap(),
            Op::Settle => self.settle()?,
        }
        let v = self.world.violations.borrow();
        prop_assert!(v.is_empty(), "{:?}", *v);
        Ok(())
    }

    /// Runs until quiet, then checks that no wake was lost and no cancelled
    /// task was polled.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..4 {
            self.lp.run_once(Some(Duration::ZERO)).unwrap();
        }
        prop_assert_eq!(self.lp.next_timeout(), None, "still busy after settling");
        for (i, p) in self.probes.iter().enumerate() {
            if let Some(at) = self.cancelled_at[i] {
                prop_assert_eq!(p.polls.get(), at, "task {} polled after cancel", i);
                prop_assert!(p.dropped.get(), "cancelled task {}'s future not dropped", i);
                continue;
            }
            if p.finished.get() {
                prop_assert!(p.dropped.get(), "finished task {}'s future not dropped", i);
                continue;
            }
            prop_assert!(p.polls.get() >= 1, "task {} never polled", i);
            prop_assert!(
                p.last_poll.get() > p.last_wake.get(),
                "task {} woken at {} but last polled at {}: the wake was lost",
                i,
                p.last_wake.get(),
                p.last_poll.get()
            );
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if let Some(t) = t {
                let p = &self.probes[i];
                prop_assert_eq!(t.done(), p.finished.get() || self.cancelled_at[i].is_some());
            }
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel::<(Waker, mpsc::Sender<()>)>();
    let worker = thread::spawn(move || {
        for (waker, ack) in rx {
            waker.wake();
            ack.send(()).unwrap();
        }
    });
    let mut h = Harness::new(tx);
    for op in ops {
        h.apply(op)?;
    }
    h.apply(Op::Settle)?;
    drop(h); // closes the worker's channel
    worker.join().unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 3 } else { 200 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn prop_wakes_cancels_and_completions_keep_the_run_queue_sound(
        ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 16 } else { 80 })
    ) {
        run(ops)?;
    }
}
