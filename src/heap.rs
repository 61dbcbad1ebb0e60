//! Giving freed memory back to the operating system.
//!
//! The scheduled passes (a digest listing thousands of open tickets, the rules
//! gauge over a week of history) allocate in bursts. glibc's allocator keeps
//! what they freed in its arenas, so an idle daemon that once rendered a large
//! digest stays as large as that moment (issue 17: 146–212 MB idle over a
//! million-ticket history). After each round of scheduled work the free pages
//! are handed back with `malloc_trim`; elsewhere (another libc) this does nothing.
//!
//! `malloc_trim` alone was not enough: glibc raises its mmap and trim thresholds
//! each time a large block is freed (up to 32 and 64 MB), so after one large
//! digest the big buffers came from the arenas, and what they left at the top of
//! a thread's arena is neither trimmed on free nor by `malloc_trim` (which gives
//! back free chunks inside an arena, not its top). Measured over a
//! 1,000,000-ticket SQLite history after the first round: 19 MB in use, 127 MB
//! resident with the trim alone, 36–42 MB with the thresholds fixed as below.

/// Keeps the daemon's heap close to what it uses: blocks of 128 KiB and more are
/// mapped on their own and unmapped when freed, and an arena's free top is given
/// back once it exceeds 128 KiB (glibc's defaults, fixed: a fixed value turns off
/// the thresholds' growth), and at most two arenas are kept: the daemon is a
/// handful of tasks on a small runtime, and each arena holds its own free memory
/// (37.9 MB resident instead of 42.1 MB over the same history). Call once, at the
/// start of a long-running process.
pub fn keep_heap_small() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the allocator's free memory to the operating system, where the
/// allocator allows it (glibc). Cheap when there is little to give back.
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own heap;
    // it takes no pointer and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
