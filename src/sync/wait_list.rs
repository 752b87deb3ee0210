//! The FIFO list of waiters that every primitive in [`sync`](super) queues on.
//!
//! # Ground rules
//!
//! - A waiter is a node in a slab, named by its slab key ([`WaiterKey`]). The
//!   future that pushed the node owns the key: it alone removes the node, on
//!   completion or on drop. So a key is never reused while its owner holds
//!   it, and no generation counter is needed.
//! - A node is either *waiting* (linked into the FIFO, holding a waker) or
//!   *notified* (unlinked; its waker has been taken out to be woken). A node
//!   goes from waiting to notified exactly once, in FIFO order, and never
//!   back.
//! - What "notified" grants (the lock, a permit, a wake-up) is the
//!   primitive's business. The list keeps the order, the flag and, for
//!   grants that are values (a [`Queue`](super::Queue) item), a payload `P`
//!   stored in the notified node until its owner takes it.
//! - Nothing here wakes or drops a waker: every waker leaves the list as a
//!   return value, so the primitive can release its `RefCell` borrow first
//!   and only then wake (or drop) it. See [`Wakeups`].
//!
//! # Fields and who may touch them
//!
//! - `nodes`: the waiters, waiting and notified. Only [`WaitList`] methods.
//! - `head`, `tail`: the doubly linked FIFO of *waiting* nodes threaded
//!   through `nodes` (`prev`/`next` are slab keys), so a cancelled waiter in
//!   the middle unlinks in O(1).
//! - `waiting`: how many nodes are linked, kept for O(1) `has_waiting`.
//!
//! # Implementation
//!
//! An intrusive list over a slab, as tokio's `batch_semaphore` uses over raw
//! pointers, but with indices so it stays safe Rust.

use std::fmt;
use std::task::Waker;

use slab::Slab;

/// Names one waiter in a [`WaitList`]; owned by the future that pushed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaiterKey(usize);

enum Node<P> {
    Waiting {
        waker: Waker,
        prev: Option<usize>,
        next: Option<usize>,
    },
    Notified(P),
}

/// A FIFO of waiters; see the module docs. `P` is what a notification
/// carries to its waiter (`()` for most primitives).
pub(crate) struct WaitList<P = ()> {
    nodes: Slab<Node<P>>,
    head: Option<usize>,
    tail: Option<usize>,
    waiting: usize,
}

impl WaitList<()> {
    /// Marks the oldest waiting node notified and hands back its waker.
    /// `None` if nobody is waiting.
    #[must_use = "wake the returned waker after releasing the borrow"]
    pub(crate) fn notify_one(&mut self) -> Option<Waker> {
        self.notify_one_with(()).ok()
    }
}

impl<P> WaitList<P> {
    pub(crate) fn new() -> WaitList<P> {
        WaitList {
            nodes: Slab::new(),
            head: None,
            tail: None,
            waiting: 0,
        }
    }

    /// Whether any waiter is still waiting (not yet notified).
    pub(crate) fn has_waiting(&self) -> bool {
        self.waiting > 0
    }

    /// How many waiters are still waiting.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Queues a new waiter at the back.
    pub(crate) fn push_back(&mut self, waker: &Waker) -> WaiterKey {
        let prev = self.tail;
        let key = self.nodes.insert(Node::Waiting {
            waker: waker.clone(),
            prev,
            next: None,
        });
        match prev {
            Some(p) => self.set_next(p, Some(key)),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.waiting += 1;
        WaiterKey(key)
    }

    /// Whether `key` has been notified.
    pub(crate) fn is_notified(&self, key: WaiterKey) -> bool {
        matches!(self.nodes[key.0], Node::Notified(_))
    }

    /// Stores `waker` for a waiting node, returning the waker it replaces
    /// (for the caller to drop outside its borrow). No-op if notified.
    #[must_use = "drop the old waker after releasing the borrow"]
    pub(crate) fn update_waker(&mut self, key: WaiterKey, waker: &Waker) -> Option<Waker> {
        match &mut self.nodes[key.0] {
            Node::Waiting { waker: old, .. } if !old.will_wake(waker) => Some(std::mem::replace(old, waker.clone())),
            _ => None,
        }
    }

    /// Marks the oldest waiting node notified, stores `payload` in it, and
    /// hands back its waker. Gives `payload` back if nobody is waiting.
    #[must_use = "wake the returned waker after releasing the borrow"]
    pub(crate) fn notify_one_with(&mut self, payload: P) -> Result<Waker, P> {
        let Some(key) = self.head else {
            return Err(payload);
        };
        self.unlink(key);
        match std::mem::replace(&mut self.nodes[key], Node::Notified(payload)) {
            Node::Waiting { waker, .. } => Ok(waker),
            Node::Notified(_) => unreachable!("a linked node is waiting"),
        }
    }

    /// Removes `key` for good. Says whether it had been notified, with the
    /// payload (so the caller can take or pass on what the notification
    /// granted), or else gives its waker (to drop outside the borrow).
    #[must_use = "a notified waiter's grant must be taken or passed on"]
    pub(crate) fn remove(&mut self, key: WaiterKey) -> Removed<P> {
        if !self.is_notified(key) {
            self.unlink(key.0);
        }
        match self.nodes.remove(key.0) {
            Node::Waiting { waker, .. } => Removed::Waiting(waker),
            Node::Notified(payload) => Removed::Notified(payload),
        }
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = match self.nodes[key] {
            Node::Waiting { prev, next, .. } => (prev, next),
            Node::Notified(_) => unreachable!("only waiting nodes are linked"),
        };
        match prev {
            Some(p) => self.set_next(p, next),
            None => self.head = next,
        }
        match next {
            Some(n) => self.set_prev(n, prev),
            None => self.tail = prev,
        }
        if let Node::Waiting { prev, next, .. } = &mut self.nodes[key] {
            *prev = None;
            *next = None;
        }
        self.waiting -= 1;
    }

    fn set_next(&mut self, key: usize, to: Option<usize>) {
        if let Node::Waiting { next, .. } = &mut self.nodes[key] {
            *next = to;
        }
    }

    fn set_prev(&mut self, key: usize, to: Option<usize>) {
        if let Node::Waiting { prev, .. } = &mut self.nodes[key] {
            *prev = to;
        }
    }
}

impl<P> fmt::Debug for WaitList<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.waiting)
            .field("notified", &(self.nodes.len() - self.waiting))
            .finish()
    }
}

/// What [`WaitList::remove`] found.
pub(crate) enum Removed<P = ()> {
    /// The node was still waiting. Its waker is held only so that it is
    /// dropped by the caller, outside the borrow.
    Waiting(#[allow(dead_code)] Waker),
    /// The node had been notified: the caller must take or pass on its grant.
    Notified(P),
}

impl<P> Removed<P> {
    pub(crate) fn was_notified(&self) -> bool {
        matches!(self, Removed::Notified(_))
    }
}

/// Wakers collected while a primitive's state is borrowed, woken once the
/// borrow is released (a waker may run arbitrary code; it must never see the
/// state mid-update or find it borrowed). Holds one waker inline, so the
/// common single hand-off does not allocate.
#[derive(Default)]
#[must_use = "call wake() after releasing the borrow"]
pub(crate) struct Wakeups {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakeups {
    pub(crate) fn new() -> Wakeups {
        Wakeups::default()
    }

    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everything collected, in the order it was collected (FIFO).
    pub(crate) fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker;

    #[test]
    fn notify_one_is_fifo_and_skips_removed() {
        let w = noop_waker();
        let mut list = WaitList::new();
        let a = list.push_back(&w);
        let b = list.push_back(&w);
        let c = list.push_back(&w);
        assert_eq!(list.waiting(), 3);
        assert!(!list.remove(b).was_notified());
        assert!(list.notify_one().is_some());
        assert!(list.is_notified(a));
        assert!(!list.is_notified(c));
        assert!(list.notify_one().is_some());
        assert!(list.is_notified(c));
        assert!(list.notify_one().is_none());
        assert!(!list.has_waiting());
        assert!(list.remove(a).was_notified());
        assert!(list.remove(c).was_notified());
    }

    #[test]
    fn remove_head_and_tail_relinks() {
        let w = noop_waker();
        let mut list = WaitList::new();
        let a = list.push_back(&w);
        let b = list.push_back(&w);
        let c = list.push_back(&w);
        let _ = list.remove(a);
        let _ = list.remove(c);
        let d = list.push_back(&w);
        let _ = list.notify_one();
        assert!(list.is_notified(b));
        let _ = list.notify_one();
        assert!(list.is_notified(d));
        assert_eq!(list.waiting(), 0);
    }
}
