//! The seed's `say_something` snippet: two tasks made with `create_task`
//! sleep concurrently, so awaiting both takes about one second, not two;
//! then the same with `gather` (`main2` in the seed, which measures it).
//! (The seed's `asyncio.delay` is a typo for `asyncio.sleep`.)
//!
//! Run it with `cargo run --example create_task`.

use std::time::{Duration, Instant};

async fn say_something(delay: f64, words: &str) {
    println!("before {words}");
    evloop::sleep(Duration::from_secs_f64(delay)).await;
    println!("after {words}");
}

async fn main_tasks() {
    println!("start");
    // Tasks run concurrently: both start before either is awaited.
    let task1 = evloop::create_task(say_something(1.0, "task1"));
    let task2 = evloop::create_task(say_something(1.0, "task2"));
    task1.await.unwrap();
    task2.await.unwrap();
    println!("end");
}

async fn main_gather() {
    let start = Instant::now();
    evloop::gather([say_something(1.0, "task1"), say_something(1.0, "task1")]).await;
    let elapsed = start.elapsed().as_secs_f64();
    println!("{elapsed:0.2} seconds");
}

fn main() {
    let start = Instant::now();
    evloop::run(main_tasks());
    println!("create_task: {:0.2} seconds", start.elapsed().as_secs_f64());
    evloop::run(main_gather());
}
