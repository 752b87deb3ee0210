//! Misuse panics point at the caller's line, not inside evloop
//! (`#[track_caller]`): `create_task`, `get_running_loop` and `shield`
//! outside a loop.
//! Its own test binary, because it swaps the process-wide panic hook.

use std::panic::{self, Location};
use std::sync::{Arc, Mutex};

/// Runs `f`, which must panic, and returns the file and line the panic
/// reported.
fn panic_location(f: impl FnOnce() + panic::UnwindSafe) -> (String, u32) {
    let seen: Arc<Mutex<Option<(String, u32)>>> = Arc::default();
    let s = seen.clone();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let at = info.location().map(|l: &Location<'_>| (l.file().to_owned(), l.line()));
        *s.lock().unwrap() = at;
    }));
    let result = panic::catch_unwind(f);
    panic::set_hook(previous);
    assert!(result.is_err(), "expected a panic");
    let at = seen.lock().unwrap().take();
    at.expect("the panic had a location")
}

#[test]
fn misuse_panics_name_the_callers_line() {
    let line = line!() + 1;
    let at = panic_location(|| drop(evloop::create_task(async {})));
    assert_eq!(at, (file!().to_owned(), line), "create_task outside a loop");

    let line = line!() + 1;
    let at = panic_location(|| drop(evloop::get_running_loop()));
    assert_eq!(at, (file!().to_owned(), line), "get_running_loop outside a loop");

    // shield spawns its future as a task: the spawn is the caller's too
    // (and so is the place a trace or debug report gives for that task).
    let line = line!() + 1;
    let at = panic_location(|| drop(evloop::shield(std::future::pending::<()>())));
    assert_eq!(at, (file!().to_owned(), line), "shield outside a loop");
}
