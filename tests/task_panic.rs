//! Panics in tasks: the loop lives on, the handle yields the payload, a
//! detached panic goes to the exception handler, and `stop_on_task_panic`
//! makes the panic resume out of the loop.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::{loop_with_reports, manual_loop, panic_text, reporter, DropGuard, Reports, Trace};
use evloop::{EventLoop, TaskError};

#[test]
fn panic_in_task_is_returned_by_the_handle_and_the_loop_lives_on() {
    let mut lp = manual_loop();
    let h = lp.handle();
    let trace = Trace::new();
    let t = trace.clone();
    let bystander = h.create_task(async move {
        evloop::sleep(Duration::from_secs(1)).await;
        t.push("bystander finished");
        3
    });
    let boom = h.create_task(async {
        evloop::yield_now().await;
        panic!("task boom {}", 42);
    });
    let err = lp.run_until_complete(boom).unwrap().unwrap_err();
    assert!(matches!(err, TaskError::Panicked(_)));
    assert_eq!(err.panic_message(), Some("task boom 42"));
    assert_eq!(err.to_string(), "task panicked: task boom 42");
    assert_eq!(lp.run_until_complete(bystander).unwrap().unwrap(), 3);
    assert_eq!(trace.events(), ["bystander finished"]);
    assert_eq!(lp.run_until_complete(async { "still alive" }).unwrap(), "still alive");
}

#[test]
fn panic_in_task_drops_its_locals() {
    let mut lp = EventLoop::new().unwrap();
    let trace = Trace::new();
    let g = DropGuard::new(&trace, "local");
    let task = lp.handle().create_task(async move {
        let _g = g;
        evloop::yield_now().await;
        panic!("boom");
    });
    let res = lp.run_until_complete(task).unwrap();
    assert!(res.is_err());
    assert_eq!(trace.events(), ["drop local"]);
}

#[test]
fn panic_in_task_is_seen_by_an_awaiting_task() {
    let mut lp = EventLoop::new().unwrap();
    let msg = lp
        .run_until_complete(async {
            let child = evloop::create_task(async { panic!("child failed") });
            child.await.unwrap_err().panic_message().map(str::to_owned)
        })
        .unwrap();
    assert_eq!(msg.as_deref(), Some("child failed"));
}

#[test]
fn panic_in_detached_task_goes_to_the_exception_handler() {
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    // Detached before it panics.
    let task = h.create_task(async { panic!("detached boom") });
    let id = task.id();
    drop(task);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let (message, panic) = reports.events().remove(0);
    assert_eq!(reports.len(), 1);
    // The report names the task and its future's type (the async block in
    // this function); debug mode would add where it was created.
    let head = format!("Task exception was never retrieved (Task-{id}) (future `task_panic::");
    assert!(message.starts_with(&head), "{message}");
    assert_eq!(panic.as_deref(), Some("detached boom"));
    // Detached after it panicked, with a name: reported when the handle goes.
    let task = h.create_task(async { panic!("late boom") });
    task.set_name("named");
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(task.done());
    assert_eq!(reports.len(), 1, "reported while the handle could still retrieve it");
    drop(task);
    let (message, panic) = reports.events().remove(1);
    let head = "Task exception was never retrieved (named) (future `task_panic::";
    assert!(message.starts_with(head), "{message}");
    assert_eq!(panic.as_deref(), Some("late boom"));
    assert_eq!(lp.run_until_complete(async { 1 }).unwrap(), 1);
}

/// A handle reaches its loop weakly (it is one pointer), so it may outlive
/// the loop: a panic it never retrieved still goes to that loop's
/// exception handler when it is dropped.
#[test]
fn handles_outliving_their_loop_still_report_unretrieved_panics() {
    assert_eq!(std::mem::size_of::<evloop::Task<u64>>(), std::mem::size_of::<usize>());
    let (mut lp, reports) = loop_with_reports();
    let h = lp.handle();
    let unretrieved = h.create_task(async { panic!("after the loop") });
    let pending = h.create_task(std::future::pending::<()>());
    lp.run_once(Some(Duration::ZERO)).unwrap();
    drop(h);
    drop(lp);
    assert!(reports.is_empty(), "{:?}", reports.events());
    assert!(pending.cancelled(), "closing the loop cancelled it");
    assert!(!pending.cancel(), "nothing left to cancel");
    drop(unretrieved);
    let (message, panic) = reports.events().remove(0);
    assert_eq!(reports.len(), 1);
    assert!(
        message.starts_with("Task exception was never retrieved (Task-1)"),
        "{message}"
    );
    assert_eq!(panic.as_deref(), Some("after the loop"));
}

#[test]
fn panic_retrieved_through_the_handle_is_not_reported() {
    let (mut lp, reports) = loop_with_reports();
    let task = lp.handle().create_task(async { panic!("retrieved") });
    assert!(lp.run_until_complete(task).unwrap().is_err());
    assert!(reports.is_empty(), "{:?}", reports.events());
}

#[test]
fn stop_on_task_panic_resumes_the_panic_out_of_run_until_complete() {
    let reports = Reports::default();
    let mut lp = EventLoop::builder()
        .manual_clock()
        .stop_on_task_panic(true)
        .exception_handler(reporter(&reports))
        .build()
        .unwrap();
    let trace = Trace::new();
    let t = trace.clone();
    let _task = lp.handle().create_task(async move {
        t.push("about to panic");
        panic!("fatal task boom");
    });
    let caught = catch_unwind(AssertUnwindSafe(|| {
        lp.run_until_complete(evloop::sleep(Duration::from_secs(10)))
    }))
    .expect_err("the task's panic should resume out of run_until_complete");
    assert_eq!(panic_text(caught.as_ref()), "fatal task boom");
    assert_eq!(trace.events(), ["about to panic"]);
    // The loop is left in a usable state.
    assert!(!lp.is_running());
    assert!(evloop::try_get_running_loop().is_none());
    assert_eq!(lp.run_until_complete(async { 5 }).unwrap(), 5);
}

#[test]
fn stop_on_task_panic_resumes_out_of_run_forever_and_run_once() {
    let mut lp = EventLoop::builder().stop_on_task_panic(true).build().unwrap();
    let h = lp.handle();
    let _a = h.create_task(async { panic!("from run_once") });
    let caught = catch_unwind(AssertUnwindSafe(|| lp.run_once(Some(Duration::ZERO)))).unwrap_err();
    assert_eq!(panic_text(caught.as_ref()), "from run_once");
    let _b = h.create_task(async { panic!("from run_forever") });
    let caught = catch_unwind(AssertUnwindSafe(|| lp.run_forever())).unwrap_err();
    assert_eq!(panic_text(caught.as_ref()), "from run_forever");
}

#[test]
fn run_until_complete_propagates_a_panic_of_its_own_future() {
    let mut lp = EventLoop::new().unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        lp.run_until_complete(async {
            evloop::yield_now().await;
            panic!("main boom")
        })
    }))
    .unwrap_err();
    assert_eq!(panic_text(caught.as_ref()), "main boom");
    assert!(!lp.is_running());
    assert_eq!(lp.run_until_complete(async { 1 }).unwrap(), 1);
}

#[test]
fn panic_in_a_cancelled_futures_destructor_is_reported() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    let (mut lp, reports) = loop_with_reports();
    let task = lp.handle().create_task(async {
        let _p = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    task.cancel();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(task.cancelled());
    assert_eq!(
        reports.events(),
        [(
            "exception while dropping a cancelled task".to_owned(),
            Some("drop boom".to_owned())
        )]
    );
    assert_eq!(lp.run_until_complete(async { 2 }).unwrap(), 2);
}
