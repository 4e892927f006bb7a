#!/usr/bin/env python3
"""A burst of concurrent large uploads against a running drift-exporter, and its memory.

    python3 benches/ingest_burst.py --pid PID --ingest 127.0.0.1:9878 [--clients 64] [--mib 15]

Each client POSTs one NDJSON body of --mib MiB (the sample's drifted rows, repeated) to
/ingest; on 503 it waits the Retry-After seconds and tries again, as a well-behaved client
does. The daemon's resident memory (VmRSS of --pid) is sampled every 50 ms: before the burst,
its peak during it, and --settle seconds after the last upload was answered. Prints one line
per figure (RELIABILITY.md quotes them). Python standard library only.
"""

import argparse
import http.client
import os
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "reference-data", "samples", "batch-0003-drifted.ndjson")


def memory_mib(pid, field="VmRSS"):
    """A /proc/PID/status field in MiB: VmRSS, RssAnon (heap) or RssFile (mapped files)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def rss_mib(pid):
    return memory_mib(pid)


def body_of(mib):
    lines = open(SAMPLE, "rb").read()
    target = int(mib * 1024 * 1024)
    out = bytearray()
    while len(out) + len(lines) <= target:
        out += lines
    return bytes(out)


def upload(address, body, result, deadline):
    host, port = address.rsplit(":", 1)
    tries = 0
    while time.time() < deadline:
        tries += 1
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            conn.request("POST", "/ingest", body, {"Content-Type": "application/x-ndjson"})
            response = conn.getresponse()
            response.read()
            if response.status == 503:
                time.sleep(float(response.getheader("Retry-After", "1")))
                continue
            result.append((response.status, tries))
            return
        except (BrokenPipeError, ConnectionResetError):
            # The daemon answered 503 before reading the body and closed the
            # connection while this client was still sending it (curl, with
            # `Expect: 100-continue`, reads the 503 instead): wait and retry.
            time.sleep(1)
            continue
        except OSError as e:
            result.append((str(e), tries))
            return
        finally:
            conn.close()
    result.append(("gave up", tries))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--ingest", required=True, help="host:port serving POST /ingest")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--mib", type=float, default=15)
    p.add_argument("--settle", type=float, default=30)
    a = p.parse_args()

    body = body_of(a.mib)
    rows = body.count(b"\n")
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.time(), rss_mib(a.pid)))
            time.sleep(0.05)

    before = rss_mib(a.pid)
    before_anon, before_file = memory_mib(a.pid, "RssAnon"), memory_mib(a.pid, "RssFile")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = []
    start = time.time()
    deadline = start + 600
    threads = [
        threading.Thread(target=upload, args=(a.ingest, body, results, deadline))
        for _ in range(a.clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.time() - start
    peak = max(r for _, r in samples)
    time.sleep(a.settle)
    after = rss_mib(a.pid)
    after_anon, after_file = memory_mib(a.pid, "RssAnon"), memory_mib(a.pid, "RssFile")
    stop.set()
    ok = sum(1 for s, _ in results if s == 200)
    retries = sum(t - 1 for _, t in results)
    print(f"burst: {a.clients} clients x {len(body) / 2**20:.1f} MiB NDJSON ({rows} rows each)")
    print(f"answered 200: {ok}/{a.clients}, 503 retries: {retries}, wall {seconds:.1f} s, "
          f"{ok * rows / seconds:,.0f} rows/s")
    print(f"rss before: {before:.0f} MiB, peak: {peak:.0f} MiB, "
          f"{a.settle:.0f} s after: {after:.0f} MiB ({after / before:.2f}x before)")
    print(f"  anonymous: {before_anon:.0f} -> {after_anon:.0f} MiB ({after_anon / before_anon:.2f}x); "
          f"file-backed: {before_file:.0f} -> {after_file:.0f} MiB")
    others = [s for s, _ in results if s != 200]
    if others:
        print(f"other answers: {others[:5]}")


if __name__ == "__main__":
    main()
