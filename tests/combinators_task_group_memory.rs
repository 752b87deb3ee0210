//! A long-lived `TaskGroup` holds memory for its running children, not for
//! every child it ever ran (DESIGN.md: "long-lived groups forget finished
//! children"). Measured with a counting global allocator, in a file of its
//! own so no other test shares the allocator.
//!
//! The test uses only `TaskGroup::new`, `create_task` and `join`, which the
//! group has always had, so it also ran against the old group (a closure per
//! child: about 9 MB per 200,000 children) and failed there.
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::live_bytes;
use evloop::{EventLoop, TaskGroup};

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Bytes of memory that may stay behind after 190,000 more children ran
/// (a few slab or queue capacity doublings at most; the old group kept
/// about 45 bytes per child, 8.5 MB here).
const SLACK: isize = 64 * 1024;

#[test]
fn task_group_memory_does_not_grow_with_finished_children() {
    let mut lp = EventLoop::builder().manual_clock().build().unwrap();
    let (warm, after) = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            let mut warm = 0;
            for batch in 0..200 {
                let tasks: Vec<_> = (0..1_000).map(|_| group.create_task(async {})).collect();
                for task in tasks {
                    task.await.unwrap();
                }
                if batch == 9 {
                    warm = live_bytes(); // 10,000 children in: every buffer has its size
                }
            }
            let after = live_bytes();
            group.join().await.unwrap();
            (warm, after)
        })
        .unwrap();
    let grown = after - warm;
    assert!(
        grown < SLACK,
        "live memory grew by {grown} bytes over 190,000 finished children (allowed {SLACK})"
    );
}
