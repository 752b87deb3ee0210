//! The seed's `countasync.py`: three coroutines each print "One", sleep one
//! second without blocking the loop, then print "Two". All three sleep at
//! the same time, so the run takes about one second, not three.
//!
//! Run it with `cargo run --release --example countasync`.

use std::time::{Duration, Instant};

async fn count() {
    println!("One");
    // Non-blocking: hands control back to the event loop while waiting.
    evloop::sleep(Duration::from_secs(1)).await;
    println!("Two");
}

async fn main_async() {
    evloop::gather!(count(), count(), count()).await;
}

fn main() {
    let start = Instant::now();
    evloop::run(main_async());
    let elapsed = start.elapsed().as_secs_f64();
    println!("{} executed in {elapsed:0.2} seconds.", file!());
}
