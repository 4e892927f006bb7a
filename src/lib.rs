//! drift-exporter: watches a machine-learning model in production for data and
//! prediction drift and exports the scores as Prometheus gauges.
//!
//! The numbers (shared by `check` and the daemon, no I/O but reading files):
//!
//! 1. [`config`] reads the TOML contract (SPEC.md section 3), once, for every
//!    command.
//! 2. [`data`] turns Parquet, Arrow IPC, CSV and NDJSON into [`data::Batch`]es of
//!    normalised Arrow arrays following a [`data::ColumnPlan`], counting rejected
//!    values by [`data::RejectReason`].
//! 3. [`reference`] reads the training data once and keeps a
//!    [`reference::ReferenceProfile`]: sorted values, bin edges, categories, and
//!    the plan current data is read with.
//! 4. [`sample`] summarises the current rows per column; [`drift`] scores them with
//!    the pure math of [`stats`] (PSI, KL, KS with the exact Kolmogorov
//!    distribution, chi-square) and decides.
//! 5. With labels, [`quality`] scores the model (accuracy, F1, ROC-AUC, MAE, R^2...)
//!    on the labelled rows, the reference's and the current ones, and [`concept`]
//!    looks for concept drift in them (change detectors, calibration by bin).
//! 6. [`check`] prints the [`drift::DriftReport`] of one file; [`profile`] writes
//!    a reference's raw material to a profile file
//!    ([`reference::profile_file`]) that every command takes in its place.
//!
//! The daemon (`serve`), one room a responsibility; a row's path:
//!
//! 1. A source in [`sources`] ([`sources::directory`], [`sources::tail`], or
//!    [`sources::http`] behind the [`server`]'s `POST /ingest`) parses input with
//!    [`data`] and sends a [`sources::Delivery`] over one channel.
//! 2. The loop in [`daemon`] (wiring only) pushes it into the [`window`] (the
//!    sliding window: size, age, event time; it logs the values that enter and
//!    leave for its [`tally`]), appends it to the [`store`]
//!    (journal, window snapshot, checkpoints: what survives a crash), counts it in
//!    [`metrics`] and acknowledges it.
//! 3. On its timer the loop lends the tally out: off the loop it is brought up
//!    to date, its summaries are scored with [`drift`] against the profile (and
//!    model quality over the labelled rows), and back on the loop the report is
//!    published to [`metrics`] (`/metrics`) and to the [`server`]
//!    (`/api/v1/drift`).
//!
//! Around them: [`cli`] (the command line), [`logging`] (tracing set-up) and
//! [`healthcheck`] (the container's probe).

pub mod check;
pub mod cli;
pub mod concept;
pub mod config;
pub mod daemon;
pub mod data;
pub mod drift;
pub mod evaluator;
pub mod healthcheck;
pub mod labels;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod multivariate;
pub mod profile;
pub mod quality;
pub mod reference;
pub mod sample;
pub mod segments;
pub mod server;
pub mod sources;
pub mod stats;
pub mod store;
pub mod tally;
pub mod web_config;
pub mod window;
