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
//! `Instruments`, and its state is one `RefCell`, borrowed once by each hook,
//! which calls no user code.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::mem::{self, ManuallyDrop};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::instrument::LoopEvent;
use crate::task::header::Header;
use crate::time::clock::Clock;

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
///
/// Everything sits in one `RefCell`, which each hook borrows once (one
/// borrow check, and drop glue for one struct: issue #15).
pub(crate) struct Tracer {
    inner: RefCell<Inner>,
}

struct Inner {
    path: PathBuf,
    clock: Clock,
    pid: u64,
    /// `None` once finished, or after a failed write.
    out: Option<File>,
    /// Text not yet written to `out`: events are built here, by hand (one
    /// writer for every kind of event, not a `format_args!` each), and the
    /// buffer goes to the file once it holds `BUF` bytes.
    buf: String,
    /// No event written yet (the next one needs no comma before it).
    first: bool,
    /// Slices begun and not yet ended, innermost last: `(tid, name)`.
    open: Vec<(u64, &'static str)>,
    /// The innermost open slice lingers (module docs): ended at the next
    /// event that is not a wake.
    lingering: bool,
    /// What is kept per task id while the task may still be polled: its
    /// track's label and the flows waiting for its next poll.
    tasks: Tracks,
    next_flow: u64,
    /// Tasks that finished, one bit per task id (ids are handed out from 1
    /// in order): a wake that reaches one queues nothing, so it starts no
    /// arrow.
    done: Vec<u64>,
}

/// An event's arguments, written by [`Inner::emit`] inside `"args":{..}`.
#[derive(Clone, Copy)]
enum Args<'a> {
    None,
    /// `<prefix><n>`: the prefix is the key, quoted, and its colon (and a
    /// minus sign for a negative number): one arm for every numeric argument.
    Num(&'static str, u64),
    /// A tick's `"n":<n>,"ready":<ready>`.
    Tick(u64, u64),
    /// `"timeout_ms":<ms>`
    TimeoutMs(f64),
    /// Already JSON.
    Raw(&'a str),
    /// A fixed track's (or the process's) name: `"name":"<name>"`, with
    /// `<loop id>` after it if there is one.
    Name(&'a str, Option<u64>),
    /// A task's track name and what is known of the task.
    Task(&'a TaskLabel),
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
    pub(crate) fn create(path: &Path, loop_id: u64, clock: Clock) -> io::Result<TracerSlot> {
        let path = PathBuf::from(expand_path(&path.to_string_lossy(), std::process::id(), loop_id));
        let file = File::create(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("evloop trace file {}: {e}", path.display())))?;
        let mut inner = Inner {
            path,
            clock,
            pid: loop_id,
            out: Some(file),
            buf: String::with_capacity(BUF + 1024),
            first: true,
            open: Vec::new(),
            lingering: false,
            tasks: Tracks::default(),
            next_flow: 1,
            done: Vec::new(),
        };
        inner.buf.push('[');
        inner.emit(
            "M",
            "process_name",
            None,
            LOOP_TID,
            None,
            Args::Name("evloop loop ", Some(loop_id)),
        );
        inner.track(LOOP_TID, "loop", -2);
        inner.track(REMOTE_TID, "other threads", -1);
        inner.track(MAIN_TID, "main (run_until_complete)", 0);
        Ok(TracerSlot(ManuallyDrop::new(Some(Box::new(Tracer {
            inner: RefCell::new(inner),
        })))))
    }

    // ----- hooks ---------------------------------------------------------
    // Each borrows the state once; none calls user code.

    /// One of the observer's events (`instrument.rs` forwards them all).
    pub(crate) fn event(&self, event: &LoopEvent) {
        self.inner.borrow_mut().event(event);
    }

    /// Names a task's track (again, if its name changed since): called
    /// before each of its polls.
    pub(crate) fn name_task(&self, task: u64, label: TaskLabel) {
        self.inner.borrow_mut().name_task(task, label);
    }

    /// The reactor is about to be polled with `timeout`.
    #[inline(never)]
    pub(crate) fn io_wait_begin(&self, timeout: Option<Duration>) {
        let args = match timeout {
            Some(t) => Args::TimeoutMs(t.as_secs_f64() * 1000.0),
            None => Args::Raw(r#""timeout_ms":"none (wait for ever)""#),
        };
        let mut inner = self.inner.borrow_mut();
        inner.settle();
        inner.begin(LOOP_TID, "epoll_wait", args);
    }

    /// The reactor's poll returned `events` readiness events.
    #[inline(never)]
    pub(crate) fn io_wait_end(&self, events: usize) {
        let mut inner = self.inner.borrow_mut();
        inner.settle();
        inner.end(LOOP_TID, "epoll_wait", Args::Num(r#""events":"#, events as u64));
    }

    /// A callback is about to run.
    #[inline(never)]
    pub(crate) fn callback_begin(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.settle();
        inner.begin(LOOP_TID, "callback", Args::None);
    }

    /// The callback returned (or panicked, caught).
    #[inline(never)]
    pub(crate) fn callback_end(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.settle();
        inner.end(LOOP_TID, "callback", Args::None);
    }

    /// Ends every open slice, closes the JSON array and flushes: the file is
    /// complete. Later events are ignored. Called when the loop closes, and
    /// on drop.
    pub(crate) fn finish(&self) {
        self.inner.borrow_mut().finish();
    }
}

impl Inner {
    fn event(&mut self, event: &LoopEvent) {
        if let LoopEvent::Wake { task, remote } = *event {
            return self.wake(task, remote);
        }
        self.settle();
        match *event {
            LoopEvent::TickStart { n, ready } => {
                // Slices a panic left open when it unwound out of the last
                // tick end here, before the new tick begins.
                self.close_open();
                self.begin(LOOP_TID, "tick", Args::Tick(n, ready as u64));
            }
            LoopEvent::TickEnd { .. } => self.end(LOOP_TID, "tick", Args::None),
            LoopEvent::Spawn { task } => {
                // Spawned from outside any slice (before the loop runs): no
                // arrow, the first poll simply starts the track.
                if let Some(&(from, _)) = self.open.last() {
                    self.flow_from(from, task, "spawn");
                }
            }
            LoopEvent::PollStart { task } => {
                let tid = tid(task);
                let ts = self.begin(tid, "poll", Args::None);
                self.end_flows(task, tid, ts);
            }
            LoopEvent::PollEnd { task, finished } => {
                if finished {
                    self.finished(task);
                    // Whoever awaits the task is woken next, by this poll.
                    self.lingering = true;
                } else {
                    self.end(tid(task), "poll", Args::None);
                }
            }
            LoopEvent::TimerFired => {
                self.begin(LOOP_TID, "timer", Args::None);
                self.lingering = true;
            }
            LoopEvent::IoReady { events } => {
                self.begin(LOOP_TID, "I/O ready", Args::Num(r#""events":"#, events as u64));
                self.lingering = true;
            }
            LoopEvent::Cancelled { task } => {
                let tid = tid(task);
                let ts = self.begin(tid, "cancelled", Args::None);
                self.end_flows(task, tid, ts);
                self.finished(task);
                self.lingering = true;
            }
            LoopEvent::Wake { .. } => {}
        }
    }

    fn name_task(&mut self, task: u64, label: TaskLabel) {
        let track = self.tasks.entry(task);
        if track.label.as_ref() == Some(&label.name) {
            return; // named already, and the name has not changed
        }
        self.emit("M", "thread_name", None, task, None, Args::Task(&label));
        self.sort_index(task, task as i64);
        self.tasks.entry(task).label = Some(label.name);
    }

    /// Ends every open slice, closes the JSON array and flushes.
    fn finish(&mut self) {
        if self.out.is_none() {
            return;
        }
        self.close_open();
        put(&mut self.buf, "\n]\n");
        self.flush();
        self.out = None;
    }

    // ----- wakes and flows -------------------------------------------------

    /// A wake of `task`: an arrow from the slice running now (or, from
    /// another thread, from a mark on the "other threads" track) to the
    /// task's next poll.
    fn wake(&mut self, task: u64, remote: bool) {
        if task != 0 && self.is_done(task) {
            return; // moot: it queues nothing
        }
        let (from, mark) = if remote {
            self.settle();
            (REMOTE_TID, "wake from another thread")
        } else {
            match self.open.last() {
                Some(&(from, _)) => return self.flow_from(from, task, "wake"),
                // Outside any tick: `run_until_complete` queueing its
                // future, say. A mark on the loop's track to start the
                // arrow from.
                None => (LOOP_TID, "wake outside a tick"),
            }
        };
        self.begin(from, mark, Args::None);
        self.flow_from(from, task, "wake");
        self.end(from, mark, Args::None);
    }

    /// Starts an arrow on track `from`, to end at `task`'s next poll.
    #[inline(never)]
    fn flow_from(&mut self, from: u64, task: u64, cat: &'static str) {
        let id = self.next_flow;
        self.next_flow = id + 1;
        let ts = self.ts();
        self.emit("s", cat, Some(id), from, Some(ts), Args::None);
        self.tasks.entry(task).waiting.push((id, cat));
    }

    /// Ends the arrows waiting for `task` in the slice just begun on `tid`,
    /// at its start `ts`.
    fn end_flows(&mut self, task: u64, tid: u64, ts: Duration) {
        let flows = match self.tasks.get_mut(task) {
            Some(track) => mem::take(&mut track.waiting),
            None => return,
        };
        for (id, cat) in flows {
            self.emit(r#"f","bp":"e"#, cat, Some(id), tid, Some(ts), Args::None);
        }
    }

    /// `task` will not be polled again: forget what was kept for it.
    fn finished(&mut self, task: u64) {
        if task != 0 {
            let (word, bit) = done_bit(task);
            if self.done.len() <= word {
                self.done.resize(word + 1, 0);
            }
            self.done[word] |= bit;
            self.tasks.remove(task);
        }
    }

    /// Whether `task` (not 0) finished.
    fn is_done(&self, task: u64) -> bool {
        let (word, bit) = done_bit(task);
        self.done.get(word).is_some_and(|w| w & bit != 0)
    }

    // ----- slices --------------------------------------------------------

    /// Ends every open slice, innermost first.
    #[inline(never)]
    fn close_open(&mut self) {
        self.lingering = false;
        while let Some((tid, name)) = self.open.pop() {
            self.write_end(tid, name, Args::None);
        }
    }

    /// Ends the lingering slice, if one is waiting for its wakes.
    #[inline(never)]
    fn settle(&mut self) {
        if mem::replace(&mut self.lingering, false) {
            if let Some((tid, name)) = self.open.pop() {
                self.write_end(tid, name, Args::None);
            }
        }
    }

    /// Begins a slice; returns its timestamp.
    #[inline(never)]
    fn begin(&mut self, tid: u64, name: &'static str, args: Args<'_>) -> Duration {
        let ts = self.ts();
        self.emit("B", name, None, tid, Some(ts), args);
        self.open.push((tid, name));
        ts
    }

    /// Ends the innermost open slice `name` on `tid`, and any slice still
    /// open inside it: a panic that unwound out of a tick (the main future's,
    /// out of `run_until_complete`) left them open, and the loop may be run
    /// again. Not open at all (the same unwinding, seen from the other
    /// side), nothing is written.
    #[inline(never)]
    fn end(&mut self, tid: u64, name: &'static str, args: Args<'_>) {
        let Some(at) = self.open.iter().rposition(|&open| open == (tid, name)) else {
            return;
        };
        while self.open.len() > at + 1 {
            if let Some((t, n)) = self.open.pop() {
                self.write_end(t, n, Args::None);
            }
        }
        self.open.pop();
        self.write_end(tid, name, args);
    }

    #[inline(never)]
    fn write_end(&mut self, tid: u64, name: &'static str, args: Args<'_>) {
        let ts = self.ts();
        self.emit("E", name, None, tid, Some(ts), args);
    }

    /// Names track `tid` and sets its place in the list. Out of line: three
    /// calls in `create` (issue #15).
    #[inline(never)]
    fn track(&mut self, tid: u64, name: &str, sort_index: i64) {
        self.emit("M", "thread_name", None, tid, None, Args::Name(name, None));
        self.sort_index(tid, sort_index);
    }

    /// Sets track `tid`'s place in the list.
    #[inline(never)]
    fn sort_index(&mut self, tid: u64, index: i64) {
        let key = if index < 0 {
            r#""sort_index":-"#
        } else {
            r#""sort_index":"#
        };
        self.emit(
            "M",
            "thread_sort_index",
            None,
            tid,
            None,
            Args::Num(key, index.unsigned_abs()),
        );
    }

    /// The loop's time since the loop was made.
    fn ts(&self) -> Duration {
        self.clock.elapsed()
    }

    // ----- the file ------------------------------------------------------

    /// Writes one event, after a comma unless it is the first:
    /// `{"ph":"<ph>","name":"<name>","pid":..,"tid":<tid>,"ts":<ts>,"args":{<args>}}`.
    /// A flow event (`flow`, its id) names its category after `name` too;
    /// `ts` and `args` are left out when `None`. `ph` is written as given,
    /// so a flow's end passes `f","bp":"e`.
    #[inline(never)]
    fn emit(&mut self, ph: &str, name: &str, flow: Option<u64>, tid: u64, ts: Option<Duration>, args: Args<'_>) {
        if self.out.is_none() {
            return;
        }
        let buf = &mut self.buf;
        let start = if mem::replace(&mut self.first, false) {
            "\n{\"ph\":\""
        } else {
            ",\n{\"ph\":\""
        };
        put(buf, start);
        put(buf, ph);
        if flow.is_some() {
            put(buf, r#"","cat":""#);
            put(buf, name);
        }
        put(buf, r#"","name":""#);
        put(buf, name);
        put(buf, "\"");
        if let Some(id) = flow {
            put(buf, r#","id":"#);
            push_u64(buf, id);
        }
        put(buf, r#","pid":"#);
        push_u64(buf, self.pid);
        put(buf, r#","tid":"#);
        push_u64(buf, tid);
        if let Some(ts) = ts {
            put(buf, r#","ts":"#);
            push_ts(buf, ts);
        }
        if !matches!(args, Args::None) {
            put(buf, r#","args":{"#);
            match args {
                Args::None => {}
                Args::Num(prefix, n) => {
                    put(buf, prefix);
                    push_u64(buf, n);
                }
                Args::Tick(n, ready) => {
                    put(buf, r#""n":"#);
                    push_u64(buf, n);
                    put(buf, r#","ready":"#);
                    push_u64(buf, ready);
                }
                Args::TimeoutMs(ms) => {
                    // Writing to a `String` cannot fail.
                    let _ = write!(buf, r#""timeout_ms":{ms}"#);
                }
                Args::Raw(text) => put(buf, text),
                Args::Name(name, id) => {
                    put(buf, r#""name":""#);
                    push_escaped(buf, name);
                    if let Some(id) = id {
                        push_u64(buf, id);
                    }
                    put(buf, "\"");
                }
                Args::Task(label) => push_task_args(buf, label),
            }
            put(buf, "}");
        }
        put(buf, "}");
        if buf.len() >= BUF {
            self.flush();
        }
    }

    /// Writes the buffer to the file.
    fn flush(&mut self) {
        let Some(file) = self.out.as_mut() else {
            return;
        };
        let written = file.write_all(self.buf.as_bytes());
        self.buf.clear();
        if let Err(e) = written {
            self.out = None;
            failed(&self.path, &e);
        }
    }
}

#[cold]
#[inline(never)]
fn failed(path: &Path, e: &io::Error) {
    eprintln!(
        "evloop: writing the trace {} failed: {e}; tracing stopped",
        path.display()
    );
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.inner.get_mut().finish();
    }
}

/// Where the loop keeps its tracer, if it has one: an optional box whose
/// drop is one call into this file. Drop glue is built into every codegen
/// unit that drops its type; the tracer's is then built here only, not
/// also wherever the loop's `Instruments` are dropped (issue #15).
#[derive(Default)]
pub(crate) struct TracerSlot(ManuallyDrop<Option<Box<Tracer>>>);

impl TracerSlot {
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&Tracer> {
        self.0.as_deref()
    }
}

impl Drop for TracerSlot {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// Appends `s`: out of line, one call at each of the many places that
/// write a piece of an event, rather than `String::push_str`'s growth
/// check and copy inlined at each.
#[inline(never)]
fn put(out: &mut String, s: &str) {
    out.push_str(s);
}

/// Appends `n` in decimal: one `write!` for every number the tracer
/// writes, not a `fmt::Arguments` built at each place.
#[inline(never)]
fn push_u64(out: &mut String, n: u64) {
    // Writing to a `String` cannot fail.
    let _ = write!(out, "{n}");
}

/// Appends a timestamp: microseconds since the loop was made, to the
/// nanosecond (`3004005.006`). Whole microseconds as a `u64` (good for
/// 584,000 years), not `as_micros`' `u128`, whose formatting is a kilobyte
/// of code.
fn push_ts(out: &mut String, t: Duration) {
    push_u64(out, t.as_secs() * 1_000_000 + u64::from(t.subsec_micros()));
    put(out, ".");
    let nanos = t.subsec_nanos() % 1000;
    for d in [nanos / 100, nanos / 10 % 10, nanos % 10] {
        out.push(char::from(b'0' + d as u8));
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
        put(&mut out, &rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("{pid}") {
            push_u64(&mut out, pid.into());
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{loop}") {
            push_u64(&mut out, loop_id);
            rest = after;
        } else {
            put(&mut out, "{");
            rest = &rest[1..];
        }
    }
    put(&mut out, rest);
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

/// Appends a task track's arguments: `"name":"<name> (<place>)"` (the
/// task's name, else `Task-<id>`, and where it was spawned, if known), its
/// future's type, and the place again on its own.
fn push_task_args(buf: &mut String, label: &TaskLabel) {
    put(buf, r#""name":""#);
    match &label.name {
        Some(name) => push_escaped(buf, name),
        None => {
            put(buf, "Task-");
            push_u64(buf, label.id);
        }
    }
    if let Some(at) = label.spawned_at {
        put(buf, " (");
        push_place(buf, at);
        put(buf, ")");
    }
    put(buf, r#"","future":""#);
    push_escaped(buf, label.future);
    if let Some(at) = label.spawned_at {
        put(buf, r#"","spawned_at":""#);
        push_place(buf, at);
    }
    put(buf, "\"");
}

/// Appends `file:line:column`, escaped (`Location`'s `Display`).
fn push_place(buf: &mut String, at: &Location<'_>) {
    push_escaped(buf, at.file());
    put(buf, ":");
    push_u64(buf, at.line().into());
    put(buf, ":");
    push_u64(buf, at.column().into());
}

/// Appends `s` as a JSON string literal: quotes, backslashes and control
/// characters escaped (RFC 8259, section 7).
#[cfg(test)]
fn push_json_str(out: &mut String, s: &str) {
    put(out, "\"");
    push_escaped(out, s);
    put(out, "\"");
}

/// Appends `s` escaped for the inside of a JSON string: quotes,
/// backslashes and control characters (RFC 8259, section 7).
fn push_escaped(out: &mut String, s: &str) {
    // Runs of characters that need no escape are copied whole. Every
    // character that does is ASCII, so a byte of one never sits inside
    // another character, and `at` is always a character boundary.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut from = 0;
    for (at, b) in s.bytes().enumerate() {
        let control;
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => {
                control = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ];
                std::str::from_utf8(&control).unwrap_or_default()
            }
            _ => continue,
        };
        put(out, &s[from..at]);
        put(out, escape);
        from = at + 1;
    }
    put(out, &s[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        push_json_str(&mut out, "a \"b\" \\ c\n\t\u{1}é");
        assert_eq!(out, r#""a \"b\" \\ c\n\t\u0001é""#);
        out.clear();
        push_json_str(&mut out, "\u{1f}\u{10}\r");
        assert_eq!(out, r#""\u001f\u0010\r""#);
    }

    #[test]
    fn numbers_print_as_display_does() {
        for n in [0, 7, 10, 99, 1_000_000_002, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn paths_expand_pid_and_loop_and_keep_other_braces() {
        assert_eq!(expand_path("t-{pid}-{loop}.json", 42, 7), "t-42-7.json");
        assert_eq!(expand_path("{loop}{loop}/{x}{pid", 1, 2), "22/{x}{pid");
        assert_eq!(expand_path("plain", 1, 2), "plain");
    }

    #[test]
    fn timestamps_print_microseconds_to_the_nanosecond() {
        let ts = |t| {
            let mut out = String::new();
            push_ts(&mut out, t);
            out
        };
        assert_eq!(ts(Duration::new(3, 4_005_006)), "3004005.006");
        assert_eq!(ts(Duration::ZERO), "0.000");
        assert_eq!(ts(Duration::new(0, 999)), "0.999");
        assert_eq!(
            ts(Duration::new(18_446_744_073_709, 551_615_000)),
            "18446744073709551615.000"
        );
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
        assert!(tracks.get_mut(2).is_some_and(|t| t.waiting.is_empty()));
        tracks.remove(3);
        tracks.remove(4); // absent: nothing happens
        tracks.remove(1);
        assert_eq!(ids(&tracks), [5], "swept once most entries were emptied");
        assert_eq!(tracks.get_mut(5).unwrap().waiting, [(5, "wake")]);
    }

    #[test]
    fn tids_keep_the_main_future_apart_from_the_loop() {
        assert_eq!(tid(0), MAIN_TID);
        assert_eq!(tid(7), 7);
        assert_ne!(MAIN_TID, LOOP_TID);
        assert_ne!(REMOTE_TID, MAIN_TID);
    }
}
