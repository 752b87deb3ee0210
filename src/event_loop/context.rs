//! The thread-local "running loop": what `get_running_loop()`, `sleep()` and
//! local wakes find.
//!
//! # Ground rules
//!
//! - At most one loop runs on a thread at a time. [`enter`] refuses a second
//!   one with [`RunError::AlreadyRunning`]; that is how a nested
//!   `run_until_complete` is caught.
//! - The slot is set for exactly the duration of a run, and cleared by a
//!   guard, so a panic unwinding out of the loop leaves the thread clean.

use std::cell::RefCell;
use std::rc::Rc;

use super::core::Core;
use crate::RunError;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Marks `core` as this thread's running loop until the guard drops.
pub(crate) fn enter(core: &Rc<Core>) -> Result<EnterGuard, RunError> {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if current.is_some() {
            return Err(RunError::AlreadyRunning);
        }
        *current = Some(core.clone());
        show_to_layers(Some(core));
        core.instruments.run_started();
        Ok(EnterGuard { _private: () })
    })
}

/// Gives each lower layer its view of the running loop (or takes it back):
/// the task layer's `TaskHost`, time's `Timers`, the reactor's `Driver`.
fn show_to_layers(core: Option<&Rc<Core>>) {
    crate::task::set_running(core.map(|core| core.clone() as Rc<dyn crate::task::TaskHost>));
    crate::time::set_current(core.map(|core| core.time.clone()));
    crate::reactor::set_current(core.map(|core| core.io.clone()));
}

pub(crate) struct EnterGuard {
    _private: (),
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // Also when a panic unwinds out of a poll: no budget outlives a run.
        crate::task::coop::unconstrain();
        let core = CURRENT.with(|current| current.borrow_mut().take());
        show_to_layers(None);
        if let Some(core) = core {
            core.instruments.run_ended();
        }
    }
}

/// The running loop of this thread, if any.
pub(crate) fn current() -> Option<Rc<Core>> {
    CURRENT.try_with(|current| current.borrow().clone()).ok().flatten()
}

/// Runs `f` on the running loop without touching its reference count.
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| current.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// The main future woken on this thread: queues it if this thread runs its
/// loop; `false` if the wake must go through the remote queue.
pub(crate) fn wake_main_local(loop_id: u64) -> bool {
    with_current(|core| {
        let ours = core.id() == loop_id;
        if ours {
            core.wake_main(false);
        }
        ours
    })
    .unwrap_or(false)
}
