//! Outliers by Tukey's fences: a value is an outlier when it lies outside
//! `[Q1 - k * IQR, Q3 + k * IQR]`, with the reference's quartiles `Q1`, `Q3`
//! (`numpy.quantile`, linear interpolation) and `IQR = Q3 - Q1` (Tukey 1977,
//! *Exploratory Data Analysis*; `k = 1.5` by default, `drift.outlier_iqr_k`).
//! Used by [`crate::drift`] for `drift_outlier_ratio`.

use super::bins::quantile_sorted;

/// The fences `(Q1 - k * IQR, Q3 + k * IQR)` of the ascending `sorted`
/// reference values; `None` for an empty reference.
pub fn iqr_fences(sorted: &[f64], k: f64) -> Option<(f64, f64)> {
    if sorted.is_empty() {
        return None;
    }
    let q1 = quantile_sorted(sorted, 0.25);
    let q3 = quantile_sorted(sorted, 0.75);
    let iqr = q3 - q1;
    Some((q1 - k * iqr, q3 + k * iqr))
}

/// The share of the ascending `sorted` values strictly below `low` or strictly
/// above `high`; `None` when there are no values.
pub fn outside_ratio(sorted: &[f64], (low, high): (f64, f64)) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let below = sorted.partition_point(|&v| v < low);
    let above = sorted.len() - sorted.partition_point(|&v| v <= high);
    Some((below + above) as f64 / sorted.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_follow_numpy_quartiles() {
        // numpy.quantile([1..=8], [0.25, 0.75]) = [2.75, 6.25]; IQR 3.5.
        let v: Vec<f64> = (1..=8).map(f64::from).collect();
        assert_eq!(iqr_fences(&v, 1.5), Some((2.75 - 5.25, 6.25 + 5.25)));
        assert_eq!(iqr_fences(&v, 0.0), Some((2.75, 6.25)));
        assert_eq!(iqr_fences(&[], 1.5), None);
    }

    #[test]
    fn values_on_a_fence_are_inside() {
        let sorted = [-1.0, 0.0, 0.5, 1.0, 2.0];
        assert_eq!(outside_ratio(&sorted, (0.0, 1.0)), Some(0.4));
        assert_eq!(outside_ratio(&sorted, (-1.0, 2.0)), Some(0.0));
        assert_eq!(outside_ratio(&[], (0.0, 1.0)), None);
    }

    #[test]
    fn a_constant_reference_makes_every_other_value_an_outlier() {
        let fences = iqr_fences(&[3.0; 5], 1.5);
        assert_eq!(fences, Some((3.0, 3.0)));
        assert_eq!(outside_ratio(&[2.0, 3.0, 3.0, 4.0], (3.0, 3.0)), Some(0.5));
    }
}
