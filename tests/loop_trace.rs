//! The trace file (`Builder::trace`, issue 16): Chrome's Trace Event format,
//! read back with serde_json and checked for what a viewer relies on: valid
//! JSON, one named track per task, polls inside ticks, one arrow per wake
//! ending at the woken task's next poll, timestamps that never go back, and a
//! complete file after a panic. Manual clocks make the files deterministic;
//! the one real-clock test only bounds a blocking wait from below.

mod common;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use evloop::{EventLoop, LoopEvent};
use serde_json::Value;

/// A fresh path in the temp dir for the test called `name`.
fn trace_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("evloop-test-{}-{name}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The events of a complete trace file (which must parse as a JSON array).
fn read_trace(path: &PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the trace file exists");
    let _ = std::fs::remove_file(path);
    match serde_json::from_str(&text) {
        Ok(Value::Array(events)) => events,
        other => panic!("not a JSON array ({other:?}):\n{text}"),
    }
}

fn ph(e: &Value) -> &str {
    e["ph"].as_str().expect("every event has a phase")
}

fn tid(e: &Value) -> u64 {
    e["tid"].as_u64().expect("every event has a tid")
}

fn ts(e: &Value) -> f64 {
    e["ts"].as_f64().expect("timed events have a ts")
}

fn name(e: &Value) -> &str {
    e["name"].as_str().unwrap_or("")
}

/// A begin/end pair: track, name, start and end time, and where the pair
/// sits in the file.
#[derive(Debug, Clone)]
struct Slice {
    tid: u64,
    name: String,
    start: f64,
    end: f64,
    begin_at: usize,
    end_at: usize,
}

/// Pairs every `B` with its `E`, per track, checking they nest.
fn slices(events: &[Value]) -> Vec<Slice> {
    let mut open: HashMap<u64, Vec<(usize, &Value)>> = HashMap::new();
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match ph(e) {
            "B" => open.entry(tid(e)).or_default().push((i, e)),
            "E" => {
                let (begin_at, b) = (open.get_mut(&tid(e)))
                    .and_then(Vec::pop)
                    .unwrap_or_else(|| panic!("an E with no B: {e}"));
                assert_eq!(name(b), name(e), "slices nest on track {}", tid(e));
                out.push(Slice {
                    tid: tid(e),
                    name: name(e).to_owned(),
                    start: ts(b),
                    end: ts(e),
                    begin_at,
                    end_at: i,
                });
            }
            _ => {}
        }
    }
    for (tid, stack) in open {
        assert!(stack.is_empty(), "slices left open on track {tid}: {stack:?}");
    }
    out.sort_by_key(|s| s.begin_at);
    out
}

/// Track names, by tid.
fn track_names(events: &[Value]) -> HashMap<u64, String> {
    (events.iter())
        .filter(|e| ph(e) == "M" && name(e) == "thread_name")
        .map(|e| (tid(e), e["args"]["name"].as_str().unwrap().to_owned()))
        .collect()
}

/// The slice on `tid` open at file position `at` (innermost).
fn enclosing(slices: &[Slice], tid: u64, at: usize) -> Option<&Slice> {
    (slices.iter())
        .filter(|s| s.tid == tid && s.begin_at < at && at < s.end_at)
        .max_by_key(|s| s.begin_at)
}

/// Observer events, recorded beside the trace.
fn recorder() -> (Rc<RefCell<Vec<LoopEvent>>>, impl Fn(&LoopEvent) + 'static) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    (seen, move |e: &LoopEvent| s.borrow_mut().push(*e))
}

/// A manual-clock loop tracing to `trace_path(name)`, with an observer
/// recording every event.
fn traced_and_observed(name: &str) -> (PathBuf, Rc<RefCell<Vec<LoopEvent>>>, EventLoop) {
    let path = trace_path(name);
    let (seen, observer) = recorder();
    let lp = (EventLoop::builder().manual_clock().trace(&path))
        .on_event(observer)
        .build()
        .unwrap();
    (path, seen, lp)
}

/// The seed's countasync: three tasks print "One", sleep a second, print
/// "Two"; returns the tasks' ids and the line they were spawned on.
fn countasync(lp: &mut EventLoop) -> (Vec<u64>, u32) {
    let spawned_on = line!() + 4;
    lp.run_until_complete(async {
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let task = evloop::create_task(async {
                    evloop::sleep(Duration::from_secs(1)).await;
                });
                task.set_name(format!("count-{i}"));
                task
            })
            .collect();
        let ids = tasks.iter().map(|t| t.id()).collect();
        for result in evloop::gather(tasks).await {
            result.unwrap();
        }
        ids
    })
    .map(|ids| (ids, spawned_on))
    .unwrap()
}

#[test]
fn trace_names_one_track_per_task_with_where_it_was_spawned() {
    let path = trace_path("tracks");
    let mut lp = EventLoop::builder().manual_clock().trace(&path).build().unwrap();
    let (ids, spawned_on) = countasync(&mut lp);
    drop(lp);
    let events = read_trace(&path);

    let names = track_names(&events);
    for (i, id) in ids.iter().enumerate() {
        let track = &names[id];
        let expected = format!("count-{} ({}:{spawned_on}:", i + 1, file!());
        assert!(track.starts_with(&expected), "{track} should start with {expected}");
        let named: Vec<_> = (events.iter())
            .filter(|e| ph(e) == "M" && name(e) == "thread_name" && tid(e) == *id)
            .collect();
        assert_eq!(named.len(), 1, "one name per task (its name never changed)");
        let future = named[0]["args"]["future"].as_str().unwrap();
        assert!(future.starts_with("loop_trace::countasync::"), "{future}");
    }
    // Every track with a poll on it is named: tasks, the main future.
    let polled: HashSet<u64> = (slices(&events).iter())
        .filter(|s| s.name == "poll")
        .map(|s| s.tid)
        .collect();
    assert_eq!(polled.len(), 4, "three tasks and the main future: {polled:?}");
    for tid in polled {
        assert!(names.contains_key(&tid), "track {tid} has no name");
    }
}

#[test]
fn trace_puts_every_poll_inside_a_tick_and_one_slice_per_poll() {
    let (path, seen, mut lp) = traced_and_observed("nesting");
    let h = lp.handle();
    countasync(&mut lp);
    let polls = h.stats().polls;
    let ticks = h.stats().ticks;
    drop(lp);
    let slices = slices(&read_trace(&path));

    let tick_slices: Vec<_> = slices.iter().filter(|s| s.name == "tick").collect();
    let poll_slices: Vec<_> = slices.iter().filter(|s| s.name == "poll").collect();
    assert_eq!(tick_slices.len() as u64, ticks);
    assert_eq!(poll_slices.len() as u64, polls);
    let starts = seen
        .borrow()
        .iter()
        .filter(|e| matches!(e, LoopEvent::PollStart { .. }))
        .count();
    assert_eq!(poll_slices.len(), starts);
    for poll in poll_slices {
        let tick = (tick_slices.iter()).find(|t| t.begin_at < poll.begin_at && poll.end_at < t.end_at);
        let tick = tick.unwrap_or_else(|| panic!("{poll:?} is inside no tick"));
        assert!(
            tick.start <= poll.start && poll.end <= tick.end,
            "{poll:?} outside {tick:?} in time"
        );
    }
}

#[test]
fn trace_timestamps_never_go_back() {
    let path = trace_path("monotonic");
    let mut lp = EventLoop::builder().manual_clock().trace(&path).build().unwrap();
    countasync(&mut lp);
    drop(lp);
    let events = read_trace(&path);
    let last = assert_time_ordered(&events);
    // The manual clock jumped to the timers: a second passed in the trace.
    assert_eq!(last, 1_000_000.0, "microseconds of the loop's clock");
}

/// Checks that no timestamp is smaller than one before it, on its track
/// and in the whole file; returns the last.
fn assert_time_ordered(events: &[Value]) -> f64 {
    let mut last: HashMap<u64, f64> = HashMap::new();
    let mut last_any = 0.0;
    for e in events.iter().filter(|e| ph(e) != "M") {
        let (t, track) = (ts(e), tid(e));
        assert!(
            t >= *last.get(&track).unwrap_or(&0.0),
            "time went back on track {track}: {e}"
        );
        assert!(t >= last_any, "the file is in time order: {e}");
        last.insert(track, t);
        last_any = t;
    }
    last_any
}

/// Checks the arrows: one `s`/`f` pair per id, the `f` right after the `B`
/// of a poll on the woken task's track. Returns each wake arrow as
/// (the slice it leaves from, the woken track).
fn wake_arrows(events: &[Value]) -> Vec<(Slice, u64)> {
    let slices = slices(events);
    let mut starts: HashMap<u64, (usize, &Value)> = HashMap::new();
    let mut arrows = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let id = e["id"].as_u64();
        match ph(e) {
            "s" => assert!(starts.insert(id.unwrap(), (i, e)).is_none(), "flow ids are unique"),
            "f" => {
                let (s_at, s) = starts.remove(&id.unwrap()).expect("an f follows its s");
                assert_eq!(e["bp"], "e", "binds to the slice it is in");
                assert_eq!(s["cat"], e["cat"]);
                let target = enclosing(&slices, tid(e), i).expect("the arrow ends in a slice");
                assert!(
                    target.name == "poll" || target.name == "cancelled",
                    "arrows end at a poll: {target:?}"
                );
                assert_eq!(target.start, ts(e), "at its start");
                let from = enclosing(&slices, tid(s), s_at).expect("the arrow leaves from a slice");
                if s["cat"] == "wake" {
                    arrows.push((from.clone(), tid(e)));
                }
            }
            _ => {}
        }
    }
    assert!(starts.is_empty(), "arrows that end nowhere: {starts:?}");
    arrows
}

#[test]
fn trace_draws_one_arrow_per_wake_from_its_cause_to_the_next_poll() {
    let (path, seen, mut lp) = traced_and_observed("flows");
    let h = lp.handle();
    let event = Rc::new(evloop::sync::Event::new());
    let (setter, waiter, sleeper) = lp
        .run_until_complete(async {
            let e = event.clone();
            let waiter = evloop::create_task(async move { e.wait().await });
            let e = event.clone();
            let setter = evloop::create_task(async move {
                evloop::yield_now().await; // wakes itself
                e.set(); // wakes the waiter
            });
            let sleeper = evloop::create_task(evloop::sleep(Duration::from_millis(5)));
            let ids = (setter.id(), waiter.id(), sleeper.id());
            waiter.await.unwrap();
            setter.await.unwrap();
            sleeper.await.unwrap();
            // From another thread: the worker wakes this future remotely.
            evloop::to_thread(|| 1).await.unwrap();
            ids
        })
        .unwrap();
    drop(lp);
    let events = read_trace(&path);
    let arrows = wake_arrows(&events);

    let wakes = seen
        .borrow()
        .iter()
        .filter(|e| matches!(e, LoopEvent::Wake { .. }))
        .count();
    assert_eq!(arrows.len(), wakes, "one arrow per wake");
    assert_eq!(wakes as u64, h.stats().local_wakes + h.stats().remote_wakes);

    let has = |from_tid: u64, from: &str, to: u64| {
        (arrows.iter()).any(|(s, t)| s.tid == from_tid && s.name == from && *t == to)
    };
    let loop_ = track_tid(&events, "loop");
    let main = track_tid(&events, "main (run_until_complete)");
    let other = track_tid(&events, "other threads");
    assert!(has(setter, "poll", setter), "yield_now: the task wakes itself");
    assert!(
        has(setter, "poll", waiter),
        "Event::set in the setter's poll wakes the waiter"
    );
    assert!(has(loop_, "timer", sleeper), "the sleeper's timer wakes it");
    assert!(
        has(waiter, "poll", main),
        "the waiter finishing wakes main, which awaits it"
    );
    assert!(
        has(other, "wake from another thread", main),
        "to_thread's worker wakes main"
    );
    // Spawns draw arrows too, from the spawning poll to the first poll.
    let spawns = events.iter().filter(|e| ph(e) == "s" && e["cat"] == "spawn").count();
    assert_eq!(spawns, 3);
}

fn track_tid(events: &[Value], track: &str) -> u64 {
    let names = track_names(events);
    *names.iter().find(|(_, n)| *n == track).unwrap().0
}

#[test]
fn trace_shows_io_readiness_callbacks_and_blocking_in_epoll_wait() {
    // A real clock: the point is the time spent blocked.
    let path = trace_path("io");
    let mut lp = EventLoop::builder().trace(&path).build().unwrap();
    let reader = lp
        .run_until_complete(async {
            let (mut a, mut b) = evloop::net::UnixStream::pair().unwrap();
            let reader = evloop::create_task(async move {
                let mut buf = [0u8; 4];
                futures::AsyncReadExt::read_exact(&mut b, &mut buf).await.unwrap();
                buf
            });
            let id = reader.id();
            evloop::get_running_loop().call_later(Duration::from_millis(20), move || {
                std::os::unix::net::UnixStream::write_all(&mut std_of(&mut a), b"ping").unwrap();
            });
            assert_eq!(&reader.await.unwrap(), b"ping");
            id
        })
        .unwrap();
    drop(lp);
    let events = read_trace(&path);
    let slices = slices(&events);
    let arrows = wake_arrows(&events);
    assert_time_ordered(&events);

    let blocked = (slices.iter())
        .filter(|s| s.name == "epoll_wait")
        .map(|s| s.end - s.start)
        .fold(0.0, f64::max);
    assert!(
        blocked >= 15_000.0,
        "the loop blocked in epoll_wait until the timer: {blocked} µs"
    );
    let callbacks: Vec<_> = slices.iter().filter(|s| s.name == "callback").collect();
    assert_eq!(callbacks.len(), 1, "the call_later callback");
    assert!(
        (arrows.iter()).any(|(s, to)| s.name == "I/O ready" && *to == reader),
        "readiness wakes the reader: {arrows:?}"
    );
    assert!(slices.iter().any(|s| s.name == "timer"), "the callback's timer fired");
}

/// The std stream under an evloop `UnixStream`, to write from a callback.
fn std_of(s: &mut evloop::net::UnixStream) -> std::os::unix::net::UnixStream {
    use std::os::fd::{AsFd, OwnedFd};
    let fd: OwnedFd = s.as_fd().try_clone_to_owned().unwrap();
    fd.into()
}

#[test]
fn trace_is_complete_json_after_a_panic_out_of_the_loop() {
    // A task panics and stop_on_task_panic re-raises it out of the run.
    let path = trace_path("panic");
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut lp = (EventLoop::builder().manual_clock().trace(&path))
            .stop_on_task_panic(true)
            .exception_handler(|_| {})
            .build()
            .unwrap();
        lp.run_until_complete(async {
            let task = evloop::create_task(async {
                evloop::yield_now().await;
                panic!("boom in a task");
            });
            task.await.ok();
        })
        .ok();
    }));
    assert!(result.is_err(), "the panic came out of the loop");
    let events = read_trace(&path);
    assert_eq!(slices(&events).iter().filter(|s| s.name == "poll").count(), 3);

    // The main future itself panics, in the middle of its poll and tick:
    // those slices are ended when the loop drops.
    let path = trace_path("main-panic");
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut lp = EventLoop::builder().manual_clock().trace(&path).build().unwrap();
        lp.run_until_complete(async { panic!("boom in main") }).ok();
    }));
    assert!(result.is_err());
    let slices = slices(&read_trace(&path));
    let names: Vec<_> = slices.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["wake outside a tick", "tick", "poll"]);
}

#[test]
fn trace_stays_nested_when_a_loop_runs_again_after_its_main_future_panicked() {
    let path = trace_path("rerun");
    let mut lp = EventLoop::builder().manual_clock().trace(&path).build().unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        lp.run_until_complete(async { panic!("boom in main") }).ok();
    }));
    assert!(result.is_err());
    // The panic left a tick and a poll open; the next run ends them first.
    let task = lp.handle().create_task(evloop::yield_now());
    lp.run_until_complete(task).unwrap().unwrap();
    drop(lp);
    let events = read_trace(&path);
    let slices = slices(&events); // checks that every B has its E, nested
    let ticks: Vec<_> = slices.iter().filter(|s| s.name == "tick").collect();
    for pair in ticks.windows(2) {
        assert!(pair[0].end_at < pair[1].begin_at, "ticks do not overlap: {pair:?}");
    }
    assert_eq!(slices.iter().filter(|s| s.name == "poll").count(), 1 + 2 + 2);
}

#[test]
fn trace_is_flushed_when_the_loop_closes_with_tasks_still_holding_it() {
    let path = trace_path("close");
    let mut lp = EventLoop::builder().manual_clock().trace(&path).build().unwrap();
    let task = lp.handle().create_task(async {});
    lp.run_until_complete(evloop::yield_now()).unwrap();
    lp.close().unwrap();
    // The task handle keeps the loop's core alive; close finished the file.
    let mut text = String::new();
    std::fs::File::open(&path).unwrap().read_to_string(&mut text).unwrap();
    let events: Vec<Value> = serde_json::from_str(&text).expect("complete after close");
    assert!(slices(&events).iter().any(|s| s.name == "poll"));
    drop((task, lp));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "nothing after the end");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn trace_path_that_cannot_be_created_fails_build_naming_it() {
    let path = std::env::temp_dir().join("evloop-no-such-dir").join("t.json");
    let err = EventLoop::builder().trace(&path).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

#[test]
fn trace_path_placeholders_name_the_process_and_the_loop() {
    let dir = std::env::temp_dir();
    let lp = (EventLoop::builder().manual_clock())
        .trace(dir.join("evloop-test-{pid}-loop{loop}.json"))
        .build()
        .unwrap();
    drop(lp);
    let pid = std::process::id();
    let prefix = format!("evloop-test-{pid}-loop");
    let found: Vec<_> = (std::fs::read_dir(&dir).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(!found.is_empty(), "no {prefix}N.json in {}", dir.display());
    for f in found {
        let events = read_trace(&f.path());
        assert!(events.iter().any(|e| name(e) == "process_name"));
    }
    let _ = std::io::stdout().flush();
}
