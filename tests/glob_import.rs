//! `use evloop::*;` is safe (issue 13, point 10): the glob brings the std
//! `Future` trait, never asyncio's `future::Future`, so `impl Future for X`
//! compiles with nothing else imported, and next to `std::future::*` too.

use evloop::*;
#[allow(unused_imports)]
use std::future::*;

struct Ready(u8);

impl Future for Ready {
    type Output = u8;

    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<u8> {
        std::task::Poll::Ready(self.0)
    }
}

#[test]
fn glob_import_gives_the_std_future_trait() {
    assert_eq!(run(Ready(7)), 7);
    // asyncio's Future is named by its module.
    let slot = evloop::future::Future::<u8>::new();
    slot.set_result(3).unwrap();
    assert_eq!(slot.result(), Ok(3));
}
