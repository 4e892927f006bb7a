//! The shipped Prometheus config, rules and Grafana dashboard, proven against a
//! real Prometheus server (Debian package `prometheus`) that scrapes the real
//! drift-exporter on 127.0.0.1: the target is up, every dashboard expression and
//! every recording rule returns data, the drift alerts go pending or firing for
//! the drifted features and stay quiet for the others. Also: promtool accepts the
//! files, the dashboard JSON is well formed and only names metrics we export, and
//! everything the Dockerfile copies exists.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{
    base_config, free_address, repo, request, sample, wait_for_rows, wait_until, which, Daemon,
};

pub(crate) fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Prometheus server on a loopback port, stopped on drop.
pub(crate) struct Prometheus {
    child: Child,
    address: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus on the shipped config with the exporter's and its own
    /// addresses rewritten, 1 s intervals and the shipped rules.
    fn start(dir: &Path, exporter: &str) -> Prometheus {
        Prometheus::scraping(dir, &[exporter])
    }

    /// [`Prometheus::start`] with several exporters as targets of the one job.
    pub(crate) fn scraping(dir: &Path, exporters: &[&str]) -> Prometheus {
        let address = free_address();
        let shipped =
            std::fs::read_to_string(repo().join("config/prometheus/prometheus.yml")).unwrap();
        assert!(shipped.contains("[\"127.0.0.1:9877\"]") && shipped.contains("127.0.0.1:9090"));
        let targets: Vec<String> = exporters.iter().map(|e| format!("\"{e}\"")).collect();
        let config = shipped
            .replace("[\"127.0.0.1:9877\"]", &format!("[{}]", targets.join(", ")))
            .replace("127.0.0.1:9090", &address)
            .replace("scrape_interval: 15s", "scrape_interval: 1s")
            .replace("scrape_timeout: 10s", "scrape_timeout: 1s")
            .replace("evaluation_interval: 15s", "evaluation_interval: 1s");
        // Rule paths are relative to the config file: put it beside a copy of the rules.
        let prom_dir = dir.join("prometheus");
        std::fs::create_dir_all(prom_dir.join("rules")).unwrap();
        for rules in RULE_FILES {
            std::fs::copy(
                repo().join("config/prometheus/rules").join(rules),
                prom_dir.join("rules").join(rules),
            )
            .unwrap();
        }
        std::fs::write(prom_dir.join("prometheus.yml"), config).unwrap();
        let child = Command::new(which("prometheus"))
            .arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus { child, address };
        let ready = wait_until(Duration::from_secs(60), || {
            request(&prometheus.address, "GET", "/-/ready", None, b"").map(|r| r.status)
                == Some(200)
        });
        assert!(
            ready,
            "prometheus never became ready on {}",
            prometheus.address
        );
        prometheus
    }

    pub(crate) fn api(&self, path: &str) -> Value {
        let response = request(&self.address, "GET", path, None, b"").expect("prometheus answers");
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.json()
    }

    /// True when the alert `name` is pending or firing.
    fn alert_active(&self, name: &str) -> bool {
        self.api("/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["labels"]["alertname"] == name)
    }

    /// The instant vector of `expr`, now.
    pub(crate) fn query(&self, expr: &str) -> Vec<Value> {
        let v = self.api(&format!("/api/v1/query?query={}", encode(expr)));
        assert_eq!(v["status"], "success", "{expr}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

fn dashboard() -> Value {
    let text =
        std::fs::read_to_string(repo().join("config/grafana/dashboards/drift-exporter.json"))
            .unwrap();
    serde_json::from_str(&text).expect("dashboard JSON parses")
}

fn panels(dashboard: &Value) -> Vec<Value> {
    fn walk(panel: &Value, out: &mut Vec<Value>) {
        out.push(panel.clone());
        for p in panel["panels"].as_array().into_iter().flatten() {
            walk(p, out);
        }
    }
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        walk(p, &mut out);
    }
    out
}

fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |t| Some((title.clone(), t["expr"].as_str()?.to_string())))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The shipped rule files (`rules/*.rules.yml`, as prometheus.yml loads them).
const RULE_FILES: [&str; 2] = ["drift.rules.yml", "fleet.rules.yml"];

fn recording_rules() -> Vec<String> {
    RULE_FILES
        .iter()
        .flat_map(|rules| {
            std::fs::read_to_string(repo().join("config/prometheus/rules").join(rules))
                .unwrap()
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("- record:")
                        .map(|r| r.trim().to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Metric names an expression uses: identifiers that look like our metrics or a
/// recording rule, excluding label names (an identifier followed by `=`, `!` or `~`,
/// or inside the label list of `by`, `without`, `on`, `ignoring`, `group_*`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            // Label lists of aggregations and vector matching hold labels only.
            if matches!(
                word.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) && next == Some(&'(')
            {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                continue;
            }
            let is_label = matches!(next, Some('=' | '!' | '~'));
            let ours = word.starts_with("drift_")
                || word.starts_with("process_")
                || word.contains(":drift_");
            if ours && !is_label {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The exporter Prometheus scrapes: the e2e config with the HTTP source.
/// The sample reference with its label, latency and error columns, as the
/// default config has them, and late labels joined by `request_id`, so that
/// every quality, concept-drift, label-join and serving panel has data; the
/// p-values corrected (`fdr_bh`), `amount` weighted 3, and multivariate
/// drift and segments by device on (their dashboard rows).
fn exporter_config(dir: &Path) -> PathBuf {
    // A correction, so that the adjusted p-values' panel has data; weights,
    // so that the weighted share differs from the plain one.
    let columns = "[columns]\nlabel = \"is_fraud\"\nlatency = \"latency_ms\"\nerror = \"error\"\n\
                   weights = { amount = 3.0 }\n\
                   [labels]\nid = \"request_id\"\n\
                   [drift]\ncorrection = \"fdr_bh\"\n\
                   [multivariate]\nenabled = true\n";
    // Segments by device (the sample reference's), for the segment panels.
    let columns = columns.replace("[columns]\n", "[columns]\nsegment = \"device\"\n");
    let config = base_config(dir, "[[sources]]\ntype = \"http\"\n", &columns);
    let body = std::fs::read_to_string(&config).unwrap().replace(
        "version = \"v1\"\n",
        "version = \"v1\"\ntask = \"classification\"\n",
    );
    std::fs::write(&config, body).unwrap();
    config
}

fn feed(daemon: &Daemon) -> Value {
    let clean = std::fs::read(sample("batch-0002-clean.csv")).unwrap();
    let drifted = std::fs::read(sample("batch-0003-drifted.ndjson")).unwrap();
    assert_eq!(daemon.ingest("text/csv", &clean).status, 200);
    assert_eq!(daemon.ingest("application/x-ndjson", &drifted).status, 200);
    wait_for_rows(daemon, 2700.0);
    request(&daemon.address, "GET", "/api/v1/drift", None, b"")
        .unwrap()
        .json()
}

#[test]
fn real_prometheus_scrapes_us_and_every_query_rule_and_alert_works() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&exporter_config(dir.path()));
    let report = feed(&daemon);
    let drifted: HashSet<String> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drift_detected"] == true && f["drift_type"] == "data")
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let clean: HashSet<String> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drift_detected"] == false && f["drift_type"] == "data")
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!drifted.is_empty() && !clean.is_empty(), "{report}");

    let prometheus = Prometheus::start(dir.path(), &daemon.address);
    let up = wait_until(Duration::from_secs(60), || {
        prometheus.query("up{job=\"drift-exporter\"} == 1").len() == 1
    });
    assert!(up, "target never up: {}", prometheus.api("/api/v1/targets"));

    // Rates need two scrapes; give the 5m rate windows a few samples.
    let rates_ready = wait_until(Duration::from_secs(60), || {
        !prometheus
            .query("rate(drift_ingested_batches_total[5m])")
            .is_empty()
    });
    assert!(rates_ready);

    let mut empty = Vec::new();
    for (title, expr) in expressions(&dashboard()) {
        let expr = expr.replace("$model", "e2e").replace("$feature", ".*");
        let ok = wait_until(Duration::from_secs(20), || {
            !prometheus.query(&expr).is_empty()
        });
        if !ok {
            empty.push(format!("{title}: {expr}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard expressions with no data:\n{}",
        empty.join("\n")
    );

    for rule in recording_rules() {
        let ok = wait_until(Duration::from_secs(30), || {
            !prometheus.query(&rule).is_empty()
        });
        assert!(ok, "recording rule {rule} produced nothing");
    }

    // Alerts: FeatureDrift is pending (for: 1m) or firing for each drifted feature only.
    let alerting = |name: &str| -> HashSet<String> {
        prometheus.api("/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| {
                a["labels"]["alertname"] == name
                    && (a["state"] == "pending" || a["state"] == "firing")
            })
            .filter_map(|a| a["labels"]["feature"].as_str().map(str::to_string))
            .collect()
    };
    let ok = wait_until(Duration::from_secs(30), || {
        alerting("FeatureDrift") == drifted
    });
    assert!(
        ok,
        "FeatureDrift for {:?}, expected {drifted:?}",
        alerting("FeatureDrift")
    );
    for feature in &clean {
        assert!(
            !alerting("FeatureDrift").contains(feature),
            "{feature} is clean"
        );
    }
    let prediction_drifts = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["drift_type"] == "prediction" && f["drift_detected"] == true);
    let active = |name: &str| prometheus.alert_active(name);
    assert_eq!(
        wait_until(Duration::from_secs(10), || active("PredictionDrift")),
        prediction_drifts
    );
    assert!(!active("DriftExporterDown"));
    assert!(!active("RejectedRowsRising"));
    // Every rule, the quality and concept-drift ones included, evaluates without error
    // on the real series.
    let unhealthy: Vec<String> = prometheus.api("/api/v1/rules")["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["health"] != "ok")
        .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
        .collect();
    assert!(unhealthy.is_empty(), "{unhealthy:?}");
    // The sample's calibrated labels: no accuracy drop, no calibration drift.
    assert!(!active("ModelAccuracyDrop"));
    assert!(!active("CalibrationDrift"));
    daemon.stop();
}

#[test]
fn promtool_accepts_the_shipped_config_and_rules() {
    let promtool = which("promtool");
    for args in [
        vec!["check", "config", "config/prometheus/prometheus.yml"],
        vec!["check", "rules", "config/prometheus/rules/drift.rules.yml"],
        vec![
            "test",
            "rules",
            "config/prometheus/rules/drift.rules.test.yml",
        ],
        vec!["check", "rules", "config/prometheus/rules/fleet.rules.yml"],
        vec![
            "test",
            "rules",
            "config/prometheus/rules/fleet.rules.test.yml",
        ],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn dashboard_is_well_formed_and_uses_only_exported_metrics() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().unwrap_or(0) >= 36,
        "schemaVersion"
    );
    assert_eq!(d["uid"], "drift-exporter");
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        vars.contains(&"model") && vars.contains(&"feature"),
        "{vars:?}"
    );
    let all = panels(&d);
    let mut ids = HashSet::new();
    for p in &all {
        let id = p["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {id} has no targets"));
        assert!(!targets.is_empty(), "panel {id} is empty");
        for t in targets {
            assert!(
                t["datasource"].is_object() || t["datasource"].is_string(),
                "panel {id}: target without datasource"
            );
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {id}: target without expr"
            );
        }
    }
    // Every metric named exists in a real scrape (or is a recording rule);
    // with PSI tested by its p-value, so that its adjusted p-value is there.
    let dir = tempfile::tempdir().unwrap();
    let config = exporter_config(dir.path());
    let body = std::fs::read_to_string(&config).unwrap() + "\n[drift.thresholds]\npsi = \"auto\"\n";
    std::fs::write(&config, body).unwrap();
    let daemon = Daemon::start(&config);
    feed(&daemon);
    let scrape = daemon.scrape();
    // The parser folds a histogram's _bucket/_sum/_count series into one sample.
    let mut exported: HashSet<String> = scrape
        .samples
        .iter()
        .flat_map(|s| {
            ["", "_bucket", "_sum", "_count"].map(|suffix| format!("{}{suffix}", s.metric))
        })
        .collect();
    exported.extend(recording_rules());
    let mut unknown = BTreeSet::new();
    for (_, expr) in expressions(&d) {
        for name in metric_names(&expr) {
            if !exported.contains(&name) {
                unknown.insert(name);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "dashboard uses metrics we do not export: {unknown:?}"
    );
    daemon.stop();
}

#[test]
fn everything_the_dockerfile_copies_exists() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let mut checked = 0;
    for line in dockerfile.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("COPY ") else {
            continue;
        };
        if rest.contains("--from=") {
            continue;
        }
        let parts: Vec<&str> = rest
            .split_whitespace()
            .filter(|p| !p.starts_with("--"))
            .collect();
        if parts.first().is_some_and(|p| p.starts_with('[')) {
            continue;
        }
        for source in &parts[..parts.len().saturating_sub(1)] {
            assert!(
                repo().join(source).exists(),
                "Dockerfile copies {source}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected COPY lines for the sources, config and reference"
    );
    assert!(dockerfile.contains("USER "), "runs as a non-root user");
    assert!(dockerfile.contains("EXPOSE 9877"));
    assert!(dockerfile.contains("STOPSIGNAL SIGTERM"));
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("healthcheck"));
}

#[test]
fn metric_names_are_told_from_labels() {
    let names = metric_names(
        r#"sum by (drift_type) (rate(drift_x_total{drift_type="data", model=~"m"}[5m])) / model:drift_psi:max"#,
    );
    let want: BTreeSet<String> = ["drift_x_total", "model:drift_psi:max"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, want);
}

/// The clean sample batch (CSV) as it is, and the same rows with the label
/// flipped where the prediction is below 0.3: the inputs do not move, what
/// they mean does.
fn clean_and_flipped() -> (String, String) {
    let clean = std::fs::read_to_string(sample("batch-0002-clean.csv")).unwrap();
    let mut lines = clean.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (prediction, label) = (at("prediction"), at("is_fraud"));
    let mut flipped = header.join(",") + "\n";
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        if cells[prediction].parse::<f64>().unwrap() < 0.3 {
            cells[label] = if cells[label] == "1" { "0" } else { "1" }.to_string();
        }
        flipped += &(cells.join(",") + "\n");
    }
    (clean, flipped)
}

#[test]
fn pure_concept_drift_raises_its_signals_and_alerts_and_calm_data_does_not() {
    let (clean, flipped) = clean_and_flipped();
    let run = |second: &str| {
        let dir = tempfile::tempdir().unwrap();
        let daemon = Daemon::start(&exporter_config(dir.path()));
        for body in [&clean, second] {
            assert_eq!(daemon.ingest("text/csv", body.as_bytes()).status, 200);
        }
        wait_for_rows(&daemon, 3000.0);
        let labelled = wait_until(Duration::from_secs(10), || {
            daemon
                .scrape()
                .value("drift_quality_labelled_rows", &[("dataset", "window")])
                == Some(3000.0)
        });
        assert!(labelled);
        (dir, daemon)
    };
    let signals = |daemon: &Daemon| {
        let scrape = daemon.scrape();
        (
            scrape.value("drift_concept_calibration_gap", &[]).unwrap(),
            scrape
                .value("drift_concept_drift_detected", &[("detector", "adwin")])
                .unwrap(),
            scrape.value("drift_dataset_detected", &[]).unwrap(),
        )
    };
    // The same rows twice: no signal.
    let (_calm_dir, calm) = run(&clean);
    let (gap, adwin, dataset) = signals(&calm);
    assert!(gap < 0.2, "calibration gap {gap} on unchanged data");
    assert_eq!((adwin, dataset), (0.0, 0.0));
    calm.stop();
    // The same inputs with flipped labels: both signals, no input drift.
    let (dir, drifted) = run(&flipped);
    let (gap, adwin, dataset) = signals(&drifted);
    assert!(gap > 0.2, "calibration gap {gap}");
    assert_eq!((adwin, dataset), (1.0, 0.0));
    // A real Prometheus with the shipped rules: both concept-drift alerts go
    // pending (or fire), and no input-drift alert does.
    let prometheus = Prometheus::start(dir.path(), &drifted.address);
    let active = |name: &str| prometheus.alert_active(name);
    let raised = wait_until(Duration::from_secs(60), || {
        active("CalibrationDrift") && active("ConceptDrift")
    });
    assert!(raised, "{}", prometheus.api("/api/v1/alerts"));
    for quiet in ["FeatureDrift", "DatasetDrift", "PredictionDrift"] {
        assert!(!active(quiet), "{quiet} with unchanged inputs");
    }
    drifted.stop();
}
