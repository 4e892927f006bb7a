//! Reference profiles from the command line (SPEC.md section 7): `profile`,
//! `profile show`, `check` and `serve` from the profile with the Parquet's
//! scores, and damaged profiles refused with the file and the problem named.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::util::{
    assert_gauges_match, base_config, check, check_json, reference, repo, run_binary, sample,
    wait_for_rows, wait_until, Daemon,
};

/// The default config.
fn default_config() -> std::path::PathBuf {
    repo().join("config/drift-exporter.toml")
}

/// Profiles the sample reference into `dir`, with the default config (its
/// columns and label) or without one (every column).
fn profile_sample(dir: &Path, with_config: bool) -> std::path::PathBuf {
    let out = dir.join(if with_config {
        "configured.profile"
    } else {
        "reference.profile"
    });
    let mut args = vec![
        "profile".to_string(),
        "--reference".into(),
        reference().display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if with_config {
        args.extend(["--config".into(), default_config().display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let built = run_binary(&args);
    assert_eq!(built.code, 0, "{}", built.stderr);
    assert!(built.stderr.contains("10000 rows"), "{}", built.stderr);
    out
}

#[test]
fn check_from_a_profile_prints_what_check_from_the_parquet_does() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_sample(dir.path(), true);
    let shown = run_binary(&["profile", "show", profile.to_str().unwrap()]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("rows: 10000"), "{}", shown.stdout);
    assert!(shown.stdout.contains("label: is_fraud"), "{}", shown.stdout);
    let json = run_binary(&[
        "profile",
        "show",
        profile.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let header: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(header["rows"], 10000);
    assert_eq!(header["mode"], "exact");
    // The profile is smaller than the Parquet it replaces.
    let (p, r) = (
        std::fs::metadata(&profile).unwrap().len(),
        std::fs::metadata(reference()).unwrap().len(),
    );
    assert!(p < r, "profile {p} bytes, Parquet {r}");
    // With the config it was built with (the label kept for quality), and a
    // profile of every column without one.
    let config = default_config().display().to_string();
    let plain = profile_sample(dir.path(), false);
    for current in ["batch-0002-clean.csv", "batch-0003-drifted.ndjson"] {
        let flags = ["--format", "json", "--config", config.as_str()];
        let from_parquet = check(&reference(), &sample(current), &flags);
        let from_profile = check(&profile, &sample(current), &flags);
        assert_eq!(from_profile.code, from_parquet.code, "{current}");
        assert!(from_profile.stdout.contains("\"reference_quality\""));
        assert_eq!(from_profile.stdout, from_parquet.stdout, "{current}");
        let (code_parquet, from_parquet) = check_json(&reference(), &sample(current));
        let (code_profile, from_profile) = check_json(&plain, &sample(current));
        assert_eq!(code_profile, code_parquet, "{current}");
        assert_eq!(from_profile, from_parquet, "{current}");
    }
}

#[test]
fn damaged_and_foreign_profiles_exit_two_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_sample(dir.path(), false);
    let bytes = std::fs::read(&profile).unwrap();
    let truncated = dir.path().join("truncated.profile");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let damaged = dir.path().join("damaged.profile");
    let mut flipped = bytes.clone();
    let at = flipped.len() - 100;
    flipped[at] ^= 1;
    std::fs::write(&damaged, &flipped).unwrap();
    for (path, problem) in [(&truncated, "truncated"), (&damaged, "XXH3-64")] {
        let run = check(path, &sample("batch-0002-clean.csv"), &[]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            run.stderr.contains(name) && run.stderr.contains(problem),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    // `profile show` of a Parquet file, and `profile` of a profile.
    let shown = run_binary(&["profile", "show", reference().to_str().unwrap()]);
    assert_eq!(shown.code, 2);
    assert!(shown.stderr.contains("magic"), "{}", shown.stderr);
    let again = run_binary(&[
        "profile",
        "--reference",
        profile.to_str().unwrap(),
        "--out",
        dir.path().join("x.profile").to_str().unwrap(),
    ]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already a profile"),
        "{}",
        again.stderr
    );
}

#[test]
fn serve_from_a_profile_exports_the_parquet_scores_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_sample(dir.path(), false);
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let body = std::fs::read_to_string(&config).unwrap().replace(
        &reference().display().to_string(),
        &profile.display().to_string(),
    );
    std::fs::write(&config, body).unwrap();
    let daemon = Daemon::start(&config);
    let rows = std::fs::read(sample("batch-0003-drifted.ndjson")).unwrap();
    assert_eq!(daemon.ingest("application/x-ndjson", &rows).status, 200);
    wait_for_rows(&daemon, 1200.0);
    let scrape = daemon.scrape();
    let info = scrape.value(
        "drift_reference_info",
        &[("format", "profile"), ("mode", "exact")],
    );
    assert_eq!(info, Some(1.0));
    let (_, report) = check_json(&reference(), &sample("batch-0003-drifted.ndjson"));
    assert_gauges_match(&scrape, &report);
    daemon.stop();
}

/// A wide table: `numeric` Float64 and `categorical` Utf8 columns of `rows`
/// rows, values from a seed (the numeric ones shifted by `shift`).
fn wide_batch(numeric: usize, categorical: usize, rows: usize, shift: f64) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..numeric {
        let values: Float64Array = (0..rows).map(|_| Some(next() * 10.0 + shift)).collect();
        fields.push(Field::new(format!("n{i}"), DataType::Float64, true));
        columns.push(Arc::new(values));
    }
    for i in 0..categorical {
        let values: StringArray = (0..rows)
            .map(|_| Some(format!("c{}", (next() * 7.0) as u32)))
            .collect();
        fields.push(Field::new(format!("c{i}"), DataType::Utf8, true));
        columns.push(Arc::new(values));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

#[test]
fn a_reference_of_a_thousand_columns_profiles_checks_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("wide.parquet");
    let current = dir.path().join("wide-current.parquet");
    write_parquet(&reference, &wide_batch(600, 400, 3_000, 0.0));
    let body = write_parquet(&current, &wide_batch(600, 400, 500, 1.0));
    let profile = dir.path().join("wide.profile");
    let built = run_binary(&[
        "profile",
        "--reference",
        reference.to_str().unwrap(),
        "--out",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    assert!(built.stderr.contains("1000 columns"), "{}", built.stderr);
    let (code, from_parquet) = check_json(&reference, &current);
    let (_, from_profile) = check_json(&profile, &current);
    assert_eq!(code, 1, "600 of 1,000 columns are shifted");
    assert!(
        from_parquet["dataset"]["drifted_features"]
            .as_u64()
            .unwrap()
            >= 600
    );
    assert_eq!(from_profile, from_parquet);
    assert_eq!(from_profile["features"].as_array().unwrap().len(), 1000);
    // The daemon from the profile scores all 1,000 columns.
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &crate::util::reference().display().to_string(),
        &profile.display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config);
    let response = daemon.ingest("application/vnd.apache.parquet", &body);
    assert_eq!(response.status, 200, "{}", response.text());
    let rows = |d: &Daemon| {
        d.scrape()
            .by_feature("drift_window_rows")
            .get("n0")
            .copied()
    };
    assert!(wait_until(Duration::from_secs(30), || rows(&daemon) == Some(500.0)));
    let scrape = daemon.scrape();
    assert_eq!(scrape.by_feature("drift_psi").len(), 1000);
    assert_gauges_match(&scrape, &from_parquet);
    daemon.stop();
}

#[test]
fn a_sketch_profile_states_its_bound_and_checks_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sketch.profile");
    let built = run_binary(&[
        "profile",
        "--reference",
        reference().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--sketch",
        "--sketch-k",
        "256",
    ]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let shown = run_binary(&["profile", "show", out.to_str().unwrap()]);
    assert!(shown.stdout.contains("sketch mode"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("rank-error bound"),
        "{}",
        shown.stdout
    );
    let header: serde_json::Value = serde_json::from_str(
        &run_binary(&["profile", "show", out.to_str().unwrap(), "--format", "json"]).stdout,
    )
    .unwrap();
    let bound = header["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["sketch"]["rank_error"].as_f64())
        .fold(0.0, f64::max);
    assert!(bound > 0.0, "{header}");
    let current = sample("batch-0003-drifted.ndjson");
    let (_, exact) = check_json(&reference(), &current);
    let (_, sketched) = check_json(&out, &current);
    for (e, s) in exact["features"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sketched["features"].as_array().unwrap())
    {
        if let (Some(a), Some(b)) = (e["ks_statistic"].as_f64(), s["ks_statistic"].as_f64()) {
            assert!(
                (a - b).abs() <= bound + 1.5 / 65536.0,
                "{}: {a} vs {b}",
                e["name"]
            );
        }
    }
}
