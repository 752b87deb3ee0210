//! Debug mode (`Builder::debug`): a poll or callback that holds the loop
//! longer than `slow_callback_duration` is reported to the exception handler
//! with the task's name and how long it took, the way asyncio catches a
//! `time.sleep` inside a coroutine. Also the "Task exception was never
//! retrieved" report, which fires once whether or not debug mode is on.
//!
//! The slow-poll tests use real time because real time is the point: the
//! detector reads the wall clock around each poll. They block for 150 ms,
//! well past the 100 ms threshold, and only assert lower bounds. The
//! `EVLOOP_DEBUG` variable is tested in `debug_env.rs`, its own binary,
//! because the environment is shared by every test thread of a binary.

mod common;

use std::time::Duration;

use common::{count_polls, Trace};
use evloop::{EventLoop, ExceptionContext};

/// What the exception handler saw: message, task id, panic message.
type Seen = Trace<(String, Option<u64>, Option<String>)>;

/// A loop with debug mode set to `debug`, whose handler records into `seen`.
fn loop_recording(debug: bool, seen: &Seen) -> EventLoop {
    let seen = seen.clone();
    EventLoop::builder()
        .debug(debug)
        .exception_handler(move |ctx: ExceptionContext| {
            let panic = ctx.panic_message().map(str::to_owned);
            seen.push((ctx.message, ctx.task_id, panic));
        })
        .build()
        .unwrap()
}

/// The seconds in a report "Executing ... took 0.151 seconds".
fn seconds_in(message: &str) -> f64 {
    let rest = message
        .rsplit_once(" took ")
        .expect("a slow-poll report says how long")
        .1;
    let secs = rest.strip_suffix(" seconds").expect("the duration is in seconds");
    secs.parse().expect("the duration is a number")
}

#[test]
fn debug_reports_a_blocking_sleep_in_a_task_with_its_name() {
    let seen = Seen::default();
    let mut lp = loop_recording(true, &seen);
    let spawned_on = line!() + 1;
    let task = lp.handle().create_task(async {
        std::thread::sleep(Duration::from_millis(150)); // blocks the loop
        7
    });
    task.set_name("sleepy");
    let id = task.id();
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), 7);

    let reports = seen.events();
    assert_eq!(reports.len(), 1, "one slow poll, one report: {reports:?}");
    let (message, task_id, panic) = &reports[0];
    assert!(
        message.starts_with(&format!(
            "Executing Task-{id} (sleepy) created at {}:{spawned_on}:",
            file!()
        )),
        "the report names the task and where it was created (asyncio's debug mode does): {message}"
    );
    assert!(
        message.contains(&format!(
            " (future `{}::debug_reports_a_blocking_sleep_in_a_task_with_its_name::",
            module_path!()
        )),
        "and the future's type, which names the function it was written in: {message}"
    );
    assert!(seconds_in(message) >= 0.150, "at least the time slept: {message}");
    assert_eq!(*task_id, Some(id));
    assert_eq!(*panic, None);
}

#[test]
fn debug_names_an_unnamed_task_by_its_id() {
    let seen = Seen::default();
    let mut lp = loop_recording(true, &seen);
    let task = lp
        .handle()
        .create_task(async { std::thread::sleep(Duration::from_millis(150)) });
    let id = task.id();
    lp.run_until_complete(task).unwrap().unwrap();
    let reports = seen.events();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0]
            .0
            .starts_with(&format!("Executing Task-{id} created at {}:", file!())),
        "{reports:?}"
    );
    assert!(seconds_in(&reports[0].0) >= 0.150);
}

#[test]
fn debug_reports_only_the_slow_poll_of_a_task() {
    // The task is polled three times; only the middle poll blocks.
    let seen = Seen::default();
    let mut lp = loop_recording(true, &seen);
    let (fut, polls) = count_polls(async {
        evloop::yield_now().await;
        std::thread::sleep(Duration::from_millis(150));
        evloop::yield_now().await;
    });
    let task = lp.handle().create_task(fut);
    task.set_name("twice-quick");
    lp.run_until_complete(task).unwrap().unwrap();
    assert_eq!(polls.get(), 3);
    let reports = seen.events();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].0.contains("(twice-quick)"));
}

#[test]
fn debug_stays_silent_for_a_short_block() {
    let seen = Seen::default();
    let mut lp = loop_recording(true, &seen);
    let task = lp.handle().create_task(async {
        std::thread::sleep(Duration::from_millis(1));
        evloop::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    });
    lp.handle().call_soon(|| std::thread::sleep(Duration::from_millis(1)));
    lp.run_until_complete(task).unwrap().unwrap();
    assert_eq!(seen.events(), []);
}

#[test]
fn debug_reports_a_slow_callback() {
    let seen = Seen::default();
    let mut lp = loop_recording(true, &seen);
    lp.handle().call_soon(|| std::thread::sleep(Duration::from_millis(150)));
    lp.run_until_complete(evloop::yield_now()).unwrap();
    let reports = seen.events();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (message, task_id, _) = &reports[0];
    assert!(message.starts_with("Executing a callback took "), "{message}");
    assert!(seconds_in(message) >= 0.150, "{message}");
    assert_eq!(*task_id, None, "a callback belongs to no task");
}

#[test]
fn slow_callback_duration_moves_the_threshold() {
    // 150 ms is slow by default but not against a 10 s threshold.
    let seen = Seen::default();
    let handler_seen = seen.clone();
    let mut lp = EventLoop::builder()
        .debug(true)
        .slow_callback_duration(Duration::from_secs(10))
        .exception_handler(move |ctx| handler_seen.push((ctx.message, ctx.task_id, None)))
        .build()
        .unwrap();
    let task = lp
        .handle()
        .create_task(async { std::thread::sleep(Duration::from_millis(150)) });
    lp.run_until_complete(task).unwrap().unwrap();
    assert_eq!(seen.events(), []);
}

#[test]
fn debug_off_reports_nothing_for_a_slow_poll() {
    let seen = Seen::default();
    let mut lp = loop_recording(false, &seen);
    let task = lp
        .handle()
        .create_task(async { std::thread::sleep(Duration::from_millis(150)) });
    lp.run_until_complete(task).unwrap().unwrap();
    assert_eq!(seen.events(), []);
}

// ----- "Task exception was never retrieved" -------------------------------
// These need no real time: a manual clock and `yield_now` order everything.

/// A manual-clock loop that records reports, debug mode as given.
///
/// Slow-poll reports are left out: the panic hook runs inside the panicking
/// poll, and with `RUST_BACKTRACE` set, printing the backtrace alone can hold
/// the loop past 100 ms, which debug mode then (rightly) reports.
fn manual_recording(debug: bool, seen: &Seen) -> EventLoop {
    let seen = seen.clone();
    EventLoop::builder()
        .manual_clock()
        .debug(debug)
        .exception_handler(move |ctx: ExceptionContext| {
            if ctx.message.starts_with("Executing ") {
                return;
            }
            let panic = ctx.panic_message().map(str::to_owned);
            seen.push((ctx.message, ctx.task_id, panic));
        })
        .build()
        .unwrap()
}

/// Checks one "never retrieved" report against what it must say: the task's
/// label, where the task was created (known in debug mode: `created_on` is
/// that line of this file), and the future's type, which names the test
/// function whose async block it is (the exact spelling of a type name is
/// the compiler's, so only its start is checked). Returns the rest of the
/// report for comparison: task id and panic message.
fn never_retrieved(
    report: &(String, Option<u64>, Option<String>),
    label: &str,
    created_on: Option<u32>,
    in_fn: &str,
) -> (Option<u64>, Option<String>) {
    let (message, task_id, panic) = report;
    let head = format!("Task exception was never retrieved ({label})");
    let rest = message.strip_prefix(&head).unwrap_or_else(|| panic!("{message}"));
    let rest = match created_on {
        Some(line) => {
            let at = format!(" created at {}:{line}:", file!());
            assert!(rest.starts_with(&at), "names where the task was created: {message}");
            &rest[rest.find(" (future `").unwrap_or(0)..]
        }
        None => {
            assert!(
                !rest.contains("created at"),
                "debug mode off records no place: {message}"
            );
            rest
        }
    };
    let future = format!(" (future `{}::{in_fn}::", module_path!());
    assert!(
        rest.starts_with(&future) && rest.ends_with("`)"),
        "names the future's type: {message}"
    );
    (*task_id, panic.clone())
}

#[test]
fn unretrieved_panic_is_reported_once_when_the_handle_drops_after_the_panic() {
    for debug in [false, true] {
        let seen = Seen::default();
        let mut lp = manual_recording(debug, &seen);
        let created_on = line!() + 1;
        let task = lp.handle().create_task(async {
            evloop::yield_now().await;
            panic!("lost boom");
        });
        task.set_name("loser");
        let id = task.id();
        // Let it panic while the handle is still held: nothing reported yet,
        // the handle could still retrieve the panic.
        lp.run_until_complete(async {
            for _ in 0..3 {
                evloop::yield_now().await;
            }
        })
        .unwrap();
        assert!(task.done());
        assert_eq!(seen.events(), [], "not reported while the handle lives");

        drop(task);
        let expected = seen.events();
        assert_eq!(expected.len(), 1, "debug = {debug}: {expected:?}");
        let this_fn = "unretrieved_panic_is_reported_once_when_the_handle_drops_after_the_panic";
        assert_eq!(
            never_retrieved(&expected[0], "loser", debug.then_some(created_on), this_fn),
            (Some(id), Some("lost boom".to_owned())),
            "debug = {debug}"
        );

        // Nothing more: not on later ticks, not at close.
        lp.run_until_complete(evloop::sleep(Duration::from_secs(1))).unwrap();
        lp.close().unwrap();
        drop(lp);
        assert_eq!(seen.events(), expected, "debug = {debug}");
    }
}

#[test]
fn unretrieved_panic_is_reported_once_for_a_task_detached_before_it_panicked() {
    let seen = Seen::default();
    let mut lp = manual_recording(false, &seen);
    let task = lp.handle().create_task(async {
        evloop::sleep(Duration::from_secs(1)).await;
        panic!("detached boom");
    });
    let id = task.id();
    drop(task); // detached: keeps running
    assert_eq!(seen.events(), []);
    lp.run_until_complete(evloop::sleep(Duration::from_secs(2))).unwrap();
    let expected = seen.events();
    assert_eq!(expected.len(), 1, "{expected:?}");
    let this_fn = "unretrieved_panic_is_reported_once_for_a_task_detached_before_it_panicked";
    assert_eq!(
        never_retrieved(&expected[0], &format!("Task-{id}"), None, this_fn),
        (Some(id), Some("detached boom".to_owned()))
    );
    lp.run_until_complete(evloop::sleep(Duration::from_secs(1))).unwrap();
    drop(lp);
    assert_eq!(seen.events(), expected);
}

#[test]
fn retrieved_panic_is_not_reported() {
    let seen = Seen::default();
    let mut lp = manual_recording(true, &seen);
    let awaited = lp.handle().create_task(async { panic!("awaited boom") });
    let mut taken = lp.handle().create_task(async { panic!("taken boom") });
    let err = lp.run_until_complete(awaited).unwrap().unwrap_err();
    assert_eq!(err.panic_message(), Some("awaited boom"));
    let err = taken.result().expect("finished").unwrap_err();
    assert_eq!(err.panic_message(), Some("taken boom"));
    drop(taken);
    drop(lp);
    assert_eq!(seen.events(), []);
}

#[test]
fn cancelled_task_dropped_unawaited_is_not_reported() {
    let seen = Seen::default();
    let mut lp = manual_recording(true, &seen);
    let task = lp.handle().create_task(std::future::pending::<()>());
    assert!(task.cancel());
    lp.run_until_complete(evloop::yield_now()).unwrap();
    assert!(task.cancelled());
    drop(task);
    drop(lp);
    assert_eq!(seen.events(), []);
}
