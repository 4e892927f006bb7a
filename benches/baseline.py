#!/usr/bin/env python3
"""Baseline: the `check` computation done the way a Python user would, timed against
`drift-exporter check` on the very same files, in the same run.

What it measures, each as the median of --runs runs, every run in its own process (so
each peak RSS is that run's own, from os.wait4's rusage):

* ``drift-exporter check --format json`` (the release binary) on the current file as
  Parquet, CSV and NDJSON: process wall time, start to exit.
* numpy/scipy: pyarrow reads both Parquet files, then per column exactly SPEC.md
  section 2: ``np.quantile`` edges, ``np.searchsorted``/``np.bincount`` counts, PSI and
  KL with epsilon, ``scipy.stats.ks_2samp(method="asymp")``, categories by frequency
  (pyarrow ``value_counts``) and ``scipy.stats.chi2_contingency(correction=False)``.
  Timed inside the process (read + scores: imports and interpreter start excluded,
  as in a notebook); the process wall time is reported too. Its scores are compared
  with drift-exporter's JSON, so both sides provably did the same work.
* Evidently's ``DataDriftPreset`` report (its default tests), if ``evidently``
  imports in ``--evidently-python``: read with pyarrow, ``to_pandas()``, ``Report.run``.

The data comes from the throughput harness (benches/throughput.rs); run from the
repository root:

    cargo build --release
    cargo bench --bench throughput -- --write-only target/bench-data
    python3 benches/baseline.py --data target/bench-data --runs 5 \
        --evidently-python /path/to/venv/bin/python

(missing data is generated with that cargo command). Ratios are medians over the
median of ``drift-exporter check`` on the Parquet current file measured in this run.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OTHER = "__other__"
BINS = 10
EPSILON = 1e-4
MAX_CATEGORIES = 50

# --------------------------------------------------------------------------------------------
# Workers (each runs in its own process)
# --------------------------------------------------------------------------------------------


def smoothed(counts):
    import numpy as np

    p = counts / counts.sum()
    return np.where(p == 0, EPSILON, p)


def numpy_scores(ref_path, cur_path):
    """The check computation with numpy/scipy; returns {column: scores}."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from scipy import stats

    ref = pq.read_table(ref_path)
    cur = pq.read_table(cur_path)
    out = {}
    for field in ref.schema:
        name = field.name
        r = ref.column(name).drop_null()
        c = cur.column(name).drop_null() if name in cur.column_names else pa.chunked_array([], field.type)
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            rv = r.to_numpy().astype(np.float64)
            cv = c.to_numpy().astype(np.float64)
            rv = rv[np.isfinite(rv)]
            cv = cv[np.isfinite(cv)]
            edges = np.unique(np.quantile(rv, np.arange(1, BINS) / BINS))
            rc = np.bincount(np.searchsorted(edges, rv, side="right"), minlength=len(edges) + 1)
            cc = np.bincount(np.searchsorted(edges, cv, side="right"), minlength=len(edges) + 1)
            rp, cp = smoothed(rc), smoothed(cc)
            ks = stats.ks_2samp(rv, cv, method="asymp")
            out[name] = {
                "psi": float(np.sum((cp - rp) * np.log(cp / rp))),
                "kl_divergence": float(np.sum(rp * np.log(rp / cp))),
                "ks_statistic": float(ks.statistic),
                "ks_pvalue": float(ks.pvalue),
                "out_of_range_ratio": float(np.mean((cv < rv.min()) | (cv > rv.max()))),
            }
        else:
            vc = pc.value_counts(r)
            labels = vc.field("values").to_pylist()
            counts = vc.field("counts").to_pylist()
            ordered = sorted(zip(labels, counts), key=lambda lc: (-lc[1], lc[0].encode()))
            kept = [label for label, _ in ordered[:MAX_CATEGORIES]]
            bin_of = {label: i for i, label in enumerate(kept)}
            other = len(kept)
            rc = np.zeros(other + 1, dtype=np.int64)
            for label, count in ordered:
                rc[bin_of.get(label, other)] += count
            seen = set(labels)
            cvc = pc.value_counts(c)
            cc = np.zeros(other + 1, dtype=np.int64)
            unseen = 0
            for label, count in zip(cvc.field("values").to_pylist(), cvc.field("counts").to_pylist()):
                cc[bin_of.get(label, other)] += count
                if label not in seen:
                    unseen += count
            rp, cp = smoothed(rc), smoothed(cc)
            table = np.vstack([rc, cc])
            table = table[:, table.sum(axis=0) > 0]
            chi2_p = (
                1.0 if table.shape[1] < 2 else float(stats.chi2_contingency(table, correction=False).pvalue)
            )
            out[name] = {
                "psi": float(np.sum((cp - rp) * np.log(cp / rp))),
                "kl_divergence": float(np.sum(rp * np.log(rp / cp))),
                "chi2_pvalue": chi2_p,
                "unseen_category_ratio": unseen / int(cc.sum()),
            }
    return out


def worker_numpy(args):
    t0 = time.perf_counter()
    scores = numpy_scores(args.reference, args.current)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "scores": scores}))


def worker_evidently(args):
    t_import = time.perf_counter()
    try:
        import pyarrow.parquet as pq
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception as e:  # an ImportError, or a broken dependency set
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(3)
    import_seconds = time.perf_counter() - t_import
    t0 = time.perf_counter()
    ref = pq.read_table(args.reference).to_pandas()
    cur = pq.read_table(args.current).to_pandas()
    preset = DataDriftPreset(method=args.evidently_method) if args.evidently_method else DataDriftPreset()
    snapshot = Report([preset]).run(cur, ref)
    seconds = time.perf_counter() - t0
    summary = None
    try:
        metrics = snapshot.dict()["metrics"]
        summary = next(
            (m["value"] for m in metrics if "DriftedColumnsCount" in str(m.get("metric_id", m))),
            None,
        )
    except Exception as e:  # the summary is informative only
        summary = f"unavailable: {type(e).__name__}: {e}"
    print(json.dumps({"seconds": seconds, "import_seconds": import_seconds, "summary": summary}, default=str))


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def run_process(cmd, ok_codes=(0,)):
    """Runs cmd; returns (wall seconds, peak RSS MiB, exit code, stdout, stderr)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read pipes to EOF first (avoids a full-pipe deadlock), then reap with wait4,
    # whose rusage is this child's alone.
    stdout, stderr = p.stdout.read(), p.stderr.read()
    _, status, rusage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, rusage.ru_maxrss / 1024.0, p.returncode, stdout.decode(), stderr.decode()


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def measure_binary(binary, reference, current, runs):
    walls, rss, report = [], [], None
    for _ in range(runs):
        wall, peak, code, out, err = run_process(
            [
                str(binary),
                "check",
                "--reference",
                str(reference),
                "--current",
                str(current),
                "--format",
                "json",
            ]
        )
        if code not in (0, 1):
            raise SystemExit(f"drift-exporter check failed on {current} (exit {code}): {err.strip()}")
        walls.append(wall)
        rss.append(peak)
        report = json.loads(out)
    return {"seconds": summary(walls), "peak_rss_mib": summary(rss), "report": report}


def measure_worker(python, kind, reference, current, runs, extra=()):
    seconds, walls, rss, last = [], [], [], None
    for _ in range(runs):
        cmd = [
            python,
            str(Path(__file__).resolve()),
            "--worker",
            kind,
            "--reference",
            str(reference),
            "--current",
            str(current),
            *extra,
        ]
        wall, peak, code, out, err = run_process(cmd)
        if code != 0:
            try:
                reason = json.loads(out)["error"]
            except Exception:
                reason = (err.strip().splitlines() or [f"exit {code}"])[-1]
            return {"error": reason}
        last = json.loads(out)
        seconds.append(last["seconds"])
        walls.append(wall)
        rss.append(peak)
    return {
        "seconds": summary(seconds),
        "process_seconds": summary(walls),
        "peak_rss_mib": summary(rss),
        "last": last,
    }


def compare(report, scores):
    """Largest absolute difference per score between drift-exporter and numpy/scipy."""
    worst = {}
    for feature in report["features"]:
        mine = scores.get(feature["name"], {})
        for key, theirs in mine.items():
            ours = feature.get(key)
            if ours is None or theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
                continue
            worst[key] = max(worst.get(key, 0.0), abs(ours - theirs))
    return worst


def ensure_inputs(args):
    data = Path(args.data)
    reference, current = data / "reference.parquet", data / "current.parquet"
    if not reference.exists() or not current.exists():
        print(f"{data}: no generated files; writing them with the throughput harness", flush=True)
        subprocess.run(
            ["cargo", "bench", "--bench", "throughput", "--", "--write-only", str(data)],
            cwd=REPO,
            check=True,
        )
    binary = Path(args.binary)
    if not binary.exists():
        raise SystemExit(f"{binary}: not built; run `cargo build --release` first")
    return reference, current, binary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", default=str(REPO / "target" / "bench-data"), help="folder written by the throughput harness"
    )
    ap.add_argument("--runs", type=int, default=5, help="runs per method (median reported)")
    ap.add_argument("--evidently-runs", type=int, default=None, help="runs for Evidently (default: --runs)")
    ap.add_argument("--binary", default=str(REPO / "target" / "release" / "drift-exporter"))
    ap.add_argument("--evidently-python", default=sys.executable, help="a Python with evidently installed")
    ap.add_argument("--skip-evidently", action="store_true")
    ap.add_argument(
        "--evidently-method",
        help="one stat test for every column (e.g. psi, ks); default: Evidently's own choice per column",
    )
    ap.add_argument("--json", help="also write all measurements to this file")
    ap.add_argument("--worker", choices=["numpy", "evidently"], help=argparse.SUPPRESS)
    ap.add_argument("--reference", help=argparse.SUPPRESS)
    ap.add_argument("--current", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "numpy":
        return worker_numpy(args)
    if args.worker == "evidently":
        return worker_evidently(args)

    reference, current, binary = ensure_inputs(args)
    data = reference.parent
    results = {
        "data": str(data),
        "runs": args.runs,
        "env_OPENBLAS": {k: v for k, v in os.environ.items() if "OPENBLAS" in k},
    }
    rows = []

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"data: {data}; {args.runs} runs per method, each in its own process; load average before: {load}\n",
        flush=True,
    )
    for fmt in ["parquet", "csv", "ndjson"]:
        path = data / f"current.{fmt}"
        if not path.exists():
            continue
        r = measure_binary(binary, reference, path, args.runs)
        results[f"drift-exporter check ({fmt})"] = r
        rows.append((f"drift-exporter check, current {fmt} (process)", r))
    base = results["drift-exporter check (parquet)"]["seconds"]["median"]
    # From the reference's profiles, when benches/profile_bench.py has written them.
    for label, path in (("profile", data / "reference.profile"),
                        ("sketch profile", data / "reference.sketch.profile")):
        if path.exists():
            r = measure_binary(binary, path, current, args.runs)
            results[f"drift-exporter check from the {label}"] = r
            rows.append((f"drift-exporter check from the {label}, current parquet (process)", r))

    r = measure_worker(sys.executable, "numpy", reference, current, args.runs)
    results["numpy/scipy"] = r
    if "error" in r:
        raise SystemExit(f"numpy/scipy baseline failed: {r['error']}")
    rows.append(("numpy/scipy: pyarrow read + scores (in process)", r))
    rows.append(
        (
            "numpy/scipy: whole process (+ interpreter, imports)",
            {"seconds": r["process_seconds"], "peak_rss_mib": r["peak_rss_mib"]},
        )
    )
    agreement = compare(results["drift-exporter check (parquet)"]["report"], r["last"]["scores"])
    results["max_abs_diff_vs_numpy"] = agreement

    if not args.skip_evidently:
        extra = ["--evidently-method", args.evidently_method] if args.evidently_method else []
        r = measure_worker(
            args.evidently_python, "evidently", reference, current, args.evidently_runs or args.runs, extra
        )
        results["evidently"] = r
        if "error" in r:
            print(f"Evidently: not measured ({r['error']})\n")
        else:
            label = f"method={args.evidently_method}" if args.evidently_method else "default tests"
            rows.append((f"Evidently DataDriftPreset ({label}): read + to_pandas + report (in process)", r))
            rows.append(
                (
                    "Evidently: whole process (+ interpreter, imports)",
                    {"seconds": r["process_seconds"], "peak_rss_mib": r["peak_rss_mib"]},
                )
            )

    width = max(len(name) for name, _ in rows)
    print(
        f"{'method':<{width}}  {'median s':>9}  {'min s':>8}  {'max s':>8}  {'x drift-exporter':>16}  {'peak RSS MiB':>12}"
    )
    for name, r in rows:
        s, m = r["seconds"], r["peak_rss_mib"]["median"]
        print(
            f"{name:<{width}}  {s['median']:>9.3f}  {s['min']:>8.3f}  {s['max']:>8.3f}  {s['median'] / base:>16.1f}  {m:>12.0f}"
        )
    print(
        "\nx drift-exporter = median / median of `drift-exporter check` on the Parquet current file, this run"
    )
    print(
        "largest |drift-exporter - numpy/scipy| per score: "
        + ", ".join(f"{k} {v:.2e}" for k, v in sorted(agreement.items()))
    )
    rep = results["drift-exporter check (parquet)"]["report"]
    print(
        f"drift-exporter: {rep['dataset']['drifted_features']} of {rep['dataset']['features']} columns drifted"
    )
    if "evidently" in results and "error" not in results["evidently"]:
        print(f"Evidently: {results['evidently']['last'].get('summary')}")
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if results["env_OPENBLAS"]:
        print(f"note: OPENBLAS variables set: {results['env_OPENBLAS']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
