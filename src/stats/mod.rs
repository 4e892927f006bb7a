//! Pure math of drift scores: no I/O, no async, no allocation per value.
//!
//! Every function here works on plain slices (sorted where said) and counts, so the
//! same code scores a one-shot `check` and the daemon's sliding window. Each score
//! cites its formula and the scipy/numpy function it reproduces; the oracle tests in
//! `tests/math/oracle.rs` hold them to values computed by `tests/fixtures/make_oracle.py`.
//!
//! - [`bins`]: numeric bin edges (numpy quantile / linspace) and bin lookup.
//! - [`divergence`]: proportions with epsilon smoothing, PSI and KL divergence.
//! - [`ks`]: the two-sample Kolmogorov-Smirnov statistic by one merge.
//! - [`kolmogorov`]: the exact Kolmogorov distribution (`kstwo`) for KS p-values.
//! - [`chi2`]: Pearson's chi-square test of homogeneity on a 2 x k table.
//! - [`outliers`]: Tukey's IQR fences and the share of values outside them.
//! - [`quality`]: model quality against labels (accuracy, precision/recall/F1, ROC-AUC,
//!   log loss, MAE/MSE/RMSE/MAPE/R^2), held to scikit-learn by its own unit tests.
//! - [`sketch`]: a mergeable quantile sketch with a guaranteed rank-error bound
//!   (profiles of references too large to keep every value).
//! - [`frequent`]: a mergeable frequent-items summary (categories of sketch
//!   profiles past a cap).
//! - [`change`]: streaming change detectors on a model's error stream (DDM,
//!   Page-Hinkley, ADWIN), detection for detection as River's.

pub mod bins;
pub mod change;
pub mod chi2;
pub mod divergence;
pub mod frequent;
pub mod kolmogorov;
pub mod ks;
pub mod outliers;
pub mod quality;
pub mod sketch;
