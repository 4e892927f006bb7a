//! Labels end to end: in the row, and late (a prediction log and a label log
//! tailed side by side, joined by id, across a `SIGKILL`), the daemon's
//! `drift_quality_*` gauges equal scikit-learn's values on the same rows
//! (`tests/fixtures/make_labels_oracle.py`); the join counts what it matched,
//! what it could not and what is pending; the serving signals (latency, error
//! flags) are counted per row.

use std::time::Duration;

use crate::util::{base_config, repo, wait_until, Daemon, Scrape};

/// A config on a labels case's reference and config, with `sources` and
/// `extra` (appended); the case's expected values.
fn labels_config(
    dir: &std::path::Path,
    case: &str,
    sources: &str,
    extra: &str,
) -> (std::path::PathBuf, serde_json::Value) {
    let case = repo().join("tests/fixtures/labels").join(case);
    let extra = std::fs::read_to_string(case.join("config.toml"))
        .unwrap()
        .replace("[model]\n", "")
        + extra;
    let config = base_config(dir, sources, "");
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
    (config, expected)
}

/// A daemon on a labels case's reference and config, with an http source that
/// was sent the case's current rows.
fn labels_daemon(dir: &std::path::Path, case: &str) -> (Daemon, serde_json::Value) {
    let (config, expected) = labels_config(dir, case, "[[sources]]\ntype = \"http\"\n", "");
    let daemon = Daemon::start(&config);
    let rows = std::fs::read(
        repo()
            .join("tests/fixtures/labels")
            .join(case)
            .join("current.ndjson"),
    )
    .unwrap();
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

/// Where the `drift_quality_*` gauges of `dataset` differ from scikit-learn's
/// values `want` (one case side of `expected.json`).
fn quality_errors(scrape: &Scrape, dataset: &str, want: &serde_json::Value) -> Vec<String> {
    let mut errors = Vec::new();
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
    errors
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
        errors.extend(quality_errors(&scrape, dataset, &expected[side]));
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

/// The case's current rows as a prediction log (the label replaced by a
/// `request_id`) and the matching label rows `{request_id, label}` of the rows
/// that have a label.
fn split_case(case: &str) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(
        repo()
            .join("tests/fixtures/labels")
            .join(case)
            .join("current.ndjson"),
    )
    .unwrap();
    let (mut predictions, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let mut row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap();
        let label = row.remove("label").expect("every case row has a label");
        let id = format!("r{i}");
        row.insert("request_id".into(), id.clone().into());
        predictions.push(serde_json::Value::Object(row).to_string());
        if !label.is_null() {
            labels.push(serde_json::json!({"request_id": id, "label": label}).to_string());
        }
    }
    (predictions, labels)
}

fn append(path: &std::path::Path, lines: &[String]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

#[test]
fn late_labels_from_a_second_log_join_their_predictions_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (predictions_log, labels_log) = (
        dir.path().join("predictions.jsonl"),
        dir.path().join("labels.jsonl"),
    );
    let sources = format!(
        "[[sources]]\ntype = \"tail\"\npath = \"{}\"\npoll_interval = \"100ms\"\n\
         [[sources]]\ntype = \"tail\"\npath = \"{}\"\npoll_interval = \"100ms\"\n",
        predictions_log.display(),
        labels_log.display()
    );
    let extra = "\n[labels]\nid = \"request_id\"\nttl = \"1h\"\n";
    let (config, expected) = labels_config(dir.path(), "binary_score", &sources, extra);
    let (predictions, mut labels) = split_case("binary_score");
    append(&predictions_log, &predictions);
    std::fs::write(&labels_log, "").unwrap();
    let daemon = Daemon::start(&config);
    let value =
        |d: &Daemon, metric: &str, labels: &[(&str, &str)]| d.scrape().value(metric, labels);
    let pending = |d: &Daemon| value(d, "drift_labels_pending", &[("model", "e2e")]);
    assert!(
        wait_until(Duration::from_secs(30), || pending(&daemon) == Some(600.0)),
        "600 predictions wait for their labels: {:?}",
        pending(&daemon)
    );
    // Half the labels, in reverse order, and four that join nothing; the rows
    // without a label in the case get none and stay pending.
    let (total, unlabelled) = (predictions.len(), predictions.len() - labels.len());
    labels.reverse();
    let late = labels.split_off(labels.len() / 2);
    let half = labels.len() as f64;
    let mut first = labels;
    first.extend([
        r#"{"request_id": "nope", "label": 1}"#.to_string(),
        first[0].clone(),
        r#"{"request_id": "r5"}"#.to_string(),
        r#"{"request_id": "r6", "label": null}"#.to_string(),
    ]);
    append(&labels_log, &first);
    let matched = |d: &Daemon| value(d, "drift_labels_matched_total", &[("model", "e2e")]);
    let waiting = total as f64 - half;
    assert!(
        wait_until(Duration::from_secs(30), || matched(&daemon) == Some(half)
            && pending(&daemon) == Some(waiting)),
        "{:?} {:?}",
        matched(&daemon),
        pending(&daemon)
    );
    let scrape = daemon.scrape();
    for (reason, n) in [
        ("unknown_id", 1.0),
        ("duplicate", 1.0),
        ("missing_label", 2.0),
        ("evicted", 0.0),
        ("expired", 0.0),
    ] {
        let got = scrape.value("drift_labels_unmatched_total", &[("reason", reason)]);
        assert_eq!(got, Some(n), "{reason}");
    }
    let labelled = |d: &Daemon| value(d, "drift_quality_labelled_rows", &[("dataset", "window")]);
    assert!(
        wait_until(Duration::from_secs(10), || labelled(&daemon) == Some(half)),
        "{:?}",
        labelled(&daemon)
    );
    // A crash: the pending predictions and the joined rows come back.
    daemon.kill_hard();
    let daemon = Daemon::start(&config);
    assert!(
        wait_until(Duration::from_secs(30), || pending(&daemon)
            == Some(waiting)),
        "{:?}",
        pending(&daemon)
    );
    let rest = late.len() as f64;
    append(&labels_log, &late);
    assert!(
        wait_until(Duration::from_secs(30), || pending(&daemon)
            == Some(unlabelled as f64)
            && matched(&daemon) == Some(rest)),
        "{:?} {:?}",
        matched(&daemon),
        pending(&daemon)
    );
    // Every gauge equals scikit-learn on all 600 rows; label rows never enter
    // the window, and the id is never scored.
    let ok = wait_until(Duration::from_secs(10), || {
        let rows = value(
            &daemon,
            "drift_quality_labelled_rows",
            &[("dataset", "window")],
        );
        close(rows, &expected["current"]["labelled_rows"])
    });
    assert!(ok, "the joined rows never reached the expected count");
    let scrape = daemon.scrape();
    let errors = quality_errors(&scrape, "window", &expected["current"]);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(
        scrape.by_feature("drift_window_rows").get("x"),
        Some(&600.0)
    );
    assert!(!scrape.by_feature("drift_psi").contains_key("request_id"));
    daemon.stop();
}
