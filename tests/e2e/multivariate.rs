//! Multivariate drift end to end (`[multivariate]`, issue 12): a window whose
//! marginals equal the reference's while one feature's correlations are
//! reversed (the oracle fixture's "flipped_correlation" case, written here as
//! a Parquet reference and an NDJSON batch). `check --format json` and the
//! daemon's `/metrics` both give scikit-learn's reconstruction error, pandas'
//! correlation change and scikit-learn's domain-classifier AUROC, and both
//! flag it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::util::{
    build_profile, check, check_json_with, check_refused, merge_refused, repo, run_binary,
    start_http_daemon, wait_until, write_config, write_parquet_file,
};

fn case() -> Value {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/multivariate/cases.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let case = fixture["cases"][1].clone();
    assert_eq!(case["name"], "flipped_correlation");
    case
}

fn columns(v: &Value) -> Vec<Vec<Option<f64>>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_array().unwrap().iter().map(Value::as_f64).collect())
        .collect()
}

fn write_reference(path: &Path, columns: &[Vec<Option<f64>>]) {
    let fields: Vec<Field> = (0..columns.len())
        .map(|i| Field::new(format!("f{i}"), DataType::Float64, true))
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|c| Arc::new(Float64Array::from(c.clone())) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    write_parquet_file(path, &batch);
}

fn ndjson(columns: &[Vec<Option<f64>>]) -> Vec<u8> {
    let rows = columns[0].len();
    let mut out = String::new();
    for r in 0..rows {
        let row: serde_json::Map<String, Value> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("f{i}"), c[r].map_or(Value::Null, Value::from)))
            .collect();
        out.push_str(&Value::Object(row).to_string());
        out.push('\n');
    }
    out.into_bytes()
}

fn close(got: Option<f64>, want: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: missing"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: got {got}, scikit-learn/pandas {want}"
    );
}

#[test]
fn reversed_correlation_shows_in_check_and_on_metrics() {
    let case = case();
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    write_reference(&reference, &columns(&case["reference"]));
    let current = dir.path().join("current.ndjson");
    std::fs::write(&current, ndjson(&columns(&case["current"]))).unwrap();
    let settings = "[multivariate]\nenabled = true\ntop_pairs = 2\n";
    let config = write_config(dir.path(), settings);
    let want_error = case["current_error"].as_f64().unwrap();
    let top = &case["pairs"][0];
    let (a, b) = (
        format!("f{}", top["a"].as_u64().unwrap()),
        format!("f{}", top["b"].as_u64().unwrap()),
    );
    let want_change = top["change"].as_f64().unwrap();

    let report = check_json_with(&reference, &current, &config);
    let m = &report["multivariate"];
    close(
        m["reconstruction_error"].as_f64(),
        want_error,
        "check error",
    );
    close(
        m["upper"].as_f64(),
        case["upper"].as_f64().unwrap(),
        "check upper",
    );
    assert_eq!(m["drifted"], true);
    assert_eq!(m["components"], case["components_kept"]);
    assert_eq!(m["correlation_pairs"].as_array().unwrap().len(), 2);
    assert_eq!(m["correlation_pairs"][0]["feature_a"], a.as_str());
    assert_eq!(m["correlation_pairs"][0]["feature_b"], b.as_str());
    close(
        m["max_correlation_change"].as_f64(),
        want_change.abs(),
        "check max change",
    );
    let want_auroc = case["domain_auroc"].as_f64().unwrap();
    close(
        m["domain_classifier_auroc"].as_f64(),
        want_auroc,
        "check domain AUROC",
    );
    // Every marginal is the reference's: no univariate test flags a column.
    let flagged: Vec<&str> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drift_detected"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(flagged.is_empty(), "univariate tests flagged {flagged:?}");
    // The table says it too.
    let table = check(&reference, &current, &["-c", config.to_str().unwrap()]);
    assert!(table.stdout.contains("drift: YES"), "{}", table.stdout);
    assert!(
        table.stdout.contains(&format!("correlation {a} ~ {b}")),
        "{}",
        table.stdout
    );

    let daemon = start_http_daemon(dir.path(), &reference, settings);
    let rows = case["current"][0].as_array().unwrap().len() as f64;
    daemon.ingest_ndjson_file(&current);
    let model = [("model", "e2e")];
    let evaluated = wait_until(Duration::from_secs(30), || {
        daemon.scrape().value("drift_multivariate_rows", &model) == Some(rows)
    });
    assert!(evaluated, "no multivariate evaluation of the {rows} rows");
    let scrape = daemon.scrape();
    close(
        scrape.value("drift_multivariate_reconstruction_error", &model),
        want_error,
        "metrics error",
    );
    close(
        scrape.value("drift_multivariate_reconstruction_error_lower", &model),
        case["lower"].as_f64().unwrap(),
        "metrics lower",
    );
    assert_eq!(
        scrape.value("drift_multivariate_drift_detected", &model),
        Some(1.0)
    );
    close(
        scrape.value(
            "drift_multivariate_correlation_change",
            &[("model", "e2e"), ("feature_a", &a), ("feature_b", &b)],
        ),
        want_change,
        "metrics pair change",
    );
    close(
        scrape.value("drift_multivariate_domain_auroc", &model),
        want_auroc,
        "metrics domain AUROC",
    );
    close(
        scrape.value("drift_multivariate_correlation_change_max", &model),
        want_change.abs(),
        "metrics max change",
    );
    daemon.stop();
}

/// A profile built with `[multivariate] enabled` keeps the rows the reference
/// side is fitted on, so `check` from it gives the Parquet's multivariate
/// report, also for fewer features than it kept; a profile without those
/// rows, or kept with another `max_reference_rows`, is refused naming the
/// setting, and such profiles are not merged.
#[test]
fn a_profile_keeps_the_rows_multivariate_drift_is_fitted_on() {
    let case = case();
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    let reference_columns = columns(&case["reference"]);
    let rows = reference_columns[0].len();
    write_reference(&reference, &reference_columns);
    let current = dir.path().join("current.ndjson");
    std::fs::write(&current, ndjson(&columns(&case["current"]))).unwrap();
    // Every second row is fitted on: the profile keeps those.
    let half = rows.div_ceil(2);
    let config = write_config(
        dir.path(),
        &format!("[multivariate]\nenabled = true\nmax_reference_rows = {half}\n"),
    );
    let profile = dir.path().join("reference.profile");
    build_profile(&reference, &profile, Some(&config));
    let shown = run_binary(&["profile", "show", profile.to_str().unwrap()]);
    assert!(
        shown.stdout.contains(&format!(
            "multivariate: {half} rows (one reference row in 2, max_reference_rows {half})"
        )),
        "{}",
        shown.stdout
    );
    let from_parquet = check_json_with(&reference, &current, &config);
    let from_profile = check_json_with(&profile, &current, &config);
    assert!(from_parquet["multivariate"]["reconstruction_error"].is_f64());
    assert_eq!(from_profile["multivariate"], from_parquet["multivariate"]);

    // Fewer features than the profile kept: the same as the Parquet's.
    let other = tempfile::tempdir().unwrap();
    let fewer = write_config(
        other.path(),
        &format!("[columns]\nignore = [\"f0\"]\n[multivariate]\nenabled = true\nmax_reference_rows = {half}\n"),
    );
    let from_parquet = check_json_with(&reference, &current, &fewer);
    let from_profile = check_json_with(&profile, &current, &fewer);
    assert!(!from_profile["multivariate"]["features"]
        .as_array()
        .unwrap()
        .contains(&Value::from("f0")));
    assert_eq!(from_profile["multivariate"], from_parquet["multivariate"]);

    // Another stride, or no rows kept: refused, naming the setting.
    let every_row = write_config(
        other.path(),
        &format!("[multivariate]\nenabled = true\nmax_reference_rows = {rows}\n"),
    );
    check_refused(
        &profile,
        &current,
        &every_row,
        &["multivariate.max_reference_rows"],
    );
    let plain = dir.path().join("plain.profile");
    build_profile(&reference, &plain, None);
    check_refused(&plain, &current, &config, &["multivariate.enabled"]);
    merge_refused(&profile, dir.path());
}

/// Rows of the fixture's features per region: `(region, columns)` blocks.
fn write_segmented(path: &Path, blocks: &[(&str, &[Vec<Option<f64>>])]) {
    let features = blocks[0].1.len();
    let mut fields = vec![Field::new("region", DataType::Utf8, false)];
    fields.extend((0..features).map(|i| Field::new(format!("f{i}"), DataType::Float64, true)));
    let region: Vec<&str> = blocks
        .iter()
        .flat_map(|(name, columns)| std::iter::repeat_n(*name, columns[0].len()))
        .collect();
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(arrow::array::StringArray::from(region))];
    for i in 0..features {
        let values: Vec<Option<f64>> = blocks
            .iter()
            .flat_map(|(_, columns)| columns[i].iter().copied())
            .collect();
        arrays.push(Arc::new(Float64Array::from(values)));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    write_parquet_file(path, &batch);
}

/// The same blocks as NDJSON lines with a `region` field.
fn segmented_ndjson(blocks: &[(&str, &[Vec<Option<f64>>])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (region, columns) in blocks {
        for line in String::from_utf8(ndjson(columns)).unwrap().lines() {
            let mut row: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            row.insert("region".into(), Value::from(*region));
            out.extend_from_slice(Value::Object(row).to_string().as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// With `[columns] segment`, each segment has its own multivariate reference:
/// a correlation reversed in one segment's rows only (the fixture's flipped
/// rows in B, the reference's own rows in A and C) raises that segment's
/// multivariate signals, in `check` (from the Parquet and from its profile)
/// and as `drift_segment_multivariate_*` on `/metrics`, and not the others'.
#[test]
fn a_correlation_reversed_in_one_segment_shows_on_that_segment_only() {
    let case = case();
    let (reference_rows, flipped) = (columns(&case["reference"]), columns(&case["current"]));
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    write_segmented(
        &reference,
        &[
            ("A", &reference_rows),
            ("B", &reference_rows),
            ("C", &reference_rows),
        ],
    );
    let current_blocks: [(&str, &[Vec<Option<f64>>]); 3] = [
        ("A", &reference_rows),
        ("B", &flipped),
        ("C", &reference_rows),
    ];
    let current = dir.path().join("current.ndjson");
    std::fs::write(&current, segmented_ndjson(&current_blocks)).unwrap();
    let settings = "[columns]\nsegment = \"region\"\n[multivariate]\nenabled = true\n";
    let config = write_config(dir.path(), settings);

    let report = check_json_with(&reference, &current, &config);
    let drifted: Vec<(String, bool)> = report["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| {
            let m = &s["multivariate"];
            assert!(m["reconstruction_error"].is_f64(), "{s}");
            (
                s["segment"].as_str().unwrap().to_string(),
                m["drifted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        drifted,
        [("A".into(), false), ("B".into(), true), ("C".into(), false)]
    );
    // B's error is the fixture's (scikit-learn's): its reference is B's rows.
    let b = &report["segments"][1]["multivariate"];
    close(
        b["reconstruction_error"].as_f64(),
        case["current_error"].as_f64().unwrap(),
        "segment B's error",
    );

    let profile = dir.path().join("reference.profile");
    build_profile(&reference, &profile, Some(&config));
    let from_profile = check_json_with(&profile, &current, &config);
    assert_eq!(from_profile["segments"], report["segments"]);

    let daemon = start_http_daemon(dir.path(), &reference, settings);
    daemon.ingest_ndjson_file(&current);
    let detected = |segment: &str| {
        daemon.scrape().value(
            "drift_segment_multivariate_drift_detected",
            &[("model", "e2e"), ("segment", segment)],
        )
    };
    let evaluated = wait_until(Duration::from_secs(30), || {
        ["A", "B", "C"].iter().all(|s| detected(s).is_some())
    });
    assert!(evaluated, "no per-segment multivariate series");
    assert_eq!(
        [detected("A"), detected("B"), detected("C")],
        [Some(0.0), Some(1.0), Some(0.0)]
    );
    let rows = daemon.scrape().value(
        "drift_segment_multivariate_rows",
        &[("model", "e2e"), ("segment", "B")],
    );
    assert_eq!(rows, Some(flipped[0].len() as f64));
    daemon.stop();
}
