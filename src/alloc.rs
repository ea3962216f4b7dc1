//! Keeping a long-lived worker's resident memory flat under glibc's allocator.
//!
//! glibc gives threads their own heap arenas (up to eight per core) and keeps what they
//! free for reuse; the parser threads of successive imports made a worker's resident
//! memory creep up job after job. Two arenas, and handing freed pages back after each
//! job, keep it at the level of a single import.

/// Caps glibc's heap arenas at two. Call before any other thread starts.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the pages of freed memory to the system (after a job, not on a hot path).
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that is already free.
    unsafe {
        libc::malloc_trim(0);
    }
}
