#!/usr/bin/env python3
"""Wide data (issue 9): a reference of many columns, profiled and checked, timed.

Writes (seeded, row group by row group, so memory stays small) a reference Parquet of --rows
rows and --columns columns, half lognormal numbers and half 12-label categories, and a current
file of --current-rows rows (numbers shifted by 0.1), then times whole processes:
`drift-exporter profile` (exact), `check` from that profile (--runs times, median) and, unless
--skip-parquet, `check` from the Parquet once. Prints a Markdown table with wall seconds, peak
RSS and file sizes.

    cargo build --release
    python3 benches/wide_bench.py --dir /work/data-wide --columns 1000 --rows 1000000 \\
        --current-rows 100000 --runs 3

The data (about 4.2 GB of Parquet and as much profile at the defaults) stays in --dir; pass
--keep-data to reuse it on the next run. Needs numpy and pyarrow.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 100_000
LABELS = np.array([f"c{j}" for j in range(12)])


def write_table(path, rows, columns, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    names = [f"col_{i}" for i in range(columns)]
    schema = pa.schema(
        [pa.field(n, pa.float64() if i % 2 == 0 else pa.string()) for i, n in enumerate(names)]
    )
    with pq.ParquetWriter(path, schema) as writer:
        left = rows
        while left > 0:
            n = min(left, CHUNK)
            arrays = []
            for i in range(columns):
                if i % 2 == 0:
                    arrays.append(pa.array(rng.lognormal(0.0, 1.0, n) + shift))
                else:
                    arrays.append(pa.array(LABELS[rng.integers(0, 12, n)]))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            left -= n


def run_rusage(cmd):
    """Wall seconds and this child's own peak RSS in MiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{' '.join(cmd)}: exit {code}: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def mib(path):
    return os.path.getsize(path) / (1 << 20)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", required=True, help="where the data and the profile go")
    p.add_argument("--binary", default="target/release/drift-exporter")
    p.add_argument("--columns", type=int, default=1000)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--current-rows", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--keep-data", action="store_true", help="reuse the files in --dir if present")
    p.add_argument("--skip-parquet", action="store_true", help="do not time check from the Parquet")
    args = p.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    ref = os.path.join(args.dir, "reference.parquet")
    cur = os.path.join(args.dir, "current.parquet")
    prof = os.path.join(args.dir, "reference.profile")
    if not (args.keep_data and os.path.exists(ref) and os.path.exists(cur)):
        start = time.perf_counter()
        write_table(ref, args.rows, args.columns, 1)
        write_table(cur, args.current_rows, args.columns, 2, shift=0.1)
        print(f"generated in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    rows = []
    wall, rss = run_rusage([args.binary, "profile", "--reference", ref, "--out", prof])
    rows.append(("`profile` (exact)", f"{wall:.1f} s", f"{rss:,.0f} MiB"))
    checks = [
        run_rusage([args.binary, "check", "--reference", prof, "--current", cur])
        for _ in range(args.runs)
    ]
    walls = [w for w, _ in checks]
    rows.append(
        (
            f"`check` from the profile ({args.runs} runs: median, min-max)",
            f"{statistics.median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f})",
            f"{statistics.median([r for _, r in checks]):,.0f} MiB",
        )
    )
    if not args.skip_parquet:
        wall, rss = run_rusage([args.binary, "check", "--reference", ref, "--current", cur])
        rows.append(("`check` from the Parquet (1 run)", f"{wall:.1f} s", f"{rss:,.0f} MiB"))

    print(
        f"{args.columns} columns ({args.columns - args.columns // 2} numeric), "
        f"{args.rows:,} reference rows, {args.current_rows:,} current rows\n"
    )
    print("| measure | wall | peak RSS |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print(
        f"\nfiles: reference.parquet {mib(ref):,.0f} MiB, current.parquet {mib(cur):,.0f} MiB, "
        f"reference.profile {mib(prof):,.0f} MiB"
    )


if __name__ == "__main__":
    main()
