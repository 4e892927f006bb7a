//! Pearson's chi-square test of homogeneity on a 2 x k table (reference vs current
//! counts over the same category bins).
//!
//! Reproduces `scipy.stats.chi2_contingency(table, correction=False).pvalue`:
//! expected counts `row_total * col_total / total`, statistic
//! `sum((observed - expected)^2 / expected)`, degrees of freedom `k - 1` after bins
//! empty on both sides are dropped, p-value from the chi-square survival function
//! (statrs). With fewer than two bins left the p-value is 1.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The chi-square statistic and its degrees of freedom for matched count vectors,
/// or `None` when either side has no observations.
pub fn chi2_statistic(reference: &[u64], current: &[u64]) -> Option<(f64, usize)> {
    debug_assert_eq!(reference.len(), current.len());
    let r_total: u64 = reference.iter().sum();
    let c_total: u64 = current.iter().sum();
    if r_total == 0 || c_total == 0 {
        return None;
    }
    let total = (r_total + c_total) as f64;
    let (r_total, c_total) = (r_total as f64, c_total as f64);
    let mut stat = 0.0;
    let mut kept = 0usize;
    for (&r, &c) in reference.iter().zip(current) {
        if r == 0 && c == 0 {
            continue;
        }
        kept += 1;
        let col = (r + c) as f64;
        for (observed, row_total) in [(r as f64, r_total), (c as f64, c_total)] {
            let expected = row_total * col / total;
            let diff = observed - expected;
            stat += diff * diff / expected;
        }
    }
    Some((stat, kept.saturating_sub(1)))
}

/// p-value of the test; `None` when either side has no observations.
pub fn chi2_pvalue(reference: &[u64], current: &[u64]) -> Option<f64> {
    let (stat, dof) = chi2_statistic(reference, current)?;
    if dof == 0 {
        return Some(1.0);
    }
    let p = ChiSquared::new(dof as f64)
        .map(|dist| dist.sf(stat))
        .unwrap_or(f64::NAN);
    Some(p.clamp(0.0, 1.0))
}

/// The PSI p-value of the size-aware test (`drift.thresholds.psi = "auto"`).
///
/// Under no drift, with `n` reference and `m` window values in `bins` bins,
/// `PSI / (1/n + 1/m)` is approximately chi-square with `bins - 1` degrees of
/// freedom (Yurdakul 2018, "Statistical properties of population stability
/// index", Western Michigan University; PSI is a symmetrised KL divergence, and
/// `2 n KL` is asymptotically chi-square, as the G-test's statistic), so its
/// upper tail is the p-value: `scipy.stats.chi2.sf(psi / (1/n + 1/m), bins - 1)`.
/// `bins` counts the bins where either side has a value; with fewer than two
/// the p-value is 1. `None` when either side is empty.
pub fn psi_pvalue(psi: f64, n: u64, m: u64, bins: usize) -> Option<f64> {
    if n == 0 || m == 0 || psi.is_nan() {
        return None;
    }
    if bins < 2 {
        return Some(1.0);
    }
    let scaled = psi / (1.0 / n as f64 + 1.0 / m as f64);
    let p = ChiSquared::new((bins - 1) as f64)
        .map(|dist| dist.sf(scaled))
        .unwrap_or(f64::NAN);
    Some(p.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn empty_side_has_no_pvalue() {
        assert_eq!(chi2_pvalue(&[0, 0], &[1, 2]), None);
        assert_eq!(chi2_pvalue(&[1, 2], &[0, 0]), None);
    }

    #[test]
    fn one_bin_left_gives_one() {
        assert_eq!(chi2_pvalue(&[5, 0], &[3, 0]), Some(1.0));
    }

    #[test]
    fn identical_proportions_give_pvalue_one() -> TestResult {
        let p = chi2_pvalue(&[10, 20, 30], &[1, 2, 3]).ok_or("expected a p-value")?;
        assert!((p - 1.0).abs() < 1e-12, "{p}");
        Ok(())
    }

    #[test]
    fn matches_scipy_on_a_small_table() -> TestResult {
        // scipy.stats.chi2_contingency([[10, 20, 30], [30, 20, 10]], correction=False)
        // statistic = 20.0, dof = 2, pvalue = exp(-10) = 4.5399929762484854e-05
        let (stat, dof) =
            chi2_statistic(&[10, 20, 30], &[30, 20, 10]).ok_or("expected a statistic")?;
        assert!((stat - 20.0).abs() < 1e-12);
        assert_eq!(dof, 2);
        let p = chi2_pvalue(&[10, 20, 30], &[30, 20, 10]).ok_or("expected a p-value")?;
        assert!((p - (-10.0f64).exp()).abs() < 1e-15, "{p}");
        Ok(())
    }

    #[test]
    fn unseen_category_stays_finite() -> TestResult {
        let p = chi2_pvalue(&[50, 50, 0], &[10, 10, 5]).ok_or("expected a p-value")?;
        assert!(p.is_finite() && (0.0..=1.0).contains(&p));
        Ok(())
    }
}
