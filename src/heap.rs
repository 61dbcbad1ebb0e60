//! Giving freed memory back to the operating system.
//!
//! The scheduled passes (a digest listing thousands of open tickets, the rules
//! gauge over a week of history) allocate in bursts. glibc's allocator keeps
//! what they freed in its arenas, so an idle daemon that once rendered a large
//! digest stays as large as that moment (issue 17: 146–212 MB idle over a
//! million-ticket history). After each round of scheduled work the free pages
//! are handed back with `malloc_trim`; elsewhere (another libc) this does nothing.

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
