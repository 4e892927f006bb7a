//! Model quality with labels in the row: `check` on the cases of
//! `tests/fixtures/make_labels_oracle.py` (a scored binary classifier, a
//! multiclass classifier, a regressor) reports, for the current file in every
//! format and for the reference, exactly what scikit-learn computes on the
//! labelled rows (1e-9 absolute, relative above 1).

use drift_exporter::check::{check_with, load_config};
use serde_json::Value;

use crate::util::fixture;

const TOLERANCE: f64 = 1e-9;

/// Compares `got` with `want` recursively; numbers within [`TOLERANCE`].
fn compare(path: &str, got: &Value, want: &Value, errors: &mut Vec<String>) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (
                g.as_f64().unwrap_or(f64::NAN),
                w.as_f64().unwrap_or(f64::NAN),
            );
            if (g - w).abs() > TOLERANCE * w.abs().max(1.0) {
                errors.push(format!("{path}: got {g:e}, want {w:e}"));
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                compare(&format!("{path}[{i}]"), g, w, errors);
            }
        }
        (Value::Object(_), Value::Object(w)) => {
            for (key, w) in w {
                compare(&format!("{path}.{key}"), &got[key], w, errors);
            }
        }
        (g, w) if g == w => {}
        (g, w) => errors.push(format!("{path}: got {g}, want {w}")),
    }
}

/// A quality report as the oracle writes it: the row count and the metrics flat.
fn flat(report: &Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("labelled_rows".into(), report["labelled_rows"].clone());
    for part in ["classification", "regression"] {
        if let Some(metrics) = report[part].as_object() {
            out.extend(metrics.clone());
        }
    }
    Value::Object(out)
}

#[test]
fn quality_of_labelled_rows_matches_scikit_learn() {
    let mut errors = Vec::new();
    let mut compared = 0;
    for case in ["binary_score", "multiclass", "regression"] {
        let dir = fixture("labels").join(case);
        let want: Value = serde_json::from_slice(
            &std::fs::read(dir.join("expected.json")).expect("expected.json"),
        )
        .expect("expected.json is JSON");
        let config = load_config(Some(&dir.join("config.toml"))).expect("config loads");
        for format in ["parquet", "csv", "ndjson"] {
            let current = dir.join(format!("current.{format}"));
            let report = check_with(&config, &dir.join("reference.parquet"), &current)
                .unwrap_or_else(|e| panic!("{case}[{format}]: check failed: {e}"));
            let got = serde_json::to_value(&report).expect("report serialises");
            let scored_label = got["features"]
                .as_array()
                .is_some_and(|f| f.iter().any(|c| c["name"] == "label"));
            assert!(!scored_label, "{case}: the label is never scored for drift");
            for (side, key) in [("current", "quality"), ("reference", "reference_quality")] {
                assert!(got[key].is_object(), "{case}[{format}]: no {key}: {got}");
                compare(
                    &format!("{case}[{format}].{side}"),
                    &flat(&got[key]),
                    &want[side],
                    &mut errors,
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 18);
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn without_labels_no_quality_is_reported() {
    let dir = fixture("labels").join("regression");
    let config = load_config(None).expect("defaults");
    let report = check_with(
        &config,
        &dir.join("reference.parquet"),
        &dir.join("current.csv"),
    )
    .expect("check runs");
    let got = serde_json::to_value(&report).expect("report serialises");
    assert!(
        got.get("quality").is_none() && got.get("reference_quality").is_none(),
        "{got}"
    );
    // Without columns.label the label is an ordinary column, scored for drift.
    let names: Vec<&str> = got["features"]
        .as_array()
        .map(|f| f.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"label"), "{names:?}");
}
