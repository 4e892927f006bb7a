//! `drift-exporter check` as a user runs it: exit codes 0/1/2, errors that name the
//! file and the problem, and no panic on the awkward inputs of issue 3 (empty
//! files, zero rows, all-null and constant columns, columns on one side only,
//! non-UTF-8 CSV, NaN/Inf).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::util::{binary, check, reference, repo, sample};

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

fn small_batch(x: Vec<Option<f64>>, c: Vec<Option<&str>>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("c", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(x)),
        Arc::new(StringArray::from(c)),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[test]
fn drifted_file_exits_one_and_clean_file_zero() {
    let drifted = check(&reference(), &sample("batch-0003-drifted.ndjson"), &[]);
    assert_eq!(drifted.code, 1, "{}", drifted.stderr);
    assert!(
        drifted.stdout.contains("dataset drift: YES"),
        "{}",
        drifted.stdout
    );
    for header in [
        "name",
        "type",
        "kind",
        "rows",
        "psi",
        "psi_p",
        "kl",
        "js",
        "hellinger",
        "wass",
        "wass_n",
        "ks_stat",
        "ks_p",
        "chi2_p",
        "drift",
    ] {
        assert!(
            drifted.stdout.lines().next().unwrap().contains(header),
            "table header lacks {header}"
        );
    }
    // Every row has a cell under every header.
    let widths: Vec<usize> = drifted
        .stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().count())
        .collect();
    assert!(
        widths.len() > 1 && widths.iter().all(|&w| w == widths[0]),
        "{}",
        drifted.stdout
    );
    let clean = check(
        &reference(),
        &sample("batch-0001-clean.parquet"),
        &["--format", "json"],
    );
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let json: serde_json::Value = serde_json::from_str(&clean.stdout).expect("JSON output");
    assert_eq!(json["dataset"]["drift_detected"], false);
    // Seven features, the prediction, and the label is_fraud (without columns.label,
    // a column like any other).
    assert_eq!(json["features"].as_array().unwrap().len(), 9);
}

#[test]
fn missing_and_unsupported_files_exit_two_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = check(&reference(), &dir.path().join("nope.csv"), &[]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.csv"), "{}", missing.stderr);
    let txt = dir.path().join("batch.txt");
    std::fs::write(&txt, "x\n1\n").unwrap();
    let unsupported = check(&reference(), &txt, &[]);
    assert_eq!(unsupported.code, 2);
    assert!(
        unsupported.stderr.contains("batch.txt") && unsupported.stderr.contains("unsupported"),
        "{}",
        unsupported.stderr
    );
    let bad_ref = check(
        &dir.path().join("ref.parquet"),
        &sample("batch-0001-clean.parquet"),
        &[],
    );
    assert_eq!(bad_ref.code, 2);
    assert!(bad_ref.stderr.contains("ref.parquet"), "{}", bad_ref.stderr);
}

#[test]
fn empty_and_truncated_files_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "empty.csv",
        "empty.ndjson",
        "empty.json",
        "empty.parquet",
        "empty.arrow",
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"").unwrap();
        let run = check(&reference(), &path, &[]);
        assert!(
            run.code == 0 || run.code == 2,
            "{name}: exit {} {}",
            run.code,
            run.stderr
        );
        if run.code == 2 {
            assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
        }
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    }
    let parquet = std::fs::read(sample("batch-0001-clean.parquet")).unwrap();
    let truncated = dir.path().join("truncated.parquet");
    std::fs::write(&truncated, &parquet[..parquet.len() / 3]).unwrap();
    let run = check(&reference(), &truncated, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("truncated.parquet") && run.stderr.contains("Parquet"),
        "{}",
        run.stderr
    );
}

#[test]
fn zero_rows_all_null_and_constant_columns_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.parquet");
    write_parquet(
        &reference,
        &small_batch(
            (0..50).map(|i| Some(i as f64)).collect(),
            (0..50)
                .map(|i| Some(if i % 2 == 0 { "a" } else { "b" }))
                .collect(),
        ),
    );
    let zero = dir.path().join("zero.parquet");
    write_parquet(&zero, &small_batch(vec![], vec![]));
    let run = check(&reference, &zero, &["--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["current_rows"], 0);
    assert!(json["features"][0]["psi"].is_null());
    assert_eq!(json["dataset"]["features"], 0);

    let nulls = dir.path().join("nulls.parquet");
    write_parquet(&nulls, &small_batch(vec![None; 5], vec![Some("a"); 5]));
    let run = check(&reference, &nulls, &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["features"][0]["missing_ratio"], 1.0);
    assert!(json["features"][0]["psi"].is_null());
    assert!(json["features"][1]["psi"].as_f64().is_some());

    let constant = dir.path().join("constant.parquet");
    write_parquet(
        &constant,
        &small_batch(vec![Some(7.0); 20], vec![Some("a"); 20]),
    );
    let run = check(&reference, &constant, &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["features"][0]["ks_statistic"]
            .as_f64()
            .map(|d| d > 0.5),
        Some(true)
    );

    // A reference with no rows cannot be profiled: exit 2 with a reason.
    let empty_ref = dir.path().join("empty-ref.parquet");
    write_parquet(&empty_ref, &small_batch(vec![], vec![]));
    let run = check(&empty_ref, &constant, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no rows"), "{}", run.stderr);
}

#[test]
fn columns_on_one_side_only_and_bad_values_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("odd.csv");
    // `extra` is not in the reference; most reference columns are absent; bad bytes,
    // a word in a numeric column and NaN/Inf are rejected values.
    let mut body = b"amount,extra,country\n".to_vec();
    for i in 0..200 {
        body.extend_from_slice(format!("{}.5,zz,US\n", i % 50).as_bytes());
    }
    body.extend_from_slice(b"\xff\xfe,zz,\xc3\x28\nlots,zz,DE\nNaN,zz,FR\ninf,zz,FR\n");
    std::fs::write(&csv, body).unwrap();
    let run = check(&reference(), &csv, &["--format", "json"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
    let features = json["features"].as_array().unwrap();
    let by_name = |n: &str| features.iter().find(|f| f["name"] == n).unwrap().clone();
    assert_eq!(json["current_rows"], 204);
    assert_eq!(
        by_name("age")["missing_ratio"],
        1.0,
        "absent column = all missing"
    );
    assert!(by_name("age")["psi"].is_null());
    assert!(by_name("amount")["psi"].as_f64().is_some());
    assert!(
        !features.iter().any(|f| f["name"] == "extra"),
        "extra columns are ignored"
    );
    assert!(
        run.stderr.contains("rejected"),
        "the rejections are reported: {}",
        run.stderr
    );
}

/// Runs `drift-exporter validate-config --config <config>`.
fn validate_config(config: impl AsRef<Path>) -> std::process::Output {
    Command::new(binary())
        .args(["validate-config", "--config"])
        .arg(config.as_ref())
        .output()
        .expect("drift-exporter runs")
}

#[test]
fn validate_config_accepts_the_default_and_names_bad_keys() {
    let ok = validate_config(repo().join("config/drift-exporter.toml"));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[reference]\npath = \"x.parquet\"\n\n[window]\nsize = 10\nsizes = 3\n",
    )
    .unwrap();
    let out = validate_config(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("bad.toml") && stderr.contains("sizes") && stderr.contains("line 6"),
        "{stderr}"
    );
    // A valid file whose reference is missing names the reference.
    let missing = dir.path().join("missing.toml");
    std::fs::write(&missing, "[reference]\npath = \"nowhere.parquet\"\n").unwrap();
    let out = validate_config(&missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere.parquet"));
}

#[test]
fn the_spec_example_config_validates_against_the_sample_reference() {
    // SPEC.md section 3, verbatim but for the paths: its `ignore` names `id` and
    // `timestamp`, which the sample reference lacks; that is logged, not fatal.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spec.toml");
    let body = r#"
[server]
listen = "0.0.0.0:9877"

[model]
name = "fraud-detector"          # the `model` label on every series
version = "2026-11-01"           # optional; exported in drift_model_info

[reference]
path = "REFERENCE"

[columns]                        # all optional: by default every reference column is a feature,
prediction = ["prediction"]      # kind from its Arrow type (numbers numeric, strings/bools categorical)
categorical = ["country"]        # force a kind
ignore = ["id", "timestamp"]

[window]
size = 10000                     # sliding window: the last N rows
# duration = "1h"                # or a time window (rows with their arrival time or a timestamp column)
min_rows = 100                   # below this no scores are exported (only window rows)

[drift]
bins = 10
binning = "quantile"              # or "uniform"
epsilon = 1e-4
max_categories = 50
[drift.thresholds]
psi = 0.2
kl_divergence = 0.1
ks_pvalue = 0.05
chi2_pvalue = 0.05
drifted_ratio = 0.5

[[sources]]
type = "directory"               # new files in a folder: .parquet .arrow .ipc .csv .ndjson .jsonl
path = "data/incoming"
[[sources]]
type = "tail"                    # a JSON-lines file that grows; follows rotation and truncation
path = "/var/log/model/predictions.jsonl"
[[sources]]
type = "http"                    # POST /ingest on the server's address
"#
    .replace("REFERENCE", &reference().display().to_string());
    std::fs::write(&config, body).unwrap();
    let out = validate_config(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        // The sample's 8 columns and its label is_fraud (SPEC's example names no label).
        String::from_utf8_lossy(&out.stdout).contains("9 scored columns"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("`id` is not in the reference"), "{stderr}");
    // A name that changes what is measured must exist.
    std::fs::write(
        &config,
        format!(
            "[reference]\npath = \"{}\"\n[columns]\ncategorical = [\"contry\"]\n",
            reference().display()
        ),
    )
    .unwrap();
    let out = validate_config(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("columns.categorical") && stderr.contains("contry"),
        "{stderr}"
    );
}

#[test]
fn a_timestamp_column_is_read_but_never_scored_by_check() {
    // The drifted sample with a `ts` field (one of them unreadable): with
    // `columns.timestamp = "ts"` the report is the same as without, and the bad
    // timestamp is named.
    let dir = tempfile::tempdir().unwrap();
    let sample = sample("batch-0003-drifted.ndjson");
    let stamped: String = std::fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let ts = if i == 3 {
                "\"not a time\"".to_string()
            } else {
                format!("\"2026-11-23T08:{:02}:00Z\"", i % 60)
            };
            format!(
                "{}, \"ts\": {ts}}}\n",
                line.trim_end().trim_end_matches('}')
            )
        })
        .collect();
    let current = dir.path().join("stamped.ndjson");
    std::fs::write(&current, stamped).unwrap();
    let config = dir.path().join("ts.toml");
    std::fs::write(
        &config,
        format!(
            "[reference]\npath = \"{}\"\n[columns]\ntimestamp = \"ts\"\n",
            reference().display()
        ),
    )
    .unwrap();
    let with = check(
        &reference(),
        &current,
        &["--format", "json", "--config", config.to_str().unwrap()],
    );
    let without = check(&reference(), &sample, &["--format", "json"]);
    assert_eq!(with.code, without.code, "{}", with.stderr);
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&with.stdout).expect("JSON output"),
        serde_json::from_str(&without.stdout).expect("JSON output"),
    );
    assert_eq!(a["features"], b["features"]);
    assert!(
        with.stderr.contains("line 4") && with.stderr.contains("`ts`"),
        "{}",
        with.stderr
    );
}
