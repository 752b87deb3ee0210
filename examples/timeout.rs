//! The seed's Timeouts snippet: `slow_op` would sleep 400 s, but
//! `wait_for` gives it 1 s, then cancels it (drops its future) and reports a
//! time-out. Prints `timeout` after about one second, never `completed`.
//!
//! Run it with `cargo run --example timeout`.

use std::time::{Duration, Instant};

async fn slow_op() {
    evloop::sleep(Duration::from_secs(400)).await;
    println!("completed");
}

async fn main_async() {
    match evloop::wait_for(slow_op(), Duration::from_secs_f64(1.0)).await {
        Ok(()) => {}
        Err(evloop::TimeoutError) => println!("timeout"),
    }
}

fn main() {
    let start = Instant::now();
    evloop::run(main_async());
    println!("after {:0.2} seconds", start.elapsed().as_secs_f64());
}
