//! Oracle tests: every score of `check` equals the numpy/scipy values computed by
//! `tests/fixtures/make_oracle.py` (committed outputs under tests/fixtures/oracle/):
//! 1e-9 absolute for PSI, KL, KS statistic and ratios, 1e-6 for p-values, for every
//! case and every current format (Parquet, Arrow IPC, CSV, NDJSON).

use std::path::{Path, PathBuf};

use drift_exporter::check::run_check;
use serde_json::Value;

use crate::util::fixture;

const EXACT: f64 = 1e-9;
const PVALUE: f64 = 1e-6;

fn oracle_dir() -> PathBuf {
    fixture("oracle")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(oracle_dir())
        .expect("tests/fixtures/oracle exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "expected the oracle cases, found {cases:?}"
    );
    cases
}

fn compare_number(what: &str, got: &Value, want: &Value, tolerance: f64, errors: &mut Vec<String>) {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => {
            if (g - w).abs() > tolerance {
                errors.push(format!(
                    "{what}: got {g:e}, want {w:e} (diff {:e})",
                    (g - w).abs()
                ));
            }
        }
        (None, None) if got.is_null() && want.is_null() => {}
        _ => errors.push(format!("{what}: got {got}, want {want}")),
    }
}

fn compare_report(case: &str, got: &Value, want: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    for key in ["reference_rows", "current_rows"] {
        if got[key] != want[key] {
            errors.push(format!(
                "{case}: {key}: got {}, want {}",
                got[key], want[key]
            ));
        }
    }
    let got_features = got["features"].as_array().cloned().unwrap_or_default();
    let want_features = want["features"].as_array().cloned().unwrap_or_default();
    let names = |f: &[Value]| f.iter().map(|x| x["name"].to_string()).collect::<Vec<_>>();
    if names(&got_features) != names(&want_features) {
        errors.push(format!(
            "{case}: features: got {:?}, want {:?}",
            names(&got_features),
            names(&want_features)
        ));
        return errors;
    }
    for (g, w) in got_features.iter().zip(&want_features) {
        let name = format!("{case}/{}", w["name"].as_str().unwrap_or("?"));
        for key in ["drift_type", "kind", "rows", "drift_detected"] {
            if g[key] != w[key] {
                errors.push(format!("{name}: {key}: got {}, want {}", g[key], w[key]));
            }
        }
        for key in [
            "missing_ratio",
            "psi",
            "kl_divergence",
            "js_distance",
            "hellinger_distance",
            "ks_statistic",
            "out_of_range_ratio",
            "unseen_category_ratio",
        ] {
            compare_number(
                &format!("{name}: {key}"),
                &g[key],
                &w[key],
                EXACT,
                &mut errors,
            );
        }
        // Values above 1 (a distance in the column's units) relative, 1e-9.
        for key in ["wasserstein_distance", "wasserstein_distance_normed"] {
            let scale = w[key].as_f64().map_or(1.0, |v| v.abs().max(1.0));
            compare_number(
                &format!("{name}: {key}"),
                &g[key],
                &w[key],
                EXACT * scale,
                &mut errors,
            );
        }
        for key in [
            "ks_pvalue",
            "chi2_pvalue",
            "psi_pvalue",
            "ks_pvalue_adjusted",
            "chi2_pvalue_adjusted",
            "psi_pvalue_adjusted",
        ] {
            compare_number(
                &format!("{name}: {key}"),
                &g[key],
                &w[key],
                PVALUE,
                &mut errors,
            );
        }
    }
    for key in ["drifted_features", "features", "drift_detected"] {
        if got["dataset"][key] != want["dataset"][key] {
            errors.push(format!(
                "{case}: dataset.{key}: got {}, want {}",
                got["dataset"][key], want["dataset"][key]
            ));
        }
    }
    for key in ["drifted_ratio", "drifted_weighted_ratio"] {
        compare_number(
            &format!("{case}: dataset.{key}"),
            &got["dataset"][key],
            &want["dataset"][key],
            EXACT,
            &mut errors,
        );
    }
    errors
}

/// The case's name, its JSON file `file`, and `check`'s report on its current
/// file in `extension` (with the case's config, if it has one).
fn run_case(case: &Path, file: &str, extension: &str) -> (String, Value, Value) {
    let name = case
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_string();
    let want: Value = serde_json::from_slice(
        &std::fs::read(case.join(file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}")),
    )
    .unwrap_or_else(|e| panic!("{name}/{file} is not JSON: {e}"));
    let config = case.join("config.toml");
    let config = config.is_file().then_some(config);
    let current = case.join(format!("current.{extension}"));
    let report = run_check(&case.join("reference.parquet"), &current, config.as_deref())
        .unwrap_or_else(|e| panic!("{name}: check failed: {e}"));
    let got = serde_json::to_value(&report).expect("report serialises");
    (name, want, got)
}

fn check_format(extension: &str) {
    let mut errors = Vec::new();
    for case in cases() {
        let (name, want, got) = run_case(&case, "expected.json", extension);
        errors.extend(compare_report(&format!("{name}[{extension}]"), &got, &want));
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn parquet_current_matches_scipy() {
    check_format("parquet");
}

/// `check` reads a Parquet current file column by column on every core and an
/// Arrow IPC one row batch by row batch: the same rows give the same report,
/// to the bit, in every case (missing columns, non-finite values, unseen
/// categories included).
#[test]
fn parquet_read_by_column_equals_arrow_ipc_read_by_rows() {
    let mut cases_seen = 0;
    for case in cases() {
        let (name, _, by_column) = run_case(&case, "expected.json", "parquet");
        let (_, _, by_rows) = run_case(&case, "expected.json", "arrow");
        assert_eq!(by_column, by_rows, "{name}");
        cases_seen += 1;
    }
    assert!(cases_seen >= 5, "only {cases_seen} cases");
}

#[test]
fn arrow_ipc_current_matches_scipy() {
    check_format("arrow");
}

#[test]
fn csv_current_matches_scipy() {
    check_format("csv");
}

#[test]
fn ndjson_current_matches_scipy() {
    check_format("ndjson");
}

/// `outlier_ratio` and `reference_outlier_ratio` of every numeric column equal numpy's (see
/// tests/fixtures/make_outlier_oracle.py), in every current format.
#[test]
fn outlier_ratios_match_numpy() {
    let mut errors = Vec::new();
    let mut compared = 0;
    for case in cases() {
        for extension in ["parquet", "arrow", "csv", "ndjson"] {
            let (name, want, got) = run_case(&case, "outliers.json", extension);
            let features = got["features"].as_array().cloned().unwrap_or_default();
            for feature in features.iter().filter(|f| f["kind"] == "numeric") {
                let column = feature["name"].as_str().unwrap_or("?");
                for (key, side) in [
                    ("outlier_ratio", "current"),
                    ("reference_outlier_ratio", "reference"),
                ] {
                    compare_number(
                        &format!("{name}[{extension}]/{column}: {key}"),
                        &feature[key],
                        &want[side][column],
                        EXACT,
                        &mut errors,
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 160, "only {compared} values compared");
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// Adjusted p-values equal statsmodels' `multipletests` (fdr_bh and
/// bonferroni) on the same p-values, to the last bits (1e-15 relative).
#[test]
fn adjusted_pvalues_equal_statsmodels() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multitest.json");
    let text = std::fs::read_to_string(&path).expect("tests/fixtures/multitest.json");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("multitest JSON");
    assert_eq!(cases.len(), 5);
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .expect("an array")
            .iter()
            .map(|x| x.as_f64().expect("a number"))
            .collect()
    };
    let mut errors = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let p = floats(&case["pvalues"]);
        for (method, got) in [
            ("fdr_bh", drift_exporter::stats::multitest::fdr_bh(&p)),
            (
                "bonferroni",
                drift_exporter::stats::multitest::bonferroni(&p),
            ),
        ] {
            let want = floats(&case[method]);
            assert_eq!(got.len(), want.len());
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                if (g - w).abs() > 1e-15 * w.abs().max(f64::MIN_POSITIVE) {
                    errors.push(format!("case {i} {method}[{j}]: got {g:e}, want {w:e}"));
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
