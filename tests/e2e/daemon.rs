//! End-to-end tests of `drift-exporter serve`: the real binary on 127.0.0.1, real
//! files, a real tailed log, real HTTP requests, `/metrics` scraped over TCP and
//! parsed with a Prometheus text-format parser, compared with `check` on the same
//! rows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{
    assert_gauges_match, base_config, check_json, reference, repo, request, sample, wait_for_rows,
    wait_until, which, window_rows, write_config, Daemon, Scrape,
};

fn drifted_lines() -> Vec<String> {
    std::fs::read_to_string(sample("batch-0003-drifted.ndjson"))
        .expect("sample ndjson")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn default_config_serves_scores_for_every_sample_column() {
    // The README's first command, run on a copy so no state lands in the repo.
    let dir = tempfile::tempdir().unwrap();
    // Its ingest address on any free port, so tests (and a daemon you run) do not collide.
    let config = std::fs::read_to_string(repo().join("config/drift-exporter.toml"))
        .unwrap()
        .replace("127.0.0.1:9878", "127.0.0.1:0");
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    let copied = dir.path().join("config/drift-exporter.toml");
    std::fs::write(&copied, config).unwrap();
    let status = std::process::Command::new("cp")
        .args(["-r"])
        .arg(repo().join("reference-data"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let daemon = Daemon::start(&copied);
    let ok = wait_until(Duration::from_secs(30), || {
        daemon.scrape().by_feature("drift_psi").len() == 8
    });
    let scrape = daemon.scrape();
    assert!(ok, "expected PSI for 8 columns: {}", scrape.text);
    for metric in [
        "drift_ks_statistic",
        "drift_ks_pvalue",
        "drift_kl_divergence",
    ] {
        let numeric = scrape.by_feature(metric);
        for feature in [
            "amount",
            "age",
            "account_age_days",
            "num_items",
            "prediction",
        ] {
            assert!(
                numeric.contains_key(feature),
                "{metric} for {feature} missing"
            );
        }
    }
    let ingested = scrape.sum("drift_ingested_rows_total", &[]);
    assert_eq!(ingested, 4200.0, "three sample batches");
    assert_eq!(
        scrape.value("drift_reference_rows", &[("model", "fraud-detector")]),
        Some(10_000.0)
    );
    assert_eq!(
        scrape.value("drift_model_info", &[("version", "2026-11-01")]),
        Some(1.0)
    );
    daemon.stop();
}

#[test]
fn directory_source_matches_check() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let sources = format!(
        "[[sources]]\ntype = \"directory\"\npath = \"{}\"\nsettle = \"100ms\"\npoll_interval = \"100ms\"\n",
        incoming.display()
    );
    let config = base_config(dir.path(), &sources, "");
    let daemon = Daemon::start(&config);
    // Written under a temporary name, then renamed into place, as producers should.
    let target = incoming.join("batch.ndjson");
    std::fs::copy(
        sample("batch-0003-drifted.ndjson"),
        incoming.join(".batch.ndjson.tmp"),
    )
    .unwrap();
    std::fs::rename(incoming.join(".batch.ndjson.tmp"), &target).unwrap();
    wait_for_rows(&daemon, 1200.0);
    let (code, report) = check_json(&reference(), &sample("batch-0003-drifted.ndjson"));
    assert_eq!(code, 1, "the drifted sample drifts");
    let scrape = daemon.scrape();
    assert_gauges_match(&scrape, &report);
    assert_eq!(
        scrape.value("drift_dataset_detected", &[("model", "e2e")]),
        Some(1.0)
    );
    // /api/v1/drift is the same report.
    let api = request(&daemon.address, "GET", "/api/v1/drift", None, b"")
        .unwrap()
        .json();
    assert_eq!(api["features"], report["features"]);
    assert_eq!(api["dataset"], report["dataset"]);
    daemon.stop();
}

#[test]
fn tail_source_follows_appends_partial_lines_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("predictions.jsonl");
    let sources = format!(
        "[[sources]]\ntype = \"tail\"\npath = \"{}\"\npoll_interval = \"100ms\"\n",
        log.display()
    );
    let config = base_config(dir.path(), &sources, "");
    let lines = drifted_lines();
    let mut file = std::fs::File::create(&log).unwrap();
    for line in &lines[..400] {
        writeln!(file, "{line}").unwrap();
    }
    // A partial line waits for its newline.
    let (head, tail) = lines[400].split_at(20);
    write!(file, "{head}").unwrap();
    file.flush().unwrap();
    let daemon = Daemon::start(&config);
    wait_for_rows(&daemon, 400.0);
    writeln!(file, "{tail}").unwrap();
    for line in &lines[401..800] {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    wait_for_rows(&daemon, 800.0);
    // Rotation by rename: the old file keeps its name .1, a new file takes the path.
    std::fs::rename(&log, dir.path().join("predictions.jsonl.1")).unwrap();
    let mut fresh = std::fs::File::create(&log).unwrap();
    for line in &lines[800..] {
        writeln!(fresh, "{line}").unwrap();
    }
    fresh.flush().unwrap();
    wait_for_rows(&daemon, 1200.0);
    let (_, report) = check_json(&reference(), &sample("batch-0003-drifted.ndjson"));
    let scrape = daemon.scrape();
    assert_gauges_match(&scrape, &report);
    assert_eq!(scrape.sum("drift_ingested_rows_total", &[]), 1200.0);
    assert_eq!(scrape.sum("drift_rejected_rows_total", &[]), 0.0);
    daemon.stop();
}

pub(crate) fn arrow_stream_of(parquet: &Path) -> Vec<u8> {
    let file = std::fs::File::open(parquet).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let mut out = Vec::new();
    {
        let mut writer =
            arrow::ipc::writer::StreamWriter::try_new(&mut out, &batches[0].schema()).unwrap();
        for b in &batches {
            writer.write(b).unwrap();
        }
        writer.finish().unwrap();
    }
    out
}

#[test]
fn http_ingest_of_every_content_type_matches_check() {
    let ndjson = std::fs::read(sample("batch-0003-drifted.ndjson")).unwrap();
    let json_rows = format!("[{}]", drifted_lines().join(","));
    let csv = std::fs::read(sample("batch-0002-clean.csv")).unwrap();
    let arrow = arrow_stream_of(&sample("batch-0001-clean.parquet"));
    let cases: Vec<(&str, Vec<u8>, PathBuf, f64)> = vec![
        (
            "application/x-ndjson",
            ndjson,
            sample("batch-0003-drifted.ndjson"),
            1200.0,
        ),
        (
            "application/json",
            json_rows.into_bytes(),
            sample("batch-0003-drifted.ndjson"),
            1200.0,
        ),
        (
            "text/csv; charset=utf-8",
            csv,
            sample("batch-0002-clean.csv"),
            1500.0,
        ),
        (
            "application/vnd.apache.arrow.stream",
            arrow,
            sample("batch-0001-clean.parquet"),
            1500.0,
        ),
    ];
    for (content_type, body, same_rows, rows) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
        let daemon = Daemon::start(&config);
        let response = daemon.ingest(content_type, &body);
        assert_eq!(response.status, 200, "{content_type}: {}", response.text());
        let answer = response.json();
        assert_eq!(
            answer["accepted"].as_f64(),
            Some(rows),
            "{content_type}: {answer}"
        );
        assert_eq!(
            answer["rejected"].as_f64(),
            Some(0.0),
            "{content_type}: {answer}"
        );
        wait_for_rows(&daemon, rows);
        let (_, report) = check_json(&reference(), &same_rows);
        assert_gauges_match(&daemon.scrape(), &report);
        daemon.stop();
    }
}

#[test]
fn event_time_window_keeps_the_last_duration_of_timestamps() {
    // 1,200 rows stamped 10 s apart, ending five hours ago (a replay), sent out of
    // order; the window is one hour of event time: the last 361 stamps, plus a row
    // whose timestamp is unreadable (rejected value, aged by its arrival time).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .floor();
    let last = now - 5.0 * 3600.0;
    let lines = drifted_lines();
    let n = lines.len();
    let stamped: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let body = line.trim_end().trim_end_matches('}');
            if i == 0 {
                format!("{body}, \"ts\": \"not a time\"}}")
            } else {
                format!("{body}, \"ts\": {}}}", last - 10.0 * (n - 1 - i) as f64)
            }
        })
        .collect();
    let kept: Vec<&String> = stamped
        .iter()
        .enumerate()
        .filter(|&(i, _)| i == 0 || i >= n - 361)
        .map(|(_, l)| l)
        .collect();
    // A fixed shuffle: every 7th row first, then the others backwards.
    let mut order: Vec<usize> = (0..n).step_by(7).collect();
    order.extend((0..n).rev().filter(|i| i % 7 != 0));

    let dir = tempfile::tempdir().unwrap();
    let config = base_config(
        dir.path(),
        "[[sources]]\ntype = \"http\"\n",
        "[columns]\ntimestamp = \"ts\"\n",
    );
    let daemon = Daemon::start_with_env(&config, &[("DRIFT_EXPORTER__WINDOW__DURATION", "1h")]);
    for part in order.chunks(300) {
        let body: String = part.iter().map(|&i| stamped[i].clone() + "\n").collect();
        let response = daemon.ingest("application/x-ndjson", body.as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
    }
    wait_for_rows(&daemon, kept.len() as f64);
    let scrape = daemon.scrape();
    assert_eq!(scrape.sum("drift_ingested_rows_total", &[]), n as f64);
    assert_eq!(
        scrape.sum("drift_rejected_rows_total", &[("reason", "type")]),
        1.0
    );
    assert!(
        !scrape.by_feature("drift_psi").contains_key("ts"),
        "the timestamp is never scored"
    );
    let same_rows = dir.path().join("kept.ndjson");
    let text: String = kept.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&same_rows, text).unwrap();
    let (_, report) = check_json(&reference(), &same_rows);
    assert_gauges_match(&scrape, &report);
    daemon.stop();
}

#[test]
fn restart_mid_stream_neither_loses_nor_repeats_rows() {
    let lines = drifted_lines();
    let chunks: Vec<String> = lines.chunks(300).map(|c| c.join("\n") + "\n").collect();
    assert_eq!(chunks.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    let log = dir.path().join("tail.jsonl");
    std::fs::create_dir_all(&incoming).unwrap();
    let sources = format!(
        "[[sources]]\ntype = \"directory\"\npath = \"{}\"\nsettle = \"100ms\"\npoll_interval = \"100ms\"\n\
         [[sources]]\ntype = \"tail\"\npath = \"{}\"\npoll_interval = \"100ms\"\n",
        incoming.display(),
        log.display()
    );
    let config = base_config(dir.path(), &sources, "");
    // Run 1: two files and 150 log lines.
    std::fs::write(incoming.join("part-1.ndjson"), &chunks[0]).unwrap();
    std::fs::write(incoming.join("part-2.ndjson"), &chunks[1]).unwrap();
    let tail_lines: Vec<String> = lines[..300].to_vec();
    std::fs::write(&log, tail_lines[..150].join("\n") + "\n").unwrap();
    let daemon = Daemon::start(&config);
    wait_for_rows(&daemon, 750.0);
    let first = daemon.scrape().sum("drift_ingested_rows_total", &[]);
    daemon.stop();
    // Between runs: two more files and 150 more log lines.
    std::fs::write(incoming.join("part-3.ndjson"), &chunks[2]).unwrap();
    std::fs::write(incoming.join("part-4.ndjson"), &chunks[3]).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all((tail_lines[150..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(f);
    // Run 2 restores the window and reads only what is new.
    let daemon = Daemon::start(&config);
    wait_for_rows(&daemon, 1500.0);
    std::thread::sleep(Duration::from_millis(500));
    let scrape = daemon.scrape();
    let second = scrape.sum("drift_ingested_rows_total", &[]);
    assert_eq!(first, 750.0);
    assert_eq!(
        first + second,
        1500.0,
        "every row exactly once across both runs"
    );
    assert_eq!(window_rows(&daemon), 1500.0);
    // Same scores as a run without restart over the same rows: check on all of them.
    let all = dir.path().join("all.ndjson");
    let mut everything = chunks[0].clone() + &chunks[1];
    everything += &(tail_lines[..150].join("\n") + "\n");
    everything += &chunks[2];
    everything += &chunks[3];
    everything += &(tail_lines[150..].join("\n") + "\n");
    std::fs::write(&all, everything).unwrap();
    let (_, report) = check_json(&reference(), &all);
    assert_gauges_match(&scrape, &report);
    daemon.stop();
}

#[test]
fn bad_input_is_counted_by_reason_and_the_daemon_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let sources = format!(
        "[[sources]]\ntype = \"directory\"\npath = \"{}\"\nsettle = \"100ms\"\npoll_interval = \"100ms\"\n[[sources]]\ntype = \"http\"\n",
        incoming.display()
    );
    let config = base_config(dir.path(), &sources, "[server]\nmax_body_bytes = 4096\n");
    let mut daemon = Daemon::start(&config);
    let body = concat!(
        "{\"amount\": 10.5, \"country\": \"US\"}\n",
        "this is not json\n",
        "{\"amount\": \"lots\", \"country\": \"US\"}\n",
        "{\"amount\": 3.0, \"country\": {\"nested\": 1}}\n",
        "[1, 2]\n",
    );
    let response = daemon.ingest("application/x-ndjson", body.as_bytes());
    assert_eq!(response.status, 200);
    let answer = response.json();
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(answer["rejected"], 4, "{answer}");
    assert!(
        answer["errors"][0].as_str().unwrap().contains("line 2"),
        "{answer}"
    );
    // Unreadable bodies and unsupported types are refused with a message.
    let bad_json = daemon.ingest("application/json", b"{\"amount\": [1, 2], \"age\": [1]}");
    assert_eq!(bad_json.status, 400, "{}", bad_json.text());
    assert!(bad_json.text().contains("equally long"));
    assert_eq!(daemon.ingest("text/plain", b"x").status, 415);
    let huge = vec![b'x'; 10_000];
    assert_eq!(daemon.ingest("application/x-ndjson", &huge).status, 413);
    // A truncated Parquet file and a CSV with a non-numeric value.
    let parquet = std::fs::read(sample("batch-0001-clean.parquet")).unwrap();
    std::fs::write(
        incoming.join("truncated.parquet"),
        &parquet[..parquet.len() / 2],
    )
    .unwrap();
    std::fs::write(
        incoming.join("types.csv"),
        "amount,age,country\n1.5,30,US\noops,31,DE\nnan,32,FR\n",
    )
    .unwrap();
    let ok = wait_until(Duration::from_secs(20), || {
        let s = daemon.scrape();
        s.value(
            "drift_source_errors_total",
            &[
                ("reason", "unreadable"),
                ("source", &format!("directory:{}", incoming.display())),
            ],
        ) == Some(1.0)
            && s.sum("drift_ingested_rows_total", &[]) == 6.0
    });
    let scrape = daemon.scrape();
    assert!(ok, "{}", scrape.text);
    let reason = |r: &str| scrape.sum("drift_rejected_rows_total", &[("reason", r)]);
    assert_eq!(reason("parse"), 2.0);
    assert_eq!(
        reason("type"),
        3.0,
        "two from the request, one from the CSV"
    );
    assert_eq!(reason("non_finite"), 1.0);
    assert_eq!(
        scrape.value(
            "drift_source_errors_total",
            &[("source", "http"), ("reason", "too_large")]
        ),
        Some(1.0)
    );
    assert!(daemon.is_running());
    assert_eq!(
        request(&daemon.address, "GET", "/healthz", None, b"")
            .unwrap()
            .status,
        200
    );
    daemon.stop();
}

#[test]
fn below_min_rows_only_window_rows_are_exported() {
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let daemon = Daemon::start(&config);
    let body = drifted_lines()[..50].join("\n");
    assert_eq!(
        daemon
            .ingest("application/x-ndjson", body.as_bytes())
            .status,
        200
    );
    wait_for_rows(&daemon, 50.0);
    let scrape = daemon.scrape();
    assert!(scrape.by_feature("drift_psi").is_empty(), "{}", scrape.text);
    assert!(scrape.by_feature("drift_detected").is_empty());
    // The sample's 8 columns and its label is_fraud (base_config names no label).
    assert_eq!(scrape.by_feature("drift_window_rows").len(), 9);
    let body = drifted_lines()[50..200].join("\n");
    assert_eq!(
        daemon
            .ingest("application/x-ndjson", body.as_bytes())
            .status,
        200
    );
    wait_for_rows(&daemon, 200.0);
    assert_eq!(daemon.scrape().by_feature("drift_psi").len(), 9);
    daemon.stop();
}

#[test]
fn sighup_profiles_the_reference_again_only_when_the_profile_settings_change() {
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let base = std::fs::read_to_string(&config).unwrap();
    let mut daemon = Daemon::start(&config);
    let count =
        |d: &mut Daemon, text: &str| d.drain_logs().iter().filter(|l| l.contains(text)).count();
    let threshold = |d: &Daemon| d.scrape().value("drift_threshold", &[("test", "psi")]);
    assert_eq!(count(&mut daemon, "reference profile built"), 1);
    // Scoring settings only: applied without reading the reference again.
    let scoring = "\n[drift]\nepsilon = 0.001\n[drift.thresholds]\npsi = 0.3\n";
    std::fs::write(&config, base.clone() + scoring).unwrap();
    daemon.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || count(
        &mut daemon,
        "config reloaded"
    ) == 1));
    assert_eq!(threshold(&daemon), Some(0.3));
    assert_eq!(
        count(&mut daemon, "reference profile built"),
        1,
        "{:?}",
        daemon.drain_logs()
    );
    // A profile setting (bins): the reference is profiled again.
    let profile = "\n[drift]\nbins = 5\nepsilon = 0.001\n[drift.thresholds]\npsi = 0.3\n";
    std::fs::write(&config, base + profile).unwrap();
    daemon.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || count(
        &mut daemon,
        "config reloaded"
    ) == 2));
    assert_eq!(
        count(&mut daemon, "reference profile built"),
        2,
        "{:?}",
        daemon.drain_logs()
    );
    assert_eq!(threshold(&daemon), Some(0.3));
    daemon.stop();
}

#[test]
fn sighup_reloads_a_good_config_and_keeps_the_old_one_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let mut daemon = Daemon::start(&config);
    let threshold = |d: &Daemon| d.scrape().value("drift_threshold", &[("test", "psi")]);
    assert_eq!(threshold(&daemon), Some(0.2));
    let good = std::fs::read_to_string(&config).unwrap() + "\n[drift.thresholds]\npsi = 0.3\n";
    std::fs::write(&config, &good).unwrap();
    daemon.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || threshold(&daemon) == Some(0.3)));
    std::fs::write(&config, good.clone() + "\n[drift]\nbinz = 3\n").unwrap();
    daemon.signal("HUP");
    let ok = wait_until(Duration::from_secs(10), || {
        daemon
            .drain_logs()
            .iter()
            .any(|l| l.contains("config reload failed") && l.contains("binz"))
    });
    assert!(ok, "{:?}", daemon.drain_logs());
    assert!(daemon.is_running());
    assert_eq!(threshold(&daemon), Some(0.3));
    daemon.stop();
}

#[test]
fn promtool_accepts_the_metrics_page() {
    let promtool = which("promtool");
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let daemon = Daemon::start(&config);
    let body = drifted_lines().join("\n");
    assert_eq!(
        daemon
            .ingest("application/x-ndjson", body.as_bytes())
            .status,
        200
    );
    wait_for_rows(&daemon, 1200.0);
    let text = daemon.scrape().text;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool: {said}");
    assert!(said.trim().is_empty(), "promtool warnings: {said}");
    daemon.stop();
}

/// Tails 300 lines, takes 150 more over HTTP, SIGKILLs the daemon, appends 150 more
/// lines and starts it again: the window must hold each of the 600 rows once, with
/// `check`'s scores, and the second run must read only the new lines. `state` is
/// added to `[state]`; `after_tail(state folder)` runs once the 300 lines are in,
/// `before_kill(state folder)` just before the kill.
fn crash_mid_stream(state: &str, after_tail: impl Fn(&Path), before_kill: impl Fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("predictions.jsonl");
    let sources = format!(
        "[[sources]]\ntype = \"tail\"\npath = \"{}\"\npoll_interval = \"100ms\"\n[[sources]]\ntype = \"http\"\n",
        log.display()
    );
    let config = base_config(dir.path(), &sources, state);
    let state_dir = dir.path().join("state");
    let lines = drifted_lines();
    std::fs::write(&log, lines[..300].join("\n") + "\n").unwrap();
    let daemon = Daemon::start(&config);
    wait_for_rows(&daemon, 300.0);
    after_tail(&state_dir);
    let posted = daemon.ingest(
        "application/x-ndjson",
        (lines[300..450].join("\n") + "\n").as_bytes(),
    );
    assert_eq!(posted.status, 200, "{}", posted.text());
    wait_for_rows(&daemon, 450.0);
    assert_eq!(daemon.scrape().sum("drift_ingested_rows_total", &[]), 450.0);
    before_kill(&state_dir);
    daemon.kill_hard();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all((lines[450..600].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(f);
    let daemon = Daemon::start(&config);
    wait_for_rows(&daemon, 600.0);
    std::thread::sleep(Duration::from_millis(800));
    let scrape = daemon.scrape();
    assert_eq!(
        scrape.sum("drift_ingested_rows_total", &[]),
        150.0,
        "only the new lines are read: 450 + 150 rows across both runs"
    );
    assert_eq!(window_rows(&daemon), 600.0, "nothing lost, nothing twice");
    // The same scores as a run that never crashed, over the same 600 rows.
    let all = dir.path().join("all.ndjson");
    std::fs::write(&all, lines[..600].join("\n") + "\n").unwrap();
    let (_, report) = check_json(&reference(), &all);
    assert_gauges_match(&scrape, &report);
    daemon.stop();
}

#[test]
fn after_sigkill_the_window_and_positions_are_those_of_the_crash() {
    // Killed long before the 10 s snapshot: only the journal has the rows.
    crash_mid_stream("", |_| {}, |_| {});
}

#[test]
fn a_crash_after_a_snapshot_restores_it_and_replays_the_journal() {
    let journal_len =
        |state: &Path| std::fs::metadata(state.join("state.journal")).map_or(0, |m| m.len());
    crash_mid_stream(
        "snapshot_interval = \"4s\"\n",
        // The first snapshot takes the 300 tailed rows and empties the journal.
        |state| {
            let snapshotted = wait_until(Duration::from_secs(10), || {
                state.join("state.window").join("manifest.json").exists() && journal_len(state) == 0
            });
            assert!(snapshotted, "no snapshot within 10 s");
        },
        // The posted rows are only in the journal (journaled before the answer).
        |state| assert!(journal_len(state) > 0),
    );
}

#[test]
fn environment_and_flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let mut cmd_env = vec![
        ("DRIFT_EXPORTER__MODEL__NAME", "from-env"),
        ("DRIFT_EXPORTER__WINDOW__SIZE", "777"),
    ];
    cmd_env.push(("DRIFT_EXPORTER__SERVER__TELEMETRY_PATH", "/other"));
    let daemon = Daemon::start_with_env(&config, &cmd_env);
    let page = request(&daemon.address, "GET", "/other", None, b"").unwrap();
    assert_eq!(page.status, 200);
    let scrape = Scrape::parse(&page.text());
    assert_eq!(
        scrape.value("drift_window_size_rows", &[("model", "from-env")]),
        Some(777.0)
    );
    assert_eq!(
        request(&daemon.address, "GET", "/metrics", None, b"")
            .unwrap()
            .status,
        404
    );
    daemon.stop();
}

#[test]
fn rows_count_their_features_outside_the_reference_range() {
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(dir.path(), "[[sources]]\ntype = \"http\"\n", "");
    let daemon = Daemon::start(&config);
    // The sample reference: amount in [0.7, 1717.15], age in [18, 87], num_items in [1, 9].
    let body = concat!(
        "{\"amount\": 1e6, \"age\": 5, \"num_items\": 3}\n",
        "{\"amount\": 2000.0}\n",
        "{\"age\": 87, \"num_items\": 1}\n",
    );
    let response = daemon.ingest("application/x-ndjson", body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let scrape = daemon.scrape();
    let sample = |name: &str| scrape.line(name);
    let metric = "drift_row_out_of_range_features";
    assert_eq!(
        sample(&format!("{metric}_count{{model=\"e2e\"}}")),
        Some(3.0)
    );
    assert_eq!(sample(&format!("{metric}_sum{{model=\"e2e\"}}")), Some(3.0));
    assert_eq!(
        sample(&format!("{metric}_bucket{{model=\"e2e\",le=\"0\"}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&format!("{metric}_bucket{{model=\"e2e\",le=\"1\"}}")),
        Some(2.0)
    );
    assert_eq!(
        sample(&format!("{metric}_bucket{{model=\"e2e\",le=\"2\"}}")),
        Some(3.0)
    );
    daemon.stop();
}

/// Sum and count of the `drift_evaluation_seconds` histogram.
fn evaluations(daemon: &Daemon) -> (f64, f64) {
    let scrape = daemon.scrape();
    (
        scrape.sum("drift_evaluation_seconds_sum", &[]),
        scrape.sum("drift_evaluation_seconds_count", &[]),
    )
}

#[test]
fn a_batch_is_acknowledged_while_a_long_evaluation_runs() {
    // A 300,000-row window (the clean sample repeated) with labels, whose
    // evaluation takes a while in this debug build (the drift scores come
    // from the window's tally, but model quality and concept drift read every
    // labelled row); then small batches, each answered while the evaluation
    // it asks for runs beside the loop, not after it.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[model]
name = "e2e"
task = "classification"

[reference]
path = "{reference}"

[columns]
label = "is_fraud"

[window]
size = 400000
min_rows = 100
evaluation_delay = "10ms"

[state]
path = "{state}"

[[sources]]
type = "http"
"#,
            reference = reference().display(),
            state = dir.path().join("state/state.json").display(),
        ),
    );
    let daemon = Daemon::start(&config);
    let csv = std::fs::read_to_string(sample("batch-0002-clean.csv")).unwrap();
    let (header, rows) = csv.split_once('\n').unwrap();
    let mut body = format!("{header}\n");
    for _ in 0..50 {
        body.push_str(rows.trim_end());
        body.push('\n');
    }
    for _ in 0..4 {
        let response = daemon.ingest("text/csv", body.as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
    }
    wait_for_rows(&daemon, 300_000.0);
    // Wait for the evaluations the big batches asked for.
    let settled = wait_until(Duration::from_secs(120), || {
        let first = evaluations(&daemon);
        std::thread::sleep(Duration::from_millis(400));
        evaluations(&daemon) == first
    });
    assert!(settled, "evaluations never settled");
    let (sum_before, count_before) = evaluations(&daemon);
    let small = format!("{header}\n{}\n", rows.lines().next().unwrap());
    let mut latencies = Vec::new();
    for _ in 0..12 {
        let started = std::time::Instant::now();
        let response = daemon.ingest("text/csv", small.as_bytes());
        latencies.push(started.elapsed().as_secs_f64());
        assert_eq!(response.status, 200, "{}", response.text());
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(wait_until(Duration::from_secs(120), || {
        evaluations(&daemon).1 > count_before
    }));
    let (sum_after, count_after) = evaluations(&daemon);
    let evaluation = (sum_after - sum_before) / (count_after - count_before);
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    // The premise: an evaluation of this window takes long enough to see.
    assert!(
        evaluation >= 0.05,
        "an evaluation took only {evaluation:.3} s"
    );
    // A batch that waited for evaluations would take about as long as one.
    assert!(
        median < evaluation / 3.0,
        "median acknowledgement {median:.3} s against {evaluation:.3} s per evaluation: {latencies:?}"
    );
    daemon.stop();
}

/// The oracle case `fdr_bh` (Benjamini-Hochberg over KS, chi-square and the
/// size-aware PSI test, a minimum effect, column weights) served by the
/// daemon: every new score and adjusted p-value on `/metrics` equals the
/// scipy/statsmodels values of `tests/fixtures/oracle/fdr_bh/expected.json`.
#[test]
fn corrected_tests_and_new_distances_on_metrics_equal_scipy_and_statsmodels() {
    let case = repo().join("tests/fixtures/oracle/fdr_bh");
    let dir = tempfile::tempdir().unwrap();
    let settings = std::fs::read_to_string(case.join("config.toml")).unwrap();
    let body = format!(
        "[model]\nname = \"e2e\"\n[reference]\npath = \"{}\"\n[window]\nsize = 5000\nmin_rows = 100\n\
         evaluation_delay = \"50ms\"\n[state]\npath = \"{}\"\n{settings}\n[[sources]]\ntype = \"http\"\n",
        case.join("reference.parquet").display(),
        dir.path().join("state/state.json").display(),
    );
    let daemon = Daemon::start(&write_config(dir.path(), &body));
    let current = std::fs::read(case.join("current.ndjson")).unwrap();
    assert_eq!(daemon.ingest("application/x-ndjson", &current).status, 200);
    let filled = wait_until(Duration::from_secs(30), || {
        daemon.scrape().by_feature("drift_window_rows").get("x0") == Some(&1500.0)
    });
    assert!(filled, "the window never held the 1,500 rows");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    // Wait for the evaluation of all 1,500 rows (the window count comes first).
    let evaluated = wait_until(Duration::from_secs(30), || {
        daemon
            .scrape()
            .value("drift_dataset_drifted_weighted_ratio", &[])
            .is_some()
    });
    assert!(evaluated, "no evaluation");
    let scrape = daemon.scrape();
    let mut errors = Vec::new();
    let mut compared = 0;
    for (metric, key, tolerance, relative) in [
        ("drift_js_distance", "js_distance", 1e-9, false),
        (
            "drift_hellinger_distance",
            "hellinger_distance",
            1e-9,
            false,
        ),
        (
            "drift_wasserstein_distance",
            "wasserstein_distance",
            1e-9,
            true,
        ),
        (
            "drift_wasserstein_distance_normed",
            "wasserstein_distance_normed",
            1e-9,
            true,
        ),
        ("drift_psi_pvalue", "psi_pvalue", 1e-6, false),
        (
            "drift_ks_pvalue_adjusted",
            "ks_pvalue_adjusted",
            1e-6,
            false,
        ),
        (
            "drift_chi2_pvalue_adjusted",
            "chi2_pvalue_adjusted",
            1e-6,
            false,
        ),
        (
            "drift_psi_pvalue_adjusted",
            "psi_pvalue_adjusted",
            1e-6,
            false,
        ),
        ("drift_detected", "drift_detected", 0.0, false),
    ] {
        let got = scrape.by_feature(metric);
        for f in want["features"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap();
            let w = f[key]
                .as_f64()
                .or_else(|| f[key].as_bool().map(|b| f64::from(u8::from(b))));
            let scale = if relative {
                w.map_or(1.0, |w| w.abs().max(1.0))
            } else {
                1.0
            };
            match (got.get(name), w) {
                (Some(g), Some(w)) if (g - w).abs() <= tolerance * scale => compared += 1,
                (None, None) => {}
                (g, w) => errors.push(format!("{metric}{{feature={name}}}: got {g:?}, want {w:?}")),
            }
        }
    }
    let weighted = scrape.value("drift_dataset_drifted_weighted_ratio", &[("model", "e2e")]);
    let want_weighted = want["dataset"]["drifted_weighted_ratio"].as_f64();
    assert!(
        matches!((weighted, want_weighted), (Some(g), Some(w)) if (g - w).abs() <= 1e-12),
        "weighted ratio {weighted:?}, want {want_weighted:?}"
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // 15 columns: distances and tests of each, adjusted ones where enabled.
    assert!(compared >= 90, "{compared} values compared");
    daemon.stop();
}
