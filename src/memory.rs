//! Gives memory freed after a burst back to the operating system.
//!
//! glibc's malloc keeps freed pages in per-thread arenas: after a burst of large
//! request bodies parsed on several threads, the resident size stays near its
//! peak although the memory is free. Two glibc calls fix that, which no crate
//! wraps beyond `libc`'s declarations: `mallopt(M_ARENA_MAX)` at start-up caps
//! the arenas, and `malloc_trim(0)` after a burst returns the free pages
//! (BENCHMARKS.md and RELIABILITY.md measure both). Elsewhere (musl, other
//! systems) these are no-ops.

/// Arenas at most: enough for the ingest and evaluation threads of a small
/// machine, few enough that freed memory is not spread thin.
const MAX_ARENAS: i32 = 4;

/// Blocks at least this large get their own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 1 << 20;

/// Caps glibc's malloc arenas; call before any thread starts.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc tunable; called before other threads
    // allocate, as glibc recommends.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MAX_ARENAS);
        // A fixed threshold: blocks of 1 MiB or more (request bodies, column
        // buffers) are mapped on their own and unmapped when freed. Left
        // dynamic, glibc raises it after the first large free, and later
        // bodies land in the arenas, where they fragment.
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Returns free heap pages to the OS (takes milliseconds: run it off the
/// async workers). Returns whether memory was released.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks malloc's own free lists.
    unsafe {
        return libc::malloc_trim(0) == 1;
    }
    #[allow(unreachable_code)]
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn trimming_after_freeing_is_safe_and_repeatable() {
        super::configure();
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 256 * 1024]).collect();
        assert_eq!(blocks.iter().map(Vec::len).sum::<usize>(), 64 * 256 * 1024);
        drop(blocks);
        // Whether pages were released depends on the heap; it must not fail twice.
        let _ = super::trim();
        let _ = super::trim();
    }
}
