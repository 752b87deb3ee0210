//! asyncio's `async with asyncio.TaskGroup() as tg:` on evloop:
//! [`TaskGroup::run`], a scope that ends when its body and every child have
//! finished.
//!
//! It shows, in order: a group whose children all succeed (their values
//! read after the scope, as asyncio's `t.result()`); a child that spawns
//! siblings into its own group (a crawler following links); and a child
//! that fails, which cancels the body and its siblings at once and comes
//! back as the group's error (asyncio's `ExceptionGroup`, caught with
//! `except*`). The lines printed are the ones the asyncio program in the
//! comment below prints.
//!
//! Run it with `cargo run --example task_group`.
//!
//! ```python
//! import asyncio
//!
//! async def fetch(name, ms):
//!     await asyncio.sleep(ms / 1000)
//!     print(f"fetched {name}")
//!     return name.upper()
//!
//! async def crawl(tg, page, seen):
//!     await asyncio.sleep(0.001)
//!     seen.append(page)
//!     if page < 4:
//!         for link in (2 * page, 2 * page + 1):
//!             tg.create_task(crawl(tg, link, seen))
//!
//! async def fail(ms):
//!     await asyncio.sleep(ms / 1000)
//!     raise ValueError("no such user")
//!
//! async def main():
//!     async with asyncio.TaskGroup() as tg:
//!         a = tg.create_task(fetch("a", 20))
//!         b = tg.create_task(fetch("b", 10))
//!     print(f"both done: {a.result()} {b.result()}")
//!
//!     seen = []
//!     async with asyncio.TaskGroup() as tg:
//!         tg.create_task(crawl(tg, 1, seen))
//!     print(f"crawled {len(seen)} pages")
//!
//!     try:
//!         async with asyncio.TaskGroup() as tg:
//!             tg.create_task(fetch("c", 10))
//!             tg.create_task(fetch("d", 5000))
//!             tg.create_task(fail(30))
//!             await asyncio.sleep(10)
//!             print("never printed: the failure cancelled the body")
//!     except* ValueError as eg:
//!         print(f"caught: {eg}")
//!         for e in eg.exceptions:
//!             print(f"  {e!r}")
//!
//! asyncio.run(main())
//! ```
//!
//! Output (asyncio's and this program's):
//!
//! ```text
//! fetched b
//! fetched a
//! both done: A B
//! crawled 7 pages
//! fetched c
//! caught: unhandled errors in a TaskGroup (1 sub-exception)
//!   ValueError('no such user')
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use evloop::{sleep, TaskGroup};

async fn fetch(name: &'static str, ms: u64) -> String {
    sleep(Duration::from_millis(ms)).await;
    println!("fetched {name}");
    name.to_uppercase()
}

async fn crawl(tg: TaskGroup, page: u32, seen: Rc<RefCell<Vec<u32>>>) {
    sleep(Duration::from_millis(1)).await;
    seen.borrow_mut().push(page);
    if page < 4 {
        for link in [2 * page, 2 * page + 1] {
            // A child spawns siblings into its own group.
            let _child = tg.spawn(crawl(tg.clone(), link, seen.clone()));
        }
    }
}

/// asyncio's `ValueError`: the error type of this program's failing child.
struct ValueError(&'static str);

/// As Python's `repr`.
impl std::fmt::Debug for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ValueError('{}')", self.0)
    }
}

async fn fail(ms: u64) -> Result<(), ValueError> {
    sleep(Duration::from_millis(ms)).await;
    Err(ValueError("no such user"))
}

async fn main_async() {
    // `async with TaskGroup() as tg:`, children that all succeed. The
    // body's value comes out of `run` once every child has finished.
    let (a, b) = TaskGroup::run(|tg| async move {
        let a = tg.spawn(fetch("a", 20));
        let b = tg.spawn(fetch("b", 10));
        Ok::<_, ValueError>((a, b))
    })
    .await
    .expect("no child failed");
    println!("both done: {} {}", a.await.unwrap(), b.await.unwrap());

    // Children that spawn siblings: the group waits for all of them.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    TaskGroup::run(|tg| async move {
        let _crawler = tg.spawn(crawl(tg.clone(), 1, s));
        Ok(())
    })
    .await
    .expect("no child failed");
    println!("crawled {} pages", seen.borrow().len());

    // A failing child: the body (asleep for 10 s) and the slow sibling are
    // cancelled at once, and `run` returns the group's error.
    let result = TaskGroup::run(|tg| async move {
        let _c = tg.spawn(fetch("c", 10));
        let _d = tg.spawn(fetch("d", 5_000));
        let _fails = tg.spawn_try(fail(30));
        sleep(Duration::from_secs(10)).await;
        println!("never printed: the failure cancelled the body");
        Ok(())
    })
    .await;
    // `except* ValueError as eg:`
    if let Err(eg) = result {
        println!("caught: {eg}");
        for e in eg.errors() {
            println!("  {e:?}");
        }
    }
}

fn main() {
    let start = std::time::Instant::now();
    evloop::run(main_async());
    // Well under the body's 10 s sleep and the slow fetch's 5 s.
    assert!(start.elapsed() < Duration::from_secs(2));
}
