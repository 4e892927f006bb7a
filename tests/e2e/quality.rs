//! Labels in the row, end to end: the daemon's `drift_quality_*` gauges for the
//! window and the reference equal scikit-learn's values on the same rows
//! (`tests/fixtures/make_labels_oracle.py`), and the serving signals (latency,
//! error flags) are counted per row.

use std::time::Duration;

use crate::util::{base_config, repo, wait_until, Daemon};

/// A daemon on a labels case's reference and config, with an http source.
fn labels_daemon(dir: &std::path::Path, case: &str) -> (Daemon, serde_json::Value) {
    let case = repo().join("tests/fixtures/labels").join(case);
    let extra = std::fs::read_to_string(case.join("config.toml"))
        .unwrap()
        .replace("[model]\n", "");
    let config = base_config(dir, "[[sources]]\ntype = \"http\"\n", "");
    let body = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            &crate::util::reference().display().to_string(),
            &case.join("reference.parquet").display().to_string(),
        )
        .replace("version = \"v1\"\n", &format!("version = \"v1\"\n{extra}"));
    std::fs::write(&config, body).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("expected.json")).unwrap()).unwrap();
    let daemon = Daemon::start(&config);
    let rows = std::fs::read(case.join("current.ndjson")).unwrap();
    let response = daemon.ingest("application/x-ndjson", &rows);
    assert_eq!(response.status, 200, "{}", response.text());
    (daemon, expected)
}

fn close(got: Option<f64>, want: &serde_json::Value) -> bool {
    match (got, want.as_f64()) {
        (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn window_and_reference_quality_gauges_equal_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, expected) = labels_daemon(dir.path(), "binary_score");
    let rows = |d: &Daemon| d.scrape().by_feature("drift_window_rows").get("x").copied();
    assert!(wait_until(Duration::from_secs(30), || rows(&daemon) == Some(600.0)));
    let mut errors = Vec::new();
    let ok = wait_until(Duration::from_secs(10), || {
        let scrape = daemon.scrape();
        let rows = scrape.value("drift_quality_labelled_rows", &[("dataset", "window")]);
        close(rows, &expected["current"]["labelled_rows"])
    });
    assert!(
        ok,
        "the window's labelled rows never reached the expected count"
    );
    let scrape = daemon.scrape();
    for (dataset, side) in [("window", "current"), ("reference", "reference")] {
        let want = &expected[side];
        for (metric, key) in [
            ("drift_quality_labelled_rows", "labelled_rows"),
            ("drift_quality_accuracy", "accuracy"),
            ("drift_quality_roc_auc", "roc_auc"),
            ("drift_quality_log_loss", "log_loss"),
        ] {
            let got = scrape.value(metric, &[("dataset", dataset), ("model", "e2e")]);
            if !close(got, &want[key]) {
                errors.push(format!(
                    "{metric}{{dataset={dataset}}}: {got:?} vs {}",
                    want[key]
                ));
            }
        }
        let classes = want["classes"].as_array().unwrap();
        assert_eq!(classes.len(), 2);
        for class in classes {
            let name = class["class"].as_str().unwrap();
            for (metric, key) in [
                ("drift_quality_precision", "precision"),
                ("drift_quality_recall", "recall"),
                ("drift_quality_f1", "f1"),
            ] {
                let got = scrape.value(metric, &[("dataset", dataset), ("class", name)]);
                if !close(got, &class[key]) {
                    errors.push(format!(
                        "{metric}{{{dataset},{name}}}: {got:?} vs {}",
                        class[key]
                    ));
                }
            }
        }
        let got = scrape.value(
            "drift_quality_f1",
            &[("dataset", dataset), ("class", "macro")],
        );
        if !close(got, &want["macro_f1"]) {
            errors.push(format!(
                "macro f1 {dataset}: {got:?} vs {}",
                want["macro_f1"]
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(
        !scrape.by_feature("drift_psi").contains_key("label"),
        "the label is never scored for drift"
    );
    // The same numbers in the JSON API.
    let api = crate::util::request(&daemon.address, "GET", "/api/v1/drift", None, b"")
        .expect("the API answers")
        .json();
    assert!(close(
        api["quality"]["classification"]["accuracy"].as_f64(),
        &expected["current"]["accuracy"]
    ));
    daemon.stop();
}

#[test]
fn latency_and_error_columns_feed_the_serving_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[columns]\nlatency = \"latency_ms\"\nerror = \"error\"\n";
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", extra);
    let daemon = Daemon::start(&config);
    let body = concat!(
        "{\"amount\": 10.0, \"latency_ms\": 12, \"error\": false}\n",
        "{\"amount\": 11.0, \"latency_ms\": 250.5, \"error\": \"timeout\"}\n",
        "{\"amount\": 12.0, \"latency_ms\": 3000}\n",
        "{\"amount\": 13.0, \"error\": true}\n",
    );
    let response = daemon.ingest("application/x-ndjson", body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let scrape = daemon.scrape();
    let line = |name: &str| scrape.line(name);
    let metric = "drift_prediction_latency_seconds";
    assert_eq!(line(&format!("{metric}_count{{model=\"e2e\"}}")), Some(3.0));
    let sum = line(&format!("{metric}_sum{{model=\"e2e\"}}")).unwrap();
    assert!((sum - 3.2625).abs() < 1e-12, "{sum}");
    assert_eq!(
        line(&format!("{metric}_bucket{{model=\"e2e\",le=\"0.025\"}}")),
        Some(1.0)
    );
    assert_eq!(
        line(&format!("{metric}_bucket{{model=\"e2e\",le=\"0.25\"}}")),
        Some(1.0)
    );
    assert_eq!(
        line(&format!("{metric}_bucket{{model=\"e2e\",le=\"0.5\"}}")),
        Some(2.0)
    );
    assert_eq!(
        scrape.value("drift_prediction_errors_total", &[("model", "e2e")]),
        Some(2.0)
    );
    assert!(
        !scrape.by_feature("drift_psi").contains_key("latency_ms"),
        "serving columns are never scored"
    );
    daemon.stop();
}
