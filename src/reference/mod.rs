//! The reference profile: what the training data looks like, built once at
//! start-up from a Parquet file.
//!
//! For each scored column it keeps what the scores need and nothing else: numeric
//! columns their sorted finite values (for KS), bin edges and counts, min and max;
//! categorical columns their kept categories (at most `max_categories`, most
//! frequent first, ties by byte order, the rest in `__other__`) and counts. Kinds
//! and roles come from the Arrow schema and `[columns]` (see [`resolve_columns`]).
//! `check`, the window and the evaluator all read profiles; nothing mutates them.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::Array;
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::Schema;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::concept::ConceptReference;
use crate::config::{Binning, ColumnsConfig, Config, ModelConfig, ProfileSettings};
use crate::data::{self, Batch, ColumnArray, ColumnPlan, DataError, Kind};
use crate::quality::{self, QualityReport, QualitySpec};
use crate::stats::bins;
use crate::stats::frequent::FrequentItems;
use crate::stats::multivariate::MultivariateReference;
use crate::stats::sketch::QuantileSketch;
use crate::stats::wasserstein::ReferenceCdf;

pub mod profile_file;

/// The label of the bin that takes capped and unseen categories.
pub const OTHER_CATEGORY: &str = "__other__";

/// Errors building a reference profile.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// `[columns]` names something the reference does not have, or contradicts itself.
    #[error("{path}: {key}: {message}")]
    Columns {
        /// The reference file.
        path: PathBuf,
        /// The config key (`columns.categorical`...).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A profile file is unreadable or damaged.
    #[error(transparent)]
    Profile(#[from] profile_file::ProfileFileError),
    /// The config names no reference.
    #[error("{0}: [reference] path is required")]
    NotConfigured(PathBuf),
    /// Nothing can be scored.
    #[error("{path}: {message}")]
    Unusable {
        /// The reference file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl ReferenceError {
    /// A setting of `key` the reference at `path` cannot honour: `message`.
    pub(crate) fn columns(path: &Path, key: &str, message: String) -> Self {
        ReferenceError::Columns {
            path: path.to_path_buf(),
            key: key.into(),
            message,
        }
    }
}

/// Whether a column is a model input or a model output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftType {
    /// An input feature: data drift.
    Data,
    /// A model output: prediction drift.
    Prediction,
}

impl DriftType {
    /// The `drift_type` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftType::Data => "data",
            DriftType::Prediction => "prediction",
        }
    }
}

/// A reference column chosen for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedColumn {
    /// Column name.
    pub name: String,
    /// Numeric or categorical.
    pub kind: Kind,
    /// Input or output.
    pub drift_type: DriftType,
    /// Arrow type boolean (its categories are `true` and `false`).
    pub boolean: bool,
}

/// Decides which reference columns are scored, how, and as what, from the Arrow
/// schema and `[columns]`. Names in `columns.prediction` and `columns.categorical`
/// that the reference lacks are errors (except the default prediction column name
/// `prediction`): they change what is measured, so a typo must not pass. Names in
/// `columns.ignore` that it lacks are only logged: ignoring an absent column is
/// harmless, and one config often serves references of several model versions.
pub fn resolve_columns(
    schema: &Schema,
    rules: &ColumnsConfig,
    path: &Path,
) -> Result<Vec<ResolvedColumn>, ReferenceError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let column_err = |key: &str, message: String| ReferenceError::columns(path, key, message);
    let default_prediction = rules.prediction == ColumnsConfig::default().prediction;
    let weighted: Vec<String> = rules.weights.keys().cloned().collect();
    let lists: [(&str, &Vec<String>, bool); 4] = [
        ("columns.prediction", &rules.prediction, !default_prediction),
        ("columns.categorical", &rules.categorical, true),
        ("columns.ignore", &rules.ignore, false),
        ("columns.weights", &weighted, true),
    ];
    for (key, list, must_exist) in lists {
        for name in list {
            let missing = !names.contains(&name.as_str());
            if missing && key == "columns.ignore" {
                tracing::warn!(
                    reference = %path.display(),
                    "{key}: column `{name}` is not in the reference; nothing to ignore"
                );
            }
            if missing && must_exist {
                return Err(column_err(
                    key,
                    format!(
                        "column `{name}` is not in the reference (it has: {})",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(name) = rules.prediction.iter().find(|p| rules.ignore.contains(p)) {
        return Err(column_err(
            "columns.ignore",
            format!("column `{name}` is both a prediction and ignored"),
        ));
    }
    let mut out = Vec::new();
    for field in schema.fields() {
        let name = field.name();
        if rules.ignore.contains(name) || rules.unscored().any(|c| c == name) {
            continue;
        }
        let drift_type = if rules.prediction.contains(name) {
            DriftType::Prediction
        } else {
            DriftType::Data
        };
        let kind = if rules.categorical.contains(name) {
            Some(Kind::Categorical)
        } else {
            Kind::of_arrow_type(field.data_type())
        };
        match kind {
            Some(kind) => out.push(ResolvedColumn {
                name: name.clone(),
                kind,
                drift_type,
                boolean: *field.data_type() == arrow::datatypes::DataType::Boolean,
            }),
            None if drift_type == DriftType::Prediction => {
                return Err(column_err(
                    "columns.prediction",
                    format!(
                        "column `{name}` has type {} which cannot be scored; list it in columns.categorical",
                        field.data_type()
                    ),
                ))
            }
            None => tracing::warn!(
                column = %name,
                data_type = %field.data_type(),
                "reference column is not scored: its type is neither numeric nor categorical (list it in columns.categorical or columns.ignore)"
            ),
        }
    }
    Ok(out)
}

/// Values in the sample a sketched column is scored with.
pub const SKETCH_SAMPLE: usize = 1 << 16;

/// Numeric column profile.
#[derive(Debug, Clone)]
pub struct NumericProfile {
    /// Finite reference values, ascending: all of them (exact), or a sample of
    /// [`SKETCH_SAMPLE`] values that follows a sketch's CDF (sketch mode).
    /// Shared, not copied: read from a profile file it points into the
    /// file's bytes.
    pub sorted: ScalarBuffer<f64>,
    /// Finite reference values represented (`sorted.len()` when exact).
    pub rows: u64,
    /// The bound on the error of the reference CDF: 0 when exact; a sketch's
    /// rank error plus the sample's `1.5 / SKETCH_SAMPLE` otherwise.
    pub rank_error: f64,
    /// Inner bin edges (numpy quantile or linspace, deduplicated).
    pub edges: Vec<f64>,
    /// Reference counts per bin (`edges.len() + 1` bins).
    pub counts: Vec<u64>,
    /// Population standard deviation of `sorted` (`numpy.std`, ddof 0; NaN
    /// when empty): the scale of `wasserstein_distance_normed`.
    pub std: f64,
    /// The reference CDF prepared for the Wasserstein distance, made at the
    /// first evaluation and shared by every later one (and by clones).
    cdf: OnceLock<Arc<ReferenceCdf>>,
}

impl PartialEq for NumericProfile {
    /// Equal when the values, bins and counts are; `std` compared as bits (a
    /// profile without values has NaN); the prepared CDF follows the values.
    fn eq(&self, other: &Self) -> bool {
        self.sorted == other.sorted
            && self.rows == other.rows
            && self.rank_error.to_bits() == other.rank_error.to_bits()
            && self.edges == other.edges
            && self.counts == other.counts
            && self.std.to_bits() == other.std.to_bits()
    }
}

impl NumericProfile {
    /// Builds from finite values (any order).
    pub fn new(mut values: Vec<f64>, settings: &ProfileSettings) -> Self {
        crate::stats::sort_values(&mut values);
        Self::from_sorted(values.into(), settings)
    }

    /// Builds from finite values already in ascending order.
    pub fn from_sorted(values: ScalarBuffer<f64>, settings: &ProfileSettings) -> Self {
        Self::from_sorted_with_std(values, None, settings)
    }

    /// [`NumericProfile::from_sorted`] with the values' standard deviation
    /// given when known (a profile stores it: loading it then reads no value
    /// beyond those the bins and fences need).
    pub fn from_sorted_with_std(
        values: ScalarBuffer<f64>,
        std: Option<f64>,
        settings: &ProfileSettings,
    ) -> Self {
        let edges = match settings.binning {
            Binning::Quantile => bins::quantile_edges(&values, settings.bins),
            Binning::Uniform => match (values.first(), values.last()) {
                (Some(&lo), Some(&hi)) => bins::uniform_edges(lo, hi, settings.bins),
                _ => Vec::new(),
            },
        };
        let counts = bins::bin_counts_sorted(&edges, &values);
        NumericProfile {
            std: std.unwrap_or_else(|| crate::stats::wasserstein::std_dev(&values)),
            cdf: OnceLock::new(),
            rows: values.len() as u64,
            rank_error: 0.0,
            sorted: values,
            edges,
            counts,
        }
    }

    /// Builds from a quantile sketch: the bins, KS and fences use a sample of
    /// [`SKETCH_SAMPLE`] values that follows the sketch's CDF (the exact values
    /// when the sketch never compacted); the p-value uses the rows the sketch
    /// represents.
    pub fn from_sketch(sketch: &QuantileSketch, settings: &ProfileSettings) -> Self {
        let sample = sketch.sample(SKETCH_SAMPLE);
        let exact = sketch.error_rows() == 0 && sample.len() as u64 == sketch.n();
        let mut profile = Self::from_sorted(sample.into(), settings);
        profile.rows = sketch.n();
        profile.rank_error = if exact {
            0.0
        } else {
            sketch.rank_error() + 1.5 / SKETCH_SAMPLE as f64
        };
        profile
    }

    /// The reference CDF prepared for the Wasserstein distance (made once,
    /// `O(k)` for `k` distinct values, on the first call).
    pub fn cdf(&self) -> &Arc<ReferenceCdf> {
        self.cdf
            .get_or_init(|| Arc::new(ReferenceCdf::new(&self.sorted)))
    }

    /// Smallest reference value.
    pub fn min(&self) -> Option<f64> {
        self.sorted.first().copied()
    }

    /// Largest reference value.
    pub fn max(&self) -> Option<f64> {
        self.sorted.last().copied()
    }
}

/// Where a category goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryBin {
    /// Bin index.
    pub bin: usize,
}

/// Categorical column profile.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalProfile {
    /// Bin labels: the kept categories, then [`OTHER_CATEGORY`] last.
    pub labels: Vec<String>,
    /// Every reference category (kept or capped) and its bin.
    pub index: HashMap<String, CategoryBin>,
    /// Reference counts per bin.
    pub counts: Vec<u64>,
}

impl CategoricalProfile {
    /// Builds from category frequencies: the `max_categories` most frequent keep a
    /// bin (ties broken by the text's bytes), the rest share `__other__`.
    pub fn new(frequencies: HashMap<String, u64>, max_categories: usize) -> Self {
        let mut ordered: Vec<(String, u64)> = frequencies.into_iter().collect();
        ordered.sort_unstable_by(|(a, ca), (b, cb)| {
            cb.cmp(ca).then_with(|| a.as_bytes().cmp(b.as_bytes()))
        });
        let kept = ordered.len().min(max_categories);
        let other = kept;
        let mut labels = Vec::with_capacity(kept + 1);
        let mut counts = vec![0u64; kept + 1];
        let mut index = HashMap::with_capacity(ordered.len());
        for (i, (label, count)) in ordered.into_iter().enumerate() {
            let bin = if i < kept { i } else { other };
            if i < kept {
                labels.push(label.clone());
            }
            counts[bin] += count;
            index.insert(label, CategoryBin { bin });
        }
        labels.push(OTHER_CATEGORY.to_string());
        CategoricalProfile {
            labels,
            index,
            counts,
        }
    }

    /// The bin of the `__other__` category.
    pub fn other_bin(&self) -> usize {
        self.labels.len() - 1
    }

    /// The bin of a value and whether the reference had it at all.
    #[inline]
    pub fn lookup(&self, value: &str) -> (usize, bool) {
        match self.index.get(value) {
            Some(b) => (b.bin, true),
            None => (self.other_bin(), false),
        }
    }
}

/// Kind-specific part of a column profile.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileDetail {
    /// Numeric column.
    Numeric(NumericProfile),
    /// Categorical column.
    Categorical(CategoricalProfile),
}

/// One scored reference column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnProfile {
    /// Column name.
    pub name: String,
    /// Input or output.
    pub drift_type: DriftType,
    /// Null values in the reference.
    pub missing: u64,
    /// Rejected values in the reference (NaN, Inf).
    pub rejected: u64,
    /// What the scores need.
    pub detail: ProfileDetail,
}

impl ColumnProfile {
    /// Numeric or categorical.
    pub fn kind(&self) -> Kind {
        match self.detail {
            ProfileDetail::Numeric(_) => Kind::Numeric,
            ProfileDetail::Categorical(_) => Kind::Categorical,
        }
    }

    /// Reference values that are scored (non-null, valid).
    pub fn scored_values(&self) -> u64 {
        match &self.detail {
            ProfileDetail::Numeric(p) => p.rows,
            ProfileDetail::Categorical(p) => p.counts.iter().sum(),
        }
    }
}

/// What a reference file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceFormat {
    /// The training data itself.
    Parquet,
    /// A profile built by `drift-exporter profile` (exact mode).
    Profile,
}

impl ReferenceFormat {
    /// The `format` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceFormat::Parquet => "parquet",
            ReferenceFormat::Profile => "profile",
        }
    }
}

/// One reference column's raw material: what the profile of any settings
/// (bins, binning, categories kept) is built from. Read from the Parquet once,
/// or from a profile file ([`crate::profile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RawColumn {
    /// Column name.
    pub name: String,
    /// Input or output, as resolved when it was read.
    pub drift_type: DriftType,
    /// Arrow type boolean (its categories are `true` and `false`).
    pub boolean: bool,
    /// Null values.
    pub missing: u64,
    /// Rejected values (NaN, Inf).
    pub rejected: u64,
    /// The values.
    pub values: RawValues,
    /// The population standard deviation of exact numeric values, when it is
    /// already known (a profile file stores it); computed from the values when
    /// `None`.
    pub std: Option<f64>,
}

/// A raw column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValues {
    /// Finite values, ascending (shared: read from a profile file they point
    /// into its bytes).
    Numeric(ScalarBuffer<f64>),
    /// Finite values in a quantile sketch (sketch mode).
    Sketch(QuantileSketch),
    /// Category counts in a frequent-items summary (sketch mode).
    Frequent(FrequentItems),
    /// Every category and its count, in byte order of the text.
    Categorical(Vec<(String, u64)>),
}

impl RawColumn {
    /// Numeric or categorical.
    pub fn kind(&self) -> Kind {
        match self.values {
            RawValues::Numeric(_) | RawValues::Sketch(_) => Kind::Numeric,
            RawValues::Categorical(_) | RawValues::Frequent(_) => Kind::Categorical,
        }
    }

    /// The column's profile for `settings`.
    pub fn into_profile(self, settings: &ProfileSettings) -> ColumnProfile {
        let detail = match self.values {
            RawValues::Numeric(sorted) => ProfileDetail::Numeric(
                NumericProfile::from_sorted_with_std(sorted, self.std, settings),
            ),
            RawValues::Sketch(sketch) => {
                ProfileDetail::Numeric(NumericProfile::from_sketch(&sketch, settings))
            }
            RawValues::Categorical(counts) => ProfileDetail::Categorical(CategoricalProfile::new(
                counts.into_iter().collect(),
                settings.max_categories,
            )),
            RawValues::Frequent(summary) => {
                let mut profile = CategoricalProfile::new(
                    summary.counts().into_iter().collect(),
                    settings.max_categories,
                );
                // The occurrences no held category accounts for.
                let other = profile.other_bin();
                profile.counts[other] += summary.rest();
                ProfileDetail::Categorical(profile)
            }
        };
        ColumnProfile {
            name: self.name,
            drift_type: self.drift_type,
            missing: self.missing,
            rejected: self.rejected,
            detail,
        }
    }
}

/// What a reference is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFor {
    /// A process that runs on (`serve`, `validate-config`): a Parquet's
    /// SHA-256 is computed (`drift_reference_info` shows it), and a profile
    /// is copied into memory, so that the file may be replaced while it runs.
    Daemon,
    /// A command that exits when done (`check`): nothing prints a SHA-256, so
    /// none is computed, and a profile is memory-mapped
    /// ([`profile_file::map`]).
    OneShot,
}

/// The whole reference.
#[derive(Debug, Clone)]
pub struct ReferenceProfile {
    /// The file it was read from.
    pub path: PathBuf,
    /// SHA-256 of the Parquet file, hex (a profile's: that of the Parquet it
    /// was built from; see [`crate::profile`]).
    pub sha256: String,
    /// What the reference was read from.
    pub format: ReferenceFormat,
    /// Exact (every value), or a sketch's (scores within its bound).
    pub mode: ProfileMode,
    /// Rows in the reference.
    pub rows: u64,
    /// Scored columns, in the file's order.
    pub columns: Vec<ColumnProfile>,
    /// The read plan for current data (same columns, same order).
    pub plan: ColumnPlan,
    /// Settings the profile was built with (bins, binning, categories kept).
    pub settings: ProfileSettings,
    /// Where the label and prediction are, when `columns.label` is set.
    pub quality: Option<QualitySpec>,
    /// The model's quality on the reference, when it has labelled rows.
    pub reference_quality: Option<QualityReport>,
    /// The reference side of the concept-drift signals (with `quality`).
    pub concept: Option<ConceptReference>,
    /// The reference side of multivariate drift (`[multivariate]`, a Parquet
    /// reference with at least 2 numeric features).
    pub multivariate: Option<Arc<MultivariateReference>>,
    /// The reference's profile per segment (`[columns] segment`, a Parquet
    /// reference).
    pub segments: Option<Arc<crate::segments::SegmentProfiles>>,
}

impl ReferenceProfile {
    /// The profile of the reference `config` names (`config_path` is the config
    /// file, for the message when it names none).
    pub fn for_config(
        config: &Config,
        config_path: &Path,
    ) -> Result<ReferenceProfile, ReferenceError> {
        let path = config
            .reference
            .path
            .as_ref()
            .ok_or_else(|| ReferenceError::NotConfigured(config_path.to_path_buf()))?;
        Self::load_with(path, &config.columns, &config.drift.profile, &config.model)
    }

    /// Reads `path` (Parquet) and builds the profile, without model quality.
    pub fn load(
        path: &Path,
        rules: &ColumnsConfig,
        settings: &ProfileSettings,
    ) -> Result<ReferenceProfile, ReferenceError> {
        Self::load_with(path, rules, settings, &ModelConfig::default())
    }

    /// Reads `path` (Parquet, or a profile file built by `drift-exporter
    /// profile`, told apart by content) and builds the profile; with
    /// `columns.label` and `model.task`, also the quality spec and the
    /// reference's own quality.
    pub fn load_with(
        path: &Path,
        rules: &ColumnsConfig,
        settings: &ProfileSettings,
        model: &ModelConfig,
    ) -> Result<ReferenceProfile, ReferenceError> {
        Self::load_for(path, rules, settings, model, ReadFor::Daemon)
    }

    /// [`ReferenceProfile::load_with`] for a use ([`ReadFor`]): a one-shot
    /// command does not hash a Parquet reference (`check` prints no SHA-256;
    /// its `sha256` is then empty) and maps a profile instead of reading it. A
    /// profile's SHA-256 is read from it, never computed.
    pub fn load_for(
        path: &Path,
        rules: &ColumnsConfig,
        settings: &ProfileSettings,
        model: &ModelConfig,
        read_for: ReadFor,
    ) -> Result<ReferenceProfile, ReferenceError> {
        let data = if profile_file::is_profile(path) {
            let file = match read_for {
                ReadFor::Daemon => profile_file::read(path)?,
                ReadFor::OneShot => profile_file::map(path)?,
            };
            file.for_columns(path, rules, model)?
        } else {
            let hash = read_for == ReadFor::Daemon;
            ReferenceData::read_parquet_with(path, rules, model, ProfileMode::Exact, hash)?
        };
        data.into_profile(path, rules, settings, model)
    }

    /// The plan of the profile [`ReferenceProfile::load_for`] would build,
    /// from the reference's schema (Parquet) or header (profile) alone, so
    /// that a one-shot `check` reads its current file while the reference
    /// loads. `None` when that cannot be told cheaply: the full load then
    /// names the problem (and logs the warnings this does not).
    pub fn plan_for(path: &Path, rules: &ColumnsConfig, model: &ModelConfig) -> Option<ColumnPlan> {
        let schema = if profile_file::is_profile(path) {
            let header = profile_file::read_header(path).ok()?;
            profile_file::columns_schema(
                header
                    .columns
                    .iter()
                    .map(|c| (c.name.as_str(), c.kind, c.boolean)),
            )
        } else {
            data::parquet_schema_and_rows(path).ok()?.0.as_ref().clone()
        };
        // The load logs the same warnings; they are not repeated here.
        let resolved =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
                resolve_columns(&schema, rules, path)
            })
            .ok()?;
        let label = match (&rules.label, model.task) {
            (Some(label), Some(task)) => Some((label.clone(), QualitySpec::label_kind(task))),
            _ => None,
        };
        Some(plan_of(&resolved, label.as_ref()))
    }

    /// Builds a profile from batches already read with `plan`.
    pub fn from_batches(
        path: &Path,
        sha256: String,
        resolved: &[ResolvedColumn],
        plan: ColumnPlan,
        batches: &[Batch],
        settings: &ProfileSettings,
    ) -> ReferenceProfile {
        let rows: u64 = batches.iter().map(|b| b.rows as u64).sum();
        let raw = raw_columns(resolved, batches);
        Self::from_raw(path, sha256, rows, raw, plan, settings)
    }

    /// Builds a profile from raw columns (in the plan's order): the one place
    /// both a Parquet reference and a profile file go through, so their scores
    /// are bit-identical.
    pub fn from_raw(
        path: &Path,
        sha256: String,
        rows: u64,
        raw: Vec<RawColumn>,
        plan: ColumnPlan,
        settings: &ProfileSettings,
    ) -> ReferenceProfile {
        let columns = raw
            .into_par_iter()
            .map(|column| column.into_profile(settings))
            .collect();
        ReferenceProfile {
            path: path.to_path_buf(),
            sha256,
            format: ReferenceFormat::Parquet,
            mode: ProfileMode::Exact,
            rows,
            columns,
            plan,
            settings: settings.clone(),
            quality: None,
            reference_quality: None,
            concept: None,
            multivariate: None,
            segments: None,
        }
    }
}

/// A reference before settings are applied: its scored columns' raw
/// material, and the rows that carry the label (for the reference's quality).
/// Read from the Parquet ([`ReferenceData::read_parquet`]) or from a profile
/// file ([`profile_file`]); [`ReferenceData::into_profile`] applies the
/// settings.
#[derive(Debug, Clone)]
pub struct ReferenceData {
    /// SHA-256 of the Parquet the data came from.
    pub sha256: String,
    /// Parquet or profile.
    pub format: ReferenceFormat,
    /// Exact, or sketched.
    pub mode: ProfileMode,
    /// Rows.
    pub rows: u64,
    /// The scored columns, in order.
    pub resolved: Vec<ResolvedColumn>,
    /// Their raw material, in the same order.
    pub raw: Vec<RawColumn>,
    /// The label column read with them (`columns.label` and its kind), if any.
    pub label: Option<(String, Kind)>,
    /// Batches laid out by [`ReferenceData::plan`] that hold at least the label
    /// and prediction columns, in row order (empty without a label).
    pub labelled: Vec<Batch>,
    /// The segments a profile file keeps (`columns.segment` when it was
    /// built); `None` for a Parquet reference, whose segments are read from
    /// its rows.
    pub segments: Option<crate::segments::StoredSegments>,
    /// The rows multivariate drift is fitted on that a profile file keeps
    /// (`[multivariate] enabled` when it was built); `None` for a Parquet
    /// reference, whose rows are read.
    pub multivariate: Option<crate::multivariate::ReferenceRows>,
}

/// The plan of `resolved` columns, then the label (name and kind), if any.
fn plan_of(resolved: &[ResolvedColumn], label: Option<&(String, Kind)>) -> ColumnPlan {
    let plan = ColumnPlan::new(resolved.iter().map(|c| (c.name.clone(), c.kind))).with_booleans(
        resolved
            .iter()
            .filter(|c| c.boolean)
            .map(|c| c.name.as_str()),
    );
    match label {
        Some((name, kind)) => plan.with_extra_column(name, *kind),
        None => plan,
    }
}

impl ReferenceData {
    /// The plan the data is laid out by: the scored columns, then the label.
    pub fn plan(&self) -> ColumnPlan {
        plan_of(&self.resolved, self.label.as_ref())
    }

    /// Reads the scored columns (and the label) of a Parquet file, exactly.
    pub fn read_parquet(
        path: &Path,
        rules: &ColumnsConfig,
        model: &ModelConfig,
    ) -> Result<ReferenceData, ReferenceError> {
        Self::read_parquet_with(path, rules, model, ProfileMode::Exact, true)
    }

    /// Reads the scored columns of a Parquet file in `mode` (and its SHA-256
    /// when `hash`, else `sha256` stays empty); in sketch mode the label is not
    /// kept (its rows would grow with the reference), so a sketch has no
    /// reference quality.
    pub fn read_parquet_with(
        path: &Path,
        rules: &ColumnsConfig,
        model: &ModelConfig,
        mode: ProfileMode,
        hash: bool,
    ) -> Result<ReferenceData, ReferenceError> {
        if data::Format::from_path(path) != Some(data::Format::Parquet) {
            return Err(ReferenceError::Unusable {
                path: path.to_path_buf(),
                message: "the reference must be a Parquet file (.parquet) or a profile (drift-exporter profile)".into(),
            });
        }
        let (schema, file_rows) = data::parquet_schema_and_rows(path)?;
        let resolved = resolve_columns(&schema, rules, path)?;
        let label = match (&rules.label, model.task, mode) {
            (Some(label), Some(task), ProfileMode::Exact) => {
                Some((label.clone(), QualitySpec::label_kind(task)))
            }
            _ => None,
        };
        let mut data = ReferenceData {
            sha256: String::new(),
            format: ReferenceFormat::Parquet,
            mode,
            rows: 0,
            resolved,
            raw: Vec::new(),
            label,
            labelled: Vec::new(),
            segments: None,
            multivariate: None,
        };
        data.check_scorable(path)?;
        let plan = data.plan();
        let hash_file = || {
            if hash {
                sha256_file(path)
            } else {
                Ok(String::new())
            }
        };
        if mode == ProfileMode::Exact && data.label.is_none() {
            // Nothing is kept whole: each column is decoded, gathered and
            // sorted on its own, all columns in parallel.
            let (sha256, read) = rayon::join(hash_file, || {
                read_raw_by_column(path, &plan, &data.resolved, file_rows)
            });
            let (rows, raw) = read?;
            data.sha256 = sha256?;
            data.rows = rows;
            data.raw = raw;
            return Ok(data);
        }
        // Only the label and the prediction columns are kept whole (for the
        // reference's quality); the rest goes into the raw columns batch by batch.
        let kept: Vec<bool> = plan
            .iter()
            .map(|(name, _)| {
                data.label.as_ref().is_some_and(|(label, _)| label == name)
                    || rules.prediction.iter().any(|p| p == name)
            })
            .collect();
        let mut builder = RawBuilder::new(&data.resolved, mode);
        // The footer's row count: each numeric column's values in one allocation.
        builder.reserve(usize::try_from(file_rows).unwrap_or(0));
        let (mut rows, mut labelled) = (0u64, Vec::new());
        let with_label = data.label.is_some();
        // Hashing the file and decoding it are independent: do both at once.
        let (sha256, read) = rayon::join(hash_file, || {
            data::for_each_parquet_batch(path, &plan, |mut batch| {
                rows += batch.rows as u64;
                builder.add(&batch);
                if with_label {
                    for (column, keep) in batch.columns.iter_mut().zip(&kept) {
                        if !keep {
                            *column = None;
                        }
                    }
                    labelled.push(batch);
                }
            })
        });
        read?;
        data.sha256 = sha256?;
        data.rows = rows;
        data.raw = builder.finish();
        data.labelled = labelled;
        Ok(data)
    }

    /// The reference's profiles per segment (`[columns] segment`), `None`
    /// without segment columns: read from the Parquet's rows, or from the
    /// segments a profile file keeps, which must have been built with the same
    /// `columns.segment` and `columns.max_segments` (else an error naming the
    /// setting).
    fn segments(
        &self,
        stored: Option<crate::segments::StoredSegments>,
        path: &Path,
        rules: &ColumnsConfig,
        plan: &ColumnPlan,
        settings: &ProfileSettings,
    ) -> Result<Option<crate::segments::SegmentProfiles>, ReferenceError> {
        if rules.segment.is_empty() {
            return Ok(None);
        }
        let columns_err = |key: &str, message: String| ReferenceError::columns(path, key, message);
        if self.format != ReferenceFormat::Parquet {
            let wanted = format!("[{}]", rules.segment.join(", "));
            let stored = stored.ok_or_else(|| {
                columns_err(
                    "columns.segment",
                    format!("the profile was built without segments; profile the reference again with columns.segment = {wanted}"),
                )
            })?;
            if stored.columns != rules.segment {
                return Err(columns_err(
                    "columns.segment",
                    format!(
                        "the profile kept the segments of [{}], not {wanted}; profile the reference again with this columns.segment",
                        stored.columns.join(", ")
                    ),
                ));
            }
            if stored.max_segments != rules.max_segments {
                return Err(columns_err(
                    "columns.max_segments",
                    format!(
                        "the profile kept the {} most frequent segments, not {}; profile the reference again with this columns.max_segments",
                        stored.max_segments, rules.max_segments
                    ),
                ));
            }
            return Ok(Some(crate::segments::from_raw(
                path,
                &self.sha256,
                plan,
                settings,
                &rules.segment,
                stored.parts,
            )));
        }
        crate::segments::profile(
            path,
            &self.sha256,
            &self.resolved,
            plan,
            settings,
            &rules.segment,
            rules.max_segments,
        )
        .map(Some)
        .map_err(|message| ReferenceError::columns(path, "columns.segment", message))
    }

    /// The rows a profile file keeps for multivariate drift, reduced to the
    /// `features` this config scores; an error names the setting the kept
    /// rows cannot honour.
    fn kept_multivariate_rows(
        &self,
        kept: Option<crate::multivariate::ReferenceRows>,
        path: &Path,
        features: &[String],
        config: &crate::config::MultivariateConfig,
    ) -> Result<crate::multivariate::ReferenceRows, ReferenceError> {
        let columns_err = |key: &str, message: String| ReferenceError::columns(path, key, message);
        let mut kept = kept.ok_or_else(|| {
            columns_err(
                "multivariate.enabled",
                "the profile was built without the rows multivariate drift is fitted on; profile the reference again with [multivariate] enabled = true in --config".into(),
            )
        })?;
        let stride = crate::multivariate::stride(self.rows, config.max_reference_rows);
        if stride != kept.stride {
            return Err(columns_err(
                "multivariate.max_reference_rows",
                format!(
                    "the profile kept one reference row in {} (max_reference_rows {}), this setting takes one in {stride}; profile the reference again with this multivariate.max_reference_rows",
                    kept.stride, kept.max_reference_rows
                ),
            ));
        }
        let mut columns = Vec::with_capacity(features.len());
        for feature in features {
            let at = kept.features.iter().position(|f| f == feature).ok_or_else(|| {
                columns_err(
                    "multivariate.enabled",
                    format!("the profile kept no multivariate rows of the feature `{feature}` (it kept [{}]); profile the reference again with this [columns] config", kept.features.join(", ")),
                )
            })?;
            columns.push(std::mem::take(&mut kept.columns[at]));
        }
        kept.features = features.to_vec();
        kept.columns = columns;
        Ok(kept)
    }

    /// The reference rows multivariate drift is fitted on (with each row's
    /// segment key when `segment_columns` are scored): read from the Parquet,
    /// or `None` with a warning when that fails (it never stops the reference
    /// from loading); or kept in a profile file, which is an error naming the
    /// setting when it lacks them.
    fn multivariate_rows(
        &self,
        kept: Option<crate::multivariate::ReferenceRows>,
        path: &Path,
        config: &crate::config::MultivariateConfig,
        segment_columns: &[String],
    ) -> Result<Option<crate::multivariate::ReferenceRows>, ReferenceError> {
        let features = crate::multivariate::features(&self.resolved);
        if self.format != ReferenceFormat::Parquet {
            return self
                .kept_multivariate_rows(kept, path, &features, config)
                .map(Some);
        }
        let read = crate::multivariate::reference_rows(
            path,
            features,
            config.max_reference_rows,
            segment_columns,
        );
        Ok(read
            .inspect_err(|message| {
                tracing::warn!(reference = %path.display(), "multivariate drift is off: {message}");
            })
            .ok())
    }

    fn check_scorable(&self, path: &Path) -> Result<(), ReferenceError> {
        if self.resolved.is_empty() {
            return Err(ReferenceError::Unusable {
                path: path.to_path_buf(),
                message:
                    "no column can be scored (every column is ignored or of an unsupported type)"
                        .into(),
            });
        }
        Ok(())
    }

    /// Applies `settings` (and the quality settings of `model`): the profile
    /// `check` and the daemon score against.
    pub fn into_profile(
        mut self,
        path: &Path,
        rules: &ColumnsConfig,
        settings: &ProfileSettings,
        model: &ModelConfig,
    ) -> Result<ReferenceProfile, ReferenceError> {
        self.check_scorable(path)?;
        let stored_segments = self.segments.take();
        let kept_multivariate = self.multivariate.take();
        if self.rows == 0 {
            return Err(ReferenceError::Unusable {
                path: path.to_path_buf(),
                message: "the reference has no rows".into(),
            });
        }
        let plan = self.plan();
        let mut quality = QualitySpec::new(model, rules, &plan)
            .map_err(|message| ReferenceError::columns(path, "columns.label", message))?;
        let batches = &self.labelled;
        let mut reference_quality = None;
        if let Some(spec) = quality.as_mut() {
            if spec.scored {
                let labels = reference_labels(batches, spec.label);
                if !labels.is_empty() {
                    let labels = labels.iter().map(String::as_str);
                    spec.negative_class =
                        Some(quality::negative_class(&spec.positive_class, labels));
                }
            }
            let report = quality::evaluate(spec, batches);
            reference_quality = (report.labelled_rows > 0).then_some(report);
        }

        // Current data also carries the event-time, latency, error and id columns, when
        // named (the reference's own are never read).
        let mut plan = match &rules.timestamp {
            Some(name) => plan.with_time_column(name),
            None => plan,
        };
        if let Some(name) = &rules.latency {
            plan = plan.with_extra_column(name, Kind::Numeric);
        }
        if let Some(name) = &rules.error {
            plan = plan.with_extra_column(name, Kind::Categorical);
        }
        if let Some(name) = &rules.join_id {
            plan = plan.with_extra_column(name, Kind::Categorical);
        }
        let multivariate_rows = match &settings.multivariate {
            Some(config) => {
                self.multivariate_rows(kept_multivariate, path, config, &rules.segment)?
            }
            None => None,
        };
        let multivariate = settings
            .multivariate
            .as_ref()
            .zip(multivariate_rows.as_ref())
            .and_then(|(config, rows)| {
                crate::multivariate::fit_logged(path, rows, &rows.columns, config, None)
            });
        // Current data carries the segment columns (scored or not).
        for name in &rules.segment {
            if plan.index_of(name).is_none() {
                plan = plan.with_extra_column(name, Kind::Categorical);
            }
        }
        let mut segments = self.segments(stored_segments, path, rules, &plan, settings)?;
        if let (Some(segments), Some(rows), Some(config)) = (
            segments.as_mut(),
            multivariate_rows.as_ref(),
            settings.multivariate.as_ref(),
        ) {
            crate::segments::fit_multivariate(segments, path, rows, config);
        }
        let mut profile =
            ReferenceProfile::from_raw(path, self.sha256, self.rows, self.raw, plan, settings);
        profile.multivariate = multivariate.map(Arc::new);
        profile.segments = segments.map(Arc::new);
        profile.format = self.format;
        profile.mode = self.mode;
        // The calibration bins are the prediction column's own bins.
        profile.concept = quality.as_ref().map(|spec| {
            let edges = match profile.columns.get(spec.prediction).map(|c| &c.detail) {
                Some(ProfileDetail::Numeric(p)) => p.edges.clone(),
                _ => Vec::new(),
            };
            ConceptReference::new(spec, edges, batches)
        });
        profile.quality = quality;
        profile.reference_quality = reference_quality;
        Ok(profile)
    }
}

/// The raw material of every resolved column of `batches` (read with a plan
/// whose first columns are `resolved`).
pub fn raw_columns(resolved: &[ResolvedColumn], batches: &[Batch]) -> Vec<RawColumn> {
    let mut builder = RawBuilder::new(resolved, ProfileMode::Exact);
    for batch in batches {
        builder.add(batch);
    }
    builder.finish()
}

/// Builds raw columns batch by batch, so the reference's batches need not be
/// held at once; the columns of a batch are taken in parallel.
pub struct RawBuilder {
    columns: Vec<RawAccumulator>,
}

/// One column's values so far.
struct RawAccumulator {
    column: ResolvedColumn,
    missing: u64,
    rejected: u64,
    numbers: Vec<f64>,
    sketch: Option<QuantileSketch>,
    frequent: Option<FrequentItems>,
    categories: HashMap<String, u64>,
}

/// How a profile keeps a numeric column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileMode {
    /// Every value: scores bit-identical to the Parquet's.
    Exact,
    /// A quantile sketch that compacts a level at `k` values, and category
    /// counts exact up to `2 * categories` distinct ones, then a frequent-items
    /// summary of `categories`: memory that does not grow with the rows,
    /// scores within the stored bounds.
    Sketch {
        /// Values per level before a compaction.
        k: usize,
        /// Categories kept past the cap.
        categories: usize,
    },
}

impl ProfileMode {
    /// `exact` or `sketch`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileMode::Exact => "exact",
            ProfileMode::Sketch { .. } => "sketch",
        }
    }
}

/// The exact raw columns of the Parquet file `path` (the first
/// `resolved.len()` columns of `plan`) and its row count, each column decoded
/// on its own ([`data::parquet_by_column`]), all in parallel: the same columns
/// as a [`RawBuilder`] fed the file's batches.
fn read_raw_by_column(
    path: &Path,
    plan: &ColumnPlan,
    resolved: &[ResolvedColumn],
    file_rows: u64,
) -> Result<(u64, Vec<RawColumn>), DataError> {
    let (columns, summary) = data::parquet_by_column(path, plan, |i, arrays| {
        resolved.get(i).map(|column| {
            let mut acc = RawAccumulator::new(column, ProfileMode::Exact);
            if column.kind == Kind::Numeric {
                // The footer's row count: the values in one allocation.
                acc.numbers
                    .reserve_exact(usize::try_from(file_rows).unwrap_or(0));
            }
            // Each array is freed once gathered.
            for a in arrays {
                acc.add(Some(&a), a.len());
            }
            acc.finish()
        })
    })?;
    let rows = summary.rows;
    // `columns` has one entry per plan column, the resolved ones first.
    let raw = resolved
        .iter()
        .zip(columns)
        .map(|(column, read)| {
            read.flatten().unwrap_or_else(|| {
                // Not in the file (not expected: columns are resolved from
                // its schema): every row missing, as the builder counts it.
                let mut acc = RawAccumulator::new(column, ProfileMode::Exact);
                acc.add(None, usize::try_from(rows).unwrap_or(usize::MAX));
                acc.finish()
            })
        })
        .collect();
    Ok((rows, raw))
}

impl RawBuilder {
    /// An empty builder for the resolved columns (the first columns of the
    /// plan batches are read with).
    pub fn new(resolved: &[ResolvedColumn], mode: ProfileMode) -> RawBuilder {
        RawBuilder {
            columns: resolved
                .iter()
                .map(|column| RawAccumulator::new(column, mode))
                .collect(),
        }
    }

    /// Makes room for `rows` values in each exactly kept numeric column (no
    /// doubling on the way: the values are the bulk of a profile's memory).
    pub fn reserve(&mut self, rows: usize) {
        for acc in &mut self.columns {
            if acc.column.kind == Kind::Numeric && acc.sketch.is_none() {
                acc.numbers
                    .reserve_exact(rows.saturating_sub(acc.numbers.len()));
            }
        }
    }

    /// Adds a batch's values.
    pub fn add(&mut self, batch: &Batch) {
        self.columns
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, acc)| {
                acc.add(batch.columns.get(i).and_then(Option::as_ref), batch.rows)
            });
    }

    /// The raw columns (numeric values sorted, one column per core).
    pub fn finish(self) -> Vec<RawColumn> {
        self.columns
            .into_par_iter()
            .map(RawAccumulator::finish)
            .collect()
    }
}

impl RawAccumulator {
    fn new(column: &ResolvedColumn, mode: ProfileMode) -> RawAccumulator {
        RawAccumulator {
            column: column.clone(),
            missing: 0,
            rejected: 0,
            numbers: Vec::new(),
            sketch: match mode {
                ProfileMode::Sketch { k, .. } => Some(QuantileSketch::new(k)),
                ProfileMode::Exact => None,
            },
            frequent: match mode {
                ProfileMode::Sketch { categories, .. } => Some(FrequentItems::new(categories)),
                ProfileMode::Exact => None,
            },
            categories: HashMap::new(),
        }
    }

    fn add(&mut self, column: Option<&ColumnArray>, rows: usize) {
        match (self.column.kind, column) {
            (Kind::Numeric, Some(ColumnArray::Numeric(a))) => {
                self.missing += a.null_count() as u64;
                if let Some(sketch) = self.sketch.as_mut() {
                    for v in a.iter().flatten() {
                        if v.is_finite() {
                            sketch.update(v);
                        } else {
                            self.rejected += 1;
                        }
                    }
                    return;
                }
                for v in a.iter().flatten() {
                    if v.is_finite() {
                        self.numbers.push(v);
                    } else {
                        self.rejected += 1;
                    }
                }
            }
            (Kind::Categorical, Some(ColumnArray::Categorical(a))) => {
                self.missing += a.null_count() as u64;
                if let Some(summary) = self.frequent.as_mut() {
                    a.iter().flatten().for_each(|v| summary.add(v));
                    return;
                }
                for v in a.iter().flatten() {
                    if let Some(c) = self.categories.get_mut(v) {
                        *c += 1;
                    } else {
                        self.categories.insert(v.to_string(), 1);
                    }
                }
            }
            _ => self.missing += rows as u64,
        }
    }

    fn finish(self) -> RawColumn {
        let values = match self.column.kind {
            Kind::Numeric => match self.sketch {
                Some(sketch) => RawValues::Sketch(sketch),
                None => {
                    let mut values = self.numbers;
                    crate::stats::sort_values(&mut values);
                    RawValues::Numeric(values.into())
                }
            },
            Kind::Categorical if self.frequent.is_some() => {
                RawValues::Frequent(self.frequent.unwrap_or_else(|| FrequentItems::new(1)))
            }
            Kind::Categorical => {
                let mut counts: Vec<(String, u64)> = self.categories.into_iter().collect();
                counts.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                RawValues::Categorical(counts)
            }
        };
        if self.rejected > 0 {
            tracing::warn!(column = %self.column.name, rejected = self.rejected, "reference values that are NaN or infinite are not scored");
        }
        RawColumn {
            name: self.column.name,
            drift_type: self.column.drift_type,
            boolean: self.column.boolean,
            missing: self.missing,
            rejected: self.rejected,
            values,
            std: None,
        }
    }
}

/// The distinct labels of the reference, sorted.
fn reference_labels(batches: &[Batch], label: usize) -> Vec<String> {
    let mut labels = std::collections::BTreeSet::new();
    for batch in batches {
        if let Some(ColumnArray::Categorical(a)) = batch.columns.get(label).and_then(Option::as_ref)
        {
            labels.extend(a.iter().flatten().map(str::to_string));
        }
    }
    labels.into_iter().collect()
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn categories_are_capped_most_frequent_first_ties_by_bytes() {
        let freq: HashMap<String, u64> = [("b", 5), ("a", 5), ("c", 9), ("d", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let p = CategoricalProfile::new(freq, 2);
        assert_eq!(p.labels, vec!["c", "a", OTHER_CATEGORY]);
        assert_eq!(p.counts, vec![9, 5, 6]);
        assert_eq!(p.lookup("b"), (2, true));
        assert_eq!(p.lookup("zzz"), (2, false));
        assert_eq!(p.lookup("c"), (0, true));
    }

    #[test]
    fn columns_resolve_from_types_and_rules() -> TestResult {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("x", DataType::Float32, true),
            Field::new("zip", DataType::Int64, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("when", DataType::Date32, true),
            Field::new("prediction", DataType::Float64, true),
        ]);
        let rules = ColumnsConfig {
            categorical: vec!["zip".into()],
            // `timestamp` is absent: ignoring it is allowed (and logged).
            ignore: vec!["id".into(), "timestamp".into()],
            ..ColumnsConfig::default()
        };
        let cols = resolve_columns(&schema, &rules, Path::new("r.parquet"))?;
        let summary: Vec<(&str, Kind, DriftType)> = cols
            .iter()
            .map(|c| (c.name.as_str(), c.kind, c.drift_type))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("x", Kind::Numeric, DriftType::Data),
                ("zip", Kind::Categorical, DriftType::Data),
                ("flag", Kind::Categorical, DriftType::Data),
                ("prediction", Kind::Numeric, DriftType::Prediction),
            ]
        );
        Ok(())
    }

    #[test]
    fn unknown_column_in_rules_is_named() -> TestResult {
        let schema = Schema::new(vec![Field::new("x", DataType::Float64, true)]);
        let rules = ColumnsConfig {
            categorical: vec!["nope".into()],
            ..ColumnsConfig::default()
        };
        let err = resolve_columns(&schema, &rules, Path::new("r.parquet"))
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(
            err.contains("columns.categorical") && err.contains("nope"),
            "{err}"
        );
        // A weight for a column the reference lacks is a typo, named too.
        let rules = ColumnsConfig {
            weights: [("amout".to_string(), 3.0)].into_iter().collect(),
            ..ColumnsConfig::default()
        };
        let err = resolve_columns(&schema, &rules, Path::new("r.parquet"))
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(
            err.contains("columns.weights") && err.contains("amout"),
            "{err}"
        );
        Ok(())
    }
}

#[cfg(test)]
mod by_column_tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int32Array, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn exact_columns_read_by_column_equal_the_builders_over_batches() -> TestResult {
        let rows = 150_000usize; // three batches of the row-wise reader
        let x: Float64Array = (0..rows)
            .map(|i| match i % 17 {
                2 => None,
                9 => Some(f64::NAN),
                11 => Some(-0.0),
                _ => Some(((i * 7919) % 1000) as f64 * 0.25 - 40.0),
            })
            .collect();
        let c: StringArray = (0..rows)
            .map(|i| (i % 23 != 1).then(|| ["a", "b", "c", "d"][i % 4]))
            .collect();
        let k: Int32Array = (0..rows as i32).map(|i| i % 5).collect();
        let columns: Vec<(&str, ArrayRef)> =
            vec![("x", Arc::new(x)), ("c", Arc::new(c)), ("k", Arc::new(k))];
        let batch = arrow::record_batch::RecordBatch::try_from_iter(columns)?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("reference.parquet");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(40_000))
            .build();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path)?, batch.schema(), Some(props))?;
        writer.write(&batch)?;
        writer.close()?;

        let rules = ColumnsConfig::default();
        let model = ModelConfig::default();
        let by_column =
            ReferenceData::read_parquet_with(&path, &rules, &model, ProfileMode::Exact, false)?;
        // The builder over the row-wise reader's batches.
        let plan = by_column.plan();
        let mut builder = RawBuilder::new(&by_column.resolved, ProfileMode::Exact);
        let mut rows_seen = 0u64;
        data::for_each_parquet_batch(&path, &plan, |batch| {
            rows_seen += batch.rows as u64;
            builder.add(&batch);
        })?;
        assert_eq!(by_column.rows, rows as u64);
        assert_eq!(by_column.rows, rows_seen);
        let want = builder.finish();
        assert_eq!(by_column.raw.len(), 3);
        assert_eq!(by_column.raw, want);
        let bits = |c: &RawColumn| match &c.values {
            RawValues::Numeric(v) => v.iter().map(|x| x.to_bits()).collect(),
            _ => Vec::new(),
        };
        assert_eq!(bits(&by_column.raw[0]), bits(&want[0]));
        // Nulls, NaN and the categories were counted, not lost.
        assert!(by_column.raw[0].missing > 0 && by_column.raw[0].rejected > 0);
        assert!(matches!(&by_column.raw[1].values, RawValues::Categorical(c) if c.len() == 4));
        Ok(())
    }
}
