//! `drift-exporter check`: one file against the reference, printed as a table or
//! as JSON, with exit code 0 (no drift), 1 (drift) or 2 (error).
//!
//! Uses the same reader, profile, sample and evaluator as the daemon, with no
//! window: one code path for the numbers.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::concept;
use crate::config::{CliOverrides, Config, ConfigError, ScoringSettings};
use crate::data::{self, DataError};
use crate::data::{Batch, Summary};
use crate::drift::{self, DriftReport};
use crate::quality::{self, QualityReport};
use crate::reference::{ReadFor, ReferenceError, ReferenceProfile};
use crate::sample::{self, ColumnSample};
use rayon::prelude::*;

/// Errors of a `check` run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The reference could not be profiled.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The current file could not be read.
    #[error(transparent)]
    Current(#[from] DataError),
}

/// The config `check` runs with: the file (loaded once) or the defaults.
pub fn load_config(config: Option<&Path>) -> Result<Config, CheckError> {
    Ok(match config {
        Some(path) => Config::load(path, &CliOverrides::default())?,
        None => Config::default(),
    })
}

/// Profiles `reference` with the config's `[columns]` and `[drift]` (defaults when
/// `config` is `None`), reads `current` and evaluates.
pub fn run_check(
    reference: &Path,
    current: &Path,
    config: Option<&Path>,
) -> Result<DriftReport, CheckError> {
    check_with(&load_config(config)?, reference, current)
}

/// Profiles `reference` with `config`, reads `current` and evaluates. The
/// current file is read while the reference loads when the reference's plan
/// can be told from its schema or header.
pub fn check_with(
    config: &Config,
    reference: &Path,
    current: &Path,
) -> Result<DriftReport, CheckError> {
    // `check` prints no SHA-256: it does not hash the reference (and it maps a
    // profile).
    let load = || {
        let started = Instant::now();
        let profile = ReferenceProfile::load_for(
            reference,
            &config.columns,
            &config.drift.profile,
            &config.model,
            ReadFor::OneShot,
        );
        tracing::debug!(elapsed = ?started.elapsed(), "reference loaded");
        profile
    };
    let read = |plan: &data::ColumnPlan| {
        let started = Instant::now();
        let batches = data::read_path(current, plan);
        tracing::debug!(elapsed = ?started.elapsed(), "current file read");
        batches
    };
    let scoring = &config.drift.scoring;
    match ReferenceProfile::plan_for(reference, &config.columns, &config.model) {
        Some(plan) if by_column(config, current) => {
            let (profile, columns) = rayon::join(load, || {
                let started = Instant::now();
                let columns = read_by_column(current, &plan);
                tracing::debug!(elapsed = ?started.elapsed(), "current file read by column");
                columns
            });
            let profile = profile?;
            if profile.plan == plan && !needs_rows(&profile) {
                let (columns, summary) = columns?;
                let started = Instant::now();
                let report = score_by_column(&profile, scoring, current, columns, summary);
                tracing::debug!(elapsed = ?started.elapsed(), "scored");
                Ok(report)
            } else {
                // Not expected: the load resolved other columns, or made a
                // profile that scores rows. Read again, row by row.
                check_file(&profile, scoring, current)
            }
        }
        Some(plan) => {
            let (profile, batches) = rayon::join(load, || read(&plan));
            let profile = profile?;
            if profile.plan == plan {
                check_batches(&profile, scoring, current, batches?)
            } else {
                // Not expected: the load resolved other columns. Read again.
                check_file(&profile, scoring, current)
            }
        }
        None => check_file(&load()?, scoring, current),
    }
}

/// Whether `check` reads `current` column by column ([`read_by_column`]): a
/// Parquet file, scored by no signal that needs whole rows (labels, segments,
/// multivariate drift).
fn by_column(config: &Config, current: &Path) -> bool {
    data::Format::from_path(current) == Some(data::Format::Parquet)
        && config.columns.label.is_none()
        && config.columns.segment.is_empty()
        && !config.multivariate.enabled
}

/// Whether `profile` scores whole rows, not only columns.
fn needs_rows(profile: &ReferenceProfile) -> bool {
    profile.quality.is_some() || profile.segments.is_some() || profile.multivariate.is_some()
}

/// One column of the current file, read before the profile is loaded.
enum ColumnRead {
    /// A numeric column's finished sample (sorted values).
    Numeric(ColumnSample),
    /// A categorical column's arrays (binned once the profile is there).
    Arrays(Vec<data::ColumnArray>),
}

/// Reads the planned columns of the Parquet file `current` on every core, each
/// numeric one straight into its sorted sample: only the samples are held,
/// never the whole file, and no profile is needed (it loads meanwhile).
fn read_by_column(
    current: &Path,
    plan: &data::ColumnPlan,
) -> Result<(Vec<Option<ColumnRead>>, Summary), DataError> {
    let kinds: Vec<data::Kind> = plan.iter().map(|(_, kind)| kind).collect();
    data::parquet_by_column(current, plan, |i, arrays| {
        let arrays: Vec<data::ColumnArray> = arrays.collect();
        match kinds.get(i) {
            Some(data::Kind::Numeric) => ColumnSample::numeric_of(&arrays).map(ColumnRead::Numeric),
            _ => None,
        }
        .unwrap_or(ColumnRead::Arrays(arrays))
    })
}

/// Scores the columns [`read_by_column`] read: the same report as
/// [`check_file`] of that file.
fn score_by_column(
    profile: &ReferenceProfile,
    scoring: &ScoringSettings,
    current: &Path,
    columns: Vec<Option<ColumnRead>>,
    summary: Summary,
) -> DriftReport {
    warn_rejects(current, &summary);
    let rows = summary.rows;
    let samples: Vec<ColumnSample> = profile
        .columns
        .par_iter()
        .zip(columns.into_par_iter())
        .map(|(column, read)| match (read, column.kind()) {
            (Some(ColumnRead::Numeric(sample)), data::Kind::Numeric) => sample,
            (Some(ColumnRead::Arrays(arrays)), _) => {
                let mut sample = ColumnSample::empty(column);
                for a in &arrays {
                    sample.absorb(column, Some(a), a.len());
                }
                sample.finish();
                sample
            }
            // Absent, or (not expected: the plan is the profile's) of the
            // other kind: missing, as `absorb` counts it.
            _ => {
                let mut sample = ColumnSample::empty(column);
                sample.absorb(column, None, rows as usize);
                sample
            }
        })
        .collect();
    drift::evaluate(profile, &samples, rows, scoring)
}

/// Warns of the values of `current` that were rejected and not scored.
fn warn_rejects(current: &Path, summary: &Summary) {
    if summary.rejects.total_rows() > 0 {
        tracing::warn!(
            file = %current.display(),
            rejected_rows = summary.rejects.total_rows(),
            first_errors = ?summary.rejects.errors,
            "some values were rejected and not scored"
        );
    }
}

/// Evaluates one file against a profile.
pub fn check_file(
    profile: &ReferenceProfile,
    scoring: &ScoringSettings,
    current: &Path,
) -> Result<DriftReport, CheckError> {
    let batches = data::read_path(current, &profile.plan)?;
    check_batches(profile, scoring, current, batches)
}

/// Evaluates the batches read from `current` with the profile's plan.
fn check_batches(
    profile: &ReferenceProfile,
    scoring: &ScoringSettings,
    current: &Path,
    batches: Vec<Batch>,
) -> Result<DriftReport, CheckError> {
    let started = Instant::now();
    let report = score_batches(profile, scoring, current, batches);
    tracing::debug!(elapsed = ?started.elapsed(), "scored");
    report
}

fn score_batches(
    profile: &ReferenceProfile,
    scoring: &ScoringSettings,
    current: &Path,
    batches: Vec<Batch>,
) -> Result<DriftReport, CheckError> {
    warn_rejects(current, &Summary::of(&batches));
    let (multivariate, segments) = rayon::join(
        || crate::multivariate::report_for(profile, &batches),
        || {
            profile.segments.as_ref().map_or_else(Vec::new, |s| {
                crate::segments::evaluate(s, &profile.plan, &batches, scoring)
            })
        },
    );
    let Some(spec) = &profile.quality else {
        // Nothing needs the rows after their samples: free them as they go.
        let (samples, rows) = sample::samples_from_owned_batches(profile, batches);
        let mut report = drift::evaluate(profile, &samples, rows, scoring);
        report.multivariate = multivariate;
        report.segments = segments;
        return Ok(report);
    };
    let (samples, rows) = sample::samples_from_batches(profile, &batches);
    let mut report = drift::evaluate(profile, &samples, rows, scoring);
    report.multivariate = multivariate;
    report.segments = segments;
    report.quality = Some(quality::evaluate(spec, &batches));
    if let Some(reference) = &profile.concept {
        report.concept = Some(concept::evaluate(spec, reference, &batches));
    }
    Ok(report)
}

fn cell(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v != 0.0 && v.abs() < 1e-4 => format!("{v:.2e}"),
        Some(v) => format!("{v:.4}"),
    }
}

/// A table for people: one row per column, then the dataset verdict. The
/// adjusted p-values get columns when a correction made them.
pub fn render_table(report: &DriftReport) -> String {
    let adjusted = report.features.iter().any(|f| {
        f.ks_pvalue_adjusted.is_some()
            || f.chi2_pvalue_adjusted.is_some()
            || f.psi_pvalue_adjusted.is_some()
    });
    let mut headers = vec![
        "name",
        "type",
        "kind",
        "rows",
        "psi",
        "psi_p",
        "kl",
        "js",
        "hellinger",
        "wass",
        "wass_n",
        "ks_stat",
        "ks_p",
        "chi2_p",
    ];
    if adjusted {
        headers.extend(["ks_p_adj", "chi2_p_adj", "psi_p_adj"]);
    }
    headers.push("drift");
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(report.features.len());
    for f in &report.features {
        let mut row = vec![
            f.name.clone(),
            f.drift_type.as_str().to_string(),
            f.kind.as_str().to_string(),
            f.rows.to_string(),
            cell(f.psi),
            cell(f.psi_pvalue),
            cell(f.kl_divergence),
            cell(f.js_distance),
            cell(f.hellinger_distance),
            cell(f.wasserstein_distance),
            cell(f.wasserstein_distance_normed),
            cell(f.ks_statistic),
            cell(f.ks_pvalue),
            cell(f.chi2_pvalue),
        ];
        if adjusted {
            row.extend([
                cell(f.ks_pvalue_adjusted),
                cell(f.chi2_pvalue_adjusted),
                cell(f.psi_pvalue_adjusted),
            ]);
        }
        row.push(if !f.is_scored() {
            "n/a".to_string()
        } else if f.drift_detected {
            "DRIFT".to_string()
        } else {
            "ok".to_string()
        });
        rows.push(row);
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 3 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &mut headers.iter().copied());
    for row in &rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    let d = &report.dataset;
    let weighted = if d.drifted_weighted_ratio == d.drifted_ratio {
        String::new()
    } else {
        format!(", {:.1}% by weight", d.drifted_weighted_ratio * 100.0)
    };
    let _ = writeln!(
        out,
        "\nreference rows: {}, current rows: {}; drifted columns: {} of {} ({:.1}%{weighted}); dataset drift: {}",
        report.reference_rows,
        report.current_rows,
        d.drifted_features,
        d.features,
        d.drifted_ratio * 100.0,
        if d.drift_detected { "YES" } else { "no" }
    );
    for (dataset, quality) in [
        ("current", &report.quality),
        ("reference", &report.reference_quality),
    ] {
        if let Some(q) = quality {
            let _ = writeln!(out, "quality ({dataset}): {}", quality_line(q));
        }
    }
    for s in &report.segments {
        let d = &s.report.dataset;
        let _ = writeln!(
            out,
            "segment {}: current rows {}, drifted columns {} of {}; drift: {}",
            s.segment,
            s.report.current_rows,
            d.drifted_features,
            d.features,
            if d.drift_detected { "YES" } else { "no" }
        );
    }
    if let Some(m) = &report.multivariate {
        let _ = writeln!(
            out,
            "multivariate ({} features, {} components): reconstruction error {} (reference {}, bounds {} to {}); drift: {}",
            m.features.len(),
            m.components,
            cell(m.reconstruction_error),
            cell(Some(m.reference_error)),
            cell(Some(m.lower)),
            cell(Some(m.upper)),
            if m.drifted { "YES" } else { "no" }
        );
        if let Some(auroc) = m.domain_classifier_auroc {
            let _ = writeln!(
                out,
                "domain classifier AUROC {} (0.5: window rows look like reference rows)",
                cell(Some(auroc))
            );
        }
        for p in &m.correlation_pairs {
            let _ = writeln!(
                out,
                "correlation {} ~ {}: {} -> {} (change {})",
                p.feature_a,
                p.feature_b,
                cell(p.reference),
                cell(p.current),
                cell(p.change)
            );
        }
    }
    out
}

/// A table per segment (`check --by-segment`), each under its name.
pub fn render_segment_tables(report: &DriftReport) -> String {
    let mut out = String::new();
    if report.segments.is_empty() {
        out.push_str("\nno segments: set [columns] segment in the config\n");
    }
    for s in &report.segments {
        let _ = write!(out, "\nsegment {}\n{}", s.segment, render_table(&s.report));
    }
    out
}

/// One line of model quality for the table.
fn quality_line(q: &QualityReport) -> String {
    let mut parts = vec![format!("{} labelled rows", q.labelled_rows)];
    if let Some(c) = &q.classification {
        parts.push(format!("accuracy {}", cell(Some(c.accuracy))));
        parts.push(format!("macro F1 {}", cell(Some(c.macro_f1))));
        parts.push(format!("ROC AUC {}", cell(c.roc_auc)));
        parts.push(format!("log loss {}", cell(c.log_loss)));
    }
    if let Some(r) = &q.regression {
        parts.push(format!("MAE {}", cell(r.mae)));
        parts.push(format!("RMSE {}", cell(r.rmse)));
        parts.push(format!("MAPE {}", cell(r.mape)));
        parts.push(format!("R2 {}", cell(r.r2)));
    }
    parts.join(", ")
}
