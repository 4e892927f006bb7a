//! Multivariate drift over the numeric features: the signals univariate scores
//! miss when the joint distribution moves while every marginal stays put.
//!
//! - **PCA reconstruction error** (NannyML's data reconstruction drift): the
//!   reference's features, missing values imputed by the column mean
//!   (`SimpleImputer(strategy="mean")`), standardised (`StandardScaler`:
//!   population standard deviation, a constant column scaled by 1), then the
//!   principal components whose cumulative explained variance ratio first
//!   exceeds `variance_share` (`PCA(n_components=share)`). A set of rows'
//!   error is the mean over its rows of the Euclidean norm between the
//!   standardised row and its reconstruction from those components
//!   (`pca.inverse_transform(pca.transform(z))`). Bounds: the reference split
//!   into `chunks` consecutive chunks (`numpy.array_split`), mean -/+ 3
//!   population standard deviations of their errors (lower bound at least 0).
//! - **Correlation drift**: Pearson correlations over pairwise complete rows
//!   (`pandas.DataFrame.corr()`) of the reference and of the window; the
//!   largest absolute change of a pair.
//!
//! The components come from the eigen decomposition of the standardised
//! covariance (`linfa-linalg`'s symmetric QR on ndarray, no BLAS): the same
//! subspace scikit-learn's SVD gives, and the error depends only on the
//! subspace, not on the components' signs. `tests/fixtures/
//! make_multivariate_oracle.py` holds every number to scikit-learn and pandas.

use linfa_linalg::eigh::{EigSort, Eigh};
use ndarray::{Array1, Array2, Axis};

/// Why the multivariate reference could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum MultivariateError {
    /// Fewer than two features, or fewer than two rows.
    #[error("multivariate drift needs at least 2 numeric features and 2 rows (got {features} features, {rows} rows)")]
    TooSmall {
        /// Features given.
        features: usize,
        /// Rows given.
        rows: usize,
    },
    /// A feature without a single finite value.
    #[error("feature {0:?} has no value in the reference")]
    EmptyFeature(String),
    /// Columns of different lengths.
    #[error("feature {name:?} has {got} rows, the first feature {want}")]
    Ragged {
        /// The feature.
        name: String,
        /// Its rows.
        got: usize,
        /// The first feature's rows.
        want: usize,
    },
    /// The eigen decomposition did not converge.
    #[error("eigen decomposition of the covariance failed: {0}")]
    Eigen(#[from] linfa_linalg::LinalgError),
}

/// How the reference side is fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct MultivariateSettings {
    /// Share of the variance the kept components explain (NannyML: 0.65).
    pub variance_share: f64,
    /// Reference chunks for the error's bounds (NannyML: 10).
    pub chunks: usize,
    /// Rows of each side the domain classifier uses at most (every k-th row
    /// past it); 0 turns it off.
    pub classifier_rows: usize,
}

impl Default for MultivariateSettings {
    fn default() -> Self {
        MultivariateSettings {
            variance_share: 0.65,
            chunks: 10,
            classifier_rows: 5_000,
        }
    }
}

/// The reference side: the imputer, scaler and components, the error's
/// bounds, and the reference's correlations.
#[derive(Debug, Clone)]
pub struct MultivariateReference {
    /// Feature names, in column order.
    pub features: Vec<String>,
    /// Column means of the finite values (the imputer's statistics).
    pub means: Vec<f64>,
    /// Standard deviations of the imputed columns (1 for a constant one).
    pub scales: Vec<f64>,
    /// Explained variance ratio of every component, largest first.
    pub explained_variance_ratio: Vec<f64>,
    /// Components kept.
    pub components_kept: usize,
    /// The reconstruction error of each reference chunk.
    pub chunk_errors: Vec<f64>,
    /// The error over the whole reference.
    pub reference_error: f64,
    /// Lower bound: mean - 3 std of the chunk errors, at least 0.
    pub lower: f64,
    /// Upper bound: mean + 3 std of the chunk errors.
    pub upper: f64,
    /// Rows fitted on.
    pub rows: usize,
    /// Mean of the standardised reference (the PCA's centre, about 0).
    center: Array1<f64>,
    /// Kept components, one per column (features x kept).
    components: Array2<f64>,
    /// Pearson correlations of the reference (features x features).
    correlations: Array2<f64>,
    /// Standardised reference rows for the domain classifier (every k-th row
    /// past `classifier_rows`; none when it is off).
    classifier_sample: Array2<f64>,
    /// Rows of each side the classifier uses at most.
    classifier_rows: usize,
}

/// A pair's correlation change.
#[derive(Debug, Clone, PartialEq)]
pub struct PairChange {
    /// The first feature's index.
    pub a: usize,
    /// The second's (`a < b`).
    pub b: usize,
    /// The reference's correlation.
    pub reference: f64,
    /// The window's.
    pub current: f64,
    /// `current - reference` (NaN when either is undefined).
    pub change: f64,
}

/// The window's multivariate signals.
#[derive(Debug, Clone, PartialEq)]
pub struct MultivariateScores {
    /// Rows scored.
    pub rows: usize,
    /// Mean reconstruction error of the window's rows.
    pub reconstruction_error: f64,
    /// The error lies outside the reference's bounds.
    pub drifted: bool,
    /// Every pair's correlation change, the largest absolute change first
    /// (undefined changes last).
    pub pairs: Vec<PairChange>,
    /// The domain classifier's cross-validated AUROC ([`super::classifier`]);
    /// NaN when it is off or the window is empty.
    pub domain_auroc: f64,
}

impl MultivariateScores {
    /// The largest absolute correlation change, NaN when none is defined.
    pub fn max_correlation_change(&self) -> f64 {
        self.pairs
            .first()
            .map(|p| p.change.abs())
            .unwrap_or(f64::NAN)
    }
}

/// Mean of the finite values; NaN when none.
fn finite_mean(values: &[f64]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for &v in values.iter().filter(|v| v.is_finite()) {
        sum += v;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// Pearson correlation of `x` and `y` over the rows where both are finite
/// (`pandas.DataFrame.corr()`); NaN with fewer than 2 such rows or no spread.
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let both = || {
        x.iter()
            .zip(y)
            .filter(|(a, b)| a.is_finite() && b.is_finite())
    };
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
    for (a, b) in both() {
        sx += a;
        sy += b;
        n += 1;
    }
    if n < 2 {
        return f64::NAN;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in both() {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    let denominator = (sxx * syy).sqrt();
    if denominator == 0.0 {
        f64::NAN
    } else {
        (sxy / denominator).clamp(-1.0, 1.0)
    }
}

/// The Pearson correlation matrix of `columns` (pairwise complete rows).
fn correlations(columns: &[Vec<f64>]) -> Array2<f64> {
    let p = columns.len();
    let mut out = Array2::from_elem((p, p), f64::NAN);
    for a in 0..p {
        for b in a..p {
            let r = if a == b {
                1.0
            } else {
                pearson(&columns[a], &columns[b])
            };
            out[[a, b]] = r;
            out[[b, a]] = r;
        }
    }
    out
}

/// Population mean and standard deviation of `values`.
fn mean_and_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Checks the columns are rectangular; the number of rows.
fn rows_of(names: &[String], columns: &[Vec<f64>]) -> Result<usize, MultivariateError> {
    let rows = columns.first().map_or(0, Vec::len);
    for (name, column) in names.iter().zip(columns) {
        if column.len() != rows {
            return Err(MultivariateError::Ragged {
                name: name.clone(),
                got: column.len(),
                want: rows,
            });
        }
    }
    Ok(rows)
}

impl MultivariateReference {
    /// Fits the reference side on `columns` (one per feature, all of the same
    /// length; a missing value is NaN).
    pub fn fit(
        features: Vec<String>,
        columns: &[Vec<f64>],
        settings: &MultivariateSettings,
    ) -> Result<Self, MultivariateError> {
        let p = columns.len();
        let n = rows_of(&features, columns)?;
        if p < 2 || n < 2 {
            return Err(MultivariateError::TooSmall {
                features: p,
                rows: n,
            });
        }
        let means: Vec<f64> = columns.iter().map(|c| finite_mean(c)).collect();
        if let Some(t) = means.iter().position(|m| m.is_nan()) {
            return Err(MultivariateError::EmptyFeature(features[t].clone()));
        }
        // The imputed columns' mean and variance, as StandardScaler computes
        // them; a column is constant (scaled by 1) when its variance is within
        // rounding of 0 (scikit-learn's `_is_constant_feature`).
        let scales: Vec<f64> = columns
            .iter()
            .zip(&means)
            .map(|(column, &fill)| {
                let imputed: Vec<f64> = column
                    .iter()
                    .map(|&v| if v.is_finite() { v } else { fill })
                    .collect();
                let (mean, std) = mean_and_std(&imputed);
                let var = std * std;
                let eps = f64::EPSILON;
                let nf = n as f64;
                let bound = nf * eps * var + (nf * mean * eps).powi(2);
                if var <= bound {
                    1.0
                } else {
                    std
                }
            })
            .collect();
        let z = standardise(columns, &means, &scales);
        let center = z.mean_axis(Axis(0)).expect("at least 2 rows");
        let centred = &z - &center;
        let covariance = centred.t().dot(&centred) / (n as f64 - 1.0);
        let (values, vectors) = covariance.eigh()?.sort_eig_desc();
        let values: Vec<f64> = values.iter().map(|&v| v.max(0.0)).collect();
        let total: f64 = values.iter().sum();
        let explained_variance_ratio: Vec<f64> = values
            .iter()
            .map(|&v| if total > 0.0 { v / total } else { 0.0 })
            .collect();
        // scikit-learn: searchsorted(cumsum(ratio), share, side="right") + 1.
        let mut cumulative = 0.0;
        let mut at_or_below = 0usize;
        for &r in &explained_variance_ratio {
            cumulative += r;
            if cumulative <= settings.variance_share {
                at_or_below += 1;
            }
        }
        let components_kept = (at_or_below + 1).min(p);
        let components = vectors.slice(ndarray::s![.., ..components_kept]).to_owned();
        let mut reference = MultivariateReference {
            features,
            means,
            scales,
            explained_variance_ratio,
            components_kept,
            chunk_errors: Vec::new(),
            reference_error: f64::NAN,
            lower: f64::NAN,
            upper: f64::NAN,
            rows: n,
            center,
            components,
            correlations: correlations(columns),
            classifier_sample: Array2::zeros((0, p)),
            classifier_rows: settings.classifier_rows,
        };
        let errors = reference.row_errors(&z);
        if settings.classifier_rows > 0 {
            reference.classifier_sample = every_kth(&z, settings.classifier_rows);
        }
        reference.reference_error = errors.iter().sum::<f64>() / n as f64;
        // numpy.array_split: the first n % chunks chunks hold one row more.
        let chunks = settings.chunks.clamp(1, n);
        let (size, extra) = (n / chunks, n % chunks);
        let mut start = 0;
        for c in 0..chunks {
            let len = size + usize::from(c < extra);
            let chunk = &errors[start..start + len];
            reference
                .chunk_errors
                .push(chunk.iter().sum::<f64>() / len as f64);
            start += len;
        }
        let (mean, std) = mean_and_std(&reference.chunk_errors);
        reference.lower = (mean - 3.0 * std).max(0.0);
        reference.upper = mean + 3.0 * std;
        Ok(reference)
    }

    /// Each row's reconstruction error, `z` standardised rows.
    fn row_errors(&self, z: &Array2<f64>) -> Vec<f64> {
        let centred = z - &self.center;
        let projected = centred.dot(&self.components);
        let back = projected.dot(&self.components.t());
        let diff = centred - back;
        diff.rows()
            .into_iter()
            .map(|row| row.iter().map(|d| d * d).sum::<f64>().sqrt())
            .collect()
    }

    /// The window's signals from `columns` (the reference's features, in its
    /// order; a missing value is NaN).
    pub fn score(&self, columns: &[Vec<f64>]) -> Result<MultivariateScores, MultivariateError> {
        let n = rows_of(&self.features, columns)?;
        if columns.len() != self.features.len() {
            return Err(MultivariateError::TooSmall {
                features: columns.len(),
                rows: n,
            });
        }
        let z = standardise(columns, &self.means, &self.scales);
        let reconstruction_error = if n == 0 {
            f64::NAN
        } else {
            self.row_errors(&z).iter().sum::<f64>() / n as f64
        };
        let domain_auroc = if self.classifier_rows == 0 || n == 0 {
            f64::NAN
        } else {
            let window = every_kth(&z, self.classifier_rows);
            let rows = self.classifier_sample.nrows() + window.nrows();
            let fold = super::classifier::folds_for(rows, CLASSIFIER_FOLDS, CLASSIFIER_SEED);
            super::classifier::domain_auroc(self.classifier_sample.view(), window.view(), &fold)
        };
        let current = correlations(columns);
        let p = self.features.len();
        let mut pairs = Vec::with_capacity(p * (p - 1) / 2);
        for a in 0..p {
            for b in a + 1..p {
                let (reference, now) = (self.correlations[[a, b]], current[[a, b]]);
                pairs.push(PairChange {
                    a,
                    b,
                    reference,
                    current: now,
                    change: now - reference,
                });
            }
        }
        // Largest absolute change first, undefined ones last, ties in pair
        // order (a stable sort).
        pairs.sort_by(|x, y| {
            let key = |p: &PairChange| {
                if p.change.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    p.change.abs()
                }
            };
            key(y).total_cmp(&key(x))
        });
        Ok(MultivariateScores {
            rows: n,
            reconstruction_error,
            drifted: reconstruction_error > self.upper || reconstruction_error < self.lower,
            pairs,
            domain_auroc,
        })
    }
}

/// Folds of the domain classifier's cross-validation.
pub const CLASSIFIER_FOLDS: usize = 5;
/// The seed of its fold assignment (fixed: the same rows give the same AUROC).
pub const CLASSIFIER_SEED: u64 = 0;

/// Every k-th row of `z`, k the smallest that leaves at most `limit` rows.
fn every_kth(z: &Array2<f64>, limit: usize) -> Array2<f64> {
    let k = z.nrows().div_ceil(limit.max(1)).max(1);
    if k == 1 {
        return z.clone();
    }
    z.slice(ndarray::s![..;k, ..]).to_owned()
}

/// Rows x features: each column imputed by its mean, standardised.
fn standardise(columns: &[Vec<f64>], means: &[f64], scales: &[f64]) -> Array2<f64> {
    let n = columns.first().map_or(0, Vec::len);
    let mut z = Array2::zeros((n, columns.len()));
    for (j, column) in columns.iter().enumerate() {
        let (mean, scale) = (means[j], scales[j]);
        for (i, &v) in column.iter().enumerate() {
            let v = if v.is_finite() { v } else { mean };
            z[[i, j]] = (v - mean) / scale;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: usize) -> Vec<String> {
        (0..p).map(|i| format!("f{i}")).collect()
    }

    #[test]
    fn perfectly_correlated_features_reconstruct_exactly() {
        // y = 2x + 1: one component explains everything; every error is 0.
        let x: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        let r = MultivariateReference::fit(
            names(2),
            &[x.clone(), y.clone()],
            &MultivariateSettings::default(),
        )
        .unwrap();
        assert_eq!(r.components_kept, 1);
        assert!(r.reference_error < 1e-12, "{}", r.reference_error);
        // A window that breaks the relation is far off it.
        let broken: Vec<f64> = x.iter().map(|v| -2.0 * v + 1.0).collect();
        let s = r.score(&[x.clone(), broken]).unwrap();
        assert!(s.reconstruction_error > 1.0);
        assert!(s.drifted);
        assert_eq!((s.pairs[0].a, s.pairs[0].b), (0, 1));
        assert!((s.pairs[0].change + 2.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_named() {
        let s = MultivariateSettings::default();
        assert!(matches!(
            MultivariateReference::fit(names(1), &[vec![1.0, 2.0]], &s),
            Err(MultivariateError::TooSmall { .. })
        ));
        let err = MultivariateReference::fit(names(2), &[vec![1.0, 2.0], vec![f64::NAN; 2]], &s)
            .unwrap_err();
        assert!(err.to_string().contains("\"f1\""), "{err}");
        let err =
            MultivariateReference::fit(names(2), &[vec![1.0, 2.0], vec![1.0]], &s).unwrap_err();
        assert!(err.to_string().contains("f1"), "{err}");
    }

    #[test]
    fn an_empty_window_has_no_error() {
        let x: Vec<f64> = (0..20).map(|i| (i * 7 % 11) as f64).collect();
        let y: Vec<f64> = (0..20).map(|i| (i * 3 % 5) as f64).collect();
        let r = MultivariateReference::fit(names(2), &[x, y], &MultivariateSettings::default())
            .unwrap();
        let s = r.score(&[vec![], vec![]]).unwrap();
        assert!(s.reconstruction_error.is_nan());
        assert!(!s.drifted);
        assert!(s.max_correlation_change().is_nan());
    }
}
