//! The seed's Futures snippet, line for line: cancel a pending
//! `evloop::future::Future`, then ask `done()` and `cancelled()`.
//!
//! ```text
//! future = Future()
//! future.cancel()
//! print(future.done())
//! print(future.cancelled())
//! ```
//!
//! Prints what CPython prints for those lines, `True` then `True`: a
//! cancelled future is done. (The seed's comment claims `False` / `True`;
//! that is a mistake in the seed, which CPython 3.11 does not reproduce.)
//!
//! Run it with `cargo run --example future_cancel`.

/// Python's spelling of a bool, so the output matches CPython's.
fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn main() {
    let future = evloop::future::Future::<()>::new();
    future.cancel();
    println!("{}", py(future.done()));
    println!("{}", py(future.cancelled()));
}
