//! The daemon's evaluation threads: a rayon pool of their own, one thread per
//! core, at a lower scheduling priority than the rest of the process.
//!
//! An evaluation of a large window keeps every core busy for a while (sorting
//! and placing the values that moved, the exact KS p-values). On the global
//! pool it would also queue ahead of the work ingest hands to rayon (parsing a
//! large body on both cores), and at the same priority the scheduler would
//! share the cores evenly between it, ingest and `/metrics`. On its own pool
//! at `nice` +[`NICENESS`], the cores go to ingest and scrapes first and the
//! evaluation takes what is left (with two cores busy, a scrape no longer
//! waits for a time slice behind it).

use std::sync::OnceLock;

/// How much lower the evaluation threads' priority is (`nice` steps, Linux:
/// per thread).
pub const NICENESS: i32 = 10;

static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();

/// Runs `f` on the evaluation pool (its parallel iterators use the pool's
/// threads); on the caller's pool when the pool could not be made.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match pool() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

fn pool() -> Option<&'static rayon::ThreadPool> {
    POOL.get_or_init(|| {
        let built = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("drift-evaluate-{i}"))
            .start_handler(|_| lower_priority())
            .build();
        match built {
            Ok(pool) => Some(pool),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the evaluation threads; evaluations share the ingest threads");
                None
            }
        }
    })
    .as_ref()
}

/// Lowers the calling thread's priority by [`NICENESS`]. Failure (a
/// platform without per-thread priorities, a sandbox that forbids it) only
/// means the evaluation competes as before: logged at debug.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `setpriority` takes plain integers and touches no memory
        // of ours; `who = 0` is the calling thread on Linux (priorities are
        // per thread there). No crate wraps this one call.
        let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) };
        if done != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "cannot lower an evaluation thread's priority"
            );
        }
    }
}

/// The calling thread's `nice` value (Linux), for tests.
#[cfg(all(test, target_os = "linux"))]
fn current_niceness() -> i32 {
    // SAFETY: as in `lower_priority`. `getpriority` may return -1 as a value;
    // errno is not checked because the calling thread always exists.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn evaluations_run_on_their_own_threads_at_lower_priority() {
        let caller = current_niceness();
        let (name, niceness, inner) = install(|| {
            let name = std::thread::current().name().map(str::to_string);
            // Parallel work inside runs on the same pool.
            let inner: Vec<Option<String>> =
                rayon::broadcast(|_| std::thread::current().name().map(str::to_string));
            (name, current_niceness(), inner)
        });
        assert!(name.is_some_and(|n| n.starts_with("drift-evaluate-")));
        assert!(inner.iter().all(|n| n
            .as_deref()
            .is_some_and(|n| n.starts_with("drift-evaluate-"))));
        // Lowered unless the caller already sits at the bottom (19).
        assert_eq!(niceness, (caller + NICENESS).min(19));
        assert_eq!(
            current_niceness(),
            caller,
            "the caller's priority is untouched"
        );
    }
}
