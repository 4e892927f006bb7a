//! JSON documents (`data::read_bytes`): an answer for any bytes, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plan = drift_exporter::data::ColumnPlan::new([
        ("x".to_string(), drift_exporter::data::Kind::Numeric),
        ("c".to_string(), drift_exporter::data::Kind::Categorical),
    ]);
    let _ = drift_exporter::data::read_bytes(
        bytes::Bytes::copy_from_slice(data),
        drift_exporter::data::Format::Json,
        &plan,
        "fuzz",
    );
});
