//! `EVLOOP_DEBUG=1` turns debug mode on, like `PYTHONASYNCIODEBUG=1`.
//!
//! This is its own test binary with a single test because it sets an
//! environment variable, which every thread of the process shares: a test
//! running beside it could otherwise see debug mode switch on under it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;

/// Builds a loop with `builder` (after the environment is set), runs a task
/// that blocks for 30 ms against a 10 ms threshold, and returns the reports.
fn reports_for(configure: impl FnOnce(evloop::Builder) -> evloop::Builder) -> Vec<String> {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    let builder = EventLoop::builder()
        .slow_callback_duration(Duration::from_millis(10))
        .exception_handler(move |ctx| r.borrow_mut().push(ctx.message));
    let mut lp = configure(builder).build().unwrap();
    let task = lp
        .handle()
        .create_task(async { std::thread::sleep(Duration::from_millis(30)) });
    task.set_name("env-sleeper");
    lp.run_until_complete(task).unwrap().unwrap();
    let out = reports.borrow().clone();
    out
}

#[test]
fn evloop_debug_env_var_turns_debug_mode_on() {
    // The variable is read by `EventLoop::builder()`, so set it first.
    std::env::set_var("EVLOOP_DEBUG", "1");
    let on = reports_for(|b| b);
    assert_eq!(on.len(), 1, "{on:?}");
    assert!(
        on[0].starts_with("Executing Task-1 (env-sleeper) created at tests/debug_env.rs:"),
        "{on:?}"
    );

    // An explicit `debug(false)` wins over the environment.
    assert_eq!(reports_for(|b| b.debug(false)), Vec::<String>::new());

    // Only "1" turns it on.
    std::env::set_var("EVLOOP_DEBUG", "0");
    assert_eq!(reports_for(|b| b), Vec::<String>::new());
    std::env::remove_var("EVLOOP_DEBUG");
    assert_eq!(reports_for(|b| b), Vec::<String>::new());
    // And `debug(true)` needs no variable.
    assert_eq!(reports_for(|b| b.debug(true)).len(), 1);
}
