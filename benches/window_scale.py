#!/usr/bin/env python3
"""The daemon against window size (issue 14): memory per row, evaluation time, state size,
restart time.

For each window size, starts `drift-exporter serve` (release build) on the throughput
harness's reference with an `http` source, POSTs its current rows as Arrow IPC streams (again
and again) until the window holds that many rows, then reads:
- the process's resident memory (VmRSS) with an empty window and with a full one, and so the
  bytes per row and per value the window costs;
- the mean evaluation time (`drift_evaluation_seconds` sum / count) over the evaluations of the
  full window;
- the rate at which the window filled (one client POSTing in a loop) and the latency of
  `/metrics` scraped every 20 ms meanwhile (p50, p99);
then stops it with SIGTERM (the last snapshot), prints the state files' sizes, starts it again
and times the start to /readyz and to the restored window being scored.

    cargo build --release
    cargo bench --bench throughput -- --write-only target/bench-data-22 --rows 1000000 \\
        --current-rows 200000 --extra-columns 8
    python3 benches/window_scale.py --data target/bench-data-22 --sizes 10000,100000,1000000

Needs pyarrow.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from profile_bench import free_port  # benches/ is the script's folder, on sys.path

BATCH_ROWS = 50_000


def get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


def post(port, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/ingest",
        data=body,
        headers={"Content-Type": "application/vnd.apache.arrow.stream"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()


def metric(text, name):
    """Sum of a metric's samples on a /metrics page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def window_rows(port):
    _, text = get(port, "/metrics")
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("drift_window_rows{")
    ]
    return max(values) if values else 0.0


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start(binary, config):
    proc = subprocess.Popen(
        [binary, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return proc


def wait_ready(port, proc, limit=300):
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            sys.exit(f"serve exited with {proc.returncode}")
        try:
            if get(port, "/readyz", timeout=1)[0] == 200:
                return
        except OSError:
            time.sleep(0.005)
    sys.exit("serve never became ready")


def bodies(current):
    """The current file's rows as Arrow IPC stream bodies of BATCH_ROWS rows."""
    table = pq.read_table(current)
    out = []
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        out.append((batch.num_rows, sink.getvalue().to_pybytes()))
    return out, table.num_columns


def measure(binary, reference, parts, columns, size, keep=False):
    work = tempfile.mkdtemp(prefix="window-scale-")
    port = free_port()
    config = os.path.join(work, "bench.toml")
    with open(config, "w") as f:
        f.write(
            f'[server]\nlisten = "127.0.0.1:{port}"\n[reference]\npath = "{reference}"\n'
            f'[window]\nsize = {size}\nmin_rows = 1\nevaluation_delay = "200ms"\n'
            f'[state]\npath = "{work}/state.json"\nsnapshot_interval = "1h"\n'
            f'[[sources]]\ntype = "http"\n'
        )
    proc = start(binary, config)
    try:
        wait_ready(port, proc)
        time.sleep(0.5)
        empty = rss_mib(proc.pid)
        # Scrapes /metrics every 20 ms while the window fills (ingest at full
        # speed from this process), timing each.
        scrapes, filling = [], threading.Event()
        filling.set()

        def scrape():
            while filling.is_set():
                t = time.perf_counter()
                get(port, "/metrics")
                scrapes.append(time.perf_counter() - t)
                time.sleep(0.02)

        scraper = threading.Thread(target=scrape)
        scraper.start()
        sent, fill_started = 0, time.perf_counter()
        while sent < size:
            for rows, body in parts:
                post(port, body)
                sent += rows
                if sent >= size:
                    break
        fill_seconds = time.perf_counter() - fill_started
        filling.clear()
        scraper.join()
        scrapes.sort()
        deadline = time.perf_counter() + 600
        while window_rows(port) < size and time.perf_counter() < deadline:
            time.sleep(0.1)
        # drift_window_rows is published by an evaluation of the full window;
        # from here every evaluation is of a full window. One more batch asks
        # for one more; the mean is over those that ran until the count settles.
        _, text = get(port, "/metrics")
        s1 = metric(text, "drift_evaluation_seconds_sum")
        c1 = metric(text, "drift_evaluation_seconds_count")
        post(port, parts[0][1])
        deadline = time.perf_counter() + 600
        last = c1
        while time.perf_counter() < deadline:
            time.sleep(1.0)
            _, text = get(port, "/metrics")
            count = metric(text, "drift_evaluation_seconds_count")
            if count > c1 and count == last:
                break
            last = count
        s2, c2 = metric(text, "drift_evaluation_seconds_sum"), metric(text, "drift_evaluation_seconds_count")
        evaluation = (s2 - s1) / max(c2 - c1, 1)
        full = rss_mib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=600)
        state = {
            name: os.path.getsize(os.path.join(work, name)) / (1 << 20)
            for name in os.listdir(work)
            if name.startswith("state")
        }
        started = time.perf_counter()
        proc = start(binary, config)
        wait_ready(port, proc)
        ready = time.perf_counter() - started
        return {
            "size": size,
            "empty_mib": empty,
            "full_mib": full,
            "bytes_per_row": (full - empty) * (1 << 20) / size,
            "bytes_per_value": (full - empty) * (1 << 20) / size / columns,
            "evaluation_s": evaluation,
            "state_mib": state,
            "restart_ready_s": ready,
            "ingest_rows_per_s": sent / fill_seconds,
            "scrape_p50_ms": scrapes[len(scrapes) // 2] * 1000 if scrapes else float("nan"),
            "scrape_p99_ms": scrapes[int((len(scrapes) - 1) * 0.99)] * 1000 if scrapes else float("nan"),
            "scrapes": len(scrapes),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
        if keep:
            print(f"state kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="target/bench-data-22")
    p.add_argument("--binary", default="target/release/drift-exporter")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--reference", help="the reference (default: DATA/reference.parquet; a profile works)")
    p.add_argument("--keep", action="store_true", help="keep each size's config and state files (their directory is printed)")
    args = p.parse_args()
    reference = args.reference or os.path.join(args.data, "reference.parquet")
    parts, columns = bodies(os.path.join(args.data, "current.parquet"))
    print(f"{columns} columns; Arrow IPC bodies of {BATCH_ROWS} rows\n")
    print(
        "| window rows | RSS empty | RSS full | bytes per row | per value | one evaluation "
        "| state files | restart to /readyz | Arrow ingest (POST) | scrape p50 / p99 while ingesting |"
        "\n|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
    )
    for size in [int(s) for s in args.sizes.split(",")]:
        m = measure(args.binary, reference, parts, columns, size, args.keep)
        state = ", ".join(
            f"{re.sub(r'^state', '', k) or 'json'} {v:.1f} MiB" for k, v in sorted(m["state_mib"].items())
        )
        print(
            f"| {size:,} | {m['empty_mib']:.0f} MiB | {m['full_mib']:.0f} MiB | "
            f"{m['bytes_per_row']:.0f} | {m['bytes_per_value']:.1f} | {m['evaluation_s'] * 1000:.0f} ms "
            f"| {state} | {m['restart_ready_s']:.2f} s | {m['ingest_rows_per_s'] / 1000:.0f} k rows/s "
            f"| {m['scrape_p50_ms']:.1f} / {m['scrape_p99_ms']:.1f} ms ({m['scrapes']}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
