//! `futures::select!` on evloop's own futures without `.fuse()`: `Sleep`
//! and `Task` are `FusedFuture`s (terminated once elapsed / once their
//! result was taken), so a select loop skips the branch that already
//! finished instead of polling it again.

mod common;

use std::time::Duration;

use common::run_guarded;
use futures::future::FusedFuture;
use futures::select;

#[test]
fn select_sleep_without_fuse_picks_the_earlier_deadline() {
    run_guarded(async {
        let mut short = std::pin::pin!(evloop::sleep(Duration::from_millis(10)));
        let mut long = std::pin::pin!(evloop::sleep(Duration::from_secs(10)));
        assert!(!short.is_terminated());
        let which = select! {
            () = short => "short",
            () = long => "long",
        };
        assert_eq!(which, "short");
        assert!(short.is_terminated(), "an elapsed sleep is terminated");
        assert!(!long.is_terminated());
        // A second select skips the terminated branch and waits for the other.
        let which = select! {
            () = short => "short again",
            () = long => "long",
        };
        assert_eq!(which, "long");
    });
}

#[test]
fn select_task_without_fuse_skips_the_branch_already_taken() {
    run_guarded(async {
        let mut fast = evloop::create_task(async {
            evloop::sleep(Duration::from_millis(1)).await;
            1
        });
        let mut slow = evloop::create_task(async {
            evloop::sleep(Duration::from_millis(50)).await;
            2
        });
        let mut got = Vec::new();
        // Without FusedFuture, the second round would poll `fast` again
        // (which panics: a Task polled after it returned its result).
        for _ in 0..2 {
            select! {
                r = fast => got.push(r.unwrap()),
                r = slow => got.push(r.unwrap()),
            }
        }
        assert_eq!(got, [1, 2]);
        assert!(fast.is_terminated() && slow.is_terminated());
    });
}

#[test]
fn select_task_result_taken_by_result_is_terminated() {
    run_guarded(async {
        let mut t = evloop::create_task(async { 7 });
        common::settle().await;
        assert!(!t.is_terminated(), "done but not taken yet");
        assert_eq!(t.result().unwrap().unwrap(), 7);
        assert!(t.is_terminated());
        let mut guard = evloop::create_task(async { 8 }).abort_on_drop();
        let v = select! { r = guard => r.unwrap() };
        assert_eq!(v, 8);
        assert!(guard.is_terminated());
    });
}
