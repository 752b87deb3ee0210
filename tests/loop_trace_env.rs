//! `EVLOOP_TRACE=path` turns tracing on for every loop built, and
//! `Builder::trace` wins over it.
//!
//! Its own test binary with a single test, because it sets an environment
//! variable, which every thread of the process shares (as `debug_env.rs`).

use std::path::PathBuf;

use evloop::EventLoop;

fn run_one_task(builder: evloop::Builder) {
    let mut lp = builder.manual_clock().build().unwrap();
    let task = lp.handle().create_task(async { evloop::yield_now().await });
    lp.run_until_complete(task).unwrap().unwrap();
}

fn polls_in(path: &PathBuf) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    (events.iter())
        .filter(|e| e["ph"] == "B" && e["name"] == "poll")
        .count()
}

#[test]
fn evloop_trace_env_traces_loops_unless_the_builder_says_where() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let from_env = dir.join(format!("evloop-test-{pid}-env.json"));
    let from_builder = dir.join(format!("evloop-test-{pid}-builder.json"));
    let _ = std::fs::remove_file(&from_env);

    std::env::set_var("EVLOOP_TRACE", &from_env);
    run_one_task(EventLoop::builder());
    assert_eq!(polls_in(&from_env), 4, "the task and the main future, twice each");

    std::fs::remove_file(&from_env).unwrap();
    run_one_task(EventLoop::builder().trace(&from_builder));
    assert!(!from_env.exists(), "Builder::trace wins over the environment");
    assert_eq!(polls_in(&from_builder), 4);
    std::fs::remove_file(&from_builder).unwrap();

    std::env::set_var("EVLOOP_TRACE", "");
    run_one_task(EventLoop::builder());
    assert!(!from_env.exists(), "an empty EVLOOP_TRACE is off");
    std::env::remove_var("EVLOOP_TRACE");
}
