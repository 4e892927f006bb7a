#!/usr/bin/env python3
"""Sustained ingest of a tailed NDJSON prediction log (issue 14, item 6).

Starts `drift-exporter serve` (release build) with one `tail` source on a new file and a
window of `--window` rows, then appends the throughput harness's NDJSON lines to that file
(again and again) for `--seconds`, keeping at most `--ahead` rows written but not yet taken in,
and reads `drift_ingested_rows_total` every 50 ms. Prints the rate over the run after a one
second warm-up, and `/metrics` latency meanwhile.

    cargo build --release
    cargo bench --bench throughput -- --write-only target/bench-data-22 --rows 1000000 \\
        --current-rows 200000 --extra-columns 8
    python3 benches/tail_rate.py --data target/bench-data-22 --window 10000
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

from window_scale import get, metric, percentile_ms, start, wait_ready, write_config  # benches/ is on sys.path

CHUNK_ROWS = 20_000


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="target/bench-data-22")
    p.add_argument("--binary", default="target/release/drift-exporter")
    p.add_argument("--reference", help="default: DATA/reference.parquet (a profile works)")
    p.add_argument("--window", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--ahead", type=int, default=200_000, help="rows written ahead of ingest at most")
    args = p.parse_args()
    reference = args.reference or os.path.join(args.data, "reference.parquet")
    with open(os.path.join(args.data, "current.ndjson"), "rb") as f:
        lines = f.read().splitlines(keepends=True)
    chunks = [b"".join(lines[i : i + CHUNK_ROWS]) for i in range(0, len(lines), CHUNK_ROWS)]
    sizes = [len(lines[i : i + CHUNK_ROWS]) for i in range(0, len(lines), CHUNK_ROWS)]
    work = tempfile.mkdtemp(prefix="tail-rate-")
    log = os.path.join(work, "predictions.ndjson")
    open(log, "wb").close()
    source = f'type = "tail"\npath = "{log}"\nstart_at = "beginning"\n'
    config, port = write_config(work, reference, args.window, source)
    proc = start(args.binary, config)
    try:
        wait_ready(port, proc)
        written, k = 0, 0
        samples, scrapes = [], []
        started = time.perf_counter()
        with open(log, "ab") as out:
            while time.perf_counter() - started < args.seconds + 1.0:
                t = time.perf_counter()
                _, text = get(port, "/metrics")
                scrapes.append(time.perf_counter() - t)
                ingested = metric(text, "drift_ingested_rows_total")
                samples.append((time.perf_counter() - started, ingested))
                while written - ingested < args.ahead:
                    out.write(chunks[k % len(chunks)])
                    written += sizes[k % len(sizes)]
                    k += 1
                out.flush()
                time.sleep(0.05)
        warm = [(t, n) for t, n in samples if t >= 1.0]
        (t0, n0), (t1, n1) = warm[0], warm[-1]
        scrapes.sort()
        print(
            f"tailed NDJSON, {args.window:,}-row window: {(n1 - n0) / (t1 - t0) / 1000:.0f} k rows/s over "
            f"{t1 - t0:.1f} s; /metrics p50 / p99 {percentile_ms(scrapes, 0.5):.1f} / "
            f"{percentile_ms(scrapes, 0.99):.1f} ms ({len(scrapes)})"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=600)
        except Exception:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
