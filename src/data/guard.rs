//! Decoding untrusted Arrow IPC and Parquet bytes without panicking.
//!
//! The arrow and parquet crates trust some lengths and offsets written in the
//! data: a corrupted body can make them panic (a buffer sliced past its end;
//! the fuzz targets in tests/fuzz found one) where an error was due. Each such
//! decode runs inside [`guarded`], which turns a panic into
//! [`DataError::Invalid`] naming the input, and keeps the panic message out of
//! the log (a panic hook that stays quiet while a guarded decode runs on the
//! thread): a malformed input is the sender's problem, reported like any other
//! unreadable input, not a crash report.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use super::DataError;

thread_local! {
    /// True while this thread runs a guarded decode.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `decode` (of data from `origin`, in `format`); a panic inside it is
/// returned as an error.
pub(crate) fn guarded<T>(
    origin: &str,
    format: &str,
    decode: impl FnOnce() -> Result<T, DataError>,
) -> Result<T, DataError> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(decode));
    GUARDED.with(|g| g.set(was));
    result.unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(DataError::Invalid {
            origin: origin.to_string(),
            message: format!("malformed {format} data: the decoder gave up ({reason})"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_naming_the_input() {
        let result: Result<(), DataError> = guarded("body", "Arrow IPC", || panic!("offset 9"));
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("body")
                && message.contains("Arrow IPC")
                && message.contains("offset 9"),
            "{message}"
        );
        // Outside a guard, the thread is not marked.
        assert!(!GUARDED.with(Cell::get));
        assert_eq!(guarded("b", "x", || Ok(3)).ok(), Some(3));
    }
}
