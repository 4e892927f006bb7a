//! drift-exporter: watches a machine-learning model in production for data and
//! prediction drift and exports the scores as Prometheus gauges.
//!
//! The data's path, one way:
//!
//! 1. [`config`] reads the TOML contract (SPEC.md section 3).
//! 2. [`reference`] reads the training data (Parquet, through [`data`]) once and
//!    keeps a [`reference::ReferenceProfile`]: sorted values, bin edges, categories.
//! 3. Batches arrive: a file (`check`), or the daemon's sources. [`data`] turns
//!    Parquet, Arrow IPC, CSV and NDJSON into normalised Arrow arrays, counting
//!    rejected values by reason.
//! 4. [`sample`] summarises the current rows per column; [`drift`] scores them with
//!    the pure math of [`stats`] (PSI, KL, KS with the exact Kolmogorov
//!    distribution, chi-square) and decides.
//! 5. [`check`] prints the [`drift::DriftReport`]; the daemon exports it.

pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod data;
pub mod drift;
pub mod healthcheck;
pub mod journal;
pub mod logging;
pub mod metrics;
pub mod reference;
pub mod sample;
pub mod server;
pub mod sources;
pub mod state;
pub mod stats;
pub mod window;
