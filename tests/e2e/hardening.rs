//! Hostile and odd input on `POST /ingest` and in the logs (issue "Hardening"):
//! gzip bodies, unknown encodings, empty bodies of every format, NDJSON with the
//! non-finite tokens Python writes, and logs without colour codes on a pipe.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::util::{
    base_config, free_address, request, request_with, sample, wait_for_rows, Daemon,
};

fn http_daemon(dir: &std::path::Path) -> Daemon {
    Daemon::start(&base_config(dir, "[[sources]]\ntype = \"http\"\n", ""))
}

fn batches(daemon: &Daemon) -> f64 {
    daemon
        .scrape()
        .sum("drift_ingested_batches_total", &[("source", "http")])
}

#[test]
fn gzip_bodies_are_inflated_and_other_encodings_refused() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = http_daemon(dir.path());
    let csv = std::fs::read(sample("batch-0002-clean.csv")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&csv).unwrap();
    let zipped = encoder.finish().unwrap();
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        request_with(&daemon.address, "POST", "/ingest", headers, body).expect("an answer")
    };
    let answer = post(
        &[("Content-Type", "text/csv"), ("Content-Encoding", "gzip")],
        &zipped,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["accepted"], 1500);
    assert_eq!(answer.json()["rejected"], 0);

    let refused = post(
        &[("Content-Type", "text/csv"), ("Content-Encoding", "br")],
        &zipped,
    );
    assert_eq!(refused.status, 415, "{}", refused.text());
    assert!(
        refused.text().contains("Content-Encoding"),
        "{}",
        refused.text()
    );

    let broken = post(
        &[("Content-Type", "text/csv"), ("Content-Encoding", "gzip")],
        b"not gzip at all",
    );
    assert_eq!(broken.status, 400, "{}", broken.text());
    assert!(broken.text().contains("gunzip"), "{}", broken.text());
    let scrape = daemon.scrape();
    assert_eq!(
        scrape.sum(
            "drift_source_errors_total",
            &[("source", "http"), ("reason", "unreadable")]
        ),
        1.0
    );
    daemon.stop();
}

#[test]
fn bodies_without_rows_are_answered_alike_and_count_as_no_batch() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = http_daemon(dir.path());
    for (content_type, body) in [
        ("application/x-ndjson", &b""[..]),
        ("application/x-ndjson", b"\n\n"),
        ("text/csv", b""),
        ("text/csv", b"amount,age\n"),
        ("application/json", b""),
        ("application/json", b"[]"),
        ("application/vnd.apache.arrow.stream", b""),
        ("application/vnd.apache.parquet", b""),
    ] {
        let answer = request_with(
            &daemon.address,
            "POST",
            "/ingest",
            &[("Content-Type", content_type)],
            body,
        )
        .expect("an answer");
        assert_eq!(
            (answer.status, answer.json()["accepted"].as_u64()),
            (200, Some(0)),
            "{content_type} {body:?}: {}",
            answer.text()
        );
    }
    assert_eq!(batches(&daemon), 0.0);
    daemon.stop();
}

#[test]
fn ndjson_non_finite_tokens_reject_the_value_and_keep_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = http_daemon(dir.path());
    let body = concat!(
        "{\"amount\": NaN, \"country\": \"US\", \"age\": 30}\n",
        "{\"amount\": Infinity, \"country\": \"DE\", \"age\": 31}\n",
        "{\"amount\": -Infinity, \"country\": \"FR\", \"age\": 32}\n",
        "{\"amount\": 1e400, \"country\": \"GB\", \"age\": 33}\n",
        "{\"amount\": 12.5, \"country\": \"US\", \"age\": 34}\n",
    );
    let mut bytes = body.as_bytes().to_vec();
    bytes.extend_from_slice(b"{\"amount\": 3.5, \"country\": \"\xff\xfe\", \"age\": 35}\n");
    let answer = daemon.ingest("application/x-ndjson", &bytes);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["accepted"], 1, "{}", answer.text());
    assert_eq!(answer.json()["rejected"], 5, "{}", answer.text());
    let scrape = daemon.scrape();
    let rejected = |reason: &str| {
        scrape.sum(
            "drift_rejected_rows_total",
            &[("source", "http"), ("reason", reason)],
        )
    };
    assert_eq!(rejected("non_finite"), 4.0);
    assert_eq!(rejected("encoding"), 1.0);
    assert_eq!(rejected("parse"), 0.0);
    // Every row is in the window: its other values count.
    assert_eq!(
        scrape.sum("drift_ingested_rows_total", &[("source", "http")]),
        6.0
    );
    daemon.stop();
}

#[test]
fn text_logs_on_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = http_daemon(dir.path());
    let logs = daemon.stop();
    assert!(logs.len() >= 2, "{logs:?}");
    for line in &logs {
        assert!(!line.contains('\u{1b}'), "ANSI escape in {line:?}");
    }
}

#[test]
fn ingest_listen_moves_ingest_off_the_main_address() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_address = free_address();
    let config = base_config(
        dir.path(),
        "[[sources]]\ntype = \"http\"\n",
        &format!("[server]\ningest_listen = \"{ingest_address}\"\n"),
    );
    let daemon = Daemon::start(&config);
    let csv = std::fs::read(sample("batch-0002-clean.csv")).unwrap();
    let on_main = daemon.ingest("text/csv", &csv);
    assert_eq!(on_main.status, 404, "{}", on_main.text());
    assert!(
        on_main.text().contains("ingest_listen"),
        "{}",
        on_main.text()
    );
    let on_ingest = request(&ingest_address, "POST", "/ingest", Some("text/csv"), &csv).unwrap();
    assert_eq!(on_ingest.status, 200, "{}", on_ingest.text());
    assert_eq!(on_ingest.json()["accepted"], 1500);
    // The ingest address serves nothing else (but liveness).
    let metrics = request(&ingest_address, "GET", "/metrics", None, b"").unwrap();
    assert_eq!(metrics.status, 404);
    let health = request(&ingest_address, "GET", "/healthz", None, b"").unwrap();
    assert_eq!(health.status, 200);
    wait_for_rows(&daemon, 1500.0);
    daemon.stop();
}

#[test]
fn a_full_ingest_answers_503_and_a_stalled_body_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(
        dir.path(),
        "[[sources]]\ntype = \"http\"\n",
        "[server]\nmax_concurrent_ingests = 1\nbody_timeout = \"1s\"\n",
    );
    let daemon = Daemon::start(&config);
    // A client that declares a body and sends half of it holds the only slot
    // (retried while another request happened to hold it when it came).
    let mut stalled = None;
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&daemon.address).unwrap();
        write!(
            stream,
            "POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\namount\n1\n"
        )
        .unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut peek = [0u8; 1];
        let answered = matches!(stream.peek(&mut peek), Ok(n) if n > 0);
        if !answered {
            stalled = Some(stream);
            break;
        }
    }
    let mut stalled = stalled.expect("a stalled request holds the slot");
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let refused = daemon.ingest("text/csv", b"amount\n2\n");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.head.to_ascii_lowercase().contains("retry-after: 1"),
        "{}",
        refused.head
    );
    assert!(
        refused.text().contains("max_concurrent_ingests"),
        "{}",
        refused.text()
    );
    // ...until its body times out (408), which frees the slot.
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let after = daemon.ingest("text/csv", b"amount\n3\n");
    assert_eq!(after.status, 200, "{}", after.text());
    let scrape = daemon.scrape();
    let errors = |reason: &str| {
        scrape.sum(
            "drift_source_errors_total",
            &[("source", "http"), ("reason", reason)],
        )
    };
    assert!(errors("busy") >= 1.0);
    assert_eq!(errors("timeout"), 1.0);
    daemon.stop();
}

#[test]
fn metrics_negotiate_openmetrics_and_gzip_and_print_short_floats() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = http_daemon(dir.path());
    let drifted = std::fs::read(sample("batch-0003-drifted.ndjson")).unwrap();
    assert_eq!(daemon.ingest("application/x-ndjson", &drifted).status, 200);
    wait_for_rows(&daemon, 1200.0);
    let get = |headers: &[(&str, &str)]| {
        request_with(&daemon.address, "GET", "/metrics", headers, b"").expect("an answer")
    };
    // Prometheus' own Accept header (2.x) and gzip.
    let answer = get(&[
        (
            "Accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        ),
        ("Accept-Encoding", "gzip"),
    ]);
    assert_eq!(answer.status, 200);
    let head = answer.head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(answer.body.as_slice())
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
    assert!(
        text.contains("# TYPE drift_ingested_rows counter\n"),
        "counter family without _total"
    );
    assert!(text.contains("drift_ingested_rows_total{source=\"http\"} 1200\n"));
    // The plain text format without gzip, as before.
    let plain = get(&[]);
    assert!(plain
        .head
        .to_ascii_lowercase()
        .contains("content-type: text/plain; version=0.0.4"));
    assert!(!plain.head.to_ascii_lowercase().contains("content-encoding"));
    // No value is printed with dozens of digits: the drifted sample's KS p-values
    // are tiny, and come out as 1.2e-40, not 0.000...00012.
    let longest = plain
        .text()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(_, v)| v.len()))
        .max()
        .unwrap_or(0);
    assert!(longest <= 24, "a value of {longest} characters");
    let tiny = crate::util::Scrape::parse(&plain.text())
        .by_feature("drift_ks_pvalue")
        .values()
        .any(|&p| p > 0.0 && p < 1e-20);
    assert!(tiny, "expected a tiny KS p-value in the drifted sample");
    daemon.stop();
}

#[test]
fn a_corrupted_arrow_body_is_refused_without_a_panic_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = http_daemon(dir.path());
    // A valid stream (the sample's Parquet batch as Arrow IPC) with its buffer
    // lengths scrambled: every byte after the schema message set to 0xFF.
    let mut body = crate::daemon::arrow_stream_of(&sample("batch-0001-clean.parquet"));
    let keep = body.len() / 3;
    for b in &mut body[keep..] {
        *b = 0xFF;
    }
    let answer = daemon.ingest("application/vnd.apache.arrow.stream", &body);
    assert_eq!(answer.status, 400, "{}", answer.text());
    // A good body is still taken afterwards.
    let csv = std::fs::read(sample("batch-0002-clean.csv")).unwrap();
    assert_eq!(daemon.ingest("text/csv", &csv).status, 200);
    let logs = daemon.stop();
    assert!(logs.iter().all(|l| !l.contains("panicked")), "{logs:?}");
}

/// README "Access control": resident memory stays under the idle level plus
/// three times the bytes of bodies in flight, B = min(max_ingest_bytes,
/// max_concurrent_ingests x max_body_bytes), plus 16 MiB, however many clients
/// push at once.
#[test]
fn memory_under_a_burst_stays_within_the_documented_bound() {
    const MIB: u64 = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(
        dir.path(),
        "[[sources]]\ntype = \"http\"\n",
        "[server]\nmax_concurrent_ingests = 2\nmax_ingest_bytes = 8388608\nmax_body_bytes = 4194304\n",
    );
    let daemon = Daemon::start(&config);
    let sample_rows = std::fs::read(sample("batch-0003-drifted.ndjson")).unwrap();
    let mut body = Vec::new();
    while body.len() + sample_rows.len() <= (4 * MIB) as usize {
        body.extend_from_slice(&sample_rows);
    }
    // Warm up: pools, the window (5,000 rows) and the tally exist before "idle".
    for _ in 0..2 {
        assert_eq!(daemon.ingest("application/x-ndjson", &body).status, 200);
    }
    std::thread::sleep(Duration::from_secs(6));
    let idle = daemon.rss_bytes();
    let bound = idle + 3 * 8 * MIB + 16 * MIB;
    let peak = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let accepted = std::sync::atomic::AtomicU64::new(0);
    let (pid, address) = (daemon.pid(), daemon.address.clone());
    let rss = move || crate::util::rss_of(pid);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let clients: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..600 {
                        let answer = request(
                            &address,
                            "POST",
                            "/ingest",
                            Some("application/x-ndjson"),
                            &body,
                        );
                        match answer.map(|a| a.status) {
                            Some(200) => {
                                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                return;
                            }
                            // 503 (or refused before the body was read): retry.
                            _ => std::thread::sleep(Duration::from_millis(100)),
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(accepted.into_inner(), 16, "every client got its body in");
    eprintln!(
        "burst: idle {} MiB, peak {} MiB",
        idle / MIB,
        peak.load(std::sync::atomic::Ordering::Relaxed) / MIB
    );
    let peak = peak.into_inner();
    assert!(
        peak <= bound,
        "peak RSS {} MiB over the bound {} MiB (idle {} MiB + 3 x 8 MiB + 16 MiB)",
        peak / MIB,
        bound / MIB,
        idle / MIB
    );
    daemon.stop();
}
