//! Hostile and odd input on `POST /ingest` and in the logs (issue "Hardening"):
//! gzip bodies, unknown encodings, empty bodies of every format, NDJSON with the
//! non-finite tokens Python writes, and logs without colour codes on a pipe.

use std::io::Write;

use crate::util::{base_config, request_with, sample, Daemon};

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
