//! The seed's "asyncio.sleep vs time.sleep" snippet: two `hello()`s run
//! concurrently. `evloop::sleep` gives the loop back while it waits, so both
//! "Hello ..." lines print before either "... World!".
//!
//! Run it with `cargo run --example hello`.

use std::time::Duration;

async fn hello() {
    println!("Hello ...");
    evloop::sleep(Duration::from_secs(1)).await;
    println!("... World!");
}

fn main() {
    evloop::run(async {
        evloop::gather!(hello(), hello()).await;
    });
}
