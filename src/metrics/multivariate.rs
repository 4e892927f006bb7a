//! The multivariate drift gauges (`[multivariate]`, README "Multivariate
//! drift"): per model, the window's PCA reconstruction error with the
//! reference's bounds and the decision, the window rows scored, the largest
//! correlation change, the domain classifier's AUROC, and the changes of the `multivariate.top_pairs` pairs
//! that moved most (labelled by both features). Part of [`super::Metrics`].
//! Series count per model: 7 + `top_pairs`; with segments, as many again per
//! segment (`drift_segment_multivariate_*{model, segment}`).

use prometheus::{GaugeVec, Registry};

use super::gauge;
use crate::multivariate::MultivariateReport;

/// Every multivariate gauge.
pub(super) struct MultivariateGauges {
    error: GaugeVec,
    lower: GaugeVec,
    upper: GaugeVec,
    detected: GaugeVec,
    rows: GaugeVec,
    max_change: GaugeVec,
    pair_change: GaugeVec,
    domain_auroc: GaugeVec,
}

impl MultivariateGauges {
    /// The per-model gauges, `drift_multivariate_*{model}`.
    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        Self::register_scoped(r, "drift_multivariate", &["model"], "")
    }

    /// The per-segment gauges, `drift_segment_multivariate_*{model, segment}`
    /// (`[columns] segment` with `[multivariate]`).
    pub(super) fn register_per_segment(r: &Registry) -> prometheus::Result<Self> {
        Self::register_scoped(
            r,
            "drift_segment_multivariate",
            &["model", "segment"],
            " Per segment: the segment's window rows against the multivariate reference fitted on the segment's reference rows.",
        )
    }

    /// The gauges `<prefix>_*` labelled by `scope` (plus both features for a
    /// pair), their help ending in `note`.
    fn register_scoped(
        r: &Registry,
        prefix: &str,
        scope: &[&str],
        note: &str,
    ) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| {
            gauge(
                r,
                &format!("{prefix}_{name}"),
                &format!("{help}{note}"),
                scope,
            )
        };
        let mut pair_labels = scope.to_vec();
        pair_labels.extend(["feature_a", "feature_b"]);
        Ok(MultivariateGauges {
            error: g(
                "reconstruction_error",
                "Mean PCA reconstruction error of the window's rows over the numeric features (standardised on the reference), as NannyML's data reconstruction drift.",
            )?,
            lower: g(
                "reconstruction_error_lower",
                "Lower bound of the reconstruction error: mean - 3 std of the reference chunks' errors (at least 0).",
            )?,
            upper: g(
                "reconstruction_error_upper",
                "Upper bound of the reconstruction error: mean + 3 std of the reference chunks' errors.",
            )?,
            detected: g(
                "drift_detected",
                "1 when the window's reconstruction error lies outside the reference's bounds, else 0.",
            )?,
            rows: g("rows", "Window rows the multivariate signals scored.")?,
            max_change: g(
                "correlation_change_max",
                "Largest absolute change of a pairwise Pearson correlation of the numeric features, window against reference.",
            )?,
            pair_change: gauge(
                r,
                &format!("{prefix}_correlation_change"),
                &format!("Change of a pair's Pearson correlation (window - reference), for the multivariate.top_pairs pairs that moved most.{note}"),
                &pair_labels,
            )?,
            domain_auroc: g(
                "domain_auroc",
                "Cross-validated AUROC of a logistic regression telling window rows from reference rows (numeric features, standardised): 0.5 when they cannot be told apart.",
            )?,
        })
    }

    /// Removes every series.
    pub(super) fn reset(&self) {
        for g in [
            &self.error,
            &self.lower,
            &self.upper,
            &self.detected,
            &self.rows,
            &self.max_change,
            &self.pair_change,
            &self.domain_auroc,
        ] {
            g.reset();
        }
    }

    /// Replaces every series with `report`'s (none without one).
    pub(super) fn publish(&self, model: &str, report: Option<&MultivariateReport>) {
        self.reset();
        if let Some(m) = report {
            self.set(&[model], m);
        }
    }

    /// Sets the series of `scope` (the label values: model, and segment) to
    /// `m`'s signals.
    pub(super) fn set(&self, scope: &[&str], m: &MultivariateReport) {
        self.rows.with_label_values(scope).set(m.rows as f64);
        self.lower.with_label_values(scope).set(m.lower);
        self.upper.with_label_values(scope).set(m.upper);
        if let Some(error) = m.reconstruction_error {
            self.error.with_label_values(scope).set(error);
            self.detected
                .with_label_values(scope)
                .set(if m.drifted { 1.0 } else { 0.0 });
        }
        if let Some(auroc) = m.domain_classifier_auroc {
            self.domain_auroc.with_label_values(scope).set(auroc);
        }
        if let Some(change) = m.max_correlation_change {
            self.max_change.with_label_values(scope).set(change);
        }
        for p in &m.correlation_pairs {
            if let Some(change) = p.change {
                let mut labels = scope.to_vec();
                labels.extend([p.feature_a.as_str(), p.feature_b.as_str()]);
                self.pair_change.with_label_values(&labels).set(change);
            }
        }
    }
}
