//! Model quality once labels arrive (SPEC.md section 9): the rows that carry a
//! label and a prediction are scored with [`crate::stats::quality`], the same
//! numbers scikit-learn gives on those rows.
//!
//! A [`QualitySpec`] says where the label and the prediction are in the read plan
//! and how to read them: a classifier's prediction is a class (a categorical
//! column) or a score for `model.positive_class` (a numeric column; the predicted
//! class is the positive one when the score is at least `model.threshold`); a
//! regressor's label and prediction are numbers. [`evaluate`] scores any batches
//! laid out by that plan: the reference's (once, at profile time), the daemon's
//! window, or a `check` file. Rows without a label, or whose prediction is
//! missing or not finite, are not labelled rows and are skipped.

use serde::Serialize;

use crate::config::{ColumnsConfig, ModelConfig, Task};
use crate::data::{Batch, ColumnArray, ColumnPlan, Kind};
use crate::stats::quality as q;

/// The class name used for "not the positive class" when the labels do not name
/// exactly one other class.
pub const OTHER_CLASS: &str = "__other__";

/// Where the label and the prediction are, and how they are compared.
#[derive(Debug, Clone, PartialEq)]
pub struct QualitySpec {
    /// Classification or regression.
    pub task: Task,
    /// The label column's position in the plan.
    pub label: usize,
    /// The prediction column's position in the plan.
    pub prediction: usize,
    /// Its name.
    pub prediction_name: String,
    /// A classifier whose prediction is a numeric score for `positive_class`.
    pub scored: bool,
    /// The class a score is for.
    pub positive_class: String,
    /// The name of the other class of a scored binary classifier, when known.
    pub negative_class: Option<String>,
    /// A score at or above this predicts `positive_class`.
    pub threshold: f64,
}

impl QualitySpec {
    /// The spec for `plan` (which must already hold the label column), or `None`
    /// when no label is configured. An error names what is missing.
    pub fn new(
        model: &ModelConfig,
        columns: &ColumnsConfig,
        plan: &ColumnPlan,
    ) -> Result<Option<QualitySpec>, String> {
        let (Some(label_name), Some(task)) = (&columns.label, model.task) else {
            return Ok(None);
        };
        let label = plan
            .index_of(label_name)
            .ok_or_else(|| format!("columns.label: `{label_name}` is not planned"))?;
        let (prediction, prediction_name, kind) = columns
            .prediction
            .iter()
            .find_map(|name| {
                let i = plan.index_of(name)?;
                Some((i, name.clone(), plan.iter().nth(i)?.1))
            })
            .ok_or_else(|| {
                "columns.label needs a prediction column (columns.prediction) in the reference"
                    .to_string()
            })?;
        if task == Task::Regression && kind != Kind::Numeric {
            return Err(format!(
                "model.task = \"regression\" needs a numeric prediction; `{prediction_name}` is categorical"
            ));
        }
        Ok(Some(QualitySpec {
            task,
            label,
            prediction,
            prediction_name,
            scored: task == Task::Classification && kind == Kind::Numeric,
            positive_class: model.positive_class.clone(),
            negative_class: None,
            threshold: model.threshold,
        }))
    }

    /// The kind the label column is read as.
    pub fn label_kind(task: Task) -> Kind {
        match task {
            Task::Classification => Kind::Categorical,
            Task::Regression => Kind::Numeric,
        }
    }
}

/// Quality over some labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// Rows with a label and a usable prediction.
    pub labelled_rows: u64,
    /// Classification metrics (`null` for a regressor or with no labelled row).
    pub classification: Option<ClassificationReport>,
    /// Regression metrics (`null` for a classifier or with no labelled row).
    pub regression: Option<RegressionReport>,
}

/// Classification quality (scikit-learn's definitions, see [`crate::stats::quality`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// `accuracy_score`.
    pub accuracy: f64,
    /// Per class, in sorted order of the classes seen as labels or predictions.
    pub classes: Vec<ClassReport>,
    /// Unweighted mean of the per-class precisions.
    pub macro_precision: f64,
    /// Unweighted mean of the per-class recalls.
    pub macro_recall: f64,
    /// Unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// `roc_auc_score` of the score (a scored binary classifier with both classes).
    pub roc_auc: Option<f64>,
    /// `log_loss` of the score as P(positive) (scores in [0, 1] only).
    pub log_loss: Option<f64>,
}

/// One class's precision, recall and F1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// The class.
    pub class: String,
    /// `tp / predicted`.
    pub precision: f64,
    /// `tp / true`.
    pub recall: f64,
    /// `2 tp / (true + predicted)`.
    pub f1: f64,
    /// Rows truly of this class.
    pub support: u64,
}

/// Regression quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionReport {
    /// `mean_absolute_error`.
    pub mae: Option<f64>,
    /// `mean_squared_error`.
    pub mse: Option<f64>,
    /// `root_mean_squared_error`.
    pub rmse: Option<f64>,
    /// `mean_absolute_percentage_error` (a share, not a percentage).
    pub mape: Option<f64>,
    /// `r2_score` (`null` below two rows).
    pub r2: Option<f64>,
}

/// The labelled rows of some batches.
#[derive(Debug, Default)]
struct Labelled {
    classes: Vec<String>,
    predicted: Vec<String>,
    scores: Vec<f64>,
    truths: Vec<f64>,
    estimates: Vec<f64>,
}

impl Labelled {
    fn collect<'a>(spec: &QualitySpec, batches: impl IntoIterator<Item = &'a Batch>) -> Labelled {
        let mut rows = Labelled::default();
        for batch in batches {
            let label = batch.columns.get(spec.label).and_then(Option::as_ref);
            let prediction = batch.columns.get(spec.prediction).and_then(Option::as_ref);
            match (spec.task, label, prediction) {
                (
                    Task::Classification,
                    Some(ColumnArray::Categorical(l)),
                    Some(ColumnArray::Numeric(p)),
                ) => {
                    for (l, p) in l.iter().zip(p.iter()) {
                        if let (Some(l), Some(p)) = (l, p.filter(|p| p.is_finite())) {
                            rows.classes.push(l.to_string());
                            rows.scores.push(p);
                        }
                    }
                }
                (
                    Task::Classification,
                    Some(ColumnArray::Categorical(l)),
                    Some(ColumnArray::Categorical(p)),
                ) => {
                    for (l, p) in l.iter().zip(p.iter()) {
                        if let (Some(l), Some(p)) = (l, p) {
                            rows.classes.push(l.to_string());
                            rows.predicted.push(p.to_string());
                        }
                    }
                }
                (
                    Task::Regression,
                    Some(ColumnArray::Numeric(l)),
                    Some(ColumnArray::Numeric(p)),
                ) => {
                    for (l, p) in l.iter().zip(p.iter()) {
                        if let (Some(l), Some(p)) =
                            (l.filter(|l| l.is_finite()), p.filter(|p| p.is_finite()))
                        {
                            rows.truths.push(l);
                            rows.estimates.push(p);
                        }
                    }
                }
                _ => {}
            }
        }
        rows
    }
}

/// The other class of a scored binary classifier: the one label that is not the
/// positive class, else [`OTHER_CLASS`].
pub fn negative_class<'a>(positive: &str, labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut other: Option<&str> = None;
    for label in labels {
        if label == positive || other == Some(label) {
            continue;
        }
        if other.is_some() {
            return OTHER_CLASS.to_string();
        }
        other = Some(label);
    }
    other.unwrap_or(OTHER_CLASS).to_string()
}

/// Quality of the labelled rows of `batches` (laid out by the spec's plan).
pub fn evaluate<'a>(
    spec: &QualitySpec,
    batches: impl IntoIterator<Item = &'a Batch>,
) -> QualityReport {
    let mut rows = Labelled::collect(spec, batches);
    match spec.task {
        Task::Regression => {
            let (t, p) = (&rows.truths, &rows.estimates);
            QualityReport {
                labelled_rows: t.len() as u64,
                classification: None,
                regression: (!t.is_empty()).then(|| RegressionReport {
                    mae: q::mean_absolute_error(t, p),
                    mse: q::mean_squared_error(t, p),
                    rmse: q::root_mean_squared_error(t, p),
                    mape: q::mean_absolute_percentage_error(t, p),
                    r2: q::r2_score(t, p),
                }),
            }
        }
        Task::Classification => {
            let (mut roc_auc, mut log_loss) = (None, None);
            if spec.scored {
                let positive = &spec.positive_class;
                let negative = spec.negative_class.clone().unwrap_or_else(|| {
                    negative_class(positive, rows.classes.iter().map(String::as_str))
                });
                let truth: Vec<bool> = rows.classes.iter().map(|c| c == positive).collect();
                // A label that is neither class counts as the negative one.
                for class in &mut rows.classes {
                    if class != positive {
                        class.clone_from(&negative);
                    }
                }
                rows.predicted = rows
                    .scores
                    .iter()
                    .map(|&s| {
                        if s >= spec.threshold {
                            positive.clone()
                        } else {
                            negative.clone()
                        }
                    })
                    .collect();
                roc_auc = q::roc_auc(&truth, &rows.scores);
                log_loss = q::log_loss(&truth, &rows.scores);
            }
            let quality = q::classification_quality(&rows.classes, &rows.predicted);
            QualityReport {
                labelled_rows: rows.classes.len() as u64,
                classification: quality.map(|c| ClassificationReport {
                    accuracy: c.accuracy,
                    classes: c
                        .classes
                        .into_iter()
                        .map(|k| ClassReport {
                            class: k.label,
                            precision: k.precision,
                            recall: k.recall,
                            f1: k.f1,
                            support: k.support,
                        })
                        .collect(),
                    macro_precision: c.macro_precision,
                    macro_recall: c.macro_recall,
                    macro_f1: c.macro_f1,
                    roc_auc,
                    log_loss,
                }),
                regression: None,
            }
        }
    }
}

/// What the quality and concept tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::QualitySpec;
    use crate::config::{ColumnsConfig, ModelConfig, Task};
    use crate::data::ColumnPlan;

    /// The spec of `task` with the label `label` and the prediction `prediction`
    /// (both in `plan`), and the default positive class and threshold.
    pub(crate) fn spec(
        plan: &ColumnPlan,
        task: Task,
    ) -> Result<QualitySpec, Box<dyn std::error::Error>> {
        let model = ModelConfig {
            task: Some(task),
            ..ModelConfig::default()
        };
        let columns = ColumnsConfig {
            label: Some("label".into()),
            ..ColumnsConfig::default()
        };
        Ok(QualitySpec::new(&model, &columns, plan)?.ok_or("a spec")?)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, StringArray};

    use super::*;
    use crate::data::Rejects;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn plan(prediction: Kind, label: Kind) -> ColumnPlan {
        ColumnPlan::new([
            ("x".to_string(), Kind::Numeric),
            ("prediction".to_string(), prediction),
        ])
        .with_extra_column("label", label)
    }

    fn spec(task: Task, prediction: Kind) -> Result<QualitySpec, Box<dyn std::error::Error>> {
        test_support::spec(&plan(prediction, QualitySpec::label_kind(task)), task)
    }

    fn batch(prediction: ColumnArray, label: ColumnArray) -> Batch {
        Batch {
            rows: label.len(),
            columns: vec![None, Some(prediction), Some(label)],
            rejects: Rejects::default(),
        }
    }

    #[test]
    fn no_label_no_spec_and_a_missing_prediction_is_named() -> TestResult {
        let p = plan(Kind::Numeric, Kind::Categorical);
        assert_eq!(
            QualitySpec::new(&ModelConfig::default(), &ColumnsConfig::default(), &p)?,
            None
        );
        let model = ModelConfig {
            task: Some(Task::Classification),
            ..ModelConfig::default()
        };
        let columns = ColumnsConfig {
            label: Some("label".into()),
            prediction: vec!["nope".into()],
            ..ColumnsConfig::default()
        };
        let err = QualitySpec::new(&model, &columns, &p)
            .err()
            .ok_or("an error")?;
        assert!(err.contains("prediction"), "{err}");
        Ok(())
    }

    #[test]
    fn a_scored_binary_classifier_is_thresholded_and_ranked() -> TestResult {
        let spec = spec(Task::Classification, Kind::Numeric)?;
        assert!(spec.scored);
        let scores = Float64Array::from(vec![
            Some(0.9),
            Some(0.2),
            Some(0.6),
            Some(0.4),
            None,
            Some(0.7),
        ]);
        let labels = StringArray::from(vec![
            Some("1"),
            Some("0"),
            Some("0"),
            Some("1"),
            Some("1"),
            None,
        ]);
        let report = evaluate(
            &spec,
            [&batch(
                ColumnArray::Numeric(scores),
                ColumnArray::Categorical(labels),
            )],
        );
        assert_eq!(
            report.labelled_rows, 4,
            "rows without a label or a score are skipped"
        );
        let c = report.classification.ok_or("classification")?;
        // Predicted 1, 0, 1, 0 against 1, 0, 0, 1.
        assert_eq!(c.accuracy, 0.5);
        let names: Vec<&str> = c.classes.iter().map(|k| k.class.as_str()).collect();
        assert_eq!(names, ["0", "1"]);
        assert_eq!((c.classes[1].precision, c.classes[1].recall), (0.5, 0.5));
        // Positives 0.9, 0.4 against negatives 0.2, 0.6: 3 of 4 pairs ranked right.
        assert_eq!(c.roc_auc, Some(0.75));
        assert!(c.log_loss.is_some_and(|l| l > 0.0));
        Ok(())
    }

    #[test]
    fn class_predictions_compare_as_text() -> TestResult {
        let spec = spec(Task::Classification, Kind::Categorical)?;
        assert!(!spec.scored);
        let predicted = StringArray::from(vec!["a", "b", "b"]);
        let labels = StringArray::from(vec!["a", "b", "c"]);
        let report = evaluate(
            &spec,
            [&batch(
                ColumnArray::Categorical(predicted),
                ColumnArray::Categorical(labels),
            )],
        );
        let c = report.classification.ok_or("classification")?;
        assert_eq!(
            c.classes.len(),
            3,
            "a class never predicted is still reported"
        );
        assert_eq!(c.classes[2].precision, 0.0);
        assert_eq!((c.roc_auc, c.log_loss), (None, None));
        Ok(())
    }

    #[test]
    fn a_regressor_gets_errors_and_r2() -> TestResult {
        let spec = spec(Task::Regression, Kind::Numeric)?;
        let predicted = Float64Array::from(vec![Some(1.0), Some(2.0), Some(f64::NAN), Some(5.0)]);
        let labels = Float64Array::from(vec![Some(1.0), Some(3.0), Some(2.0), Some(4.0)]);
        let report = evaluate(
            &spec,
            [&batch(
                ColumnArray::Numeric(predicted),
                ColumnArray::Numeric(labels),
            )],
        );
        assert_eq!(report.labelled_rows, 3);
        let r = report.regression.ok_or("regression")?;
        assert_eq!(r.mae, Some(2.0 / 3.0));
        assert_eq!(r.mse, Some(2.0 / 3.0));
        Ok(())
    }

    #[test]
    fn no_labelled_rows_no_metrics() -> TestResult {
        let spec = spec(Task::Regression, Kind::Numeric)?;
        let report = evaluate(&spec, []);
        assert_eq!((report.labelled_rows, report.regression), (0, None));
        Ok(())
    }

    #[test]
    fn the_negative_class_is_the_one_other_label() {
        assert_eq!(negative_class("1", ["1", "0", "0"]), "0");
        assert_eq!(negative_class("1", ["1", "1"]), OTHER_CLASS);
        assert_eq!(negative_class("1", ["a", "b"]), OTHER_CLASS);
    }
}
