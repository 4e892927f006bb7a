//! The two-sample Kolmogorov-Smirnov statistic.
//!
//! `D = sup_x |F_ref(x) - F_cur(x)|` over the empirical CDFs, computed by one merge
//! of two sorted slices, with ties handled as `scipy.stats.ks_2samp` does (both CDFs
//! are evaluated with `side="right"` at every observed value). The p-value lives in
//! [`super::kolmogorov`].

/// `scipy.stats.ks_2samp(a, b).statistic` for sorted, NaN-free slices.
///
/// Each CDF difference is computed as `i / n1 - j / n2` in f64, exactly the
/// arithmetic scipy performs, so the result is bit-identical. Returns NaN if either
/// slice is empty.
pub fn ks_statistic_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return f64::NAN;
    }
    let (f1, f2) = (n1 as f64, n2 as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut d = 0.0f64;
    while i < n1 && j < n2 {
        let x = if a[i] <= b[j] { a[i] } else { b[j] };
        while i < n1 && a[i] <= x {
            i += 1;
        }
        while j < n2 && b[j] <= x {
            j += 1;
        }
        let diff = (i as f64 / f1 - j as f64 / f2).abs();
        if diff > d {
            d = diff;
        }
    }
    // Once one side is exhausted its CDF is 1 and the other only climbs towards 1,
    // so the supremum has already been seen.
    d.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_side_is_nan() {
        assert!(ks_statistic_sorted(&[], &[1.0]).is_nan());
        assert!(ks_statistic_sorted(&[1.0], &[]).is_nan());
    }

    #[test]
    fn identical_samples_have_zero_distance() {
        let v = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(ks_statistic_sorted(&v, &v), 0.0);
    }

    #[test]
    fn disjoint_samples_have_distance_one() {
        assert_eq!(ks_statistic_sorted(&[1.0, 2.0], &[3.0, 4.0, 5.0]), 1.0);
    }

    #[test]
    fn ties_are_evaluated_on_the_right() {
        // F_a(1) = 2/3, F_b(1) = 1/2; F_a(2) = 1, F_b(2) = 1/2 -> D = 1/2.
        let d = ks_statistic_sorted(&[1.0, 1.0, 2.0], &[1.0, 3.0]);
        assert_eq!(d, 1.0 - 0.5);
    }
}
