//! The trace writer: what the loop does, as a timeline file in Chrome's Trace
//! Event format, which [Perfetto](https://ui.perfetto.dev) and
//! `chrome://tracing` open. Turned on by
//! [`Builder::trace`](crate::Builder::trace) or `EVLOOP_TRACE=path`.
//!
//! # What the file holds
//!
//! One process (`pid`, the loop's id) with one track (`tid`) per task, named
//! by the task's name or `Task-N` and where it was spawned; the main future
//! of `run_until_complete` has its own track ("main"), the loop has one
//! ("loop"), and one more ("other threads") stands for wakes that came
//! through the cross-thread queue. On them, as begin/end (`B`/`E`) slices:
//!
//! - on the loop's track: each tick (`tick`), each reactor poll
//!   (`epoll_wait`, with its timeout and how many events it returned), each
//!   timer firing (`timer`), each batch of I/O readiness (`I/O ready`), each
//!   callback (`callback`);
//! - on a task's track: each poll (`poll`), and its cancellation
//!   (`cancelled`);
//! - flow arrows (`s`/`f` pairs, category `wake`) from the slice that was
//!   running when a task was woken (a poll of another task, a timer, I/O
//!   readiness, a callback, a task finishing, another thread) to the woken
//!   task's next poll; and (category `spawn`) from the slice that spawned a
//!   task to its first poll.
//!
//! Timestamps are the loop's clock in microseconds since the loop was made:
//! on a manual clock ([`Builder::manual_clock`](crate::Builder::manual_clock))
//! the file is the same on every run.
//!
//! # Ground rules
//!
//! - Off costs nothing beyond the branch every hook already takes: the
//!   tracer sits behind the same `hooked` flag as the observer and debug
//!   mode (`instrument.rs`), and task polls reach it only through the hooked
//!   build of `run_task`.
//! - Events are written in the order they happen, each stamped with the
//!   clock read as it is written: timestamps never decrease down the file,
//!   and a slice's `E` follows everything inside it.
//! - A slice that may cause wakes after it is over (a poll whose task
//!   finished and now wakes whoever awaits it, a timer, a readiness batch)
//!   *lingers*: its `E` is written at the next event that is not a wake, so
//!   the arrows those wakes start leave from inside it.
//! - The file is valid JSON once the loop closes or is dropped, including
//!   when a panic unwinds out of `run_until_complete`: [`Tracer::finish`]
//!   ends the slices still open, writes the closing `]` and flushes. Before
//!   that, the file is a JSON array without its `]`, which the format
//!   allows (viewers open it as is).
//! - A failed write stops the trace and is reported once on stderr; the
//!   loop runs on.
//!
//! # Fields and who may touch them
//!
//! Only the loop's thread, through `&self`: the tracer lives in the loop's
//! `Instruments`, and every field is a `Cell` or a `RefCell` borrowed within
//! one method, which calls no user code.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write};
use std::mem;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::instrument::LoopEvent;
use crate::task::header::Header;
use crate::time::clock::Clock;

/// No arguments, for a slice or event that has none.
fn no_args() -> fmt::Arguments<'static> {
    format_args!("")
}

/// How much text the tracer gathers before writing it to the file.
const BUF: usize = 64 * 1024;

/// The loop's own track. Tasks' tracks are their ids (from 1); these three
/// sit far above any id a run reaches, and away from 0, which Perfetto
/// keeps for the kernel's idle thread.
pub(crate) const LOOP_TID: u64 = 1_000_000_000;
/// The track of wakes from other threads.
pub(crate) const REMOTE_TID: u64 = 1_000_000_001;
/// The track of `run_until_complete`'s future (task id 0 in events).
pub(crate) const MAIN_TID: u64 = 1_000_000_002;

/// What a task's track is called, with what the trace knows of the task.
pub(crate) struct TaskLabel {
    id: u64,
    /// The name set with `Task::set_name`, if any.
    name: Option<String>,
    spawned_at: Option<&'static Location<'static>>,
    future: &'static str,
}

impl TaskLabel {
    /// The label of the task with this header, whose future is a `future`.
    pub(crate) fn of(header: &Header, future: &'static str) -> TaskLabel {
        TaskLabel {
            id: header.id(),
            name: header.name(),
            spawned_at: header.spawned_at(),
            future,
        }
    }
}

/// Writes one loop's trace file. See the module docs.
pub(crate) struct Tracer {
    path: PathBuf,
    clock: Clock,
    pid: u64,
    /// `None` once finished, or after a failed write.
    out: RefCell<Option<File>>,
    /// Text not yet written to `out`: events are built here, by hand (one
    /// writer for every kind of event, not a `format_args!` each), and the
    /// buffer goes to the file once it holds `BUF` bytes.
    buf: RefCell<String>,
    /// No event written yet (the next one needs no comma before it).
    first: Cell<bool>,
    /// Slices begun and not yet ended, innermost last: `(tid, name)`.
    open: RefCell<Vec<(u64, &'static str)>>,
    /// The innermost open slice lingers (module docs): ended at the next
    /// event that is not a wake.
    lingering: Cell<bool>,
    /// What is kept per task id while the task may still be polled: its
    /// track's label and the flows waiting for its next poll.
    tasks: RefCell<Tracks>,
    next_flow: Cell<u64>,
    /// Tasks that finished, one bit per task id (ids are handed out from 1
    /// in order): a wake that reaches one queues nothing, so it starts no
    /// arrow.
    done: RefCell<Vec<u64>>,
}

/// What the tracer keeps per task id: a `Vec` sorted by id, rather than a
/// `HashMap` or a `BTreeMap`, which would put hashbrown and `RandomState`'s
/// seeding (or B-tree code) in every binary (issue #15). Ids are handed out
/// in increasing order and a task's entry is made at its spawn, so inserts
/// are pushes at the end; removal empties the entry, and empty entries are
/// swept out once they are half of the list, so a removal costs amortised
/// O(1). An empty entry and no entry mean the same.
#[derive(Default)]
struct Tracks {
    list: Vec<(u64, TaskTrack)>,
    /// Entries emptied by `remove` since the last sweep.
    emptied: usize,
}

impl Tracks {
    fn get(&self, id: u64) -> Option<&TaskTrack> {
        let at = self.list.binary_search_by_key(&id, |&(id, _)| id).ok()?;
        Some(&self.list[at].1)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut TaskTrack> {
        let at = self.list.binary_search_by_key(&id, |&(id, _)| id).ok()?;
        Some(&mut self.list[at].1)
    }

    /// The entry of `id`, made empty if there is none.
    fn entry(&mut self, id: u64) -> &mut TaskTrack {
        let at = match self.list.binary_search_by_key(&id, |&(id, _)| id) {
            Ok(at) => at,
            Err(at) => {
                self.list.insert(at, (id, TaskTrack::default()));
                at
            }
        };
        &mut self.list[at].1
    }

    fn remove(&mut self, id: u64) {
        if let Some(track) = self.get_mut(id) {
            *track = TaskTrack::default();
            self.emptied += 1;
            if self.emptied * 2 > self.list.len() {
                self.list.retain(|(_, t)| t.label.is_some() || !t.waiting.is_empty());
                self.emptied = 0;
            }
        }
    }
}

/// What the tracer keeps for one task.
#[derive(Default)]
struct TaskTrack {
    /// The name (`Some(None)`: unnamed) the track was last labelled with;
    /// `None` until it is labelled.
    label: Option<Option<String>>,
    /// Flows started towards the task, ended at its next poll: `(id, cat)`.
    waiting: Vec<(u64, &'static str)>,
}

impl Tracer {
    /// Creates (truncates) the file at `path`, replacing `{pid}` and
    /// `{loop}` in it with the process id and the loop's id, and writes the
    /// process and track names.
    /// Kept out of line and cold: it runs once per traced loop, never on a
    /// loop that is not traced.
    #[cold]
    #[inline(never)]
    pub(crate) fn create(path: &Path, loop_id: u64, clock: Clock) -> io::Result<Tracer> {
        let path = PathBuf::from(expand_path(&path.to_string_lossy(), std::process::id(), loop_id));
        let file = File::create(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("evloop trace file {}: {e}", path.display())))?;
        let tracer = Tracer {
            path,
            clock,
            pid: loop_id,
            out: RefCell::new(Some(file)),
            buf: RefCell::new(String::with_capacity(BUF + 1024)),
            first: Cell::new(true),
            open: RefCell::new(Vec::new()),
            lingering: Cell::new(false),
            tasks: RefCell::new(Tracks::default()),
            next_flow: Cell::new(1),
            done: RefCell::new(Vec::new()),
        };
        tracer.buf.borrow_mut().push('[');
        tracer.meta(LOOP_TID, "process_name", &format!("evloop loop {loop_id}"), "");
        tracer.track(LOOP_TID, "loop", -2);
        tracer.track(REMOTE_TID, "other threads", -1);
        tracer.track(MAIN_TID, "main (run_until_complete)", 0);
        Ok(tracer)
    }

    // ----- hooks ---------------------------------------------------------

    /// One of the observer's events (`instrument.rs` forwards them all).
    pub(crate) fn event(&self, event: &LoopEvent) {
        if let LoopEvent::Wake { task, remote } = *event {
            return self.wake(task, remote);
        }
        self.settle();
        match *event {
            LoopEvent::TickStart { n, ready } => {
                // Slices a panic left open when it unwound out of the last
                // tick end here, before the new tick begins.
                self.close_open();
                self.begin(LOOP_TID, "tick", format_args!(r#""n":{n},"ready":{ready}"#));
            }
            LoopEvent::TickEnd { .. } => self.end(LOOP_TID, "tick", no_args()),
            LoopEvent::Spawn { task } => {
                // Spawned from outside any slice (before the loop runs): no
                // arrow, the first poll simply starts the track.
                if let Some(&(from, _)) = self.open.borrow().last() {
                    self.flow_from(from, task, "spawn");
                }
            }
            LoopEvent::PollStart { task } => {
                let tid = tid(task);
                let ts = self.begin(tid, "poll", no_args());
                self.end_flows(task, tid, ts);
            }
            LoopEvent::PollEnd { task, finished } => {
                if finished {
                    self.finished(task);
                    // Whoever awaits the task is woken next, by this poll.
                    self.lingering.set(true);
                } else {
                    self.end(tid(task), "poll", no_args());
                }
            }
            LoopEvent::TimerFired => {
                self.begin(LOOP_TID, "timer", no_args());
                self.lingering.set(true);
            }
            LoopEvent::IoReady { events } => {
                self.begin(LOOP_TID, "I/O ready", format_args!(r#""events":{events}"#));
                self.lingering.set(true);
            }
            LoopEvent::Cancelled { task } => {
                let tid = tid(task);
                let ts = self.begin(tid, "cancelled", no_args());
                self.end_flows(task, tid, ts);
                self.finished(task);
                self.lingering.set(true);
            }
            LoopEvent::Wake { .. } => {}
        }
    }

    /// Names a task's track (again, if its name changed since): called
    /// before each of its polls.
    pub(crate) fn name_task(&self, task: u64, label: TaskLabel) {
        let named = self.tasks.borrow().get(task).and_then(|t| t.label.as_ref()) == Some(&label.name);
        if named {
            return; // named already, and the name has not changed
        }
        let mut text = match &label.name {
            Some(name) => name.clone(),
            None => format!("Task-{}", label.id),
        };
        if let Some(at) = label.spawned_at {
            let _ = write!(text, " ({at})");
        }
        let mut args = String::new();
        push_str_arg(&mut args, "future", label.future);
        if let Some(at) = label.spawned_at {
            args.push(',');
            push_str_arg(&mut args, "spawned_at", &at.to_string());
        }
        self.meta(task, "thread_name", &text, &args);
        self.sort_index(task, task as i64);
        self.tasks.borrow_mut().entry(task).label = Some(label.name);
    }

    /// The reactor is about to be polled with `timeout`.
    pub(crate) fn io_wait_begin(&self, timeout: Option<Duration>) {
        self.settle();
        match timeout {
            Some(t) => self.begin(
                LOOP_TID,
                "epoll_wait",
                format_args!(r#""timeout_ms":{}"#, t.as_secs_f64() * 1000.0),
            ),
            None => self.begin(
                LOOP_TID,
                "epoll_wait",
                format_args!(r#""timeout_ms":"none (wait for ever)""#),
            ),
        };
    }

    /// The reactor's poll returned `events` readiness events.
    pub(crate) fn io_wait_end(&self, events: usize) {
        self.settle();
        self.end(LOOP_TID, "epoll_wait", format_args!(r#""events":{events}"#));
    }

    /// A callback is about to run.
    pub(crate) fn callback_begin(&self) {
        self.settle();
        self.begin(LOOP_TID, "callback", no_args());
    }

    /// The callback returned (or panicked, caught).
    pub(crate) fn callback_end(&self) {
        self.settle();
        self.end(LOOP_TID, "callback", no_args());
    }

    /// Ends every open slice, closes the JSON array and flushes: the file is
    /// complete. Later events are ignored. Called when the loop closes, and
    /// on drop.
    pub(crate) fn finish(&self) {
        if self.out.borrow().is_none() {
            return;
        }
        self.close_open();
        self.buf.borrow_mut().push_str("\n]\n");
        self.flush();
        self.out.borrow_mut().take();
    }

    // ----- wakes and flows -------------------------------------------------

    /// A wake of `task`: an arrow from the slice running now (or, from
    /// another thread, from a mark on the "other threads" track) to the
    /// task's next poll.
    fn wake(&self, task: u64, remote: bool) {
        if task != 0 && self.is_done(task) {
            return; // moot: it queues nothing
        }
        if remote {
            self.settle();
            self.begin(REMOTE_TID, "wake from another thread", no_args());
            self.flow_from(REMOTE_TID, task, "wake");
            self.end(REMOTE_TID, "wake from another thread", no_args());
            return;
        }
        let from = self.open.borrow().last().map(|&(tid, _)| tid);
        match from {
            Some(from) => self.flow_from(from, task, "wake"),
            None => {
                // Outside any tick: `run_until_complete` queueing its future,
                // say. A mark on the loop's track to start the arrow from.
                self.begin(LOOP_TID, "wake outside a tick", no_args());
                self.flow_from(LOOP_TID, task, "wake");
                self.end(LOOP_TID, "wake outside a tick", no_args());
            }
        }
    }

    /// Starts an arrow on track `from`, to end at `task`'s next poll.
    fn flow_from(&self, from: u64, task: u64, cat: &'static str) {
        let id = self.next_flow.get();
        self.next_flow.set(id + 1);
        self.emit("s", cat, Some(id), from, Some(self.ts()), no_args());
        self.tasks.borrow_mut().entry(task).waiting.push((id, cat));
    }

    /// Ends the arrows waiting for `task` in the slice just begun on `tid`,
    /// at its start `ts`.
    fn end_flows(&self, task: u64, tid: u64, ts: Ts) {
        let flows = match self.tasks.borrow_mut().get_mut(task) {
            Some(track) => mem::take(&mut track.waiting),
            None => return,
        };
        for (id, cat) in flows {
            self.emit(r#"f","bp":"e"#, cat, Some(id), tid, Some(ts), no_args());
        }
    }

    /// `task` will not be polled again: forget what was kept for it.
    fn finished(&self, task: u64) {
        if task != 0 {
            let (word, bit) = done_bit(task);
            let mut done = self.done.borrow_mut();
            if done.len() <= word {
                done.resize(word + 1, 0);
            }
            done[word] |= bit;
            drop(done);
            self.tasks.borrow_mut().remove(task);
        }
    }

    /// Whether `task` (not 0) finished.
    fn is_done(&self, task: u64) -> bool {
        let (word, bit) = done_bit(task);
        self.done.borrow().get(word).is_some_and(|w| w & bit != 0)
    }

    // ----- slices --------------------------------------------------------

    /// Ends every open slice, innermost first.
    fn close_open(&self) {
        self.lingering.set(false);
        loop {
            let Some((tid, name)) = self.open.borrow_mut().pop() else {
                break;
            };
            self.write_end(tid, name, no_args());
        }
    }

    /// Ends the lingering slice, if one is waiting for its wakes.
    fn settle(&self) {
        if self.lingering.replace(false) {
            if let Some((tid, name)) = self.open.borrow_mut().pop() {
                self.write_end(tid, name, no_args());
            }
        }
    }

    /// Begins a slice; returns its timestamp.
    #[inline(never)]
    fn begin(&self, tid: u64, name: &'static str, args: fmt::Arguments<'_>) -> Ts {
        let ts = self.ts();
        self.emit("B", name, None, tid, Some(ts), args);
        self.open.borrow_mut().push((tid, name));
        ts
    }

    /// Ends the innermost open slice `name` on `tid`, and any slice still
    /// open inside it: a panic that unwound out of a tick (the main future's,
    /// out of `run_until_complete`) left them open, and the loop may be run
    /// again. Not open at all (the same unwinding, seen from the other
    /// side), nothing is written.
    fn end(&self, tid: u64, name: &'static str, args: fmt::Arguments<'_>) {
        let Some(at) = self.open.borrow().iter().rposition(|&open| open == (tid, name)) else {
            return;
        };
        loop {
            let inner = self.open.borrow_mut().pop();
            match inner {
                Some(inner) if inner == (tid, name) => break,
                Some((t, n)) => self.write_end(t, n, no_args()),
                None => break,
            }
        }
        debug_assert_eq!(self.open.borrow().len(), at);
        self.write_end(tid, name, args);
    }

    #[inline(never)]
    fn write_end(&self, tid: u64, name: &'static str, args: fmt::Arguments<'_>) {
        self.emit("E", name, None, tid, Some(self.ts()), args);
    }

    /// Names track `tid` and sets its place in the list.
    #[inline(never)]
    fn track(&self, tid: u64, name: &str, sort_index: i64) {
        self.meta(tid, "thread_name", name, "");
        self.sort_index(tid, sort_index);
    }

    /// Sets track `tid`'s place in the list.
    fn sort_index(&self, tid: u64, index: i64) {
        self.emit(
            "M",
            "thread_sort_index",
            None,
            tid,
            None,
            format_args!(r#""sort_index":{index}"#),
        );
    }

    /// A metadata event (`process_name`, `thread_name`) naming `tid`, with
    /// `more` arguments (already JSON, comma-separated) after the name.
    fn meta(&self, tid: u64, what: &str, name: &str, more: &str) {
        let mut args = String::new();
        push_str_arg(&mut args, "name", name);
        if !more.is_empty() {
            args.push(',');
            args.push_str(more);
        }
        self.emit("M", what, None, tid, None, format_args!("{args}"));
    }

    /// The loop's time, in microseconds since the loop was made, to the
    /// nanosecond.
    fn ts(&self) -> Ts {
        Ts(self.clock.since(self.clock.now()))
    }

    // ----- the file ------------------------------------------------------

    /// Writes one event, after a comma unless it is the first:
    /// `{"ph":"<ph>","name":"<name>","pid":..,"tid":<tid>,"ts":<ts>,"args":{<args>}}`.
    /// A flow event (`flow`, its id) names its category after `name` too;
    /// `ts` and `args` are left out when `None` and empty. `ph` is written
    /// as given, so a flow's end passes `f","bp":"e`.
    #[inline(never)]
    fn emit(&self, ph: &str, name: &str, flow: Option<u64>, tid: u64, ts: Option<Ts>, args: fmt::Arguments<'_>) {
        if self.out.borrow().is_none() {
            return;
        }
        let mut buf = self.buf.borrow_mut();
        buf.push_str(if self.first.replace(false) { "\n" } else { ",\n" });
        buf.push_str(r#"{"ph":""#);
        buf.push_str(ph);
        if flow.is_some() {
            buf.push_str(r#"","cat":""#);
            buf.push_str(name);
        }
        buf.push_str(r#"","name":""#);
        buf.push_str(name);
        buf.push('"');
        // Writing to a `String` cannot fail.
        if let Some(id) = flow {
            let _ = write!(buf, r#","id":{id}"#);
        }
        let _ = write!(buf, r#","pid":{},"tid":{tid}"#, self.pid);
        if let Some(ts) = ts {
            let _ = write!(buf, r#","ts":{ts}"#);
        }
        if args.as_str() != Some("") {
            buf.push_str(r#","args":{"#);
            let _ = buf.write_fmt(args);
            buf.push('}');
        }
        buf.push('}');
        let full = buf.len() >= BUF;
        drop(buf);
        if full {
            self.flush();
        }
    }

    /// Writes the buffer to the file.
    fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        let mut out = self.out.borrow_mut();
        let Some(file) = out.as_mut() else {
            return;
        };
        let written = file.write_all(buf.as_bytes());
        buf.clear();
        if let Err(e) = written {
            *out = None;
            drop(out);
            self.failed(&e);
        }
    }

    #[cold]
    fn failed(&self, e: &io::Error) {
        eprintln!(
            "evloop: writing the trace {} failed: {e}; tracing stopped",
            self.path.display()
        );
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A timestamp: microseconds since the loop was made, to the nanosecond.
#[derive(Clone, Copy)]
struct Ts(Duration);

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whole microseconds as a `u64` (good for 584,000 years), not
        // `as_micros`' `u128`, whose formatting is a kilobyte of code.
        let micros = self.0.as_secs() * 1_000_000 + u64::from(self.0.subsec_micros());
        write!(f, "{micros}.{:03}", self.0.subsec_nanos() % 1000)
    }
}

/// Where task `task`'s bit sits in the `done` set: word and mask.
fn done_bit(task: u64) -> (usize, u64) {
    ((task / 64) as usize, 1 << (task % 64))
}

/// `path` with `{pid}` and `{loop}` replaced by the process id and the
/// loop's id (by hand: `str::replace` is two kilobytes of code).
fn expand_path(path: &str, pid: u32, loop_id: u64) -> String {
    let mut out = String::with_capacity(path.len() + 16);
    let mut rest = path;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("{pid}") {
            let _ = write!(out, "{pid}");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{loop}") {
            let _ = write!(out, "{loop_id}");
            rest = after;
        } else {
            out.push('{');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The track of task `task` (0, the main future, has its own).
fn tid(task: u64) -> u64 {
    if task == 0 {
        MAIN_TID
    } else {
        task
    }
}

/// Appends `"key":"value"` with `value` escaped as a JSON string.
fn push_str_arg(out: &mut String, key: &str, value: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
    push_json_str(out, value);
}

/// Appends `s` as a JSON string literal: quotes, backslashes and control
/// characters escaped (RFC 8259, section 7).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        push_json_str(&mut out, "a \"b\" \\ c\n\t\u{1}é");
        assert_eq!(out, r#""a \"b\" \\ c\n\t\u0001é""#);
    }

    #[test]
    fn paths_expand_pid_and_loop_and_keep_other_braces() {
        assert_eq!(expand_path("t-{pid}-{loop}.json", 42, 7), "t-42-7.json");
        assert_eq!(expand_path("{loop}{loop}/{x}{pid", 1, 2), "22/{x}{pid");
        assert_eq!(expand_path("plain", 1, 2), "plain");
    }

    #[test]
    fn timestamps_print_microseconds_to_the_nanosecond() {
        assert_eq!(Ts(Duration::new(3, 4_005_006)).to_string(), "3004005.006");
        assert_eq!(Ts(Duration::ZERO).to_string(), "0.000");
    }

    #[test]
    fn tracks_stay_sorted_and_sweep_emptied_entries() {
        let mut tracks = Tracks::default();
        for id in [3, 1, 2, 5] {
            tracks.entry(id).waiting.push((id, "wake"));
        }
        let ids = |t: &Tracks| t.list.iter().map(|&(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(&tracks), [1, 2, 3, 5]);
        tracks.remove(2);
        assert!(tracks.get(2).is_some_and(|t| t.waiting.is_empty()));
        tracks.remove(3);
        tracks.remove(4); // absent: nothing happens
        tracks.remove(1);
        assert_eq!(ids(&tracks), [5], "swept once most entries were emptied");
        assert_eq!(tracks.get(5).unwrap().waiting, [(5, "wake")]);
    }

    #[test]
    fn tids_keep_the_main_future_apart_from_the_loop() {
        assert_eq!(tid(0), MAIN_TID);
        assert_eq!(tid(7), 7);
        assert_ne!(MAIN_TID, LOOP_TID);
        assert_ne!(REMOTE_TID, MAIN_TID);
    }
}
