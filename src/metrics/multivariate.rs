//! The multivariate drift gauges (`[multivariate]`, README "Multivariate
//! drift"): per model, the window's PCA reconstruction error with the
//! reference's bounds and the decision, the window rows scored, the largest
//! correlation change, the domain classifier's AUROC, and the changes of the `multivariate.top_pairs` pairs
//! that moved most (labelled by both features). Part of [`super::Metrics`].
//! Series count per model: 7 + `top_pairs`.

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
    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        let model = &["model"];
        Ok(MultivariateGauges {
            error: gauge(
                r,
                "drift_multivariate_reconstruction_error",
                "Mean PCA reconstruction error of the window's rows over the numeric features (standardised on the reference), as NannyML's data reconstruction drift.",
                model,
            )?,
            lower: gauge(
                r,
                "drift_multivariate_reconstruction_error_lower",
                "Lower bound of the reconstruction error: mean - 3 std of the reference chunks' errors (at least 0).",
                model,
            )?,
            upper: gauge(
                r,
                "drift_multivariate_reconstruction_error_upper",
                "Upper bound of the reconstruction error: mean + 3 std of the reference chunks' errors.",
                model,
            )?,
            detected: gauge(
                r,
                "drift_multivariate_drift_detected",
                "1 when the window's reconstruction error lies outside the reference's bounds, else 0.",
                model,
            )?,
            rows: gauge(
                r,
                "drift_multivariate_rows",
                "Window rows the multivariate signals scored.",
                model,
            )?,
            max_change: gauge(
                r,
                "drift_multivariate_correlation_change_max",
                "Largest absolute change of a pairwise Pearson correlation of the numeric features, window against reference.",
                model,
            )?,
            pair_change: gauge(
                r,
                "drift_multivariate_correlation_change",
                "Change of a pair's Pearson correlation (window - reference), for the multivariate.top_pairs pairs that moved most.",
                &["model", "feature_a", "feature_b"],
            )?,
            domain_auroc: gauge(
                r,
                "drift_multivariate_domain_auroc",
                "Cross-validated AUROC of a logistic regression telling window rows from reference rows (numeric features, standardised): 0.5 when they cannot be told apart.",
                model,
            )?,
        })
    }

    /// Replaces every series with `report`'s (none without one).
    pub(super) fn publish(&self, model: &str, report: Option<&MultivariateReport>) {
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
        let Some(m) = report else {
            return;
        };
        let labels = [model];
        self.rows.with_label_values(&labels).set(m.rows as f64);
        self.lower.with_label_values(&labels).set(m.lower);
        self.upper.with_label_values(&labels).set(m.upper);
        if let Some(error) = m.reconstruction_error {
            self.error.with_label_values(&labels).set(error);
            self.detected
                .with_label_values(&labels)
                .set(if m.drifted { 1.0 } else { 0.0 });
        }
        if let Some(auroc) = m.domain_classifier_auroc {
            self.domain_auroc.with_label_values(&labels).set(auroc);
        }
        if let Some(change) = m.max_correlation_change {
            self.max_change.with_label_values(&labels).set(change);
        }
        for p in &m.correlation_pairs {
            if let Some(change) = p.change {
                self.pair_change
                    .with_label_values(&[model, &p.feature_a, &p.feature_b])
                    .set(change);
            }
        }
    }
}
