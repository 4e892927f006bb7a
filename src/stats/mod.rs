//! Pure math of drift scores: no I/O, no async, no allocation per value.
//!
//! Every function here works on plain slices (sorted where said) and counts, so the
//! same code scores a one-shot `check` and the daemon's sliding window. Each score
//! cites its formula and the scipy/numpy function it reproduces; the oracle tests in
//! `tests/math/oracle.rs` hold them to values computed by `tests/fixtures/make_oracle.py`.
//!
//! - [`bins`]: numeric bin edges (numpy quantile / linspace) and bin lookup.
//! - [`divergence`]: proportions with epsilon smoothing, PSI and KL divergence.
//! - [`ks`]: the two-sample Kolmogorov-Smirnov statistic by one merge.
//! - [`kolmogorov`]: the exact Kolmogorov distribution (`kstwo`) for KS p-values.
//! - [`chi2`]: Pearson's chi-square test of homogeneity on a 2 x k table, and the
//!   PSI p-value (PSI scaled to a chi-square under no drift).
//! - [`multitest`]: Bonferroni and Benjamini-Hochberg adjusted p-values.
//! - [`outliers`]: Tukey's IQR fences and the share of values outside them.
//! - [`quality`]: model quality against labels (accuracy, precision/recall/F1, ROC-AUC,
//!   log loss, MAE/MSE/RMSE/MAPE/R^2), held to scikit-learn by its own unit tests.
//! - [`places`]: counts of current values per place among the reference's values, and
//!   the exact KS statistic from them (the window's running tally).
//! - [`sketch`]: a mergeable quantile sketch with a guaranteed rank-error bound
//!   (profiles of references too large to keep every value).
//! - [`frequent`]: a mergeable frequent-items summary (categories of sketch
//!   profiles past a cap).
//! - [`change`]: streaming change detectors on a model's error stream (DDM,
//!   Page-Hinkley, ADWIN), detection for detection as River's.
//! - [`wasserstein`]: the first Wasserstein distance against a prepared reference CDF.
//! - [`classifier`]: the domain classifier (a logistic regression's cross-validated AUROC).
//! - [`multivariate`]: PCA reconstruction error and correlation drift over the numeric
//!   features (ndarray, linfa-linalg), held to scikit-learn and pandas.
//! - [`sort_values`]: the one sort of numeric values.

pub mod bins;
pub mod change;
pub mod chi2;
pub mod classifier;
pub mod divergence;
pub mod frequent;
pub mod kolmogorov;
pub mod ks;
pub mod multitest;
pub mod multivariate;
pub mod outliers;
pub mod places;
pub mod quality;
pub mod sketch;
pub mod wasserstein;

/// Sorts values ascending in IEEE total order (`-0.0` before `0.0`), as
/// `sort_unstable_by(f64::total_cmp)` does, by sorting integer keys that
/// order as the values do (`total_cmp`'s own mapping, sign bit flipped):
/// the standard library's unstable sort on `u64` is faster than on `f64`
/// with a comparison closure, and than a hand-written radix sort tried in
/// session 11 (`cargo bench --bench scores -- sort_1e6`).
/// Every sort of reference and current values goes through here. The keys
/// take the values' own allocation: nothing is copied.
pub fn sort_values(values: &mut Vec<f64>) {
    // Same size and alignment: the collect reuses the buffer.
    let keys: Vec<u64> = std::mem::take(values).into_iter().map(sort_key).collect();
    *values = sorted_from_keys(keys);
}

/// Sorts values held as their [`sort_key`]s and gives them back as values,
/// in `f64::total_cmp` order, in the same allocation (nothing is copied).
pub(crate) fn sorted_from_keys(mut keys: Vec<u64>) -> Vec<f64> {
    keys.sort_unstable();
    // Same size and alignment: the collect reuses the buffer.
    keys.into_iter().map(from_sort_key).collect()
}

/// An empty key buffer in the allocation of `values` (which it clears), for
/// reuse.
pub(crate) fn emptied_keys(mut values: Vec<f64>) -> Vec<u64> {
    values.clear();
    values.into_iter().map(sort_key).collect()
}

/// The unsigned key of `v` whose order is `f64::total_cmp`'s.
#[inline]
pub(crate) fn sort_key(v: f64) -> u64 {
    let bits = v.to_bits() as i64;
    // total_cmp: negative values have their other 63 bits flipped.
    let ordered = bits ^ ((((bits >> 63) as u64) >> 1) as i64);
    (ordered as u64) ^ (1 << 63)
}

/// The inverse of [`sort_key`].
#[inline]
fn from_sort_key(k: u64) -> f64 {
    let ordered = (k ^ (1 << 63)) as i64;
    f64::from_bits((ordered ^ ((((ordered >> 63) as u64) >> 1) as i64)) as u64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE / 4.0),
            Just(-f64::MIN_POSITIVE / 4.0),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            Just(-f64::NAN),
            (-20i32..20).prop_map(f64::from),
        ]
    }

    #[test]
    fn key_buffers_are_sorted_and_emptied_in_place() {
        let keys: Vec<u64> = (0..1000u32)
            .rev()
            .map(|i| super::sort_key(i as f64))
            .collect();
        let at = keys.as_ptr() as usize;
        let values = super::sorted_from_keys(keys);
        assert_eq!(values.as_ptr() as usize, at, "sorted in the keys' buffer");
        assert_eq!((values[0], values[999]), (0.0, 999.0));
        let capacity = values.capacity();
        let emptied = super::emptied_keys(values);
        assert_eq!(
            (emptied.as_ptr() as usize, emptied.capacity(), emptied.len()),
            (at, capacity, 0),
            "emptied in the same buffer"
        );
    }

    proptest! {
        #[test]
        fn sorts_order_bit_for_bit_as_total_cmp(
            values in prop::collection::vec(any_value(), 0..3000)
        ) {
            let mut expected = values.clone();
            expected.sort_unstable_by(f64::total_cmp);
            let keys: Vec<u64> = values.iter().map(|&v| super::sort_key(v)).collect();
            let mut sorted = values;
            super::sort_values(&mut sorted);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&sorted), bits(&expected));
            prop_assert_eq!(bits(&super::sorted_from_keys(keys)), bits(&expected));
        }
    }
}
