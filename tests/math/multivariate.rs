//! The multivariate signals against scikit-learn and pandas
//! (`tests/fixtures/make_multivariate_oracle.py`): the imputer's means, the
//! scaler, the explained variance ratios and components kept, every reference
//! chunk's reconstruction error, the bounds, the window's error, and every
//! pair's correlation change in rank order, each within 1e-9 (relative above 1).

use drift_exporter::stats::classifier::{domain_scores, folds_for};
use drift_exporter::stats::multivariate::{
    MultivariateReference, MultivariateSettings, CLASSIFIER_FOLDS, CLASSIFIER_SEED,
};
use ndarray::Array2;
use serde_json::Value;

fn close(got: f64, want: f64, what: &str) {
    // null in the fixture (NaN here): undefined on both sides.
    if want.is_nan() {
        assert!(got.is_nan(), "{what}: got {got:e}, scikit-learn undefined");
        return;
    }
    let tolerance = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got:e}, scikit-learn {want:e}"
    );
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn columns(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("columns").iter().map(floats).collect()
}

#[test]
fn equals_scikit_learn_and_pandas() {
    let text = std::fs::read_to_string("tests/fixtures/multivariate/cases.json")
        .expect("the fixture (make_multivariate_oracle.py)");
    let fixture: Value = serde_json::from_str(&text).expect("JSON");
    let cases = fixture["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let reference = columns(&case["reference"]);
        let current = columns(&case["current"]);
        let features: Vec<String> = (0..reference.len()).map(|i| format!("f{i}")).collect();
        let settings = MultivariateSettings {
            variance_share: case["share"].as_f64().expect("share"),
            chunks: case["chunks"].as_u64().expect("chunks") as usize,
            classifier_rows: 5_000,
        };
        let fitted = MultivariateReference::fit(features, &reference, &settings)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (what, got, want) in [
            ("means", &fitted.means, floats(&case["means"])),
            ("scales", &fitted.scales, floats(&case["scales"])),
            (
                "explained variance ratio",
                &fitted.explained_variance_ratio,
                floats(&case["explained_variance_ratio"]),
            ),
            (
                "chunk errors",
                &fitted.chunk_errors,
                floats(&case["chunk_errors"]),
            ),
        ] {
            // scikit-learn keeps the ratios of the kept components only.
            let got = if what == "explained variance ratio" {
                &got[..want.len().min(got.len())]
            } else {
                &got[..]
            };
            assert_eq!(got.len(), want.len(), "{name}: {what}");
            for (g, w) in got.iter().zip(&want) {
                close(*g, *w, &format!("{name}: {what}"));
            }
        }
        assert_eq!(
            fitted.components_kept as u64,
            case["components_kept"].as_u64().expect("kept"),
            "{name}"
        );
        close(
            fitted.reference_error,
            case["reference_error"].as_f64().unwrap(),
            name,
        );
        close(fitted.lower, case["lower"].as_f64().unwrap(), name);
        close(fitted.upper, case["upper"].as_f64().unwrap(), name);
        let scores = fitted.score(&current).expect("scores");
        // The domain classifier: the same folds, each row's out-of-fold
        // probability and the AUROC as scikit-learn's.
        let want_folds: Vec<usize> = case["folds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap() as usize)
            .collect();
        let rows = reference[0].len() + current[0].len();
        assert_eq!(
            folds_for(rows, CLASSIFIER_FOLDS, CLASSIFIER_SEED),
            want_folds,
            "{name}"
        );
        let standard = |columns: &[Vec<f64>]| {
            let n = columns[0].len();
            Array2::from_shape_fn((n, columns.len()), |(i, j)| {
                let v = columns[j][i];
                let v = if v.is_finite() { v } else { fitted.means[j] };
                (v - fitted.means[j]) / fitted.scales[j]
            })
        };
        let (z_ref, z_cur) = (standard(&reference), standard(&current));
        let got = domain_scores(z_ref.view(), z_cur.view(), &want_folds).expect("fitted");
        for (g, w) in got.iter().zip(floats(&case["domain_scores"])) {
            close(*g, w, &format!("{name}: out-of-fold probability"));
        }
        close(
            scores.domain_auroc,
            case["domain_auroc"].as_f64().unwrap(),
            &format!("{name}: domain AUROC"),
        );
        close(
            scores.reconstruction_error,
            case["current_error"].as_f64().unwrap(),
            &format!("{name}: window error"),
        );
        let pairs = case["pairs"].as_array().expect("pairs");
        assert_eq!(scores.pairs.len(), pairs.len(), "{name}");
        for (got, want) in scores.pairs.iter().zip(pairs) {
            assert_eq!(
                (got.a as u64, got.b as u64),
                (want["a"].as_u64().unwrap(), want["b"].as_u64().unwrap()),
                "{name}: pair order"
            );
            close(
                got.reference,
                want["reference"].as_f64().unwrap_or(f64::NAN),
                name,
            );
            close(
                got.current,
                want["current"].as_f64().unwrap_or(f64::NAN),
                name,
            );
            close(
                got.change,
                want["change"].as_f64().unwrap_or(f64::NAN),
                name,
            );
        }
    }
}

#[test]
fn a_reversed_correlation_with_equal_marginals_is_flagged() {
    // The fixture's "flipped_correlation": every marginal as the reference's,
    // feature 2 mirrored about its mean.
    let text = std::fs::read_to_string("tests/fixtures/multivariate/cases.json").unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let case = &fixture["cases"][1];
    assert_eq!(case["name"], "flipped_correlation");
    let reference = columns(&case["reference"]);
    let features: Vec<String> = (0..reference.len()).map(|i| format!("f{i}")).collect();
    let fitted =
        MultivariateReference::fit(features, &reference, &MultivariateSettings::default()).unwrap();
    let scores = fitted.score(&columns(&case["current"])).unwrap();
    assert!(
        scores.drifted,
        "error {} above {}",
        scores.reconstruction_error, fitted.upper
    );
    assert!(scores.max_correlation_change() > 1.0);
    // The no-drift case stays within its bounds.
    let quiet = &fixture["cases"][0];
    let reference = columns(&quiet["reference"]);
    let features: Vec<String> = (0..reference.len()).map(|i| format!("f{i}")).collect();
    let fitted =
        MultivariateReference::fit(features, &reference, &MultivariateSettings::default()).unwrap();
    assert!(!fitted.score(&columns(&quiet["current"])).unwrap().drifted);
}
