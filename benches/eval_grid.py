#!/usr/bin/env python3
"""Evaluation time against window size and number of columns (issue 14, item 6), as a table
and a PNG plot.

For each column count, runs the throughput harness with `--eval-only` (generated data: the 14
standard columns plus numeric `extra_<k>` columns; a reference of `--rows` rows), which times
one evaluation of a full window at each `--windows` size four ways: the first (the tally built
from the rows), with nothing new (the tally read as it is), after >= 1% new rows (the log
applied, then read; the new rows pushed in batches of `--push-rows`), and from the rows
(gather and sort, as before the tally). Medians of `--runs`.

    cargo bench --bench throughput --no-run
    python3 benches/eval_grid.py --columns 14,30,100,300,1000 --windows 1000,10000,100000 \\
        --rows 100000 --png docs/eval-scaling.png

Needs matplotlib for the plot (`--png`); the table needs nothing.
"""

import argparse
import os
import re
import subprocess
import sys

LINE = re.compile(r"^eval_grid (.*)$")


def run(columns, args):
    extra = max(columns - 14, 0)
    cmd = [
        "cargo", "bench", "--quiet", "--bench", "throughput", "--",
        "--eval-only",
        "--rows", str(args.rows),
        "--current-rows", str(args.current_rows),
        "--extra-columns", str(extra),
        "--runs", str(args.runs),
        "--eval-windows", args.windows,
        "--push-rows", str(args.push_rows),
    ]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            fields = dict(kv.split("=") for kv in m.group(1).split())
            rows.append({k: float(v) for k, v in fields.items()})
    if not rows:
        sys.exit(f"no eval_grid lines in the harness's output:\n{out}")
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_window, by_columns) = plt.subplots(1, 2, figsize=(11, 4.2))
    kinds = [
        ("from_rows_ms", "from the rows (gather + sort)", "-o"),
        ("one_percent_new_ms", "tally, >= 1% new rows", "-s"),
        ("nothing_new_ms", "tally, nothing new", "-^"),
    ]
    columns = sorted({r["columns"] for r in rows})
    windows = sorted({r["window"] for r in rows})
    widest = max(columns)
    for key, label, style in kinds:
        series = sorted((r["window"], r[key]) for r in rows if r["columns"] == widest)
        by_window.plot([w for w, _ in series], [t for _, t in series], style, label=label)
    by_window.set(xscale="log", yscale="log", xlabel="window rows", ylabel="one evaluation (ms)",
                  title=f"{int(widest)} columns")
    window = 10_000 if 10_000 in windows else windows[len(windows) // 2]
    for key, label, style in kinds:
        series = sorted((r["columns"], r[key]) for r in rows if r["window"] == window)
        by_columns.plot([c for c, _ in series], [t for _, t in series], style, label=label)
    by_columns.set(xscale="log", yscale="log", xlabel="columns", ylabel="one evaluation (ms)",
                   title=f"{int(window):,}-row window")
    for ax in (by_window, by_columns):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"wrote {path}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--columns", default="14,30,100,300,1000")
    p.add_argument("--windows", default="1000,10000,100000")
    p.add_argument("--rows", type=int, default=100_000, help="reference rows")
    p.add_argument("--current-rows", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--push-rows",
        type=int,
        help="rows per pushed batch (default: 1% of the smallest window, so that '>= 1% new' is 1%)",
    )
    p.add_argument("--png", help="write the plot here")
    args = p.parse_args()
    if args.push_rows is None:
        args.push_rows = max(min(int(w) for w in args.windows.split(",")) // 100, 1)
    rows = []
    for columns in [int(c) for c in args.columns.split(",")]:
        rows.extend(run(columns, args))
    print("| columns | window rows | first | nothing new | >= 1% new | from the rows |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {int(r['columns'])} | {int(r['window']):,} | {r['first_ms']:.1f} ms "
            f"| {r['nothing_new_ms']:.2f} ms | {r['one_percent_new_ms']:.1f} ms | {r['from_rows_ms']:.1f} ms |",
            flush=True,
        )
    if args.png:
        plot(rows, args.png)


if __name__ == "__main__":
    main()
