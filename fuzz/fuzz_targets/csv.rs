//! CSV bodies (`data::read_bytes`): an answer for any bytes, never a panic.
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::read(data, drift_exporter::data::Format::Csv));
