//! The seed's `countasync`, watched from inside the loop.
//!
//! Three `count()` tasks each print "One", sleep one second, and print "Two".
//! An observer ([`evloop::Builder::on_event`]) prints a timeline of what the
//! loop did meanwhile, with the loop's clock in milliseconds: each tick and
//! how many jobs it found ready, which task it polled, when a task parked on
//! a timer, when the timer fired and which task it woke, and who woke the
//! main future. The program's own output ("One", "Two") lands in the
//! timeline where it happened, inside the poll that printed it.
//!
//! Run it with `cargo run --example timeline` (real time: it takes a
//! second, and the one-second tick blocks in `epoll_wait`), or with
//! `cargo run --example timeline -- --manual` on a manual clock, which jumps
//! straight to the timers' deadline and finishes at once. For the same
//! program as a picture (Perfetto, or an SVG), see `examples/trace.rs`.
//!
//! Reading the timeline: `main` is the future given to
//! `run_until_complete` (task id 0), the tasks are named with
//! `Task::set_name`, and a timer's `fired` line is followed by the wake it
//! caused. See ARCHITECTURE.md for what each step of a tick does.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::{EventLoop, LoopEvent};

async fn count() {
    println!("One");
    // Non-blocking: hands control back to the event loop while waiting.
    evloop::sleep(Duration::from_secs(1)).await;
    println!("Two");
}

/// What the observer remembers between events.
#[derive(Default)]
struct Timeline {
    /// The loop's time at the first event.
    start: Cell<Option<Instant>>,
    /// Task names, learnt while each task is being polled.
    names: RefCell<HashMap<u64, String>>,
    /// Timers armed when the current poll began.
    armed_before: Cell<u64>,
    /// The task being polled, between its `PollStart` and `PollEnd`.
    polling: Cell<Option<u64>>,
    /// The event before this one, to tell what caused a wake.
    prev: Cell<Option<LoopEvent>>,
}

/// A tick whose start and end are adjacent did nothing visible.
const IDLE: &str = "(nothing ran: the timer wheel woke the loop to cascade a timer down a level; see ARCHITECTURE.md)";

impl Timeline {
    fn name(&self, task: u64) -> String {
        if task == 0 {
            return "main".to_owned();
        }
        (self.names.borrow().get(&task).cloned()).unwrap_or_else(|| format!("Task-{task}"))
    }

    /// Prints one line, stamped with the loop's clock.
    fn line(&self, indent: usize, text: &str) {
        let now = evloop::get_running_loop().time();
        let start = self.start.get().unwrap_or(now);
        self.start.set(Some(start));
        let ms = now.duration_since(start).as_secs_f64() * 1000.0;
        println!("{ms:8.1} ms  {:indent$}{text}", "", indent = indent * 2);
    }

    /// Who caused a wake, judging by what happened just before it.
    fn wake_cause(&self, remote: bool) -> String {
        match (self.prev.get(), self.polling.get()) {
            _ if remote => "another thread".to_owned(),
            (Some(LoopEvent::TimerFired), _) => "its timer".to_owned(),
            (Some(LoopEvent::PollEnd { task, finished: true }), _) => format!("{} finishing", self.name(task)),
            (_, Some(task)) => format!("{}, while polled,", self.name(task)),
            (None, None) => "run_until_complete".to_owned(),
            _ => "something".to_owned(),
        }
    }

    fn on_event(&self, event: &LoopEvent) {
        let armed = || evloop::get_running_loop().stats().timers_armed;
        match *event {
            LoopEvent::TickStart { n, ready } => {
                let jobs = if ready == 1 { "job" } else { "jobs" };
                self.line(0, &format!("tick {n}: {ready} {jobs} ready"));
            }
            LoopEvent::TickEnd { .. } => {
                if matches!(self.prev.get(), Some(LoopEvent::TickStart { .. })) {
                    self.line(1, IDLE);
                }
            }
            LoopEvent::Spawn { task } => self.line(2, &format!("spawns task {task}")),
            LoopEvent::PollStart { task } => {
                self.polling.set(Some(task));
                self.armed_before.set(armed());
                let mut first = "";
                if let Some(info) = evloop::current_task() {
                    if self.names.borrow_mut().insert(info.id, info.name).is_none() {
                        first = " (first poll)";
                    }
                }
                self.line(1, &format!("poll {}{first}", self.name(task)));
            }
            LoopEvent::PollEnd { task, finished } => {
                self.polling.set(None);
                let what = if finished {
                    "finished".to_owned()
                } else if armed() > self.armed_before.get() {
                    "parked on a timer".to_owned()
                } else {
                    "pending".to_owned()
                };
                self.line(2, &format!("{} {what}", self.name(task)));
            }
            LoopEvent::Wake { task, remote } => {
                let cause = self.wake_cause(remote);
                self.line(2, &format!("{cause} wakes {}", self.name(task)));
            }
            LoopEvent::TimerFired => self.line(1, "a timer fires"),
            LoopEvent::IoReady { events } => self.line(1, &format!("{events} I/O events")),
            LoopEvent::Cancelled { task } => self.line(1, &format!("{} cancelled", self.name(task))),
            // `LoopEvent` is non-exhaustive: later versions may add events.
            _ => self.line(1, &format!("{event:?}")),
        }
        self.prev.set(Some(*event));
    }
}

fn main() {
    let manual = std::env::args().any(|a| a == "--manual");
    let timeline = Rc::new(Timeline::default());
    let observer = timeline.clone();
    let mut builder = EventLoop::builder().on_event(move |e| observer.on_event(e));
    if manual {
        builder = builder.manual_clock();
    }
    let mut lp = builder.build().expect("create the event loop");
    let handle = lp.handle();

    let clock = if manual { "manual clock" } else { "real clock" };
    println!("countasync under the observer ({clock}); ms is the loop's time since the first tick\n");
    let wall = Instant::now();
    lp.run_until_complete(async {
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let task = evloop::create_task(count());
                task.set_name(format!("count-{i}"));
                task
            })
            .collect();
        for result in evloop::gather(tasks).await {
            result.expect("count() does not fail");
        }
    })
    .expect("run countasync");

    println!("\n{}", handle.stats());
    println!("{} executed in {:0.2} seconds.", file!(), wall.elapsed().as_secs_f64());
}
