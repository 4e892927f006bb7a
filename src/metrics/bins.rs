//! The mergeable per-bin series of SPEC.md section 8, which let Prometheus judge a
//! model's many replicas as one:
//!
//! - `drift_window_bin_rows{model, feature, drift_type, bin}`: the window's scored
//!   values in the bin (set by each evaluation);
//! - `drift_reference_bin_ratio{...}`: the reference's proportion in the bin, before
//!   epsilon (set with the reference);
//! - `drift_bin_info{..., lower, upper}` = 1: a numeric bin's edges, `[lower, upper)`.
//!
//! `bin` is the numeric bin's index (`"0"`..`"k-1"`) or the kept category, with
//! `__other__` for the rest, so a column has at most `bins` or `max_categories + 1`
//! bins. Summed over replicas that share a reference, the window counts give the
//! union's proportions, and `config/prometheus/rules/fleet.rules.yml` computes PSI
//! and KL from them exactly as `check` does. Part of [`super::Metrics`]; switched
//! off with `[metrics] bins = false`.
//!
//! The gauge handles of the window counts are kept per column, so an evaluation
//! sets them without hashing label values again.

use std::sync::Mutex;

use prometheus::{Gauge, GaugeVec, Registry};

use super::gauge;
use crate::drift::DriftReport;
use crate::reference::{ProfileDetail, ReferenceProfile};

const BIN_LABELS: &[&str] = &["model", "feature", "drift_type", "bin"];
const INFO_LABELS: &[&str] = &["model", "feature", "drift_type", "bin", "lower", "upper"];

/// The three families and the bins of the current reference.
pub(super) struct BinSeries {
    window_rows: GaugeVec,
    reference_ratio: GaugeVec,
    info: GaugeVec,
    columns: Mutex<Vec<ColumnBins>>,
}

/// One scored column's bins.
struct ColumnBins {
    /// Its position among the profile's columns (and the report's features).
    position: usize,
    feature: String,
    drift_type: &'static str,
    /// Distinct `bin` label values.
    labels: Vec<String>,
    /// The label (index into `labels`) of each of the profile's bins. Distinct
    /// except when the reference has a category named `__other__` beside the
    /// `__other__` bin: then both are exported summed as one.
    slot: Vec<usize>,
    /// Window gauges, one per label, made at the first evaluation after the
    /// reference was set (so no zero appears before anything was counted).
    window: Option<Vec<Gauge>>,
}

impl BinSeries {
    pub(super) fn register(r: &Registry) -> prometheus::Result<BinSeries> {
        Ok(BinSeries {
            window_rows: gauge(r, "drift_window_bin_rows", "Window values of this column in this bin (bin: numeric bin index, see drift_bin_info, or category). Mergeable: sum over replicas by (model, feature, drift_type, bin), then divide by the sum over bins, for the fleet's proportions (config/prometheus/rules/fleet.rules.yml).", BIN_LABELS)?,
            reference_ratio: gauge(r, "drift_reference_bin_ratio", "The reference's proportion of this column's values in this bin, before epsilon. Identical on replicas that share a reference: aggregate with max, not sum.", BIN_LABELS)?,
            info: gauge(r, "drift_bin_info", "A numeric bin's edges: values v with lower <= v < upper (the outer bins are open); always 1.", INFO_LABELS)?,
            columns: Mutex::new(Vec::new()),
        })
    }

    fn columns(&self) -> std::sync::MutexGuard<'_, Vec<ColumnBins>> {
        self.columns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces every bin with `profile`'s (nothing when `enabled` is false), and
    /// sets the reference's proportions and the numeric bins' edges.
    pub(super) fn setup(&self, model: &str, profile: &ReferenceProfile, enabled: bool) {
        let mut columns = self.columns();
        columns.clear();
        for g in [&self.window_rows, &self.reference_ratio, &self.info] {
            g.reset();
        }
        if !enabled {
            return;
        }
        for (position, column) in profile.columns.iter().enumerate() {
            let (names, counts): (Vec<String>, &[u64]) = match &column.detail {
                ProfileDetail::Numeric(p) => (
                    (0..p.counts.len()).map(|i| i.to_string()).collect(),
                    &p.counts,
                ),
                ProfileDetail::Categorical(p) => (p.labels.clone(), &p.counts),
            };
            let total: u64 = counts.iter().sum();
            if total == 0 || names.len() != counts.len() {
                continue;
            }
            let mut labels: Vec<String> = Vec::with_capacity(names.len());
            let mut slot = Vec::with_capacity(names.len());
            let mut merged: Vec<u64> = Vec::with_capacity(names.len());
            for (name, &count) in names.into_iter().zip(counts) {
                match labels.iter().position(|l| *l == name) {
                    Some(i) => {
                        slot.push(i);
                        merged[i] += count;
                    }
                    None => {
                        slot.push(labels.len());
                        labels.push(name);
                        merged.push(count);
                    }
                }
            }
            let drift_type = column.drift_type.as_str();
            for (label, &count) in labels.iter().zip(&merged) {
                self.reference_ratio
                    .with_label_values(&[model, &column.name, drift_type, label])
                    .set(count as f64 / total as f64);
            }
            if let ProfileDetail::Numeric(p) = &column.detail {
                for (i, label) in labels.iter().enumerate() {
                    let lower = i.checked_sub(1).and_then(|j| p.edges.get(j));
                    let upper = p.edges.get(i);
                    self.info
                        .with_label_values(&[
                            model,
                            &column.name,
                            drift_type,
                            label,
                            &lower.map_or_else(|| "-Inf".to_string(), |&e| edge_text(e)),
                            &upper.map_or_else(|| "+Inf".to_string(), |&e| edge_text(e)),
                        ])
                        .set(1.0);
                }
            }
            columns.push(ColumnBins {
                position,
                feature: column.name.clone(),
                drift_type,
                labels,
                slot,
                window: None,
            });
        }
    }

    /// Sets the window's counts from `report` (evaluated against the profile
    /// given to [`BinSeries::setup`]). Counts are exported whatever the window's
    /// size: below `window.min_rows` a replica's rows still count in the fleet's.
    pub(super) fn publish(&self, model: &str, report: &DriftReport) {
        let mut columns = self.columns();
        for column in columns.iter_mut() {
            let Some(feature) = report.features.get(column.position) else {
                continue;
            };
            if feature.name != column.feature || feature.bin_rows.len() != column.slot.len() {
                tracing::debug!(feature = %column.feature, "report does not match the reference's bins");
                continue;
            }
            let mut sums = vec![0u64; column.labels.len()];
            for (&slot, &rows) in column.slot.iter().zip(&feature.bin_rows) {
                sums[slot] += rows;
            }
            let (window_rows, feature_name, drift_type, labels) = (
                &self.window_rows,
                column.feature.as_str(),
                column.drift_type,
                &column.labels,
            );
            let gauges = column.window.get_or_insert_with(|| {
                labels
                    .iter()
                    .map(|label| {
                        window_rows.with_label_values(&[model, feature_name, drift_type, label])
                    })
                    .collect()
            });
            for (g, &rows) in gauges.iter().zip(&sums) {
                g.set(rows as f64);
            }
        }
    }
}

/// An edge as a label value: the shortest text that reads back as the same
/// `f64` (`0.5`, `3`, `1e-7`, `-2.25`), as sample values are written.
fn edge_text(edge: f64) -> String {
    super::exposition::float(edge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_read_back_exactly() {
        for e in [0.5, 3.0, -2.25, 1e-7, 1e21, 0.1 + 0.2, -0.0, 123456.789] {
            let text = edge_text(e);
            assert_eq!(text.parse::<f64>().unwrap(), e, "{text}");
        }
        assert_eq!(edge_text(3.0), "3");
        assert_eq!(edge_text(0.5), "0.5");
        assert_eq!(edge_text(1e-7), "1e-7");
    }
}
