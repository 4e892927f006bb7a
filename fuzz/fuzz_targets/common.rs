//! What the body targets share: the plan they read with, and one call of
//! `data::read_bytes` that must answer for any bytes, never panic.

use drift_exporter::data::{self, ColumnPlan, Format, Kind};

/// Two columns, `x` numeric and `c` categorical (the stable targets' plan).
pub fn plan() -> ColumnPlan {
    ColumnPlan::new([
        ("x".to_string(), Kind::Numeric),
        ("c".to_string(), Kind::Categorical),
    ])
}

/// Reads `data` as a body in `format`; the answer itself is not judged.
#[allow(dead_code)] // the ndjson target checks its own answer
pub fn read(data: &[u8], format: Format) {
    let _ = data::read_bytes(bytes::Bytes::copy_from_slice(data), format, &plan(), "fuzz");
}
