//! Crash loops: the daemon killed with SIGKILL at varying points while a tailed
//! log and a watched directory are being ingested (and after answered `POST
//! /ingest` requests), restarted each time; at the end the window holds every
//! row written or acknowledged exactly once, and its scores equal `check` on
//! them.
//!
//! `CRASH_CYCLES` sets the number of kill / restart cycles (default 5, CI);
//! RELIABILITY.md quotes a run of 20:
//!
//! ```sh
//! CRASH_CYCLES=20 cargo test --release --test e2e reliability::
//! ```

use std::io::Write;
use std::time::Duration;

use crate::util::{
    assert_gauges_match, base_config, check_json, reference, sample, wait_until, window_rows,
    Daemon,
};

#[test]
fn kill_9_during_ingestion_from_three_sources_loses_nothing_and_repeats_nothing() {
    let cycles: usize = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let lines: Vec<String> = std::fs::read_to_string(sample("batch-0003-drifted.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("predictions.jsonl");
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::write(&log, "").unwrap();
    let sources = format!(
        "[[sources]]\ntype = \"tail\"\npath = \"{}\"\npoll_interval = \"50ms\"\n\
         [[sources]]\ntype = \"directory\"\npath = \"{}\"\nsettle = \"50ms\"\npoll_interval = \"50ms\"\n\
         [[sources]]\ntype = \"http\"\n",
        log.display(),
        incoming.display()
    );
    let config = base_config(dir.path(), &sources, "");
    let env = [("DRIFT_EXPORTER__WINDOW__SIZE", "1000000")];
    // Every row written to a file source or acknowledged over HTTP.
    let mut union: Vec<String> = Vec::new();
    let mut next = 0usize;
    let mut take = |n: usize| -> Vec<String> {
        let out = (0..n)
            .map(|i| lines[(next + i) % lines.len()].clone())
            .collect();
        next += n;
        out
    };
    for cycle in 0..cycles {
        let daemon = Daemon::start_with_env(&config, &env);
        // Answered requests are acknowledged rows.
        let posted = take(40);
        let answer = daemon.ingest(
            "application/x-ndjson",
            (posted.join("\n") + "\n").as_bytes(),
        );
        assert_eq!(answer.status, 200, "cycle {cycle}: {}", answer.text());
        union.extend(posted);
        // Rows for the file sources, then the kill at a point that varies by cycle:
        // before, during or after the daemon reads them.
        let appended = take(120);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        for chunk in appended.chunks(30) {
            f.write_all((chunk.join("\n") + "\n").as_bytes()).unwrap();
        }
        drop(f);
        union.extend(appended);
        let dropped = take(80);
        let staging = dir.path().join(format!("part-{cycle:03}.tmp"));
        std::fs::write(&staging, dropped.join("\n") + "\n").unwrap();
        std::fs::rename(&staging, incoming.join(format!("part-{cycle:03}.ndjson"))).unwrap();
        union.extend(dropped);
        std::thread::sleep(Duration::from_millis((cycle as u64 * 37) % 250));
        daemon.kill_hard();
    }
    // The last start reads what the file sources had left, from their checkpoints.
    let daemon = Daemon::start_with_env(&config, &env);
    let expected = union.len() as f64;
    let settled = wait_until(Duration::from_secs(60), || window_rows(&daemon) == expected);
    assert!(
        settled,
        "after {cycles} kills the window holds {} rows, {expected} were written or acknowledged",
        window_rows(&daemon)
    );
    // Stays there: nothing arrives twice later.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(window_rows(&daemon), expected, "nothing twice");
    let all = dir.path().join("all.ndjson");
    std::fs::write(&all, union.join("\n") + "\n").unwrap();
    let (_, report) = check_json(&reference(), &all);
    assert_gauges_match(&daemon.scrape(), &report);
    daemon.stop();
}
