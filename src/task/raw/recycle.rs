//! Task memory, kept for the next task: each loop's cache of freed task
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
//! - A cache never holds more than [`MAX_CACHED`] bytes: past that, a block
//!   goes back to the allocator at once. Memory is therefore bounded by the
//!   largest burst of live tasks plus that much per loop.
//! - The cache belongs to the loop (its `Owner`), which is at hand wherever
//!   a block is made or its task ends, so neither needs a thread-local
//!   look-up. When the loop goes, its cache is kept for the next loop made
//!   on the same thread ([`Cache::retire`], [`Cache::for_new_loop`]: one
//!   thread-local slot, touched only then), so dropping a loop frees no
//!   cached block and a thread that makes loop after loop reuses task
//!   memory across them (`benches/teardown.rs`). A block whose memory
//!   outlives its task (a waker still held, maybe on another thread) goes
//!   straight to the allocator with [`free_uncached`].
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
/// At most this many bytes sit in one loop's cache.
pub(super) const MAX_CACHED: usize = 4 << 20;

const CLASSES: usize = LARGEST / STEP;

/// One free list per class, threaded through the free blocks themselves:
/// the first word of a cached block points to the next one of its class.
/// `!Send` (raw pointers): a loop's, on the loop's thread.
pub(super) struct Cache {
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

/// The class of a block of `layout`, if such blocks are cached.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= LARGEST && layout.align() <= ALIGN && layout.size() > 0).then(|| (layout.size() - 1) / STEP)
}

fn class_layout(class: usize) -> Layout {
    // Not aligned to cache lines: that took a spawn+join from 5.2 to 4.4 L1
    // read misses, but glibc's `memalign` behind it cost 13 % more peak
    // memory on `sleep_100k` and doubled teardown (BENCHMARKS.md).
    // Cannot fail: the size is at most `LARGEST` and `ALIGN` is a power of 2.
    Layout::from_size_align((class + 1) * STEP, ALIGN).expect("class layout")
}

thread_local! {
    /// The cache of the last loop dropped on this thread, for the next one.
    static SPARE: Cell<Option<Cache>> = const { Cell::new(None) };
}

impl Cache {
    /// A cache for a new loop: the last dropped loop's on this thread, if
    /// there is one.
    pub(super) fn for_new_loop() -> Cache {
        SPARE.try_with(Cell::take).ok().flatten().unwrap_or_else(Cache::new)
    }

    /// A dropped loop's cache: kept for the next loop on this thread, or
    /// freed if one is kept already (or the thread is exiting).
    pub(super) fn retire(self) {
        let _ = SPARE.try_with(move |spare| {
            let other = spare.replace(Some(self));
            // At most one cache waits; the other's blocks go back now.
            drop(other);
        });
    }

    pub(super) fn new() -> Cache {
        Cache {
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            bytes: Cell::new(0),
        }
    }

    /// A block that fits `layout` (size > 0): a cached one if there is one.
    /// Free it with [`Cache::free`] (of any cache) or [`free_uncached`], and
    /// the same `layout`.
    #[inline]
    pub(super) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        debug_assert!(layout.size() > 0);
        let layout = match class_of(layout) {
            Some(class) => {
                if let Some(block) = self.pop(class) {
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

    /// Takes back a block [`Cache::alloc`] returned for `layout`, its
    /// contents dropped: cached if there is room, else freed.
    ///
    /// # Safety
    ///
    /// `block` came from `alloc(layout)` (of any cache) with this `layout`,
    /// and nobody uses it any more.
    #[inline]
    pub(super) unsafe fn free(&self, block: NonNull<u8>, layout: Layout) {
        match class_of(layout) {
            Some(class) if self.push(class, block) => {}
            // SAFETY: the caller's promise.
            _ => unsafe { free_uncached(block, layout) },
        }
    }

    /// Bytes cached right now.
    #[cfg(test)]
    fn cached_bytes(&self) -> usize {
        self.bytes.get()
    }
}

/// Gives a block [`Cache::alloc`] returned for `layout` back to the
/// allocator.
///
/// # Safety
///
/// As for [`Cache::free`].
pub(super) unsafe fn free_uncached(block: NonNull<u8>, layout: Layout) {
    let layout = class_of(layout).map_or(layout, class_layout);
    // SAFETY: by the caller's promise, `block` came from `alloc`, which
    // allocated it with this layout (its class's, if it has one), and is
    // unused.
    unsafe { alloc::dealloc(block.as_ptr(), layout) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_block_is_handed_out_again_for_the_same_class() {
        let layout = Layout::from_size_align(100, 8).unwrap();
        let cache = Cache::new();
        let before = cache.cached_bytes();
        let a = cache.alloc(layout);
        // SAFETY: `a` came from `alloc(layout)` and is not used after this.
        unsafe { cache.free(a, layout) };
        assert_eq!(
            cache.cached_bytes(),
            before + 112,
            "100 bytes round up to the 112-byte class"
        );
        // Another size of the same class gets the same block.
        let other = Layout::from_size_align(97, 16).unwrap();
        let b = cache.alloc(other);
        assert_eq!(a, b);
        assert_eq!(cache.cached_bytes(), before);
        // SAFETY: `b` came from `alloc(other)` and is not used after this.
        unsafe { cache.free(b, other) };
    }

    #[test]
    fn large_or_overaligned_blocks_bypass_the_cache() {
        let cache = Cache::new();
        let before = cache.cached_bytes();
        for layout in [
            Layout::from_size_align(LARGEST + 1, 8).unwrap(),
            Layout::from_size_align(64, 64).unwrap(),
        ] {
            let block = cache.alloc(layout);
            assert_eq!(block.as_ptr() as usize % layout.align(), 0);
            // SAFETY: `block` came from `alloc(layout)` and is not used after.
            unsafe { cache.free(block, layout) };
            assert_eq!(cache.cached_bytes(), before);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "allocates 8,000 blocks")]
    fn the_cache_stops_at_its_byte_limit() {
        let cache = Cache::new();
        let layout = Layout::from_size_align(LARGEST, 8).unwrap();
        let n = MAX_CACHED / LARGEST + 10;
        let blocks: Vec<_> = (0..n).map(|_| cache.alloc(layout)).collect();
        for block in blocks {
            // SAFETY: each block came from `alloc(layout)` and is not used
            // after this.
            unsafe { cache.free(block, layout) };
        }
        assert!(cache.cached_bytes() <= MAX_CACHED);
        assert!(cache.cached_bytes() + LARGEST > MAX_CACHED, "filled up to the limit");
    }
}
