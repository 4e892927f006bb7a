//! Per-segment drift end to end (`[columns] segment`, issue 12): a drift
//! confined to one segment shows on that segment's results, in `check`
//! (JSON and `--by-segment`) and on `/metrics`, and not on the others.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::Value;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::util::{
    build_profile, check, check_json_with, check_refused, merge_refused, run_binary,
    start_http_daemon, wait_until, write_config, write_parquet_file,
};

const REGIONS: [&str; 3] = ["A", "B", "C"];

/// `n` standard normal quantiles, `(i + 0.5) / n`, plus `shift`: the same
/// distribution at any `n`, so undrifted segments are quiet by construction.
fn quantiles(n: usize, shift: f64) -> Vec<f64> {
    let normal = Normal::new(0.0, 1.0).unwrap();
    (0..n)
        .map(|i| normal.inverse_cdf((i as f64 + 0.5) / n as f64) + shift)
        .collect()
}

/// Rows per region: `x` (shifted by 2 in `drifted`), `y` never shifted.
fn rows(per_region: usize, drifted: Option<&str>) -> Vec<(String, f64, f64)> {
    let mut out = Vec::new();
    for region in REGIONS {
        let shift = if Some(region) == drifted { 2.0 } else { 0.0 };
        let x = quantiles(per_region, shift);
        // y in another order than x, so the two are not correlated.
        let mut y = quantiles(per_region, 0.0);
        y.reverse();
        for (x, y) in x.into_iter().zip(y) {
            out.push((region.to_string(), x, y));
        }
    }
    out
}

fn write_reference(path: &Path, rows: &[(String, f64, f64)]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, false),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    write_parquet_file(path, &batch);
}

fn ndjson(rows: &[(String, f64, f64)]) -> Vec<u8> {
    rows.iter()
        .map(|(region, x, y)| format!("{{\"region\":\"{region}\",\"x\":{x},\"y\":{y}}}\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn a_drift_confined_to_one_segment_shows_only_there() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    write_reference(&reference, &rows(3_000, None));
    let current_rows = rows(500, Some("B"));
    let current = dir.path().join("current.ndjson");
    std::fs::write(&current, ndjson(&current_rows)).unwrap();
    let settings = "[columns]\nsegment = \"region\"\n";
    let config = write_config(dir.path(), settings);

    let report = check_json_with(&reference, &current, &config);
    let segments = report["segments"].as_array().expect("segments");
    assert_eq!(segments.len(), 3, "{segments:?}");
    let drifted = |segment: &Value, feature: &str| -> bool {
        segment["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == feature)
            .unwrap_or_else(|| panic!("no {feature}"))["drift_detected"]
            .as_bool()
            .unwrap()
    };
    for segment in segments {
        let name = segment["segment"].as_str().unwrap();
        assert_eq!(segment["current_rows"], 500, "{name}");
        assert_eq!(segment["reference_rows"], 3_000, "{name}");
        assert_eq!(drifted(segment, "x"), name == "B", "x in segment {name}");
        assert!(!drifted(segment, "y"), "y in segment {name}");
    }
    // Overall, the drift of one third of the rows is diluted but still there;
    // the table names the segment.
    let table = check(
        &reference,
        &current,
        &["-c", config.to_str().unwrap(), "--by-segment"],
    );
    assert!(table.stdout.contains("\nsegment B\n"), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains("segment A: current rows 500, drifted columns 0 of"),
        "{}",
        table.stdout
    );

    let daemon = start_http_daemon(dir.path(), &reference, settings);
    daemon.ingest_ndjson_file(&current);
    let series = |segment: &str, feature: &str| {
        [
            ("model", "e2e"),
            ("segment", segment),
            ("feature", feature),
            ("drift_type", "data"),
        ]
        .map(|(k, v)| (k, v.to_string()))
    };
    let evaluated = wait_until(Duration::from_secs(30), || {
        let labels = series("C", "y");
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        daemon.scrape().value("drift_segment_window_rows", &labels) == Some(500.0)
            && daemon
                .scrape()
                .value("drift_segment_detected", &labels)
                .is_some()
    });
    assert!(evaluated, "no per-segment evaluation of the 1,500 rows");
    let scrape = daemon.scrape();
    for region in REGIONS {
        for feature in ["x", "y"] {
            let labels = series(region, feature);
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let want = if region == "B" && feature == "x" {
                1.0
            } else {
                0.0
            };
            assert_eq!(
                scrape.value("drift_segment_detected", &labels),
                Some(want),
                "{region}/{feature}"
            );
        }
    }
    // One of B's three scored columns (region, constant within it; x; y).
    let ratio = scrape.value(
        "drift_segment_dataset_drifted_ratio",
        &[("model", "e2e"), ("segment", "B")],
    );
    assert!(
        ratio.is_some_and(|r| (r - 1.0 / 3.0).abs() < 1e-12),
        "{ratio:?}"
    );
    daemon.stop();
}

/// A profile built with `columns.segment` keeps every segment's columns, so
/// `check` from it gives the Parquet's per-segment results; a config asking
/// for segments the profile did not keep is an error naming the setting, and
/// such profiles are not merged.
#[test]
fn a_profile_keeps_the_segments_the_parquet_gives() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    write_reference(&reference, &rows(3_000, None));
    let current = dir.path().join("current.ndjson");
    std::fs::write(&current, ndjson(&rows(500, Some("B")))).unwrap();
    let config = write_config(
        dir.path(),
        "[columns]\nsegment = \"region\"\nmax_segments = 2\n",
    );
    let profile = dir.path().join("reference.profile");
    build_profile(&reference, &profile, Some(&config));
    let shown = run_binary(&["profile", "show", profile.to_str().unwrap()]);
    assert!(
        shown.stdout.contains(
            "segments of [region] (max_segments 2): A (3000 rows), B (3000 rows), __other__ (3000 rows)"
        ),
        "{}",
        shown.stdout
    );

    let from_parquet = check_json_with(&reference, &current, &config);
    let from_profile = check_json_with(&profile, &current, &config);
    let names: Vec<&str> = from_profile["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s["segment"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B", "__other__"]);
    assert_eq!(from_profile["segments"], from_parquet["segments"]);
    assert_eq!(from_profile["features"], from_parquet["features"]);

    // The daemon starts from the profile too, and flags B's x alone.
    let served = tempfile::tempdir().unwrap();
    let daemon = start_http_daemon(
        served.path(),
        &profile,
        "[columns]\nsegment = \"region\"\nmax_segments = 2\n",
    );
    daemon.ingest_ndjson_file(&current);
    let detected = |segment: &str| {
        daemon.scrape().value(
            "drift_segment_detected",
            &[
                ("model", "e2e"),
                ("segment", segment),
                ("feature", "x"),
                ("drift_type", "data"),
            ],
        )
    };
    let evaluated = wait_until(Duration::from_secs(30), || {
        ["A", "B", "__other__"]
            .iter()
            .all(|s| detected(s).is_some())
    });
    assert!(evaluated, "no per-segment scores from the profile");
    assert_eq!(
        [detected("A"), detected("B"), detected("__other__")],
        [Some(0.0), Some(1.0), Some(0.0)]
    );
    daemon.stop();

    // Other segment settings than the profile's: an error naming the setting.
    let other = tempfile::tempdir().unwrap();
    let twenty = write_config(other.path(), "[columns]\nsegment = \"region\"\n");
    check_refused(&profile, &current, &twenty, &["columns.max_segments"]);
    let by_x = write_config(other.path(), "[columns]\nsegment = \"x\"\n");
    check_refused(
        &profile,
        &current,
        &by_x,
        &["columns.segment", "[region], not [x]"],
    );
    let plain = dir.path().join("plain.profile");
    build_profile(&reference, &plain, None);
    check_refused(&plain, &current, &config, &["built without segments"]);
    merge_refused(&profile, dir.path());
}
