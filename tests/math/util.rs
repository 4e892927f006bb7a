//! What the math tests share: where their fixtures live.

use std::path::PathBuf;

/// A file or folder of `tests/fixtures/` (made by the scripts there).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
