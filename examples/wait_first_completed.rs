//! The seed's `wait` snippet: loop over `wait(FIRST_COMPLETED)`; once a task
//! returns a useful result, cancel the others and wait for the cancellations
//! to finish. `wait` itself never cancels the pending tasks.
//!
//! Here five "lookups" answer after different delays; only some find a
//! value (`Some`). The first `Some` wins.
//!
//! Run it with `cargo run --example wait_first_completed`.

use std::time::Duration;

use evloop::{create_task, sleep, wait, ReturnWhen, Task};

async fn lookup(id: u32, delay_ms: u64, found: bool) -> Option<String> {
    sleep(Duration::from_millis(delay_ms)).await;
    println!(
        "lookup {id} finished after {delay_ms} ms ({})",
        if found { "found" } else { "nothing" }
    );
    found.then(|| format!("value from lookup {id}"))
}

async fn first_result(mut tasks: Vec<Task<Option<String>>>) -> Option<String> {
    while !tasks.is_empty() {
        let (finished, unfinished) = wait(tasks, ReturnWhen::FirstCompleted, None).await;
        for mut x in finished {
            let result = x.result().expect("wait returned it as done").ok().flatten();
            if result.is_some() {
                // Cancel the other tasks, we have a result, and wait for the
                // cancellations to propagate.
                for task in &unfinished {
                    task.cancel();
                }
                let (cancelled, _) = wait(unfinished, ReturnWhen::AllCompleted, None).await;
                println!(
                    "cancelled {} other lookups",
                    cancelled.iter().filter(|t| t.cancelled()).count()
                );
                return result;
            }
        }
        tasks = unfinished;
    }
    None
}

fn main() {
    let result = evloop::run(async {
        let tasks = vec![
            create_task(lookup(1, 300, true)),
            create_task(lookup(2, 100, false)),
            create_task(lookup(3, 200, true)),
            create_task(lookup(4, 400, false)),
            create_task(lookup(5, 500, true)),
        ];
        first_result(tasks).await
    });
    println!("result: {result:?}");
}
