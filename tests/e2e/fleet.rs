//! Fleet-wide drift (SPEC.md section 8), end to end: three drift-exporter
//! processes with one reference, each fed a different third of the rows through
//! a different source (a watched directory, a tailed log, `POST /ingest`), one
//! real Prometheus scraping all three with the shipped rules. The fleet PSI and KL
//! it records equal `check` on the union of the rows within 1e-9, for numeric and
//! categorical columns, with bins empty in the union's window (a category and a
//! numeric bin nobody sent) and in the reference (an unseen category).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::prometheus::Prometheus;
use crate::util::{base_config, check, reference, sample, wait_for_rows, wait_until, Daemon};

/// The drifted sample's rows without country NL and without any age below 25 (the
/// reference's first age decile), so both bins are empty in every window, sorted by
/// amount so that each third covers other amount bins. Country NG, which the
/// reference never had, lands in `__other__`, empty in the reference.
fn rows() -> Vec<String> {
    let text = std::fs::read_to_string(sample("batch-0003-drifted.ndjson")).unwrap();
    let mut rows: Vec<(f64, String)> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            let young = row["age"].as_f64().is_some_and(|age| age < 25.0);
            (row["country"] != "NL" && !young)
                .then(|| (row["amount"].as_f64().unwrap_or(f64::MAX), line.to_string()))
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows.into_iter().map(|(_, line)| line).collect()
}

fn lines(rows: &[String]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// `(feature, drift_type)` -> value of an instant vector.
fn by_column(result: &[Value]) -> HashMap<(String, String), f64> {
    result
        .iter()
        .map(|s| {
            let key = (
                s["metric"]["feature"].as_str().unwrap_or("").to_string(),
                s["metric"]["drift_type"].as_str().unwrap_or("").to_string(),
            );
            let value: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
            (key, value)
        })
        .collect()
}

/// Starts one replica with `sources` in `dir`.
fn replica(dir: &Path, sources: &str) -> Daemon {
    Daemon::start(&base_config(dir, sources, ""))
}

#[test]
fn fleet_psi_and_kl_from_a_real_prometheus_equal_check_on_the_union() {
    let rows = rows();
    let n = rows.len();
    assert!(n > 900, "{n} rows");
    let thirds = [&rows[..n / 3], &rows[n / 3..2 * n / 3], &rows[2 * n / 3..]];
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|d| {
            let dir = root.path().join(d);
            std::fs::create_dir_all(dir.join("incoming")).unwrap();
            dir
        })
        .collect();

    // A: a file in its watched directory; B: a log it tails; C: POST /ingest.
    std::fs::write(dirs[0].join("incoming/part.ndjson"), lines(thirds[0])).unwrap();
    let log = dirs[1].join("predictions.jsonl");
    std::fs::write(&log, lines(thirds[1])).unwrap();
    let a = replica(
        &dirs[0],
        &format!(
            "[[sources]]\ntype = \"directory\"\npath = \"{}\"\nsettle = \"100ms\"\npoll_interval = \"100ms\"\n",
            dirs[0].join("incoming").display()
        ),
    );
    let b = replica(
        &dirs[1],
        &format!(
            "[[sources]]\ntype = \"tail\"\npath = \"{}\"\npoll_interval = \"100ms\"\n",
            log.display()
        ),
    );
    let c = replica(&dirs[2], "[[sources]]\ntype = \"http\"\n");
    let posted = c.ingest("application/x-ndjson", lines(thirds[2]).as_bytes());
    assert_eq!(posted.status, 200, "{}", posted.text());
    for (daemon, third) in [(&a, thirds[0]), (&b, thirds[1]), (&c, thirds[2])] {
        wait_for_rows(daemon, third.len() as f64);
    }

    // Each replica exports exactly its bins: 3 series per numeric bin (rows, ratio,
    // edges), 2 per categorical bin (rows, ratio), as README "Scaling out" counts.
    let scrape = a.scrape();
    let count = |metric: &str| scrape.samples.iter().filter(|s| s.metric == metric).count();
    let numeric_bins = count("drift_bin_info");
    let all_bins = count("drift_reference_bin_ratio");
    assert_eq!(count("drift_window_bin_rows"), all_bins);
    assert!(numeric_bins > 0 && all_bins > numeric_bins);
    // README's formula for the series per model that carry a `feature` label:
    // at most numeric 17 + 3 b, categorical 12 + 2 c (b, c: the column's bins).
    let mut bins: BTreeMap<(String, bool), usize> = BTreeMap::new();
    let numeric: std::collections::BTreeSet<String> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "drift_bin_info")
        .filter_map(|s| s.labels.get("feature").map(str::to_string))
        .collect();
    for s in scrape
        .samples
        .iter()
        .filter(|s| s.metric == "drift_reference_bin_ratio")
    {
        let feature = s.labels.get("feature").unwrap().to_string();
        let is_numeric = numeric.contains(&feature);
        *bins.entry((feature, is_numeric)).or_default() += 1;
    }
    let formula: usize = bins
        .iter()
        .map(|((_, is_numeric), &b)| if *is_numeric { 17 + 3 * b } else { 12 + 2 * b })
        .sum();
    let per_feature = scrape
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("feature=\""))
        .count();
    assert!(
        per_feature <= formula && per_feature > 3 * numeric_bins,
        "{per_feature} series with a feature label, formula {formula}"
    );
    // Replica A holds the lowest amounts only: amount bins empty there hold rows elsewhere.
    let amount_bins = |daemon: &Daemon| -> BTreeMap<String, f64> {
        daemon
            .scrape()
            .samples
            .iter()
            .filter(|s| {
                s.metric == "drift_window_bin_rows" && s.labels.get("feature") == Some("amount")
            })
            .map(|s| {
                let v = match s.value {
                    prometheus_parse::Value::Gauge(v) => v,
                    _ => f64::NAN,
                };
                (s.labels.get("bin").unwrap_or("").to_string(), v)
            })
            .collect()
    };
    let (low, high) = (amount_bins(&a), amount_bins(&c));
    assert!(
        low.iter()
            .any(|(bin, &rows)| rows == 0.0 && high[bin] > 0.0),
        "{low:?} {high:?}"
    );

    // The union, scored by `check` with the replicas' config.
    let union = root.path().join("union.ndjson");
    std::fs::write(&union, lines(&rows)).unwrap();
    let config = dirs[0].join("drift-exporter.toml");
    let run = check(
        &reference(),
        &union,
        &["--format", "json", "--config", config.to_str().unwrap()],
    );
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("check: {e}: {} {}", run.stdout, run.stderr));
    let expected: Vec<(String, String, f64, f64, Option<f64>)> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["psi"].is_number())
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["drift_type"].as_str().unwrap().to_string(),
                f["psi"].as_f64().unwrap(),
                f["kl_divergence"].as_f64().unwrap(),
                f["ks_statistic"].as_f64(),
            )
        })
        .collect();
    assert!(expected.len() >= 8, "{report}");
    assert!(
        expected.iter().any(|e| e.4.is_none()),
        "a categorical column"
    );

    let prometheus = Prometheus::scraping(
        &root.path().join("prometheus-home"),
        &[&a.address, &b.address, &c.address],
    );
    // Once Prometheus has scraped every replica's final state, the scores equal check's,
    // the bins the test was built for are empty where it says, and the binned KS statistic
    // bounds check's exact one. All read in one pass, retried (bounded) until one pass is
    // consistent: under load a scrape can time out, and for a few evaluations the sums
    // then cover two replicas. The last pass's problems are in the message.
    let window = "model_feature_bin:drift_window_bin_ratio:fleet";
    let reference_ratio = "model_feature_bin:drift_reference_bin_ratio:fleet";
    let ratio = |rule: &str, feature: &str, bin: &str| -> Option<f64> {
        let result = prometheus.query(&format!(
            "{rule}{{model=\"e2e\",feature=\"{feature}\",bin=\"{bin}\"}}"
        ));
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    };
    let problems = || -> Vec<String> {
        let mut problems = Vec::new();
        let replicas =
            by_column(&prometheus.query("model_feature:drift_replicas:fleet{model=\"e2e\"}"));
        if replicas.values().any(|&r| r != 3.0) || replicas.len() != expected.len() {
            problems.push(format!("replicas {replicas:?}"));
        }
        let psi = by_column(&prometheus.query("model_feature:drift_psi:fleet{model=\"e2e\"}"));
        let kl =
            by_column(&prometheus.query("model_feature:drift_kl_divergence:fleet{model=\"e2e\"}"));
        for (name, drift_type, want_psi, want_kl, _) in &expected {
            let key = (name.clone(), drift_type.clone());
            for (score, got, want) in [
                ("psi", psi.get(&key), want_psi),
                ("kl", kl.get(&key), want_kl),
            ] {
                match got {
                    Some(got) if (got - want).abs() <= 1e-9 => {}
                    got => problems.push(format!("{name} {score}: {got:?} != {want}")),
                }
            }
        }
        if psi.len() != expected.len() {
            problems.push(format!("{} fleet PSI series", psi.len()));
        }
        // Empty in every window, not in the reference: a category and the lowest age bin.
        // Empty in the reference, not in the window: __other__ (country NG).
        for (feature, bin, window_empty) in [
            ("country", "NL", true),
            ("age", "0", true),
            ("country", "__other__", false),
        ] {
            let (w, r) = (
                ratio(window, feature, bin),
                ratio(reference_ratio, feature, bin),
            );
            let ok = match (w, r) {
                (Some(w), Some(r)) if window_empty => w == 0.0 && r > 0.0,
                (Some(w), Some(r)) => w > 0.0 && r == 0.0,
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "{feature} bin {bin}: window {w:?}, reference {r:?}"
                ));
            }
        }
        // binned <= D <= binned + the largest single-bin proportion on either side.
        let binned = by_column(
            &prometheus.query("model_feature:drift_binned_ks_statistic:fleet{model=\"e2e\"}"),
        );
        for (name, drift_type, _, _, ks) in &expected {
            let key = (name.clone(), drift_type.clone());
            let Some(d) = ks else {
                if binned.contains_key(&key) {
                    problems.push(format!("a binned KS for categorical {name}"));
                }
                continue;
            };
            let Some(&lower) = binned.get(&key) else {
                problems.push(format!("no binned KS for {name}"));
                continue;
            };
            let widest = [window, reference_ratio]
                .iter()
                .flat_map(|rule| {
                    prometheus.query(&format!(
                        "{rule}{{model=\"e2e\",feature=\"{name}\",drift_type=\"{drift_type}\"}}"
                    ))
                })
                .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                .fold(0.0, f64::max);
            if !(lower <= d + 1e-12 && *d <= lower + widest + 1e-12) {
                problems.push(format!(
                    "{name}: binned KS {lower}, exact {d}, widest bin {widest}"
                ));
            }
        }
        problems
    };
    let mut last = Vec::new();
    let consistent = wait_until(Duration::from_secs(90), || {
        last = problems();
        last.is_empty()
    });
    assert!(
        consistent,
        "fleet scores differ from check: {}",
        last.join("; ")
    );
    for daemon in [a, b, c] {
        daemon.stop();
    }
}

#[test]
fn bins_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(
        dir.path(),
        "[[sources]]\ntype = \"http\"\n",
        "[metrics]\nbins = false\n",
    );
    let daemon = Daemon::start(&config);
    let body = std::fs::read(sample("batch-0002-clean.csv")).unwrap();
    assert_eq!(daemon.ingest("text/csv", &body).status, 200);
    wait_for_rows(&daemon, 1500.0);
    let scrape = daemon.scrape();
    assert!(scrape
        .value("drift_psi", &[("feature", "amount")])
        .is_some());
    for family in [
        "drift_window_bin_rows",
        "drift_reference_bin_ratio",
        "drift_bin_info",
    ] {
        assert!(
            !scrape.text.contains(family),
            "{family} with [metrics] bins = false"
        );
    }
    daemon.stop();
}
