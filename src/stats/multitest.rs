//! Adjusting a family of p-values for testing many hypotheses at once
//! (`drift.correction`): Bonferroni, and Benjamini-Hochberg's false discovery
//! rate, each as statsmodels' `multipletests` computes it, operation for
//! operation, so that the adjusted p-values are the same floats.
//!
//! Written here because it is a dozen lines and no maintained Rust crate
//! reproduces statsmodels' arithmetic (the order of the division and the
//! running minimum decide the last bits).

/// Bonferroni: `min(1, p * m)` for `m` p-values (statsmodels
/// `multipletests(method="bonferroni")`).
pub fn bonferroni(pvalues: &[f64]) -> Vec<f64> {
    let m = pvalues.len() as f64;
    pvalues.iter().map(|&p| (p * m).min(1.0)).collect()
}

/// Benjamini-Hochberg (statsmodels `multipletests(method="fdr_bh")`): with
/// the p-values sorted ascending (stably), `p_(i) / (i / m)`, then the running
/// minimum from the largest down, capped at 1, given back in input order.
pub fn fdr_bh(pvalues: &[f64]) -> Vec<f64> {
    let m = pvalues.len();
    let mut order: Vec<usize> = (0..m).collect();
    // A stable sort, as numpy's mergesort argsort; NaN (never passed here) last.
    order.sort_by(|&a, &b| pvalues[a].total_cmp(&pvalues[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = f64::INFINITY;
    for (rank, &i) in order.iter().enumerate().rev() {
        // statsmodels: ecdffactor = arange(1, m + 1) / m; p / ecdffactor.
        let factor = (rank + 1) as f64 / m as f64;
        running = running.min(pvalues[i] / factor);
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn benjamini_hochberg_by_hand() {
        // p sorted: 0.01, 0.02, 0.03, 0.5 (m = 4): raw 0.04, 0.04, 0.04, 0.5.
        let adjusted = fdr_bh(&[0.5, 0.01, 0.03, 0.02]);
        let expected = [0.5, 0.01 / 0.25, 0.03 / 0.75, 0.02 / 0.5];
        assert_eq!(adjusted, expected);
        assert_eq!(bonferroni(&[0.5, 0.01]), vec![1.0, 0.02]);
        assert!(fdr_bh(&[]).is_empty());
    }

    proptest! {
        #[test]
        fn adjusted_pvalues_are_valid_and_monotone(p in proptest::collection::vec(0.0f64..=1.0, 1..40)) {
            for adjusted in [fdr_bh(&p), bonferroni(&p)] {
                for (a, raw) in adjusted.iter().zip(&p) {
                    prop_assert!(*a >= *raw && *a <= 1.0, "{a} vs {raw}");
                }
                // Order is kept: a smaller p-value never gets a larger adjustment.
                for i in 0..p.len() {
                    for j in 0..p.len() {
                        if p[i] < p[j] {
                            prop_assert!(adjusted[i] <= adjusted[j]);
                        }
                    }
                }
            }
            // BH is never stricter than Bonferroni (`p / (1 / m)` may round one
            // unit above `p * m`).
            for (bh, bf) in fdr_bh(&p).iter().zip(bonferroni(&p)) {
                prop_assert!(*bh <= bf * (1.0 + 1e-15), "{bh} > {bf}");
            }
        }
    }
}
