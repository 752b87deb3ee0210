//! The cooperative budget (`src/task/coop.rs`) as combinators and `sync`
//! primitives spend it: a task whose every `.await` is ready at once still
//! hands the loop back every 128 steps, so other tasks, timers and I/O run.
//!
//! Two kinds of test:
//!
//! - **Hangs turned into failures.** A child of `gather` (or `try_gather`,
//!   `as_completed`) that spins on `yield_now` until a sibling's timer sets a
//!   flag used to be re-polled inside one poll of the combinator for ever, so
//!   the timer never fired. These run the loop on its own thread with the
//!   real clock and short timers, and wait for its result with
//!   `recv_timeout`: a hang fails the test instead of hanging the suite.
//!   (The manual clock only moves when nothing is ready, which is never
//!   true next to a spinning task.)
//! - **Deterministic counts.** A task doing always-ready steps (a queue
//!   put/get, a lock/unlock, ...) beside an observer that yields in a loop
//!   and records how many steps had been done each time it ran: the observer
//!   runs at least once every [`BUDGET`] steps. No clock involved.
mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::manual_loop;
use evloop::sync::{Event, Lock, Queue, Semaphore};
use evloop::{as_completed, create_task, gather, sleep, try_gather, yield_now, EventLoop, TaskGroup};

/// Units one task poll may spend (tokio's number; `src/task/coop.rs`).
const BUDGET: usize = 128;

/// How long a loop thread may take before the test calls it hung. Every
/// workload here needs a few milliseconds; a hang spins for ever.
const WATCHDOG: Duration = Duration::from_secs(20);

/// [`common::within`] with [`WATCHDOG`].
fn within_watchdog<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    common::within(WATCHDOG, what, body)
}

/// A real-clock loop (spinning tasks never let a manual clock move).
fn real_loop() -> EventLoop {
    EventLoop::new().expect("build a loop")
}

/// Spins on `yield_now` until `flag` is set; returns how many times it
/// yielded.
async fn spin_until(flag: Rc<Cell<bool>>) -> u64 {
    let mut spins = 0;
    while !flag.get() {
        spins += 1;
        yield_now().await;
    }
    spins
}

/// Sleeps 10 ms, then sets `flag`.
async fn set_after_10ms(flag: Rc<Cell<bool>>) -> u64 {
    sleep(Duration::from_millis(10)).await;
    flag.set(true);
    0
}

/// The two children of the hang tests: a spinner and the timer that
/// releases it, boxed so they share one type.
fn spin_and_timer(flag: &Rc<Cell<bool>>) -> Vec<std::pin::Pin<Box<dyn Future<Output = u64>>>> {
    vec![
        Box::pin(spin_until(flag.clone())),
        Box::pin(set_after_10ms(flag.clone())),
    ]
}

#[test]
fn gather_with_a_self_waking_child_lets_a_siblings_timer_fire() {
    let (spins, timer_out, elapsed) = within_watchdog("gather", || {
        let flag = Rc::new(Cell::new(false));
        let start = Instant::now();
        let out = real_loop().run_until_complete(gather(spin_and_timer(&flag))).unwrap();
        (out[0], out[1], start.elapsed())
    });
    assert_eq!(timer_out, 0);
    assert!(spins > 0, "the spinning child spun until the timer released it");
    assert!(
        elapsed >= Duration::from_millis(10),
        "the timer, not luck, ended it: {elapsed:?}"
    );
}

#[test]
fn try_gather_with_a_self_waking_child_lets_a_siblings_timer_fire() {
    let out = within_watchdog("try_gather", || {
        let flag = Rc::new(Cell::new(false));
        let children = spin_and_timer(&flag)
            .into_iter()
            .map(|child| async move { Ok::<u64, String>(child.await) });
        real_loop().run_until_complete(try_gather(children)).unwrap()
    });
    let out = out.expect("no child failed");
    assert_eq!(out.len(), 2);
    assert_eq!(out[1], 0);
}

#[test]
fn as_completed_with_a_self_waking_child_lets_a_siblings_timer_fire() {
    let order = within_watchdog("as_completed", || {
        let flag = Rc::new(Cell::new(false));
        real_loop()
            .run_until_complete(async move {
                let mut results = as_completed(spin_and_timer(&flag));
                let mut order = Vec::new();
                while let Some(out) = results.next().await {
                    order.push(if out == 0 { "timer" } else { "spinner" });
                }
                order
            })
            .unwrap()
    });
    assert_eq!(
        order,
        ["timer", "spinner"],
        "the timer child finishes first and releases the spinner"
    );
}

/// `TaskGroup`'s children are tasks of their own, each polled by the loop
/// with its own budget; the group never polls them inline. This guards that
/// it stays so.
#[test]
fn task_group_with_a_self_waking_child_lets_a_siblings_timer_fire() {
    let joined = within_watchdog("TaskGroup", || {
        let flag = Rc::new(Cell::new(false));
        real_loop()
            .run_until_complete(async move {
                let group = TaskGroup::new();
                let spinner = group.create_task(spin_until(flag.clone()));
                let timer = group.create_task(set_after_10ms(flag));
                let joined = group.join().await;
                (joined, spinner.await.unwrap() > 0, timer.await.unwrap())
            })
            .unwrap()
    });
    assert_eq!(joined, (Ok(()), true, 0));
}

/// `gather!` polls each child once per poll (never re-polls inside one), so
/// it was never affected; this guards that it stays so.
#[test]
fn gather_macro_with_a_self_waking_child_lets_a_siblings_timer_fire() {
    let out = within_watchdog("gather!", || {
        let flag = Rc::new(Cell::new(false));
        real_loop()
            .run_until_complete(
                async move { evloop::gather!(spin_until(flag.clone()), set_after_10ms(flag.clone())).await },
            )
            .unwrap()
    });
    assert_eq!(out.1, 0);
}

/// The largest number of steps the spinner did between two runs of the
/// observer (and before the first, and after the last).
fn largest_gap(seen: &[usize], total: usize) -> usize {
    let mut gaps: Vec<usize> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.push(seen.first().copied().unwrap_or(total));
    gaps.push(total - seen.last().copied().unwrap_or(0));
    gaps.into_iter().max().unwrap_or(0)
}

/// Runs `steps` always-ready steps (each spending `units` budget units)
/// beside an observer task that records, every time it runs, how many units
/// the spinner had spent. Returns those records and the total.
fn observe_spinner<S, Fut>(steps: usize, units: usize, step: S) -> (Vec<usize>, usize)
where
    S: Fn() -> Fut + 'static,
    Fut: Future<Output = ()>,
{
    let mut lp = manual_loop();
    lp.run_until_complete(async move {
        let spent = Rc::new(Cell::new(0usize));
        let done = Rc::new(Cell::new(false));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let observer = {
            let (spent, done, seen) = (spent.clone(), done.clone(), seen.clone());
            create_task(async move {
                while !done.get() {
                    seen.borrow_mut().push(spent.get());
                    yield_now().await;
                }
            })
        };
        let spinner = {
            let (spent, done) = (spent.clone(), done.clone());
            create_task(async move {
                for _ in 0..steps {
                    step().await;
                    spent.set(spent.get() + units);
                }
                done.set(true);
            })
        };
        spinner.await.unwrap();
        observer.await.unwrap();
        let seen = seen.take();
        (seen, spent.get())
    })
    .unwrap()
}

/// The observer ran at least once every [`BUDGET`] units of the spinner.
#[track_caller]
fn assert_observer_kept_up(what: &str, (seen, total): (Vec<usize>, usize)) {
    let gap = largest_gap(&seen, total);
    assert!(
        gap <= BUDGET,
        "{what}: the spinner did {gap} steps in a row without letting the observer run \
         (the observer ran {} times over {total} steps)",
        seen.len()
    );
    assert!(
        seen.len() >= total / BUDGET,
        "{what}: the observer ran only {} times",
        seen.len()
    );
}

const STEPS: usize = 100_000;

#[test]
fn queue_put_get_in_a_tight_loop_lets_other_tasks_run_every_budget() {
    let q = Rc::new(Queue::new(1));
    let got = Rc::new(Cell::new(0u64));
    let g = got.clone();
    let seen = observe_spinner(STEPS, 2, move || {
        let (q, got) = (q.clone(), g.clone());
        async move {
            q.put(1u64).await;
            got.set(got.get() + q.get().await);
        }
    });
    assert_eq!(got.get(), STEPS as u64, "every item put came out");
    assert_observer_kept_up("Queue put/get", seen);
}

#[test]
fn queue_join_with_nothing_unfinished_lets_other_tasks_run_every_budget() {
    let q = Rc::new(Queue::<u8>::new(0));
    assert_observer_kept_up(
        "Queue join",
        observe_spinner(STEPS, 1, move || {
            let q = q.clone();
            async move { q.join().await }
        }),
    );
}

#[test]
fn sleep_until_a_past_deadline_in_a_tight_loop_lets_other_tasks_run_every_budget() {
    // A deadline already past completes at the first poll, again and again.
    let past = std::time::Instant::now();
    assert_observer_kept_up(
        "sleep_until(past)",
        observe_spinner(STEPS, 1, move || evloop::sleep_until(past)),
    );
}

#[test]
fn lock_lock_unlock_in_a_tight_loop_lets_other_tasks_run_every_budget() {
    let lock = Rc::new(Lock::new());
    let l = lock.clone();
    let seen = observe_spinner(STEPS, 1, move || {
        let lock = l.clone();
        async move { drop(lock.lock().await) }
    });
    assert!(!lock.locked(), "every guard unlocked");
    assert_observer_kept_up("Lock lock/unlock", seen);
}

#[test]
fn condition_lock_in_a_tight_loop_lets_other_tasks_run_every_budget() {
    let cond = Rc::new(evloop::sync::Condition::new());
    assert_observer_kept_up(
        "Condition lock",
        observe_spinner(STEPS, 1, move || {
            let cond = cond.clone();
            async move { drop(cond.lock().await) }
        }),
    );
}

#[test]
fn semaphore_acquire_release_in_a_tight_loop_lets_other_tasks_run_every_budget() {
    let sem = Rc::new(Semaphore::new(1));
    let s = sem.clone();
    let seen = observe_spinner(STEPS, 1, move || {
        let sem = s.clone();
        async move { drop(sem.acquire().await) }
    });
    assert_eq!(sem.available_permits(), 1, "every permit came back");
    assert_observer_kept_up("Semaphore acquire/release", seen);
}

#[test]
fn event_wait_on_a_set_event_in_a_tight_loop_lets_other_tasks_run_every_budget() {
    let ev = Rc::new(Event::new());
    ev.set();
    assert_observer_kept_up(
        "Event wait",
        observe_spinner(STEPS, 1, move || {
            let ev = ev.clone();
            async move { ev.wait().await }
        }),
    );
}

#[test]
fn awaiting_a_done_future_in_a_tight_loop_lets_other_tasks_run_every_budget() {
    let fut = evloop::future::Future::<u32>::new();
    fut.set_result(7).unwrap();
    let sum = Rc::new(Cell::new(0u64));
    let s = sum.clone();
    let seen = observe_spinner(STEPS, 1, move || {
        let (fut, sum) = (fut.clone(), s.clone());
        async move { sum.set(sum.get() + u64::from(fut.await.unwrap())) }
    });
    assert_eq!(sum.get(), 7 * STEPS as u64);
    assert_observer_kept_up("evloop::future::Future await", seen);
}

/// Runs `combine` over `children` spinners that each yield `STEPS /
/// children` times, next to an observer task that records the spinners'
/// poll count each time it runs; returns what it saw and the total.
fn observe_children<F: Future>(
    children: usize,
    combine: impl FnOnce(Vec<Pin<Box<dyn Future<Output = usize>>>>) -> F,
) -> (Vec<usize>, usize) {
    manual_loop()
        .run_until_complete(async {
            let polls = Rc::new(Cell::new(0usize));
            let done = Rc::new(Cell::new(false));
            let seen = Rc::new(RefCell::new(Vec::new()));
            let observer = {
                let (polls, done, seen) = (polls.clone(), done.clone(), seen.clone());
                create_task(async move {
                    while !done.get() {
                        seen.borrow_mut().push(polls.get());
                        yield_now().await;
                    }
                })
            };
            let spinners = (0..children)
                .map(|i| {
                    let polls = polls.clone();
                    Box::pin(async move {
                        for _ in 0..STEPS / children {
                            polls.set(polls.get() + 1);
                            yield_now().await;
                        }
                        i
                    }) as Pin<Box<dyn Future<Output = usize>>>
                })
                .collect();
            combine(spinners).await;
            done.set(true);
            observer.await.unwrap();
            let seen = seen.take();
            (seen, polls.get())
        })
        .unwrap()
}

/// Each child poll inside `gather` is one unit: an observer that records the
/// children's poll count each time it runs sees it at least every 128 polls.
#[test]
fn gather_child_polls_are_budgeted_so_other_tasks_run_every_budget() {
    let (seen, total) = observe_children(2, |spinners| async {
        assert_eq!(gather(spinners).await, [0, 1]);
    });
    assert_eq!(total, STEPS);
    assert_observer_kept_up("gather child polls", (seen, total));
}

#[test]
fn as_completed_child_polls_are_budgeted_so_other_tasks_run_every_budget() {
    let (seen, total) = observe_children(4, |spinners| async {
        let mut results = as_completed(spinners);
        let mut outputs = Vec::new();
        while let Some(i) = results.next().await {
            outputs.push(i);
        }
        outputs.sort_unstable();
        assert_eq!(outputs, [0, 1, 2, 3]);
    });
    assert_eq!(total, STEPS);
    assert_observer_kept_up("as_completed child polls", (seen, total));
}

/// A budget-yield cuts a batch of woken children short; the rest must still
/// be polled (no wake lost), and every child's output lands in its slot.
#[test]
fn gather_of_many_self_waking_children_loses_no_wake_across_budget_yields() {
    let out = common::run_guarded(async {
        gather((0..1_000u32).map(|i| async move {
            for _ in 0..(i % 7) {
                yield_now().await;
            }
            i
        }))
        .await
    });
    assert_eq!(out, (0..1_000).collect::<Vec<u32>>());
}

/// Runs `spin` (a loop that only stops once the flag it is given is set)
/// beside a task that sleeps 20 ms and then sets the flag, on the real
/// clock; asserts the timer fired on time and returns nothing. Before the
/// budget the spinner never returned to the loop, and the watchdog fired.
fn assert_timer_fires_beside<F: Future<Output = ()>>(
    what: &str,
    spin: impl FnOnce(Rc<Cell<bool>>) -> F + Send + 'static,
) {
    let late = within_watchdog(what, move || {
        real_loop()
            .run_until_complete(async move {
                let fired = Rc::new(Cell::new(false));
                let timer = {
                    let fired = fired.clone();
                    create_task(async move {
                        let start = Instant::now();
                        sleep(Duration::from_millis(20)).await;
                        fired.set(true);
                        start.elapsed()
                    })
                };
                spin(fired).await;
                timer.await.unwrap()
            })
            .unwrap()
    });
    assert!(late >= Duration::from_millis(20), "{what}: fired early: {late:?}");
    // Generous: the spinner hands the loop back every 128 steps, so the
    // timer fires within a tick or so of its deadline.
    assert!(
        late < Duration::from_secs(2),
        "{what}: fired {late:?} after being armed for 20 ms"
    );
}

#[test]
fn queue_put_get_in_a_tight_loop_lets_a_20ms_timer_fire_on_time() {
    assert_timer_fires_beside("Queue put/get beside a timer", |fired| async move {
        let q = Queue::new(1);
        let mut steps = 0u64;
        while !fired.get() {
            q.put(steps).await;
            assert_eq!(q.get().await, steps);
            steps += 1;
        }
    });
}

#[test]
fn lock_lock_unlock_in_a_tight_loop_lets_a_20ms_timer_fire_on_time() {
    assert_timer_fires_beside("Lock lock/unlock beside a timer", |fired| async move {
        let lock = Lock::new();
        while !fired.get() {
            drop(lock.lock().await);
        }
    });
}
