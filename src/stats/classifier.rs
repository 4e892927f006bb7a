//! The domain classifier of multivariate drift: how well a logistic regression
//! tells window rows from reference rows, as the AUROC of its cross-validated
//! predictions (0.5: indistinguishable, no drift; 1: told apart perfectly).
//!
//! - [`logistic_regression`]: scikit-learn's `LogisticRegression(C=c)` objective
//!   (L2 penalty `0.5 |w|^2` on the weights, not the intercept, plus `c` times
//!   the log loss), minimised by Newton's method with a Cholesky solve of the
//!   Hessian: the optimum `solver="newton-cholesky"` finds, to its tolerance.
//! - [`roc_auc`]: `sklearn.metrics.roc_auc_score` (the Mann-Whitney statistic,
//!   tied scores counted half).
//! - [`domain_auroc`]: the rows of both sides in `folds` folds; each fold's rows
//!   scored by the model fitted on the others; the AUROC of all those scores.
//!
//! Written here because no pure-Rust crate on ndarray fits a penalised logistic
//! regression to scikit-learn's optimum (linfa-logistic optimises with an
//! L-BFGS tolerance of its own and its penalty differs), and the system is
//! small: features + 1 unknowns.

use linfa_linalg::cholesky::SolveC;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};

/// Newton steps at most (it converges in under 15 on separable-free data).
const MAX_STEPS: usize = 100;

/// The fitted weights and intercept of [`logistic_regression`].
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// One weight per feature.
    pub weights: Array1<f64>,
    /// The intercept.
    pub intercept: f64,
}

impl Logistic {
    /// `P(y = 1 | x)` for each row of `x`.
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<f64> {
        x.dot(&self.weights)
            .iter()
            .map(|&z| sigmoid(z + self.intercept))
            .collect()
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Minimises `0.5 |w|^2 + c * sum(log(1 + exp(z_i)) - y_i z_i)`, `z = x w + b`,
/// for labels `y` in {0, 1}. `None` if the Hessian cannot be factored (it is
/// positive definite for any data with `c > 0`, so only on non-finite input).
pub fn logistic_regression(x: ArrayView2<f64>, y: &[f64], c: f64) -> Option<Logistic> {
    let (n, p) = x.dim();
    // The design with a column of ones for the intercept.
    let mut design = Array2::ones((n, p + 1));
    design.slice_mut(s![.., ..p]).assign(&x);
    let mut beta = Array1::<f64>::zeros(p + 1);
    for _ in 0..MAX_STEPS {
        let z = design.dot(&beta);
        let probabilities: Vec<f64> = z.iter().map(|&z| sigmoid(z)).collect();
        // Gradient and Hessian of the objective.
        let residual: Array1<f64> = probabilities
            .iter()
            .zip(y)
            .map(|(p, y)| c * (p - y))
            .collect();
        let mut gradient = design.t().dot(&residual);
        let curvature: Array1<f64> = probabilities.iter().map(|p| c * p * (1.0 - p)).collect();
        let weighted = &design * &curvature.view().insert_axis(Axis(1));
        let mut hessian = design.t().dot(&weighted);
        for j in 0..p {
            gradient[j] += beta[j];
            hessian[[j, j]] += 1.0;
        }
        let rhs = gradient.view().insert_axis(Axis(1)).to_owned();
        let step = hessian.solvec(&rhs).ok()?;
        let step = step.column(0);
        beta -= &step;
        let largest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        if !largest.is_finite() {
            return None;
        }
        if largest <= 1e-12 * beta.iter().fold(1.0f64, |m, b| m.max(b.abs())) {
            break;
        }
    }
    Some(Logistic {
        weights: beta.slice(s![..p]).to_owned(),
        intercept: beta[p],
    })
}

/// `sklearn.metrics.roc_auc_score(labels, scores)`: the share of (positive,
/// negative) pairs the scores order correctly, ties counted half. NaN without
/// both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    // Sum of the positives' ranks (1-based, ties given their mean rank).
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied_positives = order[i..=j].iter().filter(|&&k| labels[k]).count();
        rank_sum += mean_rank * tied_positives as f64;
        i = j + 1;
    }
    let (np, nn) = (positives as f64, negatives as f64);
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

/// The fold of each of `rows` rows: a seeded shuffle (SplitMix64 driving a
/// Fisher-Yates), then fold `position % folds`.
pub fn folds_for(rows: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        // SplitMix64.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..rows).collect();
    for i in (1..rows).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut fold = vec![0; rows];
    for (position, &row) in order.iter().enumerate() {
        fold[row] = position % folds.max(1);
    }
    fold
}

/// Each row's out-of-fold score: `P(window)` from a logistic regression
/// (`C = 1`) fitted to tell the `window` rows (label 1) from the `reference`
/// rows (label 0) on the folds other than the row's own (`fold[i]` for row
/// `i`, reference rows first). `None` when a side is empty, `fold` does not
/// match, or a fit fails.
pub fn domain_scores<'a>(
    reference: ArrayView2<'a, f64>,
    window: ArrayView2<'a, f64>,
    fold: &[usize],
) -> Option<Vec<f64>> {
    let (n_ref, n_win) = (reference.nrows(), window.nrows());
    if n_ref == 0 || n_win == 0 || fold.len() != n_ref + n_win {
        return None;
    }
    let x = ndarray::concatenate(Axis(0), &[reference, window]).ok()?;
    let rows = n_ref + n_win;
    let folds = fold.iter().max().map_or(0, |m| m + 1);
    let mut scores = vec![f64::NAN; rows];
    for k in 0..folds {
        let train: Vec<usize> = (0..rows).filter(|&i| fold[i] != k).collect();
        let test: Vec<usize> = (0..rows).filter(|&i| fold[i] == k).collect();
        if test.is_empty() {
            continue;
        }
        let y: Vec<f64> = train
            .iter()
            .map(|&i| f64::from(u8::from(i >= n_ref)))
            .collect();
        let model = logistic_regression(x.select(Axis(0), &train).view(), &y, 1.0)?;
        let predicted = model.predict(x.select(Axis(0), &test).view());
        for (&i, p) in test.iter().zip(predicted) {
            scores[i] = p;
        }
    }
    Some(scores)
}

/// The AUROC of [`domain_scores`] (window rows positive); NaN when they
/// cannot be computed.
pub fn domain_auroc<'a>(
    reference: ArrayView2<'a, f64>,
    window: ArrayView2<'a, f64>,
    fold: &[usize],
) -> f64 {
    let n_ref = reference.nrows();
    match domain_scores(reference, window, fold) {
        Some(scores) => {
            let labels: Vec<bool> = (0..scores.len()).map(|i| i >= n_ref).collect();
            roc_auc(&scores, &labels)
        }
        None => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // sklearn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!((auc - 0.75).abs() < 1e-15);
        // A tie between classes counts half: [0, 1], [0.5, 0.5] -> 0.5.
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert!(roc_auc(&[0.5], &[true]).is_nan());
    }

    #[test]
    fn folds_are_balanced_and_seeded() {
        let f = folds_for(103, 5, 7);
        for k in 0..5 {
            let n = f.iter().filter(|&&x| x == k).count();
            assert!(n == 20 || n == 21, "fold {k}: {n}");
        }
        assert_eq!(f, folds_for(103, 5, 7));
        assert_ne!(f, folds_for(103, 5, 8));
    }

    #[test]
    fn separable_sides_are_told_apart_and_equal_ones_are_not() {
        let reference =
            Array2::from_shape_fn((200, 2), |(i, j)| ((i * 7 + j * 3) % 17) as f64 / 17.0);
        let shifted = &reference + 3.0;
        let fold = folds_for(400, 5, 1);
        let auc = domain_auroc(reference.view(), shifted.view(), &fold);
        assert!(auc > 0.99, "{auc}");
        let same = domain_auroc(reference.view(), reference.view(), &fold);
        assert!(same < 0.6, "{same}");
    }
}
