//! The model-quality gauges (SPEC.md section 9): `drift_quality_*{model,
//! dataset}` for the window's labelled rows (`dataset="window"`) and the
//! reference's (`dataset="reference"`), with a `class` label (each class, and
//! `macro`) on precision, recall and F1; and the concept-drift gauges
//! `drift_concept_*` (change detectors per `detector`, calibration by `bin` of the
//! prediction). Part of [`super::Metrics`].

use prometheus::{GaugeVec, Registry};

use super::gauge;
use crate::concept::{Calibration, ConceptReport};
use crate::quality::QualityReport;

/// Labels of the whole-model gauges.
const LABELS: &[&str] = &["model", "dataset"];
/// Labels of the per-class gauges.
const CLASS_LABELS: &[&str] = &["model", "dataset", "class"];

/// Every quality gauge.
pub(super) struct QualityGauges {
    labelled_rows: GaugeVec,
    accuracy: GaugeVec,
    precision: GaugeVec,
    recall: GaugeVec,
    f1: GaugeVec,
    roc_auc: GaugeVec,
    log_loss: GaugeVec,
    mae: GaugeVec,
    mse: GaugeVec,
    rmse: GaugeVec,
    mape: GaugeVec,
    r2: GaugeVec,
    concept_detected: GaugeVec,
    concept_detections: GaugeVec,
    concept_rows_since: GaugeVec,
    concept_statistic: GaugeVec,
    calibration_gap: GaugeVec,
    calibration_bin: GaugeVec,
}

impl QualityGauges {
    pub(super) fn register(r: &Registry) -> prometheus::Result<QualityGauges> {
        Ok(QualityGauges {
            labelled_rows: gauge(r, "drift_quality_labelled_rows", "Rows with a label and a prediction that quality is computed over (window: the window's rows; reference: the reference's).", LABELS)?,
            accuracy: gauge(r, "drift_quality_accuracy", "Share of labelled rows whose predicted class is the label (scikit-learn accuracy_score).", LABELS)?,
            precision: gauge(r, "drift_quality_precision", "Precision per class, and their unweighted mean as class=\"macro\" (scikit-learn precision_recall_fscore_support; 0 for a class never predicted).", CLASS_LABELS)?,
            recall: gauge(r, "drift_quality_recall", "Recall per class, and their unweighted mean as class=\"macro\" (0 for a class never in the labels).", CLASS_LABELS)?,
            f1: gauge(r, "drift_quality_f1", "F1 per class, and the unweighted mean of the per-class F1 as class=\"macro\".", CLASS_LABELS)?,
            roc_auc: gauge(r, "drift_quality_roc_auc", "ROC AUC of the positive-class score (binary classifier with a score; absent while the labels hold one class only).", LABELS)?,
            log_loss: gauge(r, "drift_quality_log_loss", "Log loss of the score read as P(positive class) (scikit-learn log_loss; absent when a score is outside [0, 1]).", LABELS)?,
            mae: gauge(r, "drift_quality_mae", "Mean absolute error of a regressor.", LABELS)?,
            mse: gauge(r, "drift_quality_mse", "Mean squared error of a regressor.", LABELS)?,
            rmse: gauge(r, "drift_quality_rmse", "Root mean squared error of a regressor.", LABELS)?,
            mape: gauge(r, "drift_quality_mape", "Mean absolute percentage error of a regressor, as a share (scikit-learn mean_absolute_percentage_error).", LABELS)?,
            r2: gauge(r, "drift_quality_r2", "Coefficient of determination R^2 of a regressor (scikit-learn r2_score).", LABELS)?,
            concept_detected: gauge(r, "drift_concept_drift_detected", "1 if the change detector found a change in the error stream of the window's labelled rows (arrival order), else 0 (detector: ddm, adwin, page_hinkley; as River's).", &["model", "detector"])?,
            concept_detections: gauge(r, "drift_concept_detections", "Changes the detector found in the error stream of the window's labelled rows.", &["model", "detector"])?,
            concept_rows_since: gauge(r, "drift_concept_rows_since_detection", "Labelled rows of the window after the detector's last detection.", &["model", "detector"])?,
            concept_statistic: gauge(r, "drift_concept_statistic", "The detector's statistic at the end of the window's error stream: DDM p+s (error rate plus its deviation), Page-Hinkley cumulative sum, ADWIN window mean error.", &["model", "detector"])?,
            calibration_gap: gauge(r, "drift_concept_calibration_gap", "Largest difference, over bins of the prediction with at least 100 labelled rows on both sides, between the window's and the reference's positive-label share (scored classifier) or mean signed error in reference RMSEs (regressor).", &["model"])?,
            calibration_bin: gauge(r, "drift_concept_bin_target", "Per bin of the prediction (the reference's bins, 0 = lowest): the positive-label share (scored classifier) or mean signed error prediction - label (regressor), for the window and the reference.", &["model", "dataset", "bin"])?,
        })
    }

    /// Replaces every quality series with the window's and the reference's.
    pub(super) fn publish(
        &self,
        model: &str,
        window: Option<&QualityReport>,
        reference: Option<&QualityReport>,
    ) {
        for g in [
            &self.labelled_rows,
            &self.accuracy,
            &self.precision,
            &self.recall,
            &self.f1,
            &self.roc_auc,
            &self.log_loss,
            &self.mae,
            &self.mse,
            &self.rmse,
            &self.mape,
            &self.r2,
        ] {
            g.reset();
        }
        for (dataset, report) in [("window", window), ("reference", reference)] {
            if let Some(report) = report {
                self.set(model, dataset, report);
            }
        }
    }

    /// Replaces every concept-drift series with `window`'s (and the reference's
    /// calibration).
    pub(super) fn publish_concept(
        &self,
        model: &str,
        window: Option<&ConceptReport>,
        reference: Option<&Calibration>,
    ) {
        for g in [
            &self.concept_detected,
            &self.concept_detections,
            &self.concept_rows_since,
            &self.concept_statistic,
            &self.calibration_gap,
            &self.calibration_bin,
        ] {
            g.reset();
        }
        let Some(window) = window else {
            return;
        };
        for d in &window.detectors {
            let labels = [model, d.detector];
            self.concept_detected
                .with_label_values(&labels)
                .set(if d.detections > 0 { 1.0 } else { 0.0 });
            self.concept_detections
                .with_label_values(&labels)
                .set(d.detections as f64);
            if let Some(rows) = d.rows_since_detection {
                self.concept_rows_since
                    .with_label_values(&labels)
                    .set(rows as f64);
            }
            if d.statistic.is_finite() {
                self.concept_statistic
                    .with_label_values(&labels)
                    .set(d.statistic);
            }
        }
        if let Some(gap) = window.calibration_gap {
            self.calibration_gap.with_label_values(&[model]).set(gap);
        }
        for (dataset, calibration) in [
            ("window", window.calibration.as_ref()),
            ("reference", reference),
        ] {
            let Some(calibration) = calibration else {
                continue;
            };
            for (bin, mean) in calibration.mean.iter().enumerate() {
                if let Some(mean) = mean {
                    self.calibration_bin
                        .with_label_values(&[model, dataset, &bin.to_string()])
                        .set(*mean);
                }
            }
        }
    }

    fn set(&self, model: &str, dataset: &str, report: &QualityReport) {
        let labels = [model, dataset];
        let set = |g: &GaugeVec, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                g.with_label_values(&labels).set(v);
            }
        };
        set(&self.labelled_rows, Some(report.labelled_rows as f64));
        if let Some(c) = &report.classification {
            set(&self.accuracy, Some(c.accuracy));
            set(&self.roc_auc, c.roc_auc);
            set(&self.log_loss, c.log_loss);
            let per_class = c
                .classes
                .iter()
                .map(|k| (k.class.as_str(), k.precision, k.recall, k.f1))
                .chain([("macro", c.macro_precision, c.macro_recall, c.macro_f1)]);
            for (class, precision, recall, f1) in per_class {
                let labels = [model, dataset, class];
                self.precision.with_label_values(&labels).set(precision);
                self.recall.with_label_values(&labels).set(recall);
                self.f1.with_label_values(&labels).set(f1);
            }
        }
        if let Some(r) = &report.regression {
            set(&self.mae, r.mae);
            set(&self.mse, r.mse);
            set(&self.rmse, r.rmse);
            set(&self.mape, r.mape);
            set(&self.r2, r.r2);
        }
    }
}
