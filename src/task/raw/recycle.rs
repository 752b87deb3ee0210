//! Task memory, kept for the next task: a per-thread cache of freed task
//! blocks, by size class.
//!
//! A program that spawns short tasks in bursts frees a block for each task
//! and asks for one again a moment later. `malloc` and `free` cost about 330
//! instructions per task there (glibc's per-thread cache holds only 7 blocks
//! of a size; a burst overflows it into the arenas), more than the rest of
//! spawning and joining a task together. A block handed back here is
//! handed out again for about 20. Justified by `spawn_join` in
//! `BENCHMARKS.md`.
//!
//! # Ground rules
//!
//! - Only blocks of at most [`LARGEST`] bytes and an alignment of at most
//!   [`ALIGN`] are cached. Their size is rounded up to a multiple of
//!   [`STEP`] when they are first allocated, so every block of a class has
//!   one layout, and a cached block is handed out and finally freed with the
//!   layout it was allocated with.
//! - The cache never holds more than [`MAX_CACHED`] bytes per thread: past
//!   that, a block goes back to the allocator at once. Memory is therefore
//!   bounded by the largest burst of live tasks plus that much.
//! - The cache is thread-local (tasks live and die on their loop's thread),
//!   and is emptied when the thread exits. A block freed after that (by
//!   another thread-local's destructor) goes straight to the allocator.
//!
//! # Safety
//!
//! A block in the cache is memory nobody uses: [`free`] is called only
//! with a block [`alloc`] returned for the same layout, whose contents have
//! been dropped, and that its owner never touches again. The cache keeps
//! its free lists in those blocks (the first word of each points to the
//! next), which is why a class block is at least `STEP` bytes and aligned to
//! `ALIGN`, enough for a pointer.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::ptr::{self, NonNull};

/// Class width in bytes: a cached block's size is a multiple of it.
const STEP: usize = 16;
/// The largest block cached.
const LARGEST: usize = 512;
/// The strictest alignment cached (every class block is allocated with it).
const ALIGN: usize = 16;
/// At most this many bytes sit in one thread's cache.
pub(super) const MAX_CACHED: usize = 4 << 20;

const CLASSES: usize = LARGEST / STEP;

/// One free list per class, threaded through the free blocks themselves:
/// the first word of a cached block points to the next one of its class.
struct Cache {
    /// `heads[c]`: the last cached block of `(c + 1) * STEP` bytes, or null.
    heads: [Cell<*mut u8>; CLASSES],
    bytes: Cell<usize>,
}

impl Cache {
    /// Takes a cached block of `class`, if there is one.
    #[inline]
    fn pop(&self, class: usize) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.heads[class].get())?;
        // SAFETY: a cached block is unused memory of at least `STEP` bytes,
        // aligned to `ALIGN`, whose first word `push` wrote.
        let next = unsafe { block.cast::<*mut u8>().read() };
        self.heads[class].set(next);
        self.bytes.set(self.bytes.get() - (class + 1) * STEP);
        Some(block)
    }

    /// Caches `block` of `class`, if that keeps the cache within its limit.
    #[inline]
    fn push(&self, class: usize, block: NonNull<u8>) -> bool {
        let size = (class + 1) * STEP;
        if self.bytes.get() + size > MAX_CACHED {
            return false;
        }
        // SAFETY: `block` is unused memory of at least `STEP` bytes aligned
        // to `ALIGN` (`free`'s contract), so its first word is ours to write.
        unsafe { block.cast::<*mut u8>().write(self.heads[class].get()) };
        self.heads[class].set(block.as_ptr());
        self.bytes.set(self.bytes.get() + size);
        true
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        for class in 0..CLASSES {
            while let Some(block) = self.pop(class) {
                // SAFETY: every cached block of `class` was allocated by
                // `alloc` with `class_layout(class)` and is unused (module
                // docs); `pop` took it out, so it is freed once.
                unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
    }
}

thread_local! {
    static CACHE: Cache = const {
        Cache { heads: [const { Cell::new(ptr::null_mut()) }; CLASSES], bytes: Cell::new(0) }
    };
}

/// The class of a block of `layout`, if such blocks are cached.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= LARGEST && layout.align() <= ALIGN && layout.size() > 0).then(|| (layout.size() - 1) / STEP)
}

fn class_layout(class: usize) -> Layout {
    // Cannot fail: the size is at most `LARGEST` and `ALIGN` is a power of 2.
    Layout::from_size_align((class + 1) * STEP, ALIGN).expect("class layout")
}

/// A block that fits `layout` (size > 0): a cached one if there is one.
/// Free it with [`free`] and the same `layout`.
#[inline]
pub(super) fn alloc(layout: Layout) -> NonNull<u8> {
    debug_assert!(layout.size() > 0);
    let layout = match class_of(layout) {
        Some(class) => {
            let cached = CACHE.try_with(|cache| cache.pop(class));
            if let Ok(Some(block)) = cached {
                return block;
            }
            class_layout(class)
        }
        None => layout,
    };
    // SAFETY: `layout` has a non-zero size (a task block always holds a
    // header; asserted above).
    let block = unsafe { alloc::alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

/// Takes back a block [`alloc`] returned for `layout`, its contents
/// dropped: cached if there is room, else freed.
///
/// # Safety
///
/// `block` came from `alloc(layout)` with this `layout`, and nobody uses it
/// any more.
#[inline]
pub(super) unsafe fn free(block: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: by the caller's promise, `block` was allocated with
        // `layout` (not a class: `alloc` used it as it is) and is unused.
        unsafe { alloc::dealloc(block.as_ptr(), layout) };
        return;
    };
    let kept = CACHE.try_with(|cache| cache.push(class, block));
    if kept != Ok(true) {
        // SAFETY: by the caller's promise, `block` came from `alloc`, which
        // allocated it with `class_layout(class)`, and is unused.
        unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
    }
}

/// Bytes cached on this thread right now.
#[cfg(test)]
pub(super) fn cached_bytes() -> usize {
    CACHE.with(|cache| cache.bytes.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_block_is_handed_out_again_for_the_same_class() {
        let layout = Layout::from_size_align(100, 8).unwrap();
        let before = cached_bytes();
        let a = alloc(layout);
        // SAFETY: `a` came from `alloc(layout)` and is not used after this.
        unsafe { free(a, layout) };
        assert_eq!(cached_bytes(), before + 112, "100 bytes round up to the 112-byte class");
        // Another size of the same class gets the same block.
        let other = Layout::from_size_align(97, 16).unwrap();
        let b = alloc(other);
        assert_eq!(a, b);
        assert_eq!(cached_bytes(), before);
        // SAFETY: `b` came from `alloc(other)` and is not used after this.
        unsafe { free(b, other) };
    }

    #[test]
    fn large_or_overaligned_blocks_bypass_the_cache() {
        let before = cached_bytes();
        for layout in [
            Layout::from_size_align(LARGEST + 1, 8).unwrap(),
            Layout::from_size_align(64, 64).unwrap(),
        ] {
            let block = alloc(layout);
            assert_eq!(block.as_ptr() as usize % layout.align(), 0);
            // SAFETY: `block` came from `alloc(layout)` and is not used after.
            unsafe { free(block, layout) };
            assert_eq!(cached_bytes(), before);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "allocates 8,000 blocks")]
    fn the_cache_stops_at_its_byte_limit() {
        let layout = Layout::from_size_align(LARGEST, 8).unwrap();
        let n = MAX_CACHED / LARGEST + 10;
        let blocks: Vec<_> = (0..n).map(|_| alloc(layout)).collect();
        for block in blocks {
            // SAFETY: each block came from `alloc(layout)` and is not used
            // after this.
            unsafe { free(block, layout) };
        }
        assert!(cached_bytes() <= MAX_CACHED);
        assert!(cached_bytes() + LARGEST > MAX_CACHED, "filled up to the limit");
    }
}
