//! (reference profile, current samples) -> [`DriftReport`]: every score and every
//! decision, per column and for the dataset.
//!
//! Pure and synchronous. `check` prints the report; the daemon renders it as
//! Prometheus gauges and as `GET /api/v1/drift`. The JSON shape is the contract of
//! SPEC.md section 1; scores that do not apply are `null`.

use rayon::prelude::*;
use serde::Serialize;

use crate::concept::ConceptReport;
use crate::config::{Correction, ScoringSettings};
use crate::data::Kind;
use crate::quality::QualityReport;
use crate::reference::{
    CategoricalProfile, ColumnProfile, DriftType, NumericProfile, ProfileDetail, ReferenceProfile,
};
use crate::sample::{ColumnSample, NumericSummary, SampleValues};
use crate::stats::{chi2, divergence, kolmogorov, multitest, outliers};

/// Scores and decision of one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnReport {
    /// Column name.
    pub name: String,
    /// `data` or `prediction`.
    pub drift_type: DriftType,
    /// `numeric` or `categorical`.
    pub kind: Kind,
    /// Current rows (including missing values).
    pub rows: u64,
    /// Share of current rows with no value; `null` with no rows.
    pub missing_ratio: Option<f64>,
    /// Population Stability Index.
    pub psi: Option<f64>,
    /// KL(reference || current).
    pub kl_divergence: Option<f64>,
    /// Jensen-Shannon distance (natural log) of the binned proportions, before epsilon.
    pub js_distance: Option<f64>,
    /// Hellinger distance of the binned proportions, before epsilon.
    pub hellinger_distance: Option<f64>,
    /// `scipy.stats.wasserstein_distance(ref, cur)` on the raw values (numeric only).
    pub wasserstein_distance: Option<f64>,
    /// `wasserstein_distance` divided by the reference's standard deviation
    /// (ddof 0); `null` when that is 0.
    pub wasserstein_distance_normed: Option<f64>,
    /// Two-sample KS statistic (numeric only).
    pub ks_statistic: Option<f64>,
    /// Two-sided KS p-value (numeric only).
    pub ks_pvalue: Option<f64>,
    /// Chi-square homogeneity p-value (categorical only).
    pub chi2_pvalue: Option<f64>,
    /// p-value of the size-aware PSI test: `chi2.sf(psi / (1/N + 1/M), B - 1)`.
    pub psi_pvalue: Option<f64>,
    /// `ks_pvalue` adjusted for multiple testing (`drift.correction`; `null`
    /// without one or when the KS test is off).
    pub ks_pvalue_adjusted: Option<f64>,
    /// `chi2_pvalue` adjusted likewise.
    pub chi2_pvalue_adjusted: Option<f64>,
    /// `psi_pvalue` adjusted likewise (only with `thresholds.psi = "auto"`).
    pub psi_pvalue_adjusted: Option<f64>,
    /// Share of current values outside the reference's [min, max] (numeric only).
    pub out_of_range_ratio: Option<f64>,
    /// Share of current values outside the reference's IQR fences (numeric only).
    pub outlier_ratio: Option<f64>,
    /// Share of the reference's own values outside its IQR fences (numeric only):
    /// what `outlier_ratio` is when nothing changed.
    pub reference_outlier_ratio: Option<f64>,
    /// Share of current values the reference never had (categorical only).
    pub unseen_category_ratio: Option<f64>,
    /// Whether any enabled test crossed its threshold.
    pub drift_detected: bool,
    /// The window's scored values per bin, in the profile's bin order (numeric
    /// bins, or the kept categories then `__other__`): the counts PSI and KL are
    /// computed from, exported for fleet-wide sums (SPEC.md section 8). All zero
    /// when the window has no value to score; empty when the reference has none.
    /// Not part of the JSON report.
    #[serde(skip)]
    pub bin_rows: Vec<u64>,
}

impl ColumnReport {
    /// True when the column had values to score on both sides.
    pub fn is_scored(&self) -> bool {
        self.psi.is_some()
    }
}

/// The dataset-level summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetReport {
    /// Scored columns that drifted.
    pub drifted_features: u64,
    /// Scored columns (prediction columns included).
    pub features: u64,
    /// `drifted_features / features` (0 when nothing was scored).
    pub drifted_ratio: f64,
    /// The drifted columns' share of the scored columns' weights
    /// (`[columns.weights]`, 1 each by default: then equal to `drifted_ratio`;
    /// 0 when the weights sum to 0).
    pub drifted_weighted_ratio: f64,
    /// `drifted_weighted_ratio >= thresholds.drifted_ratio` (false when
    /// nothing was scored).
    pub drift_detected: bool,
}

/// A full comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// Rows in the reference.
    pub reference_rows: u64,
    /// Rows compared.
    pub current_rows: u64,
    /// One entry per scored reference column, in the reference's order.
    pub features: Vec<ColumnReport>,
    /// The dataset verdict.
    pub dataset: DatasetReport,
    /// Model quality on the current rows' labels (`columns.label`); omitted
    /// without labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityReport>,
    /// Model quality on the reference's labels; omitted without labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_quality: Option<QualityReport>,
    /// Concept-drift signals of the current rows' labels; omitted without labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concept: Option<ConceptReport>,
    /// Multivariate drift of the numeric features (`[multivariate]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multivariate: Option<crate::multivariate::MultivariateReport>,
    /// Per segment (`[columns] segment`), the same scores over its rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<crate::segments::SegmentReport>,
}

/// Scores every column and decides.
pub fn evaluate(
    profile: &ReferenceProfile,
    samples: &[ColumnSample],
    current_rows: u64,
    settings: &ScoringSettings,
) -> DriftReport {
    // Columns are scored independently; a KS p-value on large samples can take
    // milliseconds, so they share the cores.
    let mut features: Vec<ColumnReport> = profile
        .columns
        .par_iter()
        .zip(samples)
        .map(|(column, sample)| score_column(column, sample, settings))
        .collect();
    correct(&mut features, settings);
    let dataset = summarise(&features, settings);
    DriftReport {
        reference_rows: profile.rows,
        current_rows,
        features,
        dataset,
        quality: None,
        reference_quality: profile.reference_quality.clone(),
        concept: None,
        multivariate: None,
        segments: Vec::new(),
    }
}

/// Adjusts the p-values of every enabled p-value test of every scored column
/// as one family (`drift.correction`), stores them in the `*_adjusted` fields
/// and decides each column again on them. Without a correction, nothing
/// changes.
pub fn correct(features: &mut [ColumnReport], settings: &ScoringSettings) {
    let adjust = match settings.correction {
        Correction::None => return,
        Correction::Bonferroni => multitest::bonferroni,
        Correction::FdrBh => multitest::fdr_bh,
    };
    let t = &settings.thresholds;
    let mut family = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let tests = [
            (Test::Ks, f.ks_pvalue, t.ks_pvalue.is_some()),
            (Test::Chi2, f.chi2_pvalue, t.chi2_pvalue.is_some()),
            (Test::Psi, f.psi_pvalue, t.psi_auto()),
        ];
        for (test, p, on) in tests {
            if let Some(p) = p.filter(|p| on && !p.is_nan()) {
                family.push((i, test, p));
            }
        }
    }
    let pvalues: Vec<f64> = family.iter().map(|&(_, _, p)| p).collect();
    for ((i, test, _), adjusted) in family.into_iter().zip(adjust(&pvalues)) {
        let f = &mut features[i];
        match test {
            Test::Ks => f.ks_pvalue_adjusted = Some(adjusted),
            Test::Chi2 => f.chi2_pvalue_adjusted = Some(adjusted),
            Test::Psi => f.psi_pvalue_adjusted = Some(adjusted),
        }
    }
    for f in features.iter_mut().filter(|f| f.is_scored()) {
        f.drift_detected = decide(f, settings);
    }
}

#[derive(Clone, Copy)]
enum Test {
    Ks,
    Chi2,
    Psi,
}

/// The dataset verdict over column reports.
pub fn summarise(features: &[ColumnReport], settings: &ScoringSettings) -> DatasetReport {
    let scored = features.iter().filter(|f| f.is_scored()).count() as u64;
    let drifted = features.iter().filter(|f| f.drift_detected).count() as u64;
    let ratio = if scored == 0 {
        0.0
    } else {
        drifted as f64 / scored as f64
    };
    let weight = |f: &ColumnReport| settings.weight(&f.name);
    let total: f64 = features.iter().filter(|f| f.is_scored()).map(weight).sum();
    let drifted_weight: f64 = features
        .iter()
        .filter(|f| f.is_scored() && f.drift_detected)
        .map(weight)
        .sum();
    let weighted = if total > 0.0 {
        drifted_weight / total
    } else {
        0.0
    };
    DatasetReport {
        drifted_features: drifted,
        features: scored,
        drifted_ratio: ratio,
        drifted_weighted_ratio: weighted,
        drift_detected: scored > 0 && weighted >= settings.thresholds.drifted_ratio,
    }
}

/// Scores one column against its profile.
pub fn score_column(
    column: &ColumnProfile,
    sample: &ColumnSample,
    settings: &ScoringSettings,
) -> ColumnReport {
    let mut report = ColumnReport {
        name: column.name.clone(),
        drift_type: column.drift_type,
        kind: column.kind(),
        rows: sample.rows,
        missing_ratio: (sample.rows > 0).then(|| sample.missing as f64 / sample.rows as f64),
        psi: None,
        kl_divergence: None,
        js_distance: None,
        hellinger_distance: None,
        wasserstein_distance: None,
        wasserstein_distance_normed: None,
        ks_statistic: None,
        ks_pvalue: None,
        chi2_pvalue: None,
        psi_pvalue: None,
        ks_pvalue_adjusted: None,
        chi2_pvalue_adjusted: None,
        psi_pvalue_adjusted: None,
        out_of_range_ratio: None,
        outlier_ratio: None,
        reference_outlier_ratio: None,
        unseen_category_ratio: None,
        drift_detected: false,
        bin_rows: Vec::new(),
    };
    if column.scored_values() == 0 {
        return report;
    }
    let bins = match &column.detail {
        ProfileDetail::Numeric(p) => p.counts.len(),
        ProfileDetail::Categorical(p) => p.counts.len(),
    };
    report.bin_rows = vec![0; bins];
    if sample.scored() == 0 {
        return report;
    }
    match (&column.detail, &sample.values) {
        (ProfileDetail::Numeric(p), SampleValues::Numeric(values)) => {
            let summary = NumericSummary::of_sorted(p, values, settings.outlier_iqr_k);
            score_numeric(p, &summary, settings, &mut report)
        }
        (ProfileDetail::Numeric(p), SampleValues::Summary(summary)) => {
            score_numeric(p, summary, settings, &mut report)
        }
        (ProfileDetail::Categorical(p), SampleValues::Categorical { counts, unseen }) => {
            score_categorical(p, counts, *unseen, settings, &mut report)
        }
        _ => return report,
    }
    report.drift_detected = decide(&report, settings);
    report
}

fn score_numeric(
    p: &NumericProfile,
    current: &NumericSummary,
    settings: &ScoringSettings,
    report: &mut ColumnReport,
) {
    let r = divergence::smoothed_proportions(&p.counts, settings.epsilon);
    let c = divergence::smoothed_proportions(&current.bin_counts, settings.epsilon);
    report.psi = Some(divergence::psi(&r, &c));
    report.kl_divergence = Some(divergence::kl_divergence(&r, &c));
    set_distances(&p.counts, &current.bin_counts, report);
    set_psi_pvalue(&p.counts, &current.bin_counts, report);
    report.bin_rows.clone_from(&current.bin_counts);
    let w = current.wasserstein;
    if settings.wasserstein && !w.is_nan() {
        report.wasserstein_distance = Some(w);
        report.wasserstein_distance_normed = (p.std > 0.0).then(|| w / p.std);
    }
    let d = current.ks_statistic;
    report.ks_statistic = Some(d);
    report.ks_pvalue = Some(kolmogorov::ks_2samp_asymp_pvalue(d, p.rows, current.values));
    // The same `count / len` as `outliers::outside_ratio`.
    let ratio = |count: u64| count as f64 / current.values as f64;
    report.out_of_range_ratio = current.out_of_range.map(ratio);
    if let Some(fences) = outliers::iqr_fences(&p.sorted, settings.outlier_iqr_k) {
        report.outlier_ratio = current.outside_fences.map(ratio);
        report.reference_outlier_ratio = outliers::outside_ratio(&p.sorted, fences);
    }
}

fn score_categorical(
    p: &CategoricalProfile,
    counts: &[u64],
    unseen: u64,
    settings: &ScoringSettings,
    report: &mut ColumnReport,
) {
    let r = divergence::smoothed_proportions(&p.counts, settings.epsilon);
    let c = divergence::smoothed_proportions(counts, settings.epsilon);
    report.psi = Some(divergence::psi(&r, &c));
    report.kl_divergence = Some(divergence::kl_divergence(&r, &c));
    report.chi2_pvalue = chi2::chi2_pvalue(&p.counts, counts);
    set_distances(&p.counts, counts, report);
    set_psi_pvalue(&p.counts, counts, report);
    report.bin_rows = counts.to_vec();
    let total: u64 = counts.iter().sum();
    report.unseen_category_ratio = Some(unseen as f64 / total as f64);
}

/// The Jensen-Shannon and Hellinger distances of two columns' bin counts.
fn set_distances(reference: &[u64], current: &[u64], report: &mut ColumnReport) {
    let (r, c) = (
        divergence::proportions(reference),
        divergence::proportions(current),
    );
    if r.is_empty() || r.len() != c.len() {
        return;
    }
    report.js_distance = Some(divergence::jensen_shannon(&r, &c));
    report.hellinger_distance = Some(divergence::hellinger(&r, &c));
}

/// The PSI p-value from the bin counts PSI was computed on.
fn set_psi_pvalue(reference: &[u64], current: &[u64], report: &mut ColumnReport) {
    let (n, m) = (reference.iter().sum(), current.iter().sum());
    let bins = reference
        .iter()
        .zip(current)
        .filter(|(&r, &c)| r + c > 0)
        .count();
    report.psi_pvalue = report.psi.and_then(|psi| chi2::psi_pvalue(psi, n, m, bins));
}

/// The per-column decision: any enabled test across its threshold. p-value
/// tests read the adjusted p-value when there is one (`drift.correction`), and
/// ignore a distance below `drift.min_effect`.
pub fn decide(report: &ColumnReport, settings: &ScoringSettings) -> bool {
    let t = &settings.thresholds;
    let at_least = |value: Option<f64>, threshold: Option<f64>| matches!((value, threshold), (Some(v), Some(t)) if v >= t);
    let large = |effect: Option<f64>| match settings.min_effect {
        Some(min) => effect.is_some_and(|e| e >= min),
        None => true,
    };
    let test =
        |raw: Option<f64>, adjusted: Option<f64>, level: Option<f64>, effect: Option<f64>| {
            let p = adjusted.or(raw);
            matches!((p, level), (Some(p), Some(level)) if p < level) && large(effect)
        };
    let psi_level = t.psi_auto().then_some(settings.alpha);
    at_least(report.psi, t.psi_fixed())
        || at_least(report.kl_divergence, t.kl_divergence)
        || at_least(report.js_distance, t.js_distance)
        || at_least(report.hellinger_distance, t.hellinger_distance)
        || at_least(report.wasserstein_distance, t.wasserstein_distance)
        || at_least(
            report.wasserstein_distance_normed,
            t.wasserstein_distance_normed,
        )
        || test(
            report.ks_pvalue,
            report.ks_pvalue_adjusted,
            t.ks_pvalue,
            report.ks_statistic,
        )
        || test(
            report.chi2_pvalue,
            report.chi2_pvalue_adjusted,
            t.chi2_pvalue,
            report.js_distance,
        )
        || test(
            report.psi_pvalue,
            report.psi_pvalue_adjusted,
            psi_level,
            report.psi,
        )
}
