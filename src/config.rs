//! The TOML configuration (SPEC.md section 3): schema, defaults, environment
//! overrides and validation.
//!
//! Each component's settings are one struct with `deny_unknown_fields`, so a typo
//! is an error naming the key and its line. Defaults live in the `Default` impls
//! below and nowhere else. Environment variables `DRIFT_EXPORTER__SECTION__KEY`
//! (array items by index: `DRIFT_EXPORTER__SOURCES__0__PATH`) override the file,
//! and the command line ([`CliOverrides`]) overrides both; relative paths are
//! resolved against the config file's folder. [`Config::load`] is the one loader
//! (`serve`, `check` and `validate-config`), and it validates once, last.
//!
//! `[drift]` holds two kinds of settings, kept apart: [`ProfileSettings`] shape
//! the reference profile (a change re-reads the reference), [`ScoringSettings`]
//! only score (a change applies to the next evaluation).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "DRIFT_EXPORTER__";

/// The state file's name when `[state] path` is not set (beside the config).
pub const STATE_FILE: &str = "drift-exporter.state.json";

/// Command-line settings that override the file and the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOverrides {
    /// `--web.listen-address`.
    pub listen_address: Option<String>,
    /// `--web.telemetry-path`.
    pub telemetry_path: Option<String>,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
}

/// Errors loading or checking a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the config file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// TOML syntax or schema error (the message names the key and the line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// An environment override that does not fit the schema.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP server settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// The model being watched.
    #[serde(default)]
    pub model: ModelConfig,
    /// The reference (training) data.
    #[serde(default)]
    pub reference: ReferenceConfig,
    /// Column roles and kinds.
    #[serde(default)]
    pub columns: ColumnsConfig,
    /// The sliding window of recent rows.
    #[serde(default)]
    pub window: WindowConfig,
    /// Binning, smoothing and thresholds.
    #[serde(default)]
    pub drift: DriftConfig,
    /// Where the daemon keeps its checkpoints.
    #[serde(default)]
    pub state: StateConfig,
    /// Optional series on `/metrics`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Drift of the numeric features together (off by default).
    #[serde(default)]
    pub multivariate: MultivariateConfig,
    /// Ground truth that arrives after its prediction (SPEC.md section 9).
    #[serde(default)]
    pub labels: Option<LabelsConfig>,
    /// Where batches come from.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Path of the metrics page.
    pub telemetry_path: String,
    /// Largest accepted `POST /ingest` body, in bytes.
    pub max_body_bytes: usize,
    /// Serve `POST /ingest` on this address only (for example 127.0.0.1:9878),
    /// and not on `listen`. Default: on `listen`.
    pub ingest_listen: Option<String>,
    /// `POST /ingest` requests read and parsed at once; more are answered 503
    /// with `Retry-After`.
    pub max_concurrent_ingests: usize,
    /// Bytes of request bodies read and parsed at once (each request counts its
    /// `Content-Length`, or `max_body_bytes` when it does not say); past it,
    /// 503 with `Retry-After`.
    pub max_ingest_bytes: usize,
    /// A request body must arrive within this time (408 otherwise), so a client
    /// that declares a body and never sends it does not hold a slot.
    #[serde(deserialize_with = "de_duration")]
    pub body_timeout: Duration,
    /// The exporter-toolkit web config (TLS, basic auth) for every endpoint;
    /// `--web.config.file` sets it too.
    pub web_config_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:9877".into(),
            telemetry_path: "/metrics".into(),
            max_body_bytes: 16 * 1024 * 1024,
            ingest_listen: None,
            max_concurrent_ingests: 4,
            max_ingest_bytes: 64 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            web_config_file: None,
        }
    }
}

/// `[model]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The `model` label on every series.
    pub name: String,
    /// Exported in `drift_model_info{version}`.
    pub version: Option<String>,
    /// What the model predicts; with `columns.label`, model quality is measured.
    pub task: Option<Task>,
    /// Binary classification with a numeric score: the class the score is for.
    pub positive_class: String,
    /// A score at or above this predicts `positive_class`.
    pub threshold: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            name: "default".into(),
            version: None,
            task: None,
            positive_class: "1".into(),
            threshold: 0.5,
        }
    }
}

impl ModelConfig {
    /// The settings the quality of the reference is computed with (a change
    /// profiles the reference again).
    pub fn quality_settings(&self) -> (Option<Task>, &str, f64) {
        (self.task, &self.positive_class, self.threshold)
    }
}

/// `[model] task`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Labels are classes; the prediction is a class or a score for `positive_class`.
    Classification,
    /// Labels and predictions are numbers.
    Regression,
}

/// `[reference]`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReferenceConfig {
    /// The reference Parquet file.
    pub path: Option<PathBuf>,
}

/// A name or a list of names.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(name) => vec![name],
        OneOrMany::Many(names) => names,
    })
}

/// `[columns]`: which columns are predictions, forced categorical, or ignored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnsConfig {
    /// Prediction (model output) columns; `drift_type="prediction"`.
    pub prediction: Vec<String>,
    /// Columns scored as categories whatever their Arrow type.
    pub categorical: Vec<String>,
    /// Columns never scored.
    pub ignore: Vec<String>,
    /// Column holding each row's event time (an Arrow timestamp or date, Unix
    /// seconds, or RFC 3339 text). Never scored; with `window.duration` set, rows
    /// age by this time instead of their arrival time.
    pub timestamp: Option<String>,
    /// Ground truth, when it arrives in the same row (needs `model.task`). Never
    /// scored for drift; quality is measured against the first prediction column.
    pub label: Option<String>,
    /// Prediction latency, in `latency_unit`s (`drift_prediction_latency_seconds`).
    /// Never scored.
    pub latency: Option<String>,
    /// The unit of `latency`: `"ms"` (default) or `"s"`.
    pub latency_unit: LatencyUnit,
    /// A serving error flag: a row whose value is true, or text other than
    /// `false`, `0` or empty, counts in `drift_prediction_errors_total`. Never scored.
    pub error: Option<String>,
    /// Weights in the dataset's weighted drifted share
    /// (`drift_dataset_drifted_weighted_ratio`), by column name; 1 for a
    /// column not listed, 0 leaves a column out of the share.
    pub weights: BTreeMap<String, f64>,
    /// Segment columns (`segment = "country"` or a list): every column is
    /// also scored per segment value (README "Segments").
    #[serde(deserialize_with = "one_or_many")]
    pub segment: Vec<String>,
    /// Segments scored at most: the most frequent in the reference; the rest
    /// in `__other__` (20).
    pub max_segments: usize,
    /// `labels.id`, copied here by [`Config::from_toml`] so that the reference
    /// never scores it and current data carries it (not a `[columns]` key).
    #[serde(skip)]
    pub join_id: Option<String>,
}

impl Default for ColumnsConfig {
    fn default() -> Self {
        ColumnsConfig {
            prediction: vec!["prediction".into()],
            categorical: Vec::new(),
            ignore: Vec::new(),
            timestamp: None,
            label: None,
            latency: None,
            latency_unit: LatencyUnit::Milliseconds,
            error: None,
            weights: BTreeMap::new(),
            segment: Vec::new(),
            max_segments: 20,
            join_id: None,
        }
    }
}

impl ColumnsConfig {
    /// Columns read but never scored for drift: timestamp, label, latency, error
    /// and the late labels' id.
    pub fn unscored(&self) -> impl Iterator<Item = &str> {
        [
            &self.timestamp,
            &self.label,
            &self.latency,
            &self.error,
            &self.join_id,
        ]
        .into_iter()
        .filter_map(|c| c.as_deref())
    }
}

/// `[columns] latency_unit`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum LatencyUnit {
    /// Milliseconds.
    #[serde(rename = "ms")]
    Milliseconds,
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
}

impl LatencyUnit {
    /// Seconds in one unit.
    pub fn seconds(self) -> f64 {
        match self {
            LatencyUnit::Milliseconds => 1e-3,
            LatencyUnit::Seconds => 1.0,
        }
    }
}

/// `[window]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Keep the last `size` rows.
    pub size: usize,
    /// Also drop rows older than this (`"1h"`, `"30m"`): by arrival time, or by
    /// event time when `columns.timestamp` is set (see [`crate::window`]).
    #[serde(deserialize_with = "de_opt_duration")]
    pub duration: Option<Duration>,
    /// Below this many rows no scores are exported.
    pub min_rows: usize,
    /// Coalesce evaluations: at most one per this interval (bounded by 1 s).
    #[serde(deserialize_with = "de_duration")]
    pub evaluation_delay: Duration,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            size: 10_000,
            duration: None,
            min_rows: 100,
            evaluation_delay: Duration::from_millis(200),
        }
    }
}

/// How numeric bin edges are placed.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Binning {
    /// Reference quantiles (numpy.quantile, linear).
    #[default]
    Quantile,
    /// Equal width between the reference's min and max (numpy.linspace).
    Uniform,
}

/// `[drift]`: what shapes the profile, and what only scores.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(from = "DriftToml")]
pub struct DriftConfig {
    /// `bins`, `binning`, `max_categories`.
    pub profile: ProfileSettings,
    /// `epsilon`, `thresholds`.
    pub scoring: ScoringSettings,
}

/// The settings a reference profile is built with: a change re-profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSettings {
    /// Numeric bins.
    pub bins: usize,
    /// Numeric binning method.
    pub binning: Binning,
    /// Categories kept per column; the rest go to `__other__`.
    pub max_categories: usize,
    /// `[multivariate]` when enabled (copied here at load).
    pub multivariate: Option<MultivariateConfig>,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        ProfileSettings {
            bins: 10,
            binning: Binning::Quantile,
            max_categories: 50,
            multivariate: None,
        }
    }
}

/// The settings scores and decisions use: a change needs no new profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringSettings {
    /// Replaces zero proportions before PSI and KL.
    pub epsilon: f64,
    /// Tukey's `k`: outliers lie outside `[Q1 - k * IQR, Q3 + k * IQR]`.
    pub outlier_iqr_k: f64,
    /// Decision thresholds.
    pub thresholds: Thresholds,
    /// The level of the PSI p-value test (`thresholds.psi = "auto"`).
    pub alpha: f64,
    /// A p-value test whose distance is below this never flags a column (the
    /// KS statistic for KS, PSI for the PSI test, the Jensen-Shannon distance
    /// for chi-square).
    pub min_effect: Option<f64>,
    /// The adjustment of all p-values of all columns for multiple testing.
    pub correction: Correction,
    /// Weights of columns in the dataset's drifted share (`[columns.weights]`,
    /// copied here at load; 1 for a column not listed).
    pub weights: BTreeMap<String, f64>,
    /// Compute the Wasserstein distance (the daemon keeps the window's values
    /// sorted for it: 40 bytes per numeric value); `false` drops it.
    pub wasserstein: bool,
}

impl Default for ScoringSettings {
    fn default() -> Self {
        ScoringSettings {
            epsilon: 1e-4,
            outlier_iqr_k: 1.5,
            thresholds: Thresholds::default(),
            alpha: 0.05,
            min_effect: None,
            correction: Correction::None,
            weights: BTreeMap::new(),
            wasserstein: true,
        }
    }
}

impl ScoringSettings {
    /// The weight of column `name` in the dataset's drifted share.
    pub fn weight(&self, name: &str) -> f64 {
        self.weights.get(name).copied().unwrap_or(1.0)
    }
}

/// `[drift]` as written: one flat table (SPEC.md section 3).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DriftToml {
    bins: usize,
    binning: Binning,
    epsilon: f64,
    max_categories: usize,
    outlier_iqr_k: f64,
    thresholds: Thresholds,
    alpha: f64,
    #[serde(deserialize_with = "de_opt_f64")]
    min_effect: Option<f64>,
    correction: Correction,
    wasserstein: bool,
}

impl Default for DriftToml {
    fn default() -> Self {
        let DriftConfig { profile, scoring } = DriftConfig::default();
        DriftToml {
            bins: profile.bins,
            binning: profile.binning,
            epsilon: scoring.epsilon,
            max_categories: profile.max_categories,
            outlier_iqr_k: scoring.outlier_iqr_k,
            thresholds: scoring.thresholds,
            alpha: scoring.alpha,
            min_effect: scoring.min_effect,
            correction: scoring.correction,
            wasserstein: scoring.wasserstein,
        }
    }
}

impl From<DriftToml> for DriftConfig {
    fn from(t: DriftToml) -> Self {
        DriftConfig {
            profile: ProfileSettings {
                bins: t.bins,
                binning: t.binning,
                max_categories: t.max_categories,
                multivariate: None,
            },
            scoring: ScoringSettings {
                epsilon: t.epsilon,
                outlier_iqr_k: t.outlier_iqr_k,
                thresholds: t.thresholds,
                alpha: t.alpha,
                min_effect: t.min_effect,
                correction: t.correction,
                weights: BTreeMap::new(),
                wasserstein: t.wasserstein,
            },
        }
    }
}

/// `[drift.thresholds]`: a test is disabled by setting its threshold to `false`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Drift when `psi >= psi` (a number); with `"auto"`, drift when the PSI
    /// p-value is below `drift.alpha` ([`Thresholds::psi_auto`]).
    #[serde(deserialize_with = "de_psi_threshold")]
    pub psi: PsiThreshold,
    /// Drift when `kl_divergence >= kl_divergence`.
    #[serde(deserialize_with = "de_threshold")]
    pub kl_divergence: Option<f64>,
    /// Drift when `ks_pvalue < ks_pvalue`.
    #[serde(deserialize_with = "de_threshold")]
    pub ks_pvalue: Option<f64>,
    /// Drift when `chi2_pvalue < chi2_pvalue`.
    #[serde(deserialize_with = "de_threshold")]
    pub chi2_pvalue: Option<f64>,
    /// Drift when `js_distance >= js_distance` (off by default).
    #[serde(deserialize_with = "de_threshold")]
    pub js_distance: Option<f64>,
    /// Drift when `hellinger_distance >= hellinger_distance` (off by default).
    #[serde(deserialize_with = "de_threshold")]
    pub hellinger_distance: Option<f64>,
    /// Drift when `wasserstein_distance >= wasserstein_distance` (off by
    /// default; in the column's own units).
    #[serde(deserialize_with = "de_threshold")]
    pub wasserstein_distance: Option<f64>,
    /// Drift when `wasserstein_distance_normed >= wasserstein_distance_normed`
    /// (off by default; in reference standard deviations).
    #[serde(deserialize_with = "de_threshold")]
    pub wasserstein_distance_normed: Option<f64>,
    /// Dataset drift when `drifted_ratio >= drifted_ratio`.
    pub drifted_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi: PsiThreshold::Fixed(0.2),
            kl_divergence: Some(0.1),
            ks_pvalue: Some(0.05),
            chi2_pvalue: Some(0.05),
            js_distance: None,
            hellinger_distance: None,
            wasserstein_distance: None,
            wasserstein_distance_normed: None,
            drifted_ratio: 0.5,
        }
    }
}

impl Thresholds {
    /// The fixed PSI threshold, if PSI is tested against one.
    pub fn psi_fixed(&self) -> Option<f64> {
        match self.psi {
            PsiThreshold::Fixed(v) => Some(v),
            _ => None,
        }
    }

    /// True when PSI is tested by its p-value (`psi = "auto"`).
    pub fn psi_auto(&self) -> bool {
        self.psi == PsiThreshold::Auto
    }
}

/// How PSI decides drift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PsiThreshold {
    /// Not tested (`psi = false`).
    Off,
    /// Drift when PSI is at least this.
    Fixed(f64),
    /// A size-aware test: drift when the PSI p-value (PSI / (1/N + 1/M)
    /// against chi-square with B - 1 degrees of freedom) is below
    /// `drift.alpha`.
    Auto,
}

/// `drift.correction`: how the p-values of all tests of all columns are
/// adjusted for testing many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Each p-value as it is.
    #[default]
    None,
    /// `min(1, p * m)` for a family of `m` p-values.
    Bonferroni,
    /// Benjamini-Hochberg (false discovery rate), as statsmodels'
    /// `multipletests(method="fdr_bh")`.
    FdrBh,
}

/// `[labels]`: ground truth that arrives later than its prediction, on any
/// source, as rows `{id, label}` (see [`crate::labels`]).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelsConfig {
    /// The column that joins a label row to the prediction row with the same
    /// value (read as text; never scored).
    pub id: String,
    /// How long a prediction waits for its label before it expires (`"7d"`).
    #[serde(
        default = "LabelsConfig::default_ttl",
        deserialize_with = "de_duration"
    )]
    pub ttl: Duration,
    /// Predictions waiting at most; beyond it the oldest is evicted (counted).
    #[serde(default = "LabelsConfig::default_max_pending")]
    pub max_pending: usize,
}

impl LabelsConfig {
    /// Default `ttl`: seven days.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
    /// Default `max_pending`.
    pub const DEFAULT_MAX_PENDING: usize = 1_000_000;

    fn default_ttl() -> Duration {
        Self::DEFAULT_TTL
    }

    fn default_max_pending() -> usize {
        Self::DEFAULT_MAX_PENDING
    }
}

/// `[state]`: where file sources keep their checkpoints (and the window its
/// snapshot and journal).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// The state file (JSON). Default: [`STATE_FILE`] beside the config (set by
    /// [`Config::load`]; [`StateConfig::file`] without a config file).
    pub path: Option<PathBuf>,
    /// How often the window is saved (and the journal emptied) while input flows.
    #[serde(deserialize_with = "de_duration")]
    pub snapshot_interval: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            path: None,
            snapshot_interval: Duration::from_secs(10),
        }
    }
}

impl StateConfig {
    /// The state file: `path`, else [`STATE_FILE`] in the working folder.
    pub fn file(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from(STATE_FILE))
    }
}

/// `[metrics]`: optional series on `/metrics`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The mergeable per-bin series of SPEC.md section 8
    /// (`drift_window_bin_rows`, `drift_reference_bin_ratio`, `drift_bin_info`),
    /// which the fleet recording rules sum over replicas. On by default.
    pub bins: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { bins: true }
    }
}

/// `[multivariate]`: drift of the numeric input features together (PCA
/// reconstruction error and correlation drift, README "Multivariate drift").
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MultivariateConfig {
    /// Off by default: the reference is read a second time for it, and each
    /// evaluation gathers the window's numeric rows.
    pub enabled: bool,
    /// Share of the variance the kept principal components explain (0.65).
    pub variance_share: f64,
    /// Reference chunks for the reconstruction error's bounds (10).
    pub chunks: usize,
    /// Feature pairs exported with their correlation change, largest first (3).
    pub top_pairs: usize,
    /// Reference rows fitted on at most (every k-th row past it; 200,000).
    pub max_reference_rows: usize,
    /// Rows of each side the domain classifier fits on at most (5,000; every
    /// k-th row past it); 0 turns the classifier off.
    pub classifier_rows: usize,
}

impl Default for MultivariateConfig {
    fn default() -> Self {
        MultivariateConfig {
            enabled: false,
            variance_share: 0.65,
            chunks: 10,
            top_pairs: 3,
            max_reference_rows: 200_000,
            classifier_rows: 5_000,
        }
    }
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SourceConfig {
    /// New files dropped in a folder.
    Directory(DirectorySourceConfig),
    /// A growing JSON-lines file.
    Tail(TailSourceConfig),
    /// `POST /ingest` on the server.
    Http(HttpSourceConfig),
}

impl SourceConfig {
    /// The `source` label value: `directory:<path>`, `tail:<path>` or `http`.
    pub fn label(&self) -> String {
        match self {
            SourceConfig::Directory(d) => format!("directory:{}", d.path.display()),
            SourceConfig::Tail(t) => format!("tail:{}", t.path.display()),
            SourceConfig::Http(_) => "http".into(),
        }
    }
}

/// `type = "directory"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySourceConfig {
    /// The folder to watch (required).
    pub path: PathBuf,
    /// A file is complete once unchanged for this long.
    #[serde(deserialize_with = "de_duration")]
    pub settle: Duration,
    /// Rescan interval (the fallback when file events are unavailable).
    #[serde(deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Move processed files into this folder (default: leave them in place).
    pub done_dir: Option<PathBuf>,
}

impl Default for DirectorySourceConfig {
    fn default() -> Self {
        DirectorySourceConfig {
            path: PathBuf::new(),
            settle: Duration::from_millis(500),
            poll_interval: Duration::from_millis(500),
            done_dir: None,
        }
    }
}

/// `type = "tail"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TailSourceConfig {
    /// The JSON-lines file (required).
    pub path: PathBuf,
    /// Where to start when no checkpoint exists: `"beginning"` (default) or `"end"`.
    pub start_at: StartAt,
    /// Re-check interval (the fallback when file events are unavailable).
    #[serde(deserialize_with = "de_duration")]
    pub poll_interval: Duration,
}

impl Default for TailSourceConfig {
    fn default() -> Self {
        TailSourceConfig {
            path: PathBuf::new(),
            start_at: StartAt::Beginning,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Where a new tail starts.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// Read the file from its first byte.
    #[default]
    Beginning,
    /// Only lines appended after start-up.
    End,
}

/// `type = "http"`: no settings yet (the server's address and body limit apply).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?}: {e}")))
}

fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    f64::deserialize(d).map(Some)
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// A threshold as written: a number, `false` (the test is off), or text.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawThreshold {
    Number(f64),
    Int(i64),
    Flag(bool),
    Text(String),
}

impl RawThreshold {
    /// The number, `Some(None)` for `false`, `None` for anything else.
    fn number_or_off(&self) -> Option<Option<f64>> {
        match *self {
            RawThreshold::Number(v) => Some(Some(v)),
            RawThreshold::Int(v) => Some(Some(v as f64)),
            RawThreshold::Flag(false) => Some(None),
            RawThreshold::Flag(true) | RawThreshold::Text(_) => None,
        }
    }
}

fn de_psi_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<PsiThreshold, D::Error> {
    let raw = RawThreshold::deserialize(d)?;
    match (raw.number_or_off(), &raw) {
        (Some(Some(v)), _) => Ok(PsiThreshold::Fixed(v)),
        (Some(None), _) => Ok(PsiThreshold::Off),
        (None, RawThreshold::Text(t)) if t == "auto" => Ok(PsiThreshold::Auto),
        (None, _) => Err(serde::de::Error::custom(
            "the PSI threshold is a number, \"auto\" (a size-aware test at drift.alpha), or false to disable the test",
        )),
    }
}

fn de_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    RawThreshold::deserialize(d)?
        .number_or_off()
        .ok_or_else(|| {
            serde::de::Error::custom("a threshold is a number, or false to disable the test")
        })
}

impl Config {
    /// The one loader: reads `path`, applies the environment's overrides, then
    /// the command line's, resolves paths and validates.
    pub fn load(path: &Path, cli: &CliOverrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path, std::env::vars(), cli)
    }

    /// Parses `text` (the contents of `path`), applies `DRIFT_EXPORTER__*` overrides
    /// from `env` and then `cli`, resolves relative paths against `path`'s folder
    /// and validates.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        cli: &CliOverrides,
    ) -> Result<Config, ConfigError> {
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        };
        // First pass on the text itself, so schema errors carry line numbers.
        let mut config: Config = toml::from_str(text).map_err(parse_err)?;
        let overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(text).map_err(parse_err)?;
            for (var, value) in &overrides {
                apply_override(&mut table, var, value)?;
            }
            config = Config::deserialize(table).map_err(|e| ConfigError::Env {
                var: overrides
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                message: e.to_string().trim_end().to_string(),
            })?;
        }
        if let Some(listen) = &cli.listen_address {
            config.server.listen = listen.clone();
        }
        if let Some(telemetry) = &cli.telemetry_path {
            config.server.telemetry_path = telemetry.clone();
        }
        config.columns.join_id = config.labels.as_ref().map(|l| l.id.clone());
        config.drift.scoring.weights = config.columns.weights.clone();
        config.drift.profile.multivariate = config
            .multivariate
            .enabled
            .then(|| config.multivariate.clone());
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.resolve_paths(base);
        // A path on the command line is relative to the working folder; an empty
        // one (`--web.config.file=`, or in the file) means none, as in the
        // exporter-toolkit.
        if let Some(web) = &cli.web_config_file {
            config.server.web_config_file = Some(web.clone());
        }
        if config
            .server
            .web_config_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            config.server.web_config_file = None;
        }
        config.validate(path)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        // An empty path stays empty, for validation to name it.
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = normalise(&base.join(&*p));
            }
        };
        if let Some(p) = self.reference.path.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.state.path.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.server.web_config_file.as_mut() {
            resolve(p);
        }
        for source in &mut self.sources {
            match source {
                SourceConfig::Directory(d) => {
                    resolve(&mut d.path);
                    if let Some(p) = d.done_dir.as_mut() {
                        resolve(p);
                    }
                }
                SourceConfig::Tail(t) => resolve(&mut t.path),
                SourceConfig::Http(_) => {}
            }
        }
        if self.state.path.is_none() {
            self.state.path = Some(base.join(STATE_FILE));
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let server = &self.server;
        if server.max_concurrent_ingests == 0 {
            return Err(invalid(
                "server.max_concurrent_ingests",
                "must be at least 1".into(),
            ));
        }
        if server.max_ingest_bytes < 1024 || server.max_ingest_bytes > (u32::MAX as usize) * 1024 {
            return Err(invalid(
                "server.max_ingest_bytes",
                format!(
                    "must be between 1 KiB and 4 TiB, got {}",
                    server.max_ingest_bytes
                ),
            ));
        }
        if server.body_timeout.is_zero() {
            return Err(invalid("server.body_timeout", "must be more than 0".into()));
        }
        // Port 0 asks for any free port: two of them are two addresses.
        if server.ingest_listen.as_deref() == Some(server.listen.as_str())
            && !server.listen.ends_with(":0")
        {
            return Err(invalid(
                "server.ingest_listen",
                format!(
                    "is the same address as server.listen ({}); leave it out to serve /ingest there",
                    server.listen
                ),
            ));
        }
        if !(1..=1000).contains(&self.columns.max_segments) {
            return Err(invalid(
                "columns.max_segments",
                format!(
                    "must be between 1 and 1000, got {}",
                    self.columns.max_segments
                ),
            ));
        }
        let m = &self.multivariate;
        if !(m.variance_share > 0.0 && m.variance_share < 1.0) {
            return Err(invalid(
                "multivariate.variance_share",
                format!("must be in (0, 1), got {}", m.variance_share),
            ));
        }
        if !(2..=1000).contains(&m.chunks) {
            return Err(invalid(
                "multivariate.chunks",
                format!("must be between 2 and 1000, got {}", m.chunks),
            ));
        }
        if !(1..=100).contains(&m.top_pairs) {
            return Err(invalid(
                "multivariate.top_pairs",
                format!("must be between 1 and 100, got {}", m.top_pairs),
            ));
        }
        if m.classifier_rows > 1_000_000 {
            return Err(invalid(
                "multivariate.classifier_rows",
                format!(
                    "must be at most 1000000 (0 turns it off), got {}",
                    m.classifier_rows
                ),
            ));
        }
        if m.max_reference_rows < 100 {
            return Err(invalid(
                "multivariate.max_reference_rows",
                format!("must be at least 100, got {}", m.max_reference_rows),
            ));
        }
        let (d, s) = (&self.drift.profile, &self.drift.scoring);
        if !(1..=10_000).contains(&d.bins) {
            return Err(invalid(
                "drift.bins",
                format!("must be between 1 and 10000, got {}", d.bins),
            ));
        }
        if !(s.epsilon > 0.0 && s.epsilon < 1.0) {
            return Err(invalid(
                "drift.epsilon",
                format!("must be in (0, 1), got {}", s.epsilon),
            ));
        }
        if !(s.outlier_iqr_k >= 0.0 && s.outlier_iqr_k.is_finite()) {
            return Err(invalid(
                "drift.outlier_iqr_k",
                format!(
                    "must be a finite number of at least 0, got {}",
                    s.outlier_iqr_k
                ),
            ));
        }
        if d.max_categories == 0 {
            return Err(invalid("drift.max_categories", "must be at least 1".into()));
        }
        for (name, &w) in &self.columns.weights {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(invalid(
                    &format!("columns.weights.{name}"),
                    format!("must be a finite number of at least 0, got {w}"),
                ));
            }
        }
        let t = &s.thresholds;
        for (key, value, lo, hi) in [
            ("drift.thresholds.psi", t.psi_fixed(), 0.0, f64::INFINITY),
            ("drift.alpha", Some(s.alpha), 0.0, 1.0),
            ("drift.min_effect", s.min_effect, 0.0, f64::INFINITY),
            (
                "drift.thresholds.kl_divergence",
                t.kl_divergence,
                0.0,
                f64::INFINITY,
            ),
            ("drift.thresholds.ks_pvalue", t.ks_pvalue, 0.0, 1.0),
            ("drift.thresholds.chi2_pvalue", t.chi2_pvalue, 0.0, 1.0),
            ("drift.thresholds.js_distance", t.js_distance, 0.0, 1.0),
            (
                "drift.thresholds.hellinger_distance",
                t.hellinger_distance,
                0.0,
                1.0,
            ),
            (
                "drift.thresholds.wasserstein_distance",
                t.wasserstein_distance,
                0.0,
                f64::INFINITY,
            ),
            (
                "drift.thresholds.wasserstein_distance_normed",
                t.wasserstein_distance_normed,
                0.0,
                f64::INFINITY,
            ),
            (
                "drift.thresholds.drifted_ratio",
                Some(t.drifted_ratio),
                0.0,
                1.0,
            ),
        ] {
            if let Some(v) = value {
                if !(v >= lo && v <= hi) {
                    return Err(invalid(
                        key,
                        format!("must be between {lo} and {hi}, got {v}"),
                    ));
                }
            }
        }
        if self.window.size == 0 {
            return Err(invalid("window.size", "must be at least 1".into()));
        }
        // The window's tally counts values per place in 32 bits.
        if self.window.size > u32::MAX as usize {
            return Err(invalid(
                "window.size",
                format!(
                    "must be at most {} rows, got {}",
                    u32::MAX,
                    self.window.size
                ),
            ));
        }
        if self.window.min_rows > self.window.size {
            return Err(invalid(
                "window.min_rows",
                format!(
                    "{} is larger than window.size {}: no score would ever be exported",
                    self.window.min_rows, self.window.size
                ),
            ));
        }
        if self.columns.label.is_some() && self.model.task.is_none() {
            return Err(invalid(
                "model.task",
                "is required with columns.label: \"classification\" or \"regression\"".into(),
            ));
        }
        if let Some(labels) = &self.labels {
            if self.columns.label.is_none() {
                return Err(invalid(
                    "labels.id",
                    "needs columns.label: the column the late label rows carry".into(),
                ));
            }
            if labels.id.is_empty() {
                return Err(invalid("labels.id", "must not be empty".into()));
            }
            let clash = [&self.columns.label, &self.columns.timestamp]
                .into_iter()
                .flatten()
                .chain(&self.columns.prediction)
                .any(|c| *c == labels.id);
            if clash {
                return Err(invalid(
                    "labels.id",
                    format!(
                        "`{}` is already the label, prediction or timestamp column",
                        labels.id
                    ),
                ));
            }
            if labels.max_pending == 0 {
                return Err(invalid("labels.max_pending", "must be at least 1".into()));
            }
            if labels.ttl.is_zero() {
                return Err(invalid("labels.ttl", "must be longer than 0s".into()));
            }
        }
        if !self.model.threshold.is_finite() {
            return Err(invalid(
                "model.threshold",
                format!("must be a finite number, got {}", self.model.threshold),
            ));
        }
        if self.model.name.is_empty() {
            return Err(invalid("model.name", "must not be empty".into()));
        }
        if !self.server.telemetry_path.starts_with('/') {
            return Err(invalid("server.telemetry_path", "must start with /".into()));
        }
        for (i, source) in self.sources.iter().enumerate() {
            let path = match source {
                SourceConfig::Directory(d) => Some(&d.path),
                SourceConfig::Tail(t) => Some(&t.path),
                SourceConfig::Http(_) => None,
            };
            if path.is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(invalid(&format!("sources[{i}].path"), "is required".into()));
            }
        }
        let http_sources = self
            .sources
            .iter()
            .filter(|s| matches!(s, SourceConfig::Http(_)))
            .count();
        if http_sources > 1 {
            return Err(invalid(
                "sources",
                "at most one source of type \"http\"".into(),
            ));
        }
        Ok(())
    }
}

/// Removes `.` and `name/..` pairs lexically (no file system access), so labels
/// and messages show `reference-data/x` rather than `config/../reference-data/x`.
fn normalise(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Sets `DRIFT_EXPORTER__A__B__C=value` as `a.b.c = value` in `table`. The value is
/// read as a TOML value when it parses as one (numbers, booleans, arrays), else as
/// a string. A numeric segment indexes an array (`SOURCES__0__PATH`).
fn apply_override(table: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let env_err = |message: String| ConfigError::Env {
        var: var.to_string(),
        message,
    };
    let keys: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|k| k.to_ascii_lowercase())
        .collect();
    if keys.iter().any(String::is_empty) {
        return Err(env_err("empty key segment".into()));
    }
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut node = toml::Value::Table(std::mem::take(table));
    {
        let mut cursor = &mut node;
        for (i, key) in keys.iter().enumerate() {
            let last = i + 1 == keys.len();
            cursor = match cursor {
                toml::Value::Table(t) => {
                    if last {
                        t.insert(key.clone(), parsed.clone());
                        break;
                    }
                    let next_is_index = keys[i + 1].parse::<usize>().is_ok();
                    t.entry(key.clone()).or_insert_with(|| {
                        if next_is_index {
                            toml::Value::Array(Vec::new())
                        } else {
                            toml::Value::Table(toml::Table::new())
                        }
                    })
                }
                toml::Value::Array(a) => {
                    let index: usize = key
                        .parse()
                        .map_err(|_| env_err(format!("`{key}` indexes an array: use a number")))?;
                    if index > a.len() {
                        return Err(env_err(format!(
                            "index {index} skips items: the array has {} items",
                            a.len()
                        )));
                    }
                    if index == a.len() {
                        a.push(toml::Value::Table(toml::Table::new()));
                    }
                    if last {
                        a[index] = parsed.clone();
                        break;
                    }
                    &mut a[index]
                }
                _ => {
                    return Err(env_err(format!(
                        "`{}` is not a section",
                        keys[..i].join(".")
                    )))
                }
            };
        }
    }
    if let toml::Value::Table(t) = node {
        *table = t;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            text,
            Path::new("/etc/drift/c.toml"),
            Vec::new(),
            &CliOverrides::default(),
        )
    }

    #[test]
    fn empty_file_gives_defaults() -> TestResult {
        let c = parse("")?;
        assert_eq!(c.drift, DriftConfig::default());
        assert_eq!(c.window.size, 10_000);
        assert_eq!(c.server.listen, "0.0.0.0:9877");
        assert_eq!(c.columns.prediction, vec!["prediction".to_string()]);
        Ok(())
    }

    #[test]
    fn window_size_is_bounded_by_the_tally_counters() -> TestResult {
        assert_eq!(
            parse("[window]\nsize = 4294967295\n")?.window.size,
            4_294_967_295
        );
        let err = parse("[window]\nsize = 4294967296\nmin_rows = 1\n")
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(
            err.contains("window.size") && err.contains("at most 4294967295"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn ingest_limits_and_address_are_checked() -> TestResult {
        let c = parse("[server]\ningest_listen = \"127.0.0.1:9878\"\nbody_timeout = \"2s\"\n")?;
        assert_eq!(c.server.ingest_listen.as_deref(), Some("127.0.0.1:9878"));
        assert_eq!(c.server.body_timeout, Duration::from_secs(2));
        assert_eq!(c.server.max_concurrent_ingests, 4);
        for (text, key) in [
            (
                "[server]\nlisten = \"0.0.0.0:1\"\ningest_listen = \"0.0.0.0:1\"\n",
                "server.ingest_listen",
            ),
            (
                "[server]\nmax_concurrent_ingests = 0\n",
                "server.max_concurrent_ingests",
            ),
            (
                "[server]\nmax_ingest_bytes = 10\n",
                "server.max_ingest_bytes",
            ),
            ("[server]\nbody_timeout = \"0s\"\n", "server.body_timeout"),
        ] {
            let err = parse(text).err().ok_or("expected an error")?.to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        // Two requests for any free port are two addresses.
        parse("[server]\nlisten = \"127.0.0.1:0\"\ningest_listen = \"127.0.0.1:0\"\n")?;
        Ok(())
    }

    #[test]
    fn unknown_key_is_named_with_its_line() -> TestResult {
        let err = parse("[drift]\nbins = 10\nbinz = 3\n")
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(err.contains("binz"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        Ok(())
    }

    #[test]
    fn late_labels_have_defaults_and_their_id_is_never_scored() -> TestResult {
        let base = "[model]\ntask = \"classification\"\n[columns]\nlabel = \"y\"\n";
        let c = parse(&format!("{base}[labels]\nid = \"request_id\"\n"))?;
        let labels = c.labels.as_ref().ok_or("labels")?;
        assert_eq!(labels.ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(labels.max_pending, 1_000_000);
        assert!(c.columns.unscored().any(|name| name == "request_id"));
        let c = parse(&format!(
            "{base}[labels]\nid = \"rid\"\nttl = \"30m\"\nmax_pending = 5\n"
        ))?;
        let labels = c.labels.ok_or("labels")?;
        assert_eq!(
            (labels.ttl, labels.max_pending),
            (Duration::from_secs(1800), 5)
        );
        for (text, key) in [
            ("[labels]\nid = \"rid\"\n", "labels.id"),
            (
                &format!("{base}[labels]\nid = \"y\"\n") as &str,
                "labels.id",
            ),
            (
                &format!("{base}[labels]\nid = \"rid\"\nmax_pending = 0\n"),
                "labels.max_pending",
            ),
            (
                &format!("{base}[labels]\nid = \"rid\"\nttl = \"0s\"\n"),
                "labels.ttl",
            ),
            (&format!("{base}[labels]\nttl = \"1d\"\n"), "id"),
        ] {
            let err = parse(text).err().ok_or("expected an error")?.to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        Ok(())
    }

    #[test]
    fn unknown_key_in_a_source_is_an_error() -> TestResult {
        let err = parse("[[sources]]\ntype = \"tail\"\npath = \"x\"\nfollow = true\n")
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(err.contains("follow"), "{err}");
        Ok(())
    }

    #[test]
    fn relative_paths_follow_the_config_file() -> TestResult {
        let c = parse("[reference]\npath = \"ref.parquet\"\n[[sources]]\ntype = \"directory\"\npath = \"/abs/in\"\n")?;
        assert_eq!(
            c.reference.path.ok_or("expected a reference path")?,
            PathBuf::from("/etc/drift/ref.parquet")
        );
        let SourceConfig::Directory(d) = &c.sources[0] else {
            panic!()
        };
        assert_eq!(d.path, PathBuf::from("/abs/in"));
        Ok(())
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(
            normalise(Path::new("config/../data/./x")),
            PathBuf::from("data/x")
        );
        assert_eq!(normalise(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(normalise(Path::new("/a/b/../../..")), PathBuf::from("/"));
    }

    #[test]
    fn thresholds_can_be_disabled() -> TestResult {
        let c = parse("[drift.thresholds]\nkl_divergence = false\npsi = 1\n")?;
        assert_eq!(c.drift.scoring.thresholds.kl_divergence, None);
        assert_eq!(c.drift.scoring.thresholds.psi, PsiThreshold::Fixed(1.0));
        assert!(parse("[drift.thresholds]\npsi = true\n").is_err());
        Ok(())
    }

    #[test]
    fn environment_overrides_the_file() -> TestResult {
        let env = vec![
            ("DRIFT_EXPORTER__DRIFT__BINS".to_string(), "20".to_string()),
            (
                "DRIFT_EXPORTER__MODEL__NAME".to_string(),
                "fraud".to_string(),
            ),
            (
                "DRIFT_EXPORTER__SOURCES__0__TYPE".to_string(),
                "http".to_string(),
            ),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let c = Config::from_toml(
            "[drift]\nbins = 5\n",
            Path::new("c.toml"),
            env,
            &CliOverrides::default(),
        )?;
        assert_eq!(c.drift.profile.bins, 20);
        assert_eq!(c.model.name, "fraud");
        assert_eq!(c.sources, vec![SourceConfig::Http(HttpSourceConfig {})]);
        Ok(())
    }

    #[test]
    fn bad_environment_override_names_the_variable() -> TestResult {
        let env = vec![("DRIFT_EXPORTER__DRIFT__BINZ".to_string(), "20".to_string())];
        let err = Config::from_toml("", Path::new("c.toml"), env, &CliOverrides::default())
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(err.contains("DRIFT_EXPORTER__DRIFT__BINZ"), "{err}");
        Ok(())
    }

    #[test]
    fn nonsense_values_are_rejected() -> TestResult {
        assert!(parse("[drift]\nbins = 0\n")
            .err()
            .ok_or("expected an error")?
            .to_string()
            .contains("drift.bins"));
        assert!(parse("[drift]\nepsilon = 0.0\n").is_err());
        assert!(parse("[window]\nsize = 10\nmin_rows = 20\n").is_err());
        assert!(parse("[window]\nduration = \"soon\"\n").is_err());
        assert_eq!(
            parse("[window]\nduration = \"1h\"\n")?.window.duration,
            Some(Duration::from_secs(3600))
        );
        Ok(())
    }

    #[test]
    fn command_line_overrides_are_applied_before_validation() -> TestResult {
        let cli = CliOverrides {
            listen_address: Some("127.0.0.1:1".into()),
            telemetry_path: Some("/m".into()),
            web_config_file: Some("web.yml".into()),
        };
        let c = Config::from_toml(
            "[server]\nweb_config_file = \"other.yml\"\n",
            Path::new("/etc/c.toml"),
            Vec::new(),
            &cli,
        )?;
        assert_eq!(
            (c.server.listen.as_str(), c.server.telemetry_path.as_str()),
            ("127.0.0.1:1", "/m")
        );
        // The flag wins, relative to the working folder; the file's key is
        // relative to the config's folder.
        assert_eq!(c.server.web_config_file, Some(PathBuf::from("web.yml")));
        let c = Config::from_toml(
            "[server]\nweb_config_file = \"other.yml\"\n",
            Path::new("/etc/c.toml"),
            Vec::new(),
            &CliOverrides::default(),
        )?;
        assert_eq!(
            c.server.web_config_file,
            Some(PathBuf::from("/etc/other.yml"))
        );
        // Empty: none (the exporter-toolkit's `--web.config.file=`).
        let empty = CliOverrides {
            web_config_file: Some(PathBuf::new()),
            ..CliOverrides::default()
        };
        let c = Config::from_toml(
            "[server]\nweb_config_file = \"other.yml\"\n",
            Path::new("/etc/c.toml"),
            Vec::new(),
            &empty,
        )?;
        assert_eq!(c.server.web_config_file, None);
        let c = Config::from_toml(
            "[server]\nweb_config_file = \"\"\n",
            Path::new("/etc/c.toml"),
            Vec::new(),
            &CliOverrides::default(),
        )?;
        assert_eq!(c.server.web_config_file, None);
        let bad = CliOverrides {
            telemetry_path: Some("m".into()),
            ..CliOverrides::default()
        };
        let err = Config::from_toml("", Path::new("c.toml"), Vec::new(), &bad)
            .err()
            .ok_or("expected an error")?;
        assert!(err.to_string().contains("server.telemetry_path"), "{err}");
        Ok(())
    }

    #[test]
    fn alert_quality_settings_parse_and_bad_ones_are_named() -> TestResult {
        let c = parse(
            "[columns]\nweights = { amount = 3.0, age = 0 }\n[drift]\ncorrection = \"fdr_bh\"\nalpha = 0.01\nmin_effect = 0.02\n[drift.thresholds]\npsi = \"auto\"\nwasserstein_distance_normed = 0.1\n",
        )?;
        let s = &c.drift.scoring;
        assert_eq!(s.correction, Correction::FdrBh);
        assert_eq!((s.alpha, s.min_effect), (0.01, Some(0.02)));
        assert!(s.thresholds.psi_auto() && s.thresholds.psi_fixed().is_none());
        assert_eq!(s.thresholds.wasserstein_distance_normed, Some(0.1));
        assert_eq!(
            (s.weight("amount"), s.weight("age"), s.weight("x")),
            (3.0, 0.0, 1.0)
        );
        assert_eq!(parse("")?.drift.scoring.correction, Correction::None);
        assert!(parse("")?.drift.scoring.wasserstein);
        assert!(
            !parse("[drift]\nwasserstein = false\n")?
                .drift
                .scoring
                .wasserstein
        );
        assert_eq!(
            parse("[drift.thresholds]\npsi = false\n")?
                .drift
                .scoring
                .thresholds
                .psi,
            PsiThreshold::Off
        );
        for (text, named) in [
            ("[drift.thresholds]\npsi = \"automatic\"\n", "auto"),
            ("[drift]\ncorrection = \"holm\"\n", "correction"),
            ("[drift]\nalpha = 1.5\n", "drift.alpha"),
            ("[drift]\nmin_effect = -0.1\n", "drift.min_effect"),
            (
                "[columns]\nweights = { amount = -1 }\n",
                "columns.weights.amount",
            ),
            (
                "[drift.thresholds]\nhellinger_distance = 2\n",
                "hellinger_distance",
            ),
        ] {
            let err = parse(text).err().ok_or(text)?.to_string();
            assert!(err.contains(named), "{text}: {err}");
        }
        Ok(())
    }

    #[test]
    fn segments_and_multivariate_parse_and_bad_values_are_named() -> TestResult {
        assert_eq!(parse("")?.columns.segment, Vec::<String>::new());
        assert_eq!(parse("")?.columns.max_segments, 20);
        assert_eq!(
            parse("[columns]\nsegment = \"country\"\n")?.columns.segment,
            vec!["country".to_string()]
        );
        assert_eq!(
            parse("[columns]\nsegment = [\"country\", \"device\"]\nmax_segments = 5\n")?
                .columns
                .segment,
            vec!["country".to_string(), "device".to_string()]
        );
        let m = parse("[multivariate]\nenabled = true\nvariance_share = 0.8\n")?;
        assert_eq!(
            m.drift
                .profile
                .multivariate
                .as_ref()
                .map(|c| c.variance_share),
            Some(0.8)
        );
        assert!(parse("")?.drift.profile.multivariate.is_none());
        for (text, key) in [
            ("[columns]\nmax_segments = 0\n", "columns.max_segments"),
            (
                "[multivariate]\nvariance_share = 1.0\n",
                "multivariate.variance_share",
            ),
            ("[multivariate]\nchunks = 1\n", "multivariate.chunks"),
            ("[multivariate]\ntop_pairs = 0\n", "multivariate.top_pairs"),
            (
                "[multivariate]\nmax_reference_rows = 10\n",
                "multivariate.max_reference_rows",
            ),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        assert!(parse("[multivariate]\nbogus = 1\n").is_err());
        Ok(())
    }

    #[test]
    fn drift_settings_split_into_profile_and_scoring() -> TestResult {
        let c = parse("[drift]\nbins = 7\nepsilon = 0.01\nmax_categories = 3\n[drift.thresholds]\npsi = 0.5\n")?;
        assert_eq!(
            c.drift.profile,
            ProfileSettings {
                bins: 7,
                binning: Binning::Quantile,
                max_categories: 3,
                multivariate: None,
            }
        );
        assert_eq!(c.drift.scoring.epsilon, 0.01);
        assert_eq!(c.drift.scoring.outlier_iqr_k, 1.5);
        assert_eq!(
            parse("[drift]\noutlier_iqr_k = 3\n")?
                .drift
                .scoring
                .outlier_iqr_k,
            3.0
        );
        assert!(parse("[drift]\noutlier_iqr_k = -1\n").is_err());
        assert_eq!(c.drift.scoring.thresholds.psi, PsiThreshold::Fixed(0.5));
        assert_eq!(parse("")?.drift, DriftConfig::default());
        let err = parse("[drift]\nbinz = 3\n")
            .err()
            .ok_or("expected an error")?;
        assert!(err.to_string().contains("binz"), "{err}");
        Ok(())
    }

    #[test]
    fn a_file_source_needs_a_path() -> TestResult {
        let err = parse("[[sources]]\ntype = \"tail\"\n")
            .err()
            .ok_or("expected an error")?;
        assert!(err.to_string().contains("sources[0].path"), "{err}");
        let c = parse("[[sources]]\ntype = \"directory\"\npath = \"in\"\n")?;
        let SourceConfig::Directory(d) = &c.sources[0] else {
            return Err("a directory source".into());
        };
        assert_eq!(d.settle, DirectorySourceConfig::default().settle);
        Ok(())
    }
}
