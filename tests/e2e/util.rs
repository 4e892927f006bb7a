//! Shared harness of the end-to-end tests: start the real `drift-exporter` binary
//! on a loopback port chosen by the OS, talk HTTP/1.1 to it over TCP, parse
//! `/metrics` with a Prometheus text-format parser, stop it with SIGTERM, run
//! `check` on the same rows. Every wait is bounded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_drift-exporter"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sample reference Parquet.
pub fn reference() -> PathBuf {
    repo().join("reference-data/reference.parquet")
}

/// A sample batch of `reference-data/samples/`.
pub fn sample(name: &str) -> PathBuf {
    repo().join("reference-data/samples").join(name)
}

/// A program of the Debian package `prometheus` (`promtool`, `prometheus`) on `PATH`.
pub fn which(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{name} is required: install the Debian package prometheus (.ci/run does)")
        })
}

/// A loopback address nothing listens on (a port just released by the OS).
pub fn free_address() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .expect("a free loopback port")
}

/// Writes a config file into `dir` and returns its path.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("drift-exporter.toml");
    std::fs::write(&path, body).expect("config written");
    path
}

/// A daemon config on the sample reference: model `e2e`, a 5,000-row window scored
/// from 100 rows, state under `dir/state/`; `extra` and `sources` are appended.
pub fn base_config(dir: &Path, sources: &str, extra: &str) -> PathBuf {
    let body = format!(
        r#"
[model]
name = "e2e"
version = "v1"

[reference]
path = "{reference}"

[window]
size = 5000
min_rows = 100
evaluation_delay = "50ms"

[state]
path = "{state}"
{extra}
{sources}
"#,
        reference = reference().display(),
        state = dir.join("state/state.json").display(),
    );
    write_config(dir, &body)
}

/// Starts the daemon on `reference` with an HTTP source, a 5,000-row window
/// (100 rows to score, evaluations 50 ms after a batch) and `settings` (TOML
/// sections), its state in `dir`.
pub fn start_http_daemon(dir: &Path, reference: &Path, settings: &str) -> Daemon {
    let body = format!(
        "[model]\nname = \"e2e\"\n[reference]\npath = \"{}\"\n[window]\nsize = 5000\nmin_rows = 100\n\
         evaluation_delay = \"50ms\"\n[state]\npath = \"{}\"\n{settings}\n[[sources]]\ntype = \"http\"\n",
        reference.display(),
        dir.join("state/state.json").display(),
    );
    Daemon::start(&write_config(dir, &body))
}

/// `check --format json` with `config`: the report, parsed.
pub fn check_json_with(reference: &Path, current: &Path, config: &Path) -> serde_json::Value {
    let run = check(
        reference,
        current,
        &["-c", config.to_str().unwrap(), "--format", "json"],
    );
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", run.stdout, run.stderr))
}

/// Writes `batch` as a Parquet file at `path`.
pub fn write_parquet_file(path: &Path, batch: &arrow::record_batch::RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// A running daemon.
pub struct Daemon {
    child: Child,
    pub address: String,
    logs: mpsc::Receiver<String>,
    pub log_lines: Vec<String>,
}

impl Daemon {
    /// Starts `drift-exporter serve --config <config>` on 127.0.0.1:0 and waits (up
    /// to 60 s) until it logs its address.
    pub fn start(config: &Path) -> Daemon {
        Self::start_with_env(config, &[])
    }

    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--config"]).arg(config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd)
    }

    /// Runs `cmd` (a `serve` command line) with the listen address, log format and
    /// level appended (the flags override the config), and waits as [`Daemon::start`].
    pub fn spawn(cmd: Command) -> Daemon {
        let mut daemon = Daemon::spawn_unready(cmd);
        daemon.wait_ready();
        daemon
    }

    /// [`Daemon::spawn`] up to the logged listen address, without the plain-HTTP
    /// readiness wait (for a daemon that speaks TLS).
    pub fn spawn_unready(mut cmd: Command) -> Daemon {
        cmd.args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
            "--log.level",
            "info",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut daemon = Daemon {
            child,
            address: String::new(),
            logs: rx,
            log_lines: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match daemon.logs.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                        if v["message"] == "listening" {
                            daemon.address = v["address"].as_str().unwrap_or_default().to_string();
                        }
                    }
                    daemon.log_lines.push(line);
                    if !daemon.address.is_empty() {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = daemon.child.try_wait() {
                        panic!("daemon exited early with {status}: {:?}", daemon.log_lines);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        assert!(
            !daemon.address.is_empty(),
            "no listen address logged: {:?}",
            daemon.log_lines
        );
        daemon
    }

    /// Collects log lines printed so far.
    pub fn drain_logs(&mut self) -> &[String] {
        while let Ok(line) = self.logs.try_recv() {
            self.log_lines.push(line);
        }
        &self.log_lines
    }

    fn wait_ready(&mut self) {
        let ok = wait_until(Duration::from_secs(60), || {
            request(&self.address, "GET", "/readyz", None, b"").map(|r| r.status) == Some(200)
        });
        assert!(ok, "daemon never became ready: {:?}", self.drain_logs());
    }

    /// GET the metrics page and parse it.
    pub fn scrape(&self) -> Scrape {
        let response =
            request(&self.address, "GET", "/metrics", None, b"").expect("metrics answer");
        assert_eq!(response.status, 200);
        Scrape::parse(&response.text())
    }

    /// POST /ingest.
    pub fn ingest(&self, content_type: &str, body: &[u8]) -> Response {
        request(&self.address, "POST", "/ingest", Some(content_type), body).expect("ingest answers")
    }

    /// POSTs the NDJSON file at `path` to `/ingest`; it must be taken (200).
    pub fn ingest_ndjson_file(&self, path: &Path) {
        let body = std::fs::read(path).expect("the NDJSON file is read");
        assert_eq!(self.ingest("application/x-ndjson", &body).status, 200);
    }

    /// Sends a signal by name (TERM, HUP, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// SIGTERM and wait (up to 30 s) for a clean exit.
    pub fn stop(mut self) -> Vec<String> {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "daemon exited with {status}: {:?}",
                    self.drain_logs()
                );
                break;
            }
            assert!(Instant::now() < deadline, "daemon did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(50));
        self.drain_logs().to_vec()
    }

    /// SIGKILL: no shutdown work at all, as in a crash or an OOM kill.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in bytes (VmRSS), or 0 once gone.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.pid())
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident memory of process `pid` in bytes (VmRSS), or 0 once gone.
pub fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// An HTTP response.
pub struct Response {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request over a fresh connection (Connection: close).
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<Response> {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| ("Content-Type", ct))
        .into_iter()
        .collect();
    request_with(address, method, path, &headers, body)
}

/// [`request`] with any headers.
pub fn request_with(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    // A server may answer (413) before reading a large body; ignore write errors then.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some(Response { status, head, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Polls `condition` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon's `drift_window_rows` of the `amount` column (0 before the first evaluation).
pub fn window_rows(daemon: &Daemon) -> f64 {
    daemon
        .scrape()
        .by_feature("drift_window_rows")
        .get("amount")
        .copied()
        .unwrap_or(0.0)
}

/// Waits until the window holds `rows` rows and has been evaluated since.
pub fn wait_for_rows(daemon: &Daemon, rows: f64) {
    let ok = wait_until(Duration::from_secs(30), || window_rows(daemon) == rows);
    assert!(
        ok,
        "window never reached {rows} rows (has {})",
        window_rows(daemon)
    );
}

/// A parsed scrape: samples by metric name and labels.
pub struct Scrape {
    pub text: String,
    pub samples: Vec<prometheus_parse::Sample>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let parsed = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
        Scrape {
            text: text.to_string(),
            samples: parsed.samples,
        }
    }

    /// The value of `metric` whose labels include all of `labels`.
    pub fn value(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .and_then(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
    }

    /// The value on the exposition line that starts with `series` (a histogram's
    /// `_count`, `_sum` or `_bucket{...}` line, written out with its labels).
    pub fn line(&self, series: &str) -> Option<f64> {
        self.text
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    }

    /// Values of `metric` by its `feature` label.
    pub fn by_feature(&self, metric: &str) -> HashMap<String, f64> {
        self.samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter_map(|s| {
                let v = match s.value {
                    prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                    _ => return None,
                };
                Some((s.labels.get("feature")?.to_string(), v))
            })
            .collect()
    }

    /// Sum of a counter over all its series matching `labels`.
    pub fn sum(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| {
                s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .filter_map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
            .sum()
    }
}

/// What `drift-exporter check` did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `drift-exporter <args>` to its end.
pub fn run_binary<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out = Command::new(binary())
        .args(args)
        .output()
        .expect("drift-exporter runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `drift-exporter check --reference <reference> --current <current> <extra>`.
pub fn check(reference: &Path, current: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "check".as_ref(),
        "--reference".as_ref(),
        reference.as_os_str(),
        "--current".as_ref(),
        current.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run_binary(&args)
}

/// Runs `drift-exporter check --format json` and returns (exit code, JSON).
pub fn check_json(reference: &Path, current: &Path) -> (i32, serde_json::Value) {
    let run = check(reference, current, &["--format", "json"]);
    let json = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run.code, json)
}

/// Asserts every scored gauge of the scrape equals `check`'s JSON (1e-9; p-values 1e-9 too,
/// since both come from the same code on the same rows).
pub fn assert_gauges_match(scrape: &Scrape, report: &serde_json::Value) {
    let mut errors = Vec::new();
    let features = report["features"].as_array().expect("features");
    assert!(!features.is_empty());
    for (metric, key) in [
        ("drift_psi", "psi"),
        ("drift_kl_divergence", "kl_divergence"),
        ("drift_js_distance", "js_distance"),
        ("drift_hellinger_distance", "hellinger_distance"),
        ("drift_wasserstein_distance", "wasserstein_distance"),
        (
            "drift_wasserstein_distance_normed",
            "wasserstein_distance_normed",
        ),
        ("drift_ks_statistic", "ks_statistic"),
        ("drift_ks_pvalue", "ks_pvalue"),
        ("drift_chi2_pvalue", "chi2_pvalue"),
        ("drift_psi_pvalue", "psi_pvalue"),
        ("drift_ks_pvalue_adjusted", "ks_pvalue_adjusted"),
        ("drift_chi2_pvalue_adjusted", "chi2_pvalue_adjusted"),
        ("drift_psi_pvalue_adjusted", "psi_pvalue_adjusted"),
        ("drift_missing_ratio", "missing_ratio"),
        ("drift_out_of_range_ratio", "out_of_range_ratio"),
        ("drift_outlier_ratio", "outlier_ratio"),
        ("drift_reference_outlier_ratio", "reference_outlier_ratio"),
        ("drift_unseen_category_ratio", "unseen_category_ratio"),
    ] {
        let got = scrape.by_feature(metric);
        for f in features {
            let name = f["name"].as_str().unwrap_or_default();
            match (got.get(name), f[key].as_f64()) {
                (Some(g), Some(w)) if (g - w).abs() <= 1e-9 => {}
                (None, None) => {}
                (g, w) => errors.push(format!(
                    "{metric}{{feature={name}}}: scraped {g:?}, check {w:?}"
                )),
            }
        }
    }
    let detected = scrape.by_feature("drift_detected");
    for f in features {
        let name = f["name"].as_str().unwrap_or_default();
        if f["psi"].is_null() {
            continue;
        }
        let want = if f["drift_detected"].as_bool() == Some(true) {
            1.0
        } else {
            0.0
        };
        if detected.get(name) != Some(&want) {
            errors.push(format!(
                "drift_detected{{feature={name}}}: scraped {:?}, check {want}",
                detected.get(name)
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "gauges differ from check:\n{}",
        errors.join("\n")
    );
}

/// Runs `drift-exporter profile` of the Parquet `reference` into `out`, with
/// `config` when given; it must succeed.
pub fn build_profile(reference: &Path, out: &Path, config: Option<&Path>) {
    let mut args = vec![
        "profile".as_ref(),
        "--reference".as_ref(),
        reference.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    if let Some(config) = config {
        args.extend(["--config".as_ref(), config.as_os_str()]);
    }
    let built = run_binary(&args);
    assert_eq!(built.code, 0, "{}", built.stderr);
}

/// `check` of `current` against `reference` with `config` must be refused
/// (exit 2) with a message holding every one of `wants`.
pub fn check_refused(reference: &Path, current: &Path, config: &Path, wants: &[&str]) {
    let run = check(reference, current, &["-c", config.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for want in wants {
        assert!(run.stderr.contains(want), "{want:?} not in {}", run.stderr);
    }
}

/// `profile merge` of `profile` with itself must be refused, writing nothing.
pub fn merge_refused(profile: &Path, dir: &Path) {
    let merged = dir.join("merged.profile");
    let run = run_binary(&[
        "profile".as_ref(),
        "merge".as_ref(),
        "--out".as_ref(),
        merged.as_os_str(),
        profile.as_os_str(),
        profile.as_os_str(),
    ]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("cannot be merged"), "{}", run.stderr);
    assert!(!merged.exists());
}
