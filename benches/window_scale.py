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
- the same for `--steady-seconds` more of ingest into the full window (as many rows leave as
  enter; the window snapshot runs every `--snapshot-interval`, default 10 s, and whenever the
  journal passes 64 MiB), and the scores' largest age meanwhile (see `ingest`);
then stops it with SIGTERM (the last snapshot), prints the state files' sizes, starts it again
and times the start to /readyz and to the restored window being scored.

    cargo build --release
    cargo bench --bench throughput -- --write-only target/bench-data-22 --rows 1000000 \\
        --current-rows 200000 --extra-columns 8
    python3 benches/window_scale.py --data target/bench-data-22 --sizes 10000,100000,1000000

`--extra-config '[multivariate]\\nenabled = true'` measures the same with more of the product
turned on. Needs pyarrow.
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


CONTENT_TYPES = {
    "arrow": "application/vnd.apache.arrow.stream",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
}
content_type = CONTENT_TYPES["arrow"]


def post(port, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/ingest",
        data=body,
        headers={"Content-Type": content_type},
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


NDJSON_ROWS = 20_000  # about 11 MB of the 22-column lines: under the 16 MiB body limit


def text_bodies(current, extension):
    """The NDJSON (or CSV) file beside `current` as bodies of NDJSON_ROWS lines
    (a CSV body starts with the header line)."""
    path = os.path.splitext(current)[0] + extension
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    header = []
    if extension == ".csv":
        header, lines = lines[:1], lines[1:]
    return [
        (len(lines[i : i + NDJSON_ROWS]), b"".join(header + lines[i : i + NDJSON_ROWS]))
        for i in range(0, len(lines), NDJSON_ROWS)
    ]


def bodies(current):
    """The current file's rows as Arrow IPC stream bodies of BATCH_ROWS rows
    (or NDJSON bodies, with `--format ndjson`), and the number of columns."""
    table = pq.read_table(current)
    if content_type == CONTENT_TYPES["ndjson"]:
        return text_bodies(current, ".ndjson"), table.num_columns
    if content_type == CONTENT_TYPES["csv"]:
        return text_bodies(current, ".csv"), table.num_columns
    out = []
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        out.append((batch.num_rows, sink.getvalue().to_pybytes()))
    return out, table.num_columns


def state_mib(work):
    """Size of each state file or folder (a folder counts its files)."""
    out = {}
    for name in os.listdir(work):
        if not name.startswith("state"):
            continue
        path = os.path.join(work, name)
        if os.path.isdir(path):
            size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
        else:
            size = os.path.getsize(path)
        out[name] = size / (1 << 20)
    return out


def ingest(port, parts, until):
    """POSTs the bodies in a loop until `until(sent, seconds)` is true while
    another thread scrapes /metrics every 20 ms; returns (rows sent, seconds,
    sorted scrape latencies, the scores' largest age in seconds).

    The scores' age: an evaluation that ends at P_k scored the rows taken in
    before it started (P_k - its duration); a row arriving just after that
    is first scored at P_{k+1}, so the largest age over the run is the
    largest P_{k+1} - (P_k - d_k), read from the publication time
    (`drift_last_evaluation_timestamp_seconds`) and the growth of
    `drift_evaluation_seconds_sum` seen by the scrapes."""
    scrapes, running = [], threading.Event()
    published = []  # (P_k, d_k)
    running.set()

    def scrape():
        last = None
        while running.is_set():
            t = time.perf_counter()
            _, text = get(port, "/metrics")
            scrapes.append(time.perf_counter() - t)
            at = metric(text, "drift_last_evaluation_timestamp_seconds")
            total = metric(text, "drift_evaluation_seconds_sum")
            count = metric(text, "drift_evaluation_seconds_count")
            if last is not None and at != last[0] and count > last[2]:
                published.append((at, (total - last[1]) / (count - last[2])))
            last = (at, total, count)
            time.sleep(0.02)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    sent, started = 0, time.perf_counter()
    try:
        while not until(sent, time.perf_counter() - started):
            for rows, body in parts:
                post(port, body)
                sent += rows
                if until(sent, time.perf_counter() - started):
                    break
    finally:
        seconds = time.perf_counter() - started
        running.clear()
        scraper.join()
    scrapes.sort()
    ages = [nxt[0] - (cur[0] - cur[1]) for cur, nxt in zip(published, published[1:])]
    return sent, seconds, scrapes, max(ages) if ages else float("nan")


def percentile_ms(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[int((len(sorted_values) - 1) * q)] * 1000


def write_config(work, reference, size, source, window_extra="", state_extra=""):
    """Writes `work`/bench.toml: a free loopback port, `reference`, a window of
    `size` rows, the state in `work`, and one source (a `[[sources]]` body);
    returns (config path, port)."""
    port = free_port()
    config = os.path.join(work, "bench.toml")
    with open(config, "w") as f:
        f.write(
            f'[server]\nlisten = "127.0.0.1:{port}"\n[reference]\npath = "{reference}"\n'
            f"[window]\nsize = {size}\nmin_rows = 1\n{window_extra}"
            f'[state]\npath = "{work}/state.json"\n{state_extra}'
            f"[[sources]]\n{source}"
        )
    return config, port


def measure(binary, reference, parts, columns, size, keep=False, snapshot_interval="10s", steady_seconds=5.0,
            extra_config=""):
    work = tempfile.mkdtemp(prefix="window-scale-")
    config, port = write_config(
        work,
        reference,
        size,
        'type = "http"\n',
        window_extra='evaluation_delay = "200ms"\n',
        state_extra=f'snapshot_interval = "{snapshot_interval}"\n{extra_config}',
    )
    proc = start(binary, config)
    try:
        wait_ready(port, proc)
        time.sleep(0.5)
        empty = rss_mib(proc.pid)
        # Fills the window at full speed from this process, scraping
        # /metrics every 20 ms.
        sent, fill_seconds, scrapes, _ = ingest(port, parts, lambda sent, _: sent >= size)
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
        # Sustained ingest into the full window (rows leaving as many enter,
        # snapshots every `snapshot_interval`), scraping as before.
        steady_sent, steady_s, steady_scrapes, steady_age = ingest(
            port, parts, lambda _, t: t >= steady_seconds
        )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=600)
        state = state_mib(work)
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
            "scrape_p50_ms": percentile_ms(scrapes, 0.5),
            "scrape_p99_ms": percentile_ms(scrapes, 0.99),
            "scrapes": len(scrapes),
            "steady_rows_per_s": steady_sent / steady_s,
            "steady_p50_ms": percentile_ms(steady_scrapes, 0.5),
            "steady_p99_ms": percentile_ms(steady_scrapes, 0.99),
            "steady_scrapes": len(steady_scrapes),
            "steady_age_s": steady_age,
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
    global BATCH_ROWS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="target/bench-data-22")
    p.add_argument("--binary", default="target/release/drift-exporter")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--reference", help="the reference (default: DATA/reference.parquet; a profile works)")
    p.add_argument("--keep", action="store_true", help="keep each size's config and state files (their directory is printed)")
    p.add_argument("--snapshot-interval", default="10s", help="state.snapshot_interval of the daemon (default: the product's)")
    p.add_argument("--steady-seconds", type=float, default=5.0, help="seconds of ingest into the full window")
    p.add_argument(
        "--drive",
        type=int,
        metavar="PORT",
        help="only POST into the daemon already listening on 127.0.0.1:PORT for --steady-seconds "
        "(for example one started on a state kept by --keep) and print the ingest rate, the scrape "
        "latency and the scores' age",
    )
    p.add_argument("--format", choices=sorted(CONTENT_TYPES), default="arrow", help="the bodies POSTed")
    p.add_argument(
        "--batch-rows",
        type=int,
        default=50_000,
        help="rows per Arrow body (default 50,000; fewer for wide data: a body must stay under "
        "the daemon's 16 MiB limit)",
    )
    p.add_argument(
        "--extra-config",
        default="",
        help="TOML tables appended to the daemon's config, e.g. '[multivariate]\\nenabled = true' "
        "(\\n is a new line)",
    )
    args = p.parse_args()
    BATCH_ROWS = args.batch_rows
    extra_config = args.extra_config.replace("\\n", "\n")
    if extra_config and not extra_config.endswith("\n"):
        extra_config += "\n"
    global content_type
    content_type = CONTENT_TYPES[args.format]
    if args.drive:
        parts, _ = bodies(os.path.join(args.data, "current.parquet"))
        sent, seconds, scrapes, age = ingest(args.drive, parts, lambda _, t: t >= args.steady_seconds)
        print(
            f"{sent / seconds / 1000:.0f} k rows/s; scrape p50 / p99 {percentile_ms(scrapes, 0.5):.1f} / "
            f"{percentile_ms(scrapes, 0.99):.1f} ms ({len(scrapes)}); scores' age (max) {age:.2f} s"
        )
        return
    reference = args.reference or os.path.join(args.data, "reference.parquet")
    parts, columns = bodies(os.path.join(args.data, "current.parquet"))
    rows_per_body = BATCH_ROWS if args.format == "arrow" else NDJSON_ROWS
    print(f"{columns} columns; {args.format} bodies of {rows_per_body} rows\n")
    print(
        "| window rows | RSS empty | RSS full | bytes per row | per value | one evaluation "
        "| state files | restart to /readyz | ingest filling (POST) | scrape p50 / p99 filling "
        "| ingest, full window | scrape p50 / p99, full window | scores' age (max), full window |"
        "\n|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    )
    for size in [int(s) for s in args.sizes.split(",")]:
        m = measure(args.binary, reference, parts, columns, size, args.keep, args.snapshot_interval, args.steady_seconds,
                    extra_config)
        state = ", ".join(
            f"{re.sub(r'^state', '', k) or 'json'} {v:.1f} MiB" for k, v in sorted(m["state_mib"].items())
        )
        print(
            f"| {size:,} | {m['empty_mib']:.0f} MiB | {m['full_mib']:.0f} MiB | "
            f"{m['bytes_per_row']:.0f} | {m['bytes_per_value']:.1f} | {m['evaluation_s'] * 1000:.0f} ms "
            f"| {state} | {m['restart_ready_s']:.2f} s | {m['ingest_rows_per_s'] / 1000:.0f} k rows/s "
            f"| {m['scrape_p50_ms']:.1f} / {m['scrape_p99_ms']:.1f} ms ({m['scrapes']}) "
            f"| {m['steady_rows_per_s'] / 1000:.0f} k rows/s "
            f"| {m['steady_p50_ms']:.1f} / {m['steady_p99_ms']:.1f} ms ({m['steady_scrapes']}) "
            f"| {m['steady_age_s']:.2f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
