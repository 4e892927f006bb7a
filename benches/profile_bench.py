#!/usr/bin/env python3
"""Reference profiles, measured (issue 9): the cost of `drift-exporter profile`, the file's
size, `check` from the Parquet and from its profile, and `serve` start-to-ready from each,
alternating in one run, with each process's peak RSS (from wait4). Standard library only.

    cargo build --release
    cargo bench --bench throughput -- --write-only target/bench-data   # the data
    python3 benches/profile_bench.py --data target/bench-data --runs 5

Prints a Markdown table of medians (and min-max) for BENCHMARKS.md; `--json OUT` keeps every run.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def run_rusage(cmd):
    """Runs cmd; returns (seconds, peak RSS in MiB from wait4, stdout bytes)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
        ])
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({code}): {stderr.decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ready(binary, reference, workdir):
    """Seconds from spawning `serve` to the first 200 from /readyz, then SIGTERM."""
    port = free_port()
    config = os.path.join(workdir, "bench.toml")
    with open(config, "w") as f:
        f.write(
            f'[server]\nlisten = "127.0.0.1:{port}"\n[reference]\npath = "{reference}"\n'
            f'[state]\npath = "{workdir}/state.json"\n[[sources]]\ntype = "http"\n'
        )
    for name in os.listdir(workdir):
        if name.startswith("state"):
            # The state is a file, and (since the window's segments) a folder.
            path = os.path.join(workdir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "serve", "--config", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = None
    deadline = start + 120
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    ready = time.perf_counter() - start
                    break
        except OSError:
            time.sleep(0.005)
    proc.terminate()
    proc.wait(timeout=30)
    if ready is None:
        sys.exit(f"serve on {reference} never became ready")
    return ready


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="target/bench-data")
    p.add_argument("--binary", default="target/release/drift-exporter")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--skip-serve", action="store_true", help="skip the start-to-ready runs")
    p.add_argument("--build-only", action="store_true",
                   help="only build the profiles (for references of 1e7 rows and more)")
    p.add_argument("--sketch-only", action="store_true", help="with --build-only: only the sketch")
    p.add_argument("--json")
    a = p.parse_args()
    binary = os.path.abspath(a.binary)
    reference = os.path.abspath(os.path.join(a.data, "reference.parquet"))
    current = os.path.abspath(os.path.join(a.data, "current.parquet"))
    for path in (binary, reference, current):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing (see the usage at the top of this script)")
    profile = os.path.abspath(os.path.join(a.data, "reference.profile"))
    sketch = os.path.abspath(os.path.join(a.data, "reference.sketch.profile"))
    results = {k: [] for k in ("profile_s", "profile_mib", "sketch_profile_s", "sketch_profile_mib",
                               "check_parquet_s", "check_parquet_mib",
                               "check_profile_s", "check_profile_mib", "check_sketch_s",
                               "check_sketch_mib", "ready_parquet_s", "ready_profile_s")}
    with tempfile.TemporaryDirectory() as work:
        for i in range(a.runs):
            if not a.sketch_only:
                s, rss, _ = run_rusage([binary, "profile", "--reference", reference, "--out", profile])
                results["profile_s"].append(s)
                results["profile_mib"].append(rss)
            s, rss, _ = run_rusage([binary, "profile", "--reference", reference, "--out", sketch,
                                    "--sketch"])
            results["sketch_profile_s"].append(s)
            results["sketch_profile_mib"].append(rss)
            if a.build_only:
                continue
            outputs = {}
            # Alternate which goes first.
            order = ("parquet", "profile") if i % 2 == 0 else ("profile", "parquet")
            for side in order:
                ref = reference if side == "parquet" else profile
                s, rss, out = run_rusage([binary, "check", "--reference", ref, "--current", current,
                                          "--format", "json"])
                results[f"check_{side}_s"].append(s)
                results[f"check_{side}_mib"].append(rss)
                outputs[side] = out
            if outputs["parquet"] != outputs["profile"]:
                sys.exit("check from the profile printed something else than from the Parquet")
            s, rss, _ = run_rusage([binary, "check", "--reference", sketch, "--current", current,
                                    "--format", "json"])
            results["check_sketch_s"].append(s)
            results["check_sketch_mib"].append(rss)
            for side in order if not a.skip_serve else ():
                ref = reference if side == "parquet" else profile
                results[f"ready_{side}_s"].append(serve_ready(binary, ref, work))
    sizes = {os.path.basename(p): os.path.getsize(p) for p in (reference, profile, sketch)
             if os.path.exists(p)}
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": results, "sizes": sizes}, f, indent=2)
    print(f"{a.runs} runs, alternating; medians (min-max)\n")
    print("| measure | median | min-max |")
    print("|---|---:|---:|")
    for key, unit, scale in (("profile_s", "s", 1), ("profile_mib", "MiB", 1),
                             ("sketch_profile_s", "s", 1), ("sketch_profile_mib", "MiB", 1),
                             ("check_parquet_s", "s", 1), ("check_profile_s", "s", 1),
                             ("check_sketch_s", "s", 1),
                             ("check_parquet_mib", "MiB", 1), ("check_profile_mib", "MiB", 1),
                             ("check_sketch_mib", "MiB", 1),
                             ("ready_parquet_s", "ms", 1000), ("ready_profile_s", "ms", 1000)):
        if not results[key]:
            continue
        m, lo, hi = summary(results[key])
        print(f"| {key} | {m * scale:.3g} {unit} | {lo * scale:.3g}-{hi * scale:.3g} |")
    for name, size in sizes.items():
        print(f"| size of {name} | {size / 2**20:.1f} MiB | |")
    if results["check_profile_s"]:
        ratio = statistics.median(results["check_parquet_s"]) / statistics.median(results["check_profile_s"])
        print(f"\ncheck: the profile is {ratio:.2f}x faster than the Parquet (same run, medians); "
              f"outputs identical in every run")


if __name__ == "__main__":
    main()
