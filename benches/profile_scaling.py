#!/usr/bin/env python3
"""How the cost of profiles grows with reference rows and with columns (issue 9), plotted.

Generates references with pyarrow/numpy (half numeric, half categorical columns; a current file
of 10% of the rows, shifted), then times, median of --runs whole processes each:
`drift-exporter profile` (exact and --sketch), and `check` from the Parquet and from each
profile. Writes the numbers (JSON) and a two-panel log-log plot (PNG). Data goes to a temp dir
and is deleted.

    cargo build --release
    python3 benches/profile_scaling.py --out docs/profile-scaling.png --json /tmp/scaling.json

Needs numpy, pyarrow and matplotlib (pip install numpy pyarrow matplotlib).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_table(path, rows, columns, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    arrays, names = [], []
    for i in range(columns):
        if i % 2 == 0:
            arrays.append(pa.array(rng.lognormal(0.0, 1.0, rows) + shift))
        else:
            labels = np.array([f"c{j}" for j in range(12)])
            arrays.append(pa.array(labels[rng.integers(0, 12, rows)]))
        names.append(f"col_{i}")
    pq.write_table(pa.table(arrays, names=names), path)


def timed(cmd, runs):
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        walls.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):
            sys.exit(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.decode()[-1000:]}")
    return statistics.median(walls)


def measure(binary, work, rows, columns, runs):
    ref = os.path.join(work, "ref.parquet")
    cur = os.path.join(work, "cur.parquet")
    exact = os.path.join(work, "ref.profile")
    sketch = os.path.join(work, "ref.sketch.profile")
    write_table(ref, rows, columns, 1)
    write_table(cur, max(rows // 10, 100), columns, 2, shift=0.1)
    out = {"rows": rows, "columns": columns}
    out["profile exact"] = timed([binary, "profile", "--reference", ref, "--out", exact], runs)
    out["profile sketch"] = timed([binary, "profile", "--reference", ref, "--out", sketch, "--sketch"], runs)
    for label, path in (("check from Parquet", ref), ("check from exact profile", exact),
                        ("check from sketch profile", sketch)):
        out[label] = timed([binary, "check", "--reference", path, "--current", cur], runs)
    for path in (ref, cur, exact, sketch):
        os.remove(path)
    print(json.dumps(out), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/drift-exporter")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", default="10000,100000,1000000,4000000", help="rows, at --fixed-columns")
    ap.add_argument("--columns", default="10,30,100,300,1000", help="columns, at --fixed-rows")
    ap.add_argument("--fixed-columns", type=int, default=20)
    ap.add_argument("--fixed-rows", type=int, default=100_000)
    ap.add_argument("--out", default="docs/profile-scaling.png")
    ap.add_argument("--json")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    results = {"by_rows": [], "by_columns": []}
    with tempfile.TemporaryDirectory() as work:
        for rows in map(int, a.rows.split(",")):
            results["by_rows"].append(measure(binary, work, rows, a.fixed_columns, a.runs))
        for columns in map(int, a.columns.split(",")):
            results["by_columns"].append(measure(binary, work, a.fixed_rows, columns, a.runs))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = ["profile exact", "profile sketch", "check from Parquet", "check from exact profile",
              "check from sketch profile"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, key, x, title in ((left, "by_rows", "rows", f"{a.fixed_columns} columns"),
                                (right, "by_columns", "columns", f"{a.fixed_rows:,} rows")):
        points = results[key]
        for name in series:
            axis.plot([p[x] for p in points], [p[name] for p in points], marker="o", label=name)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel(f"reference {x}")
        axis.set_ylabel("seconds (median, whole process)")
        axis.set_title(f"cost against reference {x} ({title})")
        axis.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
