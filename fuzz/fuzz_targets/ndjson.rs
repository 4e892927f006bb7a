//! NDJSON bodies: never a panic, and every line accounted for as a row or a dropped row.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plan = common::plan();
    let batch = drift_exporter::data::read_ndjson(data, &plan, "fuzz", 1)
        .expect("NDJSON never fails whole");
    // Every non-blank line is a row or a dropped row.
    let lines = data
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .count() as u64;
    assert_eq!(batch.rows as u64 + batch.rejects.dropped_rows, lines);
});
