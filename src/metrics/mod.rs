//! Prometheus series (SPEC.md section 5): a [`DriftReport`] and the daemon's
//! events become gauges, counters and histograms in one registry, rendered in the
//! text exposition format for `/metrics`.
//!
//! Per-column series are rebuilt from each report under a lock that rendering also
//! takes, so a scrape never sees a half-updated set, and a column that stops being
//! scored (too few rows, all values missing) loses its score series instead of
//! keeping a stale value.

mod bins;
pub mod exposition;
mod labels;
mod multivariate;
mod quality;
mod segments;

use std::sync::Mutex;

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use crate::concept::Calibration;
use crate::config::ScoringSettings;
use crate::data::{RejectReason, Rejects};
use crate::drift::DriftReport;
use crate::labels::JoinCounts;
use crate::reference::ReferenceProfile;

/// Version and revision of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git revision at build time ("unknown" outside a checkout).
pub const REVISION: &str = env!("DRIFT_EXPORTER_REVISION");

/// Every series the exporter publishes.
pub struct Metrics {
    registry: Registry,
    lock: Mutex<()>,
    psi: GaugeVec,
    kl: GaugeVec,
    js: GaugeVec,
    hellinger: GaugeVec,
    wasserstein: GaugeVec,
    wasserstein_normed: GaugeVec,
    ks_statistic: GaugeVec,
    ks_pvalue: GaugeVec,
    chi2_pvalue: GaugeVec,
    psi_pvalue: GaugeVec,
    ks_pvalue_adjusted: GaugeVec,
    chi2_pvalue_adjusted: GaugeVec,
    psi_pvalue_adjusted: GaugeVec,
    detected: GaugeVec,
    missing_ratio: GaugeVec,
    out_of_range_ratio: GaugeVec,
    outlier_ratio: GaugeVec,
    reference_outlier_ratio: GaugeVec,
    unseen_ratio: GaugeVec,
    window_rows: GaugeVec,
    dataset_ratio: GaugeVec,
    dataset_weighted_ratio: GaugeVec,
    dataset_detected: GaugeVec,
    window_size: GaugeVec,
    reference_rows: GaugeVec,
    reference_info: GaugeVec,
    model_info: GaugeVec,
    threshold: GaugeVec,
    last_batch: GaugeVec,
    last_evaluation: GaugeVec,
    ingested_rows: IntCounterVec,
    ingested_batches: IntCounterVec,
    rejected_rows: IntCounterVec,
    source_errors: IntCounterVec,
    batch_seconds: Histogram,
    row_out_of_range: HistogramVec,
    latency: HistogramVec,
    prediction_errors: IntCounterVec,
    quality: quality::QualityGauges,
    multivariate: multivariate::MultivariateGauges,
    segments: segments::SegmentGauges,
    labels: labels::LabelSeries,
    bins: bins::BinSeries,
    evaluation_seconds: Histogram,
    /// `window.min_rows`, for the segments' scores ([`Metrics::set_min_rows`]).
    min_rows: std::sync::atomic::AtomicU64,
    _build_info: IntGaugeVec,
}

const COLUMN_LABELS: &[&str] = &["model", "feature", "drift_type"];

pub(crate) fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Registers every series (and the process collector) in a new registry.
    pub fn new() -> prometheus::Result<Metrics> {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "drift_exporter_build_info",
                "Version and git revision of the running drift-exporter; always 1.",
            ),
            &["version", "revision"],
        )?;
        r.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[VERSION, REVISION]).set(1);
        let seconds_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "drift_batch_processing_seconds",
                "Time to read, parse and add one incoming batch (file, log chunk or request) to the window.",
            )
            .buckets(seconds_buckets.clone()),
        )?;
        r.register(Box::new(batch_seconds.clone()))?;
        let evaluation_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "drift_evaluation_seconds",
                "Time to score every column of the window against the reference.",
            )
            .buckets(seconds_buckets),
        )?;
        r.register(Box::new(evaluation_seconds.clone()))?;
        let row_out_of_range = HistogramVec::new(
            HistogramOpts::new(
                "drift_row_out_of_range_features",
                "Per incoming row: how many numeric features lie outside the reference's [min, max] (0 for most rows of a healthy stream).",
            )
            .buckets(vec![0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0]),
            &["model"],
        )?;
        r.register(Box::new(row_out_of_range.clone()))?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "drift_prediction_latency_seconds",
                "Prediction latency the model server reported per row (columns.latency).",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["model"],
        )?;
        r.register(Box::new(latency.clone()))?;
        Ok(Metrics {
            psi: gauge(&r, "drift_psi", "Population Stability Index of the window against the reference (0 = same distribution; 0.2 or more is commonly read as drift).", COLUMN_LABELS)?,
            kl: gauge(&r, "drift_kl_divergence", "Kullback-Leibler divergence KL(reference || window) over the same bins as PSI, in nats.", COLUMN_LABELS)?,
            js: gauge(&r, "drift_js_distance", "Jensen-Shannon distance (natural log, 0 to sqrt(ln 2)) between the reference and window proportions over the PSI bins, before epsilon; scipy.spatial.distance.jensenshannon.", COLUMN_LABELS)?,
            hellinger: gauge(&r, "drift_hellinger_distance", "Hellinger distance (0 to 1) between the reference and window proportions over the PSI bins, before epsilon.", COLUMN_LABELS)?,
            wasserstein: gauge(&r, "drift_wasserstein_distance", "First Wasserstein (earth mover's) distance between the reference's and the window's raw values, in the column's units; scipy.stats.wasserstein_distance (numeric columns).", COLUMN_LABELS)?,
            wasserstein_normed: gauge(&r, "drift_wasserstein_distance_normed", "drift_wasserstein_distance divided by the reference's standard deviation (ddof 0): comparable across columns (numeric columns with a non-constant reference).", COLUMN_LABELS)?,
            ks_statistic: gauge(&r, "drift_ks_statistic", "Two-sample Kolmogorov-Smirnov statistic D: largest gap between the reference and window CDFs (numeric columns).", COLUMN_LABELS)?,
            ks_pvalue: gauge(&r, "drift_ks_pvalue", "Two-sided p-value of the two-sample KS test (small = the window differs from the reference).", COLUMN_LABELS)?,
            chi2_pvalue: gauge(&r, "drift_chi2_pvalue", "p-value of the chi-square test of homogeneity of category counts (categorical columns).", COLUMN_LABELS)?,
            psi_pvalue: gauge(&r, "drift_psi_pvalue", "p-value of the size-aware PSI test: PSI / (1/N + 1/M) against chi-square with B - 1 degrees of freedom (the test decides with drift.thresholds.psi = \"auto\").", COLUMN_LABELS)?,
            ks_pvalue_adjusted: gauge(&r, "drift_ks_pvalue_adjusted", "drift_ks_pvalue adjusted for multiple testing over all p-value tests of all columns (drift.correction: bonferroni or fdr_bh); absent without a correction.", COLUMN_LABELS)?,
            chi2_pvalue_adjusted: gauge(&r, "drift_chi2_pvalue_adjusted", "drift_chi2_pvalue adjusted for multiple testing (drift.correction); absent without a correction.", COLUMN_LABELS)?,
            psi_pvalue_adjusted: gauge(&r, "drift_psi_pvalue_adjusted", "drift_psi_pvalue adjusted for multiple testing (drift.correction, with drift.thresholds.psi = \"auto\"); absent otherwise.", COLUMN_LABELS)?,
            detected: gauge(&r, "drift_detected", "1 if any enabled test crossed its threshold for this column, else 0.", COLUMN_LABELS)?,
            missing_ratio: gauge(&r, "drift_missing_ratio", "Share of window rows with no value for this column.", COLUMN_LABELS)?,
            out_of_range_ratio: gauge(&r, "drift_out_of_range_ratio", "Share of window values below the reference minimum or above its maximum (numeric columns).", COLUMN_LABELS)?,
            outlier_ratio: gauge(&r, "drift_outlier_ratio", "Share of window values outside the reference's Tukey fences [Q1 - k*IQR, Q3 + k*IQR] (numeric columns; k = drift.outlier_iqr_k).", COLUMN_LABELS)?,
            reference_outlier_ratio: gauge(&r, "drift_reference_outlier_ratio", "Share of the reference's own values outside its Tukey fences: the drift_outlier_ratio to expect when nothing changed (numeric columns).", COLUMN_LABELS)?,
            unseen_ratio: gauge(&r, "drift_unseen_category_ratio", "Share of window values that are categories the reference never had (categorical columns).", COLUMN_LABELS)?,
            window_rows: gauge(&r, "drift_window_rows", "Rows in the window that this column's scores are computed over.", COLUMN_LABELS)?,
            dataset_ratio: gauge(&r, "drift_dataset_drifted_ratio", "Share of scored columns (prediction columns included) with drift detected.", &["model"])?,
            dataset_weighted_ratio: gauge(&r, "drift_dataset_drifted_weighted_ratio", "Drifted columns' share of the scored columns' weights ([columns.weights], 1 each by default); the dataset decision compares it with drift.thresholds.drifted_ratio.", &["model"])?,
            dataset_detected: gauge(&r, "drift_dataset_detected", "1 if the weighted drifted ratio reached its threshold, else 0.", &["model"])?,
            window_size: gauge(&r, "drift_window_size_rows", "Configured window size: the most recent rows compared with the reference.", &["model"])?,
            reference_rows: gauge(&r, "drift_reference_rows", "Rows in the reference (training) data.", &["model"])?,
            reference_info: gauge(&r, "drift_reference_info", "The reference file, the SHA-256 of its Parquet, and whether it is the Parquet or a profile of it (mode exact); always 1.", &["model", "path", "sha256", "format", "mode"])?,
            model_info: gauge(&r, "drift_model_info", "The model version from the config; always 1.", &["model", "version"])?,
            threshold: gauge(&r, "drift_threshold", "Decision threshold of each enabled test (psi and kl_divergence: drift at or above; ks_pvalue and chi2_pvalue: drift below; drifted_ratio: dataset drift at or above).", &["model", "test"])?,
            last_batch: gauge(&r, "drift_last_batch_timestamp_seconds", "Unix time of the last batch added to the window.", &["model"])?,
            last_evaluation: gauge(&r, "drift_last_evaluation_timestamp_seconds", "Unix time of the last evaluation of the window.", &["model"])?,
            ingested_rows: counter(&r, "drift_ingested_rows_total", "Rows added to the window, by source.", &["source"])?,
            ingested_batches: counter(&r, "drift_ingested_batches_total", "Batches (files, log chunks, requests) added to the window, by source.", &["source"])?,
            rejected_rows: counter(&r, "drift_rejected_rows_total", "Rows dropped (reason parse) or with a value that was not used (type, non_finite, encoding), by source and reason.", &["source", "reason"])?,
            source_errors: counter(&r, "drift_source_errors_total", "Inputs that could not be read at all (a truncated Parquet file, an unreadable body: reasons unreadable, too_large, io), and POST /ingest requests turned away (busy: 503 at the ingest limits; timeout: the body did not arrive within server.body_timeout), by source and reason.", &["source", "reason"])?,
            batch_seconds,
            row_out_of_range,
            latency,
            prediction_errors: counter(&r, "drift_prediction_errors_total", "Rows the model server flagged as failed predictions (columns.error).", &["model"])?,
            quality: quality::QualityGauges::register(&r)?,
            multivariate: multivariate::MultivariateGauges::register(&r)?,
            segments: segments::SegmentGauges::register(&r)?,
            labels: labels::LabelSeries::register(&r)?,
            bins: bins::BinSeries::register(&r)?,
            evaluation_seconds,
            min_rows: std::sync::atomic::AtomicU64::new(1),
            _build_info: build_info,
            registry: r,
            lock: Mutex::new(()),
        })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The text exposition (format 0.0.4) of every series.
    pub fn render(&self) -> String {
        self.render_as(exposition::Format::Text)
    }

    /// Every series in `format`.
    pub fn render_as(&self, format: exposition::Format) -> String {
        let families = {
            let _g = self.guard();
            self.registry.gather()
        };
        exposition::encode(&families, format)
    }

    /// Sets the per-model series that describe the setup (reference, model,
    /// thresholds, window size, and with `bins` the reference's bins). Called at
    /// start-up and after a reload.
    pub fn publish_setup(
        &self,
        model: &str,
        version: Option<&str>,
        profile: &ReferenceProfile,
        scoring: &ScoringSettings,
        window_size: usize,
        bins: bool,
    ) {
        let thresholds = &scoring.thresholds;
        let _g = self.guard();
        self.bins.setup(model, profile, bins);
        self.reference_info.reset();
        self.model_info.reset();
        self.threshold.reset();
        for g in [&self.reference_rows, &self.window_size] {
            g.reset();
        }
        self.reference_info
            .with_label_values(&[
                model,
                &profile.path.display().to_string(),
                &profile.sha256,
                profile.format.as_str(),
                profile.mode.as_str(),
            ])
            .set(1.0);
        self.model_info
            .with_label_values(&[model, version.unwrap_or("")])
            .set(1.0);
        self.reference_rows
            .with_label_values(&[model])
            .set(profile.rows as f64);
        self.window_size
            .with_label_values(&[model])
            .set(window_size as f64);
        self.threshold.reset();
        for (test, value) in [
            ("psi", thresholds.psi_fixed()),
            ("psi_pvalue", thresholds.psi_auto().then_some(scoring.alpha)),
            ("kl_divergence", thresholds.kl_divergence),
            ("ks_pvalue", thresholds.ks_pvalue),
            ("chi2_pvalue", thresholds.chi2_pvalue),
            ("js_distance", thresholds.js_distance),
            ("hellinger_distance", thresholds.hellinger_distance),
            ("wasserstein_distance", thresholds.wasserstein_distance),
            (
                "wasserstein_distance_normed",
                thresholds.wasserstein_distance_normed,
            ),
            ("drifted_ratio", Some(thresholds.drifted_ratio)),
        ] {
            if let Some(v) = value {
                self.threshold.with_label_values(&[model, test]).set(v);
            }
        }
    }

    /// Sets `window.min_rows`: a segment's scores are published when it has
    /// that many rows (1 until set).
    pub fn set_min_rows(&self, rows: u64) {
        self.min_rows
            .store(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// Replaces every per-column and dataset series with `report`'s. With
    /// `scored == false` (window below `min_rows`) only `drift_window_rows` and the
    /// per-bin counts (mergeable, so a replica's few rows still count) are set.
    pub fn publish_report(
        &self,
        model: &str,
        report: &DriftReport,
        reference_calibration: Option<&Calibration>,
        scored: bool,
        now_seconds: f64,
    ) {
        let _g = self.guard();
        for g in [
            &self.psi,
            &self.kl,
            &self.js,
            &self.hellinger,
            &self.wasserstein,
            &self.wasserstein_normed,
            &self.ks_statistic,
            &self.ks_pvalue,
            &self.chi2_pvalue,
            &self.psi_pvalue,
            &self.ks_pvalue_adjusted,
            &self.chi2_pvalue_adjusted,
            &self.psi_pvalue_adjusted,
            &self.detected,
            &self.missing_ratio,
            &self.out_of_range_ratio,
            &self.outlier_ratio,
            &self.reference_outlier_ratio,
            &self.unseen_ratio,
            &self.window_rows,
        ] {
            g.reset();
        }
        self.dataset_ratio.reset();
        self.dataset_weighted_ratio.reset();
        self.dataset_detected.reset();
        self.bins.publish(model, report);
        // Quality needs no minimum of rows: it has its own count of labelled rows.
        self.quality.publish(
            model,
            report.quality.as_ref(),
            report.reference_quality.as_ref(),
        );
        self.quality
            .publish_concept(model, report.concept.as_ref(), reference_calibration);
        // Below `min_rows` a mean error over a few rows would only be noise.
        self.multivariate
            .publish(model, report.multivariate.as_ref().filter(|_| scored));
        // A segment is scored when it alone has as many rows as the window
        // needs (`min_rows`, from the whole window's rule: `scored` holds it).
        let min_rows = if scored {
            self.min_rows.load(std::sync::atomic::Ordering::Relaxed)
        } else {
            u64::MAX
        };
        self.segments.publish(model, &report.segments, min_rows);
        for f in &report.features {
            let labels = [model, f.name.as_str(), f.drift_type.as_str()];
            self.window_rows
                .with_label_values(&labels)
                .set(f.rows as f64);
            if !scored {
                continue;
            }
            let set = |g: &GaugeVec, v: Option<f64>| {
                if let Some(v) = v.filter(|v| !v.is_nan()) {
                    g.with_label_values(&labels).set(v);
                }
            };
            set(&self.missing_ratio, f.missing_ratio);
            if !f.is_scored() {
                continue;
            }
            set(&self.psi, f.psi);
            set(&self.kl, f.kl_divergence);
            set(&self.js, f.js_distance);
            set(&self.hellinger, f.hellinger_distance);
            set(&self.wasserstein, f.wasserstein_distance);
            set(&self.wasserstein_normed, f.wasserstein_distance_normed);
            set(&self.ks_statistic, f.ks_statistic);
            set(&self.ks_pvalue, f.ks_pvalue);
            set(&self.chi2_pvalue, f.chi2_pvalue);
            set(&self.psi_pvalue, f.psi_pvalue);
            set(&self.ks_pvalue_adjusted, f.ks_pvalue_adjusted);
            set(&self.chi2_pvalue_adjusted, f.chi2_pvalue_adjusted);
            set(&self.psi_pvalue_adjusted, f.psi_pvalue_adjusted);
            set(&self.out_of_range_ratio, f.out_of_range_ratio);
            set(&self.outlier_ratio, f.outlier_ratio);
            set(&self.reference_outlier_ratio, f.reference_outlier_ratio);
            set(&self.unseen_ratio, f.unseen_category_ratio);
            self.detected
                .with_label_values(&labels)
                .set(if f.drift_detected { 1.0 } else { 0.0 });
        }
        if scored && report.dataset.features > 0 {
            self.dataset_ratio
                .with_label_values(&[model])
                .set(report.dataset.drifted_ratio);
            self.dataset_weighted_ratio
                .with_label_values(&[model])
                .set(report.dataset.drifted_weighted_ratio);
            self.dataset_detected.with_label_values(&[model]).set(
                if report.dataset.drift_detected {
                    1.0
                } else {
                    0.0
                },
            );
        }
        self.last_evaluation
            .with_label_values(&[model])
            .set(now_seconds);
    }

    /// Counts a batch added to the window.
    pub fn record_batch(
        &self,
        model: &str,
        source: &str,
        rows: u64,
        rejects: &Rejects,
        seconds: f64,
        now_seconds: f64,
    ) {
        self.ingested_rows.with_label_values(&[source]).inc_by(rows);
        self.ingested_batches.with_label_values(&[source]).inc();
        for reason in RejectReason::ALL {
            let n = rejects.rows(reason);
            if n > 0 {
                self.rejected_rows
                    .with_label_values(&[source, reason.as_str()])
                    .inc_by(n);
            }
        }
        self.batch_seconds.observe(seconds);
        self.last_batch.with_label_values(&[model]).set(now_seconds);
    }

    /// Observes each row's count of numeric features outside the reference range.
    pub fn record_row_out_of_range(&self, model: &str, counts: &[u32]) {
        let histogram = self.row_out_of_range.with_label_values(&[model]);
        for &n in counts {
            histogram.observe(f64::from(n));
        }
    }

    /// Observes serving signals of incoming rows: latencies in seconds and the
    /// number of rows flagged as errors.
    pub fn record_serving(&self, model: &str, latencies: &[f64], errors: u64) {
        let histogram = self.latency.with_label_values(&[model]);
        for &seconds in latencies {
            histogram.observe(seconds);
        }
        if errors > 0 {
            self.prediction_errors
                .with_label_values(&[model])
                .inc_by(errors);
        }
    }

    /// Counts what the late-label join did and sets its pending gauge (zero
    /// counts make the series visible).
    pub fn record_labels(&self, model: &str, counts: &JoinCounts, pending: usize) {
        self.labels.record(model, counts, pending);
    }

    /// Makes a source's counters visible at zero before its first batch.
    pub fn register_source(&self, source: &str) {
        self.ingested_rows.with_label_values(&[source]);
        self.ingested_batches.with_label_values(&[source]);
        for reason in RejectReason::ALL {
            self.rejected_rows
                .with_label_values(&[source, reason.as_str()]);
        }
    }

    /// Counts an input that could not be read at all.
    pub fn record_source_error(&self, source: &str, reason: &str) {
        self.source_errors
            .with_label_values(&[source, reason])
            .inc();
    }

    /// Observes one evaluation's duration.
    pub fn record_evaluation(&self, seconds: f64) {
        self.evaluation_seconds.observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Kind;
    use crate::drift::{ColumnReport, DatasetReport};
    use crate::reference::DriftType;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn report(psi: Option<f64>) -> DriftReport {
        DriftReport {
            reference_rows: 10,
            current_rows: 5,
            features: vec![ColumnReport {
                name: "a\"b\\c".into(),
                drift_type: DriftType::Data,
                kind: Kind::Numeric,
                rows: 5,
                missing_ratio: Some(0.0),
                psi,
                kl_divergence: psi,
                js_distance: psi,
                hellinger_distance: psi,
                wasserstein_distance: psi,
                wasserstein_distance_normed: psi,
                ks_statistic: psi,
                ks_pvalue: psi,
                chi2_pvalue: None,
                psi_pvalue: psi,
                ks_pvalue_adjusted: None,
                chi2_pvalue_adjusted: None,
                psi_pvalue_adjusted: None,
                out_of_range_ratio: psi,
                outlier_ratio: psi,
                reference_outlier_ratio: psi,
                unseen_category_ratio: None,
                drift_detected: false,
                bin_rows: vec![1, 4],
            }],
            dataset: DatasetReport {
                drifted_features: 0,
                features: 1,
                drifted_ratio: 0.0,
                drifted_weighted_ratio: 0.0,
                drift_detected: false,
            },
            quality: None,
            reference_quality: None,
            concept: None,
            multivariate: None,
            segments: Vec::new(),
        }
    }

    #[test]
    fn scores_appear_and_disappear_with_the_report() -> TestResult {
        let m = Metrics::new()?;
        m.publish_report("m", &report(Some(0.5)), None, true, 1.0);
        let text = m.render();
        assert!(
            text.contains(r#"drift_psi{drift_type="data",feature="a\"b\\c",model="m"} 0.5"#),
            "{text}"
        );
        assert!(
            !text.contains("drift_chi2_pvalue{"),
            "no chi2 for a numeric column"
        );
        m.publish_report("m", &report(Some(0.5)), None, false, 2.0);
        let text = m.render();
        assert!(
            !text.contains("drift_psi{"),
            "below min_rows no score series: {text}"
        );
        assert!(text.contains("drift_window_rows{"), "{text}");
        assert!(text.contains("drift_exporter_build_info{"), "{text}");
        Ok(())
    }

    fn two_column_profile() -> ReferenceProfile {
        use crate::config::ProfileSettings;
        use crate::data::ColumnPlan;
        use crate::reference::{CategoricalProfile, ColumnProfile, NumericProfile, ProfileDetail};
        use std::collections::HashMap;
        let settings = ProfileSettings {
            bins: 4,
            ..ProfileSettings::default()
        };
        let numeric = NumericProfile::new((0..8).map(f64::from).collect(), &settings);
        let frequencies: HashMap<String, u64> =
            [("de", 3u64), ("fr", 2), ("__other__", 1), ("it", 1)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        let categorical = CategoricalProfile::new(frequencies, 2);
        let column = |name: &str, detail| ColumnProfile {
            name: name.into(),
            drift_type: DriftType::Data,
            missing: 0,
            rejected: 0,
            detail,
        };
        ReferenceProfile {
            path: "ref.parquet".into(),
            sha256: String::new(),
            format: crate::reference::ReferenceFormat::Parquet,
            mode: crate::reference::ProfileMode::Exact,
            rows: 8,
            columns: vec![
                column("x", ProfileDetail::Numeric(numeric)),
                column("c", ProfileDetail::Categorical(categorical)),
            ],
            plan: ColumnPlan::default(),
            settings,
            quality: None,
            reference_quality: None,
            concept: None,
            multivariate: None,
            segments: None,
        }
    }

    #[test]
    fn bin_series_follow_the_reference_and_the_report() -> TestResult {
        let m = Metrics::new()?;
        let profile = two_column_profile();
        m.publish_setup("m", None, &profile, &ScoringSettings::default(), 10, true);
        let text = m.render();
        // Quantile edges of 0..8 at 1/4, 2/4, 3/4: 1.75, 3.5, 5.25; two values per bin.
        for (bin, lower, upper) in [
            ("0", "-Inf", "1.75"),
            ("1", "1.75", "3.5"),
            ("2", "3.5", "5.25"),
            ("3", "5.25", "+Inf"),
        ] {
            let info = format!(
                r#"drift_bin_info{{bin="{bin}",drift_type="data",feature="x",lower="{lower}",model="m",upper="{upper}"}} 1"#
            );
            assert!(text.contains(&info), "{info}\n{text}");
            let ratio = format!(
                r#"drift_reference_bin_ratio{{bin="{bin}",drift_type="data",feature="x",model="m"}} 0.25"#
            );
            assert!(text.contains(&ratio), "{ratio}\n{text}");
        }
        // Kept: de (3), fr (2); the reference's own "__other__" and "it" share the
        // __other__ bin: 2 of 7.
        for (bin, ratio) in [
            ("de", 3.0 / 7.0),
            ("fr", 2.0 / 7.0),
            ("__other__", 2.0 / 7.0),
        ] {
            let line = format!(
                r#"drift_reference_bin_ratio{{bin="{bin}",drift_type="data",feature="c",model="m"}} {ratio}"#
            );
            assert!(text.contains(&line), "{line}\n{text}");
        }
        assert!(
            !text.contains("drift_window_bin_rows{"),
            "no counts before an evaluation"
        );

        let mut r = report(Some(0.1));
        r.features[0].name = "x".into();
        r.features[0].bin_rows = vec![0, 5, 1, 2];
        let mut c = r.features[0].clone();
        c.name = "c".into();
        c.kind = Kind::Categorical;
        c.bin_rows = vec![4, 0, 7];
        r.features.push(c);
        // Counts are exported below min_rows too.
        m.publish_report("m", &r, None, false, 1.0);
        let text = m.render();
        for (feature, bin, rows) in [
            ("x", "0", 0),
            ("x", "1", 5),
            ("x", "3", 2),
            ("c", "de", 4),
            ("c", "fr", 0),
            ("c", "__other__", 7),
        ] {
            let line = format!(
                r#"drift_window_bin_rows{{bin="{bin}",drift_type="data",feature="{feature}",model="m"}} {rows}"#
            );
            assert!(text.contains(&line), "{line}\n{text}");
        }
        // Off: none of the three families.
        m.publish_setup("m", None, &profile, &ScoringSettings::default(), 10, false);
        m.publish_report("m", &r, None, true, 2.0);
        let text = m.render();
        for family in [
            "drift_window_bin_rows",
            "drift_reference_bin_ratio",
            "drift_bin_info",
        ] {
            assert!(!text.contains(family), "{family} with bins = false");
        }
        Ok(())
    }
}
