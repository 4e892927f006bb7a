//! The web config (exporter-toolkit YAML): an error for any text, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = drift_exporter::web_config::parse(&text, std::path::Path::new("/fuzz/web.yml"));
});
