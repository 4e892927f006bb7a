//! Concept drift: the relation between inputs and target changed, which input
//! drift scores cannot see when the inputs' distributions stay put. Two signals
//! over the labelled rows (SPEC.md section 9):
//!
//! - **Change detectors on the error stream.** The window's labelled rows, in
//!   arrival order, give a stream of prediction errors: a classifier's 0/1 error
//!   (prediction != label), a regressor's absolute error. [`stats::change`]
//!   replays it through River's detectors: DDM (Gama et al. 2004) and ADWIN
//!   (Bifet and Gavaldà 2007) for a classifier, Page-Hinkley (Page 1954) and ADWIN
//!   for a regressor. The stream is the window's, replayed at each evaluation, so
//!   the result depends only on the rows the window holds (a restart that restores
//!   the window restores it) and a detection leaves once its rows have left.
//! - **Calibration by prediction bin.** For a scored classifier, the share of
//!   positive labels in each bin of the score (the reference's bins of the
//!   prediction column); for a regressor, the mean signed error (prediction -
//!   label) in each bin of the prediction. The window's value per bin against the
//!   reference's: P(label | prediction) moving while the predictions' distribution
//!   does not is concept drift. [`Calibration::gap`] is the largest difference over
//!   bins with at least [`MIN_BIN_ROWS`] labelled rows on both sides (for a
//!   regressor divided by the reference's RMSE, so that it has no unit).

use serde::Serialize;

use crate::config::Task;
use crate::data::{Batch, ColumnArray};
use crate::quality::QualitySpec;
use crate::stats::bins::bin_index;
use crate::stats::change::{Adwin, ChangeDetector, Ddm, PageHinkley};

/// Bins with fewer labelled rows on either side are left out of the gap.
pub const MIN_BIN_ROWS: u64 = 100;

/// One labelled row: its prediction (score or value), the target the calibration
/// averages (1/0 for the positive class, or the signed error), and its error.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    prediction: f64,
    target: f64,
    error: f64,
}

/// The labelled rows of `batches` in order (classes compared as the quality spec
/// says; a class-predicting classifier has no calibration target).
fn labelled_rows<'a>(spec: &QualitySpec, batches: impl IntoIterator<Item = &'a Batch>) -> Vec<Row> {
    let mut rows = Vec::new();
    for batch in batches {
        let label = batch.columns.get(spec.label).and_then(Option::as_ref);
        let prediction = batch.columns.get(spec.prediction).and_then(Option::as_ref);
        match (label, prediction) {
            (Some(ColumnArray::Categorical(l)), Some(ColumnArray::Numeric(p))) => {
                for (l, p) in l.iter().zip(p.iter()) {
                    if let (Some(l), Some(p)) = (l, p.filter(|p| p.is_finite())) {
                        let positive = l == spec.positive_class;
                        let predicted = p >= spec.threshold;
                        rows.push(Row {
                            prediction: p,
                            target: f64::from(u8::from(positive)),
                            error: f64::from(u8::from(positive != predicted)),
                        });
                    }
                }
            }
            (Some(ColumnArray::Categorical(l)), Some(ColumnArray::Categorical(p))) => {
                for (l, p) in l.iter().zip(p.iter()) {
                    if let (Some(l), Some(p)) = (l, p) {
                        rows.push(Row {
                            prediction: f64::NAN,
                            target: f64::NAN,
                            error: f64::from(u8::from(l != p)),
                        });
                    }
                }
            }
            (Some(ColumnArray::Numeric(l)), Some(ColumnArray::Numeric(p))) => {
                for (l, p) in l.iter().zip(p.iter()) {
                    if let (Some(l), Some(p)) =
                        (l.filter(|l| l.is_finite()), p.filter(|p| p.is_finite()))
                    {
                        rows.push(Row {
                            prediction: p,
                            target: p - l,
                            error: (p - l).abs(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    rows
}

/// What one detector made of the window's error stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorReport {
    /// `ddm`, `page_hinkley` or `adwin`.
    pub detector: &'static str,
    /// Detections over the stream.
    pub detections: u64,
    /// Labelled rows after the last detection (`null` without one).
    pub rows_since_detection: Option<u64>,
    /// The detector's statistic at the end of the stream: DDM's `p + s`,
    /// Page-Hinkley's cumulative statistic, ADWIN's window mean.
    pub statistic: f64,
}

/// Per-bin calibration of a scored classifier or a regressor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Labelled rows per bin.
    pub rows: Vec<u64>,
    /// The mean target per bin (positive share, or mean signed error); `null`
    /// for an empty bin.
    pub mean: Vec<Option<f64>>,
}

impl Calibration {
    /// The calibration of `rows` over the bins `edges` of the prediction.
    fn of(rows: &[Row], edges: &[f64]) -> Calibration {
        let bins = edges.len() + 1;
        let (mut count, mut sum) = (vec![0u64; bins], vec![0.0; bins]);
        for row in rows.iter().filter(|r| r.target.is_finite()) {
            let b = bin_index(edges, row.prediction);
            count[b] += 1;
            sum[b] += row.target;
        }
        let mean = count
            .iter()
            .zip(&sum)
            .map(|(&n, &s)| (n > 0).then(|| s / n as f64))
            .collect();
        Calibration { rows: count, mean }
    }

    /// The largest `|self - reference|` over bins with at least [`MIN_BIN_ROWS`]
    /// rows on both sides, divided by `scale`; `None` when no bin qualifies.
    pub fn gap(&self, reference: &Calibration, scale: f64) -> Option<f64> {
        let mut gap: Option<f64> = None;
        for i in 0..self.rows.len().min(reference.rows.len()) {
            if self.rows[i] < MIN_BIN_ROWS || reference.rows[i] < MIN_BIN_ROWS {
                continue;
            }
            if let (Some(w), Some(r)) = (self.mean[i], reference.mean[i]) {
                let d = (w - r).abs() / scale;
                gap = Some(gap.map_or(d, |g: f64| g.max(d)));
            }
        }
        gap
    }
}

/// Concept-drift signals over some labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConceptReport {
    /// Labelled rows in the error stream.
    pub rows: u64,
    /// Each detector's result.
    pub detectors: Vec<DetectorReport>,
    /// Calibration by prediction bin (scored classifiers and regressors).
    pub calibration: Option<Calibration>,
    /// The largest calibration difference against the reference's.
    pub calibration_gap: Option<f64>,
}

/// The reference's side: its calibration and the scale of the regressor's gap.
#[derive(Debug, Clone, PartialEq)]
pub struct ConceptReference {
    /// The prediction bins' inner edges (the profile's bins of the prediction).
    pub edges: Vec<f64>,
    /// The reference's calibration, when it has labelled rows.
    pub calibration: Option<Calibration>,
    /// What a regressor's gap is divided by: the reference's RMSE (1 for a classifier).
    pub scale: f64,
}

impl ConceptReference {
    /// The reference side from the reference's batches; `edges` are the
    /// prediction column's bins (empty for a class-predicting classifier).
    pub fn new<'a>(
        spec: &QualitySpec,
        edges: Vec<f64>,
        batches: impl IntoIterator<Item = &'a Batch>,
    ) -> ConceptReference {
        let rows = labelled_rows(spec, batches);
        let calibrated = !edges.is_empty() && (spec.scored || spec.task == Task::Regression);
        let calibration = (calibrated && !rows.is_empty()).then(|| Calibration::of(&rows, &edges));
        let scale = match spec.task {
            Task::Regression if !rows.is_empty() => {
                let mse = rows.iter().map(|r| r.error * r.error).sum::<f64>() / rows.len() as f64;
                if mse > 0.0 {
                    mse.sqrt()
                } else {
                    1.0
                }
            }
            _ => 1.0,
        };
        ConceptReference {
            edges,
            calibration,
            scale,
        }
    }
}

/// The concept-drift signals of the labelled rows of `batches`, in order.
pub fn evaluate<'a>(
    spec: &QualitySpec,
    reference: &ConceptReference,
    batches: impl IntoIterator<Item = &'a Batch>,
) -> ConceptReport {
    let rows = labelled_rows(spec, batches);
    let errors: Vec<f64> = rows.iter().map(|r| r.error).collect();
    let mut detectors = Vec::new();
    match spec.task {
        Task::Classification => {
            let mut ddm = Ddm::default();
            let mut report = run("ddm", &mut ddm, &errors);
            report.statistic = ddm.level();
            detectors.push(report);
        }
        Task::Regression => {
            let mut ph = PageHinkley::default();
            let mut report = run("page_hinkley", &mut ph, &errors);
            report.statistic = ph.statistic();
            detectors.push(report);
        }
    }
    let mut adwin = Adwin::default();
    let mut report = run("adwin", &mut adwin, &errors);
    report.statistic = adwin.estimation();
    detectors.push(report);
    let calibration = reference
        .calibration
        .as_ref()
        .filter(|_| !rows.is_empty())
        .map(|_| Calibration::of(&rows, &reference.edges));
    let calibration_gap = match (&calibration, &reference.calibration) {
        (Some(window), Some(reference_side)) => window.gap(reference_side, reference.scale),
        _ => None,
    };
    ConceptReport {
        rows: rows.len() as u64,
        detectors,
        calibration,
        calibration_gap,
    }
}

/// Replays `errors` through `detector`, counting detections.
fn run(name: &'static str, detector: &mut impl ChangeDetector, errors: &[f64]) -> DetectorReport {
    let mut detections = 0;
    let mut last = None;
    for (i, &e) in errors.iter().enumerate() {
        if detector.update(e) {
            detections += 1;
            last = Some(i);
        }
    }
    DetectorReport {
        detector: name,
        detections,
        rows_since_detection: last.map(|i| (errors.len() - 1 - i) as u64),
        statistic: f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, StringArray};

    use super::*;
    use crate::data::{ColumnPlan, Kind, Rejects};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn spec(task: Task) -> Result<QualitySpec, Box<dyn std::error::Error>> {
        let plan = ColumnPlan::new([("prediction".to_string(), Kind::Numeric)])
            .with_extra_column("label", QualitySpec::label_kind(task));
        crate::quality::test_support::spec(&plan, task)
    }

    /// A scored classifier's rows: scores spread over [0, 1), labels drawn with
    /// P(positive) = score by a fixed sequence, and flipped where `flip(score)`.
    fn scored_rows(n: usize, seed: u64, flip: impl Fn(f64) -> bool) -> Batch {
        let mut state = seed;
        let mut next = || {
            // SplitMix64.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut scores = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let score = next();
            let positive = (next() < score) != flip(score);
            scores.push(score);
            labels.push(if positive { "1" } else { "0" });
        }
        Batch {
            rows: n,
            columns: vec![
                Some(ColumnArray::Numeric(Float64Array::from(scores))),
                Some(ColumnArray::Categorical(StringArray::from(labels))),
            ],
            rejects: Rejects::default(),
        }
    }

    fn edges() -> Vec<f64> {
        (1..10).map(|i| f64::from(i) / 10.0).collect()
    }

    #[test]
    fn the_error_stream_gives_the_detectors_their_own_answers() -> TestResult {
        let spec = spec(Task::Classification)?;
        let batch = scored_rows(3000, 7, |s| s > 0.6);
        let rows = labelled_rows(&spec, [&batch]);
        let report = evaluate(&spec, &ConceptReference::new(&spec, edges(), []), [&batch]);
        assert_eq!(report.rows, 3000);
        // The same stream fed by hand to the same detectors.
        let mut ddm = Ddm::default();
        let mut adwin = Adwin::default();
        let (mut by_ddm, mut by_adwin) = (0, 0);
        for row in &rows {
            by_ddm += u64::from(ddm.update(row.error));
            by_adwin += u64::from(adwin.update(row.error));
        }
        let names: Vec<&str> = report.detectors.iter().map(|d| d.detector).collect();
        assert_eq!(names, ["ddm", "adwin"]);
        assert_eq!(report.detectors[0].detections, by_ddm);
        assert_eq!(report.detectors[1].detections, by_adwin);
        assert_eq!(report.detectors[0].statistic, ddm.level());
        assert_eq!(report.detectors[1].statistic, adwin.estimation());
        Ok(())
    }

    #[test]
    fn flipped_labels_in_one_region_open_a_calibration_gap_and_calm_data_does_not() -> TestResult {
        let spec = spec(Task::Classification)?;
        let reference_rows = scored_rows(20_000, 1, |_| false);
        let reference = ConceptReference::new(&spec, edges(), [&reference_rows]);
        let calibration = reference
            .calibration
            .as_ref()
            .ok_or("reference calibration")?;
        assert_eq!(calibration.rows.iter().sum::<u64>(), 20_000);
        // Same inputs (scores), same labels: a small gap and no ADWIN detection.
        let calm = evaluate(&spec, &reference, [&scored_rows(5_000, 2, |_| false)]);
        let calm_gap = calm.calibration_gap.ok_or("a gap")?;
        assert!(calm_gap < 0.06, "{calm_gap}");
        assert_eq!(calm.detectors[1].detections, 0, "{calm:?}");
        // Same inputs, labels flipped for scores above 0.6: pure concept drift.
        let flipped = evaluate(&spec, &reference, [&scored_rows(5_000, 3, |s| s > 0.6)]);
        let gap = flipped.calibration_gap.ok_or("a gap")?;
        assert!(gap > 0.5, "{gap}");
        Ok(())
    }

    #[test]
    fn a_regressor_gap_is_in_reference_rmse() -> TestResult {
        let spec = spec(Task::Regression)?;
        let batch = |bias: f64| {
            let predictions: Vec<f64> = (0..600).map(|i| f64::from(i % 100)).collect();
            let labels: Vec<f64> = predictions
                .iter()
                .enumerate()
                .map(|(i, p)| p + if i % 2 == 0 { 2.0 } else { -2.0 } + bias)
                .collect();
            Batch {
                rows: 600,
                columns: vec![
                    Some(ColumnArray::Numeric(Float64Array::from(predictions))),
                    Some(ColumnArray::Numeric(Float64Array::from(labels))),
                ],
                rejects: Rejects::default(),
            }
        };
        let edges = vec![50.0];
        let reference = ConceptReference::new(&spec, edges, [&batch(0.0)]);
        assert_eq!(reference.scale, 2.0, "the reference's RMSE");
        let report = evaluate(&spec, &reference, [&batch(1.0)]);
        // Labels one higher: the signed error moves by -1 in every bin, half an RMSE.
        assert_eq!(report.calibration_gap, Some(0.5));
        assert_eq!(report.detectors[0].detector, "page_hinkley");
        Ok(())
    }

    #[test]
    fn bins_below_the_minimum_are_left_out_of_the_gap() {
        let window = Calibration {
            rows: vec![MIN_BIN_ROWS - 1, MIN_BIN_ROWS],
            mean: vec![Some(1.0), Some(0.3)],
        };
        let reference = Calibration {
            rows: vec![100, 100],
            mean: vec![Some(0.0), Some(0.1)],
        };
        let gap = window.gap(&reference, 1.0).unwrap_or(f64::NAN);
        assert!((gap - 0.2).abs() < 1e-12, "{gap}");
        let empty = Calibration {
            rows: vec![0, 0],
            mean: vec![None, None],
        };
        assert_eq!(empty.gap(&reference, 1.0), None);
    }
}
