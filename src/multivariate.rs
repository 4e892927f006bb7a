//! Multivariate drift in the product (`[multivariate]`, issue 12): which
//! columns take part, their rows gathered from batches (row by row aligned, a
//! missing or rejected value as NaN), and the reference side fitted when a
//! Parquet reference loads. The math is [`crate::stats::multivariate`].

use std::path::Path;

use arrow::array::Array;

use crate::config::MultivariateConfig;
use crate::data::{self, Batch, ColumnArray, ColumnPlan, Kind};
use crate::reference::{DriftType, ResolvedColumn};
use crate::stats::multivariate::{MultivariateReference, MultivariateSettings};

/// The window's multivariate signals, as `check --format json` prints them
/// (`multivariate`) and `/metrics` exports them (`drift_multivariate_*`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MultivariateReport {
    /// The features, in the reference's order.
    pub features: Vec<String>,
    /// Principal components kept.
    pub components: usize,
    /// Window rows scored.
    pub rows: usize,
    /// Mean PCA reconstruction error of the window's rows (`null` without rows).
    pub reconstruction_error: Option<f64>,
    /// The reference's own error.
    pub reference_error: f64,
    /// The bounds from the reference's chunks.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// The window's error lies outside the bounds.
    pub drifted: bool,
    /// The largest absolute change of a pair's correlation (`null` if none is
    /// defined).
    pub max_correlation_change: Option<f64>,
    /// The pairs whose correlation changed most, largest first.
    pub correlation_pairs: Vec<PairReport>,
    /// The domain classifier's cross-validated AUROC: 0.5 when window rows
    /// cannot be told from reference rows (`null` when off).
    pub domain_classifier_auroc: Option<f64>,
}

/// One pair's correlation, reference and window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairReport {
    /// The first feature.
    pub feature_a: String,
    /// The second.
    pub feature_b: String,
    /// The reference's Pearson correlation (`null` if undefined).
    pub reference: Option<f64>,
    /// The window's.
    pub current: Option<f64>,
    /// `current - reference`.
    pub change: Option<f64>,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The profile's multivariate report on `batches` (laid out by the profile's
/// plan), when it has a multivariate reference; a failure is logged, not
/// fatal.
pub fn report_for<'a>(
    profile: &crate::reference::ReferenceProfile,
    batches: impl IntoIterator<Item = &'a Batch>,
) -> Option<MultivariateReport> {
    let reference = profile.multivariate.as_ref()?;
    let top_pairs = profile
        .settings
        .multivariate
        .as_ref()
        .map_or(MultivariateConfig::default().top_pairs, |c| c.top_pairs);
    match report(reference, batches, &profile.plan, top_pairs) {
        Ok(report) => Some(report),
        Err(message) => {
            tracing::warn!("multivariate drift not scored: {message}");
            None
        }
    }
}

/// Scores the `features` of `batches` (laid out by `plan`) against
/// `reference`, keeping the `top_pairs` largest correlation changes.
pub fn report<'a>(
    reference: &MultivariateReference,
    batches: impl IntoIterator<Item = &'a Batch>,
    plan: &ColumnPlan,
    top_pairs: usize,
) -> Result<MultivariateReport, String> {
    let columns = gather(batches, plan, &reference.features);
    let scores = reference.score(&columns).map_err(|e| e.to_string())?;
    let name = |i: usize| reference.features[i].clone();
    Ok(MultivariateReport {
        features: reference.features.clone(),
        components: reference.components_kept,
        rows: scores.rows,
        reconstruction_error: finite(scores.reconstruction_error),
        reference_error: reference.reference_error,
        lower: reference.lower,
        upper: reference.upper,
        drifted: scores.drifted,
        max_correlation_change: finite(scores.max_correlation_change()),
        domain_classifier_auroc: finite(scores.domain_auroc),
        correlation_pairs: scores
            .pairs
            .iter()
            .filter(|p| p.change.is_finite())
            .take(top_pairs)
            .map(|p| PairReport {
                feature_a: name(p.a),
                feature_b: name(p.b),
                reference: finite(p.reference),
                current: finite(p.current),
                change: finite(p.change),
            })
            .collect(),
    })
}

/// The features multivariate drift covers: the numeric input columns (not the
/// prediction, not booleans), in the reference's order.
pub fn features(resolved: &[ResolvedColumn]) -> Vec<String> {
    resolved
        .iter()
        .filter(|c| c.kind == Kind::Numeric && c.drift_type == DriftType::Data && !c.boolean)
        .map(|c| c.name.clone())
        .collect()
}

/// Appends the `features` of `batch` (laid out by `plan`) to `columns`, rows
/// whose index (counted from `first_row`) is a multiple of `stride`.
fn append(
    columns: &mut [Vec<f64>],
    batch: &Batch,
    plan: &ColumnPlan,
    features: &[String],
    first_row: usize,
    stride: usize,
) {
    let keep = |i: usize| (first_row + i) % stride == 0;
    for (column, name) in columns.iter_mut().zip(features) {
        let array = plan
            .index_of(name)
            .and_then(|i| batch.columns.get(i))
            .and_then(Option::as_ref);
        match array {
            Some(ColumnArray::Numeric(a)) => {
                column.extend((0..batch.rows).filter(|&i| keep(i)).map(|i| {
                    if a.is_null(i) {
                        f64::NAN
                    } else {
                        a.value(i)
                    }
                }))
            }
            _ => column.extend((0..batch.rows).filter(|&i| keep(i)).map(|_| f64::NAN)),
        }
    }
}

/// The `features` of `batches` (laid out by `plan`), one column each, rows
/// aligned.
pub fn gather<'a>(
    batches: impl IntoIterator<Item = &'a Batch>,
    plan: &ColumnPlan,
    features: &[String],
) -> Vec<Vec<f64>> {
    let mut columns = vec![Vec::new(); features.len()];
    for batch in batches {
        append(&mut columns, batch, plan, features, 0, 1);
    }
    columns
}

/// The settings of the math from the config.
pub fn settings(config: &MultivariateConfig) -> MultivariateSettings {
    MultivariateSettings {
        variance_share: config.variance_share,
        chunks: config.chunks,
        classifier_rows: config.classifier_rows,
    }
}

/// The reference rows the multivariate reference is fitted on, as a profile
/// file keeps them: every `stride`-th row of the reference's `features`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRows {
    /// `multivariate.max_reference_rows` they were taken with.
    pub max_reference_rows: usize,
    /// Every `stride`-th row of the reference was taken.
    pub stride: usize,
    /// The features, in the reference's order.
    pub features: Vec<String>,
    /// One column per feature, rows aligned (a missing value as NaN).
    pub columns: Vec<Vec<f64>>,
    /// Each row's segment key (`[columns] segment`), when segments are
    /// scored: the per-segment multivariate references are fitted on them.
    pub keys: Option<Vec<String>>,
}

impl ReferenceRows {
    /// The rows whose key `keep` accepts (all of them without keys).
    pub fn columns_where(&self, keep: impl Fn(&str) -> bool) -> Vec<Vec<f64>> {
        let Some(keys) = &self.keys else {
            return self.columns.clone();
        };
        let rows: Vec<usize> = (0..keys.len()).filter(|&i| keep(&keys[i])).collect();
        self.columns
            .iter()
            .map(|c| rows.iter().filter_map(|&i| c.get(i).copied()).collect())
            .collect()
    }
}

/// The rows of the reference's `features` (the Parquet at `path`) fitted on:
/// every row, or every k-th row when it has more than `max_reference_rows`
/// (k the smallest that brings it under); with `segment_columns`, each
/// row's segment key too.
pub fn reference_rows(
    path: &Path,
    features: Vec<String>,
    max_reference_rows: usize,
    segment_columns: &[String],
) -> Result<ReferenceRows, String> {
    let (_, file_rows) = data::parquet_schema_and_rows(path).map_err(|e| e.to_string())?;
    let stride = stride(file_rows, max_reference_rows);
    let mut plan = ColumnPlan::new(features.iter().map(|name| (name.clone(), Kind::Numeric)));
    for name in segment_columns {
        if plan.index_of(name).is_none() {
            plan = plan.with_extra_column(name, Kind::Categorical);
        }
    }
    let mut columns = vec![Vec::new(); features.len()];
    let mut keys = (!segment_columns.is_empty()).then(Vec::new);
    let mut seen = 0usize;
    data::for_each_parquet_batch(path, &plan, |batch| {
        append(&mut columns, &batch, &plan, &features, seen, stride);
        if let Some(keys) = keys.as_mut() {
            let batch_keys = crate::segments::row_keys(&batch, &plan, segment_columns);
            keys.extend(
                batch_keys
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| (seen + i) % stride == 0)
                    .map(|(_, key)| key),
            );
        }
        seen += batch.rows;
    })
    .map_err(|e| e.to_string())?;
    Ok(ReferenceRows {
        max_reference_rows,
        stride,
        features,
        columns,
        keys,
    })
}

/// Every how many rows of a `rows`-row reference one is fitted on.
pub fn stride(rows: u64, max_reference_rows: usize) -> usize {
    let rows = usize::try_from(rows).unwrap_or(usize::MAX);
    rows.div_ceil(max_reference_rows.max(1)).max(1)
}

/// Fits the reference side on `columns` (of `rows`' features: all its rows,
/// or one segment's), logging what was fitted, or why not (then `None`:
/// multivariate drift is off there, the reference still loads).
pub fn fit_logged(
    path: &Path,
    rows: &ReferenceRows,
    columns: &[Vec<f64>],
    config: &MultivariateConfig,
    segment: Option<&str>,
) -> Option<MultivariateReference> {
    match MultivariateReference::fit(rows.features.clone(), columns, &settings(config)) {
        Ok(fitted) => {
            tracing::info!(
                reference = %path.display(),
                segment,
                features = fitted.features.len(),
                components = fitted.components_kept,
                rows = fitted.rows,
                "multivariate reference fitted"
            );
            Some(fitted)
        }
        Err(e) => {
            tracing::warn!(reference = %path.display(), segment, "multivariate drift is off: {e}");
            None
        }
    }
}

/// Fits the reference side on the `features` of the Parquet file at `path`
/// ([`reference_rows`]).
pub fn fit_reference(
    path: &Path,
    features: Vec<String>,
    config: &MultivariateConfig,
) -> Result<MultivariateReference, String> {
    let rows = reference_rows(path, features, config.max_reference_rows, &[])?;
    MultivariateReference::fit(rows.features, &rows.columns, &settings(config))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray};

    #[test]
    fn gathers_aligned_rows_with_missing_as_nan() {
        let plan = ColumnPlan::new([
            ("x".to_string(), Kind::Numeric),
            ("c".to_string(), Kind::Categorical),
            ("y".to_string(), Kind::Numeric),
        ]);
        let batch = Batch {
            rows: 3,
            columns: vec![
                Some(ColumnArray::Numeric(Float64Array::from(vec![
                    Some(1.0),
                    None,
                    Some(3.0),
                ]))),
                Some(ColumnArray::Categorical(StringArray::from(vec![
                    "a", "b", "c",
                ]))),
                None,
            ],
            rejects: Default::default(),
        };
        let features = vec!["x".to_string(), "y".to_string()];
        let columns = gather([&batch, &batch], &plan, &features);
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[0].len(), 6);
        assert_eq!(columns[0][0], 1.0);
        assert!(columns[0][1].is_nan());
        assert!(columns[1].iter().all(|v| v.is_nan()));
        // Every second row of the stream, the batch starting at row 2: its
        // rows 0 and 2.
        let mut strided = vec![Vec::new(); 2];
        append(&mut strided, &batch, &plan, &features, 2, 2);
        assert_eq!(strided[0], vec![1.0, 3.0]);
    }
}
