//! The per-segment gauges (`[columns] segment`, README "Segments"):
//! `drift_segment_*{model, segment, ...}`, the whole report's main scores over
//! each segment's rows. Scores of a segment with fewer than `window.min_rows`
//! rows are left out (only its row count is set), as for the whole window.
//! Part of [`super::Metrics`]. Series per model: segments x (4 x columns + 2),
//! and with `[multivariate]` segments x (7 + `top_pairs`) more.

use prometheus::{GaugeVec, Registry};

use super::gauge;
use super::multivariate::MultivariateGauges;
use crate::segments::SegmentReport;

const LABELS: &[&str] = &["model", "segment", "feature", "drift_type"];
const DATASET_LABELS: &[&str] = &["model", "segment"];

/// Every per-segment gauge.
pub(super) struct SegmentGauges {
    window_rows: GaugeVec,
    psi: GaugeVec,
    pvalue: GaugeVec,
    detected: GaugeVec,
    dataset_ratio: GaugeVec,
    dataset_detected: GaugeVec,
    /// `drift_segment_multivariate_*` (with `[multivariate]`).
    multivariate: MultivariateGauges,
}

impl SegmentGauges {
    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        Ok(SegmentGauges {
            window_rows: gauge(
                r,
                "drift_segment_window_rows",
                "Window rows of the segment with a value for the column.",
                LABELS,
            )?,
            psi: gauge(
                r,
                "drift_segment_psi",
                "PSI of the column over the segment's window rows against the segment's reference rows.",
                LABELS,
            )?,
            pvalue: gauge(
                r,
                "drift_segment_pvalue",
                "The column's test p-value within the segment: KS for numeric columns, chi-square for categorical ones (adjusted when drift.correction is set).",
                LABELS,
            )?,
            detected: gauge(
                r,
                "drift_segment_detected",
                "1 when the column drifted within the segment, else 0.",
                LABELS,
            )?,
            dataset_ratio: gauge(
                r,
                "drift_segment_dataset_drifted_ratio",
                "Share of the scored columns that drifted within the segment.",
                DATASET_LABELS,
            )?,
            dataset_detected: gauge(
                r,
                "drift_segment_dataset_detected",
                "1 when the segment's drifted share reaches drift.thresholds.drifted_ratio, else 0.",
                DATASET_LABELS,
            )?,
            multivariate: MultivariateGauges::register_per_segment(r)?,
        })
    }

    /// Replaces every series with `segments`'; scores only for segments of at
    /// least `min_rows` rows.
    pub(super) fn publish(&self, model: &str, segments: &[SegmentReport], min_rows: u64) {
        for g in [
            &self.window_rows,
            &self.psi,
            &self.pvalue,
            &self.detected,
            &self.dataset_ratio,
            &self.dataset_detected,
        ] {
            g.reset();
        }
        self.multivariate.reset();
        for s in segments {
            let scored = s.report.current_rows >= min_rows;
            for f in &s.report.features {
                let labels = [
                    model,
                    s.segment.as_str(),
                    f.name.as_str(),
                    f.drift_type.as_str(),
                ];
                self.window_rows
                    .with_label_values(&labels)
                    .set(f.rows as f64);
                if !scored || !f.is_scored() {
                    continue;
                }
                let pvalue = f
                    .ks_pvalue_adjusted
                    .or(f.chi2_pvalue_adjusted)
                    .or(f.ks_pvalue)
                    .or(f.chi2_pvalue);
                for (g, v) in [(&self.psi, f.psi), (&self.pvalue, pvalue)] {
                    if let Some(v) = v.filter(|v| !v.is_nan()) {
                        g.with_label_values(&labels).set(v);
                    }
                }
                self.detected
                    .with_label_values(&labels)
                    .set(if f.drift_detected { 1.0 } else { 0.0 });
            }
            if scored && s.report.dataset.features > 0 {
                let labels = [model, s.segment.as_str()];
                let d = &s.report.dataset;
                self.dataset_ratio
                    .with_label_values(&labels)
                    .set(d.drifted_ratio);
                self.dataset_detected
                    .with_label_values(&labels)
                    .set(if d.drift_detected { 1.0 } else { 0.0 });
            }
            if let Some(m) = s.report.multivariate.as_ref().filter(|_| scored) {
                self.multivariate.set(&[model, s.segment.as_str()], m);
            }
        }
    }
}
