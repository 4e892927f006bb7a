//! Records the git revision for `drift_exporter_build_info{revision}` (falls back
//! to `DRIFT_EXPORTER_REVISION` from the environment, then "unknown").

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DRIFT_EXPORTER_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    let revision = std::env::var("DRIFT_EXPORTER_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=DRIFT_EXPORTER_REVISION={revision}");
}
