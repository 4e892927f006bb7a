//! Model-quality metrics over labelled rows: classification (accuracy, per-class and
//! macro precision / recall / F1), binary scores (ROC-AUC, log loss) and regression
//! errors (MAE, MSE, RMSE, MAPE, R^2).
//!
//! The first, pure-math step of issue 11 ("model quality"): plain functions over
//! slices, no I/O, no async, for the quality gauges to be built on. Each function
//! cites its formula and the scikit-learn function it reproduces; the unit tests hold
//! them to scikit-learn 1.9.1 within 1e-9 on the cases of
//! `tests/fixtures/make_quality_oracle.py` (`tests/fixtures/quality/cases.json`).
//!
//! Conventions shared by every function:
//! - no labelled rows (empty input), or `y_true` and the predictions of different
//!   lengths, give `None` (scikit-learn raises on both);
//! - a NaN or infinite float input gives `None` (scikit-learn's `check_array` raises);
//! - a value scikit-learn leaves undefined (it warns and returns nan) is `None`.
//!
//! Sums of floats use Kahan-Babuska (Neumaier) compensated summation: numpy's
//! pairwise summation (behind `np.sum`, `np.mean`, `np.average`) has an error of
//! O(log n) ulps, the compensated sum is within an ulp or two of the exact sum, so the
//! two agree far inside 1e-9 on any window size, where a plain left-to-right sum
//! drifts by O(n) ulps. Counts are summed as integers and divided once, exactly as
//! scikit-learn's float division of integer counts.

use std::collections::BTreeMap;

/// Machine epsilon of f64, `np.finfo(np.float64).eps` (2.220446049250313e-16): the
/// clipping bound of [`log_loss`] and the floor of the denominator of
/// [`mean_absolute_percentage_error`].
pub const F64_EPS: f64 = f64::EPSILON;

/// Kahan-Babuska (Neumaier) compensated sum of an iterator of floats.
fn compensated_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = 0.0f64;
    let mut compensation = 0.0f64;
    for v in values {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            compensation += (sum - t) + v;
        } else {
            compensation += (v - t) + sum;
        }
        sum = t;
    }
    sum + compensation
}

/// Mean of `f(true, pred)` over paired rows, or `None` when there are no rows, the
/// lengths differ or an input is not finite.
fn paired_mean(y_true: &[f64], y_pred: &[f64], f: impl Fn(f64, f64) -> f64) -> Option<f64> {
    if !paired_finite(y_true, y_pred) {
        return None;
    }
    let sum = compensated_sum(y_true.iter().zip(y_pred).map(|(&t, &p)| f(t, p)));
    Some(sum / y_true.len() as f64)
}

/// True when both slices are non-empty, of the same length and entirely finite.
fn paired_finite(y_true: &[f64], y_pred: &[f64]) -> bool {
    !y_true.is_empty()
        && y_true.len() == y_pred.len()
        && y_true.iter().chain(y_pred).all(|v| v.is_finite())
}

// ---------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------

/// Accuracy: the fraction of rows where the prediction equals the true label,
/// `count(y_true[i] == y_pred[i]) / n`.
///
/// Reproduces `sklearn.metrics.accuracy_score(y_true, y_pred)` (normalize=True).
/// `None` with no rows or different lengths.
pub fn accuracy<L: PartialEq>(y_true: &[L], y_pred: &[L]) -> Option<f64> {
    if y_true.is_empty() || y_true.len() != y_pred.len() {
        return None;
    }
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Some(correct as f64 / y_true.len() as f64)
}

/// Precision, recall, F1 and support of one class (one-vs-rest).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassQuality<L> {
    /// The class label.
    pub label: L,
    /// `tp / (tp + fp)`, i.e. true positives over rows predicted as this class; 0.0
    /// when the class is never predicted.
    pub precision: f64,
    /// `tp / (tp + fn)`, i.e. true positives over rows truly of this class; 0.0 when
    /// the class never occurs in `y_true`.
    pub recall: f64,
    /// `2 tp / (2 tp + fp + fn)`, the harmonic mean of precision and recall; 0.0 when
    /// both are 0.
    pub f1: f64,
    /// Number of rows truly of this class.
    pub support: u64,
}

/// Accuracy, per-class precision / recall / F1 / support and their macro averages.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationQuality<L> {
    /// See [`accuracy`].
    pub accuracy: f64,
    /// One entry per label of the sorted union of `y_true` and `y_pred`, in that order.
    pub classes: Vec<ClassQuality<L>>,
    /// Unweighted mean of the per-class precisions.
    pub macro_precision: f64,
    /// Unweighted mean of the per-class recalls.
    pub macro_recall: f64,
    /// Unweighted mean of the per-class F1 scores (not the F1 of the macro precision
    /// and recall).
    pub macro_f1: f64,
}

/// Accuracy and one-vs-rest precision, recall, F1 per class, with macro averages.
///
/// Reproduces, with `labels = sorted(set(y_true) | set(y_pred))`:
/// - `sklearn.metrics.accuracy_score(y_true, y_pred)`;
/// - `sklearn.metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels)`
///   for the per-class entries: precision `tp / pred_count`, recall
///   `tp / true_count`, F1 `2 tp / (true_count + pred_count)` (scikit-learn's own form
///   of `2 P R / (P + R)`, computed from the counts), support `true_count`;
/// - the same call with `average="macro"`: the unweighted mean over those labels.
///
/// Zero division follows scikit-learn 1.9.1's default `zero_division="warn"`, which
/// sets an ill-defined ratio to 0.0 (and warns): precision of a class never predicted
/// is 0.0, recall of a class predicted but never true is 0.0, F1 is 0.0 when
/// `tp = 0`. Those zeros count in the macro averages (they are not nan, so
/// `_nanaverage` keeps them). Labels sort by `Ord`; for `&str`/`String` that is byte
/// order of UTF-8, the same as Python's code-point order of `sorted`.
///
/// `None` with no rows or different lengths.
pub fn classification_quality<L: Ord + Clone>(
    y_true: &[L],
    y_pred: &[L],
) -> Option<ClassificationQuality<L>> {
    let accuracy = accuracy(y_true, y_pred)?;
    // label -> (true positives, true count, predicted count)
    let mut counts: BTreeMap<&L, (u64, u64, u64)> = BTreeMap::new();
    for (t, p) in y_true.iter().zip(y_pred) {
        counts.entry(t).or_default().1 += 1;
        let entry = counts.entry(p).or_default();
        entry.2 += 1;
        if t == p {
            entry.0 += 1;
        }
    }
    let ratio = |num: u64, den: u64| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    let classes: Vec<ClassQuality<L>> = counts
        .into_iter()
        .map(|(label, (tp, true_count, pred_count))| ClassQuality {
            label: label.clone(),
            precision: ratio(tp, pred_count),
            recall: ratio(tp, true_count),
            f1: ratio(2 * tp, true_count + pred_count),
            support: true_count,
        })
        .collect();
    let k = classes.len() as f64;
    let macro_of = |f: fn(&ClassQuality<L>) -> f64| compensated_sum(classes.iter().map(f)) / k;
    Some(ClassificationQuality {
        accuracy,
        macro_precision: macro_of(|c| c.precision),
        macro_recall: macro_of(|c| c.recall),
        macro_f1: macro_of(|c| c.f1),
        classes,
    })
}

// ---------------------------------------------------------------------------------------
// Binary scores
// ---------------------------------------------------------------------------------------

/// Area under the ROC curve of `score` for the positive rows (`y_true[i] == true`).
///
/// Reproduces `sklearn.metrics.roc_auc_score(y_true, score)` for binary `y_true`:
/// the trapezoid area under (FPR, TPR) over the distinct thresholds, which with ties
/// equals the Mann-Whitney statistic with average ranks,
/// `(sum of positive ranks - P (P + 1) / 2) / (P N)`. Computed exactly: rows sorted by
/// score descending, each group of equal scores adds `dFP * (TP_before + TP_after)`
/// to an integer twice-area, divided once by `2 P N`; scikit-learn's float trapezoid
/// differs by rounding only (~1e-16).
///
/// `None` when `y_true` holds one class only (P = 0 or N = 0: scikit-learn 1.9.1
/// warns "Only one class is present in y_true" and returns nan), with no rows,
/// different lengths, or a non-finite score. Scores need not be probabilities.
pub fn roc_auc(y_true: &[bool], score: &[f64]) -> Option<f64> {
    if y_true.is_empty() || y_true.len() != score.len() || !score.iter().all(|s| s.is_finite()) {
        return None;
    }
    let positives = y_true.iter().filter(|&&t| t).count() as u128;
    let negatives = y_true.len() as u128 - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_unstable_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp, mut twice_area) = (0u128, 0u128, 0u128);
    let mut rows = order.iter().peekable();
    while let Some(&first) = rows.next() {
        let (tp_before, fp_before) = (tp, fp);
        let threshold = score[first];
        let mut count = |i: usize| {
            if y_true[i] {
                tp += 1;
            } else {
                fp += 1;
            }
        };
        count(first);
        // `==` also groups -0.0 with 0.0 (adjacent under total_cmp), as numpy does.
        while let Some(&&next) = rows.peek() {
            if score[next] != threshold {
                break;
            }
            count(next);
            rows.next();
        }
        twice_area += (fp - fp_before) * (tp + tp_before);
    }
    Some(twice_area as f64 / (2 * positives * negatives) as f64)
}

/// Mean binary cross-entropy of the positive-class probability `prob`:
/// `-(1/n) sum(ln q_i)`, `q_i = prob_i` for a positive row and `1 - prob_i` for a
/// negative one, with `q_i` clipped to `[eps, 1 - eps]`, `eps = np.finfo(float64).eps`.
///
/// Reproduces `sklearn.metrics.log_loss(y_true, prob, labels=[False, True])` of
/// scikit-learn 1.9.1, which stacks `[1 - prob, prob]`, clips both columns to
/// `[eps, 1 - eps]` with `eps = xp.finfo(y_proba.dtype).eps` (float64 machine epsilon;
/// the `eps` argument of older versions is gone) and averages. `labels=[False, True]`
/// because the label set is known: without it scikit-learn refuses a batch of one
/// class, whose log loss is still well defined.
///
/// `None` with no rows, different lengths, or a probability outside `[0, 1]` or NaN
/// (scikit-learn raises).
pub fn log_loss(y_true: &[bool], prob: &[f64]) -> Option<f64> {
    if y_true.is_empty()
        || y_true.len() != prob.len()
        || !prob.iter().all(|p| (0.0..=1.0).contains(p))
    {
        return None;
    }
    let losses = y_true.iter().zip(prob).map(|(&t, &p)| {
        let q = if t { p } else { 1.0 - p };
        -q.clamp(F64_EPS, 1.0 - F64_EPS).ln()
    });
    Some(compensated_sum(losses) / y_true.len() as f64)
}

// ---------------------------------------------------------------------------------------
// Regression
// ---------------------------------------------------------------------------------------

/// Mean absolute error, `(1/n) sum |y_i - p_i|`.
///
/// Reproduces `sklearn.metrics.mean_absolute_error(y_true, y_pred)`.
pub fn mean_absolute_error(y_true: &[f64], y_pred: &[f64]) -> Option<f64> {
    paired_mean(y_true, y_pred, |t, p| (p - t).abs())
}

/// Mean squared error, `(1/n) sum (y_i - p_i)^2`.
///
/// Reproduces `sklearn.metrics.mean_squared_error(y_true, y_pred)`.
pub fn mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> Option<f64> {
    paired_mean(y_true, y_pred, |t, p| (t - p) * (t - p))
}

/// Root mean squared error, `sqrt(MSE)`.
///
/// Reproduces `sklearn.metrics.root_mean_squared_error(y_true, y_pred)`.
pub fn root_mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> Option<f64> {
    mean_squared_error(y_true, y_pred).map(f64::sqrt)
}

/// Mean absolute percentage error, `(1/n) sum |y_i - p_i| / max(|y_i|, eps)` with
/// `eps = np.finfo(np.float64).eps`, as a fraction (0.25, not 25 %).
///
/// Reproduces `sklearn.metrics.mean_absolute_percentage_error(y_true, y_pred)`. A true
/// value of 0 divides by `eps`, so any error there makes the result huge (~4.5e15
/// times the error), as in scikit-learn.
pub fn mean_absolute_percentage_error(y_true: &[f64], y_pred: &[f64]) -> Option<f64> {
    paired_mean(y_true, y_pred, |t, p| (p - t).abs() / t.abs().max(F64_EPS))
}

/// Coefficient of determination, `R^2 = 1 - sum (y_i - p_i)^2 / sum (y_i - mean(y))^2`.
///
/// Reproduces `sklearn.metrics.r2_score(y_true, y_pred)` (force_finite=True) of
/// scikit-learn 1.9.1:
/// - fewer than two rows: `None` (scikit-learn warns and returns nan);
/// - constant `y_true` (zero denominator): 1.0 when the predictions are perfect
///   (zero numerator), else 0.0.
///
/// "Constant" is decided on the values (all `y_true` equal), not on a denominator
/// that rounds to exactly zero: for a constant like `[0.1; 3]` numpy's mean is off by
/// an ulp, scikit-learn's denominator is ~1e-33 and its score noise (e.g. -1e31);
/// this returns 0.0 / 1.0 as for any other constant. Elsewhere identical.
pub fn r2_score(y_true: &[f64], y_pred: &[f64]) -> Option<f64> {
    if !paired_finite(y_true, y_pred) || y_true.len() < 2 {
        return None;
    }
    let numerator = compensated_sum(y_true.iter().zip(y_pred).map(|(&t, &p)| (t - p) * (t - p)));
    let constant = y_true.iter().all(|&t| t == y_true[0]);
    let denominator = if constant {
        0.0
    } else {
        let mean = compensated_sum(y_true.iter().copied()) / y_true.len() as f64;
        compensated_sum(y_true.iter().map(|&t| (t - mean) * (t - mean)))
    };
    Some(if numerator == 0.0 {
        1.0
    } else if denominator == 0.0 {
        0.0
    } else {
        1.0 - numerator / denominator
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const CASES: &str = include_str!("../../tests/fixtures/quality/cases.json");
    const TOL: f64 = 1e-9;

    /// Within 1e-9, absolute, or relative when |expected| > 1.
    fn close(actual: f64, expected: f64) -> bool {
        let scale = expected.abs().max(1.0);
        (actual - expected).abs() <= TOL * scale
    }

    fn check(case: &str, metric: &str, actual: Option<f64>, expected: &Value) -> TestResult {
        match (actual, expected.as_f64()) {
            (None, None) if expected.is_null() => Ok(()),
            (Some(a), Some(e)) if close(a, e) => Ok(()),
            (a, _) => Err(format!("{case}: {metric} = {a:?}, scikit-learn says {expected}").into()),
        }
    }

    fn floats(v: &Value) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        v.as_array()
            .ok_or("expected an array")?
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| "expected a number".into()))
            .collect()
    }

    fn strings(v: &Value) -> Result<Vec<&str>, Box<dyn std::error::Error>> {
        v.as_array()
            .ok_or("expected an array")?
            .iter()
            .map(|x| x.as_str().ok_or_else(|| "expected a string".into()))
            .collect()
    }

    fn bools(v: &Value) -> Result<Vec<bool>, Box<dyn std::error::Error>> {
        v.as_array()
            .ok_or("expected an array")?
            .iter()
            .map(|x| x.as_bool().ok_or_else(|| "expected a bool".into()))
            .collect()
    }

    fn check_classification(name: &str, case: &Value) -> TestResult {
        let (t, p) = (strings(&case["y_true"])?, strings(&case["y_pred"])?);
        let e = &case["expected"];
        let q = classification_quality(&t, &p).ok_or("expected a classification quality")?;
        check(name, "accuracy", accuracy(&t, &p), &e["accuracy"])?;
        check(name, "accuracy (struct)", Some(q.accuracy), &e["accuracy"])?;
        let labels = strings(&e["labels"])?;
        let got: Vec<&str> = q.classes.iter().map(|c| c.label).collect();
        if got != labels {
            return Err(format!("{name}: labels {got:?}, scikit-learn says {labels:?}").into());
        }
        let support = e["support"].as_array().ok_or("expected support")?;
        for (i, c) in q.classes.iter().enumerate() {
            check(name, "precision", Some(c.precision), &e["precision"][i])?;
            check(name, "recall", Some(c.recall), &e["recall"][i])?;
            check(name, "f1", Some(c.f1), &e["f1"][i])?;
            if support.get(i).and_then(Value::as_u64) != Some(c.support) {
                return Err(format!("{name}: support of {} = {}", c.label, c.support).into());
            }
        }
        check(
            name,
            "macro_precision",
            Some(q.macro_precision),
            &e["macro_precision"],
        )?;
        check(
            name,
            "macro_recall",
            Some(q.macro_recall),
            &e["macro_recall"],
        )?;
        check(name, "macro_f1", Some(q.macro_f1), &e["macro_f1"])
    }

    fn check_binary(name: &str, case: &Value) -> TestResult {
        let (t, s) = (bools(&case["y_true"])?, floats(&case["score"])?);
        let e = &case["expected"];
        check(name, "roc_auc", roc_auc(&t, &s), &e["roc_auc"])?;
        check(name, "log_loss", log_loss(&t, &s), &e["log_loss"])
    }

    fn check_regression(name: &str, case: &Value) -> TestResult {
        let (t, p) = (floats(&case["y_true"])?, floats(&case["y_pred"])?);
        let e = &case["expected"];
        check(name, "mae", mean_absolute_error(&t, &p), &e["mae"])?;
        check(name, "mse", mean_squared_error(&t, &p), &e["mse"])?;
        check(name, "rmse", root_mean_squared_error(&t, &p), &e["rmse"])?;
        check(
            name,
            "mape",
            mean_absolute_percentage_error(&t, &p),
            &e["mape"],
        )?;
        check(name, "r2", r2_score(&t, &p), &e["r2"])
    }

    #[test]
    fn matches_scikit_learn_on_every_fixture_case() -> TestResult {
        let cases: Value = serde_json::from_str(CASES)?;
        let cases = cases.as_array().ok_or("expected a list of cases")?;
        assert!(cases.len() >= 20, "only {} cases", cases.len());
        for case in cases {
            let name = case["name"].as_str().ok_or("case without a name")?;
            match case["kind"].as_str() {
                Some("classification") => check_classification(name, case)?,
                Some("binary") => check_binary(name, case)?,
                Some("regression") => check_regression(name, case)?,
                other => return Err(format!("{name}: unknown kind {other:?}").into()),
            }
        }
        Ok(())
    }

    #[test]
    fn empty_input_gives_no_metric() {
        let (no_labels, no_floats, no_bools): (&[&str], &[f64], &[bool]) = (&[], &[], &[]);
        assert_eq!(accuracy(no_labels, no_labels), None);
        assert_eq!(classification_quality(no_labels, no_labels), None);
        assert_eq!(roc_auc(no_bools, no_floats), None);
        assert_eq!(log_loss(no_bools, no_floats), None);
        assert_eq!(mean_absolute_error(no_floats, no_floats), None);
        assert_eq!(mean_squared_error(no_floats, no_floats), None);
        assert_eq!(root_mean_squared_error(no_floats, no_floats), None);
        assert_eq!(mean_absolute_percentage_error(no_floats, no_floats), None);
        assert_eq!(r2_score(no_floats, no_floats), None);
    }

    #[test]
    fn different_lengths_give_no_metric() {
        assert_eq!(accuracy(&["a", "b"], &["a"]), None);
        assert_eq!(classification_quality(&["a"], &["a", "b"]), None);
        assert_eq!(roc_auc(&[true, false], &[0.5]), None);
        assert_eq!(log_loss(&[true], &[0.5, 0.5]), None);
        assert_eq!(mean_absolute_error(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(r2_score(&[1.0, 2.0, 3.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn non_finite_or_out_of_range_inputs_give_no_metric() {
        assert_eq!(roc_auc(&[true, false], &[f64::NAN, 0.1]), None);
        assert_eq!(roc_auc(&[true, false], &[f64::INFINITY, 0.1]), None);
        assert_eq!(log_loss(&[true, false], &[1.5, 0.1]), None);
        assert_eq!(log_loss(&[true, false], &[f64::NAN, 0.1]), None);
        assert_eq!(mean_squared_error(&[1.0, f64::NAN], &[1.0, 2.0]), None);
        assert_eq!(r2_score(&[1.0, 2.0], &[1.0, f64::INFINITY]), None);
    }

    #[test]
    fn one_class_in_y_true_has_no_roc_auc_but_a_log_loss() -> TestResult {
        assert_eq!(roc_auc(&[true, true, true], &[0.2, 0.9, 0.5]), None);
        assert_eq!(roc_auc(&[false, false], &[0.2, 0.9]), None);
        let loss = log_loss(&[true, true], &[0.5, 0.5]).ok_or("expected a log loss")?;
        assert!(close(loss, std::f64::consts::LN_2), "{loss}");
        Ok(())
    }

    #[test]
    fn one_class_in_y_true_scores_the_wrong_prediction_as_zero() -> TestResult {
        let q = classification_quality(&["a", "a", "a", "a"], &["a", "a", "a", "b"])
            .ok_or("expected a classification quality")?;
        assert_eq!(q.accuracy, 0.75);
        let b = q.classes.get(1).ok_or("expected class b")?;
        assert_eq!(
            (b.label, b.precision, b.recall, b.f1, b.support),
            ("b", 0.0, 0.0, 0.0, 0)
        );
        assert_eq!(q.macro_precision, 0.5);
        assert_eq!(q.macro_recall, 0.375); // (3/4 + 0) / 2
        Ok(())
    }

    #[test]
    fn all_predictions_equal() -> TestResult {
        let q = classification_quality(&["a", "b", "b", "c"], &["b", "b", "b", "b"])
            .ok_or("expected a classification quality")?;
        let scores: Vec<(&str, f64, f64)> = q
            .classes
            .iter()
            .map(|c| (c.label, c.precision, c.recall))
            .collect();
        assert_eq!(
            scores,
            vec![("a", 0.0, 0.0), ("b", 0.5, 1.0), ("c", 0.0, 0.0)]
        );
        assert!(close(q.macro_f1, (2.0 / 3.0) / 3.0), "{}", q.macro_f1);
        // All scores equal: ROC-AUC one half whatever the labels.
        assert_eq!(roc_auc(&[true, false, false], &[0.4, 0.4, 0.4]), Some(0.5));
        Ok(())
    }

    #[test]
    fn class_never_predicted_has_zero_precision() -> TestResult {
        let q = classification_quality(&["a", "b", "c"], &["a", "b", "a"])
            .ok_or("expected a classification quality")?;
        let c = q.classes.get(2).ok_or("expected class c")?;
        assert_eq!(
            (c.label, c.precision, c.recall, c.f1, c.support),
            ("c", 0.0, 0.0, 0.0, 1)
        );
        let a = q.classes.first().ok_or("expected class a")?;
        assert_eq!((a.precision, a.recall), (0.5, 1.0));
        Ok(())
    }

    #[test]
    fn class_predicted_never_true_has_zero_recall() -> TestResult {
        let q = classification_quality(&["a", "a"], &["a", "z"])
            .ok_or("expected a classification quality")?;
        let z = q.classes.get(1).ok_or("expected class z")?;
        assert_eq!(
            (z.label, z.precision, z.recall, z.support),
            ("z", 0.0, 0.0, 0)
        );
        Ok(())
    }

    #[test]
    fn labels_come_out_sorted() -> TestResult {
        let q = classification_quality(&[3u8, 1, 2], &[2u8, 1, 7])
            .ok_or("expected a classification quality")?;
        let labels: Vec<u8> = q.classes.iter().map(|c| c.label).collect();
        assert_eq!(labels, vec![1, 2, 3, 7]);
        Ok(())
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // Mann-Whitney by hand: pairs (pos, neg) = (0.5, 0.5) tie -> 1/2, (0.5, 0.1) -> 1,
        // (0.9, 0.5) -> 1, (0.9, 0.1) -> 1: 3.5 / 4.
        assert_eq!(
            roc_auc(&[true, false, true, false], &[0.5, 0.5, 0.9, 0.1]),
            Some(0.875)
        );
        assert_eq!(roc_auc(&[false, true], &[-0.0, 0.0]), Some(0.5));
    }

    /// Property (no proptest): on many small pseudo-random inputs with heavy ties,
    /// ROC-AUC equals the brute-force Mann-Whitney count over all (positive, negative)
    /// pairs, a tie counting one half.
    #[test]
    fn roc_auc_equals_pairwise_mann_whitney() -> TestResult {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33
        };
        for round in 0..500 {
            let n = 2 + (next() % 30) as usize;
            let y: Vec<bool> = (0..n).map(|_| next() % 3 == 0).collect();
            let s: Vec<f64> = (0..n).map(|_| (next() % 7) as f64 / 4.0).collect();
            let (mut wins, mut pairs) = (0.0f64, 0.0f64);
            for (i, &pi) in y.iter().enumerate() {
                for (j, &pj) in y.iter().enumerate() {
                    if pi && !pj {
                        pairs += 1.0;
                        wins += match s[i].total_cmp(&s[j]) {
                            std::cmp::Ordering::Greater => 1.0,
                            std::cmp::Ordering::Equal => 0.5,
                            std::cmp::Ordering::Less => 0.0,
                        };
                    }
                }
            }
            match roc_auc(&y, &s) {
                None if pairs == 0.0 => {}
                Some(auc) if (auc - wins / pairs).abs() <= 1e-15 => {}
                other => return Err(format!("round {round}: {other:?} vs {wins}/{pairs}").into()),
            }
        }
        Ok(())
    }

    #[test]
    fn log_loss_clips_certain_mistakes_to_machine_epsilon() -> TestResult {
        let loss = log_loss(&[true], &[0.0]).ok_or("expected a log loss")?;
        assert_eq!(loss, -F64_EPS.ln());
        let loss = log_loss(&[true], &[1.0]).ok_or("expected a log loss")?;
        assert_eq!(loss, -(1.0 - F64_EPS).ln());
        Ok(())
    }

    #[test]
    fn mape_with_zero_truth_divides_by_epsilon() -> TestResult {
        let mape = mean_absolute_percentage_error(&[0.0], &[1.0]).ok_or("expected a MAPE")?;
        assert_eq!(mape, 1.0 / F64_EPS);
        Ok(())
    }

    #[test]
    fn r2_of_constant_truth_is_one_or_zero() {
        assert_eq!(r2_score(&[2.5, 2.5, 2.5], &[2.5, 2.5, 2.5]), Some(1.0));
        assert_eq!(r2_score(&[2.5, 2.5, 2.5], &[2.5, 2.5, 3.0]), Some(0.0));
        // A constant whose numpy mean is off by an ulp: still constant here.
        assert_eq!(r2_score(&[0.1, 0.1, 0.1], &[0.1, 0.1, 0.2]), Some(0.0));
    }

    #[test]
    fn r2_needs_two_rows() {
        assert_eq!(r2_score(&[1.0], &[1.0]), None);
        assert_eq!(r2_score(&[1.0, 2.0], &[1.0, 2.0]), Some(1.0));
    }

    #[test]
    fn compensated_sum_keeps_small_terms() {
        assert_eq!(compensated_sum([1e16, 1.0, -1e16]), 1.0);
        assert_eq!(compensated_sum(std::iter::repeat_n(0.1, 10)), 1.0);
    }
}
