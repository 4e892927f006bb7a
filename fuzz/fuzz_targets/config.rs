//! The TOML config: an error naming the file for any text, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = drift_exporter::config::Config::from_toml(
        &text,
        std::path::Path::new("/fuzz/c.toml"),
        Vec::new(),
        &drift_exporter::config::CliOverrides::default(),
    );
});
