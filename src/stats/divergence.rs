//! Proportions, PSI and KL divergence over matched bins.
//!
//! Conventions (SPEC.md section 2): a proportion is `count / total` per side; a
//! proportion equal to zero on either side is replaced by `epsilon` before the
//! logarithms, with no renormalisation afterwards.

/// Proportions of `counts` over their sum, zeros replaced by `epsilon`.
/// Returns an empty vector when the total is zero (nothing to score).
pub fn smoothed_proportions(counts: &[u64], epsilon: f64) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    let total = total as f64;
    counts
        .iter()
        .map(|&c| {
            let p = c as f64 / total;
            if p == 0.0 {
                epsilon
            } else {
                p
            }
        })
        .collect()
}

/// Proportions of `counts` over their sum, before any epsilon (empty when the
/// total is zero).
pub fn proportions(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    let total = total as f64;
    counts.iter().map(|&c| c as f64 / total).collect()
}

/// Jensen-Shannon distance (natural log) of two proportion vectors over the
/// same bins: `sqrt((KL(p || m) + KL(q || m)) / 2)` with `m = (p + q) / 2`, a
/// zero proportion contributing 0, as `scipy.spatial.distance.jensenshannon(p,
/// q)` computes it (including its renormalisation of each side by its sum).
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    debug_assert_eq!(p.len(), q.len());
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let rel_entr = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let (mut left, mut right) = (0.0, 0.0);
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        left += rel_entr(a, m);
        right += rel_entr(b, m);
    }
    ((left + right) / 2.0).max(0.0).sqrt()
}

/// Hellinger distance of two proportion vectors over the same bins:
/// `sqrt(sum((sqrt(p) - sqrt(q))^2)) / sqrt(2)`, between 0 and 1.
pub fn hellinger(p: &[f64], q: &[f64]) -> f64 {
    debug_assert_eq!(p.len(), q.len());
    let sum: f64 = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| (a.sqrt() - b.sqrt()).powi(2))
        .sum();
    sum.sqrt() / std::f64::consts::SQRT_2
}

/// Population Stability Index: `sum((cur - ref) * ln(cur / ref))` over bins.
///
/// Source: Yurdakul (2018), "Statistical properties of population stability
/// index"; the epsilon-smoothed form used by Evidently. Both slices are smoothed
/// proportions of the same bins.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    debug_assert_eq!(reference.len(), current.len());
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| (c - r) * (c / r).ln())
        .sum()
}

/// Kullback-Leibler divergence `KL(reference || current) = sum(ref * ln(ref / cur))`.
///
/// The direction of `scipy.stats.entropy(ref, cur)`, without its renormalisation:
/// the smoothed proportions are used as they are.
pub fn kl_divergence(reference: &[f64], current: &[f64]) -> f64 {
    debug_assert_eq!(reference.len(), current.len());
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| r * (r / c).ln())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counts_become_epsilon() {
        let p = smoothed_proportions(&[0, 3, 1], 1e-4);
        assert_eq!(p, vec![1e-4, 0.75, 0.25]);
    }

    #[test]
    fn empty_total_gives_no_proportions() {
        assert!(smoothed_proportions(&[0, 0], 1e-4).is_empty());
        assert!(smoothed_proportions(&[], 1e-4).is_empty());
    }

    #[test]
    fn identical_distributions_score_zero() {
        let p = [0.2, 0.3, 0.5];
        assert_eq!(psi(&p, &p), 0.0);
        assert_eq!(kl_divergence(&p, &p), 0.0);
    }

    #[test]
    fn psi_matches_hand_computation() {
        let r = [0.5, 0.5];
        let c = [0.25, 0.75];
        let expected =
            (0.25f64 - 0.5) * (0.25f64 / 0.5).ln() + (0.75f64 - 0.5) * (0.75f64 / 0.5).ln();
        assert_eq!(psi(&r, &c), expected);
        let kl = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert_eq!(kl_divergence(&r, &c), kl);
    }

    #[test]
    fn js_and_hellinger_match_hand_computation() {
        let p = [0.5, 0.5, 0.0];
        let q = [0.25, 0.25, 0.5];
        // m = [0.375, 0.375, 0.25]
        let left = 2.0 * 0.5 * (0.5f64 / 0.375).ln();
        let right = 2.0 * 0.25 * (0.25f64 / 0.375).ln() + 0.5 * (0.5f64 / 0.25).ln();
        let js = ((left + right) / 2.0).sqrt();
        assert!((jensen_shannon(&p, &q) - js).abs() < 1e-15);
        assert_eq!(jensen_shannon(&p, &p), 0.0);
        let h = (2.0 * (0.5f64.sqrt() - 0.5).powi(2) + 0.5).sqrt() / 2f64.sqrt();
        assert!((hellinger(&p, &q) - h).abs() < 1e-15);
        assert_eq!(hellinger(&p, &p), 0.0);
        assert_eq!(proportions(&[1, 3]), vec![0.25, 0.75]);
        assert!(proportions(&[0, 0]).is_empty());
    }
}
