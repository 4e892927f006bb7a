#!/usr/bin/env python3
"""A soak run: steady ingest into a running drift-exporter for a while, its memory and the age
of its scores over time.

    python3 benches/soak.py --pid PID --metrics 127.0.0.1:9877 --ingest 127.0.0.1:9878 \
        [--minutes 10] [--rows-per-second 2000] [--batch 200]

Posts NDJSON batches (the sample's clean and drifted rows, alternating every minute) at the
given rate, and once a second reads the daemon's resident memory (VmRSS of --pid) and, from
/metrics, how far the last evaluation lags the last batch. Prints one line per minute and a
summary (RELIABILITY.md quotes it). Python standard library only.
"""

import argparse
import http.client
import os
import statistics
import time

from ingest_burst import rss_mib  # same folder

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "reference-data", "samples")


def request(address, method, path, body=None, headers=None):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def gauge(text, name):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def csv_rows_as_ndjson(path):
    import csv
    import json

    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            obj = {}
            for k, v in row.items():
                if v == "":
                    obj[k] = None  # an empty CSV cell is a missing value
                    continue
                try:
                    obj[k] = float(v)
                except ValueError:
                    obj[k] = {"true": True, "false": False}.get(v, v)
            out.append(json.dumps(obj))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--metrics", required=True, help="host:port serving /metrics")
    p.add_argument("--ingest", required=True, help="host:port serving POST /ingest")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--rows-per-second", type=float, default=2000)
    p.add_argument("--batch", type=int, default=200)
    a = p.parse_args()

    drifted = open(os.path.join(SAMPLES, "batch-0003-drifted.ndjson")).read().splitlines()
    clean = csv_rows_as_ndjson(os.path.join(SAMPLES, "batch-0002-clean.csv"))
    interval = a.batch / a.rows_per_second
    start = time.time()
    end = start + a.minutes * 60
    next_post = start
    next_sample = start
    offset = 0
    posted = refused = 0
    rss, lags = [], []
    minute_rss, minute_lag = [], []
    minute = 0
    while time.time() < end:
        now = time.time()
        if now >= next_post:
            rows = clean if int((now - start) // 60) % 2 == 0 else drifted
            batch = [rows[(offset + i) % len(rows)] for i in range(a.batch)]
            offset += a.batch
            status, _ = request(a.ingest, "POST", "/ingest", ("\n".join(batch) + "\n").encode(),
                                {"Content-Type": "application/x-ndjson"})
            posted += a.batch if status == 200 else 0
            refused += status != 200
            next_post += interval
        if now >= next_sample:
            r = rss_mib(a.pid)
            _, text = request(a.metrics, "GET", "/metrics")
            text = text.decode()
            last_batch = gauge(text, "drift_last_batch_timestamp_seconds")
            last_eval = gauge(text, "drift_last_evaluation_timestamp_seconds")
            lag = max(0.0, (last_batch or 0) - (last_eval or 0))
            rss.append(r)
            lags.append(lag)
            minute_rss.append(r)
            minute_lag.append(lag)
            next_sample += 1
            if int((now - start) // 60) > minute:
                minute += 1
                print(f"minute {minute}: rss median {statistics.median(minute_rss):.0f} MiB, "
                      f"max {max(minute_rss):.0f} MiB; evaluation lag max {max(minute_lag):.2f} s",
                      flush=True)
                minute_rss, minute_lag = [], []
        time.sleep(max(0.0, min(next_post, next_sample) - time.time()))
    print(f"soak: {a.minutes:g} min, {posted:,} rows posted ({posted / (time.time() - start):,.0f}/s), "
          f"{refused} refused")
    first = statistics.median(rss[: max(1, len(rss) // 10)])
    last = statistics.median(rss[-max(1, len(rss) // 10):])
    print(f"rss: first tenth median {first:.0f} MiB, last tenth median {last:.0f} MiB, "
          f"max {max(rss):.0f} MiB; evaluation lag: median {statistics.median(lags):.2f} s, "
          f"max {max(lags):.2f} s")


if __name__ == "__main__":
    main()
