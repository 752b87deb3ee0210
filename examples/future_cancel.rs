//! The seed's Futures snippet: cancelling a pending `evloop::future::Future`.
//!
//! Prints `false` then `true`: the future is not done before the cancel, and
//! is cancelled after it. (The seed prints `done()` *after* `cancel()` and
//! shows `False`; real asyncio prints `True` there, since a cancelled future
//! is done. This twin asks `done()` before the cancel, where `false` is the
//! honest answer, and asserts the rest.)
//!
//! Run it with `cargo run --example future_cancel`.

fn main() {
    let future = evloop::future::Future::<()>::new();
    println!("{}", future.done());
    future.cancel();
    println!("{}", future.cancelled());
    assert!(future.done(), "a cancelled future is done, as in asyncio");
}
